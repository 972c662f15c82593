//! JSON Schemas, generated from the Rust types.
//!
//! schemars derives the `metadata` and `spec` definitions; the document around them
//! (`apiVersion`, `kind`) is assembled here. The same schemas drive the structural check of
//! every loaded document (see `structure.rs`), so what editors are told and what
//! `validate` enforces cannot drift apart.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};

use crate::kind::Kind;
use crate::model::{
    API_VERSION_V1ALPHA1, API_VERSION_V1BETA1, ImageSpec, Metadata, NetworkSpec, PoolSpec,
    SandboxSpec, SnapshotSpec, TemplateSpec, VolumeSpec, WorkspaceSpec,
};

/// The kinds that can be declared in YAML, in documentation order.
pub const DECLARABLE: [Kind; 8] = [
    Kind::Sandbox,
    Kind::Template,
    Kind::Image,
    Kind::Snapshot,
    Kind::Volume,
    Kind::Network,
    Kind::Workspace,
    Kind::Pool,
];

/// The file holding every kind's schema; the one to name in an editor modeline.
pub const COMBINED_FILE: &str = "pocket-dock.json";

/// The schemas' `$id`s are a contract (docs/versioning.md) and stay where they are: one
/// schema accepts every `apiVersion` in [`crate::model::API_VERSIONS`].
const SCHEMA_BASE: &str = "https://pocket-dock.dev/schemas/v1alpha1/";

/// The schema file name of one kind: `sandbox.json`.
pub fn file_name(kind: Kind) -> String {
    format!("{}.json", kind.as_str().to_lowercase())
}

/// Whether a document of `kind` must have a `spec`.
pub fn spec_required(kind: Kind) -> bool {
    !matches!(kind, Kind::Volume | Kind::Network | Kind::Workspace)
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

fn spec_schema(generator: &mut SchemaGenerator, kind: Kind) -> Value {
    match kind {
        Kind::Sandbox | Kind::Run => generator.subschema_for::<SandboxSpec>(),
        Kind::Image => generator.subschema_for::<ImageSpec>(),
        Kind::Snapshot => generator.subschema_for::<SnapshotSpec>(),
        Kind::Volume => generator.subschema_for::<VolumeSpec>(),
        Kind::Network => generator.subschema_for::<NetworkSpec>(),
        Kind::Workspace => generator.subschema_for::<WorkspaceSpec>(),
        Kind::Template => generator.subschema_for::<TemplateSpec>(),
        Kind::Pool => generator.subschema_for::<PoolSpec>(),
    }
    .to_value()
}

/// The object schema of one kind's document, with `$ref`s into the generator's `$defs`.
fn document_body(generator: &mut SchemaGenerator, kind: Kind) -> Value {
    let metadata = generator.subschema_for::<Metadata>().to_value();
    let spec = spec_schema(generator, kind);
    let mut required = vec!["apiVersion", "kind", "metadata"];
    if spec_required(kind) {
        required.push("spec");
    }
    json!({
        "title": kind.as_str(),
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": {
            "apiVersion": {
                "description": "API version of the document: every accepted version reads the same \
                                fields; `pocket-dock migrate` rewrites older ones to the newest.",
                "oneOf": [
                    {
                        "const": API_VERSION_V1BETA1,
                        "description": "The newest version."
                    },
                    {
                        "const": API_VERSION_V1ALPHA1,
                        "description": "The first version: still accepted, with the same fields."
                    }
                ]
            },
            "kind": {
                "description": "Kind of the object.",
                "const": kind.as_str()
            },
            "metadata": metadata,
            "spec": spec
        }
    })
}

/// The standalone schema of one kind's documents.
pub fn document_schema(kind: Kind) -> Value {
    let mut generator = generator();
    let mut body = document_body(&mut generator, kind);
    let defs = generator.take_definitions(true);
    let description = spec_description(&defs, kind);
    if let Some(object) = body.as_object_mut() {
        object.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        object.insert(
            "$id".into(),
            json!(format!("{SCHEMA_BASE}{}", file_name(kind))),
        );
        object.insert("description".into(), json!(description));
        object.insert("$defs".into(), Value::Object(defs));
    }
    body
}

fn spec_description(defs: &serde_json::Map<String, Value>, kind: Kind) -> String {
    let name = match kind {
        Kind::Sandbox | Kind::Run => "SandboxSpec",
        Kind::Image => "ImageSpec",
        Kind::Snapshot => "SnapshotSpec",
        Kind::Volume => "VolumeSpec",
        Kind::Network => "NetworkSpec",
        Kind::Workspace => "WorkspaceSpec",
        Kind::Template => "TemplateSpec",
        Kind::Pool => "PoolSpec",
    };
    defs.get(name)
        .and_then(|d| d.get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// One schema for every kind: a document must match exactly one of them.
pub fn combined_schema() -> Value {
    let mut generator = generator();
    let bodies: Vec<(Kind, Value)> = DECLARABLE
        .iter()
        .map(|&k| (k, document_body(&mut generator, k)))
        .collect();
    let mut defs = generator.take_definitions(true);
    let mut one_of = Vec::new();
    for (kind, mut body) in bodies {
        if let Some(object) = body.as_object_mut() {
            object.insert("description".into(), json!(spec_description(&defs, kind)));
        }
        let name = format!("{}Document", kind.as_str());
        one_of.push(json!({ "$ref": format!("#/$defs/{name}") }));
        defs.insert(name, body);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{SCHEMA_BASE}{COMBINED_FILE}"),
        "title": "pocket-dock document",
        "description": "Any pocket-dock document; `kind` selects which.",
        "oneOf": one_of,
        "$defs": defs
    })
}

/// Every schema file, as committed under `schemas/`: (file name, pretty JSON + newline).
pub fn schema_files() -> Vec<(String, String)> {
    let render = |v: &Value| {
        let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
        s.push('\n');
        s
    };
    let mut files: Vec<(String, String)> = DECLARABLE
        .iter()
        .map(|&k| (file_name(k), render(&document_schema(k))))
        .collect();
    files.push((COMBINED_FILE.to_string(), render(&combined_schema())));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_require_their_kind_and_forbid_unknown_fields() {
        let s = document_schema(Kind::Sandbox);
        assert_eq!(s["properties"]["kind"]["const"], "Sandbox");
        let versions: Vec<&Value> = s["properties"]["apiVersion"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| &v["const"])
            .collect();
        assert_eq!(versions, crate::model::API_VERSIONS);
        assert_eq!(s["additionalProperties"], false);
        assert!(s["required"].as_array().unwrap().contains(&json!("spec")));
        assert!(s["$defs"]["SandboxSpec"]["properties"]["imageFrom"].is_object());
        assert_eq!(s["$defs"]["SandboxSpec"]["additionalProperties"], false);
        let v = document_schema(Kind::Volume);
        assert!(!v["required"].as_array().unwrap().contains(&json!("spec")));
    }

    #[test]
    fn combined_schema_offers_every_declarable_kind() {
        let c = combined_schema();
        assert_eq!(c["oneOf"].as_array().unwrap().len(), DECLARABLE.len());
        for kind in DECLARABLE {
            let def = &c["$defs"][format!("{}Document", kind.as_str())];
            assert_eq!(def["properties"]["kind"]["const"], kind.as_str());
        }
    }
}
