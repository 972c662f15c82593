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

    async fn raw_get(&self, op: Operation, path: &str) -> Result<Vec<u8>, EngineError> {
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
        let status_line = String::from_utf8_lossy(&response[..split]);
        let status: u16 = status_line
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
        Ok(body)
    }
}
