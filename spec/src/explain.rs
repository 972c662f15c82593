//! `pocket-dock explain PATH`: one field of one kind, read from the same JSON Schemas that
//! editors and `validate` use (like `kubectl explain`).
//!
//! A path is a kind (case-insensitive) followed by field names: `sandbox.spec.mounts`.
//! Walking it follows `$ref`s, steps through arrays to their items and through maps
//! (`additionalProperties`) to their values, and looks at every variant of an
//! `anyOf`/`oneOf` (nullable fields are `anyOf [X, null]`). The kinds are the schema's
//! [`DECLARABLE`] kinds, so a new kind is explained as soon as it has a schema.
//!
//! The schemas carry descriptions but few defaults and no examples, so:
//! - the default is the schema's `default`, else the description's own `Default: ...`
//!   sentence (or "`x` (default)"), else an enum's first value when the field is not an
//!   `Option` (the Rust default; tested), else what an absent field means by its type
//!   (`false` for a plain boolean, empty for a list or a map), else "unset";
//! - the example is taken from a small built-in table of common fields ([`EXAMPLES`]),
//!   else the schema's `examples`, else the description's "e.g. `X`" for a scalar, else a
//!   value shaped by the type (placeholders such as `<string>`).

use serde_json::{Map, Value, json};

use crate::diagnostic::{closest, shown};
use crate::kind::Kind;
use crate::model::API_VERSION;
use crate::schema::{DECLARABLE, document_schema};

/// How deep `--recursive` and type-shaped examples go (the schemas are not recursive
/// today; this bounds a future one).
const MAX_DEPTH: usize = 8;

/// Examples for common fields, keyed by the schema definition that holds the field and
/// the field's name (so `Template`'s `sandbox` shares `SandboxSpec`'s examples).
///
/// A type-shaped example of an object (a whole document, `spec`) holds its required fields
/// and those of [`IN_OBJECTS`]: the ones that make a small valid document together
/// (`image` and `imageFrom` are exclusive; `dependsOn` and secrets name other objects).
const EXAMPLES: &[(&str, &str, &str)] = &[
    ("Metadata", "name", r#""dev""#),
    ("Metadata", "labels", r#"{"team": "platform"}"#),
    ("SandboxSpec", "image", r#""docker.io/library/alpine:3.20""#),
    ("SandboxSpec", "imageFrom", r#"{"image": "tools"}"#),
    ("SandboxSpec", "command", r#"["sleep", "infinity"]"#),
    ("SandboxSpec", "workdir", r#""/work""#),
    (
        "SandboxSpec",
        "env",
        r#"{"RUST_LOG": "info", "TOKEN": {"valueFrom": {"secret": "token"}}}"#,
    ),
    (
        "SandboxSpec",
        "mounts",
        r#"[{"type": "bind", "source": ".", "target": "/work"}, {"type": "volume", "source": "cache", "target": "/cache"}]"#,
    ),
    (
        "SandboxSpec",
        "ports",
        r#"[{"container": 8080, "host": 8080}]"#,
    ),
    (
        "SandboxSpec",
        "resources",
        r#"{"memory": "512Mi", "cpus": 1.5, "pids": 256}"#,
    ),
    ("SandboxSpec", "network", r#"{"egress": ["crates.io:443"]}"#),
    ("SandboxSpec", "dependsOn", r#"["db"]"#),
    ("Resources", "memory", r#""512Mi""#),
    ("Resources", "cpus", "1.5"),
    ("Resources", "pids", "256"),
    ("Mount", "source", r#"".""#),
    ("Mount", "target", r#""/work""#),
    ("Security", "profile", r#""locked""#),
    ("Security", "dropCapabilities", r#"["ALL"]"#),
    ("Lifetime", "idleTimeout", r#""30m""#),
    ("Lifetime", "maxLifetime", r#""8h""#),
    ("TemplateSpec", "extends", r#""code-executor""#),
    (
        "TemplateSpec",
        "sandbox",
        r#"{"image": "docker.io/library/python:3.12", "resources": {"memory": "512Mi"}}"#,
    ),
    ("Build", "context", r#""images/tools""#),
    ("Build", "args", r#"{"RUST_VERSION": "1.95"}"#),
    (
        "Pull",
        "reference",
        r#""docker.io/library/alpine:3.20@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5""#,
    ),
    ("ImageSpec", "build", r#"{"context": "images/tools"}"#),
    ("SnapshotSpec", "sandbox", r#""dev""#),
    ("NetworkSpec", "internal", "true"),
    ("NetworkSpec", "subnet", r#""10.89.7.0/24""#),
    ("Policy", "profile", r#""locked""#),
    ("Policy", "enforce", "true"),
    // Pools (issue 18): a template of this workspace named `dev`, as in `explain template`.
    ("PoolSpec", "template", r#""dev""#),
    ("PoolSpec", "size", "2"),
    ("PoolSpec", "maxIdle", r#""30m""#),
];

/// A path that names no field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("explain needs a kind, e.g. `sandbox` or `sandbox.spec.mounts`")]
    Empty,
    #[error("unknown kind `{given}`{}; the kinds are {}", suggest(.suggestion), .known.join(", "))]
    UnknownKind {
        given: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    #[error("{parent} has no field `{field}`{}", suggest(.suggestion))]
    UnknownField {
        /// The path up to the field that exists, e.g. `Sandbox.spec`.
        parent: String,
        field: String,
        /// The closest field, as a full path: `sandbox.spec.mounts`.
        suggestion: Option<String>,
    },
    #[error("{parent} is a {type_name}: it has no fields (`{field}` asked for)")]
    NotAnObject {
        parent: String,
        type_name: String,
        field: String,
    },
}

fn suggest(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// What `explain` says about one field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explained {
    pub kind: String,
    pub api_version: String,
    /// The canonical path: `Sandbox.spec.mounts`.
    pub path: String,
    /// The field's name (the kind's, for a kind).
    pub field: String,
    /// `string`, `integer`, `[]Mount`, `map[string]EnvValue`, `Resources`, `string | EnvFrom`.
    #[serde(rename = "type")]
    pub type_name: String,
    pub required: bool,
    pub description: String,
    /// The default, in words or as a value; `None` for a required field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The allowed values of an enum, each with its description when it has one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<Allowed>,
    /// An example value of the field.
    pub example: Value,
    /// The fields of the object (of a list's items, a map's values) it holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSummary>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Allowed {
    pub value: Value,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// One sub-field: its name, type, whether it is required, the first line of its
/// description, and (with `recursive`) its own sub-fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub required: bool,
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSummary>,
}

/// Explains `path`; with `recursive`, every level of sub-fields is listed.
pub fn explain(path: &str, recursive: bool) -> Result<Explained, ExplainError> {
    let mut segments = path.split('.').map(strip_index).filter(|s| !s.is_empty());
    let kind_word = segments.next().ok_or(ExplainError::Empty)?;
    let kind = find_kind(kind_word)?;
    let root = document_schema(kind);
    let walker = Walker::new(&root);
    let mut canonical = kind.as_str().to_string();
    let mut node: &Value = &root;
    let mut field = kind.as_str().to_string();
    let mut required = true;
    let mut owner: Option<String> = None;
    for segment in segments {
        match walker.child(node, segment) {
            Step::Found {
                node: next,
                required: is_required,
                owner: def,
            } => {
                node = next;
                required = is_required;
                owner = def;
                field = segment.to_string();
                canonical = format!("{canonical}.{segment}");
            }
            Step::Missing { candidates } => {
                let suggestion = closest(segment, candidates.iter().map(String::as_str))
                    .map(|c| format!("{}.{c}", lower_kind(&canonical)));
                return Err(ExplainError::UnknownField {
                    parent: canonical,
                    field: shown(segment).into_owned(),
                    suggestion,
                });
            }
            Step::Leaf => {
                return Err(ExplainError::NotAnObject {
                    type_name: walker.type_name(node),
                    parent: canonical,
                    field: shown(segment).into_owned(),
                });
            }
        }
    }
    let description = walker.description(node);
    let default = if required {
        None
    } else {
        Some(walker.default(node, &description))
    };
    let example = example_for(&walker, owner.as_deref(), &field, node, &description);
    Ok(Explained {
        kind: kind.as_str().to_string(),
        api_version: API_VERSION.to_string(),
        path: canonical,
        field,
        type_name: walker.type_name(node),
        required,
        description,
        default,
        allowed: walker.allowed(node),
        example,
        fields: walker.fields(node, if recursive { MAX_DEPTH } else { 1 }, &mut Vec::new()),
    })
}

/// The path as the user would type it again: the kind lower-case.
fn lower_kind(canonical: &str) -> String {
    match canonical.split_once('.') {
        Some((kind, rest)) => format!("{}.{rest}", kind.to_lowercase()),
        None => canonical.to_lowercase(),
    }
}

/// `mounts[0]` and `mounts[]` name the same field as `mounts`.
fn strip_index(segment: &str) -> &str {
    match segment.find('[') {
        Some(i) if segment.ends_with(']') => &segment[..i],
        _ => segment,
    }
}

fn find_kind(word: &str) -> Result<Kind, ExplainError> {
    let folded = word.to_lowercase();
    if let Some(kind) = DECLARABLE.iter().find(|k| {
        let name = k.as_str().to_lowercase();
        folded == name || folded == format!("{name}s") || folded == format!("{name}es")
    }) {
        return Ok(*kind);
    }
    let names: Vec<String> = DECLARABLE
        .iter()
        .map(|k| k.as_str().to_lowercase())
        .collect();
    Err(ExplainError::UnknownKind {
        given: shown(word).into_owned(),
        suggestion: closest(&folded, names.iter().map(String::as_str)).map(str::to_string),
        known: names,
    })
}

enum Step<'a> {
    Found {
        node: &'a Value,
        required: bool,
        owner: Option<String>,
    },
    Missing {
        candidates: Vec<String>,
    },
    Leaf,
}

struct Walker<'a> {
    defs: Option<&'a Map<String, Value>>,
}

impl<'a> Walker<'a> {
    fn new(root: &'a Value) -> Self {
        Walker {
            defs: root.get("$defs").and_then(Value::as_object),
        }
    }

    /// Follows `$ref`s: the schema and the name of the last definition reached.
    fn deref(&self, mut node: &'a Value) -> (&'a Value, Option<String>) {
        let mut name = None;
        for _ in 0..MAX_DEPTH {
            let Some(target) = node.get("$ref").and_then(Value::as_str) else {
                break;
            };
            let def = target.rsplit('/').next().unwrap_or(target);
            match self.defs.and_then(|d| d.get(def)) {
                Some(found) => {
                    node = found;
                    name = Some(def.to_string());
                }
                None => break,
            }
        }
        (node, name)
    }

    /// The non-null alternatives of a node (itself when it has none), dereferenced.
    fn variants(&self, node: &'a Value) -> Vec<(&'a Value, Option<String>)> {
        let (node, name) = self.deref(node);
        let alternatives = node
            .get("anyOf")
            .or_else(|| node.get("oneOf"))
            .and_then(Value::as_array);
        match alternatives {
            Some(list) => list
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .flat_map(|v| self.variants(v))
                .collect(),
            None => vec![(node, name)],
        }
    }

    /// The JSON types of a node, without `null`.
    fn types(node: &Value) -> Vec<&str> {
        match node.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The object schemas a node holds, through arrays' items and maps' values.
    fn containers(&self, node: &'a Value, depth: usize) -> Vec<(&'a Value, Option<String>)> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (variant, name) in self.variants(node) {
            let types = Self::types(variant);
            if types.contains(&"array") {
                if let Some(items) = variant.get("items") {
                    out.extend(self.containers(items, depth + 1));
                }
            } else if variant.get("properties").is_some() {
                out.push((variant, name));
            } else if let Some(values) = variant
                .get("additionalProperties")
                .filter(|v| v.is_object())
            {
                out.extend(self.containers(values, depth + 1));
            }
        }
        out
    }

    fn child(&self, node: &'a Value, segment: &str) -> Step<'a> {
        let containers = self.containers(node, 0);
        let mut candidates = Vec::new();
        for (container, name) in &containers {
            if let Some(props) = container.get("properties").and_then(Value::as_object) {
                if let Some(found) = props.get(segment) {
                    return Step::Found {
                        node: found,
                        required: is_required(container, segment),
                        owner: name.clone(),
                    };
                }
                candidates.extend(props.keys().cloned());
            }
        }
        // A map's keys are the user's: `env.FOO` is one of the map's values.
        for (variant, name) in self.variants(node) {
            if let Some(values) = variant
                .get("additionalProperties")
                .filter(|v| v.is_object())
            {
                return Step::Found {
                    node: values,
                    required: false,
                    owner: name,
                };
            }
        }
        if containers.is_empty() {
            Step::Leaf
        } else {
            Step::Missing { candidates }
        }
    }

    fn description(&self, node: &Value) -> String {
        let own = node.get("description").and_then(Value::as_str);
        let text = match own {
            Some(d) => d.to_string(),
            None => self
                .variants(node)
                .iter()
                .find_map(|(v, _)| v.get("description").and_then(Value::as_str))
                .unwrap_or_default()
                .to_string(),
        };
        text.replace('\n', " ")
    }

    fn type_name(&self, node: &Value) -> String {
        let variants = self.variants(node);
        // `oneOf` of string constants (an enum with a description per value).
        if variants.len() > 1
            && variants
                .iter()
                .all(|(v, _)| v.get("const").is_some_and(Value::is_string))
        {
            return "string".into();
        }
        let names: Vec<String> = variants
            .iter()
            .map(|(v, name)| self.variant_type(v, name.as_deref()))
            .collect();
        let mut unique: Vec<String> = Vec::new();
        for n in names {
            if !unique.contains(&n) {
                unique.push(n);
            }
        }
        unique.join(" | ")
    }

    /// A list's items or a map's values: a union with a name is called by its name
    /// (`map[string]EnvValue`, not `map[string]string | EnvFrom`).
    fn inner_type_name(&self, node: &Value) -> String {
        let (target, name) = self.deref(node);
        let union = target
            .get("anyOf")
            .or_else(|| target.get("oneOf"))
            .and_then(Value::as_array)
            .is_some_and(|l| l.len() > 1);
        match name {
            Some(name) if union => name,
            _ => self.type_name(node),
        }
    }

    fn variant_type(&self, node: &Value, name: Option<&str>) -> String {
        if let Some(c) = node.get("const") {
            return c.to_string();
        }
        let types = Self::types(node);
        if types.contains(&"array") {
            let items = node
                .get("items")
                .map(|i| self.inner_type_name(i))
                .unwrap_or_else(|| "any".into());
            return format!("[]{items}");
        }
        if types.contains(&"object") || node.get("properties").is_some() {
            if node.get("properties").is_some() {
                return name.unwrap_or("object").to_string();
            }
            if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
                return format!("map[string]{}", self.inner_type_name(values));
            }
            return "object".into();
        }
        if node.get("enum").is_some() && types.len() <= 1 {
            return types.first().copied().unwrap_or("string").to_string();
        }
        if types.is_empty() {
            return name.unwrap_or("any").to_string();
        }
        types.join(" | ")
    }

    fn allowed(&self, node: &Value) -> Vec<Allowed> {
        let mut out = Vec::new();
        for (variant, _) in self.variants(node) {
            if let Some(values) = variant.get("enum").and_then(Value::as_array) {
                out.extend(values.iter().map(|v| Allowed {
                    value: v.clone(),
                    description: String::new(),
                }));
            } else if let Some(c) = variant.get("const") {
                out.push(Allowed {
                    value: c.clone(),
                    description: variant
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .replace('\n', " "),
                });
            }
        }
        out
    }

    fn default(&self, node: &Value, description: &str) -> String {
        let explicit = node.get("default").cloned().or_else(|| {
            self.variants(node)
                .iter()
                .find_map(|(v, _)| v.get("default").cloned())
        });
        if let Some(value) = explicit {
            return value.to_string();
        }
        if let Some(said) = described_default(description) {
            return said;
        }
        let nullable = node_is_nullable(node);
        if !nullable && let Some(first) = first_enum_value(self.deref(node).0) {
            // An optional enum that is not an `Option` is the Rust enum's `Default`, which
            // is its first variant throughout the model (a test holds every such enum to it).
            return first;
        }
        let variants = self.variants(node);
        if let [(only, _)] = variants.as_slice() {
            let types = Self::types(only);
            if !nullable && types == ["boolean"] {
                return "false".into();
            }
            if types.contains(&"array") {
                return "[] (none)".into();
            }
            if only.get("properties").is_none()
                && only
                    .get("additionalProperties")
                    .is_some_and(Value::is_object)
            {
                return "{} (none)".into();
            }
        }
        "unset".into()
    }

    fn fields(&self, node: &Value, depth: usize, seen: &mut Vec<String>) -> Vec<FieldSummary> {
        if depth == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (container, name) in self.containers(node, 0) {
            if let Some(name) = &name {
                if seen.contains(name) {
                    continue;
                }
                seen.push(name.clone());
            }
            if let Some(props) = container.get("properties").and_then(Value::as_object) {
                for (field, schema) in props {
                    if out.iter().any(|f: &FieldSummary| &f.name == field) {
                        continue;
                    }
                    let description = self.description(schema);
                    out.push(FieldSummary {
                        name: field.clone(),
                        type_name: self.type_name(schema),
                        required: is_required(container, field),
                        description: first_sentence(&description),
                        fields: self.fields(schema, depth - 1, seen),
                    });
                }
            }
            if name.is_some() {
                seen.pop();
            }
        }
        out
    }

    /// A value shaped by the schema: required fields of objects, one item of a list, one
    /// key of a map, the first allowed value of an enum, placeholders for scalars.
    fn shaped(&self, node: &Value, depth: usize) -> Value {
        if depth > 3 {
            return json!({});
        }
        let variants = self.variants(node);
        let Some((variant, def)) = variants.first() else {
            return Value::Null;
        };
        if let Some(c) = variant.get("const") {
            return c.clone();
        }
        if let Some(first) = variant
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|v| v.first())
        {
            return first.clone();
        }
        let types = Self::types(variant);
        if types.contains(&"array") {
            let item = variant
                .get("items")
                .map(|i| self.shaped(i, depth + 1))
                .unwrap_or(Value::Null);
            return json!([item]);
        }
        if let Some(props) = variant.get("properties").and_then(Value::as_object) {
            // The required fields, and those the table has an example for.
            let mut object = Map::new();
            for (field, schema) in props {
                let required = is_required(variant, field);
                let known = def
                    .as_deref()
                    .filter(|d| required || IN_OBJECTS.contains(&(*d, field.as_str())))
                    .and_then(|d| table_example(d, field));
                if let Some(value) = known {
                    object.insert(field.clone(), value);
                } else if required {
                    object.insert(field.clone(), self.shaped(schema, depth + 1));
                }
            }
            if object.is_empty()
                && let Some((field, schema)) = props.iter().next()
            {
                object.insert(field.clone(), self.shaped(schema, depth + 1));
            }
            return Value::Object(object);
        }
        if let Some(values) = variant
            .get("additionalProperties")
            .filter(|v| v.is_object())
        {
            return json!({ "KEY": self.shaped(values, depth + 1) });
        }
        match types.first().copied() {
            Some("object") => json!({}),
            Some("boolean") => json!(true),
            Some("integer") => variant.get("minimum").cloned().unwrap_or(json!(1)),
            Some("number") => json!(1),
            Some(other) => json!(format!("<{other}>")),
            None => json!("<value>"),
        }
    }
}

/// The values of an enum schema: `enum`, or a `oneOf` of constants (one description each).
fn enum_values(schema: &Value) -> Option<Vec<Value>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.clone());
    }
    let variants = schema.get("oneOf").and_then(Value::as_array)?;
    variants.iter().map(|v| v.get("const").cloned()).collect()
}

/// The first value of an enum schema, as written in a document.
fn first_enum_value(schema: &Value) -> Option<String> {
    let first = enum_values(schema)?.into_iter().next()?;
    Some(match first {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn is_required(container: &Value, field: &str) -> bool {
    container
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|f| f == field))
}

fn node_is_nullable(node: &Value) -> bool {
    let typed_null = match node.get("type") {
        Some(Value::Array(list)) => list.iter().any(|t| t == "null"),
        _ => false,
    };
    let variant_null = node
        .get("anyOf")
        .or_else(|| node.get("oneOf"))
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|v| v.get("type") == Some(&json!("null"))));
    typed_null || variant_null
}

/// The description's own word on the default: "Default: X." or "`x` (default)".
fn described_default(description: &str) -> Option<String> {
    if let Some(i) = description.find("Default: ") {
        let rest = &description[i + "Default: ".len()..];
        let end = sentence_end(rest);
        return Some(rest[..end].trim().to_string());
    }
    let marker = "` (default)";
    let i = description.find(marker)?;
    let start = description[..i].rfind('`')?;
    Some(description[start + 1..i].to_string())
}

/// Where the first sentence of `text` ends: at ". " or the end, not inside backquotes.
fn sentence_end(text: &str) -> usize {
    let mut quoted = false;
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'`' => quoted = !quoted,
            b'.' if !quoted
                && bytes.get(i + 1).is_none_or(|n| *n == b' ')
                && !text[..=i].ends_with("e.g.")
                && !text[..=i].ends_with("i.e.") =>
            {
                return i;
            }
            _ => {}
        }
    }
    text.len()
}

fn first_sentence(text: &str) -> String {
    let end = sentence_end(text);
    let mut s = text[..end].trim().to_string();
    if end < text.len() {
        s.push('.');
    }
    s
}

/// The description's "e.g. `X`", as a value of the field's scalar type.
fn described_example(description: &str, types: &[&str]) -> Option<Value> {
    let i = description.find("e.g. `")?;
    let rest = &description[i + "e.g. `".len()..];
    let text = &rest[..rest.find('`')?];
    if types.contains(&"integer")
        && let Ok(n) = text.parse::<i64>()
    {
        return Some(json!(n));
    }
    if types.contains(&"number")
        && let Ok(n) = text.parse::<f64>()
    {
        return Some(json!(n));
    }
    types.contains(&"string").then(|| json!(text))
}

/// The table's fields that go into the example of the object holding them.
const IN_OBJECTS: &[(&str, &str)] = &[
    ("Metadata", "name"),
    ("SandboxSpec", "image"),
    ("SandboxSpec", "command"),
    ("SandboxSpec", "workdir"),
    ("SandboxSpec", "resources"),
    ("Build", "context"),
    ("ImageSpec", "build"),
    ("TemplateSpec", "extends"),
    ("TemplateSpec", "sandbox"),
    ("Policy", "profile"),
];

/// The built-in example of `field` of the definition `def`.
fn table_example(def: &str, field: &str) -> Option<Value> {
    EXAMPLES
        .iter()
        .find(|(d, f, _)| *d == def && *f == field)
        .and_then(|(_, _, text)| serde_json::from_str(text).ok())
}

fn example_for(
    walker: &Walker<'_>,
    owner: Option<&str>,
    field: &str,
    node: &Value,
    description: &str,
) -> Value {
    if let Some(value) = owner.and_then(|o| table_example(o, field)) {
        return value;
    }
    let variants = walker.variants(node);
    if let Some(value) = node
        .get("examples")
        .or_else(|| variants.first().and_then(|(v, _)| v.get("examples")))
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return value.clone();
    }
    if let [(only, _)] = variants.as_slice() {
        let types = Walker::types(only);
        if let Some(value) = described_example(description, &types) {
            return value;
        }
    }
    walker.shaped(node, 0)
}

/// Every table entry names a field that exists: checked by a test, so a renamed field
/// cannot leave a stale example behind.
#[cfg(test)]
fn example_table() -> &'static [(&'static str, &'static str, &'static str)] {
    EXAMPLES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::combined_schema;

    #[test]
    fn mounts_are_a_list_of_mount_with_its_fields() {
        let e = explain("sandbox.spec.mounts", false).unwrap();
        assert_eq!(e.kind, "Sandbox");
        assert_eq!(e.path, "Sandbox.spec.mounts");
        assert_eq!(e.type_name, "[]Mount");
        assert!(e.description.starts_with("Bind mounts"));
        assert_eq!(e.default.as_deref(), Some("[] (none)"));
        assert_eq!(e.example[0]["type"], "bind");
        let target = e.fields.iter().find(|f| f.name == "target").unwrap();
        assert!(target.required);
        assert_eq!(target.type_name, "string");
        let kind = e.fields.iter().find(|f| f.name == "type").unwrap();
        assert_eq!(kind.type_name, "string");
    }

    #[test]
    fn kinds_are_case_insensitive_and_a_kind_lists_its_top_fields() {
        let e = explain("SANDBOX", false).unwrap();
        assert_eq!(e.path, "Sandbox");
        let names: Vec<&str> = e.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["apiVersion", "kind", "metadata", "spec"]);
        assert_eq!(e.example["kind"], "Sandbox");
        assert_eq!(e.example["apiVersion"], API_VERSION);
        assert!(explain("template", false).is_ok());
        assert!(explain("Sandboxes.spec", false).is_ok());
    }

    #[test]
    fn memory_is_a_string_with_an_example_and_unset_default() {
        let e = explain("sandbox.spec.resources.memory", false).unwrap();
        assert_eq!(e.type_name, "string");
        assert_eq!(e.example, json!("512Mi"));
        assert_eq!(e.default.as_deref(), Some("unset"));
        assert!(!e.required);
    }

    #[test]
    fn enums_list_their_values_and_descriptions_give_defaults() {
        let e = explain("sandbox.spec.mounts.type", false).unwrap();
        let values: Vec<&Value> = e.allowed.iter().map(|a| &a.value).collect();
        assert_eq!(values, [&json!("bind"), &json!("volume"), &json!("tmpfs")]);
        assert!(e.required);
        assert_eq!(e.default, None);
        let p = explain("sandbox.spec.ports[0].hostIp", false).unwrap();
        assert_eq!(
            p.default.as_deref(),
            Some("`127.0.0.1` (not reachable from other machines)")
        );
        let run = explain("sandbox.spec.run", false).unwrap();
        assert_eq!(run.default.as_deref(), Some("always"));
        let profile = explain("sandbox.spec.security.profile", false).unwrap();
        assert_eq!(profile.allowed.len(), 2);
        assert_eq!(profile.allowed[1].value, "locked");
        assert!(profile.allowed[1].description.contains("untrusted"));
    }

    #[test]
    fn maps_step_to_their_values_and_variants_are_all_searched() {
        let e = explain("sandbox.spec.env", false).unwrap();
        assert_eq!(e.type_name, "map[string]EnvValue");
        assert_eq!(e.default.as_deref(), Some("{} (none)"));
        let v = explain("sandbox.spec.env.FOO", false).unwrap();
        assert_eq!(v.type_name, "string | EnvFrom");
        assert!(explain("sandbox.spec.env.FOO.valueFrom", false).is_ok());
        let n = explain("sandbox.spec.network.egress", false).unwrap();
        assert_eq!(n.type_name, "[]string");
    }

    #[test]
    fn templates_share_the_sandbox_examples() {
        let e = explain("template", false).unwrap();
        let spec = e.fields.iter().find(|f| f.name == "spec").unwrap();
        assert_eq!(spec.type_name, "TemplateSpec");
    }

    #[test]
    fn unknown_paths_name_the_closest_field() {
        let err = explain("sandbox.spec.mountz", false).unwrap_err();
        assert_eq!(
            err,
            ExplainError::UnknownField {
                parent: "Sandbox.spec".into(),
                field: "mountz".into(),
                suggestion: Some("sandbox.spec.mounts".into()),
            }
        );
        assert!(
            err.to_string()
                .contains("did you mean `sandbox.spec.mounts`?")
        );
        let kind = explain("sandbx.spec", false).unwrap_err();
        assert!(matches!(
            kind,
            ExplainError::UnknownKind { suggestion: Some(ref s), .. } if s == "sandbox"
        ));
        assert!(matches!(
            explain("sandbox.spec.image.tag", false).unwrap_err(),
            ExplainError::NotAnObject { .. }
        ));
        assert_eq!(explain("", false).unwrap_err(), ExplainError::Empty);
    }

    /// The Rust default of a model enum, as a document writes it.
    fn rust_default(def: &str) -> Option<Value> {
        use crate::model::{DesiredState, Protocol, PullPolicy, RunMode};
        let value = match def {
            "RunMode" => serde_json::to_value(RunMode::default()),
            "Protocol" => serde_json::to_value(Protocol::default()),
            "DesiredState" => serde_json::to_value(DesiredState::default()),
            "PullPolicy" => serde_json::to_value(PullPolicy::default()),
            _ => return None,
        };
        value.ok()
    }

    #[test]
    fn an_optional_enum_defaults_to_its_first_value_which_is_the_rust_default() {
        // Every optional, non-nullable enum field of every definition: explain says its
        // default is the first value, so the Rust `Default` must be that value.
        let combined = combined_schema();
        let defs = combined["$defs"].as_object().unwrap();
        let walker = Walker::new(&combined);
        let mut checked = 0;
        for def in defs.values() {
            let Some(props) = def.get("properties").and_then(Value::as_object) else {
                continue;
            };
            for (field, schema) in props {
                let Some(target) = schema.get("$ref").and_then(Value::as_str) else {
                    continue;
                };
                let name = target.rsplit('/').next().unwrap();
                let (resolved, _) = walker.deref(schema);
                let Some(first) = enum_values(resolved).and_then(|v| v.into_iter().next()) else {
                    continue;
                };
                if is_required(def, field) || schema.get("default").is_some() {
                    continue;
                }
                let rust = rust_default(name)
                    .unwrap_or_else(|| panic!("add {name} (field {field}) to rust_default"));
                assert_eq!(
                    rust, first,
                    "{name}: the Rust default is not the first value"
                );
                checked += 1;
            }
        }
        assert!(checked >= 4, "{checked}");
        let state = explain("sandbox.spec.state", false).unwrap();
        assert_eq!(state.default.as_deref(), Some("running"));
        let protocol = explain("sandbox.spec.ports.protocol", false).unwrap();
        assert_eq!(protocol.default.as_deref(), Some("tcp"));
    }

    #[test]
    fn user_text_in_errors_is_cut_and_escaped() {
        let long = "x".repeat(10_000);
        let err = explain(&format!("sandbox.spec.{long}"), false).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
        let err = explain("sandbox.spec.a\nb", false).unwrap_err();
        assert!(!err.to_string().contains('\n'), "{err}");
        let err = explain(&long, false).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
    }

    #[test]
    fn recursive_lists_nested_fields() {
        let shallow = explain("sandbox.spec", false).unwrap();
        assert!(shallow.fields.iter().all(|f| f.fields.is_empty()));
        let deep = explain("sandbox.spec", true).unwrap();
        let mounts = deep.fields.iter().find(|f| f.name == "mounts").unwrap();
        assert!(mounts.fields.iter().any(|f| f.name == "target"));
    }

    /// The schema of the field at `path`, with the kind's `$defs`, for a validator.
    fn field_schema(path: &str) -> Value {
        let mut segments = path.split('.');
        let kind = find_kind(segments.next().unwrap()).unwrap();
        let root = document_schema(kind);
        let walker = Walker::new(&root);
        let mut node = &root;
        for segment in segments {
            match walker.child(node, segment) {
                Step::Found { node: next, .. } => node = next,
                _ => panic!("{path}: no {segment}"),
            }
        }
        let mut schema = node.clone();
        schema["$defs"] = root["$defs"].clone();
        schema
    }

    #[test]
    fn every_declarable_kind_and_every_field_explains_with_a_valid_example() {
        // Walks every field of every kind, recursively: nothing in the real schemas makes
        // explain fail or loop, and every example (table, description or type-shaped,
        // whole documents included) is valid where it is shown.
        fn walk(path: &str, depth: usize) {
            let e = explain(path, false).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(!e.type_name.is_empty(), "{path} has no type");
            let validator = jsonschema::validator_for(&field_schema(path)).unwrap();
            assert!(
                validator.is_valid(&e.example),
                "{path}: example {} is not valid",
                e.example
            );
            if depth < 6 {
                for f in &e.fields {
                    walk(&format!("{path}.{}", f.name), depth + 1);
                }
            }
        }
        for kind in DECLARABLE {
            walk(&kind.as_str().to_lowercase(), 0);
        }
    }

    #[test]
    fn every_kinds_example_document_loads_without_a_problem() {
        // What `explain KIND` shows is a document that pocket-dock accepts as it is (with
        // the build context it names), not only one that fits the schema.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("images/tools")).unwrap();
        std::fs::write(
            dir.path().join("images/tools/Containerfile"),
            "FROM scratch\n",
        )
        .unwrap();
        let declared = dir.path().join(".pocket-dock");
        std::fs::create_dir(&declared).unwrap();
        // Names are unique per kind: every example is `dev`, so that the Snapshot's
        // `sandbox: dev` and a Pool's `template: dev` name the other examples.
        for kind in DECLARABLE {
            let e = explain(kind.as_str(), false).unwrap();
            assert_eq!(e.example["metadata"]["name"], "dev");
            let file = declared.join(format!("{}.yaml", kind.as_str().to_lowercase()));
            std::fs::write(file, e.example.to_string()).unwrap();
        }
        let loaded = crate::load(dir.path());
        let problems: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn every_example_in_the_table_names_a_real_field_and_fits_its_type() {
        let combined = combined_schema();
        let defs = combined["$defs"].as_object().unwrap();
        // Definitions of kinds being built on other branches: their entries are checked
        // once they are merged (the list then only documents them).
        const NOT_YET_MERGED: &[&str] = &["PoolSpec"];
        for (def, field, text) in example_table() {
            let Some(definition) = defs.get(*def) else {
                assert!(NOT_YET_MERGED.contains(def), "no definition {def}");
                continue;
            };
            let schema = &definition["properties"][*field];
            assert!(schema.is_object(), "{def}.{field} is not a field");
            let value: Value = serde_json::from_str(text).unwrap();
            let mut field_schema = schema.clone();
            field_schema["$defs"] = Value::Object(defs.clone());
            let validator = jsonschema::validator_for(&field_schema).unwrap();
            assert!(
                validator.is_valid(&value),
                "{def}.{field}: {text} does not match its schema"
            );
        }
    }
}
