//! Apply from Rust: open a workspace, validate it (every diagnostic, with file:line),
//! print the plan, converge while an observer prints each action (and each build step),
//! then read the status.
//!
//! ```sh
//! cargo run -p pocket-dock --example apply_and_status -- examples/workspaces/basic
//! ```

use std::path::Path;
use std::sync::Arc;

use pocket_dock::engine::Progress;
use pocket_dock::reconcile::{ActionOutcome, Observer};
use pocket_dock::{ApplyOptions, Engine, Error, Key, Workspace};

/// Prints every action as it finishes, and each build step as it starts.
struct Print;

impl Observer for Print {
    /// Builds, pulls and loads report what they do as they go (here: a build's steps;
    /// pulls and loads also report layers and bytes).
    fn progress(&self, key: &Key, progress: &Progress) {
        if let Progress::Step { text, .. } = progress {
            println!("  {key}: {text}");
        }
    }

    fn finished(&self, outcome: &ActionOutcome) {
        let a = &outcome.action;
        let result = match &outcome.result {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("failed: {e}"),
        };
        println!("{} {} ({}): {result}", a.op.verb(), a.key, a.reason);
    }
}

pub async fn run(engine: &Engine, root: &Path) -> Result<(), Error> {
    let workspace = Workspace::open(root)?;
    // Invalid documents: every problem at once, and nothing is touched.
    if let Err(Error::Invalid { diagnostics }) = workspace.load() {
        for d in &diagnostics {
            eprintln!("{d}");
        }
        return Err(Error::Invalid { diagnostics });
    }
    let plan = workspace.plan(engine).await?;
    for action in &plan.actions {
        println!(
            "would {} {} ({})",
            action.op.verb(),
            action.key,
            action.reason
        );
    }
    let report = workspace
        .apply_observed(engine, ApplyOptions::default(), Arc::new(Print))
        .await?;
    println!(
        "converged: {}, {} engine calls",
        report.converged(),
        report.calls.reads + report.calls.writes
    );
    for status in &report.statuses {
        println!("{}/{}: {:?}", status.kind, status.name, status.phase);
    }
    Ok(())
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let root = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    run(&Engine::from_env()?, Path::new(&root)).await
}
