//! Working inside a declared sandbox: commands (`exec`), with their history, and the
//! process cleanup that makes timeouts and Ctrl-C real. The CLI's `exec` and `history` are
//! thin layers over this.

mod exec;
mod json_lines;
mod logs;
mod session;

use std::time::Duration;

use pocket_dock_spec::Kind;

use crate::engine::{Engine, EngineError, ExecId, Operation, OwnedContainer, Ownership};
pub use crate::error::SandboxError;
use crate::procs;

pub use exec::{ExecEnd, ExecHandle, ExecReport, ExecRequest, OpenCommand};
pub use logs::{LogsOptions, logs, parse_timestamp};
pub(crate) use session::random_hex;
pub use session::{CommandResult, SESSION_ENV, Session, sweep};

/// The registered sessions (`(id, sandbox, client pid, client start)`, as the state store
/// lists them) whose client process is gone: it was killed, or the machine restarted.
pub fn orphaned_sessions(sessions: Vec<(String, String, i64, u64)>) -> Vec<(String, String)> {
    sessions
        .into_iter()
        .filter(|(_, _, pid, start)| procs::start_time(*pid) != Some(*start))
        .map(|(id, sandbox, _, _)| (id, sandbox))
        .collect()
}

/// Kills what is left of `orphans` (`(session id, sandbox)`). Run by every reconcile that
/// finds any. Returns the ids that are clean now (to be forgotten).
pub async fn sweep_orphan_sessions(
    engine: &Engine,
    ownership: &Ownership,
    orphans: Vec<(String, String)>,
) -> Vec<String> {
    let mut swept = Vec::new();
    for (id, sandbox) in orphans {
        // No running sandbox: its processes went with it.
        if let Ok(found) = Sandbox::find(engine, ownership, &sandbox).await
            && let Err(e) = session::sweep(&found, &id).await
        {
            tracing::warn!(session = %id, error = %e, "could not clean up an orphaned session");
            continue;
        }
        swept.push(id);
    }
    swept
}

/// Why `name` is not running when a `lifetime` limit stopped or removed it (as the state
/// store of the workspace remembers it).
fn expired(ownership: &Ownership, name: &str) -> Option<SandboxError> {
    let dir = ownership.root()?.join(crate::workspace::DIR_NAME);
    let store = crate::store::StateStore::open_existing(&dir)
        .ok()
        .flatten()?;
    let expiry = store.lifetimes().ok()?.remove(name)?.expiry?;
    Some(SandboxError::Expired {
        name: name.to_string(),
        what: match expiry.reason {
            crate::status::types::ExpiryReason::IdleTimeout => "stopped",
            crate::status::types::ExpiryReason::MaxLifetime => "removed",
        },
        why: expiry.message,
        at: crate::timefmt::rfc3339(u64::try_from(expiry.at_ms / 1000).unwrap_or(0)),
    })
}

/// `name` is paused: by `pocket-dock pause` (when the state store says so, with when), or
/// otherwise (its declaration, or by hand).
fn paused(ownership: &Ownership, name: &str) -> SandboxError {
    let record = ownership
        .root()
        .map(|root| root.join(crate::workspace::DIR_NAME))
        .and_then(|dir| crate::store::StateStore::open_existing(&dir).ok().flatten())
        .and_then(|store| store.pauses().ok())
        .and_then(|mut pauses| pauses.remove(name));
    SandboxError::Paused {
        name: name.to_string(),
        by: record.map_or_else(String::new, |r| {
            format!(
                " (by {}{})",
                r.by,
                r.at.map_or_else(String::new, |at| format!(" at {at}"))
            )
        }),
    }
}

/// A running sandbox of a workspace.
#[derive(Debug, Clone)]
pub struct Sandbox {
    engine: Engine,
    name: String,
    container: OwnedContainer,
    /// The container's main process on the host, when known: host-side kills are limited
    /// to processes in its pid namespace.
    init_pid: Option<i64>,
}

impl Sandbox {
    /// The running sandbox `name` of the workspace `ownership` identifies.
    pub async fn find(
        engine: &Engine,
        ownership: &Ownership,
        name: &str,
    ) -> Result<Sandbox, crate::Error> {
        let container_name = ownership.container_name(Kind::Sandbox, name);
        let found = engine
            .find_owned_by_name(ownership, &container_name, Operation::ExecCreate)
            .await?;
        let Some((details, container)) = found else {
            return Err(expired(ownership, name)
                .unwrap_or(SandboxError::Missing {
                    name: name.to_string(),
                })
                .into());
        };
        if details.state == crate::engine::ContainerState::Paused {
            return Err(paused(ownership, name).into());
        }
        if !details.state.is_running() {
            if let Some(expired) = expired(ownership, name) {
                return Err(expired.into());
            }
            return Err(SandboxError::NotRunning {
                name: name.to_string(),
                state: format!("{:?}", details.state).to_lowercase(),
            }
            .into());
        }
        Ok(Sandbox {
            engine: engine.clone(),
            name: name.to_string(),
            container,
            init_pid: details.pid.filter(|p| *p > 0),
        })
    }

    /// The sandbox that runs in `container` (for killing what an exec in it started).
    pub async fn of_container(
        engine: &Engine,
        container: &OwnedContainer,
    ) -> Result<Sandbox, EngineError> {
        let details = engine.inspect_container(container.id()).await?;
        Ok(Sandbox {
            engine: engine.clone(),
            name: crate::engine::labels::ObjectLabels::parse(&details.labels)
                .map(|l| l.name)
                .unwrap_or_default(),
            container: container.clone(),
            init_pid: details.pid.filter(|p| *p > 0),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn container(&self) -> &OwnedContainer {
        &self.container
    }

    /// Whether `error`, from a call into this sandbox, came of its container being gone
    /// or no longer running (removed by `delete`, `reset` or a recreate, or stopped): then
    /// its processes ended with it. A paused container's processes are still there.
    pub(crate) async fn is_gone_or_stopped(&self, error: &EngineError) -> bool {
        match error {
            EngineError::ContainerNotFound { .. } => true,
            EngineError::Conflict { .. } => {
                match self.engine.inspect_container(self.container.id()).await {
                    Err(EngineError::ContainerNotFound { .. }) => true,
                    Ok(details) => matches!(
                        details.state,
                        crate::engine::ContainerState::Exited
                            | crate::engine::ContainerState::Removing
                            | crate::engine::ContainerState::Dead
                            | crate::engine::ContainerState::Stopping
                    ),
                    Err(_) => false,
                }
            }
            _ => false,
        }
    }

    /// Kills an exec session's process and everything it started. From the host when this
    /// host runs the container and may signal it; otherwise from inside the container.
    /// Returns how many processes were signalled.
    pub async fn kill_exec(&self, id: &ExecId) -> Result<usize, EngineError> {
        let state = self.engine.exec_inspect(id).await?;
        // Only a running exec's pid is its own: once it exited, the number may be reused.
        let (crate::engine::ExecPhase::Running, Some(pid)) = (state.phase, state.pid) else {
            return Ok(0);
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return Ok(0); // exited already (or another host: nothing this side can see)
        }
        let pids = self.in_sandbox(procs::tree(pid, &procs::process_table()));
        if !pids.is_empty() && procs::kill_on_host(&pids) {
            return Ok(pids.len());
        }
        let inside: Vec<String> = pids
            .iter()
            .filter_map(|p| procs::container_pid(*p))
            .map(|p| p.to_string())
            .collect();
        self.kill_inside(&inside).await?;
        Ok(inside.len())
    }

    /// The pids, of those given, that run in this sandbox (none when that cannot be told).
    pub(crate) fn in_sandbox(&self, pids: Vec<i64>) -> Vec<i64> {
        let Some(init) = self.init_pid else {
            return Vec::new();
        };
        pids.into_iter()
            .filter(|p| procs::same_pid_namespace(*p, init))
            .collect()
    }

    /// `kill -KILL PID...` run in the container (pids as it sees them).
    async fn kill_inside(&self, pids: &[String]) -> Result<(), EngineError> {
        if pids.is_empty() {
            return Ok(());
        }
        let mut cmd = vec!["kill".to_string(), "-KILL".to_string()];
        cmd.extend(pids.iter().cloned());
        self.engine
            .exec_run(
                &self.container,
                &crate::engine::ExecConfig::new(cmd),
                crate::engine::ExecOutput::new(),
                Some(Duration::from_secs(10)),
            )
            .await
            .map(|_| ())
    }
}

/// An interactive process with a terminal, started by [`Sandbox::start_tty`].
pub struct TtyExec {
    pub id: ExecId,
    pub output: crate::engine::ExecStream,
    pub input: crate::engine::ExecInput,
}

impl Sandbox {
    /// Starts `cmd` with a terminal of `rows` x `cols` and attached input (`shell`).
    pub async fn start_tty(
        &self,
        cmd: Vec<String>,
        env: Vec<String>,
        rows: u16,
        cols: u16,
    ) -> Result<TtyExec, EngineError> {
        let config = crate::engine::ExecConfig {
            cmd,
            env,
            stdin: true,
            tty: true,
            ..crate::engine::ExecConfig::default()
        };
        let id = self.engine.exec_create(&self.container, &config).await?;
        let (output, input) = self.engine.exec_start_interactive(&id, true).await?;
        // Best effort: a terminal that cannot be sized still works, at 80x24.
        if let Err(e) = self.engine.exec_resize(&id, rows, cols).await {
            tracing::debug!(error = %e, "could not size the terminal");
        }
        Ok(TtyExec { id, output, input })
    }

    /// Appends an interactive shell's run (`shell`) to the event log of the workspace folder
    /// `log` (`.pocket-dock/`): a `session` row with action `shell`, the command, its exit
    /// code (`None`: ended by a signal to the client) and duration. What was typed and shown
    /// is not recorded.
    pub fn record_tty(
        &self,
        log: &std::path::Path,
        cmd: &[String],
        duration: Duration,
        result: &Result<Option<i64>, crate::Error>,
    ) {
        use crate::store::{Event, Outcome, Source};
        let event = Event::new(Source::Session, "shell")
            .object("Sandbox", self.name.clone())
            .duration(duration);
        let event = match result {
            Ok(exit_code) => event
                .outcome(match exit_code {
                    Some(0) => Outcome::Ok,
                    Some(_) => Outcome::Failed,
                    None => Outcome::Killed,
                })
                .detail(serde_json::json!({ "command": cmd, "exit_code": exit_code })),
            Err(e) => event
                .failed_with(e.category(), e)
                .detail(serde_json::json!({ "command": cmd })),
        };
        crate::store::record_in(log, &[event]);
    }

    /// The exit code of a finished exec.
    pub async fn exit_code(&self, id: &ExecId) -> Result<i64, EngineError> {
        self.engine.wait_exec_exit(id).await
    }

    pub async fn resize(&self, id: &ExecId, rows: u16, cols: u16) -> Result<(), EngineError> {
        self.engine.exec_resize(id, rows, cols).await
    }
}
