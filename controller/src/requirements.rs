//! What the declarations need from the engine, and what of that it lacks.
//!
//! Checked before anything changes: an `apply` (or `validate --engine`) on an engine without
//! a needed capability is refused as a whole, each unmet need named at the file and line
//! that declares it, instead of failing halfway through on a 404 from an endpoint the engine
//! does not have.
//!
//! Pure: the declarations and the engine's [`EngineProfile`] come in, the unmet needs go out.

use std::fmt;

use pocket_dock_spec::model::Spec;
use pocket_dock_spec::{Kind, Object, Source};

use crate::engine::{Capability, CapabilityState, EngineProfile};

/// One declared object's need for one capability.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Requirement {
    pub capability: Capability,
    pub kind: Kind,
    pub name: String,
    pub source: Source,
    /// Which part of the object needs it, e.g. `build`.
    pub because: &'static str,
}

/// A requirement the engine does not meet, with the engine's reason and the way out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unmet {
    #[serde(flatten)]
    pub requirement: Requirement,
    pub engine: String,
    pub detail: String,
    pub fix: Option<String>,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.requirement;
        write!(
            f,
            "{}: {} {:?} uses `{}`, which needs {}; {} lacks it: {}",
            r.source,
            r.kind.as_str(),
            r.name,
            r.because,
            r.capability,
            self.engine,
            self.detail
        )?;
        if let Some(fix) = &self.fix {
            write!(f, " ({fix})")?;
        }
        Ok(())
    }
}

/// Every capability the objects need, in declaration order.
pub fn requirements<'a>(objects: impl IntoIterator<Item = &'a Object>) -> Vec<Requirement> {
    let mut needs = Vec::new();
    for object in objects {
        let mut need = |capability, because| {
            needs.push(Requirement {
                capability,
                kind: object.kind,
                name: object.name().to_string(),
                source: object.source.clone(),
                because,
            })
        };
        match &object.spec {
            Spec::Image(image) => {
                if image.build.is_some() {
                    need(Capability::Build, "build");
                }
                // `embedded` needs nothing: its archive has both the OCI layout and
                // Docker's manifest.json, which every engine loads.
            }
            Spec::Snapshot(_) => need(Capability::Commit, "Snapshot"),
            Spec::Sandbox(s) => {
                if s.network.as_ref().and_then(|n| n.egress()).is_some() {
                    need(Capability::Egress, "network.egress");
                }
            }
            Spec::Volume(_)
            | Spec::Network(_)
            | Spec::Workspace(_)
            | Spec::Template(_)
            | Spec::Pool(_) => {}
        }
    }
    needs
}

/// The requirements `profile` does not meet. An engine that does not say (a capability
/// missing from its profile) is given the benefit of the doubt.
pub fn unmet(requirements: &[Requirement], profile: &EngineProfile) -> Vec<Unmet> {
    requirements
        .iter()
        .filter_map(|r| {
            let state: &CapabilityState = profile.state(r.capability)?;
            (!state.available).then(|| Unmet {
                requirement: r.clone(),
                engine: profile.describe(),
                detail: state.detail.clone(),
                fix: state.fix.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineFacts;
    use std::path::Path;

    fn objects(yaml: &str) -> Vec<Object> {
        let dir = tempfile::tempdir().unwrap();
        let pd = dir.path().join(".pocket-dock");
        std::fs::create_dir_all(&pd).unwrap();
        std::fs::write(pd.join("a.yaml"), yaml).unwrap();
        std::fs::create_dir_all(dir.path().join("ctx")).unwrap();
        std::fs::write(dir.path().join("ctx/Containerfile"), "FROM x\n").unwrap();
        let loaded = pocket_dock_spec::load(dir.path());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        loaded.declarations.objects
    }

    fn profile(product: &str, version: &str) -> EngineProfile {
        EngineProfile::derive(&EngineFacts {
            product: product.to_string(),
            version: version.to_string(),
            ..EngineFacts::default()
        })
    }

    const WORKSPACE: &str = "\
apiVersion: pocket-dock.dev/v1alpha1
kind: Image
metadata: {name: base}
spec: {embedded: base}
---
apiVersion: pocket-dock.dev/v1alpha1
kind: Image
metadata: {name: built}
spec:
  build: {context: ctx, from: {image: base}}
---
apiVersion: pocket-dock.dev/v1alpha1
kind: Sandbox
metadata: {name: box}
spec:
  imageFrom: {image: built}
---
apiVersion: pocket-dock.dev/v1alpha1
kind: Snapshot
metadata: {name: snap}
spec: {sandbox: box, generation: 1}
";

    #[test]
    fn an_egress_list_needs_the_egress_capability_which_docker_lacks() {
        let needs = requirements(&objects(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata: {name: agent}\nspec:\n  image: x:1\n  network: {egress: [\"a.example.org:443\"]}\n",
        ));
        assert_eq!(needs.len(), 1);
        assert_eq!(
            (needs[0].capability, needs[0].because),
            (Capability::Egress, "network.egress")
        );
        let unmet = unmet(&needs, &profile("Docker Engine", "26.1.5"));
        assert_eq!(unmet.len(), 1);
        assert!(
            unmet[0].to_string().contains("uses `network.egress`"),
            "{}",
            unmet[0]
        );
    }

    #[test]
    fn images_and_snapshots_name_what_they_need_where_they_are_declared() {
        let needs = requirements(&objects(WORKSPACE));
        let summary: Vec<_> = needs
            .iter()
            .map(|r| (r.capability, r.name.as_str(), r.source.line))
            .collect();
        // The embedded base needs nothing: its archive loads on every engine.
        assert_eq!(
            summary,
            [
                (Capability::Build, "built", 6),
                (Capability::Commit, "snap", 18)
            ]
        );
        assert_eq!(needs[0].source.file, Path::new(".pocket-dock/a.yaml"));
    }

    #[test]
    fn every_tested_engine_meets_them_and_a_missing_one_is_named_where_declared() {
        let needs = requirements(&objects(WORKSPACE));
        for (product, version) in [
            ("Podman Engine", "4.3.1"),
            ("Podman Engine", "5.8.6"),
            ("Engine", "20.10.24"),
            ("Engine", "26.1.5"),
        ] {
            assert!(
                unmet(&needs, &profile(product, version)).is_empty(),
                "{version}"
            );
        }
        let mut without_build = profile("Engine", "20.10.24");
        for state in &mut without_build.capabilities {
            if state.capability == Capability::Build {
                state.available = false;
                state.detail = "no builder".into();
                state.fix = Some("install one".into());
            }
        }
        let missing = unmet(&needs, &without_build);
        assert_eq!(missing.len(), 1);
        let text = missing[0].to_string();
        assert!(
            text.starts_with(".pocket-dock/a.yaml:6:"),
            "the declaration's place comes first: {text}"
        );
        assert!(
            text.contains("needs build")
                && text.contains("docker 20.10.24")
                && text.contains("install one"),
            "{text}"
        );
    }
}
