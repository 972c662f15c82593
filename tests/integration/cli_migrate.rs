//! `migrate` through the real binary: `--check`'s exit code, the JSON report, what is
//! refused (a symlinked document, an invalid one) with nothing written; and, against real
//! Podman, that a migrated workspace is already converged (both versions are one model).

use std::path::Path;

use crate::support::Podman;
use crate::support::cli;
use crate::support::workspace::{TestWorkspace, actions, sandbox};

const OLD: &str = "# yaml-language-server: $schema=./schema/pocket-dock.json\n# a volume\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: NAME}\n";

fn old(name: &str) -> String {
    OLD.replace("NAME", name)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pd-migrate-")
        .tempdir()
        .unwrap()
}

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(".pocket-dock").join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(".pocket-dock").join(file)).unwrap()
}

#[test]
fn check_exits_1_until_migrated_then_0() {
    let dir = tempdir();
    write(dir.path(), "data.yaml", &old("data"));

    let run = cli::pd(dir.path(), &[], &["migrate", "--check"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    assert!(
        run.stdout_text().contains(".pocket-dock/data.yaml"),
        "{}",
        run.stdout_text()
    );
    assert_eq!(read(dir.path(), "data.yaml"), old("data"), "--check wrote");

    let run = cli::pd(dir.path(), &[], &["-o", "json", "migrate", "--check"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr_text());
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["apiVersion"], "pocket-dock.dev/v1beta1");
    assert_eq!(report["check"], true);
    assert_eq!(report["changed"], 1);
    let file = &report["files"][0];
    assert_eq!(file["file"], ".pocket-dock/data.yaml");
    assert_eq!(file["written"], false);
    assert_eq!(
        file["changes"][0],
        serde_json::json!({"line": 3, "column": 13, "field": "apiVersion",
            "from": "pocket-dock.dev/v1alpha1", "to": "pocket-dock.dev/v1beta1"})
    );

    let run = cli::pd(dir.path(), &[], &["migrate"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(
        read(dir.path(), "data.yaml"),
        old("data").replace("v1alpha1", "v1beta1"),
        "only the value changed: comments and the schema line stay"
    );

    let run = cli::pd(dir.path(), &[], &["migrate", "--check"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let run = cli::pd(dir.path(), &[], &["-o", "json", "migrate"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["changed"], 0);
    assert_eq!(report["files"][0]["written"], false);

    let run = cli::pd(dir.path(), &[], &["validate"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
}

/// `init` writes the oldest version not deprecated (a teammate on the previous release
/// reads it); `migrate` then moves it to the newest, and the workspace still validates.
#[test]
fn init_writes_v1alpha1_and_migrate_moves_it_forward() {
    let dir = tempdir();
    let run = cli::pd(dir.path(), &[], &["init"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let run = cli::pd(dir.path(), &[], &["migrate", "--check"]);
    assert_eq!(
        run.code,
        Some(1),
        "a v1alpha1 file is pending: {}",
        run.stdout_text()
    );
    let run = cli::pd(dir.path(), &[], &["migrate"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let run = cli::pd(dir.path(), &[], &["migrate", "--check"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout_text());
    let run = cli::pd(dir.path(), &[], &["validate"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
}

#[test]
fn a_symlinked_document_is_refused_and_nothing_is_written() {
    let dir = tempdir();
    write(dir.path(), "a.yaml", &old("a"));
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    let target = dir.path().join("shared/b.yaml");
    std::fs::write(&target, old("b")).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join(".pocket-dock/b.yaml")).unwrap();

    for args in [&["migrate"][..], &["migrate", "--check"]] {
        let run = cli::pd(dir.path(), &[], args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr_text());
        let stderr = run.stderr_text();
        assert!(
            stderr.contains("b.yaml") && stderr.contains("symlink"),
            "{stderr}"
        );
    }
    let run = cli::pd(dir.path(), &[], &["-o", "json", "migrate"]);
    assert_eq!(run.code, Some(2));
    let error: serde_json::Value = serde_json::from_slice(&run.stderr).unwrap();
    assert_eq!(error["error"]["category"], "invalid-input");
    assert!(run.stdout.is_empty());

    assert_eq!(read(dir.path(), "a.yaml"), old("a"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), old("b"));
    assert!(dir.path().join(".pocket-dock/b.yaml").is_symlink());

    // Naming only the regular file migrates it alone (relative to -C, as every path).
    let run = cli::pd(
        dir.path().parent().unwrap(),
        &[],
        &[
            "-C",
            dir.path().to_str().unwrap(),
            "migrate",
            ".pocket-dock/a.yaml",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(read(dir.path(), "a.yaml").contains("v1beta1"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), old("b"));
}

#[test]
fn an_invalid_document_is_refused_with_file_and_line() {
    let dir = tempdir();
    write(dir.path(), "a.yaml", &old("a"));
    write(
        dir.path(),
        "b.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: b}\nspec:\n  imgae: x:1\n",
    );
    let run = cli::pd(dir.path(), &[], &["migrate"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains(".pocket-dock/b.yaml:5:3"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(read(dir.path(), "a.yaml"), old("a"), "all or nothing");
}

#[tokio::test]
async fn a_migrated_workspace_is_already_converged() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let declared = format!(
        "# the web box\n{}{}",
        sandbox("web", "  env: {A: '1'}\n"),
        OLD.replace("NAME", "cache")
            .replace("# yaml-", "---\n# yaml-")
    );
    assert!(declared.matches("pocket-dock.dev/v1alpha1").count() == 2);
    ws.write("s.yaml", &declared);
    ws.pd_ok(&["apply"]);
    let before = ws.running_ids(podman).await;
    assert_eq!(before.len(), 1);

    ws.pd_ok(&["migrate"]);
    let migrated = std::fs::read_to_string(ws.path(".pocket-dock/s.yaml")).unwrap();
    assert_eq!(migrated, declared.replace("v1alpha1", "v1beta1"));

    // The same declarations: nothing to do, and the container is the one made before.
    let run = ws.pd(&["diff"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(actions(&out), Vec::<String>::new());
    assert_eq!(ws.running_ids(podman).await, before, "not recreated");
    ws.pd_ok(&["delete", "--all"]);
}
