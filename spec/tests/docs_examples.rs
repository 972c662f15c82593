//! The YAML examples of docs/spec.md marked `<!-- validated -->` are valid, together, as one
//! workspace (a block with a `Workspace` document, as a workspace of its own): a documented
//! example that no longer loads fails here, not in a reader's hands.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::Path;

fn validated_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- validated -->" {
            continue;
        }
        assert_eq!(
            lines.next().map(str::trim),
            Some("```yaml"),
            "a validated block is YAML"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(block.join("\n"));
    }
    blocks
}

/// Loads `blocks` as the files of one fresh workspace and insists that it is valid.
fn assert_valid_together(blocks: &[&String]) {
    let dir = tempfile::tempdir().unwrap();
    let pd = dir.path().join(".pocket-dock");
    std::fs::create_dir_all(&pd).unwrap();
    for (i, block) in blocks.iter().enumerate() {
        std::fs::write(pd.join(format!("example-{i}.yaml")), block).unwrap();
    }
    let loaded = pocket_dock_spec::load(dir.path());
    assert!(
        loaded.is_valid(),
        "{:#?}",
        loaded
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_validated_examples_of_the_spec_guide_load_without_a_problem() {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/spec.md"))
            .unwrap();
    let blocks = validated_blocks(&guide);
    assert!(
        blocks.len() >= 4,
        "networks, conditions, one-shots and hooks each have one"
    );
    // A block with a Workspace document sets workspace-wide rules (a policy, say): it is a
    // workspace of its own. The others are valid together.
    let (own, shared): (Vec<&String>, Vec<&String>) =
        blocks.iter().partition(|b| b.contains("kind: Workspace"));
    assert_valid_together(&shared);
    for block in own {
        assert_valid_together(&[block]);
    }
}
