//! pocket-dock's desired-state model: the resource kinds users declare under `.pocket-dock/`,
//! loading them with precise diagnostics, the canonical spec hash, and the JSON Schemas.
//!
//! Everything in this crate is pure and synchronous: it reads files, never Podman.

mod breakage;
pub mod crd;
pub mod diagnostic;
pub mod duration;
pub mod egress;
pub mod explain;
pub mod hash;
pub mod kind;
pub mod load;
pub mod locked;
pub mod migrate;
pub mod model;
pub mod pool;
pub mod quantity;
pub mod reference;
pub mod schema;
mod structure;
pub mod template;
mod validate;
pub mod yaml;
mod yaml_out;

pub use diagnostic::Diagnostic;
pub use duration::{DurationParseError, parse_duration};
#[expect(
    deprecated,
    reason = "the old name stays exported for the deprecation period (docs/versioning.md)"
)]
pub use hash::spec_hash;
pub use hash::{container_spec, container_spec_hash, document_hash, effective};
pub use kind::Kind;
pub use load::{
    Declarations, KnownElsewhere, Loaded, Object, ResolvedPaths, Source, load, load_with,
};
pub use validate::{PROTECTED_FOLDERS, dns_label_problem, reference_problem, secret_name_problem};
pub use yaml_out::to_yaml;
