//! Hostile input stays harmless: no input makes the loader panic, and resource limits turn
//! bombs into errors quickly.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::time::{Duration, Instant};

use pocket_dock_spec::yaml::{Limits, parse};
use proptest::prelude::*;

fn load_text(text: &[u8]) -> pocket_dock_spec::Loaded {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(".pocket-dock")).unwrap();
    std::fs::write(root.path().join(".pocket-dock/x.yaml"), text).unwrap();
    pocket_dock_spec::load(root.path())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = parse(&text, Limits::default());
    }

    #[test]
    fn the_parser_never_panics_on_yaml_like_text(text in "([-:{}\\[\\],&*!|>'\"#%@` \n\t]|[a-z0-9]{1,4}){0,120}") {
        let _ = parse(&text, Limits::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn the_loader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = load_text(&bytes);
    }

    /// Documents that look like pocket-dock's, with values shuffled between fields.
    #[test]
    fn the_loader_never_panics_on_near_miss_documents(
        kind in prop::sample::select(vec!["Sandbox", "Image", "Snapshot", "Volume", "Workspace", "Nope"]),
        key in prop::sample::select(vec!["image", "imageFrom", "mounts", "ports", "build", "from", "sandbox", "defaults", "env", "dependsOn", "resources", "readiness", "security"]),
        value in prop::sample::select(vec!["x", "1", "[]", "{}", "[a, b]", "{image: a}", "{a: 1}", "[{type: bind}]", "[{container: 0}]", "~", "true", "-1", "{memory: 1x}", "[{type: volume, source: v, target: t}]"]),
    ) {
        let text = format!("apiVersion: pocket-dock.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: n}}\nspec:\n  {key}: {value}\n");
        let _ = load_text(text.as_bytes());
    }
}

#[test]
fn a_billion_laughs_ends_quickly_in_an_error() {
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=9 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let started = Instant::now();
    let loaded = load_text(bomb.as_bytes());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(loaded.diagnostics.len(), 1);
    assert!(
        loaded.diagnostics[0]
            .message
            .starts_with("document too large")
    );
}

#[test]
fn huge_and_non_utf8_files_are_refused_with_a_clear_error() {
    let huge = "a: b\n".repeat(1_000_000);
    let loaded = load_text(huge.as_bytes());
    assert_eq!(loaded.diagnostics[0].code, "file-too-large");
    let loaded = load_text(&[0xff, 0xfe, 0x00, b'a']);
    assert_eq!(loaded.diagnostics[0].message, "the file is not UTF-8 text");
}
