//! Every command speaks JSON (issue 19). The commands are enumerated from the binary's own
//! `--help` (clap's tree seen from outside), so a command added later without a case here
//! fails [`every_command_speaks_json`]. Each case runs the real binary with `--output json`
//! against one shared workspace on the private Podman service and checks: the exit code,
//! stdout is one JSON document or JSON lines, stderr holds only JSON lines, and a failure's
//! last stderr line is the error object with category, operation, command and the
//! process's exit code. Groups (`image`, `pool`, ...) without a subcommand are usage errors
//! (exit 2), as JSON too.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::cli::{self, CliRun};
use crate::support::workspace::{TestWorkspace, sandbox};
use crate::support::{Podman, TEST_IMAGE, until_blocking};

/// What a case must do.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 0 with JSON on stdout, and no error object.
    Ok,
    /// Exit 0 after a SIGTERM once the controller runs (`controller`).
    OkWhenStopped,
    /// Fails with this exit code and error category (the last line on stderr).
    Fails(i32, &'static str),
}

/// One run of one command: `args` after `--output json`; `{scratch}` is a folder outside
/// the workspace, `{image}` the test image.
struct Case {
    command: &'static str,
    expect: Expect,
    args: &'static [&'static str],
}

const fn ok(command: &'static str, args: &'static [&'static str]) -> Case {
    Case {
        command,
        expect: Expect::Ok,
        args,
    }
}

const fn fails(
    command: &'static str,
    code: i32,
    category: &'static str,
    args: &'static [&'static str],
) -> Case {
    Case {
        command,
        expect: Expect::Fails(code, category),
        args,
    }
}

/// Every command, in the order they run (later cases use what earlier ones made). A new
/// command needs a line here, and a row in docs/reference.md's JSON output table.
const CASES: &[Case] = &[
    ok("init", &["-C", "{scratch}/fresh", "init"]),
    ok("validate", &["validate"]),
    fails(
        "migrate",
        2,
        "invalid-input",
        &["migrate", "--check", "nosuch.yaml"],
    ),
    ok("migrate", &["migrate"]),
    ok("apply", &["apply"]),
    fails(
        "apply",
        2,
        "invalid-input",
        &["apply", "--only", "Sandbox/nosuch"],
    ),
    ok("diff", &["diff"]),
    ok("get", &["get"]),
    fails("get", 2, "invalid-input", &["get", "nosuchkind"]),
    ok(
        "wait",
        &[
            "wait",
            "--for",
            "condition=Ready",
            "sandbox/box",
            "--timeout",
            "60s",
        ],
    ),
    fails(
        "wait",
        2,
        "invalid-input",
        &["wait", "--for", "bogus", "sandbox/box"],
    ),
    ok("exec", &["exec", "box", "--", "echo", "hi"]),
    fails("exec", 4, "not-found", &["exec", "nobox", "--", "true"]),
    fails("shell", 2, "invalid-input", &["shell", "box"]),
    ok("session", &["session", "box"]),
    fails("session", 4, "not-found", &["session", "nobox"]),
    ok("logs", &["logs", "box"]),
    fails("logs", 4, "not-found", &["logs", "nobox"]),
    ok("history", &["history"]),
    ok("events", &["events", "--last", "5"]),
    fails("events", 2, "invalid-input", &["events", "--object", "a/"]),
    ok("audit verify", &["audit", "verify"]),
    fails(
        "audit verify",
        2,
        "invalid-input",
        &["audit", "verify", "--expect-head", "x"],
    ),
    ok("template list", &["template", "list"]),
    ok("template show", &["template", "show", "runner"]),
    fails(
        "template show",
        2,
        "invalid-input",
        &["template", "show", "nosuch"],
    ),
    ok("explain", &["explain", "sandbox.spec"]),
    fails("explain", 2, "invalid-input", &["explain", "sandbx"]),
    ok("schema", &["schema"]),
    ok("man", &["man", "--out", "{scratch}/man"]),
    ok("completions", &["completions", "bash"]),
    fails("completions", 2, "invalid-input", &["completions", "nosh"]),
    ok("doctor", &["doctor"]),
    ok("run", &["run", "{image}", "--", "echo", "hi"]),
    fails(
        "run",
        2,
        "invalid-input",
        &["run", "--name", "a b", "{image}", "--", "true"],
    ),
    ok("snapshot", &["snapshot", "box", "snap1"]),
    fails(
        "snapshot",
        2,
        "invalid-input",
        &["snapshot", "nobox", "snap2"],
    ),
    ok("image inspect", &["image", "inspect", "snap1"]),
    fails(
        "image inspect",
        2,
        "invalid-input",
        &["image", "inspect", "nosuch"],
    ),
    ok(
        "image export",
        &["image", "export", "snap1", "{scratch}/snap1.tar"],
    ),
    fails(
        "image export",
        2,
        "invalid-input",
        &["image", "export", "snap1"],
    ),
    ok("image import", &["image", "import", "{scratch}/snap1.tar"]),
    fails(
        "image import",
        2,
        "invalid-input",
        &["image", "import", "{scratch}/none.tar"],
    ),
    fails(
        "image push",
        2,
        "invalid-input",
        &["image", "push", "nosuch", "localhost:1/x:1"],
    ),
    ok("export kube", &["export", "kube"]),
    ok(
        "export quadlet",
        &["export", "quadlet", "--out", "{scratch}/quadlet"],
    ),
    ok(
        "import compose",
        &[
            "import",
            "compose",
            "{scratch}/compose.yaml",
            "--out",
            "{scratch}/c",
        ],
    ),
    fails(
        "import compose",
        2,
        "invalid-input",
        &["import", "compose", "{scratch}/none.yaml"],
    ),
    ok(
        "import devcontainer",
        &[
            "import",
            "devcontainer",
            "{scratch}/dc",
            "--out",
            "{scratch}/d",
        ],
    ),
    fails(
        "import devcontainer",
        2,
        "invalid-input",
        &[
            "import",
            "devcontainer",
            "{scratch}/refused",
            "--out",
            "{scratch}/d2",
        ],
    ),
    ok("pause", &["pause", "box"]),
    fails("pause", 2, "invalid-input", &["pause", "volume/x"]),
    ok("resume", &["resume", "box"]),
    fails("resume", 2, "invalid-input", &["resume", "volume/x"]),
    ok("claim", &["claim", "p", "--name", "c1", "--no-refill"]),
    fails("claim", 2, "invalid-input", &["claim", "nopool"]),
    ok("release", &["release", "c1"]),
    fails("release", 4, "not-found", &["release", "c1"]),
    ok("pool list", &["pool", "list"]),
    ok("pool refill", &["pool", "refill", "p"]),
    fails(
        "pool refill",
        2,
        "invalid-input",
        &["pool", "refill", "nopool"],
    ),
    ok("fork", &["fork", "box", "box2"]),
    fails("fork", 2, "invalid-input", &["fork", "nobox", "x"]),
    ok("reset", &["reset", "box"]),
    fails("reset", 2, "invalid-input", &["reset", "volume/x"]),
    ok("delete", &["delete", "sandbox/box2"]),
    fails("delete", 2, "invalid-input", &["delete", "sandbox"]),
    ok("gc", &["gc", "--dry-run"]),
    Case {
        command: "controller",
        expect: Expect::OkWhenStopped,
        args: &["controller"],
    },
    fails(
        "controller",
        2,
        "invalid-input",
        &["controller", "--only", "Sandbox/nosuch"],
    ),
];

/// Every command of the tree as its path (`image export`), with whether it is a leaf.
fn tree(cwd: &Path, words: &mut Vec<String>, out: &mut Vec<(String, bool)>) {
    for sub in cli::subcommands(cwd, words) {
        words.push(sub);
        let leaf = cli::subcommands(cwd, words).is_empty();
        out.push((words.join(" "), leaf));
        if !leaf {
            tree(cwd, words, out);
        }
        words.pop();
    }
}

/// stdout as JSON values: one document (pretty or not), or JSON lines.
fn stdout_json(what: &str, run: &CliRun) -> Vec<Value> {
    let text = run.stdout_text();
    if text.trim().is_empty() {
        return Vec::new();
    }
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return vec![value];
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{what}: stdout is not JSON lines ({e}): {l}"))
        })
        .collect()
}

/// stderr as JSON lines: in json mode nothing else is printed there.
fn stderr_json(what: &str, run: &CliRun) -> Vec<Value> {
    run.stderr_text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{what}: stderr is not JSON lines ({e}): {l}"))
        })
        .collect()
}

/// Checks one run against what its case expects.
fn check(command: &str, expect: Expect, args: &[String], run: &CliRun) {
    let what = format!(
        "pocket-dock --output json {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        run.stdout_text(),
        run.stderr_text()
    );
    let out = stdout_json(&what, run);
    let err = stderr_json(&what, run);
    match expect {
        Expect::Ok | Expect::OkWhenStopped => {
            assert_eq!(run.code, Some(0), "{what}");
            assert!(!out.is_empty(), "{what}: prints JSON on stdout");
            assert!(
                err.iter().all(|v| v.get("error").is_none()),
                "{what}: no error object"
            );
        }
        Expect::Fails(code, category) => {
            assert_eq!(run.code, Some(code), "{what}");
            let last = err.last().unwrap_or_else(|| panic!("{what}: no error"));
            let error = &last["error"];
            assert_eq!(error["category"], category, "{what}");
            assert_eq!(error["exit_code"], code, "{what}");
            assert_eq!(error["command"], command, "{what}");
            assert!(
                error["operation"].as_str().is_some_and(|o| !o.is_empty()),
                "{what}: names the operation"
            );
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: says what failed"
            );
        }
    }
}

/// The shared workspace: one running sandbox `box` that prints a line, a template and a
/// pool of one; and, outside it, the files the import cases read.
fn workspace(podman: &Podman) -> (TestWorkspace, tempfile::TempDir) {
    let ws = TestWorkspace::new(podman);
    ws.write(
        "box.yaml",
        &sandbox(
            "box",
            "  command: [sh, -c, \"echo hello; exec sleep 3600\"]\n",
        ),
    );
    ws.write(
        "pool.yaml",
        &format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Template\nmetadata:\n  name: runner\n\
             spec:\n  sandbox:\n    image: {TEST_IMAGE}\n---\n\
             apiVersion: pocket-dock.dev/v1alpha1\nkind: Pool\nmetadata:\n  name: p\n\
             spec:\n  template: runner\n  size: 1\n"
        ),
    );
    let scratch = tempfile::Builder::new()
        .prefix("pd-json-")
        .tempdir()
        .unwrap();
    let s = scratch.path();
    std::fs::create_dir_all(s.join("fresh")).unwrap();
    std::fs::write(
        s.join("compose.yaml"),
        format!("services:\n  web:\n    image: {TEST_IMAGE}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(s.join("dc/.devcontainer")).unwrap();
    std::fs::write(s.join("dc/.devcontainer/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(
        s.join("dc/.devcontainer/devcontainer.json"),
        "{\"name\": \"api\", \"build\": {\"dockerfile\": \"Dockerfile\"}}\n",
    )
    .unwrap();
    std::fs::create_dir_all(s.join("refused/.devcontainer")).unwrap();
    std::fs::write(
        s.join("refused/.devcontainer/devcontainer.json"),
        "{\"image\": \"debian:12\", \"features\": {\"ghcr.io/devcontainers/features/node:1\": {}}}\n",
    )
    .unwrap();
    (ws, scratch)
}

/// Runs `args` with `--output json` first; the controller is stopped with SIGTERM once
/// it holds its lock.
fn run_case(ws: &TestWorkspace, expect: Expect, args: &[String]) -> CliRun {
    let mut all = vec!["--output", "json"];
    all.extend(args.iter().map(String::as_str));
    match expect {
        Expect::OkWhenStopped => {
            let dir = ws.path(".pocket-dock");
            cli::run(ws.command(&all), |pid| {
                until_blocking(Duration::from_secs(30), "the controller runs", || {
                    pocket_dock::controller::lock::controller_running(&dir)
                });
                std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .unwrap();
            })
        }
        _ => ws.pd(&all),
    }
}

#[test]
fn every_command_speaks_json() {
    let podman = Podman::shared();
    let (ws, scratch) = workspace(podman);

    let mut commands = Vec::new();
    tree(ws.root(), &mut Vec::new(), &mut commands);
    let leaves: BTreeSet<&str> = commands
        .iter()
        .filter(|(_, leaf)| *leaf)
        .map(|(path, _)| path.as_str())
        .collect();
    let cased: BTreeSet<&str> = CASES.iter().map(|c| c.command).collect();
    assert_eq!(
        leaves.difference(&cased).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "commands without a case in CASES"
    );
    assert_eq!(
        cased.difference(&leaves).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "cases for commands that do not exist"
    );
    assert!(leaves.len() >= 40, "{leaves:?}");

    // An engine that cannot write OCI archives (Docker before 25) refuses `image export`
    // up front: that refusal is checked as JSON instead, and the import of its archive is
    // left out (recorded as skipped).
    let exports = crate::support::requires(
        "cli_json::every_command_speaks_json (image export, then import of its archive)",
        &[crate::support::Need::Engine(
            pocket_dock::engine::Capability::ExportOci,
        )],
    );
    let scratch_dir = scratch.path().display().to_string();
    for case in CASES {
        let expect = match (case.command, case.expect) {
            ("image export", Expect::Ok) if !exports => Expect::Fails(2, "unsupported"),
            ("image import", Expect::Ok) if !exports => continue,
            _ => case.expect,
        };
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                a.replace("{scratch}", &scratch_dir)
                    .replace("{image}", TEST_IMAGE)
            })
            .collect();
        let run = run_case(&ws, expect, &args);
        check(case.command, expect, &args, &run);
    }

    // A group without its subcommand is a usage error, in JSON as well.
    for (group, _) in commands.iter().filter(|(_, leaf)| !*leaf) {
        let args: Vec<String> = group.split(' ').map(str::to_string).collect();
        let run = ws.pd(&[
            &["--output", "json"][..],
            &group.split(' ').collect::<Vec<_>>(),
        ]
        .concat());
        check(group, Expect::Fails(2, "invalid-input"), &args, &run);
    }
    ws.pd(&["delete", "--all"]);

    // docs/reference.md documents each command's shape.
    let reference =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference.md"))
            .unwrap();
    let section = reference
        .split_once("\n## JSON output\n")
        .map(|(_, s)| s)
        .expect("docs/reference.md has a JSON output section");
    for leaf in &leaves {
        assert!(
            section.contains(&format!("| `{leaf}` |")),
            "docs/reference.md's JSON output table has no row for `{leaf}`"
        );
    }
}

#[test]
fn usage_errors_help_and_version_are_json_when_asked_for() {
    let dir = tempfile::Builder::new()
        .prefix("pd-json-")
        .tempdir()
        .unwrap();
    let cwd = dir.path();

    // Parsing fails before any command runs; `-o json` anywhere before `--` is seen.
    for (args, command) in [
        (&["-o", "json", "nosuchcommand"][..], ""),
        (&["get", "--bogus", "--output=json"], "get"),
        (&["-ojson", "image", "export", "--nope"], "image export"),
        (&["exec", "--output", "json", "box"], "exec"),
    ] {
        let run = cli::pd(cwd, &[], args);
        check(
            command,
            Expect::Fails(2, "invalid-input"),
            &args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            &run,
        );
        assert!(run.stdout.is_empty(), "{args:?}: nothing on stdout");
        let error: Value = serde_json::from_slice(&run.stderr).expect("one JSON object");
        let operation = error["error"]["operation"].as_str().unwrap();
        assert_eq!(
            operation.trim_end(),
            format!("pocket-dock {command}").trim_end()
        );
    }

    let run = cli::pd(cwd, &[], &["--output", "json", "--version"]);
    assert_eq!(run.code, Some(0));
    let version: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    for args in [
        &["--output", "json", "help", "get"][..],
        &["get", "--help", "-o", "json"],
    ] {
        let run = cli::pd(cwd, &[], args);
        assert_eq!(run.code, Some(0), "{args:?}");
        let help: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert!(
            help["help"]
                .as_str()
                .unwrap()
                .contains("Usage: pocket-dock get"),
            "{help}"
        );
    }

    // Text mode is unchanged: clap's own message, no JSON.
    let run = cli::pd(cwd, &[], &["get", "--bogus"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr_text()
            .starts_with("error: unexpected argument '--bogus'"),
        "{}",
        run.stderr_text()
    );
}

#[test]
fn stream_commands_print_json_lines_and_end_with_the_exit() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "box.yaml",
        &sandbox(
            "box",
            "  command: [sh, -c, \"echo hello; exec sleep 3600\"]\n",
        ),
    );
    ws.pd_ok(&["apply"]);

    // exec and run: each chunk a line, then the exit (its code is the process's).
    for args in [
        vec![
            "exec",
            "box",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        vec![
            "run",
            TEST_IMAGE,
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    ] {
        let (run, lines) = ws.pd_json(&args);
        assert_eq!(run.code, Some(3), "{args:?}: {}", run.stderr_text());
        let text = |stream: &str| -> String {
            lines
                .iter()
                .filter(|l| l["stream"] == stream)
                .map(|l| l["data"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(text("stdout"), "out\n", "{lines:?}");
        assert_eq!(text("stderr"), "err\n", "{lines:?}");
        let last = lines.last().unwrap();
        assert_eq!(last["event"], "exit", "{lines:?}");
        assert_eq!(last["exit_code"], 3, "{lines:?}");
        assert_eq!(last["stdout_bytes"], 4, "{lines:?}");
    }

    // logs: the sandbox's output as the same lines.
    until_blocking(Duration::from_secs(20), "the sandbox printed", || {
        ws.pd(&["logs", "box"]).stdout_text().contains("hello")
    });
    let (run, lines) = ws.pd_json(&["logs", "box"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "stdout" && l["data"].as_str().unwrap().contains("hello")),
        "{lines:?}"
    );

    // Text mode is untouched: the bytes themselves.
    let run = ws.pd(&["exec", "box", "--", "echo", "plain"]);
    assert_eq!(run.stdout_text(), "plain\n");
    ws.pd(&["delete", "--all"]);
}

#[test]
fn invalid_documents_keep_their_report_and_end_with_the_error_object() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("box.yaml", &sandbox("box", ""));
    ws.pd_ok(&["apply"]);
    ws.write(
        "broken.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nspec: [\n",
    );

    // A command that cannot run: the report on stdout, with the error in it, then the error
    // object, last on stderr.
    let args: Vec<String> = ["apply"].iter().map(|a| a.to_string()).collect();
    let run = ws.pd(&["--output", "json", "apply"]);
    check("apply", Expect::Fails(2, "invalid-input"), &args, &run);
    let report: Value = serde_json::from_slice(&run.stdout).expect("one report");
    assert_eq!(report["valid"], false, "{report}");
    assert!(
        !report["diagnostics"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert_eq!(report["error"]["exit_code"], 2, "{report}");
    assert_eq!(
        report["error"]["operation"], "pocket-dock apply",
        "{report}"
    );

    // `get` keeps its rows on stdout; the report, with the error, is the last stderr line.
    let args: Vec<String> = ["get"].iter().map(|a| a.to_string()).collect();
    let run = ws.pd(&["--output", "json", "get"]);
    check("get", Expect::Fails(2, "invalid-input"), &args, &run);
    let rows: Value = serde_json::from_slice(&run.stdout).expect("the rows");
    assert!(
        rows.as_array().unwrap().iter().any(|r| r["name"] == "box"),
        "{rows}"
    );
    let last: Value = serde_json::from_str(run.stderr_text().lines().last().unwrap()).unwrap();
    assert_eq!(last["valid"], false, "{last}");

    // Text mode is as it was: no JSON anywhere.
    let run = ws.pd(&["apply"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stdout.is_empty(), "{}", run.stdout_text());
    assert!(!run.stderr_text().contains('{'), "{}", run.stderr_text());
    ws.remove("broken.yaml");
    ws.pd(&["delete", "--all"]);
}
