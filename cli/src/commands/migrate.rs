//! `pocket-dock migrate [--check] [FILE...]`: prints what `Workspace::migrate` did.

use std::path::PathBuf;

use pocket_dock::{Error, ExitCode, MigrateRequest};

use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Write nothing: list the files that would change, and exit 1 if there are any
    #[arg(long)]
    pub check: bool,
    /// Only these documents (default: every .yaml/.yml file under .pocket-dock/); the whole
    /// workspace is validated either way
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn migrate(global: &GlobalArgs, args: MigrateArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    // `-C DIR` is where relative paths start, as for every other command.
    let cwd = std::env::current_dir().map_err(|e| Error::file("read", "the current folder", e))?;
    let base = global.dir.as_ref().map_or(cwd.clone(), |dir| cwd.join(dir));
    let request = MigrateRequest {
        check: args.check,
        files: args.files.iter().map(|f| base.join(f)).collect(),
    };
    let report = workspace.migrate(&request)?;
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            emit(&serde_json::json!(report), global.output);
        }
        OutputFormat::Text | OutputFormat::Wide => {
            for file in report.files.iter().filter(|f| !f.changes.is_empty()) {
                let lines: Vec<String> = file.changes.iter().map(|c| c.line.to_string()).collect();
                let from: std::collections::BTreeSet<&str> =
                    file.changes.iter().map(|c| c.from.as_str()).collect();
                out!(
                    "{} {}: apiVersion {} -> {} (line{} {})",
                    if report.check {
                        "would rewrite"
                    } else {
                        "rewrote"
                    },
                    file.file.display(),
                    from.into_iter().collect::<Vec<_>>().join(", "),
                    report.api_version,
                    if lines.len() == 1 { "" } else { "s" },
                    lines.join(", ")
                );
            }
            let files = |n: usize| format!("{n} file{}", if n == 1 { "" } else { "s" });
            if report.files.is_empty() {
                out!("no documents to migrate; nothing to do");
            } else if report.changed == 0 {
                out!(
                    "{} already {}; nothing to do",
                    if report.files.len() == 1 {
                        "the file is".to_string()
                    } else {
                        format!("all {} are", files(report.files.len()))
                    },
                    report.api_version
                );
            } else if report.check {
                err!(
                    "{} to migrate to {}: run `pocket-dock migrate`",
                    files(report.changed),
                    report.api_version
                );
            } else {
                out!(
                    "migrated {} to {}",
                    files(report.changed),
                    report.api_version
                );
            }
        }
    }
    Ok(if report.pending() {
        ExitCode::ChangesPending
    } else {
        ExitCode::Success
    }
    .code())
}
