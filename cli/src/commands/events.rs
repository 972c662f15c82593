use std::time::Duration;

use clap::Args;
use pocket_dock::store::{EventQuery, EventRecord, Source};
use pocket_dock::{Error, ExitCode};

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
    /// Only events of these sources (apply, controller, delete, snapshot, gc, run, exec,
    /// session, audit, egress, reset, pause, fork); repeat or separate with commas
    #[arg(long, value_delimiter = ',', value_name = "SOURCE")]
    source: Vec<Source>,
    /// Only events about this object: `sandbox/web`, or a name alone
    #[arg(long, value_name = "KIND/NAME")]
    object: Option<String>,
}

/// Shows the event log: every action of apply, the controller, delete, snapshot, gc, run,
/// exec and sessions, and every request through the egress proxy (kept in the state store across restarts).
pub async fn events(global: &GlobalArgs, args: EventsArgs) -> Outcome {
    // The events are in `.pocket-dock/`: without one there is nothing to show (and nothing
    // is created to show it).
    let workspace = global.declared_workspace()?;
    let (kind, name) = match args.object.as_deref() {
        None => (None, None),
        Some(o) => match o.split_once('/') {
            Some((k, n)) if !k.is_empty() && !n.is_empty() => {
                (Some(k.to_string()), Some(n.to_string()))
            }
            Some(_) => {
                return Err(Error::argument(
                    "--object",
                    format!("--object {o:?}: name it as KIND/NAME or NAME"),
                ));
            }
            None => (None, Some(o.to_string())),
        },
    };
    // The events are the store: without it there is nothing to show.
    let (store, warning) = workspace.state_store()?;
    if let Some(w) = warning {
        super::warn(global.output, &w.to_string());
    }
    let mut query = EventQuery {
        sources: args.source,
        kind,
        name,
        limit: args.last,
        newest: true,
        ..EventQuery::default()
    };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let batch = store.events(&query)?;
        for e in &batch {
            query.after = e.id;
            match global.output {
                OutputFormat::Text => out!("{}", text_line(e)),
                _ => out!("{}", json_line(e)),
            }
        }
        if !args.follow {
            return Ok(ExitCode::Success.code());
        }
        // After the past ones, every new event, in order.
        if query.newest {
            query.newest = false;
            query.limit = 1000;
            if batch.is_empty() {
                query.after = store.last_event_id()?;
            }
        }
        // The follower reads the store the writers write; it polls, they do not.
        tokio::select! {
            () = &mut shutdown => return Ok(ExitCode::Success.code()),
            () = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

/// time, source, object, action, outcome, duration, then the reason (and the error).
fn text_line(e: &EventRecord) -> String {
    let duration = e
        .duration_ms
        .map_or_else(|| "-".to_string(), |ms| format!("{ms}ms"));
    let mut why = e.reason.clone();
    if let Some(error) = &e.error {
        if !why.is_empty() {
            why.push_str(": ");
        }
        why.push_str(error);
    }
    format!(
        "{}  {:<10} {:<24} {:<10} {:<8} {:>8}  {}",
        e.time,
        e.source,
        e.object(),
        e.action,
        e.outcome,
        duration,
        why
    )
}

/// The record, plus `object` (`Kind/name`) and `message` (the error, else the reason: the
/// field the controller's events had).
fn json_line(e: &EventRecord) -> String {
    let mut value = serde_json::to_value(e).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("object".to_string(), e.object().into());
        map.insert(
            "message".to_string(),
            e.error.clone().unwrap_or_else(|| e.reason.clone()).into(),
        );
    }
    value.to_string()
}
