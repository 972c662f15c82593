//! Holding up under faults, against real Podman: crash loops back off, `--wait` tells the
//! truth, one writer at a time, `apply` killed at random moments, Podman killed mid-apply,
//! the socket gone under a running controller, a full status folder.

use crate::support::{Need, requires};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::controller::{Running, running, until};
use crate::support::workspace::{TestWorkspace, actions, sandbox};
use crate::support::{Mode, Podman};

fn read(ws: &TestWorkspace, rel: &str) -> String {
    std::fs::read_to_string(ws.path(rel)).unwrap_or_default()
}

#[tokio::test]
async fn a_sandbox_that_keeps_exiting_backs_off_and_says_so() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "a.yaml",
        &sandbox("crash", "  command: [sh, -c, \"exit 3\"]\n"),
    );
    let controller = Running::start(&ws, podman);
    let status = ".pocket-dock/status/sandbox/crash.yaml";
    until(
        Duration::from_secs(30),
        "the back-off in the status",
        || async { read(&ws, status).contains("CrashLoopBackOff") },
    )
    .await;
    let text = read(&ws, status);
    for expected in [
        "phase: CrashLoopBackOff",
        "reason: CrashLoop",
        "lastExitCode: 3",
        "lastFinishedAt:",
        "restartCount: 1",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    let run = ws.pd(&["get", "sandbox/crash"]);
    let row = run
        .stdout_text()
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(row.contains("CrashLoopBackOff"), "{row}");
    assert!(row.contains("false"), "READY: {row}");

    // Started at once the first time, then 10 s, 20 s, ... later: at most 6 starts in 30 s.
    until(Duration::from_secs(60), "the second restart", || async {
        read(&ws, status).contains("restartCount: 2")
    })
    .await;
    let (_, _, log) = controller.stop();
    let starts: Vec<i64> = log
        .lines()
        .filter(|l| l.contains("Sandbox/crash") && l.contains(" done"))
        .filter(|l| l.contains("action=\"start\"") || l.contains("action=\"create\""))
        .filter_map(|l| seconds_of(l.get(..19)?))
        .collect();
    let first = starts.first().copied().unwrap_or_default();
    let in_30s = starts.iter().filter(|t| **t - first < 30).count();
    eprintln!("starts at {starts:?}");
    assert!((3..=6).contains(&in_30s), "{in_30s} starts in 30 s: {log}");
    // The second restart waited out the first back-off (10 s) after the exit before it.
    assert!(
        starts.len() >= 3 && starts[2] - starts[1] >= 9,
        "{starts:?}"
    );
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn wait_is_honest_about_readiness_and_kills_hanging_probes() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "s.yaml",
        &format!(
            "{}{}",
            sandbox(
                "never",
                "  readiness: {exec: [\"false\"], interval: 200ms}\n"
            ),
            sandbox(
                "hang",
                "  readiness: {exec: [sleep, \"37\"], interval: 200ms, timeout: 300ms}\n"
            ),
        ),
    );
    let (run, out) = ws.pd_json(&["apply", "--wait", "--timeout", "3s"]);
    assert_eq!(run.code, Some(5), "{}", run.stderr_text());
    assert_eq!(
        actions(&out),
        [
            "create Sandbox/hang",
            "create Sandbox/never",
            "create-network Network/default"
        ],
        "created, not failed"
    );
    let summary = out.iter().find(|v| v["event"] == "summary").unwrap();
    assert_eq!(
        summary["not_ready"].as_array().unwrap().len(),
        2,
        "{summary}"
    );

    // Already running, still not ready: exit 5 again, although nothing changed.
    let started = Instant::now();
    let run = ws.pd(&["apply", "--wait", "--timeout", "2s"]);
    assert_eq!(run.code, Some(5), "{}", run.stdout_text());
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        run.stdout_text().contains("not ready"),
        "{}",
        run.stdout_text()
    );
    let run = ws.pd(&["get"]);
    assert!(
        run.stdout_text()
            .lines()
            .any(|l| l.starts_with("Sandbox    never") && l.contains("false")),
        "{}",
        run.stdout_text()
    );

    // Every probe attempt that outlived its timeout was killed in the sandbox.
    let (_, listing) = ws.exec(podman, "hang", &["ps", "-o", "args"]).await;
    assert!(
        !listing.contains("sleep 37"),
        "probes left behind:\n{listing}"
    );
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn concurrent_applies_take_turns_and_make_each_container_once() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let docs: String = (0..20).map(|i| sandbox(&format!("s{i}"), "")).collect();
    ws.write("s.yaml", &docs);
    let children: Vec<std::process::Child> = (0..5)
        .map(|_| {
            ws.command(&["--output", "json", "apply"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut created = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let values: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let done = actions(&values);
        assert!(done.iter().all(|a| !a.ends_with("FAILED")), "{done:?}");
        created += done
            .iter()
            .filter(|a| a.starts_with("create Sandbox/"))
            .count();
    }
    assert_eq!(created, 20, "each container made once, by one apply");
    let seen = ws.sandboxes(podman).await;
    assert_eq!(seen.len(), 20);
    assert!(seen.values().all(|cs| cs.len() == 1), "{seen:?}");

    // Another writer holds the workspace: apply waits, says so, and gives up at its deadline.
    let mut holder = std::process::Command::new("flock")
        .arg(ws.path(".pocket-dock/writer.lock"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    until(Duration::from_secs(5), "the lock taken", || async {
        let probe = std::process::Command::new("flock")
            .args(["-n"])
            .arg(ws.path(".pocket-dock/writer.lock"))
            .arg("true")
            .status()
            .unwrap();
        !probe.success()
    })
    .await;
    let started = Instant::now();
    let run = ws.pd(&["apply", "--timeout", "1s"]);
    assert_eq!(run.code, Some(5), "{}", run.stderr_text());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        run.stderr_text().contains("waiting for another writer"),
        "{}",
        run.stderr_text()
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    ws.pd_ok(&["delete", "--all"]);
}

/// A tiny deterministic generator, so that a failing run can be repeated.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn apply_killed_at_random_moments_fifty_times_still_converges_exactly() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let volume =
        "---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: keep}\n";
    let docs = |generation: u64| -> String {
        let mut text = volume.to_string();
        for i in 0..10 {
            text.push_str(&sandbox(
                &format!("s{i}"),
                &format!(
                    "  env: {{GENERATION: '{generation}'}}\n  mounts: [{{type: volume, source: keep, target: /keep}}]\n"
                ),
            ));
        }
        text
    };
    ws.write("s.yaml", &docs(0));
    let first = ws.pd_ok(&["apply"]);
    // Kills land anywhere in an apply: its start, its removals, its creates, its statuses.
    let span = u64::try_from(first.elapsed.as_millis()).unwrap().max(500) * 13 / 10;
    // Data in the volume, which every kill must leave alone.
    let (wrote, _) = ws
        .exec(podman, "s0", &["sh", "-c", "echo precious > /keep/data"])
        .await;
    assert_eq!(wrote, 0);

    let mut random = Lcg(0x5EED_0F0D_DB17);
    let mut killed_mid_run = 0;
    for generation in 1..=50 {
        ws.write("s.yaml", &docs(generation));
        let mut child = ws
            .command(&["apply"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(random.below(span)));
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL: no cleanup of any kind runs
        child.wait().unwrap();
    }
    eprintln!("{killed_mid_run} of 50 applies killed while they ran");
    assert!(killed_mid_run >= 25, "{killed_mid_run} killed mid-run");

    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        actions(&out).iter().all(|a| !a.ends_with("FAILED")),
        "{:?}",
        actions(&out)
    );
    let seen = ws.sandboxes(podman).await;
    assert_eq!(seen.len(), 10, "{seen:?}");
    assert!(
        seen.values()
            .all(|cs| cs.len() == 1 && cs[0].state == pocket_dock::engine::ContainerState::Running),
        "{seen:?}"
    );
    let (_, again) = ws.pd_json(&["apply"]);
    assert!(actions(&again).is_empty(), "converged: {again:?}");
    let (_, data) = ws.exec(podman, "s9", &["cat", "/keep/data"]).await;
    assert_eq!(data, "precious\n");
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn podman_killed_mid_apply_and_restarted_then_the_next_apply_converges() {
    let mut podman = Podman::start(Mode::Rootful);
    let ws = TestWorkspace::new(&podman);
    let docs: String = (0..10).map(|i| sandbox(&format!("s{i}"), "")).collect();
    ws.write("s.yaml", &docs);
    let child = ws
        .command(&["apply"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    podman.kill_service();
    let out = child.wait_with_output().unwrap();
    eprintln!(
        "apply under a dying Podman: exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0));
    podman.revive_service();
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let seen = ws.sandboxes(&podman).await;
    assert_eq!(seen.len(), 10, "{seen:?} after {:?}", actions(&out));
    assert!(seen.values().all(|cs| cs.len() == 1), "{seen:?}");
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn the_controller_resyncs_within_seconds_of_podman_coming_back() {
    if !requires(
        "faults::the_controller_resyncs_within_seconds_of_podman_coming_back",
        &[Need::DaemonlessCli],
    ) {
        return;
    }
    let mut podman = Podman::start(Mode::Rootful);
    let ws = TestWorkspace::new(&podman);
    ws.write("s.yaml", &sandbox("a", ""));
    let controller = Running::start(&ws, &podman);
    until(Duration::from_secs(20), "initial convergence", || async {
        running(&ws, &podman, "a").await.is_some()
    })
    .await;
    let a = running(&ws, &podman, "a").await.unwrap();

    // The socket goes away for a while; meanwhile the sandbox is removed behind its back.
    podman.kill_service();
    std::thread::sleep(Duration::from_secs(8));
    assert!(podman.podman(&["rm", "-f", &a]).status.success());
    podman.revive_service();
    let took = until(
        Duration::from_secs(15),
        "repair after the return",
        || async { running(&ws, &podman, "a").await.is_some() },
    )
    .await;
    eprintln!("repaired {took:?} after Podman came back");
    assert!(
        took <= Duration::from_secs(5),
        "{took:?}: {}",
        controller.log()
    );
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    ws.pd_ok(&["delete", "--all"]);
}

/// A tmpfs mounted over a folder for the test, unmounted on every exit path.
struct Mounted(std::path::PathBuf);

impl Mounted {
    fn tmpfs(at: &std::path::Path, size: &str) -> Mounted {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs needs root");
        Mounted(at.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_status_folder_is_a_clear_error_and_leaves_nothing_half_written() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let docs: String = (0..3).map(|i| sandbox(&format!("s{i}"), "")).collect();
    ws.write("s.yaml", &docs);
    let status = ws.path(".pocket-dock/status");
    let mount = Mounted::tmpfs(&status, "64k");
    // Fill it to the last byte.
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=4k", "count=100"])
        .arg(format!("of={}", status.join("filler").display()))
        .stderr(Stdio::null())
        .status();
    let run = ws.pd(&["apply"]);
    assert_eq!(
        run.code,
        Some(4),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let err = run.stderr_text();
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("status files are stale"), "{err}");
    assert_eq!(ws.sandboxes(podman).await.len(), 3, "the objects converged");
    // Nothing half-written: no temp file, no truncated status.
    let mut left = Vec::new();
    for entry in walk(&status) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".tmp-"),
            "temp file left: {}",
            entry.display()
        );
        if name.ends_with(".yaml") {
            let text = std::fs::read_to_string(&entry).unwrap();
            assert!(text.starts_with("# Generated by pocket-dock"), "{text}");
            assert!(text.contains("conditions:"), "truncated: {text}");
            left.push(name);
        }
    }
    eprintln!("status files written before the disk filled: {left:?}");
    // Room again: the next apply writes them all.
    std::fs::remove_file(status.join("filler")).unwrap();
    ws.pd_ok(&["apply"]);
    for i in 0..3 {
        assert!(read(&ws, &format!(".pocket-dock/status/sandbox/s{i}.yaml")).contains("Running"));
    }
    drop(mount);
    ws.pd_ok(&["delete", "--all"]);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Seconds since the epoch of a log line's `YYYY-MM-DDTHH:MM:SS` (UTC) prefix.
fn seconds_of(stamp: &str) -> Option<i64> {
    let n = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?)
}
