//! Warm pools ([pools.md](../../docs/working-inside.md#fast-sandboxes)): a `Pool` keeps
//! `size` members of its template created, started and past their readiness probe;
//! `claim` hands one over as a named sandbox by renaming its container.
//!
//! A member's state is its container's name (labels cannot change after a create):
//!
//! | name | state |
//! |---|---|
//! | `container_name(Pool, "<pool>-<id>-warming")` | being made: created, started, hooks, probe |
//! | `container_name(Pool, "<pool>-<id>")` | ready: may be claimed |
//! | `container_name(Pool, "<pool>-<id>-retiring")` | being removed (old generation, idle too long, excess) |
//! | `container_name(Sandbox, NAME)` | claimed as sandbox NAME: no longer the pool's |
//!
//! Every container of kind `Pool` carries the pool's name (`pocket-dock.dev/name`), its
//! member id ([`POOL_MEMBER`]) and its generation (`spec-hash`, the member spec's hash).
//!
//! This file is pure (names, classification, [`judge`]). The I/O: `reconcile::execute::pool`
//! (refills, retiring members, the cross-process lock) and `crate::pool` (claim, release).

use std::collections::HashMap;
use std::time::Duration;

use pocket_dock_spec::Kind;

use crate::engine::labels::{ObjectLabels, POOL_MEMBER};
use crate::engine::{ContainerState, ContainerSummary, OwnedContainer, Ownership};
use crate::reconcile::desired::DesiredPool;

/// Whether two image ids name the same image (with or without `sha256:`).
fn same_image(a: &str, b: &str) -> bool {
    a.trim_start_matches("sha256:") == b.trim_start_matches("sha256:")
}

/// How long a warming member may take before a planner treats it as abandoned (its maker
/// died): removed when it is not running by then.
pub const WARMING_GRACE_SECS: i64 = 300;

/// The container names a member takes over its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberNames {
    pub warming: String,
    pub ready: String,
    pub retiring: String,
}

/// The names of member `id` of `pool`.
pub fn member_names(ownership: &Ownership, pool: &str, id: &str) -> MemberNames {
    MemberNames {
        warming: ownership.container_name(Kind::Pool, &format!("{pool}-{id}-warming")),
        ready: ownership.container_name(Kind::Pool, &format!("{pool}-{id}")),
        retiring: ownership.container_name(Kind::Pool, &format!("{pool}-{id}-retiring")),
    }
}

/// Where a pool's container is in its life (read from its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberState {
    Warming,
    Ready,
    Retiring,
    /// Handed out as this sandbox.
    Claimed(String),
    /// A name none of the above (renamed by hand): left alone.
    Unknown,
}

/// The sandbox name a container name is the sandbox container name of, if it is one:
/// `pd-NAME-<8 hex>` where the hex is this workspace's hash of `Sandbox` and NAME.
pub fn sandbox_of_container_name(ownership: &Ownership, container_name: &str) -> Option<String> {
    let rest = container_name.strip_prefix("pd-")?;
    let (name, _) = rest.rsplit_once('-')?;
    (ownership.container_name(Kind::Sandbox, name) == container_name).then(|| name.to_string())
}

/// The state of member `id` of `pool` whose container is named `container_name`.
pub fn classify(ownership: &Ownership, pool: &str, id: &str, container_name: &str) -> MemberState {
    let names = member_names(ownership, pool, id);
    if container_name == names.ready {
        MemberState::Ready
    } else if container_name == names.warming {
        MemberState::Warming
    } else if container_name == names.retiring {
        MemberState::Retiring
    } else if let Some(sandbox) = sandbox_of_container_name(ownership, container_name) {
        MemberState::Claimed(sandbox)
    } else {
        MemberState::Unknown
    }
}

/// One container of kind `Pool`, as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedMember {
    pub pool: String,
    pub member_id: String,
    pub state: MemberState,
    pub container_name: String,
    pub container_id: String,
    pub running: bool,
    /// Its generation.
    pub spec_hash: Option<String>,
    pub image_id: String,
    /// Seconds since the Unix epoch.
    pub created: i64,
    pub handle: OwnedContainer,
}

impl ObservedMember {
    /// A listed container as a member, when it is one of `ownership`'s pools'.
    pub fn from_summary(
        ownership: &Ownership,
        summary: &ContainerSummary,
        handle: &OwnedContainer,
    ) -> Option<ObservedMember> {
        let labels = ObjectLabels::parse(&summary.labels).filter(|l| l.kind == Kind::Pool)?;
        let member_id = summary.labels.get(POOL_MEMBER)?.clone();
        Some(ObservedMember {
            state: classify(ownership, &labels.name, &member_id, &summary.name),
            pool: labels.name,
            member_id,
            container_name: summary.name.clone(),
            container_id: summary.id.clone(),
            running: summary.state == ContainerState::Running,
            spec_hash: labels.spec_hash,
            image_id: summary.image_id.clone(),
            created: summary.created,
            handle: handle.clone(),
        })
    }
}

/// The pool's members by pool name, from a container listing.
pub fn members_by_pool(
    ownership: &Ownership,
    listed: &[(ContainerSummary, OwnedContainer)],
) -> std::collections::BTreeMap<String, Vec<ObservedMember>> {
    let mut out: std::collections::BTreeMap<String, Vec<ObservedMember>> = Default::default();
    for (summary, handle) in listed {
        if let Some(m) = ObservedMember::from_summary(ownership, summary, handle) {
            out.entry(m.pool.clone()).or_default().push(m);
        }
    }
    out
}

/// What a pool needs now (pure): the members to remove, with why, and how many to make.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Judgement {
    /// `(container name, reason)`.
    pub remove: Vec<(String, String)>,
    /// Members to make so that `size` are ready or warming.
    pub missing: u32,
    /// Current-generation, running, ready members.
    pub ready: u32,
    pub warming: u32,
    /// Handed out and still there.
    pub claimed: u32,
}

/// Judges `members` of `pool` at `now` (seconds): a member of another generation, on
/// another image than `image_id` (when known), not running, or idle past `maxIdle` goes;
/// beyond `size`, the oldest ready ones go. Warming members count as coming unless they
/// were abandoned (older than [`WARMING_GRACE_SECS`] and not running). Claimed and
/// unknown names are never touched.
pub(crate) fn judge(
    pool: &DesiredPool,
    members: &[ObservedMember],
    image_id: Option<&str>,
    now: i64,
) -> Judgement {
    let mut j = Judgement::default();
    let generation = pool.generation();
    let mut kept: Vec<&ObservedMember> = Vec::new();
    for m in members {
        let stale = |m: &ObservedMember| -> Option<String> {
            if generation.is_none() || m.spec_hash.as_deref() != generation {
                return Some("old generation (its template or pool changed)".into());
            }
            if let Some(id) = image_id
                && !same_image(id, &m.image_id)
            {
                return Some("its image changed".into());
            }
            None
        };
        match &m.state {
            MemberState::Claimed(_) => j.claimed += 1,
            MemberState::Unknown => {}
            MemberState::Retiring => j.remove.push((m.container_name.clone(), "retiring".into())),
            MemberState::Warming => {
                let abandoned = !m.running && now - m.created > WARMING_GRACE_SECS;
                if abandoned {
                    j.remove
                        .push((m.container_name.clone(), "abandoned while warming".into()));
                } else if let Some(why) = stale(m) {
                    j.remove.push((m.container_name.clone(), why));
                } else {
                    j.warming += 1;
                    kept.push(m);
                }
            }
            MemberState::Ready => {
                if let Some(why) = stale(m) {
                    j.remove.push((m.container_name.clone(), why));
                } else if !m.running {
                    j.remove
                        .push((m.container_name.clone(), "not running".into()));
                } else if let Some(max) = pool.max_idle
                    && Duration::from_secs(u64::try_from(now - m.created).unwrap_or(0)) > max
                {
                    j.remove.push((
                        m.container_name.clone(),
                        format!(
                            "idle longer than maxIdle {}",
                            crate::reconcile::lifetime::human(max)
                        ),
                    ));
                } else {
                    j.ready += 1;
                    kept.push(m);
                }
            }
        }
    }
    let size = pool.size;
    let have = j.ready + j.warming;
    if have < size {
        j.missing = size - have;
    } else if have > size && generation.is_some() {
        // The oldest ready ones go first (the warming are about to be the freshest).
        let mut ready: Vec<&&ObservedMember> = kept
            .iter()
            .filter(|m| m.state == MemberState::Ready)
            .collect();
        ready.sort_by_key(|m| (m.created, m.container_name.clone()));
        for m in ready.into_iter().take((have - size) as usize) {
            j.remove
                .push((m.container_name.clone(), format!("more than size {size}")));
            j.ready -= 1;
        }
    }
    if generation.is_none() {
        j.missing = 0;
    }
    j
}

/// A fresh member id: 8 random hex digits.
pub fn new_member_id() -> String {
    let mut hex = crate::sandbox::random_hex();
    hex.truncate(pocket_dock_spec::pool::MEMBER_ID_LEN);
    hex
}

/// The default name of a claimed sandbox: `<pool>-<6 random hex>`.
pub fn default_claim_name(pool: &str) -> String {
    let mut hex = crate::sandbox::random_hex();
    hex.truncate(6);
    format!("{pool}-{hex}")
}

/// The labels a new member carries besides its pool's (its id).
pub fn member_labels(id: &str) -> HashMap<String, String> {
    HashMap::from([(POOL_MEMBER.to_string(), id.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::labels::WorkspaceId;

    fn own() -> Ownership {
        Ownership::new(WorkspaceId::new("abc"))
    }

    fn pool(size: u32, max_idle: Option<Duration>) -> DesiredPool {
        let member = crate::reconcile::desired::test_sandbox("graders", "sha256:gen1");
        DesiredPool {
            name: "graders".into(),
            template: "t".into(),
            size,
            max_idle,
            member: Some(member),
            problem: None,
        }
    }

    fn member(
        id: &str,
        state: MemberState,
        generation: &str,
        created: i64,
        running: bool,
    ) -> ObservedMember {
        let names = member_names(&own(), "graders", id);
        let container_name = match &state {
            MemberState::Warming => names.warming,
            MemberState::Ready => names.ready,
            MemberState::Retiring => names.retiring,
            MemberState::Claimed(n) => own().container_name(Kind::Sandbox, n),
            MemberState::Unknown => "renamed-by-hand".into(),
        };
        ObservedMember {
            pool: "graders".into(),
            member_id: id.into(),
            state,
            container_id: format!("id-{id}"),
            handle: OwnedContainer::for_tests(&container_name),
            container_name,
            running,
            spec_hash: Some(generation.into()),
            image_id: "sha256:img".into(),
            created,
        }
    }

    #[test]
    fn names_say_the_state_and_a_claimed_name_is_recognised() {
        let o = own();
        let n = member_names(&o, "graders", "1a2b3c4d");
        assert_eq!(
            classify(&o, "graders", "1a2b3c4d", &n.ready),
            MemberState::Ready
        );
        assert_eq!(
            classify(&o, "graders", "1a2b3c4d", &n.warming),
            MemberState::Warming
        );
        assert_eq!(
            classify(&o, "graders", "1a2b3c4d", &n.retiring),
            MemberState::Retiring
        );
        let claimed = o.container_name(Kind::Sandbox, "job-7");
        assert_eq!(
            classify(&o, "graders", "1a2b3c4d", &claimed),
            MemberState::Claimed("job-7".into())
        );
        assert_eq!(
            classify(&o, "graders", "1a2b3c4d", "pd-job-7-00000000"),
            MemberState::Unknown
        );
        // Another workspace's sandbox name is not this one's.
        let other = Ownership::new(WorkspaceId::new("def")).container_name(Kind::Sandbox, "x");
        assert_eq!(sandbox_of_container_name(&o, &other), None);
        assert_eq!(sandbox_of_container_name(&o, "pd-"), None);
        assert_eq!(sandbox_of_container_name(&o, ""), None);
    }

    #[test]
    fn an_empty_pool_is_filled_to_its_size() {
        let j = judge(&pool(3, None), &[], Some("sha256:img"), 1000);
        assert_eq!((j.missing, j.ready, j.remove.len()), (3, 0, 0));
    }

    #[test]
    fn old_generations_exited_and_stale_members_are_replaced_never_claimed_ones() {
        let members = [
            member("a", MemberState::Ready, "sha256:gen1", 900, true),
            member("b", MemberState::Ready, "sha256:gen0", 900, true),
            member("c", MemberState::Ready, "sha256:gen1", 900, false),
            member("d", MemberState::Ready, "sha256:gen1", 100, true),
            member(
                "e",
                MemberState::Claimed("job".into()),
                "sha256:gen0",
                100,
                true,
            ),
            member("f", MemberState::Unknown, "sha256:gen0", 100, false),
            member("g", MemberState::Warming, "sha256:gen1", 990, false),
        ];
        let j = judge(
            &pool(3, Some(Duration::from_secs(600))),
            &members,
            Some("sha256:img"),
            1000,
        );
        let removed: Vec<&str> = j.remove.iter().map(|(n, _)| n.as_str()).collect();
        let names = |id: &str| member_names(&own(), "graders", id).ready;
        assert_eq!(removed, [names("b"), names("c"), names("d")]);
        assert!(j.remove[0].1.contains("old generation"));
        assert!(j.remove[2].1.contains("maxIdle"));
        assert_eq!((j.ready, j.warming, j.claimed, j.missing), (1, 1, 1, 1));
    }

    #[test]
    fn another_image_replaces_and_an_abandoned_warming_member_goes() {
        let members = [
            member("a", MemberState::Ready, "sha256:gen1", 900, true),
            member("w", MemberState::Warming, "sha256:gen1", 0, false),
        ];
        let j = judge(&pool(1, None), &members, Some("sha256:new"), 1000);
        assert_eq!(j.remove.len(), 2);
        assert_eq!(j.missing, 1);
    }

    #[test]
    fn beyond_size_the_oldest_ready_members_go() {
        let members = [
            member("a", MemberState::Ready, "sha256:gen1", 10, true),
            member("b", MemberState::Ready, "sha256:gen1", 30, true),
            member("c", MemberState::Ready, "sha256:gen1", 20, true),
        ];
        let j = judge(&pool(1, None), &members, None, 100);
        let removed: Vec<&str> = j.remove.iter().map(|(n, _)| n.as_str()).collect();
        let names = |id: &str| member_names(&own(), "graders", id).ready;
        assert_eq!(removed, [names("a"), names("c")]);
        assert_eq!((j.ready, j.missing), (1, 0));
    }

    #[test]
    fn a_pool_without_a_usable_template_makes_nothing_and_retires_its_members() {
        let mut p = pool(2, None);
        p.member = None;
        let members = [member("a", MemberState::Ready, "sha256:gen1", 10, true)];
        let j = judge(&p, &members, None, 100);
        assert_eq!((j.missing, j.remove.len()), (0, 1));
    }
}
