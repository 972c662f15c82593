use std::path::{Path, PathBuf};

use super::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn export_of(root: &Path) -> (Export, String) {
    let loaded = pocket_dock_spec::load(root);
    assert!(loaded.is_valid(), "{:#?}", loaded.diagnostics);
    let root = loaded.declarations.root.clone();
    let context = Context {
        embedded_tag: Some("localhost/pocket-dock/base:v1-0123456789ab".to_string()),
        out_dir: PathBuf::from("/etc/containers/systemd"),
    };
    (
        units(&loaded.declarations, &context),
        root.to_string_lossy().into_owned(),
    )
}

/// The whole export as one text: each unit under its name, then the warnings; the
/// workspace root as `$ROOT`.
fn render(export: &Export, root: &str) -> String {
    let mut text = String::new();
    for unit in &export.units {
        text.push_str(&format!("=== {}\n{}", unit.file, unit.text));
    }
    text.push_str("=== warnings\n");
    for w in &export.warnings {
        text.push_str(&format!("{} {}: {}\n", w.object, w.field, w.message));
    }
    text.replace(root, "$ROOT")
}

#[test]
fn golden_small_workspace() {
    let dir = repo().join("tests/quadlet/small");
    let (export, root) = export_of(&dir);
    let got = render(&export, &root);
    let golden = repo().join("tests/quadlet/small.expected");
    if std::env::var_os("POCKET_DOCK_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap_or_else(|e| panic!("write golden: {e}"));
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(got, want, "rerun with POCKET_DOCK_BLESS=1 to accept");
    assert!(
        export.needs_strict_seccomp,
        "the locked sandbox uses strict"
    );
}

#[test]
fn export_is_deterministic() {
    let dir = repo().join("tests/quadlet/small");
    assert_eq!(export_of(&dir).0, export_of(&dir).0);
}

#[test]
fn words_are_quoted_and_escaped() {
    assert_eq!(word("plain-1.2:x=y"), "plain-1.2:x=y");
    assert_eq!(word("two words"), "\"two words\"");
    assert_eq!(word("a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_eq!(word("$HOME 5%"), "\"$$HOME 5%%\"");
    assert_eq!(word(""), "\"\"");
}

#[test]
fn write_refuses_symlinks_and_foreign_files() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let export = Export {
        units: vec![Unit {
            file: "a.volume".to_string(),
            text: format!("{HEADER}\n[Volume]\n"),
        }],
        ..Export::default()
    };
    let out = tmp.path().join("out/units");
    let written = write(&out, &export).unwrap_or_else(|e| panic!("write: {e}"));
    assert_eq!(written, vec![out.join("a.volume")]);
    // Again: the file is ours, so it is replaced.
    assert!(write(&out, &export).is_ok());
    // A file someone else wrote is kept, and the export fails.
    std::fs::write(out.join("a.volume"), "[Volume]\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(write(&out, &export).is_err());
    assert_eq!(
        std::fs::read_to_string(out.join("a.volume")).unwrap_or_default(),
        "[Volume]\n"
    );
    // A symlinked folder is refused.
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&out, &link).unwrap_or_else(|e| panic!("{e}"));
    assert!(write(&link, &export).is_err());
}

/// The fenced block after `<!-- example: NAME -->` in a doc.
pub(crate) fn doc_block(doc: &str, name: &str) -> String {
    let marker = format!("<!-- example: {name} -->");
    let after = doc
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no {marker}"))
        .1;
    let body = after
        .split_once("```")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    body.split_once("```")
        .map(|(block, _)| block.to_string())
        .unwrap_or_default()
}

#[test]
fn the_documented_example_is_what_the_export_writes() {
    let doc = std::fs::read_to_string(repo().join("docs/export-quadlet.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join(".pocket-dock");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("app.yaml"), doc_block(&doc, "workspace"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (export, _) = export_of(tmp.path());
    let files: Vec<&str> = export.units.iter().map(|u| u.file.as_str()).collect();
    assert_eq!(files, ["default.network", "html.volume", "web.container"]);
    assert_eq!(export.units[2].text, doc_block(&doc, "web.container"));
    assert!(export.warnings.is_empty());
}
