use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::controller::{self, ControllerOptions};
use pocket_dock::engine::Engine;
use pocket_dock_spec::parse_duration;

use super::run::shutdown_signal;
use super::select::SelectArgs;
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Full resync interval, whatever else happens
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    resync: std::time::Duration,
    #[command(flatten)]
    image_timeouts: super::apply::ImageTimeoutArgs,
    #[command(flatten)]
    select: SelectArgs,
}

/// Runs the controller until SIGINT/SIGTERM; logs one line per reconcile (JSON with
/// `--output json`). Exit 0 on a clean stop.
pub async fn controller(global: &GlobalArgs, args: ControllerArgs) -> Outcome {
    let selection = args.select.selection()?;
    let workspace = global.declared_workspace()?;
    if let Some(selection) = &selection {
        // A selection that matches nothing is refused at once (exit 2), not retried.
        selection.resolve(workspace.load()?.declarations())?;
    }
    let engine = Engine::new(&global.engine_config()?)?;
    engine.ping().await?;
    let options = ControllerOptions {
        resync: args.resync,
        build_timeout: args.image_timeouts.build_timeout,
        pull_timeout: args.image_timeouts.pull_timeout,
        ..ControllerOptions::default()
    };
    let summary =
        controller::run_selected(&engine, &workspace, options, selection, shutdown_signal())
            .await?;
    if global.output != OutputFormat::Text {
        out!(
            "{}",
            serde_json::json!({ "event": "stopped", "summary": summary })
        );
    }
    Ok(ExitCode::Success.code())
}
