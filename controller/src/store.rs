//! The state store: a SQLite database (WAL) at `.pocket-dock/state.db` holding the instance
//! registry, the event log of every action (apply, the controller, delete, snapshot, gc, run,
//! exec and sessions; `history` is its exec rows), the snapshots taken, the last valid
//! documents of every declaration file (so that a broken file keeps its objects, across
//! restarts too), and each object's generation (kstatus `metadata.generation`).
//!
//! It is a cache plus history, never the source of truth: labels on Podman's objects are.
//! Its layout has a version ([`SCHEMA_VERSION`], SQLite's `user_version`): an older database
//! is migrated when opened, one step per transaction; a newer one is refused and never
//! touched (`store_schema.rs`).
//! A missing database is created; one that SQLite reports corrupt, and that no other process
//! holds open, is moved aside and replaced (with a warning); any other failure is a
//! [`StoreError`] that leaves the database alone. The registry is refreshed from what each
//! apply observes. The event log keeps its newest rows only, per retention class ([`Retention`],
//! from the Workspace document, kept in the `settings` table).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use std::collections::BTreeMap;

use crate::declared::{FileDocuments, LastValid};
use crate::status::types::{HookFailure, RestartRecord};
pub use pocket_dock_spec::model::Retention;

#[path = "store_audit.rs"]
mod audit;
#[path = "store_events.rs"]
mod events;
pub use audit::{
    AuditHead, AuditLog, AuditProblem, AuditReport, GENESIS, HeadCheck, HeadResult, MAX_PROBLEMS,
    ProblemKind,
};
#[path = "store_lifetime.rs"]
mod lifetime;
#[path = "store_schema.rs"]
mod schema;
pub use events::{
    Event, EventQuery, EventRecord, Outcome, Source, UnknownSource, exec_event, record_in,
    record_or_warn,
};
pub use lifetime::OpenActivity;
pub use schema::SCHEMA_VERSION;

pub const FILE_NAME: &str = crate::workspace::own_files::STATE_STORE;

/// The tables that keep one JSON record per sandbox.
#[derive(Debug, Clone, Copy)]
enum RecordTable {
    Restarts,
    HookFailures,
    Lifetimes,
    Pauses,
}

impl RecordTable {
    fn select(self) -> &'static str {
        match self {
            RecordTable::Restarts => "SELECT name, record FROM restarts",
            RecordTable::HookFailures => "SELECT name, record FROM hook_failures",
            RecordTable::Lifetimes => "SELECT name, record FROM lifetimes",
            RecordTable::Pauses => "SELECT name, record FROM pauses",
        }
    }

    fn upsert(self) -> &'static str {
        match self {
            RecordTable::Restarts => {
                "INSERT OR REPLACE INTO restarts (name, record) VALUES (?1, ?2)"
            }
            RecordTable::HookFailures => {
                "INSERT OR REPLACE INTO hook_failures (name, record) VALUES (?1, ?2)"
            }
            RecordTable::Lifetimes => {
                "INSERT OR REPLACE INTO lifetimes (name, record) VALUES (?1, ?2)"
            }
            RecordTable::Pauses => "INSERT OR REPLACE INTO pauses (name, record) VALUES (?1, ?2)",
        }
    }

    fn delete(self) -> &'static str {
        match self {
            RecordTable::Restarts => "DELETE FROM restarts WHERE name = ?1",
            RecordTable::HookFailures => "DELETE FROM hook_failures WHERE name = ?1",
            RecordTable::Lifetimes => "DELETE FROM lifetimes WHERE name = ?1",
            RecordTable::Pauses => "DELETE FROM pauses WHERE name = ?1",
        }
    }
}

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
CREATE TABLE IF NOT EXISTS hook_failures (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS last_valid (
    file TEXT PRIMARY KEY,
    documents TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pauses (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

/// The retention classes of the event log: each keeps only its newest rows (see
/// [`Retention`] and [`Source::bounded_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    History,
    Events,
    Journal,
}

impl Bounded {
    pub const ALL: [Bounded; 3] = [Bounded::History, Bounded::Events, Bounded::Journal];

    /// Its name: the name of its hash chain in the event log (`audit verify`).
    pub fn as_str(self) -> &'static str {
        match self {
            Bounded::History => "history",
            Bounded::Events => "events",
            Bounded::Journal => "journal",
        }
    }

    /// Its key in the `settings` table.
    fn setting(self) -> &'static str {
        match self {
            Bounded::History => "retention.history",
            Bounded::Events => "retention.events",
            Bounded::Journal => "retention.journal",
        }
    }

    fn limit(self, retention: &Retention) -> u64 {
        let limit = match self {
            Bounded::History => retention.history,
            Bounded::Events => retention.events,
            Bounded::Journal => retention.journal,
        };
        limit.unwrap_or(DEFAULT_RETENTION)
    }
}

/// Rows kept per bounded table when the Workspace document does not say.
pub const DEFAULT_RETENTION: u64 = pocket_dock_spec::model::DEFAULT_RETENTION;

/// How long a statement waits for another process's lock before it fails as busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// An error of the state store: the database it is about, what went wrong (which decides the
/// message, the hint and whether a database may ever be moved aside), and SQLite's or the
/// system's own words as the source.
#[derive(Debug)]
pub struct StoreError {
    /// The database (`.pocket-dock/state.db`).
    pub path: PathBuf,
    pub kind: StoreErrorKind,
    /// Boxed: every store call returns this error, and SQLite's is large.
    pub source: Option<Box<StoreCause>>,
}

/// What went wrong, as far as the user can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// `at` (the database, a journal file or their folder) cannot be written: on a read-only
    /// file system or mount when `file_system`, else SQLite found it read-only.
    ReadOnly { at: PathBuf, file_system: bool },
    /// This user may not write `at`; `owner` is its owner's uid (0 after a `sudo apply`).
    PermissionDenied { at: PathBuf, owner: Option<u32> },
    /// The file system holding the database is full.
    DiskFull,
    /// Another process kept the database locked for longer than the busy timeout.
    Busy,
    /// SQLite reports the database corrupt or not a database (only ever moved aside by
    /// [`StateStore::open`], when no other process holds it).
    Corrupt,
    /// Corrupt, but process `pid` (`command`) has it open: it is left where it is.
    CorruptHeld { pid: u32, command: String },
    /// `at` is a symlink or not a regular file: pocket-dock never opens it.
    Refused { at: PathBuf, what: &'static str },
    /// The database's schema version (`PRAGMA user_version`) is `found`, newer than the
    /// `known` one this build writes (or negative, which no pocket-dock writes): written by a
    /// newer pocket-dock. Refused before anything writes to it, and never moved aside.
    NewerSchema { found: i64, known: u32 },
    /// Anything else SQLite reports.
    Other,
}

/// The underlying error of a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub enum StoreCause {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        // A path other than the database's own is named; the database's is said once.
        let other = |at: &Path| {
            if at == self.path {
                String::new()
            } else {
                format!("{} ", at.display())
            }
        };
        match &self.kind {
            StoreErrorKind::ReadOnly { at, file_system } => {
                let fs = if *file_system { " file system" } else { "" };
                write!(f, "state store {path}: {}read-only{fs}", other(at))
            }
            StoreErrorKind::PermissionDenied { at, owner } => {
                let owned = match owner {
                    Some(0) => " (owned by root)",
                    _ => "",
                };
                write!(
                    f,
                    "state store {path}: {}permission denied{owned}",
                    other(at)
                )
            }
            StoreErrorKind::DiskFull => write!(f, "state store {path}: the disk is full"),
            StoreErrorKind::Busy => write!(
                f,
                "state store {path}: busy (another process kept it locked for more than {}s)",
                BUSY_TIMEOUT.as_secs()
            ),
            StoreErrorKind::Corrupt => write!(f, "state store {path}: corrupt"),
            StoreErrorKind::CorruptHeld { pid, command } => write!(
                f,
                "state store {path}: corrupt, and open in process {pid} ({command}), so it was left in place"
            ),
            StoreErrorKind::Refused { at, what } => write!(
                f,
                "state store {path}: {} {what}; pocket-dock never opens it",
                at.display()
            ),
            StoreErrorKind::NewerSchema { found, known } if *found >= 0 => write!(
                f,
                "state store {path}: schema version {found} was written by a newer pocket-dock (this one knows versions up to {known}); it was left untouched"
            ),
            StoreErrorKind::NewerSchema { found, known } => write!(
                f,
                "state store {path}: unknown schema version {found} (this pocket-dock knows versions 0 up to {known}); it was left untouched"
            ),
            // Unclassified: SQLite's words are all there is to go on, so they are shown
            // without `-v` too.
            StoreErrorKind::Other => match &self.source {
                Some(source) => write!(f, "state store {path}: {source}"),
                None => write!(f, "state store {path}: failed"),
            },
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl StoreError {
    fn new(path: &Path, kind: StoreErrorKind, source: impl Into<StoreCause>) -> StoreError {
        StoreError {
            path: path.to_path_buf(),
            kind,
            source: Some(Box::new(source.into())),
        }
    }

    /// A SQLite error of the database at `path`, classified.
    fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
        StoreError::new(path, classify(path, &source), source)
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        let dir = self
            .path
            .parent()
            .map_or_else(String::new, |d| d.display().to_string());
        Some(match &self.kind {
            StoreErrorKind::ReadOnly { at, file_system: true } => format!(
                "pocket-dock records every action in its state store: remount the file system of {} read-write (or work in a writable copy of the workspace) and run again; nothing was changed",
                at.display()
            ),
            StoreErrorKind::ReadOnly { at, .. } => format!(
                "pocket-dock records every action in its state store: make {} writable and run again; nothing was changed",
                at.display()
            ),
            StoreErrorKind::PermissionDenied { owner: Some(0), .. } => format!(
                "it was probably written by `sudo pocket-dock ...`; give it back with `sudo chown -R $(id -u):$(id -g) {dir}` and run again"
            ),
            StoreErrorKind::PermissionDenied { at, .. } => format!(
                "run as the user who owns {}, or make it writable for this user, and run again",
                at.display()
            ),
            StoreErrorKind::DiskFull => {
                format!("free space on the file system that holds {dir} and run again")
            }
            StoreErrorKind::Busy => "another pocket-dock process (the controller, an exec, a second apply) is writing to it; run again when it is done".to_string(),
            StoreErrorKind::Corrupt => "a command that writes the state store (`pocket-dock apply`) moves it aside and starts a new one".to_string(),
            StoreErrorKind::CorruptHeld { pid, .. } => format!(
                "stop process {pid} and run again: the corrupt database is then moved aside and a new one started"
            ),
            StoreErrorKind::Refused { at, .. } => format!(
                "remove {}, and the state store is made anew (it is rebuilt from Podman's labels)",
                at.display()
            ),
            StoreErrorKind::NewerSchema { .. } => format!(
                "upgrade pocket-dock to the release that wrote it (or a later one); or, to go on with this one, move {path} (and its -wal and -shm files) aside and run again: a new state store is made and rebuilt from Podman's labels, while the event log and history stay in the moved file",
                path = self.path.display()
            ),
            StoreErrorKind::Other => return None,
        })
    }
}

/// The kind of a SQLite error. Codes that stand for a failed system call (cannot open, read
/// only, I/O error) are looked into: which file is in the way, and why.
fn classify(path: &Path, e: &rusqlite::Error) -> StoreErrorKind {
    use rusqlite::ErrorCode as Code;
    let Some(code) = e.sqlite_error_code() else {
        return StoreErrorKind::Other;
    };
    match code {
        Code::DatabaseBusy | Code::DatabaseLocked => StoreErrorKind::Busy,
        Code::DatabaseCorrupt | Code::NotADatabase => StoreErrorKind::Corrupt,
        Code::DiskFull => StoreErrorKind::DiskFull,
        Code::ReadOnly
        | Code::CannotOpen
        | Code::PermissionDenied
        | Code::SystemIoFailure
        | Code::FileLockingProtocolFailed => match probe(path) {
            Some((kind, _)) => kind,
            None if code == Code::ReadOnly => StoreErrorKind::ReadOnly {
                at: path.to_path_buf(),
                file_system: false,
            },
            None => StoreErrorKind::Other,
        },
        _ => StoreErrorKind::Other,
    }
}

/// The kind of a system error on `at`, when it is one the user can act on.
fn kind_of_io(at: &Path, e: &std::io::Error) -> Option<StoreErrorKind> {
    use rustix::io::Errno;
    let errno = e.raw_os_error()?;
    if errno == Errno::ROFS.raw_os_error() {
        Some(StoreErrorKind::ReadOnly {
            at: at.to_path_buf(),
            file_system: true,
        })
    } else if errno == Errno::ACCESS.raw_os_error() || errno == Errno::PERM.raw_os_error() {
        Some(StoreErrorKind::PermissionDenied {
            at: at.to_path_buf(),
            owner: std::fs::symlink_metadata(at)
                .ok()
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m)),
        })
    } else if errno == Errno::NOSPC.raw_os_error() || errno == Errno::DQUOT.raw_os_error() {
        Some(StoreErrorKind::DiskFull)
    } else {
        None
    }
}

/// The database, its journal files and their folder.
fn database_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files
}

/// Why the store cannot be written, found the way SQLite would fail: each existing file and
/// then the folder checked for writing (by `access`, which opens nothing: closing any
/// descriptor of the database would drop this process's SQLite locks on it), then the free
/// space. `None` when nothing is in the way.
fn probe(path: &Path) -> Option<(StoreErrorKind, std::io::Error)> {
    use rustix::fs::{Access, AtFlags, CWD, accessat};
    let dir = path.parent().unwrap_or(Path::new("."));
    let existing = database_files(path)
        .into_iter()
        .filter(|f| std::fs::symlink_metadata(f).is_ok());
    for at in existing.chain([dir.to_path_buf()]) {
        if let Err(errno) = accessat(CWD, &at, Access::WRITE_OK, AtFlags::EACCESS) {
            let e = std::io::Error::from(errno);
            if let Some(kind) = kind_of_io(&at, &e) {
                return Some((kind, e));
            }
        }
    }
    let full = rustix::fs::statvfs(dir).is_ok_and(|s| s.f_bavail == 0);
    full.then(|| {
        (
            StoreErrorKind::DiskFull,
            std::io::Error::from(rustix::io::Errno::NOSPC),
        )
    })
}

/// Another live process that has any of `files` open, found through `/proc/<pid>/fd` by
/// device and inode (a path can be reached many ways, and a holder may have it open by
/// another one). This process is skipped; entries that cannot be read (another user's
/// process, one that just exited) count as not holding.
fn holder(files: &[PathBuf]) -> Option<(u32, String)> {
    use std::os::unix::fs::MetadataExt;
    let wanted: Vec<(u64, u64)> = files
        .iter()
        .filter_map(|f| std::fs::symlink_metadata(f).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    if wanted.is_empty() {
        return None;
    }
    let me = std::process::id();
    for process in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::metadata(fd.path()).is_ok_and(|m| wanted.contains(&(m.dev(), m.ino())))
        });
        if holds {
            let command = std::fs::read_to_string(process.path().join("comm"))
                .map(|c| c.trim().to_string())
                .unwrap_or_else(|_| "unknown".to_string());
            return Some((pid, command));
        }
    }
    None
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

/// Refuses a database whose folder is a symlink, or whose file or journal files are not
/// regular files: SQLite would follow a symlink and write elsewhere, and block on a FIFO.
fn refuse_unsafe_files(path: &Path) -> Result<(), StoreError> {
    let refuse = |at: &Path, what: &'static str| {
        Err(StoreError {
            path: path.to_path_buf(),
            kind: StoreErrorKind::Refused {
                at: at.to_path_buf(),
                what,
            },
            source: None,
        })
    };
    if let Some(dir) = path.parent()
        && std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink())
    {
        return refuse(dir, "is a symlink");
    }
    for p in database_files(path) {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => return refuse(&p, "is a symlink"),
            Ok(m) if !m.is_file() => return refuse(&p, "is not a regular file"),
            _ => {}
        }
    }
    Ok(())
}

/// The refusal of a database of schema version `found`.
fn newer(path: &Path, found: i64) -> StoreError {
    StoreError {
        path: path.to_path_buf(),
        kind: StoreErrorKind::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        },
        source: None,
    }
}

impl StateStore {
    /// Opens (or creates) the store in `dir`. Only a database that SQLite reports corrupt,
    /// and that no other live process holds open, is renamed to `state.db.corrupt-<time>`
    /// and replaced by a fresh one; the warning says so. Everything else (read-only, no
    /// permission, disk full, busy, corrupt but held, a newer schema version) is an error
    /// that leaves the database alone: it may be healthy, and others may be using it. An
    /// older schema version is migrated ([`SCHEMA_VERSION`], `store_schema.rs`).
    pub fn open(dir: &Path) -> Result<(StateStore, Option<String>), StoreError> {
        let path = dir.join(FILE_NAME);
        let corrupt = match Self::open_at(&path) {
            Ok(store) => return Ok((store, None)),
            Err(e) if e.kind == StoreErrorKind::Corrupt => e,
            Err(e) => return Err(e),
        };
        let files = database_files(&path);
        // A process with the file open would keep writing to the moved file (and its WAL
        // would be lost): it is named instead, so that it can be stopped first.
        if let Some((pid, command)) = holder(&files) {
            return Err(StoreError {
                kind: StoreErrorKind::CorruptHeld { pid, command },
                ..corrupt
            });
        }
        let aside = dir.join(format!(
            "{FILE_NAME}.corrupt-{}",
            crate::timefmt::now_rfc3339().replace(':', "")
        ));
        let io = |at: &Path, e: std::io::Error| {
            let kind = kind_of_io(at, &e).unwrap_or(StoreErrorKind::Other);
            StoreError::new(&path, kind, e)
        };
        std::fs::rename(&path, &aside).map_err(|e| io(&path, e))?;
        // The journal files belong to the corrupt database; a new one must not replay them.
        for journal in &files[1..] {
            match std::fs::remove_file(journal) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(journal, e)),
                _ => {}
            }
        }
        let store = Self::open_at(&path)?;
        Ok((
            store,
            Some(format!(
                "the state store was corrupt ({}); moved it to {} and started a new one (it is rebuilt from Podman's labels)",
                corrupt
                    .source
                    .as_ref()
                    .map_or_else(|| "corrupt".to_string(), ToString::to_string),
                aside.display()
            )),
        ))
    }

    /// Opens the store only when it exists, as it is (for commands that only read): an
    /// unreadable or corrupt one is an error here, never moved aside.
    pub fn open_existing(dir: &Path) -> Result<Option<StateStore>, StoreError> {
        let path = dir.join(FILE_NAME);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        Self::open_at(&path).map(Some)
    }

    fn open_at(path: &Path) -> Result<StateStore, StoreError> {
        refuse_unsafe_files(path)?;
        let wrap = |source| StoreError::sqlite(path, source);
        // Never through a symlink: the database file is opened with O_NOFOLLOW, and its
        // folder and journal files were checked just above.
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW;
        // A WAL left by another process (running, or killed before it checkpointed).
        let wal_found = database_files(path)
            .get(1)
            .is_some_and(|wal| std::fs::symlink_metadata(wal).is_ok());
        let conn = Connection::open_with_flags(path, flags).map_err(wrap)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
        // The schema version first, by a read (through the WAL, if there is one): a newer
        // release's database is refused before anything here writes to it (the WAL switch,
        // the quick check, a migration), and it is never judged corrupt and moved aside.
        let version = schema::read_version(&conn).map_err(wrap)?;
        if version < 0 || version > i64::from(SCHEMA_VERSION) {
            // Closing the last connection would copy a WAL it found into the database and
            // delete it: that WAL is left as it was. (One this read made is empty: closing
            // removes it, and the database's bytes stay as they are.)
            if wal_found {
                conn.set_db_config(
                    rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                    true,
                )
                .map_err(wrap)?;
            }
            return Err(newer(path, version));
        }
        // SQLite quietly opens a file it may not write read-only; every write would fail.
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(wrap)? {
            return Err(match probe(path) {
                Some((kind, cause)) => StoreError::new(path, kind, cause),
                None => StoreError {
                    path: path.to_path_buf(),
                    kind: StoreErrorKind::ReadOnly {
                        at: path.to_path_buf(),
                        file_system: false,
                    },
                    source: None,
                },
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(wrap)?;
        if check != "ok" {
            return Err(wrap(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("quick_check: {check}")),
            )));
        }
        if version < i64::from(SCHEMA_VERSION) {
            let upgraded = schema::upgrade(&conn, schema::STEPS, SCHEMA_VERSION, schema::create)
                .map_err(wrap)?;
            if let schema::Upgraded::Newer(found) = upgraded {
                return Err(newer(path, found));
            }
        }
        Ok(StateStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.path, source)
    }

    /// The database's schema version ([`SCHEMA_VERSION`] once opened).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let version = schema::read_version(&self.conn).map_err(|e| self.err(e))?;
        u32::try_from(version).map_err(|_| newer(&self.path, version))
    }

    /// Stores how many rows each bounded table keeps (absent limits: the default), and
    /// trims a table at once when its limit changed.
    pub fn set_retention(&self, retention: &Retention) -> Result<(), StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.err(e))?;
        for table in Bounded::ALL {
            let limit = i64::try_from(table.limit(retention)).unwrap_or(i64::MAX);
            let changed = tx
                .execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE value <> excluded.value",
                    params![table.setting(), limit],
                )
                .map_err(|e| self.err(e))?;
            if changed > 0 {
                events::trim_with_checkpoint(&tx, table, limit).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// How many rows `table` keeps, as stored (the default when never set).
    pub fn retention(&self, table: Bounded) -> Result<u64, StoreError> {
        let stored: Option<i64> = self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![table.setting()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(stored
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(DEFAULT_RETENTION))
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
        record: &crate::status::types::SnapshotRecord,
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

    /// Forgets the snapshot rows of Snapshot objects not among `declared`: their images go
    /// on the same apply, and without this the table grows with every name ever used.
    pub fn forget_snapshots_except(&self, declared: &[&str]) -> Result<(), StoreError> {
        let names: Vec<String> = self
            .snapshots()?
            .into_iter()
            .map(|(name, ..)| name)
            .filter(|name| !declared.contains(&name.as_str()))
            .collect();
        for name in names {
            self.conn
                .execute("DELETE FROM snapshots WHERE name = ?1", params![name])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// What is remembered of each sandbox's restarts (crash-loop backoff). A row that cannot
    /// be read back counts as no restarts.
    pub fn restarts(&self) -> Result<BTreeMap<String, RestartRecord>, StoreError> {
        self.records(RecordTable::Restarts)
    }

    /// Forgets the restarts of sandboxes not among `declared` (they are gone).
    pub fn forget_restarts_except(&self, declared: &[&str]) -> Result<(), StoreError> {
        self.forget_records_except::<RestartRecord>(RecordTable::Restarts, declared)
    }

    /// Remembers a sandbox's restarts; `None` forgets them (a new container).
    pub fn save_restarts(
        &self,
        name: &str,
        record: Option<&RestartRecord>,
    ) -> Result<(), StoreError> {
        self.save_record(RecordTable::Restarts, name, record)
    }

    /// The sandboxes an imperative `pocket-dock pause` holds paused (until `resume`).
    pub fn pauses(
        &self,
    ) -> Result<BTreeMap<String, crate::status::types::PauseRecord>, StoreError> {
        self.records(RecordTable::Pauses)
    }

    /// Remembers that `pocket-dock pause` holds `name` paused; `None` forgets it (`resume`).
    pub fn save_pause(
        &self,
        name: &str,
        record: Option<&crate::status::types::PauseRecord>,
    ) -> Result<(), StoreError> {
        self.save_record(RecordTable::Pauses, name, record)
    }

    /// Forgets the pause overrides of sandboxes not among `declared` (they are gone).
    pub fn forget_pauses_except(&self, declared: &[&str]) -> Result<(), StoreError> {
        self.forget_records_except::<crate::status::types::PauseRecord>(
            RecordTable::Pauses,
            declared,
        )
    }

    /// Each sandbox's last failed hook (a row that cannot be read back counts as none).
    pub fn hook_failures(&self) -> Result<BTreeMap<String, HookFailure>, StoreError> {
        self.records(RecordTable::HookFailures)
    }

    /// Remembers a sandbox's failed hook; `None` forgets it (its hooks passed since).
    pub fn save_hook_failure(
        &self,
        name: &str,
        failure: Option<&HookFailure>,
    ) -> Result<(), StoreError> {
        self.save_record(RecordTable::HookFailures, name, failure)
    }

    /// Forgets the hook failures of sandboxes not among `declared` (they are gone).
    pub fn forget_hook_failures_except(&self, declared: &[&str]) -> Result<(), StoreError> {
        self.forget_records_except::<HookFailure>(RecordTable::HookFailures, declared)
    }

    /// Every row of a per-sandbox JSON record table; a row that cannot be read back (written
    /// by another version) counts as absent.
    fn records<T: serde::de::DeserializeOwned>(
        &self,
        table: RecordTable,
    ) -> Result<BTreeMap<String, T>, StoreError> {
        let mut stmt = self.conn.prepare(table.select()).map_err(|e| self.err(e))?;
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

    fn save_record<T: serde::Serialize>(
        &self,
        table: RecordTable,
        name: &str,
        record: Option<&T>,
    ) -> Result<(), StoreError> {
        let result = match record {
            Some(record) => self.conn.execute(
                table.upsert(),
                params![name, serde_json::to_string(record).unwrap_or_default()],
            ),
            None => self.conn.execute(table.delete(), params![name]),
        };
        result.map(|_| ()).map_err(|e| self.err(e))
    }

    fn forget_records_except<T: serde::de::DeserializeOwned + serde::Serialize>(
        &self,
        table: RecordTable,
        declared: &[&str],
    ) -> Result<(), StoreError> {
        for name in self.records::<T>(table)?.into_keys() {
            if !declared.contains(&name.as_str()) {
                self.save_record::<T>(table, &name, None)?;
            }
        }
        Ok(())
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

// ---- Generations (kstatus `metadata.generation`) ----
//
// Its own table and migration step: a database from before generations gains the table
// when opened, and every object starts at generation 1 on its next apply.

const GENERATIONS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS generations (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);
";

/// An object's generation and the spec hash it was given for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRecord {
    pub spec_hash: String,
    pub generation: u64,
}

impl StateStore {
    /// The object's generation for `spec_hash`: 1 the first time it is seen, one more than
    /// before whenever its spec hash changed, the same otherwise.
    pub fn observe_generation(
        &self,
        kind: &str,
        name: &str,
        spec_hash: &str,
    ) -> Result<u64, StoreError> {
        let known = self.generation(kind, name)?;
        let generation = match known {
            Some(r) if r.spec_hash == spec_hash => return Ok(r.generation),
            Some(r) => r.generation.saturating_add(1),
            None => 1,
        };
        self.conn
            .execute(
                "INSERT INTO generations (kind, name, spec_hash, generation) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, name) DO UPDATE SET spec_hash = ?3, generation = ?4",
                params![kind, name, spec_hash, generation as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(generation)
    }

    /// Forgets the generations of objects not among `declared` (kind, name): declared
    /// again, one starts over at 1, as a Kubernetes object made again does. Without this
    /// the table grows with every name ever declared.
    pub fn forget_generations_except(&self, declared: &[(&str, &str)]) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, name FROM generations")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let gone: Vec<(String, String)> = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?
            .into_iter()
            .filter(|(kind, name)| !declared.contains(&(kind.as_str(), name.as_str())))
            .collect();
        for (kind, name) in gone {
            self.conn
                .execute(
                    "DELETE FROM generations WHERE kind = ?1 AND name = ?2",
                    params![kind, name],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The object's generation as last recorded, if any.
    pub fn generation(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<GenerationRecord>, StoreError> {
        self.conn
            .query_row(
                "SELECT spec_hash, generation FROM generations WHERE kind = ?1 AND name = ?2",
                params![kind, name],
                |r| {
                    Ok(GenerationRecord {
                        spec_hash: r.get(0)?,
                        generation: r.get::<_, i64>(1)?.max(0) as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_events(store: &StateStore) -> Vec<EventRecord> {
        store
            .events(&EventQuery {
                limit: 100_000,
                ..EventQuery::default()
            })
            .unwrap()
    }

    #[test]
    fn snapshots_and_generations_of_removed_objects_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let record = |generation: &str| crate::status::types::SnapshotRecord {
            sandbox: "box".into(),
            sandbox_spec_hash: "sha256:aa".into(),
            sandbox_image: "img".into(),
            taken_at: format!("2026-12-01T00:00:0{generation}Z"),
            generation: generation.into(),
            description: None,
        };
        for (name, generation) in [("warm", "1"), ("warm", "2"), ("old", "1")] {
            store
                .record_snapshot(
                    name,
                    &format!("{name}:gen-{generation}"),
                    generation,
                    &record(generation),
                )
                .unwrap();
        }
        store
            .observe_generation("Sandbox", "box", "sha256:1")
            .unwrap();
        store
            .observe_generation("Sandbox", "gone", "sha256:2")
            .unwrap();
        store
            .observe_generation("Snapshot", "box", "sha256:3")
            .unwrap();

        store.forget_snapshots_except(&["warm"]).unwrap();
        let names: Vec<String> = store
            .snapshots()
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(
            names,
            ["warm", "warm"],
            "every generation of a declared one stays"
        );
        store
            .forget_generations_except(&[("Sandbox", "box"), ("Snapshot", "warm")])
            .unwrap();
        assert!(store.generation("Sandbox", "box").unwrap().is_some());
        assert!(store.generation("Sandbox", "gone").unwrap().is_none());
        assert!(
            store.generation("Snapshot", "box").unwrap().is_none(),
            "by kind and name"
        );
        // Declared again, it starts over.
        assert_eq!(
            store
                .observe_generation("Sandbox", "gone", "sha256:2")
                .unwrap(),
            1
        );
    }

    #[test]
    fn journal_and_registry_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (store, warning) = StateStore::open(dir.path()).unwrap();
            assert!(warning.is_none());
            store
                .record(
                    &Event::new(Source::Apply, "create")
                        .object("Sandbox", "a")
                        .reason("not found")
                        .duration(std::time::Duration::from_millis(5)),
                )
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
        let events = all_events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].source.as_str(), events[0].object().as_str()),
            ("apply", "Sandbox/a")
        );
        assert_eq!(events[0].duration_ms, Some(5));
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
                .record(&Event::new(Source::Controller, "created").object("Sandbox", "a"))
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

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_journal_files_of_a_corrupt_unheld_database_go_with_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            b"garbage, not a database at all",
        )
        .unwrap();
        std::fs::write(dir.path().join("state.db-wal"), b"stale wal").unwrap();
        let (store, warning) = StateStore::open(dir.path()).unwrap();
        let warning = warning.unwrap();
        assert!(warning.contains("corrupt"), "{warning}");
        store
            .record(&Event::new(Source::Controller, "created").object("Sandbox", "a"))
            .unwrap();
        let names = names_in(dir.path());
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("state.db.corrupt-"))
                .count(),
            1,
            "{names:?}"
        );
        assert_eq!(all_events(&store).len(), 1);
    }

    /// A child process (`sleep`) that holds `file` open as its stdin.
    struct Holder(std::process::Child);

    impl Holder {
        fn of(file: &Path) -> Holder {
            let held = std::fs::File::open(file).unwrap();
            let child = std::process::Command::new("sleep")
                .arg("60")
                .stdin(held)
                .spawn()
                .unwrap();
            Holder(child)
        }
    }

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_corrupt_database_another_process_holds_is_left_in_place_and_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(FILE_NAME);
        std::fs::write(&db, b"garbage, not a database at all").unwrap();
        // Held through another name (a hard link): found by device and inode, not by path.
        let other_name = dir.path().join("elsewhere");
        std::fs::hard_link(&db, &other_name).unwrap();
        let holder = Holder::of(&other_name);
        let pid = holder.0.id();
        let err = StateStore::open(dir.path()).err().unwrap();
        assert_eq!(
            err.kind,
            StoreErrorKind::CorruptHeld {
                pid,
                command: "sleep".to_string()
            }
        );
        assert!(err.to_string().contains(&format!("process {pid}")), "{err}");
        let hint = err.hint().unwrap();
        assert!(hint.contains(&format!("stop process {pid}")), "{hint}");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            b"garbage, not a database at all"
        );
        assert_eq!(names_in(dir.path()), ["elsewhere", FILE_NAME]);

        // Its WAL held is the same: a holder of the database's journal holds the database.
        drop(holder);
        std::fs::remove_file(&other_name).unwrap();
        let wal = dir.path().join("state.db-wal");
        std::fs::write(&wal, b"").unwrap();
        let holder = Holder::of(&wal);
        let err = StateStore::open(dir.path()).err().unwrap();
        assert!(
            matches!(err.kind, StoreErrorKind::CorruptHeld { pid, .. } if pid == holder.0.id()),
            "{err}"
        );
        assert!(db.exists() && wal.exists());

        // Once the holder is gone, it is moved aside.
        drop(holder);
        let (_, warning) = StateStore::open(dir.path()).unwrap();
        assert!(warning.unwrap().contains("moved it to"));
    }

    #[test]
    fn the_same_process_holding_it_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(FILE_NAME);
        std::fs::write(&db, b"garbage, not a database at all").unwrap();
        let _ours = std::fs::File::open(&db).unwrap();
        assert!(holder(&database_files(&db)).is_none());
    }

    fn sqlite_error(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_errors_are_classified_by_what_the_user_can_do() {
        use rusqlite::ffi;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(FILE_NAME);
        let kind = |code| classify(&db, &sqlite_error(code));
        assert_eq!(kind(ffi::SQLITE_BUSY), StoreErrorKind::Busy);
        assert_eq!(kind(ffi::SQLITE_LOCKED), StoreErrorKind::Busy);
        assert_eq!(kind(ffi::SQLITE_CORRUPT), StoreErrorKind::Corrupt);
        assert_eq!(kind(ffi::SQLITE_NOTADB), StoreErrorKind::Corrupt);
        assert_eq!(kind(ffi::SQLITE_FULL), StoreErrorKind::DiskFull);
        // Nothing in the way in a writable folder: read-only as SQLite says, else unknown.
        assert_eq!(
            kind(ffi::SQLITE_READONLY),
            StoreErrorKind::ReadOnly {
                at: db.clone(),
                file_system: false
            }
        );
        assert_eq!(kind(ffi::SQLITE_CANTOPEN), StoreErrorKind::Other);
        assert_eq!(kind(ffi::SQLITE_IOERR), StoreErrorKind::Other);
        assert_eq!(kind(ffi::SQLITE_ERROR), StoreErrorKind::Other);
        assert_eq!(
            classify(&db, &rusqlite::Error::InvalidQuery),
            StoreErrorKind::Other
        );
    }

    #[test]
    fn system_errors_are_classified_by_what_the_user_can_do() {
        use rustix::io::Errno;
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join(FILE_NAME);
        std::fs::write(&at, b"").unwrap();
        let kind = |errno: Errno| kind_of_io(&at, &std::io::Error::from(errno));
        assert_eq!(
            kind(Errno::ROFS),
            Some(StoreErrorKind::ReadOnly {
                at: at.clone(),
                file_system: true
            })
        );
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&at).unwrap());
        for errno in [Errno::ACCESS, Errno::PERM] {
            assert_eq!(
                kind(errno),
                Some(StoreErrorKind::PermissionDenied {
                    at: at.clone(),
                    owner: Some(owner)
                })
            );
        }
        assert_eq!(kind(Errno::NOSPC), Some(StoreErrorKind::DiskFull));
        assert_eq!(kind(Errno::DQUOT), Some(StoreErrorKind::DiskFull));
        assert_eq!(kind(Errno::NOENT), None);
        assert_eq!(kind_of_io(&at, &std::io::Error::other("no errno")), None);
    }

    #[test]
    fn every_kind_says_what_happened_and_what_to_do() {
        let db = PathBuf::from("/w/.pocket-dock/state.db");
        let error = |kind| StoreError {
            path: db.clone(),
            kind,
            source: Some(Box::new(StoreCause::Sqlite(sqlite_error(
                rusqlite::ffi::SQLITE_READONLY,
            )))),
        };
        let cases = [
            (
                StoreErrorKind::ReadOnly {
                    at: db.clone(),
                    file_system: true,
                },
                "state.db: read-only file system",
                "remount",
            ),
            (
                StoreErrorKind::ReadOnly {
                    at: PathBuf::from("/w/.pocket-dock"),
                    file_system: false,
                },
                "/w/.pocket-dock read-only",
                "make /w/.pocket-dock writable",
            ),
            (
                StoreErrorKind::PermissionDenied {
                    at: db.clone(),
                    owner: Some(0),
                },
                "permission denied (owned by root)",
                "sudo chown -R $(id -u):$(id -g) /w/.pocket-dock",
            ),
            (
                StoreErrorKind::PermissionDenied {
                    at: db.clone(),
                    owner: Some(1000),
                },
                "permission denied",
                "run as the user who owns",
            ),
            (StoreErrorKind::DiskFull, "the disk is full", "free space"),
            (StoreErrorKind::Busy, "busy", "run again when it is done"),
            (StoreErrorKind::Corrupt, "corrupt", "moves it aside"),
            (
                StoreErrorKind::CorruptHeld {
                    pid: 42,
                    command: "sqlite3".into(),
                },
                "open in process 42 (sqlite3)",
                "stop process 42 and run again",
            ),
            (
                StoreErrorKind::Refused {
                    at: db.clone(),
                    what: "is a symlink",
                },
                "is a symlink; pocket-dock never opens it",
                "remove /w/.pocket-dock/state.db",
            ),
            (
                StoreErrorKind::NewerSchema { found: 7, known: 1 },
                "schema version 7 was written by a newer pocket-dock (this one knows versions up to 1); it was left untouched",
                "upgrade pocket-dock",
            ),
        ];
        for (kind, message, hint) in cases {
            let e = error(kind);
            let text = e.to_string();
            assert!(
                text.starts_with("state store /w/.pocket-dock/state.db: "),
                "{text}"
            );
            assert!(text.contains(message), "{text}");
            assert!(!text.ends_with('.'), "{text}");
            let h = e.hint().unwrap();
            assert!(h.contains(hint), "{h}");
            let err = crate::Error::from(e);
            assert_eq!(err.exit_code().code(), 4);
            assert_eq!(err.category(), crate::Category::Storage);
        }
        let other = error(StoreErrorKind::Other);
        assert!(other.to_string().contains("readonly"), "{other}");
        assert!(other.hint().is_none());
    }

    #[test]
    fn a_write_held_up_by_another_writer_is_busy_and_the_database_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = StateStore::open(dir.path()).unwrap();
        let (b, _) = StateStore::open(dir.path()).unwrap();
        b.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        a.conn
            .busy_timeout(std::time::Duration::from_millis(20))
            .unwrap();
        let err = a
            .record(&Event::new(Source::Controller, "created").object("Sandbox", "a"))
            .err()
            .unwrap();
        assert_eq!(err.kind, StoreErrorKind::Busy, "{err}");
        b.conn.execute_batch("COMMIT").unwrap();
        a.record(&Event::new(Source::Controller, "created").object("Sandbox", "a"))
            .unwrap();
        assert_eq!(names_in(dir.path()).len(), 3, "state.db, -wal, -shm only");
    }

    fn history_entry(n: usize) -> HistoryEntry {
        HistoryEntry {
            sandbox: "a".into(),
            command: vec![n.to_string()],
            exit_code: Some(0),
            duration_ms: 1,
            started_at: "t".into(),
            finished_at: "t".into(),
            stdout_bytes: 0,
            stderr_bytes: 0,
        }
    }

    #[test]
    fn each_retention_class_keeps_exactly_its_newest_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        for table in Bounded::ALL {
            assert_eq!(store.retention(table).unwrap(), DEFAULT_RETENTION);
        }
        store
            .set_retention(&Retention {
                history: Some(100),
                events: Some(150),
                journal: None,
            })
            .unwrap();
        // Another process (an exec) that never loads the declarations trims by them too.
        let (writer, _) = StateStore::open(dir.path()).unwrap();
        for n in 0..250 {
            writer.record_history(&history_entry(n)).unwrap();
            writer
                .record(&Event::new(Source::Controller, "created").object("Sandbox", n.to_string()))
                .unwrap();
            writer
                .record(&Event::new(Source::Apply, "create").object("Sandbox", n.to_string()))
                .unwrap();
        }
        let history = store.history(None, 1000).unwrap();
        let kept: Vec<String> = history.iter().map(|h| h.command[0].clone()).collect();
        let newest: Vec<String> = (150..250).map(|n| n.to_string()).collect();
        assert_eq!(kept, newest);
        let of = |source: Source| {
            store
                .events(&EventQuery {
                    sources: vec![source],
                    limit: 1000,
                    ..EventQuery::default()
                })
                .unwrap()
        };
        let events = of(Source::Controller);
        assert_eq!(events.len(), 150);
        assert_eq!(events[0].name.as_deref(), Some("100"));
        assert_eq!(events[149].name.as_deref(), Some("249"));
        assert_eq!(of(Source::Apply).len(), 250);

        // Lowering a limit trims at once; raising it keeps what is there.
        store
            .set_retention(&Retention {
                journal: Some(100),
                ..Retention::default()
            })
            .unwrap();
        let journal = of(Source::Apply);
        assert_eq!(journal.len(), 100);
        assert_eq!(journal[0].name.as_deref(), Some("150"));
        assert_eq!(journal[99].name.as_deref(), Some("249"));
        assert_eq!(
            store.retention(Bounded::History).unwrap(),
            DEFAULT_RETENTION
        );
        assert_eq!(store.history(None, 1000).unwrap().len(), 100);
        store.record_history(&history_entry(250)).unwrap();
        assert_eq!(store.history(None, 1000).unwrap().len(), 101);
        assert_eq!(of(Source::Controller).len(), 150, "other classes untouched");
    }

    #[test]
    fn generation_starts_at_1_and_bumps_only_when_the_spec_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.generation("Sandbox", "a").unwrap(), None);
        assert_eq!(store.observe_generation("Sandbox", "a", "h1").unwrap(), 1);
        assert_eq!(store.observe_generation("Sandbox", "a", "h1").unwrap(), 1);
        assert_eq!(store.observe_generation("Sandbox", "a", "h2").unwrap(), 2);
        assert_eq!(store.observe_generation("Sandbox", "a", "h1").unwrap(), 3);
        // Per object: another kind with the same name has its own.
        assert_eq!(store.observe_generation("Volume", "a", "h2").unwrap(), 1);
        drop(store);
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(
            store.generation("Sandbox", "a").unwrap(),
            Some(GenerationRecord {
                spec_hash: "h1".into(),
                generation: 3
            })
        );
    }
}
