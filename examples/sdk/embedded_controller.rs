//! A controller inside your own program: it keeps the workspace converged (file edits and
//! engine events in, convergence out) until the future you pass resolves. Here it runs
//! until a sandbox named on the command line is running, then stops cleanly.
//!
//! ```sh
//! cargo run -p pocket-dock --example embedded_controller -- examples/workspaces/basic web
//! ```

use std::path::Path;
use std::time::Duration;

use pocket_dock::controller::{self, ControllerOptions, ControllerSummary};
use pocket_dock::sandbox::Sandbox;
use pocket_dock::{Engine, Error, Workspace};

/// Runs a controller until `sandbox` runs (or `limit` passes); returns its summary.
pub async fn run(
    engine: &Engine,
    root: &Path,
    sandbox: &str,
    limit: Duration,
) -> Result<ControllerSummary, Error> {
    let workspace = Workspace::open(root)?;
    let options = ControllerOptions {
        resync: Duration::from_secs(60),
        ..ControllerOptions::default()
    };
    // The shutdown future: here, "the sandbox runs"; in a service, a signal or a channel.
    let ownership = workspace.ownership();
    let until_running = async {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if Sandbox::find(engine, &ownership, sandbox).await.is_ok() {
                println!("Sandbox/{sandbox} is running");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let summary = controller::run(engine, &workspace, options, until_running).await?;
    println!("controller stopped: {summary:?}");
    Ok(summary)
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let name = args.next().unwrap_or_else(|| "web".into());
    run(
        &Engine::from_env()?,
        Path::new(&root),
        &name,
        Duration::from_secs(60),
    )
    .await?;
    Ok(())
}
