//! The files images are made from: each build's context and the embedded base's busybox,
//! read (and the build's paths resolved) before the desired state is computed, on a
//! blocking thread. Sandboxes' secrets are read here too, with the workspace key.

use std::collections::BTreeMap;

use pocket_dock_spec::model::{Build, SandboxSpec, Spec};
use pocket_dock_spec::{Declarations, ResolvedPaths};

use crate::images::BuildRecipe;
use crate::images::context::ContextRead;
use crate::images::embedded::BaseInput;
use crate::secrets::{SecretValue, WorkspaceKey, read_sandbox_secrets};

/// What images are made from, read from files: each build's context and the embedded
/// base's input. [`Desired::from_declarations`](crate::reconcile::Desired::from_declarations) names images from it without I/O.
#[derive(Debug, Default)]
pub struct ImageInputs {
    /// The embedded base's input, when an `Image` wants it (the failure as it is reported).
    pub base: Option<Result<BaseInput, String>>,
    /// Each build, by `Image` name.
    pub builds: BTreeMap<String, BuildInput>,
    /// The workspace's digest key, when a sandbox has `env` or `secrets` (the failure as
    /// it is reported).
    pub key: Option<Result<WorkspaceKey, String>>,
    /// Each sandbox's secrets as read, by `Sandbox` name (only sandboxes that have any).
    pub secrets: BTreeMap<String, Result<SandboxSecrets, String>>,
}

/// One sandbox's secret values and their digests under the workspace key, by secret name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSecrets {
    pub values: BTreeMap<String, SecretValue>,
    pub digests: BTreeMap<String, String>,
}

/// One build's recipe (paths resolved) and its context as read.
#[derive(Debug)]
pub struct BuildInput {
    pub recipe: BuildRecipe,
    pub context: Result<ContextRead, String>,
}

/// What a read needs of the declarations, owned so that it can move to a blocking thread.
struct ToRead {
    root: std::path::PathBuf,
    builds: Vec<(String, Build, ResolvedPaths)>,
    embedded: bool,
    /// Sandboxes with secrets; whether any has `env` or `secrets` (the key is needed).
    secrets: Vec<(String, SandboxSpec)>,
    needs_key: bool,
}

impl ToRead {
    fn of(declarations: &Declarations) -> ToRead {
        let mut to_read = ToRead {
            root: declarations.root.clone(),
            builds: Vec::new(),
            embedded: false,
            secrets: Vec::new(),
            needs_key: false,
        };
        for object in &declarations.objects {
            if let Spec::Sandbox(sandbox) = &object.spec {
                to_read.needs_key |= !sandbox.env.is_empty() || !sandbox.secrets.is_empty();
                if !sandbox.secrets.is_empty() {
                    to_read
                        .secrets
                        .push((object.metadata.name.clone(), sandbox.clone()));
                }
            }
            if let Spec::Image(image) = &object.spec
                && image.from.is_none()
            {
                match &image.build {
                    Some(build) => to_read.builds.push((
                        object.metadata.name.clone(),
                        build.clone(),
                        object.resolved.clone(),
                    )),
                    None => to_read.embedded = true,
                }
            }
        }
        to_read
    }

    fn read(self) -> ImageInputs {
        // No build context ever holds a sandbox's secret file.
        let secret_files: std::collections::BTreeSet<std::path::PathBuf> = self
            .secrets
            .iter()
            .flat_map(|(_, spec)| &spec.secrets)
            .filter_map(|secret| secret.file.as_deref())
            .filter_map(|file| in_workspace(&self.root, file))
            .collect();
        let builds = self
            .builds
            .into_iter()
            .map(|(name, build, resolved)| {
                let mut recipe = BuildRecipe::resolve(&build, &resolved, &self.root);
                recipe.secret_files = secret_files.clone();
                let context = recipe.read_context().map_err(|e| e.to_string());
                (name, BuildInput { recipe, context })
            })
            .collect();
        let key = self
            .needs_key
            .then(|| WorkspaceKey::load_or_create(&self.root).map_err(|e| e.to_string()));
        let secrets = self
            .secrets
            .iter()
            .map(|(name, spec)| {
                let read = match &key {
                    Some(Ok(key)) => read_sandbox_secrets(&self.root, name, spec)
                        .map(|values| SandboxSecrets {
                            digests: values
                                .iter()
                                .map(|(n, v)| (n.clone(), key.digest("secret", v.bytes())))
                                .collect(),
                            values,
                        })
                        .map_err(|e| e.to_string()),
                    Some(Err(problem)) => Err(problem.clone()),
                    None => Err("the workspace key was not read".to_string()),
                };
                (name.clone(), read)
            })
            .collect();
        ImageInputs {
            base: self
                .embedded
                .then(|| BaseInput::find().map_err(|e| e.to_string())),
            builds,
            key,
            secrets,
        }
    }
}

/// A secret file's path relative to the (canonical) workspace root, as a context walk
/// meets it: its folder resolved, its name as written. `None` outside the workspace.
fn in_workspace(root: &std::path::Path, written: &str) -> Option<std::path::PathBuf> {
    let path = root.join(written);
    let name = path.file_name()?;
    let canonical_root = root.canonicalize().ok()?;
    let folder = path.parent()?.canonicalize().ok()?;
    folder
        .strip_prefix(&canonical_root)
        .ok()
        .map(|rel| rel.join(name))
}

impl ImageInputs {
    /// Reads every build context and the embedded base's input that `declarations` need,
    /// on the calling thread (blocking).
    pub fn read(declarations: &Declarations) -> ImageInputs {
        ToRead::of(declarations).read()
    }

    /// [`ImageInputs::read`] on a blocking thread, so that no async thread waits for disk.
    pub async fn gather(declarations: &Declarations) -> ImageInputs {
        Self::gather_from(ToRead::of(declarations)).await
    }

    /// [`ImageInputs::gather`] for naming images only (`export kube`): build contexts and
    /// the base, but no secret value read and no workspace key read or made.
    pub async fn gather_images(declarations: &Declarations) -> ImageInputs {
        let mut to_read = ToRead::of(declarations);
        to_read.needs_key = false;
        Self::gather_from(to_read).await
    }

    async fn gather_from(to_read: ToRead) -> ImageInputs {
        tokio::task::spawn_blocking(move || to_read.read())
            .await
            .unwrap_or_else(|e| {
                // Only a panic gets here; every image is then reported as not read.
                tracing::error!(error = %e, "reading the image inputs failed");
                ImageInputs::default()
            })
    }
}
