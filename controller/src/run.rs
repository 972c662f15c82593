//! `run`: an ephemeral sandbox. Pull the image if missing, create and start an idle
//! container, run the command in it as an exec, and remove the container afterwards on
//! every path (success, failure, interruption) unless asked to keep it.
//!
//! SIGKILL is the one path that cannot clean up, so a container made without `--keep`
//! carries a lease naming this process (`lease`), and every `run` first sweeps the
//! workspace's containers whose `run` is gone.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use pocket_dock_spec::Kind;
use sha2::{Digest, Sha256};

use crate::engine::{
    ContainerConfig, Engine, EngineError, ExecConfig, ExecOutput, ExecResult, NetworkMode,
    Operation, OwnedContainer, Ownership, RemoveOutcome,
};
use crate::error::Error;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub image: String,
    pub cmd: Vec<String>,
    /// Container name; generated (`pd-run-<hex>`) when absent.
    pub name: Option<String>,
    /// Keep the container afterwards, and reuse an owned one of the same name.
    pub keep: bool,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub network: NetworkMode,
    /// Bounds the command's run; `None` means no limit.
    pub timeout: Option<Duration>,
    /// Bounds a pull of a missing image.
    pub pull_timeout: Duration,
    /// Credentials for that pull (the Workspace's `pullSecret`, read by the caller).
    pub pull_auth: Option<crate::registry_auth::RegistryAuth>,
    /// The workspace folder (`.pocket-dock/`) whose event log the run is appended to; `None`
    /// records nothing.
    pub event_log: Option<std::path::PathBuf>,
}

impl RunRequest {
    pub fn new(image: impl Into<String>, cmd: Vec<String>) -> Self {
        RunRequest {
            image: image.into(),
            cmd,
            name: None,
            keep: false,
            env: Vec::new(),
            workdir: None,
            network: NetworkMode::Default,
            timeout: None,
            pull_timeout: Duration::from_secs(600),
            pull_auth: None,
            event_log: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub container_name: String,
    pub container_id: String,
    pub exec: ExecResult,
    /// Whether the container was removed afterwards.
    pub removed: bool,
}

/// Runs `request`. `shutdown` resolving (Ctrl-C, SIGTERM, a test's signal) stops the
/// command, cleans up and returns [`Error::Interrupted`].
/// The run is appended to the event log of `request.event_log` (argv and exit code, never
/// the environment).
pub async fn run(
    engine: &Engine,
    ownership: &Ownership,
    request: &RunRequest,
    output: ExecOutput,
    shutdown: impl Future<Output = ()>,
) -> Result<RunOutcome, Error> {
    run_with_progress(
        engine,
        ownership,
        request,
        output,
        shutdown,
        &crate::engine::ignore_progress,
    )
    .await
}

/// [`run`], telling `on_progress` what the pull of a missing image does as it goes (see
/// `Engine::pull_with_progress`); nothing when the image is present.
pub async fn run_with_progress(
    engine: &Engine,
    ownership: &Ownership,
    request: &RunRequest,
    output: ExecOutput,
    shutdown: impl Future<Output = ()>,
    on_progress: crate::engine::OnProgress<'_>,
) -> Result<RunOutcome, Error> {
    let started = std::time::Instant::now();
    let result = run_unrecorded(engine, ownership, request, output, shutdown, on_progress).await;
    if let Some(dir) = &request.event_log {
        let event = crate::store::Event::new(crate::store::Source::Run, "run")
            .reason(request.image.clone())
            .duration(started.elapsed());
        let event = match &result {
            Ok(outcome) => event
                .outcome(if outcome.exec.exit_code == 0 {
                    crate::store::Outcome::Ok
                } else {
                    crate::store::Outcome::Failed
                })
                .object(Kind::Run.as_str(), outcome.container_name.clone())
                .detail(serde_json::json!({
                    "command": request.cmd,
                    "image": request.image,
                    "exit_code": outcome.exec.exit_code,
                    "stdout_bytes": outcome.exec.stdout.total,
                    "stderr_bytes": outcome.exec.stderr.total,
                    "removed": outcome.removed,
                })),
            Err(Error::Interrupted) => event
                .outcome(crate::store::Outcome::Killed)
                .detail(serde_json::json!({ "command": request.cmd, "image": request.image })),
            Err(e) => event
                .failed_with(e.category(), e)
                .detail(serde_json::json!({ "command": request.cmd, "image": request.image })),
        };
        crate::store::record_in(dir, &[event]);
    }
    result
}

async fn run_unrecorded(
    engine: &Engine,
    ownership: &Ownership,
    request: &RunRequest,
    output: ExecOutput,
    shutdown: impl Future<Output = ()>,
    on_progress: crate::engine::OnProgress<'_>,
) -> Result<RunOutcome, Error> {
    if request.cmd.is_empty() {
        return Err(Error::argument("CMD", "run needs a command after `--`"));
    }
    tokio::pin!(shutdown);
    let mut step = Step::start();

    // Only the pull (and the sweep beside it) is interruptible; create and start are quick
    // and must not be cut between them, or a container could be left behind.
    let sweep_and_pull = async {
        let (swept, pulled) = tokio::join!(
            crate::lease::sweep_expired_runs(engine, ownership),
            engine.pull_if_missing_with_progress(
                &request.image,
                request.pull_timeout,
                request.pull_auth.as_ref(),
                on_progress,
            )
        );
        // A failed sweep is not this run's failure: the leftovers wait for the next one (a
        // failed removal was logged; Podman unreachable fails the pull too).
        if let Err(e) = swept {
            tracing::debug!(error = %e, "the sweep of leftover run containers failed");
        }
        pulled
    };
    tokio::select! {
        biased;
        () = &mut shutdown => return Err(Error::Interrupted),
        pulled = sweep_and_pull => { pulled?; }
    }
    step.done("sweep and image check");
    let container = prepare(engine, ownership, request).await?;
    step.done("create and start");
    let interrupted = (&mut shutdown).now_or_never().is_some();

    let exec_config = ExecConfig {
        cmd: request.cmd.clone(),
        env: request.env.clone(),
        workdir: request.workdir.clone(),
        user: None,
        ..ExecConfig::default()
    };
    let result: Result<ExecResult, Error> = if interrupted {
        Err(Error::Interrupted)
    } else {
        tokio::select! {
            biased;
            () = &mut shutdown => Err(Error::Interrupted),
            r = engine.exec_run(&container, &exec_config, output, request.timeout) => r.map_err(Error::from),
        }
    };

    step.done("exec");
    if request.keep {
        return result.map(|exec| RunOutcome {
            container_name: container.name().to_string(),
            container_id: container.id().to_string(),
            exec,
            removed: false,
        });
    }
    let cleanup = engine.remove_container(&container).await;
    step.done("remove");
    match (result, cleanup) {
        (Ok(exec), Ok(outcome)) => Ok(RunOutcome {
            container_name: container.name().to_string(),
            container_id: container.id().to_string(),
            exec,
            removed: outcome == RemoveOutcome::Removed,
        }),
        (Ok(_), Err(cleanup_err)) => Err(cleanup_err.into()),
        (Err(primary), Ok(_)) => Err(primary),
        (Err(primary), Err(cleanup_err)) => {
            // The first failure is the one to report; the leftover container is named
            // so that it can be removed by hand.
            tracing::warn!(
                container = container.name(),
                error = %cleanup_err,
                "could not remove the container after a failed run"
            );
            Err(primary)
        }
    }
}

/// Times a run's steps for `-v` (`pocket_dock::run` at debug level): where the time goes.
struct Step(std::time::Instant);

impl Step {
    fn start() -> Step {
        Step(std::time::Instant::now())
    }

    fn done(&mut self, what: &str) {
        tracing::debug!(target: "pocket_dock::run", step = what, elapsed = ?self.0.elapsed(), "run step");
        self.0 = std::time::Instant::now();
    }
}

/// Container created (or reused when kept) and running.
async fn prepare(
    engine: &Engine,
    ownership: &Ownership,
    request: &RunRequest,
) -> Result<OwnedContainer, Error> {
    // A generated name is new: no container of it to reuse or refuse, so no look-up (were
    // it taken all the same, the create says so: a conflict, as for any name).
    let (name, look_up) = match &request.name {
        Some(name) => (name.clone(), true),
        None => (generated_name(), false),
    };
    let existing = if look_up {
        engine
            .find_owned_by_name(ownership, &name, Operation::ContainerStart)
            .await?
    } else {
        None
    };
    if let Some((details, owned)) = existing {
        if !request.keep {
            return Err(EngineError::Conflict {
                op: Operation::ContainerCreate,
                id: name,
                message: "a container of this name exists; pass --keep to reuse it, or \
                          choose another --name"
                    .to_string(),
            }
            .into());
        }
        // Only a container `run` made is reused: a Sandbox's is started by the reconciler,
        // which checks its mounts first.
        if crate::engine::labels::ObjectLabels::parse(&details.labels)
            .is_none_or(|l| l.kind != Kind::Run)
        {
            return Err(EngineError::Conflict {
                op: Operation::ContainerStart,
                id: name,
                message: "this is a declared object's container, not one `run` made; use \
                          `pocket-dock exec` in it, or choose another --name"
                    .to_string(),
            }
            .into());
        }
        // A leased container belongs to a `run` without --keep, which removes it when it
        // ends (or, killed, the next sweep does): reusing it would lose it mid-command.
        if crate::lease::Lease::from_labels(&details.labels).is_some() {
            return Err(EngineError::Conflict {
                op: Operation::ContainerStart,
                id: name,
                message: "a `run` without --keep made this container and removes it when it \
                          ends; choose another --name"
                    .to_string(),
            }
            .into());
        }
        if !details.state.is_running() {
            engine.start_container(&owned).await?;
        }
        return Ok(owned);
    }

    let mut config = ContainerConfig::idle(Kind::Run, &name, &name, &request.image);
    config.network = request.network.clone();
    if !request.keep {
        match crate::lease::Lease::of_this_process() {
            Some(lease) => config.labels.extend(lease.labels()),
            None => tracing::warn!(
                container = name,
                "/proc cannot say which process this is: the container has no lease, and \
                 is left behind if this run is killed with SIGKILL"
            ),
        }
    }
    let container = engine.create_container(ownership, &config).await?;
    if let Err(start_err) = engine.start_container(&container).await {
        if !request.keep {
            let _ = engine.remove_container(&container).await;
        }
        return Err(start_err.into());
    }
    Ok(container)
}

/// `pd-run-` and 8 hex digits from the clock and the process id: unique enough for
/// containers made one at a time by one user, and no global state.
fn generated_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let digest = Sha256::digest(format!("{nanos}:{}", std::process::id()));
    format!("pd-run-{}", crate::engine::labels::hex(&digest[..4]))
}
