//! `pocket-dock snapshot SANDBOX NAME`: declarative first. It writes (or bumps the
//! generation of) `.pocket-dock/snapshots/NAME.yaml`, then applies that one object.

use std::collections::BTreeSet;

use clap::Args;
use pocket_dock::Error;
use pocket_dock::reconcile::{ApplyOptions, Key};
use pocket_dock::workspace::DIR_NAME;
use pocket_dock_spec::model::Spec;
use pocket_dock_spec::{Kind, load};

use super::declared::{Loaded, load_valid};
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
}

pub async fn snapshot(global: &GlobalArgs, args: SnapshotArgs) -> Outcome {
    let (workspace, declarations) = match load_valid(global)? {
        Loaded::Valid(w, d) => (w, d),
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
        .join("snapshots")
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
        "# Written by `pocket-dock snapshot`; commit it to keep the snapshot declared.\n\
         apiVersion: pocket-dock.dev/v1alpha1\nkind: Snapshot\nmetadata:\n  name: {name}\n\
         spec:\n  sandbox: {sandbox}\n  generation: {generation}\n{description}",
        name = args.name,
        sandbox = args.sandbox,
    );
    let write = |e: std::io::Error| Error::Usage {
        message: format!("cannot write {}: {e}", file.display()),
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    std::fs::write(&file, text).map_err(write)?;
    if global.output == OutputFormat::Text {
        out!(
            "wrote {} (Snapshot/{} generation {generation})",
            relative.display(),
            args.name
        );
    }
    // Load again so that the new document is applied exactly as a later `apply` would.
    let loaded = load(&workspace.root);
    let options = ApplyOptions {
        only: Some(BTreeSet::from([Key::new(
            Kind::Snapshot,
            args.name.clone(),
        )])),
        ..ApplyOptions::default()
    };
    super::apply::converge(global, &workspace, &loaded.declarations, options).await
}
