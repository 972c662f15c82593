//! Progress of slow actions (issue 19, "progress that helps") against real Podman: the JSON
//! event stream of `apply --output json`, plain text when there is no terminal, and live
//! lines drawn on a terminal (a pty made by `script`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::workspace::TestWorkspace;
use crate::support::{Podman, require_tool};

const HEADER: &str = "apiVersion: pocket-dock.dev/v1alpha1";

/// Something no other run has built (so the build really runs, never a tag of an earlier
/// image).
fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

/// The embedded base and `Image/app`, built from a Containerfile of three steps whose
/// second is `second`.
fn three_steps(ws: &TestWorkspace, second: &str) {
    std::fs::create_dir_all(ws.path("app")).unwrap();
    std::fs::write(
        ws.path("app/Containerfile"),
        format!(
            "FROM base\nRUN {second} && echo {} > /nonce\nRUN echo done\n",
            nonce()
        ),
    )
    .unwrap();
    ws.write(
        "images.yaml",
        &format!(
            "---\n{HEADER}\nkind: Image\nmetadata: {{name: base}}\nspec: {{embedded: base}}\n\
             ---\n{HEADER}\nkind: Image\nmetadata: {{name: app}}\nspec:\n  build:\n    context: app\n    from: {{image: base}}\n"
        ),
    );
}

/// One more Image, `name`, built on the base from one slow step, in its own file.
fn another(ws: &TestWorkspace, name: &str, step: &str) {
    std::fs::create_dir_all(ws.path(name)).unwrap();
    std::fs::write(
        ws.path(&format!("{name}/Containerfile")),
        format!("FROM base\nRUN {step} && echo {} > /nonce\n", nonce()),
    )
    .unwrap();
    ws.write(
        &format!("{name}.yaml"),
        &format!(
            "---\n{HEADER}\nkind: Image\nmetadata: {{name: {name}}}\nspec:\n  build:\n    context: {name}\n    from: {{image: base}}\n"
        ),
    );
}

fn is_event(v: &serde_json::Value, event: &str, name: &str) -> bool {
    v["event"] == event && v["kind"] == "Image" && v["name"] == name
}

#[test]
fn apply_json_is_a_stream_of_started_progress_and_action_events_and_nothing_else() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    three_steps(&ws, "true");
    let pulled_from = podman.registry_image("progress-json");
    ws.write(
        "pulled.yaml",
        &format!(
            "---\n{HEADER}\nkind: Image\nmetadata: {{name: remote}}\nspec:\n  from:\n    reference: {pulled_from}\n"
        ),
    );
    // `--rebuild base` loads the embedded base even when another test loaded it already.
    let (run, out) = ws.pd_json(&["apply", "--rebuild", "base"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    // No progress noise anywhere: stdout is JSON lines only (pd_json parsed every one),
    // stderr is empty.
    assert_eq!(run.stderr_text(), "", "stderr");

    // Every action is announced before it finishes, with the same kind, name and op.
    let finished: Vec<&serde_json::Value> = out.iter().filter(|v| v["event"] == "action").collect();
    assert!(finished.len() >= 3, "{out:?}");
    for action in &finished {
        let started = out
            .iter()
            .position(|v| {
                v["event"] == "started"
                    && v["kind"] == action["kind"]
                    && v["name"] == action["name"]
                    && v["action"] == action["action"]
            })
            .unwrap_or_else(|| panic!("no started event for {action}: {out:?}"));
        let ended = out.iter().position(|v| v == *action).unwrap();
        assert!(started < ended, "{out:?}");
        assert!(out[started]["reason"].is_string());
    }

    // The build told each of its steps, in order, between its started and action events.
    let steps: Vec<(u64, u64, String)> = out
        .iter()
        .filter(|v| is_event(v, "progress", "app") && v["progress"]["type"] == "step")
        .map(|v| {
            let p = &v["progress"];
            (
                p["number"].as_u64().unwrap(),
                p["total"].as_u64().unwrap(),
                p["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Three steps of the Containerfile, then the LABEL steps pocket-dock adds: every one
    // told once, numbered in order, each of the same total.
    let total = steps.first().map(|s| s.1).unwrap_or_default();
    assert!(total >= 3, "{steps:?}");
    assert_eq!(
        steps.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        (1..=total).map(|n| (n, total)).collect::<Vec<_>>(),
        "{out:?}"
    );
    assert!(
        steps[1]
            .2
            .starts_with(&format!("STEP 2/{total}: RUN true && echo")),
        "{steps:?}"
    );
    let position = |event: &str, name: &str, what: &str| {
        out.iter()
            .position(|v| {
                is_event(v, event, name) && (what.is_empty() || v["action"]["op"] == what)
            })
            .unwrap_or_else(|| panic!("no {event} {what} for Image/{name}: {out:?}"))
    };
    let first_step = out
        .iter()
        .position(|v| is_event(v, "progress", "app"))
        .unwrap();
    assert!(position("started", "app", "build") < first_step);
    assert!(first_step < position("action", "app", "build"));

    // The base's load told the bytes it sent, the last one all of them.
    let sent: Vec<(u64, u64)> = out
        .iter()
        .filter(|v| is_event(v, "progress", "base") && v["progress"]["type"] == "bytes")
        .map(|v| {
            (
                v["progress"]["done"].as_u64().unwrap(),
                v["progress"]["total"].as_u64().unwrap(),
            )
        })
        .collect();
    let (done, total) = *sent.last().unwrap_or_else(|| panic!("no bytes: {out:?}"));
    assert!(total > 0 && done == total, "{sent:?}");
    assert!(sent.windows(2).all(|w| w[0].0 < w[1].0), "{sent:?}");

    // The pull (Podman's own API for a loopback registry) told its status lines.
    assert!(
        out.iter().any(|v| is_event(v, "progress", "remote")
            && v["progress"]["type"] == "status"
            && v["progress"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())),
        "{out:?}"
    );
    ws.pd(&["delete", "--all"]);
}

#[test]
fn text_apply_without_a_terminal_prints_plain_lines_only() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    three_steps(&ws, "true");
    let run = ws.pd_ok(&["apply"]);
    let (stdout, stderr) = (run.stdout_text(), run.stderr_text());
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.contains('\x1b') && !text.contains('\r'),
            "{what} has terminal control characters: {text:?}"
        );
    }
    // The usual lines: one when the build starts, one when it is done.
    let lines: Vec<&str> = stdout.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("  building ") && l.ends_with(" for Image/app..."))
        .unwrap_or_else(|| panic!("{stdout}"));
    let end = lines
        .iter()
        .position(|l| l.starts_with("+ Image/app ") && l.contains(" built "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(start < end, "{stdout}");
    // No step is told: progress is for terminals (and JSON).
    assert!(!stdout.contains("STEP "), "{stdout}");
    ws.pd(&["delete", "--all"]);
}

#[test]
fn a_terminal_shows_a_live_line_with_the_build_step_and_the_time() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    // Step 2 lasts long enough for several redraws (10 a second); `other` builds at the
    // same time.
    three_steps(&ws, "sleep 2");
    another(&ws, "other", "sleep 2");
    let out = on_a_terminal(&ws, podman, &["apply"]);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    // The live line: the object, the verb, the step being run, the time so far.
    let plain = strip_ansi(&screen);
    let live = plain
        .split(['\r', '\n'])
        .find(|l| {
            l.contains("Image/app")
                && l.contains("building: STEP 2/")
                && l.contains(": RUN sleep 2")
        })
        .unwrap_or_else(|| panic!("no live line for step 2: {screen:?}"));
    let seconds = live.split_whitespace().last().unwrap_or_default();
    assert!(
        seconds
            .strip_suffix('s')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        "the elapsed time ends the line: {live:?}"
    );
    // Parallel builds each keep their own line: one frame draws both, one under the other.
    let pieces: Vec<&str> = plain.split(['\r', '\n']).collect();
    let building =
        |l: &str, name: &str| l.contains(&format!("Image/{name} ")) && l.contains("building");
    assert!(
        pieces
            .windows(2)
            .any(|w| (building(w[0], "app") && building(w[1], "other"))
                || (building(w[0], "other") && building(w[1], "app"))),
        "no frame with both live lines: {screen:?}"
    );
    // Drawn in place (the terminal is told to go back and clear), and the permanent line
    // printed once the build is done; the "building …" line is the live one instead.
    assert!(screen.contains('\x1b'), "{screen:?}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("+ Image/app ") && l.contains(" built ")),
        "{screen:?}"
    );
    assert!(!screen.contains(" for Image/app..."), "{screen:?}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("+ Image/other ") && l.contains(" built ")),
        "{screen:?}"
    );
    ws.pd(&["delete", "--all"]);
}

#[test]
fn run_on_a_terminal_shows_the_pull_of_a_missing_image_then_only_the_command_output() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let reference = podman.registry_image("progress-run");
    let out = on_a_terminal(
        &ws,
        podman,
        &[
            "run",
            "--rm",
            &reference,
            "--",
            "echo",
            "said-by-the-command",
        ],
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    let plain = strip_ansi(&screen);
    let pieces: Vec<&str> = plain.split(['\r', '\n']).collect();
    let pulling = pieces
        .iter()
        .position(|l| l.contains(&reference) && l.contains("pulling: "))
        .unwrap_or_else(|| panic!("no live line for the pull: {screen:?}"));
    let said = pieces
        .iter()
        .position(|l| l.trim() == "said-by-the-command")
        .unwrap_or_else(|| panic!("the command's output is not a line of its own: {screen:?}"));
    assert!(pulling < said, "{screen:?}");
    // The live line went before the command spoke, and did not come back.
    assert!(
        !pieces[said..].iter().any(|l| l.contains("pulling")),
        "{screen:?}"
    );
    assert!(
        podman.podman(&["rmi", &reference]).status.success(),
        "the pulled image is there"
    );
}

#[test]
fn image_import_on_a_terminal_shows_a_live_line_then_its_usual_lines() {
    // The archive to import is made by `image export`, which writes OCI.
    if !crate::support::requires(
        "progress::image_import_on_a_terminal_shows_a_live_line_then_its_usual_lines",
        &[crate::support::Need::Engine(
            pocket_dock::engine::Capability::ExportOci,
        )],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "base.yaml",
        &format!(
            "---\n{HEADER}\nkind: Image\nmetadata: {{name: base}}\nspec: {{embedded: base}}\n"
        ),
    );
    ws.pd_ok(&["apply"]);
    ws.pd_ok(&["image", "export", "base", "base.tar"]);
    let out = on_a_terminal(&ws, podman, &["image", "import", "base.tar"]);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    let plain = strip_ansi(&screen);
    let pieces: Vec<&str> = plain.split(['\r', '\n']).collect();
    let live = pieces
        .iter()
        .position(|l| l.contains("base.tar") && l.contains("importing: "))
        .unwrap_or_else(|| panic!("no live line for the import: {screen:?}"));
    let done = pieces
        .iter()
        .position(|l| l.starts_with("imported base.tar as "))
        .unwrap_or_else(|| panic!("no imported line: {screen:?}"));
    assert!(live < done, "{screen:?}");
    assert!(
        !pieces[done..].iter().any(|l| l.contains("importing")),
        "{screen:?}"
    );
    ws.pd(&["delete", "--all"]);
}

/// Runs the binary with `args` in `ws` on a new pty made by `script` (stdout and stderr a
/// terminal).
fn on_a_terminal(ws: &TestWorkspace, podman: &Podman, args: &[&str]) -> std::process::Output {
    require_tool("script", "apt-get install bsdutils (util-linux's `script`)");
    let quote = crate::support::watchdog::shell_quote;
    let mut command = quote(crate::support::cli::binary());
    for arg in args {
        command.push(' ');
        command.push_str(&quote(arg));
    }
    std::process::Command::new("script")
        .args(["-q", "-e", "-f", "-c", &command, "/dev/null"])
        .current_dir(ws.root())
        .env("CONTAINER_HOST", podman.host())
        .env("TERM", "xterm")
        .env_remove("DOCKER_HOST")
        .env_remove("POCKET_DOCK_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script")
}

#[test]
fn on_a_terminal_with_v_the_log_lines_stay_whole_above_the_live_lines() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    three_steps(&ws, "sleep 1");
    let out = on_a_terminal(&ws, podman, &["-v", "apply"]);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    let plain = strip_ansi(&screen);
    let pieces: Vec<&str> = plain.split(['\r', '\n']).collect();
    // The build's own output is logged (-v) ...
    assert!(
        pieces
            .iter()
            .any(|l| l.contains(" INFO ") && l.contains("echo done")),
        "{screen:?}"
    );
    // ... live lines are drawn too ...
    assert!(
        pieces
            .iter()
            .any(|l| l.contains("Image/app") && l.contains("building: STEP ")),
        "{screen:?}"
    );
    // ... and never on the same line: each log line is written with the live lines
    // cleared away.
    for piece in &pieces {
        let logged = [" INFO ", " DEBUG ", " WARN "]
            .iter()
            .any(|l| piece.contains(l));
        assert!(
            !(logged && piece.contains("building")),
            "a log line and a live line share a line: {piece:?}"
        );
    }
    ws.pd(&["delete", "--all"]);
}

/// `text` without its terminal control sequences (`ESC [ … letter`, `ESC letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}
