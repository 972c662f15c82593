use crate::support::cli;
use crate::support::{EngineUnderTest, Podman, under_test};

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
    assert_eq!(capabilities.len(), 8, "{capabilities:?}");
    assert!(
        capabilities
            .iter()
            .any(|c| c["capability"] == "commit" && c["available"] == true)
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
        "/start",
        "method=\"POST\" path=/exec/",
        "method=\"DELETE\" path=/containers/",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        text.lines()
            .filter(|l| l.contains("podman api"))
            .all(|l| l.contains("elapsed=")),
        "{text}"
    );
}

#[tokio::test]
async fn validate_engine_reports_the_engine_and_refuses_what_it_lacks() {
    let podman = Podman::shared();
    let ws = crate::support::workspace::TestWorkspace::new(podman);
    ws.write(
        "images.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Image\nmetadata: {name: base}\nspec: {embedded: base}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Snapshot\nmetadata: {name: snap}\nspec: {sandbox: box, generation: 1}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: box}\nspec:\n  imageFrom: {image: base}\n",
    );
    let (run, out) = ws.pd_json(&["validate", "--engine"]);
    assert_eq!(out[0]["engine"]["kind"], under_test().as_str());
    if crate::support::engine::shared_profile().has(pocket_dock::engine::Capability::LoadOci) {
        assert_eq!(run.code, Some(0), "{}", run.stderr_text());
        assert_eq!(out[0]["valid"], true);
        assert_eq!(out[0]["unsupported"], serde_json::json!([]));
    } else {
        // An engine that cannot load OCI archives (Docker before 25): refused where declared.
        assert_eq!(run.code, Some(2), "{}", run.stderr_text());
        assert_eq!(out[0]["valid"], false);
        let unsupported = &out[0]["unsupported"][0];
        assert_eq!(unsupported["capability"], "load-oci", "{unsupported}");
        assert_eq!(unsupported["source"]["line"], 1, "{unsupported}");
        let run = ws.pd(&["validate", "--engine"]);
        assert!(
            run.stderr_text().contains(".pocket-dock/images.yaml:1:"),
            "{}",
            run.stderr_text()
        );
        let run = ws.pd(&["apply"]);
        assert_eq!(run.code, Some(2), "apply refuses up front");
        assert!(ws.sandboxes(podman).await.is_empty(), "nothing was made");
    }

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
}
