//! `docs/reference.md`, rendered from the combined JSON Schema: one table per kind with
//! every field, its type and its description (the doc comments of `model.rs`), then the
//! CRDs and the commands' JSON output (`json_output.md`).

use serde_json::Value;

use crate::schema::{DECLARABLE, combined_schema};

/// The whole reference document.
pub fn reference_markdown() -> String {
    let schema = combined_schema();
    let mut out = String::from(
        "# Resource reference\n\n\
         Generated from the types in `spec/src/model.rs` (`POCKET_DOCK_BLESS=1 cargo test -p \
         pocket-dock-spec --test generated` rewrites it; a test fails when it is stale).\n\n\
         Every document has `apiVersion: pocket-dock.dev/v1alpha1`, a `kind`, `metadata` and \
         (except `Volume` and `Workspace`) a `spec`. Unknown fields are errors. Paths such as \
         bind-mount sources and build contexts are relative to the workspace root, the folder \
         that holds `.pocket-dock/`.\n\n\
         Editors: start every document (the first line of a file, and the line after each \
         `---`) with `# yaml-language-server: $schema=<path to schemas/pocket-dock.json>`: \
         the YAML language server reads it per document (`pocket-dock init` does this with a \
         local copy; see Editor support in docs/spec.md).\n",
    );
    for kind in DECLARABLE {
        let name = format!("{}Document", kind.as_str());
        let Some(doc) = schema["$defs"].get(&name) else {
            continue;
        };
        out.push_str(&format!("\n## {}\n\n", kind.as_str()));
        if let Some(d) = doc.get("description").and_then(Value::as_str) {
            out.push_str(&format!("{}\n\n", one_line(d)));
        }
        out.push_str("| field | type | description |\n|---|---|---|\n");
        let mut rows = Vec::new();
        fields(&schema, doc, "", &mut rows, 0);
        for (path, ty, description) in rows {
            out.push_str(&format!("| `{path}` | {ty} | {description} |\n"));
        }
    }
    out.push_str(&crate::crd::reference_section());
    // What every command prints with `--output json`: written by hand (the shapes live in
    // the CLI), kept here so that the whole file stays generated.
    out.push_str(JSON_OUTPUT);
    out
}

/// The reference's "JSON output" section.
const JSON_OUTPUT: &str = include_str!("json_output.md");

fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => root["$defs"].get(name).unwrap_or(schema),
        None => schema,
    }
}

/// The object schema behind `schema`, looking through `Option` (`anyOf` with null).
fn object_of<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let schema = resolve(root, schema);
    if schema.get("properties").is_some() {
        return Some(schema);
    }
    schema
        .get("anyOf")
        .and_then(Value::as_array)
        .and_then(|bs| {
            bs.iter()
                .map(|b| resolve(root, b))
                .find(|b| b.get("properties").is_some())
        })
}

fn type_name(root: &Value, schema: &Value) -> String {
    let schema = resolve(root, schema);
    if let Some(c) = schema.get("const") {
        return format!("`{}`", c.as_str().unwrap_or_default());
    }
    let variants: Option<Vec<String>> = schema
        .get("oneOf")
        .or_else(|| schema.get("enum"))
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.get("const").or(Some(v)).and_then(Value::as_str))
                .map(|s| format!("`{s}`"))
                .collect()
        });
    if let Some(vs) = variants.filter(|v| !v.is_empty()) {
        return vs.join(" \\| ");
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array)
        && let Some(b) = branches
            .iter()
            .find(|b| b.get("type") != Some(&Value::from("null")))
    {
        return type_name(root, b);
    }
    let t = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    };
    match t.as_str() {
        "array" => format!(
            "list of {}",
            schema
                .get("items")
                .map_or("values".into(), |i| type_name(root, i))
        ),
        "object" if schema.get("properties").is_none() => "map of strings".to_string(),
        "object" => "object".to_string(),
        "" => "value".to_string(),
        other => other.to_string(),
    }
}

fn fields(
    root: &Value,
    object: &Value,
    prefix: &str,
    rows: &mut Vec<(String, String, String)>,
    depth: usize,
) {
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, schema) in properties {
        let path = format!("{prefix}{name}");
        let resolved = resolve(root, schema);
        let description = schema
            .get("description")
            .or_else(|| resolved.get("description"))
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default();
        let mut ty = type_name(root, schema);
        if required.contains(&name.as_str()) {
            ty.push_str(", required");
        }
        rows.push((path.clone(), ty, description));
        if depth > 6 {
            continue;
        }
        if let Some(inner) = object_of(root, schema) {
            fields(root, inner, &format!("{path}."), rows, depth + 1);
        } else if let Some(items) = resolved.get("items").and_then(|i| object_of(root, i)) {
            fields(root, items, &format!("{path}[]."), rows, depth + 1);
        }
    }
}
