//! A workspace's images by object name: which image an Image or Snapshot object is, what
//! it is, and exporting it.

use std::path::Path;

use pocket_dock_spec::Kind;

use crate::engine::{Engine, ImageDetails};
use crate::images::{self, Exported, embedded};
use crate::reconcile::observe::ImageInputs;
use crate::reconcile::status::SnapshotRecord;
use crate::reconcile::{Desired, Key};
use crate::workspace::Workspace;
use crate::{Error, Result};

/// An Image or Snapshot object and the local image it names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectImage {
    pub key: Key,
    pub image: String,
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
                return Ok(ObjectImage {
                    image: tag.to_string(),
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
        let details = engine.find_image(&object.image).await?.ok_or_else(|| {
            images::ImageError::NotPresent {
                image: format!("{} ({})", object.key, object.image),
            }
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
        let exported = images::export(engine, &object.image, file).await?;
        Ok((object, exported))
    }
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
