//! Kubernetes CustomResourceDefinitions, generated from the same Rust types as the JSON
//! Schemas (`schema.rs`).
//!
//! schemars writes JSON Schema; a CRD needs a *structural* OpenAPI v3 schema. The rewrite
//! here turns one into the other: every `$ref` inlined, `type: [T, null]` and
//! `anyOf: [T, {type: null}]` as `nullable: true`, `const` as a one-value `enum`, a `oneOf` of
//! string constants as one string `enum`, alternatives of different types (a string or an
//! object, say) as `x-kubernetes-preserve-unknown-fields: true`, and what OpenAPI v3 in
//! Kubernetes does not take (`$schema`, `title`, `additionalProperties: false`, `default`,
//! formats the API server does not know) dropped. What is dropped is still checked by
//! pocket-dock's own validation; docs/kubernetes.md says what a cluster would not check.

use serde_json::{Map, Value, json};

use crate::kind::Kind;
use crate::model::{
    ImageSpec, NetworkSpec, SandboxSpec, SnapshotSpec, TemplateSpec, VolumeSpec, WorkspaceSpec,
};
use crate::schema::{DECLARABLE, spec_required};

/// The API group of every pocket-dock resource.
pub const GROUP: &str = "pocket-dock.dev";
/// The stored version, served with the older [`OLDER_VERSIONS`]: every version has the
/// same fields, so the API server converts between them by changing `apiVersion` alone
/// (conversion strategy `None`).
pub const VERSION: &str = "v1beta1";
/// Older versions still served (not stored).
pub const OLDER_VERSIONS: [&str; 1] = ["v1alpha1"];
/// Where the CRD files live under `schemas/`.
pub const CRD_DIR: &str = "crds";
/// The category `kubectl get pocket-dock` lists.
pub const CATEGORY: &str = "pocket-dock";

/// The formats the API server understands; others are dropped.
const KNOWN_FORMATS: [&str; 7] = [
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
];

/// The plural resource name of a kind: `sandboxes`.
pub fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::Sandbox | Kind::Run => "sandboxes",
        Kind::Image => "images",
        Kind::Snapshot => "snapshots",
        Kind::Volume => "volumes",
        Kind::Network => "networks",
        Kind::Workspace => "workspaces",
        Kind::Template => "templates",
        Kind::Pool => "pools",
    }
}

/// Short names for `kubectl get`: all prefixed `pd` so that none shadows a built-in kind's
/// (`po`, `pv`, `pvc`, `svc`, `netpol`, ...) or another project's `Sandbox`/`Image`.
pub fn short_names(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Sandbox | Kind::Run => &["pdsbx"],
        Kind::Image => &["pdimg"],
        Kind::Snapshot => &["pdsnap"],
        Kind::Volume => &["pdvol"],
        Kind::Network => &["pdnet"],
        Kind::Workspace => &["pdws"],
        Kind::Template => &["pdtpl"],
        Kind::Pool => &["pdpool"],
    }
}

/// The CRD's name: `sandboxes.pocket-dock.dev`.
pub fn crd_name(kind: Kind) -> String {
    format!("{}.{GROUP}", plural(kind))
}

/// The CRD's file name: `sandboxes.pocket-dock.dev.yaml`.
pub fn crd_file_name(kind: Kind) -> String {
    format!("{}.yaml", crd_name(kind))
}

/// The structural OpenAPI schema of one kind's `spec`.
pub fn spec_schema(kind: Kind) -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let root = match kind {
        Kind::Sandbox | Kind::Run => generator.subschema_for::<SandboxSpec>(),
        Kind::Image => generator.subschema_for::<ImageSpec>(),
        Kind::Snapshot => generator.subschema_for::<SnapshotSpec>(),
        Kind::Volume => generator.subschema_for::<VolumeSpec>(),
        Kind::Network => generator.subschema_for::<NetworkSpec>(),
        Kind::Workspace => generator.subschema_for::<WorkspaceSpec>(),
        Kind::Template => generator.subschema_for::<TemplateSpec>(),
        Kind::Pool => generator.subschema_for::<crate::model::PoolSpec>(),
    }
    .to_value();
    let defs = generator.take_definitions(true);
    let mut spec = structural(&root, &defs);
    // The spec itself is never null.
    if let Some(object) = spec.as_object_mut() {
        object.remove("nullable");
    }
    spec
}

/// The status schema. The status types live in the controller crate, not here: the fields
/// the printer columns and `kubectl wait --for=condition=Ready` read are declared, the rest
/// is kept as written (`x-kubernetes-preserve-unknown-fields`).
fn status_schema() -> Value {
    json!({
        "type": "object",
        "description": "Observed state, written by the controller (the fields of `.pocket-dock/status/<kind>/<name>.yaml`).",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "phase": {
                "type": "string",
                "description": "Pending, Running, Stopped, Exited, CrashLoopBackOff, Failed, Succeeded, Ready, Valid, Invalid or Unknown."
            },
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "description": "The generation of the spec the status describes."
            },
            "observedSpecHash": {
                "type": "string",
                "description": "The hash of the spec the running object was made from."
            },
            "conditions": {
                "type": "array",
                "description": "Ready, Reconciling, Stalled, Progressing, Degraded.",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": { "type": "string" },
                        "status": { "type": "string", "enum": ["True", "False", "Unknown"] },
                        "reason": { "type": "string" },
                        "message": { "type": "string" },
                        "lastTransitionTime": { "type": "string" }
                    }
                }
            }
        }
    })
}

/// The whole `openAPIV3Schema` of one kind.
pub fn open_api_schema(kind: Kind) -> Value {
    let spec = spec_schema(kind);
    let description = spec
        .get("description")
        .cloned()
        .unwrap_or_else(|| json!(kind.as_str()));
    let mut schema = json!({
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": { "type": "string", "description": "API version of the document." },
            "kind": { "type": "string", "description": "Kind of the object." },
            "metadata": { "type": "object" },
            "spec": spec,
            "status": status_schema()
        }
    });
    if spec_required(kind) {
        schema["required"] = json!(["spec"]);
    }
    schema
}

/// The CustomResourceDefinition of one kind.
pub fn crd(kind: Kind) -> Value {
    let schema = open_api_schema(kind);
    let version = |name: &str, storage: bool| {
        json!({
            "name": name,
            "served": true,
            "storage": storage,
            "subresources": { "status": {} },
            "additionalPrinterColumns": [
                { "name": "Phase", "type": "string", "jsonPath": ".status.phase" },
                {
                    "name": "Ready",
                    "type": "string",
                    "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"
                },
                { "name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp" }
            ],
            "schema": { "openAPIV3Schema": schema }
        })
    };
    let mut versions = vec![version(VERSION, true)];
    versions.extend(OLDER_VERSIONS.iter().map(|v| version(v, false)));
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": crd_name(kind) },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.as_str(),
                "listKind": format!("{}List", kind.as_str()),
                "plural": plural(kind),
                "singular": kind.as_str().to_lowercase(),
                "shortNames": short_names(kind),
                "categories": [CATEGORY]
            },
            "scope": "Namespaced",
            "versions": versions
        }
    })
}

/// Every kind's CRD as committed under `schemas/crds/`: (file name, YAML).
pub fn crd_files() -> Vec<(String, String)> {
    DECLARABLE
        .iter()
        .map(|&kind| {
            let header =
                "# Generated from spec/src/model.rs by `pocket-dock schema --crds`; do not edit.\n"
                    .to_string();
            (
                crd_file_name(kind),
                header + &crate::yaml_out::to_yaml(&crd(kind)),
            )
        })
        .collect()
}

/// Every kind's CRD, in documentation order.
pub fn crds() -> Vec<Value> {
    DECLARABLE.iter().map(|&kind| crd(kind)).collect()
}

/// The reference's section on the CRDs (in `docs/reference.md`).
pub fn reference_section() -> String {
    let mut out = String::from(
        "\n## Kubernetes CustomResourceDefinitions\n\n\
         `pocket-dock schema --crds [--out DIR | --check]`: one `apiextensions.k8s.io/v1` CRD \
         per kind, group `pocket-dock.dev`, versions `v1beta1` (stored) and `v1alpha1` (served, \
         the same fields), namespaced, with the status \
         subresource and the columns `Phase`, `Ready` and `Age`; committed under \
         `schemas/crds/`. YAML documents on stdout (a JSON list with `--output json`), one \
         file per kind with `--out DIR`; `--check` exits 1 when a file in DIR (default \
         `schemas/crds`) differs. See [kubernetes.md](kubernetes.md).\n\n\
         | kind | CRD | short names | file |\n|---|---|---|---|\n",
    );
    for kind in DECLARABLE {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | `schemas/{CRD_DIR}/{}` |\n",
            kind.as_str(),
            crd_name(kind),
            short_names(kind)
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
            crd_file_name(kind)
        ));
    }
    out
}

/// How deep `$ref`s may nest before the rewrite gives up on a node (the types are not
/// recursive; this only bounds a mistake).
const MAX_DEPTH: usize = 64;

/// Rewrites a schemars JSON Schema node (with its `$defs`) into a structural OpenAPI v3
/// schema node.
pub fn structural(node: &Value, defs: &Map<String, Value>) -> Value {
    rewrite(node, defs, 0)
}

fn untyped() -> Value {
    json!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// The node with its `$ref` (if any) replaced by the definition, the node's own keys
/// (a description, say) winning.
fn resolve(node: &Value, defs: &Map<String, Value>, depth: usize) -> Option<Value> {
    let mut node = node.clone();
    for _ in depth..MAX_DEPTH {
        let Some(reference) = node.get("$ref").and_then(Value::as_str).map(str::to_owned) else {
            return Some(node);
        };
        let name = reference.rsplit('/').next().unwrap_or_default();
        let mut target = defs.get(name)?.clone();
        if let (Some(t), Some(n)) = (target.as_object_mut(), node.as_object()) {
            for (k, v) in n {
                if k != "$ref" {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        node = target;
    }
    None
}

fn is_null(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("null")
}

fn rewrite(node: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    if depth >= MAX_DEPTH {
        return untyped();
    }
    let Some(node) = resolve(node, defs, depth) else {
        return untyped();
    };
    let Some(object) = node.as_object() else {
        // `true` (anything) or `false` (nothing): an untyped node.
        return untyped();
    };
    let description = object.get("description").cloned();

    let alternatives = object
        .get("anyOf")
        .or_else(|| object.get("oneOf"))
        .and_then(Value::as_array);
    if let Some(alternatives) = alternatives {
        let nullable = alternatives.iter().any(is_null);
        let rest: Vec<Value> = alternatives
            .iter()
            .filter(|a| !is_null(a))
            .map(|a| rewrite(a, defs, depth + 1))
            .collect();
        let mut merged = merge(rest);
        if let Some(m) = merged.as_object_mut() {
            m.remove("description");
            if let Some(d) = description {
                m.insert("description".into(), d);
            }
            if nullable {
                m.insert("nullable".into(), json!(true));
            }
        }
        return merged;
    }

    let mut out = Map::new();
    match object.get("type") {
        Some(Value::String(t)) if t != "null" => {
            out.insert("type".into(), json!(t));
        }
        Some(Value::Array(types)) => {
            let named: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            if types.iter().any(|t| t == "null") {
                out.insert("nullable".into(), json!(true));
            }
            match named.as_slice() {
                [one] => {
                    out.insert("type".into(), json!(one));
                }
                [a, b]
                    if (*a == "integer" && *b == "string")
                        || (*a == "string" && *b == "integer") =>
                {
                    out.insert("x-kubernetes-int-or-string".into(), json!(true));
                }
                _ => {
                    out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
                }
            }
        }
        _ => {}
    }
    if let Some(d) = description {
        out.insert("description".into(), d);
    }
    if let Some(c) = object.get("const") {
        out.insert("enum".into(), json!([c]));
        if !out.contains_key("type")
            && let Some(t) = json_type(c)
        {
            out.insert("type".into(), json!(t));
        }
    }
    for key in [
        "enum",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "required",
        "multipleOf",
    ] {
        if let Some(v) = object.get(key) {
            // JSON Schema 2020-12's numeric exclusive bounds are OpenAPI v3's `maximum` plus a
            // flag.
            match (key, v) {
                ("exclusiveMinimum", Value::Number(_)) => {
                    out.insert("minimum".into(), v.clone());
                    out.insert("exclusiveMinimum".into(), json!(true));
                }
                ("exclusiveMaximum", Value::Number(_)) => {
                    out.insert("maximum".into(), v.clone());
                    out.insert("exclusiveMaximum".into(), json!(true));
                }
                _ => {
                    out.insert(key.into(), v.clone());
                }
            }
        }
    }
    if let Some(format) = object.get("format").and_then(Value::as_str)
        && KNOWN_FORMATS.contains(&format)
    {
        out.insert("format".into(), json!(format));
    }
    if let Some(Value::Object(properties)) = object.get("properties") {
        let properties: Map<String, Value> = properties
            .iter()
            .map(|(k, v)| (k.clone(), rewrite(v, defs, depth + 1)))
            .collect();
        out.insert("properties".into(), Value::Object(properties));
    }
    match object.get("additionalProperties") {
        Some(Value::Bool(true)) => {
            out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
        }
        Some(schema @ Value::Object(_)) if !out.contains_key("properties") => {
            out.insert(
                "additionalProperties".into(),
                rewrite(schema, defs, depth + 1),
            );
        }
        // `false` is the API server's pruning already; beside `properties`, a schema for
        // extra keys is not structural.
        _ => {}
    }
    if let Some(items) = object.get("items") {
        let items = rewrite(items, defs, depth + 1);
        if object.get("uniqueItems") == Some(&json!(true)) && is_scalar(&items) {
            out.insert("x-kubernetes-list-type".into(), json!("set"));
        }
        out.insert("items".into(), items);
    }
    let typed = out.contains_key("type")
        || out.contains_key("x-kubernetes-preserve-unknown-fields")
        || out.contains_key("x-kubernetes-int-or-string");
    if !typed {
        out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    }
    if out.get("type") == Some(&json!("object"))
        && !out.contains_key("properties")
        && !out.contains_key("additionalProperties")
        && !out.contains_key("x-kubernetes-preserve-unknown-fields")
    {
        if object.get("additionalProperties") == Some(&json!(false)) {
            // A struct with no fields: none may be given (the API server prunes them).
            out.insert("properties".into(), json!({}));
        } else {
            out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
        }
    }
    Value::Object(out)
}

fn json_type(value: &Value) -> Option<&'static str> {
    match value {
        Value::String(_) => Some("string"),
        Value::Bool(_) => Some("boolean"),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some("integer"),
        Value::Number(_) => Some("number"),
        _ => None,
    }
}

fn is_scalar(node: &Value) -> bool {
    matches!(
        node.get("type").and_then(Value::as_str),
        Some("string" | "integer" | "number" | "boolean")
    )
}

/// One structural node for a value that may match any of `alternatives` (each already
/// structural): their common shape when they share a type, else an untyped node.
fn merge(alternatives: Vec<Value>) -> Value {
    let mut alternatives = alternatives;
    if alternatives.len() <= 1 {
        return alternatives.pop().unwrap_or_else(untyped);
    }
    let types: Vec<Option<&str>> = alternatives
        .iter()
        .map(|a| a.get("type").and_then(Value::as_str))
        .collect();
    let first = types[0];
    if first.is_some() && types.iter().all(|t| *t == first) {
        let ty = first.unwrap_or_default();
        let mut out = Map::new();
        out.insert("type".into(), json!(ty));
        match ty {
            "string" => {
                let enums: Option<Vec<Value>> = alternatives
                    .iter()
                    .map(|a| a.get("enum").and_then(Value::as_array).cloned())
                    .collect::<Option<Vec<_>>>()
                    .map(|lists| lists.into_iter().flatten().collect());
                if let Some(values) = enums {
                    out.insert("enum".into(), Value::Array(values));
                }
            }
            "array" => {
                let items: Vec<Value> = alternatives
                    .iter()
                    .map(|a| a.get("items").cloned().unwrap_or_else(untyped))
                    .collect();
                out.insert("items".into(), merge(items));
            }
            "object" => {
                return json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true });
            }
            _ => {}
        }
        return Value::Object(out);
    }
    let mut named: Vec<&str> = types.iter().map(|t| t.unwrap_or("?")).collect();
    named.sort_unstable();
    named.dedup();
    if named == ["integer", "string"] {
        return json!({ "x-kubernetes-int-or-string": true });
    }
    untyped()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_refs_are_inlined() {
        let defs: Map<String, Value> = serde_json::from_value(json!({
            "Probe": { "type": "object", "additionalProperties": false, "title": "P",
                       "properties": { "n": { "type": ["integer", "null"], "format": "uint32", "minimum": 0 } } }
        }))
        .unwrap();
        let node = json!({ "anyOf": [{ "$ref": "#/$defs/Probe" }, { "type": "null" }], "description": "d" });
        assert_eq!(
            structural(&node, &defs),
            json!({ "type": "object", "nullable": true, "description": "d",
                    "properties": { "n": { "type": "integer", "nullable": true, "minimum": 0 } } })
        );
    }

    #[test]
    fn string_constants_become_one_enum_and_mixed_types_are_preserved() {
        let defs = Map::new();
        let consts = json!({ "oneOf": [{ "type": "string", "const": "a" }, { "type": "string", "const": "b" }] });
        assert_eq!(
            structural(&consts, &defs),
            json!({ "type": "string", "enum": ["a", "b"] })
        );
        let mixed =
            json!({ "anyOf": [{ "type": "string" }, { "type": "object", "properties": {} }] });
        assert_eq!(
            structural(&mixed, &defs),
            json!({ "x-kubernetes-preserve-unknown-fields": true })
        );
        let lists = json!({ "anyOf": [
            { "type": "array", "items": { "type": "string" } },
            { "type": "array", "items": { "type": "array", "items": { "type": "string" } } }
        ] });
        assert_eq!(
            structural(&lists, &defs),
            json!({ "type": "array", "items": { "x-kubernetes-preserve-unknown-fields": true } })
        );
    }

    #[test]
    fn names_are_plural_lowercase_and_short_names_prefixed() {
        for kind in DECLARABLE {
            let crd = crd(kind);
            assert_eq!(
                crd["metadata"]["name"],
                format!("{}s.pocket-dock.dev", kind.as_str().to_lowercase())
                    .replace("sandboxs", "sandboxes")
            );
            assert!(short_names(kind).iter().all(|s| s.starts_with("pd")));
        }
    }
}
