use crate::support::Podman;
use crate::support::cli;

#[test]
fn doctor_reports_socket_version_and_mode() {
    let podman = Podman::shared();
    let dir = std::env::temp_dir();
    let run = cli::pd(&dir, &[], &["--host", &podman.host(), "doctor"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let text = run.stdout_text();
    for expected in [
        "ok   socket",
        "from --host",
        "ok   server   Podman Engine",
        "ok   api      API 1.41",
        "ok   mode     rootful",
        "OCI runtime runc",
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
    assert_eq!(report["version"]["api_version"], "1.41");
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
