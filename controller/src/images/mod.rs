//! Images pocket-dock makes itself: build contexts and their content hashes, `build.from`
//! Containerfile edits, the embedded base image, OCI archive checks, and the names (tags)
//! every image of a workspace gets (file reads only), plus moving images in and out as
//! OCI archives ([`export`], [`import`], which talk to the engine).

pub mod archive;
pub mod bundle;
pub mod containerfile;
pub mod context;
pub mod embedded;
mod ignore;
mod nofollow;
mod transfer;

pub use crate::error::ImageError;

pub use context::{BuildRecipe, PreparedBuild};
pub use transfer::{
    BundleEntry, Exported, ImportReport, Imported, ImportedImage, export, export_bundle, import,
    import_any, import_any_with_progress, import_with_progress, made_by_pocket_dock,
};

pub(crate) fn hex(bytes: &[u8]) -> String {
    crate::engine::labels::hex(bytes)
}

pub use crate::engine::image_names::{
    Claim, PORTABLE_IMAGES, PORTABLE_SNAPSHOTS, build_tag, claim, claimants, portable_build_tag,
    portable_snapshot_tag, repository, snapshot_tag, split_tag,
};
