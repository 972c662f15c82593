//! Generated files are committed and must match what the code generates now:
//! `schemas/*.json` and `docs/reference.md`. Examples and docs YAML must validate against
//! the committed schemas, checked with an independent JSON Schema validator.
//!
//! `POCKET_DOCK_BLESS=1 cargo test -p pocket-dock-spec --test generated` rewrites them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};

use pocket_dock_spec::reference::reference_markdown;
use pocket_dock_spec::schema::{COMBINED_FILE, schema_files};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check_or_bless(path: &Path, expected: &str) -> Option<String> {
    if std::env::var_os("POCKET_DOCK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, expected).unwrap();
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(actual) if actual == expected => None,
        _ => Some(path.display().to_string()),
    }
}

#[test]
fn committed_schemas_and_reference_match_the_types() {
    let mut stale: Vec<String> = schema_files()
        .into_iter()
        .filter_map(|(name, text)| check_or_bless(&repo().join("schemas").join(name), &text))
        .collect();
    stale.extend(check_or_bless(
        &repo().join("docs/reference.md"),
        &reference_markdown(),
    ));
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}\nregenerate with `POCKET_DOCK_BLESS=1 cargo test -p pocket-dock-spec --test generated` \
         (or `pocket-dock schema --out schemas`) and commit them"
    );
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("schemas").join(COMBINED_FILE)).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the committed schema is a valid JSON Schema")
}

/// Every YAML document, converted to JSON, with where it came from.
fn documents_in(text: &str) -> Vec<serde_json::Value> {
    pocket_dock_spec::yaml::parse(text, Default::default())
        .unwrap()
        .into_iter()
        .map(|d| d.root.to_json())
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn examples_are_valid_and_match_the_committed_schema() {
    let validator = validator();
    let examples = repo().join("examples/workspaces");
    let mut workspaces: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(".pocket-dock").is_dir())
        .collect();
    workspaces.sort();
    assert!(!workspaces.is_empty(), "no example workspaces found");
    for ws in workspaces {
        let loaded = pocket_dock_spec::load(&ws);
        assert!(
            loaded.is_valid(),
            "{}: {:#?}",
            ws.display(),
            loaded.diagnostics
        );
        assert!(
            !loaded.declarations.objects.is_empty(),
            "{} declares nothing",
            ws.display()
        );
        let mut files = Vec::new();
        yaml_files(&ws.join(".pocket-dock"), &mut files);
        for file in files {
            for doc in documents_in(&std::fs::read_to_string(&file).unwrap()) {
                let errors: Vec<String> =
                    validator.iter_errors(&doc).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{}: {errors:?}", file.display());
            }
        }
    }
}

/// The 0-based first line of every YAML document in `text` (0, then each line after a
/// `---` line) and the comments that head it: on the `---` line itself, then every comment
/// line before the document's first content line. This is what yaml-language-server 1.25
/// reads a `$schema` modeline from (`getDocumentHeaderComments`): a modeline anywhere else,
/// even on the line before a `---`, does not count for the document.
fn document_heads(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut heads: Vec<(usize, Vec<String>)> = vec![(0, Vec::new())];
    let mut in_head = true;
    for (index, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("---") {
            let mut comments = Vec::new();
            if let Some(comment) = rest.trim_start().strip_prefix('#') {
                comments.push(format!("#{comment}"));
            }
            heads.push((index, comments));
            in_head = true;
        } else if in_head {
            let trimmed = line.trim();
            if trimmed.starts_with('#') {
                heads.last_mut().unwrap().1.push(trimmed.to_string());
            } else if !trimmed.is_empty() {
                in_head = false;
            }
        }
    }
    heads
}

#[test]
fn every_document_of_every_example_names_the_schema_for_editors() {
    let schema = repo()
        .join("schemas")
        .join(COMBINED_FILE)
        .canonicalize()
        .unwrap();
    let mut files = Vec::new();
    yaml_files(&repo().join("examples/workspaces"), &mut files);
    assert!(!files.is_empty(), "no example files");
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, comments) in document_heads(&text) {
            let named = comments.iter().find_map(|c| {
                c.strip_prefix("# yaml-language-server: $schema=")
                    .map(|path| file.parent().unwrap().join(path.trim()))
            });
            if named.and_then(|p| p.canonicalize().ok()).as_ref() != Some(&schema) {
                missing.push(format!("{}:{}", file.display(), line + 1));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "documents without `# yaml-language-server: $schema=<relative path to \
         schemas/{COMBINED_FILE}>` at their head (the line after `---`; editors read it per \
         document and leave a document without it unchecked): {missing:#?}"
    );
}

#[test]
fn document_heads_are_read_as_the_yaml_language_server_reads_them() {
    let text = "# a\nkind: A\n# not the head of B\n---\n\n# b\nkind: B\n--- # c\nkind: C\n";
    assert_eq!(
        document_heads(text),
        [
            (0, vec!["# a".to_string()]),
            (3, vec!["# b".to_string()]),
            (7, vec!["# c".to_string()]),
        ]
    );
}

#[test]
fn yaml_in_the_docs_matches_the_committed_schema() {
    let validator = validator();
    let mut checked = 0;
    let mut pages = vec![repo().join("README.md")];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "md") {
            pages.push(entry.path());
        }
    }
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for block in text.split("```yaml\n").skip(1) {
            let yaml = block.split("```").next().unwrap_or_default();
            if !yaml.contains("apiVersion: pocket-dock.dev/") {
                continue;
            }
            for doc in documents_in(yaml) {
                let errors: Vec<String> =
                    validator.iter_errors(&doc).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{}: {errors:?}\n{yaml}", page.display());
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no pocket-dock YAML found in the docs");
}

#[test]
fn the_schema_rejects_what_the_loader_rejects_structurally() {
    let validator = validator();
    for bad in [
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\nspec: {image: x, workdri: /a}\n",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\nspec: {image: x, state: sometimes}\n",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {}\n",
        "apiVersion: pocket-dock.dev/v1\nkind: Volume\nmetadata: {name: a}\n",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\nspec: {image: x, ports: [{container: 70000}]}\n",
    ] {
        let doc = &documents_in(bad)[0];
        assert!(!validator.is_valid(doc), "schema accepted:\n{bad}");
    }
}
