//! `pocket-dock exec SANDBOX -- CMD...` and `pocket-dock history [SANDBOX]`.

use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::engine::{Engine, ExecOutput};
use pocket_dock::sandbox::{ExecEnd, ExecRequest, Sandbox};

use super::run::shutdown_signal;
use super::{
    CommandOptions, GlobalArgs, Outcome, OutputFormat, emit, note, warn, write_chunk,
    write_json_chunk,
};

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    options: CommandOptions,
    /// Run as this user (name or uid[:gid])
    #[arg(long, short = 'u')]
    user: Option<String>,
    /// The sandbox (a declared Sandbox, running)
    sandbox: String,
    /// Command and arguments (after --); never passed through a shell
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

pub async fn exec(global: &GlobalArgs, args: ExecArgs) -> Outcome {
    args.options.check()?;
    let workspace = global.declared_workspace()?;
    let engine = Engine::new(&global.engine_config()?)?;
    let sandbox = Sandbox::find(&engine, &workspace.ownership(), &args.sandbox).await?;
    // The command matters more than its record: without the store it runs, unrecorded.
    let store = match workspace.state_store() {
        Ok((store, warning)) => {
            if let Some(w) = warning {
                warn(global.output, &w.to_string());
            }
            Some(store)
        }
        Err(e) => {
            let hint = e.hint().map(|h| format!("; {h}")).unwrap_or_default();
            warn(
                global.output,
                &format!("{e}; this command is not recorded in the history{hint}"),
            );
            None
        }
    };
    let json = global.output != OutputFormat::Text;
    let output = ExecOutput::new().on_chunk(if json { write_json_chunk } else { write_chunk });
    let output = if global.verbose >= 2 {
        output.log()
    } else {
        output
    };
    let request = ExecRequest {
        cmd: args.cmd,
        env: args.options.env,
        workdir: args.options.workdir,
        user: args.user,
        timeout: args.options.timeout,
    };
    let report = sandbox
        .exec(&request, output, shutdown_signal(), store.as_ref())
        .await?;
    if json {
        emit(
            &serde_json::json!({
                "event": "exit",
                "end": report.end,
                "exit_code": report.exit_code(),
                "stdout_bytes": report.stdout.total,
                "stderr_bytes": report.stderr.total,
                "duration_ms": report.duration.as_millis() as u64,
                "killed": report.killed,
            }),
            OutputFormat::Json,
        );
    }
    Ok(match report.end {
        // A process exit code is 0..=255; Podman reports the same range for exec exits.
        ExecEnd::Exited(code) => {
            u8::try_from(code.rem_euclid(256)).unwrap_or(ExitCode::Failed.code())
        }
        ExecEnd::TimedOut(_) => ExitCode::TimedOut.code(),
        ExecEnd::Interrupted => {
            note(
                global.output,
                &format!(
                    "interrupted: {} stopped in Sandbox/{}",
                    pocket_dock::text::count_as(report.killed, "process", "processes"),
                    sandbox.name()
                ),
            );
            ExitCode::Interrupted.code()
        }
    })
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this sandbox's commands
    sandbox: Option<String>,
    /// How many of the latest commands
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: usize,
}

/// The event log's `exec` rows, in the columns and JSON fields `history` always had.
pub fn history(global: &GlobalArgs, args: HistoryArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    // The history is the store: without it there is nothing to show.
    let (store, warning) = workspace.state_store()?;
    if let Some(w) = warning {
        warn(global.output, &w.to_string());
    }
    let entries = store.history(args.sandbox.as_deref(), args.limit)?;
    match global.output {
        OutputFormat::Text => {
            out!(
                "{:<20} {:<16} {:>5} {:>9} {:>10} {:>10}  COMMAND",
                "STARTED",
                "SANDBOX",
                "EXIT",
                "TIME",
                "STDOUT",
                "STDERR"
            );
            for e in &entries {
                let exit = e
                    .exit_code
                    .map_or_else(|| "killed".to_string(), |c| c.to_string());
                out!(
                    "{:<20} {:<16} {:>5} {:>8}ms {:>10} {:>10}  {}",
                    e.started_at,
                    e.sandbox,
                    exit,
                    e.duration_ms,
                    e.stdout_bytes,
                    e.stderr_bytes,
                    shell_words(&e.command)
                );
            }
        }
        format => emit(&serde_json::to_value(&entries).unwrap_or_default(), format),
    }
    Ok(ExitCode::Success.code())
}

/// argv shown as a person would type it (display only; never executed).
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
