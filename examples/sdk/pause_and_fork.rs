//! Pause, resume and fork from Rust: freeze a running sandbox (its memory kept), thaw it,
//! then fork it into a new sandbox that starts with its files (the source keeps running).
//!
//! ```sh
//! cargo run -p pocket-dock --example pause_and_fork -- . box box-copy
//! ```

use std::path::Path;
use std::sync::Arc;

use pocket_dock::reconcile::NoObserver;
use pocket_dock::sdk::SharedMounts;
use pocket_dock::{ApplyOptions, Engine, Error, ForkRequest, Workspace};

pub async fn run(engine: &Engine, root: &Path, sandbox: &str, copy: &str) -> Result<(), Error> {
    let workspace = Workspace::open(root)?;
    // A declared sandbox's pause is recorded, so apply and the controller keep it paused.
    let paused = workspace.pause(engine, sandbox).await?;
    println!(
        "Sandbox/{} {} (by {})",
        paused.sandbox,
        paused.state,
        paused.by.unwrap_or_default()
    );
    let resumed = workspace.resume(engine, sandbox).await?;
    println!("Sandbox/{} {}", resumed.sandbox, resumed.state);
    // Commit without pausing, declare the copy in .pocket-dock/forks/, apply it alone.
    let fork = workspace
        .fork(
            engine,
            &ForkRequest {
                sandbox: sandbox.to_string(),
                name: copy.to_string(),
                mounts: SharedMounts::Refuse,
            },
            ApplyOptions::default(),
            Arc::new(NoObserver),
        )
        .await?;
    println!(
        "wrote {}; Sandbox/{copy} converged: {}",
        fork.file.path.display(),
        fork.apply.converged()
    );
    for dropped in &fork.file.dropped {
        println!("left out {}: {}", dropped.field, dropped.why);
    }
    Ok(())
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let sandbox = args.next().unwrap_or_else(|| "box".into());
    let copy = args.next().unwrap_or_else(|| format!("{sandbox}-copy"));
    run(&Engine::from_env()?, Path::new(&root), &sandbox, &copy).await
}
