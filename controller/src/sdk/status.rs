//! `get`: every object of the workspace, desired against actual, with its status.

use pocket_dock_spec::{Diagnostic, Kind};

use crate::engine::Engine;
use crate::reconcile::observe::{ImageInputs, observe};
use crate::reconcile::status::StatusFiles;
use crate::reconcile::{Desired, ObjectRow, object_rows};
use crate::store::StoreError;
use crate::workspace::Workspace;
use crate::{Error, Result};

/// `sandbox`, `Sandbox/web`, `sandboxes`: a kind, and maybe a name (what `get`, `delete`
/// and `wait` are given).
pub fn parse_target(target: &str) -> Result<(Kind, Option<String>)> {
    crate::key::parse_kind_and_name(target).map_err(|kind| {
        Error::argument(
            "KIND",
            format!("unknown kind `{kind}`: use sandbox, image, snapshot, volume or network"),
        )
    })
}

/// The table `get` prints, and what keeps it from being the whole truth.
#[derive(Debug)]
pub struct StatusView {
    pub rows: Vec<ObjectRow>,
    /// Problems of invalid files: their objects are shown in their last valid version,
    /// which stays in effect, and nothing is pruned until every file is valid.
    pub problems: Vec<Diagnostic>,
    /// Why the last valid versions of broken files could not be read, if they could not.
    pub store_warning: Option<StoreError>,
}

impl Workspace {
    /// Every object (or those `filter` names), desired against actual, with its status
    /// file. Always answers, even with invalid files (their last valid version is shown);
    /// a named object that is neither declared nor running is [`Error::NotDeclared`].
    pub async fn status(
        &self,
        engine: &Engine,
        filter: Option<(Kind, Option<String>)>,
    ) -> Result<StatusView> {
        if let Some((Kind::Template, _)) = &filter {
            return Err(Error::argument(
                "KIND",
                "a template makes no container of its own: `pocket-dock template list` lists \
                 them, `pocket-dock template show NAME` shows what one gives, and `get -o wide` \
                 names each sandbox's template",
            ));
        }
        let (declared, store_warning) = self.load_any();
        let ownership = self.ownership();
        let inputs = ImageInputs::gather(&declared.declarations).await;
        let desired = Desired::from_declarations(&declared.declarations, &ownership, &inputs);
        let mut observed = observe(engine, &ownership, &desired).await?;
        // Sandboxes `pocket-dock pause` holds: their desired state shows `paused`.
        observed.pauses = crate::store::StateStore::open_existing(&self.dir())
            .ok()
            .flatten()
            .and_then(|s| s.pauses().ok())
            .unwrap_or_default();
        // Read without following a symlink, and never a FIFO or device.
        let status_files = StatusFiles::open(&self.dir(), false).ok().flatten();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let rows = object_rows(
            &desired,
            &observed,
            &declared.retained,
            status_files.as_ref(),
            &filter,
            now,
        );
        let mut rows = rows;
        for row in rows.iter_mut().filter(|r| r.kind == Kind::Sandbox) {
            let Some(object) = declared.declarations.get(Kind::Sandbox, &row.name) else {
                continue;
            };
            if let pocket_dock_spec::model::Spec::Sandbox(s) =
                pocket_dock_spec::effective(object, &declared.declarations.settings)
            {
                row.template = s.template;
                row.profile = s
                    .security
                    .and_then(|s| s.profile)
                    .map(|p| p.as_str().to_string());
            }
        }
        if let Some((kind, Some(name))) = &filter
            && rows.is_empty()
        {
            return Err(Error::NotDeclared {
                object: format!("{kind}/{name}"),
                problem: "is not declared and not running in this workspace".to_string(),
            });
        }
        Ok(StatusView {
            rows,
            problems: declared.problems,
            store_warning,
        })
    }
}
