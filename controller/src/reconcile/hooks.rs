//! Lifecycle hooks: `postCreate` once per container, after its first start; `postStart`
//! after every start. Each command is an exec with a timeout; the first that fails stops
//! the rest, fails the action (`HookFailed`) and is remembered in the state store, so that
//! the sandbox reads `Ready=False` until its hooks pass again (a new container, or a start
//! whose `postStart` passes). The container is kept, so that it can be looked into.

use std::time::{Duration, Instant};

use super::desired::Hooks;
use super::observe::last_bytes;
use crate::engine::{Engine, EngineError, OwnedContainer};
pub use crate::status::types::{HookFailure, HookPoint};

/// One hook command that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    pub hook: HookPoint,
    pub argv: Vec<String>,
    /// `None`: it did not finish (its timeout, or the engine failed it).
    pub exit_code: Option<i64>,
    /// The end of what it printed (stdout, then stderr).
    pub output: String,
    pub duration: Duration,
    /// Why it failed when it has no exit code.
    pub error: Option<String>,
}

impl HookRun {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

impl HookFailure {
    fn of(container_id: &str, run: &HookRun) -> Self {
        let ended = match (run.exit_code, &run.error) {
            (Some(code), _) => format!("exited {code}"),
            (None, Some(error)) => error.clone(),
            (None, None) => "did not finish".to_string(),
        };
        HookFailure {
            container_id: container_id.to_string(),
            hook: run.hook,
            argv: run.argv.clone(),
            exit_code: run.exit_code,
            output: run.output.clone(),
            message: format!("{} hook {:?} {ended}", run.hook, run.argv.join(" ")),
        }
    }
}

/// How much of a hook's output is kept (its end).
const HOOK_OUTPUT_BYTES: usize = 4096;
/// How much is read before that.
const HOOK_CAPTURE_BYTES: usize = 64 * 1024;

/// Runs the `point` hooks in order until one fails. Every run is returned (for the event
/// log); the failure, if any, too.
pub async fn run(
    engine: &Engine,
    container: &OwnedContainer,
    hooks: &Hooks,
    point: HookPoint,
) -> (Vec<HookRun>, Option<HookFailure>) {
    let commands = match point {
        HookPoint::PostCreate => &hooks.post_create,
        HookPoint::PostStart => &hooks.post_start,
    };
    let mut runs = Vec::new();
    for argv in commands {
        let run = run_one(engine, container, argv, point, hooks.timeout).await;
        let failed = !run.succeeded();
        runs.push(run);
        if failed {
            let failure = runs.last().map(|r| HookFailure::of(container.id(), r));
            return (runs, failure);
        }
    }
    (runs, None)
}

async fn run_one(
    engine: &Engine,
    container: &OwnedContainer,
    argv: &[String],
    hook: HookPoint,
    timeout: Duration,
) -> HookRun {
    let started = Instant::now();
    let result =
        super::probes::bounded_exec(engine, container, argv, HOOK_CAPTURE_BYTES, timeout, "hook")
            .await;
    let mut run = HookRun {
        hook,
        argv: argv.to_vec(),
        exit_code: None,
        output: String::new(),
        duration: started.elapsed(),
        error: None,
    };
    match result {
        Ok(result) => {
            let mut text = String::from_utf8_lossy(&result.stdout.bytes).into_owned();
            text.push_str(&String::from_utf8_lossy(&result.stderr.bytes));
            run.output = last_bytes(text.trim_end(), HOOK_OUTPUT_BYTES);
            run.exit_code = Some(result.exit_code);
        }
        // Killed already, with everything it started.
        Err(EngineError::Timeout { .. }) => {
            run.error = Some(format!("timed out after {}s", timeout.as_secs()));
        }
        Err(e) => run.error = Some(e.to_string()),
    }
    run
}
