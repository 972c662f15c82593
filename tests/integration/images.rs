//! Images and snapshots against real Podman, with no registry: the embedded base, the
//! workshop chain, snapshots, and OCI archive round trips.

use crate::support::{Need, requires};
use pocket_dock::engine::Capability;
use std::time::Duration;

use pocket_dock::engine::{ExecConfig, ExecOutput, OwnedContainer};
use pocket_dock_spec::Kind;

use crate::support::workspace::{TestWorkspace, actions};
use crate::support::{Mode, Podman};

/// Applies and insists on exit 0; returns the sorted actions.
fn apply_ok(ws: &TestWorkspace) -> Vec<String> {
    let run = ws.pd_ok(&["--output", "json", "apply"]);
    let values: Vec<serde_json::Value> = run
        .stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    actions(&values)
}

/// The image id of an Image or Snapshot object, through `pocket-dock image inspect`.
fn image_id(ws: &TestWorkspace, name: &str) -> String {
    let (run, out) = ws.pd_json(&["image", "inspect", name]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    out[0]["id"].as_str().unwrap().to_string()
}

/// The tags of this workspace's images, through the API: the CLI's listing of the whole
/// shared store fails when another test removes an image meanwhile.
async fn owned_tags(ws: &TestWorkspace, podman: &Podman) -> Vec<String> {
    podman
        .engine()
        .list_owned_images(&ws.ownership())
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect()
}

async fn container(ws: &TestWorkspace, podman: &Podman, name: &str) -> OwnedContainer {
    let container_name = ws.ownership().container_name(Kind::Sandbox, name);
    podman
        .engine()
        .find_owned_by_name(
            &ws.ownership(),
            &container_name,
            pocket_dock::engine::Operation::ExecCreate,
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no container for Sandbox/{name}"))
        .1
}

async fn sh(ws: &TestWorkspace, podman: &Podman, sandbox: &str, script: &str) -> String {
    let c = container(ws, podman, sandbox).await;
    let result = podman
        .engine()
        .exec_run(
            &c,
            &ExecConfig::new(["sh", "-c", script]),
            ExecOutput::new().capture(),
            Some(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_eq!(
        result.exit_code,
        0,
        "{script}: {}",
        String::from_utf8_lossy(&result.stderr.bytes)
    );
    String::from_utf8_lossy(&result.stdout.bytes)
        .trim()
        .to_string()
}

#[tokio::test]
async fn the_embedded_base_has_the_same_digest_in_two_stores_and_runs_offline() {
    let elsewhere = Podman::start(Mode::Rootful);
    let mut ids = Vec::new();
    for podman in [Podman::shared(), &elsewhere] {
        let ws = TestWorkspace::new(podman);
        ws.write(
            "base.yaml",
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: base}\nspec: {embedded: base}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: box}\nspec:\n  imageFrom: {image: base}\n",
        );
        let done = apply_ok(&ws);
        assert!(done.contains(&"create Sandbox/box".to_string()), "{done:?}");
        assert_eq!(
            sh(&ws, podman, "box", "echo hi | tr a-z A-Z; ls /bin/busybox").await,
            "HI\n/bin/busybox"
        );
        let (run, out) = ws.pd_json(&["image", "inspect", "base"]);
        assert_eq!(run.code, Some(0), "{}", run.stderr_text());
        assert_eq!(out[0]["origin"]["embedded"], "base");
        assert_eq!(out[0]["origin"]["version"], "1");
        assert!(
            out[0]["origin"]["busybox"]
                .as_str()
                .unwrap()
                .starts_with("BusyBox v")
        );
        ids.push((
            out[0]["id"].as_str().unwrap().to_string(),
            out[0]["image"].as_str().unwrap().to_string(),
        ));
        ws.pd(&["delete", "--all"]);
    }
    assert_eq!(ids[0], ids[1], "same id and name in two stores");
}

#[tokio::test]
async fn the_workshop_chain_rebuilds_only_what_changed_and_swaps_images_keeping_volumes() {
    if !requires(
        "images::the_workshop_chain_rebuilds_only_what_changed_and_swaps_images_keeping_volumes",
        &[Need::Engine(Capability::Build)],
    ) {
        return;
    }
    let podman = Podman::shared();
    // Content of its own: another test's checkout of the example would share its images.
    let ws = TestWorkspace::from_example(
        podman,
        "workshop",
        &[("\"step 1: tools\"", "\"step 1: tools (chain test)\"")],
    );
    let first = apply_ok(&ws);
    for expected in [
        "build Image/step-1",
        "build Image/step-2",
        "build Image/step-3",
        "create Sandbox/attendee",
        "create-volume Volume/notes",
    ] {
        assert!(first.contains(&expected.to_string()), "{first:?}");
    }
    let ids = |ws: &TestWorkspace| ["step-1", "step-2", "step-3"].map(|n| image_id(ws, n));
    let before = ids(&ws);
    assert_eq!(
        sh(&ws, podman, "attendee", "cat /workshop/STEP").await,
        "step 2: project"
    );
    sh(&ws, podman, "attendee", "echo mine > /notes/n.txt").await;

    // No change: nothing built, nothing written.
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(actions(&out), Vec::<String>::new());
    assert_eq!(ids(&ws), before, "same image ids");

    // Editing step 2 rebuilds steps 2 and 3 (3 builds on 2), not step 1; the sandbox on
    // step 2 moves to the new image; the old builds are pruned.
    std::fs::write(
        ws.path("steps/2-project/hello.sh"),
        "echo hello from the edited workshop\n",
    )
    .unwrap();
    let edited = apply_ok(&ws);
    assert_eq!(
        edited
            .iter()
            .filter(|a| !a.starts_with("remove-image"))
            .cloned()
            .collect::<Vec<_>>(),
        [
            "build Image/step-2",
            "build Image/step-3",
            "recreate Sandbox/attendee"
        ]
    );
    // Each old build goes under both its names: this workspace's and its portable one.
    assert_eq!(
        edited
            .iter()
            .filter(|a| a.starts_with("remove-image"))
            .count(),
        4,
        "{edited:?}"
    );
    let after = ids(&ws);
    assert_eq!(after[0], before[0], "step 1 untouched");
    assert_ne!(after[1], before[1]);
    assert_ne!(after[2], before[2]);
    assert_eq!(
        sh(&ws, podman, "attendee", "sh /workshop/hello.sh").await,
        "hello from the edited workshop"
    );
    let tags = owned_tags(&ws, podman).await;
    let workspace_images = tags
        .iter()
        .filter(|t| t.contains(ws.ownership().workspace.as_str()))
        .count();
    assert_eq!(workspace_images, 3, "old builds were pruned: {tags:?}");

    // Moving the sandbox to step 3 is an image swap: recreated, the volume's data kept.
    let yaml = ws.path(".pocket-dock/steps.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(
        &yaml,
        text.replace(
            "imageFrom:\n    image: step-2",
            "imageFrom:\n    image: step-3",
        ),
    )
    .unwrap();
    assert_eq!(apply_ok(&ws), ["recreate Sandbox/attendee"]);
    assert_eq!(
        sh(&ws, podman, "attendee", "cat /workshop/STEP /notes/n.txt").await,
        "step 3: tests (advanced)\nmine"
    );
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn a_failed_build_names_its_step_and_blocks_only_its_dependants() {
    if !requires(
        "images::a_failed_build_names_its_step_and_blocks_only_its_dependants",
        &[Need::Engine(Capability::Build)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    std::fs::create_dir_all(ws.path("bad")).unwrap();
    std::fs::write(
        ws.path("bad/Containerfile"),
        "FROM base\nRUN echo preparing\nRUN echo about to fail && exit 3\n",
    )
    .unwrap();
    ws.write(
        "images.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: base}\nspec: {embedded: base}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: bad}\nspec:\n  build: {context: bad, from: {image: base}}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: user}\nspec:\n  imageFrom: {image: bad}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: other}\nspec:\n  imageFrom: {image: base}\n",
    );
    let run = ws.pd(&["apply"]);
    assert_eq!(run.code, Some(4), "{}", run.stdout_text());
    let text = run.stdout_text();
    assert!(
        text.contains("! Image/bad")
            && text.contains("at STEP 3/")
            && text.contains("RUN echo about to fail"),
        "{text}"
    );
    assert!(
        text.contains("| about to fail"),
        "the build output is shown: {text}"
    );
    assert!(text.contains("Sandbox/user"), "{text}");
    let status = std::fs::read_to_string(ws.path(".pocket-dock/status/image/bad.yaml")).unwrap();
    assert!(status.contains("phase: Failed"), "{status}");
    let seen = ws.sandboxes(podman).await;
    assert_eq!(
        seen["other"][0].state,
        pocket_dock::engine::ContainerState::Running,
        "unrelated sandboxes converge"
    );
    assert!(!seen.contains_key("user"), "nothing half-created");
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn a_snapshot_round_trips_a_file_and_leaves_its_source_untouched() {
    if !requires(
        "images::a_snapshot_round_trips_a_file_and_leaves_its_source_untouched",
        &[Need::Engine(Capability::Commit)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "ws.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: base}\nspec: {embedded: base}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: src}\nspec:\n  imageFrom: {image: base}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: parked}\nspec:\n  imageFrom: {image: base}\n  state: stopped\n",
    );
    apply_ok(&ws);
    sh(&ws, podman, "src", "echo precious > /root/work.txt").await;
    let source_before = ws.sandboxes(podman).await["src"].clone();

    let run = ws.pd_ok(&["snapshot", "src", "saved", "--description", "after step 1"]);
    assert!(
        run.stdout_text()
            .contains("wrote .pocket-dock/snapshots/saved.yaml")
    );
    let doc = std::fs::read_to_string(ws.path(".pocket-dock/snapshots/saved.yaml")).unwrap();
    assert!(
        doc.contains("generation: 1") && doc.contains("sandbox: src"),
        "{doc}"
    );
    let status =
        std::fs::read_to_string(ws.path(".pocket-dock/status/snapshot/saved.yaml")).unwrap();
    assert!(status.contains("phase: Ready"), "{status}");
    assert!(
        status.contains("sandbox: src") && status.contains("after step 1"),
        "{status}"
    );
    assert_eq!(
        ws.sandboxes(podman).await["src"],
        source_before,
        "the source is the same container, still running"
    );
    assert_eq!(
        source_before[0].state,
        pocket_dock::engine::ContainerState::Running
    );

    // Recorded in the state store too.
    let (store, _) = pocket_dock::store::StateStore::open(&ws.path(".pocket-dock")).unwrap();
    let recorded = store.snapshots().unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].0, "saved");
    assert_eq!(recorded[0].1, "1");
    // And in the event log, as the snapshot's own actions (not apply's).
    let events = store
        .events(&pocket_dock::store::EventQuery {
            sources: vec![pocket_dock::store::Source::Snapshot],
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.object() == "Snapshot/saved" && e.outcome == "ok"),
        "{events:#?}"
    );
    drop(store);

    // A new sandbox from the snapshot sees the file.
    ws.write(
        "clone.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: clone}\nspec:\n  imageFrom: {snapshot: saved}\n",
    );
    assert_eq!(apply_ok(&ws), ["create Sandbox/clone"]);
    assert_eq!(
        sh(&ws, podman, "clone", "cat /root/work.txt").await,
        "precious"
    );

    // The next generation keeps the older one as a tagged image.
    let first = image_id(&ws, "saved");
    sh(&ws, podman, "src", "echo more > /root/more.txt").await;
    ws.pd_ok(&["snapshot", "src", "saved"]);
    assert_ne!(image_id(&ws, "saved"), first);
    let tags = owned_tags(&ws, podman).await;
    assert!(
        tags.iter().any(|t| t.ends_with("saved:gen-1"))
            && tags.iter().any(|t| t.ends_with("saved:gen-2")),
        "{tags:?}"
    );

    // A snapshot of a stopped sandbox fails in its status and changes nothing.
    let parked_before = ws.sandboxes(podman).await["parked"].clone();
    let run = ws.pd(&["snapshot", "parked", "nope"]);
    assert_eq!(run.code, Some(4), "{}", run.stdout_text());
    assert!(
        run.stdout_text().contains("it is not running"),
        "{}",
        run.stdout_text()
    );
    let status =
        std::fs::read_to_string(ws.path(".pocket-dock/status/snapshot/nope.yaml")).unwrap();
    assert!(status.contains("phase: Failed"), "{status}");
    assert_eq!(ws.sandboxes(podman).await["parked"], parked_before);
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn export_remove_import_gives_the_same_image_offline() {
    if !requires(
        "images::export_remove_import_gives_the_same_image_offline",
        &[Need::Engine(Capability::ExportOci)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = TestWorkspace::from_example(
        podman,
        "workshop",
        &[("\"step 1: tools\"", "\"step 1: tools (export test)\"")],
    );
    apply_ok(&ws);
    let id = image_id(&ws, "step-1");
    let archive = ws.path("step-1.tar");
    let run = ws.pd_ok(&["image", "export", "step-1", archive.to_str().unwrap()]);
    assert!(run.stdout_text().contains(&id), "{}", run.stdout_text());

    // Remove it (step 2 builds on it, so remove those first), import, same id.
    let (_, out) = ws.pd_json(&["get"]);
    assert!(!out.is_empty());
    ws.pd(&["delete", "--all"]);
    for name in ["step-3", "step-2", "step-1"] {
        let (_, out) = ws.pd_json(&["image", "inspect", name]);
        let tag = out[0]["image"].as_str().unwrap().to_string();
        let portable = out[0]["portable"].as_str().unwrap().to_string();
        let rm = podman.podman(&["rmi", &tag, &portable]);
        assert!(
            rm.status.success(),
            "{}",
            String::from_utf8_lossy(&rm.stderr)
        );
    }
    let (run, out) = ws.pd_json(&["image", "import", archive.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(
        out[0]["id"].as_str().unwrap().trim_start_matches("sha256:"),
        id.trim_start_matches("sha256:")
    );
    assert_eq!(out[0]["verified"], true);
    assert_eq!(image_id(&ws, "step-1"), id);

    // It runs: the next apply does not rebuild step 1.
    let done = apply_ok(&ws);
    assert!(
        !done.contains(&"build Image/step-1".to_string()),
        "{done:?}"
    );
    assert!(done.contains(&"build Image/step-2".to_string()), "{done:?}");

    // A corrupted archive is refused before Podman sees it.
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    let bad = ws.path("bad.tar");
    std::fs::write(&bad, bytes).unwrap();
    let run = ws.pd(&["image", "import", bad.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("corrupt"),
        "{}",
        run.stderr_text()
    );
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn a_failed_pull_is_in_the_image_status_and_its_dependants_wait() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    // Nothing listens on port 9 of loopback: the pull fails at once, offline.
    ws.write(
        "pull.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: remote}\nspec:\n  from: {reference: '127.0.0.1:9/nothing/here:1'}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: user}\nspec:\n  imageFrom: {image: remote}\n",
    );
    let run = ws.pd(&["apply"]);
    assert_eq!(run.code, Some(4), "{}", run.stdout_text());
    let status = std::fs::read_to_string(ws.path(".pocket-dock/status/image/remote.yaml")).unwrap();
    assert!(
        status.contains("phase: Failed") && status.contains("image pull"),
        "{status}"
    );
    let sandbox =
        std::fs::read_to_string(ws.path(".pocket-dock/status/sandbox/user.yaml")).unwrap();
    assert!(sandbox.contains("phase: Pending"), "{sandbox}");
    assert!(
        ws.sandboxes(podman).await.is_empty(),
        "nothing half-created"
    );
}
