//! `import compose` over the corpus in tests/compose/cases: each compose file's output (the
//! files, the skipped keys, the warnings) must equal tests/compose/expected/CASE.txt
//! (`POCKET_DOCK_BLESS=1` rewrites them), validate as a workspace, and be the same bytes on
//! every run. Hostile and invalid compose files are errors with a line, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pocket_dock::import::compose::{self, Input};
use pocket_dock::import::{self, Imported};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/compose")
}

fn env() -> BTreeMap<String, String> {
    [
        ("HOME", "/home/dev"),
        ("LEGACY_TAG", "2"),
        ("GREETING", "from the environment"),
        ("FROM_ENV", "set"),
        ("TAG", ""),
        ("FLAVOUR", "slim"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn run(name: &str, text: &str) -> Result<Imported, Vec<pocket_dock_spec::Diagnostic>> {
    let env = env();
    let cases = dir().join("cases");
    let read =
        move |file: &str| std::fs::read_to_string(cases.join(file)).map_err(|e| e.to_string());
    compose::import(
        text,
        &Input {
            file: PathBuf::from(name),
            base: PathBuf::new(),
            env: &env,
            read: &read,
        },
    )
}

fn render(imported: &Imported) -> String {
    let mut out = String::new();
    for file in &imported.files {
        out.push_str(&format!("==> {} <==\n{}", file.name, file.text));
    }
    out.push_str("==> not carried over <==\n");
    for note in &imported.skipped {
        out.push_str(&format!("{}: {}: {}\n", note.line, note.path, note.reason));
    }
    out.push_str("==> notes <==\n");
    for note in &imported.warnings {
        out.push_str(&format!("{}: {}: {}\n", note.line, note.path, note.reason));
    }
    out
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    cases
}

/// Writes the import into a fresh workspace (with the folders and Containerfiles its
/// documents name) and loads it as `validate` does.
fn assert_validates(case: &str, imported: &Imported) {
    let tmp = tempfile::tempdir().unwrap();
    // One level down, so that `../x` binds land in the temporary folder too.
    let root = tmp.path().join("ws");
    let out = root.join(".pocket-dock/compose");
    import::write(&out, &imported.files, false).unwrap();
    // Written twice: the second replaces the first (the files are the importer's).
    import::write(&out, &imported.files, false).unwrap();
    for file in &imported.files {
        assert_eq!(
            std::fs::read_to_string(out.join(&file.name)).unwrap(),
            file.text
        );
        for doc in pocket_dock_spec::yaml::parse(&file.text, Default::default()).unwrap() {
            let spec = doc.root.get("spec").unwrap().to_json();
            for mount in spec["mounts"].as_array().into_iter().flatten() {
                let source = mount["source"].as_str().unwrap_or("/");
                if mount["type"] == "bind" && !source.starts_with('/') {
                    std::fs::create_dir_all(root.join(source)).unwrap();
                }
            }
            if let Some(build) = spec.get("build") {
                let context = root.join(build["context"].as_str().unwrap());
                std::fs::create_dir_all(&context).unwrap();
                let containerfile = match build.get("containerfile") {
                    Some(file) => root.join(file.as_str().unwrap()),
                    None => context.join("Containerfile"),
                };
                std::fs::create_dir_all(containerfile.parent().unwrap()).unwrap();
                std::fs::write(containerfile, "FROM scratch\n").unwrap();
            }
        }
    }
    let loaded = pocket_dock_spec::load(&root);
    let problems: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        problems.is_empty(),
        "{case}: the import does not validate:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_corpus_imports_as_expected_and_validates() {
    let bless = std::env::var_os("POCKET_DOCK_BLESS").is_some();
    let cases = cases();
    assert!(cases.len() >= 8, "the corpus is too small");
    let mut stale = Vec::new();
    for path in cases {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let imported = run(&name, &text).unwrap_or_else(|d| panic!("{name}: {d:#?}"));
        let rendered = render(&imported);
        let expected_path = dir().join("expected").join(name.replace(".yaml", ".txt"));
        if bless {
            std::fs::write(&expected_path, &rendered).unwrap();
        } else if std::fs::read_to_string(&expected_path).ok().as_deref() != Some(rendered.as_str())
        {
            stale.push(format!("{name}:\n{rendered}"));
        }
        // Deterministic: the same input gives the same bytes.
        assert_eq!(
            run(&name, &text).map(|i| render(&i)).ok(),
            Some(rendered),
            "{name}"
        );
        assert_validates(&name, &imported);
    }
    assert!(
        stale.is_empty(),
        "output differs from tests/compose/expected (POCKET_DOCK_BLESS=1 to accept):\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_key_of_the_unsupported_case_is_accounted_for() {
    let text = std::fs::read_to_string(dir().join("cases/unsupported.yaml")).unwrap();
    let imported = run("unsupported.yaml", &text).unwrap();
    let skipped: Vec<&str> = imported.skipped.iter().map(|n| n.path.as_str()).collect();
    for key in [
        "version",
        "name",
        "x-common",
        "secrets",
        "configs",
        "services.my_app.privileged",
        "services.my_app.cap_add",
        "services.my_app.devices",
        "services.my_app.pid",
        "services.my_app.ipc",
        "services.my_app.secrets",
        "services.my_app.configs",
        "services.my_app.logging",
        "services.my_app.dns",
        "services.my_app.extra_hosts",
        "services.my_app.ulimits",
        "services.my_app.sysctls",
        "services.my_app.stop_signal",
        "services.my_app.container_name",
        "services.my_app.hostname",
        "services.my_app.expose",
        "services.my_app.tty",
        "services.sidecar.network_mode",
        "services.sidecar.extends",
        "services.sidecar.working_dir",
    ] {
        assert!(
            skipped.contains(&key),
            "{key} is not listed as skipped: {skipped:?}"
        );
    }
    assert!(
        imported
            .skipped
            .iter()
            .all(|n| n.line > 0 && !n.reason.is_empty())
    );
}

#[test]
fn the_documented_example_is_a_corpus_case() {
    let doc = std::fs::read_to_string(dir().join("../../docs/import-compose.md")).unwrap();
    let text = std::fs::read_to_string(dir().join("cases/web-db.yaml")).unwrap();
    assert!(
        doc.contains(&text),
        "docs/import-compose.md must show tests/compose/cases/web-db.yaml as it is"
    );
    let imported = run("compose.yaml", &text).unwrap();
    for file in &imported.files {
        assert!(
            doc.contains(&file.text),
            "docs/import-compose.md must show {} as imported:\n{}",
            file.name,
            file.text
        );
    }
    for note in &imported.skipped {
        let line = format!(
            "compose.yaml:{}: {}: not carried over: {}",
            note.line, note.path, note.reason
        );
        assert!(
            doc.contains(&line),
            "docs/import-compose.md must show `{line}`"
        );
    }
}

#[test]
fn invalid_compose_is_an_error_with_a_line() {
    for (text, line, needle) in [
        (
            "services:\n  web:\n    command: [x]\n",
            2,
            "neither `image` nor `build`",
        ),
        (
            "services:\n  web:\n    image: a\n    volumes: [nope:/x]\n",
            4,
            "volume `nope`",
        ),
        (
            "services:\n  web:\n    image: a\n    networks: [nope]\n",
            4,
            "network `nope`",
        ),
        (
            "services:\n  web:\n    image: a\n    depends_on: [ghost]\n",
            4,
            "`ghost`",
        ),
        (
            "services:\n  web:\n    image: ${REQUIRED:?set it}\n",
            3,
            "set it",
        ),
        (
            "services:\n  a_b:\n    image: a\n  a-b:\n    image: a\n",
            4,
            "both be",
        ),
        ("services: [a, b]\n", 1, "mapping"),
        ("- a\n- b\n", 1, "mapping"),
        ("", 1, "empty"),
        ("services: {}\n---\nservices: {}\n", 3, "one document"),
        ("volumes: {}\n", 1, "no `services`"),
        (
            "services:\n  web:\n    image: a\n    restart: sometimes\n",
            4,
            "restart policy",
        ),
        (
            "services:\n  web:\n    build: https://example.com/repo.git\n",
            3,
            "remote build context",
        ),
        (
            "services:\n  web:\n    image: a\n    mem_limit: lots\n",
            4,
            "not a size",
        ),
    ] {
        let errors = run("c.yaml", text).expect_err(text);
        assert!(
            errors
                .iter()
                .any(|d| d.line == line && d.message.contains(needle)),
            "{text:?}: expected line {line} with {needle:?}, got {errors:#?}"
        );
        assert!(errors.iter().all(|d| d.file == Path::new("c.yaml")));
    }
}

#[test]
fn hostile_compose_files_are_refused_without_a_panic() {
    let deep = format!(
        "services:\n  web:\n    image: a\n    labels: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..20 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    bomb.push_str("services:\n  web:\n    image: a\n    command: *a19\n");
    let huge = "x".repeat(5 * 1024 * 1024);
    for text in [
        deep,
        bomb,
        huge,
        "\u{0}\u{1}".into(),
        "{{{{".into(),
        "services:\n  web: &w\n    image: *w\n".into(),
    ] {
        assert!(
            run("c.yaml", &text).is_err(),
            "{:?} was accepted",
            &text[..text.len().min(60)]
        );
    }
}

#[test]
fn a_file_import_did_not_write_is_left_alone_unless_forced() {
    let root = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(dir().join("cases/restart.yaml")).unwrap();
    let imported = run("compose.yaml", &text).unwrap();
    std::fs::write(root.path().join("always.yaml"), "mine\n").unwrap();
    let err = import::write(root.path(), &imported.files, false).unwrap_err();
    assert!(err.to_string().contains("always.yaml"), "{err}");
    // Nothing was written: an import is whole or nothing.
    assert!(!root.path().join("never.yaml").exists());
    assert_eq!(
        std::fs::read_to_string(root.path().join("always.yaml")).unwrap(),
        "mine\n"
    );
    // A symlink is never written through, forced or not.
    std::os::unix::fs::symlink("/etc/hostname", root.path().join("never.yaml")).unwrap();
    assert!(import::write(root.path(), &imported.files, true).is_err());
    std::fs::remove_file(root.path().join("never.yaml")).unwrap();
    import::write(root.path(), &imported.files, true).unwrap();
    assert!(
        std::fs::read_to_string(root.path().join("always.yaml"))
            .unwrap()
            .starts_with(import::HEADER_PREFIX)
    );
}
