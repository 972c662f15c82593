use clap::Args;
use pocket_dock::reconcile::Key;
use pocket_dock::{DeleteRequest, Error, ExitCode};

use super::apply::Printer;
use super::select::SelectArgs;
use super::{GlobalArgs, Outcome, OutputFormat};
use pocket_dock::sdk::parse_target;

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The object whose runtime objects to remove: `sandbox/web`, `volume/data`
    #[arg(
        value_name = "KIND/NAME",
        required_unless_present_any = ["all", "only", "selector"],
        conflicts_with_all = ["all", "only", "selector"]
    )]
    target: Option<String>,
    /// Remove every sandbox container of this workspace
    #[arg(long, conflicts_with_all = ["only", "selector"])]
    all: bool,
    #[command(flatten)]
    select: SelectArgs,
    /// With --all: also remove the workspace's named volumes and their data
    #[arg(long, requires = "all")]
    volumes: bool,
    /// Give up (exit 5) after this long waiting for another writer, e.g. 2m
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    timeout: Option<std::time::Duration>,
}

/// Removes owned runtime objects (containers, volumes); the YAML stays, so the next apply
/// creates them again.
pub async fn delete(global: &GlobalArgs, args: DeleteArgs) -> Outcome {
    let selection = args.select.selection()?;
    let request = match &args.target {
        Some(t) => match parse_target(t)? {
            (kind, Some(name)) => DeleteRequest::One(Key::new(kind, name)),
            (kind, None) => {
                return Err(Error::argument(
                    "KIND/NAME",
                    format!("name the object: `{}/NAME`", kind.as_str().to_lowercase()),
                ));
            }
        },
        None => match selection {
            Some(selection) => DeleteRequest::Selected(selection),
            None => DeleteRequest::All {
                volumes: args.volumes,
            },
        },
    };
    let workspace = global.workspace()?;
    let engine = global.engine()?;
    let deadline = args.timeout.map(|t| std::time::Instant::now() + t);
    let printer = Printer {
        format: global.output,
    };
    let report = workspace
        .delete(&engine, &request, deadline, &printer)
        .await?;
    if global.output != OutputFormat::Text {
        super::emit(
            &serde_json::json!({ "event": "deleted", "removed": report.removed, "kept": report.kept }),
            global.output,
        );
        return Ok(ExitCode::Success.code());
    }
    if report.removed.is_empty() && report.kept.is_empty() {
        out!("nothing to delete");
    }
    for r in &report.removed {
        let what = match r.key.kind {
            _ if r.data_deleted => format!("volume {}, data deleted", r.object),
            pocket_dock_spec::Kind::Network => format!("network {}", r.object),
            _ => format!("container {}", r.object),
        };
        let sessions = match r.sessions_ended {
            0 => String::new(),
            1 => "; its open session ended with it".to_string(),
            n => format!("; its {n} open sessions ended with it"),
        };
        out!("- {} ({what}) removed{sessions}", r.key);
    }
    for k in &report.kept {
        out!("  {} ({}) kept: {}", k.key, k.object, k.reason);
    }
    Ok(ExitCode::Success.code())
}
