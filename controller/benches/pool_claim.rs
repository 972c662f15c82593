//! Warm pools, for docs/benchmarks.md. Run by `scripts/bench.sh` (`BENCH_ONLY=pool`), which
//! provides the Podman service and the image:
//!
//!     CONTAINER_HOST=unix:///path/podman.sock BENCH_IMAGE=localhost/x:1 \
//!         POCKET_DOCK=target/release/pocket-dock cargo bench --bench pool_claim
//!
//! In one run, on one socket:
//! 1. claim latency from a pool of 10 (`BENCH_CLAIMS`, default 200): from the call to a
//!    sandbox that has run `true` in an exec, through the SDK (`Pool::claim`, then
//!    `Sandbox::find` and an exec) and through the CLI (`pocket-dock claim` then
//!    `pocket-dock exec NAME -- true`, two processes); the pool is refilled between claims,
//!    outside the measured time; beside them the cold path measured the same way: create
//!    and start an idle container through the API and exec `true` in it, and
//!    `podman --remote run --rm IMAGE true`;
//! 2. 100 claims back to back (`BENCH_BURST`) with a controller running: how low the pool
//!    drains, how many claims found it empty (cold), and how long until it is full again;
//! 3. the memory of one idle member: its cgroup's usage (`podman stats`), and the host's
//!    MemAvailable before and after the pool was filled, divided by its size.
//!
//! Not a test: it asserts nothing it does not need and prints markdown tables.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark, not product code"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pocket_dock::engine::{ContainerConfig, Engine, EngineConfig, ExecConfig, ExecOutput, socket};
use pocket_dock::pool::{ClaimOptions, EmptyPool};
use pocket_dock::sandbox::Sandbox;
use pocket_dock::workspace::Workspace;
use pocket_dock::{ApplyOptions, reconcile::Readiness};
use pocket_dock_spec::Kind;

const SIZE: u32 = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stats(samples: &[Duration]) -> (f64, f64, f64) {
    let mut s = samples.to_vec();
    s.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(s[((s.len() as f64 * q).ceil() as usize).saturating_sub(1)]);
    (at(0.5), at(0.95), ms(*s.last().unwrap()))
}

fn row(name: &str, samples: &[Duration]) {
    let (p50, p95, max) = stats(samples);
    println!(
        "| {name} | {} | {p50:.1} | {p95:.1} | {max:.1} |",
        samples.len()
    );
}

fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let host = std::env::var("CONTAINER_HOST").expect("CONTAINER_HOST");
    let image = std::env::var("BENCH_IMAGE").expect("BENCH_IMAGE");
    let pd = std::env::var("POCKET_DOCK").expect("POCKET_DOCK");
    let claims = env_usize("BENCH_CLAIMS", 200);
    let cli_claims = env_usize("BENCH_CLI_CLAIMS", claims.min(50));
    let burst = env_usize("BENCH_BURST", 100);
    let engine = Engine::new(&EngineConfig::new(socket::parse_host(&host).unwrap())).unwrap();

    let dir = tempfile::Builder::new()
        .prefix("pd-pool-bench-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join(".pocket-dock")).unwrap();
    std::fs::write(
        dir.path().join(".pocket-dock/pool.yaml"),
        format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Template\nmetadata: {{name: runner}}\nspec:\n  sandbox:\n    image: {image}\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Pool\nmetadata: {{name: bench}}\nspec:\n  template: runner\n  size: {SIZE}\n"
        ),
    )
    .unwrap();
    let workspace = Workspace::open(dir.path()).unwrap();
    let pool = workspace.pool(&engine, "bench");
    let pd_cmd = |args: &[&str]| {
        let mut cmd = Command::new(&pd);
        cmd.arg("--host").arg(&host).arg("-C").arg(dir.path());
        cmd.args(args).stdin(Stdio::null());
        cmd
    };

    // 3 (first part): the host's memory before and after the pool is filled.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = mem_available_kib();
    let filled = Instant::now();
    workspace
        .apply(
            &engine,
            ApplyOptions {
                readiness: Readiness::Skip,
                ..ApplyOptions::default()
            },
        )
        .await
        .unwrap();
    let fill_time = filled.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = mem_available_kib();
    assert_eq!(pool.status().await.unwrap().ready, SIZE);

    // 1. Claim latency, SDK.
    let exec_true = |sandbox: Sandbox| {
        let engine = engine.clone();
        async move {
            let r = engine
                .exec_run(
                    sandbox.container(),
                    &ExecConfig::new(["true"]),
                    ExecOutput::new(),
                    Some(Duration::from_secs(20)),
                )
                .await
                .unwrap();
            assert_eq!(r.exit_code, 0);
        }
    };
    let mut claim_only = Vec::new();
    let mut claim_exec = Vec::new();
    let mut cold = 0;
    for _ in 0..claims {
        let started = Instant::now();
        let claimed = pool.claim(&ClaimOptions::default()).await.unwrap();
        claim_only.push(started.elapsed());
        let sandbox = Sandbox::find(&engine, &workspace.ownership(), &claimed.name)
            .await
            .unwrap();
        exec_true(sandbox).await;
        claim_exec.push(started.elapsed());
        cold += usize::from(claimed.cold);
        workspace.release(&engine, &claimed.name).await.unwrap();
        pool.refill(true).await.unwrap();
    }

    // 1. Claim latency, CLI: two processes, as a shell script would.
    let mut cli = Vec::new();
    for _ in 0..cli_claims {
        let started = Instant::now();
        let out = pd_cmd(&["claim", "bench", "--no-refill"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let exec = pd_cmd(&["exec", &name, "--", "true"]).status().unwrap();
        assert!(exec.success());
        cli.push(started.elapsed());
        workspace.release(&engine, &name).await.unwrap();
        pool.refill(true).await.unwrap();
    }
    let mut cli_claim_only = Vec::new();
    for _ in 0..cli_claims {
        let started = Instant::now();
        let out = pd_cmd(&["claim", "bench", "--no-refill"]).output().unwrap();
        cli_claim_only.push(started.elapsed());
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        workspace.release(&engine, &name).await.unwrap();
        pool.refill(true).await.unwrap();
    }

    // 1. The cold paths, same socket, same image.
    let mut api_cold = Vec::new();
    let own = workspace.ownership();
    for i in 0..claims.min(50) {
        let name = format!("pd-bench-cold-{i}");
        let started = Instant::now();
        let config = ContainerConfig::idle(Kind::Run, &name, &name, &image);
        let c = engine.create_container(&own, &config).await.unwrap();
        engine.start_container(&c).await.unwrap();
        let r = engine
            .exec_run(&c, &ExecConfig::new(["true"]), ExecOutput::new(), None)
            .await
            .unwrap();
        assert_eq!(r.exit_code, 0);
        api_cold.push(started.elapsed());
        engine.remove_container(&c).await.unwrap();
    }
    let mut podman_run = Vec::new();
    for _ in 0..claims.min(30) {
        let started = Instant::now();
        let s = Command::new("podman")
            .args(["--url", &host, "run", "--rm", &image, "true"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(s.success());
        podman_run.push(started.elapsed());
    }

    println!("### Claim from a pool of {SIZE}: from the call to a sandbox that ran an exec (ms)");
    println!();
    println!("| path | runs | p50 | p95 | max |");
    println!("|---|---|---|---|---|");
    row("SDK `Pool::claim` (handover only)", &claim_only);
    row("SDK `Pool::claim` + exec `true`", &claim_exec);
    row(
        "CLI `pocket-dock claim` (process, handover only)",
        &cli_claim_only,
    );
    row(
        "CLI `pocket-dock claim` + `pocket-dock exec NAME -- true` (2 processes)",
        &cli,
    );
    row(
        "cold through the API: create + start + exec `true` (SDK engine)",
        &api_cold,
    );
    row(
        "`podman --remote run --rm IMAGE true` (same socket)",
        &podman_run,
    );
    println!();
    println!("SDK claims that found the pool empty (cold): {cold} of {claims}.");

    // 2. 100 claims back to back, a controller refilling.
    pool.refill(true).await.unwrap();
    let mut controller = pd_cmd(&["controller"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let watcher = {
        let engine = engine.clone();
        let root = dir.path().to_path_buf();
        tokio::spawn(async move {
            let ws = Workspace::open(&root).unwrap();
            let mut low = SIZE;
            let mut samples = Vec::new();
            let started = Instant::now();
            loop {
                let Ok(s) = ws.pool(&engine, "bench").status().await else {
                    continue;
                };
                low = low.min(s.ready);
                samples.push((started.elapsed(), s.ready));
                if started.elapsed() > Duration::from_secs(600) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                if samples.len() > 4
                    && s.ready == SIZE
                    && low < SIZE
                    && started.elapsed() > Duration::from_secs(1)
                {
                    // full again after draining
                    break;
                }
            }
            (low, samples)
        })
    };
    let burst_started = Instant::now();
    let mut burst_cold = 0;
    let mut names = Vec::new();
    let mut burst_times = Vec::new();
    for _ in 0..burst {
        let started = Instant::now();
        let claimed = pool
            .claim(&ClaimOptions {
                when_empty: EmptyPool::Cold,
                ..ClaimOptions::default()
            })
            .await
            .unwrap();
        burst_times.push(started.elapsed());
        burst_cold += usize::from(claimed.cold);
        names.push(claimed.name);
    }
    let burst_took = burst_started.elapsed();
    let (low, samples) = watcher.await.unwrap();
    let full_at = samples
        .iter()
        .rev()
        .find(|(_, r)| *r < SIZE)
        .map(|(t, _)| *t);
    let refill_after_burst = full_at.map(|t| t.saturating_sub(burst_took));
    let _ = controller.kill();
    let _ = controller.wait();
    for name in names {
        workspace.release(&engine, &name).await.unwrap();
    }

    println!();
    println!("### {burst} claims back to back from a pool of {SIZE}, a controller refilling");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| the {burst} claims took | {:.0} ms |",
        burst_took.as_secs_f64() * 1000.0
    );
    let (p50, p95, max) = stats(&burst_times);
    println!("| one claim: p50 / p95 / max | {p50:.1} / {p95:.1} / {max:.1} ms |");
    println!("| claims that found the pool empty (made cold) | {burst_cold} |");
    println!("| lowest ready count seen (sampled every 50 ms) | {low} of {SIZE} |");
    match refill_after_burst {
        Some(t) => println!(
            "| full again after the last claim | {:.0} ms |",
            t.as_secs_f64() * 1000.0
        ),
        None => println!("| full again after the last claim | not seen |"),
    }
    println!(
        "| filling the empty pool by `apply` (10 members) | {:.0} ms |",
        fill_time.as_secs_f64() * 1000.0
    );

    // 3. Memory of one idle member.
    pool.refill(true).await.unwrap();
    let out = Command::new("podman")
        .args([
            "--url",
            &host,
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}}\t{{.MemUsage}}",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let members: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("pd-bench-"))
        .filter_map(|l| l.split('\t').nth(1))
        .map(|m| m.split(" / ").next().unwrap_or(m).trim().to_string())
        .collect();
    println!();
    println!("### Memory of one idle pooled sandbox");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| its cgroup's memory usage (`podman stats`, each of {}) | {} |",
        members.len(),
        members.join(", ")
    );
    println!(
        "| host MemAvailable drop per member (filling the pool of {SIZE}; conmon and runtime included) | {:.1} MiB |",
        (before.saturating_sub(after)) as f64 / 1024.0 / f64::from(SIZE)
    );
    let _ = pd_cmd(&["delete", "--all"]).status();
}
