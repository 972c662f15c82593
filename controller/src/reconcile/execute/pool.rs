//! A warm pool's members made and removed (their names and states are
//! [`crate::reconcile::pool`]): `refill` brings a pool to its size and `retire` removes a
//! member unless a claim took it, both through the sandbox path of [`super`]. The claim
//! itself is `crate::reconcile::pool::claim`, which takes the same lock.
//!
//! Why a lock: Podman's rename is not a compare-and-swap on the old name (the API takes the
//! container, by id, and the new name: nothing says "only if it is still called X"), so
//! two processes that picked the same member would both succeed, one after the other. Every
//! claim, and every retirement, therefore holds `.pocket-dock/pools/claim.lock` (an flock on
//! a file opened without following symlinks) from listing the members to the end of the
//! rename: a few milliseconds. Refills hold `.pocket-dock/pools/<pool>.refill.lock` while
//! they count and make members, so that concurrent refills never overfill a pool.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use pocket_dock_spec::Kind;

use crate::engine::labels::{KIND, NAME, POOL_MEMBER};
use crate::engine::{Engine, EngineError, Operation, OwnedContainer, Ownership};
use crate::error::{Error, PoolError};
use crate::owned_files::OwnedDir;
use crate::reconcile::ActionError;
use crate::reconcile::desired::{Desired, DesiredPool};
use crate::reconcile::pool::{MemberState, ObservedMember, judge, member_names, new_member_id};
use crate::store::{Event, Source};

pub(crate) const CLAIM_LOCK: &str = "claim.lock";
/// How long a claim waits for another claim's lock (each holds it for milliseconds; under
/// load, with many claimers, the queue can be long).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(60);
/// How long a member's readiness probe may take to pass the first time, at least.
const READY_WAIT: Duration = Duration::from_secs(60);
/// How many members a refill makes at once.
const MAKE_AT_ONCE: usize = 4;

/// What a refill did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RefillReport {
    pub pool: String,
    pub made: u32,
    pub retired: u32,
    /// Another refill of this pool was running; this one did nothing (`wait: false`).
    pub skipped: bool,
    /// Members that could not be made, with why.
    pub failures: Vec<String>,
}

/// An flock, released when dropped (and by the kernel when the process dies).
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

fn pools_dir(pocket_dock_dir: &Path) -> Result<OwnedDir, PoolError> {
    let dir = OwnedDir::open(pocket_dock_dir)?;
    dir.subdir(crate::workspace::own_files::POOLS_DIR, true)?
        .ok_or_else(|| PoolError::Lock {
            path: pocket_dock_dir.join(crate::workspace::own_files::POOLS_DIR),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })
}

/// Takes the lock `name` under `.pocket-dock/pools/`: `wait` `None` tries once (`None`
/// back when it is held), else waits up to that long.
pub(crate) async fn lock(
    pocket_dock_dir: &Path,
    name: &str,
    wait: Option<Duration>,
) -> Result<Option<FileLock>, PoolError> {
    let dir = pools_dir(pocket_dock_dir)?;
    let file = dir.open_or_create(name)?;
    let path = dir.path().join(name);
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(FileLock { _file: file })),
            Err(TryLockError::WouldBlock) => {
                let Some(limit) = wait else {
                    return Ok(None);
                };
                if started.elapsed() >= limit {
                    return Err(PoolError::LockTimeout {
                        path,
                        waited: limit,
                    });
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(TryLockError::Error(source)) => return Err(PoolError::Lock { path, source }),
        }
    }
}

fn refill_lock_name(pool: &str) -> String {
    format!("{pool}.refill.lock")
}

/// Label filters selecting the containers of `pool`.
fn pool_filters(pool: &str) -> Vec<String> {
    vec![format!("{KIND}={}", Kind::Pool), format!("{NAME}={pool}")]
}

/// The members of `pool` as they are now.
pub(crate) async fn list_members(
    engine: &Engine,
    ownership: &Ownership,
    pool: &str,
) -> Result<Vec<ObservedMember>, EngineError> {
    let listed = engine
        .list_owned_with(ownership, &pool_filters(pool))
        .await?;
    Ok(listed
        .iter()
        .filter_map(|(summary, handle)| ObservedMember::from_summary(ownership, summary, handle))
        .filter(|m| m.pool == pool)
        .collect())
}

/// The declared pool `pool` and its generation; a pool whose template cannot make members
/// is [`PoolError::Unusable`].
pub(crate) fn the_pool<'a>(
    desired: &'a Desired,
    pool: &str,
) -> Result<(&'a DesiredPool, &'a str), Error> {
    let p = desired.pools.get(pool).ok_or_else(|| Error::NotDeclared {
        object: format!("Pool/{pool}"),
        problem: "is not declared in this workspace".to_string(),
    })?;
    let generation = p.generation().ok_or_else(|| PoolError::Unusable {
        pool: pool.to_string(),
        problem: p.problem.clone().unwrap_or_default(),
    })?;
    Ok((p, generation))
}

/// A member made, by its handle and id.
pub(crate) struct Made {
    pub(crate) handle: OwnedContainer,
    pub(crate) member_id: String,
}

/// Makes one member of `pool`: created as `…-warming` through the sandbox path, started,
/// hooks run, readiness probe passed (when the template has one), then renamed ready
/// (`ready`; else left warming, for a cold claim to hand over). A member that fails on the
/// way is removed.
pub(crate) async fn make_member(
    engine: &Engine,
    ownership: &Ownership,
    desired: &Desired,
    pool: &DesiredPool,
    ready: bool,
) -> Result<Made, PoolError> {
    let Some(template) = &pool.member else {
        return Err(PoolError::Unusable {
            pool: pool.name.clone(),
            problem: pool.problem.clone().unwrap_or_default(),
        });
    };
    let id = new_member_id();
    let names = member_names(ownership, &pool.name, &id);
    let mut s = template.clone();
    s.container_name = names.warming.clone();
    s.config.name = names.warming.clone();
    s.config.labels.insert(POOL_MEMBER.to_string(), id.clone());
    let member_error = |source: ActionError| PoolError::Member {
        pool: pool.name.clone(),
        category: match &source {
            ActionError::Engine(e) => e.category(),
            ActionError::TimedOut => crate::Category::Timeout,
            _ => crate::Category::EngineFailure,
        },
        source: Box::new(source),
    };
    let container = crate::reconcile::execute::create_member(engine, ownership, desired, &s)
        .await
        .map_err(member_error)?;
    let gone = |c: OwnedContainer| async move {
        if let Err(e) = engine.remove_container(&c).await {
            tracing::warn!(container = %c.name(), error = %e, "could not remove a failed pool member");
        }
    };
    if let Some(probe) = &s.probe {
        let limit = READY_WAIT.max(probe.interval * probe.failure_threshold.max(1) * 2);
        let started = Instant::now();
        loop {
            if matches!(
                crate::reconcile::probes::run_probe(engine, &container, probe).await,
                Ok(0)
            ) {
                break;
            }
            if started.elapsed() >= limit {
                gone(container).await;
                return Err(PoolError::NotReady {
                    pool: pool.name.clone(),
                    waited: limit,
                });
            }
            tokio::time::sleep(probe.interval.min(Duration::from_millis(500))).await;
        }
    }
    if !ready {
        return Ok(Made {
            handle: container,
            member_id: id,
        });
    }
    match engine.rename_container(&container, &names.ready).await {
        Ok(handle) => Ok(Made {
            handle,
            member_id: id,
        }),
        Err(e) => {
            // Retired meanwhile (renamed or removed): nothing of ours to hand out.
            if !matches!(e, EngineError::ContainerNotFound { .. }) {
                gone(container).await;
            }
            Err(member_error(ActionError::Engine(e)))
        }
    }
}

/// Brings `pool` to its size: retires what [`judge`] says must go, then makes the members
/// missing (a few at once). One refill per pool at a time (`<pool>.refill.lock`): with
/// `wait` false a refill that finds another running does nothing (`skipped`); with it, it
/// waits for the other to end, then counts again. Members that cannot be made are reported
/// in `failures` (the first error also fails the call when nothing was made).
pub async fn refill(
    engine: &Engine,
    ownership: &Ownership,
    pocket_dock_dir: &Path,
    desired: &Desired,
    pool: &str,
    wait: bool,
) -> Result<RefillReport, Error> {
    let (desired_pool, _) = the_pool(desired, pool)?;
    let mut report = RefillReport {
        pool: pool.to_string(),
        ..RefillReport::default()
    };
    let waiting = wait.then_some(Duration::from_secs(600));
    let Some(_refilling) = lock(pocket_dock_dir, &refill_lock_name(pool), waiting).await? else {
        report.skipped = true;
        return Ok(report);
    };
    let members = list_members(engine, ownership, pool).await?;
    let judgement = judge(desired_pool, &members, None, crate::timefmt::unix_now());
    for (container, reason) in &judgement.remove {
        tracing::debug!(%container, %reason, "retiring a pool member");
        retire(engine, ownership, pocket_dock_dir, container).await?;
        report.retired += 1;
    }
    let mut left = judgement.missing as usize;
    let mut first_error = None;
    while left > 0 {
        let batch = left.min(MAKE_AT_ONCE);
        left -= batch;
        let made = futures_util::future::join_all(
            (0..batch).map(|_| make_member(engine, ownership, desired, desired_pool, true)),
        )
        .await;
        for result in made {
            match result {
                Ok(_) => report.made += 1,
                Err(e) => {
                    report.failures.push(e.to_string());
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_some() {
            break; // a template that fails fails every member: do not hammer the engine
        }
    }
    if report.made > 0 || report.retired > 0 || first_error.is_some() {
        let event = Event::new(Source::Pool, "refill")
            .object(Kind::Pool.as_str(), pool)
            .detail(serde_json::json!({
                "made": report.made, "retired": report.retired, "failures": report.failures,
            }));
        crate::store::record_in(pocket_dock_dir, &[event]);
    }
    match first_error {
        Some(e) if report.made == 0 => Err(e.into()),
        _ => Ok(report),
    }
}

/// Removes the pool member named `container_name` unless it was claimed meanwhile: under
/// the claim lock it is renamed `…-retiring` (so no claim can pick it), then removed. A
/// member that is gone, or that a claim took, is left as it is.
pub async fn retire(
    engine: &Engine,
    ownership: &Ownership,
    pocket_dock_dir: &Path,
    container_name: &str,
) -> Result<(), Error> {
    let retiring = {
        let _lock = lock(pocket_dock_dir, CLAIM_LOCK, Some(LOCK_WAIT)).await?;
        let Some((details, handle)) = engine
            .find_owned_by_name(ownership, container_name, Operation::ContainerRemove)
            .await?
        else {
            return Ok(());
        };
        let labels = crate::engine::labels::ObjectLabels::parse(&details.labels);
        let (Some(labels), Some(id)) = (labels, details.labels.get(POOL_MEMBER)) else {
            return Ok(()); // not a pool member: never ours to retire
        };
        if labels.kind != Kind::Pool {
            return Ok(());
        }
        let names = member_names(ownership, &labels.name, id);
        match crate::reconcile::pool::classify(ownership, &labels.name, id, container_name) {
            MemberState::Ready | MemberState::Warming => {
                match engine.rename_container(&handle, &names.retiring).await {
                    Ok(h) => h,
                    Err(EngineError::ContainerNotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            MemberState::Retiring => handle,
            MemberState::Claimed(_) | MemberState::Unknown => return Ok(()),
        }
    };
    engine.remove_container(&retiring).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_lock_is_refused_to_a_try_and_waited_for_with_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), "x.lock", None).await.unwrap();
        assert!(first.is_some());
        assert!(lock(dir.path(), "x.lock", None).await.unwrap().is_none());
        let err = lock(dir.path(), "x.lock", Some(Duration::from_millis(20)))
            .await
            .unwrap_err();
        assert!(matches!(err, PoolError::LockTimeout { .. }), "{err}");
        drop(first);
        assert!(lock(dir.path(), "x.lock", None).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_symlinked_pools_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("pools")).unwrap();
        let err = lock(dir.path(), CLAIM_LOCK, None).await.unwrap_err();
        assert!(matches!(err, PoolError::Unsafe(_)), "{err}");
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    }
}
