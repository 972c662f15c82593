//! pocket-dock: a Kubernetes-style reconciling controller for local containers.
//!
//! People declare sandboxes, images, snapshots and volumes in YAML under `.pocket-dock/`;
//! pocket-dock diffs that against what the engine (Podman, or Docker) runs and converges
//! with idempotent actions. The `pocket-dock` command is a thin layer over this crate:
//! every command is one call below.
//!
//! # Where to start
//!
//! - [`Engine::from_env`] connects to the engine the environment names.
//! - [`Workspace::open`] finds a workspace; [`Workspace::load`] validates it (every
//!   diagnostic, with file:line, or [`Valid`] declarations); [`Workspace::plan`] says what
//!   would change; [`Workspace::apply`] converges; [`Workspace::delete`] and
//!   [`Workspace::snapshot`] do what their commands do; [`Workspace::migrate`] rewrites
//!   documents to the newest `apiVersion`, keeping comments.
//! - [`sandbox::Sandbox`] works inside a running sandbox: `exec` with output sinks, logs,
//!   and [`sandbox::Session`], a long-lived shell (with a JSON-lines protocol,
//!   [`sandbox::Session::serve_json_lines`]).
//! - [`images`] exports and imports OCI archives; [`run`] runs one command in an ephemeral
//!   sandbox; [`controller`] keeps a workspace converged from file edits and engine events.
//! - Every error is an [`Error`] with a [`Category`]; the exit code follows from it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pocket_dock::Error> {
//! use pocket_dock::{ApplyOptions, Engine, Workspace};
//! let engine = Engine::from_env()?;
//! let workspace = Workspace::open("examples/workspaces/basic")?;
//! let plan = workspace.plan(&engine).await?;
//! println!("{} change(s) pending", plan.actions.len());
//! let report = workspace.apply(&engine, ApplyOptions::default()).await?;
//! assert!(report.converged());
//! # Ok(()) }
//! ```
//!
//! `examples/sdk/` holds one runnable example per feature.

mod category;
pub mod controller;
pub mod declared;
pub mod doctor;
pub mod egress;
pub mod engine;
pub mod error;
pub mod export;
pub mod gc;
pub mod images;
pub mod import;
mod key;
mod lease;
pub mod owned_files;
pub mod pool;
mod procs;
pub mod reconcile;
pub mod registry_auth;
pub mod requirements;
pub mod run;
pub mod sandbox;
pub mod sdk;
pub mod secrets;
pub mod status;
pub mod store;
pub mod text;
mod timefmt;
pub mod wait;
pub mod workspace;
pub mod writer_lock;

pub use category::{Category, ExitCode};
pub use engine::Engine;
pub use error::Error;
pub use key::Key;
pub use reconcile::{ApplyOptions, ApplyReport, NoObserver, Observer, Plan, Selection};
pub use sdk::{
    DeleteReport, DeleteRequest, ForkReport, ForkRequest, MigrateReport, MigrateRequest,
    PauseReport, ResetReport, ResetRequest, SnapshotReport, SnapshotRequest, Valid,
};
pub use workspace::Workspace;

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
