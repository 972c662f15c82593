use clap::Args;
use pocket_dock::engine::Engine;
use pocket_dock::reconcile::desired::Desired;
use pocket_dock::reconcile::object_rows;
use pocket_dock::reconcile::observe::{ImageInputs, observe};
use pocket_dock::reconcile::status::StatusFiles;
use pocket_dock::workspace::DIR_NAME;
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::Kind;

use super::declared::{Stream, load_any, print_problems};
use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to show: a kind (`sandbox`), or one object (`sandbox/web`); default: everything
    #[arg(value_name = "KIND[/NAME]")]
    target: Option<String>,
}

/// Parses `sandbox`, `Sandbox/web`, `sandboxes` into a kind and an optional name.
pub fn parse_target(target: &str) -> Result<(Kind, Option<String>), Error> {
    let (kind, name) = match target.split_once('/') {
        Some((k, n)) => (k, Some(n.to_string())),
        None => (target, None),
    };
    let lower = kind.to_lowercase();
    let singular = lower
        .strip_suffix("es")
        .filter(|s| s.ends_with('x'))
        .or_else(|| lower.strip_suffix('s'))
        .unwrap_or(&lower);
    pocket_dock_spec::schema::DECLARABLE
        .iter()
        .find(|k| k.as_str().to_lowercase() == singular || k.as_str().to_lowercase() == lower)
        .map(|k| (*k, name))
        .ok_or_else(|| {
            Error::argument(
                "KIND",
                format!("unknown kind `{kind}`: use sandbox, image, snapshot or volume"),
            )
        })
}

pub async fn get(global: &GlobalArgs, args: GetArgs) -> Outcome {
    let filter = args.target.as_deref().map(parse_target).transpose()?;
    // Always the table: of an invalid file, its last valid version, which is in effect.
    let (workspace, declared) = load_any(global)?;
    let engine = Engine::new(&global.engine_config()?)?;
    let ownership = workspace.ownership();
    let inputs = ImageInputs::gather(&declared.declarations).await;
    let desired = Desired::from_declarations(&declared.declarations, &ownership, &inputs);
    let observed = observe(&engine, &ownership, &desired).await?;
    // Read without following a symlink, and never a FIFO or device.
    let status_files = StatusFiles::open(&workspace.root.join(DIR_NAME), false)
        .ok()
        .flatten();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let rows = object_rows(
        &desired,
        &observed,
        &declared.retained,
        status_files.as_ref(),
        &filter,
        now,
    );

    if let Some((kind, Some(name))) = &filter
        && rows.is_empty()
    {
        return Err(Error::NotDeclared {
            object: format!("{kind}/{name}"),
            problem: "is not declared and not running in this workspace".to_string(),
        });
    }
    match global.output {
        OutputFormat::Text => {
            out!(
                "{:<10} {:<24} {:<9} {:<9} {:<16} {:<7} {:<8} AGE",
                "KIND",
                "NAME",
                "DESIRED",
                "ACTUAL",
                "PHASE",
                "READY",
                "RESTARTS"
            );
            for r in &rows {
                out!(
                    "{:<10} {:<24} {:<9} {:<9} {:<16} {:<7} {:<8} {}",
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
            }
        }
        format => emit(&serde_json::to_value(&rows).unwrap_or_default(), format),
    }
    if declared.is_valid() {
        return Ok(ExitCode::Success.code());
    }
    // After the table, on stderr: stdout keeps only the table's rows.
    print_problems(
        &declared.problems,
        global.output,
        "objects of invalid files are shown in their last valid version, which stays in effect, and nothing is pruned until every file is valid",
        Stream::Stderr,
    );
    Ok(ExitCode::InvalidInput.code())
}
