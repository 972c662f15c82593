//! The names pocket-dock gives images (pure; re-exported as `images::…`).
//!
//! An image has two kinds of name:
//! - its **portable** name, which depends on its content and inputs only:
//!   `localhost/pocket-dock/images/<name>:<16 hex of the content hash>` for a build, and
//!   `localhost/pocket-dock/snapshots/<name>:gen-<N>` for a snapshot in a bundle. Two
//!   checkouts of one repository, at any paths, on any machine, name a build the same; a
//!   bundle carries these names.
//! - one **workspace name** per workspace that uses it:
//!   `localhost/pocket-dock/<workspace id>/<name>:<tag>` (the scheme of earlier versions, so
//!   their images are found under the same names). Containers are created from it.
//!
//! A workspace's names on an image are its claim: an image belongs to every workspace that
//! has a name on it (and carries `pocket-dock.dev/managed-by`), pruning removes only the
//! pruning workspace's names, and a portable name goes only once no workspace has a name on
//! the image. The workspace is not an image label: a label is part of the image's config,
//! so it would make the image id depend on the checkout.

use std::collections::BTreeSet;

use super::Ownership;

/// Every name pocket-dock gives an image starts with this.
pub const PREFIX: &str = "localhost/pocket-dock/";
/// Portable names of builds.
pub const PORTABLE_IMAGES: &str = "localhost/pocket-dock/images/";
/// Portable names of snapshots (given in bundles; see [`portable_snapshot_tag`]).
pub const PORTABLE_SNAPSHOTS: &str = "localhost/pocket-dock/snapshots/";

/// A workspace's image repository: `localhost/pocket-dock/<workspace id>/<object name>`.
pub fn repository(ownership: &Ownership, name: &str) -> String {
    format!("{PREFIX}{}/{name}", ownership.workspace)
}

fn short(content_hash: &str) -> &str {
    &content_hash[..16.min(content_hash.len())]
}

/// A workspace's name for a build: the first 16 hex digits of its content hash as the tag.
pub fn build_tag(ownership: &Ownership, name: &str, content_hash: &str) -> String {
    format!("{}:{}", repository(ownership, name), short(content_hash))
}

/// A build's portable name: the same in every checkout.
pub fn portable_build_tag(name: &str, content_hash: &str) -> String {
    format!("{PORTABLE_IMAGES}{name}:{}", short(content_hash))
}

/// A workspace's name for a snapshot generation.
pub fn snapshot_tag(ownership: &Ownership, name: &str, generation: u64) -> String {
    format!("{}:gen-{generation}", repository(ownership, name))
}

/// A snapshot generation's portable name. A snapshot is a sandbox's state, not a function
/// of inputs, so commits get only the workspace's name; bundles carry this one, and a
/// workspace takes an image under it only while no workspace has claimed it.
pub fn portable_snapshot_tag(name: &str, generation: u64) -> String {
    format!("{PORTABLE_SNAPSHOTS}{name}:gen-{generation}")
}

/// What a name says about who uses the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// A workspace's name: that workspace (by id) uses the image.
    Workspace(&'a str),
    /// A portable name: nobody in particular.
    Portable,
    /// Anything else (the embedded base, a pulled image, a name a user gave).
    Other,
}

/// Reads a name: whose claim it is.
pub fn claim(reference: &str) -> Claim<'_> {
    let (repository, _) = split_tag(reference);
    let Some(rest) = repository.strip_prefix(PREFIX) else {
        return Claim::Other;
    };
    if rest.starts_with("images/") || rest.starts_with("snapshots/") {
        return Claim::Portable;
    }
    match rest.split_once('/') {
        Some((workspace, name)) if !workspace.is_empty() && !name.is_empty() => {
            Claim::Workspace(workspace)
        }
        _ => Claim::Other,
    }
}

/// The workspaces (ids) with a name among `names`.
pub fn claimants<'a>(names: impl IntoIterator<Item = &'a String>) -> BTreeSet<&'a str> {
    names
        .into_iter()
        .filter_map(|n| match claim(n) {
            Claim::Workspace(id) => Some(id),
            _ => None,
        })
        .collect()
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
    fn workspace_names_keep_the_old_scheme_and_portable_names_leave_the_path_out() {
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
            portable_build_tag("step-1", "ffeeddccbbaa99887766"),
            "localhost/pocket-dock/images/step-1:ffeeddccbbaa9988"
        );
        assert_eq!(
            portable_snapshot_tag("snap", 3),
            "localhost/pocket-dock/snapshots/snap:gen-3"
        );
        // Two checkouts at different paths: different workspace names, one portable name.
        let a = Ownership::for_root(std::path::Path::new("/home/a/workshop"));
        let b = Ownership::for_root(std::path::Path::new("/tmp/elsewhere/workshop"));
        assert_ne!(build_tag(&a, "x", "ab"), build_tag(&b, "x", "ab"));
        assert_eq!(portable_build_tag("x", "ab"), portable_build_tag("x", "ab"));
    }

    #[test]
    fn names_say_whose_claim_they_are() {
        let own = Ownership::new(WorkspaceId::new("0123456789ab"));
        assert_eq!(
            claim(&build_tag(&own, "x", "aa")),
            Claim::Workspace("0123456789ab")
        );
        assert_eq!(claim(&portable_build_tag("x", "aa")), Claim::Portable);
        assert_eq!(claim(&portable_snapshot_tag("x", 1)), Claim::Portable);
        for other in [
            "localhost/pocket-dock/base:v1-abc",
            "docker.io/library/busybox:1",
            "localhost/pocket-dock",
            "localhost/pocket-dock//x:1",
            "busybox",
            "",
        ] {
            assert_eq!(claim(other), Claim::Other, "{other}");
        }
        let names = vec![
            build_tag(&own, "x", "aa"),
            "localhost/pocket-dock/fedcba987654/x:aa".to_string(),
            portable_build_tag("x", "aa"),
        ];
        assert_eq!(
            claimants(&names).into_iter().collect::<Vec<_>>(),
            ["0123456789ab", "fedcba987654"]
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
