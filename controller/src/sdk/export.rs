//! `Workspace::export_kube`: the workspace's declarations as Kubernetes manifests.

use std::path::Path;

use crate::export::kube::{self, KubeExport};
use crate::owned_files::OwnedDir;
use crate::reconcile::Desired;
use crate::reconcile::observe::ImageInputs;
use crate::workspace::Workspace;
use crate::{Error, Result};

impl Workspace {
    /// Kubernetes manifests for the declarations (which must be valid: [`crate::Error::Invalid`]
    /// otherwise), with a warning for every field they cannot express. Reads the build
    /// contexts to name built images; reads no secret, asks no engine and changes nothing.
    pub async fn export_kube(&self) -> Result<KubeExport> {
        let valid = self.load()?;
        let inputs = ImageInputs::gather_images(valid.declarations()).await;
        let desired = Desired::from_declarations(valid.declarations(), &self.ownership(), &inputs);
        let images = kube::image_names(&desired);
        Ok(kube::export(valid.declarations(), &images))
    }
}

/// Writes an export to `path` (a file the user named) atomically: a temp file beside it,
/// synced and renamed over it. An existing regular file is replaced; a symlink (or anything
/// but a regular file) at `path` is refused, never followed.
pub fn write_export(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::argument("--out", format!("{} names no file", path.display())))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // The folder may be reached through symlinks (the user named it); the file may not.
    let folder = parent
        .canonicalize()
        .map_err(|e| Error::file("open", parent, e))?;
    let dir = OwnedDir::open(&folder).map_err(|e| Error::file("open", &folder, e))?;
    dir.write_atomic(name, bytes, |_| true)
        .map_err(|e| Error::file("write", path, e))
}
