//! `pocket-dock logs SANDBOX [-f] [--since DUR] [--tail N] [--timestamps]`.

use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::engine::Engine;
use pocket_dock::sandbox::{LogsOptions, logs as follow_logs};
use pocket_dock_spec::parse_duration;

use super::run::shutdown_signal;
use super::{GlobalArgs, Outcome, OutputFormat, write_chunk, write_json_chunk};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep following (until the sandbox stops for good, or Ctrl-C); survives restarts
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only output newer than this, e.g. 10m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    since: Option<std::time::Duration>,
    /// Only the last N lines
    #[arg(long, value_name = "N")]
    tail: Option<u64>,
    /// Prefix every line with its timestamp
    #[arg(long, short = 't')]
    timestamps: bool,
    /// The sandbox (a declared Sandbox)
    sandbox: String,
}

pub async fn logs(global: &GlobalArgs, args: LogsArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = Engine::new(&global.engine_config()?)?;
    let options = LogsOptions {
        follow: args.follow,
        since: args.since,
        tail: args.tail,
        timestamps: args.timestamps,
        ..LogsOptions::default()
    };
    follow_logs(
        &engine,
        &workspace.ownership(),
        &args.sandbox,
        &options,
        // json: each chunk a JSON line, as `exec` prints them.
        if global.output == OutputFormat::Text {
            write_chunk
        } else {
            write_json_chunk
        },
        shutdown_signal(),
    )
    .await?;
    Ok(ExitCode::Success.code())
}
