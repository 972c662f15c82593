//! A sandbox's output from Rust: the last lines, with timestamps, into any sink.
//!
//! ```sh
//! cd examples/workspaces/basic && pocket-dock apply
//! cargo run -p pocket-dock --example logs -- examples/workspaces/basic web
//! ```

use std::path::Path;

use pocket_dock::sandbox::{LogsOptions, logs};
use pocket_dock::{Engine, Error, Workspace};

/// Returns what the sandbox wrote (its last 100 lines).
pub async fn run(engine: &Engine, root: &Path, sandbox: &str) -> Result<String, Error> {
    let workspace = Workspace::open(root)?;
    let options = LogsOptions {
        tail: Some(100),
        ..LogsOptions::default()
    };
    let mut text = String::new();
    logs(
        engine,
        &workspace.ownership(),
        sandbox,
        &options,
        |stream, data| {
            print!("{stream:?}: {}", String::from_utf8_lossy(data));
            text.push_str(&String::from_utf8_lossy(data));
            Ok(())
        },
        std::future::pending(),
    )
    .await?;
    Ok(text)
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let name = args.next().unwrap_or_else(|| "web".into());
    run(&Engine::from_env()?, Path::new(&root), &name).await?;
    Ok(())
}
