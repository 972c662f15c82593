//! Making images: Containerfile builds and container commits, through Podman's own API
//! (its builds and commits are OCI images, whose ids survive an OCI archive round trip),
//! or Docker Engine's `/build` (classic builder) and `/commit`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

use super::progress::{OnProgress, Progress, ignore_progress};
use super::raw::{LIBPOD, RawBody, percent_encode};
use super::{Capability, Engine, EngineError, Operation, OwnedContainer, Target};

/// A build request: a context tarball that holds the Containerfile to use.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    /// The image name:tag to give the result.
    pub tag: &'a str,
    pub context_tar: &'a [u8],
    /// Path of the Containerfile inside the tarball.
    pub containerfile: &'a str,
    pub args: &'a BTreeMap<String, String>,
    pub target: Option<&'a str>,
    pub labels: &'a BTreeMap<String, String>,
    pub timeout: Duration,
    /// Build every step again, ignoring the engine's layer cache (`apply --no-cache`).
    pub no_cache: bool,
}

/// How many lines of output a failed build reports.
const OUTPUT_TAIL: usize = 30;

/// One line of Podman's build progress: `{"stream": ...}` or `{"error": ...}`.
#[derive(serde::Deserialize)]
struct BuildLine {
    stream: Option<String>,
    error: Option<String>,
}

/// Build output as it arrives: the last lines and the step being run.
#[derive(Default)]
struct BuildLog {
    tail: VecDeque<String>,
    step: Option<String>,
    error: Option<String>,
}

impl BuildLog {
    fn text(&mut self, image: &str, text: &str, on_progress: OnProgress<'_>) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            tracing::info!(target: "pocket_dock::build", image, "{line}");
            // Podman says `STEP 2/3: RUN …`, Docker's classic builder `Step 2/3 : RUN …`;
            // the step is reported in Podman's words whichever engine built.
            if let Some(step) = Progress::from_build_line(line) {
                if let Progress::Step { text, .. } = &step {
                    self.step = Some(text.clone());
                }
                on_progress(step);
            }
            if self.tail.len() == OUTPUT_TAIL {
                self.tail.pop_front();
            }
            self.tail.push_back(line.to_string());
        }
    }

    /// Feeds one line of the response body (JSON objects, possibly run together, or text).
    fn feed(&mut self, image: &str, line: &str, on_progress: OnProgress<'_>) {
        let mut objects = serde_json::Deserializer::from_str(line).into_iter::<BuildLine>();
        loop {
            let before = objects.byte_offset();
            match objects.next() {
                Some(Ok(item)) => {
                    if let Some(text) = item.stream {
                        self.text(image, &text, on_progress);
                    }
                    if let Some(error) = item.error {
                        self.error = Some(error.trim().to_string());
                    }
                }
                Some(Err(_)) => {
                    self.text(image, &line[before..], on_progress);
                    break;
                }
                None => break,
            }
        }
    }
}

impl Engine {
    /// Builds an image; progress is logged (`-v` shows it live). A failed build is a
    /// `BuildFailed` naming the failing step and the last lines of its output.
    pub async fn build_image(&self, request: &BuildRequest<'_>) -> Result<String, EngineError> {
        self.build_image_with_progress(request, &ignore_progress)
            .await
    }

    /// [`Engine::build_image`], telling `on_progress` each step as the build starts it.
    pub async fn build_image_with_progress(
        &self,
        request: &BuildRequest<'_>,
        on_progress: OnProgress<'_>,
    ) -> Result<String, EngineError> {
        let op = Operation::ImageBuild;
        let profile = self.require(Capability::Build, op).await?;
        let mut query = format!(
            "t={}&dockerfile={}&rm=true&labels={}&buildargs={}",
            percent_encode(request.tag),
            percent_encode(request.containerfile),
            percent_encode(&serde_json::to_string(request.labels).unwrap_or_default()),
            percent_encode(&serde_json::to_string(request.args).unwrap_or_default()),
        );
        if let Some(target) = request.target {
            query.push_str(&format!("&target={}", percent_encode(target)));
        }
        if request.no_cache {
            // Podman's libpod `/build` and Docker's both take `nocache`.
            query.push_str("&nocache=true");
        }
        // Docker's `/build` is its classic builder, which never pulls unless asked.
        let path = if profile.is_podman() {
            format!("{LIBPOD}/build?{query}&layers=true&pull=false")
        } else {
            format!("/build?{query}")
        };
        let started = Instant::now();
        let lost = || EngineError::ConnectionLost {
            op,
            socket: self.socket.clone(),
            id: Some(request.tag.to_string()),
            source: None,
        };
        let mut log = BuildLog::default();
        let build = async {
            let response = self
                .raw_request(
                    op,
                    "POST",
                    &path,
                    RawBody::Bytes(request.context_tar, "application/x-tar"),
                )
                .await?;
            if response.status >= 300 {
                let status = response.status;
                let body = response.body(lost).await?;
                return Err(self.status_error(op, Target::Image(request.tag), status, &body));
            }
            let mut lines = response.reader.lines();
            while let Some(line) = lines.next_line().await.map_err(|_| lost())? {
                log.feed(request.tag, &line, on_progress);
            }
            Ok(())
        };
        let result = match tokio::time::timeout(request.timeout, build).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Timeout {
                op,
                id: Some(request.tag.to_string()),
                after: request.timeout,
            }),
        };
        let result = result.and_then(|()| match log.error.take() {
            Some(message) => Err(EngineError::BuildFailed {
                image: request.tag.to_string(),
                step: log.step.clone(),
                message,
                output: log.tail.iter().cloned().collect::<Vec<_>>().join("\n"),
            }),
            None => Ok(()),
        });
        self.record(op, Target::Image(request.tag), started, result.is_ok());
        result?;
        Ok(self.inspect_image(request.tag).await?.id)
    }

    /// Commits a container's filesystem to `repository:tag` with `labels`, without pausing
    /// the container (the source keeps running untouched). Returns the image id. (An OCI
    /// commit takes no comment; what the image is goes in its labels.)
    pub async fn commit_container(
        &self,
        container: &OwnedContainer,
        repository: &str,
        tag: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<String, EngineError> {
        let op = Operation::ContainerCommit;
        let profile = self.require(Capability::Commit, op).await?;
        let mut query = format!(
            "container={}&repo={}&tag={}&pause=false",
            percent_encode(container.id()),
            percent_encode(repository),
            percent_encode(tag),
        );
        for (key, value) in labels {
            // `LABEL k="v"`: quoted, so values with spaces stay one label.
            let quoted = serde_json::to_string(value).unwrap_or_default();
            query.push_str(&format!(
                "&changes={}",
                percent_encode(&format!("LABEL {key}={quoted}"))
            ));
        }
        #[derive(serde::Deserialize)]
        struct Committed {
            #[serde(alias = "ID", alias = "id")]
            #[serde(rename = "Id")]
            id: String,
        }
        // Podman: an OCI image. Docker: its own format, and a container config in the
        // body (empty: keep the container's).
        let (path, body) = if profile.is_podman() {
            (
                format!("{LIBPOD}/commit?{query}&format=oci"),
                RawBody::Empty,
            )
        } else {
            (
                format!("/commit?{query}"),
                RawBody::Bytes(b"{}", "application/json"),
            )
        };
        let committed: Committed = self
            .raw_json(
                op,
                "POST",
                &path,
                body,
                Target::Container(container.id()),
                self.timeouts
                    .request
                    .saturating_add(Duration::from_secs(600)),
            )
            .await?;
        Ok(committed.id)
    }
}

#[cfg(test)]
mod tests {
    use super::{BuildLog, Progress};

    #[test]
    fn build_output_keeps_the_failing_step_and_the_error() {
        let steps = std::sync::Mutex::new(Vec::new());
        let on = |p: Progress| steps.lock().unwrap().push(p);
        let mut log = BuildLog::default();
        log.feed("x", r#"{"stream":"STEP 1/2: FROM base\n"}"#, &on);
        log.feed("x", r#"{"stream":"STEP 2/2: RUN false\n"}"#, &on);
        log.feed(
            "x",
            r#"{"errorDetail":{"message":"exit status 1"},"error":"exit status 1\n"}Getting image source signatures"#,
            &on,
        );
        // Each step was told as it came, and only the steps.
        assert_eq!(
            steps
                .lock()
                .unwrap()
                .iter()
                .map(|p| match p {
                    Progress::Step { number, .. } => number.unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(log.step.as_deref(), Some("STEP 2/2: RUN false"));
        assert_eq!(log.error.as_deref(), Some("exit status 1"));

        let mut docker = BuildLog::default();
        docker.feed(
            "x",
            r#"{"stream":"Step 3/9 : RUN echo about to fail && exit 3\n"}"#,
            &super::ignore_progress,
        );
        assert_eq!(
            docker.step.as_deref(),
            Some("STEP 3/9: RUN echo about to fail && exit 3")
        );
        assert_eq!(
            log.tail.back().map(String::as_str),
            Some("Getting image source signatures")
        );
    }
}
