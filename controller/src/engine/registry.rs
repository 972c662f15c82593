//! Registry transfers with credentials: pulls that send `X-Registry-Auth`, and push.
//!
//! - A pull from a loopback registry (`localhost`, `127.0.0.0/8`, `[::1]`) on Podman goes
//!   through Podman's own `/libpod/images/pull` with `tlsVerify=false`: the compat
//!   endpoint has no such switch, and a registry on this machine is plain HTTP as often as
//!   not. Docker treats 127.0.0.0/8 as insecure by itself. Every other pull uses the
//!   compat `/images/create` (see [`Engine::pull`]).
//! - A push tags the image with the destination, pushes it with the compat
//!   `/images/{name}/push` (both engines; Podman honours `tlsVerify` there), reads the
//!   manifest digest the registry answered from the progress, and removes the tag again.
//! - A refusal by the registry (401, `denied`) is [`EngineError::RegistryAuth`], never a
//!   "not found" or a generic failure. Credentials go only into the header: never into a
//!   log line, an error or a record.

use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

use super::credentials::{RegistryAuth, is_auth_failure, is_loopback, pull_failure, registry_host};
use super::progress::{OnProgress, Progress as ProgressReport};
use super::raw::{LIBPOD, RawBody, percent_encode};
use super::{Engine, EngineError, Operation, Target};

/// The header value to send when there are no credentials (Docker wants the header on a
/// push).
fn no_auth_header() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode("{}")
}

/// One line of push or pull progress, as either engine writes it.
#[derive(Debug, Default, serde::Deserialize)]
struct Progress {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
    #[serde(default)]
    aux: Option<Aux>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Aux {
    #[serde(default, rename = "Digest")]
    digest: Option<String>,
}

/// What a progress stream said, line by line.
#[derive(Debug, Default)]
struct Outcome {
    error: Option<String>,
    digest: Option<String>,
}

impl Outcome {
    /// Takes one line; returns its status text, if it has one.
    fn feed(&mut self, reference: &str, line: &str) -> Option<String> {
        let line = line.trim();
        if line.is_empty() {
            return None;
        }
        let Ok(p) = serde_json::from_str::<Progress>(line) else {
            tracing::info!(target: "pocket_dock::engine", image = reference, "{line}");
            return Some(line.to_string());
        };
        let mut said = None;
        if let Some(text) = p.status.as_deref().or(p.stream.as_deref()) {
            let text = text.trim();
            if !text.is_empty() {
                tracing::info!(target: "pocket_dock::engine", image = reference, "{text}");
                said = Some(text.to_string());
            }
            if self.digest.is_none() {
                self.digest = digest_in(text);
            }
        }
        if let Some(d) = p.aux.and_then(|a| a.digest) {
            self.digest = Some(d);
        }
        let error = p.error.or(p.error_detail.and_then(|d| d.message));
        if let Some(e) = error
            && self.error.is_none()
        {
            self.error = Some(e);
        }
        said
    }
}

/// `sha256:<64 hex>` after `digest: ` in a status line (`TAG: digest: sha256:... size: N`).
fn digest_in(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("digest: ")?;
    let word = rest.split_whitespace().next()?;
    let hex = word.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| word.to_string())
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pushed {
    /// The destination, as given.
    pub reference: String,
    /// The manifest digest the registry answered.
    pub digest: String,
}

impl Engine {
    /// Pulls `reference` with `auth` (when given) sent as `X-Registry-Auth`. See the module
    /// documentation for which endpoint is used.
    pub async fn pull_with(
        &self,
        reference: &str,
        timeout: Duration,
        auth: Option<&RegistryAuth>,
    ) -> Result<(), EngineError> {
        self.pull_with_progress(reference, timeout, auth, &super::progress::ignore_progress)
            .await
    }

    /// [`Engine::pull_with`], telling `on_progress` what the pull does as it goes: layers
    /// and bytes (the compat API), or Podman's status lines (its own API).
    pub async fn pull_with_progress(
        &self,
        reference: &str,
        timeout: Duration,
        auth: Option<&RegistryAuth>,
        on_progress: OnProgress<'_>,
    ) -> Result<(), EngineError> {
        let host = registry_host(reference);
        if is_loopback(&host) && self.identity().await?.is_podman() {
            self.pull_libpod(reference, timeout, auth, on_progress)
                .await
        } else {
            self.pull_compat(reference, timeout, auth, on_progress)
                .await
        }
    }

    /// Pulls `reference` unless it is already present, with `auth`.
    pub async fn pull_if_missing_with(
        &self,
        reference: &str,
        timeout: Duration,
        auth: Option<&RegistryAuth>,
    ) -> Result<super::images::PullOutcome, EngineError> {
        self.pull_if_missing_with_progress(
            reference,
            timeout,
            auth,
            &super::progress::ignore_progress,
        )
        .await
    }

    /// [`Engine::pull_if_missing_with`], telling `on_progress` what the pull does.
    pub async fn pull_if_missing_with_progress(
        &self,
        reference: &str,
        timeout: Duration,
        auth: Option<&RegistryAuth>,
        on_progress: OnProgress<'_>,
    ) -> Result<super::images::PullOutcome, EngineError> {
        if let Some(image) = self.find_image(reference).await? {
            return Ok(super::images::PullOutcome::Present(image));
        }
        self.pull_with_progress(reference, timeout, auth, on_progress)
            .await?;
        Ok(super::images::PullOutcome::Pulled(
            self.inspect_image(reference).await?,
        ))
    }

    async fn pull_libpod(
        &self,
        reference: &str,
        timeout: Duration,
        auth: Option<&RegistryAuth>,
        on_progress: OnProgress<'_>,
    ) -> Result<(), EngineError> {
        let op = Operation::ImagePull;
        let path = format!(
            "{LIBPOD}/images/pull?reference={}&tlsVerify=false&policy=always",
            percent_encode(reference)
        );
        let header = auth.map(RegistryAuth::header);
        let headers: Vec<(&str, &str)> = header
            .as_deref()
            .map(|h| vec![("X-Registry-Auth", h)])
            .unwrap_or_default();
        let lost = || EngineError::ConnectionLost {
            op,
            socket: self.socket.clone(),
            id: Some(reference.to_string()),
            source: None,
        };
        let started = Instant::now();
        let pull = async {
            let response = self
                .raw_request_with_headers(op, "POST", &path, RawBody::Empty, &headers)
                .await?;
            if response.status >= 300 {
                let body = response.body(lost).await?;
                let message = error_message(&body);
                return Err(pull_failure(reference, message));
            }
            let mut outcome = Outcome::default();
            let mut lines = response.reader.lines();
            while let Some(line) = lines.next_line().await.map_err(|_| lost())? {
                // Podman's own pull says what it copies (`Copying blob sha256:…`), no counts.
                if let Some(text) = outcome.feed(reference, &line) {
                    on_progress(ProgressReport::Status { text });
                }
            }
            match outcome.error {
                Some(message) => Err(pull_failure(reference, message)),
                None => Ok(()),
            }
        };
        let result = match tokio::time::timeout(timeout, pull).await {
            Ok(result) => result,
            Err(_) => Err(EngineError::Timeout {
                op,
                id: Some(reference.to_string()),
                after: timeout,
            }),
        };
        self.record(op, Target::Image(reference), started, result.is_ok());
        result
    }

    /// Pushes the local image `source` to `destination` (a registry reference with a tag)
    /// with `auth`, and returns the manifest digest the registry answered. `source` keeps
    /// its names; the destination's name is added for the push and removed after.
    pub async fn push_image(
        &self,
        source: &str,
        destination: &str,
        auth: Option<&RegistryAuth>,
        timeout: Duration,
    ) -> Result<Pushed, EngineError> {
        let op = Operation::ImagePush;
        if destination.contains('@') {
            return Err(EngineError::InvalidInput {
                op,
                id: Some(destination.to_string()),
                message: "push to a tag (`REGISTRY/NAME:TAG`), not a digest".to_string(),
            });
        }
        let (repository, tag) = super::images::split_reference(destination);
        let source_id = self.inspect_image(source).await?.id;
        // Another local image may already go by the destination's name: it gets the name
        // back after the push, as if the push had never borrowed it.
        let previous = self.find_image(destination).await?.map(|i| i.id);
        let had_name = previous.as_deref() == Some(source_id.as_str());
        if !had_name {
            self.tag_image(source, destination).await?;
        }
        let result = self
            .push_tagged(destination, &repository, &tag, auth, timeout)
            .await;
        if !had_name {
            let restored = match &previous {
                Some(other) => self.tag_image(other, destination).await,
                None => {
                    let options = bollard::query_parameters::RemoveImageOptions {
                        force: false,
                        noprune: true,
                        ..Default::default()
                    };
                    // The image keeps its other names, so this only removes the name.
                    self.call(
                        Operation::ImageRemove,
                        Target::Image(destination),
                        self.docker.remove_image(destination, Some(options), None),
                    )
                    .await
                    .map(|_| ())
                }
            };
            if let Err(e) = restored {
                tracing::warn!(
                    target: "pocket_dock::engine",
                    image = destination,
                    "could not put the name borrowed for the push back: {e}"
                );
            }
        }
        result
    }

    async fn push_tagged(
        &self,
        destination: &str,
        repository: &str,
        tag: &str,
        auth: Option<&RegistryAuth>,
        timeout: Duration,
    ) -> Result<Pushed, EngineError> {
        let op = Operation::ImagePush;
        let version = super::API_VERSION;
        let mut path = format!(
            "/v{}.{}/images/{}/push?tag={}",
            version.major_version,
            version.minor_version,
            percent_encode(repository),
            percent_encode(tag)
        );
        if is_loopback(&registry_host(destination)) {
            path.push_str("&tlsVerify=false");
        }
        let header = auth.map_or_else(no_auth_header, RegistryAuth::header);
        let headers = [("X-Registry-Auth", header.as_str())];
        let lost = || EngineError::ConnectionLost {
            op,
            socket: self.socket.clone(),
            id: Some(destination.to_string()),
            source: None,
        };
        let fail = |message: String| {
            if is_auth_failure(&message) {
                EngineError::RegistryAuth {
                    op,
                    registry: registry_host(destination),
                    reference: destination.to_string(),
                    message,
                }
            } else {
                EngineError::PushFailed {
                    reference: destination.to_string(),
                    message,
                }
            }
        };
        let started = Instant::now();
        let push = async {
            let response = self
                .raw_request_with_headers(op, "POST", &path, RawBody::Empty, &headers)
                .await?;
            if response.status >= 300 {
                let body = response.body(lost).await?;
                return Err(fail(error_message(&body)));
            }
            let mut outcome = Outcome::default();
            let mut lines = response.reader.lines();
            while let Some(line) = lines.next_line().await.map_err(|_| lost())? {
                outcome.feed(destination, &line);
            }
            if let Some(message) = outcome.error {
                return Err(fail(message));
            }
            outcome.digest.ok_or_else(|| {
                fail("the engine reported no manifest digest for the push".to_string())
            })
        };
        let result = match tokio::time::timeout(timeout, push).await {
            Ok(result) => result,
            Err(_) => Err(EngineError::Timeout {
                op,
                id: Some(destination.to_string()),
                after: timeout,
            }),
        };
        self.record(op, Target::Image(destination), started, result.is_ok());
        Ok(Pushed {
            reference: destination.to_string(),
            digest: result?,
        })
    }
}

/// The message of an error answer (`{"message": ...}` or `{"cause": ...}`), else its text.
fn error_message(body: &[u8]) -> String {
    let value: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    value
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("cause")))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_refusals_are_authentication_failures() {
        for m in [
            "initializing source docker://127.0.0.1:5999/t/bb:2: reading manifest 2 in 127.0.0.1:5999/t/bb: unauthorized: authentication required",
            "Head \"https://r/v2/a/manifests/1\": no basic auth credentials",
            "denied: requested access to the resource is denied",
            "pull access denied for x, repository does not exist or may require 'docker login'",
            "unexpected http status 401 Unauthorized",
        ] {
            assert!(is_auth_failure(m), "{m}");
        }
        for m in [
            "reading manifest 2 in 127.0.0.1:5999/t/nope: manifest unknown: manifest unknown",
            "dial tcp 127.0.0.1:80: connect: connection refused",
            "open /var/lib/containers: permission denied",
        ] {
            assert!(!is_auth_failure(m), "{m}");
        }
        assert!(matches!(
            pull_failure("127.0.0.1:5000/a:1", "unauthorized: authentication required".into()),
            EngineError::RegistryAuth { ref registry, .. } if registry == "127.0.0.1:5000"
        ));
        assert!(matches!(
            pull_failure("127.0.0.1:5000/a:1", "manifest unknown".into()),
            EngineError::PullFailed { .. }
        ));
    }

    #[test]
    fn push_progress_gives_the_digest_or_the_error() {
        let digest = "sha256:dbd90bda18e59c62ececf11310db2a4067213d311d85790652067eb3754ab923";
        // Podman 4.3's compat push.
        let mut podman = Outcome::default();
        podman.feed(
            "r",
            r#"{"status":"The push refers to repository [127.0.0.1:5999/t/bb:2]"}"#,
        );
        podman.feed(
            "r",
            &format!(r#"{{"status":"2: digest: {digest} size: 343"}}"#),
        );
        assert_eq!(podman.digest.as_deref(), Some(digest));
        assert!(podman.error.is_none());
        // Docker's, with its aux record.
        let mut docker = Outcome::default();
        docker.feed(
            "r",
            &format!(
                r#"{{"progressDetail":{{}},"aux":{{"Tag":"2","Digest":"{digest}","Size":343}}}}"#
            ),
        );
        assert_eq!(docker.digest.as_deref(), Some(digest));
        let mut failed = Outcome::default();
        failed.feed("r", r#"{"errorDetail":{"message":"x: unauthorized: authentication required"},"error":"x: unauthorized: authentication required"}"#);
        assert!(failed.error.as_deref().is_some_and(is_auth_failure));
        assert_eq!(digest_in("2: digest: sha256:short size: 1"), None);
    }
}
