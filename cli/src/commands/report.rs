//! Printing errors for people (one line) and for machines (one JSON object).

use pocket_dock::{Category, Error};

use super::OutputFormat;

/// The JSON error object's fields (`{"error": {...}}`, docs/errors.md).
pub struct ErrorObject<'a> {
    pub category: Category,
    /// The engine call that failed, when one did; else the command is the operation.
    pub operation: Option<&'a str>,
    /// The command's path (`image export`; empty when no command could be told).
    pub command: &'a str,
    pub subject: Option<String>,
    pub message: String,
    pub hint: Option<String>,
    pub exit_code: u8,
}

impl ErrorObject<'_> {
    /// The object's fields. `operation` is never null: without an engine call it is the
    /// command itself (`pocket-dock image export`).
    pub fn to_json(&self) -> serde_json::Value {
        let operation = match self.operation {
            Some(op) => op.to_string(),
            None if self.command.is_empty() => "pocket-dock".to_string(),
            None => format!("pocket-dock {}", self.command),
        };
        serde_json::json!({
            "category": self.category,
            "operation": operation,
            "command": self.command,
            "subject": self.subject,
            "message": self.message,
            "hint": self.hint,
            "exit_code": self.exit_code,
        })
    }
}

/// Prints `error` as one JSON object on stderr: `{"error": {...}}`.
pub fn print_error_object(error: &ErrorObject<'_>) {
    err!("{}", serde_json::json!({ "error": error.to_json() }));
}

/// Prints `err` (of `command`, e.g. `image export`) to stderr: one line in text mode (with
/// its causes when verbose), one JSON object in json mode.
pub fn print_error(err: &Error, format: OutputFormat, verbose: bool, command: &str) {
    // Invalid documents are their diagnostics, printed as every command prints them.
    if let Error::Invalid { diagnostics } = err {
        super::declared::print_problems(
            diagnostics,
            format,
            "nothing was changed",
            super::declared::Stream::Stdout,
            command,
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
        OutputFormat::Json | OutputFormat::Yaml => print_error_object(&ErrorObject {
            category: err.category(),
            operation: err.operation(),
            command,
            subject: err.subject(),
            message: err.to_string(),
            hint: err.hint(),
            exit_code: err.exit_code().code(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(operation: Option<&'static str>, command: &'static str) -> serde_json::Value {
        ErrorObject {
            category: Category::NotFound,
            operation,
            command,
            subject: None,
            message: "gone".to_string(),
            hint: None,
            exit_code: 4,
        }
        .to_json()
    }

    #[test]
    fn the_operation_is_the_engine_call_else_the_command_and_never_null() {
        let engine = object(Some("container start"), "exec");
        assert_eq!(engine["operation"], "container start");
        assert_eq!(engine["command"], "exec");
        assert_eq!(
            object(None, "image export")["operation"],
            "pocket-dock image export"
        );
        assert_eq!(object(None, "")["operation"], "pocket-dock");
        let fields: Vec<&String> = engine.as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "category",
                "command",
                "exit_code",
                "hint",
                "message",
                "operation",
                "subject"
            ]
        );
        assert_eq!(engine["category"], "not-found");
        assert_eq!(engine["exit_code"], 4);
    }
}
