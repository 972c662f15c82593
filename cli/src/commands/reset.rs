use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use pocket_dock::{Error, ExitCode, ResetRequest};

use super::apply::summarize;
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The sandbox to make again from its declaration: `web` or `sandbox/web`
    #[arg(value_name = "SANDBOX")]
    sandbox: String,
    /// Also remove the named volumes it mounts, with their data (made again empty); asks
    /// first unless --yes
    #[arg(long)]
    volumes: bool,
    /// Do not ask before removing volumes (needed when stdin is not a terminal)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Give up (exit 5) after this long, e.g. 2m
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    timeout: Option<std::time::Duration>,
}

/// `reset SANDBOX [--volumes] [--yes]`: the sandbox's container removed, then the sandbox
/// applied again; its named volumes kept unless --volumes (asked about on a terminal).
pub async fn reset(global: &GlobalArgs, args: ResetArgs) -> Outcome {
    let sandbox = match args.sandbox.split_once('/') {
        Some((kind, name)) if kind.eq_ignore_ascii_case("sandbox") => name.to_string(),
        Some(_) => {
            return Err(Error::argument(
                "SANDBOX",
                format!(
                    "reset takes a sandbox (`web` or `sandbox/web`), not {:?}",
                    args.sandbox
                ),
            ));
        }
        None => args.sandbox.clone(),
    };
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let mut confirmed = None;
    if args.volumes {
        let volumes = workspace.reset_volumes(&sandbox, true)?;
        if !volumes.is_empty() && !args.yes {
            let named: Vec<String> = volumes.iter().map(|v| format!("Volume/{v}")).collect();
            if !std::io::stdin().is_terminal() {
                return Err(Error::argument(
                    "--yes",
                    format!(
                        "reset --volumes deletes the data of {} and stdin is not a terminal to ask on; nothing was changed (add --yes to confirm)",
                        named.join(", ")
                    ),
                ));
            }
            if !ask(&format!(
                "remove volumes {} of Sandbox/{sandbox}, deleting their data? [y/N] ",
                volumes.join(", ")
            )) {
                err!("reset: nothing was changed");
                return Ok(ExitCode::Success.code());
            }
            confirmed = Some(volumes);
        }
    }
    let request = ResetRequest {
        sandbox: sandbox.clone(),
        volumes: args.volumes,
        confirmed,
        timeout: args.timeout,
    };
    let printer = super::progress::observer(global.output, global.screen.as_ref());
    let report = workspace.reset(&engine, &request, printer).await?;
    match global.output {
        OutputFormat::Text => {
            for c in &report.removed_containers {
                out!("- Sandbox/{sandbox:<20} (container {c}) removed");
            }
            for v in &report.removed_volumes {
                out!("- Volume/{v:<21} (data deleted) removed");
            }
            for v in &report.kept_volumes {
                out!("  Volume/{v:<21} kept, with its data (reset --volumes removes it)");
            }
        }
        format => super::emit(
            &serde_json::json!({
                "event": "reset",
                "sandbox": report.sandbox,
                "removed_containers": report.removed_containers,
                "removed_volumes": report.removed_volumes,
                "kept_volumes": report.kept_volumes,
            }),
            format,
        ),
    }
    Ok(summarize(&report.apply, global.output))
}

/// Asks on stderr, reads one line from stdin: yes only for `y` or `yes`.
fn ask(question: &str) -> bool {
    {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "{question}");
        let _ = stderr.flush();
    }
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}
