//! The state store's schema version and its migrations.
//!
//! The version is SQLite's `PRAGMA user_version` (the 4 bytes at offset 60 of the file's
//! header): readable before anything is written, and changed in the same transaction as the
//! tables. 0 is what SQLite gives a database nobody numbered: an empty one (made now, at
//! [`SCHEMA_VERSION`] directly) or one of 0.1.0 and the builds before it, recognised by its
//! tables and brought forward by the first step.
//!
//! Each [`Step`] goes from one version to the next inside one `BEGIN IMMEDIATE` transaction
//! that also sets the new version: a crash, a full disk or a failed step leaves the version
//! (and every table) as it was, and the next open starts that step again. The version is read
//! again under the write lock, so of two processes opening an old database at once, only the
//! first migrates; the other finds it done.
//!
//! A database of a newer version than [`SCHEMA_VERSION`] is refused by
//! [`super::StateStore`] before anything writes to it (see `open_at`).
//!
//! Adding a version: raise [`SCHEMA_VERSION`], append a step to [`STEPS`], change the
//! `CREATE` statements that [`create`] runs to the new layout (the steps before keep the
//! layout they were written for: give them frozen copies of any statement that changes), and
//! add a fixture made by the release before (`controller/tests/fixtures/README.md`). The tests
//! check that the steps are contiguous, and that a migrated fixture has exactly the layout of
//! a new database.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

/// The version of the layout this build writes, and the newest it can open.
pub const SCHEMA_VERSION: u32 = 1;

/// One migration: from version `to - 1` to `to`, run inside the caller's transaction.
pub(super) struct Step {
    pub to: u32,
    /// What it migrates from, for the log.
    pub from_what: &'static str,
    pub run: fn(&Connection) -> rusqlite::Result<()>,
}

/// Every step, in order: `STEPS[i].to == i + 1`.
pub(super) const STEPS: &[Step] = &[Step {
    to: 1,
    from_what: "the unversioned layout of 0.1.0 and earlier builds",
    run: from_unversioned,
}];

/// The layout of [`SCHEMA_VERSION`], made in an empty database.
pub(super) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(super::SCHEMA)?;
    conn.execute_batch(super::GENERATIONS_SCHEMA)?;
    conn.execute_batch(super::lifetime::LIFETIME_SCHEMA)?;
    conn.execute_batch(super::events::SCHEMA)?;
    conn.execute_batch(super::events::CHAIN_INDEX)
}

/// 0 → 1. A database that 0.1.0 (or a build before it) made: what those builds did on every
/// open, once more. The tables a build before them lacked are made, the old event tables
/// (`journal`, `history`, the controller's `events`) become the event log, and an event log
/// without hashes is chained. On a database of 0.1.0 itself this changes nothing but the
/// version. (The layout of version 1 is today's: while it is the newest, these are the same
/// statements [`create`] runs.)
fn from_unversioned(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(super::SCHEMA)?;
    conn.execute_batch(super::GENERATIONS_SCHEMA)?;
    conn.execute_batch(super::lifetime::LIFETIME_SCHEMA)?;
    super::events::migrate(conn)
}

/// The stored schema version (negative only when someone else wrote it).
pub(super) fn read_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn write_version(conn: &Connection, version: u32) -> rusqlite::Result<()> {
    conn.execute_batch(&format!("PRAGMA user_version = {version}"))
}

/// Whether the database has no table, index, view or trigger at all.
fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT 1 FROM sqlite_master LIMIT 1", [], |_| Ok(()))
        .optional()
        .map(|found| found.is_none())
}

/// What [`upgrade`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Upgraded {
    /// The database is at the target version now (made, migrated, or already there).
    Current,
    /// Another process made it newer than the target between the caller's first look and
    /// the write lock: nothing was written.
    Newer(i64),
}

/// Brings the database to `target` through `steps` (an empty one is made by `create`), one
/// write transaction per step. Only called when the caller saw an older version; the version
/// is read again under each transaction's write lock.
pub(super) fn upgrade(
    conn: &Connection,
    steps: &[Step],
    target: u32,
    create: fn(&Connection) -> rusqlite::Result<()>,
) -> rusqlite::Result<Upgraded> {
    loop {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let version = read_version(&tx)?;
        if version == i64::from(target) {
            return Ok(Upgraded::Current);
        }
        if version > i64::from(target) || version < 0 {
            // Dropped, not committed: nothing was written.
            return Ok(Upgraded::Newer(version));
        }
        if version == 0 && is_empty(&tx)? {
            create(&tx)?;
            write_version(&tx, target)?;
            tx.commit()?;
            tracing::debug!(version = target, "state store created");
            return Ok(Upgraded::Current);
        }
        let Some(step) = steps.iter().find(|s| i64::from(s.to) == version + 1) else {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERNAL),
                Some(format!(
                    "no migration of the state store from schema version {version}"
                )),
            ));
        };
        (step.run)(&tx)?;
        write_version(&tx, step.to)?;
        tx.commit()?;
        tracing::info!(
            from = version,
            to = step.to,
            what = step.from_what,
            "state store migrated"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FILE_NAME, StateStore, StoreErrorKind};
    use super::*;
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    /// A workspace state folder holding a copy of fixture `name` as its `state.db`.
    fn copy_of(name: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(fixture(name), dir.path().join(FILE_NAME)).unwrap();
        dir
    }

    fn raw(dir: &Path) -> Connection {
        Connection::open(dir.join(FILE_NAME)).unwrap()
    }

    fn version_of(dir: &Path) -> i64 {
        read_version(&raw(dir)).unwrap()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every table and index, with each table's columns (name, type, not null, default,
    /// primary key position) and each index's columns: what a step must get right.
    fn layout(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap();
        let objects: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut out = Vec::new();
        for (kind, name, table) in objects {
            let pragma = if kind == "table" {
                "table_info"
            } else {
                "index_info"
            };
            let mut cols = conn
                .prepare(&format!("PRAGMA {pragma}(\"{name}\")"))
                .unwrap();
            let count = cols.column_count();
            let columns: Vec<String> = cols
                .query_map([], |r| {
                    let values: Vec<String> = (0..count)
                        .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                        .collect();
                    Ok(values.join(" "))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            out.push(format!("{kind} {name} on {table}: {}", columns.join(", ")));
        }
        out
    }

    #[test]
    fn the_steps_are_contiguous_and_end_at_the_current_version() {
        for (i, step) in STEPS.iter().enumerate() {
            assert_eq!(step.to as usize, i + 1, "{}", step.from_what);
        }
        assert_eq!(STEPS.last().map(|s| s.to), Some(SCHEMA_VERSION));
    }

    #[test]
    fn a_new_database_is_made_at_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        drop(store);
        assert_eq!(version_of(dir.path()), i64::from(SCHEMA_VERSION));
    }

    /// The fixture 0.1.0 wrote (`controller/tests/state_fixture.rs`): every row it put there
    /// is read back by today's code, and the database is numbered.
    #[test]
    fn the_database_of_0_1_0_opens_migrated_with_its_rows() {
        let dir = copy_of("state-0.1.0.db");
        assert_eq!(version_of(dir.path()), 0, "the fixture is unversioned");
        let (store, warning) = StateStore::open(dir.path()).unwrap();
        assert_eq!(warning, None);
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_release_rows(&store);
        drop(store);

        // Open again: nothing to do, the same rows.
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_release_rows(&store);
    }

    /// The rows `make_state_fixture` writes.
    fn assert_release_rows(store: &StateStore) {
        use super::super::{Bounded, EventQuery};
        let instances = store.instances().unwrap();
        let names: Vec<(&str, &str)> = instances
            .iter()
            .map(|i| (i.kind.as_str(), i.name.as_str()))
            .collect();
        assert_eq!(names, [("Sandbox", "web"), ("Volume", "data")]);
        assert_eq!(instances[0].container_id.as_deref(), Some("c0ffee"));
        assert_eq!(
            instances[0].created_at.as_deref(),
            Some("2026-01-01T00:00:01Z")
        );
        let snapshots = store.snapshots().unwrap();
        assert_eq!(
            snapshots,
            [(
                "warm".to_string(),
                "1".to_string(),
                "localhost/pocket-dock/warm:gen-1".to_string(),
                "sha256:1111".to_string()
            )]
        );
        let sessions = store.sessions().unwrap();
        assert_eq!(sessions, [("s-1".to_string(), "web".to_string(), 4242, 99)]);
        let restarts = store.restarts().unwrap();
        assert_eq!(restarts["web"].restart_count, 3);
        assert_eq!(restarts["web"].backoff_ms, 40_000);
        let hooks = store.hook_failures().unwrap();
        assert_eq!(hooks["web"].argv, ["make", "setup"]);
        assert_eq!(hooks["web"].exit_code, Some(7));
        let pauses = store.pauses().unwrap();
        assert_eq!(pauses["web"].by, "pocket-dock pause");
        let lifetimes = store.lifetimes().unwrap();
        assert_eq!(lifetimes["web"].document_hash, "sha256:cccc");
        assert_eq!(
            lifetimes["web"].expiry.as_ref().map(|e| e.message.as_str()),
            Some("idle for 30m")
        );
        let activity = store.activity().unwrap();
        assert!(activity.contains_key("web"), "{activity:?}");
        let generation = store.generation("Sandbox", "web").unwrap().unwrap();
        assert_eq!(
            (generation.spec_hash.as_str(), generation.generation),
            ("sha256:abab", 2)
        );
        let last_valid = store.last_valid().unwrap();
        let files: Vec<String> = last_valid
            .files
            .keys()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].ends_with("data.yaml"), "{files:?}");
        let objects = &last_valid.files.values().next().unwrap().objects;
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].metadata.name, "data");
        assert_eq!(store.retention(Bounded::History).unwrap(), 500);
        assert_eq!(store.retention(Bounded::Journal).unwrap(), 700);
        assert_eq!(
            store.retention(Bounded::Events).unwrap(),
            super::super::DEFAULT_RETENTION
        );
        let events = store
            .events(&EventQuery {
                limit: 100,
                ..EventQuery::default()
            })
            .unwrap();
        let summary: Vec<(&str, String, &str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e.source.as_str(),
                    e.object(),
                    e.action.as_str(),
                    e.outcome.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("apply", "Sandbox/web".to_string(), "create", "ok"),
                ("controller", "Sandbox/web".to_string(), "start", "ok"),
                ("gc", "Volume/old".to_string(), "remove", "skipped"),
                ("exec", "Sandbox/web".to_string(), "exec", "ok"),
            ]
        );
        let history = store.history(Some("web"), 10).unwrap();
        assert_eq!(history[0].command, ["echo", "hi there"]);
        // The hash chains 0.1.0 wrote still verify.
        let report = store.verify_audit(None).unwrap();
        assert!(report.ok(), "{:#?}", report.problems);
        assert_eq!(report.rows, 4);
    }

    #[test]
    fn a_migrated_database_has_exactly_the_layout_of_a_new_one() {
        let fresh = tempfile::tempdir().unwrap();
        drop(StateStore::open(fresh.path()).unwrap());
        let expected = layout(&raw(fresh.path()));
        assert!(
            expected.iter().any(|l| l.starts_with("table events ")),
            "{expected:#?}"
        );
        for name in ["state-0.1.0.db", "state-v1.db"] {
            let dir = copy_of(name);
            drop(StateStore::open(dir.path()).unwrap());
            assert_eq!(layout(&raw(dir.path())), expected, "{name}");
        }
    }

    /// The fixture this release writes (for the next release's tests): already current, so
    /// opening it writes nothing at all.
    #[test]
    fn a_current_database_is_opened_as_it_is() {
        let dir = copy_of("state-v1.db");
        assert_eq!(version_of(dir.path()), i64::from(SCHEMA_VERSION));
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_release_rows(&store);
    }

    /// A database at version 1 with a `runs` table: each test step appends a row to it, so
    /// that the rows say which steps ran, and how often.
    fn at_version_1() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open(dir.path()).unwrap());
        raw(dir.path())
            .execute_batch("CREATE TABLE runs (step INTEGER NOT NULL)")
            .unwrap();
        dir
    }

    fn runs(dir: &Path) -> Vec<i64> {
        let conn = raw(dir);
        let mut stmt = conn
            .prepare("SELECT step FROM runs ORDER BY rowid")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn no_create(_: &Connection) -> rusqlite::Result<()> {
        panic!("only an empty database is created")
    }

    fn to_2(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch("INSERT INTO runs VALUES (2); CREATE TABLE two (x)")
    }

    fn to_3(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch("INSERT INTO runs VALUES (3); CREATE TABLE three (x)")
    }

    /// Writes, then fails, as a step that finds what it did not expect (or a full disk) does.
    fn to_3_failing(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch("INSERT INTO runs VALUES (3); CREATE TABLE three (x); DROP TABLE two")?;
        conn.execute_batch("INSERT INTO no_such_table VALUES (1)")
    }

    const STEPS_TO_3: [Step; 3] = [
        Step {
            to: 1,
            from_what: "(test) nothing",
            run: no_create,
        },
        Step {
            to: 2,
            from_what: "(test) 1",
            run: to_2,
        },
        Step {
            to: 3,
            from_what: "(test) 2",
            run: to_3,
        },
    ];

    fn upgrade_at(dir: &Path, steps: &[Step], target: u32) -> rusqlite::Result<Upgraded> {
        let conn = raw(dir);
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        upgrade(&conn, steps, target, no_create)
    }

    #[test]
    fn each_step_runs_once_in_order_and_sets_its_version() {
        let dir = at_version_1();
        assert_eq!(
            upgrade_at(dir.path(), &STEPS_TO_3, 3).unwrap(),
            Upgraded::Current
        );
        assert_eq!(runs(dir.path()), [2, 3]);
        assert_eq!(version_of(dir.path()), 3);
        // Done: again is nothing.
        upgrade_at(dir.path(), &STEPS_TO_3, 3).unwrap();
        assert_eq!(runs(dir.path()), [2, 3]);
        // A binary that knows only up to 2 finds it newer, under the lock, and writes nothing.
        assert_eq!(
            upgrade_at(dir.path(), &STEPS_TO_3[..2], 2).unwrap(),
            Upgraded::Newer(3)
        );
    }

    #[test]
    fn a_failed_step_leaves_the_version_and_tables_of_the_step_before() {
        let dir = at_version_1();
        let failing = [
            Step {
                to: 1,
                from_what: "(test) nothing",
                run: no_create,
            },
            Step {
                to: 2,
                from_what: "(test) 1",
                run: to_2,
            },
            Step {
                to: 3,
                from_what: "(test) 2, failing",
                run: to_3_failing,
            },
        ];
        let before = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap();
        assert!(before.len() > 0);
        assert!(upgrade_at(dir.path(), &failing, 3).is_err());
        // Step 2 committed; step 3 rolled back whole: its row, its new table, the table it
        // dropped.
        assert_eq!(version_of(dir.path()), 2);
        assert_eq!(runs(dir.path()), [2]);
        let tables = layout(&raw(dir.path()));
        assert!(
            tables.iter().any(|t| t.starts_with("table two ")),
            "{tables:#?}"
        );
        assert!(
            !tables.iter().any(|t| t.starts_with("table three ")),
            "{tables:#?}"
        );
        // The next open (with the step fixed) starts again at step 3.
        upgrade_at(dir.path(), &STEPS_TO_3, 3).unwrap();
        assert_eq!(runs(dir.path()), [2, 3]);
        assert_eq!(version_of(dir.path()), 3);
    }

    #[test]
    fn a_step_that_is_missing_is_an_error_that_writes_nothing() {
        let dir = at_version_1();
        let gap = [
            Step {
                to: 1,
                from_what: "(test) nothing",
                run: no_create,
            },
            Step {
                to: 3,
                from_what: "(test) 2",
                run: to_3,
            },
        ];
        let err = upgrade_at(dir.path(), &gap, 3).unwrap_err();
        assert!(err.to_string().contains("from schema version 1"), "{err}");
        assert_eq!(version_of(dir.path()), 1);
        assert!(runs(dir.path()).is_empty());
    }

    /// Two openers that both saw the old version: the second takes the write lock after the
    /// first committed, reads the version again, and does nothing.
    #[test]
    fn a_second_opener_that_saw_the_old_version_does_not_migrate_again() {
        let dir = at_version_1();
        let late = raw(dir.path());
        assert_eq!(read_version(&late).unwrap(), 1, "it saw the old version");
        upgrade_at(dir.path(), &STEPS_TO_3, 3).unwrap();
        assert_eq!(
            upgrade(&late, &STEPS_TO_3, 3, no_create).unwrap(),
            Upgraded::Current
        );
        assert_eq!(runs(dir.path()), [2, 3]);
    }

    /// Many openers at once (threads, each with its own connection, as processes have): every
    /// one ends at the target version, and each step ran once.
    #[test]
    fn concurrent_openers_migrate_once() {
        let dir = at_version_1();
        let path = dir.path().to_path_buf();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let conn = raw(&path);
                    conn.busy_timeout(std::time::Duration::from_secs(30))
                        .unwrap();
                    let seen = read_version(&conn).unwrap();
                    barrier.wait();
                    (seen, upgrade(&conn, &STEPS_TO_3, 3, no_create).unwrap())
                })
            })
            .collect();
        for handle in handles {
            let (seen, upgraded) = handle.join().unwrap();
            assert_eq!(seen, 1, "every opener saw the old version");
            assert_eq!(upgraded, Upgraded::Current);
        }
        assert_eq!(runs(dir.path()), [2, 3]);
        assert_eq!(version_of(dir.path()), 3);
    }

    /// The same through `StateStore::open`, on the database 0.1.0 wrote: every process-like
    /// opener gets a working store, and the event log is not migrated (chained, copied)
    /// twice.
    #[test]
    fn concurrent_opens_of_the_release_database_all_succeed_once() {
        let dir = copy_of("state-0.1.0.db");
        let path = dir.path().to_path_buf();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let (store, _) = StateStore::open(&path).unwrap();
                    store.schema_version().unwrap()
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), SCHEMA_VERSION);
        }
        let (store, _) = StateStore::open(&path).unwrap();
        assert_release_rows(&store);
    }

    /// A database of a newer version than this build knows: both ways of opening refuse it,
    /// naming both versions and what to do, and not one byte of it changes; nothing is made
    /// beside it, nothing is moved aside.
    #[test]
    fn a_newer_database_is_refused_and_never_touched() {
        // In WAL mode (as pocket-dock leaves it) and not (a newer release may choose
        // otherwise: switching it to WAL would be a write).
        for journal_mode in ["WAL", "DELETE"] {
            refused_untouched(journal_mode);
        }
    }

    fn refused_untouched(journal_mode: &str) {
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open(dir.path()).unwrap());
        let newer = SCHEMA_VERSION + 1;
        {
            let conn = raw(dir.path());
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = {journal_mode}; PRAGMA user_version = {newer}; CREATE TABLE future (x); INSERT INTO future VALUES (1)"
            ))
            .unwrap();
        }
        let db = dir.path().join(FILE_NAME);
        let bytes = std::fs::read(&db).unwrap();
        let modified = std::fs::metadata(&db).unwrap().modified().unwrap();
        assert_eq!(names_in(dir.path()), [FILE_NAME]);

        let check = |err: super::super::StoreError| {
            assert_eq!(
                err.kind,
                StoreErrorKind::NewerSchema {
                    found: i64::from(newer),
                    known: SCHEMA_VERSION
                }
            );
            let text = err.to_string();
            assert!(text.contains(&format!("schema version {newer}")), "{text}");
            assert!(text.contains(&format!("up to {SCHEMA_VERSION}")), "{text}");
            let hint = err.hint().unwrap();
            assert!(hint.contains("upgrade pocket-dock"), "{hint}");
            assert!(hint.contains("move"), "{hint}");
            assert_eq!(crate::Error::from(err).exit_code().code(), 4);
        };
        check(StateStore::open(dir.path()).err().unwrap());
        check(StateStore::open_existing(dir.path()).err().unwrap());
        assert_eq!(std::fs::read(&db).unwrap(), bytes, "not one byte changed");
        assert_eq!(
            std::fs::metadata(&db).unwrap().modified().unwrap(),
            modified
        );
        assert_eq!(
            names_in(dir.path()),
            [FILE_NAME],
            "nothing made, nothing moved"
        );
    }

    /// Newer only in its WAL (another process wrote it and has it open, or was killed before
    /// a checkpoint): the header of the file still says the old version, SQLite's view says
    /// the new one, and that is what counts. The WAL is left as it is too.
    #[test]
    fn a_database_made_newer_in_its_wal_is_refused_too() {
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open(dir.path()).unwrap());
        let holder = raw(dir.path());
        holder
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = 0; PRAGMA user_version = {}",
                SCHEMA_VERSION + 1
            ))
            .unwrap();
        let db = dir.path().join(FILE_NAME);
        let wal = dir.path().join(format!("{FILE_NAME}-wal"));
        let (db_bytes, wal_bytes) = (std::fs::read(&db).unwrap(), std::fs::read(&wal).unwrap());
        assert!(!wal_bytes.is_empty());
        let err = StateStore::open(dir.path()).err().unwrap();
        assert!(
            matches!(err.kind, StoreErrorKind::NewerSchema { found, .. } if found == i64::from(SCHEMA_VERSION + 1)),
            "{err}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), db_bytes);
        assert_eq!(std::fs::read(&wal).unwrap(), wal_bytes);
        drop(holder);
    }

    /// Newer in a WAL that its writer left behind (killed before it checkpointed): the
    /// refusing open is the last connection, and closing it must not copy that WAL into the
    /// database nor delete it.
    #[test]
    fn the_wal_a_killed_newer_writer_left_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open(dir.path()).unwrap());
        {
            let writer = raw(dir.path());
            writer
                .execute_batch(&format!(
                    "PRAGMA wal_autocheckpoint = 0; PRAGMA user_version = {}; CREATE TABLE future (x)",
                    SCHEMA_VERSION + 1
                ))
                .unwrap();
            // As if killed: no checkpoint when it goes.
            writer
                .set_db_config(
                    rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                    true,
                )
                .unwrap();
        }
        let db = dir.path().join(FILE_NAME);
        let wal = dir.path().join(format!("{FILE_NAME}-wal"));
        let (db_bytes, wal_bytes) = (std::fs::read(&db).unwrap(), std::fs::read(&wal).unwrap());
        assert!(!wal_bytes.is_empty(), "the version is only in the WAL");
        for _ in 0..2 {
            let err = StateStore::open(dir.path()).err().unwrap();
            assert!(
                matches!(err.kind, StoreErrorKind::NewerSchema { .. }),
                "{err}"
            );
            assert_eq!(std::fs::read(&db).unwrap(), db_bytes);
            assert_eq!(std::fs::read(&wal).unwrap(), wal_bytes);
        }
        let names = names_in(dir.path());
        assert!(!names.iter().any(|n| n.contains("corrupt")), "{names:?}");
    }

    /// A version no pocket-dock writes (negative: `user_version` is signed) is refused the
    /// same way, and so is a corrupt database of a newer version: it is never moved aside.
    #[test]
    fn an_unknown_version_is_refused_and_a_newer_corrupt_one_is_not_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open(dir.path()).unwrap());
        raw(dir.path())
            .execute_batch("PRAGMA user_version = -3")
            .unwrap();
        let err = StateStore::open(dir.path()).err().unwrap();
        assert!(
            matches!(err.kind, StoreErrorKind::NewerSchema { found: -3, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("unknown schema version -3"),
            "{err}"
        );

        // Newer, and its last page is garbage: quick_check would call it corrupt, but a
        // newer release's database is never this one's to judge.
        let dir = tempfile::tempdir().unwrap();
        drop(StateStore::open(dir.path()).unwrap());
        raw(dir.path())
            .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 5))
            .unwrap();
        let db = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&db).unwrap();
        let n = bytes.len();
        bytes[n - 4096..].fill(0xA5);
        std::fs::write(&db, &bytes).unwrap();
        let err = StateStore::open(dir.path()).err().unwrap();
        assert!(
            matches!(err.kind, StoreErrorKind::NewerSchema { .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), bytes);
        assert_eq!(names_in(dir.path()), [FILE_NAME]);
    }

    /// A killed process in the middle of a migration: its transaction never committed, so the
    /// next open finds the old version and every table as it was, and migrates.
    #[test]
    fn a_migration_killed_midway_leaves_the_old_version() {
        let dir = copy_of("state-0.1.0.db");
        let db = dir.path().join(FILE_NAME);
        let marker = dir.path().join("inside");
        // The child: this test binary, running only `migrate_until_killed` below.
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::schema::tests::migrate_until_killed",
                "--ignored",
                "--nocapture",
            ])
            .env("POCKET_DOCK_TEST_KILL_DIR", dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait (on the condition, with a deadline) until it is inside its transaction.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !marker.exists() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the child exited before it was inside the migration"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "the child never got there"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(db.exists());
        assert_eq!(version_of(dir.path()), 0);
        assert!(
            !layout(&raw(dir.path()))
                .iter()
                .any(|t| t.contains("half_done")),
            "the killed step's table is gone"
        );
        let (store, _) = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_release_rows(&store);
    }

    /// The child of `a_migration_killed_midway_leaves_the_old_version`: runs the real first
    /// step and more writes in one transaction, says so, and waits to be killed.
    #[test]
    #[ignore = "run by a_migration_killed_midway_leaves_the_old_version as its child"]
    fn migrate_until_killed() {
        let Some(dir) = std::env::var_os("POCKET_DOCK_TEST_KILL_DIR") else {
            return;
        };
        let dir = PathBuf::from(dir);
        fn hang(conn: &Connection) -> rusqlite::Result<()> {
            // A small cache: the transaction's pages spill into the WAL, uncommitted.
            conn.execute_batch("PRAGMA cache_size = 1")?;
            from_unversioned(conn)?;
            conn.execute_batch(
                "CREATE TABLE half_done (x);
                 INSERT INTO half_done SELECT randomblob(1000) FROM (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 200) SELECT n FROM c);
                 DELETE FROM instances;
                 PRAGMA user_version = 1",
            )?;
            let dir = std::env::var_os("POCKET_DOCK_TEST_KILL_DIR").unwrap_or_default();
            std::fs::write(PathBuf::from(dir).join("inside"), b"").ok();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
        let steps = [Step {
            to: 1,
            from_what: "(test) hangs",
            run: hang,
        }];
        let conn = raw(&dir);
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        let _ = upgrade(&conn, &steps, 1, no_create);
    }
}
