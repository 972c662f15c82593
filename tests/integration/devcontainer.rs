//! `import devcontainer` and `export quadlet` through the real binary: exit codes, `-C`,
//! `-o json`, `--force`, and what is never overwritten. No engine is needed.

use std::path::Path;

use crate::support::cli;

fn project() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("pd-dc-").tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("project/.devcontainer")).unwrap();
    std::fs::write(
        dir.path().join("project/.devcontainer/Dockerfile"),
        "FROM scratch\n",
    )
    .unwrap();
    dir
}

fn write_json(root: &Path, text: &str) {
    std::fs::write(root.join(".devcontainer/devcontainer.json"), text).unwrap();
}

#[test]
fn import_devcontainer_writes_a_valid_workspace_once() {
    let dir = project();
    let root = dir.path().join("project");
    write_json(
        &root,
        "{\n  // comment\n  \"name\": \"API\",\n  \"build\": {\"dockerfile\": \"Dockerfile\"},\n  \
         \"forwardPorts\": [3000,],\n  \"remoteUser\": \"node\"\n}\n",
    );
    let run = cli::pd(
        dir.path(),
        &[],
        &["-C", "project", "import", "devcontainer"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(run.stdout_text().contains("(Image/api and Sandbox/api)"));
    assert!(
        run.stderr_text()
            .contains(".devcontainer/devcontainer.json:6: not carried over: remoteUser:"),
        "{}",
        run.stderr_text()
    );
    let written = std::fs::read_to_string(root.join(".pocket-dock/devcontainer.yaml")).unwrap();

    let run = cli::pd(dir.path(), &[], &["-C", "project", "validate"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());

    // Again: refused without --force, the file unchanged; with --force, the same bytes.
    let run = cli::pd(
        dir.path(),
        &[],
        &["-C", "project", "import", "devcontainer"],
    );
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr_text().contains("--force"),
        "{}",
        run.stderr_text()
    );
    let run = cli::pd(
        dir.path(),
        &[],
        &[
            "-C",
            "project",
            "-o",
            "json",
            "import",
            "devcontainer",
            "--force",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report: serde_json::Value = serde_json::from_str(&run.stdout_text()).unwrap();
    assert_eq!(report["imported"], true);
    assert_eq!(report["sandbox"], "api");
    assert_eq!(report["notCarriedOver"][0]["key"], "remoteUser");
    assert_eq!(
        std::fs::read_to_string(root.join(".pocket-dock/devcontainer.yaml")).unwrap(),
        written,
        "deterministic"
    );
}

#[test]
fn import_devcontainer_refuses_features_by_name_and_writes_nothing() {
    let dir = project();
    let root = dir.path().join("project");
    write_json(
        &root,
        "{\n  \"image\": \"debian:12\",\n  \"features\": {\"ghcr.io/devcontainers/features/node:1\": {}}\n}\n",
    );
    let run = cli::pd(&root, &[], &["import", "devcontainer"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr_text()
            .contains(".devcontainer/devcontainer.json:3: refused: features: features are fetched from a registry"),
        "{}",
        run.stderr_text()
    );
    let run = cli::pd(&root, &[], &["-o", "json", "import", "devcontainer"]);
    assert_eq!(run.code, Some(2));
    let report: serde_json::Value = serde_json::from_str(&run.stdout_text()).unwrap();
    assert_eq!(report["imported"], false);
    assert_eq!(report["refusals"][0]["key"], "features");
    assert_eq!(report["refusals"][0]["line"], 3);
    assert!(!root.join(".pocket-dock").exists());

    // Not JSON: file:line:column, exit 2.
    write_json(&root, "{\n  \"image\": \"debian:12\"\n  \"x\": 1\n}\n");
    let run = cli::pd(&root, &[], &["import", "devcontainer"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr_text()
            .contains(".devcontainer/devcontainer.json:3:3"),
        "{}",
        run.stderr_text()
    );
}

#[test]
fn export_quadlet_never_replaces_a_file_it_did_not_write() {
    let dir = project();
    let root = dir.path().join("project");
    std::fs::create_dir_all(root.join(".pocket-dock")).unwrap();
    std::fs::write(
        root.join(".pocket-dock/v.yaml"),
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: data\n",
    )
    .unwrap();
    let units = dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(units.join("data.volume"), "[Volume]\n# mine\n").unwrap();
    let out = units.to_str().unwrap();
    let run = cli::pd(&root, &[], &["export", "quadlet", "--out", out]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert_eq!(
        std::fs::read_to_string(units.join("data.volume")).unwrap(),
        "[Volume]\n# mine\n"
    );
    std::fs::remove_file(units.join("data.volume")).unwrap();
    let run = cli::pd(&root, &[], &["export", "quadlet", "--out", out]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(run.stdout_text().contains("wrote "));
    // An invalid workspace: the diagnostics, exit 2, nothing written.
    std::fs::write(root.join(".pocket-dock/v.yaml"), "kind: Volume\n").unwrap();
    let fresh = dir.path().join("fresh");
    let run = cli::pd(
        &root,
        &[],
        &["export", "quadlet", "--out", fresh.to_str().unwrap()],
    );
    assert_eq!(run.code, Some(2));
    assert!(!fresh.exists());
}
