//! Runs the real `pocket-dock` binary and records what it did: stdout, stderr, exit code,
//! wall time and peak RSS (VmHWM, sampled from /proc while it runs).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct CliRun {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: Option<i32>,
    pub elapsed: Duration,
    pub peak_rss_kb: u64,
}

impl CliRun {
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_pocket-dock")
}

/// A command for the binary, run from `cwd`, with `env` added.
pub fn command(cwd: &Path, env: &[(String, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("CONTAINER_HOST")
        .env_remove("DOCKER_HOST")
        .env_remove("POCKET_DOCK_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the binary with `args` in `cwd` to completion.
pub fn pd(cwd: &Path, env: &[(String, String)], args: &[&str]) -> CliRun {
    run(command(cwd, env, args), |_| {})
}

/// Runs `cmd` to completion, draining both pipes on their own threads (so neither can
/// fill up and stall the child) while sampling the child's peak RSS.
pub fn run(mut cmd: Command, on_start: impl FnOnce(u32)) -> CliRun {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pocket-dock");
    let pid = child.id();
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        out_pipe.read_to_end(&mut buf).expect("read stdout");
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        err_pipe.read_to_end(&mut buf).expect("read stderr");
        buf
    });
    on_start(pid);
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak = peak.max(kb);
        }
        match child.try_wait().expect("wait for pocket-dock") {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    CliRun {
        stdout: out.join().expect("stdout thread"),
        stderr: err.join().expect("stderr thread"),
        code: status.code(),
        elapsed: started.elapsed(),
        peak_rss_kb: peak,
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Checks a run of `yes out | head -c OUT; yes err | head -c ERR >&2; exit CODE`: the exit
/// code, both streams byte-exact and apart, and a peak RSS under 64 MB.
pub fn assert_streamed(run: &CliRun, code: i32, out: usize, err: usize) {
    let head = |b: &[u8]| String::from_utf8_lossy(&b[..200.min(b.len())]).into_owned();
    assert_eq!(run.code, Some(code), "{}", head(&run.stderr));
    assert_eq!(run.stdout.len(), out);
    assert_eq!(run.stderr.len(), err);
    assert!(
        run.stdout.chunks(4).all(|c| c == b"out\n"),
        "stdout is only `out` lines"
    );
    assert!(
        run.stderr.chunks(4).all(|c| c == b"err\n"),
        "stderr is only `err` lines"
    );
    assert!(
        run.peak_rss_kb > 0 && run.peak_rss_kb < 64 * 1024,
        "peak RSS {} kB",
        run.peak_rss_kb
    );
}

/// The visible subcommands of `words`, as the binary's own `--help` lists them (clap's
/// `help` excepted; empty for a leaf): clap's tree seen from outside, so that a command
/// added later is expected by the tests that walk it without being named there.
pub fn subcommands(cwd: &Path, words: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
    args.push("--help");
    let run = pd(cwd, &[], &args);
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr_text());
    let text = run.stdout_text();
    let Some((_, listed)) = text.split_once("Commands:\n") else {
        return Vec::new();
    };
    listed
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}
