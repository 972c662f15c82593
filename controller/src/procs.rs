//! Finding and stopping the processes an exec started. Podman's API cannot kill an exec
//! session, and a client that stops reading leaves the process running. pocket-dock knows
//! the exec's host pid (exec inspect) and, when it runs on the same host with the right to
//! signal it, kills the whole process tree from the host; otherwise it asks the container
//! to (`kill -KILL` with the pids as the container sees them).
//!
//! The parsing here is pure; the reads of `/proc` are thin wrappers.

use std::collections::{BTreeMap, BTreeSet};

/// `(pid, parent pid)` from the text of `/proc/<pid>/stat`. The command name may hold
/// spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<(i64, i64)> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_whitespace().next()?.parse().ok()?;
    let mut fields = rest.split_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((pid, ppid))
}

/// When a process started (clock ticks since boot, field 22 of `/proc/<pid>/stat`): with
/// the pid, it names one process even after pids are reused.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // After the name: state is field 3, so start time (22) is the 20th from here.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The start time of a live process of this host.
pub fn start_time(pid: i64) -> Option<u64> {
    parse_start_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The pid as the innermost pid namespace (the container) sees it, from the `NSpid:` line of
/// `/proc/<pid>/status`.
pub fn parse_nspid(status: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|rest| rest.split_whitespace().last())
        .and_then(|p| p.parse().ok())
}

/// `root` and every process below it, parents before children.
pub fn tree(root: i64, table: &[(i64, i64)]) -> Vec<i64> {
    let mut children: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for &(pid, ppid) in table {
        children.entry(ppid).or_default().push(pid);
    }
    let mut seen = BTreeSet::from([root]);
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        for &child in children.get(&out[i]).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(child) {
                out.push(child);
            }
        }
        i += 1;
    }
    out
}

/// Every process of this host's `/proc` as `(pid, ppid)`.
pub fn process_table() -> Vec<(i64, i64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|t| parse_stat(&t))
        .collect()
}

/// The host pids whose environment holds `KEY=VALUE` exactly.
pub fn with_environment(entry: &str) -> Vec<i64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i64>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == entry.as_bytes()))
        })
        .collect()
}

/// The container-side pid of a host pid, when this host can see it.
pub fn container_pid(host_pid: i64) -> Option<i64> {
    parse_nspid(&std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?)
}

/// Whether two processes share a pid namespace (one container), by their
/// `/proc/<pid>/ns/pid` links. Every host-side kill is limited to the sandbox's namespace,
/// so a stale or reused pid can never reach a process outside it.
pub fn same_pid_namespace(a: i64, b: i64) -> bool {
    let ns = |p: i64| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    matches!((ns(a), ns(b)), (Some(x), Some(y)) if x == y)
}

/// Sends SIGKILL to `pids` from the host; true when every one is gone or was killed.
pub fn kill_on_host(pids: &[i64]) -> bool {
    if pids.is_empty() {
        return true;
    }
    let status = std::process::Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .args(pids.iter().map(i64::to_string))
        .stderr(std::process::Stdio::null())
        .status();
    status.is_ok_and(|s| s.success())
        || pids
            .iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_names_parse() {
        assert_eq!(parse_stat("42 (sh) S 7 42 42 0 -1"), Some((42, 7)));
        assert_eq!(parse_stat("43 (my (odd) name) R 42 43 1"), Some((43, 42)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn start_time_is_field_22() {
        let stat = "7 (a b) S 1 7 7 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 100000 200";
        assert_eq!(parse_start_time(stat), Some(123_456));
        let me = start_time(i64::from(std::process::id()));
        assert!(me.is_some_and(|t| t > 0));
    }

    #[test]
    fn nspid_is_the_innermost() {
        assert_eq!(parse_nspid("Name:\tsh\nNSpid:\t9123\t7\n"), Some(7));
        assert_eq!(parse_nspid("NSpid:\t55\n"), Some(55));
        assert_eq!(parse_nspid("Name:\tsh\n"), None);
    }

    #[test]
    fn namespaces_compare_by_their_links() {
        let me = i64::from(std::process::id());
        assert!(same_pid_namespace(me, me));
        assert!(
            !same_pid_namespace(me, i64::MAX),
            "an absent process shares nothing"
        );
    }

    #[test]
    fn a_tree_holds_every_descendant_once() {
        let table = [
            (1, 0),
            (10, 1),
            (11, 10),
            (12, 10),
            (13, 12),
            (20, 1),
            (11, 10),
        ];
        assert_eq!(tree(10, &table), [10, 11, 12, 13]);
        assert_eq!(tree(99, &table), [99]);
    }
}
