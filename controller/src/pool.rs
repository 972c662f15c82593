//! Warm pools ([working-inside.md](../../docs/working-inside.md#fast-sandboxes)): `claim`
//! hands a ready member of a `Pool` over as a named sandbox by renaming its container, under
//! the workspace's claim lock, and `release` removes a claimed sandbox. A member's names and
//! states are [`crate::reconcile::pool`]; making and retiring members (`refill`, `retire`)
//! is part of convergence, in `reconcile::execute::pool`.

use std::path::Path;
use std::time::{Duration, Instant};

use pocket_dock_spec::Kind;

pub use crate::error::PoolError;
pub use crate::reconcile::execute::RefillReport;
pub(crate) use crate::reconcile::execute::refill;
pub use crate::reconcile::pool::*;

use crate::engine::{Engine, EngineError, Operation, OwnedContainer, Ownership};
use crate::error::Error;
use crate::reconcile::desired::Desired;
use crate::reconcile::execute::{CLAIM_LOCK, LOCK_WAIT, list_members, lock, make_member, the_pool};
use crate::store::{Event, Source};

/// How to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimOptions {
    /// The sandbox's name; `<pool>-<6 hex>` when absent.
    pub name: Option<String>,
    /// What to do when no member is ready.
    pub when_empty: EmptyPool,
}

impl Default for ClaimOptions {
    fn default() -> Self {
        ClaimOptions {
            name: None,
            when_empty: EmptyPool::Cold,
        }
    }
}

/// What a claim from a pool with no ready member does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyPool {
    /// Make a member now, as a cold create would (the default; the CLI says so on stderr).
    Cold,
    /// Wait up to this long for a refill to make one, then fail.
    Wait(Duration),
    /// Fail at once.
    Fail,
}

/// A member handed over.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Claimed {
    /// The sandbox's name: `exec NAME`, `session NAME`, `release NAME` use it.
    pub name: String,
    pub pool: String,
    pub container_id: String,
    pub container_name: String,
    pub member_id: String,
    /// Whether no member was ready and this one was made for the claim.
    pub cold: bool,
    /// From the call to the handover.
    pub ms: f64,
}

/// Claims one idle, current-generation, running, ready member of `pool` as the sandbox
/// `options.name`: its container is renamed to that sandbox's container name, after which
/// `exec`, `logs`, `session`, `shell`, `release` and `delete` find it by that name. Never
/// hands a member out twice: the pick and the rename happen under the workspace's claim
/// lock. Does not refill (see [`refill`]). Recorded in the event log of `pocket_dock_dir`.
pub async fn claim(
    engine: &Engine,
    ownership: &Ownership,
    pocket_dock_dir: &Path,
    desired: &Desired,
    pool: &str,
    options: &ClaimOptions,
) -> Result<Claimed, Error> {
    let started = Instant::now();
    let result = claim_unrecorded(
        engine,
        ownership,
        pocket_dock_dir,
        desired,
        pool,
        options,
        started,
    )
    .await;
    let event = Event::new(Source::Pool, "claim")
        .reason(format!("Pool/{pool}"))
        .duration(started.elapsed());
    let event = match &result {
        Ok(c) => event.object(Kind::Sandbox.as_str(), c.name.clone()).detail(
            serde_json::json!({
                "pool": c.pool, "container": c.container_name, "member": c.member_id, "cold": c.cold,
            }),
        ),
        // A pool found empty at once is no event: the SDK asks that way first, before a
        // cold member is made (which is recorded).
        Err(Error::Pool(e)) if matches!(**e, PoolError::Empty { waited: None, .. }) => {
            return result;
        }
        Err(e) => event.failed_with(e.category(), e),
    };
    crate::store::record_in(pocket_dock_dir, &[event]);
    result
}

async fn claim_unrecorded(
    engine: &Engine,
    ownership: &Ownership,
    pocket_dock_dir: &Path,
    desired: &Desired,
    pool: &str,
    options: &ClaimOptions,
    started: Instant,
) -> Result<Claimed, Error> {
    let (desired_pool, generation) = the_pool(desired, pool)?;
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| default_claim_name(pool));
    if let Some(problem) = pocket_dock_spec::dns_label_problem(&name) {
        return Err(Error::Argument {
            argument: "--name",
            problem: format!("`{name}` is not a valid sandbox name: {problem}"),
        });
    }
    if desired.sandboxes.contains_key(&name) {
        return Err(PoolError::NameDeclared { name }.into());
    }
    let target = ownership.container_name(Kind::Sandbox, &name);
    loop {
        if let Some((member, handle)) = pick_and_rename(
            engine,
            ownership,
            pocket_dock_dir,
            pool,
            generation,
            &name,
            &target,
        )
        .await?
        {
            return Ok(Claimed {
                name,
                pool: pool.to_string(),
                container_id: handle.id().to_string(),
                container_name: target,
                member_id: member,
                cold: false,
                ms: started.elapsed().as_secs_f64() * 1000.0,
            });
        }
        match options.when_empty {
            EmptyPool::Fail => {
                return Err(PoolError::Empty {
                    pool: pool.to_string(),
                    waited: None,
                }
                .into());
            }
            EmptyPool::Wait(limit) => {
                if started.elapsed() >= limit {
                    return Err(PoolError::Empty {
                        pool: pool.to_string(),
                        waited: Some(limit),
                    }
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            EmptyPool::Cold => {
                // A taken name is said before a member is made for nothing.
                match engine.inspect_container(&target).await {
                    Ok(_) => {
                        return Err(PoolError::NameTaken {
                            name,
                            container: target,
                        }
                        .into());
                    }
                    Err(EngineError::ContainerNotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                // Made for this claim and handed over from its warming name, which no other
                // claim picks: the cold member cannot be taken by someone else.
                let made = make_member(engine, ownership, desired, desired_pool, false).await?;
                let handed = {
                    let _lock = lock(pocket_dock_dir, CLAIM_LOCK, Some(LOCK_WAIT)).await?;
                    engine.rename_container(&made.handle, &target).await
                };
                return match handed {
                    Ok(handle) => Ok(Claimed {
                        name,
                        pool: pool.to_string(),
                        container_id: handle.id().to_string(),
                        container_name: target,
                        member_id: made.member_id,
                        cold: true,
                        ms: started.elapsed().as_secs_f64() * 1000.0,
                    }),
                    Err(e) => {
                        // Not handed over: it joins the pool instead.
                        let ready = member_names(ownership, pool, &made.member_id).ready;
                        if let Err(e) = engine.rename_container(&made.handle, &ready).await {
                            tracing::warn!(error = %e, "could not return a cold member to its pool");
                        }
                        Err(match e {
                            EngineError::Conflict { .. } => PoolError::NameTaken {
                                name,
                                container: target,
                            }
                            .into(),
                            e => e.into(),
                        })
                    }
                };
            }
        }
    }
}

/// Under the claim lock: the oldest ready member of this generation that runs, renamed to
/// `target`. `None` when there is none.
async fn pick_and_rename(
    engine: &Engine,
    ownership: &Ownership,
    pocket_dock_dir: &Path,
    pool: &str,
    generation: &str,
    name: &str,
    target: &str,
) -> Result<Option<(String, OwnedContainer)>, Error> {
    let _lock = lock(pocket_dock_dir, CLAIM_LOCK, Some(LOCK_WAIT)).await?;
    let mut ready: Vec<ObservedMember> = list_members(engine, ownership, pool)
        .await?
        .into_iter()
        .filter(|m| {
            m.state == MemberState::Ready && m.running && m.spec_hash.as_deref() == Some(generation)
        })
        .collect();
    ready.sort_by_key(|m| (m.created, m.container_name.clone()));
    for m in ready {
        match engine.rename_container(&m.handle, target).await {
            Ok(handle) => return Ok(Some((m.member_id, handle))),
            Err(EngineError::ContainerNotFound { .. }) => continue,
            Err(EngineError::Conflict { .. }) => {
                return Err(PoolError::NameTaken {
                    name: name.to_string(),
                    container: target.to_string(),
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// Removes the claimed sandbox `name` (force: no graceful stop). A declared sandbox, or a
/// name that is no claimed sandbox, is [`PoolError::NotClaimed`].
pub async fn release(
    engine: &Engine,
    ownership: &Ownership,
    pocket_dock_dir: &Path,
    name: &str,
) -> Result<(), Error> {
    let started = Instant::now();
    let result = release_unrecorded(engine, ownership, name).await;
    let event = Event::new(Source::Pool, "release")
        .object(Kind::Sandbox.as_str(), name)
        .duration(started.elapsed());
    let event = match &result {
        Ok(pool) => event.reason(format!("Pool/{pool}")),
        Err(e) => event.failed_with(e.category(), e),
    };
    crate::store::record_in(pocket_dock_dir, &[event]);
    result.map(drop)
}

async fn release_unrecorded(
    engine: &Engine,
    ownership: &Ownership,
    name: &str,
) -> Result<String, Error> {
    let target = ownership.container_name(Kind::Sandbox, name);
    let Some((details, handle)) = engine
        .find_owned_by_name(ownership, &target, Operation::ContainerRemove)
        .await?
    else {
        return Err(PoolError::NotClaimed {
            name: name.to_string(),
            declared: false,
        }
        .into());
    };
    let labels = crate::engine::labels::ObjectLabels::parse(&details.labels);
    match labels {
        Some(l) if l.kind == Kind::Pool => {
            engine.remove_container(&handle).await?;
            Ok(l.name)
        }
        _ => Err(PoolError::NotClaimed {
            name: name.to_string(),
            declared: true,
        }
        .into()),
    }
}
