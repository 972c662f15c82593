//! Session round trip, for docs/benchmarks.md: how long `echo hi` takes through an open
//! session, measured in this process from the call to the command's exit, as `Session::run`
//! and as the JSON-lines protocol (`serve_json_lines` over an in-memory pipe: what
//! `pocket-dock session` serves on stdin/stdout). Beside it, in the same run on the same
//! sandbox: the same command as an exec through the API from this process (create, start,
//! inspect: what every `exec` pays), and `podman --remote exec` of it (a process per
//! command, as a tool without a session would do). Run by `scripts/bench.sh`
//! (`BENCH_ONLY=session`), which provides the Podman service and the image:
//!
//!     CONTAINER_HOST=unix:///path/podman.sock BENCH_IMAGE=localhost/x:1 \
//!         POCKET_DOCK=target/release/pocket-dock cargo bench --bench session_roundtrip
//!
//! `BENCH_ROUNDS` (default 200) commands each after 10 warm-up ones; `podman exec` gets a
//! quarter of them (each is a process start). Not a test: it asserts nothing and prints
//! markdown.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark, not product code"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pocket_dock::engine::{Engine, EngineConfig, ExecConfig, ExecOutput, socket};
use pocket_dock::sandbox::Sandbox;
use pocket_dock::workspace::Workspace;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WARMUP: usize = 10;

/// (p50, p95, mean) in milliseconds.
fn summary(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        ms(samples[index])
    };
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    (at(0.50), at(0.95), mean)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let host =
        std::env::var("CONTAINER_HOST").expect("CONTAINER_HOST=unix:///... of a running Podman");
    let image = std::env::var("BENCH_IMAGE").expect("BENCH_IMAGE: a local image");
    let binary =
        std::env::var("POCKET_DOCK").unwrap_or_else(|_| "../target/release/pocket-dock".into());
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let engine = Engine::new(&EngineConfig::new(socket::parse_host(&host).unwrap())).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".pocket-dock")).unwrap();
    std::fs::write(
        dir.path().join(".pocket-dock/box.yaml"),
        format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {{name: box}}\nspec: {{image: {image}}}\n"
        ),
    )
    .unwrap();
    let pd = |args: &[&str]| {
        let status = Command::new(&binary)
            .args(args)
            .current_dir(dir.path())
            .env("CONTAINER_HOST", &host)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pocket-dock {args:?}");
    };
    pd(&["apply"]);
    let workspace = Workspace::locate(Some(dir.path()), dir.path()).unwrap();
    let sandbox = Sandbox::find(&engine, &workspace.ownership(), "box")
        .await
        .unwrap();

    // Session::run: one shell, one command after another.
    let mut session = sandbox.open_session(None, None).await.unwrap();
    let mut session_runs = Vec::new();
    for round in 0..WARMUP + rounds {
        let started = Instant::now();
        let done = session.run("echo hi", None, |_, _| {}).await.unwrap();
        let took = started.elapsed();
        assert_eq!(done.exit_code, Some(0));
        assert_eq!(done.stdout, b"hi\n");
        if round >= WARMUP {
            session_runs.push(took);
        }
    }
    // The same with a process started for it (`echo` above is the shell's builtin), and a
    // check that a round trip waits for its command: `sleep 0.05` takes at least 50 ms.
    let mut process_runs = Vec::new();
    for round in 0..WARMUP + rounds {
        let started = Instant::now();
        let done = session.run("/bin/echo hi", None, |_, _| {}).await.unwrap();
        let took = started.elapsed();
        assert_eq!(done.stdout, b"hi\n");
        if round >= WARMUP {
            process_runs.push(took);
        }
    }
    let started = Instant::now();
    session.run("sleep 0.05", None, |_, _| {}).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
    session.close(None).await.unwrap();

    // The JSON-lines protocol: a request line in, events out until this id's `exit`.
    let session = sandbox.open_session(None, None).await.unwrap();
    let (mut requests, server_in) = tokio::io::duplex(64 * 1024);
    let (server_out, events) = tokio::io::duplex(64 * 1024);
    let client = async move {
        let mut lines = BufReader::new(events).lines();
        let mut samples = Vec::new();
        for round in 0..WARMUP + rounds {
            let started = Instant::now();
            let request = format!("{{\"id\": \"{round}\", \"run\": \"echo hi\"}}\n");
            requests.write_all(request.as_bytes()).await.unwrap();
            loop {
                let line = lines.next_line().await.unwrap().expect("an event");
                let event: serde_json::Value = serde_json::from_str(&line).unwrap();
                if event["id"] == round.to_string().as_str() && event.get("exit").is_some() {
                    assert_eq!(event["exit"], 0, "{line}");
                    break;
                }
            }
            if round >= WARMUP {
                samples.push(started.elapsed());
            }
        }
        requests.write_all(b"{\"close\": true}\n").await.unwrap();
        while lines.next_line().await.unwrap().is_some() {}
        samples
    };
    let server = session.serve_json_lines(BufReader::new(server_in), server_out, None);
    let (served, mut protocol_runs) = tokio::join!(server, client);
    served.unwrap();

    // An exec per command through the API, from this process.
    let mut exec_runs = Vec::new();
    for round in 0..WARMUP + rounds {
        let started = Instant::now();
        let result = engine
            .exec_run(
                sandbox.container(),
                &ExecConfig::new(["echo", "hi"]),
                ExecOutput::new(),
                Some(Duration::from_secs(30)),
            )
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(result.exit_code, 0);
        if round >= WARMUP {
            exec_runs.push(took);
        }
    }

    // `podman --remote exec`: a process per command, through the same socket.
    let container = sandbox.container().name().to_string();
    let mut podman_runs = Vec::new();
    for round in 0..WARMUP + rounds.div_ceil(4) {
        let started = Instant::now();
        let out = Command::new("podman")
            .args(["--url", &host, "exec", &container, "echo", "hi"])
            .env_remove("CONTAINER_HOST")
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(out.status.success(), "podman exec");
        assert_eq!(out.stdout, b"hi\n");
        if round >= WARMUP {
            podman_runs.push(took);
        }
    }
    pd(&["delete", "--all"]);

    println!("| `echo hi` in a running sandbox | runs | p50 [ms] | p95 [ms] | mean [ms] |");
    println!("|:---|---:|---:|---:|---:|");
    for (what, samples) in [
        ("session: `Session::run` (in-process)", &mut session_runs),
        (
            "session: `Session::run` of `/bin/echo hi` (a process)",
            &mut process_runs,
        ),
        (
            "session: JSON-lines protocol (in-process)",
            &mut protocol_runs,
        ),
        ("exec through the API (in-process)", &mut exec_runs),
        ("`podman --remote exec` (same socket)", &mut podman_runs),
    ] {
        let (p50, p95, mean) = summary(samples);
        println!(
            "| {what} | {} | {p50:.2} | {p95:.2} | {mean:.2} |",
            samples.len()
        );
    }
}
