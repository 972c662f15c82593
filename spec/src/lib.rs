//! pocket-dock's desired-state model: the resource kinds users declare under `.pocket-dock/`.
//!
//! Everything in this crate is pure and synchronous: no I/O beyond reading files, no Podman.

pub mod duration;
pub mod kind;

pub use duration::{DurationParseError, parse_duration};
pub use kind::Kind;
