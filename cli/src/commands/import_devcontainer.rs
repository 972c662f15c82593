//! `pocket-dock import devcontainer [PATH]`: prints what
//! `pocket_dock::import::devcontainer` wrote, what it did not carry over, or what it refused.

use std::path::PathBuf;

use clap::Args;
use pocket_dock::import::devcontainer::{self, ImportError};
use pocket_dock::{Error, ExitCode};
use serde_json::json;

use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, Args)]
pub struct DevcontainerArgs {
    /// A devcontainer.json, or a folder holding .devcontainer/devcontainer.json or
    /// .devcontainer.json (default: the workspace root)
    #[arg(value_name = "PATH")]
    path: Option<PathBuf>,
    /// Write devcontainer.yaml into this folder instead of the workspace's .pocket-dock/
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The Sandbox's (and Image's) name (default: from the file's `name`, else
    /// `devcontainer`)
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Replace a devcontainer.yaml that is already there
    #[arg(long)]
    force: bool,
}

pub fn devcontainer(global: &GlobalArgs, args: DevcontainerArgs) -> Outcome {
    let workspace = global.workspace()?;
    let root = workspace.root.clone();
    let file = devcontainer::find(&root, args.path.as_deref())?;
    let out_dir = devcontainer::output_dir(&root, args.out.as_deref())?;
    let result = devcontainer::import(&root, &file, &out_dir, args.name.as_deref(), args.force);
    let (imported, written) = match result {
        Ok(done) => done,
        Err(Error::Import(ImportError::Refused { file, refusals })) => {
            match global.output {
                OutputFormat::Text | OutputFormat::Wide => {
                    for r in &refusals {
                        err!(
                            "{}:{}: refused: {}: {}",
                            file.display(),
                            r.line,
                            r.key,
                            r.reason
                        );
                    }
                    err!(
                        "error: {} key{} refused; nothing was written",
                        refusals.len(),
                        if refusals.len() == 1 { "" } else { "s" }
                    );
                }
                format => {
                    let error = super::report::ErrorObject {
                        category: pocket_dock::Category::InvalidInput,
                        operation: None,
                        command: &global.command,
                        subject: Some(file.display().to_string()),
                        message: format!(
                            "{} key{} refused; nothing was written",
                            refusals.len(),
                            if refusals.len() == 1 { "" } else { "s" }
                        ),
                        hint: None,
                        exit_code: ExitCode::InvalidInput.code(),
                    };
                    emit(
                        &json!({
                            "imported": false,
                            "file": file,
                            "refusals": refusals,
                            "error": error.to_json(),
                        }),
                        format,
                    );
                    super::report::print_error_object(&error);
                }
            }
            return Ok(ExitCode::InvalidInput.code());
        }
        Err(e) => return Err(e),
    };
    let shown = file.strip_prefix(&root).unwrap_or(&file).to_path_buf();
    match global.output {
        OutputFormat::Text | OutputFormat::Wide => {
            for n in &imported.notes {
                err!(
                    "{}:{}: not carried over: {}: {}",
                    shown.display(),
                    n.line,
                    n.key,
                    n.reason
                );
            }
            out!(
                "wrote {} (Image/{name} and Sandbox/{name})",
                written.display(),
                name = imported.sandbox
            );
            out!("next: `pocket-dock validate`, then `pocket-dock apply`");
        }
        format => emit(
            &json!({
                "imported": true,
                "file": shown,
                "written": written,
                "sandbox": imported.sandbox,
                "notCarriedOver": imported.notes,
            }),
            format,
        ),
    }
    Ok(ExitCode::Success.code())
}
