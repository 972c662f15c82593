//! `pocket-dock image inspect|export|import|push`: look at and move the workspace's images.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pocket_dock::ExitCode;
use pocket_dock::images;
use pocket_dock::sdk::ImageOrigin;
use pocket_dock::text::count;
use serde_json::json;

use super::declared::invalid_or_err;
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
    /// Write an Image or Snapshot object's image to an OCI archive, or with --all every
    /// image the workspace declares into one bundle (no network needed)
    #[command(
        override_usage = "pocket-dock image export NAME FILE\n       pocket-dock image export --all FILE"
    )]
    Export {
        /// Every image the workspace declares (embedded base, builds, pulled images,
        /// snapshots), each layer once, under names that every checkout uses
        #[arg(long)]
        all: bool,
        /// NAME FILE: an Image or Snapshot object and the archive to write; with --all,
        /// only FILE
        #[arg(value_name = "NAME|FILE", num_args = 1..=2, required = true)]
        args: Vec<PathBuf>,
    },
    /// Load an OCI archive or a bundle, verifying every blob's digest first and each loaded
    /// image's id
    Import {
        /// An archive written by `image export` or `image export --all` (or any OCI archive)
        file: PathBuf,
    },
    /// Push an Image or Snapshot object's image to a registry; prints the reference and
    /// the manifest digest the registry answered
    Push {
        /// An Image or Snapshot object of this workspace
        name: String,
        /// The destination, `REGISTRY/NAME:TAG`
        reference: String,
        /// An auth.json to take credentials from when neither the Image's nor the
        /// Workspace's pullSecret has an entry for the registry (default: $REGISTRY_AUTH_FILE)
        #[arg(long, value_name = "PATH")]
        authfile: Option<PathBuf>,
    },
}

pub async fn image(global: &GlobalArgs, args: ImageArgs) -> Outcome {
    match args.command {
        ImageCommand::Inspect { name } => inspect(global, &name).await,
        ImageCommand::Export { all: true, args } => match args.as_slice() {
            [file] => export_all(global, file).await,
            _ => usage(global, "`image export --all` takes only the FILE to write"),
        },
        ImageCommand::Export { all: false, args } => match args.as_slice() {
            [name, file] => export(global, &name.to_string_lossy(), file).await,
            _ => usage(
                global,
                "`image export` takes NAME FILE (or --all FILE for every image)",
            ),
        },
        ImageCommand::Import { file } => import(global, &file).await,
        ImageCommand::Push {
            name,
            reference,
            authfile,
        } => push(global, &name, &reference, authfile).await,
    }
}

async fn inspect(global: &GlobalArgs, name: &str) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let info = match workspace.inspect_image(&engine, name).await {
        Ok(info) => info,
        Err(e) => return invalid_or_err(global, e, "nothing was changed"),
    };
    let (key, tag, image) = (&info.object.key, &info.object.image, &info.details);
    let origin = match &info.origin {
        ImageOrigin::Snapshot(record) => json!({ "snapshot": record }),
        ImageOrigin::Build { content_hash } => json!({ "build": { "contentHash": content_hash } }),
        ImageOrigin::Embedded {
            version,
            busybox,
            busybox_sha256,
        } => json!({
            "embedded": "base",
            "version": version,
            "busybox": busybox,
            "busyboxSha256": busybox_sha256,
        }),
        ImageOrigin::Pulled(tag) => json!({ "pulled": tag }),
    };
    let value = json!({
        "kind": key.kind,
        "name": key.name,
        "image": tag,
        "portable": info.object.portable,
        "id": image.id,
        "names": image.repo_tags,
        "repoDigests": image.repo_digests,
        "size": image.size,
        "origin": origin,
    });
    match global.output {
        OutputFormat::Text => {
            out!("{key}");
            out!("  image:    {tag}");
            if info.object.portable != *tag {
                out!("  portable: {}", info.object.portable);
            }
            out!("  id:       {}", image.id);
            // Sorted: engines list an image's names in different orders.
            let mut names = image.repo_tags.clone();
            names.sort();
            out!("  names:    {}", names.join(", "));
            if let Some(size) = image.size {
                out!("  size:     {:.1} MB", size as f64 / 1e6);
            }
            out!("  origin:   {}", origin_text(&info.origin));
        }
        format => emit(&value, format),
    }
    Ok(ExitCode::Success.code())
}

/// Where an image came from, as a sentence (`--output json` has the fields).
fn origin_text(origin: &ImageOrigin) -> String {
    match origin {
        ImageOrigin::Snapshot(record) => {
            let mut text = format!(
                "snapshot of Sandbox/{}, generation {}",
                record.sandbox, record.generation
            );
            if !record.taken_at.is_empty() {
                text.push_str(&format!(", taken {}", record.taken_at));
            }
            if let Some(description) = &record.description {
                text.push_str(&format!(" ({description})"));
            }
            text
        }
        ImageOrigin::Build { content_hash } => format!("build, content hash {content_hash}"),
        ImageOrigin::Embedded {
            version,
            busybox,
            busybox_sha256,
        } => {
            let mut text = "the embedded base".to_string();
            if let Some(v) = version {
                text.push_str(&format!(" {v}"));
            }
            let from: Vec<String> = [
                busybox.as_ref().map(|b| format!("busybox {b}")),
                busybox_sha256.as_ref().map(|h| format!("sha256 {h}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !from.is_empty() {
                text.push_str(&format!(" ({})", from.join(", ")));
            }
            text
        }
        ImageOrigin::Pulled(reference) => format!("pulled as {reference}"),
    }
}

async fn export(global: &GlobalArgs, name: &str, file: &std::path::Path) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let (object, exported) = match workspace.export_image(&engine, name, file).await {
        Ok(done) => done,
        Err(e) => return invalid_or_err(global, e, "nothing was changed"),
    };
    let (key, info) = (&object.key, &exported.archive);
    let value = json!({
        "kind": key.kind, "name": key.name, "image": object.image, "file": file, "archive": info,
    });
    match global.output {
        OutputFormat::Text => out!(
            "exported {key} ({}, id {}) to {} ({:.1} MB)",
            object.image,
            info.image_id,
            file.display(),
            info.bytes as f64 / 1e6
        ),
        format => emit(&value, format),
    }
    Ok(ExitCode::Success.code())
}

fn usage(global: &GlobalArgs, message: &str) -> Outcome {
    if global.output != OutputFormat::Text {
        return Err(pocket_dock::Error::argument(
            "NAME|FILE",
            format!("{message}; nothing was changed"),
        ));
    }
    err!("pocket-dock: {message}; nothing was changed");
    Ok(ExitCode::InvalidInput.code())
}

async fn export_all(global: &GlobalArgs, file: &std::path::Path) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    if global.output == OutputFormat::Text {
        err!(
            "exporting every image of the workspace to {}...",
            file.display()
        );
    }
    let info = match workspace.export_bundle(&engine, file).await {
        Ok(info) => info,
        Err(e) => return invalid_or_err(global, e, "nothing was written"),
    };
    match global.output {
        OutputFormat::Text => {
            out!(
                "exported {} to {} ({}, {:.1} MB)",
                count(info.images.len(), "image"),
                file.display(),
                count(info.blobs, "blob"),
                info.bytes as f64 / 1e6
            );
            for image in &info.images {
                out!("  {} ({})", image.names.join(", "), image.image_id);
            }
        }
        format => emit(&json!({ "file": file, "bundle": info }), format),
    }
    Ok(ExitCode::Success.code())
}

async fn import(global: &GlobalArgs, file: &std::path::Path) -> Outcome {
    let engine = global.engine()?;
    // On a terminal, a live line while the archive is checked and sent to the engine.
    let line = global.screen.as_ref().map(|screen| {
        super::progress::OneLine::new(screen, file.display().to_string(), "importing")
    });
    let report_to = |p: pocket_dock::engine::Progress| {
        if let Some(line) = &line {
            line.report(&p);
        }
    };
    let imported = images::import_any_with_progress(&engine, file, &report_to).await;
    if let Some(line) = &line {
        line.clear();
    }
    let report = imported?;
    match global.output {
        OutputFormat::Text => {
            for image in &report.images {
                out!(
                    "imported {} as {} (id {})",
                    file.display(),
                    if image.names.is_empty() {
                        "(unnamed)".to_string()
                    } else {
                        image.names.join(", ")
                    },
                    image.id,
                );
            }
            out!("{} verified", count(report.blobs, "blob"));
        }
        // A single archive reports as it always has; a bundle as the list it holds.
        format => match &report.single {
            Some(single) => emit(&json!(single), format),
            None => emit(&json!(report), format),
        },
    }
    Ok(ExitCode::Success.code())
}

/// How long a push may take.
const PUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

async fn push(
    global: &GlobalArgs,
    name: &str,
    reference: &str,
    authfile: Option<PathBuf>,
) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let credentials = pocket_dock::sdk::PushCredentials {
        authfile,
        registry_auth_file: std::env::var_os("REGISTRY_AUTH_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
    };
    let (object, pushed) = match workspace
        .push_image(&engine, name, reference, &credentials, PUSH_TIMEOUT)
        .await
    {
        Ok(done) => done,
        Err(e) => return invalid_or_err(global, e, "nothing was pushed"),
    };
    let key = &object.key;
    match global.output {
        OutputFormat::Text => out!(
            "pushed {key} ({}) to {}@{}",
            object.image,
            pushed.reference,
            pushed.digest
        ),
        format => emit(
            &json!({
                "kind": key.kind,
                "name": key.name,
                "image": object.image,
                "reference": pushed.reference,
                "digest": pushed.digest,
            }),
            format,
        ),
    }
    Ok(ExitCode::Success.code())
}
