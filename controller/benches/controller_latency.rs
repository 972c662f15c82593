//! Controller latency, for docs/benchmarks.md: edit-to-running and kill-to-repaired, 20 runs
//! each, beside raw Podman doing the same recreate (force-remove, create, start) through the
//! same socket. Run by `scripts/bench.sh` (it provides the Podman service and the image):
//!
//!     CONTAINER_HOST=unix:///path/podman.sock BENCH_IMAGE=localhost/x:1 \
//!         POCKET_DOCK=target/release/pocket-dock cargo bench --bench controller_latency
//!
//! Not a test: it asserts nothing and prints a markdown table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark, not product code"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pocket_dock::engine::labels::{NAME, SPEC_HASH};
use pocket_dock::engine::{ContainerConfig, Engine, EngineConfig, socket};
use pocket_dock::workspace::Workspace;
use pocket_dock_spec::Kind;

const RUNS: usize = 20;

fn sandbox(image: &str, value: usize) -> String {
    format!(
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {{name: bench}}\nspec:\n  image: {image}\n  env: {{RUN: '{value}'}}\n"
    )
}

/// The sandbox's running container id and spec hash, if one runs.
async fn current(engine: &Engine, workspace: &Workspace) -> Option<(String, String)> {
    let listed = engine.list_owned(&workspace.ownership()).await.ok()?;
    listed
        .into_iter()
        .find(|(c, _)| {
            c.labels.get(NAME).map(String::as_str) == Some("bench") && c.state.is_running()
        })
        .map(|(c, _)| (c.id, c.labels.get(SPEC_HASH).cloned().unwrap_or_default()))
}

async fn wait_for(mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gave up waiting"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(samples[samples.len() / 2]);
    let p95 = ms(samples[((samples.len() as f64 * 0.95).ceil() as usize)
        .saturating_sub(1)
        .min(samples.len() - 1)]);
    (median, p95)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let host =
        std::env::var("CONTAINER_HOST").expect("CONTAINER_HOST=unix:///... of a running Podman");
    let image = std::env::var("BENCH_IMAGE").expect("BENCH_IMAGE: a local image");
    let binary =
        std::env::var("POCKET_DOCK").unwrap_or_else(|_| "../target/release/pocket-dock".into());
    let binary =
        std::fs::canonicalize(&binary).unwrap_or_else(|e| panic!("POCKET_DOCK={binary}: {e}"));
    let engine = Engine::new(&EngineConfig::new(socket::parse_host(&host).unwrap())).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".pocket-dock")).unwrap();
    let file = dir.path().join(".pocket-dock/bench.yaml");
    std::fs::write(&file, sandbox(&image, 0)).unwrap();
    let workspace = Workspace::locate(Some(dir.path()), dir.path()).unwrap();
    let mut controller = Command::new(&binary)
        .arg("controller")
        .current_dir(dir.path())
        .env("CONTAINER_HOST", &host)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(async || current(&engine, &workspace).await.is_some()).await;

    let mut edit = Vec::new();
    for run in 1..=RUNS {
        let before = current(&engine, &workspace).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&file, sandbox(&image, run)).unwrap();
        edit.push(
            wait_for(async || {
                current(&engine, &workspace)
                    .await
                    .is_some_and(|(id, hash)| id != before.0 && hash != before.1)
            })
            .await,
        );
    }
    let mut repair = Vec::new();
    for _ in 0..RUNS {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (id, _) = current(&engine, &workspace).await.unwrap();
        let (_, handle) = engine
            .inspect_owned(
                &workspace.ownership(),
                &id,
                pocket_dock::engine::Operation::ContainerRemove,
            )
            .await
            .unwrap();
        let started = Instant::now();
        engine.remove_container(&handle).await.unwrap();
        wait_for(async || {
            current(&engine, &workspace)
                .await
                .is_some_and(|(new, _)| new != id)
        })
        .await;
        repair.push(started.elapsed());
    }
    let _ = Command::new("kill")
        .args(["-TERM", &controller.id().to_string()])
        .status();
    let _ = controller.wait();

    // Raw Podman, same socket: force-remove, create and start the same kind of container.
    let own = workspace.ownership();
    let mut raw = Vec::new();
    let name = format!("raw-{}", std::process::id());
    let config = ContainerConfig::idle(Kind::Sandbox, "raw", &name, &image);
    let mut c = engine.create_container(&own, &config).await.unwrap();
    engine.start_container(&c).await.unwrap();
    for _ in 0..RUNS {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        engine.remove_container(&c).await.unwrap();
        c = engine.create_container(&own, &config).await.unwrap();
        engine.start_container(&c).await.unwrap();
        raw.push(started.elapsed());
    }
    engine.remove_container(&c).await.unwrap();
    for (_, h) in engine.list_owned(&own).await.unwrap() {
        engine.remove_container(&h).await.unwrap();
    }

    println!("| Measure ({RUNS} runs) | Median [ms] | p95 [ms] |");
    println!("|:---|---:|---:|");
    for (label, samples) in [
        ("controller: file edit -> new container running", edit),
        (
            "controller: container force-removed -> replacement running",
            repair,
        ),
        (
            "raw Podman API: force-remove + create + start (same socket)",
            raw,
        ),
    ] {
        let (median, p95) = stats(samples);
        println!("| {label} | {median:.0} | {p95:.0} |");
    }
}
