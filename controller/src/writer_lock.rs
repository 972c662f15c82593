//! One writer per workspace: `.pocket-dock/writer.lock`, an exclusive lock that `apply`,
//! `delete`, `snapshot`, `gc` and every controller pass hold while they change anything.
//!
//! Two writers acting at once race: one removes the container the other just created. So a
//! second writer waits for the first, saying who it waits for, up to its deadline. The lock
//! is `flock`-style (`File::try_lock`): the kernel releases it when the holder exits, however
//! it exits, so a killed writer never leaves a stale lock. The file holds the holder's role
//! and pid, for the message.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::owned_files::{OwnedDir, OwnedFileError};

pub const FILE_NAME: &str = crate::workspace::own_files::WRITER_LOCK;

/// How often a waiting writer looks again.
const POLL: Duration = Duration::from_millis(100);

/// Who holds the lock, as it wrote itself down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `apply`, `controller`, `delete`, ...; empty when the holder wrote nothing (yet).
    pub role: String,
    pub pid: Option<u32>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let role = if self.role.is_empty() {
            "another writer"
        } else if self.role == "controller" {
            "the controller"
        } else {
            &self.role
        };
        match self.pid {
            Some(pid) => write!(f, "{role}, pid {pid}"),
            None => write!(f, "{role}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriterLockError {
    #[error("gave up after {waited:?} waiting for {holder} to finish writing to this workspace")]
    TimedOut { holder: Holder, waited: Duration },
    #[error(transparent)]
    Unsafe(#[from] OwnedFileError),
    /// The cause is part of the message: a read-only or full folder is what to fix.
    #[error("cannot use the workspace lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl WriterLockError {
    pub fn category(&self) -> crate::Category {
        match self {
            WriterLockError::TimedOut { .. } => crate::Category::Timeout,
            WriterLockError::Unsafe(_) | WriterLockError::Io { .. } => crate::Category::Storage,
        }
    }
}

/// Held while the value lives.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock of the workspace whose `.pocket-dock` folder is `dir`, as `role`. While
    /// another writer holds it, `waiting` is told who (once) and the call waits, until
    /// `deadline` if one is given.
    pub async fn acquire(
        dir: &Path,
        role: &str,
        deadline: Option<Instant>,
        waiting: impl FnOnce(&Holder),
    ) -> Result<WriterLock, WriterLockError> {
        let path = dir.join(FILE_NAME);
        let io = |source| WriterLockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OwnedDir::open(dir)
            .and_then(|d| d.open_or_create(FILE_NAME))
            .map_err(|e| match e {
                OwnedFileError::Io { source, .. } => io(source),
                other => WriterLockError::Unsafe(other),
            })?;
        let started = Instant::now();
        let mut waiting = Some(waiting);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    if let Some(tell) = waiting.take() {
                        tell(&holder);
                    }
                    if deadline.is_some_and(|d| Instant::now() + POLL > d) {
                        return Err(WriterLockError::TimedOut {
                            holder,
                            waited: started.elapsed(),
                        });
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{role} {}", std::process::id()).map_err(io)?;
        Ok(WriterLock { _file: file })
    }
}

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.take(256).read_to_string(&mut text);
    let mut holder = parse_holder(&text);
    // What a writer that is gone wrote there: the lock is held by someone who wrote nothing.
    if holder
        .pid
        .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
    {
        holder = Holder {
            role: String::new(),
            pid: None,
        };
    }
    holder
}

fn parse_holder(text: &str) -> Holder {
    let mut words = text.split_whitespace();
    let role = words.next().unwrap_or_default().to_string();
    let pid = words.next().and_then(|p| p.parse().ok());
    Holder { role, pid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_writer_waits_says_for_whom_and_gives_up_at_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path(), "controller", None, |_| {})
            .await
            .unwrap();
        let mut told = None;
        let err = WriterLock::acquire(
            dir.path(),
            "apply",
            Some(Instant::now() + Duration::from_millis(300)),
            |h| told = Some(h.clone()),
        )
        .await
        .unwrap_err();
        let holder = told.unwrap();
        assert_eq!(holder.role, "controller");
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(
            err.to_string().contains(&format!(
                "waiting for the controller, pid {}",
                std::process::id()
            )),
            "{err}"
        );
        drop(first);
        WriterLock::acquire(dir.path(), "apply", None, |_| panic!("free"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_waiting_writer_goes_on_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path(), "delete", None, |_| {})
            .await
            .unwrap();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            drop(first);
        });
        let started = Instant::now();
        WriterLock::acquire(dir.path(), "apply", None, |_| {})
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        release.await.unwrap();
    }

    #[test]
    fn holders_are_read_leniently() {
        assert_eq!(
            parse_holder("apply 42"),
            Holder {
                role: "apply".into(),
                pid: Some(42)
            }
        );
        assert_eq!(parse_holder("").to_string(), "another writer");
        assert_eq!(parse_holder("controller x").to_string(), "the controller");
    }
}
