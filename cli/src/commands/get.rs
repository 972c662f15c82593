use clap::Args;
use pocket_dock::engine::Engine;
use pocket_dock::reconcile::Key;
use pocket_dock::reconcile::desired::Desired;
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
        .ok_or_else(|| Error::Usage {
            message: format!("unknown kind `{kind}`: use sandbox, image, snapshot or volume"),
        })
}

fn age(created: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let secs = (now - created).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub async fn get(global: &GlobalArgs, args: GetArgs) -> Outcome {
    let filter = args.target.as_deref().map(parse_target).transpose()?;
    // Always the table: of an invalid file, its last valid version, which is in effect.
    let (workspace, declared) = load_any(global)?;
    let engine = Engine::new(&global.engine_config()?)?;
    let ownership = workspace.ownership();
    let inputs = ImageInputs::gather(&declared.declarations).await;
    let desired = Desired::from_declarations(&declared.declarations, &ownership, &inputs);
    let undeclared = if desired.complete {
        "absent"
    } else {
        "unknown"
    };
    let observed = observe(&engine, &ownership, &desired).await?;
    // Read without following a symlink, and never a FIFO or device.
    let status_files = StatusFiles::open(&workspace.root.join(DIR_NAME), false)
        .ok()
        .flatten();

    let mut rows = Vec::new();
    let mut push = |kind: Kind, name: &str, want: &str, actual: String, age: String| {
        if filter
            .as_ref()
            .is_some_and(|(k, n)| *k != kind || n.as_deref().is_some_and(|n| n != name))
        {
            return;
        }
        let status = status_files.as_ref().and_then(|f| f.read(kind, name));
        let phase = status
            .as_ref()
            .and_then(|s| s["phase"].as_str().map(str::to_string))
            .unwrap_or_else(|| "-".into());
        // READY: the Ready condition (`true`, `false`, `unknown` when not probed yet).
        let ready = status
            .as_ref()
            .and_then(|s| s["conditions"].as_array())
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c["status"].as_str())
            .map_or("-", |s| match s {
                "True" => "true",
                "False" => "false",
                _ => "unknown",
            });
        let restarts = status.as_ref().and_then(|s| s["restartCount"].as_u64());
        let mut row = serde_json::json!({
            "kind": kind, "name": name, "desired": want, "actual": actual, "phase": phase, "age": age,
            "ready": ready, "restarts": restarts, "status": status,
        });
        if let Some(problem) = declared.retained.get(&Key::new(kind, name)) {
            row["problem"] =
                serde_json::json!(format!("{problem}; its last valid version is shown"));
        }
        rows.push(row);
    };
    for (name, s) in &desired.sandboxes {
        let current = observed
            .sandboxes
            .get(name)
            .and_then(|cs| cs.iter().find(|c| c.container_name == s.container_name));
        let actual = current.map_or("absent".to_string(), |c| {
            serde_json::to_value(&c.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        });
        push(
            Kind::Sandbox,
            name,
            if s.running { "running" } else { "stopped" },
            actual,
            current.map_or("-".into(), |c| age(c.created)),
        );
    }
    for (name, cs) in observed
        .sandboxes
        .iter()
        .filter(|(n, _)| !desired.sandboxes.contains_key(*n))
    {
        let created = cs.first().map_or(0, |c| c.created);
        push(
            Kind::Sandbox,
            name,
            undeclared,
            "present".into(),
            age(created),
        );
    }
    for name in desired.volumes.keys() {
        let actual = if observed.volumes.contains_key(name) {
            "present"
        } else {
            "absent"
        };
        push(Kind::Volume, name, "present", actual.into(), "-".into());
    }
    for name in observed
        .volumes
        .keys()
        .filter(|n| !desired.volumes.contains_key(*n))
    {
        push(Kind::Volume, name, undeclared, "present".into(), "-".into());
    }
    for (name, image) in &desired.images {
        let actual = if observed.image_id(&image.tag).is_some() {
            "present"
        } else {
            "absent"
        };
        push(Kind::Image, name, "present", actual.into(), "-".into());
    }
    for (name, snap) in &desired.snapshots {
        let actual = if observed.image_id(&snap.tag).is_some() {
            "present"
        } else {
            "absent"
        };
        push(Kind::Snapshot, name, "present", actual.into(), "-".into());
    }

    if let Some((kind, Some(name))) = &filter
        && rows.is_empty()
    {
        return Err(Error::Usage {
            message: format!("{kind}/{name} is not declared and not running in this workspace"),
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
                    r["kind"].as_str().unwrap_or_default(),
                    r["name"].as_str().unwrap_or_default(),
                    r["desired"].as_str().unwrap_or_default(),
                    r["actual"].as_str().unwrap_or_default(),
                    r["phase"].as_str().unwrap_or_default(),
                    r["ready"].as_str().unwrap_or_default(),
                    r["restarts"]
                        .as_u64()
                        .map_or_else(|| "-".to_string(), |n| n.to_string()),
                    r["age"].as_str().unwrap_or_default()
                );
            }
        }
        format => emit(&serde_json::Value::Array(rows), format),
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
