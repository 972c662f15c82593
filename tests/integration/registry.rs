//! Registries with credentials, against a loopback `docker-registry` with htpasswd basic
//! auth (plain HTTP, marked insecure nowhere: pocket-dock's loopback rule must do it):
//! push with `image push`, pulls with `pullSecret` from a file and from a variable, the
//! authentication error without credentials, a digest kept across the round trip, and the
//! password found nowhere pocket-dock writes or prints.

use std::path::Path;

use pocket_dock::engine::Capability;

use crate::support::cli::{self, CliRun};
use crate::support::registry::AuthRegistry;
use crate::support::workspace::TestWorkspace;
use crate::support::{Mode, Need, Podman, TEST_IMAGE, requires};

/// A small build on the harness's offline busybox (no network needed, and on every
/// engine the harness runs).
const BASE: &str = "---
apiVersion: pocket-dock.dev/v1alpha1
kind: Image
metadata:
  name: base
spec:
  build:
    context: app
";

/// An Image pulled from `reference`, with `extra` appended to its spec (indented 2).
fn pulled(name: &str, reference: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata:\n  name: {name}\nspec:\n  from:\n    reference: {reference}\n{extra}"
    )
}

/// Every command's output, kept for the final search for the password.
#[derive(Default)]
struct Outputs(Vec<(String, Vec<u8>)>);

impl Outputs {
    fn keep(&mut self, what: &str, run: CliRun) -> CliRun {
        self.0
            .push((format!("{what} (stdout)"), run.stdout.clone()));
        self.0
            .push((format!("{what} (stderr)"), run.stderr.clone()));
        run
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every file under `dir` (the state store's bytes included), as (path, bytes).
fn every_file(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            every_file(&path, out);
        } else if kind.is_file() {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

fn repo_digests(podman: &Podman, reference: &str) -> Vec<String> {
    let out = podman.podman(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        reference,
    ]);
    assert!(
        out.status.success(),
        "inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_auth_error(run: &CliRun, registry: &AuthRegistry, code: i32) {
    let all = format!("{}{}", run.stdout_text(), run.stderr_text());
    assert_eq!(run.code, Some(code), "{all}");
    assert!(
        all.contains(&format!(
            "authentication required/denied for {}",
            registry.addr
        )),
        "{all}"
    );
    assert!(
        all.contains("pullSecret"),
        "the error says what to do: {all}"
    );
    assert!(!all.contains("not found"), "{all}");
}

#[test]
fn credentials_push_and_pull_through_a_registry_with_basic_auth_and_leak_nowhere() {
    if !requires(
        "registry::credentials_push_and_pull_through_a_registry_with_basic_auth_and_leak_nowhere",
        &[Need::Engine(Capability::Build)],
    ) {
        return;
    }
    // A service of its own: the pushed image is removed from its store entirely.
    let podman = Podman::start(Mode::Rootful);
    let registry = AuthRegistry::start();
    let mut outputs = Outputs::default();
    let reference = format!("{}/pocket-dock-test/base:1", registry.addr);
    let secrets_dir = tempfile::tempdir().unwrap();
    let authfile = secrets_dir.path().join("auth.json");
    std::fs::write(&authfile, registry.auth_json()).unwrap();

    // The author: a small build, pushed with pocket-dock itself.
    let author = TestWorkspace::new(&podman);
    std::fs::create_dir_all(author.path("app")).unwrap();
    std::fs::write(
        author.path("app/Containerfile"),
        format!("FROM {TEST_IMAGE}\nRUN echo pushed > /pushed\n"),
    )
    .unwrap();
    author.write("images.yaml", BASE);
    // Refused before anything reaches the engine: not made yet, not a reference.
    let early = outputs.keep(
        "push before apply",
        author.pd(&["image", "push", "base", &reference]),
    );
    assert_eq!(early.code, Some(2), "{}", early.stderr_text());
    assert!(
        early.stderr_text().contains("not present yet"),
        "{}",
        early.stderr_text()
    );
    outputs.keep("apply (author)", author.pd_ok(&["apply"]));
    let bad = outputs.keep(
        "push to a bad reference",
        author.pd(&["image", "push", "base", "Not A Ref"]),
    );
    assert_eq!(bad.code, Some(2), "{}", bad.stderr_text());
    let by_digest = format!(
        "{}/pocket-dock-test/base@sha256:{}",
        registry.addr,
        "0".repeat(64)
    );
    let refused = outputs.keep(
        "push to a digest",
        author.pd(&["image", "push", "base", &by_digest]),
    );
    assert_eq!(refused.code, Some(2), "{}", refused.stderr_text());
    let refused = outputs.keep(
        "push without credentials",
        author.pd(&["image", "push", "base", &reference]),
    );
    assert_auth_error(&refused, &registry, 2);
    let pushed = outputs.keep(
        "push --authfile",
        author.pd(&[
            "--output",
            "json",
            "-vv",
            "image",
            "push",
            "base",
            &reference,
            "--authfile",
            authfile.to_str().unwrap(),
        ]),
    );
    assert_eq!(
        pushed.code,
        Some(0),
        "{}\nregistry log:\n{}",
        pushed.stderr_text(),
        registry.log()
    );
    let report: serde_json::Value = serde_json::from_str(pushed.stdout_text().trim()).unwrap();
    assert_eq!(report["reference"], reference.as_str());
    let digest = report["digest"].as_str().unwrap().to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{report}"
    );
    // The push added no name to the store.
    assert!(
        !podman
            .podman(&["image", "exists", &reference])
            .status
            .success()
    );
    // REGISTRY_AUTH_FILE works like --authfile (text output names the digest). Another
    // local image that goes by the destination's name keeps it.
    let image_id = |name: &str| {
        let out = podman.podman(&["image", "inspect", "--format", "{{.Id}}", name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let tagged = podman.podman(&["tag", TEST_IMAGE, &reference]);
    assert!(
        tagged.status.success(),
        "{}",
        String::from_utf8_lossy(&tagged.stderr)
    );
    let mut cmd = author.command(&["image", "push", "base", &reference]);
    cmd.env("REGISTRY_AUTH_FILE", &authfile);
    let again = outputs.keep("push with REGISTRY_AUTH_FILE", cli::run(cmd, |_| {}));
    assert_eq!(again.code, Some(0), "{}", again.stderr_text());
    assert!(
        again
            .stdout_text()
            .contains(&format!("{reference}@{digest}")),
        "{}",
        again.stdout_text()
    );
    assert_eq!(image_id(&reference), image_id(TEST_IMAGE));
    let untagged = podman.podman(&["rmi", &reference]);
    assert!(
        untagged.status.success(),
        "{}",
        String::from_utf8_lossy(&untagged.stderr)
    );

    // Remove every trace of the image locally, so that the pulls below really pull.
    let id = {
        let (run, values) = author.pd_json(&["image", "inspect", "base"]);
        assert_eq!(run.code, Some(0), "{}", run.stderr_text());
        values[0]["id"].as_str().unwrap().to_string()
    };
    let removed = podman.podman(&["rmi", "-f", &id]);
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );

    // An attendee without credentials: an authentication error, not "not found".
    let attendee = TestWorkspace::new(&podman);
    attendee.write("images.yaml", &pulled("remote", &reference, ""));
    let failed = outputs.keep("apply without pullSecret", attendee.pd(&["apply"]));
    assert_auth_error(&failed, &registry, 4);
    let status = outputs.keep(
        "status after the refusal",
        attendee.pd(&["--output", "json", "get"]),
    );
    assert!(
        status
            .stdout_text()
            .contains("authentication required/denied"),
        "{}",
        status.stdout_text()
    );

    // With a pullSecret file in the workspace: pulled, and the digest is the pushed one.
    std::fs::create_dir_all(attendee.path(".secrets")).unwrap();
    std::fs::write(attendee.path(".secrets/auth.json"), registry.auth_json()).unwrap();
    attendee.write(
        "images.yaml",
        &pulled(
            "remote",
            &reference,
            "  pullSecret:\n    file: .secrets/auth.json\n",
        ),
    );
    outputs.keep(
        "apply with pullSecret file",
        attendee.pd_ok(&["-vv", "apply"]),
    );
    let digests = repo_digests(&podman, &reference);
    let expected = format!("{}/pocket-dock-test/base@{digest}", registry.addr);
    assert!(digests.contains(&expected), "{digests:?} lacks {expected}");

    // The Workspace's pullSecret from a variable (username/password fields), for a
    // Sandbox's plain `image` reference.
    let removed = podman.podman(&["rmi", "-f", &reference]);
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let by_env = TestWorkspace::new(&podman);
    by_env.write(
        "workspace.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: by-env\nspec:\n  pullSecret:\n    env: PD_TEST_REGISTRY_AUTH\n",
    );
    by_env.write(
        "sandbox.yaml",
        &format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: s\nspec:\n  image: {reference}\n  command: [sleep, '3600']\n"
        ),
    );
    let mut cmd = by_env.command(&["-vv", "apply"]);
    cmd.env("PD_TEST_REGISTRY_AUTH", registry.auth_json_fields());
    let applied = outputs.keep(
        "apply with a Workspace pullSecret env",
        cli::run(cmd, |_| {}),
    );
    assert_eq!(
        applied.code,
        Some(0),
        "{}{}",
        applied.stdout_text(),
        applied.stderr_text()
    );
    assert!(repo_digests(&podman, &reference).contains(&expected));
    // The sandbox's container, labels and all, for the search at the end.
    let ids = podman.podman(&["ps", "-aq"]);
    let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
    assert!(!ids.trim().is_empty(), "the sandbox runs");
    let mut inspect = vec!["container", "inspect"];
    inspect.extend(ids.split_whitespace());
    let containers = podman.podman(&inspect).stdout;
    // Without the variable, the error names it, never a value.
    let removed = podman.podman(&["rmi", "-f", &reference]);
    assert!(removed.status.success());
    let unset = outputs.keep("apply with the variable unset", by_env.pd(&["apply"]));
    assert_ne!(unset.code, Some(0));
    assert!(
        unset
            .stderr_text()
            .contains("PD_TEST_REGISTRY_AUTH is not set")
            || unset
                .stdout_text()
                .contains("PD_TEST_REGISTRY_AUTH is not set"),
        "{}{}",
        unset.stdout_text(),
        unset.stderr_text()
    );
    // `run` of the absent image pulls it with the Workspace's pullSecret too.
    let mut cmd = by_env.command(&["run", &reference, "--", "cat", "/pushed"]);
    cmd.env("PD_TEST_REGISTRY_AUTH", registry.auth_json());
    let ran = outputs.keep("run with a Workspace pullSecret env", cli::run(cmd, |_| {}));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr_text());
    assert_eq!(ran.stdout_text(), "pushed\n");

    // Events of every workspace, then the search: the password and the encoded auth appear
    // in no output, no file of any workspace (status, state store), no image label.
    for ws in [&author, &attendee, &by_env] {
        outputs.keep("events", ws.pd(&["--output", "json", "events"]));
    }
    let mut places = outputs.0;
    for ws in [&author, &attendee, &by_env] {
        every_file(&ws.path(".pocket-dock"), &mut places);
    }
    let ids = podman.podman(&["images", "-q"]);
    let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
    let mut inspect = vec!["image", "inspect"];
    inspect.extend(ids.split_whitespace());
    places.push(("image inspect".to_string(), podman.podman(&inspect).stdout));
    places.push(("container inspect".to_string(), containers));
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", registry.user, registry.password))
    };
    assert!(registry.auth_json().contains(&encoded));
    for value in [registry.password.as_str(), encoded.as_str()] {
        for (place, bytes) in &places {
            assert!(
                !contains(bytes, value),
                "the registry password was found in {place}:\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
    drop(registry);
}
