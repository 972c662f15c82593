//! `apply`, `diff`, `get`, `delete` against real Podman: the reconciler's acceptance.

use std::time::{Duration, Instant};

use pocket_dock::engine::{ExecConfig, ExecOutput};

use crate::support::workspace::{TestWorkspace, port, sandbox};
use crate::support::{Podman, TEST_IMAGE};

fn summary(values: &[serde_json::Value]) -> &serde_json::Value {
    values
        .iter()
        .rev()
        .find(|v| v["event"] == "summary")
        .expect("a summary line")
}

fn actions(values: &[serde_json::Value]) -> Vec<String> {
    values
        .iter()
        .filter(|v| v["event"] == "action")
        .map(|v| {
            format!(
                "{} {}/{}",
                v["action"]["op"].as_str().unwrap(),
                v["kind"].as_str().unwrap(),
                v["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn the_example_converges_stays_put_and_repairs_exactly_what_changed() {
    let podman = Podman::shared();
    let host_port = port(1).to_string();
    let ws = TestWorkspace::from_example(
        podman,
        "basic",
        &[("host: 18080", &format!("host: {host_port}"))],
    );

    // Cold apply: 1 volume and 3 sandboxes, all running.
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let mut done = actions(&out);
    done.sort();
    assert_eq!(
        done,
        [
            "create Sandbox/shell",
            "create Sandbox/web",
            "create Sandbox/worker",
            "create-network Network/default",
            "create-volume Volume/work-data"
        ]
    );
    let ids = ws.running_ids(podman).await;
    assert_eq!(ids.len(), 3);
    for file in [
        "sandbox/web.yaml",
        "sandbox/worker.yaml",
        "sandbox/shell.yaml",
        "volume/work-data.yaml",
    ] {
        assert!(
            ws.path(&format!(".pocket-dock/status/{file}")).is_file(),
            "{file}"
        );
    }
    let page = std::process::Command::new("busybox")
        .args([
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://127.0.0.1:{host_port}/"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&page.stdout).trim(),
        "<h1>served by pocket-dock</h1>",
        "the bind-mounted site is served on the published port"
    );

    // A second apply changes nothing: zero Podman writes, status files untouched.
    let mtime = |f: &str| {
        std::fs::metadata(ws.path(&format!(".pocket-dock/status/{f}")))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = mtime("sandbox/web.yaml");
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0));
    assert!(actions(&out).is_empty());
    assert_eq!(
        summary(&out)["podman_calls"]["writes"],
        0,
        "{:?}",
        summary(&out)
    );
    assert_eq!(
        mtime("sandbox/web.yaml"),
        before,
        "an unchanged status is not rewritten"
    );
    let run = ws.pd(&["apply"]);
    assert!(
        run.stdout_text().starts_with("apply: no changes"),
        "{}",
        run.stdout_text()
    );

    // Data in the volume survives the recreate below.
    let engine = podman.engine();
    let (_, worker) = engine
        .inspect_owned(
            &ws.ownership(),
            &ids["worker"],
            pocket_dock::engine::Operation::ExecCreate,
        )
        .await
        .unwrap();
    let wrote = engine
        .exec_run(
            &worker,
            &ExecConfig::new(["sh", "-c", "echo kept > /data/mark"]),
            ExecOutput::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(wrote.exit_code, 0);

    // Editing one env var recreates exactly that sandbox, with the field named (its values
    // are never shown: the label keeps digests).
    let file = ws.path(".pocket-dock/sandboxes.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("BATCH_SIZE: \"10\"", "BATCH_SIZE: \"20\""),
    )
    .unwrap();
    let diff = ws.pd(&["diff"]);
    assert_eq!(diff.code, Some(1));
    assert!(
        diff.stdout_text()
            .contains("spec.env.BATCH_SIZE: (hidden) -> (hidden)"),
        "{}",
        diff.stdout_text()
    );
    assert!(
        !diff.stdout_text().contains("\"20\""),
        "{}",
        diff.stdout_text()
    );
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(actions(&out), ["recreate Sandbox/worker"]);
    let after = ws.running_ids(podman).await;
    assert_eq!(after["web"], ids["web"]);
    assert_eq!(after["shell"], ids["shell"]);
    assert_ne!(after["worker"], ids["worker"]);
    let (_, worker) = engine
        .inspect_owned(
            &ws.ownership(),
            &after["worker"],
            pocket_dock::engine::Operation::ExecCreate,
        )
        .await
        .unwrap();
    let read = engine
        .exec_run(
            &worker,
            &ExecConfig::new(["cat", "/data/mark"]),
            ExecOutput::new().capture(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        read.stdout.bytes, b"kept\n",
        "named volume data survives a recreate"
    );

    // Deleting a declaration removes exactly that container and its status file.
    let text = std::fs::read_to_string(&file).unwrap();
    // The document's `---` (a schema line for editors may follow it).
    let shell = text
        .find("apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: shell")
        .unwrap();
    let cut = text[..shell].rfind("---\n").unwrap();
    std::fs::write(&file, &text[..cut]).unwrap();
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(actions(&out), ["remove Sandbox/shell"]);
    let now = ws.running_ids(podman).await;
    assert_eq!(now.keys().collect::<Vec<_>>(), ["web", "worker"]);
    assert_eq!(
        (&now["web"], &now["worker"]),
        (&after["web"], &after["worker"])
    );
    assert!(!ws.path(".pocket-dock/status/sandbox/shell.yaml").exists());

    // A container removed behind pocket-dock's back is repaired by the next apply.
    assert!(podman.podman(&["rm", "-f", &now["web"]]).status.success());
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(actions(&out), ["create Sandbox/web"]);
    assert_eq!(ws.running_ids(podman).await.len(), 2);

    // Volumes are never removed without --prune-volumes.
    std::fs::write(&file, sandbox("web", "")).unwrap();
    ws.remove("volumes.yaml");
    let run = ws.pd_ok(&["apply"]);
    assert!(
        run.stdout_text().contains("Volume/work-data") && run.stdout_text().contains("kept"),
        "{}",
        run.stdout_text()
    );
    assert_eq!(
        podman
            .engine()
            .list_owned_volumes(&ws.ownership())
            .await
            .unwrap()
            .len(),
        1
    );
    let (run, out) = ws.pd_json(&["apply", "--prune-volumes"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(actions(&out), ["remove-volume Volume/work-data"]);
    assert!(
        podman
            .engine()
            .list_owned_volumes(&ws.ownership())
            .await
            .unwrap()
            .is_empty()
    );

    ws.pd_ok(&["delete", "--all"]);
    assert!(ws.sandboxes(podman).await.is_empty());
}

#[tokio::test]
async fn an_invalid_document_makes_apply_touch_nothing() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("good.yaml", &sandbox("good", ""));
    ws.write("bad.yaml", &sandbox("bad", "  workdri: /x\n"));
    let run = ws.pd(&["apply"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr_text()
            .contains(".pocket-dock/bad.yaml:8:3: spec.workdri: unknown field"),
        "{}",
        run.stderr_text()
    );
    assert!(run.stderr_text().contains("nothing was changed"));
    assert!(ws.sandboxes(podman).await.is_empty());
    assert!(!ws.path(".pocket-dock/status").exists());
}

#[tokio::test]
async fn a_foreign_container_holding_the_name_is_a_conflict_and_is_left_alone() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "a.yaml",
        &format!("{}{}", sandbox("web", ""), sandbox("other", "")),
    );
    let name = ws
        .ownership()
        .container_name(pocket_dock_spec::Kind::Sandbox, "web");
    assert!(
        podman
            .podman(&["create", "--name", &name, TEST_IMAGE, "sleep", "1"])
            .status
            .success()
    );

    let run = ws.pd(&["apply"]);
    assert_eq!(
        run.code,
        Some(4),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        run.stdout_text().contains("not owned by this workspace"),
        "{}",
        run.stdout_text()
    );
    assert!(
        podman
            .podman(&["container", "exists", &name])
            .status
            .success(),
        "the foreign container still exists"
    );
    let ours = ws.sandboxes(podman).await;
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        ["other"],
        "an unrelated sandbox still converged"
    );
    let status = std::fs::read_to_string(ws.path(".pocket-dock/status/sandbox/web.yaml")).unwrap();
    assert!(
        status.contains("phase: Failed") && status.contains("category: conflict"),
        "{status}"
    );
    assert!(podman.podman(&["rm", "-f", &name]).status.success());
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn two_checkouts_of_one_workspace_do_not_fight() {
    let podman = Podman::shared();
    let a = TestWorkspace::new(podman);
    let b = TestWorkspace::new(podman);
    for ws in [&a, &b] {
        ws.write("s.yaml", &sandbox("dev", ""));
        ws.pd_ok(&["apply"]);
    }
    let ids_a = a.running_ids(podman).await;
    let ids_b = b.running_ids(podman).await;
    assert_ne!(ids_a["dev"], ids_b["dev"]);
    for ws in [&a, &b] {
        let (_, out) = ws.pd_json(&["apply"]);
        assert!(actions(&out).is_empty(), "{out:?}");
    }
    a.pd_ok(&["delete", "--all"]);
    assert!(a.sandboxes(podman).await.is_empty());
    assert_eq!(
        b.running_ids(podman).await,
        ids_b,
        "deleting one checkout's sandboxes leaves the other's"
    );
    b.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn kill_9_in_the_middle_of_an_apply_then_apply_again_converges_without_leftovers() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let docs: String = (0..20).map(|i| sandbox(&format!("s{i:02}"), "")).collect();
    ws.write("many.yaml", &docs);

    let mut cmd = crate::support::cli::command(
        ws.root(),
        &[("CONTAINER_HOST".into(), podman.host())],
        &["apply"],
    );
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    // Kill it once some (not all) sandboxes exist.
    crate::support::until(
        Duration::from_secs(30),
        "apply creating sandboxes",
        || async { ws.sandboxes(podman).await.len() >= 3 },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = ws.sandboxes(podman).await.len();

    ws.pd_ok(&["apply"]);
    let seen = ws.sandboxes(podman).await;
    assert_eq!(seen.len(), 20, "after {partial} before the kill");
    assert!(
        seen.values().all(|cs| cs.len() == 1),
        "no duplicates: {seen:?}"
    );
    assert_eq!(ws.running_ids(podman).await.len(), 20);
    let (_, out) = ws.pd_json(&["apply"]);
    assert!(actions(&out).is_empty());
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn stopping_recreating_and_pruning_take_well_under_a_second() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("s.yaml", &sandbox("idle", ""));
    ws.pd_ok(&["apply"]);
    let elapsed = |out: &[serde_json::Value], op: &str| {
        let a = out
            .iter()
            .find(|v| v["event"] == "action" && v["action"]["op"] == op)
            .unwrap_or_else(|| panic!("no {op} in {out:?}"));
        Duration::from_millis(a["elapsed_ms"].as_u64().unwrap())
    };
    ws.write("s.yaml", &sandbox("idle", "  state: stopped\n"));
    let (_, out) = ws.pd_json(&["apply"]);
    assert!(elapsed(&out, "stop") < Duration::from_secs(1), "{out:?}");
    ws.write("s.yaml", &sandbox("idle", "  env: {A: b}\n"));
    let (_, out) = ws.pd_json(&["apply"]);
    assert!(
        elapsed(&out, "recreate") < Duration::from_secs(2),
        "{out:?}"
    );
    ws.write("s.yaml", "");
    let (_, out) = ws.pd_json(&["apply"]);
    assert!(elapsed(&out, "remove") < Duration::from_secs(1), "{out:?}");
    assert!(ws.sandboxes(podman).await.is_empty());
}

#[tokio::test]
async fn the_state_store_is_a_cache_deleting_or_corrupting_it_breaks_nothing() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "s.yaml",
        &format!("{}{}", sandbox("a", ""), sandbox("b", "")),
    );
    ws.pd_ok(&["apply"]);
    let db = ws.path(".pocket-dock/state.db");
    assert!(db.is_file());

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(ws.path(&format!(".pocket-dock/state.db{suffix}")));
    }
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0));
    assert!(
        actions(&out).is_empty(),
        "labels, not the store, are the truth"
    );

    std::fs::write(
        &db,
        b"definitely not a sqlite database, just some garbage bytes",
    )
    .unwrap();
    let run = ws.pd_ok(&["apply"]);
    assert!(
        run.stderr_text().contains("state store was corrupt")
            && run.stderr_text().contains("moved it to"),
        "{}",
        run.stderr_text()
    );

    // An owned container that the registry does not know is an orphan: reported, and pruned
    // like any undeclared container.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(ws.path(&format!(".pocket-dock/state.db{suffix}")));
    }
    ws.write("s.yaml", &sandbox("a", ""));
    let run = ws.pd_ok(&["apply"]);
    assert!(
        run.stderr_text().contains("orphan"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(ws.sandboxes(podman).await.keys().collect::<Vec<_>>(), ["a"]);
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn dry_run_diff_and_get_change_nothing() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "s.yaml",
        &format!(
            "{}---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {{name: v}}\n",
            sandbox("a", "")
        ),
    );
    let run = ws.pd_ok(&["apply", "--dry-run"]);
    assert!(
        run.stdout_text().contains("+ Sandbox/a")
            && run.stdout_text().contains("+ Network/default")
            && run.stdout_text().contains("3 changes pending"),
        "{}",
        run.stdout_text()
    );
    let run = ws.pd(&["plan"]);
    assert_eq!(run.code, Some(1));
    assert!(ws.sandboxes(podman).await.is_empty());
    assert!(
        podman
            .engine()
            .list_owned_volumes(&ws.ownership())
            .await
            .unwrap()
            .is_empty()
    );

    ws.pd_ok(&["apply"]);
    ws.pd_ok(&["diff"]);
    let (run, rows) = ws.pd_json(&["get"]);
    assert_eq!(run.code, Some(0));
    let rows = rows[0].as_array().unwrap();
    assert_eq!(
        rows.len(),
        3,
        "a sandbox, its volume, the workspace's network: {rows:?}"
    );
    assert_eq!(
        (
            rows[0]["kind"].as_str(),
            rows[0]["actual"].as_str(),
            rows[0]["phase"].as_str()
        ),
        (Some("Sandbox"), Some("running"), Some("Running"))
    );
    let run = ws.pd(&["--output", "yaml", "get", "sandbox/a"]);
    assert!(
        run.stdout_text().starts_with("- actual: running\n"),
        "{}",
        run.stdout_text()
    );
    let run = ws.pd(&["get"]);
    assert!(
        run.stdout_text()
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("Sandbox    a "),
        "{}",
        run.stdout_text()
    );

    ws.pd_ok(&["delete", "sandbox/a"]);
    assert!(ws.sandboxes(podman).await.is_empty());
    assert_eq!(
        ws.pd(&["diff"]).code,
        Some(1),
        "the declaration is still there"
    );
    ws.pd(&["delete", "volume/v"]);
    assert!(
        podman
            .engine()
            .list_owned_volumes(&ws.ownership())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn wait_reports_readiness_in_the_status_and_times_out_with_exit_5() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "s.yaml",
        &format!(
            "{}{}",
            sandbox("ok", "  readiness: {exec: [\"true\"], interval: 200ms}\n"),
            sandbox(
                "never",
                "  readiness: {exec: [\"false\"], interval: 200ms}\n"
            )
        ),
    );
    let started = Instant::now();
    let run = ws.pd(&["apply", "--wait", "--timeout", "3s"]);
    assert_eq!(
        run.code,
        Some(5),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stdout_text().contains("Sandbox/never") && run.stdout_text().contains("not ready"),
        "{}",
        run.stdout_text()
    );
    let status = |name: &str| {
        std::fs::read_to_string(ws.path(&format!(".pocket-dock/status/sandbox/{name}.yaml")))
            .unwrap()
    };
    assert!(
        status("ok").contains("reason: ProbePassed"),
        "{}",
        status("ok")
    );
    let never = status("never");
    assert!(
        never.contains("reason: ProbeFailed") && never.contains("readiness probe exits 1"),
        "{never}"
    );
    // Without --wait nothing is probed, and the status says so.
    ws.write(
        "s.yaml",
        &sandbox(
            "ok",
            "  readiness: {exec: [\"true\"], interval: 200ms}\n  env: {A: b}\n",
        ),
    );
    ws.pd_ok(&["apply"]);
    assert!(
        status("ok").contains("reason: NotProbed"),
        "{}",
        status("ok")
    );
    ws.pd(&["delete", "--all"]);
}
