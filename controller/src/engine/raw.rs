//! A minimal raw GET over the socket, for the few Podman extensions to the Docker API that
//! bollard's typed models drop (such as `/info`'s top-level `Rootless`).
//!
//! HTTP/1.0 keeps it simple: no chunked encoding, the server closes when done.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::{Engine, EngineError, Operation, Target, classify_io};

/// Percent-encodes everything but unreserved characters, for query strings and path parts.
pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Responses larger than this are not what these endpoints return; refuse them.
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

impl Engine {
    /// GETs `path` under the compat API's version prefix and decodes the JSON body as `T`.
    pub(crate) async fn raw_get_json<T: serde::de::DeserializeOwned>(
        &self,
        op: Operation,
        path: &str,
    ) -> Result<T, EngineError> {
        let version = super::API_VERSION;
        let full = format!(
            "/v{}.{}{path}",
            version.major_version, version.minor_version
        );
        self.raw_get_json_at(op, &full).await
    }

    /// GETs `full_path` as given (for Podman's own `/v4.0.0/libpod/...` endpoints).
    pub(crate) async fn raw_get_json_at<T: serde::de::DeserializeOwned>(
        &self,
        op: Operation,
        path: &str,
    ) -> Result<T, EngineError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeouts.request, self.raw_get(op, path)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(EngineError::Timeout {
                op,
                id: None,
                after: self.timeouts.request,
            }),
        };
        self.record(op, Target::None, started, result.is_ok());
        let body = result?;
        serde_json::from_slice(&body).map_err(|_| EngineError::Runtime {
            op,
            id: None,
            status: None,
            message: "unexpected response from the Podman API".to_string(),
        })
    }

    /// `GET /_ping`, for the headers of its answer (name, value), within the request timeout.
    pub(crate) async fn ping_headers(&self) -> Result<Vec<(String, String)>, EngineError> {
        let op = Operation::Ping;
        let started = Instant::now();
        let result =
            match tokio::time::timeout(self.timeouts.request, self.raw_get_response(op, "/_ping"))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(EngineError::Timeout {
                    op,
                    id: None,
                    after: self.timeouts.request,
                }),
            };
        self.record(op, Target::None, started, result.is_ok());
        let (head, _) = result?;
        Ok(head
            .lines()
            .skip(1)
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_string(), value.trim().to_string()))
            })
            .collect())
    }

    async fn raw_get(&self, op: Operation, path: &str) -> Result<Vec<u8>, EngineError> {
        Ok(self.raw_get_response(op, path).await?.1)
    }

    /// The head (status line and headers) and the body of a 200 answer to `GET path`.
    async fn raw_get_response(
        &self,
        op: Operation,
        path: &str,
    ) -> Result<(String, Vec<u8>), EngineError> {
        let mut stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| classify_io(op, &self.socket, e))?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: podman\r\n\r\n");
        let lost = || EngineError::ConnectionLost {
            op,
            socket: self.socket.clone(),
            id: None,
            source: None,
        };
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|_| lost())?;
        let mut response = Vec::new();
        (&mut stream)
            .take(MAX_RESPONSE)
            .read_to_end(&mut response)
            .await
            .map_err(|_| lost())?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(lost)?;
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response[split + 4..].to_vec();
        if status != 200 {
            return Err(EngineError::Runtime {
                op,
                id: None,
                status: Some(status),
                message: String::from_utf8_lossy(&body).trim().to_string(),
            });
        }
        Ok((head, body))
    }
}

/// What a raw request sends.
pub(crate) enum RawBody<'a> {
    Empty,
    Bytes(&'a [u8], &'static str),
    /// A file streamed from disk (archives can be large).
    File(&'a std::path::Path, &'static str),
    /// Bytes sent in chunks, each one told to the callback (bytes sent, total) as it went.
    BytesReported(&'a [u8], &'static str, &'a (dyn Fn(u64, u64) + Send + Sync)),
    /// A file streamed from disk in chunks, each one told to the callback.
    FileReported(
        &'a std::path::Path,
        &'static str,
        &'a (dyn Fn(u64, u64) + Send + Sync),
    ),
}

/// How much of a reported body is written at a time.
const REPORTED_CHUNK: usize = 256 * 1024;

/// A response whose headers were read; the body is read from `reader` until the server
/// closes the connection (HTTP/1.0).
pub(crate) struct RawResponse {
    pub status: u16,
    pub reader: tokio::io::BufReader<UnixStream>,
}

impl RawResponse {
    /// Reads the whole body (up to the usual response limit).
    pub async fn body(self, lost: impl Fn() -> EngineError) -> Result<Vec<u8>, EngineError> {
        let mut body = Vec::new();
        self.reader
            .take(MAX_RESPONSE)
            .read_to_end(&mut body)
            .await
            .map_err(|_| lost())?;
        Ok(body)
    }
}

/// Podman's own API prefix, for the endpoints the compat API lacks.
pub(crate) const LIBPOD: &str = "/v4.0.0/libpod";

impl Engine {
    /// Sends one request with `body` and reads the response status and headers. Streaming
    /// callers read the rest from the returned reader. The caller bounds the time.
    pub(crate) async fn raw_request(
        &self,
        op: Operation,
        method: &str,
        path: &str,
        body: RawBody<'_>,
    ) -> Result<RawResponse, EngineError> {
        self.raw_request_with_headers(op, method, path, body, &[])
            .await
    }

    /// [`Engine::raw_request`] with extra headers (`X-Registry-Auth`). Header values are
    /// never logged.
    pub(crate) async fn raw_request_with_headers(
        &self,
        op: Operation,
        method: &str,
        path: &str,
        body: RawBody<'_>,
        headers: &[(&str, &str)],
    ) -> Result<RawResponse, EngineError> {
        use tokio::io::AsyncBufReadExt;
        let mut stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| classify_io(op, &self.socket, e))?;
        let lost = || EngineError::ConnectionLost {
            op,
            socket: self.socket.clone(),
            id: None,
            source: None,
        };
        let (length, content_type) = match &body {
            RawBody::Empty => (0, "application/json"),
            RawBody::Bytes(bytes, kind) | RawBody::BytesReported(bytes, kind, _) => {
                (bytes.len() as u64, *kind)
            }
            RawBody::File(path, kind) | RawBody::FileReported(path, kind, _) => (
                tokio::fs::metadata(path)
                    .await
                    .map_err(|e| EngineError::InvalidInput {
                        op,
                        id: Some(path.display().to_string()),
                        message: format!("cannot read {}: {e}", path.display()),
                    })?
                    .len(),
                *kind,
            ),
        };
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: podman\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n{extra}\r\n"
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|_| lost())?;
        match body {
            RawBody::Empty => {}
            RawBody::Bytes(bytes, _) => stream.write_all(bytes).await.map_err(|_| lost())?,
            RawBody::BytesReported(bytes, _, sent) => {
                let total = bytes.len() as u64;
                let mut done = 0u64;
                for chunk in bytes.chunks(REPORTED_CHUNK) {
                    stream.write_all(chunk).await.map_err(|_| lost())?;
                    done += chunk.len() as u64;
                    sent(done, total);
                }
            }
            RawBody::File(path, _) => {
                let mut file =
                    tokio::fs::File::open(path)
                        .await
                        .map_err(|e| EngineError::InvalidInput {
                            op,
                            id: Some(path.display().to_string()),
                            message: format!("cannot read {}: {e}", path.display()),
                        })?;
                tokio::io::copy(&mut file, &mut stream)
                    .await
                    .map_err(|_| lost())?;
            }
            RawBody::FileReported(path, _, sent) => {
                use tokio::io::AsyncReadExt as _;
                let unreadable = |e: std::io::Error| EngineError::InvalidInput {
                    op,
                    id: Some(path.display().to_string()),
                    message: format!("cannot read {}: {e}", path.display()),
                };
                let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
                let mut buf = vec![0u8; REPORTED_CHUNK];
                let mut done = 0u64;
                loop {
                    let n = file.read(&mut buf).await.map_err(unreadable)?;
                    if n == 0 {
                        break;
                    }
                    stream.write_all(&buf[..n]).await.map_err(|_| lost())?;
                    done += n as u64;
                    // Never past what the header announced, should the file grow.
                    sent(done.min(length), length);
                }
            }
        }
        let mut reader = tokio::io::BufReader::new(stream);
        let mut status_line = String::new();
        reader
            .read_line(&mut status_line)
            .await
            .map_err(|_| lost())?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(lost)?;
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).await.map_err(|_| lost())?;
            if n == 0 || line == "\r\n" || line == "\n" {
                break;
            }
        }
        Ok(RawResponse { status, reader })
    }

    /// A raw request whose JSON answer is decoded as `T`; a non-2xx status is an error
    /// carrying Podman's message.
    pub(crate) async fn raw_json<T: serde::de::DeserializeOwned>(
        &self,
        op: Operation,
        method: &str,
        path: &str,
        body: RawBody<'_>,
        target: Target<'_>,
        time_limit: std::time::Duration,
    ) -> Result<T, EngineError> {
        let (status, body) = self
            .raw_exchange(op, method, path, body, target, time_limit)
            .await?;
        serde_json::from_slice(&body).map_err(|_| EngineError::Runtime {
            op,
            id: None,
            status: Some(status),
            message: "unexpected response from the Podman API".to_string(),
        })
    }

    /// One request whose whole answer is read; a status of 300 or more is an error.
    /// Returns the status and the body.
    pub(crate) async fn raw_exchange(
        &self,
        op: Operation,
        method: &str,
        path: &str,
        body: RawBody<'_>,
        target: Target<'_>,
        time_limit: std::time::Duration,
    ) -> Result<(u16, Vec<u8>), EngineError> {
        let started = Instant::now();
        let lost = || EngineError::ConnectionLost {
            op,
            socket: self.socket.clone(),
            id: None,
            source: None,
        };
        let exchange = async {
            let response = self.raw_request(op, method, path, body).await?;
            let status = response.status;
            Ok::<_, EngineError>((status, response.body(lost).await?))
        };
        let result = match tokio::time::timeout(time_limit, exchange).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Timeout {
                op,
                id: None,
                after: time_limit,
            }),
        };
        self.record(
            op,
            target,
            started,
            result.as_ref().is_ok_and(|r| r.0 < 300),
        );
        let (status, body) = result?;
        if status >= 300 {
            return Err(self.status_error(op, target, status, &body));
        }
        Ok((status, body))
    }

    /// Maps an error status of a raw request like bollard's errors are mapped.
    pub(crate) fn status_error(
        &self,
        op: Operation,
        target: Target<'_>,
        status: u16,
        body: &[u8],
    ) -> EngineError {
        #[derive(serde::Deserialize)]
        struct Message {
            message: String,
        }
        let message = serde_json::from_slice::<Message>(body)
            .map(|m| m.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).trim().to_string());
        self.map_error(
            op,
            target,
            bollard::errors::Error::DockerResponseServerError {
                status_code: status,
                message,
            },
        )
    }
}
