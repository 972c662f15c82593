//! Build contexts: the files a build sees (after `.containerignore`/`.dockerignore`), their
//! content hash (which names the image, so an unchanged context is never rebuilt), and the
//! tarball sent to Podman.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ImageError;
use super::containerfile;
use super::ignore::IgnoreRules;

/// Where the Containerfile pocket-dock actually builds sits inside the context tarball.
pub const CONTAINERFILE_IN_TAR: &str = ".pocket-dock.Containerfile";

/// A build as declared, with paths resolved against the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecipe {
    pub context: PathBuf,
    /// `None`: `Containerfile`, else `Dockerfile`, in the context.
    pub containerfile: Option<PathBuf>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// The base that replaces the first `FROM` (`build.from`), as an image reference.
    pub base: Option<String>,
}

/// One entry of a context.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir,
    File { executable: bool },
    Symlink(PathBuf),
}

/// A context read from disk: what goes into the tarball, and its hash.
#[derive(Debug, Clone)]
pub struct PreparedBuild {
    /// sha256 hex over everything that decides the build's result.
    pub content_hash: String,
    /// The Containerfile text to build (with `build.from` applied).
    pub containerfile: String,
    root: PathBuf,
    entries: Vec<(String, Entry)>,
}

impl BuildRecipe {
    fn containerfile_path(&self) -> Result<PathBuf, ImageError> {
        if let Some(path) = &self.containerfile {
            return Ok(path.clone());
        }
        ["Containerfile", "Dockerfile"]
            .iter()
            .map(|name| self.context.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| ImageError::NoContainerfile {
                context: self.context.clone(),
            })
    }

    /// Reads the context and the Containerfile; hashes them with the args, target and base.
    pub fn prepare(&self) -> Result<PreparedBuild, ImageError> {
        let path = self.containerfile_path()?;
        let text = std::fs::read_to_string(&path).map_err(|source| ImageError::Read {
            path: path.clone(),
            source,
        })?;
        let containerfile = match &self.base {
            Some(base) => containerfile::replace_first_from(&text, base)
                .ok_or_else(|| ImageError::NoFrom { path: path.clone() })?,
            None => text,
        };
        if !self.context.is_dir() {
            return Err(ImageError::Read {
                path: self.context.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            });
        }
        let rules = ["/.containerignore", "/.dockerignore"]
            .iter()
            .map(|n| self.context.join(&n[1..]))
            .find(|p| p.is_file())
            .map(|p| {
                std::fs::read_to_string(&p)
                    .map(|t| IgnoreRules::parse(&t))
                    .map_err(|source| ImageError::Read { path: p, source })
            })
            .transpose()?
            .unwrap_or_default();
        let mut entries = Vec::new();
        walk(&self.context, "", &rules, &mut entries)?;

        let mut hasher = Sha256::new();
        let mut field = |name: &str, value: &[u8]| {
            hasher.update(name.as_bytes());
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value);
        };
        field("version", b"pocket-dock build 1");
        field("containerfile", containerfile.as_bytes());
        for (k, v) in &self.args {
            field("arg", k.as_bytes());
            field("value", v.as_bytes());
        }
        field("target", self.target.as_deref().unwrap_or("").as_bytes());
        for (rel, entry) in &entries {
            match entry {
                Entry::Dir => field("dir", rel.as_bytes()),
                Entry::Symlink(target) => {
                    field("symlink", rel.as_bytes());
                    field("target", target.as_os_str().as_encoded_bytes());
                }
                Entry::File { executable } => {
                    field(if *executable { "exe" } else { "file" }, rel.as_bytes());
                    let path = self.context.join(rel);
                    let digest = file_digest(&path)?;
                    field("content", &digest);
                }
            }
        }
        Ok(PreparedBuild {
            content_hash: super::hex(&hasher.finalize()),
            containerfile,
            root: self.context.clone(),
            entries,
        })
    }
}

fn file_digest(path: &Path) -> Result<[u8; 32], ImageError> {
    let read = |source| ImageError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(read)?;
    Ok(hasher.finalize().into())
}

/// Collects entries under `dir` in sorted order, leaving out what the rules exclude.
fn walk(
    dir: &Path,
    prefix: &str,
    rules: &IgnoreRules,
    out: &mut Vec<(String, Entry)>,
) -> Result<(), ImageError> {
    let read = |source| ImageError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    names.sort();
    for name in names {
        let Some(name) = name.to_str().map(str::to_string) else {
            return Err(ImageError::Read {
                path: dir.join(&name),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "file name is not UTF-8",
                ),
            });
        };
        let rel = format!("{prefix}{name}");
        let path = dir.join(&name);
        let meta = std::fs::symlink_metadata(&path).map_err(|source| ImageError::Read {
            path: path.clone(),
            source,
        })?;
        let excluded = rules.excludes(&rel);
        if meta.is_dir() {
            if excluded && !rules.may_reinclude_under(&rel) {
                continue;
            }
            if !excluded {
                out.push((rel.clone(), Entry::Dir));
            }
            walk(&path, &format!("{rel}/"), rules, out)?;
        } else if excluded {
            continue;
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(|source| ImageError::Read {
                path: path.clone(),
                source,
            })?;
            out.push((rel, Entry::Symlink(target)));
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let executable = meta.permissions().mode() & 0o111 != 0;
            out.push((rel, Entry::File { executable }));
        }
    }
    Ok(())
}

impl PreparedBuild {
    /// The context tarball: the entries (fixed owner and time; modes 0644/0755) plus the
    /// Containerfile to build at [`CONTAINERFILE_IN_TAR`].
    pub fn tarball(&self) -> Result<Vec<u8>, ImageError> {
        let mut builder = tar::Builder::new(Vec::new());
        let io = |source| ImageError::Read {
            path: self.root.clone(),
            source,
        };
        for (rel, entry) in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            match entry {
                Entry::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, rel, std::io::empty())
                        .map_err(io)?;
                }
                Entry::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    builder.append_link(&mut header, rel, target).map_err(io)?;
                }
                Entry::File { executable } => {
                    let path = self.root.join(rel);
                    let file = std::fs::File::open(&path).map_err(|source| ImageError::Read {
                        path: path.clone(),
                        source,
                    })?;
                    let len = file
                        .metadata()
                        .map_err(|source| ImageError::Read { path, source })?
                        .len();
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(if *executable { 0o755 } else { 0o644 });
                    header.set_size(len);
                    // A file that changes size while being read fails the build, rather
                    // than sending a context that does not match its hash.
                    builder
                        .append_data(&mut header, rel, std::io::Read::take(file, len))
                        .map_err(io)?;
                }
            }
        }
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(self.containerfile.len() as u64);
        builder
            .append_data(
                &mut header,
                CONTAINERFILE_IN_TAR,
                self.containerfile.as_bytes(),
            )
            .map_err(io)?;
        let mut out = builder.into_inner().map_err(io)?;
        out.flush().map_err(io)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(dir: &Path) -> BuildRecipe {
        BuildRecipe {
            context: dir.to_path_buf(),
            containerfile: None,
            args: BTreeMap::new(),
            target: None,
            base: None,
        }
    }

    #[test]
    fn the_hash_follows_content_args_and_base_but_not_ignored_files_or_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Containerfile"), "FROM x\nCOPY . /app\n").unwrap();
        std::fs::write(root.join("a.txt"), "one").unwrap();
        std::fs::create_dir(root.join("logs")).unwrap();
        std::fs::write(root.join("logs/x.log"), "noise").unwrap();
        std::fs::write(root.join(".containerignore"), "logs\n").unwrap();
        let r = recipe(root);
        let first = r.prepare().unwrap().content_hash;
        assert_eq!(first, r.prepare().unwrap().content_hash, "stable");

        std::fs::write(root.join("logs/x.log"), "more noise").unwrap();
        assert_eq!(first, r.prepare().unwrap().content_hash, "ignored");
        let file = std::fs::File::options()
            .write(true)
            .open(root.join("a.txt"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(
            first,
            r.prepare().unwrap().content_hash,
            "mtime is not content"
        );

        std::fs::write(root.join("a.txt"), "two").unwrap();
        let edited = r.prepare().unwrap().content_hash;
        assert_ne!(first, edited, "content");

        let mut with_arg = recipe(root);
        with_arg.args.insert("LEVEL".into(), "1".into());
        assert_ne!(edited, with_arg.prepare().unwrap().content_hash, "args");
        let mut with_base = recipe(root);
        with_base.base = Some("localhost/base:1".into());
        let based = with_base.prepare().unwrap();
        assert_ne!(edited, based.content_hash, "base");
        assert!(based.containerfile.starts_with("FROM localhost/base:1\n"));
        let mut with_target = recipe(root);
        with_target.target = Some("dev".into());
        assert_ne!(
            edited,
            with_target.prepare().unwrap().content_hash,
            "target"
        );
    }

    #[test]
    fn the_tarball_holds_the_context_and_the_containerfile_to_build() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f"), "data").unwrap();
        std::fs::write(root.join("skip.tmp"), "x").unwrap();
        std::fs::write(root.join(".dockerignore"), "*.tmp\n").unwrap();
        let tar = recipe(root).prepare().unwrap().tarball().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "sub",
                "sub/f",
                CONTAINERFILE_IN_TAR
            ]
        );
    }

    #[test]
    fn a_missing_containerfile_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = recipe(dir.path()).prepare().unwrap_err();
        assert!(err.to_string().contains("no Containerfile"), "{err}");
    }
}
