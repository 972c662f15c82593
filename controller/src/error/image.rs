//! Why an image cannot be made, found, exported or imported.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} now resolves to {}: a symlink was put in its way after it was checked",
        path.display(),
        resolved.display()
    )]
    NoLongerCanonical { path: PathBuf, resolved: PathBuf },
    #[error("{} is a symlink, which a build never follows", path.display())]
    Symlink { path: PathBuf },
    #[error("{} is not a regular file", path.display())]
    NotRegularFile { path: PathBuf },
    #[error("{} is outside the workspace {}", path.display(), root.display())]
    OutsideWorkspace { path: PathBuf, root: PathBuf },
    #[error("{} changed while the build context was read", path.display())]
    FileChanged { path: PathBuf },
    #[error("no Containerfile or Dockerfile in {}; set build.containerfile", context.display())]
    NoContainerfile { context: PathBuf },
    #[error("{} has no FROM instruction for build.from to replace", path.display())]
    NoFrom { path: PathBuf },
    #[error(
        "the embedded base image needs Debian's static busybox: {reason}; install it with `apt-get install busybox-static`"
    )]
    NoBusybox { reason: String },
    #[error("{} is not a usable OCI archive: {reason}", path.display())]
    InvalidArchive { path: PathBuf, reason: String },
    #[error(
        "{} loaded as image {loaded} but its archive names {claimed}; the archive is not what it claims",
        path.display()
    )]
    IdMismatch {
        path: PathBuf,
        loaded: String,
        claimed: String,
    },
    #[error("{image} is not present yet; run `pocket-dock apply` first")]
    NotPresent { image: String },
    #[error("{image} was pulled, not made by pocket-dock; export it with `podman save` instead")]
    Pulled { image: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A pull secret or auth file that cannot be used. `reason` never quotes the file.
    #[error("{origin}: {reason}")]
    PullSecret { origin: String, reason: String },
    #[error("{} is corrupt: blob {blob} has digest {actual}", path.display())]
    DigestMismatch {
        path: PathBuf,
        blob: String,
        actual: String,
    },
}

impl ImageError {
    /// Image errors are about what the caller gave (a build context, an archive, a name):
    /// nothing was changed. Writing an archive is the exception: the disk said no.
    pub fn category(&self) -> crate::Category {
        match self {
            ImageError::Write { .. } => crate::Category::Storage,
            _ => crate::Category::InvalidInput,
        }
    }
}
