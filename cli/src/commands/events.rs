use std::time::Duration;

use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::store::StateStore;
use pocket_dock::workspace::DIR_NAME;

use super::run::shutdown_signal;
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep following new events until Ctrl-C
    #[arg(short, long)]
    follow: bool,
    /// How many past events to show
    #[arg(long, default_value_t = 50)]
    last: usize,
}

/// Shows the controller's recorded events (kept in the state store across restarts).
pub async fn events(global: &GlobalArgs, args: EventsArgs) -> Outcome {
    let workspace = global.workspace()?;
    // The events are the store: without it there is nothing to show.
    let (store, warning) = StateStore::open(&workspace.root.join(DIR_NAME))?;
    if let Some(w) = warning {
        err!("warning: {w}");
    }
    let last = store.last_event_id()?;
    let mut cursor = (last - args.last as i64).max(0);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let batch = store.events_after(cursor, 1000)?;
        for e in &batch {
            cursor = e.id;
            match global.output {
                OutputFormat::Text => out!(
                    "{}  {:<24} {:<14} {}",
                    e.time,
                    format!("{}/{}", e.kind, e.name),
                    e.reason,
                    e.message
                ),
                _ => out!("{}", serde_json::to_string(e).unwrap_or_default()),
            }
        }
        if !args.follow {
            return Ok(ExitCode::Success.code());
        }
        // The follower reads the store the controller writes; it polls, the controller does not.
        tokio::select! {
            () = &mut shutdown => return Ok(ExitCode::Success.code()),
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}
