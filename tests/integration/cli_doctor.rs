use crate::support::cli;
use crate::support::engine::shared_profile;
use crate::support::{EngineUnderTest, Podman, under_test};
use pocket_dock::engine::Capability;

#[test]
fn doctor_reports_socket_version_and_mode() {
    let podman = Podman::shared();
    let dir = std::env::temp_dir();
    let run = cli::pd(&dir, &[], &["--host", &podman.host(), "doctor"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let text = run.stdout_text();
    let (server, kind) = match under_test() {
        EngineUnderTest::Podman => ("ok   server   Podman Engine", "podman"),
        EngineUnderTest::Docker => ("ok   server   Engine", "docker"),
    };
    for expected in [
        "ok   socket",
        "from --host",
        server,
        "ok   api      API 1.4",
        "ok   mode     rootful",
        "OCI runtime runc",
        &format!("capabilities of {kind} "),
        "  yes build ",
        "  yes commit ",
        " load-oci ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let run = cli::pd(
        &dir,
        &[],
        &["--host", &podman.host(), "--output", "json", "doctor"],
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["info"]["rootless"], false);
    // 1.41 on Podman 4.x, 1.44 on 5.x: any the compat API versions pocket-dock speaks.
    let api = report["version"]["api_version"].as_str().unwrap();
    assert!(api.starts_with("1.4"), "{api}");
    assert_eq!(report["engine"]["kind"], kind);
    let capabilities = report["engine"]["capabilities"].as_array().unwrap();
    assert_eq!(
        capabilities.len(),
        pocket_dock::engine::Capability::ALL.len(),
        "{capabilities:?}"
    );
    assert!(
        capabilities
            .iter()
            .any(|c| c["capability"] == "commit" && c["available"] == true)
    );
    // The harness's engines resolve names on networks (netavark with aardvark-dns, or
    // Docker's embedded DNS): doctor says so, which the networks tests rely on.
    assert!(
        capabilities
            .iter()
            .any(|c| c["capability"] == "network-dns" && c["available"] == true),
        "{capabilities:?}"
    );
    assert_eq!(report["socket"]["source"], "host-flag");
}

#[test]
fn doctor_names_every_candidate_and_the_fix_when_nothing_answers() {
    let dir = std::env::temp_dir();
    let env = vec![(
        "XDG_RUNTIME_DIR".to_string(),
        "/nonexistent/xdg".to_string(),
    )];
    let run = cli::pd(&dir, &env, &["doctor"]);
    let text = run.stdout_text();
    if std::path::Path::new("/run/podman/podman.sock").exists() {
        return assert!(text.contains("/run/podman/podman.sock"), "{text}");
    }
    assert_eq!(run.code, Some(3), "{text}");
    assert!(
        text.contains("/nonexistent/xdg/podman/podman.sock (rootless default"),
        "{text}"
    );
    assert!(
        text.contains("/run/podman/podman.sock (rootful default, absent)"),
        "{text}"
    );
    assert!(text.contains("fix: start the service"), "{text}");
}

#[test]
fn completions_are_generated() {
    let run = cli::pd(&std::env::temp_dir(), &[], &["completions", "bash"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout_text().contains("pocket-dock"));
}

#[test]
fn verbose_shows_each_raw_podman_operation_without_terminal_colours() {
    let podman = Podman::shared();
    let run = cli::pd(
        &std::env::temp_dir(),
        &[],
        &[
            "-v",
            "--host",
            &podman.host(),
            "run",
            crate::support::TEST_IMAGE,
            "--",
            "true",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let text = run.stderr_text();
    assert!(
        !text.contains('\u{1b}'),
        "no ANSI escapes into a pipe: {text:?}"
    );
    for expected in [
        "method=\"GET\" path=/images/localhost/pocket-dock-test/busybox:1/json",
        "method=\"POST\" path=/containers/create",
        // The command is the container's own process (no exec): attached, started,
        // its exit read, removed.
        "/attach",
        "/start",
        "method=\"DELETE\" path=/containers/",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The exit code comes from the container's state once its output closes, or from the
    // wait when the state was not there yet; never from an exec.
    assert!(
        text.contains("/wait") || text.contains("method=\"GET\" path=/containers/{id}/json"),
        "no exit read in:\n{text}"
    );
    assert!(!text.contains("/exec"), "{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains("podman api"))
            .all(|l| l.contains("elapsed=")),
        "{text}"
    );
}

#[test]
fn validate_engine_reports_the_engine_and_what_it_cannot_serve() {
    let podman = Podman::shared();
    let ws = crate::support::workspace::TestWorkspace::new(podman);
    ws.write(
        "images.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: base}\nspec: {embedded: base}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Snapshot\nmetadata: {name: snap}\nspec: {sandbox: box, generation: 1}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: box}\nspec:\n  imageFrom: {image: base}\n",
    );
    // Every engine of the matrix can serve these (the embedded base loads everywhere).
    let (run, out) = ws.pd_json(&["validate", "--engine"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(out[0]["valid"], true);
    assert_eq!(out[0]["engine"]["kind"], under_test().as_str());
    assert_eq!(out[0]["unsupported"], serde_json::json!([]));

    // Without --engine, validate never connects: an unreachable engine does not matter.
    let gone = [(
        "CONTAINER_HOST".to_string(),
        "unix:///nonexistent/pd.sock".to_string(),
    )];
    let run = cli::pd(ws.root(), &gone, &["validate"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    // With it, an unreachable engine is exit 3 (not a verdict on the files).
    let run = cli::pd(ws.root(), &gone, &["validate", "--engine"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr_text());
    // Broken files are reported first, without asking the engine.
    ws.write("broken.yaml", "kind: [\n");
    let run = cli::pd(ws.root(), &gone, &["validate", "--engine"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
}

/// A plain OCI archive (no Docker manifest.json): the embedded base, rewritten without it.
fn plain_oci_archive(path: &std::path::Path) {
    let input = pocket_dock::images::embedded::BaseInput::find().unwrap();
    let base = pocket_dock::images::embedded::build(&input).unwrap();
    let mut source = tar::Archive::new(base.archive.as_slice());
    let mut out = tar::Builder::new(std::fs::File::create(path).unwrap());
    for entry in source.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == "manifest.json" {
            continue;
        }
        let mut header = entry.header().clone();
        let name = entry.path().unwrap().into_owned();
        out.append_data(&mut header, name, &mut entry).unwrap();
    }
    out.finish().unwrap();
}

#[test]
fn importing_a_plain_oci_archive_is_refused_up_front_where_the_engine_cannot_load_it() {
    // A service of its own: the archive is the embedded base, which other tests use in the
    // shared store, and loading it there again would touch their image.
    let podman = Podman::start(crate::support::Mode::Rootful);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-oci.tar");
    plain_oci_archive(&file);
    let run = cli::pd(
        dir.path(),
        &[],
        &[
            "--host",
            &podman.host(),
            "--output",
            "json",
            "image",
            "import",
            &file.display().to_string(),
        ],
    );
    if shared_profile().has(Capability::LoadOci) {
        assert_eq!(run.code, Some(0), "{}", run.stderr_text());
        return;
    }
    // Refused before the archive is sent: exit 2, category unsupported, the fix named.
    assert_eq!(
        run.code,
        Some(2),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let text = format!("{}{}", run.stdout_text(), run.stderr_text());
    assert!(
        text.contains("unsupported") && text.contains("load-oci"),
        "{text}"
    );
    assert_eq!(
        podman
            .podman(&["image", "ls", "-q", "localhost/pocket-dock/base"])
            .stdout,
        b"",
        "nothing was loaded"
    );
}
