//! What `spec.lifetime` needs from the state store: each sandbox's lifetime record (the
//! declaration its clocks belong to, and the limit that acted under it), and exec and
//! session activity (the last time a command started or ended, and the commands open now).
//!
//! Activity is written by the commands themselves (`exec`, `shell`, sessions: other
//! processes than the reconciler), so it has tables of its own, never the reconciler's
//! JSON records. An open command is a row with its client's pid and start time: a client
//! that was killed leaves a row that counts for nothing (and is forgotten by `apply`).

use std::collections::BTreeMap;

use rusqlite::params;

use super::{RecordTable, StateStore, StoreError};
use crate::status::types::{Activity, LifetimeRecord};

pub(super) const LIFETIME_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS lifetimes (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS activity (
    sandbox TEXT PRIMARY KEY,
    last_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS open_activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sandbox TEXT NOT NULL,
    client_pid INTEGER NOT NULL,
    client_start INTEGER NOT NULL
);
";

/// An open command: forget it with [`StateStore::end_activity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenActivity(i64);

fn client_alive(pid: i64, start: i64) -> bool {
    crate::procs::start_time(pid) == Some(start.max(0).unsigned_abs())
}

impl StateStore {
    /// Each sandbox's lifetime record (a row that cannot be read back counts as none).
    pub fn lifetimes(&self) -> Result<BTreeMap<String, LifetimeRecord>, StoreError> {
        self.records(RecordTable::Lifetimes)
    }

    /// Remembers a sandbox's lifetime record; `None` forgets it.
    pub fn save_lifetime(
        &self,
        name: &str,
        record: Option<&LifetimeRecord>,
    ) -> Result<(), StoreError> {
        self.save_record(RecordTable::Lifetimes, name, record)
    }

    /// Forgets the lifetime records and activity of sandboxes not among `declared`.
    pub fn forget_lifetimes_except(&self, declared: &[&str]) -> Result<(), StoreError> {
        self.forget_records_except::<LifetimeRecord>(RecordTable::Lifetimes, declared)?;
        for name in self.activity_names()? {
            if !declared.contains(&name.as_str()) {
                self.conn
                    .execute("DELETE FROM activity WHERE sandbox = ?1", params![name])
                    .map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }

    fn activity_names(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT sandbox FROM activity")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Notes activity in `sandbox` now (a command started or ended).
    pub fn touch_activity(&self, sandbox: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO activity (sandbox, last_ms) VALUES (?1, ?2)
                 ON CONFLICT (sandbox) DO UPDATE SET last_ms = max(last_ms, ?2)",
                params![sandbox, crate::timefmt::unix_now_ms()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// A command opens in `sandbox`, held by this process: activity until it ends.
    pub fn begin_activity(&self, sandbox: &str) -> Result<OpenActivity, StoreError> {
        let me = i64::from(std::process::id());
        let start = crate::procs::start_time(me).unwrap_or(0);
        self.touch_activity(sandbox)?;
        self.conn
            .execute(
                "INSERT INTO open_activity (sandbox, client_pid, client_start) VALUES (?1, ?2, ?3)",
                params![sandbox, me, i64::try_from(start).unwrap_or(i64::MAX)],
            )
            .map_err(|e| self.err(e))?;
        Ok(OpenActivity(self.conn.last_insert_rowid()))
    }

    /// The command ended: activity now, and no longer open.
    pub fn end_activity(&self, sandbox: &str, open: OpenActivity) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM open_activity WHERE id = ?1", params![open.0])
            .map_err(|e| self.err(e))?;
        self.touch_activity(sandbox)
    }

    /// Each sandbox's activity: when a command last started or ended, and whether a
    /// command or session is open now (its client process alive).
    pub fn activity(&self) -> Result<BTreeMap<String, Activity>, StoreError> {
        let mut out: BTreeMap<String, Activity> = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare("SELECT sandbox, last_ms FROM activity")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (sandbox, last) = row.map_err(|e| self.err(e))?;
            out.entry(sandbox).or_default().last_ms = Some(last);
        }
        for (sandbox, pid, start) in self.open_activity()? {
            if client_alive(pid, start) {
                out.entry(sandbox).or_default().live = true;
            }
        }
        for (_, sandbox, pid, start) in self.sessions()? {
            if client_alive(pid, i64::try_from(start).unwrap_or(i64::MAX)) {
                out.entry(sandbox).or_default().live = true;
            }
        }
        Ok(out)
    }

    fn open_activity(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT sandbox, client_pid, client_start FROM open_activity")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Forgets open commands whose client is gone (killed before it could say so).
    pub fn forget_dead_activity(&self) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, client_pid, client_start FROM open_activity")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let dead: Vec<i64> = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?
            .into_iter()
            .filter(|(_, pid, start)| !client_alive(*pid, *start))
            .map(|(id, _, _)| id)
            .collect();
        for id in dead {
            self.conn
                .execute("DELETE FROM open_activity WHERE id = ?1", params![id])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::status::types::{Expiry, ExpiryReason, LifetimeRecord};
    use crate::store::StateStore;

    #[test]
    fn records_and_activity_survive_reopening_and_open_commands_count_while_open() {
        let dir = tempfile::tempdir().unwrap();
        let record = LifetimeRecord {
            document_hash: "sha256:a".into(),
            since_ms: 1,
            expiry: Some(Expiry {
                reason: ExpiryReason::IdleTimeout,
                at_ms: 2,
                message: "idle for 2s".into(),
            }),
        };
        {
            let (store, _) = StateStore::open(dir.path()).unwrap();
            store.save_lifetime("web", Some(&record)).unwrap();
            store.save_lifetime("gone", Some(&record)).unwrap();
            store.touch_activity("gone").unwrap();
            store.forget_lifetimes_except(&["web"]).unwrap();
        }
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let records = store.lifetimes().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records["web"], record);
        assert!(store.activity().unwrap().is_empty());

        let open = store.begin_activity("web").unwrap();
        let during = store.activity().unwrap()["web"];
        assert!(during.live && during.last_ms.is_some());
        store.forget_dead_activity().unwrap();
        assert!(store.activity().unwrap()["web"].live, "this process lives");
        store.end_activity("web", open).unwrap();
        let after = store.activity().unwrap()["web"];
        assert!(!after.live);
        assert!(after.last_ms >= during.last_ms);

        // A client that is gone holds nothing open.
        store
            .conn
            .execute(
                "INSERT INTO open_activity (sandbox, client_pid, client_start) VALUES ('web', 1, 12345)",
                [],
            )
            .unwrap();
        assert!(!store.activity().unwrap()["web"].live);
        store.forget_dead_activity().unwrap();
        let left: i64 = store
            .conn
            .query_row("SELECT count(*) FROM open_activity", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
