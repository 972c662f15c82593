use clap::Args;
use pocket_dock::Key;
use pocket_dock::wait::{WaitError, WaitFor, wait as wait_for};
use pocket_dock::{Error, ExitCode};

use super::{GlobalArgs, Outcome, OutputFormat, emit};
use pocket_dock::sdk::parse_target;

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// What to wait for: `condition=Ready` (Ready=True for the current spec's generation)
    /// or `delete` (the runtime object is gone)
    #[arg(long = "for", value_name = "condition=Ready|delete")]
    wait_for: String,
    /// The objects: `sandbox/web volume/data` (all must meet it)
    #[arg(value_name = "KIND/NAME", required = true)]
    targets: Vec<String>,
    /// Give up (exit 5) after this long, e.g. 60s, 5m (kubectl's default, `wait::DEFAULT_TIMEOUT`)
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration, default_value = "30s")]
    timeout: std::time::Duration,
}

pub async fn wait(global: &GlobalArgs, args: WaitArgs) -> Outcome {
    let condition: WaitFor = args
        .wait_for
        .parse()
        .map_err(|e: WaitError| Error::argument("--for", e.to_string()))?;
    let mut targets = Vec::new();
    for t in &args.targets {
        match parse_target(t)? {
            (kind, Some(name)) if !name.is_empty() => targets.push(Key::new(kind, name)),
            (kind, _) => {
                return Err(Error::argument(
                    "KIND/NAME",
                    format!("name the object: `{}/NAME`", kind.as_str().to_lowercase()),
                ));
            }
        }
    }
    let workspace = global.declared_workspace()?;
    let engine = global.engine()?;
    let report = match wait_for(&engine, &workspace, &targets, condition, args.timeout).await {
        Ok(report) => report,
        Err(WaitError::Observe(e)) => return Err(e.into()),
        Err(e @ WaitError::BadFor { .. }) => return Err(Error::argument("--for", e.to_string())),
    };
    match global.output {
        OutputFormat::Text => {
            for t in &report.targets {
                let object = format!("{}/{}", t.kind.as_str().to_lowercase(), t.name);
                match (&t.reason, condition) {
                    (None, WaitFor::Ready) => out!("{object} condition met"),
                    (None, WaitFor::Delete) => out!("{object} deleted"),
                    (Some(why), _) => {
                        err!("timed out waiting for {condition} on {object}: {why}")
                    }
                }
            }
        }
        format => emit(&serde_json::to_value(&report).unwrap_or_default(), format),
    }
    Ok(if report.met {
        ExitCode::Success.code()
    } else {
        ExitCode::TimedOut.code()
    })
}
