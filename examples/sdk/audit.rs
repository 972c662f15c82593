//! Verify the event log from Rust: check its hash chains, print the first row that breaks
//! them (if any), and the head to keep somewhere the file's owner cannot write; with a head
//! kept earlier, check that it is still in the log, unchanged.
//!
//! ```sh
//! cargo run -p pocket-dock --example audit -- examples/workspaces/basic [ROW:SHA256]
//! ```

use std::path::Path;

use pocket_dock::store::{AuditHead, AuditReport};
use pocket_dock::{Error, Workspace};

pub fn run(root: &Path, expected_head: Option<&AuditHead>) -> Result<Option<AuditReport>, Error> {
    let workspace = Workspace::open(root)?;
    // `None`: no state store, nothing ever recorded (and none is created).
    let Some(report) = workspace.audit_verify(expected_head)? else {
        println!("no event log: nothing to verify");
        return Ok(None);
    };
    match report.first_problem() {
        None => println!(
            "{} rows hold, {} checkpoints",
            report.rows, report.checkpoints
        ),
        Some(problem) => println!(
            "broken at row {} ({}): {}",
            problem.row,
            problem.kind.as_str(),
            problem.message
        ),
    }
    if let Some(head) = &report.head {
        println!("head {}:{}", head.id, head.hash);
    }
    if let Some(check) = &report.expected_head {
        println!("expected head row {}: {:?}", check.id, check.result);
    }
    Ok(Some(report))
}

#[allow(dead_code)]
fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let expected = match args.next() {
        Some(head) => Some(
            head.parse::<AuditHead>()
                .map_err(|problem| Error::argument("ROW:SHA256", problem))?,
        ),
        None => None,
    };
    let report = run(Path::new(&root), expected.as_ref())?;
    // The exit code `audit verify` gives: 4 when a row is named.
    if let Some(category) = report.as_ref().and_then(AuditReport::category) {
        std::process::exit(i32::from(category.exit_code().code()));
    }
    Ok(())
}
