//! `spec.lifetime` against real Podman, under the controller: an idle sandbox is stopped, one
//! at its lifetime removed; status says why; `apply` and a restarted controller leave them
//! so; activity keeps a sandbox alive; a change of the declaration (or `apply --resume`)
//! lifts the expiry.

use std::time::Duration;

use pocket_dock::engine::ContainerState;

use crate::support::Podman;
use crate::support::controller::{Running, running, until};
use crate::support::workspace::{TestWorkspace, sandbox};

/// The state of `name`'s only container (`None`: it has none).
async fn state(
    ws: &TestWorkspace,
    podman: &Podman,
    name: &str,
) -> Option<(String, ContainerState)> {
    let seen = ws.sandboxes(podman).await.remove(name)?;
    assert_eq!(seen.len(), 1, "{name}: {seen:?}");
    Some((seen[0].id.clone(), seen[0].state.clone()))
}

fn status(ws: &TestWorkspace, name: &str) -> String {
    std::fs::read_to_string(ws.path(&format!(".pocket-dock/status/sandbox/{name}.yaml")))
        .unwrap_or_default()
}

#[tokio::test]
async fn an_idle_sandbox_is_stopped_stays_stopped_and_activity_or_an_edit_keeps_or_brings_it_back()
{
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "idle.yaml",
        &sandbox("idle", "  lifetime: {idleTimeout: 2s}\n"),
    );
    ws.write(
        "busy.yaml",
        &sandbox("busy", "  lifetime: {idleTimeout: 4s}\n"),
    );
    let controller = Running::start(&ws, podman);
    // `idle` may be stopped already by the time `busy` is seen running (2 s is short on a
    // busy machine): its container, whatever its state.
    until(Duration::from_secs(20), "both to be made", || async {
        state(&ws, podman, "idle").await.is_some() && running(&ws, podman, "busy").await.is_some()
    })
    .await;
    // (It may be idle already: its id, whatever its state.)
    let idle_id = state(&ws, podman, "idle").await.unwrap().0;

    // `busy` gets one command after another for 9 s, well past its 4 s: it keeps running. Over
    // the same time `idle` is stopped by the controller, which wakes for it by itself.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(9) {
        let before = started.elapsed();
        let run = ws.pd(&["exec", "busy", "--", "true"]);
        assert!(
            run.code == Some(0) && running(&ws, podman, "busy").await.is_some(),
            "busy was stopped while in use, in an exec from {before:?} to {:?}: {}\n{}\n{}",
            started.elapsed(),
            run.stderr_text(),
            status(&ws, "busy"),
            controller.log()
        );
    }
    // A command still running is activity all along: 7 s of `sleep`, past the timeout.
    ws.pd_ok(&["exec", "busy", "--", "sleep", "7"]);
    assert!(
        running(&ws, podman, "busy").await.is_some(),
        "busy was stopped under a running command\n{}",
        status(&ws, "busy")
    );
    until(Duration::from_secs(10), "idle to be stopped", || async {
        state(&ws, podman, "idle")
            .await
            .is_some_and(|(_, s)| !s.is_running())
            && status(&ws, "idle").contains("IdleTimeout")
    })
    .await;
    let text = status(&ws, "idle");
    assert!(text.contains("phase: Stopped"), "{text}");
    assert!(text.contains("idle for 2s (idleTimeout)"), "{text}");
    assert!(text.contains("reason: IdleTimeout"), "{text}");
    assert_eq!(
        state(&ws, podman, "idle").await.unwrap().0,
        idle_id,
        "stopped, not removed"
    );
    // Left alone, `busy` idles out too.
    until(
        Duration::from_secs(10),
        "busy to be stopped once idle",
        || async {
            state(&ws, podman, "busy")
                .await
                .is_some_and(|(_, s)| !s.is_running())
        },
    )
    .await;

    // An apply does not undo it; it says why it holds it.
    let run = ws.pd_ok(&["apply"]);
    assert!(
        run.stdout_text().contains("held: stopped at"),
        "{}",
        run.stdout_text()
    );
    assert!(!state(&ws, podman, "idle").await.unwrap().1.is_running());
    assert!(status(&ws, "idle").contains("IdleTimeout"));
    // `exec` says how to resume it.
    let run = ws.pd(&["exec", "idle", "--", "true"]);
    assert_eq!(run.code, Some(4), "{}", run.stderr_text());
    assert!(
        run.stderr_text()
            .contains("apply --resume --only Sandbox/idle"),
        "{}",
        run.stderr_text()
    );

    // A restarted controller still honours the recorded expiry.
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    let controller = Running::start(&ws, podman);
    until(
        Duration::from_secs(10),
        "the new controller's first pass",
        || async { controller.reconciles() > 0 },
    )
    .await;
    assert!(!state(&ws, podman, "idle").await.unwrap().1.is_running());
    assert!(!state(&ws, podman, "busy").await.unwrap().1.is_running());

    // Editing the declaration (only the limit: the container is kept) lifts the expiry.
    ws.write(
        "idle.yaml",
        &sandbox("idle", "  lifetime: {idleTimeout: 10m}\n"),
    );
    until(Duration::from_secs(10), "idle to run again", || async {
        running(&ws, podman, "idle").await.as_deref() == Some(idle_id.as_str())
            && !status(&ws, "idle").contains("IdleTimeout")
    })
    .await;
    // `apply --resume` lifts it without an edit.
    assert!(!state(&ws, podman, "busy").await.unwrap().1.is_running());
    ws.pd_ok(&["apply", "--resume", "--only", "Sandbox/busy"]);
    assert!(running(&ws, podman, "busy").await.is_some());
    drop(controller);
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn at_its_lifetime_a_sandbox_is_removed_and_stays_removed() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "short.yaml",
        &sandbox("short", "  lifetime: {maxLifetime: 3s}\n"),
    );
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(20), "short to run", || async {
        running(&ws, podman, "short").await.is_some()
    })
    .await;
    // A session open all along does not extend a lifetime.
    let mut session = ws
        .command(&["session", "short"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    until(Duration::from_secs(15), "short to be removed", || async {
        state(&ws, podman, "short").await.is_none() && status(&ws, "short").contains("MaxLifetime")
    })
    .await;
    let _ = session.kill();
    let _ = session.wait();
    let text = status(&ws, "short");
    assert!(text.contains("lifetime 3s reached (maxLifetime)"), "{text}");
    assert!(text.contains("phase: Stopped"), "{text}");

    // Neither an apply nor a restarted controller makes it again.
    let run = ws.pd_ok(&["apply"]);
    assert!(
        run.stdout_text().contains("held: removed at"),
        "{}",
        run.stdout_text()
    );
    assert!(state(&ws, podman, "short").await.is_none());
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    let controller = Running::start(&ws, podman);
    until(
        Duration::from_secs(10),
        "the new controller's first pass",
        || async { controller.reconciles() > 0 },
    )
    .await;
    assert!(state(&ws, podman, "short").await.is_none());
    assert!(status(&ws, "short").contains("MaxLifetime"));

    // A changed declaration makes it again, with a new lifetime.
    ws.write(
        "short.yaml",
        &sandbox("short", "  lifetime: {maxLifetime: 1h}\n"),
    );
    until(Duration::from_secs(10), "short to run again", || async {
        running(&ws, podman, "short").await.is_some()
            && !status(&ws, "short").contains("MaxLifetime")
    })
    .await;
    drop(controller);
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn apply_after_the_deadline_enforces_it_without_a_controller() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "nap.yaml",
        &sandbox("nap", "  lifetime: {idleTimeout: 1s}\n"),
    );
    ws.pd_ok(&["apply"]);
    assert!(running(&ws, podman, "nap").await.is_some());
    // `diff` shows the stop, with its reason, once the second has passed.
    until(
        Duration::from_secs(10),
        "diff to plan the idle stop",
        || async {
            let run = ws.pd(&["diff"]);
            run.code == Some(1)
                && run
                    .stdout_text()
                    .contains("stop (idle for 1s (idleTimeout))")
        },
    )
    .await;
    let run = ws.pd_ok(&["apply"]);
    assert!(
        run.stdout_text().contains("1 stopped"),
        "{}",
        run.stdout_text()
    );
    assert!(!state(&ws, podman, "nap").await.unwrap().1.is_running());
    assert!(status(&ws, "nap").contains("reason: IdleTimeout"));
    // Held from then on: nothing to do.
    let run = ws.pd(&["diff"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout_text());
    assert!(
        run.stdout_text().contains("held: stopped at"),
        "{}",
        run.stdout_text()
    );
    ws.pd(&["delete", "--all"]);
}
