//! Working inside a sandbox from Rust: an `exec` whose output goes to three sinks at once
//! (captured in memory, streamed through a channel, logged), then a shell session that runs
//! commands one after another and knows each exit code.
//!
//! ```sh
//! cd examples/workspaces/basic && pocket-dock apply
//! cargo run -p pocket-dock --example exec_and_session -- examples/workspaces/basic shell
//! ```

use std::path::Path;

use pocket_dock::engine::{
    Engine, EngineConfig, EnvSnapshot, ExecOutput, OutputChunk, Timeouts, socket,
};
use pocket_dock::sandbox::{ExecRequest, Sandbox};
use pocket_dock::workspace::Workspace;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let name = args.next().unwrap_or_else(|| "shell".into());

    // The same socket discovery as the CLI: CONTAINER_HOST, DOCKER_HOST, rootless, rootful.
    let choice = socket::discover(None, &EnvSnapshot::from_process(), |p| p.exists())?;
    let engine = Engine::new(&EngineConfig {
        socket: choice.path,
        timeouts: Timeouts::default(),
    })?;
    let workspace = Workspace::locate(Some(Path::new(&root)), Path::new(&root))?;
    let sandbox = Sandbox::find(&engine, &workspace.ownership(), &name).await?;

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
    printer.await?;
    println!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        report.exit_code(),
        String::from_utf8_lossy(&report.stdout.bytes),
        String::from_utf8_lossy(&report.stderr.bytes)
    );

    // A session: state (the working folder) carries over; each command has its own code.
    let mut session = sandbox.open_session(None, None).await?;
    for command in ["cd /tmp", "pwd", "ls /nonexistent", "echo done"] {
        let done = session
            .run(command, None, |_, data| {
                print!("{}", String::from_utf8_lossy(data))
            })
            .await?;
        println!("[{command}] exit {:?}", done.exit_code);
    }
    session.close(None).await?;
    Ok(())
}
