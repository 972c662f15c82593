//! Pause and resume against real Podman: a paused sandbox's processes stop (a counter it
//! writes to a host folder holds still), keep their memory (the counter goes on from where
//! it was, in the same process), exec into it is refused with exit 4 and the resume hint,
//! `state: paused` converges and stays converged, and an imperative pause survives apply.

use std::time::Duration;

use pocket_dock::engine::ContainerState;

use crate::support::controller::Running;
use crate::support::podman::Podman;
use crate::support::poll::{until, until_blocking};
use crate::support::workspace::{TestWorkspace, actions, sandbox};

/// A sandbox that counts in a shell variable (its memory) and writes the count to the
/// host folder `out/` ten times a second.
fn counter(name: &str, extra: &str) -> String {
    sandbox(
        name,
        &format!(
            "  command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo $i > /out/count.tmp; mv /out/count.tmp /out/count; sleep 0.1; done']\n  mounts:\n    - {{type: bind, source: ./out, target: /out}}\n{extra}"
        ),
    )
}

fn count(ws: &TestWorkspace) -> u64 {
    std::fs::read_to_string(ws.path("out/count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The actions on sandboxes (the workspace's network is made by the first apply too).
fn sandbox_actions(values: &[serde_json::Value]) -> Vec<String> {
    actions(values)
        .into_iter()
        .filter(|a| a.contains(" Sandbox/"))
        .collect()
}

async fn state_of(ws: &TestWorkspace, podman: &Podman, name: &str) -> (String, ContainerState) {
    let seen = ws.sandboxes(podman).await;
    let c = &seen[name];
    assert_eq!(c.len(), 1, "{c:?}");
    (c[0].id.clone(), c[0].state.clone())
}

#[tokio::test]
async fn pause_freezes_keeps_memory_survives_apply_and_resume_continues() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    std::fs::create_dir_all(ws.path("out")).unwrap();
    ws.write("ctr.yaml", &counter("ctr", ""));
    ws.pd_ok(&["apply"]);
    until_blocking(Duration::from_secs(20), "the counter counts", || {
        count(&ws) >= 5
    });
    let (id, _) = state_of(&ws, podman, "ctr").await;

    let (run, out) = ws.pd_json(&["pause", "ctr"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(out[0]["event"], "pause");
    assert_eq!(out[0]["state"], "paused");
    assert_eq!(out[0]["declared"], true);
    assert!(
        out[0]["by"]
            .as_str()
            .unwrap()
            .starts_with("pocket-dock pause")
    );
    assert_eq!(
        state_of(&ws, podman, "ctr").await,
        (id.clone(), ContainerState::Paused)
    );
    // Frozen: the count holds still.
    let frozen = count(&ws);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        count(&ws),
        frozen,
        "a paused sandbox's process kept counting"
    );

    // Exec into it: exit 4, and the way out.
    let run = ws.pd(&["exec", "ctr", "--", "true"]);
    assert_eq!(run.code, Some(4), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("pocket-dock resume ctr"),
        "{}",
        run.stderr_text()
    );
    assert!(
        run.stderr_text().contains("is paused"),
        "{}",
        run.stderr_text()
    );

    // apply honors the pause (nothing to do), and status and get say who paused it.
    let (run, values) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(actions(&values).is_empty(), "{values:?}");
    assert_eq!(
        state_of(&ws, podman, "ctr").await,
        (id.clone(), ContainerState::Paused)
    );
    let status = std::fs::read_to_string(ws.path(".pocket-dock/status/sandbox/ctr.yaml")).unwrap();
    assert!(status.contains("phase: Paused"), "{status}");
    assert!(status.contains("by: \"pocket-dock pause"), "{status}");
    let get = ws.pd_ok(&["get", "sandbox/ctr"]).stdout_text();
    assert!(
        get.matches("paused").count() >= 2,
        "desired and actual: {get}"
    );
    // Pausing again is no error.
    let (_, out) = ws.pd_json(&["pause", "ctr"]);
    assert_eq!(out[0]["unchanged"], true);

    // Resumed: the same process counts on from where it stopped (its memory was kept).
    let (run, out) = ws.pd_json(&["resume", "ctr"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(out[0]["state"], "running");
    until_blocking(Duration::from_secs(20), "the counter goes on", || {
        count(&ws) > frozen + 3
    });
    let after = count(&ws);
    assert!(
        after > frozen && after < frozen + 200,
        "{frozen} -> {after}: counted on, not from zero"
    );
    assert_eq!(
        state_of(&ws, podman, "ctr").await,
        (id, ContainerState::Running)
    );
    // The override is gone: apply keeps it running.
    let (_, values) = ws.pd_json(&["apply"]);
    assert!(actions(&values).is_empty(), "{values:?}");
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn state_paused_converges_repairs_drift_and_resume_names_the_line() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("p.yaml", &sandbox("p", "  state: paused\n"));
    let (run, values) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(sandbox_actions(&values), ["create Sandbox/p"]);
    let (id, state) = state_of(&ws, podman, "p").await;
    assert_eq!(state, ContainerState::Paused);
    let status = std::fs::read_to_string(ws.path(".pocket-dock/status/sandbox/p.yaml")).unwrap();
    assert!(status.contains("phase: Paused"), "{status}");
    assert!(status.contains("by: spec.state"), "{status}");

    // A converged apply: no action, no write.
    let (_, values) = ws.pd_json(&["apply"]);
    assert!(actions(&values).is_empty(), "{values:?}");
    let summary = values.iter().find(|v| v["event"] == "summary").unwrap();
    assert_eq!(summary["podman_calls"]["writes"], 0, "{summary}");

    // resume is refused with the line to edit; nothing changes.
    let run = ws.pd(&["resume", "p"]);
    assert_eq!(run.code, Some(4), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains(".pocket-dock/p.yaml:8"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(state_of(&ws, podman, "p").await.1, ContainerState::Paused);

    // Thawed by hand: paused again by the next apply.
    let own = ws.ownership();
    let name = own.container_name(pocket_dock_spec::Kind::Sandbox, "p");
    let out = podman.podman(&["unpause", &name]);
    assert!(out.status.success(), "{out:?}");
    let (_, values) = ws.pd_json(&["apply"]);
    assert_eq!(actions(&values), ["pause Sandbox/p"]);
    assert_eq!(
        state_of(&ws, podman, "p").await,
        (id.clone(), ContainerState::Paused)
    );

    // Declared running: thawed, never recreated.
    ws.write("p.yaml", &sandbox("p", ""));
    let (_, values) = ws.pd_json(&["apply"]);
    assert_eq!(actions(&values), ["unpause Sandbox/p"]);
    assert_eq!(
        state_of(&ws, podman, "p").await,
        (id.clone(), ContainerState::Running)
    );

    // Paused, then declared stopped: thawed and stopped (a graceful stop), same container;
    // declared paused again: started, then paused.
    ws.write("p.yaml", &sandbox("p", "  state: paused\n"));
    ws.pd_ok(&["apply"]);
    assert_eq!(state_of(&ws, podman, "p").await.1, ContainerState::Paused);
    ws.write("p.yaml", &sandbox("p", "  state: stopped\n"));
    let (run, values) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(sandbox_actions(&values), ["stop Sandbox/p"]);
    assert_eq!(
        state_of(&ws, podman, "p").await,
        (id.clone(), ContainerState::Exited)
    );
    ws.write("p.yaml", &sandbox("p", "  state: paused\n"));
    let (_, values) = ws.pd_json(&["apply"]);
    assert_eq!(sandbox_actions(&values), ["start Sandbox/p"]);
    assert_eq!(
        state_of(&ws, podman, "p").await,
        (id.clone(), ContainerState::Paused)
    );

    // A paused sandbox can be deleted (removed with force).
    ws.pd_ok(&["delete", "sandbox/p"]);
    assert!(!ws.sandboxes(podman).await.contains_key("p"));
}

#[tokio::test]
async fn the_controller_keeps_an_imperative_pause_and_repairs_a_thaw_by_hand() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("c.yaml", &sandbox("c", ""));
    ws.pd_ok(&["apply"]);
    ws.pd_ok(&["pause", "c"]);
    let (id, _) = state_of(&ws, podman, "c").await;
    let controller = Running::start(&ws, podman);
    until(
        Duration::from_secs(20),
        "the controller's first pass",
        || async { controller.reconciles() > 0 },
    )
    .await;
    assert_eq!(
        state_of(&ws, podman, "c").await,
        (id.clone(), ContainerState::Paused),
        "the controller undid an imperative pause"
    );
    // Thawed by hand: the pause event brings a pass that pauses it again.
    let name = ws
        .ownership()
        .container_name(pocket_dock_spec::Kind::Sandbox, "c");
    let out = podman.podman(&["unpause", &name]);
    assert!(out.status.success(), "{out:?}");
    until(Duration::from_secs(20), "paused again", || async {
        state_of(&ws, podman, "c").await.1 == ContainerState::Paused
    })
    .await;
    // resume lifts the override: the controller leaves it running.
    ws.pd_ok(&["resume", "c"]);
    let passes = controller.reconciles();
    until(
        Duration::from_secs(20),
        "a pass after the resume",
        || async { controller.reconciles() > passes },
    )
    .await;
    assert_eq!(
        state_of(&ws, podman, "c").await,
        (id, ContainerState::Running)
    );
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    ws.pd_ok(&["delete", "--all"]);
}
