//! Working inside a sandbox from Rust: one `exec` whose output goes to three sinks at once
//! (captured in memory, streamed through a channel, logged), with its exit code.
//!
//! ```sh
//! cd examples/workspaces/basic && pocket-dock apply
//! cargo run -p pocket-dock --example exec_with_sinks -- examples/workspaces/basic shell
//! ```

use std::path::Path;

use pocket_dock::engine::{ExecOutput, OutputChunk};
use pocket_dock::sandbox::{ExecRequest, Sandbox};
use pocket_dock::{Engine, Error, Workspace};

pub async fn run(engine: &Engine, root: &Path, sandbox: &str) -> Result<Option<i64>, Error> {
    let workspace = Workspace::open(root)?;
    let sandbox = Sandbox::find(engine, &workspace.ownership(), sandbox).await?;

    // One exec, three sinks: a bounded capture, a channel read as chunks arrive, the log.
    let (tx, mut chunks) = tokio::sync::mpsc::channel::<OutputChunk>(16);
    let printer = tokio::spawn(async move {
        while let Some(chunk) = chunks.recv().await {
            println!("chunk on {:?}: {} bytes", chunk.stream, chunk.data.len());
        }
    });
    let request = ExecRequest {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "echo hello; echo oops >&2; exit 3".into(),
        ],
        ..ExecRequest::default()
    };
    let output = ExecOutput::new().capture_up_to(1 << 20).channel(tx).log();
    let report = sandbox
        .exec(&request, output, std::future::pending(), None)
        .await?;
    printer
        .await
        .map_err(|e| Error::task("the chunk printer", e))?;
    println!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        report.exit_code(),
        String::from_utf8_lossy(&report.stdout.bytes),
        String::from_utf8_lossy(&report.stderr.bytes)
    );
    Ok(report.exit_code())
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let name = args.next().unwrap_or_else(|| "shell".into());
    run(&Engine::from_env()?, Path::new(&root), &name).await?;
    Ok(())
}
