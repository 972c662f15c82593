//! Printing what loading a workspace found: diagnostics (text on stderr, or one JSON
//! object).

use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::Diagnostic;

use super::{GlobalArgs, Outcome, OutputFormat};

/// The outcome of a command that failed: invalid documents are printed as diagnostics
/// (`consequence` says what was not done) and exit 2; any other error goes up.
pub fn invalid_or_err(global: &GlobalArgs, err: Error, consequence: &str) -> Outcome {
    match err {
        Error::Invalid { diagnostics } => {
            print_problems(&diagnostics, global.output, consequence, Stream::Stdout);
            Ok(ExitCode::InvalidInput.code())
        }
        err => Err(err),
    }
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
