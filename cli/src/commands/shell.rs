//! `pocket-dock shell SANDBOX`: an interactive shell with a terminal. The local terminal is
//! put in raw mode (keys, Ctrl-C included, go to the sandbox) and restored on every way out:
//! the shell exiting, a lost connection, SIGTERM/SIGHUP, or a panic (the guard's `Drop`).

use std::io::{Read, Write};

use clap::Args;
use pocket_dock::engine::Engine;
use pocket_dock::sandbox::{OpenCommand, Sandbox};
use pocket_dock::{Error, ExitCode};
use rustix::termios::{self, OptionalActions, Termios};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The shell to run (it must exist in the sandbox's image)
    #[arg(long, default_value = "sh")]
    shell: String,
    /// The sandbox (a declared Sandbox, running)
    sandbox: String,
}

/// Raw mode for as long as it lives.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

fn window_size() -> (u16, u16) {
    termios::tcgetwinsize(std::io::stdout())
        .ok()
        .filter(|w| w.ws_row > 0 && w.ws_col > 0)
        .map_or((24, 80), |w| (w.ws_row, w.ws_col))
}

pub async fn shell(global: &GlobalArgs, args: ShellArgs) -> Outcome {
    // A terminal's bytes are not JSON: machines drive a shell through `session`.
    if matches!(global.output, OutputFormat::Json | OutputFormat::Yaml) {
        return Err(Error::argument(
            "--output",
            "shell is interactive and has no JSON output; use `pocket-dock session SANDBOX` (JSON lines on stdin/stdout) or `pocket-dock exec`",
        ));
    }
    let workspace = global.declared_workspace()?;
    let engine = Engine::new(&global.engine_config()?)?;
    let sandbox = Sandbox::find(&engine, &workspace.ownership(), &args.sandbox).await?;
    if !termios::isatty(std::io::stdin()) {
        return Err(Error::argument(
            "stdin",
            "shell needs a terminal; use `pocket-dock exec` or `pocket-dock session` from scripts",
        ));
    }
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".to_string());
    let (rows, cols) = window_size();
    let argv = vec![args.shell];
    let started = std::time::Instant::now();
    // The shell is activity for the sandbox's `lifetime.idleTimeout` while it is open.
    let store = workspace.state_store().ok().map(|(store, _)| store);
    let _open = store
        .as_ref()
        .map(|store| OpenCommand::begin(store, &args.sandbox));
    let mut tty = sandbox
        .start_tty(argv.clone(), vec![format!("TERM={term}")], rows, cols)
        .await?;

    let _raw = RawMode::enter();
    // Stdin is read on a thread of its own: a blocking read must never hold up the exit.
    let (keys_tx, mut keys) = mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buffer = [0u8; 4096];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if keys_tx.blocking_send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let (Ok(mut winch), Ok(mut term_signal), Ok(mut hangup)) = (
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()),
    ) else {
        return Err(Error::Task {
            task: "installing signal handlers",
            message: "the runtime refused".to_string(),
        });
    };
    let mut stdin_open = true;
    // How the shell ended: on its own (`Some`), by a signal to us (`None`), or with a broken
    // stream.
    let ended: Result<Option<()>, Error> = loop {
        tokio::select! {
            chunk = tty.output.next_chunk() => match chunk {
                Some(Ok(chunk)) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&chunk.data);
                    let _ = out.flush();
                }
                Some(Err(e)) => break Err(e.into()),
                None => break Ok(Some(())),
            },
            key = keys.recv(), if stdin_open => match key {
                Some(bytes) => {
                    if tty.input.write_all(&bytes).await.is_err() {
                        break Ok(Some(()));
                    }
                    let _ = tty.input.flush().await;
                }
                None => {
                    stdin_open = false;
                    let _ = tty.input.shutdown().await;
                }
            },
            _ = winch.recv() => {
                let (rows, cols) = window_size();
                let _ = sandbox.resize(&tty.id, rows, cols).await;
            }
            _ = term_signal.recv() => break Ok(None),
            _ = hangup.recv() => break Ok(None),
        }
    };
    let ended = match ended {
        Ok(Some(())) => sandbox
            .exit_code(&tty.id)
            .await
            .map(Some)
            .map_err(Error::from),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    // The shell is in the event log (not what was typed in it).
    sandbox.record_tty(&workspace.dir(), &argv, started.elapsed(), &ended);
    match ended? {
        Some(code) => Ok(u8::try_from(code.rem_euclid(256)).unwrap_or(ExitCode::Failed.code())),
        None => Ok(ExitCode::Interrupted.code()),
    }
}
