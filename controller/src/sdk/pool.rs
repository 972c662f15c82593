//! Warm pools through the SDK: `workspace.pool(&engine, "graders")` gives a [`Pool`] whose
//! [`claim`](Pool::claim) hands over a running, ready sandbox at once, [`refill`](Pool::refill)
//! brings it back to its size and [`status`](Pool::status) counts its members;
//! [`Workspace::release`] removes a claimed sandbox.

use crate::engine::Engine;
use crate::error::Error;
use crate::pool::{ClaimOptions, Claimed, EmptyPool, MemberState, RefillReport};
use crate::reconcile::desired::Desired;
use crate::reconcile::observe::ImageInputs;
use crate::workspace::Workspace;

/// One declared pool of a workspace.
#[derive(Debug, Clone, Copy)]
pub struct Pool<'a> {
    workspace: &'a Workspace,
    engine: &'a Engine,
    name: &'a str,
}

/// How many members a pool has, as seen now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolStatus {
    pub name: String,
    pub template: String,
    pub size: u32,
    /// Current generation, running, past readiness: what a claim can take now.
    pub ready: u32,
    /// Being made.
    pub warming: u32,
    /// Handed out and not released yet: their sandbox names.
    pub claimed: Vec<String>,
    /// Of an old generation, not running or idle too long: replaced by the next refill.
    pub stale: u32,
    /// Why the pool cannot make members, if it cannot.
    pub problem: Option<String>,
}

impl Workspace {
    /// The pool `name` of this workspace (checked when it is used).
    pub fn pool<'a>(&'a self, engine: &'a Engine, name: &'a str) -> Pool<'a> {
        Pool {
            workspace: self,
            engine,
            name,
        }
    }

    /// Removes the claimed sandbox `name` at once (force: no graceful stop). A declared
    /// sandbox is refused (`delete` removes those).
    pub async fn release(&self, engine: &Engine, name: &str) -> Result<(), Error> {
        crate::pool::release(engine, &self.ownership(), &self.dir(), name).await
    }

    /// Every declared pool's status.
    pub async fn pools(&self, engine: &Engine) -> Result<Vec<PoolStatus>, Error> {
        let valid = self.load()?;
        let desired = self.fast_desired(valid.declarations());
        let ownership = self.ownership();
        let listed = engine.list_owned(&ownership).await?;
        let members = crate::pool::members_by_pool(&ownership, &listed);
        let now = crate::timefmt::unix_now();
        Ok(desired
            .pools
            .values()
            .map(|p| {
                let members = members.get(&p.name).map_or(&[][..], Vec::as_slice);
                let judged = crate::pool::judge(p, members, None, now);
                PoolStatus {
                    name: p.name.clone(),
                    template: p.template.clone(),
                    size: p.size,
                    ready: judged.ready,
                    warming: judged.warming,
                    claimed: members
                        .iter()
                        .filter_map(|m| match &m.state {
                            MemberState::Claimed(name) => Some(name.clone()),
                            _ => None,
                        })
                        .collect(),
                    stale: u32::try_from(judged.remove.len()).unwrap_or(u32::MAX),
                    problem: p.problem.clone(),
                }
            })
            .collect())
    }

    /// The declarations' desired state without reading build contexts or secrets: enough
    /// for a pool's generation (which hashes the spec, not the image's content).
    fn fast_desired(&self, declarations: &pocket_dock_spec::Declarations) -> Desired {
        Desired::from_declarations(declarations, &self.ownership(), &ImageInputs::default())
    }

    /// The full desired state (build contexts hashed): what making a member needs.
    async fn full_desired(&self, declarations: &pocket_dock_spec::Declarations) -> Desired {
        let inputs = ImageInputs::gather(declarations).await;
        Desired::from_declarations(declarations, &self.ownership(), &inputs)
    }
}

impl Pool<'_> {
    pub fn name(&self) -> &str {
        self.name
    }

    /// Hands over one idle, current-generation, running, ready member as a sandbox named
    /// `options.name` (default `<pool>-<6 hex>`), renaming its container: `exec`, `logs`,
    /// sessions, `release` and `delete` then work on it by that name. Never the same member
    /// to two claimers, in this process or another. With no member ready, `when_empty`
    /// decides (a cold member by default). Does not refill: call [`Pool::refill`] (the CLI
    /// starts one in the background), or let a controller do it.
    pub async fn claim(&self, options: &ClaimOptions) -> Result<Claimed, Error> {
        let valid = self.workspace.load()?;
        let declarations = valid.declarations();
        let ownership = self.workspace.ownership();
        let dir = self.workspace.dir();
        let fast = self.workspace.fast_desired(declarations);
        let first = ClaimOptions {
            when_empty: match options.when_empty {
                EmptyPool::Cold => EmptyPool::Fail,
                other => other,
            },
            ..options.clone()
        };
        let result =
            crate::pool::claim(self.engine, &ownership, &dir, &fast, self.name, &first).await;
        match result {
            Err(Error::Pool(e))
                if options.when_empty == EmptyPool::Cold
                    && matches!(*e, crate::pool::PoolError::Empty { .. }) =>
            {
                let full = self.workspace.full_desired(declarations).await;
                crate::pool::claim(self.engine, &ownership, &dir, &full, self.name, options).await
            }
            other => other,
        }
    }

    /// Brings the pool to its size now: retires stale members and makes the missing ones.
    /// With `wait` false, returns at once (`skipped`) when another refill of this pool runs.
    pub async fn refill(&self, wait: bool) -> Result<RefillReport, Error> {
        let valid = self.workspace.load()?;
        let desired = self.workspace.full_desired(valid.declarations()).await;
        crate::pool::refill(
            self.engine,
            &self.workspace.ownership(),
            &self.workspace.dir(),
            &desired,
            self.name,
            wait,
        )
        .await
    }

    /// The pool's status now.
    pub async fn status(&self) -> Result<PoolStatus, Error> {
        self.workspace
            .pools(self.engine)
            .await?
            .into_iter()
            .find(|p| p.name == self.name)
            .ok_or_else(|| Error::NotDeclared {
                object: format!("Pool/{}", self.name),
                problem: "is not declared in this workspace".to_string(),
            })
    }
}
