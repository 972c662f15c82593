//! Loading a workspace's declarations: every document, with the last valid version of
//! files that are broken now (for showing), or only when every file is valid (for acting).

use pocket_dock_spec::Declarations;

use crate::Error;
use crate::declared::{Declared, LastValid};
use crate::store::{StateStore, StoreError};
use crate::workspace::Workspace;

/// Declarations that passed every check. Only [`Workspace::load`] makes one, so what is
/// applied is always what was validated.
#[derive(Debug, Clone)]
pub struct Valid {
    declared: Declared,
}

impl Valid {
    pub fn declarations(&self) -> &Declarations {
        &self.declared.declarations
    }

    /// Whether the files are known to be all of them (a folder that could not be listed,
    /// or a file list cut at its limit, makes the picture incomplete: nothing is pruned).
    pub fn complete(&self) -> bool {
        self.declared.declarations.complete
    }

    pub fn into_declared(self) -> Declared {
        self.declared
    }
}

impl Workspace {
    /// Every document under `.pocket-dock/`, validated: the declarations, or every
    /// diagnostic ([`Error::Invalid`], file:line for each) when any document is invalid.
    pub fn load(&self) -> Result<Valid, Error> {
        let declared = self.load_any().0;
        if declared.is_valid() {
            Ok(Valid { declared })
        } else {
            Err(Error::Invalid {
                diagnostics: declared.problems,
            })
        }
    }

    /// The workspace whatever its state: a broken file in its last valid version (which
    /// stays in effect), its problems listed. For commands that show, never for acting.
    /// The warning says why last valid versions could not be read, when they could not.
    pub fn load_any(&self) -> (Declared, Option<StoreError>) {
        let declared = Declared::load(&self.root, &LastValid::default());
        if declared.is_valid() {
            // Every file is valid: what was valid before does not matter.
            return (declared, None);
        }
        let (previous, warning) = match self.last_valid() {
            Ok(previous) => (previous, None),
            Err(e) => (LastValid::default(), Some(e)),
        };
        if previous.files.is_empty() {
            return (declared, warning);
        }
        (Declared::load(&self.root, &previous), warning)
    }

    /// The last valid declarations remembered in the state store (none without a store).
    pub fn last_valid(&self) -> Result<LastValid, StoreError> {
        let store = StateStore::open_existing(&self.dir())?;
        Ok(store
            .map(|s| s.last_valid())
            .transpose()?
            .unwrap_or_default())
    }
}
