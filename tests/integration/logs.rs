//! Bounded logs against the real engine: a sandbox that writes far past its `logs` limit
//! loses its oldest output, `logs` (and `logs -f`, following while the engine drops old
//! output) shows what is kept in order, the log on disk stays within the limit, and a
//! sandbox that says nothing gets the default limit.

use std::path::Path;
use std::time::Duration;

use crate::support::cli;
use crate::support::engine::{EngineUnderTest, under_test};
use crate::support::workspace::{TestWorkspace, sandbox};
use crate::support::{Podman, until_blocking};

/// Numbered lines written by `chatty` once `/tmp/go` exists, then `done`.
const LINES: u32 = 1000;

/// `chatty`'s limit: 16 KiB files, 2 of them (one of 32 KiB on Podman).
const MAX_SIZE: u64 = 16 << 10;
const MAX_FILES: u64 = 2;

fn chatty() -> String {
    // About 75 bytes a line, some 120 with the engine's framing: 1000 lines pass the 32 KiB
    // bound three times over. At 100 lines a second a file of 16 or 32 KiB lasts over a
    // second, so a follower that reads at least that often misses nothing.
    let pad = "x".repeat(60);
    sandbox(
        "chatty",
        &format!(
            "  logs: {{maxSize: 16Ki, maxFiles: {MAX_FILES}}}\n  command: [sh, -c, 'while [ ! -e /tmp/go ]; do sleep 0.1; done; i=1; while [ $i -le {LINES} ]; do printf \"line %05d {pad}\\n\" $i; if [ $((i % 10)) = 0 ]; then sleep 0.1; fi; i=$((i+1)); done; echo done; exec sleep 100000']\n"
        ),
    )
}

/// The numbers of `line NNNNN ...` lines, and whether anything else but `done` (last) came.
fn numbers(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line == "done" {
            continue;
        }
        let n = line
            .strip_prefix("line ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("an unexpected line {line:?} in:\n{text}"));
        out.push(n);
    }
    out
}

/// The container's inspect output (one object), through the engine's own CLI.
fn inspect(podman: &Podman, container: &str) -> serde_json::Value {
    let out = podman.podman(&["inspect", container]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    all[0].clone()
}

/// Bytes of the log file and of its rotated siblings (Docker's `NAME.1`, ...).
fn bytes_on_disk(log_path: &Path) -> u64 {
    let name = log_path.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(log_path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn bounded_logs_drop_the_oldest_output_and_logs_follows_across_the_drop() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("chatty.yaml", &chatty());
    ws.write("quiet.yaml", &sandbox("quiet", ""));
    ws.pd_ok(&["apply"]);
    let name = |s: &str| {
        ws.ownership()
            .container_name(pocket_dock_spec::Kind::Sandbox, s)
    };
    let engine = under_test();

    // The limit as the engine holds it: Podman one file of size x files, Docker both.
    let config = |s: &str| inspect(podman, &name(s))["HostConfig"]["LogConfig"].clone();
    let (chatty_config, quiet_config) = (config("chatty"), config("quiet"));
    match engine {
        EngineUnderTest::Podman => {
            assert_eq!(chatty_config["Type"], "k8s-file", "{chatty_config}");
            assert_eq!(chatty_config["Size"], "32.77kB", "{chatty_config}");
            // The default: 10Mi x 3.
            assert_eq!(quiet_config["Type"], "k8s-file", "{quiet_config}");
            assert_eq!(quiet_config["Size"], "31.46MB", "{quiet_config}");
        }
        EngineUnderTest::Docker => {
            assert_eq!(chatty_config["Type"], "json-file", "{chatty_config}");
            assert_eq!(chatty_config["Config"]["max-size"], "16384");
            assert_eq!(chatty_config["Config"]["max-file"], "2");
            assert_eq!(quiet_config["Type"], "json-file", "{quiet_config}");
            assert_eq!(quiet_config["Config"]["max-size"], "10485760");
            assert_eq!(quiet_config["Config"]["max-file"], "3");
        }
    }

    // Follow from before the first line, then let it write: the follower keeps going
    // while the engine drops old output, and shows lines once each, in order.
    let ws_ref = &ws;
    let followed = cli::run(ws.command(&["logs", "-f", "chatty"]), |pid| {
        std::thread::sleep(Duration::from_millis(500));
        ws_ref.pd_ok(&["exec", "chatty", "--", "touch", "/tmp/go"]);
        until_blocking(Duration::from_secs(60), "chatty to finish", || {
            ws_ref
                .pd(&["logs", "--tail", "1", "chatty"])
                .stdout_text()
                .contains("done")
        });
        // Podman's follower polls the file every 250 ms.
        std::thread::sleep(Duration::from_millis(1000));
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
    });
    assert_eq!(followed.code, Some(0), "{}", followed.stderr_text());
    let text = followed.stdout_text();
    assert!(text.ends_with("done\n"), "followed to the end: {text}");
    let seen = numbers(&text);
    assert!(
        seen.windows(2).all(|w| w[1] > w[0]),
        "in order, none twice: {seen:?}"
    );
    assert_eq!(seen.first(), Some(&1), "{text}");
    assert_eq!(seen.last(), Some(&LINES), "{text}");
    // Docker follows its rotated files and misses nothing. On Podman, conmon empties the
    // file when full, and what came after pocket-dock's last read (every 100 ms) and
    // before that is gone: a short gap per drop, never a whole file.
    let gaps: Vec<(u32, u32)> = seen
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    match engine {
        EngineUnderTest::Docker => assert!(gaps.is_empty(), "{gaps:?}"),
        EngineUnderTest::Podman => {
            assert!(gaps.len() <= 5, "one gap per drop at most: {gaps:?}");
            assert!(
                gaps.iter().all(|(a, b)| b - a < 100),
                "each gap under a second of output: {gaps:?}"
            );
        }
    }

    // What is kept: a run of the newest lines, the oldest gone.
    let kept = ws.pd_ok(&["logs", "chatty"]).stdout_text();
    assert!(kept.ends_with("done\n"), "{kept}");
    let kept_numbers = numbers(&kept);
    assert!(!kept_numbers.contains(&1), "the first line is gone: {kept}");
    assert!(
        kept_numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {kept_numbers:?}"
    );
    if let Some(last) = kept_numbers.last() {
        assert_eq!(*last, LINES, "{kept}");
    }
    assert!(
        kept_numbers.len() < 600,
        "at most 32 KiB of lines: {}",
        kept_numbers.len()
    );

    // And on disk: within size x files (Docker may pass a file's size by one line before
    // it rotates).
    // Docker says `LogPath`; Podman's own inspect keeps it in its `LogConfig`.
    let details = inspect(podman, &name("chatty"));
    let log_path = details["LogPath"]
        .as_str()
        .or_else(|| details["HostConfig"]["LogConfig"]["Path"].as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| panic!("no log path: {details}"))
        .to_string();
    let on_disk = bytes_on_disk(Path::new(&log_path));
    let slack = match engine {
        EngineUnderTest::Podman => 0,
        EngineUnderTest::Docker => 512 * MAX_FILES,
    };
    assert!(
        on_disk <= MAX_SIZE * MAX_FILES + slack,
        "{on_disk} bytes in {log_path}*"
    );
    ws.pd(&["delete", "--all"]);
}
