//! The resource kinds pocket-dock knows about.

use std::fmt;
use std::str::FromStr;

/// A resource kind, spelled as in a document's `kind:` field and in the
/// `pocket-dock.dev/kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Kind {
    Sandbox,
    Image,
    Snapshot,
    Volume,
    Network,
    Workspace,
    /// A reusable sandbox shape (`spec.template` of a Sandbox); makes no container.
    Template,
    /// A warm pool of sandboxes made from a template (`pocket-dock claim` hands one over).
    /// Its members' containers carry this kind.
    Pool,
    /// An ephemeral sandbox made by `pocket-dock run`; never declared in YAML, so the
    /// reconciler never prunes it.
    Run,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Sandbox,
        Kind::Image,
        Kind::Snapshot,
        Kind::Volume,
        Kind::Network,
        Kind::Workspace,
        Kind::Template,
        Kind::Pool,
        Kind::Run,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sandbox => "Sandbox",
            Kind::Image => "Image",
            Kind::Snapshot => "Snapshot",
            Kind::Volume => "Volume",
            Kind::Network => "Network",
            Kind::Workspace => "Workspace",
            Kind::Template => "Template",
            Kind::Pool => "Pool",
            Kind::Run => "Run",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given is not a known kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind `{0}`")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert_eq!(
            "sandbox".parse::<Kind>(),
            Err(UnknownKind("sandbox".into()))
        );
    }
}
