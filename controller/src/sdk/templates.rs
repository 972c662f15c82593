//! `template list|show`: the built-in templates and the workspace's, and the sandbox spec a
//! template gives.

use pocket_dock_spec::model::SandboxSpec;
use pocket_dock_spec::template::{self, Listed, TemplateError};
use pocket_dock_spec::{Declarations, Diagnostic, Kind};

use crate::workspace::Workspace;
use crate::{Error, Result};

/// What `template list` shows, and what keeps it from being the whole truth.
#[derive(Debug, Clone)]
pub struct TemplateList {
    /// The built-ins, then the declared templates in file order (a broken file's in its
    /// last valid version).
    pub templates: Vec<Listed>,
    /// Problems of invalid files.
    pub problems: Vec<Diagnostic>,
}

/// What `template show` shows.
#[derive(Debug, Clone)]
pub struct TemplateView {
    pub listed: Listed,
    /// The template's `extends` chain, itself first.
    pub chain: Vec<String>,
    /// The merged sandbox fields (with `effective`, the workspace defaults applied and the
    /// profile expanded too, as a sandbox of this template adding nothing would run).
    pub spec: SandboxSpec,
}

impl Workspace {
    /// The declarations to show templates from: a broken file's in its last valid version,
    /// and the templates of files that have problems elsewhere (a document whose own
    /// structure is sound is shown as it is).
    fn template_declarations(&self) -> (Declarations, Vec<Diagnostic>) {
        let (declared, _) = self.load_any();
        let mut declarations = declared.declarations;
        if !declared.problems.is_empty() {
            let raw = pocket_dock_spec::load(&self.root);
            for object in raw.declarations.objects {
                if object.kind == Kind::Template
                    && declarations.get(Kind::Template, object.name()).is_none()
                {
                    declarations.objects.push(object);
                }
            }
        }
        (declarations, declared.problems)
    }

    /// The built-in templates and the workspace's. Answers even with invalid files.
    pub fn templates(&self) -> TemplateList {
        let (declarations, problems) = self.template_declarations();
        TemplateList {
            templates: template::list(&declarations),
            problems,
        }
    }

    /// The sandbox spec template `name` gives: built in or declared (a broken file's in its
    /// last valid version). An unknown name is [`Error::NotDeclared`] (with the closest
    /// name), a chain that does not resolve too.
    pub fn template(&self, name: &str, effective: bool) -> Result<TemplateView> {
        let (declarations, _) = self.template_declarations();
        let declarations = &declarations;
        let not_declared = |problem: String| Error::NotDeclared {
            object: format!("{}/{name}", Kind::Template),
            problem,
        };
        let catalog = template::Catalog::of(declarations);
        let chain = catalog.chain(name).map_err(|e| match e {
            TemplateError::Unknown {
                extended_by: None,
                closest,
                ..
            } => not_declared(format!(
                "is neither declared nor built in{}",
                closest
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default()
            )),
            other => not_declared(format!("cannot be resolved: {other}")),
        })?;
        let mut spec = template::resolve(declarations, name)
            .map_err(|e| not_declared(format!("cannot be resolved: {e}")))?;
        if effective {
            spec = pocket_dock_spec::hash::effective_sandbox(&spec, &declarations.settings);
        }
        let listed = template::list(declarations)
            .into_iter()
            .find(|l| l.name == name && (l.builtin || template::builtin(name).is_none()))
            .ok_or_else(|| not_declared("is neither declared nor built in".to_string()))?;
        Ok(TemplateView {
            listed,
            chain: chain.into_iter().map(|l| l.name).collect(),
            spec,
        })
    }
}
