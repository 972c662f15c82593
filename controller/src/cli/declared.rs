//! The step every declarative command starts with: find the workspace, load it, and stop
//! (exit 2, nothing touched) when any document is invalid.

use pocket_dock::workspace::Workspace;
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::{Declarations, load};

use super::{GlobalArgs, OutputFormat};

pub enum Loaded {
    Valid(Workspace, Declarations),
    /// Diagnostics were printed; exit with this code.
    Invalid(u8),
}

pub fn load_valid(global: &GlobalArgs) -> Result<Loaded, Error> {
    let workspace = global.declared_workspace()?;
    let loaded = load(&workspace.root);
    if loaded.is_valid() {
        return Ok(Loaded::Valid(workspace, loaded.declarations));
    }
    match global.output {
        OutputFormat::Text => {
            for d in &loaded.diagnostics {
                err!("{d}");
            }
            err!(
                "invalid: {} problem{}; nothing was changed (see `pocket-dock validate`)",
                loaded.diagnostics.len(),
                if loaded.diagnostics.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
        }
        _ => {
            let value = serde_json::json!({ "valid": false, "diagnostics": loaded.diagnostics });
            out!("{value}");
        }
    }
    Ok(Loaded::Invalid(ExitCode::InvalidInput.code()))
}
