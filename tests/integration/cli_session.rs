//! `session`: the JSON-lines protocol against real Podman, and cleanup after a client that
//! was killed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::Podman;
use crate::support::workspace::TestWorkspace;

struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Client {
    fn start(ws: &TestWorkspace) -> Client {
        let mut child = ws
            .command(&["session", "box"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut client = Client {
            child,
            stdin,
            lines,
        };
        assert_eq!(client.next()["event"], "started");
        client
    }

    fn next(&mut self) -> Value {
        let line = self.lines.next().expect("a line").unwrap();
        serde_json::from_str(&line).unwrap()
    }

    fn send(&mut self, request: Value) {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Runs `command`; returns (stdout, stderr, exit).
    fn run(&mut self, id: usize, command: &str) -> (String, String, Value) {
        self.send(json!({"id": id, "run": command}));
        let (mut out, mut err) = (String::new(), String::new());
        loop {
            let event = self.next();
            assert_eq!(event["id"], id, "{event}");
            match event["stream"].as_str() {
                Some("stdout") => out.push_str(event["data"].as_str().unwrap()),
                Some("stderr") => err.push_str(event["data"].as_str().unwrap()),
                _ => return (out, err, event["exit"].clone()),
            }
        }
    }
}

#[test]
fn a_session_runs_200_commands_with_the_right_exit_codes_whatever_they_print() {
    let podman = Podman::shared();
    let ws = crate::cli_exec::workspace_with_a_sandbox(podman);
    let mut client = Client::start(&ws);
    for i in 0..200usize {
        let code = i % 7;
        let (command, expected) = match i % 5 {
            0 => (format!("echo '$ '; (exit {code})"), "$ \n".to_string()),
            1 => (
                format!("echo '__pocket_dock_00112233445566778899aabbccddeeff__ 0'; (exit {code})"),
                "__pocket_dock_00112233445566778899aabbccddeeff__ 0\n".to_string(),
            ),
            2 => (
                format!("printf 'no newline {i}'; (exit {code})"),
                format!("no newline {i}"),
            ),
            3 => (
                format!(
                    "printf '\\n__pocket_dock_\\n{{\"id\": {i}, \"exit\": 0}}\\n'; (exit {code})"
                ),
                format!("\n__pocket_dock_\n{{\"id\": {i}, \"exit\": 0}}\n"),
            ),
            _ => (
                format!("echo out {i}; echo err {i} >&2; (exit {code})"),
                format!("out {i}\n"),
            ),
        };
        let (out, err, exit) = client.run(i, &command);
        assert_eq!(exit, json!(code), "command {i}: {command}");
        assert_eq!(out, expected, "command {i}: {command}");
        if i % 5 == 4 {
            assert_eq!(err, format!("err {i}\n"));
        } else {
            assert_eq!(err, "", "command {i}");
        }
    }
    // Input reaches a command that reads it; state persists between commands.
    client.send(json!({"id": "r", "run": "read name; echo hello $name; cd /tmp"}));
    client.send(json!({"input": "world\n"}));
    assert_eq!(client.next()["data"], "hello world\n");
    assert_eq!(client.next()["exit"], 0);
    assert_eq!(client.run(1000, "pwd").0, "/tmp\n");
    client.send(json!({"close": true}));
    assert_eq!(client.next()["event"], "closed");
    assert!(client.child.wait().unwrap().success());
    // The event log has the session's opening, each command and its closing.
    let (_, events) = ws.pd_json(&["events", "--source", "session", "--last", "1000"]);
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 204, "{actions:?}");
    assert_eq!((actions[0], actions[203]), ("open", "close"));
    assert_eq!(events[1]["outcome"], "ok");
    assert_eq!(events[2]["outcome"], "failed");
    assert_eq!(events[2]["detail"]["exit_code"], 1);
    assert_eq!(events[202]["detail"]["command"], "pwd");
    ws.pd(&["delete", "--all"]);
}

#[test]
fn a_killed_client_leaves_nothing_running_after_the_next_reconcile() {
    let podman = Podman::shared();
    let ws = crate::cli_exec::workspace_with_a_sandbox(podman);
    let mut client = Client::start(&ws);
    client.send(json!({"id": 1, "run": "sleep 331"}));
    crate::cli_exec::wait_for_process(&ws, "sleep 331");
    client.child.kill().unwrap(); // SIGKILL: no cleanup of its own
    client.child.wait().unwrap();
    let ps = || crate::cli_exec::ps(&ws);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        ps().contains("sleep 331"),
        "the orphan is there before: {}",
        ps()
    );
    ws.pd_ok(&["apply"]);
    let after = ps();
    assert!(
        !after.contains("sleep 331"),
        "gone after the reconcile: {after}"
    );
    ws.pd(&["delete", "--all"]);
}
