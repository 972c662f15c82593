//! The structural check: walks a located YAML document against its kind's JSON Schema and
//! reports every mismatch (unknown fields with the closest valid name, wrong types, missing
//! fields, values outside an enum or a range), each at its exact location.
//!
//! It understands the subset of JSON Schema that schemars emits for pocket-dock's types:
//! `$ref`, `type` (one or a list), `properties`, `required`, `additionalProperties`,
//! `items`, `enum`, `const`, `oneOf`/`anyOf` of constants or with a null branch, and
//! `minimum`/`maximum`.

use serde_json::Value as Schema;

use crate::diagnostic::{FieldPath, Issue, MAX_PER_DOCUMENT, closest, shown};
use crate::yaml::{Loc, Node, Value};

/// A document's issues: the first [`MAX_PER_DOCUMENT`] are made, the rest only counted
/// (making one can cost a walk or a typo search, and a hostile document has 100,000).
#[derive(Default)]
struct Found {
    issues: Vec<Issue>,
    more: usize,
}

impl Found {
    fn report(&mut self, make: impl FnOnce() -> Issue) {
        if self.issues.len() < MAX_PER_DOCUMENT {
            self.issues.push(make());
        } else {
            self.more += 1;
        }
    }

    /// The issues, closed by a line counting the rest, placed after all of them.
    fn into_issues(mut self) -> Vec<Issue> {
        if self.more > 0 {
            let last = self.issues.iter().map(|i| i.loc).max().unwrap_or_default();
            self.issues.push(Issue::more_problems(last, self.more));
        }
        self.issues
    }
}

pub struct Checker<'s> {
    root: &'s Schema,
}

impl<'s> Checker<'s> {
    /// `root` must hold the `$defs` that `$ref`s point into.
    pub fn new(root: &'s Schema) -> Self {
        Checker { root }
    }

    /// Checks `node` against the root schema; `owner` is where the node is introduced
    /// (its key, or the document start), used for "missing field" reports.
    /// Recursion follows the schema, which is a few levels deep, and the document, which the
    /// parser keeps within `max_depth`.
    pub fn check_document(&self, node: &Node, owner: Loc) -> Vec<Issue> {
        let mut found = Found::default();
        self.check(self.root, node, owner, &FieldPath::root(), &mut found);
        found.into_issues()
    }

    fn resolve(&self, mut schema: &'s Schema) -> &'s Schema {
        // Bounded: schemars never emits a chain of more than a couple of references.
        for _ in 0..16 {
            let Some(reference) = schema.get("$ref").and_then(Schema::as_str) else {
                return schema;
            };
            let Some(name) = reference.strip_prefix("#/$defs/") else {
                return schema;
            };
            match self.root.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => schema = target,
                None => return schema,
            }
        }
        schema
    }

    fn check(
        &self,
        schema: &'s Schema,
        node: &Node,
        owner: Loc,
        path: &FieldPath,
        out: &mut Found,
    ) {
        let schema = self.resolve(schema);

        if let Some(branches) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Schema::as_array)
        {
            return self.check_branches(branches, node, owner, path, out);
        }
        if let Some(expected) = schema.get("const") {
            return check_constant(std::slice::from_ref(expected), node, path, out);
        }
        if let Some(allowed) = schema.get("enum").and_then(Schema::as_array) {
            return check_constant(allowed, node, path, out);
        }

        let types = types_of(schema);
        if node.value == Value::Null && types.contains(&"null") {
            return;
        }
        let Some(&expected) = types.iter().find(|t| **t != "null") else {
            return;
        };
        match (expected, &node.value) {
            ("object", Value::Map(entries)) => {
                self.check_object(schema, node, entries, owner, path, out)
            }
            ("array", Value::Seq(items)) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, item.loc, &path.index(i), out);
                    }
                }
            }
            ("string", Value::Str(_)) | ("boolean", Value::Bool(_)) => {}
            ("integer", Value::Int(i)) => check_range(schema, *i as f64, node, path, out),
            ("number", Value::Int(i)) => check_range(schema, *i as f64, node, path, out),
            ("number", Value::Float(f)) => check_range(schema, *f, node, path, out),
            (expected, _) => out.report(|| type_mismatch(expected, node, path)),
        }
    }

    fn check_object(
        &self,
        schema: &'s Schema,
        node: &Node,
        entries: &[(crate::yaml::Key, Node)],
        owner: Loc,
        path: &FieldPath,
        out: &mut Found,
    ) {
        let properties = schema.get("properties").and_then(Schema::as_object);
        let additional = schema.get("additionalProperties");
        for (key, value) in entries {
            let field_path = path.key(&key.name);
            match properties.and_then(|p| p.get(&key.name)) {
                Some(field_schema) => self.check(field_schema, value, key.loc, &field_path, out),
                None => match additional {
                    Some(Schema::Bool(false)) => {
                        out.report(|| unknown_field(properties, &key.name, key.loc, field_path));
                    }
                    Some(value_schema @ Schema::Object(_)) => {
                        self.check(value_schema, value, key.loc, &field_path, out);
                    }
                    _ => {}
                },
            }
        }
        if let Some(required) = schema.get("required").and_then(Schema::as_array) {
            for name in required.iter().filter_map(Schema::as_str) {
                if node.get(name).is_none() {
                    out.report(|| {
                        Issue::new(
                            owner,
                            path.key(name),
                            "missing-field",
                            format!("missing required field `{name}`"),
                        )
                    });
                }
            }
        }
    }

    fn check_branches(
        &self,
        branches: &'s [Schema],
        node: &Node,
        owner: Loc,
        path: &FieldPath,
        out: &mut Found,
    ) {
        let resolved: Vec<&Schema> = branches.iter().map(|b| self.resolve(b)).collect();
        let allows_null = |s: &&Schema| types_of(s).contains(&"null");
        if node.value == Value::Null && resolved.iter().any(allows_null) {
            return;
        }
        // An enum with documented variants: `oneOf` of constants.
        let constants: Option<Vec<Schema>> = resolved
            .iter()
            .filter(|s| !allows_null(s))
            .map(|s| s.get("const").cloned())
            .collect();
        if let Some(constants) = constants.filter(|c| !c.is_empty()) {
            return check_constant(&constants, node, path, out);
        }
        // Constants and a long form (`none`, or `{egress: [...]}`): a node that no other
        // branch's type fits is held to the constants.
        let named: Vec<Schema> = resolved
            .iter()
            .filter_map(|s| s.get("const").cloned())
            .collect();
        let other_fits = resolved.iter().any(|s| {
            s.get("const").is_none()
                && !allows_null(s)
                && types_of(s).iter().any(|t| matches_type(t, &node.value))
        });
        if !named.is_empty() && !other_fits {
            return check_constant(&named, node, path, out);
        }
        // A short and a long form (`web` or `{name: web, condition: Ready}`): the branch of
        // the node's own type decides; none fits, the first one's complaint stands.
        let branches: Vec<&Schema> = resolved.into_iter().filter(|s| !allows_null(s)).collect();
        // Two list forms (`[argv]` or `[[argv], ...]`) are told apart by the first item.
        let fits = |s: &&&Schema| {
            let top = types_of(s).iter().any(|t| matches_type(t, &node.value));
            let first_item = match &node.value {
                Value::Seq(items) => items.first(),
                _ => None,
            };
            let item_fits = match (s.get("items"), first_item) {
                (Some(item_schema), Some(item)) => types_of(self.resolve(item_schema))
                    .iter()
                    .any(|t| matches_type(t, &item.value)),
                _ => true,
            };
            top && item_fits
        };
        if let Some(branch) = branches.iter().find(fits).or(branches.first()) {
            self.check(branch, node, owner, path, out);
        }
    }
}

fn unknown_field(
    properties: Option<&serde_json::Map<String, Schema>>,
    name: &str,
    loc: Loc,
    path: FieldPath,
) -> Issue {
    let names: Vec<&str> = properties
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let message = format!("unknown field `{}`", shown(name));
    let issue = Issue::new(loc, path, "unknown-field", message);
    match closest(name, names.iter().copied()) {
        Some(near) => issue.hint(format!("did you mean `{near}`?")),
        None => issue.hint(format!("expected one of: {}", backticked(&names))),
    }
}

/// Whether a YAML value is of a JSON Schema `type`.
fn matches_type(expected: &str, value: &Value) -> bool {
    matches!(
        (expected, value),
        ("object", Value::Map(_))
            | ("array", Value::Seq(_))
            | ("string", Value::Str(_))
            | ("boolean", Value::Bool(_))
            | ("integer", Value::Int(_))
            | ("number", Value::Int(_) | Value::Float(_))
    )
}

fn types_of(schema: &Schema) -> Vec<&str> {
    match schema.get("type") {
        Some(Schema::String(t)) => vec![t.as_str()],
        Some(Schema::Array(ts)) => ts.iter().filter_map(Schema::as_str).collect(),
        _ => Vec::new(),
    }
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_constant(allowed: &[Schema], node: &Node, path: &FieldPath, out: &mut Found) {
    let as_json = node.to_json();
    if !allowed.contains(&as_json) {
        out.report(|| invalid_constant(allowed, node, path));
    }
}

fn invalid_constant(allowed: &[Schema], node: &Node, path: &FieldPath) -> Issue {
    let names: Vec<String> = allowed
        .iter()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .collect();
    let written = match &node.value {
        Value::Str(s) => s.clone(),
        _ => node
            .plain
            .clone()
            .unwrap_or_else(|| node.describe().to_string()),
    };
    let message = if names.len() == 1 {
        format!("must be `{}`, not `{}`", names[0], shown(&written))
    } else {
        format!(
            "invalid value `{}`: expected one of {}",
            shown(&written),
            backticked(&names.iter().map(String::as_str).collect::<Vec<_>>())
        )
    };
    let issue = Issue::new(node.loc, path.clone(), "invalid-value", message);
    match closest(&written, names.iter().map(String::as_str)) {
        Some(near) if near != written && names.len() > 1 => {
            issue.hint(format!("did you mean `{near}`?"))
        }
        _ => issue,
    }
}

fn check_range(schema: &Schema, value: f64, node: &Node, path: &FieldPath, out: &mut Found) {
    let min = schema.get("minimum").and_then(Schema::as_f64);
    let max = schema.get("maximum").and_then(Schema::as_f64);
    let below = min.is_some_and(|m| value < m);
    let above = max.is_some_and(|m| value > m);
    if below || above {
        let message = match (min, max) {
            (Some(lo), Some(hi)) => format!("must be between {lo} and {hi}"),
            (Some(lo), None) => format!("must be at least {lo}"),
            (None, Some(hi)) => format!("must be at most {hi}"),
            (None, None) => String::new(),
        };
        out.report(|| Issue::new(node.loc, path.clone(), "out-of-range", message));
    }
}

fn type_mismatch(expected: &str, node: &Node, path: &FieldPath) -> Issue {
    let wanted = match expected {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        other => other,
    };
    let issue = Issue::new(
        node.loc,
        path.clone(),
        "wrong-type",
        format!("expected {wanted}, found {}", node.describe()),
    );
    match (&node.value, &node.plain) {
        (Value::Int(_) | Value::Float(_) | Value::Bool(_), Some(text)) if expected == "string" => {
            issue.hint(format!("quote it: \"{text}\""))
        }
        _ => issue,
    }
}
