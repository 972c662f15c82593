//! Images pocket-dock makes itself: build contexts and their content hashes, `build.from`
//! Containerfile edits, the embedded base image, OCI archive checks, and the names (tags)
//! every image of a workspace gets (file reads only), plus moving images in and out as
//! OCI archives ([`export`], [`import`], which talk to the engine).

pub mod archive;
pub mod containerfile;
pub mod context;
pub mod embedded;
mod ignore;
mod nofollow;
mod transfer;

use crate::engine::Ownership;
pub use crate::error::ImageError;

pub use context::{BuildRecipe, PreparedBuild};
pub use transfer::{Exported, Imported, export, import, made_by_pocket_dock};

pub(crate) fn hex(bytes: &[u8]) -> String {
    crate::engine::labels::hex(bytes)
}

/// Image repositories of a workspace: `localhost/pocket-dock/<workspace id>/<object name>`.
pub fn repository(ownership: &Ownership, name: &str) -> String {
    format!("localhost/pocket-dock/{}/{name}", ownership.workspace)
}

/// The tag of a build: the first 16 hex digits of its content hash.
pub fn build_tag(ownership: &Ownership, name: &str, content_hash: &str) -> String {
    format!(
        "{}:{}",
        repository(ownership, name),
        &content_hash[..16.min(content_hash.len())]
    )
}

/// The tag of a snapshot generation.
pub fn snapshot_tag(ownership: &Ownership, name: &str, generation: u64) -> String {
    format!("{}:gen-{generation}", repository(ownership, name))
}

/// Splits `repository:tag` (the tag after the last `:` that follows the last `/`).
pub fn split_tag(reference: &str) -> (&str, &str) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], &reference[slash + i + 1..]),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::WorkspaceId;

    #[test]
    fn tags_are_per_workspace_and_content() {
        let own = Ownership::new(WorkspaceId::new("0123456789ab"));
        assert_eq!(
            build_tag(&own, "step-1", "ffeeddccbbaa99887766"),
            "localhost/pocket-dock/0123456789ab/step-1:ffeeddccbbaa9988"
        );
        assert_eq!(
            snapshot_tag(&own, "snap", 3),
            "localhost/pocket-dock/0123456789ab/snap:gen-3"
        );
        assert_eq!(
            split_tag("localhost:5000/a/b:gen-3"),
            ("localhost:5000/a/b", "gen-3")
        );
        assert_eq!(
            split_tag("localhost:5000/a"),
            ("localhost:5000/a", "latest")
        );
    }
}
