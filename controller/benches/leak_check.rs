//! Leak check, for docs/benchmarks.md: 1,000 create -> start -> exec -> remove cycles through
//! the library, with a controller running on the same workspace (every cycle is a burst of
//! Podman events for it). Every 100 cycles it samples the controller's file descriptors,
//! threads and RSS, and this process's file descriptors and threads; at the end it stops
//! the controller and looks for processes left behind. Run by `scripts/bench.sh`
//! (`BENCH_ONLY=leak`), which provides the Podman service and the image:
//!
//!     CONTAINER_HOST=unix:///path/podman.sock BENCH_IMAGE=localhost/x:1 \
//!         POCKET_DOCK=target/release/pocket-dock cargo bench --bench leak_check
//!
//! Not a test: it asserts nothing and prints markdown.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark, not product code"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pocket_dock::engine::{ContainerConfig, Engine, EngineConfig, ExecConfig, ExecOutput, socket};
use pocket_dock::workspace::Workspace;
use pocket_dock_spec::Kind;

const CYCLES: usize = 1000;
const EVERY: usize = 100;

/// (open file descriptors, threads, RSS in kB) of a process.
fn sample(pid: u32) -> (usize, u64, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (fds, field("Threads:"), field("VmRSS:"))
}

/// Processes whose command line contains `needle`, other than this one.
fn processes_with(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me.as_str())
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(needle)
                .then(|| format!("{} {}", e.file_name().to_string_lossy(), text.trim()))
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
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
    std::fs::write(
        dir.path().join(".pocket-dock/box.yaml"),
        format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {{name: box}}\nspec: {{image: {image}}}\n"
        ),
    )
    .unwrap();
    let workspace = Workspace::locate(Some(dir.path()), dir.path()).unwrap();
    let ownership = workspace.ownership();
    let mut controller = Command::new(&binary)
        .arg("controller")
        .current_dir(dir.path())
        .env("CONTAINER_HOST", &host)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let controller_pid = controller.id();
    // Let it converge its one sandbox before the cycles start.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let me = std::process::id();
    let mut rows = Vec::new();
    let started = Instant::now();
    let mut window = Instant::now();
    for cycle in 1..=CYCLES {
        let name = format!("leak-{me}-{cycle}");
        let config = ContainerConfig::idle(Kind::Run, &name, &name, &image);
        let c = engine.create_container(&ownership, &config).await.unwrap();
        engine.start_container(&c).await.unwrap();
        let result = engine
            .exec_run(
                &c,
                &ExecConfig::new(["true"]),
                ExecOutput::new(),
                Some(Duration::from_secs(30)),
            )
            .await
            .unwrap();
        assert_eq!(result.exit_code, 0);
        engine.remove_container(&c).await.unwrap();
        if cycle % EVERY == 0 {
            let (fds, threads, rss) = sample(controller_pid);
            let (own_fds, own_threads, _) = sample(me);
            let ms_per_cycle = window.elapsed().as_secs_f64() * 1000.0 / EVERY as f64;
            window = Instant::now();
            rows.push((cycle, fds, threads, rss, own_fds, own_threads, ms_per_cycle));
        }
    }
    let total = started.elapsed();

    let _ = Command::new("kill")
        .args(["-TERM", &controller_pid.to_string()])
        .status();
    let _ = controller.wait();
    for (_, c) in engine.list_owned(&ownership).await.unwrap() {
        engine.remove_container(&c).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let left_ours = processes_with(&binary.display().to_string());
    let store = std::env::var("BENCH_STORE").unwrap_or_default();
    let conmons_early = ConmonCount::now(&store);
    // Podman keeps an exec session's conmon for its exit_command_delay (5 s by
    // default); a second look tells that apart from a leak.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let conmons_late = ConmonCount::now(&store);

    println!(
        "{CYCLES} cycles (create, start, exec `true`, remove) in {:.0} s, a controller running on the same workspace",
        total.as_secs_f64()
    );
    println!();
    println!(
        "| cycles | controller fds | controller threads | controller RSS [kB] | library fds | library threads | ms per cycle |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (cycle, fds, threads, rss, own_fds, own_threads, ms) in &rows {
        println!("| {cycle} | {fds} | {threads} | {rss} | {own_fds} | {own_threads} | {ms:.0} |");
    }
    println!();
    println!(
        "pocket-dock processes left after the controller stopped: {}",
        left_ours.len()
    );
    for p in &left_ours {
        println!("    {p}");
    }
    println!(
        "conmon processes of this store 2 s after the last cycle: {} ({} of exec sessions); 10 s after: {} ({} of exec sessions); on the machine: {}",
        conmons_early.of_store,
        conmons_early.of_exec,
        conmons_late.of_store,
        conmons_late.of_exec,
        conmons_late.on_machine
    );
}

/// Podman's conmon processes, counted rather than listed: the bench reports
/// whether they go away, not their command lines.
struct ConmonCount {
    of_store: usize,
    of_exec: usize,
    on_machine: usize,
}

impl ConmonCount {
    fn now(store: &str) -> Self {
        let all = processes_with("conmon");
        let ours: Vec<&String> = all
            .iter()
            .filter(|p| store.is_empty() || p.contains(store))
            .collect();
        Self {
            of_store: ours.len(),
            of_exec: ours.iter().filter(|p| p.contains("--exec")).count(),
            on_machine: all.len(),
        }
    }
}
