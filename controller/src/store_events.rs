//! The event log: one `events` table that every action of pocket-dock is appended to
//! (`apply`, the controller, `delete`, `snapshot`, `gc`, `run`, `exec`, sessions). `events`
//! shows it; `history` is its `exec` rows.
//!
//! Recording never fails the command that acts: [`record_or_warn`] logs a warning (once per
//! process) and carries on. Nothing secret is stored: an exec's argv and sizes, never its
//! environment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    AuditHead, AuditReport, Bounded, DEFAULT_RETENTION, HistoryEntry, StateStore, StoreError, audit,
};

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
    detail TEXT,
    chain TEXT,
    prev_id INTEGER,
    prev_hash TEXT,
    links TEXT,
    checkpoint TEXT,
    hash TEXT
);
CREATE INDEX IF NOT EXISTS events_by_source ON events (source, id);
";

/// Made once the chain columns exist (after [`super::audit::chain_existing`]).
pub(super) const CHAIN_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS events_by_chain ON events (chain, id);";

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
    /// pocket-dock's own record keeping: the checkpoint a trim of the event log leaves when
    /// no new row carries it (a lowered retention, the migration).
    Audit,
    /// The egress proxy: one row per request a sandbox made through it, allowed or refused.
    Egress,
    /// `reset`: a sandbox's container (and, when asked, its volumes) removed, then the
    /// sandbox applied again.
    Reset,
    /// `pause` and `resume`: a sandbox's processes frozen or thawed by command.
    Pause,
    /// `fork`: a sandbox committed and a new one declared from it and applied.
    Fork,
    /// Warm pools: a member claimed (`claim`) or released (`release`), members made or
    /// retired by a refill outside `apply`.
    Pool,
}

impl Source {
    pub const ALL: [Source; 14] = [
        Source::Apply,
        Source::Controller,
        Source::Delete,
        Source::Snapshot,
        Source::Gc,
        Source::Run,
        Source::Exec,
        Source::Session,
        Source::Audit,
        Source::Egress,
        Source::Reset,
        Source::Pause,
        Source::Fork,
        Source::Pool,
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
            Source::Audit => "audit",
            Source::Egress => "egress",
            Source::Reset => "reset",
            Source::Pause => "pause",
            Source::Fork => "fork",
            Source::Pool => "pool",
        }
    }

    /// Which retention setting bounds its rows: what happened inside sandboxes (commands,
    /// requests through the egress proxy) by `retention.history`, apply's actions by
    /// `retention.journal` (the journal they used to be), everything else by
    /// `retention.events`. (An `audit` checkpoint row is kept with the log it vouches for,
    /// whatever this says.)
    pub fn bounded_by(self) -> Bounded {
        match self {
            // What happened inside sandboxes: a chatty sandbox trims its own kind, never
            // the record of pocket-dock's actions.
            Source::Exec | Source::Session | Source::Egress => Bounded::History,
            Source::Apply | Source::Snapshot | Source::Reset | Source::Fork => Bounded::Journal,
            Source::Controller
            | Source::Delete
            | Source::Gc
            | Source::Run
            | Source::Audit
            | Source::Pause
            | Source::Pool => Bounded::Events,
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
    "unknown event source {0:?} (one of apply, controller, delete, snapshot, gc, run, exec, session, audit, egress, reset, pause, fork)"
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

/// `event`'s columns from `time` to `detail`, as stored.
fn content(event: &Event) -> Vec<Value> {
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
    vec![
        Value::Text(
            event
                .time
                .clone()
                .unwrap_or_else(crate::timefmt::now_rfc3339),
        ),
        Value::Text(event.source.as_str().to_string()),
        text(&event.kind),
        text(&event.name),
        Value::Text(event.action.clone()),
        Value::Text(event.reason.clone()),
        Value::Text(event.outcome.as_str().to_string()),
        text(&event.error_category),
        text(&event.error),
        event
            .duration
            .map_or(Value::Null, |d| Value::Integer(millis(d))),
        text(&event.detail.as_ref().map(ToString::to_string)),
    ]
}

/// Appends `event` to `chain`, chained (no trimming).
fn insert(conn: &Connection, chain: Bounded, event: &Event) -> rusqlite::Result<i64> {
    audit::append(conn, chain, content(event), None)
}

/// The stored retention of `table` (at least 1: the newest row always stays).
fn stored_limit(conn: &Connection, table: Bounded) -> rusqlite::Result<i64> {
    let limit: Option<i64> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            params![table.setting()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(limit.unwrap_or(DEFAULT_RETENTION as i64).max(1))
}

/// Deletes `table`'s rows beyond its newest `limit`, and appends an `audit` checkpoint row to
/// its chain that records what went (for trims that no new row causes: a lowered
/// retention, the migration).
pub(super) fn trim_with_checkpoint(
    conn: &Connection,
    table: Bounded,
    limit: i64,
) -> rusqlite::Result<()> {
    let limit = limit.max(1);
    let Some(checkpoint) = audit::plan_trim(conn, table, limit)? else {
        return Ok(());
    };
    let event = Event::new(Source::Audit, "checkpoint")
        .reason(format!(
            "retention: the {} log keeps its newest {limit} rows",
            table.as_str()
        ))
        .detail(serde_json::json!({
            "log": table.as_str(),
            "trimmed": checkpoint.rows,
            "through": checkpoint.through,
        }));
    audit::append(conn, table, content(&event), Some(&checkpoint))?;
    audit::delete_trimmed(conn, &checkpoint)
}

impl StateStore {
    /// The folder the database is in (`.pocket-dock/`).
    pub fn folder(&self) -> Option<&std::path::Path> {
        self.path.parent()
    }

    /// Appends `event`, chained to the newest rows (read inside this write transaction, so
    /// that concurrent writers chain one after the other), and trims the rows its retention
    /// setting bounds: the new row carries the checkpoint of what the trim removed. Returns
    /// its id.
    pub fn record(&self, event: &Event) -> Result<i64, StoreError> {
        let table = event.source.bounded_by();
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.err(e))?;
        let limit = stored_limit(&tx, table).map_err(|e| self.err(e))?;
        // The new row is one of the newest `limit`.
        let trim = audit::plan_trim(&tx, table, limit - 1).map_err(|e| self.err(e))?;
        let id =
            audit::append(&tx, table, content(event), trim.as_ref()).map_err(|e| self.err(e))?;
        if let Some(checkpoint) = &trim {
            audit::delete_trimmed(&tx, checkpoint).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Checks the hash chains of the whole event log (`pocket-dock audit verify`): every
    /// row's hash, every link between rows, every checkpoint; and that `expected_head` (a
    /// head recorded earlier) is still in it, unchanged. Reads one consistent snapshot.
    pub fn verify_audit(
        &self,
        expected_head: Option<&AuditHead>,
    ) -> Result<AuditReport, StoreError> {
        audit::verify(&self.conn, expected_head).map_err(|e| self.err(e))
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

/// Brings a database of the earlier schema to the event log: the controller's `events`, the
/// `exec` history and apply's journal become rows of the new `events` table (merged in time
/// order), and the old tables are dropped. A database whose `events` table has a `source`
/// column is left alone. Runs inside the write transaction of the schema migration step
/// (`store_schema.rs`), which also reads the version again under the lock.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    if old_tables(conn)? == (false, false, false) {
        conn.execute_batch(SCHEMA)?;
    } else {
        migrate_tables(conn)?;
    }
    // An event log from before the hash chains is chained once.
    audit::chain_existing(conn)?;
    conn.execute_batch(CHAIN_INDEX)
}

/// The old tables to the event log (see [`migrate`]), in the caller's transaction.
fn migrate_tables(tx: &Connection) -> rusqlite::Result<()> {
    let (old_events, history, journal) = old_tables(tx)?;
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
        insert(tx, event.source.bounded_by(), event)?;
    }
    for table in Bounded::ALL {
        let limit = stored_limit(tx, table)?;
        trim_with_checkpoint(tx, table, limit)?;
    }
    tx.execute_batch(
        "DROP TABLE IF EXISTS events_v1; DROP TABLE IF EXISTS history; DROP TABLE IF EXISTS journal;",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FILE_NAME, ProblemKind, Retention};

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
        verified(&store);
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

    fn verified(store: &StateStore) -> AuditReport {
        let report = store.verify_audit(None).unwrap();
        assert!(report.ok(), "{:#?}", report.problems);
        report
    }

    /// The first problem: its row and kind.
    fn first_problem(store: &StateStore) -> (i64, ProblemKind) {
        let report = store.verify_audit(None).unwrap();
        let first = report
            .first_problem()
            .unwrap_or_else(|| panic!("no problem found"));
        (first.row, first.kind)
    }

    fn sql(store: &StateStore, statement: &str) {
        store.conn.execute_batch(statement).unwrap();
    }

    /// `n` rows, cycling through a source of each retention class.
    fn fill(store: &StateStore, n: usize) -> Vec<i64> {
        let sources = [Source::Exec, Source::Controller, Source::Apply];
        (0..n)
            .map(|i| {
                store
                    .record(
                        &Event::new(sources[i % 3], "act")
                            .object("Sandbox", format!("s{i}"))
                            .detail(serde_json::json!({ "n": i })),
                    )
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn an_empty_log_verifies_and_appended_rows_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let empty = verified(&store);
        assert_eq!((empty.rows, empty.head.clone()), (0, None));
        let ids = fill(&store, 7);
        let report = verified(&store);
        assert_eq!(report.rows, 7);
        assert_eq!(report.first_id, Some(ids[0]));
        assert_eq!(report.last_id, Some(ids[6]));
        assert_eq!(report.checkpoints, 0);
        let head = report.head.unwrap();
        assert_eq!(head.id, ids[6]);
        assert_eq!(head.hash.len(), 64);
        assert_eq!(report.logs["history"].rows, 3);
        assert_eq!(report.logs["events"].rows, 2);
        // Each row chains to the previous row of its log and links the newest of the others.
        let (prev_id, prev_hash, links): (Option<i64>, String, Option<String>) = store
            .conn
            .query_row(
                "SELECT prev_id, prev_hash, links FROM events WHERE id = ?1",
                params![ids[3]],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(prev_id, Some(ids[0]));
        assert_eq!(prev_hash.len(), 64);
        let links: serde_json::Value = serde_json::from_str(&links.unwrap()).unwrap();
        assert_eq!(links["events"][0], ids[1]);
        assert_eq!(links["journal"][0], ids[2]);
        let first: String = store
            .conn
            .query_row(
                "SELECT prev_hash FROM events WHERE id = ?1",
                params![ids[0]],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(first, crate::store::GENESIS);
    }

    #[test]
    fn concurrent_writers_chain_one_after_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        store
            .set_retention(&Retention {
                history: Some(40),
                events: Some(1000),
                journal: Some(1000),
            })
            .unwrap();
        let writers: Vec<_> = [Source::Exec, Source::Controller]
            .into_iter()
            .map(|source| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let (writer, _) = StateStore::open(&path).unwrap();
                    for n in 0..60 {
                        writer
                            .record(&Event::new(source, "act").object("Sandbox", n.to_string()))
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let report = verified(&store);
        assert_eq!(report.rows, 100);
        assert_eq!(report.logs["history"].rows, 40);
        assert!(report.checkpoints >= 20);
    }

    #[test]
    fn a_changed_column_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let ids = fill(&store, 9);
        sql(
            &store,
            &format!("UPDATE events SET action = 'nothing' WHERE id = {}", ids[4]),
        );
        assert_eq!(first_problem(&store), (ids[4], ProblemKind::Changed));
        let report = store.verify_audit(None).unwrap();
        assert!(
            report.problems[0]
                .message
                .contains(&format!("row {}", ids[4]))
        );
        assert_eq!(report.category(), Some(crate::Category::Storage));
        assert!(report.hint().is_some());
    }

    #[test]
    fn a_changed_type_or_detail_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let ids = fill(&store, 6);
        sql(
            &store,
            &format!("UPDATE events SET duration_ms = '5' WHERE id = {}", ids[5]),
        );
        sql(
            &store,
            &format!(
                "UPDATE events SET detail = '{{\"n\":99}}' WHERE id = {}",
                ids[2]
            ),
        );
        assert_eq!(first_problem(&store), (ids[2], ProblemKind::Changed));
    }

    #[test]
    fn a_deleted_middle_row_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let ids = fill(&store, 12);
        sql(&store, &format!("DELETE FROM events WHERE id = {}", ids[4]));
        assert_eq!(first_problem(&store), (ids[4], ProblemKind::Missing));
    }

    #[test]
    fn the_deleted_newest_row_of_one_log_is_named_by_the_rows_of_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let ids = fill(&store, 6);
        // ids[3] is the newest exec row; the rows after it (other logs) link it.
        sql(&store, &format!("DELETE FROM events WHERE id = {}", ids[3]));
        assert_eq!(first_problem(&store), (ids[3], ProblemKind::Missing));
        // The newest row of all has nothing after it: only an exported head shows its loss.
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let ids = fill(&store, 6);
        sql(&store, &format!("DELETE FROM events WHERE id = {}", ids[5]));
        let report = verified(&store);
        assert_eq!(report.head.unwrap().id, ids[4]);
    }

    #[test]
    fn swapped_rows_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let ids = fill(&store, 9);
        let (a, b) = (ids[3], ids[6]);
        // Their whole content, hashes included, trade places.
        sql(
            &store,
            &format!(
                "UPDATE events SET id = -1 WHERE id = {a}; UPDATE events SET id = {a} WHERE id = {b}; UPDATE events SET id = {b} WHERE id = -1;"
            ),
        );
        assert_eq!(first_problem(&store).0, a);
        // Only the descriptive columns traded.
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let ids = fill(&store, 9);
        let (a, b) = (ids[3], ids[6]);
        sql(
            &store,
            &format!(
                "UPDATE events SET (name, detail) = (SELECT name, detail FROM events WHERE id = {b}) WHERE id = {a};"
            ),
        );
        assert_eq!(first_problem(&store), (a, ProblemKind::Changed));
    }

    #[test]
    fn trimming_interleaved_logs_keeps_the_chain_and_later_tampering_is_still_named() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        store
            .set_retention(&Retention {
                history: Some(5),
                events: Some(7),
                journal: Some(30),
            })
            .unwrap();
        let ids = fill(&store, 60);
        let report = verified(&store);
        assert_eq!(report.logs["history"].rows, 5);
        assert_eq!(report.logs["events"].rows, 7);
        assert_eq!(report.logs["journal"].rows, 20);
        assert!(report.checkpoints > 0);
        assert!(report.logs["history"].trimmed_through.is_some());
        assert_eq!(report.head.unwrap().id, ids[59]);

        // Lowering a limit trims at once, with a checkpoint row of its own.
        store
            .set_retention(&Retention {
                history: Some(5),
                events: Some(7),
                journal: Some(3),
            })
            .unwrap();
        let report = verified(&store);
        let audit = store
            .events(&EventQuery {
                sources: vec![Source::Audit],
                limit: 10,
                ..EventQuery::default()
            })
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].detail.as_ref().unwrap()["log"], "journal");
        assert_eq!(audit[0].detail.as_ref().unwrap()["trimmed"], 17);
        assert_eq!(
            report.logs["journal"].rows, 4,
            "3 kept and the checkpoint row"
        );
        fill(&store, 30);
        verified(&store);

        // Tampering after trimming is named: the oldest row left of a log deleted,
        let first_history = verified(&store).logs["history"].first_id.unwrap();
        sql(
            &store,
            &format!("DELETE FROM events WHERE id = {first_history}"),
        );
        assert_eq!(first_problem(&store), (first_history, ProblemKind::Missing));
        // and a changed row.
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        store
            .set_retention(&Retention {
                history: Some(4),
                events: Some(4),
                journal: Some(4),
            })
            .unwrap();
        let ids = fill(&store, 40);
        sql(
            &store,
            &format!("UPDATE events SET reason = 'x' WHERE id = {}", ids[35]),
        );
        assert_eq!(first_problem(&store), (ids[35], ProblemKind::Changed));
    }

    #[test]
    fn a_log_longer_than_a_read_batch_is_checked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        store
            .set_retention(&Retention {
                history: Some(300),
                events: Some(500),
                journal: Some(1500),
            })
            .unwrap();
        let ids = fill(&store, 2400);
        let report = verified(&store);
        assert_eq!(report.rows, 300 + 500 + 800);
        sql(
            &store,
            &format!("DELETE FROM events WHERE id = {}", ids[2250]),
        );
        sql(
            &store,
            &format!("UPDATE events SET time = 'x' WHERE id = {}", ids[2390]),
        );
        let report = store.verify_audit(None).unwrap();
        let named: Vec<(i64, ProblemKind)> =
            report.problems.iter().map(|p| (p.row, p.kind)).collect();
        assert_eq!(named[0], (ids[2250], ProblemKind::Missing), "{named:?}");
        assert!(
            named.contains(&(ids[2390], ProblemKind::Changed)),
            "{named:?}"
        );
    }

    #[test]
    fn a_forged_checkpoint_or_an_unchained_row_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        store
            .set_retention(&Retention {
                history: Some(3),
                events: Some(3),
                journal: Some(3),
            })
            .unwrap();
        fill(&store, 20);
        let checkpoint: i64 = store
            .conn
            .query_row(
                "SELECT MAX(id) FROM events WHERE checkpoint IS NOT NULL AND chain = 'history'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let first = verified(&store).logs["history"].first_id.unwrap();
        // Deleting the oldest row left, and moving the checkpoint on by hand.
        sql(
            &store,
            &format!(
                "DELETE FROM events WHERE id = {first}; UPDATE events SET checkpoint = json_set(checkpoint, '$.through', {first}) WHERE id = {checkpoint};"
            ),
        );
        // The checkpoint's own hash shows the edit: it is what is named.
        assert_eq!(first_problem(&store), (checkpoint, ProblemKind::Changed));
        // Deleting it as well leaves what it vouched for unvouched: the rows it trimmed, and
        // the row deleted after, are named missing.
        sql(
            &store,
            &format!("DELETE FROM events WHERE id = {checkpoint}"),
        );
        let report = store.verify_audit(None).unwrap();
        assert_eq!(report.problems[0].kind, ProblemKind::Missing);
        assert!(report.problems[0].row < first, "{:#?}", report.problems);
        assert!(
            report
                .problems
                .iter()
                .any(|p| (p.row, p.kind) == (first, ProblemKind::Missing)),
            "{:#?}",
            report.problems
        );

        // A row written without a hash (an older pocket-dock, or by hand).
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        fill(&store, 4);
        sql(
            &store,
            "INSERT INTO events (time, source, action, reason, outcome) VALUES ('t', 'gc', 'remove', '', 'ok')",
        );
        let id = store.last_event_id().unwrap();
        assert_eq!(first_problem(&store), (id, ProblemKind::Unchained));
    }

    #[test]
    fn a_head_recorded_earlier_shows_a_rewrite_of_the_whole_log() {
        use crate::store::{AuditHead, HeadResult};
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        fill(&store, 6);
        let head = verified(&store).head.unwrap();
        let text = format!("{}:sha256:{}", head.id, head.hash);
        assert_eq!(text.parse::<AuditHead>(), Ok(head.clone()));
        assert!("6:abc".parse::<AuditHead>().is_err());
        assert!("x:".parse::<AuditHead>().is_err());
        fill(&store, 3);
        let report = store.verify_audit(Some(&head)).unwrap();
        assert!(report.ok());
        assert_eq!(report.expected_head.unwrap().result, HeadResult::Matches);

        // A whole log written anew (as its owner could): it holds, but not the head.
        let other = tempfile::tempdir().unwrap();
        let (forged, _) = StateStore::open(other.path()).unwrap();
        forged
            .record(&Event::new(Source::Gc, "remove").object("Sandbox", "x"))
            .unwrap();
        fill(&forged, 8);
        verified(&forged);
        let report = forged.verify_audit(Some(&head)).unwrap();
        assert_eq!(report.expected_head.unwrap().result, HeadResult::Differs);
        assert_eq!(
            (report.problems[0].row, report.problems[0].kind),
            (head.id, ProblemKind::Changed)
        );

        // Cut back to before the head: it is missing; a log that is gone altogether too.
        sql(
            &store,
            &format!("DELETE FROM events WHERE id >= {}", head.id),
        );
        let report = store.verify_audit(Some(&head)).unwrap();
        assert_eq!(report.expected_head.unwrap().result, HeadResult::Missing);
        let report = crate::store::AuditReport::without_log(Some(&head));
        assert_eq!(report.first_problem().unwrap().kind, ProblemKind::Missing);
        assert!(crate::store::AuditReport::without_log(None).ok());

        // Trimmed by retention since: it can no longer be checked, which is no problem.
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        store
            .set_retention(&Retention {
                history: Some(2),
                events: Some(2),
                journal: Some(2),
            })
            .unwrap();
        fill(&store, 3);
        let head = verified(&store).head.unwrap();
        fill(&store, 12);
        let report = store.verify_audit(Some(&head)).unwrap();
        assert!(report.ok(), "{:#?}", report.problems);
        assert_eq!(report.expected_head.unwrap().result, HeadResult::Trimmed);
    }

    /// An event log from before the hash chains (the schema as it was).
    const UNCHAINED_SCHEMA: &str = "
CREATE TABLE events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, source TEXT NOT NULL, kind TEXT, name TEXT, action TEXT NOT NULL, reason TEXT NOT NULL, outcome TEXT NOT NULL, error_category TEXT, error TEXT, duration_ms INTEGER, detail TEXT);
CREATE INDEX events_by_source ON events (source, id);
INSERT INTO events (id, time, source, kind, name, action, reason, outcome, duration_ms, detail) VALUES
  (4, '2026-01-01T00:00:01Z', 'apply', 'Sandbox', 'web', 'create', 'not found', 'ok', 12, NULL),
  (5, '2026-01-01T00:00:02Z', 'exec', 'Sandbox', 'web', 'exec', '', 'ok', 7, '{\"command\":[\"echo\",\"hi\"]}'),
  (7, '2026-01-01T00:00:03Z', 'controller', 'Sandbox', 'web', 'start', 'stopped', 'ok', NULL, NULL),
  (8, '2026-01-01T00:00:04Z', 'newer-source', NULL, NULL, 'x', '', 'ok', NULL, NULL),
  (9, '2026-01-01T00:00:05Z', 'exec', 'Sandbox', 'web', 'exec', '', 'failed', 3, NULL);
";

    #[test]
    fn an_event_log_without_hashes_is_chained_once_on_open() {
        let dir = tempfile::tempdir().unwrap();
        Connection::open(dir.path().join(FILE_NAME))
            .unwrap()
            .execute_batch(UNCHAINED_SCHEMA)
            .unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let report = verified(&store);
        assert_eq!(
            (report.rows, report.first_id, report.last_id),
            (5, Some(4), Some(9))
        );
        assert_eq!(report.logs["history"].rows, 2);
        assert_eq!(
            report.logs["events"].rows, 2,
            "an unknown source counts as events"
        );
        let head = report.head.clone().unwrap();
        drop(store);
        // Opening again chains nothing again; new rows chain on.
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(verified(&store).head, Some(head));
        fill(&store, 4);
        assert_eq!(verified(&store).rows, 9);
        // Tampering with a migrated row is named.
        sql(&store, "UPDATE events SET outcome = 'ok' WHERE id = 9");
        assert_eq!(first_problem(&store), (9, ProblemKind::Changed));
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
