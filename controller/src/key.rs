//! An object's identity, as the reconciler, the controller's queue and the declarations
//! all name it.

use std::fmt;

use pocket_dock_spec::Kind;

/// An object's identity: kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Key {
    pub kind: Kind,
    pub name: String,
}

impl Key {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        Key {
            kind,
            name: name.into(),
        }
    }
}

/// `KIND[/NAME]` as commands take it: the kind in any case, singular or plural
/// (`sandbox/web`, `Sandboxes`, `networks/backend`). `Err` is the unknown kind as written.
pub fn parse_kind_and_name(target: &str) -> Result<(Kind, Option<String>), String> {
    let (kind, name) = match target.split_once('/') {
        Some((k, n)) => (k, Some(n.to_string())),
        None => (target, None),
    };
    let lower = kind.to_lowercase();
    let singular = lower
        .strip_suffix("es")
        .filter(|s| s.ends_with('x'))
        .or_else(|| lower.strip_suffix('s'))
        .unwrap_or(&lower);
    pocket_dock_spec::schema::DECLARABLE
        .iter()
        .find(|k| k.as_str().to_lowercase() == singular || k.as_str().to_lowercase() == lower)
        .map(|k| (*k, name))
        .ok_or_else(|| kind.to_string())
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}
