//! `pocket-dock gc`: print and remove what pocket-dock made and nothing wants any more.

use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::engine::Engine;
use pocket_dock::gc::{self, GcOptions, GcPlan, GcReport, Item, Refusal};
use serde_json::json;

use super::declared::{Stream, lock_writer, print_problems};
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Also collect what workspaces whose folder is gone (or holds no .pocket-dock/ any
    /// more) left behind
    #[arg(long)]
    all_workspaces: bool,
    /// List what would be removed; remove nothing
    #[arg(long)]
    dry_run: bool,
    /// Also remove volumes nothing declares (deletes their data)
    #[arg(long)]
    volumes: bool,
    /// Give up (exit 5) after this long waiting for another writer, e.g. 2m
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    timeout: Option<std::time::Duration>,
}

pub async fn gc(global: &GlobalArgs, args: GcArgs) -> Outcome {
    let workspace = global.workspace()?;
    // One writer at a time, from before the declarations are read: what it finds undeclared
    // is what the files say once no one else writes.
    let deadline = args.timeout.map(|t| std::time::Instant::now() + t);
    let _lock = if workspace.declared && !args.dry_run {
        Some(lock_writer(global, &workspace, "gc", deadline).await?)
    } else {
        None
    };
    let desired = match gc::load_desired(&workspace).await {
        Ok(desired) => desired,
        Err(Refusal::Invalid(problems)) => {
            print_problems(
                &problems,
                global.output,
                "nothing was collected",
                Stream::Stdout,
            );
            return Ok(ExitCode::InvalidInput.code());
        }
        Err(Refusal::Incomplete) => {
            return Err(pocket_dock::Error::Usage {
                message: "nothing was collected: the declarations may be incomplete (a folder \
                          under .pocket-dock/ could not be read, or there are too many files); \
                          see `pocket-dock validate`"
                    .to_string(),
            });
        }
    };
    let engine = Engine::new(&global.engine_config()?)?;
    let options = GcOptions {
        all_workspaces: args.all_workspaces,
        volumes: args.volumes,
    };
    let plan = gc::survey(&engine, &workspace, desired.as_ref(), options).await?;
    if args.dry_run {
        print_plan(&plan, global.output);
        return Ok(ExitCode::Success.code());
    }
    let report = gc::execute(&engine, &workspace, &plan).await;
    print_report(&report, global.output);
    Ok(report.exit_code().code())
}

/// `container pd-web-1a2b (Sandbox/web) removed: no longer declared`
fn line(item: &Item, verb: &str, why: &str) -> String {
    match &item.key {
        Some(key) => format!("{} ({key}) {verb}: {why}", item.object),
        None => format!("{} {verb}: {why}", item.object),
    }
}

fn print_kept(kept: &[Item], without_path: usize) {
    for item in kept {
        out!("  {}", line(item, "kept", &item.reason));
    }
    if without_path > 0 {
        out!(
            "  note: {without_path} {} of other workspaces no workspace path (made by an older pocket-dock), so their folder cannot be checked; left alone",
            if without_path == 1 {
                "object carries"
            } else {
                "objects carry"
            }
        );
    }
}

fn print_plan(plan: &GcPlan, format: OutputFormat) {
    match format {
        OutputFormat::Text => {
            for item in &plan.collect {
                out!("- {}", line(item, "would be removed", &item.reason));
            }
            print_kept(&plan.kept, plan.without_path);
            out!(
                "gc --dry-run: {} to remove, {} kept; nothing was removed",
                plan.collect.len(),
                plan.kept.len()
            );
        }
        format => super::emit(
            &json!({
                "dry_run": true,
                "collect": plan.collect,
                "removed": [],
                "failed": [],
                "kept": plan.kept,
                "without_path": plan.without_path,
            }),
            format,
        ),
    }
}

fn print_report(report: &GcReport, format: OutputFormat) {
    match format {
        OutputFormat::Text => {
            for item in &report.removed {
                out!("- {}", line(item, "removed", &item.reason));
            }
            for failed in &report.failed {
                out!("! {}", line(&failed.item, "failed", &failed.error));
            }
            print_kept(&report.kept, report.without_path);
            if report.removed.is_empty() && report.failed.is_empty() {
                out!("gc: nothing to remove ({} kept)", report.kept.len());
            } else {
                let mut summary = format!(
                    "gc: {} removed, {} kept",
                    report.removed.len(),
                    report.kept.len()
                );
                if !report.failed.is_empty() {
                    summary.push_str(&format!(
                        ", {} failed (run `pocket-dock gc` again, or see `pocket-dock doctor`)",
                        report.failed.len()
                    ));
                }
                out!("{summary}");
            }
        }
        format => super::emit(
            &json!({
                "dry_run": false,
                "removed": report.removed,
                "failed": report.failed,
                "kept": report.kept,
                "without_path": report.without_path,
            }),
            format,
        ),
    }
}
