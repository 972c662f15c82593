use std::path::{Path, PathBuf};

use super::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.join("tests/devcontainer"))
        .unwrap_or_default()
}

fn location() -> Location {
    Location {
        file: PathBuf::from(".devcontainer/devcontainer.json"),
        folder: PathBuf::from(".devcontainer"),
        basename: "project".to_string(),
    }
}

/// The outcome of one corpus file, as its `.expected` file holds it.
fn render(result: &Result<Imported, ImportError>) -> String {
    match result {
        Ok(imported) => {
            let mut text = imported.yaml.clone();
            text.push_str("=== notes\n");
            for n in &imported.notes {
                text.push_str(&format!("{}: {}: {}\n", n.line, n.key, n.reason));
            }
            text
        }
        Err(e) => format!(
            "=== error (exit {})\n{e}\n",
            crate::Error::Import(e.clone()).exit_code().code()
        ),
    }
}

/// Every `tests/devcontainer/*.json` against its `.expected` (POCKET_DOCK_BLESS=1 writes
/// them); every conversion that succeeds must validate as a workspace.
#[test]
fn corpus_matches_and_validates() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap_or_else(|e| panic!("corpus: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the corpus is there");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
        let result = convert(&text, &location(), None);
        let got = render(&result);
        assert_eq!(
            render(&convert(&text, &location(), None)),
            got,
            "deterministic"
        );
        let expected = file.with_extension("expected");
        if std::env::var_os("POCKET_DOCK_BLESS").is_some() {
            std::fs::write(&expected, &got).unwrap_or_else(|e| panic!("{e}"));
        }
        let want = std::fs::read_to_string(&expected).unwrap_or_default();
        assert_eq!(
            got,
            want,
            "{}: rerun with POCKET_DOCK_BLESS=1",
            file.display()
        );
        if let Ok(imported) = result {
            validate(&imported.yaml, &file);
        }
    }
}

/// Loads `yaml` as the only document file of a fresh workspace that has what the corpus
/// refers to (a Dockerfile, a config folder).
fn validate(yaml: &str, file: &Path) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = tmp.path();
    for dir in [".pocket-dock", ".devcontainer", "config"] {
        std::fs::create_dir_all(root.join(dir)).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(root.join(".devcontainer/Dockerfile"), "FROM scratch\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(root.join(".pocket-dock").join(OUTPUT_FILE), yaml)
        .unwrap_or_else(|e| panic!("{e}"));
    let loaded = pocket_dock_spec::load(root);
    assert!(
        loaded.is_valid(),
        "{}: the import does not validate: {:#?}",
        file.display(),
        loaded.diagnostics
    );
}

#[test]
fn comments_and_trailing_commas_keep_positions() {
    let text = "{ // c\n  \"a\": \"//not\", /* x\n y */ \"b\": [1,2,],\n}";
    let plain = strip_jsonc(text);
    assert_eq!(plain.lines().count(), text.lines().count());
    let v: Value = serde_json::from_str(&plain).unwrap_or_else(|e| panic!("{e}: {plain}"));
    assert_eq!(v["a"], "//not");
    assert_eq!(v["b"], json!([1, 2]));
    let lines = key_lines(&plain);
    assert_eq!(lines.get("a"), Some(&2));
    assert_eq!(lines.get("b"), Some(&3));
    assert_eq!(lines.get("b[1]"), Some(&3));
}

#[test]
fn docker_flags() {
    assert_eq!(memory_of("512m").as_deref(), Some("512Mi"));
    assert_eq!(memory_of("2GB").as_deref(), Some("2Gi"));
    assert_eq!(memory_of("1048576").as_deref(), Some("1048576"));
    assert_eq!(memory_of("lots"), None);
    let p = publish_of("127.0.0.1:8080:80/udp").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (p.container, p.host, p.host_ip.as_deref(), p.protocol),
        (80, Some(8080), Some("127.0.0.1"), Protocol::Udp)
    );
    assert!(publish_of("8000-8010:80").is_err());
    assert_eq!(slug("My App (dev)!"), "my-app-dev");
}

#[test]
fn import_writes_once_then_needs_force() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = tmp.path();
    std::fs::create_dir_all(root.join(".devcontainer")).unwrap_or_else(|e| panic!("{e}"));
    let file = root.join(".devcontainer/devcontainer.json");
    std::fs::write(&file, "{\"image\": \"debian:12\"}").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(find(root, None).ok(), Some(file.clone()));
    let out = root.join(".pocket-dock");
    let (imported, written) =
        import(root, &file, &out, None, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(imported.sandbox, "devcontainer");
    assert_eq!(written, out.join(OUTPUT_FILE));
    let again = import(root, &file, &out, None, false);
    assert!(matches!(
        again,
        Err(crate::Error::Argument {
            argument: "--force",
            ..
        })
    ));
    assert!(matches!(
        import(root, &file, &out, Some("Not_A_Label"), true),
        Err(crate::Error::Argument {
            argument: "--name",
            ..
        })
    ));
    assert!(import(root, &file, &out, Some("dev"), true).is_ok());
    assert!(pocket_dock_spec::load(root).is_valid());
}

#[test]
fn the_documented_example_is_what_the_import_writes() {
    let doc = std::fs::read_to_string(corpus().join("../../docs/import-devcontainer.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let input = crate::export::quadlet::tests::doc_block(&doc, "devcontainer.json");
    let imported = convert(&input, &location(), None).unwrap_or_else(|e| panic!("{e}"));
    let want = crate::export::quadlet::tests::doc_block(&doc, "devcontainer.yaml");
    assert_eq!(imported.yaml, want);
    assert_eq!(
        imported
            .notes
            .iter()
            .map(|n| (n.line, n.key.as_str()))
            .collect::<Vec<_>>(),
        [(10, "customizations")]
    );
    validate(&imported.yaml, Path::new("docs/import-devcontainer.md"));
}
