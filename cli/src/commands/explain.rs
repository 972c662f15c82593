//! `pocket-dock explain PATH`: a field's type, description, default and an example, read
//! from the JSON Schemas (the logic is `pocket_dock_spec::explain`; this prints it).

use clap::Args;
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::explain::{Explained, FieldSummary, explain as explain_path};

use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A kind, then field names: `sandbox`, `sandbox.spec.mounts`, `image.spec.build`
    /// (kinds are case-insensitive; `mounts[0]` is the same as `mounts`)
    #[arg(value_name = "PATH")]
    path: String,
    /// List every level of sub-fields, not only the first
    #[arg(long)]
    recursive: bool,
}

/// Text is wrapped at this width, like kubectl's.
const WIDTH: usize = 80;

pub fn explain(global: &GlobalArgs, args: ExplainArgs) -> Outcome {
    let explained = explain_path(&args.path, args.recursive)
        .map_err(|e| Error::argument("PATH", e.to_string()))?;
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let value = serde_json::to_value(&explained).map_err(|e| {
                Error::argument("PATH", format!("cannot render the explanation: {e}"))
            })?;
            emit(&value, global.output);
        }
        OutputFormat::Text | OutputFormat::Wide => {
            let text = render(&explained, args.recursive);
            out!("{}", text.trim_end());
        }
    }
    Ok(ExitCode::Success.code())
}

fn render(e: &Explained, recursive: bool) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "KIND:     {}\nVERSION:  {}\n",
        e.kind, e.api_version
    ));
    if e.path != e.kind {
        let required = if e.required { " -required-" } else { "" };
        s.push_str(&format!(
            "\nFIELD:    {} <{}>{required}\nPATH:     {}\n",
            e.field, e.type_name, e.path
        ));
    }
    s.push_str("\nDESCRIPTION:\n");
    s.push_str(&wrap(&e.description, 4));
    if let Some(default) = &e.default {
        s.push_str(&format!("\nDEFAULT:  {default}\n"));
    }
    if !e.allowed.is_empty() {
        s.push_str("\nVALUES:\n");
        for a in &e.allowed {
            let value = match &a.value {
                serde_json::Value::String(v) => v.clone(),
                other => other.to_string(),
            };
            if a.description.is_empty() {
                s.push_str(&format!("    {value}\n"));
            } else {
                s.push_str(&format!("    {value}\n"));
                s.push_str(&wrap(&a.description, 8));
            }
        }
    }
    s.push_str("\nEXAMPLE:\n");
    let example = if e.path == e.kind {
        e.example.clone()
    } else {
        serde_json::json!({ e.field.clone(): e.example })
    };
    for line in pocket_dock_spec::to_yaml(&example).lines() {
        s.push_str(&format!("    {line}\n"));
    }
    if !e.fields.is_empty() {
        s.push_str("\nFIELDS:\n");
        fields(&mut s, &e.fields, 1, recursive);
    }
    s
}

fn fields(s: &mut String, list: &[FieldSummary], level: usize, recursive: bool) {
    let indent = "  ".repeat(level);
    for f in list {
        let required = if f.required { " -required-" } else { "" };
        s.push_str(&format!(
            "{indent}{}\t<{}>{required}\n",
            f.name, f.type_name
        ));
        if recursive {
            fields(s, &f.fields, level + 1, recursive);
        } else {
            s.push_str(&wrap(&f.description, indent.len() + 2));
            s.push('\n');
        }
    }
}

/// Words wrapped at [`WIDTH`], each line indented by `indent` spaces.
fn wrap(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > WIDTH {
            out.push_str(&format!("{pad}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push_str(&format!("{pad}{line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_type_description_default_example_and_fields() {
        let e = explain_path("sandbox.spec.mounts", false).unwrap();
        let text = render(&e, false);
        assert!(text.contains("FIELD:    mounts <[]Mount>"), "{text}");
        assert!(text.contains("DESCRIPTION:\n    Bind mounts"), "{text}");
        assert!(text.contains("DEFAULT:  [] (none)"), "{text}");
        assert!(text.contains("EXAMPLE:\n    mounts:\n"), "{text}");
        assert!(text.contains("  target\t<string> -required-"), "{text}");
        assert!(text.lines().all(|l| l.len() <= WIDTH || !l.contains(' ')));
    }

    #[test]
    fn recursive_text_lists_nested_fields_without_descriptions() {
        let e = explain_path("sandbox.spec", true).unwrap();
        let text = render(&e, true);
        assert!(
            text.contains("  mounts\t<[]Mount>\n    allowOutsideWorkspace\t<boolean>"),
            "{text}"
        );
    }
}
