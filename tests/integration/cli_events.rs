//! The event log against real Podman: `apply`, `exec`, `delete` and `gc` in one workspace
//! all land in `events` (source, object, action, outcome, duration), and `history` still
//! lists the exec commands as before.

use crate::support::Podman;
use crate::support::workspace::{TestWorkspace, sandbox};

#[test]
fn apply_exec_delete_and_gc_are_all_in_the_event_log_and_history_is_a_view_of_it() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("a.yaml", &sandbox("a", ""));
    ws.write("b.yaml", &sandbox("b", ""));
    ws.pd_ok(&["apply"]);
    ws.pd_ok(&["exec", "a", "--", "echo", "hello"]);
    let failed = ws.pd(&["exec", "a", "--", "sh", "-c", "exit 3"]);
    assert_eq!(failed.code, Some(3), "{}", failed.stderr_text());
    ws.pd_ok(&["delete", "sandbox/a"]);
    ws.remove("b.yaml");
    ws.pd_ok(&["gc"]);

    let (run, events) = ws.pd_json(&["events", "--last", "100"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let find = |source: &str, object: &str| {
        events
            .iter()
            .filter(|e| e["source"] == source && e["object"] == object)
            .cloned()
            .collect::<Vec<_>>()
    };
    let all = serde_json::Value::Array(events.clone());
    for e in &events {
        for field in ["time", "source", "object", "action", "reason", "outcome"] {
            assert!(e.get(field).is_some(), "{field} missing: {e}");
        }
    }

    let applied = find("apply", "Sandbox/a");
    assert!(!applied.is_empty(), "{all:#}");
    assert!(applied.iter().all(|e| e["outcome"] == "ok"), "{all:#}");
    assert!(applied.iter().all(|e| e["duration_ms"].is_i64()), "{all:#}");

    let execs = find("exec", "Sandbox/a");
    assert_eq!(execs.len(), 2, "{all:#}");
    assert_eq!(execs[0]["outcome"], "ok");
    assert_eq!(execs[0]["detail"]["command"][1], "hello");
    assert_eq!(execs[1]["outcome"], "failed");
    assert_eq!(execs[1]["detail"]["exit_code"], 3);
    assert!(execs[1]["duration_ms"].is_i64());

    let deleted = find("delete", "Sandbox/a");
    assert_eq!(deleted.len(), 1, "{all:#}");
    assert_eq!(deleted[0]["action"], "remove");
    assert_eq!(deleted[0]["outcome"], "ok");
    assert!(deleted[0]["duration_ms"].is_i64());

    let collected = find("gc", "Sandbox/b");
    assert_eq!(collected.len(), 1, "{all:#}");
    assert_eq!(collected[0]["outcome"], "ok");
    assert_eq!(collected[0]["reason"], "no longer declared");
    assert!(collected[0]["duration_ms"].is_i64());

    // Oldest first, ids growing.
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Filters.
    let (_, only) = ws.pd_json(&["events", "--source", "exec,delete", "--object", "sandbox/a"]);
    let sources: Vec<&str> = only.iter().map(|e| e["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["exec", "exec", "delete"]);

    // The text form has every column.
    let text = ws.pd_ok(&["events"]).stdout_text();
    let line = text
        .lines()
        .find(|l| l.contains(" delete "))
        .unwrap_or_else(|| panic!("{text}"));
    for column in ["Sandbox/a", "remove", "ok", "ms"] {
        assert!(line.contains(column), "{column}: {line}");
    }

    // `history` lists the exec commands exactly as before.
    let (run, out) = ws.pd_json(&["history", "a"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let entries = out[0].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let mut fields: Vec<&String> = entries[0].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "command",
            "duration_ms",
            "exit_code",
            "finished_at",
            "sandbox",
            "started_at",
            "stderr_bytes",
            "stdout_bytes"
        ]
    );
    assert_eq!(entries[0]["command"], serde_json::json!(["echo", "hello"]));
    assert_eq!(entries[0]["exit_code"], 0);
    assert_eq!(entries[0]["stdout_bytes"], 6);
    assert_eq!(entries[1]["exit_code"], 3);
    let text = ws.pd_ok(&["history"]).stdout_text();
    assert!(
        text.starts_with(
            "STARTED              SANDBOX           EXIT      TIME     STDOUT     STDERR  COMMAND"
        ),
        "{text}"
    );
    assert!(text.contains("sh -c 'exit 3'"), "{text}");
    ws.pd(&["delete", "--all"]);
}

#[test]
fn events_follow_shows_new_events_of_any_source_as_they_are_recorded() {
    use std::io::BufRead;
    let podman = Podman::shared();
    let ws = crate::cli_exec::workspace_with_a_sandbox(podman);
    let mut follower = ws
        .command(&["--output", "json", "events", "-f", "--last", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The follower has read where the log ends once it holds the state store open (it
    // queries right after opening it, long before the next command records anything).
    let fds = format!("/proc/{}/fd", follower.id());
    crate::support::until_blocking(
        std::time::Duration::from_secs(10),
        "the follower opening the event log",
        || {
            std::fs::read_dir(&fds).is_ok_and(|entries| {
                entries.flatten().any(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|target| target.ends_with(".pocket-dock/state.db"))
                })
            })
        },
    );
    ws.pd_ok(&["exec", "box", "--", "true"]);
    ws.pd_ok(&["delete", "sandbox/box"]);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            seen.push(format!("{} {}", event["source"], event["object"]));
        }
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert_eq!(
        seen,
        ["\"exec\" \"Sandbox/box\"", "\"delete\" \"Sandbox/box\""],
        "--last 0: nothing from before, then each new one"
    );
    ws.pd(&["delete", "--all"]);
}
