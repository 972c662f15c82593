//! `exec` and `history` against real Podman: streaming, exit codes, timeouts and Ctrl-C
//! that really stop the remote processes (checked with ps inside the sandbox).

use std::time::Duration;

use crate::support::Podman;
use crate::support::cli;
use crate::support::workspace::{TestWorkspace, sandbox};

/// A workspace with one running sandbox, `box`, on the test image.
pub fn workspace_with_a_sandbox(podman: &Podman) -> TestWorkspace {
    let ws = TestWorkspace::new(podman);
    ws.write("box.yaml", &sandbox("box", ""));
    ws.pd_ok(&["apply"]);
    ws
}

/// The sandbox's process list, as `ps` inside it prints it.
pub fn ps(ws: &TestWorkspace) -> String {
    ws.pd_ok(&["exec", "box", "--", "ps", "-o", "pid,args"])
        .stdout_text()
}

/// Waits (up to 20 s) until `ps` in the sandbox shows `what`.
pub fn wait_for_process(ws: &TestWorkspace, what: &str) {
    crate::support::until_blocking(Duration::from_secs(20), &format!("{what} running"), || {
        ps(ws).contains(what)
    });
}

#[test]
fn exec_streams_50_mb_and_10_mb_byte_exact_and_passes_the_exit_code() {
    let podman = Podman::shared();
    let ws = workspace_with_a_sandbox(podman);
    let run = ws.pd(&[
        "exec",
        "box",
        "--",
        "sh",
        "-c",
        "yes out | head -c 50000000; yes err | head -c 10000000 >&2; exit 7",
    ]);
    cli::assert_streamed(&run, 7, 50_000_000, 10_000_000);

    // argv stays argv: nothing is interpreted by a shell on the way.
    let run = ws.pd(&[
        "exec",
        "-e",
        "X=a b;c",
        "-w",
        "/tmp",
        "box",
        "--",
        "sh",
        "-c",
        "echo \"$X\" \"$0\"; pwd",
        "$(not run)",
    ]);
    assert_eq!(
        run.stdout_text(),
        "a b;c $(not run)\n/tmp\n",
        "{}",
        run.stderr_text()
    );

    // The history has both, with exit codes and sizes, and survives (it is on disk).
    let (run, out) = ws.pd_json(&["history", "box"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let entries = out[0].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["exit_code"], 7);
    assert_eq!(entries[0]["stdout_bytes"], 50_000_000);
    assert_eq!(entries[0]["stderr_bytes"], 10_000_000);
    assert_eq!(entries[1]["command"][3], "$(not run)");
    ws.pd(&["delete", "--all"]);
}

#[test]
fn a_timeout_kills_the_remote_process_tree_and_exits_5() {
    let podman = Podman::shared();
    let ws = workspace_with_a_sandbox(podman);
    let run = ws.pd(&[
        "exec",
        "--timeout",
        "1s",
        "box",
        "--",
        "sh",
        "-c",
        "sleep 311 & sleep 312; echo never",
    ]);
    assert_eq!(run.code, Some(5), "{}", run.stderr_text());
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    assert!(
        run.stderr_text().contains("timed out after 1s"),
        "{}",
        run.stderr_text()
    );
    let processes = ps(&ws);
    assert!(
        !processes.contains("sleep 31"),
        "nothing left running: {processes}"
    );
    let (_, out) = ws.pd_json(&["history"]);
    assert_eq!(
        out[0][0]["exit_code"],
        serde_json::Value::Null,
        "killed, no exit code"
    );
    ws.pd(&["delete", "--all"]);
}

#[test]
fn ctrl_c_stops_the_remote_command_too() {
    let podman = Podman::shared();
    let ws = workspace_with_a_sandbox(podman);
    let run = cli::run(
        ws.command(&["exec", "box", "--", "sh", "-c", "echo started; sleep 321"]),
        |pid| {
            wait_for_process(&ws, "sleep 321");
            std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .unwrap();
        },
    );
    assert_eq!(run.code, Some(130), "{}", run.stderr_text());
    assert!(run.stdout_text().contains("started"));
    let processes = ps(&ws);
    assert!(!processes.contains("sleep 321"), "{processes}");
    ws.pd(&["delete", "--all"]);
}

#[test]
fn exec_in_a_missing_or_stopped_sandbox_says_what_to_do() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("box.yaml", &sandbox("box", "  state: stopped\n"));
    let run = ws.pd(&["exec", "box", "--", "true"]);
    assert_eq!(run.code, Some(4));
    assert!(
        run.stderr_text().contains("run `pocket-dock apply` first"),
        "{}",
        run.stderr_text()
    );
    ws.pd(&["apply"]);
    let run = ws.pd(&["exec", "box", "--", "true"]);
    assert_eq!(run.code, Some(4));
    assert!(
        run.stderr_text().contains("is not running"),
        "{}",
        run.stderr_text()
    );
    ws.pd(&["delete", "--all"]);
}

#[test]
fn logs_show_the_tail_and_follow_across_a_restart() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "talker.yaml",
        &sandbox(
            "talker",
            "  command: [sh, -c, 'i=0; while true; do echo \"line $i\"; echo \"err $i\" >&2; i=$((i+1)); sleep 0.2; done']\n",
        ),
    );
    ws.pd_ok(&["apply"]);
    std::thread::sleep(Duration::from_millis(1500));
    let run = ws.pd_ok(&["logs", "--tail", "2", "talker"]);
    let shown = run.stdout_text().lines().count() + run.stderr_text().lines().count();
    assert!(
        (1..=2).contains(&shown),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        !run.stdout_text().contains("line 0"),
        "only the end: {}",
        run.stdout_text()
    );
    let run = ws.pd(&["logs", "talker"]);
    assert!(
        run.stdout_text().starts_with("line 0\nline 1\n"),
        "{}",
        run.stdout_text()
    );
    assert!(
        run.stderr_text().starts_with("err 0\n"),
        "stderr apart: {}",
        run.stderr_text()
    );

    // Follow; stop the sandbox; apply starts it again (its counter restarts at 0); the
    // follower carries on with the new output, without repeating the old.
    let ws_ref = &ws;
    let run = cli::run(ws.command(&["logs", "-f", "talker"]), |pid| {
        std::thread::sleep(Duration::from_millis(1000));
        let stop = podman.podman(&[
            "stop",
            "-t",
            "0",
            &ws_ref
                .ownership()
                .container_name(pocket_dock_spec::Kind::Sandbox, "talker"),
        ]);
        assert!(
            stop.status.success(),
            "{}",
            String::from_utf8_lossy(&stop.stderr)
        );
        ws_ref.pd_ok(&["apply"]);
        // Until the second run has written a few lines (its counter restarted at 0).
        crate::support::until_blocking(Duration::from_secs(20), "a second run", || {
            let all = ws_ref.pd(&["logs", "talker"]).stdout_text();
            all.lines().filter(|l| *l == "line 2").count() == 2
        });
        std::thread::sleep(Duration::from_millis(300));
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
    });
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let text = run.stdout_text();
    // Each run's lines in order, each once: 0, 1, ..., k, then 0, 1, ..., m.
    let numbers: Vec<u32> = text
        .lines()
        .map(|l| l.trim_start_matches("line ").parse().unwrap())
        .collect();
    let restarts = numbers.windows(2).filter(|w| w[1] == 0).count();
    assert_eq!(restarts, 1, "{text}");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1 || w[1] == 0),
        "no line lost or repeated: {text}"
    );
    assert!(numbers.len() > 8, "{text}");
    ws.pd(&["delete", "--all"]);
}

// Multi-threaded: the test blocks on `ps` through the CLI while the exec runs on the runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_handle_streams_buffers_and_kills_at_once() {
    use pocket_dock::engine::StreamKind;
    use pocket_dock::sandbox::{ExecEnd, ExecRequest, Sandbox};
    let podman = Podman::shared();
    let ws = workspace_with_a_sandbox(podman);
    let sandbox = Sandbox::find(&podman.engine(), &ws.ownership(), "box")
        .await
        .unwrap();
    let request = |script: &str| ExecRequest {
        cmd: vec!["sh".into(), "-c".into(), script.into()],
        ..ExecRequest::default()
    };

    let mut handle = sandbox.spawn(request("echo one; echo two >&2; exit 4"), 1 << 20);
    let mut seen = Vec::new();
    while let Some(chunk) = handle.next_chunk().await {
        seen.push((chunk.stream, chunk.data.to_vec()));
    }
    let report = handle.wait().await.unwrap();
    assert_eq!(report.end, ExecEnd::Exited(4));
    assert_eq!(report.stdout.bytes, b"one\n", "buffered too");
    assert_eq!(report.stderr.bytes, b"two\n");
    assert!(
        seen.contains(&(StreamKind::Stdout, b"one\n".to_vec())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(StreamKind::Stderr, b"two\n".to_vec())),
        "{seen:?}"
    );

    // A capture limit is explicit: what goes past it is counted as dropped.
    let report = sandbox
        .spawn(request("head -c 100000 /dev/zero"), 1000)
        .wait()
        .await
        .unwrap();
    assert_eq!(report.stdout.bytes.len(), 1000);
    assert_eq!(report.stdout.total, 100_000);
    assert!(report.stdout.is_truncated());

    // Kill: the remote command goes too.
    let mut handle = sandbox.spawn(request("sleep 341"), 1024);
    wait_for_process(&ws, "sleep 341");
    handle.kill();
    let report = handle.wait().await.unwrap();
    assert_eq!(report.end, ExecEnd::Interrupted);
    assert!(!ps(&ws).contains("sleep 341"));
    ws.pd(&["delete", "--all"]);
}
