//! Readiness probes: one attempt (killed with what it started when it overruns), and the
//! probes a start waiting on a `Ready` condition needs. Used by `execute` (dependencies
//! under `--wait`), `apply` (readiness, conditions) and nothing below them.

use std::collections::BTreeSet;
use std::time::Duration;

use super::desired::{Desired, Probe};
use super::observe::{Observed, current};
use crate::engine::{
    Engine, EngineError, ExecConfig, ExecId, ExecOutput, ExecResult, OwnedContainer,
};

/// Probes, once, the dependencies that `Ready` conditions of the `waiting` sandboxes wait
/// for (running, with a probe, not probed yet in this observation). Only what a start
/// waits on is probed: an apply with nothing to do makes no exec. Whether any was probed.
pub async fn probe_blockers(
    engine: &Engine,
    desired: &Desired,
    observed: &mut Observed,
    waiting: &[&str],
) -> bool {
    let targets: BTreeSet<&str> = waiting
        .iter()
        .filter_map(|name| desired.sandboxes.get(*name))
        .flat_map(|s| &s.depends_on)
        .filter(|d| d.condition == pocket_dock_spec::model::Condition::Ready)
        .map(|d| d.name.as_str())
        .filter(|name| !observed.probes.contains_key(*name))
        .collect();
    let observed_now: &Observed = observed;
    let probes = targets.into_iter().filter_map(|name| {
        let s = desired.sandboxes.get(name)?;
        let probe = s.probe.as_ref()?;
        let c = current(s, observed_now).filter(|c| c.state.is_running())?;
        Some(async move {
            let passed = matches!(run_probe(engine, &c.handle, probe).await, Ok(0));
            (name.to_string(), passed)
        })
    });
    let results = futures_util::future::join_all(probes).await;
    let probed = !results.is_empty();
    observed.probes.extend(results);
    probed
}

/// Runs a readiness probe once; its exit code.
pub async fn run_probe(
    engine: &Engine,
    c: &OwnedContainer,
    probe: &Probe,
) -> Result<i64, EngineError> {
    bounded_exec(
        engine,
        c,
        &probe.exec,
        4096,
        probe.timeout,
        "readiness probe",
    )
    .await
    .map(|result| result.exit_code)
}

/// Runs `argv` in the container, its output captured up to `capture` bytes. An attempt
/// that outlives `timeout` is killed, with everything it started, in the sandbox (a probe
/// or hook that hangs must not leave a process behind at every attempt), and is a
/// `Timeout`. `what` names it in the warning when the kill fails.
pub async fn bounded_exec(
    engine: &Engine,
    c: &OwnedContainer,
    argv: &[String],
    capture: usize,
    timeout: Duration,
    what: &str,
) -> Result<ExecResult, EngineError> {
    let result = engine
        .exec_run(
            c,
            &ExecConfig::new(argv.to_vec()),
            ExecOutput::new().capture_up_to(capture),
            Some(timeout),
        )
        .await;
    if let Err(EngineError::Timeout { id: Some(exec), .. }) = &result {
        let killed = match crate::sandbox::Sandbox::of_container(engine, c).await {
            Ok(sandbox) => sandbox.kill_exec(&ExecId::new(exec.clone())).await,
            Err(e) => Err(e),
        };
        if let Err(e) = killed {
            tracing::warn!(error = %e, exec = %exec, "could not kill a {what} that timed out");
        }
    }
    result
}
