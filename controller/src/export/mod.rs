//! Exports of a workspace's declarations into other tools' formats. Pure: the caller loads
//! and validates the declarations and names each `Image`/`Snapshot` object's image
//! ([`ImageNames`]); nothing here reads a file or asks an engine.
//!
//! Whatever a format cannot express is an [`ExportWarning`] that names the object and the
//! field, never a silent drop.

pub mod kube;
pub mod quadlet;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use pocket_dock_spec::Object;
use serde::Serialize;

use crate::Key;

/// The image each `Image` or `Snapshot` object stands for outside pocket-dock, by object.
pub type ImageNames = BTreeMap<Key, ExportImage>;

/// An `Image` or `Snapshot` object's image as an export names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportImage {
    /// The reference to run: a pull reference, a build's or snapshot's portable name
    /// (`localhost/pocket-dock/images/<name>:<hash>`), or the embedded base's tag.
    pub reference: String,
    /// Why another machine cannot simply pull it (built or made here), when it cannot.
    pub local_only: Option<String>,
}

/// Something an export could not carry over: the object, the field (a path in the
/// object, e.g. `spec.dependsOn`) and why, with the file and line that declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportWarning {
    /// `Sandbox/web`.
    pub object: String,
    /// Relative to the workspace root.
    pub file: PathBuf,
    pub line: u32,
    /// The field path, e.g. `spec.dependsOn`.
    pub field: String,
    pub message: String,
}

impl ExportWarning {
    pub(crate) fn new(
        object: &Object,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ExportWarning {
            object: format!("{}/{}", object.kind.as_str(), object.metadata.name),
            file: object.source.file.clone(),
            line: object.source.line,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ExportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} {}: {}",
            self.file.display(),
            self.line,
            self.object,
            self.field,
            self.message
        )
    }
}
