//! `pocket-dock session SANDBOX`: the session protocol as JSON lines, for tools in any
//! language. One request per line on stdin, one event per line on stdout:
//!
//! ```text
//! -> {"id": "1", "run": "make test", "timeout": "5m"}    run a command (timeout optional)
//! -> {"input": "yes\n"}                                  bytes for a command reading stdin
//! -> {"close": true}                                     end the session (so does EOF)
//! <- {"event": "started", "session": "…", "sandbox": "box"}
//! <- {"id": "1", "stream": "stdout", "data": "…"}        output as it comes
//! <- {"id": "1", "exit": 0, "duration_ms": 12}           done (exit null: timed out)
//! <- {"event": "closed"}
//! ```

use std::io::Write;

use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::engine::{Engine, StreamKind};
use pocket_dock::sandbox::Sandbox;
use pocket_dock::store::StateStore;
use pocket_dock::workspace::DIR_NAME;
use pocket_dock_spec::parse_duration;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::{GlobalArgs, Outcome};

#[derive(Debug, Args)]
pub struct SessionArgs {
    /// The shell to start
    #[arg(long, default_value = "sh")]
    shell: String,
    /// The sandbox (a declared Sandbox, running)
    sandbox: String,
}

fn emit_line(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Requests in the order they came: input reaches the command that runs when it is read,
/// never one that comes later.
enum Request {
    Run {
        id: Value,
        command: String,
        timeout: Option<std::time::Duration>,
    },
    Input(Vec<u8>),
    Close,
}

pub async fn session(global: &GlobalArgs, args: SessionArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = Engine::new(&global.engine_config()?)?;
    let sandbox = Sandbox::find(&engine, &workspace.ownership(), &args.sandbox).await?;
    // A session is registered so that a client that dies cannot leave its processes
    // running in the sandbox (every reconcile sweeps them): no store, no session.
    let (store, warning) = StateStore::open(&workspace.root.join(DIR_NAME))?;
    if let Some(w) = warning {
        err!("warning: {w}");
    }
    let mut session = sandbox
        .open_session(Some(&args.shell), Some(&store))
        .await?;
    emit_line(&json!({"event": "started", "session": session.id(), "sandbox": sandbox.name()}));

    // Requests are read on their own so that input can reach a command while it runs.
    let (runs_tx, mut runs) = mpsc::channel::<Request>(64);
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            let request: Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(e) => {
                    emit_line(&json!({"event": "error", "message": format!("not JSON: {e}")}));
                    continue;
                }
            };
            if let Some(data) = request["input"].as_str() {
                if runs_tx
                    .send(Request::Input(data.as_bytes().to_vec()))
                    .await
                    .is_err()
                {
                    break;
                }
            } else if let Some(command) = request["run"].as_str() {
                let timeout = match request["timeout"].as_str().map(parse_duration) {
                    Some(Ok(t)) => Some(t),
                    Some(Err(e)) => {
                        emit_line(
                            &json!({"id": request["id"], "event": "error", "message": format!("timeout: {e}")}),
                        );
                        continue;
                    }
                    None => None,
                };
                let run = Request::Run {
                    id: request["id"].clone(),
                    command: command.to_string(),
                    timeout,
                };
                if runs_tx.send(run).await.is_err() {
                    break;
                }
            } else if request["close"].as_bool() == Some(true) {
                let _ = runs_tx.send(Request::Close).await;
                break;
            } else {
                emit_line(&json!({"event": "error", "message": "expected run, input or close"}));
            }
        }
        let _ = runs_tx.send(Request::Close).await;
    });

    let mut held: Option<Request> = None;
    loop {
        let request = match held.take() {
            Some(r) => r,
            None => match runs.recv().await {
                Some(r) => r,
                None => break,
            },
        };
        let (id, command, timeout) = match request {
            Request::Run {
                id,
                command,
                timeout,
            } => (id, command, timeout),
            Request::Input(data) => {
                // Nothing runs: it is for the shell itself.
                session.write_input(&data).await?;
                continue;
            }
            Request::Close => break,
        };
        let on_output = |stream: StreamKind, data: &[u8]| {
            let name = match stream {
                StreamKind::Stdout => "stdout",
                StreamKind::Stderr => "stderr",
            };
            emit_line(&json!({"id": id, "stream": name, "data": String::from_utf8_lossy(data)}));
        };
        let (input_tx, mut input) = mpsc::channel::<Vec<u8>>(64);
        let result = {
            let run = session.run_with_input(&command, timeout, on_output, Some(&mut input));
            tokio::pin!(run);
            loop {
                tokio::select! {
                    result = &mut run => break result,
                    next = runs.recv(), if held.is_none() => match next {
                        Some(Request::Input(data)) => { let _ = input_tx.send(data).await; }
                        Some(other) => held = Some(other),
                        None => held = Some(Request::Close),
                    },
                }
            }
        };
        match result {
            Ok(done) => {
                emit_line(&json!({
                    "id": id,
                    "exit": done.exit_code,
                    "timed_out": done.exit_code.is_none(),
                    "duration_ms": done.duration.as_millis() as u64,
                }));
                if done.session_ended {
                    emit_line(&json!({"event": "closed", "reason": "the shell exited"}));
                    let _ = store.forget_session(session.id());
                    return Ok(ExitCode::Success.code());
                }
            }
            Err(e) => {
                emit_line(&json!({"id": id, "event": "error", "message": e.to_string()}));
                return Err(e);
            }
        }
    }
    session.close(Some(&store)).await?;
    emit_line(&json!({"event": "closed"}));
    Ok(ExitCode::Success.code())
}
