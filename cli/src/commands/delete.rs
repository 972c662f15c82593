use clap::Args;
use pocket_dock::engine::labels::ObjectLabels;
use pocket_dock::engine::{Engine, OwnedVolume};
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::Kind;

use super::declared::lock_writer;
use super::get::parse_target;
use super::{GlobalArgs, Outcome};

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The object whose runtime objects to remove: `sandbox/web`, `volume/data`
    #[arg(
        value_name = "KIND/NAME",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    target: Option<String>,
    /// Remove every sandbox container of this workspace
    #[arg(long)]
    all: bool,
    /// With --all: also remove the workspace's named volumes and their data
    #[arg(long, requires = "all")]
    volumes: bool,
    /// Give up (exit 5) after this long waiting for another writer, e.g. 2m
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    timeout: Option<std::time::Duration>,
}

/// Removes owned runtime objects (containers, volumes); the YAML stays, so the next apply
/// creates them again.
pub async fn delete(global: &GlobalArgs, args: DeleteArgs) -> Outcome {
    let target = match &args.target {
        Some(t) => match parse_target(t)? {
            (kind, Some(name)) => Some((kind, name)),
            (kind, None) => {
                return Err(Error::Usage {
                    message: format!("name the object: `{}/NAME`", kind.as_str().to_lowercase()),
                });
            }
        },
        None => None,
    };
    let workspace = global.workspace()?;
    let ownership = workspace.ownership();
    let engine = Engine::new(&global.engine_config()?)?;
    // One writer at a time (a declared workspace only: without .pocket-dock/ there is no
    // lock to share, and nothing else writes).
    let deadline = args.timeout.map(|t| std::time::Instant::now() + t);
    let _lock = if workspace.declared {
        Some(lock_writer(global, &workspace, "delete", deadline).await?)
    } else {
        None
    };
    let mut removed = Vec::new();

    let wants = |kind: Kind, name: &str| match &target {
        Some((k, n)) => *k == kind && n == name,
        None => kind == Kind::Sandbox || (kind == Kind::Volume && args.volumes),
    };
    for (summary, handle) in engine.list_owned(&ownership).await? {
        let Some(ObjectLabels { kind, name, .. }) = ObjectLabels::parse(&summary.labels) else {
            continue;
        };
        if kind == Kind::Sandbox && wants(kind, &name) {
            engine.remove_container(&handle).await?;
            removed.push(format!("Sandbox/{name} (container {})", summary.name));
        }
    }
    if target.as_ref().is_some_and(|(k, _)| *k == Kind::Volume) || args.volumes {
        for volume in engine.list_owned_volumes(&ownership).await? {
            let Some(ObjectLabels { name, .. }) = ObjectLabels::parse(&volume.labels) else {
                continue;
            };
            if wants(Kind::Volume, &name) {
                let owned = OwnedVolume::check(&ownership, &volume)?;
                engine.remove_volume(&owned).await?;
                removed.push(format!(
                    "Volume/{name} (volume {}, data deleted)",
                    volume.name
                ));
            }
        }
    }
    if removed.is_empty() {
        out!("nothing to delete");
    }
    for r in &removed {
        out!("- {r} removed");
    }
    Ok(ExitCode::Success.code())
}
