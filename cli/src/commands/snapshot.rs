//! `pocket-dock snapshot SANDBOX NAME`: declarative first. It writes (or bumps the
//! generation of) `.pocket-dock/snapshots/NAME.yaml`, then applies that one object.

use clap::Args;
use pocket_dock::{ApplyOptions, SnapshotRequest};

use super::apply::summarize;
use super::declared::invalid_or_err;
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The running sandbox to commit
    sandbox: String,
    /// The Snapshot object to write (a new one, or the next generation of an existing one)
    name: String,
    /// What the snapshot is for
    #[arg(long)]
    description: Option<String>,
    /// Give up (exit 5) after this long, e.g. 2m (waiting for another writer included)
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    timeout: Option<std::time::Duration>,
}

pub async fn snapshot(global: &GlobalArgs, args: SnapshotArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let request_sandbox = args.sandbox.clone();
    let request = SnapshotRequest {
        sandbox: args.sandbox,
        name: args.name,
        description: args.description,
    };
    let options = ApplyOptions {
        timeout: args.timeout,
        ..ApplyOptions::default()
    };
    let printer = super::progress::observer(global.output, global.screen.as_ref());
    let report = match workspace
        .snapshot(&engine, &request, options, printer)
        .await
    {
        Ok(report) => report,
        Err(e) => return invalid_or_err(global, e, "nothing was changed"),
    };
    if global.output == OutputFormat::Text {
        out!(
            "wrote {} (Snapshot/{}, generation {})",
            report.file.path.display(),
            report.file.name,
            report.file.generation
        );
    } else {
        super::emit(
            &serde_json::json!({
                "event": "snapshot",
                "sandbox": request_sandbox,
                "name": report.file.name,
                "file": report.file.path,
                "generation": report.file.generation,
            }),
            global.output,
        );
    }
    Ok(summarize(&report.apply, global.output))
}
