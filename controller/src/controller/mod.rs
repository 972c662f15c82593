//! `pocket-dock controller`: keeps a workspace converged while people work.
//!
//! The loop wires four parts: [`inputs`] (file and build-context watchers, Podman's event
//! stream) only name what changed; `current` holds the declarations (each broken file's last
//! valid version in its place); the [`scheduler`] (pure, time passed in) decides when a pass
//! runs and over which keys; a pass is one [`reconcile::apply`], the same as
//! `pocket-dock apply`, whose report [`requeue::decide`] turns into one [`Requeue`] per key.
//! Nothing polls: the loop sleeps until an input arrives or the scheduler's next timer.

mod current;
pub mod inputs;
pub mod lock;
pub mod options;
pub mod queue;
pub mod requeue;
pub mod schedule;
pub mod scheduler;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::engine::Engine;
use crate::error::Error;
use crate::reconcile::{self, ApplyOptions, Observer, Readiness};
use crate::store::{Event, Outcome as EventOutcome, Source};
use crate::workspace::{DIR_NAME, Workspace};
use crate::writer_lock::WriterLock;

use current::Current;
pub use current::PRUNE_GRACE;
use inputs::{Input, Inputs};
pub use lock::{ControllerLock, LockError};
pub use options::{ControllerOptions, ErrorPolicy};
pub use queue::{Backoff, WorkQueue};
pub use requeue::{Decision, Requeue};
use scheduler::{Scheduler, Work};

/// What the controller did, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ControllerSummary {
    pub passes: u64,
    pub actions: u64,
    pub failures: u64,
}

/// Logs each action (the CLI's apply printer is not used by the controller).
struct LogObserver;

impl Observer for LogObserver {
    fn started(&self, _action: &reconcile::Action) {}

    fn finished(&self, outcome: &reconcile::ActionOutcome) {
        let a = &outcome.action;
        match &outcome.result {
            Ok(()) => {
                tracing::info!(target: "pocket_dock::controller", object = %a.key, action = a.op.verb(), reason = %a.reason, elapsed_ms = outcome.elapsed.as_millis() as u64, "done")
            }
            Err(e) => {
                tracing::warn!(target: "pocket_dock::controller", object = %a.key, action = a.op.verb(), error = %e, "failed")
            }
        }
    }
}

/// Runs until `shutdown` resolves. Sandboxes keep running afterwards: the controller owns
/// convergence, not the containers' lifetime.
pub async fn run(
    engine: &Engine,
    workspace: &Workspace,
    options: ControllerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<ControllerSummary, Error> {
    run_selected(engine, workspace, options, None, shutdown).await
}

/// [`run`], reconciling only what `selection` matches (with its dependencies) in every
/// pass, and never pruning (`controller --only/--selector`); everything when `None`. The
/// selection is matched against the declarations as they are at each pass: one that
/// matches nothing any more fails that pass, which is retried like any failed pass.
pub async fn run_selected(
    engine: &Engine,
    workspace: &Workspace,
    options: ControllerOptions,
    selection: Option<reconcile::Selection>,
    shutdown: impl Future<Output = ()>,
) -> Result<ControllerSummary, Error> {
    let dir = workspace.root.join(DIR_NAME);
    let _lock = ControllerLock::acquire(&dir).map_err(Error::Lock)?;
    let mut inputs = Inputs::start(engine, &dir, workspace.id.to_string(), &options)
        .map_err(|e| Error::file("watch", &dir, std::io::Error::other(e)))?;

    let mut declared = Current::new(workspace, &options);
    let mut summary = ControllerSummary::default();
    let mut scheduler = Scheduler::new(Instant::now(), options);
    tracing::info!(target: "pocket_dock::controller", workspace = %workspace.root.display(), id = %workspace.id, "controller started");

    let setup = Setup {
        options: &options,
        selection: selection.as_ref(),
    };
    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        for key in declared.release(now) {
            scheduler.add(key);
        }
        if let Some(due) = scheduler.due(now) {
            if due.reload {
                for key in declared.reload(now) {
                    scheduler.add(key);
                }
                inputs.watch_contexts(declared.declarations(), &workspace.root);
            }
            let Some(work) = scheduler.take(now, due) else {
                continue;
            };
            let pass = pass(
                engine,
                workspace,
                &mut declared,
                work,
                &mut scheduler,
                &mut summary,
                &setup,
            );
            tokio::pin!(pass);
            tokio::select! {
                () = &mut pass => {}
                () = &mut shutdown => {
                    // Let the pass finish what it is doing, briefly; then leave.
                    let _ = tokio::time::timeout(options.shutdown_grace, &mut pass).await;
                    break;
                }
            }
            continue;
        }

        let mut wake = scheduler.wake_at(now);
        if let Some(t) = declared.hold_until() {
            wake = wake.min(t);
        }
        tokio::select! {
            () = &mut shutdown => break,
            input = inputs.recv() => match input {
                Input::FilesChanged => scheduler.file_changed(Instant::now()),
                Input::Changed(key) => scheduler.changed(key, Instant::now()),
                Input::Exited(key) => scheduler.exited(key, Instant::now()),
                // A resync reads the files again too: a change the watcher missed (its
                // folder replaced, say) is picked up at the latest then.
                Input::Resync => scheduler.resync(),
            },
            () = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    drop(inputs);
    tracing::info!(target: "pocket_dock::controller", passes = summary.passes, actions = summary.actions, "controller stopped");
    Ok(summary)
}

/// What every pass of one run is given.
struct Setup<'a> {
    options: &'a ControllerOptions,
    /// `--only`/`--selector`: each pass is limited to it, and prunes nothing.
    selection: Option<&'a reconcile::Selection>,
}

/// One reconcile of `work`; the scheduler gets each key's requeue decision, or the pass's
/// failure.
async fn pass(
    engine: &Engine,
    workspace: &Workspace,
    declared: &mut Current,
    work: Work,
    scheduler: &mut Scheduler,
    summary: &mut ControllerSummary,
    setup: &Setup<'_>,
) {
    let started = Instant::now();
    // One writer at a time. A pass that had to wait reads the files again: what the other
    // writer was told to do may be what the files say now.
    let mut waited = false;
    let lock = WriterLock::acquire(
        &workspace.root.join(DIR_NAME),
        "controller",
        None,
        |holder| {
            waited = true;
            tracing::info!(target: "pocket_dock::controller", holder = %holder, "waiting for another writer");
        },
    )
    .await;
    let _lock = match lock {
        Ok(lock) => lock,
        Err(e) => {
            let retry = scheduler.pass_failed(Instant::now());
            tracing::warn!(target: "pocket_dock::controller", error = %e, retry_in_ms = retry_ms(retry), "cannot take the workspace's writer lock");
            return;
        }
    };
    if waited {
        for key in declared.reload(Instant::now()) {
            scheduler.add(key);
        }
    }
    let Some((declarations, current)) = declared.for_pass(started) else {
        return;
    };
    let declarations = declarations.as_ref();
    let only = work.only();
    let apply_options = ApplyOptions {
        writer: "controller",
        lock_held: true,
        readiness: Readiness::Once,
        only: only.clone(),
        selection: setup.selection.cloned(),
        invalid: current.retained.clone(),
        build_timeout: setup.options.build_timeout,
        pull_timeout: setup.options.pull_timeout,
        ..ApplyOptions::default()
    };
    summary.passes += 1;
    let keys = only.as_ref().map_or_else(
        || "all".to_string(),
        |k| {
            k.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
    );
    match reconcile::apply(
        engine,
        workspace,
        declarations,
        apply_options,
        Arc::new(LogObserver),
    )
    .await
    {
        Ok(report) => {
            let decisions = requeue::decide(&report, only.as_ref(), setup.options);
            let retries = scheduler.finished(Instant::now(), &decisions);
            summary.actions += report.outcomes.len() as u64;
            summary.failures += retries.len() as u64;
            for (key, retry) in &retries {
                tracing::info!(target: "pocket_dock::controller", object = %key, retry_in_ms = retry_ms(*retry), "will retry");
            }
            for crash in &report.plan.crash_loops {
                tracing::info!(target: "pocket_dock::controller", object = %crash.key, "{}", crash.reason());
            }
            for error in &report.status_errors {
                tracing::error!(target: "pocket_dock::controller", error = %error, "status file not written");
            }
            for kept in &report.plan.kept {
                tracing::info!(target: "pocket_dock::controller", object = %kept.key, "{}", kept.reason);
            }
            record_events(workspace, &report);
            tracing::info!(
                target: "pocket_dock::controller",
                keys = %keys,
                actions = report.outcomes.len(),
                failed = retries.len(),
                waiting = report.plan.blocked.len() + report.not_ready.len() + report.plan.crash_loops.len(),
                outcome = if report.converged() { "converged" } else { "pending" },
                duration_ms = started.elapsed().as_millis() as u64,
                "reconcile"
            );
        }
        Err(e) => {
            // The engine is unreachable or broke, or the store cannot be used: try again
            // after a backoff.
            let retry = scheduler.pass_failed(Instant::now());
            tracing::warn!(target: "pocket_dock::controller", error = %e, retry_in_ms = retry_ms(retry), "reconcile failed");
        }
    }
}

/// A retry's delay for the log (0 when the error policy does not retry).
fn retry_ms(requeue: Requeue) -> u64 {
    match requeue {
        Requeue::After(delay) => u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        Requeue::AwaitChange => 0,
    }
}

/// Records the sandboxes a pass left not ready; the actions themselves are recorded by
/// `reconcile::apply` as they finish (source `controller`).
fn record_events(workspace: &Workspace, report: &reconcile::ApplyReport) {
    let events: Vec<Event> = report
        .not_ready
        .iter()
        .map(|(key, reason)| {
            Event::new(Source::Controller, "not-ready")
                .object(key.kind.as_str(), key.name.clone())
                .reason(reason.clone())
                .outcome(EventOutcome::Waiting)
        })
        .collect();
    // The controller keeps running without its event log: a store that stays unusable fails
    // the next pass, which is retried with backoff.
    crate::store::record_in(&workspace.root.join(DIR_NAME), &events);
}
