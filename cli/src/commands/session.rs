//! `pocket-dock session SANDBOX`: the session protocol as JSON lines on stdin/stdout, for
//! tools in any language (the protocol: `pocket_dock::sandbox::Session::serve_json_lines`).

use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::sandbox::Sandbox;

use super::{GlobalArgs, Outcome};

#[derive(Debug, Args)]
pub struct SessionArgs {
    /// The shell to start
    #[arg(long, default_value = "sh")]
    shell: String,
    /// The sandbox (a declared Sandbox, running)
    sandbox: String,
}

pub async fn session(global: &GlobalArgs, args: SessionArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine()?;
    let sandbox = Sandbox::find(&engine, &workspace.ownership(), &args.sandbox).await?;
    // A session is registered so that a client that dies cannot leave its processes
    // running in the sandbox (every reconcile sweeps them): no store, no session.
    let (store, warning) = workspace.state_store()?;
    if let Some(w) = warning {
        super::warn(global.output, &w.to_string());
    }
    let session = sandbox
        .open_session(Some(&args.shell), Some(&store))
        .await?;
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    session
        .serve_json_lines(stdin, tokio::io::stdout(), Some(&store))
        .await?;
    Ok(ExitCode::Success.code())
}
