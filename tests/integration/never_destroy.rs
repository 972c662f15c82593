//! Never destroy what the user has, against real Podman: a broken file (at start, after a
//! restart, with no valid version ever seen, or a file list cut at its limit) prunes
//! nothing; problems show where users look; status files never go through a symlink; bind
//! sources swapped after validation are refused; the default build context builds once;
//! hostile files are refused in bounded memory and time, without blocking.

use std::path::Path;
use std::time::Duration;

use pocket_dock::engine::ContainerState;

use crate::support::controller::{Running, running, until};
use crate::support::workspace::{TestWorkspace, sandbox};
use crate::support::{Podman, TEST_IMAGE};

const HEADER: &str = "apiVersion: pocket-dock.dev/v1alpha1\n";

fn snapshot_doc(name: &str, of: &str, generation: u64) -> String {
    format!(
        "---\n{HEADER}kind: Snapshot\nmetadata: {{name: {name}}}\nspec: {{sandbox: {of}, generation: {generation}}}\n"
    )
}

/// The image id of a snapshot generation, straight from Podman.
fn snapshot_image(
    ws: &TestWorkspace,
    podman: &Podman,
    name: &str,
    generation: u64,
) -> Option<String> {
    let tag = pocket_dock::images::snapshot_tag(&ws.ownership(), name, generation);
    let out = podman.podman(&["image", "inspect", "--format", "{{.Id}}", &tag]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn read(ws: &TestWorkspace, rel: &str) -> String {
    std::fs::read_to_string(ws.path(rel)).unwrap_or_default()
}

const CONFLICTED: &str = "<<<<<<< HEAD\nkind: Sandbox\n=======\nkind: Volume\n>>>>>>> theirs\n";

#[tokio::test]
async fn a_controller_started_on_a_broken_file_leaves_its_sandbox_and_snapshot_alone_then_converges()
 {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "a.yaml",
        &format!("{}{}", sandbox("keep", ""), snapshot_doc("snap", "keep", 1)),
    );
    ws.write("b.yaml", &sandbox("other", ""));
    ws.pd_ok(&["apply"]);
    let keep = running(&ws, podman, "keep").await.expect("keep runs");
    let other = running(&ws, podman, "other").await.expect("other runs");
    let snap = snapshot_image(&ws, podman, "snap", 1).expect("the snapshot was taken");

    // The file breaks (a merge went wrong) and the controller starts on it.
    ws.write("a.yaml", CONFLICTED);
    let untouched = || async {
        running(&ws, podman, "keep").await.as_deref() == Some(keep.as_str())
            && running(&ws, podman, "other").await.as_deref() == Some(other.as_str())
            && snapshot_image(&ws, podman, "snap", 1).as_deref() == Some(snap.as_str())
    };
    for round in [
        "first start",
        "restart",
        "restart with no remembered version",
    ] {
        if round == "restart with no remembered version" {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(ws.path(&format!(".pocket-dock/state.db{suffix}")));
            }
        }
        let controller = Running::start(&ws, podman);
        until(Duration::from_secs(20), "a first pass", || async {
            controller.reconciles() >= 1
        })
        .await;
        let workspace = read(&ws, ".pocket-dock/status/workspace.yaml");
        assert!(
            workspace.contains("InvalidSpec") && workspace.contains(".pocket-dock/a.yaml"),
            "{round}: {workspace}"
        );
        assert!(workspace.contains("merge conflict"), "{round}: {workspace}");
        if round != "restart with no remembered version" {
            // What the file last declared is marked, with the problem.
            let status = read(&ws, ".pocket-dock/status/sandbox/keep.yaml");
            assert!(status.contains("InvalidSpec"), "{round}: {status}");
            assert!(
                status.contains(".pocket-dock/a.yaml:1"),
                "{round}: {status}"
            );
            let status = read(&ws, ".pocket-dock/status/snapshot/snap.yaml");
            assert!(status.contains("InvalidSpec"), "{round}: {status}");
        }
        // Its objects are repaired in their last valid version: stopped by hand, restarted.
        assert!(untouched().await, "{round}: {}", controller.log());
        let (code, _, log) = controller.stop();
        assert_eq!(code, Some(0), "{round}: {log}");
        assert!(!log.contains("no longer declared"), "{round}: {log}");
        if round == "restart with no remembered version" {
            assert!(
                log.contains("not pruned"),
                "the log says what was kept: {log}"
            );
        }
        assert!(untouched().await, "{round}");
    }

    // Fixed (with an edit): converged, and the problems are cleared.
    let controller = Running::start(&ws, podman);
    ws.write(
        "a.yaml",
        &format!(
            "{}{}",
            sandbox("keep", "  env: {V: '2'}\n"),
            snapshot_doc("snap", "keep", 1)
        ),
    );
    until(
        Duration::from_secs(20),
        "convergence after the fix",
        || async {
            running(&ws, podman, "keep")
                .await
                .is_some_and(|id| id != keep)
                && !read(&ws, ".pocket-dock/status/workspace.yaml").contains("InvalidSpec")
                && !read(&ws, ".pocket-dock/status/sandbox/keep.yaml").contains("InvalidSpec")
        },
    )
    .await;
    assert_eq!(
        snapshot_image(&ws, podman, "snap", 1).as_deref(),
        Some(snap.as_str()),
        "a declared snapshot is never taken again"
    );

    // A file list cut at the loader's limit is an incomplete picture too: nothing pruned.
    let cut = ws.path(".pocket-dock/0-many");
    std::fs::create_dir(&cut).unwrap();
    for i in 0..=pocket_dock_spec::load::MAX_FILES {
        std::fs::write(cut.join(format!("{i:05}.yaml")), "# nothing\n").unwrap();
    }
    until(Duration::from_secs(20), "the cut list reported", || async {
        read(&ws, ".pocket-dock/status/workspace.yaml").contains("too-many-files")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(running(&ws, podman, "keep").await.is_some());
    assert!(running(&ws, podman, "other").await.is_some());
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("no longer declared"), "{log}");
    std::fs::remove_dir_all(&cut).unwrap();
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn a_broken_file_stops_apply_and_snapshot_but_get_shows_the_table_then_the_problems() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("a.yaml", &sandbox("a", ""));
    ws.write("b.yaml", &sandbox("b", ""));
    ws.pd_ok(&["apply"]);
    let before = ws.running_ids(podman).await;

    ws.write("b.yaml", "\u{feff}apiVersion: pocket-dock.dev/v1alpha1\r\nkind: Sandbox\r\n\tmetadata: {name: b}\r\n");
    for args in [
        vec!["apply"],
        vec!["apply", "--prune-volumes"],
        vec!["diff"],
        vec!["snapshot", "a", "saved"],
    ] {
        let run = ws.pd(&args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr_text());
        assert!(
            run.stderr_text().contains(".pocket-dock/b.yaml:3:1"),
            "{args:?}: {}",
            run.stderr_text()
        );
        assert!(run.stderr_text().contains("tab"), "{}", run.stderr_text());
    }
    assert!(!ws.path(".pocket-dock/snapshots/saved.yaml").exists());
    assert_eq!(ws.running_ids(podman).await, before, "nothing was touched");

    // `get` shows the table (b in its last valid version, remembered by the apply above),
    // then the problems.
    let run = ws.pd(&["get"]);
    assert_eq!(run.code, Some(2));
    let table = run.stdout_text();
    assert!(table.starts_with("KIND"), "{table}");
    for row in ["Sandbox    a ", "Sandbox    b "] {
        let line = table
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_default();
        assert!(line.contains("running   running"), "{row}: {table}");
    }
    assert!(
        run.stderr_text().contains(".pocket-dock/b.yaml:3:1"),
        "{}",
        run.stderr_text()
    );
    let (run, rows) = ws.pd_json(&["get"]);
    assert_eq!(run.code, Some(2));
    let rows = rows[0].as_array().expect("stdout keeps the rows");
    let b = rows.iter().find(|r| r["name"] == "b").unwrap();
    assert!(
        b["problem"]
            .as_str()
            .unwrap()
            .contains("last valid version"),
        "{b}"
    );
    let problems: serde_json::Value = serde_json::from_str(run.stderr_text().trim()).unwrap();
    assert_eq!(problems["valid"], false);

    // With no valid version remembered, b's container is not called undeclared.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(ws.path(&format!(".pocket-dock/state.db{suffix}")));
    }
    let run = ws.pd(&["get"]);
    assert_eq!(run.code, Some(2));
    let table = run.stdout_text();
    let line = table
        .lines()
        .find(|l| l.starts_with("Sandbox    b "))
        .unwrap_or_default();
    assert!(line.contains("unknown"), "{table}");

    ws.write("b.yaml", &sandbox("b", ""));
    let run = ws.pd_ok(&["get"]);
    assert!(run.stderr_text().is_empty(), "{}", run.stderr_text());
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn a_planted_status_symlink_deletes_and_writes_nothing_outside() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("a.yaml", &sandbox("a", ""));
    let outside = tempfile::tempdir().unwrap();
    let precious = |name: &str| outside.path().join(name);
    for name in ["one.yaml", "two.yaml", "a.yaml"] {
        std::fs::write(precious(name), format!("# {name}: not pocket-dock's\n")).unwrap();
    }
    let status = ws.path(".pocket-dock/status");
    std::fs::create_dir_all(status.join("image")).unwrap();
    // A kind folder that is a symlink, a status file that is a symlink, a FIFO where a
    // status file goes, and a foreign file in a kind folder.
    std::os::unix::fs::symlink(outside.path(), status.join("sandbox")).unwrap();
    std::os::unix::fs::symlink(precious("one.yaml"), status.join("image/old.yaml")).unwrap();
    let fifo = status.join("image/pipe.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(status.join("image/mine.yaml"), "my notes\n").unwrap();
    std::fs::write(status.join("image/gone.yaml.tmp-999999999"), "# leftover\n").unwrap();

    let run = ws.pd_ok(&["apply"]);
    let warnings = run.stderr_text();
    assert!(warnings.contains("is a symlink"), "{warnings}");
    assert!(warnings.contains("a FIFO"), "{warnings}");
    for name in ["one.yaml", "two.yaml", "a.yaml"] {
        assert_eq!(
            std::fs::read_to_string(precious(name)).unwrap(),
            format!("# {name}: not pocket-dock's\n"),
            "{name} outside the workspace is untouched"
        );
    }
    assert!(
        std::fs::symlink_metadata(status.join("image/old.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(fifo.exists());
    assert_eq!(
        read(&ws, ".pocket-dock/status/image/mine.yaml"),
        "my notes\n"
    );
    assert!(
        !status.join("image/gone.yaml.tmp-999999999").exists(),
        "stale temp cleaned"
    );
    // `get` neither follows the links nor blocks on the FIFO.
    ws.pd_ok(&["get"]);

    // The whole status folder a symlink: nothing is written through it.
    std::fs::remove_dir_all(&status).unwrap();
    std::os::unix::fs::symlink(outside.path(), &status).unwrap();
    ws.write("a.yaml", &sandbox("a", "  env: {X: '1'}\n"));
    let run = ws.pd_ok(&["apply"]);
    assert!(
        run.stderr_text().contains("status files not written"),
        "{}",
        run.stderr_text()
    );
    let names: Vec<String> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["a.yaml", "one.yaml", "two.yaml"]);
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn a_bind_source_swapped_for_a_symlink_after_validation_is_never_started() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    std::fs::create_dir(ws.path("data")).unwrap();
    ws.write(
        "a.yaml",
        &sandbox(
            "a",
            "  mounts: [{type: bind, source: data, target: /data}]\n",
        ),
    );
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(20), "the sandbox running", || async {
        running(&ws, podman, "a").await.is_some()
    })
    .await;
    let id = running(&ws, podman, "a").await.unwrap();

    // From inside the workspace (say, a sandbox that mounts it), `data` becomes a link to a
    // folder outside; nothing under .pocket-dock/ changes, so nothing is validated again.
    let outside = tempfile::tempdir().unwrap();
    std::fs::remove_dir(ws.path("data")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.path("data")).unwrap();
    assert!(podman.podman(&["stop", "-t", "0", &id]).status.success());
    let status = ".pocket-dock/status/sandbox/a.yaml";
    until(
        Duration::from_secs(10),
        "the refusal in the status",
        || async { read(&ws, status).contains("a symlink appeared") },
    )
    .await;
    let text = read(&ws, status);
    assert!(text.contains("Degraded"), "{text}");
    let seen = ws.sandboxes(podman).await;
    assert_ne!(seen["a"][0].state, ContainerState::Running, "{seen:?}");
    drop(controller);

    // A fresh apply validates again and refuses the path outright.
    let run = ws.pd(&["apply"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("through a symlink"),
        "{}",
        run.stderr_text()
    );

    // `data` now leads to a folder inside the workspace: valid, but not what the container
    // was made with, so it is made again rather than started on a path nobody validated.
    std::fs::remove_file(ws.path("data")).unwrap();
    std::fs::create_dir(ws.path("data-real")).unwrap();
    std::os::unix::fs::symlink("data-real", ws.path("data")).unwrap();
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let reasons: Vec<&str> = out
        .iter()
        .filter(|v| v["event"] == "action")
        .map(|v| v["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["bind mount source changed"], "{out:?}");
    assert!(running(&ws, podman, "a").await.is_some());
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn a_declaration_that_leaves_and_comes_back_within_the_grace_is_never_pruned() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("web.yaml", &sandbox("web", ""));
    ws.write("db.yaml", &sandbox("db", ""));
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(20), "both running", || async {
        running(&ws, podman, "web").await.is_some() && running(&ws, podman, "db").await.is_some()
    })
    .await;
    let web = running(&ws, podman, "web").await.unwrap();

    // A checkout that moves web.yaml: git unlinks it, works on other files for a while, then
    // writes it in its new place. The controller reloads in between and sees web gone.
    ws.remove("web.yaml");
    tokio::time::sleep(Duration::from_millis(600)).await;
    ws.write("svc/web.yaml", &sandbox("web", ""));
    tokio::time::sleep(pocket_dock::controller::PRUNE_GRACE + Duration::from_secs(1)).await;
    assert_eq!(
        running(&ws, podman, "web").await.as_deref(),
        Some(web.as_str()),
        "never removed: {}",
        controller.log()
    );

    // While git holds its index lock, nothing is pruned however long it takes.
    std::fs::create_dir_all(ws.path(".git")).unwrap();
    std::fs::write(ws.path(".git/index.lock"), "").unwrap();
    drop(controller);
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(20), "a first pass", || async {
        controller.reconciles() >= 1
    })
    .await;
    ws.remove("db.yaml");
    tokio::time::sleep(pocket_dock::controller::PRUNE_GRACE + Duration::from_secs(2)).await;
    assert!(
        running(&ws, podman, "db").await.is_some(),
        "{}",
        controller.log()
    );
    std::fs::remove_file(ws.path(".git/index.lock")).unwrap();

    // Gone for good: pruned once the grace is over.
    let took = until(Duration::from_secs(10), "db pruned", || async {
        !ws.sandboxes(podman).await.contains_key("db")
    })
    .await;
    eprintln!("pruned {took:?} after git let go");
    assert_eq!(
        running(&ws, podman, "web").await.as_deref(),
        Some(web.as_str())
    );
    drop(controller);
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn the_default_build_context_builds_once_and_then_is_a_no_op() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    std::fs::write(
        ws.path("Containerfile"),
        format!("FROM {TEST_IMAGE}\nCOPY hello.txt /hello.txt\n"),
    )
    .unwrap();
    std::fs::write(ws.path("hello.txt"), "hello\n").unwrap();
    std::fs::create_dir_all(ws.path(".git")).unwrap();
    std::fs::write(ws.path(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    ws.write(
        "image.yaml",
        &format!(
            "{HEADER}kind: Image\nmetadata: {{name: app}}\nspec:\n  build: {{}}\n---\n{HEADER}kind: Sandbox\nmetadata: {{name: app}}\nspec:\n  imageFrom: {{image: app}}\n"
        ),
    );
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let ops: Vec<String> = out
        .iter()
        .filter(|v| v["event"] == "action")
        .map(|v| format!("{} {}", v["action"]["op"], v["kind"]))
        .collect();
    assert!(ops.iter().any(|o| o.contains("build")), "{ops:?}");

    // Apply itself changed state.db and the status files; git moved on: still a no-op.
    std::fs::write(ws.path(".git/HEAD"), "ref: refs/heads/other\n").unwrap();
    for _ in 0..2 {
        let (run, out) = ws.pd_json(&["apply"]);
        assert_eq!(run.code, Some(0), "{}", run.stderr_text());
        let actions: Vec<&serde_json::Value> =
            out.iter().filter(|v| v["event"] == "action").collect();
        assert!(actions.is_empty(), "{actions:?}");
    }

    // The controller's context watcher ignores pocket-dock's own writes: it settles.
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(20), "a first pass", || async {
        controller.reconciles() >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let passes = controller.reconciles();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, _, log) = controller.stop();
    assert!(log.contains("reconcile keys=all"), "{log}");
    assert!(!log.contains("action=\"build\""), "{log}");
    assert!(passes <= 3, "the controller keeps waking up: {log}");
    ws.pd_ok(&["delete", "--all"]);
}

/// Runs `pocket-dock validate` under an address-space limit (`ulimit -v`).
fn validate_limited(ws: &TestWorkspace, limit_kb: u64) -> crate::support::cli::CliRun {
    let script = format!(
        "ulimit -v {limit_kb} && exec {} validate",
        crate::support::cli::binary()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(ws.root()).args(["-c", &script]);
    crate::support::cli::run(cmd, |_| {})
}

#[tokio::test]
async fn hostile_files_are_refused_in_bounded_memory_and_time_without_blocking() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let dir = ws.path(".pocket-dock");
    // One long anchored string, copied by thousands of aliases: 9.2 GB before.
    let long = "x".repeat(900_000);
    let aliases = vec!["*s"; 3000].join(", ");
    let bomb = format!(
        "{HEADER}kind: Volume\nmetadata: {{name: v}}\nspec: {{}}\nx-bomb: &s '{long}'\nx-copies: [{aliases}]\n"
    );
    std::fs::write(dir.join("bomb.yaml"), &bomb).unwrap();
    let run = validate_limited(&ws, 256 * 1024);
    eprintln!(
        "alias bomb: exit {:?} in {:?}, peak RSS {} kB",
        run.code, run.elapsed, run.peak_rss_kb
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains(".pocket-dock/bomb.yaml:"),
        "{}",
        run.stderr_text()
    );
    assert!(
        run.peak_rss_kb < 256 * 1024,
        "peak RSS {} kB",
        run.peak_rss_kb
    );
    assert!(run.elapsed < Duration::from_secs(2), "{:?}", run.elapsed);

    // Not files at all: a FIFO, /dev/zero behind a symlink, a dangling link. Refused, named,
    // never opened for reading (which would block or never end).
    std::fs::remove_file(dir.join("bomb.yaml")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(dir.join("pipe.yaml"))
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
    std::os::unix::fs::symlink(Path::new("/nonexistent/x.yaml"), dir.join("gone.yaml")).unwrap();
    let run = validate_limited(&ws, 256 * 1024);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    let err = run.stderr_text();
    for expected in [
        ".pocket-dock/pipe.yaml:1:1: the file is a FIFO",
        ".pocket-dock/zero.yaml:1:1: the file is a symlink to a character device",
        ".pocket-dock/gone.yaml:1:1: the file is a symlink that leads nowhere",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert!(run.elapsed < Duration::from_secs(2), "{:?}", run.elapsed);
}
