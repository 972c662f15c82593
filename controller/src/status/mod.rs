//! Status as data: the typed shape of status files ([`types`]), and the rows `get` shows
//! ([`rows`]). Writing status files is the reconciler's (`reconcile::status`).

pub mod rows;
pub mod types;

pub use rows::{ObjectRow, object_rows};
pub use types::{
    Condition, ConditionStatus, ConditionType, LastError, Metadata, Phase, Reason, SnapshotRecord,
    Status, WorkspaceStatusFile,
};
