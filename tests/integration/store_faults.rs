//! The state store under faults, against real Podman: a read-only store (a read-only bind
//! mount of `state.db`, or of the whole `.pocket-dock` folder) is a clear error with exit 4,
//! before anything is written to Podman; nothing is moved aside, and the database is intact
//! for the next apply.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Podman;
use crate::support::workspace::{TestWorkspace, sandbox};

/// A read-only bind mount of `target` over itself, unmounted when dropped (also when the
/// test fails): tests run as root, whom file permissions do not stop.
struct ReadOnlyBind {
    target: PathBuf,
}

impl ReadOnlyBind {
    fn over(target: &Path) -> ReadOnlyBind {
        mount(&["--bind", path_str(target), path_str(target)]);
        // From here on the bind is undone whatever happens.
        let guard = ReadOnlyBind {
            target: target.to_path_buf(),
        };
        mount(&["-o", "remount,ro,bind", path_str(target), path_str(target)]);
        guard
    }
}

impl Drop for ReadOnlyBind {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(&self.target).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("could not unmount {}", self.target.display());
        }
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

fn mount(args: &[&str]) {
    let out = Command::new("mount")
        .args(args)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "mount {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const VOLUME: &str =
    "---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n";

#[tokio::test]
async fn a_read_only_state_store_is_a_clear_error_and_nothing_is_moved_aside_or_created() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    // The store exists (made by a command that only opens it), then the declarations.
    ws.pd_ok(&["events"]);
    let db = ws.path(".pocket-dock/state.db");
    let before = std::fs::read(&db).unwrap();
    ws.write(
        "a.yaml",
        &format!(
            "{}{VOLUME}",
            sandbox(
                "web",
                "  mounts: [{type: volume, source: data, target: /data}]\n"
            )
        ),
    );
    let dot = ws.path(".pocket-dock");

    for (what, target) in [("state.db", db.clone()), (".pocket-dock", dot.clone())] {
        let bind = ReadOnlyBind::over(&target);
        let run = ws.pd(&["apply"]);
        let stderr = run.stderr_text();
        assert_eq!(run.code, Some(4), "{what} read-only: {stderr}");
        // A read-only folder is found by the first thing that writes there: the writer lock
        // (taken before anything else) or the store.
        assert!(
            stderr.contains("state store") || stderr.contains("workspace lock"),
            "{what}: {stderr}"
        );
        assert!(stderr.contains("read-only"), "{what}: {stderr}");
        assert!(
            stderr.contains("remount"),
            "{what}: says what to do: {stderr}"
        );
        assert!(!stderr.contains("continuing"), "{what}: {stderr}");

        let (run, _) = ws.pd_json(&["apply"]);
        assert_eq!(run.code, Some(4));
        let error: serde_json::Value = serde_json::from_str(
            run.stderr_text()
                .lines()
                .find(|l| l.contains("\"error\""))
                .expect("a JSON error on stderr"),
        )
        .unwrap();
        assert_eq!(error["error"]["category"], "storage", "{error}");
        assert_eq!(error["error"]["exit_code"], 4, "{error}");
        assert!(
            error["error"]["hint"].as_str().unwrap().contains("remount"),
            "{error}"
        );
        drop(bind);

        let names = names_in(&dot);
        assert!(
            !names.iter().any(|n| n.contains("corrupt")),
            "{what}: nothing moved aside: {names:?}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), before, "{what}: untouched");
        let engine = podman.engine();
        let ownership = ws.ownership();
        assert!(
            engine.list_owned(&ownership).await.unwrap().is_empty(),
            "{what}: no container created"
        );
        assert!(
            engine
                .list_owned_volumes(&ownership)
                .await
                .unwrap()
                .is_empty(),
            "{what}: no volume created"
        );
        assert!(
            !ws.path(".pocket-dock/status").exists(),
            "{what}: no status written"
        );
    }

    // Writable again: the same database serves the next apply.
    ws.pd_ok(&["apply"]);
    assert_eq!(ws.running_ids(podman).await.len(), 1);
    ws.pd_ok(&["delete", "--all", "--volumes"]);
}

/// The state store 0.1.0 wrote (`controller/tests/fixtures/`), copied into `ws`.
fn release_store(ws: &TestWorkspace) -> PathBuf {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../controller/tests/fixtures/state-0.1.0.db");
    let db = ws.path(".pocket-dock/state.db");
    std::fs::copy(fixture, &db).unwrap();
    db
}

fn user_version(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// A workspace whose `state.db` 0.1.0 wrote works on with this build: two commands started
/// at once both open it (one migrates it, the other finds it done), its event log reads
/// back with every row once, and it carries the current schema version from then on.
#[tokio::test]
async fn the_state_store_of_the_previous_release_opens_migrated_even_by_two_at_once() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let db = release_store(&ws);
    assert_eq!(user_version(&db), 0);

    let children: Vec<std::process::Child> = (0..2)
        .map(|_| {
            ws.command(&["--output", "json", "events", "--last", "100"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let actions: Vec<String> = stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
            .collect();
        assert_eq!(
            actions,
            ["\"create\"", "\"start\"", "\"remove\"", "\"exec\""],
            "every row once: {stdout}"
        );
    }
    assert_eq!(
        user_version(&db),
        i64::from(pocket_dock::store::SCHEMA_VERSION)
    );
    let (run, _) = ws.pd_json(&["audit", "verify"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let history = ws.pd_ok(&["history", "web"]);
    assert!(
        history.stdout_text().contains("hi there"),
        "{}",
        history.stdout_text()
    );
}

/// A `state.db` a newer pocket-dock wrote: every command that opens it stops with exit 4,
/// naming both versions and what to do; not one byte of it changes, no journal file is left
/// beside it, nothing is moved aside and nothing reaches Podman. Moved aside as the hint
/// says, the workspace works again with a new store.
#[tokio::test]
async fn a_state_store_of_a_newer_release_is_refused_and_never_touched() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.pd_ok(&["events"]);
    let db = ws.path(".pocket-dock/state.db");
    let newer = pocket_dock::store::SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {newer}"))
        .unwrap();
    ws.write("a.yaml", &format!("{}{VOLUME}", sandbox("web", "")));
    let before = std::fs::read(&db).unwrap();
    let dot = ws.path(".pocket-dock");
    let names_before = names_in(&dot);

    for args in [&["apply"][..], &["events"], &["history"]] {
        let run = ws.pd(args);
        let stderr = run.stderr_text();
        assert_eq!(run.code, Some(4), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "schema version {newer} was written by a newer pocket-dock (this one knows versions up to {})",
                pocket_dock::store::SCHEMA_VERSION
            )),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("upgrade pocket-dock"), "{args:?}: {stderr}");
    }
    // `doctor` says so too, from the file's header, without opening it.
    let run = ws.pd(&["doctor"]);
    assert_eq!(run.code, Some(4), "{}", run.stdout_text());
    assert!(
        run.stdout_text().contains(&format!(
            "FAIL state    state store {}: schema version {newer} was written by a newer pocket-dock",
            db.display()
        )),
        "{}",
        run.stdout_text()
    );
    let (run, _) = ws.pd_json(&["apply"]);
    let error: serde_json::Value = serde_json::from_str(
        run.stderr_text()
            .lines()
            .find(|l| l.contains("\"error\""))
            .expect("a JSON error on stderr"),
    )
    .unwrap();
    assert_eq!(error["error"]["category"], "storage", "{error}");
    assert_eq!(error["error"]["exit_code"], 4, "{error}");

    assert_eq!(std::fs::read(&db).unwrap(), before, "not one byte changed");
    // `apply` takes the writer lock (its own file) before it opens the store.
    let names: Vec<String> = names_in(&dot)
        .into_iter()
        .filter(|n| n != "writer.lock")
        .collect();
    assert_eq!(names, names_before, "no journal file, nothing moved aside");
    let engine = podman.engine();
    let ownership = ws.ownership();
    assert!(engine.list_owned(&ownership).await.unwrap().is_empty());
    assert!(
        engine
            .list_owned_volumes(&ownership)
            .await
            .unwrap()
            .is_empty()
    );

    // What the hint offers: moved aside, a new store is made.
    std::fs::rename(&db, ws.path(".pocket-dock/state.db.newer")).unwrap();
    ws.pd_ok(&["apply"]);
    assert_eq!(ws.running_ids(podman).await.len(), 1);
    let run = ws.pd(&["--output", "json", "doctor"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout_text());
    let report: serde_json::Value = serde_json::from_str(&run.stdout_text()).unwrap();
    let state = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "state")
        .expect("a state check");
    assert_eq!(state["status"], "ok", "{state}");
    assert!(
        state["message"].as_str().unwrap().ends_with(&format!(
            "schema version {} (current)",
            pocket_dock::store::SCHEMA_VERSION
        )),
        "{state}"
    );
    assert_eq!(
        std::fs::read(ws.path(".pocket-dock/state.db.newer")).unwrap(),
        before
    );
    ws.pd_ok(&["delete", "--all", "--volumes"]);
}
