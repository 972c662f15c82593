//! Moving images in and out of Podman as OCI archives, and removing them.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::progress::{OnProgress, PROGRESS_EVERY, Progress, Throttle};
use super::raw::{LIBPOD, RawBody, percent_encode};
use super::{Capability, Engine, EngineError, Operation, OwnedImage, Ownership, Target};

/// Archives take as long as their size needs; this bounds a stuck transfer.
const TRANSFER_TIME: Duration = Duration::from_secs(600);

/// Tells `on_progress` the bytes sent, thinned by `throttle` (the last report always goes).
fn report_sent(
    throttle: &std::sync::Mutex<Throttle>,
    on_progress: OnProgress<'_>,
    done: u64,
    total: u64,
) {
    let due = throttle
        .lock()
        .map(|mut t| t.due(Instant::now(), done >= total))
        .unwrap_or(true);
    if due {
        on_progress(Progress::Bytes { done, total });
    }
}

impl Engine {
    /// Loads an OCI (or docker) archive from `file`; returns the names Podman gave it.
    /// `docker_manifest`: whether the archive also has Docker's `manifest.json`; one that is
    /// only an OCI layout needs the `load-oci` capability.
    pub async fn load_image_file(
        &self,
        file: &Path,
        docker_manifest: bool,
    ) -> Result<Vec<String>, EngineError> {
        self.load(RawBody::File(file, "application/x-tar"), docker_manifest)
            .await
    }

    /// [`Engine::load_image_file`], telling `on_progress` the bytes sent as they go
    /// ([`Progress::Bytes`], at most a few times a second, and the last one always).
    pub async fn load_image_file_with_progress(
        &self,
        file: &Path,
        docker_manifest: bool,
        on_progress: OnProgress<'_>,
    ) -> Result<Vec<String>, EngineError> {
        let throttle = std::sync::Mutex::new(Throttle::new(PROGRESS_EVERY));
        let sent = |done: u64, total: u64| report_sent(&throttle, on_progress, done, total);
        self.load(
            RawBody::FileReported(file, "application/x-tar", &sent),
            docker_manifest,
        )
        .await
    }

    /// Loads an archive held in memory (the embedded base image, which has both layouts).
    pub async fn load_image_bytes(&self, archive: &[u8]) -> Result<Vec<String>, EngineError> {
        self.load(RawBody::Bytes(archive, "application/x-tar"), true)
            .await
    }

    /// [`Engine::load_image_bytes`], telling `on_progress` the bytes sent as they go
    /// ([`Progress::Bytes`], at most a few times a second, and the last one always).
    pub async fn load_image_bytes_with_progress(
        &self,
        archive: &[u8],
        on_progress: OnProgress<'_>,
    ) -> Result<Vec<String>, EngineError> {
        let throttle = std::sync::Mutex::new(Throttle::new(PROGRESS_EVERY));
        let sent = |done: u64, total: u64| report_sent(&throttle, on_progress, done, total);
        self.load(
            RawBody::BytesReported(archive, "application/x-tar", &sent),
            true,
        )
        .await
    }

    async fn load(
        &self,
        body: RawBody<'_>,
        docker_manifest: bool,
    ) -> Result<Vec<String>, EngineError> {
        let op = Operation::ImageLoad;
        let profile = if docker_manifest {
            self.profile().await?
        } else {
            self.require(Capability::LoadOci, op).await?
        };
        if !profile.is_podman() {
            // Docker answers with a JSON-lines progress stream naming what it loaded.
            let (_, body) = self
                .raw_exchange(
                    op,
                    "POST",
                    "/images/load?quiet=1",
                    body,
                    Target::None,
                    TRANSFER_TIME,
                )
                .await?;
            return docker_loaded(&String::from_utf8_lossy(&body)).map_err(|message| {
                EngineError::Runtime {
                    op,
                    id: None,
                    status: None,
                    message,
                }
            });
        }
        #[derive(serde::Deserialize)]
        struct Loaded {
            #[serde(rename = "Names", default)]
            names: Vec<String>,
        }
        let loaded: Loaded = self
            .raw_json(
                op,
                "POST",
                &format!("{LIBPOD}/images/load"),
                body,
                Target::None,
                TRANSFER_TIME,
            )
            .await?;
        Ok(loaded.names)
    }

    /// Writes `reference` to `file` as an OCI archive (written to a temporary file first,
    /// so a failed export never leaves a truncated archive under the final name).
    pub async fn export_image(&self, reference: &str, file: &Path) -> Result<(), EngineError> {
        let op = Operation::ImageExport;
        let profile = self.require(Capability::ExportOci, op).await?;
        let started = Instant::now();
        // Docker 25 and later write OCI archives (with a docker manifest.json beside).
        let path = if profile.is_podman() {
            format!(
                "{LIBPOD}/images/{}/get?format=oci-archive",
                percent_encode(reference)
            )
        } else {
            format!("/images/{}/get", percent_encode(reference))
        };
        let partial = file.with_extension("partial");
        let io_error = |e: std::io::Error| EngineError::InvalidInput {
            op,
            id: Some(file.display().to_string()),
            message: format!("cannot write {}: {e}", file.display()),
        };
        let lost = || EngineError::ConnectionLost {
            op,
            socket: self.socket.clone(),
            id: Some(reference.to_string()),
            source: None,
        };
        let export = async {
            let mut response = self.raw_request(op, "GET", &path, RawBody::Empty).await?;
            if response.status >= 300 {
                let status = response.status;
                let body = response.body(lost).await?;
                return Err(self.status_error(op, Target::Image(reference), status, &body));
            }
            let mut out = tokio::fs::File::create(&partial).await.map_err(io_error)?;
            tokio::io::copy(&mut response.reader, &mut out)
                .await
                .map_err(|_| lost())?;
            out.flush().await.map_err(io_error)?;
            tokio::fs::rename(&partial, file).await.map_err(io_error)
        };
        let result = match tokio::time::timeout(TRANSFER_TIME, export).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Timeout {
                op,
                id: Some(reference.to_string()),
                after: TRANSFER_TIME,
            }),
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        self.record(op, Target::Image(reference), started, result.is_ok());
        result
    }

    /// Gives the image `source` names (an id or a name) the name `reference` too (moved from
    /// any image that had it).
    pub async fn tag_image(&self, source: &str, reference: &str) -> Result<(), EngineError> {
        let (repo, tag) = super::image_names::split_tag(reference);
        let options = bollard::query_parameters::TagImageOptions {
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
        };
        self.call(
            Operation::ImageTag,
            Target::Image(reference),
            self.docker.tag_image(source, Some(options)),
        )
        .await
        .map(|_| ())
    }

    /// Removes the image name `reference` (the image goes when no name or container is left
    /// on it). Never forced: an image a container uses is a `Conflict`.
    pub async fn remove_image(&self, image: &OwnedImage) -> Result<(), EngineError> {
        let reference = image.reference();
        let options = bollard::query_parameters::RemoveImageOptions {
            force: false,
            noprune: false,
            ..Default::default()
        };
        self.call(
            Operation::ImageRemove,
            Target::Image(reference),
            self.docker.remove_image(reference, Some(options), None),
        )
        .await
        .map(|_| ())
    }
}

/// What Docker's `/images/load` stream says it loaded: `Loaded image: name` lines (or the
/// id, for an image without a name); an `error` line is the failure.
fn docker_loaded(stream: &str) -> Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct Line {
        stream: Option<String>,
        error: Option<String>,
    }
    let mut names = Vec::new();
    for item in serde_json::Deserializer::from_str(stream).into_iter::<Line>() {
        let item = item.map_err(|e| format!("unexpected load progress from the engine: {e}"))?;
        if let Some(error) = item.error {
            return Err(error.trim().to_string());
        }
        for line in item.stream.iter().flat_map(|s| s.lines()) {
            if let Some(name) = line
                .strip_prefix("Loaded image: ")
                .or_else(|| line.strip_prefix("Loaded image ID: "))
            {
                names.push(name.trim().to_string());
            }
        }
    }
    Ok(names)
}

impl Engine {
    /// Removes the image name `reference` only when the image it names carries
    /// `ownership`'s labels (checked right before), so a name that was moved to another
    /// image meanwhile is never removed. A `NotOwned` error otherwise.
    pub async fn remove_owned_image(
        &self,
        ownership: &Ownership,
        reference: &str,
    ) -> Result<(), EngineError> {
        let image = self.inspect_owned_image(ownership, reference).await?;
        self.remove_image(&image).await
    }
}

#[cfg(test)]
mod tests {
    use super::docker_loaded;

    #[test]
    fn docker_load_progress_names_the_images_or_fails_with_its_error() {
        let ok = "{\"stream\":\"Loaded image: localhost/a:1\\n\"}\n{\"stream\":\"Loaded image ID: sha256:ab\\n\"}";
        assert_eq!(
            docker_loaded(ok).unwrap(),
            ["localhost/a:1".to_string(), "sha256:ab".to_string()]
        );
        let bad = "{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}";
        assert_eq!(docker_loaded(bad).unwrap_err(), "unexpected EOF");
    }
}
