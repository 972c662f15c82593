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
