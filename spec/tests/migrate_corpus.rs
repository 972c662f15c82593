//! `migrate::migrate` over every file of the spec corpus (`tests/spec/invalid/`: broken
//! YAML, byte-order marks, tabs, JSON, CRLF, merge conflicts, ...) and every example
//! workspace: it never panics; text that does not parse is refused; what it rewrites
//! differs only in `apiVersion` values, parses, and a second migration changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};

use pocket_dock_spec::migrate::migrate;
use pocket_dock_spec::model::{API_VERSION, API_VERSION_V1ALPHA1};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_corpus_and_example_file_migrates_or_is_refused_cleanly() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    yaml_files(&repo.join("tests/spec/invalid"), &mut files);
    yaml_files(&repo.join("examples/workspaces"), &mut files);
    assert!(files.len() > 100, "{}", files.len());
    let (mut rewritten, mut refused) = (0, 0);
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue; // not UTF-8: the loader refuses it before migrate reads it
        };
        let parses = pocket_dock_spec::yaml::parse(&text, Default::default()).is_ok();
        match migrate(&text) {
            Err(issue) => {
                assert!(!parses, "{}: refused {issue:?}", file.display());
                refused += 1;
            }
            Ok(m) => {
                assert!(parses, "{}", file.display());
                if m.changed() {
                    rewritten += 1;
                    let (old, new): (Vec<&str>, Vec<&str>) =
                        (text.split('\n').collect(), m.text.split('\n').collect());
                    assert_eq!(old.len(), new.len(), "{}", file.display());
                    let edited = old.iter().zip(&new).filter(|(a, b)| a != b).count();
                    assert!(edited > 0 && edited <= m.changes.len());
                    for (a, b) in old.iter().zip(&new).filter(|(a, b)| a != b) {
                        assert!(a.contains("apiVersion"), "{}: {a:?}", file.display());
                        assert_eq!(*b, a.replace(API_VERSION_V1ALPHA1, API_VERSION));
                    }
                } else {
                    assert_eq!(m.text, text);
                }
                let again = migrate(&m.text).unwrap();
                assert!(!again.changed(), "{}", file.display());
            }
        }
    }
    assert!(
        rewritten > 50 && refused > 5,
        "{rewritten} rewritten, {refused} refused"
    );
}
