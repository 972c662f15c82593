//! Rewrite a workspace's documents to the newest `apiVersion` from Rust, as `pocket-dock
//! migrate` does: comments, order and formatting kept, all or nothing. With `--check`,
//! only list the files that would change (and exit 1 if there are any).
//!
//! ```sh
//! cargo run -p pocket-dock --example migrate -- examples/workspaces/basic --check
//! ```

use std::path::Path;

use pocket_dock::{Error, MigrateReport, MigrateRequest, Workspace};

pub fn run(root: &Path, check: bool) -> Result<MigrateReport, Error> {
    let workspace = Workspace::open(root)?;
    let report = workspace.migrate(&MigrateRequest {
        check,
        ..MigrateRequest::default()
    })?;
    for file in report.files.iter().filter(|f| !f.changes.is_empty()) {
        for change in &file.changes {
            println!(
                "{}:{}: {} {} -> {}{}",
                file.file.display(),
                change.line,
                change.field,
                change.from,
                change.to,
                if file.written { "" } else { " (not written)" }
            );
        }
    }
    println!(
        "{} of {} files {} {}",
        report.changed,
        report.files.len(),
        if check { "would move to" } else { "moved to" },
        report.api_version
    );
    Ok(report)
}

#[allow(dead_code)]
fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let check = args.next().is_some_and(|a| a == "--check");
    if run(Path::new(&root), check)?.pending() {
        std::process::exit(1);
    }
    Ok(())
}
