//! pocket-dock: a Kubernetes-style reconciling controller for local Podman containers.
//!
//! The library holds everything; the `pocket-dock` binary is a thin CLI over it.
//! Start with [`engine`] (talking to Podman), [`run`] (ephemeral sandboxes) and
//! [`doctor`] (diagnosing the setup).

pub mod controller;
pub mod declared;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod gc;
pub mod images;
pub mod key;
pub mod lease;
pub mod owned_files;
pub mod procs;
pub mod reconcile;
pub mod requirements;
pub mod run;
pub mod sandbox;
pub mod status;
pub mod store;
pub mod timefmt;
pub mod wait;
pub mod workspace;
pub mod writer_lock;
pub mod yaml_out;

pub use error::{Error, ExitCode};
