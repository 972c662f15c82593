//! Checks that keep a sandbox's hands off what it must not touch, and the workspace policy
//! floor: the `locked` profile's rules, `security.seccomp`, and bind mounts that would let a
//! sandbox rewrite its own desired state (`.pocket-dock/`), the repository's `.git/`, or
//! reach a container engine's socket.

use std::path::{Path, PathBuf};

use super::{Ctx, PathKind, check_host_path, spec};
use crate::load::Entry;
use crate::locked::{self, SeccompChoice};
use crate::model::{MountType, Network, Profile, SandboxSpec, WorkspaceSpec};
use crate::quantity::parse_memory;

/// Folders of the workspace (relative to its root) a sandbox may read but never write: its
/// declarations and status, and the repository (whose hooks run on the host). The
/// controller masks them read-only inside writable mounts of their parents.
pub const PROTECTED_FOLDERS: [&str; 2] = [".pocket-dock", ".git"];

/// Why each of [`PROTECTED_FOLDERS`] is.
const PROTECTED: [(&str, &str); 2] = [
    (
        ".pocket-dock",
        "the sandbox could rewrite its own declarations (and declare a sandbox with more access)",
    ),
    (
        ".git",
        "the sandbox could change the repository, and its hooks run on the host",
    ),
];

/// Socket names of container engines: a sandbox that can connect to one controls the host.
const ENGINE_SOCKETS: [&str; 4] = ["podman.sock", "docker.sock", "containerd.sock", "crio.sock"];

/// The biggest seccomp profile read for validation.
const SECCOMP_PROFILE_LIMIT: u64 = 1 << 20;

impl Ctx<'_> {
    pub(super) fn check_hardening(&mut self, entry: &Entry, s: &SandboxSpec) {
        let asked = s.security.as_ref().and_then(|sec| sec.profile);
        let profile = asked.unwrap_or_else(|| locked::default_profile(self.settings));
        if let (Some(floor), Some(asked)) = (locked::enforced_profile(self.settings), asked)
            && asked.strictness() < floor.strictness()
        {
            let policy = self.policy_named();
            self.report_hint(
                entry,
                spec().key("security").key("profile"),
                "policy",
                format!("`profile: {}` is weaker than {policy}", asked.as_str()),
                Some(format!(
                    "remove `profile` (the policy's `{}` applies), or change the policy",
                    floor.as_str()
                )),
            );
        }
        if profile == Profile::Locked {
            self.check_locked(entry, s, asked.is_none());
        }
        self.check_seccomp(entry, s, profile);
        self.check_protected_mounts(entry, s);
    }

    /// The policy's own values: limits that parse and are more than nothing.
    pub(super) fn check_policy(&mut self, entry: &Entry, w: &WorkspaceSpec) {
        let Some(limits) = w.policy.as_ref().and_then(|p| p.limits.as_ref()) else {
            return;
        };
        let path = spec().key("policy").key("limits");
        if limits.cpus.is_some_and(|c| c <= 0.0 || !c.is_finite()) {
            self.report(
                entry,
                path.key("cpus"),
                "out-of-range",
                "must be more than 0",
            );
        }
        if let Some(memory) = &limits.memory
            && let Err(problem) = parse_memory(memory)
        {
            let hint = Some("e.g. `512Mi` or `2Gi`");
            self.report_hint(entry, path.key("memory"), "invalid-quantity", problem, hint);
        }
    }

    /// Names the policy for a message: where it is declared.
    fn policy_named(&self) -> String {
        let profile = locked::enforced_profile(self.settings).unwrap_or_default();
        match &self.policy_source {
            Some(at) => format!(
                "the workspace policy (`{}`, enforced at {at})",
                profile.as_str()
            ),
            None => format!("the workspace policy (`{}`, enforced)", profile.as_str()),
        }
    }

    /// Why a sandbox is locked, for messages: its own `profile`, or the workspace's.
    fn locked_by(&self, inherited: bool) -> String {
        if !inherited {
            return "the `locked` profile".to_string();
        }
        match locked::enforced_profile(self.settings) {
            Some(Profile::Locked) => self.policy_named(),
            _ => "the workspace's default `locked` profile".to_string(),
        }
    }

    fn check_locked(&mut self, entry: &Entry, s: &SandboxSpec, inherited: bool) {
        let why = self.locked_by(inherited);
        let security = spec().key("security");
        if s.network == Some(Network::Default) {
            self.report_hint(
                entry,
                spec().key("network"),
                "conflicting-fields",
                format!("{why} needs `network: none`"),
                Some("or allow only some destinations: `network: {egress: [HOST:PORT]}`"),
            );
        }
        if let Some(sec) = &s.security {
            if sec.read_only_root_filesystem == Some(false) {
                self.report(
                    entry,
                    security.key("readOnlyRootFilesystem"),
                    "conflicting-fields",
                    format!("{why} needs a read-only root filesystem"),
                );
            }
            if sec.no_new_privileges == Some(false) {
                self.report(
                    entry,
                    security.key("noNewPrivileges"),
                    "conflicting-fields",
                    format!("{why} needs `noNewPrivileges`"),
                );
            }
        }
        if let Some(user) = &s.user
            && locked::is_root_user(user)
        {
            self.report_hint(
                entry,
                spec().key("user"),
                "conflicting-fields",
                format!("{why} runs sandboxes as a non-root user, not `{user}`"),
                Some(format!(
                    "remove `user` (it runs as `{}`), or name a non-root user",
                    locked::USER
                )),
            );
        }
        for (i, mount) in s.mounts.iter().enumerate() {
            if mount.allow_outside_workspace {
                self.report_hint(
                    entry,
                    spec().key("mounts").index(i).key("allowOutsideWorkspace"),
                    "conflicting-fields",
                    format!("{why} allows no host path outside the workspace"),
                    Some("copy what it needs into the workspace, or mount a volume"),
                );
            }
        }
        let Some(r) = &s.resources else { return };
        let ceilings = locked::ceilings(self.settings);
        let limits = spec().key("resources");
        let above = |field: &str, asked: String, most: String| {
            (
                limits.key(field),
                format!("{why} allows at most {most} here, not {asked}"),
            )
        };
        let mut problems = Vec::new();
        if let Some(cpus) = r.cpus
            && cpus > ceilings.cpus
        {
            problems.push(above("cpus", cpus.to_string(), ceilings.cpus.to_string()));
        }
        if let Some(memory) = &r.memory
            && parse_memory(memory).is_ok_and(|bytes| bytes > ceilings.memory_bytes)
        {
            problems.push(above(
                "memory",
                memory.clone(),
                ceilings.memory_text.clone(),
            ));
        }
        if let Some(pids) = r.pids
            && pids > ceilings.pids
        {
            problems.push(above("pids", pids.to_string(), ceilings.pids.to_string()));
        }
        for (path, message) in problems {
            self.report_hint(
                entry,
                path,
                "above-policy",
                message,
                Some("ask for less, or raise the workspace's `policy.limits`"),
            );
        }
    }

    fn check_seccomp(&mut self, entry: &Entry, s: &SandboxSpec, profile: Profile) {
        let Some(value) = s.security.as_ref().and_then(|sec| sec.seccomp.as_deref()) else {
            return;
        };
        let path = spec().key("security").key("seccomp");
        let choice = locked::seccomp_choice(value);
        let enforced = locked::enforced_profile(self.settings) == Some(Profile::Locked);
        match choice {
            SeccompChoice::Default | SeccompChoice::Unconfined if profile == Profile::Locked => {
                self.report_hint(
                    entry,
                    path,
                    "conflicting-fields",
                    format!("the `locked` profile needs the `strict` filter, not `{value}`"),
                    Some("remove `seccomp`, or name a profile file of the workspace"),
                );
            }
            SeccompChoice::Path(_) if enforced => {
                let policy = self.policy_named();
                self.report_hint(
                    entry,
                    path,
                    "policy",
                    format!("{policy} allows only the `strict` filter"),
                    Some("remove `seccomp`"),
                );
            }
            SeccompChoice::Path(written) => {
                match check_host_path(self.root, written, false, PathKind::File) {
                    Ok(resolved) => match seccomp_profile_problem(&resolved) {
                        None => self.resolved(entry).seccomp_profile = Some(resolved),
                        Some(problem) => {
                            self.report(entry, path, "invalid-seccomp-profile", problem)
                        }
                    },
                    Err((code, message, hint)) => {
                        let hint = hint.or(Some(
                            "`default`, `strict`, `unconfined`, or a profile file in the workspace"
                                .to_string(),
                        ));
                        self.report_hint(entry, path, code, message, hint);
                    }
                }
            }
            _ => {}
        }
    }

    /// A bind mount may not make `.pocket-dock/` or `.git/` writable (the controller masks
    /// them read-only inside mounts of their parents), nor reach an engine's socket.
    fn check_protected_mounts(&mut self, entry: &Entry, s: &SandboxSpec) {
        let protected: Vec<(PathBuf, &str, &str)> = PROTECTED
            .iter()
            .filter_map(|(name, why)| {
                let path = self.root.join(name).canonicalize().ok()?;
                Some((path, *name, *why))
            })
            .collect();
        for (i, mount) in s.mounts.iter().enumerate() {
            let path = spec().key("mounts").index(i);
            if mount.size_limit.is_some() && mount.kind != MountType::Tmpfs {
                self.report(
                    entry,
                    path.key("sizeLimit"),
                    "conflicting-fields",
                    "only `tmpfs` mounts have a `sizeLimit`",
                );
            }
            if let Some(size) = &mount.size_limit
                && let Err(problem) = parse_memory(size)
            {
                self.report_hint(
                    entry,
                    path.key("sizeLimit"),
                    "invalid-quantity",
                    problem,
                    Some("e.g. `64Mi`"),
                );
            }
            let Some(source) = self.resolved_mount(entry, i) else {
                continue;
            };
            if let Some(socket) = engine_socket_within(&source) {
                self.report_hint(
                    entry,
                    path.key("source"),
                    "engine-socket",
                    format!(
                        "this mount reaches a container engine's socket ({}): whoever can \
                         connect to it controls the host",
                        socket.display()
                    ),
                    Some("mount a narrower folder; read-only does not stop a socket connect"),
                );
            }
            if mount.read_only {
                continue;
            }
            for (protected, name, why) in &protected {
                if source.starts_with(protected) {
                    self.report_hint(
                        entry,
                        path.key("readOnly"),
                        "protected-path",
                        format!("`{name}/` mounted writable: {why}"),
                        Some("set `readOnly: true` on this mount"),
                    );
                }
            }
        }
    }

    fn resolved_mount(&mut self, entry: &Entry, index: usize) -> Option<PathBuf> {
        self.resolved(entry).mounts.get(&index).cloned()
    }
}

/// Why a seccomp profile file cannot be used, if it cannot: it must be a JSON object with a
/// `defaultAction`.
fn seccomp_profile_problem(path: &Path) -> Option<String> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return Some(format!("cannot read the profile: {e}")),
    };
    let mut text = String::new();
    if let Err(e) = file
        .take(SECCOMP_PROFILE_LIMIT + 1)
        .read_to_string(&mut text)
    {
        return Some(format!("cannot read the profile: {e}"));
    }
    if text.len() as u64 > SECCOMP_PROFILE_LIMIT {
        return Some("the profile is larger than 1 MiB".to_string());
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(value) if value.get("defaultAction").is_some_and(|a| a.is_string()) => None,
        Ok(_) => Some("the profile has no `defaultAction`: not a seccomp profile".to_string()),
        Err(e) => Some(format!("the profile is not JSON: {e}")),
    }
}

/// An engine socket reachable through `source`: `source` itself, or one in it or one folder
/// below (`/run` holds `/run/podman/podman.sock`).
fn engine_socket_within(source: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let is_engine_socket = |path: &Path| {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| ENGINE_SOCKETS.contains(&n))
            && std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
    };
    if is_engine_socket(source) {
        return Some(source.to_path_buf());
    }
    if !source.is_dir() {
        return None;
    }
    for name in ENGINE_SOCKETS {
        let direct = source.join(name);
        if is_engine_socket(&direct) {
            return Some(direct);
        }
    }
    // One level down, by the engines' own folder names: a full walk of a big tree would
    // make validation slow, and these are where engines put them.
    for folder in ["podman", "docker", "containerd", "crio", "run", "user"] {
        for name in ENGINE_SOCKETS {
            let nested = source.join(folder).join(name);
            if is_engine_socket(&nested) {
                return Some(nested);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_socket_is_found_in_the_mount_or_one_folder_down() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("podman");
        std::fs::create_dir(&nested).unwrap();
        let socket = nested.join("podman.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert_eq!(engine_socket_within(&socket), Some(socket.clone()));
        assert_eq!(engine_socket_within(&nested), Some(socket.clone()));
        assert_eq!(engine_socket_within(dir.path()), Some(socket));
        // A plain file with the name is not a socket.
        let plain = dir.path().join("docker.sock");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(engine_socket_within(&plain), None);
    }

    #[test]
    fn a_seccomp_profile_must_be_json_with_a_default_action() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#).unwrap();
        assert_eq!(seccomp_profile_problem(&good), None);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        assert!(seccomp_profile_problem(&bad).unwrap().contains("not JSON"));
        std::fs::write(&bad, "{}").unwrap();
        assert!(
            seccomp_profile_problem(&bad)
                .unwrap()
                .contains("defaultAction")
        );
    }
}
