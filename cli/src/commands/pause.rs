//! `pause NAME` and `resume NAME`: a sandbox's processes frozen or thawed, memory kept.
//! A declared sandbox's pause is an override the reconciler honors until `resume`; one
//! declared `state: paused` is resumed by editing its file.

use clap::Args;
use pocket_dock::{Error, ExitCode, PauseReport};

use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The sandbox: `web` or `sandbox/web` (declared, or claimed from a pool)
    #[arg(value_name = "SANDBOX")]
    sandbox: String,
}

/// `pause SANDBOX`: its processes frozen (cgroup freezer), its memory kept.
pub async fn pause(global: &GlobalArgs, args: PauseArgs) -> Outcome {
    let name = sandbox_name(&args.sandbox, "pause")?;
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let report = workspace.pause(&engine, &name).await?;
    print(&report, "pause", global.output);
    Ok(ExitCode::Success.code())
}

/// `resume SANDBOX`: a paused sandbox thawed.
pub async fn resume(global: &GlobalArgs, args: PauseArgs) -> Outcome {
    let name = sandbox_name(&args.sandbox, "resume")?;
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let report = workspace.resume(&engine, &name).await?;
    print(&report, "resume", global.output);
    Ok(ExitCode::Success.code())
}

fn sandbox_name(given: &str, command: &str) -> Result<String, Error> {
    match given.split_once('/') {
        Some((kind, name)) if kind.eq_ignore_ascii_case("sandbox") => Ok(name.to_string()),
        Some(_) => Err(Error::argument(
            "SANDBOX",
            format!("{command} takes a sandbox (`web` or `sandbox/web`), not {given:?}"),
        )),
        None => Ok(given.to_string()),
    }
}

fn print(report: &PauseReport, event: &str, format: OutputFormat) {
    match format {
        OutputFormat::Text => {
            let what = if report.state == "paused" {
                "paused"
            } else {
                "resumed"
            };
            let already = if report.unchanged {
                format!(" (it was {} already)", report.state)
            } else {
                String::new()
            };
            let held = if report.state == "paused" && report.declared {
                "; apply and the controller keep it paused until `pocket-dock resume`"
            } else {
                ""
            };
            out!("Sandbox/{} {what}{already}{held}", report.sandbox);
        }
        format => {
            let mut value = serde_json::to_value(report).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("event".into(), serde_json::Value::from(event));
            }
            super::emit(&value, format);
        }
    }
}
