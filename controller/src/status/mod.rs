//! Status as data: the typed shape of status files ([`types`]). It imports nothing of the
//! crate's, so the store and the reconciler can both use it. Writing status files is the
//! reconciler's (`reconcile::status`); the rows `get` shows are `reconcile::rows`.

pub mod types;

pub use types::{
    Condition, ConditionStatus, ConditionType, LastError, Metadata, Phase, PortStatus, Reason,
    RestartRecord, SnapshotRecord, Status, WorkspaceStatusFile,
};
