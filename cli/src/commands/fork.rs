//! `pocket-dock fork SANDBOX NEW`: SANDBOX committed without stopping it, NEW declared from
//! that snapshot in `.pocket-dock/forks/NEW.yaml`, then NEW applied alone.

use clap::Args;
use pocket_dock::sdk::SharedMounts;
use pocket_dock::{ApplyOptions, ForkRequest};

use super::apply::summarize;
use super::declared::invalid_or_err;
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct ForkArgs {
    /// The declared sandbox to copy (running or paused; it keeps running, unchanged)
    sandbox: String,
    /// The new sandbox (its Snapshot has the same name)
    new: String,
    /// Mount the source's writable bind mounts and named volumes in the fork too (both
    /// then write the same data)
    #[arg(long, conflicts_with = "drop_mounts")]
    share_mounts: bool,
    /// Leave the source's writable bind mounts and named volumes out of the fork (their
    /// contents are not in the snapshot)
    #[arg(long)]
    drop_mounts: bool,
    /// Give up (exit 5) after this long, e.g. 2m (waiting for another writer included)
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    timeout: Option<std::time::Duration>,
}

pub async fn fork(global: &GlobalArgs, args: ForkArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let request = ForkRequest {
        sandbox: args.sandbox,
        name: args.new,
        mounts: if args.share_mounts {
            SharedMounts::Share
        } else if args.drop_mounts {
            SharedMounts::Drop
        } else {
            SharedMounts::Refuse
        },
    };
    let options = ApplyOptions {
        timeout: args.timeout,
        ..ApplyOptions::default()
    };
    let printer = super::progress::observer(global.output, global.screen.as_ref());
    let report = match workspace.fork(&engine, &request, options, printer).await {
        Ok(report) => report,
        Err(e) => return invalid_or_err(global, e, "nothing was changed"),
    };
    let file = &report.file;
    match global.output {
        OutputFormat::Text => {
            out!(
                "wrote {} (Snapshot/{} of Sandbox/{}, and Sandbox/{} from it)",
                file.path.display(),
                file.name,
                file.sandbox,
                file.name
            );
            for d in &file.dropped {
                err!("fork: left out {}: {}", d.field, d.why);
            }
        }
        format => super::emit(
            &serde_json::json!({
                "event": "fork",
                "sandbox": file.sandbox,
                "name": file.name,
                "file": file.path,
                "snapshot": file.name,
                "dropped": file.dropped,
            }),
            format,
        ),
    }
    Ok(summarize(&report.apply, global.output))
}
