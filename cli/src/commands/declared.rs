//! Printing what loading a workspace found: diagnostics (text on stderr, or one JSON
//! object).

use pocket_dock::workspace::DIR_NAME;
use pocket_dock::{Category, Error, ExitCode};
use pocket_dock_spec::Diagnostic;

use super::{GlobalArgs, Outcome, OutputFormat};

/// The outcome of a command that failed: invalid documents are printed as diagnostics
/// (`consequence` says what was not done) and exit 2; any other error goes up.
pub fn invalid_or_err(global: &GlobalArgs, err: Error, consequence: &str) -> Outcome {
    match err {
        Error::Invalid { diagnostics } => {
            print_problems(
                &diagnostics,
                global.output,
                consequence,
                Stream::Stdout,
                &global.command,
            );
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

/// Prints problems: text lines on stderr, or one JSON object on `json_to` (json, yaml),
/// with the error object of `command` in it (and, on stdout, after it on stderr: the last
/// line on stderr of a failure in json mode is the error).
pub fn print_problems(
    problems: &[Diagnostic],
    format: OutputFormat,
    consequence: &str,
    json_to: Stream,
    command: &str,
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
            let error = super::report::ErrorObject {
                category: Category::InvalidInput,
                operation: None,
                command,
                subject: None,
                message: format!(
                    "{DIR_NAME} invalid: {} problem{}; {consequence}",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                ),
                hint: Some("see `pocket-dock validate`".to_string()),
                exit_code: ExitCode::InvalidInput.code(),
            };
            let value = serde_json::json!({
                "valid": false,
                "diagnostics": problems,
                "error": error.to_json(),
            });
            match json_to {
                Stream::Stdout => {
                    out!("{value}");
                    super::report::print_error_object(&error);
                }
                Stream::Stderr => err!("{value}"),
            }
        }
    }
}
