//! The state store: a SQLite database (WAL) at `.pocket-dock/state.db` holding the instance
//! registry, a journal of every action, the snapshots taken, the command history `exec`
//! appends to, and the last valid documents of every declaration file (so that a broken file
//! keeps its objects, across restarts too).
//!
//! It is a cache plus history, never the source of truth: labels on Podman's objects are.
//! A missing database is created; a corrupt one is moved aside and replaced (with a warning);
//! the registry is refreshed from what each apply observes.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use std::collections::BTreeMap;

use crate::declared::{FileDocuments, LastValid};
use crate::reconcile::restarts::RestartRecord;

pub const FILE_NAME: &str = crate::workspace::own_files::STATE_STORE;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS instances (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    container_id TEXT,
    container_name TEXT,
    image TEXT,
    spec_hash TEXT,
    created_at TEXT,
    started_at TEXT,
    stopped_at TEXT,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    sandbox TEXT NOT NULL,
    command TEXT NOT NULL,
    exit_code INTEGER,
    duration_ms INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    stdout_bytes INTEGER NOT NULL,
    stderr_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    name TEXT NOT NULL,
    generation TEXT NOT NULL,
    image TEXT NOT NULL,
    image_id TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    sandbox_spec_hash TEXT NOT NULL,
    sandbox_image TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    description TEXT,
    PRIMARY KEY (name, generation, image_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    sandbox TEXT NOT NULL,
    client_pid INTEGER NOT NULL,
    client_start INTEGER NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS restarts (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS last_valid (
    file TEXT PRIMARY KEY,
    documents TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL
);
";

#[derive(Debug, thiserror::Error)]
#[error("state store {path}: {source}")]
pub struct StoreError {
    pub path: PathBuf,
    #[source]
    pub source: rusqlite::Error,
}

pub struct StateStore {
    conn: Connection,
    path: PathBuf,
}

/// One row of the instance registry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Instance {
    pub kind: String,
    pub name: String,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    pub image: Option<String>,
    pub spec_hash: Option<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
}

/// One command run in a sandbox (`exec`), as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    pub sandbox: String,
    /// The argv, as JSON (argv stays argv, even here).
    pub command: Vec<String>,
    /// `None` when the command was killed (timeout, Ctrl-C) before it exited.
    pub exit_code: Option<i64>,
    pub duration_ms: i64,
    pub started_at: String,
    pub finished_at: String,
    pub stdout_bytes: i64,
    pub stderr_bytes: i64,
}

/// One controller event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub time: String,
    pub kind: String,
    pub name: String,
    pub reason: String,
    pub message: String,
}

/// One journal row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JournalEntry {
    pub time: String,
    pub kind: String,
    pub name: String,
    pub action: String,
    pub reason: String,
    pub outcome: String,
    pub error: Option<String>,
    pub duration_ms: i64,
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Refuses a database whose folder is a symlink, or whose file or journal files are not
/// regular files: SQLite would follow a symlink and write elsewhere, and block on a FIFO.
fn refuse_unsafe_files(path: &Path) -> Result<(), rusqlite::Error> {
    let refuse = |p: &Path, what: &str| {
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("{} {what}{REFUSED}", p.display())),
        ))
    };
    if let Some(dir) = path.parent()
        && std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink())
    {
        return refuse(dir, "is a symlink");
    }
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    for p in files {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => return refuse(&p, "is a symlink"),
            Ok(m) if !m.is_file() => return refuse(&p, "is not a regular file"),
            _ => {}
        }
    }
    Ok(())
}

/// Ends the message of a refusal (so that it is never taken for corruption).
const REFUSED: &str = "; pocket-dock never opens it (remove it, and the state store is made anew)";

fn is_refused(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(message)) if message.ends_with(REFUSED))
}

impl StateStore {
    /// Opens (or creates) the store in `dir`. A corrupt database is renamed to
    /// `state.db.corrupt-<time>` and a fresh one created; the warning says so.
    pub fn open(dir: &Path) -> Result<(StateStore, Option<String>), StoreError> {
        let path = dir.join(FILE_NAME);
        match Self::open_at(&path) {
            Ok(store) => Ok((store, None)),
            // Busy is not corrupt: another process (the controller, an exec) holds a lock
            // for longer than the busy timeout. Never move a healthy database aside.
            Err(e) if is_busy(&e.source) => Err(e),
            // A planted symlink or FIFO is not corruption: nothing is moved or replaced.
            Err(e) if is_refused(&e.source) => Err(e),
            Err(first) => {
                let aside = dir.join(format!(
                    "{FILE_NAME}.corrupt-{}",
                    crate::timefmt::now_rfc3339().replace(':', "")
                ));
                let _ = std::fs::rename(&path, &aside);
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(dir.join(format!("{FILE_NAME}{suffix}")));
                }
                let store = Self::open_at(&path)?;
                Ok((
                    store,
                    Some(format!(
                        "the state store was unreadable ({}); moved it to {} and started a new one (it is rebuilt from Podman's labels)",
                        first.source,
                        aside.display()
                    )),
                ))
            }
        }
    }

    /// Opens the store only when it exists, as it is (for commands that only read): an
    /// unreadable one is an error here, never moved aside.
    pub fn open_existing(dir: &Path) -> Result<Option<StateStore>, StoreError> {
        let path = dir.join(FILE_NAME);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        Self::open_at(&path).map(Some)
    }

    fn open_at(path: &Path) -> Result<StateStore, StoreError> {
        let wrap = |source| StoreError {
            path: path.to_path_buf(),
            source,
        };
        refuse_unsafe_files(path).map_err(wrap)?;
        // Never through a symlink: the database file is opened with O_NOFOLLOW, and its
        // folder and journal files were checked just above.
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(path, flags).map_err(wrap)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(wrap)?;
        if check != "ok" {
            return Err(wrap(rusqlite::Error::InvalidQuery));
        }
        conn.execute_batch(SCHEMA).map_err(wrap)?;
        Ok(StateStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError {
            path: self.path.clone(),
            source,
        }
    }

    pub fn journal(&self, entry: &JournalEntry) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO journal (time, kind, name, action, reason, outcome, error, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![entry.time, entry.kind, entry.name, entry.action, entry.reason, entry.outcome, entry.error, entry.duration_ms],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn journal_entries(&self, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT time, kind, name, action, reason, outcome, error, duration_ms FROM journal ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(JournalEntry {
                    time: r.get(0)?,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    action: r.get(3)?,
                    reason: r.get(4)?,
                    outcome: r.get(5)?,
                    error: r.get(6)?,
                    duration_ms: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Replaces the registry with what was observed, keeping each instance's timestamps.
    pub fn sync_instances(&self, observed: &[Instance], now: &str) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let previous = self.instances()?;
        tx.execute("DELETE FROM instances", [])
            .map_err(|e| self.err(e))?;
        for i in observed {
            let old = previous
                .iter()
                .find(|p| p.kind == i.kind && p.name == i.name);
            let same_container = old.is_some_and(|o| o.container_id == i.container_id);
            let created = if same_container {
                old.and_then(|o| o.created_at.clone())
            } else {
                Some(now.to_string())
            };
            let started = match (same_container, &i.started_at) {
                (true, Some(_)) => old
                    .and_then(|o| o.started_at.clone())
                    .or_else(|| Some(now.to_string())),
                (_, s) => s.clone(),
            };
            let stopped = match (same_container, &i.stopped_at) {
                (true, Some(_)) => old
                    .and_then(|o| o.stopped_at.clone())
                    .or_else(|| Some(now.to_string())),
                (_, s) => s.clone(),
            };
            tx.execute(
                "INSERT INTO instances (kind, name, container_id, container_name, image, spec_hash, created_at, started_at, stopped_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![i.kind, i.name, i.container_id, i.container_name, i.image, i.spec_hash, created, started, stopped],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Appends a command to the history.
    pub fn record_history(&self, entry: &HistoryEntry) -> Result<(), StoreError> {
        let command = serde_json::to_string(&entry.command).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO history (sandbox, command, exit_code, duration_ms, started_at, finished_at, stdout_bytes, stderr_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![entry.sandbox, command, entry.exit_code, entry.duration_ms, entry.started_at, entry.finished_at, entry.stdout_bytes, entry.stderr_bytes],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The last `limit` commands (of one sandbox, or all), oldest first.
    pub fn history(
        &self,
        sandbox: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sandbox, command, exit_code, duration_ms, started_at, finished_at, stdout_bytes, stderr_bytes FROM history WHERE ?1 IS NULL OR sandbox = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![sandbox, limit as i64], |r| {
                let command: String = r.get(1)?;
                Ok(HistoryEntry {
                    sandbox: r.get(0)?,
                    command: serde_json::from_str(&command).unwrap_or_else(|_| vec![command]),
                    exit_code: r.get(2)?,
                    duration_ms: r.get(3)?,
                    started_at: r.get(4)?,
                    finished_at: r.get(5)?,
                    stdout_bytes: r.get(6)?,
                    stderr_bytes: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut entries = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        entries.reverse();
        Ok(entries)
    }

    /// Registers an open session and the client process that holds it.
    pub fn record_session(
        &self,
        id: &str,
        sandbox: &str,
        client_pid: i64,
        client_start: u64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO sessions (id, sandbox, client_pid, client_start, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, sandbox, client_pid, client_start as i64, crate::timefmt::now_rfc3339()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Open sessions: (id, sandbox, client pid, client start time).
    pub fn sessions(&self) -> Result<Vec<(String, String, i64, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, sandbox, client_pid, client_start FROM sessions")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let start: i64 = r.get(3)?;
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, start as u64))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn forget_session(&self, id: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM sessions WHERE id = ?1", params![id])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Records a snapshot generation once (later calls for the same image are no-ops).
    pub fn record_snapshot(
        &self,
        name: &str,
        image: &str,
        image_id: &str,
        record: &crate::reconcile::status::SnapshotRecord,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO snapshots (name, generation, image, image_id, sandbox, sandbox_spec_hash, sandbox_image, taken_at, description) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![name, record.generation, image, image_id, record.sandbox, record.sandbox_spec_hash, record.sandbox_image, record.taken_at, record.description],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Snapshots taken, oldest first: (name, generation, image, image id).
    pub fn snapshots(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, generation, image, image_id FROM snapshots ORDER BY taken_at")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Records a controller event (shown by `pocket-dock events`).
    pub fn record_event(
        &self,
        kind: &str,
        name: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO events (time, kind, name, reason, message) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![crate::timefmt::now_rfc3339(), kind, name, reason, message],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Events with an id above `after`, oldest first.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, time, kind, name, reason, message FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok(StoredEvent {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    kind: r.get(2)?,
                    name: r.get(3)?,
                    reason: r.get(4)?,
                    message: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// The id of the latest event (0 when there is none).
    pub fn last_event_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// What is remembered of each sandbox's restarts (crash-loop backoff). A row that cannot
    /// be read back counts as no restarts.
    pub fn restarts(&self) -> Result<BTreeMap<String, RestartRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, record FROM restarts")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut records = BTreeMap::new();
        for row in rows {
            let (name, record) = row.map_err(|e| self.err(e))?;
            if let Ok(record) = serde_json::from_str(&record) {
                records.insert(name, record);
            }
        }
        Ok(records)
    }

    /// Remembers a sandbox's restarts; `None` forgets them (a new container).
    pub fn save_restarts(
        &self,
        name: &str,
        record: Option<&RestartRecord>,
    ) -> Result<(), StoreError> {
        let result = match record {
            Some(record) => self.conn.execute(
                "INSERT OR REPLACE INTO restarts (name, record) VALUES (?1, ?2)",
                params![name, serde_json::to_string(record).unwrap_or_default()],
            ),
            None => self
                .conn
                .execute("DELETE FROM restarts WHERE name = ?1", params![name]),
        };
        result.map(|_| ()).map_err(|e| self.err(e))
    }

    /// The last valid documents of every declaration file. A row that cannot be read back
    /// (written by another version) counts as no valid version.
    pub fn last_valid(&self) -> Result<LastValid, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT file, documents FROM last_valid")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut last_valid = LastValid::default();
        for row in rows {
            let (file, documents) = row.map_err(|e| self.err(e))?;
            if let Some(documents) = FileDocuments::from_json(&documents) {
                last_valid.files.insert(PathBuf::from(file), documents);
            }
        }
        Ok(last_valid)
    }

    /// Replaces the stored last valid documents with `last_valid`.
    pub fn save_last_valid(&self, last_valid: &LastValid) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM last_valid", [])
            .map_err(|e| self.err(e))?;
        let now = crate::timefmt::now_rfc3339();
        for (file, documents) in &last_valid.files {
            tx.execute(
                "INSERT INTO last_valid (file, documents, saved_at) VALUES (?1, ?2, ?3)",
                params![file.to_string_lossy(), documents.to_json(), now],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    pub fn instances(&self) -> Result<Vec<Instance>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, name, container_id, container_name, image, spec_hash, created_at, started_at, stopped_at FROM instances ORDER BY kind, name")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Instance {
                    kind: r.get(0)?,
                    name: r.get(1)?,
                    container_id: r.get(2)?,
                    container_name: r.get(3)?,
                    image: r.get(4)?,
                    spec_hash: r.get(5)?,
                    created_at: r.get(6)?,
                    started_at: r.get(7)?,
                    stopped_at: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn instance(&self, kind: &str, name: &str) -> Result<Option<Instance>, StoreError> {
        Ok(self
            .instances()?
            .into_iter()
            .find(|i| i.kind == kind && i.name == name))
    }

    /// Whether the registry knows `kind/name` (orphan detection).
    pub fn knows(&self, kind: &str, name: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT 1 FROM instances WHERE kind = ?1 AND name = ?2",
                params![kind, name],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_and_registry_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, warning) = StateStore::open(dir.path()).unwrap();
            assert!(warning.is_none());
            store
                .journal(&JournalEntry {
                    time: "t".into(),
                    kind: "Sandbox".into(),
                    name: "a".into(),
                    action: "create".into(),
                    reason: "not found".into(),
                    outcome: "ok".into(),
                    error: None,
                    duration_ms: 5,
                })
                .unwrap();
            let inst = Instance {
                kind: "Sandbox".into(),
                name: "a".into(),
                container_id: Some("c1".into()),
                container_name: Some("pd-a".into()),
                image: None,
                spec_hash: None,
                created_at: None,
                started_at: Some("x".into()),
                stopped_at: None,
            };
            store
                .sync_instances(&[inst], "2026-01-01T00:00:00Z")
                .unwrap();
        }
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.journal_entries(10).unwrap().len(), 1);
        let a = store.instance("Sandbox", "a").unwrap().unwrap();
        assert_eq!(a.created_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert!(store.knows("Sandbox", "a").unwrap());
        assert!(!store.knows("Sandbox", "b").unwrap());
    }

    #[test]
    fn a_symlinked_database_is_refused_and_nothing_is_moved_or_written() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim.db");
        std::fs::write(&victim, b"not ours").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(FILE_NAME)).unwrap();
        let err = StateStore::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("is a symlink"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"not ours");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [FILE_NAME], "nothing moved aside, nothing created");

        // A symlinked journal file is refused the same way, and a FIFO never blocks.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("state.db-wal")).unwrap();
        assert!(StateStore::open(dir.path()).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"not ours");
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, _) = StateStore::open(dir.path()).unwrap();
            store
                .record_event("Sandbox", "a", "created", "kept")
                .unwrap();
        }
        let _ = std::fs::remove_file(dir.path().join("state.db-shm"));
        assert!(
            std::process::Command::new("mkfifo")
                .arg(dir.path().join("state.db-shm"))
                .status()
                .unwrap()
                .success()
        );
        let err = StateStore::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("is not a regular file"), "{err}");
        assert!(dir.path().join(FILE_NAME).is_file(), "not moved aside");
    }

    #[test]
    fn last_valid_documents_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join(".pocket-dock")).unwrap();
        std::fs::write(
            ws.path().join(".pocket-dock/a.yaml"),
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n",
        )
        .unwrap();
        let declared = crate::declared::Declared::load(ws.path(), &LastValid::default());
        assert!(declared.is_valid(), "{:?}", declared.problems);
        {
            let (store, _) = StateStore::open(dir.path()).unwrap();
            store.save_last_valid(&declared.last_valid).unwrap();
        }
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.last_valid().unwrap(), declared.last_valid);
        assert!(StateStore::open_existing(ws.path()).unwrap().is_none());
    }

    #[test]
    fn a_corrupt_database_is_moved_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            b"this is not a database, just garbage bytes....",
        )
        .unwrap();
        let (store, warning) = StateStore::open(dir.path()).unwrap();
        assert!(warning.unwrap().contains("moved it to"));
        assert!(store.instances().unwrap().is_empty());
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
        assert!(aside);
    }
}
