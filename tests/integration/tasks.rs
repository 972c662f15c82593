//! One-shot sandboxes, dependency conditions and lifecycle hooks, against real Podman: the
//! app-and-db example end to end, a failing task that blocks its dependants, hooks that
//! fail and hooks that run at every start, and the controller honouring `Completed`.

use std::time::Duration;

use crate::support::Podman;
use crate::support::controller::{Running, running};
use crate::support::poll::until;
use crate::support::workspace::{TestWorkspace, actions, port, sandbox};

/// A status file as JSON.
fn status(ws: &TestWorkspace, kind: &str, name: &str) -> serde_json::Value {
    let path = ws.path(&format!(".pocket-dock/status/{kind}/{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc = pocket_dock_spec::yaml::parse(&text, Default::default()).unwrap();
    doc[0].root.to_json()
}

fn ready(status: &serde_json::Value) -> (String, String, String) {
    let c = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    (
        c["status"].as_str().unwrap().to_string(),
        c["reason"].as_str().unwrap().to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    )
}

fn host_get(port: u16, path: &str) -> String {
    let out = std::process::Command::new("busybox")
        .args([
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://127.0.0.1:{port}{path}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_app_and_db_example_migrates_once_then_serves() {
    let podman = Podman::shared();
    let host_port = port(6);
    let ws = TestWorkspace::from_example(
        podman,
        "app-and-db",
        &[("host: 18081", &format!("host: {host_port}"))],
    );
    let (run, out) = ws.pd_json(&["apply", "--wait", "--timeout", "90s"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let done = actions(&out);
    for expected in [
        "create Sandbox/app",
        "create Sandbox/db",
        "create Sandbox/migrate",
        "create-network Network/backend",
        "create-network Network/default",
        "create-volume Volume/db-data",
    ] {
        assert!(done.contains(&expected.to_string()), "{done:?}");
    }

    // The one-shot ran to completion: Succeeded, exit 0, its output in status.
    let migrate = status(&ws, "sandbox", "migrate");
    assert_eq!(migrate["phase"], "Succeeded", "{migrate}");
    assert_eq!(migrate["lastExitCode"], 0);
    assert!(
        migrate["output"]
            .as_str()
            .unwrap()
            .contains("migrated to version 1"),
        "{migrate}"
    );
    assert_eq!(ready(&migrate).1, "Completed");
    // The app started after it, fetched the schema from db by name in its postCreate hook,
    // and serves it.
    assert_eq!(ready(&status(&ws, "sandbox", "app")).0, "True");
    assert_eq!(host_get(host_port, "/schema").trim(), "schema version 1");
    assert!(host_get(host_port, "/").contains("app on pocket-dock"));
    let events = ws.pd_ok(&["events", "--output", "json"]).stdout_text();
    assert!(
        events
            .lines()
            .any(|l| l.contains("\"hook\"") && l.contains("postCreate")),
        "the hooks are in the event log: {events}"
    );

    // Applying again runs nothing: the task is not run again, nothing restarts.
    let (run, out) = ws.pd_json(&["apply", "--wait"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(actions(&out).is_empty(), "{:?}", actions(&out));
    let ids = ws.sandboxes(podman).await;
    assert_eq!(ids["migrate"].len(), 1);

    // A new spec runs it again (and only it).
    let file = ws.path(".pocket-dock/app.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("version 1", "version 2")).unwrap();
    let (run, out) = ws.pd_json(&["apply", "--wait", "--timeout", "60s"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(actions(&out), ["recreate Sandbox/migrate"]);
    let migrate = status(&ws, "sandbox", "migrate");
    assert!(
        migrate["output"].as_str().unwrap().contains("version 2"),
        "{migrate}"
    );
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn a_failed_one_shot_blocks_its_dependants_with_the_reason() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let docs = [
        sandbox(
            "seed",
            "  run: once\n  command: [sh, -c, \"echo boom; exit 3\"]\n",
        ),
        sandbox(
            "user",
            "  dependsOn:\n    - name: seed\n      condition: Completed\n",
        ),
        sandbox("bystander", ""),
    ]
    .concat();
    ws.write("s.yaml", &docs);
    let run = ws.pd(&["apply", "--wait", "--timeout", "30s"]);
    assert_eq!(
        run.code,
        Some(4),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        run.stdout_text().contains("Sandbox/seed") && run.stdout_text().contains("exit code 3"),
        "{}",
        run.stdout_text()
    );
    let seed = status(&ws, "sandbox", "seed");
    assert_eq!(seed["phase"], "Failed", "{seed}");
    assert_eq!(seed["lastExitCode"], 3);
    assert!(seed["output"].as_str().unwrap().contains("boom"), "{seed}");
    let user = status(&ws, "sandbox", "user");
    assert_eq!(user["phase"], "Pending", "{user}");
    let (_, _, message) = ready(&user);
    assert!(
        message.contains("Sandbox/seed failed (exit code 3)"),
        "{message}"
    );
    let seen = ws.sandboxes(podman).await;
    assert!(!seen.contains_key("user"), "the dependant was never made");
    assert!(
        running(&ws, podman, "bystander").await.is_some(),
        "unrelated objects go on"
    );
    // Not restarted: still the one container, still exited.
    assert_eq!(seen["seed"].len(), 1);

    // A plain apply says the same, quickly (a failed task is not waited for).
    let started = std::time::Instant::now();
    let run = ws.pd(&["apply"]);
    assert_eq!(run.code, Some(4), "{}", run.stdout_text());
    assert!(started.elapsed() < Duration::from_secs(20));

    // Fixed, it runs again and the dependant follows.
    ws.write("s.yaml", &docs.replace("exit 3", "exit 0"));
    ws.pd_ok(&["apply", "--wait", "--timeout", "30s"]);
    assert!(running(&ws, podman, "user").await.is_some());
    assert_eq!(status(&ws, "sandbox", "seed")["phase"], "Succeeded");
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn hooks_run_after_create_and_every_start_and_a_failure_shows_in_status() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let hooks = "  hooks:\n    postCreate: [sh, -c, \"echo created >> /tmp/log\"]\n    postStart: [sh, -c, \"echo started >> /tmp/log\"]\n";
    ws.write(
        "s.yaml",
        &[
            sandbox("ok", hooks),
            sandbox(
                "bad",
                "  hooks:\n    postCreate:\n      - [sh, -c, \"echo preparing; echo nope >&2; exit 7\"]\n    timeout: 10s\n",
            ),
            sandbox(
                "slow",
                "  hooks:\n    postStart: [sleep, \"300\"]\n    timeout: 1s\n",
            ),
        ]
        .concat(),
    );
    let run = ws.pd(&["apply"]);
    assert_eq!(
        run.code,
        Some(4),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let (_, log) = ws.exec(podman, "ok", &["cat", "/tmp/log"]).await;
    assert_eq!(log, "created\nstarted\n");
    // The failed hook: Ready=False, HookFailed, its exit code and output; the container is
    // kept for a look inside.
    let bad = status(&ws, "sandbox", "bad");
    let (ok, reason, message) = ready(&bad);
    assert_eq!(
        (ok.as_str(), reason.as_str()),
        ("False", "HookFailed"),
        "{bad}"
    );
    assert!(
        message.contains("exit code 7") && message.contains("nope"),
        "{message}"
    );
    assert_eq!(bad["hookFailure"]["exitCode"], 7);
    assert!(running(&ws, podman, "bad").await.is_some());
    // A hook that overruns its timeout fails, and is killed with what it started.
    let (_, _, message) = ready(&status(&ws, "sandbox", "slow"));
    assert!(message.contains("timed out after 1s"), "{message}");
    until(
        Duration::from_secs(10),
        "the overrunning hook is gone",
        || async {
            !ws.exec(podman, "slow", &["ps", "-o", "args"])
                .await
                .1
                .contains("sleep 300")
        },
    )
    .await;
    // It stays so (the hook is not re-run on the same container), and `--wait` fails on it.
    let run = ws.pd(&["apply", "--wait", "--timeout", "10s"]);
    assert_eq!(run.code, Some(4), "{}", run.stdout_text());
    assert_eq!(ready(&status(&ws, "sandbox", "bad")).1, "HookFailed");

    // A start after a stop runs postStart again, not postCreate.
    let id = running(&ws, podman, "ok").await.unwrap();
    assert!(podman.podman(&["stop", "-t", "0", &id]).status.success());
    let (run, out) = ws.pd_json(&["apply"]);
    assert!(
        actions(&out).contains(&"start Sandbox/ok".to_string()),
        "{:?} {}",
        actions(&out),
        run.stderr_text()
    );
    let (_, log) = ws.exec(podman, "ok", &["cat", "/tmp/log"]).await;
    assert_eq!(log, "created\nstarted\nstarted\n");

    // Fixing the hook makes a new container (hooks are in the spec hash), which passes.
    ws.write(
        "s.yaml",
        &sandbox("bad", "  hooks:\n    postCreate: [\"true\"]\n"),
    );
    ws.pd_ok(&["apply"]);
    assert_eq!(ready(&status(&ws, "sandbox", "bad")).0, "True");
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn the_controller_starts_a_dependant_once_its_task_completed() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "s.yaml",
        &[
            sandbox(
                "prep",
                "  run: once\n  command: [sh, -c, \"sleep 2; echo prepared\"]\n",
            ),
            sandbox(
                "main",
                "  dependsOn:\n    - name: prep\n      condition: Completed\n",
            ),
        ]
        .concat(),
    );
    let controller = Running::start(&ws, podman);
    until(
        Duration::from_secs(60),
        "main runs after prep completed",
        || async { running(&ws, podman, "main").await.is_some() },
    )
    .await;
    let seen = ws.sandboxes(podman).await;
    assert_eq!(seen["prep"].len(), 1);
    assert_ne!(
        seen["prep"][0].state,
        pocket_dock::engine::ContainerState::Running
    );
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    ws.pd_ok(&["delete", "--all"]);
}
