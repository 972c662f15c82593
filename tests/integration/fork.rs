//! Fork against real Podman: the fork has what its source wrote, writes on either side stay
//! on that side, the source's process runs on untouched (same container, same pid) and is
//! not recreated by the next apply, a paused source is forked as it is and stays paused,
//! and a name that is taken is refused with nothing changed.

use pocket_dock::engine::{Capability, ContainerState, Operation};
use pocket_dock_spec::Kind;

use crate::support::podman::Podman;
use crate::support::workspace::{TestWorkspace, actions, sandbox};
use crate::support::{Need, requires};

/// The container id, state and main pid of `name`.
async fn seen(ws: &TestWorkspace, podman: &Podman, name: &str) -> (String, ContainerState, i64) {
    let own = ws.ownership();
    let (details, _) = podman
        .engine()
        .find_owned_by_name(
            &own,
            &own.container_name(Kind::Sandbox, name),
            Operation::ContainerInspect,
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no container for Sandbox/{name}"));
    (details.id, details.state, details.pid.unwrap_or(0))
}

async fn sh(ws: &TestWorkspace, podman: &Podman, name: &str, script: &str) -> String {
    let (code, out) = ws.exec(podman, name, &["sh", "-c", script]).await;
    assert_eq!(code, 0, "{name}: {script}: {out}");
    out
}

#[tokio::test]
async fn a_fork_copies_the_files_and_the_two_stay_apart() {
    if !requires(
        "fork::a_fork_copies_the_files_and_the_two_stay_apart",
        &[Need::Engine(Capability::Commit)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("src.yaml", &sandbox("src", ""));
    ws.pd_ok(&["apply"]);
    sh(
        &ws,
        podman,
        "src",
        "mkdir -p /data && echo from-src > /data/a.txt",
    )
    .await;
    let before = seen(&ws, podman, "src").await;
    assert_eq!(before.1, ContainerState::Running);

    let (run, out) = ws.pd_json(&["fork", "src", "twin"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let fork = out.iter().find(|v| v["event"] == "fork").unwrap();
    assert_eq!(fork["file"], ".pocket-dock/forks/twin.yaml");
    assert_eq!(fork["snapshot"], "twin");
    let done = actions(&out);
    assert!(
        done.contains(&"commit Snapshot/twin".to_string()),
        "{done:?}"
    );
    assert!(
        done.contains(&"create Sandbox/twin".to_string()),
        "{done:?}"
    );
    assert!(!done.iter().any(|a| a.contains("Sandbox/src")), "{done:?}");
    let doc = std::fs::read_to_string(ws.path(".pocket-dock/forks/twin.yaml")).unwrap();
    assert!(doc.starts_with("# Written by `pocket-dock fork`"), "{doc}");
    assert!(
        doc.contains("snapshot: twin") && doc.contains("sandbox: src"),
        "{doc}"
    );

    // The source: the same container, the same process, still running.
    assert_eq!(seen(&ws, podman, "src").await, before);
    // The fork has what the source wrote; writes stay on their side.
    assert_eq!(
        sh(&ws, podman, "twin", "cat /data/a.txt").await,
        "from-src\n"
    );
    sh(&ws, podman, "twin", "echo twin > /data/b.txt").await;
    sh(&ws, podman, "src", "echo src > /data/c.txt").await;
    assert_eq!(sh(&ws, podman, "src", "ls /data").await, "a.txt\nc.txt\n");
    assert_eq!(sh(&ws, podman, "twin", "ls /data").await, "a.txt\nb.txt\n");

    // The next apply changes nothing: the source is not recreated.
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(actions(&out).is_empty(), "{out:?}");
    assert_eq!(seen(&ws, podman, "src").await, before);

    // A taken name: refused, nothing touched.
    let twin = seen(&ws, podman, "twin").await;
    let run = ws.pd(&["fork", "src", "twin"]);
    assert_eq!(run.code, Some(4), "{}", run.stderr_text());
    assert!(
        run.stderr_text()
            .contains("Sandbox/twin is declared in .pocket-dock/forks/twin.yaml"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(
        std::fs::read_to_string(ws.path(".pocket-dock/forks/twin.yaml")).unwrap(),
        doc
    );
    assert_eq!(seen(&ws, podman, "twin").await, twin);
    // The source's own name too.
    let run = ws.pd(&["fork", "src", "src"]);
    assert_eq!(run.code, Some(4), "{}", run.stderr_text());

    // A paused source: forked as it is, and left paused.
    ws.pd_ok(&["pause", "src"]);
    let paused = seen(&ws, podman, "src").await;
    assert_eq!(paused.1, ContainerState::Paused);
    let run = ws.pd(&["fork", "src", "third"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(seen(&ws, podman, "src").await, paused);
    assert_eq!(sh(&ws, podman, "third", "cat /data/c.txt").await, "src\n");
    ws.pd_ok(&["resume", "src"]);

    // Undone by deleting its file: the next apply removes the fork and its image.
    std::fs::remove_file(ws.path(".pocket-dock/forks/twin.yaml")).unwrap();
    let (_, out) = ws.pd_json(&["apply"]);
    let done = actions(&out);
    assert!(
        done.iter().any(|a| a.starts_with("remove Sandbox/twin")),
        "{done:?}"
    );
    assert_eq!(seen(&ws, podman, "src").await.0, before.0);
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn a_fork_of_a_sandbox_with_writable_mounts_needs_a_decision() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    std::fs::create_dir_all(ws.path("shared")).unwrap();
    ws.write(
        "src.yaml",
        &sandbox(
            "src",
            "  mounts:\n    - {type: bind, source: ./shared, target: /shared}\n  ports:\n    - {container: 80, host: 18080}\n",
        ),
    );
    // Refused before anything is made or written (no engine call needed for that).
    let run = ws.pd(&["fork", "src", "twin"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("--share-mounts") && run.stderr_text().contains("/shared"),
        "{}",
        run.stderr_text()
    );
    assert!(!ws.path(".pocket-dock/forks/twin.yaml").exists());
    // Unknown source: refused.
    let run = ws.pd(&["fork", "nope", "twin"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
}
