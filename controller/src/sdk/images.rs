//! A workspace's images by object name: which image an Image or Snapshot object is, what
//! it is, and exporting it.

use std::path::Path;

use pocket_dock_spec::Kind;

use crate::engine::{Engine, ImageDetails};
use crate::images::bundle::BundleInfo;
use crate::images::{self, Exported, embedded};
use crate::reconcile::desired::ImageOrigin as DesiredOrigin;
use crate::reconcile::observe::ImageInputs;
use crate::reconcile::status::SnapshotRecord;
use crate::reconcile::{Desired, Key};
use crate::workspace::Workspace;
use crate::{Error, Result};

/// An Image or Snapshot object and the local image it names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectImage {
    pub key: Key,
    /// The name this workspace runs it by.
    pub image: String,
    /// Its name in every checkout and in bundles (`images::names`); for a pulled image or
    /// the embedded base, the same as `image`.
    pub portable: String,
}

/// Where an image came from, as its labels say.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageOrigin {
    Snapshot(SnapshotRecord),
    Build {
        #[serde(rename = "contentHash")]
        content_hash: String,
    },
    Embedded {
        version: Option<String>,
        busybox: Option<String>,
        #[serde(rename = "busyboxSha256")]
        busybox_sha256: Option<String>,
    },
    Pulled(String),
}

/// `image inspect`: the object, its image and where it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageInfo {
    pub object: ObjectImage,
    pub details: ImageDetails,
    pub origin: ImageOrigin,
}

impl Workspace {
    /// The image of the Image or Snapshot object `name` (declarations must be valid).
    pub async fn object_image(&self, name: &str) -> Result<ObjectImage> {
        let valid = self.load()?;
        let inputs = ImageInputs::gather(valid.declarations()).await;
        let desired = Desired::from_declarations(valid.declarations(), &self.ownership(), &inputs);
        for kind in [Kind::Image, Kind::Snapshot] {
            let key = Key::new(kind, name);
            if let Some(tag) = desired.object_tag(&key) {
                let portable = match kind {
                    Kind::Image => desired.images.get(name).map(|i| i.shared.clone()),
                    _ => desired.snapshots.get(name).map(|s| s.shared.clone()),
                };
                return Ok(ObjectImage {
                    image: tag.to_string(),
                    portable: portable.unwrap_or_default(),
                    key,
                });
            }
        }
        if let Some(problem) = desired.images.get(name).and_then(|i| i.problem.clone()) {
            return Err(Error::NotDeclared {
                object: format!("Image/{name}"),
                problem: format!("cannot be made: {problem}"),
            });
        }
        Err(Error::NotDeclared {
            object: format!("no Image or Snapshot named {name}"),
            problem: "is declared in this workspace (see `pocket-dock get`)".to_string(),
        })
    }

    /// What the image of object `name` is, and where it came from.
    pub async fn inspect_image(&self, engine: &Engine, name: &str) -> Result<ImageInfo> {
        let object = self.object_image(name).await?;
        // Imported or made by another checkout, it may have only its portable name so far.
        let details = match engine.find_image(&object.image).await? {
            Some(details) => Some(details),
            None => engine.find_image(&object.portable).await?,
        };
        let details = details.ok_or_else(|| images::ImageError::NotPresent {
            image: format!("{} ({})", object.key, object.image),
        })?;
        let origin = origin(&details, &object.image);
        Ok(ImageInfo {
            object,
            details,
            origin,
        })
    }

    /// Writes the image of object `name` to an OCI archive (see [`images::export`]).
    pub async fn export_image(
        &self,
        engine: &Engine,
        name: &str,
        file: &Path,
    ) -> Result<(ObjectImage, Exported)> {
        let object = self.object_image(name).await?;
        let exported = images::export(engine, &object.image, &object.portable, file).await?;
        Ok((object, exported))
    }

    /// Writes every image the workspace declares (the embedded base, builds, pulled images
    /// and snapshot generations) into one bundle at `file`, each under its portable name
    /// and each blob once (see [`images::export_bundle`]). Every image must be present:
    /// nothing is written otherwise.
    pub async fn export_bundle(&self, engine: &Engine, file: &Path) -> Result<BundleInfo> {
        let valid = self.load()?;
        let inputs = ImageInputs::gather(valid.declarations()).await;
        let desired = Desired::from_declarations(valid.declarations(), &self.ownership(), &inputs);
        // (object, names to look for, the name it gets in the bundle; None: its own names)
        let mut wanted: Vec<(Key, Vec<String>, Option<String>)> = Vec::new();
        let mut missing = Vec::new();
        for image in desired.images.values() {
            let key = Key::new(Kind::Image, image.name.clone());
            if let Some(problem) = &image.problem {
                missing.push(format!("{key} (cannot be made: {problem})"));
                continue;
            }
            match &image.origin {
                DesiredOrigin::Build(_) => wanted.push((
                    key,
                    vec![image.tag.clone(), image.shared.clone()],
                    Some(image.shared.clone()),
                )),
                DesiredOrigin::Embedded => {
                    wanted.push((key, vec![image.tag.clone()], Some(image.tag.clone())))
                }
                DesiredOrigin::Pull { .. } => wanted.push((key, vec![image.tag.clone()], None)),
            }
        }
        for snap in desired.snapshots.values() {
            wanted.push((
                Key::new(Kind::Snapshot, snap.name.clone()),
                vec![snap.tag.clone(), snap.shared.clone()],
                Some(snap.shared.clone()),
            ));
        }
        // One entry per image, with every name it gets.
        let mut entries: Vec<(String, images::BundleEntry)> = Vec::new();
        for (key, candidates, bundled_as) in wanted {
            let mut found = None;
            for candidate in &candidates {
                if let Some(details) = engine.find_image(candidate).await? {
                    found = Some((candidate.clone(), details));
                    break;
                }
            }
            let Some((source, details)) = found else {
                missing.push(format!("{key} ({})", candidates[0]));
                continue;
            };
            let name = bundled_as.unwrap_or_else(|| pulled_name(&source, &details.repo_tags));
            match entries.iter_mut().find(|(id, _)| *id == details.id) {
                Some((_, entry)) if !entry.names.contains(&name) => entry.names.push(name),
                Some(_) => {}
                None => entries.push((
                    details.id.clone(),
                    images::BundleEntry {
                        source,
                        names: vec![name],
                    },
                )),
            }
        }
        if !missing.is_empty() {
            return Err(images::ImageError::NotPresent {
                image: missing.join(", "),
            }
            .into());
        }
        let entries: Vec<images::BundleEntry> = entries.into_iter().map(|(_, e)| e).collect();
        images::export_bundle(engine, &entries, file).await
    }
}

/// The name a pulled image goes into a bundle under: the engine's full name for the
/// reference as declared (`busybox:1` is `docker.io/library/busybox:1` to Podman), so that
/// the reference finds it again after an import.
fn pulled_name(reference: &str, names: &[String]) -> String {
    names
        .iter()
        .find(|n| *n == reference || n.ends_with(&format!("/{reference}")))
        .cloned()
        .unwrap_or_else(|| reference.to_string())
}

/// Where `image push` looks for credentials besides the declarations: `--authfile`, then
/// `REGISTRY_AUTH_FILE`.
#[derive(Debug, Clone, Default)]
pub struct PushCredentials {
    pub authfile: Option<std::path::PathBuf>,
    pub registry_auth_file: Option<std::path::PathBuf>,
}

impl Workspace {
    /// Pushes the image of object `name` to `destination` and returns the manifest digest
    /// the registry answered. Credentials: the first of the Image's `pullSecret`, the
    /// Workspace's, `--authfile` and `REGISTRY_AUTH_FILE` that has an entry for the
    /// destination's registry (none: the push goes without, and a registry that wants
    /// some refuses it with an authentication error).
    pub async fn push_image(
        &self,
        engine: &Engine,
        name: &str,
        destination: &str,
        extra: &PushCredentials,
        timeout: std::time::Duration,
    ) -> Result<(ObjectImage, crate::engine::Pushed)> {
        if let Some(problem) = pocket_dock_spec::reference_problem(destination) {
            return Err(Error::argument(
                "REF",
                format!("`{destination}` is not an image reference: {problem}"),
            ));
        }
        let object = self.object_image(name).await?;
        if engine.find_image(&object.image).await?.is_none() {
            return Err(images::ImageError::NotPresent {
                image: format!("{} ({})", object.key, object.image),
            }
            .into());
        }
        let valid = self.load()?;
        let declarations = valid.declarations();
        let own = declarations.objects.iter().find_map(|o| match &o.spec {
            pocket_dock_spec::model::Spec::Image(image)
                if object.key.kind == Kind::Image && o.metadata.name == name =>
            {
                image
                    .pull_secret
                    .clone()
                    .map(|s| (format!("Image/{name}"), s))
            }
            _ => None,
        });
        let workspace = declarations.settings.pull_secret.clone().map(|s| {
            let owner = declarations
                .workspace_name
                .as_ref()
                .map_or_else(|| "Workspace".to_string(), |n| format!("Workspace/{n}"));
            (owner, s)
        });
        let mut auth = None;
        for (owner, secret) in own.iter().chain(workspace.iter()) {
            auth = crate::registry_auth::load(&self.root, owner, secret, destination)?;
            if auth.is_some() {
                break;
            }
        }
        for file in [&extra.authfile, &extra.registry_auth_file] {
            if auth.is_some() {
                break;
            }
            if let Some(file) = file {
                auth = crate::registry_auth::load_file(file, destination)?;
            }
        }
        let pushed = engine
            .push_image(&object.image, destination, auth.as_ref(), timeout)
            .await?;
        Ok((object, pushed))
    }
}

/// Builds and snapshots inherit their base's labels, so their own come first.
fn origin(image: &ImageDetails, tag: &str) -> ImageOrigin {
    if let Some(record) = crate::reconcile::status::snapshot_record_from_labels(&image.labels) {
        ImageOrigin::Snapshot(record)
    } else if let Some(hash) = image
        .labels
        .get(crate::reconcile::make_images::CONTENT_HASH)
    {
        ImageOrigin::Build {
            content_hash: hash.clone(),
        }
    } else if image.labels.contains_key(embedded::LABEL_EMBEDDED) {
        ImageOrigin::Embedded {
            version: image.labels.get(embedded::LABEL_VERSION).cloned(),
            busybox: image.labels.get(embedded::LABEL_BUSYBOX).cloned(),
            busybox_sha256: image.labels.get(embedded::LABEL_BUSYBOX_SHA256).cloned(),
        }
    } else {
        ImageOrigin::Pulled(tag.to_string())
    }
}
