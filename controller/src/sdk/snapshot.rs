//! Snapshots, declarative first: [`Workspace::snapshot`] writes (or bumps the generation
//! of) `.pocket-dock/snapshots/NAME.yaml`, then applies that one object. The document is
//! the record; the image follows from it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use pocket_dock_spec::Kind;
use pocket_dock_spec::model::Spec;

use super::Valid;
use crate::Error;
pub use crate::error::SnapshotError;
use crate::owned_files::{OwnedDir, OwnedFileError};
use crate::reconcile::{ApplyOptions, ApplyReport, Key, Observer};
use crate::workspace::{DIR_NAME, Workspace};

/// Where snapshot documents are written, under `.pocket-dock/`.
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// The first line of every snapshot file pocket-dock writes; it replaces only files that
/// start with it.
pub const WRITTEN_BY: &str = "# Written by `pocket-dock snapshot`";

/// What to snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    /// The running sandbox to commit.
    pub sandbox: String,
    /// The Snapshot object to write (a new one, or the next generation of an existing one).
    pub name: String,
    /// What the snapshot is for.
    pub description: Option<String>,
}

/// The document written; the apply of it follows in [`SnapshotReport::apply`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotFile {
    /// Relative to the workspace root.
    pub path: PathBuf,
    pub name: String,
    pub generation: u64,
}

#[derive(Debug)]
pub struct SnapshotReport {
    pub file: SnapshotFile,
    pub apply: ApplyReport,
}

/// The document to write for `request` given what is declared now (pure).
pub fn plan_document(
    request: &SnapshotRequest,
    valid: &Valid,
) -> Result<(SnapshotFile, String), SnapshotError> {
    if let Some(problem) = pocket_dock_spec::dns_label_problem(&request.name) {
        return Err(SnapshotError::InvalidName {
            name: request.name.clone(),
            problem: problem.to_string(),
        });
    }
    let declared = |kind: Kind, name: &str| {
        valid
            .declarations()
            .objects
            .iter()
            .find(|o| o.kind == kind && o.metadata.name == name)
    };
    if declared(Kind::Sandbox, &request.sandbox).is_none() {
        return Err(SnapshotError::SandboxNotDeclared {
            sandbox: request.sandbox.clone(),
        });
    }
    let path = std::path::Path::new(DIR_NAME)
        .join(SNAPSHOTS_DIR)
        .join(format!("{}.yaml", request.name));
    let generation = match declared(Kind::Snapshot, &request.name) {
        None => 1,
        Some(existing) => {
            if existing.source.file != path {
                return Err(SnapshotError::DeclaredElsewhere {
                    name: request.name.clone(),
                    file: existing.source.file.clone(),
                });
            }
            match &existing.spec {
                Spec::Snapshot(spec) if spec.sandbox != request.sandbox => {
                    return Err(SnapshotError::OtherSandbox {
                        name: request.name.clone(),
                        declared: spec.sandbox.clone(),
                        requested: request.sandbox.clone(),
                    });
                }
                Spec::Snapshot(spec) => spec.generation + 1,
                // A Snapshot object always has a snapshot spec; anything else starts over.
                _ => 1,
            }
        }
    };
    let description = request
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
         apiVersion: {api_version}\nkind: Snapshot\nmetadata:\n  name: {name}\n\
         spec:\n  sandbox: {sandbox}\n  generation: {generation}\n{description}",
        api_version = pocket_dock_spec::model::WRITTEN_API_VERSION,
        name = request.name,
        sandbox = request.sandbox,
    );
    Ok((
        SnapshotFile {
            path,
            name: request.name.clone(),
            generation,
        },
        text,
    ))
}

/// Writes the snapshot document, then applies that one object. The caller holds the
/// writer lock and passes what it loaded under it.
pub(crate) async fn snapshot(
    engine: &crate::engine::Engine,
    workspace: &Workspace,
    valid: &Valid,
    request: &SnapshotRequest,
    options: ApplyOptions,
    observer: Arc<dyn Observer>,
) -> Result<SnapshotReport, Error> {
    let (file, text) = plan_document(request, valid)?;
    write_snapshot_file(&workspace.root.join(DIR_NAME), &request.name, &text).map_err(
        |source| match source {
            OwnedFileError::Foreign { .. } => SnapshotError::NotOurs {
                name: request.name.clone(),
                source,
            },
            source => SnapshotError::Write {
                file: workspace.root.join(&file.path),
                source,
            },
        },
    )?;
    // Load again so that the new document is applied exactly as a later `apply` would, and
    // only if everything is still valid.
    let valid = workspace.load()?;
    let options = ApplyOptions {
        writer: "snapshot",
        lock_held: true,
        only: Some(BTreeSet::from([Key::new(
            Kind::Snapshot,
            request.name.clone(),
        )])),
        ..options
    };
    let apply =
        crate::reconcile::apply(engine, workspace, valid.declarations(), options, observer).await?;
    Ok(SnapshotReport { file, apply })
}

/// Writes `.pocket-dock/snapshots/NAME.yaml` atomically, never through a symlink, and only
/// over a file pocket-dock wrote.
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
