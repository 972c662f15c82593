//! The event log: one `events` table that every action of pocket-dock is appended to
//! (`apply`, the controller, `delete`, `snapshot`, `gc`, `run`, `exec`, sessions). `events`
//! shows it; `history` is its `exec` rows.
//!
//! Recording never fails the command that acts: [`record_or_warn`] logs a warning (once per
//! process) and carries on. Nothing secret is stored: an exec's argv and sizes, never its
//! environment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Bounded, DEFAULT_RETENTION, HistoryEntry, StateStore, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT,
    name TEXT,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error_category TEXT,
    error TEXT,
    duration_ms INTEGER,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS events_by_source ON events (source, id);
";

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Apply,
    Controller,
    Delete,
    Snapshot,
    Gc,
    Run,
    Exec,
    Session,
    /// The egress proxy: one row per request a sandbox made through it, allowed or refused.
    Egress,
}

impl Source {
    pub const ALL: [Source; 9] = [
        Source::Apply,
        Source::Controller,
        Source::Delete,
        Source::Snapshot,
        Source::Gc,
        Source::Run,
        Source::Exec,
        Source::Session,
        Source::Egress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Apply => "apply",
            Source::Controller => "controller",
            Source::Delete => "delete",
            Source::Snapshot => "snapshot",
            Source::Gc => "gc",
            Source::Run => "run",
            Source::Exec => "exec",
            Source::Session => "session",
            Source::Egress => "egress",
        }
    }

    /// Which retention setting bounds its rows: what happened inside sandboxes (commands,
    /// requests through the egress proxy) by `retention.history`, apply's actions by
    /// `retention.journal` (the journal they used to be), everything else by
    /// `retention.events`.
    pub fn bounded_by(self) -> Bounded {
        match self {
            // What happened inside sandboxes: a chatty sandbox trims its own kind, never
            // the record of pocket-dock's actions.
            Source::Exec | Source::Session | Source::Egress => Bounded::History,
            Source::Apply | Source::Snapshot => Bounded::Journal,
            Source::Controller | Source::Delete | Source::Gc | Source::Run => Bounded::Events,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`Source`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event source {0:?} (one of apply, controller, delete, snapshot, gc, run, exec, session, egress)"
)]
pub struct UnknownSource(pub String);

impl std::str::FromStr for Source {
    type Err = UnknownSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownSource(s.to_string()))
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed,
    /// Stopped before it ended on its own (a timeout, Ctrl-C).
    Killed,
    /// Done, but not yet where it should be (a sandbox not ready).
    Waiting,
    /// Not done, on purpose (gc found the object in use).
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Killed => "killed",
            Outcome::Waiting => "waiting",
            Outcome::Skipped => "skipped",
        }
    }

    /// Rows written by a newer version with an outcome this one does not know read as failed.
    fn parse(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "killed" => Outcome::Killed,
            "waiting" => Outcome::Waiting,
            "skipped" => Outcome::Skipped,
            _ => Outcome::Failed,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One action to append (see [`StateStore::record`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// RFC 3339; `None` is now.
    pub time: Option<String>,
    pub source: Source,
    /// The object acted on (`Sandbox`, `web`); `None` for workspace-wide actions.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub action: String,
    pub reason: String,
    pub outcome: Outcome,
    pub error_category: Option<String>,
    pub error: Option<String>,
    pub duration: Option<Duration>,
    /// Source-specific facts (an exec's argv, exit code, output sizes).
    pub detail: Option<serde_json::Value>,
}

impl Event {
    /// A successful `action` by `source`, on no object; the builders below add the rest.
    pub fn new(source: Source, action: impl Into<String>) -> Event {
        Event {
            time: None,
            source,
            kind: None,
            name: None,
            action: action.into(),
            reason: String::new(),
            outcome: Outcome::Ok,
            error_category: None,
            error: None,
            duration: None,
            detail: None,
        }
    }

    pub fn object(mut self, kind: impl Into<String>, name: impl Into<String>) -> Event {
        self.kind = Some(kind.into());
        self.name = Some(name.into());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Event {
        self.reason = reason.into();
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Event {
        self.outcome = outcome;
        self
    }

    /// Failed, with the error's category (`runtime`, `usage`, ...) and message.
    pub fn failed(mut self, category: impl Into<String>, message: impl Into<String>) -> Event {
        self.outcome = Outcome::Failed;
        self.error_category = Some(category.into());
        self.error = Some(message.into());
        self
    }

    /// Failed with an error of `category` (the store imports no error type: every error
    /// module may use the store).
    pub fn failed_with(self, category: crate::Category, error: &dyn std::fmt::Display) -> Event {
        self.failed(category.as_str(), error.to_string())
    }

    /// Ok, or failed with `result`'s error.
    pub fn result<E: std::fmt::Display>(
        self,
        result: &Result<impl Sized, E>,
        category: impl FnOnce(&E) -> String,
    ) -> Event {
        match result {
            Ok(_) => self,
            Err(e) => {
                let c = category(e);
                self.failed(c, e.to_string())
            }
        }
    }

    pub fn duration(mut self, duration: Duration) -> Event {
        self.duration = Some(duration);
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Event {
        self.detail = Some(detail);
        self
    }

    pub fn at(mut self, time: impl Into<String>) -> Event {
        self.time = Some(time.into());
        self
    }
}

/// One row of the event log, as `events` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventRecord {
    pub id: i64,
    pub time: String,
    pub source: String,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub action: String,
    pub reason: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl EventRecord {
    /// `Kind/name`, or `-` for a workspace-wide action.
    pub fn object(&self) -> String {
        match (&self.kind, &self.name) {
            (Some(k), Some(n)) => format!("{k}/{n}"),
            (Some(k), None) => k.clone(),
            (None, Some(n)) => n.clone(),
            (None, None) => "-".to_string(),
        }
    }
}

/// Which rows [`StateStore::events`] returns: those after `after` (an id), oldest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub after: i64,
    pub sources: Vec<Source>,
    pub kind: Option<String>,
    pub name: Option<String>,
    /// At most this many; with `newest`, the newest this many (still oldest first).
    pub limit: usize,
    pub newest: bool,
}

const COLUMNS: &str = "id, time, source, kind, name, action, reason, outcome, error_category, error, duration_ms, detail";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRecord> {
    let detail: Option<String> = r.get(11)?;
    Ok(EventRecord {
        id: r.get(0)?,
        time: r.get(1)?,
        source: r.get(2)?,
        kind: r.get(3)?,
        name: r.get(4)?,
        action: r.get(5)?,
        reason: r.get(6)?,
        outcome: r.get(7)?,
        error_category: r.get(8)?,
        error: r.get(9)?,
        duration_ms: r.get(10)?,
        detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
    })
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Inserts `event` (no trimming).
fn insert(conn: &Connection, event: &Event) -> rusqlite::Result<i64> {
    let time = event
        .time
        .clone()
        .unwrap_or_else(crate::timefmt::now_rfc3339);
    let detail = event.detail.as_ref().map(ToString::to_string);
    conn.execute(
        &format!("INSERT INTO events ({COLUMNS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
        params![
            time,
            event.source.as_str(),
            event.kind,
            event.name,
            event.action,
            event.reason,
            event.outcome.as_str(),
            event.error_category,
            event.error,
            event.duration.map(millis),
            detail
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The sources `table` bounds, as an SQL list.
fn sources_of(table: Bounded) -> String {
    Source::ALL
        .into_iter()
        .filter(|s| s.bounded_by() == table)
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Deletes `table`'s rows beyond its newest `limit`.
pub(super) fn trim(conn: &Connection, table: Bounded, limit: i64) -> rusqlite::Result<()> {
    let sources = sources_of(table);
    conn.execute(
        &format!(
            "DELETE FROM events WHERE source IN ({sources}) AND id <= COALESCE((SELECT id FROM events WHERE source IN ({sources}) ORDER BY id DESC LIMIT 1 OFFSET ?1), -1)"
        ),
        params![limit],
    )?;
    Ok(())
}

impl StateStore {
    /// The folder the database is in (`.pocket-dock/`).
    pub fn folder(&self) -> Option<&std::path::Path> {
        self.path.parent()
    }

    /// Appends `event`, then trims the rows its retention setting bounds, in one transaction.
    /// Returns its id.
    pub fn record(&self, event: &Event) -> Result<i64, StoreError> {
        let table = event.source.bounded_by();
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.err(e))?;
        let id = insert(&tx, event).map_err(|e| self.err(e))?;
        let limit: Option<i64> = tx
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![table.setting()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let limit = limit.unwrap_or(DEFAULT_RETENTION as i64);
        trim(&tx, table, limit).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// The rows `query` selects, oldest first.
    pub fn events(&self, query: &EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        let sources = if query.sources.is_empty() {
            String::new()
        } else {
            let list = query
                .sources
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            format!(" AND source IN ({list})")
        };
        let order = if query.newest { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE id > ?1{sources} AND (?2 IS NULL OR kind = ?2 COLLATE NOCASE) AND (?3 IS NULL OR name = ?3) ORDER BY id {order} LIMIT ?4"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(
                params![query.after, query.kind, query.name, limit],
                read_row,
            )
            .map_err(|e| self.err(e))?;
        let mut records = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        if query.newest {
            records.reverse();
        }
        Ok(records)
    }

    /// The id of the latest event (0 when there is none).
    pub fn last_event_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Appends a command run with `exec` (the `history` view reads it back).
    pub fn record_history(&self, entry: &HistoryEntry) -> Result<(), StoreError> {
        self.record(&exec_event(entry)).map(|_| ())
    }

    /// The last `limit` commands run with `exec` (of one sandbox, or all), oldest first: the
    /// event log's `exec` rows.
    pub fn history(
        &self,
        sandbox: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let records = self.events(&EventQuery {
            sources: vec![Source::Exec],
            kind: sandbox.map(|_| "Sandbox".to_string()),
            name: sandbox.map(str::to_string),
            limit,
            newest: true,
            ..EventQuery::default()
        })?;
        Ok(records.iter().filter_map(history_entry).collect())
    }
}

/// The event of one `exec` command; the argv and sizes only (never its environment).
pub fn exec_event(entry: &HistoryEntry) -> Event {
    let outcome = match entry.exit_code {
        Some(0) => Outcome::Ok,
        Some(_) => Outcome::Failed,
        None => Outcome::Killed,
    };
    Event::new(Source::Exec, "exec")
        .object("Sandbox", entry.sandbox.clone())
        .outcome(outcome)
        .at(entry.started_at.clone())
        .duration(Duration::from_millis(
            u64::try_from(entry.duration_ms).unwrap_or(0),
        ))
        .detail(serde_json::json!({
            "command": entry.command,
            "exit_code": entry.exit_code,
            "started_at": entry.started_at,
            "finished_at": entry.finished_at,
            "stdout_bytes": entry.stdout_bytes,
            "stderr_bytes": entry.stderr_bytes,
        }))
}

/// An `exec` row as a history entry (`None` when its detail is not one).
fn history_entry(record: &EventRecord) -> Option<HistoryEntry> {
    let detail = record.detail.as_ref()?;
    let int = |field: &str| detail.get(field).and_then(serde_json::Value::as_i64);
    let text = |field: &str| {
        detail
            .get(field)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    Some(HistoryEntry {
        sandbox: record.name.clone().unwrap_or_default(),
        command: serde_json::from_value(detail.get("command")?.clone()).ok()?,
        exit_code: int("exit_code"),
        duration_ms: record.duration_ms.unwrap_or(0),
        started_at: text("started_at").unwrap_or_else(|| record.time.clone()),
        finished_at: text("finished_at").unwrap_or_else(|| record.time.clone()),
        stdout_bytes: int("stdout_bytes").unwrap_or(0),
        stderr_bytes: int("stderr_bytes").unwrap_or(0),
    })
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Appends `event` when there is a store; a failure is a warning (once per process), never
/// the command's failure.
pub fn record_or_warn(store: Option<&StateStore>, event: &Event) {
    let Some(store) = store else { return };
    if let Err(e) = store.record(event)
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(error = %e, hint = e.hint().unwrap_or_default(), "could not record an event; later failures to record are not reported");
    }
}

/// Appends `events` to the store of the workspace folder `dir` (`.pocket-dock/`), when it
/// exists; opening or writing it failing is a warning (once per process).
pub fn record_in(dir: &std::path::Path, events: &[Event]) {
    if events.is_empty() || !dir.is_dir() {
        return;
    }
    match StateStore::open(dir) {
        Ok((store, _)) => {
            for event in events {
                record_or_warn(Some(&store), event);
            }
        }
        Err(e) => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, hint = e.hint().unwrap_or_default(), "could not record events");
            }
        }
    }
}

/// Which tables of the earlier schema are there: the controller's `events` (no `source`
/// column), `history`, `journal`.
fn old_tables(conn: &Connection) -> rusqlite::Result<(bool, bool, bool)> {
    let has_table = |name: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            params![name],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
    };
    let old_events = has_table("events")?
        && !conn
            .prepare("SELECT * FROM events LIMIT 0")?
            .column_names()
            .contains(&"source");
    Ok((old_events, has_table("history")?, has_table("journal")?))
}

/// Brings a database of the earlier schema to the event log, in one transaction: the
/// controller's `events`, the `exec` history and apply's journal become rows of the new
/// `events` table (merged in time order), and the old tables are dropped. Done once: a
/// database whose `events` table has a `source` column is left alone.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    if old_tables(conn)? == (false, false, false) {
        return conn.execute_batch(SCHEMA);
    }
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    // Looked at again under the write lock: another process may have just migrated it.
    let (old_events, history, journal) = old_tables(&tx)?;
    if old_events {
        tx.execute_batch("ALTER TABLE events RENAME TO events_v1")?;
    }
    tx.execute_batch(SCHEMA)?;
    let mut moved: Vec<Event> = Vec::new();
    if old_events {
        let mut stmt =
            tx.prepare("SELECT time, kind, name, reason, message FROM events_v1 ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let (time, kind, name, reason, message): (String, String, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            // The controller wrote `<verb>` with the action's reason, `<verb>-failed` with
            // the error, and `not-ready` with why.
            let event = Event::new(Source::Controller, reason.clone())
                .object(kind, name)
                .at(time);
            Ok(if let Some(verb) = reason.strip_suffix("-failed") {
                Event {
                    action: verb.to_string(),
                    ..event.failed("runtime", message)
                }
            } else if reason == "not-ready" {
                event.outcome(Outcome::Waiting).reason(message)
            } else {
                event.reason(message)
            })
        })?;
        moved.extend(rows.collect::<Result<Vec<_>, _>>()?);
    }
    if history {
        let mut stmt = tx.prepare("SELECT sandbox, command, exit_code, duration_ms, started_at, finished_at, stdout_bytes, stderr_bytes FROM history ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let command: String = r.get(1)?;
            Ok(exec_event(&HistoryEntry {
                sandbox: r.get(0)?,
                command: serde_json::from_str(&command).unwrap_or_else(|_| vec![command]),
                exit_code: r.get(2)?,
                duration_ms: r.get(3)?,
                started_at: r.get(4)?,
                finished_at: r.get(5)?,
                stdout_bytes: r.get(6)?,
                stderr_bytes: r.get(7)?,
            }))
        })?;
        moved.extend(rows.collect::<Result<Vec<_>, _>>()?);
    }
    if journal {
        let mut stmt = tx.prepare("SELECT time, kind, name, action, reason, outcome, error, duration_ms FROM journal ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let outcome: String = r.get(5)?;
            let error: Option<String> = r.get(6)?;
            let duration: i64 = r.get(7)?;
            let event = Event::new(Source::Apply, r.get::<_, String>(3)?)
                .object(r.get::<_, String>(1)?, r.get::<_, String>(2)?)
                .reason(r.get::<_, String>(4)?)
                .at(r.get::<_, String>(0)?)
                .duration(Duration::from_millis(u64::try_from(duration).unwrap_or(0)));
            Ok(match (Outcome::parse(&outcome), error) {
                (Outcome::Failed, error) => event.failed("runtime", error.unwrap_or_default()),
                (outcome, _) => event.outcome(outcome),
            })
        })?;
        moved.extend(rows.collect::<Result<Vec<_>, _>>()?);
    }
    // RFC 3339 UTC times sort as text; the sort is stable, so equal times keep table order.
    moved.sort_by(|a, b| a.time.cmp(&b.time));
    for event in &moved {
        insert(&tx, event)?;
    }
    for table in Bounded::ALL {
        let limit: Option<i64> = tx
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![table.setting()],
                |r| r.get(0),
            )
            .optional()?;
        trim(&tx, table, limit.unwrap_or(DEFAULT_RETENTION as i64))?;
    }
    tx.execute_batch(
        "DROP TABLE IF EXISTS events_v1; DROP TABLE IF EXISTS history; DROP TABLE IF EXISTS journal;",
    )?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FILE_NAME;

    /// The schema before the event log, as `store.rs` created it.
    const OLD_SCHEMA: &str = "
CREATE TABLE instances (kind TEXT NOT NULL, name TEXT NOT NULL, container_id TEXT, container_name TEXT, image TEXT, spec_hash TEXT, created_at TEXT, started_at TEXT, stopped_at TEXT, PRIMARY KEY (kind, name));
CREATE TABLE journal (id INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT, duration_ms INTEGER NOT NULL);
CREATE TABLE history (id INTEGER PRIMARY KEY, sandbox TEXT NOT NULL, command TEXT NOT NULL, exit_code INTEGER, duration_ms INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL, stdout_bytes INTEGER NOT NULL, stderr_bytes INTEGER NOT NULL);
CREATE TABLE sessions (id TEXT PRIMARY KEY, sandbox TEXT NOT NULL, client_pid INTEGER NOT NULL, client_start INTEGER NOT NULL, started_at TEXT NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO journal (time, kind, name, action, reason, outcome, error, duration_ms) VALUES
  ('2026-01-01T00:00:01Z', 'Sandbox', 'web', 'create', 'not found', 'ok', NULL, 12),
  ('2026-01-01T00:00:04Z', 'Volume', 'data', 'create', 'not found', 'failed', 'disk full', 3);
INSERT INTO history (sandbox, command, exit_code, duration_ms, started_at, finished_at, stdout_bytes, stderr_bytes) VALUES
  ('web', '[\"echo\",\"hi there\"]', 0, 7, '2026-01-01T00:00:02Z', '2026-01-01T00:00:02Z', 9, 0),
  ('web', '[\"sleep\",\"9\"]', NULL, 1000, '2026-01-01T00:00:05Z', '2026-01-01T00:00:06Z', 0, 0);
INSERT INTO events (time, kind, name, reason, message) VALUES
  ('2026-01-01T00:00:03Z', 'Sandbox', 'web', 'start', 'stopped'),
  ('2026-01-01T00:00:03Z', 'Sandbox', 'db', 'create-failed', 'image not known'),
  ('2026-01-01T00:00:07Z', 'Sandbox', 'web', 'not-ready', 'probe failing');
";

    fn all(store: &StateStore) -> Vec<EventRecord> {
        store
            .events(&EventQuery {
                limit: 1000,
                ..EventQuery::default()
            })
            .unwrap()
    }

    fn tables(dir: &std::path::Path) -> Vec<String> {
        let conn = Connection::open(dir.join(FILE_NAME)).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn an_old_database_migrates_on_open_once() {
        let dir = tempfile::tempdir().unwrap();
        Connection::open(dir.path().join(FILE_NAME))
            .unwrap()
            .execute_batch(OLD_SCHEMA)
            .unwrap();
        let (store, warning) = StateStore::open(dir.path()).unwrap();
        assert!(warning.is_none());
        let events = all(&store);
        let summary: Vec<(&str, String, &str, &str, Option<i64>)> = events
            .iter()
            .map(|e| {
                (
                    e.source.as_str(),
                    e.object(),
                    e.action.as_str(),
                    e.outcome.as_str(),
                    e.duration_ms,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("apply", "Sandbox/web".into(), "create", "ok", Some(12)),
                ("exec", "Sandbox/web".into(), "exec", "ok", Some(7)),
                ("controller", "Sandbox/web".into(), "start", "ok", None),
                ("controller", "Sandbox/db".into(), "create", "failed", None),
                ("apply", "Volume/data".into(), "create", "failed", Some(3)),
                ("exec", "Sandbox/web".into(), "exec", "killed", Some(1000)),
                (
                    "controller",
                    "Sandbox/web".into(),
                    "not-ready",
                    "waiting",
                    None
                ),
            ]
        );
        assert_eq!(events[2].reason, "stopped");
        assert_eq!(events[3].error.as_deref(), Some("image not known"));
        assert_eq!(events[4].error.as_deref(), Some("disk full"));
        assert_eq!(events[6].reason, "probe failing");
        let history = store.history(Some("web"), 10).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].command, ["echo", "hi there"]);
        assert_eq!(history[0].stdout_bytes, 9);
        assert_eq!(history[1].exit_code, None);
        assert_eq!(history[1].finished_at, "2026-01-01T00:00:06Z");
        let gone = ["events_v1", "history", "journal"];
        assert!(
            tables(dir.path())
                .iter()
                .all(|t| !gone.contains(&t.as_str())),
            "{:?}",
            tables(dir.path())
        );
        drop(store);

        // Opening again changes nothing.
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(all(&store), events);
        store
            .record(&Event::new(Source::Gc, "remove").object("volume", "x"))
            .unwrap();
        drop(store);
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(all(&store).len(), events.len() + 1);
    }

    #[test]
    fn events_are_queried_by_cursor_source_object_and_newest() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let first = store
            .record(
                &Event::new(Source::Delete, "remove")
                    .object("Sandbox", "web")
                    .duration(Duration::from_millis(30)),
            )
            .unwrap();
        store
            .record(&Event::new(Source::Gc, "remove").failed("runtime", "busy"))
            .unwrap();
        store
            .record(&Event::new(Source::Run, "run").object("Run", "pd-run-1"))
            .unwrap();
        assert_eq!(store.last_event_id().unwrap(), first + 2);
        let query = |q: EventQuery| {
            store
                .events(&EventQuery { limit: 10, ..q })
                .unwrap()
                .iter()
                .map(|e| e.source.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(query(EventQuery::default()), ["delete", "gc", "run"]);
        assert_eq!(
            query(EventQuery {
                after: first,
                ..EventQuery::default()
            }),
            ["gc", "run"]
        );
        assert_eq!(
            query(EventQuery {
                sources: vec![Source::Gc, Source::Delete],
                ..EventQuery::default()
            }),
            ["delete", "gc"]
        );
        assert_eq!(
            query(EventQuery {
                kind: Some("sandbox".into()),
                name: Some("web".into()),
                ..EventQuery::default()
            }),
            ["delete"]
        );
        let newest = store
            .events(&EventQuery {
                limit: 2,
                newest: true,
                ..EventQuery::default()
            })
            .unwrap();
        assert_eq!(newest[0].source, "gc");
        assert_eq!(newest[0].object(), "-");
        assert_eq!(newest[0].outcome, "failed");
        assert_eq!(newest[0].error_category.as_deref(), Some("runtime"));
        assert_eq!(newest[1].source, "run");
        let json = serde_json::to_value(&all(&store)[0]).unwrap();
        assert_eq!(json["duration_ms"], 30);
        assert_eq!(json["kind"], "Sandbox");
    }

    #[test]
    fn an_exec_event_holds_argv_and_sizes_only() {
        let entry = HistoryEntry {
            sandbox: "web".into(),
            command: vec!["env".into()],
            exit_code: Some(3),
            duration_ms: 4,
            started_at: "s".into(),
            finished_at: "f".into(),
            stdout_bytes: 1,
            stderr_bytes: 2,
        };
        let event = exec_event(&entry);
        assert_eq!(event.outcome, Outcome::Failed);
        let detail = event.detail.unwrap();
        let mut keys: Vec<&String> = detail.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "command",
                "exit_code",
                "finished_at",
                "started_at",
                "stderr_bytes",
                "stdout_bytes"
            ]
        );
    }

    #[test]
    fn sources_parse_and_every_one_has_a_retention_class() {
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(source));
            let _ = source.bounded_by();
        }
        assert!("journal".parse::<Source>().is_err());
    }
}
