//! Moving images without a registry: OCI archives out ([`export`]) and in ([`import`]),
//! each checked end to end. These talk to the engine; the archive checks themselves are
//! in [`super::archive`].

use std::path::{Path, PathBuf};

use super::ImageError;
use super::archive::{self, ArchiveInfo};
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

/// Writes image `tag` (present, made by pocket-dock) to an OCI archive at `file`, then
/// reads the archive back to report (and so check) what it holds.
pub async fn export(engine: &Engine, tag: &str, file: &Path) -> Result<Exported> {
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
    engine.export_image(tag, file).await?;
    let archive = archive::inspect(file)?;
    Ok(Exported {
        image: tag.to_string(),
        file: file.to_path_buf(),
        archive,
    })
}

/// Loads an OCI archive after checking it whole (every blob's digest), then checks that
/// the engine gave the image the id the archive names. A corrupt or foreign archive is
/// refused before the engine sees it.
pub async fn import(engine: &Engine, file: &Path) -> Result<Imported> {
    let info = archive::inspect(file)?;
    let names = engine.load_image_file(file, info.docker_manifest).await?;
    let loaded = engine.inspect_image(&info.image_id).await?;
    let same =
        |a: &str, b: &str| a.trim_start_matches("sha256:") == b.trim_start_matches("sha256:");
    if !same(&loaded.id, &info.image_id) {
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
