//! `pocket-dock audit verify`: checks the event log's hash chains (docs/security-audit.md).

use clap::{Args, Subcommand};
use pocket_dock::ExitCode;
use pocket_dock::store::{AuditHead, AuditReport, FILE_NAME, HeadResult};
use pocket_dock::workspace::DIR_NAME;

use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, Args)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the event log's hash chains: name the first row that was changed, deleted or
    /// reordered (exit 4), else print the head hash to keep elsewhere
    #[command(after_help = VERIFY_HELP)]
    Verify {
        /// A head printed by an earlier verify (ROW:SHA256), kept where the file's owner
        /// cannot write: that row must still be in the log with that hash (exit 4 if not)
        #[arg(long, value_name = "ROW:SHA256")]
        expect_head: Option<AuditHead>,
    },
}

const VERIFY_HELP: &str = "Every row of the event log holds the SHA-256 of its content and of the row before it; \
     retention's trims leave checkpoints. This detects edits, deletions and reordering by \
     anything but pocket-dock, not a rewrite of the whole chain by whoever owns the file: to \
     detect that, keep the head (`--output json`: head.id and head.hash) somewhere the file's \
     owner cannot write, and check it later with --expect-head ROW:SHA256. Exit 0: the chains hold (an absent or empty log too); \
     4: a row is named.";

pub fn audit(global: &GlobalArgs, args: AuditArgs) -> Outcome {
    match args.command {
        AuditCommand::Verify { expect_head } => verify(global, expect_head.as_ref()),
    }
}

fn verify(global: &GlobalArgs, expect_head: Option<&AuditHead>) -> Outcome {
    let workspace = global.workspace()?;
    let store = workspace.dir().join(FILE_NAME);
    let report = workspace.audit_verify(expect_head)?;
    let code = report
        .as_ref()
        .and_then(AuditReport::category)
        .map_or(ExitCode::Success, |c| c.exit_code());
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let mut value = match &report {
                Some(report) => serde_json::to_value(report).unwrap_or_default(),
                None => serde_json::json!({
                    "rows": 0,
                    "first_id": null,
                    "last_id": null,
                    "checkpoints": 0,
                    "head": null,
                    "logs": {},
                    "problems": [],
                }),
            };
            if let Some(map) = value.as_object_mut() {
                map.insert(
                    "ok".into(),
                    report.as_ref().is_none_or(AuditReport::ok).into(),
                );
                map.insert(
                    "store".into(),
                    store.exists().then(|| store.display().to_string()).into(),
                );
                map.insert(
                    "first_problem".into(),
                    serde_json::to_value(report.as_ref().and_then(AuditReport::first_problem))
                        .unwrap_or_default(),
                );
                map.insert(
                    "hint".into(),
                    report.as_ref().and_then(AuditReport::hint).into(),
                );
                map.insert("exit_code".into(), code.code().into());
            }
            emit(&value, global.output);
        }
        OutputFormat::Text | OutputFormat::Wide => match &report {
            None => {
                out!("ok: no event log ({DIR_NAME}/{FILE_NAME} does not exist): nothing to verify")
            }
            Some(report) if report.rows == 0 && report.ok() => {
                out!(
                    "ok: the event log is empty ({}): nothing to verify",
                    store.display()
                );
            }
            Some(report) => match report.first_problem() {
                None => print_ok(report, &store),
                Some(first) => {
                    err!(
                        "error: the event log's hash chain is broken at row {} ({}): {}",
                        first.row,
                        first.kind.as_str(),
                        first.message
                    );
                    for p in report.problems.iter().skip(1) {
                        err!("  also: {}", p.message);
                    }
                    if let Some(hint) = report.hint() {
                        err!("hint: {hint}");
                    }
                }
            },
        },
    }
    Ok(code.code())
}

fn print_ok(report: &AuditReport, store: &std::path::Path) {
    out!("ok: the event log's hash chains hold ({})", store.display());
    out!(
        "rows checked  {} (row {} to {})",
        report.rows,
        report.first_id.unwrap_or_default(),
        report.last_id.unwrap_or_default()
    );
    let logs: Vec<String> = report
        .logs
        .iter()
        .map(|(name, log)| match log.trimmed_through {
            Some(t) => format!("{name} {} (trimmed through row {t})", log.rows),
            None => format!("{name} {}", log.rows),
        })
        .collect();
    out!("logs          {}", logs.join(", "));
    out!("checkpoints   {}", report.checkpoints);
    if let Some(head) = &report.head {
        out!("head          row {} sha256:{}", head.id, head.hash);
    }
    if let Some(check) = &report.expected_head {
        let result = match check.result {
            HeadResult::Matches => "still in the log, unchanged",
            HeadResult::Trimmed => {
                "trimmed by retention since: it can no longer be checked (record the new head)"
            }
            // Problems: not printed here.
            HeadResult::Differs | HeadResult::Missing => "not found",
        };
        out!("expected head row {}: {result}", check.id);
    }
}
