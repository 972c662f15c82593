//! The reconciler: one function, [`apply`], used by `pocket-dock apply` and by the controller.
//!
//! desired (pure) -> observe (Podman, reads only) -> plan (pure) -> execute (writes) -> observe
//! again -> status files and state store. Rounds repeat while a round made progress, up to
//! three, so that what one round changes (a pulled image) is acted on in the same apply.

pub(crate) mod action_error;
pub(crate) mod conditions;
pub(crate) mod desired;
pub(crate) mod egress_sync;
pub(crate) mod execute;
pub(crate) mod hooks;
pub(crate) mod lifetime;
pub(crate) mod make_images;
pub(crate) mod observe;
pub(crate) mod order;
pub(crate) mod plan;
pub mod pool;
pub(crate) mod probes;
pub(crate) mod restarts;
pub(crate) mod rows;
pub(crate) mod seccomp;
pub mod selection;
pub(crate) mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pocket_dock_spec::{Declarations, Kind};

use crate::declared::LastValid;
use crate::engine::{CallStats, Engine, Ownership};
use crate::error::Error;
use crate::store::{Event, Instance, Source, StateStore};
use crate::timefmt::now_rfc3339;
use crate::workspace::{DIR_NAME, Workspace};
use crate::writer_lock::WriterLock;

pub use desired::{Desired, Key};
pub use execute::{ActionError, ActionOutcome, ExecuteOptions, NoObserver, Observer};
pub use observe::Observed;
pub use plan::{Action, Blocked, Op, Plan, PlanOptions, Rebuild};
pub use rows::{ObjectRow, object_rows};
pub use selection::Selection;

/// What to do about readiness probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readiness {
    /// Do not probe (a plain `apply`).
    #[default]
    Skip,
    /// Probe until every probed sandbox is ready or the timeout runs out (`apply --wait`).
    Wait,
    /// Probe once and report (the controller requeues what is not ready yet).
    Once,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplyOptions {
    /// Plan only; change nothing (no Podman writes, no status files).
    pub dry_run: bool,
    pub prune_volumes: bool,
    pub readiness: Readiness,
    pub timeout: Option<Duration>,
    /// Act only on these objects (volume creation and pulls they need included); all when
    /// `None`. Apply adds what depends on them (see [`Desired::with_dependants`]).
    pub only: Option<BTreeSet<Key>>,
    /// `--only`/`--selector`: act only on the declared objects it matches and what they
    /// need ([`Desired::with_dependencies`]), not on what depends on them (selecting one
    /// sandbox must not recreate another that shares its image). Nothing is pruned: no
    /// undeclared container, unreferenced image or undeclared volume is removed, whatever
    /// `prune_volumes` says. Matching nothing is an error. With `only` too, both limit.
    pub selection: Option<Selection>,
    /// Objects whose declaring file is currently invalid, with the problem: acted on in their
    /// last valid version, and reported as degraded.
    pub invalid: BTreeMap<Key, String>,
    /// Who is writing, as other writers are told while they wait (`apply` when empty).
    pub writer: &'static str,
    /// The caller holds the workspace's writer lock already (it took it before it loaded the
    /// declarations, so that they are current); otherwise apply takes it.
    pub lock_held: bool,
    /// How sandboxes that keep exiting are restarted (kubelet's numbers by default).
    pub crash_loop: restarts::CrashLoopPolicy,
    /// `--resume`: lift the `lifetime` expiries of the sandboxes this apply acts on (all,
    /// or those `only`/`selection` name): they are started or created again, their clocks
    /// starting over. Without it an expiry holds until the sandbox's declaration changes.
    pub resume: bool,
    /// `--rebuild`/`--rebuild-all`: images made again even when present (a pulled one pulled
    /// again, the embedded base loaded again), with every image built on them. Names that
    /// are not declared are refused before anything changes.
    pub rebuild: Rebuild,
    /// `--no-cache`: the builds this apply runs ignore the engine's layer cache.
    pub no_cache: bool,
    /// `--build-timeout`: what a build may take when its `Image` sets no `build.timeout`
    /// (10 minutes when `None`).
    pub build_timeout: Option<Duration>,
    /// `--pull-timeout`: what a pull may take when its `Image` sets no `from.timeout`
    /// (10 minutes when `None`).
    pub pull_timeout: Option<Duration>,
}

impl ApplyOptions {
    /// Who is writing, as other writers are told while they wait.
    pub fn writer_role(&self) -> &'static str {
        if self.writer.is_empty() {
            "apply"
        } else {
            self.writer
        }
    }
}

/// What one apply may act on, resolved against the declarations: `ApplyOptions::only` with
/// its dependants, limited to the selection with its dependencies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Scope {
    /// The objects acted on; all when `None`.
    only: Option<BTreeSet<Key>>,
    /// With a selection: the image references its sandboxes run (a pull is keyed on the
    /// first sandbox that names the reference, maybe one outside the selection). Nothing is
    /// pruned then.
    selected_pulls: Option<BTreeSet<String>>,
}

impl Scope {
    fn new(
        options: &ApplyOptions,
        desired: &Desired,
        declarations: &Declarations,
    ) -> Result<Scope, Error> {
        // Acting on an object acts on what depends on it too: rebuilding an image renames
        // the images built on it, and sandboxes on any of them move.
        let only = options
            .only
            .as_ref()
            .map(|only| desired.with_dependants(only));
        let Some(selection) = &options.selection else {
            return Ok(Scope {
                only,
                selected_pulls: None,
            });
        };
        let selected = desired.with_dependencies(&selection.resolve(declarations)?);
        let pulls = selected
            .iter()
            .filter(|k| k.kind == Kind::Sandbox)
            .filter_map(|k| desired.sandboxes.get(&k.name))
            .filter_map(|s| plan::image_reference(s, desired))
            .collect();
        let only = match only {
            Some(only) => only.intersection(&selected).cloned().collect(),
            None => selected,
        };
        Ok(Scope {
            only: Some(only),
            selected_pulls: Some(pulls),
        })
    }

    fn keep(&self, action: &Action) -> bool {
        let Some(only) = &self.only else {
            return true;
        };
        let Some(pulls) = &self.selected_pulls else {
            return only.contains(&action.key)
                || matches!(
                    action.op,
                    Op::Pull { .. } | Op::CreateVolume | Op::CreateNetwork
                );
        };
        match &action.op {
            Op::Pull { reference } => only.contains(&action.key) || pulls.contains(reference),
            // No pruning in a selected apply. A `Remove` of a selected (so declared) sandbox
            // is a stray container next to its own, part of converging it.
            Op::RemoveImage { .. } | Op::RemoveVolume | Op::RemoveNetwork => false,
            _ => only.contains(&action.key),
        }
    }

    /// What concerns the selected objects only (all of them without a selection): their
    /// actions, and the objects that wait or back off among them. A selected apply keeps
    /// nothing it would prune, so it reports no kept objects either.
    fn restrict(&self, mut plan: Plan) -> Plan {
        if self.selected_pulls.is_some() {
            // Replacing a network detaches every sandbox on it, selected or not: a subset
            // must not move the rest, so the network waits for a full apply.
            let (replaced, rest): (Vec<Action>, Vec<Action>) = std::mem::take(&mut plan.actions)
                .into_iter()
                .partition(|a| a.op == Op::RecreateNetwork);
            plan.actions = rest;
            plan.blocked.extend(replaced.into_iter().map(|a| {
                plan::Blocked {
                    key: a.key,
                    reason:
                        "its settings changed; replacing it moves every sandbox on it, so only \
                         an apply without --only/--selector does"
                            .to_string(),
                    pending: false,
                }
            }));
        }
        plan.actions.retain(|a| self.keep(a));
        if let Some(only) = &self.only {
            plan.blocked.retain(|b| only.contains(&b.key));
            plan.crash_loops.retain(|c| only.contains(&c.key));
            // Recorded expiries stay: every object's status is written, in scope or not.
            plan.expired.retain(|e| e.recorded || only.contains(&e.key));
            plan.lifetime_checks.retain(|c| only.contains(&c.key));
        }
        if self.selected_pulls.is_some() {
            plan.kept_volumes.clear();
            plan.kept.clear();
        }
        plan
    }
}

/// What an apply did.
#[derive(Debug)]
pub struct ApplyReport {
    /// The first round's plan (what `--dry-run` and `diff` show).
    pub plan: Plan,
    pub outcomes: Vec<ActionOutcome>,
    pub statuses: Vec<status::Status>,
    /// Owned sandbox containers with no declaration and no registry entry.
    pub orphans: Vec<String>,
    pub warnings: Vec<String>,
    pub elapsed: Duration,
    pub calls: CallStats,
    pub status_files_written: usize,
    /// Status files that could not be written (a full disk, a read-only folder).
    pub status_errors: Vec<String>,
    /// With `--wait`: sandboxes whose readiness probe did not pass in time, and why.
    pub not_ready: Vec<(Key, String)>,
    /// Whether this apply waited for readiness (`--wait`).
    pub waited: bool,
    /// With `--wait`: one-shot sandboxes (`run: once`) that exited non-zero, and how.
    pub failed_tasks: Vec<(Key, String)>,
    /// With `--wait`: sandboxes whose current container's hook failed, and how.
    pub failed_hooks: Vec<(Key, String)>,
    /// The deadline came while a start still waited on a dependency's condition.
    pub waited_out: bool,
}

impl ApplyReport {
    /// Actions that failed (not those that waited for a dependency to be ready).
    pub fn failures(&self) -> impl Iterator<Item = &ActionOutcome> {
        self.outcomes.iter().filter(|o| {
            o.result.is_err() && !matches!(o.result, Err(ActionError::DependencyNotReady { .. }))
        })
    }

    /// The deadline ran out: an action timed out, or (with `--wait`) a sandbox was not
    /// ready in time, whether or not this apply changed it.
    pub fn timed_out(&self) -> bool {
        self.failures().any(|o| {
            matches!(
                o.result,
                Err(ActionError::TimedOut | ActionError::ImageTimedOut { .. })
            )
        })
            || (self.waited && (!self.not_ready.is_empty() || self.waiting().next().is_some()))
            // Still waiting on a dependency's condition when the deadline came.
            || self.waited_out
    }

    /// Actions that did not run because a dependency was not ready in time.
    pub fn waiting(&self) -> impl Iterator<Item = &ActionOutcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.result, Err(ActionError::DependencyNotReady { .. })))
    }

    /// Converged: nothing failed, nothing is left waiting, and (with `--wait`) every probed
    /// sandbox is ready.
    pub fn converged(&self) -> bool {
        let all_ready = !self.waited || self.not_ready.is_empty();
        self.status_errors.is_empty()
            && self.outcomes.iter().all(|o| o.result.is_ok())
            && self.plan.blocked.is_empty()
            && self.plan.crash_loops.is_empty()
            && self.failed_tasks.is_empty()
            && self.failed_hooks.is_empty()
            && all_ready
    }
}

/// Appends every finished action to the event log, then tells the caller's observer.
struct Journal {
    store: Option<Mutex<StateStore>>,
    /// `apply`, `snapshot` or `controller`, from [`ApplyOptions::writer`].
    source: Source,
    inner: Arc<dyn Observer>,
    /// The lifetime records this round's stops and removals make so (by sandbox), saved as
    /// soon as their action succeeded: a command that finds the sandbox stopped is told why.
    expiring: Mutex<BTreeMap<Key, (Op, lifetime::LifetimeRecord)>>,
}

impl Observer for Journal {
    fn started(&self, action: &Action) {
        self.inner.started(action);
    }

    fn waiting_for_writer(&self, holder: &crate::writer_lock::Holder) {
        self.inner.waiting_for_writer(holder);
    }

    fn progress(&self, key: &Key, progress: &crate::engine::Progress) {
        self.inner.progress(key, progress);
    }

    fn hooks_ran(&self, key: &Key, runs: &[hooks::HookRun], failure: Option<&hooks::HookFailure>) {
        if let Some(Ok(store)) = self.store.as_ref().map(Mutex::lock) {
            for run in runs {
                let mut event = Event::new(self.source, "hook")
                    .object(key.kind.as_str(), key.name.clone())
                    .reason(format!("{} {}", run.hook, run.argv.join(" ")))
                    .duration(run.duration)
                    .detail(serde_json::json!({
                        "hook": run.hook.as_str(),
                        "argv": run.argv,
                        "exitCode": run.exit_code,
                        "output": run.output,
                    }));
                if !run.succeeded() {
                    let why = run
                        .error
                        .clone()
                        .or_else(|| run.exit_code.map(|c| format!("exited {c}")))
                        .unwrap_or_default();
                    event = event.failed("runtime", why);
                }
                crate::store::record_or_warn(Some(&store), &event);
            }
            if let Err(e) = store.save_hook_failure(&key.name, failure) {
                tracing::warn!(error = %e, sandbox = %key.name, "could not remember the hooks' outcome");
            }
        }
        self.inner.hooks_ran(key, runs, failure);
    }

    fn waiting(&self, blocked: &plan::Blocked) {
        self.inner.waiting(blocked);
    }

    fn finished(&self, outcome: &ActionOutcome) {
        if let Some(store) = &self.store {
            let event = Event::new(self.source, outcome.action.op.verb())
                .object(
                    outcome.action.key.kind.as_str(),
                    outcome.action.key.name.clone(),
                )
                .reason(outcome.action.reason.clone())
                .duration(outcome.elapsed)
                .result(&outcome.result, |e| e.category().to_string());
            if let Ok(store) = store.lock() {
                crate::store::record_or_warn(Some(&store), &event);
                let expired = match (&outcome.result, self.expiring.lock()) {
                    (Ok(()), Ok(mut expiring))
                        if expiring
                            .get(&outcome.action.key)
                            .is_some_and(|(op, _)| *op == outcome.action.op) =>
                    {
                        expiring.remove(&outcome.action.key).map(|(_, r)| r)
                    }
                    _ => None,
                };
                if let Some(record) = expired
                    && let Err(e) = store.save_lifetime(&outcome.action.key.name, Some(&record))
                {
                    tracing::warn!(error = %e, "could not remember the lifetime expiry");
                }
            }
        }
        self.inner.finished(outcome);
    }
}

/// The event source of an apply by `writer` ([`ApplyOptions::writer`]).
fn source_of(writer: &str) -> Source {
    match writer {
        "snapshot" => Source::Snapshot,
        "controller" => Source::Controller,
        "reset" => Source::Reset,
        "fork" => Source::Fork,
        _ => Source::Apply,
    }
}

/// The images `rebuild` names, checked: each declared (else `NotDeclared`, with the
/// closest name and the declared ones), and inside `only` when the apply is limited.
fn rebuild_names(
    rebuild: &Rebuild,
    desired: &Desired,
    only: Option<&BTreeSet<Key>>,
) -> Result<BTreeSet<String>, Error> {
    if let Rebuild::Images(names) = rebuild {
        let declared: Vec<&str> = desired.images.keys().map(String::as_str).collect();
        for name in names {
            if desired.images.contains_key(name) {
                continue;
            }
            let hint = pocket_dock_spec::diagnostic::closest(name, declared.iter().copied())
                .map_or_else(String::new, |c| format!("; did you mean `{c}`?"));
            let listed = if declared.is_empty() {
                "this workspace declares no Image".to_string()
            } else {
                format!("declared images: {}", declared.join(", "))
            };
            return Err(Error::NotDeclared {
                object: format!("Image/{name}"),
                problem: format!(
                    "is not declared, so --rebuild cannot rebuild it{hint} ({listed}); nothing was changed"
                ),
            });
        }
    }
    let named = rebuild.named(desired);
    if let (Some(only), Rebuild::Images(_)) = (only, rebuild)
        && let Some(outside) = named
            .iter()
            .find(|n| !only.contains(&Key::new(Kind::Image, (*n).clone())))
    {
        return Err(Error::NotDeclared {
            object: format!("Image/{outside}"),
            problem: "is outside --only/--selector, so --rebuild cannot rebuild it; select it (or a sandbox that runs it), or apply without a selection; nothing was changed".to_string(),
        });
    }
    Ok(named)
}

/// Reads the engine's profile and fails with every declared need it cannot meet (within
/// `only`, when given).
async fn refuse_unsupported(
    engine: &Engine,
    declarations: &Declarations,
    only: Option<&BTreeSet<Key>>,
) -> Result<(), Error> {
    let needs = crate::requirements::requirements(
        declarations
            .objects
            .iter()
            .filter(|o| only.is_none_or(|only| only.contains(&Key::new(o.kind, o.name())))),
    );
    // Read even when nothing is needed: reading it is what warns, once per handle, about an
    // engine version outside the tested matrix.
    let unmet = crate::requirements::unmet(&needs, &*engine.profile().await?);
    if unmet.is_empty() {
        Ok(())
    } else {
        Err(Error::Unsupported(unmet))
    }
}

/// Converges the workspace once. The declarations must be valid (the caller checked).
pub async fn apply(
    engine: &Engine,
    workspace: &Workspace,
    declarations: &Declarations,
    options: ApplyOptions,
    observer: Arc<dyn Observer>,
) -> Result<ApplyReport, Error> {
    let started = Instant::now();
    let calls_before = engine.stats();
    let ownership = workspace.ownership();
    let inputs = observe::ImageInputs::gather(declarations).await;
    let mut desired = Desired::from_declarations(declarations, &ownership, &inputs);
    // The socket this apply talks to, wherever it is: a sandbox that would mount it (or a
    // folder holding it) is held back, whatever its name (validation knows only the usual
    // names).
    if let Ok(socket) = engine.socket().canonicalize() {
        desired.hold_back_mounts_of(&socket);
    }
    // A selection that matches nothing fails here, before anything is touched.
    let scope = Scope::new(&options, &desired, declarations)?;
    // So does a rebuild of an image that is not declared, or outside the selection.
    let rebuild = rebuild_names(&options.rebuild, &desired, scope.only.as_ref())?;
    let dir = workspace.root.join(DIR_NAME);
    let plan_options = PlanOptions {
        prune_volumes: options.prune_volumes,
        pull_always: true,
        crash_loop: options.crash_loop,
    };
    let mut warnings = Vec::new();

    // Opened before any Podman write: an apply that cannot record what it does (a read-only,
    // full, busy, or corrupt and held store) fails and changes nothing. Dry runs only read.
    let store = if options.dry_run {
        None
    } else {
        let (store, warning) = StateStore::open(&dir)?;
        warnings.extend(warning);
        Some(store)
    };

    // One writer at a time: a second apply (or the controller's pass) waits for this one.
    let _writer_lock = if options.dry_run || options.lock_held {
        None
    } else {
        let role = options.writer_role();
        let deadline = match (options.timeout, options.readiness) {
            (Some(t), _) => Some(started + t),
            (None, Readiness::Wait) => Some(started + DEFAULT_WAIT),
            _ => None,
        };
        Some(
            WriterLock::acquire(&dir, role, deadline, |holder| {
                observer.waiting_for_writer(holder)
            })
            .await?,
        )
    };

    if let Some(store) = &store {
        remember_retention(store, declarations, &mut warnings);
    }

    // What is remembered of restarts decides crash-loop back-off; a dry run reads it too (if
    // the store can be read as it is), so that it plans what apply would do.
    let mut restarts = match &store {
        Some(store) => store.restarts().ok(),
        None => StateStore::open_existing(&dir)
            .ok()
            .flatten()
            .and_then(|s| s.restarts().ok()),
    }
    .unwrap_or_default();
    let mut lifetimes = Lifetimes::load(
        store.as_ref(),
        &dir,
        &desired,
        options.resume.then_some(&scope),
        &mut warnings,
    );
    let mut observed = observe::observe(engine, &ownership, &desired).await?;
    observed.restarts = restarts.clone();
    observed.hook_failures = hook_failures(store.as_ref(), &dir);
    lifetimes.fill(&mut observed, store.as_ref());
    // A dry run runs no probe (an exec is a write): it shows what apply does once the
    // dependencies a start waits for are ready.
    let mut first_plan = if options.dry_run {
        observed.assume_probes_pass = true;
        plan::plan(&desired, &observed, plan_options)
    } else {
        plan_probed(engine, &desired, &mut observed, plan_options).await
    };
    // A forced rebuild is the first round's only: later rounds see what it made, and
    // remove the images it left without a name once nothing runs them.
    plan::force_rebuilds(&mut first_plan, &desired, &rebuild);
    let displaced = plan::displaced_by_rebuild(&desired, &observed, &rebuild);
    let first_plan = scope.restrict(first_plan);
    // What the engine lacks is refused before anything is touched, named where declared.
    // A converged workspace touches nothing, so it skips the engine's profile: Podman
    // gathers its host facts (runs conmon, the runtime, netavark) to answer it, which was
    // most of a no-op apply's time. The engine's identity (one `/_ping`, already read by
    // the observation) still warns about a version outside the tested matrix.
    if !first_plan.is_empty() || !first_plan.blocked.is_empty() {
        refuse_unsupported(engine, declarations, scope.only.as_ref()).await?;
        // Networks work without DNS (by address), so this warns rather than refuses.
        if !desired.networks.is_empty()
            && let Some(dns) = engine
                .profile()
                .await?
                .state(crate::engine::Capability::NetworkDns)
                .filter(|state| !state.available)
        {
            warnings.push(format!(
                "sandboxes will not reach each other by name: {}{}",
                dns.detail,
                dns.fix
                    .as_deref()
                    .map_or_else(String::new, |fix| format!(" ({fix})"))
            ));
        }
    }
    let orphans = orphans(&observed, &desired, store.as_ref());
    if options.dry_run {
        return Ok(ApplyReport {
            statuses: Vec::new(),
            plan: first_plan,
            outcomes: Vec::new(),
            orphans,
            warnings,
            elapsed: started.elapsed(),
            calls: delta(engine.stats(), calls_before),
            status_files_written: 0,
            status_errors: Vec::new(),
            not_ready: Vec::new(),
            waited: false,
            failed_tasks: Vec::new(),
            failed_hooks: Vec::new(),
            waited_out: false,
        });
    }

    let generations = match &store {
        Some(store) => record_generations(store, declarations, &mut warnings),
        None => BTreeMap::new(),
    };
    let journal = Arc::new(Journal {
        store: store.map(Mutex::new),
        source: source_of(options.writer),
        inner: observer,
        expiring: Mutex::new(BTreeMap::new()),
    });
    let waited = options.readiness == Readiness::Wait;
    let execute_options = ExecuteOptions {
        wait_ready: waited,
        deadline: options.timeout.map(|t| started + t),
        ready_deadline: waited.then(|| started + options.timeout.unwrap_or(DEFAULT_WAIT)),
        build_timeout: options
            .build_timeout
            .unwrap_or(execute::DEFAULT_IMAGE_TIMEOUT),
        pull_timeout: options
            .pull_timeout
            .unwrap_or(execute::DEFAULT_IMAGE_TIMEOUT),
        no_cache: options.no_cache,
        ..ExecuteOptions::default()
    };
    let mut outcomes: Vec<ActionOutcome> = Vec::new();
    let mut current_plan = first_plan.clone();
    let mut last_blocked = first_plan.blocked.clone();
    // Conditions (`dependsOn: [{condition: Ready}]`) may hold up part of the plan: `apply`
    // keeps looking until they hold or its deadline passes; the controller requeues.
    let condition_deadline = match options.readiness {
        Readiness::Once => None,
        _ => Some(started + options.timeout.unwrap_or(DEFAULT_WAIT)),
    };
    let mut rounds = 0;
    let mut waited_out = false;
    let mut told: BTreeSet<(Key, String)> = BTreeSet::new();
    loop {
        let waits_on_condition = current_plan.blocked.iter().any(|b| b.pending);
        if condition_deadline.is_some() {
            for b in current_plan.blocked.iter().filter(|b| b.pending) {
                if told.insert((b.key.clone(), b.reason.clone())) {
                    journal.waiting(b);
                }
            }
        }
        if current_plan.is_empty() {
            let may_wait =
                waits_on_condition && condition_deadline.is_some_and(|d| Instant::now() < d);
            if !may_wait {
                waited_out = waits_on_condition && condition_deadline.is_some();
                break;
            }
            tokio::time::sleep(CONDITION_POLL).await;
        } else {
            rounds += 1;
            // A command that began since the observation keeps its sandbox from an idle stop.
            if let Some(Ok(store)) = journal.store.as_ref().map(Mutex::lock) {
                Lifetimes::spare_the_busy(&mut current_plan, &observed, &desired, &store);
            }
            if let Ok(mut expiring) = journal.expiring.lock() {
                *expiring = lifetimes.expiring(&current_plan, &desired);
            }
            let round = execute::execute(
                engine,
                &ownership,
                &desired,
                &observed,
                &current_plan,
                execute_options,
                journal.clone() as Arc<dyn Observer>,
            )
            .await;
            let failed = round.iter().any(|o| o.result.is_err());
            count_restarts(
                &round,
                &desired,
                &observed,
                options.crash_loop,
                &mut restarts,
                journal.store.as_ref(),
            );
            lifetimes.record_expiries(&round, &current_plan, &desired);
            outcomes.extend(round);
            // Egress sandboxes just made reach their destinations from now on.
            warnings.extend(egress_sync::sync(engine, &dir, &desired).await);
            if failed || (rounds >= MAX_ROUNDS && !waits_on_condition) {
                // Failures are reported, not retried within one apply.
                observed = reobserve(
                    engine, &ownership, &desired, &restarts, &lifetimes, &journal, &displaced,
                )
                .await?;
                current_plan = scope.restrict(
                    plan_probed(engine, &desired, &mut observed, again(plan_options)).await,
                );
                last_blocked = current_plan.blocked.clone();
                break;
            }
        }
        observed = reobserve(
            engine, &ownership, &desired, &restarts, &lifetimes, &journal, &displaced,
        )
        .await?;
        current_plan =
            scope.restrict(plan_probed(engine, &desired, &mut observed, again(plan_options)).await);
        last_blocked = current_plan.blocked.clone();
        if rounds >= MAX_ROUNDS + desired.sandboxes.len() {
            break;
        }
    }

    // Also on a pass that changed nothing: a proxy that died is started again.
    if rounds == 0 {
        warnings.extend(egress_sync::sync(engine, &dir, &desired).await);
    }

    let mut plan_for_status = first_plan.clone();
    plan_for_status.blocked = last_blocked;
    plan_for_status.crash_loops = current_plan.crash_loops.clone();
    plan_for_status.expired = current_plan.expired.clone();
    plan_for_status.lifetime_checks = current_plan.lifetime_checks.clone();
    let mut findings = status::Findings::new(&plan_for_status, &outcomes);
    findings.invalid = options.invalid.clone();
    let deadline = match options.readiness {
        Readiness::Skip => None,
        Readiness::Wait => Some(started + options.timeout.unwrap_or(DEFAULT_WAIT)),
        Readiness::Once => Some(Instant::now()),
    };
    let mut failed_tasks = Vec::new();
    let mut failed_hooks = Vec::new();
    if let (Readiness::Wait, Some(deadline)) = (options.readiness, deadline) {
        // `--wait` counts a one-shot as done when it has run: exit 0 is success, anything
        // else a failure; one still running at the deadline is not ready.
        loop {
            let running = unfinished_tasks(&desired, &observed, scope.only.as_ref());
            if running.is_empty() || Instant::now() + CONDITION_POLL >= deadline {
                for key in running {
                    findings
                        .not_ready
                        .insert(key, "still running to completion".to_string());
                }
                break;
            }
            tokio::time::sleep(CONDITION_POLL).await;
            observed = reobserve(
                engine, &ownership, &desired, &restarts, &lifetimes, &journal, &displaced,
            )
            .await?;
        }
        let in_scope = |s: &&desired::DesiredSandbox| {
            scope
                .only
                .as_ref()
                .is_none_or(|o| o.contains(&Key::new(Kind::Sandbox, s.name.clone())))
        };
        failed_tasks = desired
            .sandboxes
            .values()
            .filter(|s| in_scope(s))
            .filter_map(|s| {
                let c = conditions::current(s, &observed)
                    .filter(|c| c.spec_hash.as_deref() == Some(s.spec_hash.as_str()))?;
                match conditions::task_outcome(s, c)? {
                    conditions::TaskOutcome::Failed(code) => Some((
                        Key::new(Kind::Sandbox, s.name.clone()),
                        code.map_or_else(
                            || "it failed".to_string(),
                            |code| format!("exit code {code}"),
                        ),
                    )),
                    conditions::TaskOutcome::Succeeded => None,
                }
            })
            .collect();
        failed_hooks = desired
            .sandboxes
            .values()
            .filter(|s| in_scope(s))
            .filter_map(|s| {
                let c = conditions::current(s, &observed)?;
                let failure = observed
                    .hook_failures
                    .get(&s.name)
                    .filter(|f| f.container_id == c.id)?;
                Some((
                    Key::new(Kind::Sandbox, s.name.clone()),
                    failure.message.clone(),
                ))
            })
            .collect();
    }
    if let Some(deadline) = deadline {
        let (ready, not_ready) =
            wait_for_readiness(engine, &desired, &observed, deadline, scope.only.as_ref()).await;
        findings.ready = ready;
        for (key, reason) in not_ready {
            findings.not_ready.insert(key, reason);
        }
        if options.readiness == Readiness::Wait {
            // Minutes may have passed: the statuses say what is there now.
            observed = reobserve(
                engine, &ownership, &desired, &restarts, &lifetimes, &journal, &displaced,
            )
            .await?;
        }
    }
    let not_ready: Vec<(Key, String)> = findings
        .not_ready
        .iter()
        .map(|(k, r)| (k.clone(), r.clone()))
        .collect();
    let mut statuses = status::compute(&desired, &observed, &findings);
    for s in &mut statuses {
        let Ok(kind) = s.kind.parse::<Kind>() else {
            continue;
        };
        let key = Key::new(kind, s.name.clone());
        if let Some(&generation) = generations.get(&key) {
            s.metadata = Some(status::Metadata { generation });
            // Objects outside `--only` were not acted on: they keep their previous one.
            if scope.only.as_ref().is_none_or(|only| only.contains(&key)) {
                s.observed_generation = Some(generation);
            }
        }
    }
    let written = status::write_all(&dir, &mut statuses, declarations.complete);
    warnings.extend(written.skipped);
    let mut status_errors = written.failed;
    let status_files_written = written.files;
    if declarations.complete {
        // Every file is valid: that is the workspace's status, and each file's last valid
        // version from now on.
        let written = status::write_workspace(
            &dir,
            status::WorkspaceStatus::new(declarations.workspace_name.clone(), Vec::new()),
        );
        warnings.extend(written.skipped);
        status_errors.extend(written.failed);
    }
    // `run` containers whose process was killed (SIGKILL skips their own cleanup). Only
    // when the observation saw a leased one: the sweep lists every container again, which
    // is a third of a no-op apply's time in a workspace of 100 sandboxes.
    let sweep = async {
        if observed.leased_runs == 0 {
            return Ok(Vec::new());
        }
        crate::lease::sweep_expired_runs(engine, &ownership).await
    };
    match sweep.await {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(target: "pocket_dock::controller", removed = removed.len(), "removed containers of `run`s that were killed");
        }
        Ok(_) => {}
        Err(e) => warnings.push(format!("could not sweep leftover `run` containers: {e}")),
    }
    if let Some(store) = &journal.store {
        if declarations.complete
            && let Ok(store) = store.lock()
        {
            let names: Vec<&str> = desired.sandboxes.keys().map(String::as_str).collect();
            if let Err(e) = store.forget_restarts_except(&names) {
                warnings.push(format!("could not forget removed sandboxes' restarts: {e}"));
            }
            if let Err(e) = store.forget_hook_failures_except(&names) {
                warnings.push(format!(
                    "could not forget removed sandboxes' hook failures: {e}"
                ));
            }
            if let Err(e) = store.forget_lifetimes_except(&names) {
                warnings.push(format!(
                    "could not forget removed sandboxes' lifetimes: {e}"
                ));
            }
            if let Err(e) = store.forget_pauses_except(&names) {
                warnings.push(format!("could not forget removed sandboxes' pauses: {e}"));
            }
            let snapshots: Vec<&str> = desired.snapshots.keys().map(String::as_str).collect();
            if let Err(e) = store.forget_snapshots_except(&snapshots) {
                warnings.push(format!("could not forget removed snapshots: {e}"));
            }
            let objects: Vec<(&str, &str)> = declarations
                .objects
                .iter()
                .map(|o| (o.kind.as_str(), o.metadata.name.as_str()))
                .collect();
            if let Err(e) = store.forget_generations_except(&objects) {
                warnings.push(format!(
                    "could not forget removed objects' generations: {e}"
                ));
            }
        }
        remember_last_valid(store, declarations, &mut warnings);
        sweep_sessions(engine, &ownership, store).await;
        sync_registry(store, &observed, &mut warnings);
        record_snapshots(store, &desired, &observed, &mut warnings);
    }

    Ok(ApplyReport {
        plan: plan_for_status,
        outcomes,
        statuses,
        orphans,
        warnings,
        elapsed: started.elapsed(),
        calls: delta(engine.stats(), calls_before),
        status_files_written,
        status_errors,
        not_ready,
        waited,
        failed_tasks,
        failed_hooks,
        waited_out,
    })
}

/// The one-shot sandboxes (within `only`) whose current container has not finished.
fn unfinished_tasks(
    desired: &Desired,
    observed: &Observed,
    only: Option<&BTreeSet<Key>>,
) -> Vec<Key> {
    desired
        .sandboxes
        .values()
        .filter(|s| s.once && s.running)
        .map(|s| (s, Key::new(Kind::Sandbox, s.name.clone())))
        .filter(|(_, key)| only.is_none_or(|o| o.contains(key)))
        .filter(|(s, _)| {
            conditions::current(s, observed).is_some_and(|c| {
                c.spec_hash.as_deref() == Some(s.spec_hash.as_str())
                    && conditions::task_outcome(s, c).is_none()
            })
        })
        .map(|(_, key)| key)
        .collect()
}

/// Rounds of actions an apply takes at most (more while conditions unblock sandboxes).
const MAX_ROUNDS: usize = 3;
/// How often an apply that waits for a condition looks again.
const CONDITION_POLL: Duration = Duration::from_millis(500);

/// Plans; when a start waits on a `Ready` condition whose dependency was not probed yet,
/// probes it and plans again.
async fn plan_probed(
    engine: &Engine,
    desired: &Desired,
    observed: &mut Observed,
    options: PlanOptions,
) -> Plan {
    let first = plan::plan(desired, observed, options);
    let waiting: Vec<&str> = first
        .blocked
        .iter()
        .filter(|b| b.pending && b.key.kind == Kind::Sandbox)
        .map(|b| b.key.name.as_str())
        .collect();
    if probes::probe_blockers(engine, desired, observed, &waiting).await {
        plan::plan(desired, observed, options)
    } else {
        first
    }
}

/// The plan options of every round after the first (`Always` images are pulled once).
fn again(options: PlanOptions) -> PlanOptions {
    PlanOptions {
        pull_always: false,
        ..options
    }
}

/// Observes again, with what the store remembers of restarts, hooks and activity.
async fn reobserve(
    engine: &Engine,
    ownership: &Ownership,
    desired: &Desired,
    restarts: &BTreeMap<String, restarts::RestartRecord>,
    lifetimes: &Lifetimes,
    journal: &Journal,
    displaced: &BTreeSet<String>,
) -> Result<Observed, Error> {
    let mut observed = observe::observe(engine, ownership, desired).await?;
    observed.restarts = restarts.clone();
    observed.displaced_images = displaced.clone();
    if let Some(Ok(store)) = journal.store.as_ref().map(Mutex::lock) {
        observed.hook_failures = store.hook_failures().unwrap_or_default();
        lifetimes.fill(&mut observed, Some(&*store));
    } else {
        lifetimes.fill(&mut observed, None);
    }
    Ok(observed)
}

/// The lifetime records of this apply's sandboxes (`spec.lifetime`), as the store keeps
/// them and as this apply changes them.
struct Lifetimes {
    records: BTreeMap<String, lifetime::LifetimeRecord>,
    /// Activity as read when the apply started (used when the store cannot be read again).
    activity: BTreeMap<String, lifetime::Activity>,
    /// The pause overrides as read when the apply started (the same).
    pauses: BTreeMap<String, crate::status::types::PauseRecord>,
}

impl Lifetimes {
    /// Each declared sandbox's record for its current declaration: a changed declaration
    /// (or `--resume`, within `resume`'s scope) starts a new one, which lifts its expiry.
    /// Saved when there is a store to write (not in a dry run).
    fn load(
        store: Option<&StateStore>,
        dir: &std::path::Path,
        desired: &Desired,
        resume: Option<&Scope>,
        warnings: &mut Vec<String>,
    ) -> Lifetimes {
        let opened;
        let reader = match store {
            Some(store) => Some(store),
            None => {
                opened = StateStore::open_existing(dir).ok().flatten();
                opened.as_ref()
            }
        };
        let stored = reader.and_then(|s| s.lifetimes().ok()).unwrap_or_default();
        let activity = reader.and_then(|s| s.activity().ok()).unwrap_or_default();
        let pauses = reader.and_then(|s| s.pauses().ok()).unwrap_or_default();
        let now_ms = crate::timefmt::unix_now_ms();
        let mut records = BTreeMap::new();
        for s in desired.sandboxes.values() {
            let key = Key::new(Kind::Sandbox, s.name.clone());
            let resumed = resume
                .is_some_and(|scope| scope.only.as_ref().is_none_or(|only| only.contains(&key)));
            let current = stored.get(&s.name);
            let record = lifetime::LifetimeRecord::for_declaration(
                current,
                &s.document_hash,
                now_ms,
                resumed,
            );
            if current != Some(&record)
                && let Some(store) = store
                && let Err(e) = store.save_lifetime(&s.name, Some(&record))
            {
                warnings.push(format!(
                    "could not remember Sandbox/{}'s lifetime: {e}",
                    s.name
                ));
            }
            records.insert(s.name.clone(), record);
        }
        if let Some(store) = store
            && let Err(e) = store.forget_dead_activity()
        {
            warnings.push(format!(
                "could not forget commands whose client is gone: {e}"
            ));
        }
        Lifetimes {
            records,
            activity,
            pauses,
        }
    }

    /// Fills in the lifetime records, the activity, and the pause overrides (`pocket-dock
    /// pause`), read again from the store when there is one.
    fn fill(&self, observed: &mut Observed, store: Option<&StateStore>) {
        observed.lifetimes = self.records.clone();
        observed.activity = store
            .and_then(|s| s.activity().ok())
            .unwrap_or_else(|| self.activity.clone());
        observed.pauses = store
            .and_then(|s| s.pauses().ok())
            .unwrap_or_else(|| self.pauses.clone());
    }

    /// Drops the idle stops of sandboxes with activity since `observed` was read (a
    /// command started in the meantime), and looks at them again one `idleTimeout` later.
    fn spare_the_busy(plan: &mut Plan, observed: &Observed, desired: &Desired, store: &StateStore) {
        let Ok(now) = store.activity() else {
            return;
        };
        let busy: Vec<Key> = plan
            .expired
            .iter()
            .filter(|e| !e.recorded && e.expiry.reason == lifetime::ExpiryReason::IdleTimeout)
            .filter(|e| {
                let then = observed
                    .activity
                    .get(&e.key.name)
                    .copied()
                    .unwrap_or_default();
                now.get(&e.key.name)
                    .is_some_and(|a| a.live || a.last_ms > then.last_ms)
            })
            .map(|e| e.key.clone())
            .collect();
        for key in busy {
            plan.expired.retain(|e| e.key != key);
            plan.actions
                .retain(|a| !(a.key == key && matches!(a.op, Op::Stop)));
            if let Some(idle) = desired
                .sandboxes
                .get(&key.name)
                .and_then(|s| s.limits.idle_timeout)
            {
                plan.lifetime_checks.push(plan::LifetimeCheck {
                    key,
                    in_ms: u64::try_from(idle.as_millis())
                        .unwrap_or(u64::MAX)
                        .min(86_400_000),
                });
            }
        }
    }

    /// The records the plan's new expiries make, by sandbox, with the action that makes
    /// each so (the idle stop, or the removal of the declared container).
    fn expiring(
        &self,
        plan: &Plan,
        desired: &Desired,
    ) -> BTreeMap<Key, (Op, lifetime::LifetimeRecord)> {
        plan.expired
            .iter()
            .filter(|e| !e.recorded)
            .filter_map(|e| {
                let s = desired.sandboxes.get(&e.key.name)?;
                let op = plan
                    .actions
                    .iter()
                    .find(|a| {
                        a.key == e.key
                            && match &a.op {
                                Op::Stop => true,
                                Op::Remove { container } => *container == s.container_name,
                                _ => false,
                            }
                    })?
                    .op
                    .clone();
                let mut record = self.records.get(&s.name).cloned().unwrap_or_else(|| {
                    lifetime::LifetimeRecord {
                        document_hash: s.document_hash.clone(),
                        since_ms: e.expiry.at_ms,
                        expiry: None,
                    }
                });
                record.expiry = Some(e.expiry.clone());
                Some((e.key.clone(), (op, record)))
            })
            .collect()
    }

    /// Takes in the expiries the round's stops and removals carried out (the journal saved
    /// them as each action finished).
    fn record_expiries(&mut self, round: &[ActionOutcome], plan: &Plan, desired: &Desired) {
        for (key, (op, record)) in self.expiring(plan, desired) {
            let done = round
                .iter()
                .any(|o| o.result.is_ok() && o.action.key == key && o.action.op == op);
            if done {
                self.records.insert(key.name, record);
            }
        }
    }
}

/// The failed hooks the store remembers (a dry run reads them if it can).
fn hook_failures(
    store: Option<&StateStore>,
    dir: &std::path::Path,
) -> BTreeMap<String, hooks::HookFailure> {
    match store {
        Some(store) => store.hook_failures().ok(),
        None => StateStore::open_existing(dir)
            .ok()
            .flatten()
            .and_then(|s| s.hook_failures().ok()),
    }
    .unwrap_or_default()
}

/// Remembers each sandbox's restarts after a round: a start after an exit counts (and
/// lengthens the back-off); a new container starts over.
fn count_restarts(
    round: &[ActionOutcome],
    desired: &Desired,
    observed: &Observed,
    policy: restarts::CrashLoopPolicy,
    records: &mut BTreeMap<String, restarts::RestartRecord>,
    store: Option<&Mutex<StateStore>>,
) {
    for outcome in round.iter().filter(|o| o.result.is_ok()) {
        let name = &outcome.action.key.name;
        let record = match &outcome.action.op {
            Op::Start => {
                let container_name = desired.sandboxes.get(name).map(|s| &s.container_name);
                let Some(c) = observed.sandboxes.get(name).and_then(|cs| {
                    cs.iter()
                        .find(|c| Some(&c.container_name) == container_name)
                }) else {
                    continue;
                };
                Some(restarts::after_restart(
                    records.get(name),
                    &c.id,
                    c.exit,
                    crate::timefmt::unix_now(),
                    policy,
                ))
            }
            Op::Create { .. } | Op::Recreate { .. } => None,
            _ => continue,
        };
        match &record {
            Some(r) => records.insert(name.clone(), r.clone()),
            None => records.remove(name),
        };
        if let Some(Ok(store)) = store.map(Mutex::lock)
            && let Err(e) = store.save_restarts(name, record.as_ref())
        {
            tracing::warn!(error = %e, sandbox = %name, "could not remember the restarts");
        }
    }
}

/// How long `--wait` waits for readiness when no `--timeout` is given.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// Probes every running sandbox that has a readiness probe until it passes or `deadline`.
async fn wait_for_readiness(
    engine: &Engine,
    desired: &Desired,
    observed: &Observed,
    deadline: Instant,
    only: Option<&BTreeSet<Key>>,
) -> (Vec<Key>, Vec<(Key, String)>) {
    let probes = desired.sandboxes.values().filter_map(|s| {
        if only.is_some_and(|o| !o.contains(&Key::new(Kind::Sandbox, s.name.clone()))) {
            return None;
        }
        let probe = s.probe.as_ref()?;
        let c = observed
            .sandboxes
            .get(&s.name)?
            .iter()
            .find(|c| c.container_name == s.container_name && c.state.is_running())?;
        Some((
            Key::new(Kind::Sandbox, s.name.clone()),
            probe,
            c.handle.clone(),
        ))
    });
    let results = futures_util::future::join_all(probes.map(|(key, probe, handle)| async move {
        loop {
            let last = match probes::run_probe(engine, &handle, probe).await {
                Ok(0) => return (key, None),
                Ok(code) => format!("readiness probe exits {code}"),
                Err(e) => format!("readiness probe failed: {e}"),
            };
            if Instant::now() + probe.interval >= deadline {
                return (key, Some(last));
            }
            tokio::time::sleep(probe.interval).await;
        }
    }))
    .await;
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for (key, failure) in results {
        match failure {
            None => ready.push(key),
            Some(reason) => not_ready.push((key, reason)),
        }
    }
    (ready, not_ready)
}

fn delta(after: CallStats, before: CallStats) -> CallStats {
    CallStats {
        reads: after.reads - before.reads,
        writes: after.writes - before.writes,
    }
}

fn orphans(observed: &Observed, desired: &Desired, store: Option<&StateStore>) -> Vec<String> {
    observed
        .sandboxes
        .iter()
        .filter(|(name, _)| !desired.sandboxes.contains_key(*name))
        .filter(|(name, _)| {
            store.is_some_and(|s| !s.knows(Kind::Sandbox.as_str(), name).unwrap_or(true))
        })
        .flat_map(|(_, cs)| cs.iter().map(|c| c.container_name.clone()))
        .collect()
}

/// Sessions whose client died leave processes behind; every reconcile clears them. The
/// store is read and written under its lock, never held across the Podman calls.
async fn sweep_sessions(engine: &Engine, ownership: &Ownership, store: &Mutex<StateStore>) {
    let sessions = match store.lock() {
        Ok(store) => store.sessions().unwrap_or_default(),
        Err(_) => return,
    };
    let orphans = crate::sandbox::orphaned_sessions(sessions);
    if orphans.is_empty() {
        return;
    }
    let swept = crate::sandbox::sweep_orphan_sessions(engine, ownership, orphans).await;
    if let Ok(store) = store.lock() {
        for id in &swept {
            let _ = store.forget_session(id);
        }
    }
    tracing::info!(target: "pocket_dock::controller", swept = swept.len(), "cleaned up sessions whose client is gone");
}

/// Stores each file's documents as its last valid version, when all are valid and differ
/// from what is stored.
fn remember_last_valid(
    store: &Mutex<StateStore>,
    declarations: &Declarations,
    warnings: &mut Vec<String>,
) {
    let (Some(current), Ok(store)) = (LastValid::of_complete(declarations), store.lock()) else {
        return;
    };
    if store.last_valid().is_ok_and(|stored| stored == current) {
        return;
    }
    if let Err(e) = store.save_last_valid(&current) {
        warnings.push(format!("could not remember the valid declarations: {e}"));
    }
}

/// Each declared object's generation, bumped in the store where its spec hash changed.
/// Without a usable store there are none (status files then leave them out).
fn record_generations(
    store: &StateStore,
    declarations: &Declarations,
    warnings: &mut Vec<String>,
) -> BTreeMap<Key, u64> {
    let mut out = BTreeMap::new();
    for object in &declarations.objects {
        let hash = pocket_dock_spec::hash::document_hash(object, &declarations.settings);
        let name = &object.metadata.name;
        match store.observe_generation(object.kind.as_str(), name, &hash) {
            Ok(generation) => {
                out.insert(Key::new(object.kind, name.clone()), generation);
            }
            Err(e) => {
                warnings.push(format!("could not record generations: {e}"));
                break;
            }
        }
    }
    out
}

/// Stores the Workspace document's retention, which writers that never load the
/// declarations (`exec`) trim by. Only from a complete picture: the Workspace document may
/// be among what could not be read.
fn remember_retention(store: &StateStore, declarations: &Declarations, warnings: &mut Vec<String>) {
    if !declarations.complete {
        return;
    }
    let retention = declarations.settings.retention.clone().unwrap_or_default();
    if let Err(e) = store.set_retention(&retention) {
        warnings.push(format!("could not store the retention settings: {e}"));
    }
}

fn record_snapshots(
    store: &Mutex<StateStore>,
    desired: &Desired,
    observed: &Observed,
    warnings: &mut Vec<String>,
) {
    let Ok(store) = store.lock() else {
        return;
    };
    for snap in desired.snapshots.values() {
        let (Some(id), Some(record)) = (
            observed.image_id(&snap.tag),
            observed
                .image_labels
                .get(&snap.tag)
                .and_then(status::snapshot_record_from_labels),
        ) else {
            continue;
        };
        if let Err(e) = store.record_snapshot(&snap.name, &snap.tag, id, &record) {
            warnings.push(format!("could not record Snapshot/{}: {e}", snap.name));
        }
    }
}

fn sync_registry(store: &Mutex<StateStore>, observed: &Observed, warnings: &mut Vec<String>) {
    let now = now_rfc3339();
    let instances: Vec<Instance> = observed
        .sandboxes
        .iter()
        .flat_map(|(name, cs)| {
            cs.iter().map(|c| Instance {
                kind: Kind::Sandbox.as_str().to_string(),
                name: name.clone(),
                container_id: Some(c.id.clone()),
                container_name: Some(c.container_name.clone()),
                image: Some(c.image_id.clone()),
                spec_hash: c.spec_hash.clone(),
                created_at: None,
                started_at: c.state.is_up().then(|| now.clone()),
                stopped_at: (!c.state.is_up()).then(|| now.clone()),
            })
        })
        .collect();
    if let Ok(store) = store.lock()
        && let Err(e) = store.sync_instances(&instances, &now)
    {
        warnings.push(format!("could not update the instance registry: {e}"));
    }
}

#[cfg(test)]
mod rebuild_tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use crate::reconcile::desired::{DesiredImage, ImageOrigin};

    fn images(names: &[&str]) -> Desired {
        let mut d = Desired::default();
        for name in names {
            d.images.insert(
                name.to_string(),
                DesiredImage {
                    name: name.to_string(),
                    origin: ImageOrigin::Embedded,
                    tag: format!("t-{name}"),
                    shared: format!("t-{name}"),
                    parent: None,
                    problem: None,
                    pull_secret: None,
                },
            );
        }
        d
    }

    #[test]
    fn rebuild_names_are_declared_images_inside_the_selection() {
        let d = images(&["step-1", "tools"]);
        let named = |names: &[&str]| Rebuild::Images(names.iter().map(|n| n.to_string()).collect());
        assert_eq!(
            rebuild_names(&named(&["tools"]), &d, None).unwrap(),
            BTreeSet::from(["tools".to_string()])
        );
        assert_eq!(rebuild_names(&Rebuild::All, &d, None).unwrap().len(), 2);
        assert!(
            rebuild_names(&Rebuild::Nothing, &d, None)
                .unwrap()
                .is_empty()
        );
        let unknown = rebuild_names(&named(&["step1"]), &d, None).unwrap_err();
        assert_eq!(unknown.category(), crate::Category::InvalidInput);
        let message = unknown.to_string();
        assert!(message.contains("Image/step1"), "{message}");
        assert!(message.contains("did you mean `step-1`"), "{message}");
        assert!(
            message.contains("declared images: step-1, tools"),
            "{message}"
        );
        let only = BTreeSet::from([Key::new(Kind::Image, "step-1")]);
        let outside = rebuild_names(&named(&["tools"]), &d, Some(&only)).unwrap_err();
        assert!(outside.to_string().contains("outside --only"), "{outside}");
        assert!(rebuild_names(&named(&["step-1"]), &d, Some(&only)).is_ok());
    }
}
