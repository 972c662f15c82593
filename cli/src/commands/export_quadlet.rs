//! `pocket-dock export quadlet --out DIR`: prints what `pocket_dock::export::quadlet` wrote
//! and what it could not carry over.

use std::path::PathBuf;

use clap::Args;
use pocket_dock::ExitCode;
use pocket_dock::export::quadlet;
use serde_json::json;

use super::declared::invalid_or_err;
use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, Args)]
pub struct QuadletArgs {
    /// The folder to write the units into (created when missing), e.g.
    /// ~/.config/containers/systemd or /etc/containers/systemd. Files in it that this
    /// command did not write are never replaced or removed.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn quadlet(global: &GlobalArgs, args: QuadletArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let (export, written) = match quadlet::export(&workspace, &args.out) {
        Ok(done) => done,
        Err(e) => return invalid_or_err(global, e, "nothing was written"),
    };
    match global.output {
        OutputFormat::Text | OutputFormat::Wide => {
            for path in &written {
                out!("wrote {}", path.display());
            }
            for w in &export.warnings {
                err!("warning: {} {}: {}", w.object, w.field, w.message);
            }
            out!(
                "next: `systemctl --user daemon-reload` (or `systemctl daemon-reload` for \
                 /etc/containers/systemd), then `systemctl start NAME` for each sandbox"
            );
        }
        format => emit(
            &json!({
                "written": written,
                "units": export.units.iter().map(|u| &u.file).collect::<Vec<_>>(),
                "warnings": export.warnings,
            }),
            format,
        ),
    }
    Ok(ExitCode::Success.code())
}
