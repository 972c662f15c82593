//! The step every declarative command starts with: find the workspace, load it (with the
//! last valid version of files that are broken now, for commands that only show), and stop
//! (exit 2, nothing touched) when any document is invalid.

use pocket_dock::declared::{Declared, LastValid};
use pocket_dock::store::StateStore;
use pocket_dock::workspace::{DIR_NAME, Workspace};
use pocket_dock::writer_lock::WriterLock;
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::Diagnostic;

use super::{GlobalArgs, OutputFormat};

pub enum Loaded {
    Valid(Workspace, Box<Declared>),
    /// Diagnostics were printed; exit with this code.
    Invalid(u8),
}

/// The last valid declarations remembered in the state store. Only looked up for a broken
/// file, so a store that cannot be read is a warning, not a stop: the broken file simply
/// declares nothing (and the load is reported invalid anyway).
pub fn last_valid(workspace: &Workspace) -> LastValid {
    let read = StateStore::open_existing(&workspace.root.join(DIR_NAME))
        .and_then(|store| store.map(|s| s.last_valid()).transpose());
    match read {
        Ok(last_valid) => last_valid.unwrap_or_default(),
        Err(e) => {
            let hint = e.hint().map(|h| format!("; {h}")).unwrap_or_default();
            err!("warning: {e}; the last valid versions of broken files are not used{hint}");
            LastValid::default()
        }
    }
}

/// Loads the workspace, whatever its state: a broken file in its last valid version.
pub fn load_any(global: &GlobalArgs) -> Result<(Workspace, Declared), Error> {
    let workspace = global.declared_workspace()?;
    let declared = load_at(&workspace);
    Ok((workspace, declared))
}

fn load_at(workspace: &Workspace) -> Declared {
    let declared = Declared::load(&workspace.root, &LastValid::default());
    if declared.is_valid() {
        // Every file is valid: what was valid before does not matter.
        return declared;
    }
    let previous = last_valid(workspace);
    if previous.files.is_empty() {
        return declared;
    }
    Declared::load(&workspace.root, &previous)
}

/// Loads the workspace and insists that every file is valid.
pub fn load_valid(global: &GlobalArgs) -> Result<Loaded, Error> {
    let workspace = global.declared_workspace()?;
    Ok(load_valid_at(global, workspace))
}

/// [`load_valid`] of a workspace found already (a writer finds it, takes the lock, then
/// loads: what it acts on is what the files say once no one else writes).
pub fn load_valid_at(global: &GlobalArgs, workspace: Workspace) -> Loaded {
    let declared = load_at(&workspace);
    if declared.is_valid() {
        return Loaded::Valid(workspace, Box::new(declared));
    }
    print_problems(
        &declared.problems,
        global.output,
        "nothing was changed",
        Stream::Stdout,
    );
    Loaded::Invalid(ExitCode::InvalidInput.code())
}

/// Takes the workspace's writer lock as `role`, saying (in text mode) whom it waits for.
pub async fn lock_writer(
    global: &GlobalArgs,
    workspace: &Workspace,
    role: &str,
    deadline: Option<std::time::Instant>,
) -> Result<WriterLock, Error> {
    let format = global.output;
    Ok(
        WriterLock::acquire(&workspace.root.join(DIR_NAME), role, deadline, |holder| {
            if format == OutputFormat::Text {
                err!("waiting for {holder} to finish writing to this workspace...");
            }
        })
        .await?,
    )
}

/// Where machine-readable problems go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Prints problems: text lines on stderr, or one JSON object on `json_to` (json, yaml).
pub fn print_problems(
    problems: &[Diagnostic],
    format: OutputFormat,
    consequence: &str,
    json_to: Stream,
) {
    match format {
        OutputFormat::Text => {
            for d in problems {
                err!("{d}");
            }
            err!(
                "invalid: {} problem{}; {consequence} (see `pocket-dock validate`)",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
        }
        _ => {
            let value = serde_json::json!({ "valid": false, "diagnostics": problems });
            match json_to {
                Stream::Stdout => out!("{value}"),
                Stream::Stderr => err!("{value}"),
            }
        }
    }
}
