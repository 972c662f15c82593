use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::controller::{self, ControllerOptions};
use pocket_dock::engine::Engine;
use pocket_dock_spec::parse_duration;

use super::run::shutdown_signal;
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Full resync interval, whatever else happens
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    resync: std::time::Duration,
}

/// Runs the controller until SIGINT/SIGTERM; logs one line per reconcile (JSON with
/// `--output json`). Exit 0 on a clean stop.
pub async fn controller(global: &GlobalArgs, args: ControllerArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = Engine::new(&global.engine_config()?)?;
    engine.ping().await?;
    let options = ControllerOptions {
        resync: args.resync,
        ..ControllerOptions::default()
    };
    let summary = controller::run(&engine, &workspace, options, shutdown_signal()).await?;
    if global.output != OutputFormat::Text {
        out!(
            "{}",
            serde_json::json!({ "event": "stopped", "summary": summary })
        );
    }
    Ok(ExitCode::Success.code())
}
