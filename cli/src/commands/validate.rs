use pocket_dock::ExitCode;
use pocket_dock_spec::Kind;

use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Also ask the engine what it can do, and report every declaration that needs a
    /// capability it lacks (exit 2), at the file and line that declares it
    #[arg(long)]
    pub engine: bool,
}

pub async fn validate(global: &GlobalArgs, args: ValidateArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    // The engine is asked only about valid declarations: an invalid file is the first fix,
    // and needs no engine to report.
    let engine = match args.engine.then(|| global.engine()) {
        Some(Ok(engine)) => Some(engine),
        Some(Err(e)) if workspace.load().is_ok() => return Err(e),
        _ => None,
    };
    let validation = workspace.validate(engine.as_ref()).await?;
    let (loaded, checked) = (&validation.loaded, &validation.engine);
    let objects = &loaded.declarations.objects;
    let unmet = validation.unmet();
    let valid = validation.valid();
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let mut value = serde_json::json!({
                "valid": valid,
                "root": workspace.root,
                "files": loaded.declarations.files,
                "objects": objects.iter().map(|o| serde_json::json!({
                    "kind": o.kind.as_str(),
                    "name": o.name(),
                    "source": o.source,
                })).collect::<Vec<_>>(),
                "diagnostics": loaded.diagnostics,
            });
            if let Some((profile, unmet)) = &checked {
                value["engine"] = serde_json::json!(**profile);
                value["unsupported"] = serde_json::json!(unmet);
            }
            out!("{value}");
        }
        OutputFormat::Text | OutputFormat::Wide => {
            for diagnostic in &loaded.diagnostics {
                err!("{diagnostic}");
            }
            for u in unmet {
                err!("{u}");
            }
            if let Some((profile, _)) = &checked {
                for warning in &profile.warnings {
                    err!("warning: {warning}");
                }
            }
            if !unmet.is_empty() {
                err!(
                    "unsupported: {} declaration{} need{} what {} lacks (`pocket-dock doctor` shows its capabilities)",
                    unmet.len(),
                    if unmet.len() == 1 { "" } else { "s" },
                    if unmet.len() == 1 { "s" } else { "" },
                    checked
                        .as_ref()
                        .map_or_else(String::new, |(p, _)| p.describe()),
                );
            } else if loaded.is_valid() {
                let count = |kind| objects.iter().filter(|o| o.kind == kind).count();
                let summary: Vec<String> = [
                    Kind::Sandbox,
                    Kind::Image,
                    Kind::Snapshot,
                    Kind::Volume,
                    Kind::Network,
                    Kind::Template,
                ]
                .into_iter()
                .filter(|&k| count(k) > 0)
                .map(|k| plural(count(k), k))
                .collect();
                out!(
                    "valid: {} in {} file{}",
                    if summary.is_empty() {
                        "no objects".to_string()
                    } else {
                        summary.join(", ")
                    },
                    loaded.declarations.files.len(),
                    if loaded.declarations.files.len() == 1 {
                        ""
                    } else {
                        "s"
                    }
                );
            } else {
                let files: std::collections::BTreeSet<_> =
                    loaded.diagnostics.iter().map(|d| &d.file).collect();
                err!(
                    "invalid: {} problem{} in {} file{}",
                    loaded.diagnostics.len(),
                    if loaded.diagnostics.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    files.len(),
                    if files.len() == 1 { "" } else { "s" }
                );
            }
        }
    }
    Ok(if valid {
        ExitCode::Success
    } else {
        ExitCode::InvalidInput
    }
    .code())
}

fn plural(n: usize, kind: Kind) -> String {
    let word = kind.as_str().to_lowercase();
    match (n, kind) {
        (1, _) => format!("1 {word}"),
        (_, Kind::Sandbox) => format!("{n} sandboxes"),
        _ => format!("{n} {word}s"),
    }
}
