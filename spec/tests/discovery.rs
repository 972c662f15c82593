//! Finding the documents: what is read, what is refused and named, and when the file list
//! is not known to be complete (then nothing may be pruned).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::os::unix::fs::symlink;
use std::path::Path;

use pocket_dock_spec::load;

const VOLUME: &str = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: NAME}\n";

fn volume(name: &str) -> String {
    VOLUME.replace("NAME", name)
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".pocket-dock")).unwrap();
    dir
}

fn names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = load(root)
        .declarations
        .objects
        .iter()
        .map(|o| o.metadata.name.clone())
        .collect();
    names.sort();
    names
}

fn problems(root: &Path) -> Vec<String> {
    load(root)
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_symlinked_folder_inside_the_workspace_is_followed_once() {
    let ws = workspace();
    let root = ws.path();
    std::fs::create_dir(root.join("shared")).unwrap();
    std::fs::write(root.join("shared/a.yaml"), volume("a")).unwrap();
    symlink("../shared", root.join(".pocket-dock/shared")).unwrap();
    // A loop back to .pocket-dock and a second link to the same folder read nothing twice.
    symlink(".", root.join(".pocket-dock/loop")).unwrap();
    symlink("../shared", root.join(".pocket-dock/again")).unwrap();
    let loaded = load(root);
    assert!(loaded.is_valid(), "{:?}", problems(root));
    assert!(loaded.declarations.complete);
    assert_eq!(names(root), ["a"]);
}

#[test]
fn a_symlinked_folder_outside_the_workspace_is_named_and_leaves_the_list_incomplete() {
    let ws = workspace();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("b.yaml"), volume("b")).unwrap();
    symlink(outside.path(), ws.path().join(".pocket-dock/elsewhere")).unwrap();
    let loaded = load(ws.path());
    assert!(!loaded.discovery_complete);
    assert!(!loaded.declarations.complete);
    let problems = problems(ws.path());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(".pocket-dock/elsewhere:1:1: the folder is a symlink to"),
        "{problems:?}"
    );
}

#[test]
fn special_files_named_like_documents_are_refused_without_blocking() {
    let ws = workspace();
    let dir = ws.path().join(".pocket-dock");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(dir.join("pipe.yaml"))
            .status()
            .unwrap()
            .success()
    );
    symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
    symlink("/nonexistent", dir.join("gone.yml")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("c.yaml"), volume("c")).unwrap();
    symlink(outside.path().join("c.yaml"), dir.join("out.yaml")).unwrap();
    // Not named like a document: not our business.
    symlink("/dev/zero", dir.join("README")).unwrap();
    let started = std::time::Instant::now();
    let problems = problems(ws.path());
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let codes: Vec<(String, &str)> = load(ws.path())
        .diagnostics
        .iter()
        .map(|d| (d.file.display().to_string(), d.code))
        .collect();
    assert_eq!(
        codes,
        [
            (".pocket-dock/gone.yml".to_string(), "unreadable"),
            (".pocket-dock/out.yaml".to_string(), "outside-workspace"),
            (".pocket-dock/pipe.yaml".to_string(), "not-a-regular-file"),
            (".pocket-dock/zero.yaml".to_string(), "not-a-regular-file"),
        ],
        "{problems:?}"
    );
}

#[test]
fn a_symlinked_document_inside_the_workspace_is_read() {
    let ws = workspace();
    std::fs::write(ws.path().join("v.yaml"), volume("v")).unwrap();
    symlink("../v.yaml", ws.path().join(".pocket-dock/v.yaml")).unwrap();
    assert_eq!(names(ws.path()), ["v"]);
}

#[test]
fn a_missing_or_symlinked_pocket_dock_folder_is_an_incomplete_picture() {
    let ws = tempfile::tempdir().unwrap();
    let loaded = load(ws.path());
    assert!(!loaded.declarations.complete);
    assert_eq!(loaded.diagnostics[0].code, "missing-folder");

    let real = tempfile::tempdir().unwrap();
    std::fs::write(real.path().join("v.yaml"), volume("v")).unwrap();
    symlink(real.path(), ws.path().join(".pocket-dock")).unwrap();
    let loaded = load(ws.path());
    assert!(!loaded.declarations.complete);
    assert_eq!(loaded.diagnostics[0].code, "symlinked-folder");
    assert!(loaded.declarations.objects.is_empty());
}

#[test]
fn a_file_list_cut_at_its_limit_is_incomplete() {
    let ws = workspace();
    let dir = ws.path().join(".pocket-dock");
    for i in 0..=pocket_dock_spec::load::MAX_FILES {
        std::fs::write(dir.join(format!("{i:05}.yaml")), "# nothing\n").unwrap();
    }
    let loaded = load(ws.path());
    assert!(!loaded.discovery_complete);
    assert!(!loaded.declarations.complete);
    assert_eq!(
        loaded.declarations.files.len(),
        pocket_dock_spec::load::MAX_FILES
    );
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.code == "too-many-files"),
        "{:?}",
        loaded.diagnostics
    );
}

#[test]
fn empty_comment_only_bom_and_crlf_files_are_fine() {
    let ws = workspace();
    let dir = ws.path().join(".pocket-dock");
    std::fs::write(dir.join("empty.yaml"), "").unwrap();
    std::fs::write(dir.join("comments.yaml"), "# just a note\n\n# another\n").unwrap();
    std::fs::write(
        dir.join("windows.yaml"),
        format!("\u{feff}{}", volume("w").replace('\n', "\r\n")),
    )
    .unwrap();
    let loaded = load(ws.path());
    assert!(loaded.is_valid(), "{:?}", problems(ws.path()));
    assert!(loaded.declarations.complete);
    assert_eq!(names(ws.path()), ["w"]);
}

#[test]
fn files_past_the_workspace_byte_budget_are_not_read_and_leave_the_list_incomplete() {
    let ws = workspace();
    let dir = ws.path().join(".pocket-dock");
    let comment = format!("# {}\n", "x".repeat(1000));
    let big = comment.repeat(3900);
    for i in 0..6 {
        std::fs::write(dir.join(format!("{i}.yaml")), &big).unwrap();
    }
    std::fs::write(dir.join("z.yaml"), volume("z")).unwrap();
    let loaded = load(ws.path());
    assert!(!loaded.discovery_complete);
    assert!(!loaded.declarations.complete);
    let d = &loaded.diagnostics;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, "too-many-bytes");
    assert_eq!(d[0].file, Path::new(".pocket-dock/5.yaml"));
    assert!(
        !loaded
            .declarations
            .files
            .contains(&".pocket-dock/z.yaml".into())
    );
}
