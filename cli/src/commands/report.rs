//! Printing errors for people (one line) and for machines (one JSON object).

use pocket_dock::Error;

use super::OutputFormat;

/// Prints `err` to stderr: one line in text mode (with its causes when verbose), one JSON
/// object in json mode.
pub fn print_error(err: &Error, format: OutputFormat, verbose: bool) {
    // Invalid documents are their diagnostics, printed as every command prints them.
    if let Error::Invalid { diagnostics } = err {
        super::declared::print_problems(
            diagnostics,
            format,
            "nothing was changed",
            super::declared::Stream::Stdout,
        );
        return;
    }
    match format {
        OutputFormat::Text | OutputFormat::Wide => {
            let mut line = format!("error: {err}");
            if let Some(hint) = err.hint() {
                line.push_str(&format!("; {hint}"));
            }
            err!("{line}");
            if verbose {
                let mut source = std::error::Error::source(err);
                while let Some(cause) = source {
                    err!("  caused by: {cause}");
                    source = cause.source();
                }
            }
        }
        OutputFormat::Json | OutputFormat::Yaml => {
            let value = serde_json::json!({
                "error": {
                    "category": err.category(),
                    "operation": err.operation(),
                    "subject": err.subject(),
                    "message": err.to_string(),
                    "hint": err.hint(),
                    "exit_code": err.exit_code().code(),
                }
            });
            err!("{value}");
        }
    }
}
