//! The canonical spec hash: stable under everything that is not a change of meaning, and
//! different for every change that is.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use pocket_dock_spec::{Kind, load};
use pocket_dock_spec::{container_spec_hash, document_hash, effective, model::Spec};

/// Loads `files` (name, text) into a fresh workspace and returns the hash of `kind/name`.
fn hash_in(files: &[(&str, &str)], kind: Kind, name: &str) -> String {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(".pocket-dock/nested")).unwrap();
    std::fs::create_dir_all(root.path().join("src")).unwrap();
    for (file, text) in files {
        std::fs::write(root.path().join(".pocket-dock").join(file), text).unwrap();
    }
    let loaded = load(root.path());
    assert!(loaded.is_valid(), "{:#?}", loaded.diagnostics);
    let object = loaded
        .declarations
        .get(kind, name)
        .expect("object declared");
    document_hash(object, &loaded.declarations.settings)
}

/// The container spec hash of `kind/name` in a workspace made of `files`.
fn container_hash_in(files: &[(&str, &str)], name: &str) -> String {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(".pocket-dock")).unwrap();
    std::fs::create_dir_all(root.path().join("src")).unwrap();
    for (file, text) in files {
        std::fs::write(root.path().join(".pocket-dock").join(file), text).unwrap();
    }
    let loaded = load(root.path());
    assert!(loaded.is_valid(), "{:#?}", loaded.diagnostics);
    let object = loaded.declarations.get(Kind::Sandbox, name).unwrap();
    let Spec::Sandbox(s) = effective(object, &loaded.declarations.settings) else {
        panic!("a sandbox");
    };
    container_spec_hash(&s)
}

fn sandbox_hash(text: &str) -> String {
    hash_in(&[("a.yaml", text)], Kind::Sandbox, "web")
}

const BASE: &str = "\
apiVersion: pocket-dock.dev/v1alpha1
kind: Sandbox
metadata:
  name: web
spec:
  image: localhost/tools:1
  env:
    A: '1'
    B: '2'
  mounts:
    - type: bind
      source: ./src
      target: /src
  resources:
    memory: 512Mi
";

#[test]
fn formatting_order_comments_defaults_and_file_moves_do_not_change_the_hash() {
    let base = sandbox_hash(BASE);
    assert!(base.starts_with("sha256:") && base.len() == 71, "{base}");
    let variants = [
        // key order, at every level
        "kind: Sandbox\nspec:\n  resources: {memory: 512Mi}\n  mounts: [{target: /src, source: ./src, type: bind}]\n  env: {B: '2', A: '1'}\n  image: localhost/tools:1\nmetadata: {name: web}\napiVersion: pocket-dock.dev/v1alpha1\n",
        // comments and blank lines
        "# the web sandbox\napiVersion: pocket-dock.dev/v1alpha1\n\nkind: Sandbox # a comment\nmetadata:\n  name: web\nspec:\n  image: localhost/tools:1 # pinned\n  env: {A: '1', B: '2'}\n  mounts: [{type: bind, source: ./src, target: /src}]\n  resources: {memory: 512Mi}\n",
        // quoting styles
        "apiVersion: \"pocket-dock.dev/v1alpha1\"\nkind: 'Sandbox'\nmetadata: {name: \"web\"}\nspec:\n  image: \"localhost/tools:1\"\n  env: {A: \"1\", B: \"2\"}\n  mounts: [{type: bind, source: ./src, target: /src}]\n  resources: {memory: 512Mi}\n",
        // defaults written out, equivalent units and paths
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: web, labels: {}}\nspec:\n  image: localhost/tools:1\n  state: running\n  network: default\n  restartPolicy: Never\n  env: {A: '1', B: '2'}\n  mounts: [{type: bind, source: src/, target: /src, readOnly: false}]\n  resources: {memory: '536870912'}\n  security: {profile: default}\n",
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_eq!(sandbox_hash(v), base, "variant {i} changed the hash");
    }
    // Moving the document to another (nested) file, among other documents.
    let moved = hash_in(
        &[(
            "nested/other-name.yml",
            &format!(
                "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {{name: v}}\n---\n{BASE}"
            ),
        )],
        Kind::Sandbox,
        "web",
    );
    assert_eq!(moved, base);
}

#[test]
fn every_semantic_change_changes_the_hash() {
    let base = sandbox_hash(BASE);
    let edits: [(&str, &str); 14] = [
        ("image: localhost/tools:1", "image: localhost/tools:2"),
        ("A: '1'", "A: '2'"),
        ("B: '2'\n", "B: '2'\n    C: '3'\n"),
        ("source: ./src", "source: ."),
        ("target: /src", "target: /code"),
        (
            "      target: /src\n",
            "      target: /src\n      readOnly: true\n",
        ),
        ("memory: 512Mi", "memory: 1Gi"),
        ("  resources:\n", "  workdir: /src\n  resources:\n"),
        ("  resources:\n", "  user: '1000'\n  resources:\n"),
        ("  resources:\n", "  state: stopped\n  resources:\n"),
        ("  resources:\n", "  network: none\n  resources:\n"),
        ("  resources:\n", "  command: [sleep, '1']\n  resources:\n"),
        (
            "  resources:\n",
            "  ports: [{container: 80}]\n  resources:\n",
        ),
        (
            "  resources:\n",
            "  security: {profile: locked}\n  resources:\n",
        ),
    ];
    let mut seen = std::collections::BTreeSet::from([base.clone()]);
    for (from, to) in edits {
        assert!(BASE.contains(from), "edit {from:?} does not apply");
        let edited = BASE.replacen(from, to, 1);
        let hash = sandbox_hash(&edited);
        assert!(
            seen.insert(hash),
            "editing {from:?} -> {to:?} did not give a new hash"
        );
    }
}

#[test]
fn workspace_defaults_are_part_of_the_effective_spec() {
    let plain = sandbox_hash(BASE);
    let workspace = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Workspace\nmetadata: {name: w}\nspec:\n  defaults: {network: none}\n";
    let defaulted = hash_in(
        &[("a.yaml", BASE), ("w.yaml", workspace)],
        Kind::Sandbox,
        "web",
    );
    assert_ne!(
        plain, defaulted,
        "a workspace default changes the effective spec"
    );
    let explicit = sandbox_hash(&BASE.replace("  resources:\n", "  network: none\n  resources:\n"));
    assert_eq!(
        defaulted, explicit,
        "defaulted and explicit `network: none` are the same spec"
    );
}

#[test]
fn retention_is_not_part_of_any_sandbox_spec() {
    let plain = sandbox_hash(BASE);
    let header =
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Workspace\nmetadata: {name: w}\nspec:\n";
    for (defaults, expected) in [
        ("", plain.clone()),
        (
            "  defaults: {network: none}\n",
            hash_in(
                &[
                    ("a.yaml", BASE),
                    (
                        "w.yaml",
                        &format!("{header}  defaults: {{network: none}}\n"),
                    ),
                ],
                Kind::Sandbox,
                "web",
            ),
        ),
    ] {
        for retention in [
            "  retention: {history: 100}\n",
            "  retention: {history: 100, events: 5000, journal: 10000000}\n",
        ] {
            let workspace = format!("{header}{defaults}{retention}");
            let hash = hash_in(
                &[("a.yaml", BASE), ("w.yaml", &workspace)],
                Kind::Sandbox,
                "web",
            );
            assert_eq!(hash, expected, "{retention} changed a sandbox's hash");
        }
    }
}

#[test]
fn the_container_spec_hash_ignores_state_and_keeps_its_value() {
    let base = container_hash_in(&[("a.yaml", BASE)], "web");
    let stopped = BASE.replace("  resources:\n", "  state: stopped\n  resources:\n");
    assert_eq!(container_hash_in(&[("a.yaml", &stopped)], "web"), base);
    assert_ne!(
        sandbox_hash(&stopped),
        sandbox_hash(BASE),
        "the document changed"
    );
    // The `spec-hash` label of every existing container: a new value would make every
    // sandbox be created again after an upgrade.
    assert_eq!(base, GOLDEN_CONTAINER_HASH);
}

const GOLDEN_CONTAINER_HASH: &str =
    "sha256:fb2756185a6640162714810122528ed569e8317f44d5c0d0c7e85a35e82e12f4";

#[test]
fn lifetime_changes_the_document_but_not_the_container() {
    let base = container_hash_in(&[("a.yaml", BASE)], "web");
    let limited = BASE.replace(
        "  resources:\n",
        "  lifetime: {idleTimeout: 30m, maxLifetime: 8h}\n  resources:\n",
    );
    assert_eq!(container_hash_in(&[("a.yaml", &limited)], "web"), base);
    assert_ne!(sandbox_hash(&limited), sandbox_hash(BASE));
    // Durations are normalised: the same time written differently is the same document.
    let same = BASE.replace(
        "  resources:\n",
        "  lifetime: {idleTimeout: 1800s, maxLifetime: 7h60m}\n  resources:\n",
    );
    assert_eq!(sandbox_hash(&same), sandbox_hash(&limited));
    let other = BASE.replace(
        "  resources:\n",
        "  lifetime: {idleTimeout: 31m, maxLifetime: 8h}\n  resources:\n",
    );
    assert_ne!(sandbox_hash(&other), sandbox_hash(&limited));
}

#[test]
fn secrets_change_the_hash_but_not_their_order_and_plain_env_keeps_it() {
    let base = container_hash_in(&[("a.yaml", BASE)], "web");
    assert_eq!(
        base, GOLDEN_CONTAINER_HASH,
        "plain env values hash as before"
    );
    let with = |secrets: &str, env: &str| {
        let text = BASE
            .replace("    B: '2'\n", &format!("    B: '2'\n{env}"))
            .replace("  resources:\n", &format!("{secrets}  resources:\n"));
        container_hash_in(&[("a.yaml", &text)], "web")
    };
    let two = "  secrets:\n    - {name: a, file: ./s/a}\n    - {name: b, env: B_TOKEN}\n";
    let swapped = "  secrets:\n    - {name: b, env: B_TOKEN}\n    - {name: a, file: s/a}\n";
    assert_ne!(with(two, ""), base);
    assert_eq!(with(two, ""), with(swapped, ""));
    let from = "    C: {valueFrom: {secret: a}}\n";
    assert_ne!(with(two, from), with(two, ""));
}

/// `network: none` and `default` keep the hashes they had before `network` took the
/// `{egress: [...]}` form: their containers stay. `locked` changed on purpose when it grew a
/// user, a filter, limits and a `/tmp` (issue 15): its sandboxes are made again, hardened.
#[test]
fn network_none_default_and_locked_keep_their_container_hashes() {
    let mut found = Vec::new();
    for (extra, golden) in [
        (
            "  network: none\n",
            "sha256:697448319ddccf4fc25fea1759b38d55f55c7fa45a704a866eaf5ba1819d85fd",
        ),
        (
            "  network: default\n",
            "sha256:fb2756185a6640162714810122528ed569e8317f44d5c0d0c7e85a35e82e12f4",
        ),
        (
            "  security: {profile: locked}\n",
            "sha256:2539da461c86aebb5f8cd2eafd6b0431617cdd51bcc65e59f291baea0d0787a6",
        ),
    ] {
        let text = format!("{BASE}{extra}");
        let hash = container_hash_in(&[("a.yaml", &text)], "web");
        found.push((hash, golden));
    }
    for (hash, golden) in found {
        assert_eq!(hash, golden);
    }
}

#[test]
fn egress_lists_hash_as_sets_of_canonical_entries_and_survive_locked() {
    let with = |list: &str, extra: &str| {
        let text = format!("{BASE}  network: {{egress: [{list}]}}\n{extra}");
        container_hash_in(&[("a.yaml", &text)], "web")
    };
    let a = with("a.example.org:443, '10.1.2.3:80'", "");
    assert_eq!(a, with("'10.1.2.3:80', A.Example.org:443", ""));
    assert_ne!(a, with("a.example.org:443", ""));
    let locked = with("a.example.org:443", "  security: {profile: locked}\n");
    let none_locked = container_hash_in(
        &[(
            "a.yaml",
            &format!("{BASE}  security: {{profile: locked}}\n"),
        )],
        "web",
    );
    assert_ne!(locked, none_locked, "locked keeps its egress list");
}

/// The effective spec of Sandbox `web` in a workspace made of `files`.
fn effective_web(files: &[(&str, &str)]) -> pocket_dock_spec::model::SandboxSpec {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(".pocket-dock")).unwrap();
    std::fs::create_dir_all(root.path().join("src")).unwrap();
    for (file, text) in files {
        std::fs::write(root.path().join(".pocket-dock").join(file), text).unwrap();
    }
    let loaded = load(root.path());
    assert!(loaded.is_valid(), "{:#?}", loaded.diagnostics);
    let object = loaded.declarations.get(Kind::Sandbox, "web").unwrap();
    let Spec::Sandbox(s) = effective(object, &loaded.declarations.settings) else {
        panic!("a sandbox");
    };
    s
}

const WORKSPACE_HEADER: &str =
    "apiVersion: pocket-dock.dev/v1alpha1\nkind: Workspace\nmetadata: {name: w}\nspec:\n";

/// Bounded logs came with a built-in default: a sandbox that says nothing of `logs` (or
/// spells the default out, itself or through the workspace) keeps the `spec-hash` of every
/// container made before, so that upgrading recreates nothing. Any other limit is part of
/// the hash: changing it recreates the container, which is how a create-time setting applies.
#[test]
fn the_default_log_limit_keeps_existing_container_hashes() {
    let with = |logs: &str, defaults: &str| {
        let text = BASE.replace("  resources:\n", &format!("{logs}  resources:\n"));
        let mut files = vec![("a.yaml", text)];
        if !defaults.is_empty() {
            files.push((
                "w.yaml",
                format!("{WORKSPACE_HEADER}  defaults: {{logs: {defaults}}}\n"),
            ));
        }
        let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (*f, t.as_str())).collect();
        container_hash_in(&files, "web")
    };
    for (logs, defaults) in [
        ("", ""),
        ("  logs: {}\n", ""),
        ("  logs: {maxSize: 10Mi, maxFiles: 3}\n", ""),
        ("  logs: {maxSize: '10485760'}\n", ""),
        ("  logs: {maxFiles: 3}\n", ""),
        ("", "{maxSize: 10Mi}"),
        ("", "{maxSize: 10240Ki, maxFiles: 3}"),
        ("  logs: {maxSize: 10Mi}\n", "{maxSize: 1Mi}"),
    ] {
        assert_eq!(
            with(logs, defaults),
            GOLDEN_CONTAINER_HASH,
            "`{logs}` with defaults `{defaults}` changed the hash"
        );
    }
    let small = with("  logs: {maxSize: 64Ki, maxFiles: 2}\n", "");
    assert_ne!(small, GOLDEN_CONTAINER_HASH);
    assert_eq!(small, with("  logs: {maxSize: '65536', maxFiles: 2}\n", ""));
    assert_eq!(small, with("", "{maxSize: 64Ki, maxFiles: 2}"));
    assert_ne!(small, with("  logs: {maxSize: 64Ki, maxFiles: 3}\n", ""));
    assert_ne!(small, with("  logs: {maxSize: 128Ki, maxFiles: 2}\n", ""));
}

#[test]
fn the_workspace_log_default_flows_to_sandboxes_field_by_field() {
    use pocket_dock_spec::hash::{LogLimits, log_limits};
    let sandbox = |logs: &str| BASE.replace("  resources:\n", &format!("{logs}  resources:\n"));
    let workspace =
        |defaults: &str| format!("{WORKSPACE_HEADER}  defaults: {{logs: {defaults}}}\n");
    assert_eq!(
        log_limits(&effective_web(&[("a.yaml", BASE)])),
        LogLimits {
            max_size: 10 << 20,
            max_files: 3
        },
        "built in"
    );
    assert_eq!(
        log_limits(&effective_web(&[
            ("a.yaml", BASE),
            ("w.yaml", &workspace("{maxSize: 1Mi, maxFiles: 5}"))
        ])),
        LogLimits {
            max_size: 1 << 20,
            max_files: 5
        },
        "the workspace's default"
    );
    assert_eq!(
        log_limits(&effective_web(&[
            ("a.yaml", &sandbox("  logs: {maxSize: 2Mi}\n")),
            ("w.yaml", &workspace("{maxSize: 1Mi, maxFiles: 5}"))
        ])),
        LogLimits {
            max_size: 2 << 20,
            max_files: 5
        },
        "the sandbox's own size wins, the workspace's file count stays"
    );
    assert_eq!(
        log_limits(&effective_web(&[
            ("a.yaml", &sandbox("  logs: {maxFiles: 1}\n")),
            ("w.yaml", &workspace("{maxFiles: 5}"))
        ])),
        LogLimits {
            max_size: 10 << 20,
            max_files: 1
        },
        "the sandbox's own count wins, the size is built in"
    );
}
