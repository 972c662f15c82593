//! Pools (pure): the one place a pool's `template` becomes a sandbox spec
//! ([`template_sandbox_spec`]), what a pooled template may not have ([`template_problem`]),
//! and member names.

use crate::load::Object;
use crate::model::{DesiredState, Network, RunMode, SandboxSpec, Spec};
use crate::template::{Catalog, TemplateError};
use crate::yaml::Loc;

/// The sandbox spec a pool's members are made from: the template `name` among `objects`
/// (declared templates, and the built-ins) resolved as [`crate::template::resolve`] does for
/// loaded declarations (its `extends` chain merged base-first; no workspace defaults). Taking
/// objects, not `Declarations`, lets validation (which has only its entries) use it too.
/// This is the only call from pools into templates.
pub fn template_sandbox_spec<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    name: &str,
) -> Result<SandboxSpec, TemplateError> {
    let catalog = Catalog::new(objects.into_iter().filter_map(|o| match &o.spec {
        Spec::Template(t) => Some((o.metadata.name.as_str(), t)),
        _ => None,
    }));
    let merged = catalog.merged_fields(name, Loc::default())?;
    serde_json::from_value(merged.to_json()).map_err(|e| TemplateError::Invalid {
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// Why a template's sandbox spec cannot make pool members: `(field, problem)`, the field
/// as a path under the sandbox spec. `None`: it can.
///
/// Members are interchangeable and made ahead of time, so a template may not name what
/// would make them differ or collide: published ports (one host port, many members),
/// secrets (their files are per sandbox name), an egress allow-list (its network and proxy
/// listener are per sandbox name), `dependsOn` (members are made without waiting on
/// others), `run: once` (a member must idle) and a `state` other than `running`.
pub fn template_problem(spec: &SandboxSpec) -> Option<(&'static str, String)> {
    if spec.image.is_none() && spec.image_from.is_none() {
        return Some(("image", "it names no image (`image` or `imageFrom`)".into()));
    }
    if !spec.ports.is_empty() {
        return Some((
            "ports",
            "it publishes ports: every member would claim the same host port".into(),
        ));
    }
    if !spec.secrets.is_empty() {
        return Some((
            "secrets",
            "it has secrets, which pooled sandboxes do not support yet".into(),
        ));
    }
    if matches!(spec.network, Some(Network::Egress(_))) {
        return Some((
            "network",
            "it has an egress allow-list, which pooled sandboxes do not support yet".into(),
        ));
    }
    if !spec.depends_on.is_empty() {
        return Some((
            "dependsOn",
            "it depends on other sandboxes; members are made ahead of time".into(),
        ));
    }
    if spec.run == RunMode::Once {
        return Some((
            "run",
            "it is a one-shot (`run: once`); a member must idle until claimed".into(),
        ));
    }
    if spec.state != DesiredState::Running {
        return Some((
            "state",
            "it is not `state: running`; members must run to be handed out".into(),
        ));
    }
    None
}

/// The longest a pool member's id may be: with the pool name (at most 63) it makes the
/// member's object name.
pub const MEMBER_ID_LEN: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Port;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            image: Some("localhost/x:1".into()),
            ..SandboxSpec::default()
        }
    }

    #[test]
    fn a_plain_template_can_make_members() {
        assert_eq!(template_problem(&spec()), None);
    }

    #[test]
    fn what_members_cannot_share_is_refused_by_field() {
        let no_image = SandboxSpec::default();
        assert_eq!(template_problem(&no_image).map(|p| p.0), Some("image"));
        let mut ports = spec();
        ports.ports.push(Port {
            container: 80,
            host: None,
            host_ip: None,
            protocol: Default::default(),
        });
        assert_eq!(template_problem(&ports).map(|p| p.0), Some("ports"));
        let mut once = spec();
        once.run = RunMode::Once;
        assert_eq!(template_problem(&once).map(|p| p.0), Some("run"));
        let mut stopped = spec();
        stopped.state = DesiredState::Stopped;
        assert_eq!(template_problem(&stopped).map(|p| p.0), Some("state"));
        stopped.state = DesiredState::Paused;
        assert_eq!(template_problem(&stopped).map(|p| p.0), Some("state"));
        let mut egress = spec();
        egress.network = Some(Network::Egress(vec!["a.b:443".into()]));
        assert_eq!(template_problem(&egress).map(|p| p.0), Some("network"));
    }
}
