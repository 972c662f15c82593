//! The secret files of a container, as far as the engine needs them: what its
//! [`LABEL`] records ([`SecretsLabel`]: names, the host folder, which variables come from
//! which secret; never a value), the runtime folder they live in, deleting them with the
//! container, and the shell that sets `valueFrom` variables from them in front of an exec.
//! Reading values, the workspace key and writing the files are `crate::secrets`'s; this
//! part depends on nothing but the file system, so the engine stays a leaf.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags};

/// Where secrets appear in a container.
pub const MOUNT_DIR: &str = "/run/secrets";
/// Largest secret value read.
pub const MAX_SECRET_BYTES: u64 = 1024 * 1024;
/// The label recording a container's secrets (names, folder, variables; never values).
pub const LABEL: &str = "pocket-dock.dev/secrets";

/// A secret's value. Its `Debug` shows its length only, so that no log of a structure that
/// holds one can show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Arc<Vec<u8>>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretValue(Arc::new(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<secret: {} bytes>", self.0.len())
    }
}

/// What a container with secrets records in its [`LABEL`]: no value, only where they are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretsLabel {
    /// The host folder holding its files.
    pub dir: PathBuf,
    /// The secrets' names (file names in `dir` and under `/run/secrets`).
    pub names: Vec<String>,
    /// Variables set from secrets: variable name to secret name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

impl SecretsLabel {
    /// Reads the label; `None` when absent or not one pocket-dock could have written (a
    /// folder outside the runtime folder, a name that is not a plain file name).
    pub fn parse(labels: &std::collections::HashMap<String, String>) -> Option<SecretsLabel> {
        Self::parse_value(labels.get(LABEL)?)
    }

    /// [`Self::parse`] of the label's value.
    pub fn parse_value(value: &str) -> Option<SecretsLabel> {
        let label: SecretsLabel = serde_json::from_str(value).ok()?;
        let names_ok = label
            .names
            .iter()
            .chain(label.env.values())
            .all(|n| pocket_dock_spec::secret_name_problem(n).is_none());
        let vars_ok = label.env.keys().all(|v| is_shell_name(v));
        (names_ok && vars_ok).then_some(label)
    }

    /// Whether its folder is one pocket-dock could have made: a plain path inside this
    /// process's runtime folder. Files are read or deleted only then.
    pub fn dir_is_ours(&self) -> bool {
        let Ok(base) = runtime_base() else {
            return false;
        };
        self.dir != base
            && self
                .dir
                .strip_prefix(&base)
                .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))))
    }

    pub fn to_label(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The values as written in the folder, for taking them out of recorded argv. What
    /// cannot be read is left out.
    pub fn read_values(&self) -> Vec<(String, SecretValue)> {
        if !self.dir_is_ours() {
            return Vec::new();
        }
        let Ok(dir) = open_dir_nofollow(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for name in &self.names {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let Ok(fd) = rustix::fs::openat(&dir, name.as_str(), flags, Mode::empty()) else {
                continue;
            };
            let mut bytes = Vec::new();
            if std::fs::File::from(fd)
                .take(MAX_SECRET_BYTES)
                .read_to_end(&mut bytes)
                .is_ok()
            {
                out.push((name.clone(), SecretValue::new(bytes)));
            }
        }
        out
    }
}

/// The runtime folder secrets go under, always on a tmpfs (a value never reaches a disk):
/// as root `/run/pocket-dock`, else `$XDG_RUNTIME_DIR/pocket-dock`, when that folder is on a
/// tmpfs (or does not exist yet and its parent is one); otherwise `/dev/shm/pocket-dock` (as
/// root) or `/dev/shm/pocket-dock-UID`. Neither on a tmpfs: an error.
pub fn runtime_base() -> Result<PathBuf, String> {
    let uid = rustix::process::geteuid();
    let preferred = if uid.is_root() {
        Some(PathBuf::from("/run"))
    } else {
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(parent) = preferred {
        // The folder itself on a tmpfs (mounted there), or not made yet under a tmpfs.
        let folder = parent.join("pocket-dock");
        if is_tmpfs(&folder) || (!folder.exists() && is_tmpfs(&parent)) {
            return Ok(folder);
        }
    }
    let shm = Path::new("/dev/shm");
    if is_tmpfs(shm) {
        return Ok(if uid.is_root() {
            shm.join("pocket-dock")
        } else {
            shm.join(format!("pocket-dock-{}", uid.as_raw()))
        });
    }
    Err("neither its parent nor /dev/shm is on a tmpfs; secrets are written only to memory".into())
}

/// A POSIX shell variable name (what a `valueFrom` variable must be).
fn is_shell_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `path` is on a tmpfs.
#[allow(
    clippy::unnecessary_cast,
    reason = "f_type is i64 on some architectures and narrower on others"
)]
fn is_tmpfs(path: &Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC)
}

pub(crate) fn open_dir_nofollow(path: &Path) -> rustix::io::Result<std::os::fd::OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Deletes a container's secret files (only the names it records) and its folder.
pub fn remove_files(label: &SecretsLabel) -> Result<(), String> {
    let fail = |reason: String| format!("{}: {reason}", label.dir.display());
    if !label.dir_is_ours() {
        return Err(fail(
            "not inside this process's runtime folder; left alone".into(),
        ));
    }
    let dir = match open_dir_nofollow(&label.dir) {
        Ok(dir) => dir,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(fail(e.to_string())),
    };
    for name in &label.names {
        match rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    drop(dir);
    match std::fs::remove_dir(&label.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // Something else is in it: not ours to delete.
        Err(e) => return Err(fail(e.to_string())),
    }
    // The workspace's folder too, once it holds no other container's (an error means it
    // still does, or it is gone already).
    if let Some(parent) = label.dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// `argv` behind a shell that sets each `valueFrom` variable from its file first:
/// `/bin/sh -c '...; exec "$@"' sh ARGV...`. The container's configuration holds the file
/// names only. Unchanged when no variable comes from a secret.
pub fn wrap_command(env: &BTreeMap<String, String>, argv: Vec<String>) -> Vec<String> {
    if env.is_empty() || argv.is_empty() {
        return argv;
    }
    let mut script = String::from("set -e; ");
    for (var, name) in env {
        // Names are checked by validation: a shell identifier, and a plain file name.
        script.push_str(&format!(
            "{var}=$(cat '{MOUNT_DIR}/{name}'); export {var}; "
        ));
    }
    script.push_str("exec \"$@\"");
    let mut out = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        script,
        "sh".to_string(),
    ];
    out.extend(argv);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_is_read_only_as_pocket_dock_writes_it_and_its_folder_only_when_ours() {
        let base = runtime_base().unwrap();
        let label = SecretsLabel {
            dir: base.join("0123456789ab").join("web-0011223344556677"),
            names: vec!["api-token".into()],
            env: BTreeMap::from([("TOKEN".to_string(), "api-token".to_string())]),
        };
        let parsed = SecretsLabel::parse_value(&label.to_label()).unwrap();
        assert_eq!(parsed, label);
        assert!(parsed.dir_is_ours());
        for bad in [
            r#"{"dir":"/x","names":["../etc"]}"#,
            r#"{"dir":"/x","names":["a"],"env":{"A; rm -rf /":"a"}}"#,
            r#"{"dir":"/x","names":["a"],"env":{"A":"a/b"}}"#,
            "not json",
        ] {
            assert_eq!(SecretsLabel::parse_value(bad), None, "{bad}");
        }
        let elsewhere = SecretsLabel {
            dir: PathBuf::from("/etc"),
            ..label.clone()
        };
        assert!(!elsewhere.dir_is_ours());
        assert!(remove_files(&elsewhere).is_err());
        let escaping = SecretsLabel {
            dir: base.join("..").join("etc"),
            ..label
        };
        assert!(!escaping.dir_is_ours());
        assert!(escaping.read_values().is_empty());
    }
}
