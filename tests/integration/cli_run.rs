use std::time::Duration;

use crate::support::cli::{self, command};
use crate::support::{Mode, Podman, TEST_IMAGE};

fn host_env(podman: &Podman) -> Vec<(String, String)> {
    vec![("CONTAINER_HOST".to_string(), podman.host())]
}

/// Containers left behind by `run` in a workspace rooted at `dir` (all `Run` kinds).
fn leftover_runs(podman: &Podman, name_filter: &str) -> usize {
    let out = podman.podman(&["ps", "-aq", "--filter", &format!("name={name_filter}")]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// A fresh folder to run the CLI in; each folder is its own workspace.
fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pd-cli-")
        .tempdir()
        .unwrap()
}

#[test]
fn run_streams_25_mb_byte_exact_passes_the_exit_code_and_leaves_nothing() {
    let podman = Podman::shared();
    let name = format!("pd-accept-{}", std::process::id());
    let args = [
        "run",
        "--rm",
        "--name",
        &name,
        TEST_IMAGE,
        "--",
        "sh",
        "-c",
        "yes out | head -c 20000000; yes err | head -c 5000000 >&2; exit 7",
    ];
    let run = cli::pd(workdir().path(), &host_env(podman), &args);
    cli::assert_streamed(&run, 7, 20_000_000, 5_000_000);
    assert_eq!(leftover_runs(podman, &name), 0, "the container is removed");
}

#[test]
fn run_removes_its_container_on_failure_and_on_ctrl_c() {
    let podman = Podman::shared();
    let dir = workdir();

    // Failing command: code passed through, container gone.
    let name = format!("pd-fail-{}", std::process::id());
    let run = cli::pd(
        dir.path(),
        &host_env(podman),
        &["run", "--name", &name, TEST_IMAGE, "--", "false"],
    );
    assert_eq!(run.code, Some(1));
    assert_eq!(leftover_runs(podman, &name), 0);

    // Ctrl-C while the command runs: exit 130, container gone.
    let name = format!("pd-int-{}", std::process::id());
    let run = cli::run(
        command(
            dir.path(),
            &host_env(podman),
            &[
                "run",
                "--name",
                &name,
                TEST_IMAGE,
                "--",
                "sh",
                "-c",
                "echo ready; sleep 60",
            ],
        ),
        |pid| {
            // Wait until the command runs (its container exists and is running), then interrupt.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while leftover_runs(podman, &name) == 0 {
                assert!(std::time::Instant::now() < deadline, "run never started");
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(500));
            std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .unwrap();
        },
    );
    assert_eq!(run.code, Some(130), "{}", run.stderr_text());
    assert!(run.elapsed < Duration::from_secs(30));
    assert_eq!(
        leftover_runs(podman, &name),
        0,
        "interrupted run removed its container"
    );

    // Timeout: exit 5 with a typed message, container gone.
    let name = format!("pd-timeout-{}", std::process::id());
    let run = cli::pd(
        dir.path(),
        &host_env(podman),
        &[
            "run",
            "--timeout",
            "500ms",
            "--name",
            &name,
            TEST_IMAGE,
            "--",
            "sleep",
            "60",
        ],
    );
    assert_eq!(run.code, Some(5), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("timed out after 500ms"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(leftover_runs(podman, &name), 0);
}

#[test]
fn run_keep_reuses_an_owned_container_and_refuses_foreign_ones() {
    let podman = Podman::shared();
    let dir = workdir();
    let name = format!("pd-keep-{}", std::process::id());
    let env = host_env(podman);
    let first = cli::pd(
        dir.path(),
        &env,
        &[
            "run",
            "--keep",
            "--name",
            &name,
            TEST_IMAGE,
            "--",
            "sh",
            "-c",
            "echo 1 > /tmp/mark",
        ],
    );
    assert_eq!(first.code, Some(0), "{}", first.stderr_text());
    let second = cli::pd(
        dir.path(),
        &env,
        &[
            "run",
            "--keep",
            "--name",
            &name,
            TEST_IMAGE,
            "--",
            "cat",
            "/tmp/mark",
        ],
    );
    assert_eq!(second.code, Some(0), "{}", second.stderr_text());
    assert_eq!(second.stdout_text(), "1\n", "same container reused");
    // Without --keep, an existing container of that name is a conflict (exit 4), untouched.
    let third = cli::pd(
        dir.path(),
        &env,
        &["run", "--name", &name, TEST_IMAGE, "--", "true"],
    );
    assert_eq!(third.code, Some(4), "{}", third.stderr_text());
    assert_eq!(leftover_runs(podman, &name), 1);
    // Another workspace (another folder) does not own it: refused, untouched.
    let other = cli::pd(
        workdir().path(),
        &env,
        &["run", "--keep", "--name", &name, TEST_IMAGE, "--", "true"],
    );
    assert_eq!(other.code, Some(4), "{}", other.stderr_text());
    assert!(
        other
            .stderr_text()
            .contains("not owned by this pocket-dock workspace"),
        "{}",
        other.stderr_text()
    );
    assert_eq!(leftover_runs(podman, &name), 1);
    assert!(podman.podman(&["rm", "-f", &name]).status.success());
}

#[test]
fn run_pulls_a_missing_image_then_runs() {
    let podman = Podman::shared();
    let reference = podman.registry_image("cli-pull");
    let run = cli::pd(
        workdir().path(),
        &host_env(podman),
        &["run", &reference, "--", "echo", "pulled"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(run.stdout_text(), "pulled\n");
    assert!(
        podman
            .podman(&["image", "exists", &reference])
            .status
            .success()
    );
    assert!(podman.podman(&["rmi", &reference]).status.success());
}

#[test]
fn run_of_a_missing_image_fails_fast_offline_with_exit_4() {
    let podman = Podman::shared();
    let run = cli::pd(
        workdir().path(),
        &host_env(podman),
        &["run", "registry.invalid/x/y:1", "--", "true"],
    );
    assert_eq!(run.code, Some(4), "{}", run.stderr_text());
    assert!(
        run.stderr_text()
            .starts_with("error: pulling registry.invalid/x/y:1 failed"),
        "{}",
        run.stderr_text()
    );
}

#[test]
fn unreachable_socket_fails_every_engine_command_fast_with_exit_3() {
    let dir = workdir();
    // A valid workspace, so that the declarative commands get as far as the engine.
    std::fs::create_dir_all(dir.path().join(".pocket-dock")).unwrap();
    std::fs::write(
        dir.path().join(".pocket-dock/s.yaml"),
        format!("apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {{name: a}}\nspec: {{image: {TEST_IMAGE}}}\n"),
    )
    .unwrap();
    let nowhere = "unix:///nonexistent/pocket-dock/podman.sock";
    for args in [
        vec!["--host", nowhere, "doctor"],
        vec!["--host", nowhere, "run", TEST_IMAGE, "--", "true"],
        vec!["--host", nowhere, "apply"],
        vec!["--host", nowhere, "diff"],
        vec!["--host", nowhere, "get"],
        vec!["--host", nowhere, "delete", "--all"],
        vec!["--host", nowhere, "gc"],
    ] {
        let run = cli::pd(dir.path(), &[], &args);
        assert_eq!(run.code, Some(3), "{args:?}: {}", run.stderr_text());
        assert!(
            run.elapsed < Duration::from_secs(2),
            "{args:?} took {:?}",
            run.elapsed
        );
        let all = format!("{}{}", run.stdout_text(), run.stderr_text());
        assert!(
            all.contains("/nonexistent/pocket-dock/podman.sock"),
            "{args:?}: {all}"
        );
    }
    // The error of `run` is exactly one line naming the socket.
    let run = cli::pd(
        dir.path(),
        &[("CONTAINER_HOST".into(), nowhere.into())],
        &["run", TEST_IMAGE, "--", "true"],
    );
    assert_eq!(run.code, Some(3));
    let text = run.stderr_text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with(
            "error: cannot reach Podman at /nonexistent/pocket-dock/podman.sock: no such socket"
        ),
        "{text}"
    );

    // JSON errors carry category, operation and exit code.
    let run = cli::pd(
        dir.path(),
        &[],
        &[
            "--host", nowhere, "--output", "json", "run", TEST_IMAGE, "--", "true",
        ],
    );
    let value: serde_json::Value = serde_json::from_slice(&run.stderr).expect("one JSON object");
    assert_eq!(value["error"]["category"], "connection");
    assert_eq!(value["error"]["operation"], "connect");
    assert_eq!(value["error"]["exit_code"], 3);
}

#[test]
fn killing_the_service_mid_stream_ends_run_with_a_connection_error() {
    let podman = Podman::start(Mode::Rootful);
    let run = cli::run(
        command(
            workdir().path(),
            &host_env(&podman),
            &[
                "run",
                TEST_IMAGE,
                "--",
                "sh",
                "-c",
                "echo go; while :; do echo tick; sleep 0.01; done",
            ],
        ),
        |_| {
            // Once its container runs (a fixed sleep was too short on a loaded machine),
            // and a little longer, so that output is streaming when the service dies.
            crate::support::poll::until_blocking(
                Duration::from_secs(30),
                "the run's container is running",
                || {
                    let out = podman.podman(&["ps", "-q", "--filter", "status=running"]);
                    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
                },
            );
            std::thread::sleep(Duration::from_millis(500));
            podman.kill_service();
        },
    );
    assert_eq!(run.code, Some(3), "{}", run.stderr_text());
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    assert!(run.stdout_text().starts_with("go\ntick\n"));
    let text = run.stderr_text();
    assert!(
        text.contains("was lost during exec output stream"),
        "{text}"
    );
}

#[test]
fn run_passes_env_workdir_and_network_choice_and_rejects_bad_names() {
    let podman = Podman::shared();
    let dir = workdir();
    let env = host_env(podman);
    let run = cli::pd(
        dir.path(),
        &env,
        &[
            "run",
            "-e",
            "GREETING=hi there",
            "--workdir",
            "/tmp",
            "--no-network",
            TEST_IMAGE,
            "--",
            "sh",
            "-c",
            // The interfaces of the network namespace itself: sysfs can show the host's
            // under Podman 5 while the namespace holds only lo; /proc/net/dev cannot.
            "echo \"$GREETING\"; pwd; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(run.stdout_text(), "hi there\n/tmp\nlo\n");

    let run = cli::pd(
        dir.path(),
        &env,
        &["run", "--name", "bad name", TEST_IMAGE, "--", "true"],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(run.stderr_text().contains("not a valid container name"));
    let run = cli::pd(
        dir.path(),
        &env,
        &["run", "-e", "NOEQUALS", TEST_IMAGE, "--", "true"],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    let run = cli::pd(
        dir.path(),
        &env,
        &["run", "--timeout", "10", TEST_IMAGE, "--", "true"],
    );
    assert_eq!(
        run.code,
        Some(2),
        "a duration needs a unit: {}",
        run.stderr_text()
    );
}

/// `run --rm` ends its container with a forced removal (SIGKILL, no graceful stop to wait
/// out), so a command that ignores SIGTERM and SIGINT still ends promptly, on every path:
/// done, timed out, interrupted. The bounds are generous (a loaded machine), half of the
/// 10 s a graceful stop of such a process would take.
#[test]
fn run_rm_ends_promptly_and_leaves_nothing_even_when_the_command_ignores_sigterm() {
    let podman = Podman::shared();
    let dir = workdir();
    let env = host_env(podman);
    let stubborn = "trap '' TERM INT HUP; echo ready; sleep 60";

    // Done: a generated name, no look-up before the create; nothing left of it. Other
    // tests run generated names at the same time, so the container is told by its id,
    // which `-v` shows in the calls made to it.
    let run = cli::pd(
        dir.path(),
        &env,
        &["-v", "run", "--rm", TEST_IMAGE, "--", "true"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    let stderr = run.stderr_text();
    let id = regex::Regex::new(r"path=/containers/([0-9a-f]{64})/attach")
        .unwrap()
        .captures(&stderr)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| panic!("no attach call in:\n{stderr}"));
    assert!(
        !podman
            .podman(&["container", "exists", &id])
            .status
            .success(),
        "the container is removed"
    );

    // Timed out: exit 5 soon after the limit, container gone.
    let name = format!("pd-stubborn-timeout-{}", std::process::id());
    let run = cli::pd(
        dir.path(),
        &env,
        &[
            "run",
            "--rm",
            "--timeout",
            "1s",
            "--name",
            &name,
            TEST_IMAGE,
            "--",
            "sh",
            "-c",
            stubborn,
        ],
    );
    assert_eq!(run.code, Some(5), "{}", run.stderr_text());
    assert_eq!(run.stdout_text(), "ready\n");
    assert!(
        run.elapsed < Duration::from_secs(1 + 5),
        "timed out and removed, not stopped gracefully: {:?}",
        run.elapsed
    );
    assert_eq!(leftover_runs(podman, &name), 0);

    // Interrupted: exit 130 within seconds of Ctrl-C, container gone.
    let name = format!("pd-stubborn-int-{}", std::process::id());
    let signalled = std::cell::Cell::new(None);
    let run = cli::run(
        command(
            dir.path(),
            &env,
            &[
                "run", "--rm", "--name", &name, TEST_IMAGE, "--", "sh", "-c", stubborn,
            ],
        ),
        |pid| {
            // The command itself is running (its trap set before `sleep 60` started).
            crate::support::poll::until_blocking(
                Duration::from_secs(30),
                "the run's command is running",
                || {
                    // "ready" is echoed after the trap is set. The log, not `top`: Docker's
                    // top runs the host's ps, which a minimal engine root may lack.
                    let out = podman.podman(&["logs", &name]);
                    String::from_utf8_lossy(&out.stdout).contains("ready")
                },
            );
            signalled.set(Some(std::time::Instant::now()));
            std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .unwrap();
        },
    );
    assert_eq!(run.code, Some(130), "{}", run.stderr_text());
    let after_signal = signalled.get().map(|t| t.elapsed()).unwrap();
    assert!(
        after_signal < Duration::from_secs(5),
        "removed with force, not stopped gracefully: {after_signal:?}"
    );
    assert_eq!(leftover_runs(podman, &name), 0);
}

/// Without `--keep` the exit code is read from the container's state as soon as the
/// command's output closes (Podman's wait answers only after its cleanup). A command that
/// closes its output and goes on must still be waited for: its own exit code, at its end.
#[test]
fn run_rm_waits_for_a_command_that_closes_its_output_and_goes_on() {
    let podman = Podman::shared();
    let dir = workdir();
    let env = host_env(podman);
    let script = "echo early; exec >&- 2>&-; sleep 1; exit 3";
    let run = cli::pd(
        dir.path(),
        &env,
        &["run", "--rm", TEST_IMAGE, "--", "sh", "-c", script],
    );
    assert_eq!(run.code, Some(3), "{}", run.stderr_text());
    assert_eq!(run.stdout_text(), "early\n");
    assert!(
        run.elapsed >= Duration::from_secs(1),
        "answered before the command ended: {:?}",
        run.elapsed
    );
}

/// Without `--keep` the command is the container's own process (no idle process, no
/// exec), so what `run` promises of an exec must hold of it: argv as given, the image's
/// ENTRYPOINT and CMD not applied, and a command that cannot start answered as a shell
/// (and `podman run`) answer it: 127 not found, 126 not executable, with pocket-dock's
/// sentence before the engine's words. The same commands with `--keep` (an exec) agree.
#[test]
fn run_rm_runs_argv_as_given_and_answers_127_and_126_like_an_exec() {
    let podman = Podman::shared();
    let dir = workdir();
    let env = host_env(podman);
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Containerfile"),
        format!(
            "FROM {TEST_IMAGE}\nENTRYPOINT [\"echo\", \"from-entrypoint\"]\nCMD [\"from-cmd\"]\n"
        ),
    )
    .unwrap();
    let image = "localhost/pd-run-entrypoint:1";
    // `-f`: Docker looks for a Dockerfile by default.
    let file = context.path().join("Containerfile");
    let built = podman.podman(&[
        "build",
        "-q",
        "-t",
        image,
        "-f",
        &file.to_string_lossy(),
        &context.path().to_string_lossy(),
    ]);
    assert!(built.status.success(), "{built:?}");

    let run = cli::pd(
        dir.path(),
        &env,
        &["run", image, "--", "echo", "a  b", "$HOME"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(
        run.stdout_text(),
        "a  b $HOME\n",
        "argv as given, no entrypoint"
    );

    // An exec (`--keep`) answers what the engine's exec answers: 127 for a command not
    // found on Podman (Docker's exec says 126), and a directory is 126 on Podman 4.3 and
    // 125 on 5.x, so only the not-found case is asked of it.
    let cases: [(&str, &str, i32, &str); 3] = [
        ("--rm", "nosuch-command", 127, "not found"),
        ("--rm", "/etc", 126, ""),
        ("--keep", "nosuch-command", 127, "not found"),
    ];
    for (mode, cmd, code, says) in cases {
        let name = format!("pd-nostart-{}-{}-{code}", std::process::id(), &mode[2..]);
        let run = cli::pd(
            dir.path(),
            &env,
            &["run", mode, "--name", &name, image, "--", cmd],
        );
        // Docker's exec of a missing command answers 126 and says nothing.
        let (code, says) = match (mode, crate::support::engine::under_test()) {
            ("--keep", crate::support::engine::EngineUnderTest::Docker) => (126, ""),
            _ => (code, says),
        };
        assert_eq!(run.code, Some(code), "{mode} {cmd}: {}", run.stderr_text());
        assert!(run.stderr_text().contains(says), "{}", run.stderr_text());
        if mode == "--keep" {
            assert!(podman.podman(&["rm", "-f", &name]).status.success());
        } else {
            assert!(
                run.stderr_text()
                    .contains("pocket-dock: the command could not start"),
                "{}",
                run.stderr_text()
            );
            assert_eq!(leftover_runs(podman, &name), 0, "removed");
        }
    }
    let _ = podman.podman(&["rmi", "-f", image]);
}
