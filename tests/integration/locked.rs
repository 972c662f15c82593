//! Untrusted code, against real Podman: each promise of the `locked` profile is tried from
//! inside a running sandbox, and the escape is seen refused (a user namespace and a
//! non-root user, a read-only root with a small `/tmp`, no capabilities or new privileges,
//! the `strict` system-call filter, pids and memory limits, no network); desired state is
//! out of reach of every sandbox, locked or not; the workspace policy floor refuses a
//! sandbox that asks for less and touches nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::support::Podman;
use crate::support::engine::{EngineUnderTest, Need, requires, under_test};
use crate::support::poll::until;
use crate::support::workspace::{TestWorkspace, sandbox};
use pocket_dock::engine::Capability;

/// The calls the `strict` filter must refuse (issue 15's list).
const DENIED: [&str; 11] = [
    "ptrace",
    "bpf",
    "keyctl",
    "add_key",
    "unshare",
    "mount",
    "setns",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
];

const EPERM: &str = "1";

/// Builds the static system-call probe (tests/integration/probe) into `dir`.
fn build_probe(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/integration/probe/syscall_probe.rs");
    let out = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args([
            "--edition",
            "2024",
            "-O",
            "-C",
            "target-feature=+crt-static",
            "-o",
        ])
        .arg(dir.join("syscall-probe"))
        .arg(&source)
        .output()
        .expect("rustc runs");
    assert!(
        out.status.success(),
        "building the probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Opens the workspace to every user, so that a write refused inside a sandbox is refused
/// by the mask or the mount, not by the temp folder's 0700.
fn open_to_all(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// `sh -c script` in `name`, stdout and stderr together.
async fn sh(ws: &TestWorkspace, podman: &Podman, name: &str, script: &str) -> (i64, String) {
    let (code, out) = ws
        .exec(podman, name, &["sh", "-c", &format!("({script}) 2>&1")])
        .await;
    (code, out.trim().to_string())
}

/// `name errno` lines of the probe as a map.
fn probe_results(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, errno)| (name.to_string(), errno.to_string()))
        .collect()
}

fn status(ws: &TestWorkspace, name: &str) -> serde_json::Value {
    let path = ws.path(&format!(".pocket-dock/status/sandbox/{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    pocket_dock_spec::yaml::parse(&text, Default::default())
        .ok()
        .and_then(|d| d.first().map(|d| d.root.to_json()))
        .unwrap_or_default()
}

fn ready_reason(status: &serde_json::Value) -> String {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_default()
        .to_string()
}

const POLICY: &str = "---
apiVersion: pocket-dock.dev/v1alpha1
kind: Workspace
metadata:
  name: jailhouse
spec:
  policy:
    profile: locked
    enforce: true
    limits:
      pids: 48
";

#[tokio::test]
async fn a_locked_sandbox_refuses_every_escape_tried_from_inside() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    build_probe(&ws.path("tools"));
    std::fs::create_dir_all(ws.path(".git/hooks")).unwrap();
    for dir in ["", ".pocket-dock", ".git", ".git/hooks"] {
        open_to_all(&ws.path(dir));
    }
    // Under the policy floor, with no `security` of its own: the policy's `locked` applies.
    // The workspace root is mounted writable, as `init`'s example does.
    ws.write(
        "jail.yaml",
        &format!(
            "{POLICY}{}",
            sandbox(
                "jail",
                "  workdir: /work\n  mounts:\n    - {type: bind, source: ., target: /work}\n    - {type: bind, source: tools, target: /tools, readOnly: true}\n"
            )
        ),
    );
    ws.pd_ok(&["apply"]);

    // A non-root user, in a user namespace of its own where the engine maps one.
    assert_eq!(
        sh(&ws, podman, "jail", "id -u; id -g").await,
        (0, "65534\n65534".into())
    );
    if under_test() == EngineUnderTest::Podman {
        let (_, map) = sh(&ws, podman, "jail", "cat /proc/self/uid_map").await;
        let first: Vec<&str> = map.split_whitespace().collect();
        assert_eq!(first.len(), 3, "{map}");
        assert_eq!(first[0], "0", "{map}");
        assert_ne!(first[1], "0", "container root is not host root: {map}");
        assert_ne!(
            first[2], "4294967295",
            "not the host's whole id range: {map}"
        );
    }

    // Read-only root; /tmp writable but small.
    let (code, out) = sh(&ws, podman, "jail", "touch /etc/escape").await;
    assert_ne!(code, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    assert_eq!(
        sh(&ws, podman, "jail", "echo ok > /tmp/x && cat /tmp/x").await,
        (0, "ok".into())
    );
    let (code, out) = sh(
        &ws,
        podman,
        "jail",
        "dd if=/dev/zero of=/tmp/big bs=1M count=100",
    )
    .await;
    assert_ne!(code, 0, "100 MiB fit in /tmp: {out}");
    assert!(out.contains("No space left on device"), "{out}");
    sh(&ws, podman, "jail", "rm -f /tmp/big").await;

    // No capabilities, no new privileges, a seccomp filter.
    let (_, caps) = sh(
        &ws,
        podman,
        "jail",
        "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status",
    )
    .await;
    assert!(caps.contains("CapEff:\t0000000000000000"), "{caps}");
    assert!(caps.contains("CapBnd:\t0000000000000000"), "{caps}");
    assert!(caps.contains("NoNewPrivs:\t1"), "{caps}");
    assert!(caps.contains("Seccomp:\t2"), "{caps}");

    // The strict filter: every listed call refused with EPERM.
    let (code, out) = sh(
        &ws,
        podman,
        "jail",
        &format!("/tools/syscall-probe {}", DENIED.join(" ")),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let results = probe_results(&out);
    for name in DENIED {
        assert_eq!(
            results.get(name).map(String::as_str),
            Some(EPERM),
            "{name}: {out}"
        );
    }

    // Desired state and the repository: readable, never writable.
    let (code, out) = sh(
        &ws,
        podman,
        "jail",
        "ls /work/.pocket-dock && echo x > /work/.pocket-dock/evil.yaml",
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("jail.yaml"),
        "the declarations are readable: {out}"
    );
    assert!(out.contains("Read-only file system"), "{out}");
    let (code, out) = sh(&ws, podman, "jail", "echo x > /work/.git/hooks/pre-commit").await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    // The rest of the workspace is as writable as its owner made it.
    assert_eq!(
        sh(
            &ws,
            podman,
            "jail",
            "echo ok > /work/output.txt && echo done"
        )
        .await,
        (0, "done".into())
    );
    assert!(!ws.path(".pocket-dock/evil.yaml").exists());

    // No network but loopback.
    assert_eq!(
        sh(
            &ws,
            podman,
            "jail",
            "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
        )
        .await,
        (0, "lo".into())
    );

    // The pids limit (the policy's 48) stops a fork bomb; the sandbox survives it. Last:
    // the sleeps hold their pids for a while.
    let (_, out) = sh(
        &ws,
        podman,
        "jail",
        "for i in $(seq 100); do sleep 2 & done; wait",
    )
    .await;
    assert!(
        out.contains("can't fork") || out.contains("Resource temporarily unavailable"),
        "{out}"
    );
    until(
        Duration::from_secs(20),
        "the sandbox forks again after the bomb",
        || async { sh(&ws, podman, "jail", "echo alive").await == (0, "alive".into()) },
    )
    .await;
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn the_strict_filter_is_what_refuses_the_calls() {
    // The same probe under Podman's default filter gets each call's own answer: the EPERMs
    // above come from the strict profile, not from missing capabilities.
    let podman = Podman::shared();
    if !requires(
        "the_strict_filter_is_what_refuses_the_calls",
        &[Need::Engine(Capability::Seccomp)],
    ) {
        return;
    }
    let ws = TestWorkspace::new(podman);
    build_probe(&ws.path("tools"));
    let mounts = "  mounts:\n    - {type: bind, source: tools, target: /tools, readOnly: true}\n";
    ws.write(
        "s.yaml",
        &format!(
            "{}{}",
            sandbox(
                "plain",
                &format!("{mounts}  security: {{dropCapabilities: [ALL], seccomp: default}}\n")
            ),
            sandbox(
                "strict",
                &format!("{mounts}  security: {{dropCapabilities: [ALL], seccomp: strict}}\n")
            ),
        ),
    );
    ws.pd_ok(&["apply"]);
    let probe = format!("/tools/syscall-probe {}", DENIED.join(" "));
    let plain = probe_results(&sh(&ws, podman, "plain", &probe).await.1);
    let strict = probe_results(&sh(&ws, podman, "strict", &probe).await.1);
    // Allowed by the engine's default filter: each fails (or succeeds) in its own way.
    // Docker's default already refuses `unshare`, `setns` and `keyctl`; Podman's does not.
    assert_eq!(plain["ptrace"], "3", "ESRCH: {plain:?}");
    if under_test() == EngineUnderTest::Podman {
        assert_eq!(plain["unshare"], "0", "{plain:?}");
        assert_eq!(plain["setns"], "9", "EBADF: {plain:?}");
        assert_eq!(plain["keyctl"], "0", "{plain:?}");
    }
    for name in DENIED {
        assert_eq!(strict[name], EPERM, "{name}: {strict:?}");
    }
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn a_memory_hog_is_oom_killed_and_status_says_so() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    // A one-shot whose main process wants 200 MiB under a 32 MiB limit.
    ws.write(
        "hog.yaml",
        &sandbox(
            "hog",
            "  run: once\n  command: [sh, -c, 'dd if=/dev/zero of=/dev/null bs=200M count=1']\n  resources: {memory: 32Mi}\n  security: {profile: locked}\n",
        ),
    );
    ws.pd_ok(&["apply"]);
    until(
        Duration::from_secs(30),
        "the hog is reported OOMKilled",
        || async {
            ws.pd(&["apply"]);
            ready_reason(&status(&ws, "hog")) == "OOMKilled"
        },
    )
    .await;
    let hog = status(&ws, "hog");
    assert_eq!(hog["phase"], "Failed", "{hog}");
    let message = hog["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("32 MiB") && message.contains("resources.memory"),
        "{hog}"
    );
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn init_example_keeps_desired_state_out_of_reach_even_unlocked() {
    // `init`'s example as written: the workspace root mounted writable at /work, the
    // default profile (root inside). `.pocket-dock/` and `.git/` are masked read-only.
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let init = ws.pd_ok(&["init"]);
    drop(init);
    std::fs::create_dir_all(ws.path(".git")).unwrap();
    let example = std::fs::read_to_string(ws.path(".pocket-dock/sandbox.yaml")).unwrap();
    let example = example.replace(
        "docker.io/library/debian:12",
        crate::support::podman::TEST_IMAGE,
    );
    ws.write("sandbox.yaml", &example);
    ws.pd_ok(&["apply"]);
    let (code, out) = sh(&ws, podman, "dev", "echo x > /work/.pocket-dock/evil.yaml").await;
    assert_ne!(code, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    let (code, out) = sh(&ws, podman, "dev", "rm /work/.pocket-dock/sandbox.yaml").await;
    assert_ne!(code, 0, "{out}");
    let (code, out) = sh(&ws, podman, "dev", "mkdir /work/.git/hooks").await;
    assert_ne!(code, 0, "{out}");
    assert_eq!(
        sh(&ws, podman, "dev", "echo ok > /work/notes.txt && echo done").await,
        (0, "done".into())
    );
    let (_, got) = ws.pd_json(&["get"]);
    assert!(
        !got.iter().any(|v| v.to_string().contains("evil")),
        "nothing new is declared: {got:?}"
    );
    // The masks survive a restart of the container.
    ws.pd_ok(&["apply"]);
    assert!(ws.path(".pocket-dock/sandbox.yaml").exists());
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn the_policy_floor_refuses_a_weaker_sandbox_and_touches_nothing() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "s.yaml",
        &format!(
            "{POLICY}{}{}",
            sandbox("fine", "  resources: {pids: 32}\n"),
            sandbox(
                "greedy",
                "  security: {profile: default}\n  network: default\n"
            ),
        ),
    );
    let run = ws.pd(&["apply"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    let err = run.stderr_text();
    assert!(err.contains("spec.security.profile"), "{err}");
    assert!(
        err.contains("the workspace policy (`locked`, enforced at .pocket-dock/s.yaml:7)"),
        "{err}"
    );
    assert!(ws.sandboxes(podman).await.is_empty(), "nothing was created");
    // Asking for less than the policy's limits is tightening: fine.
    ws.write(
        "s.yaml",
        &format!("{POLICY}{}", sandbox("fine", "  resources: {pids: 32}\n")),
    );
    ws.pd_ok(&["apply"]);
    let (_, pids) = sh(
        &ws,
        podman,
        "fine",
        "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max",
    )
    .await;
    assert_eq!(pids, "32");
    ws.pd(&["delete", "--all"]);
}

/// An "outside" HTTP server on the host's loopback: only pocket-dock's proxy (on the host)
/// can reach it, never a sandbox directly. Answers every connection with `hello`.
fn outside_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n");
        }
    });
    port
}

/// Runs pocket-dock in `ws` with the example's secret variable set.
fn pd_with_token(ws: &TestWorkspace, token: &str, args: &[&str]) -> crate::support::cli::CliRun {
    let mut cmd = ws.command(args);
    cmd.env("GRADER_API_TOKEN", token);
    crate::support::cli::run(cmd, |_| {})
}

#[tokio::test]
async fn the_untrusted_example_holds_against_every_escape() {
    let test = "locked::the_untrusted_example_holds_against_every_escape";
    if !requires(test, &[Need::Engine(Capability::Egress)]) {
        return;
    }
    let podman = Podman::shared();
    let outside = outside_server();
    let ws = TestWorkspace::from_example(
        podman,
        "untrusted",
        &[(
            "packages.example.org:443",
            &format!("\"127.0.0.1:{outside}\""),
        )],
    );
    build_probe(&ws.path("jobs"));
    let token = format!("tok-{:x}", std::process::id() as u64 * 7_919 + 104_729);
    let run = pd_with_token(&ws, &token, &["apply", "-v"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let mut printed = [run.stdout.clone(), run.stderr.clone()].concat();
    let r = "runner";

    // Who it is, and that it cannot become more.
    assert_eq!(sh(&ws, podman, r, "id -u").await, (0, "65534".into()));
    if under_test() == EngineUnderTest::Podman {
        let (_, map) = sh(&ws, podman, r, "cat /proc/self/uid_map").await;
        assert_ne!(
            map.split_whitespace().nth(1),
            Some("0"),
            "in a user namespace: {map}"
        );
    }
    let (_, caps) = sh(
        &ws,
        podman,
        r,
        "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
    )
    .await;
    assert!(
        caps.contains("CapEff:\t0000000000000000")
            && caps.contains("NoNewPrivs:\t1")
            && caps.contains("Seccomp:\t2"),
        "{caps}"
    );
    let (_, out) = sh(
        &ws,
        podman,
        r,
        &format!("/jobs/syscall-probe {}", DENIED.join(" ")),
    )
    .await;
    let results = probe_results(&out);
    for name in DENIED {
        assert_eq!(
            results.get(name).map(String::as_str),
            Some(EPERM),
            "{name}: {out}"
        );
    }

    // Files: the root and the jobs are read-only, scratch and /tmp are small.
    for path in ["/etc/x", "/jobs/x"] {
        let (code, out) = sh(&ws, podman, r, &format!("touch {path}")).await;
        assert_ne!(code, 0, "{path}: {out}");
    }
    assert_eq!(
        sh(&ws, podman, r, "cat /jobs/hello.sh").await.1,
        "echo \"hello from an untrusted job\""
    );
    let (code, out) = sh(
        &ws,
        podman,
        r,
        "dd if=/dev/zero of=/scratch/big bs=1M count=40",
    )
    .await;
    assert_ne!(code, 0, "40 MiB fit in a 32 MiB scratch: {out}");
    sh(&ws, podman, r, "rm -f /scratch/big").await;

    // The network: the one listed destination through the proxy, nothing else, no route.
    let (code, out) = sh(
        &ws,
        podman,
        r,
        &format!("wget -q -O - http://127.0.0.1:{outside}/"),
    )
    .await;
    assert_eq!(
        (code, out.as_str()),
        (0, "hello"),
        "the allowed destination"
    );
    let (code, out) = sh(
        &ws,
        podman,
        r,
        &format!("wget -q -O - http://127.0.0.1:{}/", outside + 1),
    )
    .await;
    assert_ne!(code, 0, "another port: {out}");
    let (code, out) = sh(
        &ws,
        podman,
        r,
        &format!(
            "P=${{HTTP_PROXY#http://}}; nc -w 2 ${{P%:*}} {outside} </dev/null && echo connected"
        ),
    )
    .await;
    assert!(
        code != 0 || !out.contains("connected"),
        "a direct connection: {out}"
    );
    let (code, out) = sh(
        &ws,
        podman,
        r,
        "nc -w 2 1.1.1.1 443 </dev/null && echo connected",
    )
    .await;
    assert!(
        code != 0 || !out.contains("connected"),
        "no route out: {out}"
    );

    // The secret: a 0400 file in memory, the variable set for pocket-dock's exec.
    let (code, out) = sh(
        &ws,
        podman,
        r,
        "stat -c %a /run/secrets/api-token; cat /run/secrets/api-token",
    )
    .await;
    assert_eq!((code, out), (0, format!("400\n{token}")));
    let run = pd_with_token(
        &ws,
        &token,
        &[
            "exec",
            r,
            "--",
            "sh",
            "-c",
            "test \"$API_TOKEN\" = \"$(cat /run/secrets/api-token)\" && echo same",
        ],
    );
    assert_eq!(run.stdout_text().trim(), "same", "{}", run.stderr_text());

    // The policy floor: asking for less is refused and nothing changes.
    let before = ws.running_ids(podman).await;
    let file = ws.path(".pocket-dock/runner.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(
            "  workdir: /scratch\n",
            "  workdir: /scratch\n  security: {profile: default}\n",
        ),
    )
    .unwrap();
    let run = pd_with_token(&ws, &token, &["apply"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text()
            .contains("is weaker than the workspace policy"),
        "{}",
        run.stderr_text()
    );
    printed.extend([run.stdout.clone(), run.stderr.clone()].concat());
    assert_eq!(ws.running_ids(podman).await, before, "nothing changed");
    std::fs::write(&file, text).unwrap();

    // The fork bomb meets the pids limit (32); the sandbox lives on.
    let (_, out) = sh(
        &ws,
        podman,
        r,
        "for i in $(seq 60); do sleep 2 & done; wait",
    )
    .await;
    assert!(
        out.contains("can't fork") || out.contains("Resource temporarily unavailable"),
        "{out}"
    );

    // The record: the chain of the event log holds; the secret is nowhere pocket-dock wrote.
    for args in [
        &["get"][..],
        &["diff"][..],
        &["events"][..],
        &["history"][..],
        &["audit", "verify"][..],
    ] {
        let run = pd_with_token(&ws, &token, args);
        printed.extend([run.stdout.clone(), run.stderr.clone()].concat());
        if args[0] == "audit" {
            assert_eq!(run.code, Some(0), "{}", run.stderr_text());
        }
    }
    let mut files = vec![ws.path(".pocket-dock")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !contains(&bytes, token.as_bytes()),
                "the secret is in {path:?}"
            );
        }
    }
    let inspect = podman.podman(&["inspect", &before["runner"]]);
    assert!(
        !contains(&inspect.stdout, token.as_bytes()),
        "the secret is in the container's config"
    );
    assert!(
        !contains(&printed, token.as_bytes()),
        "pocket-dock printed the secret"
    );
    ws.pd(&["delete", "--all"]);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
