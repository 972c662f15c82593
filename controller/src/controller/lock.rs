//! One controller per workspace: an exclusive lock on `.pocket-dock/controller.lock`.
//! The kernel releases it when the process exits, however it exits, so a crash never leaves
//! a stale lock behind; the file keeps the holder's pid for the error message.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

pub use crate::error::LockError;
use crate::owned_files::OwnedDir;

pub const FILE_NAME: &str = crate::workspace::own_files::CONTROLLER_LOCK;

/// Held while the value lives.
#[derive(Debug)]
pub struct ControllerLock {
    _file: File,
}

impl ControllerLock {
    pub fn acquire(pocket_dock_dir: &Path) -> Result<ControllerLock, LockError> {
        let path = pocket_dock_dir.join(FILE_NAME);
        // Never through a symlink, neither `.pocket-dock` nor the lock file: a planted link
        // would otherwise make the pid be written over its target.
        let mut file = OwnedDir::open(pocket_dock_dir)
            .and_then(|dir| dir.open_or_create(FILE_NAME))
            .map_err(LockError::Unsafe)?;
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Held {
                    pid: pid.trim().to_string(),
                    path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(ControllerLock { _file: file })
    }
}

/// Whether a controller runs for the workspace of `pocket_dock_dir` now, as far as can be
/// told without touching its lock (a probe of the lock could make a controller that starts
/// at that moment fail): the pid its lock file names is alive and is a `pocket-dock`. A
/// stale file, or a pid reused by another program, says no.
pub fn controller_running(pocket_dock_dir: &Path) -> bool {
    let Ok(dir) = OwnedDir::open(pocket_dock_dir) else {
        return false;
    };
    let Ok(Some(bytes)) = dir.read(FILE_NAME, 32) else {
        return false;
    };
    let Some(pid) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
    else {
        return false;
    };
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim_end() == "pocket-dock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = ControllerLock::acquire(dir.path()).unwrap();
        let err = ControllerLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(&err, LockError::Held { pid, .. } if *pid == std::process::id().to_string()),
            "{err}"
        );
        drop(first);
        ControllerLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(FILE_NAME)).unwrap();
        let err = ControllerLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Unsafe(_)), "{err}");
        assert!(err.to_string().contains("is a symlink"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
}
