//! The watching controller against real Podman.

use crate::support::{Need, requires};
use pocket_dock::engine::Capability;
use std::time::{Duration, Instant};

use crate::support::cli;
use crate::support::controller::{Running, running, until};
use crate::support::workspace::{TestWorkspace, sandbox};
use crate::support::{Mode, Podman};

#[tokio::test]
async fn the_controller_converges_edits_and_repairs_drift_and_survives_broken_files() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("a.yaml", &sandbox("a", "  env: {V: '1'}\n"));
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(20), "initial convergence", || async {
        running(&ws, podman, "a").await.is_some()
    })
    .await;
    let first = running(&ws, podman, "a").await.unwrap();

    // An edit is converged: a new container, running.
    ws.write("a.yaml", &sandbox("a", "  env: {V: '2'}\n"));
    let took = until(Duration::from_secs(5), "the edit to converge", || async {
        running(&ws, podman, "a")
            .await
            .is_some_and(|id| id != first)
    })
    .await;
    eprintln!("edit to running: {took:?}");
    let second = running(&ws, podman, "a").await.unwrap();

    // Removed by hand: repaired.
    assert!(podman.podman(&["rm", "-f", &second]).status.success());
    let took = until(Duration::from_secs(5), "repair after rm -f", || async {
        running(&ws, podman, "a").await.is_some()
    })
    .await;
    eprintln!("rm -f to running: {took:?}");
    // Stopped by hand: started again (same container).
    let third = running(&ws, podman, "a").await.unwrap();
    let engine = podman.engine();
    let (_, handle) = engine
        .inspect_owned(
            &ws.ownership(),
            &third,
            pocket_dock::engine::Operation::ContainerStop,
        )
        .await
        .unwrap();
    // The API's stop runs the same cleanup afterwards: when the controller has already
    // restarted the container, that cleanup reports "container state improper" although the
    // stop itself happened. The wait below proves the repair either way.
    match engine.stop_container(&handle, Duration::from_secs(1)).await {
        Ok(()) => {}
        Err(pocket_dock::engine::EngineError::Conflict { message, .. })
            if message.contains("state improper") => {}
        Err(other) => panic!("stop failed: {other}"),
    }
    let took = until(Duration::from_secs(5), "repair after stop", || async {
        running(&ws, podman, "a").await.as_deref() == Some(third.as_str())
    })
    .await;
    eprintln!("stop to running: {took:?}");

    // A broken file keeps its sandbox as it was, with the problem in its status.
    ws.write("a.yaml", "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\nspec:\n  image: [unclosed\n");
    let status = ws.path(".pocket-dock/status/sandbox/a.yaml");
    until(
        Duration::from_secs(5),
        "the parse error in the status",
        || async { std::fs::read_to_string(&status).is_ok_and(|s| s.contains("InvalidSpec")) },
    )
    .await;
    let text = std::fs::read_to_string(&status).unwrap();
    assert!(text.contains(".pocket-dock/a.yaml:"), "{text}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        running(&ws, podman, "a").await.as_deref(),
        Some(third.as_str()),
        "the sandbox kept running, untouched"
    );
    // Fixing the file converges again.
    ws.write("a.yaml", &sandbox("a", "  env: {V: '3'}\n"));
    until(
        Duration::from_secs(5),
        "convergence after the fix",
        || async {
            running(&ws, podman, "a")
                .await
                .is_some_and(|id| id != third)
                && std::fs::read_to_string(&status).is_ok_and(|s| !s.contains("InvalidSpec"))
        },
    )
    .await;

    // A second controller refuses to start.
    let second_controller = cli::pd(
        ws.root(),
        &[("CONTAINER_HOST".into(), podman.host())],
        &["controller"],
    );
    assert_eq!(
        second_controller.code,
        Some(4),
        "{}",
        second_controller.stderr_text()
    );
    assert!(
        second_controller
            .stderr_text()
            .contains("another controller (pid"),
        "{}",
        second_controller.stderr_text()
    );

    // SIGTERM: exit 0 quickly; the sandbox keeps running; the lock is released.
    let kept = running(&ws, podman, "a").await.unwrap();
    let (code, took, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        running(&ws, podman, "a").await,
        Some(kept),
        "sandboxes outlive the controller"
    );
    let again = Running::start(&ws, podman);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, _, log) = again.stop();
    assert_eq!(code, Some(0), "the lock was released: {log}");

    // Events are recorded and replayable after the restart.
    let events = ws.pd(&["events"]);
    assert!(
        events.stdout_text().contains("Sandbox/a"),
        "{}",
        events.stdout_text()
    );
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn the_controller_survives_a_podman_restart_without_duplicates() {
    let mut podman = Podman::start(Mode::Rootful);
    let ws = TestWorkspace::new(&podman);
    ws.write(
        "s.yaml",
        &format!("{}{}", sandbox("a", ""), sandbox("b", "")),
    );
    let controller = Running::start(&ws, &podman);
    // Both running, not only created: a container created but not yet started when the
    // service goes down is started after the restart, which is not what this checks.
    until(Duration::from_secs(20), "initial convergence", || async {
        running(&ws, &podman, "a").await.is_some() && running(&ws, &podman, "b").await.is_some()
    })
    .await;

    podman.restart_service();
    // Drift made while the controller reconnects is repaired once it has.
    let a = running(&ws, &podman, "a").await.unwrap();
    assert!(podman.podman(&["rm", "-f", &a]).status.success());
    until(
        Duration::from_secs(15),
        "repair after the restart",
        || async { running(&ws, &podman, "a").await.is_some() },
    )
    .await;
    let seen = ws.sandboxes(&podman).await;
    assert!(
        seen.values().all(|cs| cs.len() == 1),
        "no duplicates: {seen:?}"
    );
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "no crash: {log}");
    // Through the restarted service, before the harness tears the store down (its own
    // `rm -af` has been seen to miss a container the restarted service made).
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn a_burst_of_writes_is_reconciled_a_few_times_in_bounded_memory_and_converges() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    for i in 0..50 {
        ws.write(
            &format!("f{i:02}.yaml"),
            &sandbox(&format!("s{i:02}"), "  env: {ROUND: '0'}\n"),
        );
    }
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(60), "initial convergence", || async {
        ws.sandboxes(podman).await.len() == 50
    })
    .await;
    let before = controller.reconciles();

    // 500 writes to 50 files in 10 s: comments change on every write (an editor saving),
    // the spec changes only in the last round.
    let started = Instant::now();
    for n in 0..500 {
        let i = n % 50;
        let round = if n >= 450 { "1" } else { "0" };
        ws.write(
            &format!("f{i:02}.yaml"),
            &format!(
                "# save {n}\n{}",
                sandbox(
                    &format!("s{i:02}"),
                    &format!("  env: {{ROUND: '{round}'}}\n")
                )
            ),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let writing = started.elapsed();
    until(
        Duration::from_secs(120),
        "convergence after the burst",
        || async { ws.pd(&["diff"]).code == Some(0) },
    )
    .await;
    let passes = controller.reconciles() - before;
    let rss = peak_rss_kb(controller.child.id());
    eprintln!("500 writes in {writing:?}: {passes} reconcile passes, controller peak RSS {rss} kB");
    assert!(passes < 100, "{passes} passes for 500 writes");
    assert!(rss < 50 * 1024, "peak RSS {rss} kB");
    assert_eq!(ws.running_ids(podman).await.len(), 50);
    let (code, _, _) = controller.stop();
    assert_eq!(code, Some(0));
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn an_idle_controller_does_not_poll() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("a.yaml", &sandbox("idle", ""));
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(20), "convergence", || async {
        running(&ws, podman, "idle").await.is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = cpu_ms(controller.child.id());
    tokio::time::sleep(Duration::from_secs(60)).await;
    let used = cpu_ms(controller.child.id()) - before;
    eprintln!("idle controller: {used} ms of CPU in 60 s");
    assert!(used < 100, "{used} ms of CPU in 60 idle seconds");
    let (code, _, _) = controller.stop();
    assert_eq!(code, Some(0));
    ws.pd(&["delete", "--all"]);
}

fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process, in milliseconds.
fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    ticks * 10 // USER_HZ is 100 on Linux
}

#[tokio::test]
async fn a_crashed_controller_leaves_no_stale_lock() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("a.yaml", &sandbox("crash", ""));
    let mut first = Running::start(&ws, podman);
    until(Duration::from_secs(20), "convergence", || async {
        running(&ws, podman, "crash").await.is_some()
    })
    .await;
    first.child.kill().unwrap(); // SIGKILL: no cleanup runs
    first.child.wait().unwrap();
    assert!(
        ws.path(".pocket-dock/controller.lock").exists(),
        "the lock file stays behind"
    );
    let second = Running::start(&ws, podman);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (code, _, log) = second.stop();
    assert_eq!(
        code,
        Some(0),
        "a new controller starts after a crash: {log}"
    );
    assert!(log.contains("controller started"), "{log}");
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn an_edit_in_a_build_context_rebuilds_the_image_and_moves_its_sandbox() {
    if !requires(
        "controller::an_edit_in_a_build_context_rebuilds_the_image_and_moves_its_sandbox",
        &[Need::Engine(Capability::Build)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    std::fs::create_dir_all(ws.path("ctx")).unwrap();
    std::fs::write(ws.path("ctx/Containerfile"), "FROM base\nCOPY f /f\n").unwrap();
    std::fs::write(ws.path("ctx/f"), "one\n").unwrap();
    ws.write(
        "w.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: base}\nspec: {embedded: base}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: app}\nspec:\n  build: {context: ctx, from: {image: base}}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\nspec:\n  imageFrom: {image: app}\n",
    );
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(30), "initial convergence", || async {
        running(&ws, podman, "a").await.is_some()
    })
    .await;
    let first = running(&ws, podman, "a").await.unwrap();

    // Only a file of the build context changes, not the YAML.
    std::fs::write(ws.path("ctx/f"), "two\n").unwrap();
    let took = until(
        Duration::from_secs(30),
        "the rebuild to converge",
        || async {
            running(&ws, podman, "a")
                .await
                .is_some_and(|id| id != first)
        },
    )
    .await;
    eprintln!("context edit to running on the new image: {took:?}");
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    let c = podman
        .engine()
        .find_owned_by_name(
            &ws.ownership(),
            &ws.ownership()
                .container_name(pocket_dock_spec::Kind::Sandbox, "a"),
            pocket_dock::engine::Operation::ExecCreate,
        )
        .await
        .unwrap()
        .unwrap()
        .1;
    let out = podman
        .engine()
        .exec_run(
            &c,
            &pocket_dock::engine::ExecConfig::new(["cat", "/f"]),
            pocket_dock::engine::ExecOutput::new().capture(),
            Some(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout.bytes, b"two\n");
    ws.pd(&["delete", "--all"]);
}
