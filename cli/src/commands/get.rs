use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::sdk::parse_target;

use super::declared::{Stream, print_problems};
use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to show: a kind (`sandbox`), or one object (`sandbox/web`); default: everything
    #[arg(value_name = "KIND[/NAME]")]
    target: Option<String>,
}

/// `wide` (`-o wide`): PROFILE (a sandbox's effective security profile), TEMPLATE (the
/// template it names) and PORTS (every published port as Podman bound it) columns too.
pub async fn get(global: &GlobalArgs, args: GetArgs, wide: bool) -> Outcome {
    let filter = args.target.as_deref().map(parse_target).transpose()?;
    // Always the table: of an invalid file, its last valid version, which is in effect.
    let workspace = global.declared_workspace()?;
    let engine = global.engine()?;
    let view = workspace.status(&engine, filter).await?;
    if let Some(e) = &view.store_warning {
        let hint = e.hint().map(|h| format!("; {h}")).unwrap_or_default();
        super::warn(
            global.output,
            &format!("{e}; the last valid versions of broken files are not used{hint}"),
        );
    }
    let rows = view.rows;
    match global.output {
        OutputFormat::Text => {
            let ports = if wide {
                " PROFILE  TEMPLATE         PORTS"
            } else {
                ""
            };
            let header = format!(
                "{:<10} {:<24} {:<9} {:<9} {:<16} {:<7} {:<8} {:<5}{ports}",
                "KIND", "NAME", "DESIRED", "ACTUAL", "PHASE", "READY", "RESTARTS", "AGE"
            );
            out!("{}", header.trim_end());
            for r in &rows {
                let ports = match (wide, r.ports.is_empty()) {
                    (false, _) => String::new(),
                    (true, true) => " -".to_string(),
                    (true, false) => format!(" {}", r.ports.join(",")),
                };
                let ports = if wide {
                    format!(
                        " {:<8} {:<16}{ports}",
                        r.profile.as_deref().unwrap_or("-"),
                        r.template.as_deref().unwrap_or("-")
                    )
                } else {
                    ports
                };
                let line = format!(
                    "{:<10} {:<24} {:<9} {:<9} {:<16} {:<7} {:<8} {:<5}{ports}",
                    r.kind.as_str(),
                    r.name,
                    r.desired,
                    r.actual,
                    r.phase,
                    r.ready,
                    r.restarts
                        .map_or_else(|| "-".to_string(), |n| n.to_string()),
                    r.age
                );
                out!("{}", line.trim_end());
            }
        }
        format => emit(&serde_json::to_value(&rows).unwrap_or_default(), format),
    }
    if view.problems.is_empty() {
        return Ok(ExitCode::Success.code());
    }
    // After the table, on stderr: stdout keeps only the table's rows.
    print_problems(
        &view.problems,
        global.output,
        "objects of invalid files are shown in their last valid version, which stays in effect, and nothing is pruned until every file is valid",
        Stream::Stderr,
        &global.command,
    );
    Ok(ExitCode::InvalidInput.code())
}
