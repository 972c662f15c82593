//! `Workspace::migrate` on real files: every example workspace round-trips (same model,
//! only `apiVersion` lines edited, a second run changes nothing), and what must be refused
//! is refused with nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pocket_dock::{Error, MigrateRequest, Workspace};
use pocket_dock_spec::model::{API_VERSION, API_VERSION_V1ALPHA1};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workspaces");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join(".pocket-dock").is_dir())
        .collect();
    found.sort();
    found
}

/// Copies a folder tree (regular files and folders; the examples have nothing else).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            assert!(
                kind.is_file(),
                "{}: unexpected file type",
                entry.path().display()
            );
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every document file's text, by path relative to the root.
fn texts(root: &Path) -> Vec<(PathBuf, String)> {
    let loaded = pocket_dock_spec::load(root);
    loaded
        .declarations
        .files
        .iter()
        .map(|f| (f.clone(), std::fs::read_to_string(root.join(f)).unwrap()))
        .collect()
}

fn check(ws: &Workspace) -> pocket_dock::MigrateReport {
    ws.migrate(&MigrateRequest {
        check: true,
        ..MigrateRequest::default()
    })
    .unwrap()
}

#[test]
fn every_example_workspace_round_trips() {
    let examples = examples();
    assert!(examples.len() >= 6, "found {examples:?}");
    for example in examples {
        let name = example.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&example, dir.path());
        let before = pocket_dock_spec::load(dir.path());
        assert!(before.is_valid(), "{name}: {:#?}", before.diagnostics);
        let old_texts = texts(dir.path());
        let ws = Workspace::open(dir.path()).unwrap();

        let pending = check(&ws);
        assert!(
            pending.pending(),
            "{name}: the examples are written in v1alpha1"
        );
        assert_eq!(texts(dir.path()), old_texts, "{name}: --check wrote");

        let report = ws.migrate(&MigrateRequest::default()).unwrap();
        assert_eq!(report.api_version, API_VERSION);
        assert_eq!(report.changed, pending.changed, "{name}");
        assert!(
            report
                .files
                .iter()
                .all(|f| f.written != f.changes.is_empty())
        );

        // The same model: objects (with their sources), workspace settings.
        let after = pocket_dock_spec::load(dir.path());
        assert!(after.is_valid(), "{name}: {:#?}", after.diagnostics);
        assert_eq!(after.declarations, before.declarations, "{name}");

        // Only the apiVersion values changed; comments, modelines, order and line count
        // stay, and no document of the old version is left.
        let new_texts = texts(dir.path());
        assert_eq!(new_texts.len(), old_texts.len());
        for ((file, old), (_, new)) in old_texts.iter().zip(&new_texts) {
            let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
                (old.split('\n').collect(), new.split('\n').collect());
            assert_eq!(
                old_lines.len(),
                new_lines.len(),
                "{name}/{}",
                file.display()
            );
            for (a, b) in old_lines.iter().zip(&new_lines) {
                if a != b {
                    assert!(a.contains("apiVersion"), "{name}: {a:?} -> {b:?}");
                    assert_eq!(*b, a.replace(API_VERSION_V1ALPHA1, API_VERSION));
                }
            }
            assert!(
                !new.contains(&format!("apiVersion: {API_VERSION_V1ALPHA1}")),
                "{name}/{}",
                file.display()
            );
            let modelines = |t: &str| t.matches("# yaml-language-server: $schema=").count();
            assert_eq!(modelines(old), modelines(new));
        }

        // Idempotent: nothing more to do, and --check agrees.
        let again = ws.migrate(&MigrateRequest::default()).unwrap();
        assert_eq!(again.changed, 0, "{name}");
        assert!(again.files.iter().all(|f| !f.written));
        assert_eq!(texts(dir.path()), new_texts);
        assert!(!check(&ws).pending(), "{name}");
    }
}

const OLD_VOLUME: &str =
    "# keep me\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: NAME}\n";

fn volume(name: &str) -> String {
    OLD_VOLUME.replace("NAME", name)
}

fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".pocket-dock")).unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    (dir, ws)
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(".pocket-dock").join(file)).unwrap()
}

#[test]
fn a_symlinked_document_is_refused_and_nothing_is_written() {
    let (dir, ws) = workspace();
    let pd = dir.path().join(".pocket-dock");
    std::fs::write(pd.join("a.yaml"), volume("a")).unwrap();
    // A link to a file inside the workspace: the loader reads it, migrate may not write it.
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::write(dir.path().join("shared/b.yaml"), volume("b")).unwrap();
    std::os::unix::fs::symlink("../shared/b.yaml", pd.join("b.yaml")).unwrap();
    assert!(pocket_dock_spec::load(dir.path()).is_valid());

    for check in [true, false] {
        let e = ws
            .migrate(&MigrateRequest {
                check,
                ..MigrateRequest::default()
            })
            .unwrap_err();
        assert!(matches!(e, Error::File { .. }), "{e:?}");
        assert_eq!(e.exit_code().code(), 2);
        assert!(e.to_string().contains("b.yaml"), "{e}");
        assert!(e.to_string().contains("symlink"), "{e}");
    }
    assert_eq!(read(dir.path(), "a.yaml"), volume("a"), "all or nothing");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("shared/b.yaml")).unwrap(),
        volume("b")
    );
    assert!(pd.join("b.yaml").is_symlink());

    // A symlink to a file already of the newest version needs no write: no refusal.
    std::fs::write(
        dir.path().join("shared/b.yaml"),
        volume("b").replace(API_VERSION_V1ALPHA1, API_VERSION),
    )
    .unwrap();
    let report = ws.migrate(&MigrateRequest::default()).unwrap();
    assert_eq!(report.changed, 1);
    assert!(read(dir.path(), "a.yaml").contains(API_VERSION));
}

#[test]
fn a_document_in_a_symlinked_folder_is_refused() {
    let (dir, ws) = workspace();
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::write(dir.path().join("shared/c.yaml"), volume("c")).unwrap();
    std::os::unix::fs::symlink("../shared", dir.path().join(".pocket-dock/linked")).unwrap();
    assert!(pocket_dock_spec::load(dir.path()).is_valid());
    let e = ws.migrate(&MigrateRequest::default()).unwrap_err();
    assert!(e.to_string().contains("symlinked folder"), "{e}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("shared/c.yaml")).unwrap(),
        volume("c")
    );
}

#[test]
fn an_invalid_workspace_is_refused_with_file_and_line() {
    let (dir, ws) = workspace();
    let pd = dir.path().join(".pocket-dock");
    std::fs::write(pd.join("a.yaml"), volume("a")).unwrap();
    std::fs::write(
        pd.join("b.yaml"),
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: b}\nspec: {drvier: local}\n",
    )
    .unwrap();
    let Err(Error::Invalid { diagnostics }) = ws.migrate(&MigrateRequest::default()) else {
        panic!("not refused");
    };
    assert_eq!(diagnostics[0].file, Path::new(".pocket-dock/b.yaml"));
    assert_eq!(diagnostics[0].line, 4);
    assert_eq!(read(dir.path(), "a.yaml"), volume("a"));
}

#[test]
fn a_value_that_cannot_be_edited_in_place_refuses_every_file() {
    let (dir, ws) = workspace();
    let pd = dir.path().join(".pocket-dock");
    std::fs::write(pd.join("a.yaml"), volume("a")).unwrap();
    let anchored = "apiVersion: &v pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: z\n  labels: {was: *v}\n";
    std::fs::write(pd.join("z.yaml"), anchored).unwrap();
    let Err(Error::Invalid { diagnostics }) = ws.migrate(&MigrateRequest::default()) else {
        panic!("not refused");
    };
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(
        (
            diagnostics[0].file.as_path(),
            diagnostics[0].line,
            diagnostics[0].code
        ),
        (Path::new(".pocket-dock/z.yaml"), 1, "cannot-migrate")
    );
    assert_eq!(read(dir.path(), "a.yaml"), volume("a"));
    assert_eq!(read(dir.path(), "z.yaml"), anchored);
}

#[test]
fn keeps_the_mode_refuses_hard_links_and_selects_files() {
    let (dir, ws) = workspace();
    let pd = dir.path().join(".pocket-dock");
    std::fs::create_dir(pd.join("sub")).unwrap();
    std::fs::write(pd.join("sub/a.yaml"), volume("a")).unwrap();
    std::fs::set_permissions(
        pd.join("sub/a.yaml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(pd.join("b.yaml"), volume("b")).unwrap();

    // Only the file named (relative to the root, or absolute).
    let report = ws
        .migrate(&MigrateRequest {
            check: false,
            files: vec![PathBuf::from(".pocket-dock/sub/./a.yaml")],
        })
        .unwrap();
    assert_eq!(report.files.len(), 1);
    assert!(read(dir.path(), "sub/a.yaml").contains(API_VERSION));
    assert_eq!(read(dir.path(), "b.yaml"), volume("b"));
    let mode = std::fs::metadata(pd.join("sub/a.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let no_temp = std::fs::read_dir(pd.join("sub")).unwrap().count();
    assert_eq!(no_temp, 1, "no temp file left");

    // A name that is not a document of the workspace.
    let e = ws
        .migrate(&MigrateRequest {
            check: true,
            files: vec![dir.path().join("other.yaml")],
        })
        .unwrap_err();
    assert!(matches!(e, Error::Argument { .. }), "{e:?}");

    // A hard link: renaming over one name would split it from the other.
    std::fs::hard_link(pd.join("b.yaml"), dir.path().join("b-elsewhere.yaml")).unwrap();
    let e = ws.migrate(&MigrateRequest::default()).unwrap_err();
    assert!(e.to_string().contains("hard link"), "{e}");
    assert_eq!(read(dir.path(), "b.yaml"), volume("b"));
}

#[test]
fn keeps_the_owner_and_group() {
    use std::os::unix::fs::MetadataExt;
    let (dir, ws) = workspace();
    let file = dir.path().join(".pocket-dock/a.yaml");
    std::fs::write(&file, volume("a")).unwrap();
    // As root (how CI runs), the file is given to `nobody` first: a root `migrate` must not
    // hand a user's file to root. As anyone else, the file stays the runner's own.
    let mine = std::fs::metadata(&file).unwrap();
    let owner = if mine.uid() == 0 {
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        (65534, 65534)
    } else {
        (mine.uid(), mine.gid())
    };
    ws.migrate(&MigrateRequest::default()).unwrap();
    let after = std::fs::metadata(&file).unwrap();
    assert!(read(dir.path(), "a.yaml").contains(API_VERSION));
    assert_eq!((after.uid(), after.gid()), owner);
}

#[test]
fn a_file_changed_since_it_was_read_is_left_alone() {
    use pocket_dock::owned_files::{OwnedDir, OwnedFileError};
    let (dir, _ws) = workspace();
    let pd = dir.path().join(".pocket-dock");
    std::fs::write(pd.join("a.yaml"), volume("a")).unwrap();
    let owned = OwnedDir::open(&pd).unwrap();
    let e = owned
        .replace_atomic("a.yaml", volume("b").as_bytes(), b"new")
        .unwrap_err();
    assert!(matches!(e, OwnedFileError::Changed { .. }), "{e:?}");
    assert_eq!(e.category(), pocket_dock::Category::Conflict);
    assert_eq!(read(dir.path(), "a.yaml"), volume("a"));
    assert_eq!(
        std::fs::read_dir(&pd).unwrap().count(),
        1,
        "no temp file left"
    );
    owned
        .replace_atomic("a.yaml", volume("a").as_bytes(), b"new")
        .unwrap();
    assert_eq!(read(dir.path(), "a.yaml"), "new");
}
