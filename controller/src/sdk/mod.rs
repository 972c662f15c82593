//! What a [`Workspace`](crate::Workspace) can do: every command's behaviour as one call.
//! The CLI makes exactly these calls; so can any Rust program.

mod export;
pub mod fork;
mod images;
pub mod init;
mod load;
pub mod migrate;
mod ops;
pub mod pause;
mod pool;
pub mod reset;
pub mod snapshot;
mod status;
mod templates;

pub use export::write_export;
pub use fork::{ForkFile, ForkReport, ForkRequest, SharedMounts};
pub use images::{ImageInfo, ImageOrigin, ObjectImage, PushCredentials};
pub use load::Valid;
pub use migrate::{MigrateReport, MigrateRequest, MigratedFile};
pub use ops::{DeleteReport, DeleteRequest, GcOutcome, Removed, Validation};
pub use pause::PauseReport;
pub use pool::{Pool, PoolStatus};
pub use reset::{ResetReport, ResetRequest};
pub use snapshot::{SnapshotFile, SnapshotReport, SnapshotRequest};
pub use status::{StatusView, parse_target};
pub use templates::{TemplateList, TemplateView};
