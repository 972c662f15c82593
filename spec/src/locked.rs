//! What the `locked` profile adds to a sandbox, and the workspace policy that can make it a
//! floor. Pure: [`crate::hash::effective_sandbox`] expands a locked sandbox with these
//! values, and validation checks a sandbox against them.

use crate::model::{Mount, MountType, Profile, Resources, WorkspaceSpec};
use crate::quantity::parse_memory;

/// The user a locked sandbox runs as unless it names another non-root one: `nobody`, by
/// number, so that images without an `/etc/passwd` entry work too.
pub const USER: &str = "65534:65534";

/// A locked sandbox's `/tmp`: writable, in memory, and small.
pub const TMP_SIZE: &str = "64Mi";

/// Limits of a locked sandbox when the policy does not set them.
pub const DEFAULT_CPUS: f64 = 1.0;
pub const DEFAULT_MEMORY: &str = "512Mi";
pub const DEFAULT_PIDS: u32 = 256;

/// The profile of a sandbox that does not name one: the policy's, else the workspace
/// default, else `default`; the stricter of the two when both are set.
pub fn default_profile(settings: &WorkspaceSpec) -> Profile {
    let from_policy = settings.policy.as_ref().and_then(|p| p.profile);
    let from_defaults = settings.defaults.as_ref().and_then(|d| d.security_profile);
    [from_policy, from_defaults]
        .into_iter()
        .flatten()
        .max_by_key(|p| p.strictness())
        .unwrap_or_default()
}

/// The profile the policy enforces, if it enforces one.
pub fn enforced_profile(settings: &WorkspaceSpec) -> Option<Profile> {
    settings
        .policy
        .as_ref()
        .filter(|p| p.enforce)
        .map(|p| p.profile.unwrap_or_default())
}

/// The most a locked sandbox may ask for: the policy's limits, else the defaults.
pub struct Ceilings {
    pub cpus: f64,
    pub memory_bytes: u64,
    pub memory_text: String,
    pub pids: u32,
}

pub fn ceilings(settings: &WorkspaceSpec) -> Ceilings {
    let limits = settings
        .policy
        .as_ref()
        .and_then(|p| p.limits.clone())
        .unwrap_or_default();
    let memory_text = limits
        .memory
        .filter(|m| parse_memory(m).is_ok())
        .unwrap_or_else(|| DEFAULT_MEMORY.to_string());
    Ceilings {
        cpus: limits.cpus.filter(|c| *c > 0.0).unwrap_or(DEFAULT_CPUS),
        // DEFAULT_MEMORY parses; an unparsable policy value was replaced above.
        memory_bytes: parse_memory(&memory_text).unwrap_or(512 << 20),
        memory_text,
        pids: limits.pids.filter(|p| *p > 0).unwrap_or(DEFAULT_PIDS),
    }
}

/// Fills each limit a locked sandbox leaves unset with the policy's.
pub fn fill_limits(resources: &mut Resources, settings: &WorkspaceSpec) {
    let c = ceilings(settings);
    resources.cpus.get_or_insert(c.cpus);
    resources.memory.get_or_insert(c.memory_text);
    resources.pids.get_or_insert(c.pids);
}

/// The `/tmp` a locked sandbox gets when it mounts nothing there.
pub fn tmp_mount() -> Mount {
    Mount {
        kind: MountType::Tmpfs,
        source: None,
        target: "/tmp".to_string(),
        read_only: false,
        allow_outside_workspace: false,
        size_limit: Some(TMP_SIZE.to_string()),
    }
}

/// Whether `user` (`name`, `uid` or `uid:gid`) is root.
pub fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or(user).trim();
    name == "root" || name.parse::<u64>() == Ok(0)
}

/// What `security.seccomp` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompChoice<'a> {
    Default,
    Strict,
    Unconfined,
    Path(&'a str),
}

pub fn seccomp_choice(value: &str) -> SeccompChoice<'_> {
    match value {
        "default" => SeccompChoice::Default,
        "strict" => SeccompChoice::Strict,
        "unconfined" => SeccompChoice::Unconfined,
        path => SeccompChoice::Path(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Policy, SandboxDefaults};

    #[test]
    fn the_stricter_of_policy_and_defaults_is_the_default_profile() {
        let mut settings = WorkspaceSpec::default();
        assert_eq!(default_profile(&settings), Profile::Default);
        settings.defaults = Some(SandboxDefaults {
            security_profile: Some(Profile::Locked),
            ..Default::default()
        });
        assert_eq!(default_profile(&settings), Profile::Locked);
        settings.policy = Some(Policy {
            profile: Some(Profile::Default),
            ..Default::default()
        });
        assert_eq!(default_profile(&settings), Profile::Locked);
        assert_eq!(enforced_profile(&settings), None);
    }

    #[test]
    fn ceilings_come_from_the_policy_or_the_defaults() {
        let mut settings = WorkspaceSpec::default();
        let c = ceilings(&settings);
        assert_eq!((c.cpus, c.memory_bytes, c.pids), (1.0, 512 << 20, 256));
        settings.policy = Some(Policy {
            limits: Some(Resources {
                cpus: Some(2.0),
                memory: Some("1Gi".into()),
                pids: Some(64),
            }),
            ..Default::default()
        });
        let c = ceilings(&settings);
        assert_eq!((c.cpus, c.memory_bytes, c.pids), (2.0, 1 << 30, 64));
    }

    #[test]
    fn root_is_recognised_by_name_and_number() {
        for root in ["root", "0", "0:0", "root:wheel", "00"] {
            assert!(is_root_user(root), "{root}");
        }
        for other in ["65534:65534", "1000", "app", "app:0"] {
            assert!(!is_root_user(other), "{other}");
        }
    }
}
