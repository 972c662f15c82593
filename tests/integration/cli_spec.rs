//! `init`, `validate` and `schema` through the real binary.

use std::path::Path;

use crate::support::cli;

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pd-spec-")
        .tempdir()
        .unwrap()
}

fn write(root: &Path, file: &str, text: &str) {
    let path = root.join(".pocket-dock").join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn init_creates_a_valid_workspace_and_is_idempotent() {
    let dir = tempdir();
    let run = cli::pd(dir.path(), &[], &["init"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    for file in ["sandbox.yaml", ".gitignore", "schema/pocket-dock.json"] {
        assert!(
            dir.path().join(".pocket-dock").join(file).is_file(),
            "{file} missing"
        );
    }
    let example = std::fs::read_to_string(dir.path().join(".pocket-dock/sandbox.yaml")).unwrap();
    assert!(example.starts_with("# yaml-language-server: $schema=./schema/pocket-dock.json\n"));
    // Editors read the modeline per document: the example shows a next document with its own.
    assert!(
        example.contains("\n# ---\n# # yaml-language-server: $schema=./schema/pocket-dock.json\n")
    );
    let gitignore = std::fs::read_to_string(dir.path().join(".pocket-dock/.gitignore")).unwrap();
    assert!(gitignore.contains("status/") && gitignore.contains("state.db"));

    let run = cli::pd(dir.path(), &[], &["validate"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(run.stdout_text(), "valid: 1 sandbox in 1 file\n");

    std::fs::write(dir.path().join(".pocket-dock/sandbox.yaml"), "# mine\n").unwrap();
    let run = cli::pd(dir.path(), &[], &["init"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout_text().contains("already initialised"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".pocket-dock/sandbox.yaml")).unwrap(),
        "# mine\n",
        "init never overwrites"
    );
}

#[test]
fn init_creates_a_missing_root_and_never_writes_through_a_symlink() {
    let dir = tempdir();
    let run = cli::pd(dir.path(), &[], &["-C", "new/project", "init"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(
        dir.path()
            .join("new/project/.pocket-dock/sandbox.yaml")
            .is_file()
    );

    // A dangling link where init would write: the file it points to is never created.
    let other = tempdir();
    let outside = tempdir();
    std::fs::create_dir(other.path().join(".pocket-dock")).unwrap();
    let target = outside.path().join("made-through-the-link");
    std::os::unix::fs::symlink(&target, other.path().join(".pocket-dock/sandbox.yaml")).unwrap();
    let run = cli::pd(other.path(), &[], &["init"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(!target.exists());
    // A symlinked .pocket-dock is refused.
    let linked = tempdir();
    std::os::unix::fs::symlink(outside.path(), linked.path().join(".pocket-dock")).unwrap();
    let run = cli::pd(linked.path(), &[], &["init"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("is a symlink"),
        "{}",
        run.stderr_text()
    );
    assert!(!outside.path().join("sandbox.yaml").exists());
}

#[test]
fn validate_reports_every_problem_with_its_location_and_exits_2() {
    let dir = tempdir();
    write(
        dir.path(),
        "a.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\nspec:\n  image: x:1\n  workdri: /w\n",
    );
    write(
        dir.path(),
        "nested/b.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: b}\nspec:\n  image: x:1\n  dependsOn: [c]\n",
    );
    // Generated content and editor files are never read.
    write(dir.path(), "status/sandbox/a.yaml", "not: [valid");
    write(dir.path(), ".a.yaml.swp", "garbage: [");
    write(dir.path(), "a.yaml~", "garbage: [");

    // From a nested folder: the workspace is the nearest ancestor with .pocket-dock/.
    let nested = dir.path().join("src/deep");
    std::fs::create_dir_all(&nested).unwrap();
    let run = cli::pd(&nested, &[], &["validate"]);
    assert_eq!(run.code, Some(2));
    assert_eq!(
        run.stderr_text(),
        ".pocket-dock/a.yaml:6:3: spec.workdri: unknown field `workdri` (did you mean `workdir`?)\n\
         .pocket-dock/nested/b.yaml:6:15: spec.dependsOn[0]: Sandbox `c` is not declared in this workspace (declare a Sandbox named `c`, or fix the name)\n\
         invalid: 2 problems in 2 files\n"
    );
    assert!(run.stdout.is_empty());

    let run = cli::pd(dir.path(), &[], &["validate", "--output", "json"]);
    assert_eq!(run.code, Some(2));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let first = &report["diagnostics"][0];
    assert_eq!(first["file"], ".pocket-dock/a.yaml");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(6), Some(3))
    );
    assert_eq!(first["path"], "spec.workdri");
    assert_eq!(first["code"], "unknown-field");
    assert_eq!(first["hint"], "did you mean `workdir`?");
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
}

#[test]
fn validate_without_a_workspace_says_how_to_make_one() {
    let dir = tempdir();
    let run = cli::pd(dir.path(), &[], &["validate"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr_text().contains("pocket-dock init"),
        "{}",
        run.stderr_text()
    );
}

#[test]
fn schema_check_detects_drift_and_out_writes_the_committed_files() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = cli::pd(&repo, &[], &["schema", "--check"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );

    let dir = tempdir();
    let run = cli::pd(dir.path(), &[], &["schema", "--out", "out"]);
    assert_eq!(run.code, Some(0));
    for name in [
        "sandbox.json",
        "image.json",
        "snapshot.json",
        "volume.json",
        "workspace.json",
        "pocket-dock.json",
    ] {
        let written = std::fs::read_to_string(dir.path().join("out").join(name)).unwrap();
        let committed = std::fs::read_to_string(repo.join("schemas").join(name)).unwrap();
        assert_eq!(written, committed, "{name}");
    }
    std::fs::write(dir.path().join("out/sandbox.json"), "{}").unwrap();
    let run = cli::pd(dir.path(), &[], &["schema", "--check", "--out", "out"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr_text().contains("out of date: out/sandbox.json"),
        "{}",
        run.stderr_text()
    );

    let run = cli::pd(dir.path(), &[], &["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        schema["oneOf"].as_array().unwrap().len(),
        pocket_dock_spec::schema::DECLARABLE.len(),
        "one per declarable kind"
    );
}

#[test]
fn schema_crds_print_write_and_check_the_committed_crds() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let committed = repo.join("schemas/crds");
    let dir = tempdir();

    // `-C DIR` is where a relative --out starts.
    let run = cli::pd(
        &repo,
        &[],
        &[
            "-C",
            dir.path().to_str().unwrap(),
            "schema",
            "--crds",
            "--out",
            "crds",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("crds"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = pocket_dock_spec::schema::DECLARABLE
        .iter()
        .map(|&k| pocket_dock_spec::crd::crd_file_name(k))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    assert!(names.contains(&"sandboxes.pocket-dock.dev.yaml".to_string()));
    assert!(names.contains(&"templates.pocket-dock.dev.yaml".to_string()));
    for name in &names {
        let written = std::fs::read_to_string(dir.path().join("crds").join(name)).unwrap();
        let expected = std::fs::read_to_string(committed.join(name)).unwrap();
        assert_eq!(written, expected, "{name}");
    }

    let run = cli::pd(
        dir.path(),
        &[],
        &["schema", "--crds", "--check", "--out", "crds"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    std::fs::write(
        dir.path().join("crds/volumes.pocket-dock.dev.yaml"),
        "kind: Volume\n",
    )
    .unwrap();
    let run = cli::pd(
        dir.path(),
        &[],
        &["schema", "--crds", "--check", "--out", "crds"],
    );
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr_text()
            .contains("out of date: crds/volumes.pocket-dock.dev.yaml"),
        "{}",
        run.stderr_text()
    );
    // The repository check covers schemas/ and schemas/crds/ together.
    let run = cli::pd(&repo, &[], &["-o", "json", "schema", "--check"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        report["checked"],
        serde_json::json!(["schemas", "schemas/crds"])
    );
    assert_eq!(report["stale"], serde_json::json!([]));

    // Standard output: YAML documents, or a JSON list.
    let run = cli::pd(dir.path(), &[], &["schema", "--crds"]);
    assert_eq!(run.code, Some(0));
    let text = run.stdout_text();
    let kinds = pocket_dock_spec::schema::DECLARABLE.len();
    assert_eq!(
        text.matches("\nkind: CustomResourceDefinition\n").count(),
        kinds
    );
    assert_eq!(text.matches("\n---\n").count(), kinds - 1);
    let run = cli::pd(dir.path(), &[], &["--output", "json", "schema", "--crds"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&run.stdout).unwrap();
    let names: Vec<&str> = list
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sandboxes.pocket-dock.dev",
            "templates.pocket-dock.dev",
            "images.pocket-dock.dev",
            "snapshots.pocket-dock.dev",
            "volumes.pocket-dock.dev",
            "networks.pocket-dock.dev",
            "workspaces.pocket-dock.dev",
            "pools.pocket-dock.dev",
        ]
    );
}

#[test]
fn validate_loads_a_thousand_documents_in_two_hundred_files() {
    let dir = tempdir();
    for f in 0..200 {
        let mut text = String::new();
        for d in 0..5 {
            let n = f * 5 + d;
            text.push_str(&format!(
                "---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: s{n}\nspec:\n  image: localhost/tools:1\n  env: {{INDEX: \"{n}\"}}\n  ports: [{{container: 80, host: {}}}]\n  dependsOn: [{}]\n",
                10000 + n,
                if n == 0 { "s1".to_string() } else { format!("s{}", n - 1) },
            ));
        }
        write(
            dir.path(),
            &format!("group-{}/file-{f}.yaml", f % 10),
            &text,
        );
    }
    // s0 depends on s1 and s1 on s0: one cycle among 1000 objects, found and named.
    let run = cli::pd(dir.path(), &[], &["validate"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text()
            .contains("dependency cycle: Sandbox/s0 -> Sandbox/s1 -> Sandbox/s0"),
        "{}",
        run.stderr_text()
    );
    assert!(
        run.stderr_text()
            .ends_with("invalid: 1 problem in 1 file\n"),
        "{}",
        run.stderr_text()
    );
}

#[test]
fn a_closed_stdout_never_makes_a_command_panic() {
    use std::process::Stdio;
    let mut child = cli::command(&std::env::temp_dir(), &[], &["schema"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, like `| head -1` after its line
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// Invalid documents are the first thing to fix, and need no engine: with the engine
/// unreachable, every declarative command still prints each problem (file:line) and exits 2.
#[test]
fn invalid_documents_are_reported_before_an_unreachable_engine() {
    let dir = tempdir();
    write(
        dir.path(),
        "a.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: x\nspec:\n  imagee: busybox\n",
    );
    let env = [(
        "CONTAINER_HOST".to_string(),
        "unix:///nonexistent/podman.sock".to_string(),
    )];
    for args in [
        &["apply"][..],
        &["diff"],
        &["apply", "--dry-run"],
        &["snapshot", "x", "saved"],
        &["validate", "--engine"],
    ] {
        let run = cli::pd(dir.path(), &env, args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr_text());
        assert!(
            run.stderr_text()
                .contains(".pocket-dock/a.yaml:6:3: spec.imagee: unknown field"),
            "{args:?}: {}",
            run.stderr_text()
        );
    }
    let run = cli::pd(dir.path(), &env, &["--output", "json", "apply"]);
    assert_eq!(run.code, Some(2));
    let value: serde_json::Value = serde_json::from_str(run.stdout_text().trim()).unwrap();
    assert_eq!(value["valid"], false);
    assert_eq!(value["diagnostics"].as_array().unwrap().len(), 2, "{value}");
    // Nothing was created for it: no state store, no status.
    assert!(!dir.path().join(".pocket-dock/state.db").exists());
    assert!(!dir.path().join(".pocket-dock/status").exists());
}

/// Commands that read the workspace's records need its folder, and never make one.
#[test]
fn events_and_history_without_a_workspace_say_how_to_make_one_and_create_nothing() {
    let dir = tempdir();
    for args in [&["events"][..], &["history"]] {
        let run = cli::pd(dir.path(), &[], args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr_text());
        assert!(
            run.stderr_text().contains("pocket-dock init"),
            "{args:?}: {}",
            run.stderr_text()
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
