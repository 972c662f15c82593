#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use super::*;
use crate::model::{EnvValue, Network, Profile, RunMode};

fn node(yaml_text: &str) -> Node {
    yaml::parse(yaml_text, yaml::Limits::default())
        .unwrap()
        .remove(0)
        .root
}

fn merged(layers: &[&str]) -> serde_json::Value {
    let mut base = node(layers[0]);
    for over in &layers[1..] {
        merge(&mut base, &node(over));
    }
    base.to_json()
}

#[test]
fn mappings_merge_by_key_recursively() {
    let m = merged(&[
        "env: {A: '1', B: '2'}\nresources: {memory: 1Gi, pids: 10}\nsecurity: {profile: locked}",
        "env: {B: three, C: '4'}\nresources: {pids: 20}\nsecurity: {seccomp: default}",
    ]);
    assert_eq!(
        m,
        serde_json::json!({
            "env": {"A": "1", "B": "three", "C": "4"},
            "resources": {"memory": "1Gi", "pids": 20},
            "security": {"profile": "locked", "seccomp": "default"},
        })
    );
}

#[test]
fn lists_and_scalars_replace_whole() {
    let m = merged(&[
        "command: [a, b]\nports: [{container: 80}, {container: 81}]\nuser: '1000'\nmounts: [{type: tmpfs, target: /x}]",
        "command: [c]\nports: [{container: 90}]\nuser: '2000'\nmounts: []",
    ]);
    assert_eq!(
        m,
        serde_json::json!({
            "command": ["c"],
            "ports": [{"container": 90}],
            "user": "2000",
            "mounts": [],
        })
    );
}

#[test]
fn a_value_of_another_type_replaces() {
    assert_eq!(
        merged(&["network: {egress: ['a.com:443']}", "network: none"]),
        serde_json::json!({"network": "none"})
    );
    assert_eq!(
        merged(&["network: none", "network: {egress: ['a.com:443']}"]),
        serde_json::json!({"network": {"egress": ["a.com:443"]}})
    );
    assert_eq!(
        merged(&["env: {A: {valueFrom: {secret: s}}}", "env: {A: plain}"]),
        serde_json::json!({"env": {"A": "plain"}})
    );
}

#[test]
fn null_removes_an_inherited_field() {
    let m = merged(&[
        "lifetime: {idleTimeout: 1m}\nresources: {memory: 1Gi, pids: 10}\nuser: '1'",
        "lifetime: null\nresources: {memory: ~}\nworkdir: null",
    ]);
    assert_eq!(
        m,
        serde_json::json!({"resources": {"pids": 10}, "user": "1"})
    );
}

#[test]
fn image_and_image_from_replace_each_other() {
    assert_eq!(
        merged(&["image: a:1", "imageFrom: {image: tools}"]),
        serde_json::json!({"imageFrom": {"image": "tools"}})
    );
    assert_eq!(
        merged(&["imageFrom: {snapshot: snap}", "image: b:2"]),
        serde_json::json!({"image": "b:2"})
    );
    assert_eq!(
        merged(&["imageFrom: {image: tools}", "imageFrom: {snapshot: snap}"]),
        serde_json::json!({"imageFrom": {"snapshot": "snap"}})
    );
    // Not a group anywhere else: `image` of a deeper mapping is an ordinary key.
    assert_eq!(
        merged(&["image: a:1\nenv: {image: x}", "env: {imageFrom: y}"]),
        serde_json::json!({"image": "a:1", "env": {"image": "x", "imageFrom": "y"}})
    );
}

#[test]
fn the_chain_applies_base_first() {
    let base: TemplateSpec = serde_json::from_value(serde_json::json!({
        "sandbox": {"env": {"A": "base", "B": "base"}, "user": "1"}
    }))
    .unwrap();
    let middle: TemplateSpec = serde_json::from_value(serde_json::json!({
        "extends": "base",
        "sandbox": {"env": {"B": "middle", "C": "middle"}, "user": "2"}
    }))
    .unwrap();
    let top: TemplateSpec = serde_json::from_value(serde_json::json!({
        "extends": "middle",
        "sandbox": {"env": {"C": "top"}, "image": "x:1"}
    }))
    .unwrap();
    let catalog = Catalog::new([("base", &base), ("middle", &middle), ("top", &top)]);
    let names: Vec<String> = catalog
        .chain("top")
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["top", "middle", "base"]);
    let spec: SandboxSpec = serde_json::from_value(
        catalog
            .merged_fields("top", Loc::default())
            .unwrap()
            .to_json(),
    )
    .unwrap();
    assert_eq!(spec.env["A"], EnvValue::from("base"));
    assert_eq!(spec.env["B"], EnvValue::from("middle"));
    assert_eq!(spec.env["C"], EnvValue::from("top"));
    assert_eq!(spec.user.as_deref(), Some("2"));
    assert_eq!(spec.image.as_deref(), Some("x:1"));
}

#[test]
fn cycles_depth_and_unknown_names_are_errors() {
    let a: TemplateSpec = serde_json::from_value(serde_json::json!({"extends": "b"})).unwrap();
    let b: TemplateSpec = serde_json::from_value(serde_json::json!({"extends": "a"})).unwrap();
    let c: TemplateSpec =
        serde_json::from_value(serde_json::json!({"extends": "code-exector"})).unwrap();
    let catalog = Catalog::new([("a", &a), ("b", &b), ("c", &c)]);
    assert_eq!(
        catalog.chain("a").unwrap_err(),
        TemplateError::Cycle {
            chain: vec!["a".into(), "b".into(), "a".into()]
        }
    );
    assert_eq!(
        catalog.chain("c").unwrap_err(),
        TemplateError::Unknown {
            name: "code-exector".into(),
            extended_by: Some("c".into()),
            closest: Some("code-executor".into()),
        }
    );
    let specs: Vec<(String, TemplateSpec)> = (0..12)
        .map(|i| {
            let extends = (i < 11).then(|| format!("t{}", i + 1));
            (
                format!("t{i}"),
                TemplateSpec {
                    extends,
                    ..Default::default()
                },
            )
        })
        .collect();
    let deep = Catalog::new(specs.iter().map(|(n, t)| (n.as_str(), t)));
    assert!(matches!(
        deep.chain("t0").unwrap_err(),
        TemplateError::TooDeep { chain } if chain.len() == MAX_CHAIN + 1
    ));
    assert_eq!(deep.chain("t4").unwrap().len(), MAX_CHAIN);
}

#[test]
fn the_built_ins_are_there_and_hold_no_image() {
    let names: Vec<&str> = builtins().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["code-executor", "integration-test", "workshop"]);
    for b in builtins() {
        assert!(!b.description.is_empty(), "{}", b.name);
        assert!(b.spec.extends.is_none());
        assert!(!b.spec.sandbox.contains_key("image"), "{}", b.name);
        assert!(!b.spec.sandbox.contains_key("imageFrom"), "{}", b.name);
        let spec: SandboxSpec =
            serde_json::from_value(Json::Object(b.spec.sandbox.clone())).unwrap();
        assert!(spec.resources.is_some(), "{}", b.name);
    }
    let catalog = Catalog::default();
    let spec: SandboxSpec = serde_json::from_value(
        catalog
            .merged_fields("code-executor", Loc::default())
            .unwrap()
            .to_json(),
    )
    .unwrap();
    assert_eq!(spec.security.and_then(|s| s.profile), Some(Profile::Locked));
    assert_eq!(spec.network, Some(Network::None));
    assert_eq!(spec.run, RunMode::default());
}
