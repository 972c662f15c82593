use pocket_dock::ExitCode;
use pocket_dock_spec::{Kind, load};

use super::{GlobalArgs, Outcome, OutputFormat};

pub fn validate(global: &GlobalArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let loaded = load(&workspace.root);
    let objects = &loaded.declarations.objects;
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let value = serde_json::json!({
                "valid": loaded.is_valid(),
                "root": workspace.root,
                "files": loaded.declarations.files,
                "objects": objects.iter().map(|o| serde_json::json!({
                    "kind": o.kind.as_str(),
                    "name": o.name(),
                    "source": o.source,
                })).collect::<Vec<_>>(),
                "diagnostics": loaded.diagnostics,
            });
            out!("{value}");
        }
        OutputFormat::Text => {
            for diagnostic in &loaded.diagnostics {
                err!("{diagnostic}");
            }
            if loaded.is_valid() {
                let count = |kind| objects.iter().filter(|o| o.kind == kind).count();
                let summary: Vec<String> =
                    [Kind::Sandbox, Kind::Image, Kind::Snapshot, Kind::Volume]
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
    Ok(if loaded.is_valid() {
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
