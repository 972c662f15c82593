//! Secrets: values read on the host at reconcile time, kept out of everything pocket-dock
//! records or prints, and handed to a sandbox only as files mounted at `/run/secrets/NAME`.
//!
//! - [`read_sandbox_secrets`] reads a sandbox's values (a file, or pocket-dock's own
//!   environment); a value is a [`SecretValue`], whose `Debug` never shows it.
//! - [`WorkspaceKey`] is a random per-workspace key (`.pocket-dock/secret-key`, mode 0600,
//!   created by pocket-dock, never through a symlink). [`WorkspaceKey::digest`] is an
//!   HMAC-SHA256 of a value under it: what the spec hash and the `pocket-dock.dev/spec` label
//!   hold instead of a value. Without the key a digest cannot be checked against guesses.
//! - [`write_files`] writes a container's values: a folder of mode 0700 under a host
//!   runtime folder on a tmpfs ([`runtime_base`]), each file created new (never through a
//!   symlink) with mode 0400; [`chown_files`] then gives them to the container's user
//!   (mapped through its user namespace, [`map_id`]). They are bind-mounted read-only; the
//!   engine deletes them when it removes the container (`engine::secret_files`).
//! - [`SecretsLabel`] is what a container records about its secrets: names, the folder and
//!   which variables come from which secret. Never a value.
//! - [`wrap_command`] sets `valueFrom` variables by reading the files in a shell in front of
//!   a command, so that no value is in the container's configuration; [`redact`] takes
//!   known values out of an argv before it is recorded.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use crate::engine::secret_files::open_dir_nofollow;
pub use crate::engine::secret_files::{
    LABEL, MAX_SECRET_BYTES, MOUNT_DIR, SecretValue, SecretsLabel, wrap_command,
};

use pocket_dock_spec::model::{SandboxSpec, Secret};
use rustix::fs::{AtFlags, Mode, OFlags};
use sha2::{Digest, Sha256};

/// The per-workspace key file, in `.pocket-dock/`.
pub const KEY_FILE: &str = crate::workspace::own_files::SECRET_KEY;
/// The prefix of a digest as labels show it.
pub const DIGEST_PREFIX: &str = "hmac-sha256:";

const KEY_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{name}` of Sandbox/{sandbox}: cannot read {}: {reason}", path.display())]
    File {
        sandbox: String,
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "secret `{name}` of Sandbox/{sandbox}: the environment variable {var} is not set for pocket-dock"
    )]
    EnvMissing {
        sandbox: String,
        name: String,
        var: String,
    },
    #[error("the workspace's secret key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("the secrets folder {}: {reason}", path.display())]
    Folder { path: PathBuf, reason: String },
    #[error("secrets of Sandbox/{sandbox}: {reason}")]
    User { sandbox: String, reason: String },
}

impl SecretError {
    pub fn category(&self) -> crate::Category {
        match self {
            SecretError::File { .. }
            | SecretError::EnvMissing { .. }
            | SecretError::User { .. } => crate::Category::InvalidInput,
            SecretError::Key { .. } | SecretError::Folder { .. } => crate::Category::Storage,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The workspace key and digests

/// The workspace's random key for digests of secret and environment values.
#[derive(Clone, PartialEq, Eq)]
pub struct WorkspaceKey([u8; KEY_BYTES]);

impl std::fmt::Debug for WorkspaceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkspaceKey(..)")
    }
}

impl WorkspaceKey {
    /// A fixed key, for tests.
    pub fn fixed(byte: u8) -> Self {
        WorkspaceKey([byte; KEY_BYTES])
    }

    /// Reads `.pocket-dock/secret-key` under `root`, creating it (32 random bytes, mode
    /// 0600, never through a symlink) when it is absent.
    pub fn load_or_create(root: &Path) -> Result<WorkspaceKey, SecretError> {
        use crate::owned_files::{EntryKind, OwnedDir};
        let folder = root.join(crate::workspace::DIR_NAME);
        let path = folder.join(KEY_FILE);
        let fail = |reason: String| SecretError::Key {
            path: path.clone(),
            reason,
        };
        let dir = OwnedDir::open(&folder).map_err(|e| fail(e.to_string()))?;
        for _ in 0..2 {
            match dir.entry(KEY_FILE).map_err(|e| fail(e.to_string()))? {
                EntryKind::File => {
                    let bytes = dir
                        .read(KEY_FILE, 64)
                        .map_err(|e| fail(e.to_string()))?
                        .unwrap_or_default();
                    let key: [u8; KEY_BYTES] = bytes.as_slice().try_into().map_err(|_| {
                        fail(format!(
                            "holds {} bytes, not {KEY_BYTES}; delete it to make a new one (every sandbox with secrets or env is then created again)",
                            bytes.len()
                        ))
                    })?;
                    return Ok(WorkspaceKey(key));
                }
                EntryKind::Absent => {
                    let mut key = [0u8; KEY_BYTES];
                    std::fs::File::open("/dev/urandom")
                        .and_then(|mut f| f.read_exact(&mut key))
                        .map_err(|e| fail(format!("no random bytes: {e}")))?;
                    match dir.create_new_private(KEY_FILE, &key) {
                        Ok(()) => return Ok(WorkspaceKey(key)),
                        // Another process made it first: read theirs.
                        Err(crate::owned_files::OwnedFileError::Exists { .. }) => continue,
                        Err(e) => return Err(fail(e.to_string())),
                    }
                }
                other => {
                    return Err(fail(format!(
                        "is {}, not a file pocket-dock made",
                        other.describe()
                    )));
                }
            }
        }
        Err(fail("appeared and vanished while being read".into()))
    }

    /// `hmac-sha256:` and the hex HMAC-SHA256 of `value` under this key, in a domain (`env`,
    /// `secret`) so that one value digests differently as each.
    pub fn digest(&self, domain: &str, value: &[u8]) -> String {
        let mut message = Vec::with_capacity(domain.len() + 1 + value.len());
        message.extend_from_slice(domain.as_bytes());
        message.push(0);
        message.extend_from_slice(value);
        format!(
            "{DIGEST_PREFIX}{}",
            crate::engine::labels::hex(&hmac_sha256(&self.0, &message))
        )
    }
}

/// HMAC-SHA256 (RFC 2104) over a key no longer than the block.
fn hmac_sha256(key: &[u8; KEY_BYTES], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut inner_pad = [0x36u8; BLOCK];
    let mut outer_pad = [0x5cu8; BLOCK];
    for (i, k) in key.iter().enumerate() {
        inner_pad[i] ^= k;
        outer_pad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

// ---------------------------------------------------------------------------------------
// Reading values

/// Reads every secret of a sandbox. A relative `file` is read inside the workspace root
/// only, its last component never a symlink (a sandbox that can write the workspace must
/// not be able to point its own secret at another host file); an absolute one is read as
/// written. A variable is read from this process's environment.
pub fn read_sandbox_secrets(
    root: &Path,
    sandbox: &str,
    spec: &SandboxSpec,
) -> Result<BTreeMap<String, SecretValue>, SecretError> {
    let mut values = BTreeMap::new();
    for secret in &spec.secrets {
        values.insert(secret.name.clone(), read_one(root, sandbox, secret)?);
    }
    Ok(values)
}

/// Reads one secret's value the way a sandbox's are read (a relative file never through a
/// symlink nor outside `root`); `owner` names who asked, in errors. Registry pull secrets
/// use it too.
pub fn read_secret(root: &Path, owner: &str, secret: &Secret) -> Result<SecretValue, SecretError> {
    read_one(root, owner, secret)
}

fn read_one(root: &Path, sandbox: &str, secret: &Secret) -> Result<SecretValue, SecretError> {
    if let Some(var) = &secret.env {
        use std::os::unix::ffi::OsStringExt;
        return std::env::var_os(var)
            .map(|v| SecretValue::new(v.into_vec()))
            .ok_or_else(|| SecretError::EnvMissing {
                sandbox: sandbox.to_string(),
                name: secret.name.clone(),
                var: var.clone(),
            });
    }
    let written = secret.file.clone().unwrap_or_default();
    let path = root.join(&written);
    let fail = |reason: String| SecretError::File {
        sandbox: sandbox.to_string(),
        name: secret.name.clone(),
        path: path.clone(),
        reason,
    };
    let file = if Path::new(&written).is_absolute() {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        rustix::fs::open(&path, flags, Mode::empty()).map_err(|e| fail(e.to_string()))?
    } else {
        let mut depth = 0usize;
        for c in Path::new(&written).components() {
            match c {
                Component::Normal(_) => depth += 1,
                Component::ParentDir if depth > 0 => depth -= 1,
                Component::CurDir => {}
                _ => return Err(fail("it leads outside the workspace root".into())),
            }
        }
        let parent = path.parent().unwrap_or(root);
        let name = path
            .file_name()
            .ok_or_else(|| fail("it names no file".into()))?;
        let canonical_root = root.canonicalize().map_err(|e| fail(e.to_string()))?;
        let canonical_parent = parent.canonicalize().map_err(|e| fail(e.to_string()))?;
        if !canonical_parent.starts_with(&canonical_root) {
            return Err(fail(
                "its folder leads outside the workspace root through a symlink".into(),
            ));
        }
        let dir = rustix::fs::open(
            &canonical_parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(e.to_string()))?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        rustix::fs::openat(&dir, name, flags, Mode::empty()).map_err(|e| match e {
            rustix::io::Errno::LOOP => fail("it is a symlink, which is not followed".into()),
            e => fail(e.to_string()),
        })?
    };
    let stat = rustix::fs::fstat(&file).map_err(|e| fail(e.to_string()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(fail("it is not a regular file".into()));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(file)
        .take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(fail("it is larger than 1 MiB".into()));
    }
    Ok(SecretValue::new(bytes))
}

// ---------------------------------------------------------------------------------------
// What a container records

/// The folder of one container's secrets: per workspace, sandbox and spec hash, so that a
/// replacement never shares files with the container it replaces.
pub fn container_dir(base: &Path, workspace: &str, sandbox: &str, spec_hash: &str) -> PathBuf {
    let short: String = spec_hash
        .trim_start_matches("sha256:")
        .chars()
        .take(16)
        .collect();
    base.join(workspace).join(format!("{sandbox}-{short}"))
}

/// Opens (making them, mode 0700) each folder from `/` down to `path`, never following a
/// symlink below the runtime base's parent.
fn make_dirs(path: &Path) -> Result<std::os::fd::OwnedFd, SecretError> {
    let fail = |reason: String| SecretError::Folder {
        path: path.to_path_buf(),
        reason,
    };
    let base = runtime_base()?;
    let anchor = base.parent().unwrap_or(Path::new("/"));
    let rest = path
        .strip_prefix(anchor)
        .map_err(|_| fail("not under the runtime folder".into()))?;
    let mut dir = rustix::fs::open(
        anchor,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(format!("cannot open {}: {e}", anchor.display())))?;
    for component in rest.components() {
        let Component::Normal(name) = component else {
            return Err(fail("not a plain path".into()));
        };
        match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        dir = rustix::fs::openat(
            &dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            fail(format!(
                "{}: {e} (a symlink is never followed)",
                name.display()
            ))
        })?;
        let stat = rustix::fs::fstat(&dir).map_err(|e| fail(e.to_string()))?;
        if stat.st_uid != rustix::process::geteuid().as_raw() {
            return Err(fail(format!(
                "{} belongs to another user; it was left alone",
                name.display()
            )));
        }
    }
    Ok(dir)
}

/// Writes one container's secret files: the folder made (0700), each file created new
/// with mode 0400 (a leftover of an interrupted create is replaced, never written through).
pub fn write_files(
    dir_path: &Path,
    values: &BTreeMap<String, SecretValue>,
) -> Result<(), SecretError> {
    use std::io::Write;
    let dir = make_dirs(dir_path)?;
    for (name, value) in values {
        let fail = |reason: String| SecretError::Folder {
            path: dir_path.join(name),
            reason,
        };
        match rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, name.as_str(), flags, Mode::from_raw_mode(0o400))
            .map_err(|e| fail(e.to_string()))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o400)).map_err(|e| fail(e.to_string()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(value.bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

/// The runtime folder secrets go under (see [`crate::engine::secret_files::runtime_base`]).
pub fn runtime_base() -> Result<PathBuf, SecretError> {
    crate::engine::secret_files::runtime_base().map_err(|reason| SecretError::Folder {
        path: PathBuf::from("/run/pocket-dock"),
        reason,
    })
}

/// Deletes a container's secret files (see [`crate::engine::secret_files::remove_files`]).
pub fn remove_files(label: &SecretsLabel) -> Result<(), SecretError> {
    crate::engine::secret_files::remove_files(label).map_err(|reason| SecretError::Folder {
        path: label.dir.clone(),
        reason,
    })
}

/// Removes the folders of earlier containers of the same sandbox (`<sandbox>-<16 hex>`
/// next to `dir_path`): called right before its container is made, when no other container
/// of that name can exist, so they are leftovers of containers removed outside pocket-dock.
/// Only files with secret names are deleted, then the folder if that empties it.
pub fn remove_earlier_folders(dir_path: &Path, sandbox: &str) {
    let (Some(parent), Some(own)) = (dir_path.parent(), dir_path.file_name()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let prefix = format!("{sandbox}-");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(text) = name.to_str() else {
            continue;
        };
        let earlier = name != own
            && text.strip_prefix(&prefix).is_some_and(|hash| {
                hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
            });
        if !earlier || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let folder = parent.join(&name);
        let names: Vec<String> = std::fs::read_dir(&folder)
            .map(|list| {
                list.flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .filter(|n| pocket_dock_spec::secret_name_problem(n).is_none())
                    .collect()
            })
            .unwrap_or_default();
        let label = SecretsLabel {
            dir: folder,
            names,
            env: BTreeMap::new(),
        };
        if let Err(e) = remove_files(&label) {
            tracing::warn!(error = %e, "could not remove a leftover secrets folder");
        }
    }
}

/// Gives a container's secret files to `uid:gid` (host ids).
pub fn chown_files(
    dir_path: &Path,
    names: &[String],
    uid: u32,
    gid: u32,
) -> Result<(), SecretError> {
    let dir = open_dir_nofollow(dir_path).map_err(|e| SecretError::Folder {
        path: dir_path.to_path_buf(),
        reason: e.to_string(),
    })?;
    for name in names {
        let fail = |reason: String| SecretError::Folder {
            path: dir_path.join(name),
            reason,
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, name.as_str(), flags, Mode::empty())
            .map_err(|e| fail(e.to_string()))?;
        rustix::fs::fchown(
            fd.as_fd(),
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(|e| fail(format!("cannot give it to {uid}:{gid}: {e}")))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Users and ID mappings

/// A numeric `uid[:gid]`; the group defaults to 0 as Podman's does without a passwd entry.
pub fn numeric_user(user: &str) -> Option<(u32, u32)> {
    let user = user.trim();
    if user.is_empty() {
        return Some((0, 0));
    }
    let (uid, gid) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let uid: u32 = uid.parse().ok()?;
    let gid: u32 = match gid {
        Some(g) => g.parse().ok()?,
        None => 0,
    };
    Some((uid, gid))
}

/// Maps a container id to the host through `container:host:size` entries (Podman's
/// `IDMappings`); no entries means no user namespace (the same id). `None`: not mapped.
pub fn map_id(id: u32, mappings: &[String]) -> Option<u32> {
    if mappings.is_empty() {
        return Some(id);
    }
    mappings.iter().find_map(|m| {
        let mut parts = m.split(':').map(|p| p.trim().parse::<u64>().ok());
        let (Some(Some(inside)), Some(Some(host)), Some(Some(size))) =
            (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let id = u64::from(id);
        (id >= inside && id < inside + size)
            .then(|| u32::try_from(host + (id - inside)).ok())
            .flatten()
    })
}

// ---------------------------------------------------------------------------------------
// Commands and argv

/// `argv` with every known value replaced by `<secret:NAME>` (a value and the value
/// without its trailing newline, as a `$(cat ...)` would give it).
pub fn redact(argv: &[String], values: &[(String, SecretValue)]) -> Vec<String> {
    let mut out: Vec<String> = argv.to_vec();
    let mut needles: Vec<(String, String)> = Vec::new();
    for (name, value) in values {
        let text = String::from_utf8_lossy(value.bytes()).into_owned();
        let trimmed = text.trim_end_matches(['\n', '\r']).to_string();
        for needle in [text, trimmed] {
            if !needle.is_empty() {
                needles.push((needle, name.clone()));
            }
        }
    }
    // Longest first, so that a value containing another is replaced whole.
    needles.sort_by_key(|n| std::cmp::Reverse(n.0.len()));
    for arg in &mut out {
        for (needle, name) in &needles {
            if arg.contains(needle.as_str()) {
                *arg = arg.replace(needle.as_str(), &format!("<secret:{name}>"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_rfc_4231_hmac_keyed_and_domain_separated() {
        let key = WorkspaceKey::fixed(7);
        let a = key.digest("secret", b"hunter2");
        assert!(a.starts_with(DIGEST_PREFIX) && a.len() == DIGEST_PREFIX.len() + 64);
        assert_ne!(a, key.digest("env", b"hunter2"));
        assert_ne!(a, WorkspaceKey::fixed(8).digest("secret", b"hunter2"));
        assert_eq!(a, key.digest("secret", b"hunter2"));
        assert!(!a.contains("hunter2"));
        // RFC 4231 test case 1 with a 20-byte key, padded as HMAC pads it.
        let mut k = [0u8; KEY_BYTES];
        k[..20].copy_from_slice(&[0x0b; 20]);
        assert_eq!(
            crate::engine::labels::hex(&hmac_sha256(&k, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn a_value_never_shows_in_debug() {
        let v = SecretValue::new(b"s3cr3t".to_vec());
        assert_eq!(format!("{v:?}"), "<secret: 6 bytes>");
        assert!(!format!("{:?}", WorkspaceKey::fixed(1)).contains('1'));
    }

    #[test]
    fn users_and_mappings() {
        assert_eq!(numeric_user(""), Some((0, 0)));
        assert_eq!(numeric_user("65534:65534"), Some((65534, 65534)));
        assert_eq!(numeric_user("1000"), Some((1000, 0)));
        assert_eq!(numeric_user("nobody"), None);
        let map = vec!["0:2147483647:65535".to_string()];
        assert_eq!(map_id(0, &map), Some(2_147_483_647));
        assert_eq!(map_id(65534, &map), Some(2_147_483_647 + 65534));
        assert_eq!(map_id(70000, &map), None);
        assert_eq!(map_id(5, &[]), Some(5));
    }

    #[test]
    fn wrapped_commands_and_redaction() {
        let env = BTreeMap::from([("TOKEN".to_string(), "api".to_string())]);
        let argv = wrap_command(&env, vec!["echo".into(), "$TOKEN".into()]);
        assert_eq!(argv[0], "/bin/sh");
        assert!(argv[2].contains("TOKEN=$(cat '/run/secrets/api'); export TOKEN;"));
        assert_eq!(&argv[3..], ["sh", "echo", "$TOKEN"]);
        assert_eq!(wrap_command(&BTreeMap::new(), vec!["x".into()]), ["x"]);

        let values = vec![("api".to_string(), SecretValue::new(b"abc123\n".to_vec()))];
        let out = redact(
            &["curl".into(), "-H".into(), "Authorization: abc123".into()],
            &values,
        );
        assert_eq!(out[2], "Authorization: <secret:api>");
    }

    #[test]
    fn relative_secret_files_stay_inside_and_never_follow_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("s")).unwrap();
        std::fs::write(root.join("s/token"), "v1").unwrap();
        std::fs::write(root.join("outside"), "no").unwrap();
        std::os::unix::fs::symlink(root.join("outside"), root.join("s/link")).unwrap();
        let spec = |file: &str| SandboxSpec {
            secrets: vec![Secret {
                name: "t".into(),
                file: Some(file.into()),
                env: None,
            }],
            ..SandboxSpec::default()
        };
        let read = read_sandbox_secrets(root, "web", &spec("s/token")).unwrap();
        assert_eq!(read["t"].bytes(), b"v1");
        let err = read_sandbox_secrets(root, "web", &spec("s/link")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        let err = read_sandbox_secrets(root, "web", &spec("../x")).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        let err = read_sandbox_secrets(root, "web", &spec("s/missing")).unwrap_err();
        assert!(
            err.to_string().contains("secret `t` of Sandbox/web"),
            "{err}"
        );
        let env = SandboxSpec {
            secrets: vec![Secret {
                name: "e".into(),
                file: None,
                env: Some("POCKET_DOCK_TEST_SURELY_UNSET_VAR".into()),
            }],
            ..SandboxSpec::default()
        };
        let err = read_sandbox_secrets(root, "web", &env).unwrap_err();
        assert!(matches!(err, SecretError::EnvMissing { .. }), "{err}");
    }

    #[test]
    fn files_are_written_private_and_earlier_folders_of_the_sandbox_swept() {
        use std::os::unix::fs::PermissionsExt;
        let base = runtime_base().unwrap();
        let ws = format!("test-{}", std::process::id());
        let dir = container_dir(&base, &ws, "web", "sha256:00112233445566778899");
        let earlier = container_dir(&base, &ws, "web", "sha256:aabbccddeeff00112233");
        let other = container_dir(&base, &ws, "web-1", "sha256:aabbccddeeff00112233");
        let values = BTreeMap::from([("tok".to_string(), SecretValue::new(b"v".to_vec()))]);
        for d in [&earlier, &other] {
            write_files(d, &values).unwrap();
        }
        remove_earlier_folders(&dir, "web");
        write_files(&dir, &values).unwrap();
        assert!(!earlier.exists(), "an earlier container's folder is left");
        assert!(other.exists(), "another sandbox's folder was removed");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("tok")), 0o400);
        // Written again (an interrupted create): replaced, not refused.
        write_files(&dir, &values).unwrap();
        for d in [&dir, &other] {
            remove_files(&SecretsLabel {
                dir: d.clone(),
                names: vec!["tok".into()],
                env: BTreeMap::new(),
            })
            .unwrap();
        }
        assert!(!base.join(&ws).exists(), "the workspace folder is left");
    }

    #[test]
    fn the_key_is_made_once_private_and_never_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join(".pocket-dock")).unwrap();
        let a = WorkspaceKey::load_or_create(tmp.path()).unwrap();
        let b = WorkspaceKey::load_or_create(tmp.path()).unwrap();
        assert_eq!(a, b);
        let meta = std::fs::metadata(tmp.path().join(".pocket-dock").join(KEY_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);

        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(other.path().join(".pocket-dock")).unwrap();
        std::os::unix::fs::symlink(
            tmp.path().join("elsewhere"),
            other.path().join(".pocket-dock").join(KEY_FILE),
        )
        .unwrap();
        assert!(WorkspaceKey::load_or_create(other.path()).is_err());
        assert!(!tmp.path().join("elsewhere").exists());
    }
}
