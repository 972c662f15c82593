//! `--only KIND/NAME,...` and `--selector key=value,...`: a subset of the declared objects
//! for `apply`, `diff`, `delete` and `controller`.
//!
//! A selection is resolved against the declarations each time it is used (the controller's
//! files change while it runs): `--only` names objects, `--selector` matches
//! `metadata.labels`; both given, an object must satisfy both (intersection). What it
//! matches is the selection; `apply` adds their dependencies ([`Desired::with_dependencies`]),
//! `delete` does not.

use std::collections::{BTreeMap, BTreeSet};

use pocket_dock_spec::{Declarations, Kind};

#[cfg(doc)]
use super::desired::Desired;
use super::desired::Key;
use crate::error::Error;

/// The objects a command is limited to, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// `--only`: objects by kind and name (any of them).
    pub only: BTreeSet<Key>,
    /// `--selector`: labels an object must all carry, with these values.
    pub labels: BTreeMap<String, String>,
}

impl Selection {
    /// Parses the repeatable, comma-separated `--only` and `--selector` values; `None` when
    /// neither was given. Kinds are taken as `get` takes them (`Sandbox/web`, `sandbox/web`).
    pub fn parse(only: &[String], selector: &[String]) -> Result<Option<Selection>, Error> {
        if only.is_empty() && selector.is_empty() {
            return Ok(None);
        }
        let mut selection = Selection::default();
        for item in split(only) {
            let (kind, name) = crate::key::parse_kind_and_name(item).map_err(|_| {
                Error::argument(
                    "--only",
                    format!(
                        "--only {item:?}: expected KIND/NAME, e.g. Sandbox/web (kinds: Sandbox, Image, Snapshot, Volume, Network)"
                    ),
                )
            })?;
            match name.filter(|n| !n.is_empty()) {
                Some(name) if kind != Kind::Workspace => {
                    selection.only.insert(Key::new(kind, name));
                }
                _ => {
                    return Err(Error::argument(
                        "--only",
                        format!("--only {item:?}: expected KIND/NAME, e.g. Sandbox/web"),
                    ));
                }
            }
        }
        for item in split(selector) {
            let Some((key, value)) = item.split_once('=').filter(|(k, _)| !k.trim().is_empty())
            else {
                return Err(Error::argument(
                    "--selector",
                    format!("--selector {item:?}: expected key=value, e.g. tier=db"),
                ));
            };
            let (key, value) = (key.trim().to_string(), value.trim().to_string());
            if let Some(other) = selection.labels.get(&key).filter(|v| **v != value) {
                return Err(Error::argument(
                    "--selector",
                    format!(
                        "--selector asks for {key}={other} and {key}={value}: no object can match both"
                    ),
                ));
            }
            selection.labels.insert(key, value);
        }
        Ok(Some(selection))
    }

    /// The declared objects selected (dependencies not added). Fails, naming it, when an
    /// `--only` object is not declared or when nothing matches: a typo must not turn into a
    /// command that quietly does nothing.
    pub fn resolve(&self, declarations: &Declarations) -> Result<BTreeSet<Key>, Error> {
        let declared: BTreeMap<Key, &BTreeMap<String, String>> = declarations
            .objects
            .iter()
            .filter(|o| o.kind != Kind::Workspace)
            .map(|o| (Key::new(o.kind, o.name()), &o.metadata.labels))
            .collect();
        let missing: Vec<String> = self
            .only
            .iter()
            .filter(|k| !declared.contains_key(*k))
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(Error::NotDeclared {
                object: missing.join(", "),
                problem: format!(
                    "{} not declared under .pocket-dock/ (--only); nothing was changed",
                    if missing.len() == 1 { "is" } else { "are" }
                ),
            });
        }
        let mut selected: BTreeSet<Key> = declared
            .iter()
            .filter(|(key, labels)| {
                (self.only.is_empty() || self.only.contains(*key))
                    && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .map(|(key, _)| key.clone())
            .collect();
        selected.extend(made_from(declarations, &selected));
        if selected.is_empty() {
            return Err(Error::NotDeclared {
                object: self.to_string(),
                problem: "matches no declared object; nothing was changed".to_string(),
            });
        }
        Ok(selected)
    }
}

impl std::fmt::Display for Selection {
    /// As it was given: `--only Sandbox/web --selector tier=db`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.only.is_empty() {
            let keys: Vec<String> = self.only.iter().map(ToString::to_string).collect();
            parts.push(format!("--only {}", keys.join(",")));
        }
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            parts.push(format!("--selector {}", labels.join(",")));
        }
        write!(f, "{}", parts.join(" "))
    }
}

/// The sandboxes made from a selected Template, directly or through `extends`: a template
/// makes nothing itself, so selecting it means its sandboxes.
fn made_from(declarations: &Declarations, selected: &BTreeSet<Key>) -> Vec<Key> {
    let templates: BTreeSet<&str> = selected
        .iter()
        .filter(|k| k.kind == Kind::Template)
        .map(|k| k.name.as_str())
        .collect();
    if templates.is_empty() {
        return Vec::new();
    }
    let catalog = pocket_dock_spec::template::Catalog::of(declarations);
    declarations
        .objects
        .iter()
        .filter_map(|o| match &o.spec {
            pocket_dock_spec::model::Spec::Sandbox(s) => Some((o, s.template.as_deref()?)),
            _ => None,
        })
        .filter(|(_, template)| {
            catalog
                .chain(template)
                .is_ok_and(|chain| chain.iter().any(|l| templates.contains(l.name.as_str())))
        })
        .map(|(o, _)| Key::new(Kind::Sandbox, o.name()))
        .collect()
}

/// Every non-empty item of comma-separated, repeated values.
fn split(values: &[String]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Desired;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_comma_separated_and_repeated_values() {
        let s = Selection::parse(
            &strings(&["Sandbox/web,volume/data", "Image/base"]),
            &strings(&["tier=db,team=a", "env=dev"]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s.only,
            [
                Key::new(Kind::Sandbox, "web"),
                Key::new(Kind::Volume, "data"),
                Key::new(Kind::Image, "base"),
            ]
            .into()
        );
        assert_eq!(s.labels.len(), 3);
        assert_eq!(s.labels["tier"], "db");
        assert_eq!(Selection::parse(&[], &[]).unwrap(), None);
    }

    const WORKSPACE: &str = "apiVersion: pocket-dock.dev/v1alpha1
kind: Sandbox
metadata:
  name: a
spec:
  image: docker.io/library/busybox:1
  dependsOn: [db]
  mounts:
    - type: volume
      source: data
      target: /data
---
apiVersion: pocket-dock.dev/v1alpha1
kind: Sandbox
metadata:
  name: db
  labels:
    tier: db
spec:
  image: docker.io/library/busybox:1
---
apiVersion: pocket-dock.dev/v1alpha1
kind: Sandbox
metadata:
  name: b
  labels:
    tier: web
spec:
  image: docker.io/library/busybox:1
  mounts:
    - type: volume
      source: bdata
      target: /data
---
apiVersion: pocket-dock.dev/v1alpha1
kind: Volume
metadata:
  name: data
---
apiVersion: pocket-dock.dev/v1alpha1
kind: Volume
metadata:
  name: bdata
";

    fn workspace() -> (tempfile::TempDir, Declarations, Desired) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".pocket-dock")).unwrap();
        std::fs::write(tmp.path().join(".pocket-dock/all.yaml"), WORKSPACE).unwrap();
        let loaded = pocket_dock_spec::load(tmp.path());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        let own = crate::engine::Ownership::new(crate::engine::WorkspaceId::new("0123456789ab"));
        let inputs = super::super::observe::ImageInputs::read(&loaded.declarations);
        let desired = Desired::from_declarations(&loaded.declarations, &own, &inputs);
        (tmp, loaded.declarations, desired)
    }

    fn keys(items: &[(Kind, &str)]) -> BTreeSet<Key> {
        items.iter().map(|(k, n)| Key::new(*k, *n)).collect()
    }

    #[test]
    fn resolves_names_and_labels_and_adds_dependencies_not_dependants() {
        let (_tmp, declarations, desired) = workspace();
        let only = Selection::parse(&strings(&["Sandbox/a"]), &[])
            .unwrap()
            .unwrap();
        let selected = only.resolve(&declarations).unwrap();
        assert_eq!(selected, keys(&[(Kind::Sandbox, "a")]));
        assert_eq!(
            desired.with_dependencies(&selected),
            keys(&[
                (Kind::Sandbox, "a"),
                (Kind::Sandbox, "db"),
                (Kind::Volume, "data"),
                (Kind::Network, "default")
            ])
        );
        let by_label = Selection::parse(&[], &strings(&["tier=db"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            by_label.resolve(&declarations).unwrap(),
            keys(&[(Kind::Sandbox, "db")])
        );
        // Both given: an object must satisfy both.
        let both = Selection::parse(&strings(&["Sandbox/a,Sandbox/b"]), &strings(&["tier=web"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            both.resolve(&declarations).unwrap(),
            keys(&[(Kind::Sandbox, "b")])
        );
    }

    #[test]
    fn a_selected_template_selects_the_sandboxes_made_from_it() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".pocket-dock")).unwrap();
        let head = "apiVersion: pocket-dock.dev/v1alpha1\n";
        std::fs::write(
            tmp.path().join(".pocket-dock/all.yaml"),
            format!(
                "{head}kind: Template\nmetadata: {{name: base}}\nspec: {{sandbox: {{image: 'x:1'}}}}\n---\n\
                 {head}kind: Template\nmetadata: {{name: runner}}\nspec: {{extends: base}}\n---\n\
                 {head}kind: Sandbox\nmetadata: {{name: a}}\nspec: {{template: runner}}\n---\n\
                 {head}kind: Sandbox\nmetadata: {{name: b}}\nspec: {{template: base}}\n---\n\
                 {head}kind: Sandbox\nmetadata: {{name: c}}\nspec: {{image: 'x:1'}}\n"
            ),
        )
        .unwrap();
        let loaded = pocket_dock_spec::load(tmp.path());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        let select = |only: &str| {
            Selection::parse(&strings(&[only]), &[])
                .unwrap()
                .unwrap()
                .resolve(&loaded.declarations)
                .unwrap()
        };
        assert_eq!(
            select("Template/runner"),
            keys(&[(Kind::Template, "runner"), (Kind::Sandbox, "a")])
        );
        assert_eq!(
            select("Template/base"),
            keys(&[
                (Kind::Template, "base"),
                (Kind::Sandbox, "a"),
                (Kind::Sandbox, "b")
            ])
        );
    }

    #[test]
    fn a_selection_that_matches_nothing_is_invalid_input_naming_it() {
        let (_tmp, declarations, _) = workspace();
        for (only, selector, named) in [
            (vec!["Sandbox/nope"], vec![], "Sandbox/nope"),
            (vec![], vec!["tier=cache"], "tier=cache"),
            (
                vec!["Sandbox/a"],
                vec!["tier=db"],
                "--only Sandbox/a --selector tier=db",
            ),
        ] {
            let err = Selection::parse(&strings(&only), &strings(&selector))
                .unwrap()
                .unwrap()
                .resolve(&declarations)
                .unwrap_err();
            assert_eq!(err.category(), crate::Category::InvalidInput);
            assert!(err.to_string().contains(named), "{err}");
        }
    }

    #[test]
    fn a_selected_apply_acts_on_the_selection_and_its_dependencies_and_prunes_nothing() {
        use super::super::ApplyOptions;
        use super::super::observe::{Observed, ObservedContainer};
        use super::super::plan::{Op, PlanOptions, plan};
        use crate::engine::{ContainerState, OwnedContainer, VolumeSummary};

        let (_tmp, declarations, mut desired) = workspace();
        // Every file valid: a full apply would prune.
        desired.complete = true;
        let mut observed = Observed::default();
        observed
            .images
            .insert("docker.io/library/busybox:1".into(), None);
        observed.sandboxes.insert(
            "leftover".into(),
            vec![ObservedContainer {
                id: "id-leftover".into(),
                container_name: "pd-leftover".into(),
                state: ContainerState::Running,
                spec_hash: Some("h".into()),
                spec: None,
                image_id: "x".into(),
                created: 0,
                bind_sources: None,
                exit: Default::default(),
                ports: Vec::new(),
                networks: None,
                handle: OwnedContainer::for_tests("pd-leftover"),
            }],
        );
        observed.volumes.insert(
            "gone".into(),
            VolumeSummary {
                name: "pd-gone".into(),
                labels: Default::default(),
                mountpoint: String::new(),
            },
        );
        let full = plan(
            &desired,
            &observed,
            PlanOptions {
                prune_volumes: true,
                ..PlanOptions::default()
            },
        );
        let removes = |p: &super::super::Plan| {
            p.actions
                .iter()
                .filter(|a| {
                    matches!(
                        a.op,
                        Op::Remove { .. } | Op::RemoveVolume | Op::RemoveImage { .. }
                    )
                })
                .count()
        };
        assert_eq!(
            removes(&full),
            2,
            "the full plan prunes: {:?}",
            full.actions
        );

        let options = ApplyOptions {
            prune_volumes: true,
            selection: Selection::parse(&strings(&["Sandbox/a"]), &[]).unwrap(),
            ..ApplyOptions::default()
        };
        let scope = super::super::Scope::new(&options, &desired, &declarations).unwrap();
        let selected = scope.restrict(full.clone());
        assert_eq!(removes(&selected), 0, "{:?}", selected.actions);
        assert!(selected.kept_volumes.is_empty());
        let acted: BTreeSet<String> = selected
            .actions
            .iter()
            .map(|a| format!("{} {}", a.op.verb(), a.key))
            .collect();
        // The pull is keyed on the first sandbox naming the reference (Sandbox/a here, but
        // it would be kept for a selected sandbox whatever its key).
        assert_eq!(
            acted,
            [
                "create Network/default",
                "create Sandbox/a",
                "create Sandbox/db",
                "create Volume/data",
                "pull Sandbox/a"
            ]
            .map(String::from)
            .into()
        );

        // A network whose settings changed is not replaced by a subset: that would move
        // every sandbox on it. It waits, for good, until a full apply.
        let mut replacing = full.clone();
        replacing.actions.push(super::super::Action {
            key: Key::new(Kind::Network, "default"),
            op: Op::RecreateNetwork,
            reason: "settings changed".into(),
            changes: Vec::new(),
        });
        let selected = scope.restrict(replacing);
        assert!(selected.actions.iter().all(|a| a.op != Op::RecreateNetwork));
        let waits = selected
            .blocked
            .iter()
            .find(|b| b.key == Key::new(Kind::Network, "default"))
            .unwrap();
        assert!(
            !waits.pending && waits.reason.contains("--only"),
            "{waits:?}"
        );

        // The selection's pulls survive even when keyed on a sandbox outside it.
        let options = ApplyOptions {
            selection: Selection::parse(&[], &strings(&["tier=web"])).unwrap(),
            ..ApplyOptions::default()
        };
        let scope = super::super::Scope::new(&options, &desired, &declarations).unwrap();
        let selected = scope.restrict(full);
        assert!(
            selected
                .actions
                .iter()
                .any(|a| matches!(a.op, Op::Pull { .. })),
            "{:?}",
            selected.actions
        );
        assert!(
            selected
                .actions
                .iter()
                .all(|a| a.key.name != "a" || matches!(a.op, Op::Pull { .. }))
        );
    }

    #[test]
    fn rejects_what_is_not_a_kind_and_name_or_a_label() {
        for (only, selector) in [
            (vec!["Sandbox"], vec![]),
            (vec!["Gadget/x"], vec![]),
            (vec!["Workspace/w"], vec![]),
            (vec![], vec!["tier"]),
            (vec![], vec!["=db"]),
            (vec![], vec!["tier=db,tier=web"]),
        ] {
            let err = Selection::parse(&strings(&only), &strings(&selector)).unwrap_err();
            assert_eq!(
                err.category(),
                crate::Category::InvalidInput,
                "{only:?} {selector:?}"
            );
        }
    }
}
