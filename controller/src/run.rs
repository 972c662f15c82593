//! `run`: an ephemeral sandbox. Pull the image if missing, run the command, and remove the
//! container afterwards on every path (success, failure, interruption) unless asked to keep
//! it.
//!
//! Without `--keep` the command is the container's own process, attached before it starts
//! (Podman's `run --rm`, over the API: create, attach, start, wait, remove). With `--keep`
//! the container is an idle sandbox that outlives the command, which runs in it as an exec
//! (and a kept container of the same name is reused).
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
    ContainerConfig, ContainerDetails, Engine, EngineError, ExecConfig, ExecId, ExecOutput,
    ExecResult, NetworkMode, Operation, OwnedContainer, Ownership, RemoveOutcome,
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
    /// The command's result. Without `--keep` the command is the container's own process,
    /// and `exec.exec_id` holds the container's id.
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
    if request.keep {
        run_kept(engine, ownership, request, output, shutdown, step).await
    } else {
        run_removed(engine, ownership, request, output, shutdown, step).await
    }
}

/// Without `--keep`: the command is the container's process; the container is removed
/// with force when it ends, times out or is interrupted (no graceful stop to wait for).
async fn run_removed(
    engine: &Engine,
    ownership: &Ownership,
    request: &RunRequest,
    mut output: ExecOutput,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    mut step: Step,
) -> Result<RunOutcome, Error> {
    let name = match &request.name {
        Some(name) => {
            if let Some((_, owned)) = find_by_name(engine, ownership, name).await? {
                return Err(name_taken(owned.name()));
            }
            name.clone()
        }
        // A generated name is new: no container of it to refuse, so no look-up (were it
        // taken all the same, the create says so: a conflict, as for any name).
        None => generated_name(),
    };
    let mut config = ContainerConfig::new(Kind::Run, &name, &name, &request.image);
    // argv as an exec would run it: the image's entrypoint and command do not apply, and
    // no init (as `podman run`): a command that cannot start is then the runtime's answer
    // (127 or 126), and the force removal below kills whatever runs.
    config.init = false;
    config.entrypoint = Some(request.cmd.clone());
    config.cmd = Some(Vec::new());
    config.env = request
        .env
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    config.workdir = request.workdir.clone();
    config.network = request.network.clone();
    add_lease(&mut config);
    let container = engine.create_container(ownership, &config).await?;
    step.done("create");

    let started = std::time::Instant::now();
    let result: Result<i64, Error> = if (&mut shutdown).now_or_never().is_some() {
        Err(Error::Interrupted)
    } else {
        tokio::select! {
            biased;
            () = &mut shutdown => Err(Error::Interrupted),
            r = engine.start_attached(&container, &mut output, request.timeout) => {
                r.map(|exit| exit.code()).map_err(Error::from)
            }
        }
    };
    step.done("start and run");
    let cleanup = engine.remove_container(&container).await;
    step.done("remove");
    let (stdout, stderr) = output.take_captured();
    let result = result.map(|exit_code| ExecResult {
        exec_id: ExecId::new(container.id()),
        exit_code,
        stdout,
        stderr,
        duration: started.elapsed(),
    });
    finish(&container, result, cleanup)
}

/// With `--keep`: an idle container (made, or an owned one of the same name reused) and
/// the command as an exec in it; the container stays.
async fn run_kept(
    engine: &Engine,
    ownership: &Ownership,
    request: &RunRequest,
    output: ExecOutput,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    mut step: Step,
) -> Result<RunOutcome, Error> {
    let container = prepare_kept(engine, ownership, request).await?;
    step.done("create and start");
    let exec_config = ExecConfig {
        cmd: request.cmd.clone(),
        env: request.env.clone(),
        workdir: request.workdir.clone(),
        user: None,
        ..ExecConfig::default()
    };
    let result: Result<ExecResult, Error> = if (&mut shutdown).now_or_never().is_some() {
        Err(Error::Interrupted)
    } else {
        tokio::select! {
            biased;
            () = &mut shutdown => Err(Error::Interrupted),
            r = engine.exec_run(&container, &exec_config, output, request.timeout) => r.map_err(Error::from),
        }
    };
    step.done("exec");
    result.map(|exec| RunOutcome {
        container_name: container.name().to_string(),
        container_id: container.id().to_string(),
        exec,
        removed: false,
    })
}

/// The run's result once its container was removed: the command's failure first, then
/// the removal's.
fn finish(
    container: &OwnedContainer,
    result: Result<ExecResult, Error>,
    cleanup: Result<RemoveOutcome, EngineError>,
) -> Result<RunOutcome, Error> {
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

/// The owned container of that name, if any (one of another workspace is an error).
async fn find_by_name(
    engine: &Engine,
    ownership: &Ownership,
    name: &str,
) -> Result<Option<(ContainerDetails, OwnedContainer)>, Error> {
    Ok(engine
        .find_owned_by_name(ownership, name, Operation::ContainerStart)
        .await?)
}

fn name_taken(name: &str) -> Error {
    EngineError::Conflict {
        op: Operation::ContainerCreate,
        id: name.to_string(),
        message: "a container of this name exists; pass --keep to reuse it, or choose \
                  another --name"
            .to_string(),
    }
    .into()
}

/// A lease naming this process, so that the container is swept if the run is killed.
fn add_lease(config: &mut ContainerConfig) {
    match crate::lease::Lease::of_this_process() {
        Some(lease) => config.labels.extend(lease.labels()),
        None => tracing::warn!(
            container = config.name,
            "/proc cannot say which process this is: the container has no lease, and is \
             left behind if this run is killed with SIGKILL"
        ),
    }
}

/// A kept run's container: created idle and started, or an owned one reused.
async fn prepare_kept(
    engine: &Engine,
    ownership: &Ownership,
    request: &RunRequest,
) -> Result<OwnedContainer, Error> {
    let (name, existing) = match &request.name {
        Some(name) => (name.clone(), find_by_name(engine, ownership, name).await?),
        None => (generated_name(), None),
    };
    if let Some((details, owned)) = existing {
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
    let container = engine.create_container(ownership, &config).await?;
    engine.start_container(&container).await?;
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
