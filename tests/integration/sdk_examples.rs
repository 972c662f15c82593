//! Every example under examples/sdk/ runs against the real engine: each is compiled into
//! this binary as a module and its `run` called on a fresh workspace, so an example that
//! stops compiling or working fails here.

use std::time::Duration;

use pocket_dock::engine::Capability;

use crate::support::controller::until;
use crate::support::workspace::{TestWorkspace, sandbox};
use crate::support::{Need, Podman, requires};

#[allow(dead_code)]
#[path = "../../examples/sdk/apply_and_status.rs"]
mod apply_and_status;
#[allow(dead_code)]
#[path = "../../examples/sdk/audit.rs"]
mod audit;
#[allow(dead_code)]
#[path = "../../examples/sdk/embedded_controller.rs"]
mod embedded_controller;
#[allow(dead_code)]
#[path = "../../examples/sdk/exec_with_sinks.rs"]
mod exec_with_sinks;
#[allow(dead_code)]
#[path = "../../examples/sdk/images_and_snapshots.rs"]
mod images_and_snapshots;
#[allow(dead_code)]
#[path = "../../examples/sdk/logs.rs"]
mod logs;
#[allow(dead_code)]
#[path = "../../examples/sdk/migrate.rs"]
mod migrate;
#[allow(dead_code)]
#[path = "../../examples/sdk/pause_and_fork.rs"]
mod pause_and_fork;
#[allow(dead_code)]
#[path = "../../examples/sdk/pool_claim.rs"]
mod pool_claim;
#[allow(dead_code)]
#[path = "../../examples/sdk/rebuild_and_reset.rs"]
mod rebuild_and_reset;
#[allow(dead_code)]
#[path = "../../examples/sdk/session.rs"]
mod session;

fn workspace(podman: &Podman) -> TestWorkspace {
    let ws = TestWorkspace::new(podman);
    ws.write(
        "box.yaml",
        &sandbox(
            "box",
            "  command: [sh, -c, 'echo sdk-ready; exec sleep 1000000']\n",
        ),
    );
    ws
}

#[tokio::test]
async fn the_apply_exec_session_and_logs_examples_work() {
    let podman = Podman::shared();
    let ws = workspace(podman);
    let engine = podman.engine();

    apply_and_status::run(&engine, ws.root()).await.unwrap();
    assert!(ws.running_ids(podman).await.contains_key("box"));
    // Applying again changes nothing.
    assert!(ws.pd_ok(&["diff"]).stdout_text().contains("no changes"));

    let code = exec_with_sinks::run(&engine, ws.root(), "box")
        .await
        .unwrap();
    assert_eq!(code, Some(3));

    let events = session::run(&engine, ws.root(), "box").await.unwrap();
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "started", "{events:?}");
    assert!(
        events.iter().any(|e| e["id"] == "1" && e["exit"] == 7),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["stream"] == "stdout" && e["data"] == "hi\n"),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap()["event"], "closed", "{events:?}");

    // What the examples did is in the event log, and its chains hold.
    let report = audit::run(ws.root(), None).unwrap().unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
    assert!(report.rows >= 2, "apply's actions: {report:#?}");
    let head = report.head.unwrap();
    let again = audit::run(ws.root(), Some(&head)).unwrap().unwrap();
    assert_eq!(
        again.expected_head.unwrap().result,
        pocket_dock::store::HeadResult::Matches
    );

    until(
        Duration::from_secs(10),
        "the sandbox's first line",
        || async {
            logs::run(&engine, ws.root(), "box")
                .await
                .is_ok_and(|text| text.contains("sdk-ready"))
        },
    )
    .await;
}

#[tokio::test]
async fn the_images_and_snapshots_example_works() {
    if !requires(
        "sdk_examples::the_images_and_snapshots_example_works",
        &[
            Need::Engine(Capability::Commit),
            Need::Engine(Capability::ExportOci),
            Need::Engine(Capability::LoadOci),
        ],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = workspace(podman);
    let engine = podman.engine();
    ws.pd_ok(&["apply"]);
    let archive = ws.path("saved.tar");
    let id = images_and_snapshots::run(&engine, ws.root(), "box", &archive)
        .await
        .unwrap();
    assert!(ws.path(".pocket-dock/snapshots/saved.yaml").is_file());
    assert!(archive.is_file());
    assert_eq!(engine.inspect_image(&id).await.unwrap().id, id);
}

#[tokio::test]
async fn the_embedded_controller_example_converges_and_stops() {
    let podman = Podman::shared();
    let ws = workspace(podman);
    let engine = podman.engine();
    let summary = embedded_controller::run(&engine, ws.root(), "box", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(summary.passes >= 1, "{summary:?}");
    assert!(ws.running_ids(podman).await.contains_key("box"));
    // Its actions are in the event log, under the controller's name.
    let events = ws.pd_ok(&["events", "--source", "controller", "--output", "json"]);
    assert!(
        events.stdout_text().contains("Sandbox"),
        "{}",
        events.stdout_text()
    );
}

#[tokio::test]
async fn the_rebuild_and_reset_example_makes_the_sandbox_again() {
    let podman = Podman::shared();
    let ws = workspace(podman);
    ws.pd_ok(&["apply"]);
    let before = ws.running_ids(podman).await;
    rebuild_and_reset::run(&podman.engine(), ws.root(), "box")
        .await
        .unwrap();
    let after = ws.running_ids(podman).await;
    assert_ne!(after["box"], before["box"], "a new container");
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn the_pool_claim_example_claims_runs_code_in_a_session_and_releases() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "pool.yaml",
        &format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Template\nmetadata:\n  name: runner\nspec:\n  sandbox:\n    image: {}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Pool\nmetadata:\n  name: graders\nspec:\n  template: runner\n  size: 2\n",
            crate::support::TEST_IMAGE
        ),
    );
    ws.pd_ok(&["apply"]);
    let engine = podman.engine();
    let (printed, _ms) = pool_claim::run(&engine, ws.root(), "graders")
        .await
        .unwrap();
    assert_eq!(printed, "42\n");
    // Released, and the pool is full again.
    let (_, values) = ws.pd_json(&["pool", "list"]);
    assert_eq!(values[0][0]["ready"], 2, "{values:?}");
    assert_eq!(values[0][0]["claimed"], serde_json::json!([]), "{values:?}");
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn the_pause_and_fork_example_leaves_the_source_running_and_makes_the_copy() {
    if !requires(
        "sdk_examples::the_pause_and_fork_example_leaves_the_source_running_and_makes_the_copy",
        &[Need::Engine(Capability::Commit)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = workspace(podman);
    ws.pd_ok(&["apply"]);
    let before = ws.running_ids(podman).await;
    pause_and_fork::run(&podman.engine(), ws.root(), "box", "box-copy")
        .await
        .unwrap();
    let after = ws.running_ids(podman).await;
    assert_eq!(
        after["box"], before["box"],
        "the source is the same container"
    );
    assert!(after.contains_key("box-copy"), "{after:?}");
    assert!(ws.path(".pocket-dock/forks/box-copy.yaml").exists());
    ws.pd(&["delete", "--all"]);
}

#[test]
fn the_migrate_example_rewrites_once_and_then_has_nothing_to_do() {
    let podman = Podman::shared();
    let ws = workspace(podman);
    let before = std::fs::read_to_string(ws.path(".pocket-dock/box.yaml")).unwrap();
    assert!(before.contains("pocket-dock.dev/v1alpha1"));
    let check = migrate::run(ws.root(), true).unwrap();
    assert!(check.pending());
    assert_eq!(
        std::fs::read_to_string(ws.path(".pocket-dock/box.yaml")).unwrap(),
        before
    );
    assert_eq!(migrate::run(ws.root(), false).unwrap().changed, 1);
    assert_eq!(
        std::fs::read_to_string(ws.path(".pocket-dock/box.yaml")).unwrap(),
        before.replace("v1alpha1", "v1beta1")
    );
    assert!(!migrate::run(ws.root(), true).unwrap().pending());
}
