//! Registry credentials: a `pullSecret` (a containers `auth.json` / Docker `config.json`,
//! from a file or an environment variable) read when a pull or push needs it, the entry
//! for the reference's registry picked from it, and handed to the engine as the
//! `X-Registry-Auth` header. Nothing here is stored, logged or put in an error: a
//! [`RegistryAuth`]'s `Debug` shows the user name and registry only, and problems with an
//! auth file are described without its contents.

use std::path::Path;

use base64::Engine as _;
use pocket_dock_spec::model::{PullSecret, Secret};

use crate::error::ImageError;
use crate::secrets::SecretError;

pub use crate::engine::credentials::{DOCKER_HUB, RegistryAuth, is_loopback, registry_host};
use crate::engine::credentials::{DOCKER_HUB_ALIASES, repository_path};

/// What is wrong with an auth file. Never quotes the file.
fn describe_json_error(e: &serde_json::Error) -> String {
    format!(
        "it is not valid JSON (line {}, column {})",
        e.line(),
        e.column()
    )
}

/// The key of an `auths` entry as a registry (and optional namespace): the scheme and
/// Docker Hub's `/v1/` path dropped, Hub's aliases made `docker.io`.
fn normalise_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key)
        .trim_end_matches('/');
    let (host, path) = key.split_once('/').unwrap_or((key, ""));
    let host = if DOCKER_HUB_ALIASES.contains(&host) {
        DOCKER_HUB
    } else {
        host
    };
    if path.is_empty() || path == "v1" || path == "v2" {
        host.to_string()
    } else {
        format!("{host}/{path}")
    }
}

/// Picks the credentials for `reference` from an auth file's text: the most specific
/// entry (`host/namespace` before `host`). `Ok(None)` when the file has no entry for its
/// registry. `source` names the file or variable in messages.
pub fn credentials_for(
    text: &[u8],
    reference: &str,
    source: &str,
) -> Result<Option<RegistryAuth>, ImageError> {
    let fail = |reason: String| ImageError::PullSecret {
        origin: source.to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| fail(describe_json_error(&e)))?;
    let Some(auths) = value.get("auths") else {
        return Err(fail(
            "it has no `auths` object (expected {\"auths\": {\"HOST\": {\"auth\": ...}}})".into(),
        ));
    };
    let Some(auths) = auths.as_object() else {
        return Err(fail("its `auths` is not an object".into()));
    };
    let host = registry_host(reference);
    let full = format!("{host}/{}", repository_path(reference));
    let mut best: Option<(usize, &String, &serde_json::Value)> = None;
    for (key, entry) in auths {
        let normal = normalise_key(key);
        let matches = normal == host || full.starts_with(&format!("{normal}/"));
        if matches && best.is_none_or(|(len, _, _)| normal.len() > len) {
            best = Some((normal.len(), key, entry));
        }
    }
    let Some((_, key, entry)) = best else {
        return Ok(None);
    };
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let (username, password) = if let Some(auth) = field("auth") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| fail(format!("the `auth` of entry `{key}` is not base64")))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| fail(format!("the `auth` of entry `{key}` is not UTF-8 text")))?;
        let Some((user, pass)) = decoded.split_once(':') else {
            return Err(fail(format!(
                "the `auth` of entry `{key}` is not base64 of `user:password`"
            )));
        };
        (user.to_string(), pass.to_string())
    } else if let (Some(user), Some(pass)) = (field("username"), field("password")) {
        (user.to_string(), pass.to_string())
    } else {
        return Err(fail(format!(
            "entry `{key}` has neither `auth` nor `username` and `password` (tokens from a \
             credential helper are not supported)"
        )));
    };
    Ok(Some(RegistryAuth {
        username,
        password,
        server: host,
    }))
}

/// Reads `secret` (a file under `root`, never through a symlink, or a variable of this
/// process) and picks the credentials for `reference`. `owner` names the object in
/// messages (`Image/base`, `Workspace`).
pub fn load(
    root: &Path,
    owner: &str,
    secret: &PullSecret,
    reference: &str,
) -> Result<Option<RegistryAuth>, ImageError> {
    let as_secret = Secret {
        name: "pullSecret".to_string(),
        file: secret.file.clone(),
        env: secret.env.clone(),
    };
    let source = match (&secret.file, &secret.env) {
        (_, Some(var)) => format!("pullSecret of {owner} (variable {var})"),
        (Some(file), None) => format!("pullSecret of {owner} ({file})"),
        (None, None) => format!("pullSecret of {owner}"),
    };
    let value = crate::secrets::read_secret(root, owner, &as_secret).map_err(|e| {
        let reason = match e {
            SecretError::File { reason, .. } => format!("cannot read it: {reason}"),
            SecretError::EnvMissing { var, .. } => {
                format!("the environment variable {var} is not set for pocket-dock")
            }
            other => other.to_string(),
        };
        ImageError::PullSecret {
            origin: source.clone(),
            reason,
        }
    })?;
    credentials_for(value.bytes(), reference, &source)
}

/// Reads an auth file given by path (`--authfile`, `REGISTRY_AUTH_FILE`), following
/// symlinks as podman does: the user named it on the command line.
pub fn load_file(path: &Path, reference: &str) -> Result<Option<RegistryAuth>, ImageError> {
    let source = format!("auth file {}", path.display());
    let text = std::fs::read(path).map_err(|e| ImageError::PullSecret {
        origin: source.clone(),
        reason: format!("cannot read it: {e}"),
    })?;
    credentials_for(&text, reference, &source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn references_name_their_registry() {
        assert_eq!(registry_host("busybox"), "docker.io");
        assert_eq!(registry_host("library/busybox:1"), "docker.io");
        assert_eq!(registry_host("docker.io/library/busybox"), "docker.io");
        assert_eq!(registry_host("index.docker.io/a/b"), "docker.io");
        assert_eq!(registry_host("quay.io/a/b:1"), "quay.io");
        assert_eq!(
            registry_host("127.0.0.1:5000/a/b@sha256:00"),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_host("localhost/a"), "localhost");
        assert_eq!(repository_path("busybox:1"), "library/busybox");
        assert_eq!(repository_path("quay.io/team/app:2"), "team/app");
        assert_eq!(repository_path("127.0.0.1:5000/a/b@sha256:00"), "a/b");
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.3.2.1",
            "[::1]:443",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "quay.io",
            "10.0.0.1:5000",
            "docker.io",
            "localhost.example:1",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn the_entry_for_the_registry_is_picked() {
        let file = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "127.0.0.1:5000": {{"username": "u2", "password": "p2"}},
                "quay.io": {{"auth": "{}"}},
                "quay.io/team": {{"auth": "{}"}}
            }}}}"#,
            b64("hub:hubpw"),
            b64("q:qpw"),
            b64("t:tpw:with:colons")
        );
        let get = |r: &str| credentials_for(file.as_bytes(), r, "f").unwrap();
        let hub = get("busybox:1").unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "hubpw")
        );
        assert_eq!(hub.server(), "docker.io");
        assert_eq!(get("127.0.0.1:5000/x/y:1").unwrap().username, "u2");
        assert_eq!(get("quay.io/other/app").unwrap().username, "q");
        let team = get("quay.io/team/app:1").unwrap();
        assert_eq!(
            (team.username.as_str(), team.password.as_str()),
            ("t", "tpw:with:colons")
        );
        assert!(get("ghcr.io/a/b").is_none());
        assert!(get("127.0.0.1:5001/x").is_none());
    }

    #[test]
    fn bad_files_are_described_without_their_contents() {
        let cases = [
            r#"{"auths": {"h.io": {"auth": "c2VjcmV0"}}}"#.to_string(), // "secret", no colon
            r#"{"auths": {"h.io": {"auth": "not base64 secret!!"}}}"#.to_string(),
            r#"{"auths": {"h.io": {"identitytoken": "secret"}}}"#.to_string(),
            r#"{"auths": "secret"}"#.to_string(),
            r#"{"secret": 1}"#.to_string(),
            r#"{"auths": {"h.io": {"auth": "secret"#.to_string(),
        ];
        for text in cases {
            let err = credentials_for(text.as_bytes(), "h.io/a", "pullSecret of Image/x")
                .expect_err(&text)
                .to_string();
            assert!(!err.contains("secret\""), "{err}");
            assert!(!err.contains("c2VjcmV0"), "{err}");
            assert!(err.contains("pullSecret of Image/x"), "{err}");
        }
    }

    #[test]
    fn the_header_carries_the_credentials_and_debug_does_not() {
        let auth = RegistryAuth::new("alice".into(), "pw-123".into(), "127.0.0.1:5000".into());
        assert!(!format!("{auth:?}").contains("pw-123"));
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(auth.header())
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(json["username"], "alice");
        assert_eq!(json["password"], "pw-123");
        assert_eq!(json["serveraddress"], "127.0.0.1:5000");
    }
}
