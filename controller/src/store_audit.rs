//! The event log's hash chains (`pocket-dock audit verify`; docs/security-audit.md).
//!
//! Each retention class of the event log ([`Bounded`]: `history`, `events`, `journal`) is a
//! chain of its own, in id order, because retention trims each class from its start while the
//! rows of the others stay: a trim is then always a prefix of one chain. Every row holds:
//! - `prev_id`, `prev_hash`: the previous row of its chain (none, and [`GENESIS`], for the
//!   first row a chain ever had);
//! - `links`: the newest row (id and hash) of each *other* chain when it was written, so that
//!   the newest row commits to every chain, and deleting or rewriting one chain's rows shows
//!   in the rows of the others written after them;
//! - `checkpoint`: what a trim in the same transaction removed from its chain (the last
//!   trimmed row's id and hash, and how many rows): the vouch that lets the first remaining
//!   row of a chain name a predecessor that is gone;
//! - `hash`: SHA-256 of the row's canonical content ([`canonical`]: a JSON array of a version
//!   tag and the columns in [`CHAINED`] order, the previous hash included).
//!
//! The checkpoint rides on the row whose insert caused the trim (no extra rows); a trim that
//! no insert caused (a lowered retention, the migration from the old tables) appends a
//! checkpoint row of its own (source `audit`) to the chain it trimmed.
//!
//! Verification ([`verify`]) only reads: one pass over the rows in id order, in batches
//! inside one read transaction, keeping the last row of each chain (the checks themselves,
//! [`Verifier`], are pure; rows that links name out of order are looked up by id). It names
//! the lowest row that was changed, deleted, reordered, or that a checkpoint does not vouch
//! for.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use sha2::{Digest, Sha256};

use super::Bounded;

/// The previous hash of a chain's first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The first element of every canonical content: the format of the hash, so that a later
/// change of what is hashed can be told apart.
const VERSION: &str = "pocket-dock/event/v1";

/// The columns a row's hash covers, in canonical order (every column but `hash`).
pub(super) const CHAINED: [&str; 17] = [
    "id",
    "chain",
    "time",
    "source",
    "kind",
    "name",
    "action",
    "reason",
    "outcome",
    "error_category",
    "error",
    "duration_ms",
    "detail",
    "prev_id",
    "prev_hash",
    "links",
    "checkpoint",
];

const ID: usize = 0;
const CHAIN: usize = 1;
const PREV_ID: usize = 13;
const PREV_HASH: usize = 14;
const LINKS: usize = 15;
const CHECKPOINT: usize = 16;

/// The columns the chains add to the `events` table (for the migration).
pub(super) const ADDED_COLUMNS: &str = "
ALTER TABLE events ADD COLUMN chain TEXT;
ALTER TABLE events ADD COLUMN prev_id INTEGER;
ALTER TABLE events ADD COLUMN prev_hash TEXT;
ALTER TABLE events ADD COLUMN links TEXT;
ALTER TABLE events ADD COLUMN checkpoint TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
";

/// A value as JSON, whatever its SQLite type (a column changed to another type still
/// hashes, to something else).
fn json_of(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(i) => (*i).into(),
        Value::Real(f) => serde_json::json!({ "real": f.to_string() }),
        Value::Text(s) => s.clone().into(),
        Value::Blob(b) => serde_json::json!({ "blob": crate::engine::labels::hex(b) }),
    }
}

/// The canonical content of a row: `["pocket-dock/event/v1", id, chain, time, source, kind,
/// name, action, reason, outcome, error_category, error, duration_ms, detail, prev_id,
/// prev_hash, links, checkpoint]` as compact JSON (text as stored; `detail`, `links` and
/// `checkpoint` are JSON text themselves, hashed as the text stored).
pub(super) fn canonical(values: &[Value]) -> String {
    let mut array = vec![serde_json::Value::from(VERSION)];
    array.extend(values.iter().map(json_of));
    serde_json::Value::Array(array).to_string()
}

/// SHA-256 of the canonical content, as lowercase hex.
pub(super) fn digest(values: &[Value]) -> String {
    crate::engine::labels::hex(&Sha256::digest(canonical(values).as_bytes()))
}

/// What a trim removed from one chain: every row of it up to `through` (whose hash was
/// `hash`), `rows` of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Checkpoint {
    pub log: String,
    pub through: i64,
    pub hash: String,
    pub rows: i64,
}

/// The newest row (id, hash) of each chain.
fn heads(conn: &Connection) -> rusqlite::Result<BTreeMap<&'static str, (i64, String)>> {
    let mut heads = BTreeMap::new();
    let mut stmt = conn
        .prepare_cached("SELECT id, hash FROM events WHERE chain = ?1 ORDER BY id DESC LIMIT 1")?;
    for chain in Bounded::ALL {
        let head: Option<(i64, Option<String>)> = stmt
            .query_row(params![chain.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((id, hash)) = head {
            heads.insert(chain.as_str(), (id, hash.unwrap_or_default()));
        }
    }
    Ok(heads)
}

/// Sets a row's chain columns (`values` in [`CHAINED`] order, id set) from the chains'
/// `heads`, and returns its hash.
fn chain_row(
    values: &mut [Value],
    chain: Bounded,
    heads: &BTreeMap<&'static str, (i64, String)>,
    checkpoint: Option<&Checkpoint>,
) -> String {
    values[CHAIN] = Value::Text(chain.as_str().to_string());
    let (prev_id, prev_hash) = match heads.get(chain.as_str()) {
        Some((id, hash)) => (Value::Integer(*id), hash.clone()),
        None => (Value::Null, GENESIS.to_string()),
    };
    values[PREV_ID] = prev_id;
    values[PREV_HASH] = Value::Text(prev_hash);
    let links: BTreeMap<&str, &(i64, String)> = heads
        .iter()
        .filter(|(name, _)| **name != chain.as_str())
        .map(|(name, head)| (*name, head))
        .collect();
    values[LINKS] = if links.is_empty() {
        Value::Null
    } else {
        Value::Text(serde_json::json!(links).to_string())
    };
    values[CHECKPOINT] = match checkpoint {
        Some(c) => Value::Text(serde_json::json!(c).to_string()),
        None => Value::Null,
    };
    digest(values)
}

/// Appends a row of `chain` (`content`: the columns from `time` to `detail`), chained to the
/// newest rows read in the caller's write transaction. Returns its id.
pub(super) fn append(
    conn: &Connection,
    chain: Bounded,
    content: Vec<Value>,
    checkpoint: Option<&Checkpoint>,
) -> rusqlite::Result<i64> {
    let heads = heads(conn)?;
    let id: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM events", [], |r| {
        r.get(0)
    })?;
    let mut values = Vec::with_capacity(CHAINED.len() + 1);
    values.push(Value::Integer(id));
    values.push(Value::Null);
    values.extend(content);
    values.resize(CHAINED.len(), Value::Null);
    let hash = chain_row(&mut values, chain, &heads, checkpoint);
    values.push(Value::Text(hash));
    let placeholders = (1..=values.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    conn.execute(
        &format!(
            "INSERT INTO events ({}, hash) VALUES ({placeholders})",
            CHAINED.join(", ")
        ),
        params_from_iter(values),
    )?;
    Ok(id)
}

/// What keeping only the newest `keep` rows of `chain` would remove (nothing: `None`).
pub(super) fn plan_trim(
    conn: &Connection,
    chain: Bounded,
    keep: i64,
) -> rusqlite::Result<Option<Checkpoint>> {
    let last: Option<(i64, Option<String>)> = conn
        .query_row(
            "SELECT id, hash FROM events WHERE chain = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2",
            params![chain.as_str(), keep.max(0)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((through, hash)) = last else {
        return Ok(None);
    };
    let rows: i64 = conn.query_row(
        "SELECT COUNT(*) FROM events WHERE chain = ?1 AND id <= ?2",
        params![chain.as_str(), through],
        |r| r.get(0),
    )?;
    Ok(Some(Checkpoint {
        log: chain.as_str().to_string(),
        through,
        hash: hash.unwrap_or_default(),
        rows,
    }))
}

/// Deletes what `checkpoint` records as trimmed.
pub(super) fn delete_trimmed(conn: &Connection, checkpoint: &Checkpoint) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM events WHERE chain = ?1 AND id <= ?2",
        params![checkpoint.log, checkpoint.through],
    )?;
    Ok(())
}

fn has_column(conn: &Connection, column: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare("SELECT * FROM events LIMIT 0")?
        .column_names()
        .contains(&column))
}

/// Chains the rows of an event log written before the chains existed: adds the columns and
/// hashes every row in id order, each class a chain starting at its oldest row. Done once,
/// inside the write transaction of the schema migration step (`store_schema.rs`): a table
/// that has the `hash` column is left alone (a row without a hash written later is not
/// chained here: `verify` names it).
pub(super) fn chain_existing(tx: &Connection) -> rusqlite::Result<()> {
    if has_column(tx, "hash")? {
        return Ok(());
    }
    tx.execute_batch(ADDED_COLUMNS)?;
    let mut heads: BTreeMap<&'static str, (i64, String)> = BTreeMap::new();
    let mut update = tx.prepare(
        "UPDATE events SET chain = ?1, prev_id = ?2, prev_hash = ?3, links = ?4, checkpoint = ?5, hash = ?6 WHERE id = ?7",
    )?;
    let mut after = i64::MIN;
    loop {
        let rows = read_batch(tx, after)?;
        let Some(last) = rows.last() else { break };
        after = last.id();
        for mut row in rows {
            let chain = match &row.values[3] {
                Value::Text(source) => source
                    .parse::<super::Source>()
                    .map_or(Bounded::Events, super::Source::bounded_by),
                _ => Bounded::Events,
            };
            let hash = chain_row(&mut row.values, chain, &heads, None);
            update.execute(params![
                row.values[CHAIN],
                row.values[PREV_ID],
                row.values[PREV_HASH],
                row.values[LINKS],
                row.values[CHECKPOINT],
                hash,
                row.id(),
            ])?;
            heads.insert(chain.as_str(), (row.id(), hash));
        }
    }
    Ok(())
}

/// One stored row: the [`CHAINED`] columns as stored, and its `hash`.
#[derive(Debug, Clone)]
pub(super) struct StoredRow {
    values: Vec<Value>,
    hash: Option<String>,
}

impl StoredRow {
    fn id(&self) -> i64 {
        match self.values[ID] {
            Value::Integer(id) => id,
            _ => 0,
        }
    }

    fn text(&self, column: usize) -> Option<&str> {
        match &self.values[column] {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    fn int(&self, column: usize) -> Option<i64> {
        match self.values[column] {
            Value::Integer(i) => Some(i),
            _ => None,
        }
    }
}

/// Rows are read (and chained, and checked) this many at a time: memory stays bounded
/// whatever the retention.
const BATCH: i64 = 1000;

/// The next at most [`BATCH`] rows after id `after`, oldest first.
pub(super) fn read_batch(conn: &Connection, after: i64) -> rusqlite::Result<Vec<StoredRow>> {
    let sql = format!(
        "SELECT {}, hash FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
        CHAINED.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![after, BATCH], |r| {
        let mut values = Vec::with_capacity(CHAINED.len());
        for i in 0..CHAINED.len() {
            values.push(r.get::<_, Value>(i)?);
        }
        let hash = match r.get::<_, Value>(CHAINED.len())? {
            Value::Text(s) => Some(s),
            _ => None,
        };
        Ok(StoredRow { values, hash })
    })?;
    rows.collect()
}

/// What is wrong with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// Its content no longer matches its hash, or it was rewritten with a new hash that the
    /// rows after it do not record.
    Changed,
    /// It was deleted, and no checkpoint records it as trimmed by retention.
    Missing,
    /// It is not where the rows around it say it was.
    OutOfOrder,
    /// A checkpoint does not vouch for what was trimmed (or was tampered with).
    CheckpointInvalid,
    /// It has no hash: written after the chains began by something else (an older
    /// pocket-dock, or by hand).
    Unchained,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Changed => "changed",
            ProblemKind::Missing => "missing",
            ProblemKind::OutOfOrder => "out-of-order",
            ProblemKind::CheckpointInvalid => "checkpoint-invalid",
            ProblemKind::Unchained => "unchained",
        }
    }
}

/// One row that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditProblem {
    /// The row (its id) that was changed, deleted, reordered, or the checkpoint row.
    pub row: i64,
    pub kind: ProblemKind,
    pub message: String,
}

/// One chain's summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditLog {
    pub rows: u64,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    /// Every row of this log up to this id was trimmed by retention (the latest checkpoint).
    pub trimmed_through: Option<i64>,
}

/// The newest row: its hash commits to every chain (record it elsewhere to detect a
/// rewrite of the whole file later).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditHead {
    pub id: i64,
    pub hash: String,
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditReport {
    /// Rows checked.
    pub rows: u64,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    /// Checkpoints seen (rows that record a trim).
    pub checkpoints: u64,
    pub head: Option<AuditHead>,
    /// Per log (retention class): `history`, `events`, `journal`.
    pub logs: BTreeMap<String, AuditLog>,
    /// What breaks the chain, lowest row first (the first one is the one to look at); at
    /// most [`MAX_PROBLEMS`].
    pub problems: Vec<AuditProblem>,
    /// The check of a head recorded earlier (`--expect-head`), when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_head: Option<HeadCheck>,
}

/// A head recorded earlier, checked against the log as it is now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeadCheck {
    pub id: i64,
    pub hash: String,
    pub result: HeadResult,
}

/// What became of a head recorded earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadResult {
    /// The row is there with that hash: nothing up to it was rewritten since.
    Matches,
    /// The row is there with another hash: the chain was rewritten (a problem).
    Differs,
    /// The row is gone and no checkpoint records it as trimmed (a problem).
    Missing,
    /// Retention trimmed it since: it can no longer be checked (record a newer head).
    Trimmed,
}

impl std::str::FromStr for AuditHead {
    type Err = String;

    /// `ROW:SHA256`, as `audit verify` prints the head (`sha256:` before the hash is allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "{s:?}: give the head as ROW:SHA256 (e.g. 42:9f86d081...; `audit verify` prints it)"
            )
        };
        let (id, hash) = s.split_once(':').ok_or_else(bad)?;
        let hash = hash.strip_prefix("sha256:").unwrap_or(hash);
        let id = id
            .trim_start_matches("row")
            .trim()
            .parse::<i64>()
            .map_err(|_| bad())?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(AuditHead {
            id,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// At most this many problems are listed.
pub const MAX_PROBLEMS: usize = 20;

impl AuditReport {
    /// The report on a workspace with no event log at all: it holds, unless a head was
    /// recorded earlier (then that row is missing).
    pub fn without_log(expected_head: Option<&AuditHead>) -> AuditReport {
        Verifier::new(BTreeMap::new()).finish(expected_head, &mut |_| None)
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first row that breaks the chain.
    pub fn first_problem(&self) -> Option<&AuditProblem> {
        self.problems.first()
    }

    /// The category of a broken chain (the state store's: exit 4); `None` when it holds.
    pub fn category(&self) -> Option<crate::Category> {
        (!self.ok()).then_some(crate::Category::Storage)
    }

    /// What to do about a broken chain.
    pub fn hint(&self) -> Option<&'static str> {
        (!self.ok()).then_some(
            "the event log in .pocket-dock/state.db was edited outside pocket-dock (or written by an older version, or damaged): \
             keep a copy of the file as evidence, compare the row with a backup or an exported head hash, \
             and find out who can write the file; pocket-dock keeps appending, and later rows chain on from the newest row",
        )
    }
}

/// Checks every chain of the event log in `conn` and that `expected_head` (recorded
/// earlier) is still in it: see the module comment. One read transaction (one consistent
/// snapshot), read in batches: memory stays bounded whatever the retention.
pub(super) fn verify(
    conn: &Connection,
    expected_head: Option<&AuditHead>,
) -> rusqlite::Result<AuditReport> {
    let tx = conn.unchecked_transaction()?;
    let mut verifier = Verifier::new(latest_checkpoints(&tx)?);
    let mut lookup_stmt = tx.prepare("SELECT chain, hash FROM events WHERE id = ?1")?;
    let mut lookup = |id: i64| -> Option<Seen> {
        lookup_stmt
            .query_row(params![id], |r| {
                Ok(Seen {
                    chain: r.get(0).ok(),
                    hash: r.get(1).ok(),
                })
            })
            .ok()
    };
    let mut after = i64::MIN;
    loop {
        let rows = read_batch(&tx, after)?;
        let Some(last) = rows.last() else { break };
        after = last.id();
        for row in &rows {
            verifier.row(row, &mut lookup);
        }
    }
    let report = verifier.finish(expected_head, &mut lookup);
    drop(lookup_stmt);
    tx.finish()?;
    Ok(report)
}

/// The newest checkpoint of each chain that is one pocket-dock writes, with its row id.
fn latest_checkpoints(conn: &Connection) -> rusqlite::Result<BTreeMap<String, (i64, Checkpoint)>> {
    let mut stmt = conn.prepare(
        "SELECT id, chain, checkpoint FROM events WHERE id IN (SELECT MAX(id) FROM events WHERE checkpoint IS NOT NULL GROUP BY chain)",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<String>>(1).ok().flatten(),
            r.get::<_, Option<String>>(2).ok().flatten(),
        ))
    })?;
    let mut latest = BTreeMap::new();
    for row in rows {
        let (id, chain, text) = row?;
        if let Some(c) = text.and_then(|t| valid_checkpoint(&t, chain.as_deref(), id)) {
            latest.insert(c.log.clone(), (id, c));
        }
    }
    Ok(latest)
}

/// The checkpoint in `text`, if it is one pocket-dock writes for row `id` of `chain`.
fn valid_checkpoint(text: &str, chain: Option<&str>, id: i64) -> Option<Checkpoint> {
    serde_json::from_str::<Checkpoint>(text)
        .ok()
        .filter(|c| Some(c.log.as_str()) == chain && c.through < id)
}

/// A row looked up by id: its chain and hash.
struct Seen {
    chain: Option<String>,
    hash: Option<String>,
}

/// The last row seen of a chain.
#[derive(Clone)]
struct Last {
    id: i64,
    hash: Option<String>,
}

/// The state of one pass over the rows, oldest first.
struct Verifier {
    latest: BTreeMap<String, (i64, Checkpoint)>,
    last: BTreeMap<String, Last>,
    logs: BTreeMap<String, AuditLog>,
    problems: Vec<AuditProblem>,
    rows: u64,
    first_id: Option<i64>,
    head: Option<AuditHead>,
    checkpoints: u64,
}

impl Verifier {
    fn new(latest: BTreeMap<String, (i64, Checkpoint)>) -> Verifier {
        Verifier {
            latest,
            last: BTreeMap::new(),
            logs: BTreeMap::new(),
            problems: Vec::new(),
            rows: 0,
            first_id: None,
            head: None,
            checkpoints: 0,
        }
    }

    fn problem(&mut self, row: i64, kind: ProblemKind, message: String) {
        self.problems.push(AuditProblem { row, kind, message });
        // Bounded, whatever is wrong: only the lowest rows are kept.
        if self.problems.len() > 10 * MAX_PROBLEMS {
            self.tidy();
        }
    }

    fn tidy(&mut self) {
        self.problems.sort_by_key(|p| (p.row, p.kind));
        self.problems
            .dedup_by(|a, b| a.row == b.row && a.kind == b.kind);
        self.problems.truncate(MAX_PROBLEMS);
    }

    fn trimmed_through(&self, log: &str) -> Option<i64> {
        self.latest.get(log).map(|(_, c)| c.through)
    }

    fn missing(id: i64, log: &str, why: &str) -> String {
        format!(
            "row {id} of the {log} log is missing: it was deleted ({why}), and no checkpoint records it as trimmed by retention"
        )
    }

    /// Checks `row`, the next one in id order.
    fn row(&mut self, row: &StoredRow, lookup: &mut dyn FnMut(i64) -> Option<Seen>) {
        let id = row.id();
        self.rows += 1;
        self.first_id.get_or_insert(id);
        self.head = Some(AuditHead {
            id,
            hash: row.hash.clone().unwrap_or_default(),
        });

        // Its own hash.
        match &row.hash {
            None => self.problem(
                id,
                ProblemKind::Unchained,
                format!(
                    "row {id} has no hash: it was written by something other than this pocket-dock (an older version, or by hand)"
                ),
            ),
            Some(hash) if *hash != digest(&row.values) => self.problem(
                id,
                ProblemKind::Changed,
                format!("row {id} was changed: its content does not match its hash"),
            ),
            Some(_) => {}
        }
        if let Some(text) = row.text(CHECKPOINT) {
            self.checkpoints += 1;
            if valid_checkpoint(text, row.text(CHAIN), id).is_none() {
                self.problem(
                    id,
                    ProblemKind::CheckpointInvalid,
                    format!("row {id} holds a checkpoint that is not one pocket-dock writes"),
                );
            }
        }
        self.links(row, lookup);
        let Some(log) = row.text(CHAIN).map(str::to_string) else {
            return;
        };
        self.follows(row, &log, lookup);
        self.last.insert(
            log.clone(),
            Last {
                id,
                hash: row.hash.clone(),
            },
        );
        let summary = self.logs.entry(log.clone()).or_insert(AuditLog {
            rows: 0,
            first_id: Some(id),
            last_id: None,
            trimmed_through: None,
        });
        summary.rows += 1;
        summary.last_id = Some(id);
    }

    /// `row` against the previous row of its chain `log` (or, for the first row left, the
    /// chain's newest checkpoint).
    fn follows(&mut self, row: &StoredRow, log: &str, lookup: &mut dyn FnMut(i64) -> Option<Seen>) {
        let id = row.id();
        let prev_id = row.int(PREV_ID);
        let prev_hash = row.text(PREV_HASH).unwrap_or_default().to_string();
        let Some(before) = self.last.get(log).cloned() else {
            let latest = self.latest.get(log).cloned();
            match (prev_id, latest) {
                (None, None) if prev_hash == GENESIS => {}
                (None, None) => self.problem(
                    id,
                    ProblemKind::OutOfOrder,
                    format!("row {id} starts the {log} log but names a previous hash"),
                ),
                (None, Some((at, c))) => self.problem(
                    at,
                    ProblemKind::CheckpointInvalid,
                    format!(
                        "checkpoint row {at} says rows of the {log} log up to {} were trimmed, but row {id} starts the log",
                        c.through
                    ),
                ),
                (Some(p), _) if lookup(p).is_some() => self.problem(
                    id,
                    ProblemKind::OutOfOrder,
                    format!("row {id} follows row {p}, which is not a row of the {log} log"),
                ),
                (Some(p), None) => self.problem(
                    p,
                    ProblemKind::Missing,
                    Self::missing(p, log, &format!("row {id}, the oldest left, follows it")),
                ),
                (Some(p), Some((_, c))) if p > c.through => self.problem(
                    p,
                    ProblemKind::Missing,
                    Self::missing(
                        p,
                        log,
                        &format!(
                            "row {id}, the oldest left, follows it; the latest checkpoint covers up to row {}",
                            c.through
                        ),
                    ),
                ),
                (Some(p), Some((at, c))) if p < c.through || prev_hash != c.hash => self.problem(
                    at,
                    ProblemKind::CheckpointInvalid,
                    format!(
                        "checkpoint row {at} says rows of the {log} log up to {} (hash {}) were trimmed, but the oldest row left, {id}, follows row {p} (hash {})",
                        c.through,
                        short(&c.hash),
                        short(&prev_hash)
                    ),
                ),
                (Some(_), Some(_)) => {}
            }
            return;
        };
        match prev_id {
            Some(p) if p == before.id => {
                if before.hash.as_deref().is_some_and(|h| h != prev_hash) {
                    self.problem(
                        p,
                        ProblemKind::Changed,
                        format!(
                            "row {p} was changed: its hash is not the one the next row of the {log} log ({id}) recorded for it"
                        ),
                    );
                }
            }
            Some(p) if p > before.id && lookup(p).is_some() => self.problem(
                id,
                ProblemKind::OutOfOrder,
                format!("row {id} follows row {p}, which is not a row of the {log} log"),
            ),
            Some(p) if p > before.id => self.problem(
                p,
                ProblemKind::Missing,
                Self::missing(
                    p,
                    log,
                    &format!(
                        "row {id} follows it; the row before it that is left is {}",
                        before.id
                    ),
                ),
            ),
            _ => self.problem(
                before.id,
                ProblemKind::OutOfOrder,
                format!(
                    "row {} is out of order: the next row of the {log} log ({id}) does not follow it",
                    before.id
                ),
            ),
        }
    }

    /// `row`'s links: the newest row of each other chain when it was written.
    fn links(&mut self, row: &StoredRow, lookup: &mut dyn FnMut(i64) -> Option<Seen>) {
        let Some(text) = row.text(LINKS) else {
            return;
        };
        let id = row.id();
        let Ok(links) = serde_json::from_str::<BTreeMap<String, (i64, String)>>(text) else {
            self.problem(
                id,
                ProblemKind::Changed,
                format!("row {id} holds links that are not ones pocket-dock writes"),
            );
            return;
        };
        for (log, (linked, hash)) in links {
            if linked >= id || Some(log.as_str()) == row.text(CHAIN) {
                self.problem(
                    id,
                    ProblemKind::OutOfOrder,
                    format!("row {id} names row {linked} as the newest row of the {log} log, which it cannot be"),
                );
                continue;
            }
            let last = self.last.get(&log).cloned();
            if let Some(last) = last.as_ref().filter(|l| l.id == linked) {
                if last.hash.as_deref().is_some_and(|h| h != hash) {
                    self.problem(
                        linked,
                        ProblemKind::Changed,
                        format!(
                            "row {linked} was changed: its hash is not the one row {id} recorded for it"
                        ),
                    );
                }
                continue;
            }
            match lookup(linked) {
                Some(seen) if seen.chain.as_deref() != Some(log.as_str()) => self.problem(
                    id,
                    ProblemKind::OutOfOrder,
                    format!("row {id} names row {linked} as the newest row of the {log} log, but it is not one"),
                ),
                Some(seen) => {
                    if seen.hash.as_deref().is_some_and(|h| h != hash) {
                        self.problem(
                            linked,
                            ProblemKind::Changed,
                            format!(
                                "row {linked} was changed: its hash is not the one row {id} recorded for it"
                            ),
                        );
                    }
                    // A row of that log is between the one named and this one.
                    if let Some(last) = last {
                        self.problem(
                            last.id,
                            ProblemKind::OutOfOrder,
                            format!(
                                "row {} is out of order: row {id}, written after it, names row {linked} as the newest row of the {log} log",
                                last.id
                            ),
                        );
                    }
                }
                None if self.trimmed_through(&log).is_some_and(|t| linked <= t) => {}
                None => self.problem(
                    linked,
                    ProblemKind::Missing,
                    Self::missing(
                        linked,
                        &log,
                        &format!("row {id} recorded it as the newest row of that log"),
                    ),
                ),
            }
        }
    }

    /// The report, with the check of a head recorded earlier.
    fn finish(
        mut self,
        expected_head: Option<&AuditHead>,
        lookup: &mut dyn FnMut(i64) -> Option<Seen>,
    ) -> AuditReport {
        // Everything up to a head recorded earlier is unchanged if its hash is.
        let expected_head = expected_head.map(|expected| {
            let id = expected.id;
            let result = match lookup(id) {
                Some(seen) if seen.hash.as_deref() == Some(expected.hash.as_str()) => {
                    HeadResult::Matches
                }
                Some(_) => {
                    self.problem(
                        id,
                        ProblemKind::Changed,
                        format!(
                            "row {id} is not the row recorded as the head earlier (hash {}): the log was rewritten up to there",
                            short(&expected.hash)
                        ),
                    );
                    HeadResult::Differs
                }
                None if self.latest.values().any(|(_, c)| c.through >= id) => HeadResult::Trimmed,
                None => {
                    self.problem(
                        id,
                        ProblemKind::Missing,
                        format!(
                            "row {id}, recorded as the head earlier, is gone, and no checkpoint records it as trimmed by retention"
                        ),
                    );
                    HeadResult::Missing
                }
            };
            HeadCheck {
                id,
                hash: expected.hash.clone(),
                result,
            }
        });
        self.tidy();
        for (log, summary) in &mut self.logs {
            summary.trimmed_through = self.latest.get(log).map(|(_, c)| c.through);
        }
        AuditReport {
            rows: self.rows,
            first_id: self.first_id,
            last_id: self.head.as_ref().map(|h| h.id),
            checkpoints: self.checkpoints,
            head: self.head,
            logs: self.logs,
            problems: self.problems,
            expected_head,
        }
    }
}

/// The first 12 hex digits of a hash, for messages.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
