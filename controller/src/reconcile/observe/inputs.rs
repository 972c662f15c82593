//! The files images are made from: each build's context and the embedded base's busybox,
//! read (and the build's paths resolved) before the desired state is computed, on a
//! blocking thread.

use std::collections::BTreeMap;

use pocket_dock_spec::model::{Build, Spec};
use pocket_dock_spec::{Declarations, ResolvedPaths};

use crate::images::BuildRecipe;
use crate::images::context::ContextRead;
use crate::images::embedded::BaseInput;

/// What images are made from, read from files: each build's context and the embedded
/// base's input. [`Desired::from_declarations`](crate::reconcile::Desired::from_declarations) names images from it without I/O.
#[derive(Debug, Default)]
pub struct ImageInputs {
    /// The embedded base's input, when an `Image` wants it (the failure as it is reported).
    pub base: Option<Result<BaseInput, String>>,
    /// Each build, by `Image` name.
    pub builds: BTreeMap<String, BuildInput>,
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
}

impl ToRead {
    fn of(declarations: &Declarations) -> ToRead {
        let mut to_read = ToRead {
            root: declarations.root.clone(),
            builds: Vec::new(),
            embedded: false,
        };
        for object in &declarations.objects {
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
        let builds = self
            .builds
            .into_iter()
            .map(|(name, build, resolved)| {
                let recipe = BuildRecipe::resolve(&build, &resolved, &self.root);
                let context = recipe.read_context().map_err(|e| e.to_string());
                (name, BuildInput { recipe, context })
            })
            .collect();
        ImageInputs {
            base: self
                .embedded
                .then(|| BaseInput::find().map_err(|e| e.to_string())),
            builds,
        }
    }
}

impl ImageInputs {
    /// Reads every build context and the embedded base's input that `declarations` need,
    /// on the calling thread (blocking).
    pub fn read(declarations: &Declarations) -> ImageInputs {
        ToRead::of(declarations).read()
    }

    /// [`ImageInputs::read`] on a blocking thread, so that no async thread waits for disk.
    pub async fn gather(declarations: &Declarations) -> ImageInputs {
        let to_read = ToRead::of(declarations);
        tokio::task::spawn_blocking(move || to_read.read())
            .await
            .unwrap_or_else(|e| {
                // Only a panic gets here; every image is then reported as not read.
                tracing::error!(error = %e, "reading the image inputs failed");
                ImageInputs::default()
            })
    }
}
