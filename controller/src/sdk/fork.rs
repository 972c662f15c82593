//! `fork SANDBOX NEW`: SANDBOX committed without stopping it, and NEW declared from that
//! snapshot, in one step. [`Workspace::fork`] writes `.pocket-dock/forks/NEW.yaml` (a
//! `Snapshot` named NEW of SANDBOX, and a `Sandbox` NEW running it, with SANDBOX's
//! declaration less what a copy must not share), then applies those two objects alone:
//! the commit first, then the new sandbox. SANDBOX's declaration is not touched, so it is not recreated.
//!
//! The commit never pauses SANDBOX (`Engine::commit_container` passes `pause=false`); a
//! paused SANDBOX is committed as it is, and stays paused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use pocket_dock_spec::Kind;
use pocket_dock_spec::model::{DesiredState, EnvValue, ImageFrom, MountType, SandboxSpec, Spec};

use super::Valid;
use crate::Error;
use crate::error::SnapshotError;
use crate::owned_files::{OwnedDir, OwnedFileError};
use crate::reconcile::{ApplyOptions, ApplyReport, Key, Observer};
use crate::workspace::{DIR_NAME, Workspace};

/// Where fork documents are written, under `.pocket-dock/`.
pub const FORKS_DIR: &str = "forks";

/// The first line of every fork file pocket-dock writes.
pub const WRITTEN_BY: &str = "# Written by `pocket-dock fork`";

/// The annotation naming the sandbox a fork was taken from.
pub const FORKED_FROM: &str = "pocket-dock.dev/forked-from";

/// What to do with the source's writable bind mounts and named volumes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SharedMounts {
    /// Refuse the fork when there are any (the default): sharing them would let the fork
    /// change the source's data.
    #[default]
    Refuse,
    /// Mount them in the fork too (both sandboxes write the same data).
    Share,
    /// Leave them out of the fork (their contents are not in the snapshot either).
    Drop,
}

/// What to fork.
#[derive(Debug, Clone)]
pub struct ForkRequest {
    /// The declared sandbox to commit (running or paused; it keeps running).
    pub sandbox: String,
    /// The new sandbox (and the name of its Snapshot).
    pub name: String,
    pub mounts: SharedMounts,
}

/// What the fork document leaves out of the source's declaration, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// `spec.ports`, `spec.mounts[/data]`, `spec.secrets[token]`, ...
    pub field: String,
    pub why: &'static str,
}

/// The document written; the apply of it follows in [`ForkReport::apply`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForkFile {
    /// Relative to the workspace root.
    pub path: PathBuf,
    pub sandbox: String,
    pub name: String,
    pub dropped: Vec<Dropped>,
}

#[derive(Debug)]
pub struct ForkReport {
    pub file: ForkFile,
    pub apply: ApplyReport,
}

const PORTS: &str = "host ports would collide with the source's";
const SHARED: &str = "a fork sharing it could change the source's data (--share-mounts keeps it)";
const SECRETS: &str = "a fork gets no credentials it is not given (declare them in the fork file)";
const ALIASES: &str = "two sandboxes answering to one name on a network";
const POST_CREATE: &str = "it ran already in the filesystem the fork copies";

/// The fork document for `request` given what is declared now (pure): a `Snapshot` named
/// NEW of SANDBOX and a `Sandbox` NEW from it, with what was left out.
pub fn plan_document(request: &ForkRequest, valid: &Valid) -> Result<(ForkFile, String), Error> {
    if let Some(problem) = pocket_dock_spec::dns_label_problem(&request.name) {
        return Err(SnapshotError::InvalidName {
            name: request.name.clone(),
            problem: problem.to_string(),
        }
        .into());
    }
    let objects = &valid.declarations().objects;
    let find = |kind: Kind, name: &str| {
        objects
            .iter()
            .find(|o| o.kind == kind && o.metadata.name == name)
    };
    let Some(source) = find(Kind::Sandbox, &request.sandbox) else {
        return Err(SnapshotError::ForkSourceNotDeclared {
            sandbox: request.sandbox.clone(),
        }
        .into());
    };
    let Spec::Sandbox(spec) = &source.spec else {
        return Err(SnapshotError::ForkSourceNotDeclared {
            sandbox: request.sandbox.clone(),
        }
        .into());
    };
    for kind in [Kind::Sandbox, Kind::Snapshot] {
        if let Some(taken) = find(kind, &request.name) {
            return Err(SnapshotError::ForkNameTaken {
                name: request.name.clone(),
                what: format!("{kind}/{} is declared in {}", request.name, taken.source),
            }
            .into());
        }
    }
    let (spec, dropped) = fork_spec(spec, &request.name, request.mounts).map_err(|mounts| {
        SnapshotError::ForkSharedMounts {
            sandbox: request.sandbox.clone(),
            mounts,
        }
    })?;
    let mut metadata = serde_json::json!({ "name": request.name });
    if !source.metadata.labels.is_empty() {
        metadata["labels"] = serde_json::json!(source.metadata.labels);
    }
    let mut annotations: BTreeMap<String, String> = source.metadata.annotations.clone();
    annotations.insert(FORKED_FROM.to_string(), request.sandbox.clone());
    metadata["annotations"] = serde_json::json!(annotations);
    let sandbox = serde_json::json!({
        "apiVersion": pocket_dock_spec::model::WRITTEN_API_VERSION,
        "kind": "Sandbox",
        "metadata": metadata,
        "spec": spec,
    });
    let snapshot = serde_json::json!({
        "apiVersion": pocket_dock_spec::model::WRITTEN_API_VERSION,
        "kind": "Snapshot",
        "metadata": { "name": request.name },
        "spec": {
            "sandbox": request.sandbox,
            "description": format!("fork of Sandbox/{} for Sandbox/{}", request.sandbox, request.name),
        },
    });
    let left_out: String = dropped
        .iter()
        .map(|d| format!("#   {}: {}\n", d.field, d.why))
        .collect();
    let text = format!(
        "{WRITTEN_BY} {sandbox} {name}: Sandbox/{name} runs a snapshot of Sandbox/{sandbox}.\n\
         # Delete this file and apply to remove the fork and its image.\n{note}---\n{snap}---\n{sb}",
        sandbox = request.sandbox,
        name = request.name,
        note = if left_out.is_empty() {
            String::new()
        } else {
            format!("# Left out of the source's declaration:\n{left_out}")
        },
        snap = pocket_dock_spec::to_yaml(&snapshot),
        sb = pocket_dock_spec::to_yaml(&sandbox),
    );
    let path = std::path::Path::new(DIR_NAME)
        .join(FORKS_DIR)
        .join(format!("{}.yaml", request.name));
    Ok((
        ForkFile {
            path,
            sandbox: request.sandbox.clone(),
            name: request.name.clone(),
            dropped,
        },
        text,
    ))
}

/// The fork's spec: the source's, on the snapshot `name`, less what a copy must not share
/// (pure). `Err`: the writable mounts that `mounts` refuses to decide about.
pub fn fork_spec(
    source: &SandboxSpec,
    name: &str,
    mounts: SharedMounts,
) -> Result<(SandboxSpec, Vec<Dropped>), Vec<String>> {
    let mut spec = source.clone();
    let mut dropped = Vec::new();
    spec.image = None;
    spec.image_from = Some(ImageFrom {
        image: None,
        snapshot: Some(name.to_string()),
    });
    // A fork runs (a paused source's fork is not paused).
    spec.state = DesiredState::Running;
    if !spec.ports.is_empty() {
        spec.ports.clear();
        dropped.push(Dropped {
            field: "spec.ports".into(),
            why: PORTS,
        });
    }
    let shared = |m: &pocket_dock_spec::model::Mount| {
        !m.read_only && matches!(m.kind, MountType::Bind | MountType::Volume)
    };
    let writable: Vec<String> = spec
        .mounts
        .iter()
        .filter(|m| shared(m))
        .map(|m| {
            format!(
                "{} {} at {}",
                if m.kind == MountType::Bind {
                    "bind"
                } else {
                    "volume"
                },
                m.source.as_deref().unwrap_or(""),
                m.target
            )
        })
        .collect();
    match mounts {
        SharedMounts::Refuse if !writable.is_empty() => return Err(writable),
        SharedMounts::Drop => {
            for m in spec.mounts.iter().filter(|m| shared(m)) {
                dropped.push(Dropped {
                    field: format!("spec.mounts[{}]", m.target),
                    why: SHARED,
                });
            }
            spec.mounts.retain(|m| !shared(m));
        }
        _ => {}
    }
    if !spec.secrets.is_empty() {
        for s in &spec.secrets {
            dropped.push(Dropped {
                field: format!("spec.secrets[{}]", s.name),
                why: SECRETS,
            });
        }
        spec.secrets.clear();
        let from_secrets: Vec<String> = spec
            .env
            .iter()
            .filter(|(_, v)| matches!(v, EnvValue::From(_)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in from_secrets {
            spec.env.remove(&k);
            dropped.push(Dropped {
                field: format!("spec.env.{k}"),
                why: SECRETS,
            });
        }
    }
    if !spec.aliases.is_empty() {
        spec.aliases.clear();
        dropped.push(Dropped {
            field: "spec.aliases".into(),
            why: ALIASES,
        });
    }
    for attachment in &mut spec.networks {
        if !attachment.aliases.is_empty() {
            attachment.aliases.clear();
            dropped.push(Dropped {
                field: format!("spec.networks[{}].aliases", attachment.name),
                why: ALIASES,
            });
        }
    }
    if let Some(hooks) = &mut spec.hooks
        && !hooks.post_create.is_empty()
    {
        hooks.post_create.clear();
        dropped.push(Dropped {
            field: "spec.hooks.postCreate".into(),
            why: POST_CREATE,
        });
        if hooks.post_start.is_empty() {
            spec.hooks = None;
        }
    }
    Ok((spec, dropped))
}

/// Writes the fork document (never over an existing file, never through a symlink), then
/// applies Sandbox/NEW alone (its Snapshot is committed first). The caller holds the writer
/// lock and passes what it loaded under it. A document that does not load is removed
/// again, and nothing else is changed. The apply acts on the Snapshot and the new Sandbox
/// only: the source is never started, changed or recreated by it.
pub(crate) async fn fork(
    engine: &crate::engine::Engine,
    workspace: &Workspace,
    valid: &Valid,
    request: &ForkRequest,
    options: ApplyOptions,
    observer: Arc<dyn Observer>,
) -> Result<ForkReport, Error> {
    let (file, text) = plan_document(request, valid)?;
    // A container by the new name (left by an earlier declaration, or claimed from a pool):
    // never taken over.
    let ownership = workspace.ownership();
    let container_name = ownership.container_name(Kind::Sandbox, &request.name);
    if engine
        .find_owned_by_name(
            &ownership,
            &container_name,
            crate::engine::Operation::ContainerCreate,
        )
        .await?
        .is_some()
    {
        return Err(SnapshotError::ForkNameTaken {
            name: request.name.clone(),
            what: format!(
                "a container of Sandbox/{} exists ({container_name})",
                request.name
            ),
        }
        .into());
    }
    let pocket_dock_dir = workspace.root.join(DIR_NAME);
    let written = write_fork_file(&pocket_dock_dir, &request.name, &text);
    written.map_err(|source| SnapshotError::Write {
        file: workspace.root.join(&file.path),
        source,
    })?;
    // Load again so that the new documents are applied exactly as a later `apply` would,
    // and only if everything is still valid.
    let valid = match workspace.load() {
        Ok(valid) => valid,
        Err(e) => {
            if let Err(removal) = remove_fork_file(&pocket_dock_dir, &request.name) {
                tracing::warn!(error = %removal, "could not remove the fork file again");
            }
            return Err(e);
        }
    };
    let options = ApplyOptions {
        writer: "fork",
        lock_held: true,
        // The snapshot, then the sandbox on it; never the source (nothing of it changes).
        only: Some(BTreeSet::from([
            Key::new(Kind::Snapshot, request.name.clone()),
            Key::new(Kind::Sandbox, request.name.clone()),
        ])),
        ..options
    };
    let apply =
        crate::reconcile::apply(engine, workspace, valid.declarations(), options, observer).await?;
    Ok(ForkReport { file, apply })
}

impl Workspace {
    /// `fork`: commits the declared sandbox `request.sandbox` (without stopping or pausing
    /// it) and declares `request.name` from that snapshot in `.pocket-dock/forks/`, then
    /// applies the new sandbox alone. A name that is taken (declared, or a container) is a
    /// Conflict that changes nothing.
    pub async fn fork(
        &self,
        engine: &crate::engine::Engine,
        request: &ForkRequest,
        options: ApplyOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<ForkReport, Error> {
        let deadline = options.timeout.map(|t| std::time::Instant::now() + t);
        let _lock = self.lock_writer("fork", deadline, &*observer).await?;
        let valid = self.load()?;
        fork(engine, self, &valid, request, options, observer).await
    }
}

fn ours(head: &[u8]) -> bool {
    head.starts_with(WRITTEN_BY.as_bytes())
}

/// Writes `.pocket-dock/forks/NAME.yaml` atomically, never through a symlink, and never
/// over any file (a fork file that exists declares its objects, which `plan_document`
/// refused already).
fn write_fork_file(
    pocket_dock_dir: &std::path::Path,
    name: &str,
    text: &str,
) -> Result<(), OwnedFileError> {
    let dir = OwnedDir::open(pocket_dock_dir)?;
    let Some(forks) = dir.subdir(FORKS_DIR, true)? else {
        return Ok(());
    };
    forks.write_atomic(&format!("{name}.yaml"), text.as_bytes(), |_| false)
}

fn remove_fork_file(pocket_dock_dir: &std::path::Path, name: &str) -> Result<(), OwnedFileError> {
    let dir = OwnedDir::open(pocket_dock_dir)?;
    let Some(forks) = dir.subdir(FORKS_DIR, false)? else {
        return Ok(());
    };
    forks.remove(&format!("{name}.yaml"), ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pocket_dock_spec::model::{Hooks, Mount, NetworkAttachment, Port, Secret};

    fn mount(kind: MountType, source: &str, target: &str, read_only: bool) -> Mount {
        Mount {
            kind,
            source: (kind != MountType::Tmpfs).then(|| source.to_string()),
            target: target.into(),
            read_only,
            allow_outside_workspace: false,
            size_limit: None,
        }
    }

    fn source() -> SandboxSpec {
        SandboxSpec {
            image: Some("localhost/tools:1".into()),
            ports: vec![Port {
                container: 80,
                host: Some(8080),
                host_ip: None,
                protocol: Default::default(),
            }],
            mounts: vec![
                mount(MountType::Bind, ".", "/work", false),
                mount(MountType::Bind, "./ref", "/ref", true),
                mount(MountType::Volume, "data", "/data", false),
                mount(MountType::Tmpfs, "", "/scratch", false),
            ],
            secrets: vec![Secret {
                name: "token".into(),
                file: Some("token.txt".into()),
                env: None,
            }],
            env: BTreeMap::from([
                ("A".into(), EnvValue::Value("1".into())),
                (
                    "TOKEN".into(),
                    EnvValue::From(pocket_dock_spec::model::EnvFrom {
                        value_from: pocket_dock_spec::model::SecretRef {
                            secret: "token".into(),
                        },
                    }),
                ),
            ]),
            aliases: vec!["api".into()],
            networks: vec![NetworkAttachment {
                name: "back".into(),
                aliases: vec!["b".into()],
            }],
            hooks: Some(Hooks {
                post_create: vec![vec!["make".into()]],
                post_start: Vec::new(),
                timeout: None,
            }),
            state: DesiredState::Paused,
            ..SandboxSpec::default()
        }
    }

    #[test]
    fn writable_mounts_are_refused_until_a_flag_decides() {
        let refused = fork_spec(&source(), "new", SharedMounts::Refuse).unwrap_err();
        assert_eq!(refused, ["bind . at /work", "volume data at /data"]);
        let (shared, _) = fork_spec(&source(), "new", SharedMounts::Share).unwrap();
        assert_eq!(shared.mounts.len(), 4);
    }

    #[test]
    fn a_fork_runs_the_snapshot_without_what_it_must_not_share() {
        let (spec, dropped) = fork_spec(&source(), "new", SharedMounts::Drop).unwrap();
        assert_eq!(spec.image, None);
        assert_eq!(
            spec.image_from.and_then(|f| f.snapshot).as_deref(),
            Some("new")
        );
        assert_eq!(spec.state, DesiredState::Running);
        assert!(spec.ports.is_empty() && spec.secrets.is_empty() && spec.aliases.is_empty());
        // Read-only binds and tmpfs stay.
        let targets: Vec<&str> = spec.mounts.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, ["/ref", "/scratch"]);
        assert_eq!(spec.env.keys().collect::<Vec<_>>(), ["A"]);
        assert!(spec.networks[0].aliases.is_empty());
        assert_eq!(spec.hooks, None);
        let fields: Vec<&str> = dropped.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.ports",
                "spec.mounts[/work]",
                "spec.mounts[/data]",
                "spec.secrets[token]",
                "spec.env.TOKEN",
                "spec.aliases",
                "spec.networks[back].aliases",
                "spec.hooks.postCreate",
            ]
        );
    }
}
