//! `audit verify` against real Podman: what apply, exec and a session command recorded is
//! hash-chained; verify passes (exit 0, the head hash); a row's action changed by hand in
//! the SQLite file is named (exit 4), in text and in JSON.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use serde_json::json;

use crate::support::Podman;

/// Runs one command in a `session` (JSON lines) and closes it.
fn session_command(ws: &crate::support::workspace::TestWorkspace, command: &str) {
    let mut child = ws
        .command(&["session", "box"])
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
    writeln!(stdin, "{}", json!({"id": 1, "run": command})).unwrap();
    stdin.flush().unwrap();
    while next().get("exit").is_none() {}
    writeln!(stdin, "{}", json!({"close": true})).unwrap();
    stdin.flush().unwrap();
    assert_eq!(next()["event"], "closed");
    assert!(child.wait().unwrap().success());
}

#[test]
fn verify_holds_after_real_work_and_names_the_row_changed_by_hand() {
    let podman = Podman::shared();
    let ws = crate::cli_exec::workspace_with_a_sandbox(podman);
    ws.pd_ok(&["exec", "box", "--", "echo", "hello"]);
    session_command(&ws, "echo from a session");

    // Apply, exec and the session are in the log, each row chained.
    let (_, events) = ws.pd_json(&["events", "--last", "1000"]);
    let sources: Vec<&str> = events
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    for source in ["apply", "exec", "session"] {
        assert!(sources.contains(&source), "{source}: {sources:?}");
    }
    let exec = events.iter().find(|e| e["source"] == "exec").unwrap()["id"]
        .as_i64()
        .unwrap();
    let last = events.last().unwrap()["id"].as_i64().unwrap();

    let text = ws.pd_ok(&["audit", "verify"]).stdout_text();
    assert!(
        text.starts_with("ok: the event log's hash chains hold"),
        "{text}"
    );
    assert!(
        text.contains(&format!("rows checked  {} ", events.len())),
        "{text}"
    );
    assert!(
        text.contains(&format!("head          row {last} sha256:")),
        "{text}"
    );

    let (run, out) = ws.pd_json(&["audit", "verify"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let report = &out[0];
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["rows"], events.len());
    assert_eq!(report["last_id"], last);
    assert_eq!(report["head"]["id"], last);
    assert_eq!(report["head"]["hash"].as_str().unwrap().len(), 64);
    assert_eq!(report["problems"], json!([]));
    assert_eq!(report["first_problem"], serde_json::Value::Null);
    assert!(
        report["logs"]["history"]["rows"].as_u64().unwrap() >= 4,
        "{report:#}"
    );
    assert!(
        report["store"]
            .as_str()
            .unwrap()
            .ends_with(".pocket-dock/state.db")
    );

    // The head, kept elsewhere, is checked later: still there after more work.
    let head = format!("{last}:{}", report["head"]["hash"].as_str().unwrap());
    ws.pd_ok(&["exec", "box", "--", "true"]);
    let text = ws
        .pd_ok(&["audit", "verify", "--expect-head", &head])
        .stdout_text();
    assert!(
        text.contains(&format!(
            "expected head row {last}: still in the log, unchanged"
        )),
        "{text}"
    );
    let bad = ws.pd(&["audit", "verify", "--expect-head", "12:abc"]);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr_text());

    // One row's action rewritten in the file, as anyone who can write it could.
    let db = rusqlite::Connection::open(ws.path(".pocket-dock/state.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE events SET action = 'nothing' WHERE id = ?1",
            rusqlite::params![exec],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);

    let run = ws.pd(&["audit", "verify"]);
    assert_eq!(
        run.code,
        Some(4),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let stderr = run.stderr_text();
    assert!(
        stderr.contains(&format!("broken at row {exec} (changed)")),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");

    let (run, out) = ws.pd_json(&["audit", "verify"]);
    assert_eq!(run.code, Some(4));
    let report = &out[0];
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["exit_code"], 4);
    assert_eq!(report["first_problem"]["row"], exec);
    assert_eq!(report["first_problem"]["kind"], "changed");
    assert_eq!(report["problems"][0], report["first_problem"]);
    assert!(report["hint"].is_string());
    ws.pd(&["delete", "--all"]);
}
