//! How the library's warnings read in a command's text output without `-v`: as the
//! command's own sentences (`warning: could not ... (container: pd-web-1a2b3c4d)`), not as
//! log records with a timestamp, a level column and `key=value` pairs. `-v`, the
//! controller and `--output json` keep the log format.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats an event as `warning: MESSAGE (field: value, ...)`.
pub struct Sentence;

impl<S, N> FormatEvent<S, N> for Sentence
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        writeln!(writer, "{}", fields.line(*event.metadata().level()))
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<String>,
}

impl Fields {
    fn line(&self, level: Level) -> String {
        let prefix = match level {
            Level::ERROR => "error",
            Level::WARN => "warning",
            _ => "note",
        };
        if self.rest.is_empty() {
            format!("{prefix}: {}", self.message)
        } else {
            format!("{prefix}: {} ({})", self.message, self.rest.join(", "))
        }
    }

    fn add(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.rest.push(format!("{}: {value}", field.name()));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.add(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_reads_as_a_sentence_with_its_details_after_it() {
        let mut fields = Fields {
            message: "could not remove its secret files".into(),
            rest: Vec::new(),
        };
        assert_eq!(
            fields.line(Level::WARN),
            "warning: could not remove its secret files"
        );
        fields.rest = vec!["container: pd-web".into(), "error: denied".into()];
        assert_eq!(
            fields.line(Level::WARN),
            "warning: could not remove its secret files (container: pd-web, error: denied)"
        );
        assert!(fields.line(Level::ERROR).starts_with("error: "));
    }
}
