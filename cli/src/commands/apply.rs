use std::io::Write;

use clap::Args;
use pocket_dock::engine::EngineError;
use pocket_dock::reconcile::{Action, ActionError, ActionOutcome, Op, Readiness, Rebuild};
use pocket_dock::text::count;
use pocket_dock::{ApplyOptions, ApplyReport, ExitCode, Observer, Plan};
use pocket_dock_spec::parse_duration;

use super::declared::invalid_or_err;
use super::select::SelectArgs;
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Show what would be done; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Also remove named volumes that are no longer declared (deletes their data)
    #[arg(long)]
    prune_volumes: bool,
    /// Give up (exit 5) after this long, e.g. 2m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<std::time::Duration>,
    /// Wait until readiness probes pass
    #[arg(long)]
    wait: bool,
    /// Start again the sandboxes a `lifetime` limit stopped or removed (all, or those
    /// --only/--selector name), their clocks starting over
    #[arg(long)]
    resume: bool,
    /// Build these Images again even if present (comma-separated or repeated), and every
    /// Image built on them; a pulled one is pulled again
    #[arg(
        long,
        value_name = "IMAGE",
        value_delimiter = ',',
        conflicts_with = "rebuild_all"
    )]
    rebuild: Vec<String>,
    /// Build (or pull, or load) every declared Image again
    #[arg(long)]
    rebuild_all: bool,
    /// Builds ignore the layer cache: every step runs again
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    image_timeouts: ImageTimeoutArgs,
    #[command(flatten)]
    select: SelectArgs,
}

/// How long builds and pulls may take (`apply`, `controller`).
#[derive(Debug, Args)]
pub struct ImageTimeoutArgs {
    /// Time a build may take when its Image sets no `build.timeout` [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub build_timeout: Option<std::time::Duration>,
    /// Time a pull may take when its Image sets no `from.timeout` [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pull_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    select: SelectArgs,
}

/// Prints actions as they finish (text: one line each; json: one object per line).
pub struct Printer {
    pub format: OutputFormat,
}

impl Observer for Printer {
    fn waiting_for_writer(&self, holder: &pocket_dock::writer_lock::Holder) {
        if self.format == OutputFormat::Text {
            err!("waiting for {holder} to finish writing to this workspace...");
        }
    }

    fn waiting(&self, blocked: &pocket_dock::reconcile::Blocked) {
        match self.format {
            OutputFormat::Text => out!("… {:<28} {}", blocked.key.to_string(), blocked.reason),
            _ => out!(
                "{}",
                serde_json::json!({
                    "event": "waiting",
                    "kind": blocked.key.kind,
                    "name": blocked.key.name,
                    "reason": blocked.reason,
                })
            ),
        }
    }

    fn started(&self, action: &Action) {
        if self.format != OutputFormat::Text {
            out!(
                "{}",
                serde_json::json!({
                    "event": "started",
                    "kind": action.key.kind,
                    "name": action.key.name,
                    "action": action.op,
                    "reason": action.reason,
                })
            );
            return;
        }
        match &action.op {
            Op::Pull { reference } => out!("  pulling {reference} for {}...", action.key),
            Op::Build { tag } => out!("  building {tag} for {}...", action.key),
            Op::LoadEmbedded { tag } => out!("  building and loading {tag} for {}...", action.key),
            Op::Commit { tag } => out!("  committing {tag} for {}...", action.key),
            _ => {}
        }
    }

    /// JSON only: text has no progress noise (a terminal gets live lines instead, see
    /// [`super::progress`]).
    fn progress(&self, key: &pocket_dock::Key, progress: &pocket_dock::engine::Progress) {
        if self.format != OutputFormat::Text {
            out!(
                "{}",
                serde_json::json!({
                    "event": "progress",
                    "kind": key.kind,
                    "name": key.name,
                    "progress": progress,
                })
            );
        }
    }

    fn finished(&self, outcome: &ActionOutcome) {
        let a = &outcome.action;
        match self.format {
            OutputFormat::Text => {
                let line = match &outcome.result {
                    Err(e @ ActionError::DependencyNotReady { .. }) => {
                        format!("! {:<28} {}: {e}", a.key.to_string(), a.op.verb())
                    }
                    Ok(()) => format!(
                        "{} {:<28} {}{} ({}) {}",
                        a.op.sign(),
                        a.key.to_string(),
                        done(&a.op),
                        object(&a.op),
                        a.reason,
                        ms(outcome.elapsed)
                    ),
                    Err(e) => format!("! {:<28} {} failed: {e}", a.key.to_string(), a.op.verb()),
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                for change in &a.changes {
                    let _ = writeln!(out, "      {change}");
                }
                if let Err(ActionError::Engine(EngineError::BuildFailed { output, .. })) =
                    &outcome.result
                {
                    for line in output.lines() {
                        let _ = writeln!(out, "      | {line}");
                    }
                }
                // What to do next, where the engine's error knows (as `error:` lines say).
                if let Err(ActionError::Engine(e)) = &outcome.result
                    && let Some(hint) = e.hint()
                {
                    let _ = writeln!(out, "      hint: {hint}");
                }
            }
            _ => {
                let value = serde_json::json!({
                    "event": "action",
                    "kind": a.key.kind,
                    "name": a.key.name,
                    "action": a.op,
                    "reason": a.reason,
                    "changes": a.changes,
                    "ok": outcome.result.is_ok(),
                    "error": outcome.result.as_ref().err().map(|e| serde_json::json!({
                        "category": e.category(),
                        "operation": e.operation().map(|o| o.as_str()),
                        "message": e.to_string(),
                    })),
                    "elapsed_ms": outcome.elapsed.as_millis() as u64,
                });
                out!("{value}");
            }
        }
    }
}

fn done(op: &Op) -> &'static str {
    match op {
        Op::Pull { .. } => "pulled",
        Op::Build { .. } => "built",
        Op::LoadEmbedded { .. } => "loaded",
        Op::Commit { .. } => "committed",
        Op::Tag { .. } => "tagged",
        Op::RemoveImage { .. } => "removed",
        Op::CreateVolume | Op::CreateNetwork | Op::Create { .. } => "created",
        Op::Start => "started",
        Op::Stop => "stopped",
        Op::Pause => "paused",
        Op::Unpause => "unpaused",
        Op::Connect { .. } => "connected",
        Op::Recreate { .. } | Op::RecreateNetwork => "recreated",
        Op::Remove { .. } | Op::RemoveVolume | Op::RemoveNetwork | Op::RemoveMember { .. } => {
            "removed"
        }
        Op::AddMembers { .. } => "filled",
    }
}

/// What an action acts on, when the key alone does not say it: an Image or Snapshot has
/// several images over time, so removing one names which (` image localhost/x:1a2b`).
fn object(op: &Op) -> String {
    match op {
        Op::RemoveImage { reference } => format!(" image {}", short_image(reference)),
        _ => String::new(),
    }
}

/// An image reference as people read it: a bare id (`sha256:` and 64 hex digits) cut to
/// its first 12 digits, as Podman shows ids; a name as it is.
fn short_image(reference: &str) -> &str {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        &hex[..12]
    } else {
        reference
    }
}

fn ms(d: std::time::Duration) -> String {
    if d.as_millis() >= 1000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

pub async fn apply(global: &GlobalArgs, args: ApplyArgs) -> Outcome {
    let selection = args.select.selection()?;
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let options = ApplyOptions {
        selection,
        dry_run: args.dry_run,
        prune_volumes: args.prune_volumes,
        readiness: if args.wait {
            Readiness::Wait
        } else {
            Readiness::Skip
        },
        timeout: args.timeout,
        resume: args.resume,
        rebuild: if args.rebuild_all {
            Rebuild::All
        } else if args.rebuild.is_empty() {
            Rebuild::Nothing
        } else {
            Rebuild::Images(args.rebuild.iter().map(|n| n.trim().to_string()).collect())
        },
        no_cache: args.no_cache,
        build_timeout: args.image_timeouts.build_timeout,
        pull_timeout: args.image_timeouts.pull_timeout,
        ..ApplyOptions::default()
    };
    let printer = super::progress::observer(global.output, global.screen.as_ref());
    match workspace.apply_observed(&engine, options, printer).await {
        Ok(report) if args.dry_run => {
            print_plan(&report.plan, global.output);
            Ok(ExitCode::Success.code())
        }
        Ok(report) => Ok(summarize(&report, global.output)),
        Err(e) => invalid_or_err(global, e, "nothing was changed"),
    }
}

/// Prints an apply's summary; the exit code says whether everything converged.
/// `snapshot` reuses it for its one object.
pub fn summarize(report: &ApplyReport, format: OutputFormat) -> u8 {
    print_summary(report, format);
    if report.timed_out() {
        ExitCode::TimedOut
    } else if report.converged() {
        ExitCode::Success
    } else {
        ExitCode::Failed
    }
    .code()
}

fn print_summary(report: &ApplyReport, format: OutputFormat) {
    let done_count = |verb: &str| {
        report
            .outcomes
            .iter()
            .filter(|o| o.result.is_ok() && done(&o.action.op) == verb)
            .count()
    };
    let failed = report.failures().count();
    match format {
        OutputFormat::Text => {
            for warning in &report.warnings {
                err!("warning: {warning}");
            }
            for error in &report.status_errors {
                err!(
                    "error: {error}; the objects themselves converged, their status files are stale (free space or fix the folder's permissions, then apply again)"
                );
            }
            for orphan in &report.orphans {
                err!(
                    "note: {orphan} carried this workspace's labels but was not in the state registry (orphan); it was handled as undeclared"
                );
            }
            for b in &report.plan.blocked {
                out!("! {:<28} waiting: {}", b.key.to_string(), b.reason);
            }
            for v in &report.plan.kept_volumes {
                out!(
                    "  Volume/{v:<21} kept: no longer declared (remove with --prune-volumes; deletes its data)"
                );
            }
            for k in &report.plan.kept {
                out!("  {:<28} kept: {}", k.key.to_string(), k.reason);
            }
            for c in &report.plan.crash_loops {
                out!("! {:<28} {}", c.key.to_string(), c.reason());
            }
            for e in &report.plan.expired {
                out!("  {:<28} held: {}", e.key.to_string(), e.reason());
            }
            for (key, reason) in &report.not_ready {
                out!("! {:<28} not ready: {reason}", key.to_string());
            }
            for (key, how) in &report.failed_hooks {
                out!("! {:<28} {how}", key.to_string());
            }
            for (key, how) in &report.failed_tasks {
                out!(
                    "! {:<28} failed: {how} (its output: `pocket-dock logs {}`)",
                    key.to_string(),
                    key.name
                );
            }
            let elapsed = ms(report.elapsed);
            if report.outcomes.is_empty()
                && report.failed_tasks.is_empty()
                && report.failed_hooks.is_empty()
                && report.plan.blocked.is_empty()
                && report.not_ready.is_empty()
                && report.plan.crash_loops.is_empty()
            {
                out!(
                    "apply: no changes ({} up to date, {elapsed})",
                    count(report.statuses.len(), "object")
                );
            } else {
                let parts: Vec<String> = [
                    "created",
                    "recreated",
                    "started",
                    "stopped",
                    "connected",
                    "removed",
                    "pulled",
                    "built",
                    "loaded",
                    "committed",
                ]
                .iter()
                .map(|v| (v, done_count(v)))
                .filter(|(_, n)| *n > 0)
                .map(|(v, n)| format!("{n} {v}"))
                .collect();
                let mut line = if parts.is_empty() {
                    "nothing done".to_string()
                } else {
                    parts.join(", ")
                };
                if failed > 0 {
                    line.push_str(&format!(", {failed} failed"));
                }
                if !report.failed_tasks.is_empty() {
                    line.push_str(&format!(
                        ", {} failed",
                        count(report.failed_tasks.len(), "one-shot")
                    ));
                }
                if !report.not_ready.is_empty() {
                    line.push_str(&format!(", {} not ready", report.not_ready.len()));
                }
                if !report.plan.crash_loops.is_empty() {
                    line.push_str(&format!(
                        ", {} in crash-loop back-off",
                        report.plan.crash_loops.len()
                    ));
                }
                if !report.plan.blocked.is_empty() {
                    line.push_str(&format!(", {} waiting", report.plan.blocked.len()));
                }
                out!("apply: {line} ({elapsed})");
            }
        }
        _ => {
            let value = serde_json::json!({
                "event": "summary",
                "converged": report.converged(),
                "changes": report.outcomes.iter().filter(|o| o.result.is_ok()).count(),
                "failed": failed,
                "blocked": report.plan.blocked,
                "kept_volumes": report.plan.kept_volumes,
                "kept": report.plan.kept,
                "crash_loops": report.plan.crash_loops,
                "expired": report.plan.expired,
                "orphans": report.orphans,
                "not_ready": report.not_ready.iter().map(|(k, r)| serde_json::json!({"kind": k.kind, "name": k.name, "reason": r})).collect::<Vec<_>>(),
                "failed_hooks": report.failed_hooks.iter().map(|(k, r)| serde_json::json!({"kind": k.kind, "name": k.name, "reason": r})).collect::<Vec<_>>(),
                "failed_tasks": report.failed_tasks.iter().map(|(k, r)| serde_json::json!({"kind": k.kind, "name": k.name, "reason": r})).collect::<Vec<_>>(),
                "warnings": report.warnings,
                "status_errors": report.status_errors,
                "podman_calls": report.calls,
                "elapsed_ms": report.elapsed.as_millis() as u64,
            });
            out!("{value}");
        }
    }
}

/// `diff`: what apply would do, and why; exit 1 when anything is pending.
pub async fn diff(global: &GlobalArgs, args: DiffArgs) -> Outcome {
    let selection = args.select.selection()?;
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let planned = match selection {
        None => workspace.plan(&engine).await,
        // A dry-run apply of the selection is its plan: no lock, no writes.
        Some(selection) => workspace
            .apply(
                &engine,
                ApplyOptions {
                    dry_run: true,
                    selection: Some(selection),
                    ..ApplyOptions::default()
                },
            )
            .await
            .map(|report| report.plan),
    };
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => return invalid_or_err(global, e, "nothing was changed"),
    };
    print_plan(&plan, global.output);
    Ok(if plan.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::ChangesPending
    }
    .code())
}

fn print_plan(plan: &Plan, format: OutputFormat) {
    match format {
        OutputFormat::Text => {
            for a in &plan.actions {
                out!(
                    "{} {:<28} {}{} ({})",
                    a.op.sign(),
                    a.key.to_string(),
                    a.op.verb(),
                    object(&a.op),
                    a.reason
                );
                for change in &a.changes {
                    out!("      {change}");
                }
            }
            for b in &plan.blocked {
                out!("! {:<28} waiting: {}", b.key.to_string(), b.reason);
            }
            for v in &plan.kept_volumes {
                out!("  Volume/{v:<21} kept: no longer declared (remove with --prune-volumes)");
            }
            for k in &plan.kept {
                out!("  {:<28} kept: {}", k.key.to_string(), k.reason);
            }
            for c in &plan.crash_loops {
                out!("! {:<28} {}", c.key.to_string(), c.reason());
            }
            for e in plan.expired.iter().filter(|e| e.recorded) {
                out!("  {:<28} held: {}", e.key.to_string(), e.reason());
            }
            match plan.actions.len() {
                0 => out!("no changes"),
                n => out!("{} pending", count(n, "change")),
            }
        }
        _ => out!("{}", serde_json::to_string(plan).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_removal_names_its_image_and_a_bare_id_is_cut_to_twelve_digits() {
        let by_name = Op::RemoveImage {
            reference: "localhost/pocket-dock/ws/app:1a2b".into(),
        };
        assert_eq!(object(&by_name), " image localhost/pocket-dock/ws/app:1a2b");
        let by_id = Op::RemoveImage {
            reference: format!("sha256:{}", "0123456789ab".repeat(5) + "cdef"),
        };
        assert_eq!(object(&by_id), " image 0123456789ab");
        // Other actions name nothing more than their key.
        assert_eq!(object(&Op::Start), "");
    }
}
