//! `pocket-dock image inspect|export|import`: look at and move the workspace's images.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pocket_dock::engine::labels::{EmbeddedLabels, ObjectLabels};
use pocket_dock::engine::{Engine, ImageDetails};
use pocket_dock::images::archive;
use pocket_dock::reconcile::observe::ImageInputs;
use pocket_dock::reconcile::status::SnapshotRecord;
use pocket_dock::reconcile::{Desired, Key};
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::Kind;
use serde_json::json;

use super::declared::{Loaded, load_valid};
use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Show an Image or Snapshot object's image: name, id, origin, labels
    Inspect {
        /// An Image or Snapshot object of this workspace
        name: String,
    },
    /// Write an Image or Snapshot object's image to an OCI archive (no network needed)
    Export {
        /// An Image or Snapshot object of this workspace
        name: String,
        /// The archive to write
        file: PathBuf,
    },
    /// Load an OCI archive, verifying every blob's digest and the resulting image id
    Import {
        /// An archive written by `image export` (or any single-image OCI archive)
        file: PathBuf,
    },
}

pub async fn image(global: &GlobalArgs, args: ImageArgs) -> Outcome {
    match args.command {
        ImageCommand::Inspect { name } => inspect(global, &name).await,
        ImageCommand::Export { name, file } => export(global, &name, &file).await,
        ImageCommand::Import { file } => import(global, &file).await,
    }
}

/// The object's key and local image name.
async fn resolve(global: &GlobalArgs, name: &str) -> Result<Result<(Key, String), u8>, Error> {
    let (workspace, declarations) = match load_valid(global)? {
        Loaded::Valid(w, d) => (w, d.declarations),
        Loaded::Invalid(code) => return Ok(Err(code)),
    };
    let inputs = ImageInputs::gather(&declarations).await;
    let desired = Desired::from_declarations(&declarations, &workspace.ownership(), &inputs);
    for kind in [Kind::Image, Kind::Snapshot] {
        let key = Key::new(kind, name);
        if let Some(tag) = desired.object_tag(&key) {
            return Ok(Ok((key, tag.to_string())));
        }
    }
    if let Some(problem) = desired.images.get(name).and_then(|i| i.problem.clone()) {
        return Err(Error::Usage {
            message: format!("Image/{name} cannot be made: {problem}"),
        });
    }
    Err(Error::Usage {
        message: format!(
            "no Image or Snapshot named {name} is declared in this workspace (see `pocket-dock get`)"
        ),
    })
}

async fn present(engine: &Engine, key: &Key, tag: &str) -> Result<ImageDetails, Error> {
    engine.find_image(tag).await?.ok_or_else(|| Error::Usage {
        message: format!("{key} ({tag}) is not present yet; run `pocket-dock apply` first"),
    })
}

async fn inspect(global: &GlobalArgs, name: &str) -> Outcome {
    let (key, tag) = match resolve(global, name).await? {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&global.engine_config()?)?;
    let image = present(&engine, &key, &tag).await?;
    // Builds and snapshots inherit their base's labels, so their own come first.
    let origin = if let Some(record) = SnapshotRecord::from_labels(&image.labels) {
        json!({ "snapshot": record })
    } else if let Some(hash) = ObjectLabels::parse(&image.labels).and_then(|l| l.content_hash) {
        json!({ "build": { "contentHash": hash } })
    } else if let Some(base) = EmbeddedLabels::parse(&image.labels) {
        json!({
            "embedded": "base",
            "version": base.version,
            "busybox": base.busybox,
            "busyboxSha256": base.busybox_sha256,
        })
    } else {
        json!({ "pulled": tag })
    };
    let value = json!({
        "kind": key.kind,
        "name": key.name,
        "image": tag,
        "id": image.id,
        "repoDigests": image.repo_digests,
        "size": image.size,
        "origin": origin,
    });
    match global.output {
        OutputFormat::Text => {
            out!("{key}");
            out!("  image:   {tag}");
            out!("  id:      {}", image.id);
            if let Some(size) = image.size {
                out!("  size:    {:.1} MB", size as f64 / 1e6);
            }
            if let Some(fields) = origin.as_object() {
                for (k, v) in fields {
                    out!("  {k}: {v}");
                }
            }
        }
        format => emit(&value, format),
    }
    Ok(ExitCode::Success.code())
}

async fn export(global: &GlobalArgs, name: &str, file: &std::path::Path) -> Outcome {
    let (key, tag) = match resolve(global, name).await? {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let engine = Engine::new(&global.engine_config()?)?;
    let image = present(&engine, &key, &tag).await?;
    let owned = ObjectLabels::parse(&image.labels).is_some()
        || EmbeddedLabels::parse(&image.labels).is_some();
    if !owned {
        return Err(Error::Usage {
            message: format!(
                "{tag} was pulled, not made by pocket-dock; export it with `podman save` instead"
            ),
        });
    }
    engine.export_image(&tag, file).await?;
    let info = archive::inspect(file)?;
    let value =
        json!({ "kind": key.kind, "name": key.name, "image": tag, "file": file, "archive": info });
    match global.output {
        OutputFormat::Text => out!(
            "exported {key} ({tag}, id {}) to {} ({:.1} MB)",
            info.image_id,
            file.display(),
            info.bytes as f64 / 1e6
        ),
        format => emit(&value, format),
    }
    Ok(ExitCode::Success.code())
}

async fn import(global: &GlobalArgs, file: &std::path::Path) -> Outcome {
    // Checked before Podman sees it: a corrupt or foreign archive is refused whole.
    let info = archive::inspect(file)?;
    let engine = Engine::new(&global.engine_config()?)?;
    let names = engine.load_image_file(file, info.docker_manifest).await?;
    let loaded = engine.inspect_image(&info.image_id).await?;
    let same =
        |a: &str, b: &str| a.trim_start_matches("sha256:") == b.trim_start_matches("sha256:");
    if !same(&loaded.id, &info.image_id) {
        return Err(Error::Usage {
            message: format!(
                "{} loaded as image {} but its archive names {}; the archive is not what it claims",
                file.display(),
                loaded.id,
                info.image_id
            ),
        });
    }
    let value =
        json!({ "file": file, "names": names, "id": loaded.id, "verified": true, "archive": info });
    match global.output {
        OutputFormat::Text => out!(
            "imported {} as {} (id {}, {} blobs verified)",
            file.display(),
            if names.is_empty() {
                "(unnamed)".to_string()
            } else {
                names.join(", ")
            },
            loaded.id,
            info.blobs
        ),
        format => emit(&value, format),
    }
    Ok(ExitCode::Success.code())
}
