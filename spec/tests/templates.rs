//! Templates in a loaded workspace: the merged spec is what a Sandbox object holds, problems
//! of the merged result and of the chain are reported at file:line, and the hashes follow
//! the merged fields.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::Path;

use pocket_dock_spec::model::{EnvValue, Network, Profile, SandboxSpec, Spec, WorkspaceSpec};
use pocket_dock_spec::template::{self, TemplateError};
use pocket_dock_spec::{Kind, container_spec_hash, load};

const HEAD: &str = "apiVersion: pocket-dock.dev/v1alpha1\n";

fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".pocket-dock")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(".pocket-dock").join(name), text).unwrap();
    }
    dir
}

fn problems(root: &Path) -> Vec<String> {
    load(root)
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn sandbox(root: &Path, name: &str) -> SandboxSpec {
    let loaded = load(root);
    assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
    match &loaded.declarations.get(Kind::Sandbox, name).unwrap().spec {
        Spec::Sandbox(s) => s.clone(),
        other => panic!("{other:?}"),
    }
}

fn template(name: &str, extends: Option<&str>, sandbox: &str) -> String {
    let extends = extends
        .map(|e| format!("  extends: {e}\n"))
        .unwrap_or_default();
    let sandbox = sandbox
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>();
    format!(
        "{HEAD}kind: Template\nmetadata: {{name: {name}}}\nspec:\n{extends}  sandbox:\n{sandbox}"
    )
}

fn templated(name: &str, template: &str, own: &str) -> String {
    let own = own.lines().map(|l| format!("  {l}\n")).collect::<String>();
    format!("{HEAD}kind: Sandbox\nmetadata: {{name: {name}}}\nspec:\n  template: {template}\n{own}")
}

#[test]
fn a_sandbox_gets_its_templates_fields_under_its_own() {
    let ws = workspace(&[
        (
            "templates.yaml",
            &template(
                "python-runner",
                Some("code-executor"),
                "image: localhost/python:3\nenv: {A: '1', B: '1'}\nresources: {pids: 64}",
            ),
        ),
        (
            "grader.yaml",
            &templated("grader", "python-runner", "env: {B: '2'}"),
        ),
    ]);
    let s = sandbox(ws.path(), "grader");
    assert_eq!(s.template.as_deref(), Some("python-runner"));
    assert_eq!(s.image.as_deref(), Some("localhost/python:3"));
    assert_eq!(s.env["A"], EnvValue::from("1"));
    assert_eq!(s.env["B"], EnvValue::from("2"));
    // From code-executor, below python-runner: merged key by key.
    let resources = s.resources.unwrap();
    assert_eq!(resources.pids, Some(64));
    assert_eq!(resources.memory.as_deref(), Some("256Mi"));
    assert_eq!(s.security.unwrap().profile, Some(Profile::Locked));
    assert_eq!(s.network, Some(Network::None));

    // The pure resolution by name gives the template's own merged spec.
    let loaded = load(ws.path());
    let r = template::resolve(&loaded.declarations, "python-runner").unwrap();
    assert_eq!(r.template, None);
    assert_eq!(r.env["B"], EnvValue::from("1"));
    assert_eq!(r.image.as_deref(), Some("localhost/python:3"));
    let builtin = template::resolve(&loaded.declarations, "workshop").unwrap();
    assert_eq!(builtin.image, None);
    assert!(matches!(
        template::resolve(&loaded.declarations, "python-runer"),
        Err(TemplateError::Unknown { closest: Some(c), .. }) if c == "python-runner"
    ));
}

#[test]
fn a_sandbox_may_replace_the_templates_image_kind_and_remove_fields() {
    let ws = workspace(&[
        (
            "t.yaml",
            &template(
                "t",
                None,
                "image: a:1\nlifetime: {idleTimeout: 5m}\nports: [{container: 80, host: 18080}]",
            ),
        ),
        (
            "s.yaml",
            &format!(
                "{}---\n{HEAD}kind: Image\nmetadata: {{name: tools}}\nspec: {{from: {{reference: 'docker.io/library/alpine:3'}}}}\n",
                templated(
                    "s",
                    "t",
                    "imageFrom: {image: tools}\nlifetime: null\nports: []"
                )
            ),
        ),
    ]);
    let s = sandbox(ws.path(), "s");
    assert_eq!(s.image, None);
    assert_eq!(s.image_from.unwrap().image.as_deref(), Some("tools"));
    assert_eq!(s.lifetime, None);
    assert!(s.ports.is_empty());
}

#[test]
fn problems_of_the_merged_result_point_at_the_template_line_and_name_the_template() {
    let ws = workspace(&[
        (
            "t.yaml",
            &template("t", Some("code-executor"), "image: a:1"),
        ),
        // Fine alone, and fine in the template: `lifetime` (from code-executor) only
        // conflicts with the sandbox's own `run: once`.
        (
            "s.yaml",
            &templated("s", "t", "run: once\ncommand: ['true']"),
        ),
        ("u.yaml", &templated("u", "workshop", "env: {A: '1'}")),
    ]);
    assert_eq!(
        problems(ws.path()),
        [
            ".pocket-dock/s.yaml:5:13: spec.lifetime: a one-shot sandbox (`run: once`) ends by itself; `lifetime` bounds long-lived sandboxes (from template `code-executor`) (remove `lifetime`, or make the sandbox long-lived)",
            ".pocket-dock/u.yaml:4:1: spec: a sandbox needs `image` or `imageFrom`, and its template `workshop` names neither (e.g. `image: localhost/tools:1`)",
        ]
    );
}

#[test]
fn a_templates_own_problems_are_reported_once_where_they_are_written() {
    let ws = workspace(&[
        (
            "base.yaml",
            &template("base", None, "resources: {memory: 12XB}"),
        ),
        (
            "t.yaml",
            &template("t", Some("base"), "image: a:1\nworkdir: relative"),
        ),
        ("s.yaml", &templated("s", "t", "env: {A: '1'}")),
    ]);
    assert_eq!(
        problems(ws.path()),
        [
            ".pocket-dock/base.yaml:6:25: spec.sandbox.resources.memory: `12XB` is not a memory quantity: use bytes or a number with Ki, Mi, Gi or Ti (e.g. `512Mi` or `2Gi`)",
            ".pocket-dock/s.yaml:5:13: spec.template: template `t` (.pocket-dock/t.yaml:1:1) has problems now; until they are fixed this sandbox keeps its last valid version",
            ".pocket-dock/t.yaml:8:14: spec.sandbox.workdir: `relative` must be an absolute path",
        ]
    );
}

#[test]
fn unknown_names_cycles_reserved_names_and_broken_chains_are_reported_with_lines() {
    let ws = workspace(&[
        (
            "t.yaml",
            &[
                template("a", Some("b"), "user: '1'"),
                template("b", Some("a"), "user: '2'"),
                template("workshop", None, "user: '3'"),
                template("c", Some("nope"), "user: '4'"),
            ]
            .join("---\n"),
        ),
        (
            "s.yaml",
            &[
                templated("s1", "codeexecutor", "image: a:1"),
                templated("s2", "a", "image: a:1"),
            ]
            .join("---\n"),
        ),
    ]);
    assert_eq!(
        problems(ws.path()),
        [
            ".pocket-dock/s.yaml:5:13: spec.template: unknown template `codeexecutor` (did you mean `code-executor`?)",
            ".pocket-dock/s.yaml:12:13: spec.template: template `a` cannot be used: templates extend each other in a cycle: a → b → a",
            ".pocket-dock/t.yaml:5:12: spec.extends: templates extend each other in a cycle: a → b → a (remove `extends` from one template of the cycle)",
            ".pocket-dock/t.yaml:13:12: spec.extends: templates extend each other in a cycle: b → a → b (remove `extends` from one template of the cycle)",
            ".pocket-dock/t.yaml:19:18: metadata.name: `workshop` is the name of a built-in template (choose another name; to build on it, write `extends: workshop`)",
            ".pocket-dock/t.yaml:28:12: spec.extends: `extends` names template `nope`, which is not declared (templates: code-executor, integration-test, workshop, a, b, c)",
        ]
    );
}

#[test]
fn a_sandbox_is_not_offered_while_its_templates_file_has_problems() {
    let ws = workspace(&[
        (
            "t.yaml",
            &format!(
                "{}---\n{HEAD}kind: Volume\nmetadata: {{name: Bad_Name}}\n",
                template("t", None, "image: a:1")
            ),
        ),
        ("s.yaml", &templated("s", "t", "env: {A: '1'}")),
    ]);
    let loaded = load(ws.path());
    assert!(loaded.declarations.get(Kind::Sandbox, "s").is_none());
    assert!(!loaded.declarations.complete);
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.file == Path::new(".pocket-dock/s.yaml") && d.code == "template-unusable"),
        "{:?}",
        loaded.diagnostics
    );

    // A template file that does not parse: the sandbox names an unknown template, or (when
    // the template's last valid version is known) one it cannot use now.
    std::fs::write(ws.path().join(".pocket-dock/t.yaml"), "kind: [\n").unwrap();
    let loaded = load(ws.path());
    assert!(loaded.declarations.get(Kind::Sandbox, "s").is_none());
    let known = [(Kind::Template, "t".to_string())].into_iter().collect();
    let loaded = pocket_dock_spec::load_with(ws.path(), &known);
    assert!(loaded.declarations.get(Kind::Sandbox, "s").is_none());
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.code == "template-unusable" && d.line == 5),
        "{:?}",
        loaded.diagnostics
    );
}

#[test]
fn the_hash_follows_the_merged_fields_not_where_they_are_written() {
    let hash = |files: &[(&str, &str)]| {
        let ws = workspace(files);
        let s = sandbox(ws.path(), "s");
        container_spec_hash(&pocket_dock_spec::hash::effective_sandbox(
            &s,
            &WorkspaceSpec::default(),
        ))
    };
    let inline = hash(&[(
        "s.yaml",
        &format!(
            "{HEAD}kind: Sandbox\nmetadata: {{name: s}}\nspec:\n  image: a:1\n  env: {{A: '1', B: '2'}}\n"
        ),
    )]);
    let via_template = hash(&[
        ("t.yaml", &template("t", None, "image: a:1\nenv: {A: '1'}")),
        ("s.yaml", &templated("s", "t", "env: {B: '2'}")),
    ]);
    let renamed = hash(&[
        (
            "t.yaml",
            &template("other", None, "image: a:1\nenv: {A: '1'}"),
        ),
        ("s.yaml", &templated("s", "other", "env: {B: '2'}")),
    ]);
    let edited = hash(&[
        (
            "t.yaml",
            &template("t", None, "image: a:1\nenv: {A: 'changed'}"),
        ),
        ("s.yaml", &templated("s", "t", "env: {B: '2'}")),
    ]);
    assert_eq!(inline, via_template);
    assert_eq!(via_template, renamed);
    assert_ne!(via_template, edited);
}
