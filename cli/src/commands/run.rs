use clap::Args;
use pocket_dock::engine::{Engine, ExecOutput, NetworkMode};
use pocket_dock::run::{self, RunRequest};
use pocket_dock::{Error, ExitCode};

use super::progress::OneLine;
use super::{
    CommandOptions, GlobalArgs, Outcome, OutputFormat, emit, write_chunk, write_json_chunk,
};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the container afterwards, whatever happens (the default)
    #[arg(long, conflicts_with = "keep")]
    rm: bool,
    /// Keep the container afterwards, and reuse an owned one with the same --name
    #[arg(long)]
    keep: bool,
    /// Container name (default: pd-run-<random>)
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    options: CommandOptions,
    /// Run without any network
    #[arg(long)]
    no_network: bool,
    /// Time a pull of a missing image may take [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    pull_timeout: Option<std::time::Duration>,
    /// Image to run
    image: String,
    /// Command and arguments (after --)
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: RunArgs) -> Outcome {
    args.options.check()?;
    if let Some(name) = &args.name
        && !is_valid_container_name(name)
    {
        return Err(Error::argument(
            "--name",
            format!(
                "--name {name:?} is not a valid container name: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"
            ),
        ));
    }
    let workspace = global.workspace()?;
    let engine = Engine::new(&global.engine_config()?)?;
    let mut request = RunRequest::new(args.image, args.cmd);
    request.name = args.name;
    request.keep = args.keep && !args.rm;
    request.env = args.options.env;
    request.workdir = args.options.workdir;
    request.timeout = args.options.timeout;
    if let Some(pull_timeout) = args.pull_timeout {
        request.pull_timeout = pull_timeout;
    }
    request.event_log = workspace
        .declared
        .then(|| workspace.root.join(pocket_dock::workspace::DIR_NAME));
    request.pull_auth = workspace_pull_auth(&workspace, &request.image)?;
    if args.no_network {
        request.network = NetworkMode::None;
    }

    // json: each chunk a JSON line, then one `exit` line (as `exec`); text: the bytes.
    let json = global.output != OutputFormat::Text;
    // On a terminal, a pull of a missing image shows a live line, gone before the command's
    // first output.
    let pulling = global
        .screen
        .as_ref()
        .map(|screen| std::sync::Arc::new(OneLine::new(screen, request.image.clone(), "pulling")));
    let clear_first = pulling.clone();
    let output = ExecOutput::new().on_chunk(move |stream, data| {
        if let Some(line) = &clear_first {
            line.clear();
        }
        if json {
            write_json_chunk(stream, data)
        } else {
            write_chunk(stream, data)
        }
    });
    let output = if global.verbose >= 2 {
        output.log()
    } else {
        output
    };

    let report = |p: pocket_dock::engine::Progress| {
        if let Some(line) = &pulling {
            line.report(&p);
        }
    };
    let outcome = run::run_with_progress(
        &engine,
        &workspace.ownership(),
        &request,
        output,
        shutdown_signal(),
        &report,
    )
    .await;
    if let Some(line) = &pulling {
        line.clear();
    }
    let outcome = outcome?;
    if json {
        emit(
            &serde_json::json!({
                "event": "exit",
                "exit_code": outcome.exec.exit_code,
                "container": outcome.container_name,
                "container_id": outcome.container_id,
                "removed": outcome.removed,
                "stdout_bytes": outcome.exec.stdout.total,
                "stderr_bytes": outcome.exec.stderr.total,
                "duration_ms": outcome.exec.duration.as_millis() as u64,
            }),
            OutputFormat::Json,
        );
    }
    // A process exit code is 0..=255; Podman reports the same range for exec exits.
    let code =
        u8::try_from(outcome.exec.exit_code.rem_euclid(256)).unwrap_or(ExitCode::Failed.code());
    Ok(code)
}

/// Podman's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn is_valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed at once, when this is called
/// (not when the future is first polled): a signal that comes while a command is still
/// setting up (the controller taking its lock) is then seen, not fatal. If the handlers
/// cannot be installed, it never resolves (the default signal behaviour then applies,
/// which is no worse than before).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = handlers else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}

/// The Workspace's `pullSecret` credentials for `image`, when the workspace declares one
/// (declarations that do not load give none: `run` does not need them).
fn workspace_pull_auth(
    workspace: &pocket_dock::workspace::Workspace,
    image: &str,
) -> Result<Option<pocket_dock::registry_auth::RegistryAuth>, Error> {
    if !workspace.declared {
        return Ok(None);
    }
    let Ok(valid) = workspace.load() else {
        return Ok(None);
    };
    let declarations = valid.declarations();
    let Some(secret) = &declarations.settings.pull_secret else {
        return Ok(None);
    };
    let owner = declarations
        .workspace_name
        .as_ref()
        .map_or_else(|| "Workspace".to_string(), |n| format!("Workspace/{n}"));
    Ok(pocket_dock::registry_auth::load(
        &workspace.root,
        &owner,
        secret,
        image,
    )?)
}

#[cfg(test)]
mod tests {
    use super::is_valid_container_name;

    #[test]
    fn container_names_follow_podman_rules() {
        for ok in ["a", "web-1", "x.y_z", "9lives"] {
            assert!(is_valid_container_name(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "ä"] {
            assert!(!is_valid_container_name(bad), "{bad}");
        }
    }
}
