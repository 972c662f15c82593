//! `pocket-dock snapshot SANDBOX NAME`: declarative first. It writes (or bumps the
//! generation of) `.pocket-dock/snapshots/NAME.yaml`, then applies that one object.

use std::collections::BTreeSet;

use clap::Args;
use pocket_dock::Error;
use pocket_dock::owned_files::{OwnedDir, OwnedFileError};
use pocket_dock::reconcile::{ApplyOptions, Key};
use pocket_dock::workspace::DIR_NAME;
use pocket_dock_spec::Kind;
use pocket_dock_spec::model::Spec;

use super::declared::{Loaded, load_valid, load_valid_at, lock_writer};
use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The running sandbox to commit
    sandbox: String,
    /// The Snapshot object to write (a new one, or the next generation of an existing one)
    name: String,
    /// What the snapshot is for
    #[arg(long)]
    description: Option<String>,
    /// Give up (exit 5) after this long, e.g. 2m (waiting for another writer included)
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    timeout: Option<std::time::Duration>,
}

/// Where `pocket-dock snapshot` writes Snapshot documents, under `.pocket-dock/`.
const SNAPSHOTS_DIR: &str = "snapshots";

pub async fn snapshot(global: &GlobalArgs, args: SnapshotArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let deadline = args.timeout.map(|t| std::time::Instant::now() + t);
    let _lock = lock_writer(global, &workspace, "snapshot", deadline).await?;
    let (workspace, declarations) = match load_valid_at(global, workspace) {
        Loaded::Valid(w, d) => (w, d.declarations),
        Loaded::Invalid(code) => return Ok(code),
    };
    if let Some(problem) = pocket_dock_spec::dns_label_problem(&args.name) {
        return Err(Error::Usage {
            message: format!("snapshot name {:?}: {problem}", args.name),
        });
    }
    let declared = |kind: Kind, name: &str| {
        declarations
            .objects
            .iter()
            .find(|o| o.kind == kind && o.metadata.name == name)
    };
    if declared(Kind::Sandbox, &args.sandbox).is_none() {
        return Err(Error::Usage {
            message: format!(
                "Sandbox/{} is not declared in this workspace (see `pocket-dock get`)",
                args.sandbox
            ),
        });
    }
    let relative = std::path::Path::new(DIR_NAME)
        .join(SNAPSHOTS_DIR)
        .join(format!("{}.yaml", args.name));
    let file = workspace.root.join(&relative);
    let generation = match declared(Kind::Snapshot, &args.name) {
        None => 1,
        Some(existing) => {
            let Spec::Snapshot(spec) = &existing.spec else {
                return Ok(pocket_dock::ExitCode::Failed.code());
            };
            if existing.source.file != relative {
                return Err(Error::Usage {
                    message: format!(
                        "Snapshot/{} is declared in {}; bump its generation there and apply",
                        args.name,
                        existing.source.file.display()
                    ),
                });
            }
            if spec.sandbox != args.sandbox {
                return Err(Error::Usage {
                    message: format!(
                        "Snapshot/{} snapshots Sandbox/{}, not {}; pick another name",
                        args.name, spec.sandbox, args.sandbox
                    ),
                });
            }
            spec.generation + 1
        }
    };
    let description = args
        .description
        .as_deref()
        .map(|d| {
            format!(
                "  description: {}\n",
                serde_json::to_string(d).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let text = format!(
        "{WRITTEN_BY}; commit it to keep the snapshot declared.\n\
         apiVersion: pocket-dock.dev/v1alpha1\nkind: Snapshot\nmetadata:\n  name: {name}\n\
         spec:\n  sandbox: {sandbox}\n  generation: {generation}\n{description}",
        name = args.name,
        sandbox = args.sandbox,
    );
    write_snapshot_file(&workspace.root.join(DIR_NAME), &args.name, &text).map_err(|e| {
        Error::Usage {
            message: match e {
                OwnedFileError::Foreign { .. } => format!(
                    "{e}: bump the generation of Snapshot/{} there by hand and apply",
                    args.name
                ),
                e => format!("cannot write {}: {e}", file.display()),
            },
        }
    })?;
    if global.output == OutputFormat::Text {
        out!(
            "wrote {} (Snapshot/{} generation {generation})",
            relative.display(),
            args.name
        );
    }
    // Load again so that the new document is applied exactly as a later `apply` would, and
    // only if everything is still valid.
    let declarations = match load_valid(global)? {
        Loaded::Valid(_, d) => d.declarations,
        Loaded::Invalid(code) => return Ok(code),
    };
    let options = ApplyOptions {
        writer: "snapshot",
        lock_held: true,
        timeout: args.timeout,
        only: Some(BTreeSet::from([Key::new(
            Kind::Snapshot,
            args.name.clone(),
        )])),
        ..ApplyOptions::default()
    };
    super::apply::converge(global, &workspace, &declarations, options).await
}

/// The first line of every snapshot file `pocket-dock snapshot` writes; it replaces only
/// files that start with it.
const WRITTEN_BY: &str = "# Written by `pocket-dock snapshot`";

/// Writes `.pocket-dock/snapshots/NAME.yaml` atomically, never through a symlink, and only
/// over a file this command wrote.
fn write_snapshot_file(
    pocket_dock_dir: &std::path::Path,
    name: &str,
    text: &str,
) -> Result<(), OwnedFileError> {
    let dir = OwnedDir::open(pocket_dock_dir)?;
    let Some(snapshots) = dir.subdir(SNAPSHOTS_DIR, true)? else {
        return Ok(());
    };
    snapshots.write_atomic(&format!("{name}.yaml"), text.as_bytes(), |head| {
        head.starts_with(WRITTEN_BY.as_bytes())
    })
}
