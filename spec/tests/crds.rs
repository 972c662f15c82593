//! The CustomResourceDefinitions under `schemas/crds/` are what the code generates, they
//! deserialize into the API server's own types (`k8s-openapi`), and every schema node in them
//! follows the structural-schema rules the API server enforces. Nothing here reaches a
//! cluster, so this test is as strict as the API server would be, and stricter: only the
//! keys `JSONSchemaProps` knows may appear, so nothing is silently ignored.
//!
//! `POCKET_DOCK_BLESS=1 cargo test -p pocket-dock-spec --test crds` rewrites the files.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use pocket_dock_spec::crd::{crd_file_name, crd_files};
use pocket_dock_spec::schema::DECLARABLE;
use serde_json::Value;

fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/crds")
}

#[test]
fn committed_crds_match_the_types() {
    let bless = std::env::var_os("POCKET_DOCK_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, text) in crd_files() {
        let path = crd_dir().join(&name);
        if bless {
            std::fs::create_dir_all(crd_dir()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale CRDs: {stale:?}\nregenerate with `pocket-dock schema --crds --out schemas/crds` (or \
         `POCKET_DOCK_BLESS=1 cargo test -p pocket-dock-spec --test crds`) and commit them"
    );
    // Nothing else lives there: a CRD of a kind that no longer exists is not left behind.
    let mut names: Vec<String> = std::fs::read_dir(crd_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = DECLARABLE.iter().map(|&k| crd_file_name(k)).collect();
    expected.sort();
    assert_eq!(names, expected);
}

/// A committed file, as JSON (through pocket-dock's own YAML reader, which is strict).
fn committed(kind: pocket_dock_spec::kind::Kind) -> Value {
    let text = std::fs::read_to_string(crd_dir().join(crd_file_name(kind))).unwrap();
    let docs = pocket_dock_spec::yaml::parse(&text, Default::default()).unwrap();
    assert_eq!(docs.len(), 1, "one CRD per file");
    docs[0].root.to_json()
}

/// The keys an `apiextensions.k8s.io/v1` `JSONSchemaProps` has, less those a structural
/// schema may not use (`$ref`, `definitions`, `additionalItems`, `dependencies`, `id`,
/// `$schema`, `title`, `default` is allowed by the API server but not used here: see
/// docs/kubernetes.md).
const ALLOWED: [&str; 30] = [
    "type",
    "description",
    "properties",
    "additionalProperties",
    "items",
    "required",
    "enum",
    "format",
    "nullable",
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
    "multipleOf",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-embedded-resource",
];

const FORMATS: [&str; 7] = [
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
];

fn check_keys(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(object) = node.as_object() else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    for (key, value) in object {
        if !ALLOWED.contains(&key.as_str()) {
            problems.push(format!(
                "{path}: key `{key}` is not for a structural schema"
            ));
        }
        match key.as_str() {
            "properties" => {
                for (name, child) in value.as_object().unwrap() {
                    check_keys(child, &format!("{path}.{name}"), problems);
                }
            }
            "items" | "additionalProperties" => check_keys(value, &format!("{path}[]"), problems),
            _ => {}
        }
    }
}

/// The API server's structural rules, on the typed props.
/// `path` is `metadata` for the root's metadata only (the API server's own `ObjectMeta`).
fn check_structural(node: &JSONSchemaProps, path: &str, problems: &mut Vec<String>) {
    let preserve = node.x_kubernetes_preserve_unknown_fields == Some(true);
    let int_or_string = node.x_kubernetes_int_or_string == Some(true);
    // Every node has a type, or says why not.
    match node.type_.as_deref() {
        Some("object" | "array" | "string" | "integer" | "number" | "boolean") => {}
        Some(other) => problems.push(format!("{path}: unknown type `{other}`")),
        None if preserve || int_or_string => {}
        None => problems.push(format!("{path}: no type")),
    }
    if int_or_string && node.type_.is_some() {
        problems.push(format!("{path}: x-kubernetes-int-or-string with a type"));
    }
    // No value validation without types, and no alternatives at all: the rewrite never
    // emits them, and a bare one is what the API server rejects.
    for (name, set) in [
        ("anyOf", &node.any_of),
        ("oneOf", &node.one_of),
        ("allOf", &node.all_of),
    ] {
        if set.is_some() {
            problems.push(format!(
                "{path}: `{name}` (bare alternatives are not structural)"
            ));
        }
    }
    if node.not.is_some() {
        problems.push(format!("{path}: `not`"));
    }
    if node.ref_path.is_some()
        || node.definitions.is_some()
        || node.schema.is_some()
        || node.id.is_some()
    {
        problems.push(format!("{path}: $ref, definitions, $schema or id"));
    }
    if node.title.is_some() || node.default.is_some() {
        problems.push(format!("{path}: title or default"));
    }
    if node.unique_items == Some(true) {
        problems.push(format!("{path}: uniqueItems: true"));
    }
    if let Some(format) = node.format.as_deref()
        && !FORMATS.contains(&format)
    {
        problems.push(format!(
            "{path}: format `{format}` the API server does not know"
        ));
    }
    if let Some(values) = &node.enum_ {
        let ty = node.type_.as_deref().unwrap_or_default();
        for v in values {
            let ok = match ty {
                "string" => v.0.is_string(),
                "integer" => v.0.is_i64() || v.0.is_u64(),
                "number" => v.0.is_number(),
                "boolean" => v.0.is_boolean(),
                _ => false,
            };
            if !ok {
                problems.push(format!("{path}: enum value {:?} is not a {ty}", v.0));
            }
        }
    }
    // Fields only on objects, items only on arrays.
    let is_object = node.type_.as_deref() == Some("object");
    if (node.properties.is_some()
        || node.additional_properties.is_some()
        || node.required.is_some())
        && !(is_object || preserve && node.type_.is_none())
    {
        problems.push(format!("{path}: properties on a non-object"));
    }
    if node.items.is_some() != (node.type_.as_deref() == Some("array")) {
        problems.push(format!(
            "{path}: an array needs items, and only an array has them"
        ));
    }
    // additionalProperties: a schema, never beside properties, never `false`.
    match &node.additional_properties {
        Some(JSONSchemaPropsOrBool::Bool(b)) => {
            problems.push(format!("{path}: additionalProperties: {b}"));
        }
        Some(JSONSchemaPropsOrBool::Schema(schema)) => {
            if node.properties.is_some() {
                problems.push(format!("{path}: additionalProperties beside properties"));
            }
            check_structural(schema, &format!("{path}{{}}"), problems);
        }
        None => {}
    }
    // An object that says nothing of its fields would have every field pruned.
    if is_object
        && node.properties.is_none()
        && node.additional_properties.is_none()
        && !preserve
        && path != "metadata"
    {
        problems.push(format!(
            "{path}: an object with no fields that does not preserve them"
        ));
    }
    if let Some(required) = &node.required {
        let properties = node.properties.as_ref();
        for name in required {
            if properties.is_none_or(|p| !p.contains_key(name)) {
                problems.push(format!("{path}: required `{name}` is not a property"));
            }
        }
    }
    match &node.items {
        Some(JSONSchemaPropsOrArray::Schema(items)) => {
            check_structural(items, &format!("{path}[]"), problems);
        }
        Some(JSONSchemaPropsOrArray::Schemas(_)) => {
            problems.push(format!("{path}: tuple items"));
        }
        None => {}
    }
    if let Some(list_type) = node.x_kubernetes_list_type.as_deref() {
        let items = match &node.items {
            Some(JSONSchemaPropsOrArray::Schema(items)) => Some(items.as_ref()),
            _ => None,
        };
        match list_type {
            "atomic" => {}
            "set" => {
                if !items.is_some_and(|i| {
                    matches!(
                        i.type_.as_deref(),
                        Some("string" | "integer" | "number" | "boolean")
                    )
                }) {
                    problems.push(format!("{path}: a set of non-scalars"));
                }
            }
            "map" => {
                let keys = node.x_kubernetes_list_map_keys.clone().unwrap_or_default();
                if keys.is_empty() {
                    problems.push(format!("{path}: a map list without keys"));
                }
                for key in keys {
                    let required = items
                        .and_then(|i| i.required.as_ref())
                        .is_some_and(|r| r.contains(&key));
                    if !required {
                        problems.push(format!("{path}: list map key `{key}` is not required"));
                    }
                }
            }
            other => problems.push(format!("{path}: list type `{other}`")),
        }
    }
    for (name, child) in node.properties.iter().flatten() {
        if path.contains('.') || name != "metadata" {
            check_structural(child, &format!("{path}.{name}"), problems);
        }
    }
}

#[test]
fn every_crd_is_a_valid_structural_custom_resource_definition() {
    for kind in DECLARABLE {
        let raw = committed(kind);
        let crd: CustomResourceDefinition = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{kind}: not a CustomResourceDefinition: {e}"));
        let plural = crd.spec.names.plural.clone();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some(format!("{plural}.pocket-dock.dev").as_str())
        );
        assert_eq!(crd.spec.group, "pocket-dock.dev");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, kind.as_str());
        assert_eq!(
            crd.spec.names.singular.as_deref(),
            Some(kind.as_str().to_lowercase().as_str())
        );
        let short = crd.spec.names.short_names.clone().unwrap_or_default();
        assert!(!short.is_empty(), "{kind}: short names");
        for name in &short {
            assert!(
                ![
                    "po", "pv", "pvc", "svc", "netpol", "ns", "no", "cm", "ep", "ev", "sa",
                    "deploy", "ds", "rs", "sts", "ing", "crd", "pc", "sc"
                ]
                .contains(&name.as_str()),
                "{kind}: short name {name} shadows a built-in kind"
            );
        }
        // The newest version first and stored; the older one served with the same schema.
        let names: Vec<&str> = crd.spec.versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["v1beta1", "v1alpha1"]);
        assert_eq!(
            crd.spec.versions.iter().filter(|v| v.storage).count(),
            1,
            "{kind}: one stored version"
        );
        assert!(crd.spec.versions.iter().all(|v| v.served));
        assert_eq!(
            crd.spec.versions[0].schema, crd.spec.versions[1].schema,
            "{kind}: the versions have the same fields (conversion None)"
        );
        let version = &crd.spec.versions[0];
        assert!(version.served && version.storage);
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{kind}: status subresource"
        );
        let columns: Vec<(&str, &str, &str)> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.type_.as_str(), c.json_path.as_str()))
            .collect();
        assert_eq!(
            columns,
            [
                ("Phase", "string", ".status.phase"),
                (
                    "Ready",
                    "string",
                    ".status.conditions[?(@.type==\"Ready\")].status"
                ),
                ("Age", "date", ".metadata.creationTimestamp"),
            ]
        );

        let schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .unwrap_or_else(|| panic!("{kind}: no openAPIV3Schema"));
        let mut problems = Vec::new();
        check_keys(
            &raw["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
            kind.as_str(),
            &mut problems,
        );
        check_structural(schema, kind.as_str(), &mut problems);
        check_structural(
            &schema.properties.as_ref().unwrap()["metadata"],
            "metadata",
            &mut problems,
        );
        // The root: an object, with metadata left to the API server.
        assert_eq!(schema.type_.as_deref(), Some("object"));
        assert!(
            schema.x_kubernetes_preserve_unknown_fields.is_none(),
            "{kind}: the root prunes"
        );
        let properties = schema.properties.as_ref().unwrap();
        let metadata = &properties["metadata"];
        assert!(
            metadata.properties.is_none() && metadata.type_.as_deref() == Some("object"),
            "{kind}: metadata is the API server's"
        );
        for field in ["apiVersion", "kind", "metadata", "spec", "status"] {
            assert!(properties.contains_key(field), "{kind}: {field}");
        }
        assert!(problems.is_empty(), "{kind}:\n{}", problems.join("\n"));
    }
}

#[test]
fn the_spec_fields_survive_the_rewrite() {
    // Every field of the JSON Schema's spec is a field of the CRD's spec: the rewrite
    // neither loses nor invents one (at the top level, where users look first).
    for kind in DECLARABLE {
        let json = pocket_dock_spec::schema::document_schema(kind);
        let spec_ref = json["properties"]["spec"]["$ref"].as_str().unwrap();
        let def = &json["$defs"][spec_ref.rsplit('/').next().unwrap()];
        let empty = serde_json::Map::new();
        let mut fields: Vec<&String> = def["properties"]
            .as_object()
            .unwrap_or(&empty)
            .keys()
            .collect();
        fields.sort();
        let crd = committed(kind);
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut crd_fields: Vec<&String> = spec["properties"].as_object().unwrap().keys().collect();
        crd_fields.sort();
        assert_eq!(fields, crd_fields, "{kind}");
        assert_eq!(
            def.get("required"),
            spec.get("required"),
            "{kind}: required fields"
        );
    }
}

/// Whether every key and value of `part` is in `whole` (lists: the same length, item by
/// item).
fn is_part_of(part: &Value, whole: &Value, path: &str, problems: &mut Vec<String>) {
    match (part, whole) {
        (Value::Object(p), Value::Object(w)) => {
            for (key, value) in p {
                match w.get(key) {
                    Some(other) => is_part_of(value, other, &format!("{path}.{key}"), problems),
                    None => problems.push(format!("{path}.{key}: not in the generated CRD")),
                }
            }
        }
        (Value::Array(p), Value::Array(w)) if p.len() == w.len() => {
            for (i, (a, b)) in p.iter().zip(w).enumerate() {
                is_part_of(a, b, &format!("{path}[{i}]"), problems);
            }
        }
        _ if part == whole => {}
        _ => problems.push(format!("{path}: {part} in the docs, {whole} generated")),
    }
}

#[test]
fn the_crd_excerpts_in_the_docs_are_parts_of_the_generated_crds() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/kubernetes.md");
    let text = std::fs::read_to_string(&page).unwrap();
    let mut checked = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(file) = line
            .trim()
            .strip_prefix("<!-- crd excerpt: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        assert_eq!(
            lines.next().map(str::trim),
            Some("```yaml"),
            "an excerpt is YAML"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        let docs = pocket_dock_spec::yaml::parse(&block.join("\n"), Default::default()).unwrap();
        let excerpt = docs[0].root.to_json();
        let kind = DECLARABLE
            .into_iter()
            .find(|&k| crd_file_name(k) == file)
            .unwrap_or_else(|| panic!("no CRD file {file}"));
        let mut problems = Vec::new();
        is_part_of(&excerpt, &committed(kind), "", &mut problems);
        assert!(
            problems.is_empty(),
            "docs/kubernetes.md, {file}:\n{}",
            problems.join("\n")
        );
        // And it is a CRD of its own.
        let _: CustomResourceDefinition = serde_json::from_value(excerpt).unwrap();
        checked += 1;
    }
    assert!(checked > 0, "no CRD excerpt found in docs/kubernetes.md");
}

/// The CRD's `openAPIV3Schema` of `kind`, as a JSON Schema validator (OpenAPI's `nullable`
/// and the `x-kubernetes-*` keys are unknown keywords to it, and ignored).
fn crd_validator(kind: pocket_dock_spec::kind::Kind) -> jsonschema::Validator {
    let crd = committed(kind);
    jsonschema::validator_for(&crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]).unwrap()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn the_crds_accept_every_example_document_and_refuse_what_their_types_refuse() {
    let mut files = Vec::new();
    yaml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workspaces"),
        &mut files,
    );
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let Ok(docs) = pocket_dock_spec::yaml::parse(&text, Default::default()) else {
            continue;
        };
        for doc in docs {
            let doc = doc.root.to_json();
            let Some(kind) = DECLARABLE.into_iter().find(|k| doc["kind"] == k.as_str()) else {
                continue;
            };
            let errors: Vec<String> = crd_validator(kind)
                .iter_errors(&doc)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} example documents found");

    let sandbox = crd_validator(pocket_dock_spec::kind::Kind::Sandbox);
    for bad in [
        "spec: {image: x, state: sometimes}",
        "spec: {image: x, ports: [{container: 70000}]}",
        "spec: {image: x, ports: [{host: 8080}]}",
        "spec: {image: x, run: twice}",
        "spec: {image: x, readiness: {interval: 1s}}",
        "spec: {image: x, resources: {pids: 0}}",
        "# no spec",
    ] {
        let text = format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {{name: a}}\n{bad}\n"
        );
        let doc = pocket_dock_spec::yaml::parse(&text, Default::default()).unwrap()[0]
            .root
            .to_json();
        assert!(!sandbox.is_valid(&doc), "the Sandbox CRD accepted:\n{text}");
    }
}
