use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use pocket_dock_spec::model::*;
use pocket_dock_spec::{Declarations, Kind, Object, ResolvedPaths, Source};

use super::*;
use crate::export::{ExportImage, ImageNames};

fn object(kind: Kind, name: &str, spec: Spec) -> Object {
    Object {
        kind,
        metadata: Metadata {
            name: name.to_string(),
            labels: BTreeMap::from([("tier".to_string(), "front".to_string())]),
            annotations: BTreeMap::new(),
        },
        spec,
        source: Source {
            file: PathBuf::from(".pocket-dock/app.yaml"),
            line: 3,
            column: 1,
        },
        resolved: ResolvedPaths::default(),
    }
}

fn declarations(objects: Vec<Object>) -> Declarations {
    Declarations {
        root: PathBuf::from("/work/app"),
        objects,
        workspace_name: None,
        settings: WorkspaceSpec::default(),
        files: vec![PathBuf::from(".pocket-dock/app.yaml")],
        complete: true,
        workspace_source: None,
    }
}

/// Every document must deserialize into the k8s-openapi type of its kind, and come back
/// out unchanged: no field of ours is unknown to Kubernetes.
fn check_typed(export: &KubeExport) {
    fn round<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &KubeDocument) {
        let typed: T = serde_json::from_value(doc.manifest.clone())
            .unwrap_or_else(|e| panic!("{} as {}: {e}", doc.from, doc.kind()));
        let back = serde_json::to_value(&typed).unwrap();
        assert_eq!(back, doc.manifest, "{} as {}", doc.from, doc.kind());
    }
    for doc in &export.documents {
        match doc.kind() {
            "Pod" => round::<Pod>(doc),
            "Job" => round::<Job>(doc),
            "PersistentVolumeClaim" => round::<PersistentVolumeClaim>(doc),
            "Service" => round::<Service>(doc),
            other => panic!("unexpected kind {other}"),
        }
    }
}

/// A sandbox with every field set (a struct literal without `..`: a new field does not
/// compile here until it is given a value, and then must be exported or warned about).
fn full_sandbox() -> SandboxSpec {
    SandboxSpec {
        template: Some("code-executor".to_string()),
        image: None,
        image_from: Some(ImageFrom {
            image: Some("tools".to_string()),
            snapshot: None,
        }),
        command: Some(vec!["serve".to_string()]),
        args: Some(vec!["--port".to_string(), "8080".to_string()]),
        workdir: Some("/srv".to_string()),
        env: BTreeMap::from([
            ("MODE".to_string(), EnvValue::Value("prod".to_string())),
            (
                "TOKEN".to_string(),
                EnvValue::From(EnvFrom {
                    value_from: SecretRef {
                        secret: "token".to_string(),
                    },
                }),
            ),
        ]),
        secrets: vec![Secret {
            name: "token".to_string(),
            file: Some("token.txt".to_string()),
            env: None,
        }],
        user: Some("1000:1000".to_string()),
        mounts: vec![
            Mount {
                kind: MountType::Bind,
                source: Some("site".to_string()),
                target: "/site".to_string(),
                read_only: true,
                allow_outside_workspace: false,
                size_limit: None,
            },
            Mount {
                kind: MountType::Volume,
                source: Some("data".to_string()),
                target: "/data".to_string(),
                read_only: false,
                allow_outside_workspace: false,
                size_limit: None,
            },
            Mount {
                kind: MountType::Tmpfs,
                source: None,
                target: "/cache".to_string(),
                read_only: false,
                allow_outside_workspace: false,
                size_limit: Some("64Mi".to_string()),
            },
        ],
        ports: vec![Port {
            container: 8080,
            host: Some(18080),
            host_ip: Some("127.0.0.1".to_string()),
            protocol: Protocol::Tcp,
        }],
        resources: Some(Resources {
            cpus: Some(0.5),
            memory: Some("64Mi".to_string()),
            pids: Some(64),
        }),
        network: Some(Network::None),
        networks: vec![NetworkAttachment::named("backend")],
        aliases: vec!["api".to_string()],
        run: RunMode::Once,
        hooks: Some(Hooks {
            post_create: vec![vec!["true".to_string()]],
            post_start: vec![],
            timeout: None,
        }),
        state: DesiredState::Stopped,
        restart_policy: Some(RestartPolicy::OnFailure),
        readiness: Some(Probe {
            exec: vec!["true".to_string()],
            interval: Some("1s".to_string()),
            timeout: Some("1500ms".to_string()),
            failure_threshold: Some(5),
        }),
        security: Some(Security {
            profile: Some(Profile::Default),
            read_only_root_filesystem: Some(true),
            drop_capabilities: vec!["NET_RAW".to_string()],
            no_new_privileges: Some(true),
            seccomp: Some("strict".to_string()),
        }),
        depends_on: vec![Dependency::started("db")],
        lifetime: Some(Lifetime {
            idle_timeout: Some("30m".to_string()),
            max_lifetime: Some("8h".to_string()),
        }),
        logs: Some(Logs {
            max_size: Some("1Mi".to_string()),
            max_files: Some(2),
        }),
    }
}

fn images() -> ImageNames {
    BTreeMap::from([(
        Key::new(Kind::Image, "tools"),
        ExportImage {
            reference: "localhost/pocket-dock/images/tools:abc123".to_string(),
            local_only: Some("built on this machine".to_string()),
        },
    )])
}

fn export_sandbox(spec: SandboxSpec) -> KubeExport {
    let mut sandbox = object(Kind::Sandbox, "app", Spec::Sandbox(spec));
    sandbox
        .resolved
        .mounts
        .insert(0, PathBuf::from("/work/app/site"));
    export(&declarations(vec![sandbox]), &images())
}

#[test]
fn every_sandbox_field_is_exported_or_warned_about() {
    let egress = Network::Egress(vec!["example.com:443".to_string()]);
    for (run, network) in [
        (RunMode::Once, egress),
        (RunMode::Always, Network::Default),
        (RunMode::Always, Network::None),
    ] {
        let full = SandboxSpec {
            run,
            network: Some(network),
            ..full_sandbox()
        };
        let settings = WorkspaceSpec::default();
        let exported = export_sandbox(full.clone());
        check_typed(&exported);
        let Value::Object(fields) = serde_json::to_value(&full).unwrap() else {
            panic!("a spec is an object")
        };
        for field in fields.keys() {
            let mut without = serde_json::to_value(&full).unwrap();
            without.as_object_mut().unwrap().remove(field);
            let without: SandboxSpec = serde_json::from_value(without).unwrap();
            // A field that changes nothing in the effective spec (`networks` without a
            // network, `network: default`) has nothing to carry.
            if effective_sandbox(&without, &settings) == effective_sandbox(&full, &settings) {
                continue;
            }
            let reflected = export_sandbox(without).documents != exported.documents;
            let warned = exported.warnings.iter().any(|w| {
                w.field == format!("spec.{field}") || w.field.starts_with(&format!("spec.{field}."))
            });
            assert!(
                reflected || warned,
                "spec.{field} ({run:?}) is neither in the manifests nor in a warning"
            );
        }
    }
}

#[test]
fn a_long_lived_sandbox_is_a_pod_with_a_service_and_a_claim_per_volume() {
    let spec = SandboxSpec {
        run: RunMode::Always,
        ..full_sandbox()
    };
    let mut sandbox = object(Kind::Sandbox, "app", Spec::Sandbox(spec));
    sandbox
        .resolved
        .mounts
        .insert(0, PathBuf::from("/work/app/site"));
    let volume = object(Kind::Volume, "data", Spec::Volume(VolumeSpec {}));
    let exported = export(&declarations(vec![sandbox, volume]), &images());
    check_typed(&exported);
    let kinds: Vec<&str> = exported.documents.iter().map(KubeDocument::kind).collect();
    assert_eq!(kinds, ["PersistentVolumeClaim", "Pod", "Service"]);

    let pod: Pod = serde_json::from_value(exported.documents[1].manifest.clone()).unwrap();
    let spec = pod.spec.unwrap();
    let c = &spec.containers[0];
    assert_eq!(
        c.image.as_deref(),
        Some("localhost/pocket-dock/images/tools:abc123")
    );
    assert_eq!(c.command.as_deref(), Some(&["serve".to_string()][..]));
    assert_eq!(c.working_dir.as_deref(), Some("/srv"));
    let port = &c.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.container_port, port.host_port, port.host_ip.as_deref()),
        (8080, Some(18080), Some("127.0.0.1"))
    );
    let probe = c.readiness_probe.as_ref().unwrap();
    assert_eq!(
        (
            probe.period_seconds,
            probe.timeout_seconds,
            probe.failure_threshold
        ),
        (Some(1), Some(2), Some(5))
    );
    let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(limits["cpu"].0, "500m");
    assert_eq!(limits["memory"].0, "64Mi");
    let context = c.security_context.as_ref().unwrap();
    assert_eq!(context.run_as_user, Some(1000));
    assert_eq!(context.allow_privilege_escalation, Some(false));
    assert_eq!(context.read_only_root_filesystem, Some(true));
    let volumes = spec.volumes.unwrap();
    let host = volumes.iter().find_map(|v| v.host_path.as_ref()).unwrap();
    assert_eq!(host.path, "/work/app/site");
    let claim = volumes
        .iter()
        .find_map(|v| v.persistent_volume_claim.as_ref())
        .unwrap();
    assert_eq!(claim.claim_name, "data");
    // The secret's value is nowhere; its Secret is named, and the warning says so.
    let text = exported.to_yaml();
    assert!(text.contains("app-secrets"));
    assert!(exported.warnings.iter().any(|w| w.field == "spec.secrets"));
    assert_eq!(spec.restart_policy.as_deref(), Some("OnFailure"));
    assert_eq!(spec.active_deadline_seconds, Some(8 * 3600));
}

#[test]
fn a_one_shot_sandbox_is_a_job_that_is_not_retried() {
    let exported = export_sandbox(SandboxSpec {
        image: Some("localhost/tools:1".to_string()),
        command: Some(vec!["migrate".to_string()]),
        run: RunMode::Once,
        ..SandboxSpec::default()
    });
    check_typed(&exported);
    let job: Job = serde_json::from_value(exported.documents[0].manifest.clone()).unwrap();
    let spec = job.spec.unwrap();
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(
        spec.template.spec.unwrap().restart_policy.as_deref(),
        Some("Never")
    );
    assert_eq!(exported.documents.len(), 1, "no Service for a Job");
    assert!(exported.warnings.is_empty(), "{:?}", exported.warnings);
}

#[test]
fn host_paths_get_a_comment_and_every_document_a_header() {
    let exported = export_sandbox(full_sandbox());
    let text = exported.to_yaml();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line
            .trim_start()
            .trim_start_matches("- ")
            .starts_with("hostPath:")
        {
            assert_eq!(lines[i - 1].trim_start(), HOST_PATH_COMMENT, "{text}");
        }
    }
    assert!(text.contains("---\n# Sandbox/app (.pocket-dock/app.yaml:3)\n"));
    // Every warning is listed in the file's header too.
    for w in &exported.warnings {
        assert!(text.contains(&format!("#   {} {}\n", w.object, w.field)));
    }
}

#[test]
fn images_snapshots_and_networks_are_warned_about() {
    let image = object(
        Kind::Image,
        "base",
        Spec::Image(ImageSpec {
            embedded: Some(EmbeddedImage::Base),
            ..ImageSpec::default()
        }),
    );
    let network = object(
        Kind::Network,
        "backend",
        Spec::Network(NetworkSpec::default()),
    );
    let exported = export(&declarations(vec![image, network]), &ImageNames::new());
    let objects: Vec<&str> = exported
        .warnings
        .iter()
        .map(|w| w.object.as_str())
        .collect();
    assert_eq!(objects, ["Image/base", "Network/backend"]);
    assert!(exported.documents.is_empty());
}

#[test]
fn quantities_and_durations() {
    assert_eq!(quantity("64Mi"), "64Mi");
    assert_eq!(quantity("1073741824"), "1Gi");
    assert_eq!(quantity("1000000"), "1000000");
    assert_eq!(seconds(Some("1500ms"), 1), 2);
    assert_eq!(seconds(None, 2), 2);
    assert_eq!(seconds(Some("100ms"), 2), 1);
    assert_eq!(numeric_user("1000:100"), Some((1000, Some(100))));
    assert_eq!(numeric_user("nobody"), None);
}

/// The fenced block after the first line starting with `marker` in `text`.
fn block_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let rest = &text[text.find(marker).unwrap()..];
    let start = rest.find("```").unwrap();
    let body = &rest[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    &body[..body.find("```").unwrap()]
}

/// docs/export-kube.md's example: its workspace, exported, gives exactly the output shown.
#[test]
fn the_documented_example_is_what_export_prints() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/export-kube.md"),
    )
    .unwrap();
    let example = &doc[doc.find("<!-- export-kube-example").unwrap()..];
    let input = block_after(example, "`.pocket-dock/app.yaml`");
    let output = block_after(example, "`pocket-dock export kube` prints");
    let stderr = block_after(example, "and on stderr");

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".pocket-dock")).unwrap();
    std::fs::create_dir_all(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join(".pocket-dock/app.yaml"), input).unwrap();
    let loaded = pocket_dock_spec::load(dir.path());
    assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
    let exported = export(&loaded.declarations, &ImageNames::new());
    let root = dir.path().canonicalize().unwrap();
    let text = exported
        .to_yaml()
        .replace(&root.display().to_string(), "/home/me/app");
    assert_eq!(
        text, output,
        "docs/export-kube.md's example output is out of date"
    );
    let warnings: String = exported
        .warnings
        .iter()
        .map(|w| format!("warning: {w}\n"))
        .collect();
    assert_eq!(warnings, stderr);
    check_typed(&exported);
}

#[test]
fn a_line_break_in_a_file_name_cannot_end_a_comment() {
    let mut volume = object(Kind::Volume, "data", Spec::Volume(VolumeSpec {}));
    volume.source.file = PathBuf::from(".pocket-dock/a\nkind: Secret.yaml");
    let text = export(&declarations(vec![volume]), &ImageNames::new()).to_yaml();
    assert!(!text.contains("\nkind: Secret"), "{text}");
    assert!(text.contains("# Volume/data (.pocket-dock/a?kind: Secret.yaml:3)\n"));
}
