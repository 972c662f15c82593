//! A shell session from Rust: commands run one after another in one shell, so state (the
//! working folder) carries over, and each has its own exit code. Then the same session
//! served as JSON lines (what `pocket-dock session` does on stdin/stdout), here over an
//! in-memory pipe.
//!
//! ```sh
//! cd examples/workspaces/basic && pocket-dock apply
//! cargo run -p pocket-dock --example session -- examples/workspaces/basic shell
//! ```

use std::path::Path;

use pocket_dock::sandbox::Sandbox;
use pocket_dock::{Engine, Error, Workspace};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Returns the JSON-lines events the served session wrote.
pub async fn run(engine: &Engine, root: &Path, sandbox: &str) -> Result<Vec<String>, Error> {
    let workspace = Workspace::open(root)?;
    let sandbox = Sandbox::find(engine, &workspace.ownership(), sandbox).await?;

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

    // The protocol: requests in, events out, one JSON object per line.
    let session = sandbox.open_session(None, None).await?;
    let (mut requests, server_in) = tokio::io::duplex(4096);
    let (server_out, events) = tokio::io::duplex(4096);
    let client = async move {
        let stream = |e| Error::Stream {
            action: "write a request",
            source: e,
        };
        requests
            .write_all(b"{\"id\": \"1\", \"run\": \"echo hi; exit 7\"}\n{\"close\": true}\n")
            .await
            .map_err(stream)?;
        let mut lines = BufReader::new(events).lines();
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await.map_err(stream)? {
            println!("<- {line}");
            seen.push(line);
        }
        Ok::<_, Error>(seen)
    };
    let server = session.serve_json_lines(BufReader::new(server_in), server_out, None);
    let (served, seen) = tokio::join!(server, client);
    served?;
    seen
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
