//! Moving images without a registry: OCI archives out ([`export`]) and in ([`import`]),
//! each checked end to end. These talk to the engine; the archive checks themselves are
//! in [`super::archive`].

use std::path::{Path, PathBuf};

use super::ImageError;
use super::archive::{self, ArchiveInfo};
use super::bundle::{self, BundleInfo};
use super::embedded;
use crate::Result;
use crate::engine::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use crate::engine::{Engine, ImageDetails};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    pub image: String,
    pub file: PathBuf,
    pub archive: ArchiveInfo,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Imported {
    pub file: PathBuf,
    /// The names the archive gave the image (none for an unnamed one).
    pub names: Vec<String>,
    pub id: String,
    /// Every blob's digest and the resulting image id were checked.
    pub verified: bool,
    pub archive: ArchiveInfo,
}

/// Whether pocket-dock made this image (a build, a snapshot, the embedded base): only
/// those are exported, a pulled image belongs to its registry.
pub fn made_by_pocket_dock(image: &ImageDetails) -> bool {
    image.labels.get(MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        || image.labels.contains_key(embedded::LABEL_EMBEDDED)
}

/// Writes image `tag` (present, made by pocket-dock) to an OCI archive at `file`, named
/// `name` there (its portable name, so that any checkout finds it after an import), then
/// reads the archive back to report (and so check) what it holds.
pub async fn export(engine: &Engine, tag: &str, name: &str, file: &Path) -> Result<Exported> {
    let image = engine
        .find_image(tag)
        .await?
        .ok_or_else(|| ImageError::NotPresent {
            image: tag.to_string(),
        })?;
    if !made_by_pocket_dock(&image) {
        return Err(ImageError::Pulled {
            image: tag.to_string(),
        }
        .into());
    }
    let temp = temp_beside(file)?;
    let part = temp.path().join("image.tar");
    engine.export_image(tag, &part).await?;
    let (out, parts) = (file.to_path_buf(), vec![(part, vec![name.to_string()])]);
    let archive = tokio::task::spawn_blocking(move || {
        bundle::write_archive(&out, &parts, false)?;
        archive::inspect(&out)
    })
    .await
    .map_err(|e| crate::Error::task("export", e))??;
    Ok(Exported {
        image: tag.to_string(),
        file: file.to_path_buf(),
        archive,
    })
}

/// A temporary folder beside `file` (same file system, so large exports do not fill
/// `/tmp`), removed when dropped.
fn temp_beside(file: &Path) -> Result<tempfile::TempDir> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(tempfile::Builder::new()
        .prefix(".pocket-dock-export-")
        .tempdir_in(&parent)
        .map_err(|source| ImageError::Write {
            path: parent.clone(),
            source,
        })?)
}

/// Loads an OCI archive after checking it whole (every blob's digest), then checks that
/// the engine gave the image the id the archive names. A corrupt or foreign archive is
/// refused before the engine sees it.
pub async fn import(engine: &Engine, file: &Path) -> Result<Imported> {
    import_with_progress(engine, file, &crate::engine::ignore_progress).await
}

/// [`import`], telling `on_progress` the bytes sent to the engine as they go.
pub async fn import_with_progress(
    engine: &Engine,
    file: &Path,
    on_progress: crate::engine::OnProgress<'_>,
) -> Result<Imported> {
    let info = archive::inspect(file)?;
    let names = engine
        .load_image_file_with_progress(file, info.docker_manifest, on_progress)
        .await?;
    let loaded = engine.inspect_image(&info.image_id).await?;
    if !same_id(&loaded.id, &info.image_id) {
        return Err(ImageError::IdMismatch {
            path: file.to_path_buf(),
            loaded: loaded.id,
            claimed: info.image_id,
        }
        .into());
    }
    Ok(Imported {
        file: file.to_path_buf(),
        names,
        id: loaded.id,
        verified: true,
        archive: info,
    })
}

/// One image of a bundle: where it comes from in the engine and the names it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEntry {
    /// A name (or id) the engine knows it by.
    pub source: String,
    /// The names it gets in the bundle (and on import).
    pub names: Vec<String>,
}

/// Writes `entries` into one bundle at `file` (see [`bundle::write`]): each image exported
/// by the engine to a temporary archive beside `file`, then merged, each blob once.
pub async fn export_bundle(
    engine: &Engine,
    entries: &[BundleEntry],
    file: &Path,
) -> Result<BundleInfo> {
    let temp = temp_beside(file)?;
    let mut parts = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        let part = temp.path().join(format!("{n}.tar"));
        tracing::info!(image = %entry.source, "exporting");
        engine.export_image(&entry.source, &part).await?;
        parts.push((part, entry.names.clone()));
    }
    let out = file.to_path_buf();
    let info = tokio::task::spawn_blocking(move || bundle::write_archive(&out, &parts, true))
        .await
        .map_err(|e| crate::Error::task("bundle", e))??;
    Ok(info)
}

/// What `image import` loaded: one archive's image, or a bundle's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub file: PathBuf,
    /// Whether the file was a bundle (several images, or marked as one).
    pub bundle: bool,
    pub images: Vec<ImportedImage>,
    /// Every blob's digest and every loaded image's id were checked.
    pub verified: bool,
    pub blobs: usize,
    pub bytes: u64,
    /// A single-image archive's import, as [`import`] reports it.
    #[serde(skip)]
    pub single: Option<Imported>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportedImage {
    pub names: Vec<String>,
    pub id: String,
}

/// Imports a bundle or a single-image archive. A bundle is unpacked to a temporary folder
/// first, every blob's digest checked, before the engine loads anything; then each image
/// is loaded from an archive of its own, its id checked, and given every name the bundle
/// gives it.
pub async fn import_any(engine: &Engine, file: &Path) -> Result<ImportReport> {
    import_any_with_progress(engine, file, &crate::engine::ignore_progress).await
}

/// [`import_any`], telling `on_progress` what it does: checking the archive, then the
/// bytes of each image sent to the engine.
pub async fn import_any_with_progress(
    engine: &Engine,
    file: &Path,
    on_progress: crate::engine::OnProgress<'_>,
) -> Result<ImportReport> {
    on_progress(crate::engine::Progress::Status {
        text: "checking every blob's digest".to_string(),
    });
    let temp = tempfile::Builder::new()
        .prefix("pocket-dock-import-")
        .tempdir()
        .map_err(|source| ImageError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let (source, dir) = (file.to_path_buf(), temp.path().to_path_buf());
    let unpacked = tokio::task::spawn_blocking(move || bundle::unpack(&source, &dir))
        .await
        .map_err(|e| crate::Error::task("bundle", e))??;
    if !unpacked.is_bundle {
        drop(temp);
        let single = import_with_progress(engine, file, on_progress).await?;
        return Ok(ImportReport {
            file: file.to_path_buf(),
            bundle: false,
            images: vec![ImportedImage {
                names: single.names.clone(),
                id: single.id.clone(),
            }],
            verified: true,
            blobs: single.archive.blobs,
            bytes: single.archive.bytes,
            single: Some(single),
        });
    }
    let mut images = Vec::new();
    for (n, (image, names)) in unpacked.images.iter().enumerate() {
        let part = temp.path().join(format!("image-{n}.tar"));
        let (dir, one, name, out) = (
            temp.path().to_path_buf(),
            image.clone(),
            names.first().cloned(),
            part.clone(),
        );
        tokio::task::spawn_blocking(move || {
            bundle::single_image_archive(&dir, &one, name.as_deref(), &out)
        })
        .await
        .map_err(|e| crate::Error::task("bundle", e))??;
        tracing::info!(image = names.first().map_or("", String::as_str), "loading");
        // With Docker's manifest.json beside the OCI index: every engine loads it.
        engine
            .load_image_file_with_progress(&part, true, on_progress)
            .await?;
        let _ = std::fs::remove_file(&part);
        let loaded = engine.inspect_image(&image.image_id).await?;
        if !same_id(&loaded.id, &image.image_id) {
            return Err(ImageError::IdMismatch {
                path: file.to_path_buf(),
                loaded: loaded.id,
                claimed: image.image_id.clone(),
            }
            .into());
        }
        for name in names {
            if !loaded.repo_tags.contains(name) {
                engine.tag_image(&loaded.id, name).await?;
            }
        }
        images.push(ImportedImage {
            names: names.clone(),
            id: loaded.id,
        });
    }
    Ok(ImportReport {
        file: file.to_path_buf(),
        bundle: true,
        images,
        verified: true,
        blobs: unpacked.blobs,
        bytes: unpacked.bytes,
        single: None,
    })
}

fn same_id(a: &str, b: &str) -> bool {
    a.trim_start_matches("sha256:") == b.trim_start_matches("sha256:")
}
