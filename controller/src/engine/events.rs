//! Podman's event stream (`GET /events`), filtered by label: one JSON object per line for
//! as long as the connection lives. Read raw and leniently, so an event shape this version
//! does not know cannot break the stream.

use std::collections::HashMap;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::raw::percent_encode;
use super::{Engine, EngineError, Operation, classify_io};

/// One event, as far as pocket-dock cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `container`, `volume`, `image`, ...
    pub kind: String,
    /// `create`, `start`, `die`, `remove`, ...
    pub action: String,
    pub id: String,
    /// The actor's attributes: its labels (and name, image, ...).
    pub attributes: HashMap<String, String>,
}

#[derive(serde::Deserialize)]
struct RawEvent {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Action", default)]
    action: String,
    #[serde(rename = "Actor", default)]
    actor: RawActor,
}

#[derive(serde::Deserialize, Default)]
struct RawActor {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Attributes", default)]
    attributes: HashMap<String, String>,
}

/// An open event stream.
pub struct EventStream {
    lines: tokio::io::Lines<BufReader<UnixStream>>,
    socket: std::path::PathBuf,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("socket", &self.socket)
            .finish()
    }
}

impl Engine {
    /// Subscribes to events whose actor carries every `key=value` label in `labels`.
    pub async fn events(&self, labels: &[String]) -> Result<EventStream, EngineError> {
        let op = Operation::Events;
        let mut stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| classify_io(op, &self.socket, e))?;
        let filters = serde_json::json!({ "label": labels }).to_string();
        let request = format!(
            "GET /v1.41/events?filters={} HTTP/1.0\r\nHost: podman\r\n\r\n",
            percent_encode(&filters)
        );
        let lost = |_| EngineError::ConnectionLost {
            op,
            socket: self.socket.clone(),
            id: None,
            source: None,
        };
        stream.write_all(request.as_bytes()).await.map_err(lost)?;
        let mut lines = BufReader::new(stream).lines();
        // Status line and headers, up to the blank line.
        let status = lines.next_line().await.map_err(lost)?.unwrap_or_default();
        if status.split_whitespace().nth(1) != Some("200") {
            return Err(EngineError::Runtime {
                op,
                id: None,
                status: None,
                message: format!("unexpected answer: {status}"),
            });
        }
        while let Some(line) = lines.next_line().await.map_err(lost)? {
            if line.is_empty() {
                break;
            }
        }
        self.record(op, super::Target::None, std::time::Instant::now(), true);
        Ok(EventStream {
            lines,
            socket: self.socket.clone(),
        })
    }
}

impl EventStream {
    /// The next event; `Ok(None)` when the service closed the stream.
    pub async fn next(&mut self) -> Result<Option<Event>, EngineError> {
        loop {
            let line = self
                .lines
                .next_line()
                .await
                .map_err(|_| EngineError::ConnectionLost {
                    op: Operation::Events,
                    socket: self.socket.clone(),
                    id: None,
                    source: None,
                })?;
            let Some(line) = line else { return Ok(None) };
            if line.trim().is_empty() {
                continue;
            }
            let Ok(raw) = serde_json::from_str::<RawEvent>(&line) else {
                tracing::debug!(target: "pocket_dock::engine", line = %line, "unreadable event skipped");
                continue;
            };
            return Ok(Some(Event {
                kind: raw.kind,
                action: raw.action,
                id: raw.actor.id,
                attributes: raw.actor.attributes,
            }));
        }
    }
}
