//! Reading OCI archives back: every blob's sha256 is checked against its name, and the
//! image's identity (config digest = image id, manifest digest, name) is read from the
//! index. `image import` refuses an archive that fails any check, before Podman sees it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{ImageError, hex};

/// What an OCI archive holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveInfo {
    /// `sha256:<config digest>`: the id Podman gives the loaded image.
    pub image_id: String,
    pub manifest_digest: String,
    /// The `org.opencontainers.image.ref.name` annotation, when present.
    pub name: Option<String>,
    pub blobs: usize,
    pub bytes: u64,
    /// Whether it also has Docker's `manifest.json` (as `docker save` and pocket-dock's
    /// embedded base write it), which every engine can load.
    pub docker_manifest: bool,
}

/// Small JSON blobs are kept to be parsed; layers are only hashed.
const KEEP_UP_TO: u64 = 4 * 1024 * 1024;

/// An OCI archive read through, every blob's digest checked.
pub(crate) struct Layout {
    pub index: serde_json::Value,
    /// Blob digest -> its content when small.
    pub blobs: BTreeMap<String, Option<Vec<u8>>>,
    pub bytes: u64,
    pub docker_manifest: bool,
}

/// One image an archive's index names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayoutImage {
    /// The index entry (media type, digest, size, annotations).
    pub descriptor: serde_json::Value,
    pub manifest_digest: String,
    pub image_id: String,
    pub name: Option<String>,
    /// Every blob the image needs: manifest, config, layers.
    pub blobs: Vec<String>,
}

/// Reads the archive at `path` through, checking every blob's sha256 against its name;
/// with `extract_to`, each blob is also written there (as its hex digest) while it is read.
pub(crate) fn read_layout(path: &Path, extract_to: Option<&Path>) -> Result<Layout, ImageError> {
    read_layout_with(path, |hex_digest, _size, blob| {
        let sink_error = |source| ImageError::Read {
            path: path.to_path_buf(),
            source,
        };
        match extract_to {
            Some(dir) => {
                let (mut file, at) = create_new(&dir.join(hex_digest))?;
                std::io::copy(blob, &mut file)
                    .map_err(|source| ImageError::Write { path: at, source })?;
            }
            None => {
                std::io::copy(blob, &mut std::io::sink()).map_err(sink_error)?;
            }
        }
        Ok(())
    })
}

/// Reads the archive at `path` through, handing each blob to `on_blob` (its hex digest,
/// size and content, to copy somewhere or let be) while its sha256 is checked against its
/// name; a blob `on_blob` does not read to the end is read through for the check.
pub(crate) fn read_layout_with(
    path: &Path,
    mut on_blob: impl FnMut(&str, u64, &mut dyn Read) -> Result<(), ImageError>,
) -> Result<Layout, ImageError> {
    let read = |source| ImageError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let bytes = file.metadata().map_err(read)?.len();
    let mut archive = tar::Archive::new(file);
    let mut index: Option<Vec<u8>> = None;
    let mut docker_manifest = false;
    let mut blobs: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    for entry in archive.entries().map_err(read)? {
        let mut entry = entry.map_err(read)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(read)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if name == "manifest.json" {
            docker_manifest = true;
        }
        if name == "index.json" {
            let mut content = Vec::new();
            (&mut entry)
                .take(KEEP_UP_TO)
                .read_to_end(&mut content)
                .map_err(read)?;
            index = Some(content);
        } else if let Some(expected) = name.strip_prefix("blobs/sha256/") {
            let valid_name =
                expected.len() == 64 && expected.bytes().all(|b| b.is_ascii_hexdigit());
            if !valid_name {
                return Err(ImageError::InvalidArchive {
                    path: path.to_path_buf(),
                    reason: format!("{name} is not named by a sha256 digest"),
                });
            }
            let size = entry.size();
            let keep = size <= KEEP_UP_TO;
            let mut hasher = Sha256::new();
            let mut content = Vec::new();
            let mut tee = Tee {
                inner: &mut entry,
                hasher: &mut hasher,
                kept: keep.then_some(&mut content),
            };
            on_blob(expected, size, &mut tee)?;
            std::io::copy(&mut tee, &mut std::io::sink()).map_err(read)?;
            let actual = hex(&hasher.finalize());
            if actual != expected {
                return Err(ImageError::DigestMismatch {
                    path: path.to_path_buf(),
                    blob: format!("sha256:{expected}"),
                    actual: format!("sha256:{actual}"),
                });
            }
            blobs.insert(format!("sha256:{actual}"), keep.then_some(content));
        }
    }
    let invalid = |reason: String| ImageError::InvalidArchive {
        path: path.to_path_buf(),
        reason,
    };
    let index = index.ok_or_else(|| invalid("no index.json: not an OCI archive".into()))?;
    let index: serde_json::Value = serde_json::from_slice(&index)
        .map_err(|e| invalid(format!("index.json is not JSON: {e}")))?;
    Ok(Layout {
        index,
        blobs,
        bytes,
        docker_manifest,
    })
}

/// Copies what it reads into a hasher, and keeps it when small.
struct Tee<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
    kept: Option<&'a mut Vec<u8>>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(kept) = self.kept.as_mut() {
            kept.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

/// A blob file, created (never over an existing one, never through a symlink).
fn create_new(path: &Path) -> Result<(std::fs::File, std::path::PathBuf), ImageError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map(|f| (f, path.to_path_buf()))
        .map_err(|source| ImageError::Write {
            path: path.to_path_buf(),
            source,
        })
}

impl Layout {
    /// Every image the index names, each checked whole: its manifest parses and every blob
    /// it names is in the archive.
    pub(crate) fn images(&self, path: &Path) -> Result<Vec<LayoutImage>, ImageError> {
        let invalid = |reason: String| ImageError::InvalidArchive {
            path: path.to_path_buf(),
            reason,
        };
        let blob = |digest: &str| -> Result<&Option<Vec<u8>>, ImageError> {
            self.blobs
                .get(digest)
                .ok_or_else(|| invalid(format!("blob {digest} is missing")))
        };
        let manifests = self.index["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for descriptor in manifests {
            let manifest_digest = descriptor["digest"]
                .as_str()
                .ok_or_else(|| invalid("index.json has no manifest digest".into()))?
                .to_string();
            let name = descriptor["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .map(str::to_string);
            let manifest: serde_json::Value = match blob(&manifest_digest)? {
                Some(content) => serde_json::from_slice(content)
                    .map_err(|e| invalid(format!("manifest is not JSON: {e}")))?,
                None => return Err(invalid("manifest is implausibly large".into())),
            };
            let image_id = manifest["config"]["digest"]
                .as_str()
                .ok_or_else(|| invalid("manifest has no config digest".into()))?
                .to_string();
            blob(&image_id)?;
            let mut blobs = vec![manifest_digest.clone(), image_id.clone()];
            for layer in manifest["layers"].as_array().into_iter().flatten() {
                let digest = layer["digest"]
                    .as_str()
                    .ok_or_else(|| invalid("a layer has no digest".into()))?;
                blob(digest)?;
                blobs.push(digest.to_string());
            }
            out.push(LayoutImage {
                descriptor,
                manifest_digest,
                image_id,
                name,
                blobs,
            });
        }
        Ok(out)
    }
}

pub fn inspect(path: &Path) -> Result<ArchiveInfo, ImageError> {
    let layout = read_layout(path, None)?;
    let images = layout.images(path)?;
    let [image] = images.as_slice() else {
        return Err(ImageError::InvalidArchive {
            path: path.to_path_buf(),
            reason: format!(
                "index.json lists {} images; this takes archives of one (a bundle of several is read by `image import`)",
                images.len()
            ),
        });
    };
    Ok(ArchiveInfo {
        image_id: image.image_id.clone(),
        manifest_digest: image.manifest_digest.clone(),
        name: image.name.clone(),
        blobs: layout.blobs.len(),
        bytes: layout.bytes,
        docker_manifest: layout.docker_manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::embedded::{BaseInput, build};

    #[test]
    fn a_sound_archive_is_read_and_a_tampered_one_refused() {
        let base = build(&BaseInput::find().expect("busybox-static is installed")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.tar");
        std::fs::write(&good, &base.archive).unwrap();
        let info = inspect(&good).unwrap();
        assert_eq!(info.image_id, base.image_id);
        assert_eq!(info.manifest_digest, base.manifest_digest);
        assert_eq!(info.name.as_deref(), Some(base.tag.as_str()));

        // Flip one byte inside the busybox binary (the layer blob).
        let mut bad = base.archive.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0xff;
        let tampered = dir.path().join("bad.tar");
        std::fs::write(&tampered, &bad).unwrap();
        let err = inspect(&tampered).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");

        let empty = dir.path().join("empty.tar");
        std::fs::write(&empty, tar::Builder::new(Vec::new()).into_inner().unwrap()).unwrap();
        assert!(
            inspect(&empty)
                .unwrap_err()
                .to_string()
                .contains("index.json")
        );
    }
}
