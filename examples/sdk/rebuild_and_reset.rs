//! Forced rebuilds and `reset` from Rust: apply with every Image built again without the
//! layer cache (and a build timeout for those that set none), then make one sandbox again
//! from its declaration, keeping its named volumes.
//!
//! ```sh
//! cargo run -p pocket-dock --example rebuild_and_reset -- examples/workspaces/workshop attendee
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pocket_dock::reconcile::{NoObserver, Rebuild};
use pocket_dock::{ApplyOptions, Engine, Error, ResetRequest, Workspace};

pub async fn run(engine: &Engine, root: &Path, sandbox: &str) -> Result<(), Error> {
    let workspace = Workspace::open(root)?;
    let report = workspace
        .apply(
            engine,
            ApplyOptions {
                rebuild: Rebuild::All,
                no_cache: true,
                build_timeout: Some(Duration::from_secs(20 * 60)),
                ..ApplyOptions::default()
            },
        )
        .await?;
    for outcome in &report.outcomes {
        let a = &outcome.action;
        println!("{} {} ({})", a.op.verb(), a.key, a.reason);
    }
    // What a reset keeps; with `volumes: true` these would be removed (and this list is
    // what a person confirms: pass it as `confirmed`).
    let volumes = workspace.reset_volumes(sandbox, false)?;
    let reset = workspace
        .reset(
            engine,
            &ResetRequest {
                sandbox: sandbox.to_string(),
                ..ResetRequest::default()
            },
            Arc::new(NoObserver),
        )
        .await?;
    println!(
        "reset Sandbox/{sandbox}: removed {:?}, kept volumes {volumes:?}, converged: {}",
        reset.removed_containers,
        reset.apply.converged()
    );
    Ok(())
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let sandbox = args.next().unwrap_or_else(|| "box".into());
    run(&Engine::from_env()?, Path::new(&root), &sandbox).await
}
