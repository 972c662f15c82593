//! Secrets against real Podman: one from a file and one from pocket-dock's environment,
//! each with a distinctive random value, mounted at `/run/secrets/NAME` (mode 0400, read
//! only, on a tmpfs) and set as variables for the main process, hooks, the readiness probe
//! and `exec`; then
//! everything pocket-dock prints and writes, and everything Podman holds about the
//! container, is searched for the values. Rotating the file recreates the sandbox, the
//! secret named as the reason; a missing secret blocks the sandbox, named, and leaves its
//! container alone.

use std::path::Path;

use crate::support::Podman;
use crate::support::cli::{self, CliRun};
use crate::support::workspace::{TestWorkspace, actions, sandbox};

/// A value nobody else prints: `prefix` and 32 random hex digits.
fn random_value(prefix: &str) -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

struct Secrets<'a> {
    ws: &'a TestWorkspace,
    var: String,
    env_value: String,
    /// Everything pocket-dock printed that must not hold a value.
    printed: Vec<u8>,
}

impl Secrets<'_> {
    /// Runs pocket-dock with the secret's variable set, keeping what it printed.
    fn pd(&mut self, args: &[&str]) -> CliRun {
        let mut cmd = self.ws.command(args);
        cmd.env(&self.var, &self.env_value);
        let run = cli::run(cmd, |_| {});
        self.printed.extend_from_slice(&run.stdout);
        self.printed.extend_from_slice(&run.stderr);
        run
    }

    fn pd_ok(&mut self, args: &[&str]) -> CliRun {
        let run = self.pd(args);
        assert_eq!(
            run.code,
            Some(0),
            "pocket-dock {args:?}:\n{}{}",
            run.stdout_text(),
            run.stderr_text()
        );
        run
    }

    /// Runs `argv` in the sandbox with `exec`; its output is the point, so it is not kept
    /// with what is searched.
    fn exec(&self, argv: &[&str]) -> (Option<i32>, String) {
        let mut args = vec!["exec", "vault", "--"];
        args.extend_from_slice(argv);
        let mut cmd = self.ws.command(&args);
        cmd.env(&self.var, &self.env_value);
        let run = cli::run(cmd, |_| {});
        (run.code, run.stdout_text())
    }
}

/// Runs one command in a `session` of the sandbox; its standard output.
fn session(ws: &TestWorkspace, var: &str, value: &str, command: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let mut child = ws
        .command(&["session", "vault"])
        .env(var, value)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> serde_json::Value {
        serde_json::from_str(&lines.next().expect("a line").unwrap()).unwrap()
    };
    assert_eq!(next()["event"], "started");
    writeln!(stdin, "{}", serde_json::json!({"id": 1, "run": command})).unwrap();
    stdin.flush().unwrap();
    let mut out = String::new();
    loop {
        let event = next();
        match event["stream"].as_str() {
            Some("stdout") => out.push_str(event["data"].as_str().unwrap()),
            Some(_) => {}
            None => break,
        }
    }
    drop(stdin);
    child.wait().unwrap();
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every file under `dir` (the state store's bytes included), as (path, bytes).
fn every_file(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            every_file(&path, out);
        } else if kind.is_file() {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
}

/// Fails naming where a value was found.
fn assert_nowhere(values: &[&str], places: &[(String, Vec<u8>)]) {
    for value in values {
        for (place, bytes) in places {
            assert!(
                !contains(bytes, value),
                "a secret value was found in {place}:\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

fn podman_text(podman: &Podman, args: &[&str]) -> Vec<u8> {
    let out = podman.podman(args);
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all = out.stdout;
    all.extend_from_slice(&out.stderr);
    all
}

fn label(podman: &Podman, container: &str, key: &str) -> String {
    // Standard output only: Podman 5 warns about cgroups v1 on standard error.
    let format = format!("{{{{index .Config.Labels \"{key}\"}}}}");
    let args = ["inspect", "--format", &format, container];
    let out = podman.podman(&args);
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn secrets_are_files_in_the_sandbox_and_nowhere_else_and_rotation_recreates() {
    use std::os::unix::fs::PermissionsExt;
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let file_value = random_value("pd-file-secret-");
    let env_value = random_value("pd-env-secret-");
    let var = format!("PD_IT_SECRET_{}", std::process::id());
    std::fs::create_dir(ws.path("secrets")).unwrap();
    std::fs::write(ws.path("secrets/api-token"), &file_value).unwrap();
    ws.write(
        "vault.yaml",
        &sandbox(
            "vault",
            &format!(
                "  command: [sh, -c, 'printf %s \"$API_TOKEN\" > /tmp/main-env; exec sleep 3600']
  env:
    PLAIN: visible-plain-value
    API_TOKEN:
      valueFrom:
        secret: api-token
    DB_PASSWORD: {{valueFrom: {{secret: db-password}}}}
  secrets:
    - name: api-token
      file: secrets/api-token
    - name: db-password
      env: {var}
  hooks:
    postStart: [sh, -c, 'test -n \"$DB_PASSWORD\" && test \"$DB_PASSWORD\" = \"$(cat /run/secrets/db-password)\"']
  readiness:
    exec: [sh, -c, 'test -n \"$API_TOKEN\"']
"
            ),
        ),
    );
    let mut s = Secrets {
        ws: &ws,
        var: var.clone(),
        env_value: env_value.clone(),
        printed: Vec::new(),
    };

    // Everything a user runs, verbose.
    s.pd_ok(&["-vv", "apply", "--wait", "--timeout", "60s"]);
    for args in [
        &["-vv", "get"][..],
        &["-o", "json", "get"],
        &["-o", "yaml", "get", "sandbox/vault"],
        &[
            "-vv",
            "wait",
            "--for",
            "condition=Ready",
            "sandbox/vault",
            "--timeout",
            "30s",
        ],
        &["-o", "json", "history"],
        &["-vv", "events", "--last", "200"],
        &["-o", "json", "events", "--last", "200"],
        &["-vv", "apply"],
    ] {
        s.pd_ok(args);
    }
    let diff = s.pd(&["-vv", "diff"]);
    assert_eq!(
        diff.code,
        Some(0),
        "{}{}",
        diff.stdout_text(),
        diff.stderr_text()
    );

    // In the sandbox: the values, as files of mode 0400 on a read-only tmpfs mount.
    assert_eq!(s.exec(&["cat", "/run/secrets/api-token"]).1, file_value);
    assert_eq!(s.exec(&["cat", "/run/secrets/db-password"]).1, env_value);
    assert_eq!(
        s.exec(&["stat", "-c", "%a %u", "/run/secrets/api-token"])
            .1
            .trim(),
        "400 0"
    );
    let mounts = s.exec(&["cat", "/proc/mounts"]).1;
    for name in ["api-token", "db-password"] {
        let line = mounts
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&format!("/run/secrets/{name}")))
            .unwrap_or_else(|| panic!("/run/secrets/{name} is not a mount:\n{mounts}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[2], "tmpfs", "{line}");
        assert!(fields[3].split(',').any(|o| o == "ro"), "{line}");
    }
    let (code, _) = s.exec(&["sh", "-c", "echo x > /run/secrets/api-token"]);
    assert_ne!(code, Some(0), "the secret file is writable");
    // The variables: for the main process, and for exec'd commands.
    assert_eq!(s.exec(&["cat", "/tmp/main-env"]).1, file_value);
    assert_eq!(
        s.exec(&["sh", "-c", "echo \"$DB_PASSWORD\""]).1.trim(),
        env_value
    );
    assert_eq!(
        s.exec(&["sh", "-c", "echo \"$PLAIN\""]).1.trim(),
        "visible-plain-value"
    );
    // A value typed on a command line is recorded as the secret's name.
    assert_eq!(s.exec(&["echo", &env_value]).1.trim(), env_value);
    let history = s.pd_ok(&["-o", "json", "history", "vault"]).stdout_text();
    assert!(history.contains("<secret:db-password>"), "{history}");
    // A session's shell has the variables too, and its commands are recorded redacted.
    let said = session(
        &ws,
        &var,
        &env_value,
        &format!("echo \"$DB_PASSWORD\" {env_value}"),
    );
    assert_eq!(said.trim(), format!("{env_value} {env_value}"));
    let events = s
        .pd_ok(&["-o", "json", "events", "--last", "200"])
        .stdout_text();
    assert!(
        events.contains("echo \\\"$DB_PASSWORD\\\" <secret:db-password>"),
        "{events}"
    );

    // On the host: a folder of mode 0700 in memory, files of mode 0400.
    let container = ws
        .ownership()
        .container_name(pocket_dock_spec::Kind::Sandbox, "vault");
    let recorded: serde_json::Value =
        serde_json::from_str(&label(podman, &container, "pocket-dock.dev/secrets")).unwrap();
    let dir = Path::new(recorded["dir"].as_str().unwrap()).to_path_buf();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("api-token")), 0o400);
    let plain_label = label(podman, &container, "pocket-dock.dev/spec");
    assert!(
        !plain_label.contains("visible-plain-value"),
        "{plain_label}"
    );

    // Nowhere else: printed output (the history and event log included), every file
    // pocket-dock keeps, Podman's view of the container and its events.
    s.pd_ok(&["-o", "json", "events", "--last", "200"]);
    let mut places = vec![("pocket-dock's output".to_string(), s.printed.clone())];
    every_file(&ws.path(".pocket-dock"), &mut places);
    places.push((
        "podman inspect".into(),
        podman_text(podman, &["inspect", &container]),
    ));
    places.push((
        "podman ps".into(),
        podman_text(podman, &["ps", "-a", "--no-trunc", "--format", "json"]),
    ));
    // Podman's CLI stops at the end with `--stream=false`; Docker's with `--until` now.
    let filter = format!("container={container}");
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let mut args = vec!["events"];
    match crate::support::engine::under_test() {
        crate::support::engine::EngineUnderTest::Docker => args.extend(["--until", &until]),
        crate::support::engine::EngineUnderTest::Podman => args.push("--stream=false"),
    }
    args.extend(["--since", "10m", "--filter", &filter, "--format", "json"]);
    let mut events = podman_text(podman, &args);
    if crate::support::engine::under_test() == crate::support::engine::EngineUnderTest::Docker {
        // Docker's events carry each exec's argv as given, and this test typed a value into
        // one on purpose (pocket-dock's own record redacts it; the engine's cannot be told
        // to). What pocket-dock put there is the rest: labels, config, its wrappers.
        let text = String::from_utf8_lossy(&events).into_owned();
        events = text
            .lines()
            .filter(|l| !l.contains("\"status\":\"exec_"))
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
    }
    assert!(
        contains(&events, "pocket-dock.dev/secrets"),
        "no events with the container's labels: {}",
        String::from_utf8_lossy(&events)
    );
    places.push(("podman events".into(), events));
    assert_nowhere(&[&file_value, &env_value], &places);
    // The plain variable is in the container's configuration (that is what env is), but in
    // no label.
    assert_nowhere(
        &["visible-plain-value"],
        &[(
            "labels".into(),
            podman_text(
                podman,
                &["inspect", "--format", "{{json .Config.Labels}}", &container],
            ),
        )],
    );

    // Rotation: a new value recreates the sandbox, the secret named as the reason.
    let rotated = random_value("pd-rotated-secret-");
    std::fs::write(ws.path("secrets/api-token"), &rotated).unwrap();
    let diff = s.pd(&["diff"]);
    assert_eq!(
        diff.code,
        Some(1),
        "{}{}",
        diff.stdout_text(),
        diff.stderr_text()
    );
    assert!(
        diff.stdout_text().contains("secret `api-token` changed"),
        "{}",
        diff.stdout_text()
    );
    let mut cmd = ws.command(&["-o", "json", "apply", "--wait", "--timeout", "60s"]);
    cmd.env(&var, &env_value);
    let run = cli::run(cmd, |_| {});
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    s.printed.extend_from_slice(&run.stdout);
    s.printed.extend_from_slice(&run.stderr);
    let lines: Vec<serde_json::Value> = run
        .stdout_text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(actions(&lines), ["recreate Sandbox/vault"], "{lines:?}");
    let reason = lines
        .iter()
        .find(|v| v["event"] == "action")
        .map(|v| v["reason"].to_string())
        .unwrap_or_default();
    assert!(reason.contains("secret `api-token` changed"), "{lines:?}");
    assert_eq!(s.exec(&["cat", "/run/secrets/api-token"]).1, rotated);
    assert!(
        !dir.exists(),
        "the replaced container's secret folder is left behind"
    );
    let mut places = vec![("pocket-dock's output".to_string(), s.printed.clone())];
    every_file(&ws.path(".pocket-dock"), &mut places);
    places.push((
        "podman inspect".into(),
        podman_text(podman, &["inspect", &container]),
    ));
    assert_nowhere(&[&file_value, &env_value, &rotated], &places);

    // A secret that cannot be read: the sandbox waits, named, and its container stays.
    let before = label(podman, &container, "pocket-dock.dev/spec-hash");
    let missing = cli::run(ws.command(&["apply"]), |_| {});
    let said = format!("{}{}", missing.stdout_text(), missing.stderr_text());
    assert!(
        said.contains("db-password") && said.contains(&var),
        "{said}"
    );
    assert_eq!(
        label(podman, &container, "pocket-dock.dev/spec-hash"),
        before
    );

    // Deleted: its files go with it.
    let recorded: serde_json::Value =
        serde_json::from_str(&label(podman, &container, "pocket-dock.dev/secrets")).unwrap();
    let dir = Path::new(recorded["dir"].as_str().unwrap()).to_path_buf();
    assert!(dir.exists());
    s.pd_ok(&["delete", "sandbox/vault"]);
    assert!(
        !dir.exists(),
        "the deleted container's secret folder is left behind"
    );
}
