//! The invalid-document corpus: every file in `tests/spec/invalid/` is one case. It is loaded
//! as `.pocket-dock/case.yaml` of a fresh workspace, and the complete list of diagnostics
//! must equal the file's `# expect:` lines (at its end, so they do not shift line numbers).
//! `# setup: dir|file PATH` and `# setup: symlink PATH TARGET` lines prepare the workspace.
//!
//! After an intended change of wording, `POCKET_DOCK_BLESS=1 cargo test -p pocket-dock-spec
//! --test corpus` rewrites the expectations; review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};

const EXPECT: &str = "# expect: ";
const SETUP: &str = "# setup: ";

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/spec/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn run_case(text: &str) -> Vec<String> {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(".pocket-dock");
    std::fs::create_dir_all(&dir).unwrap();
    for line in text.lines().filter_map(|l| l.strip_prefix(SETUP)) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["dir", path] => std::fs::create_dir_all(root.path().join(path)).unwrap(),
            ["file", path] => std::fs::write(root.path().join(path), "FROM scratch\n").unwrap(),
            ["symlink", path, target] => {
                std::os::unix::fs::symlink(target, root.path().join(path)).unwrap()
            }
            other => panic!("unknown setup line {other:?}"),
        }
    }
    std::fs::write(dir.join("case.yaml"), text).unwrap();
    pocket_dock_spec::load(root.path())
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_invalid_document_reports_exactly_its_expected_problems() {
    let bless = std::env::var_os("POCKET_DOCK_BLESS").is_some();
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus must keep at least 40 cases");
    let mut failures = Vec::new();
    for path in &cases {
        let text = std::fs::read_to_string(path).unwrap();
        let expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix(EXPECT))
            .map(str::to_string)
            .collect();
        let actual = run_case(&text);
        if bless {
            let mut kept: String = text
                .lines()
                .filter(|l| !l.starts_with(EXPECT))
                .map(|l| format!("{l}\n"))
                .collect();
            for line in &actual {
                kept.push_str(&format!("{EXPECT}{line}\n"));
            }
            std::fs::write(path, kept).unwrap();
            continue;
        }
        if actual.is_empty() {
            failures.push(format!("{}: no problem reported at all", path.display()));
        } else if actual != expected {
            failures.push(format!(
                "{}:\n  expected:\n    {}\n  actual:\n    {}",
                path.file_name().unwrap().to_string_lossy(),
                expected.join("\n    "),
                actual.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
