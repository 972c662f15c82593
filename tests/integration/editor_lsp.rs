//! Editors validate every document: the YAML language server (yaml-language-server 1.25,
//! the engine of VS Code's YAML extension) driven as a real LSP client over stdio.
//!
//! It reads a `# yaml-language-server: $schema=...` modeline per document: only the comments
//! at the head of a document (after its `---`) count, so a file whose modeline is on its
//! first line only leaves every later document unchecked. The examples and `init` put the
//! modeline after every `---`; these tests show that an editor then flags a wrong field in a
//! third document at its line, and that without the per-document modeline it does not.
//!
//! The server is installed by scripts/test.sh (`ensure_editor_tools` in scripts/lib.sh) into
//! target/editor-tools/, pinned by tests/editor/package-lock.json; POCKET_DOCK_YAML_LS may
//! name another yaml-language-server executable. Missing, the tests fail and say so.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::cli;

/// The longest any answer from the server is waited for.
const WAIT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn server_path() -> PathBuf {
    let path = std::env::var_os("POCKET_DOCK_YAML_LS").map_or_else(
        || repo().join("target/editor-tools/node_modules/.bin/yaml-language-server"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "the YAML language server is missing at {}: scripts/test.sh installs it \
         (ensure_editor_tools in scripts/lib.sh: needs node and npm), or set \
         POCKET_DOCK_YAML_LS to a yaml-language-server 1.25 executable",
        path.display()
    );
    path
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// One diagnostic as published: its first line (0-based) and message.
#[derive(Debug, Clone)]
struct Diagnostic {
    line: u64,
    message: String,
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
    settings: Value,
    /// The server has asked for its `yaml` settings and been answered.
    configured: bool,
    published: HashMap<String, Vec<Diagnostic>>,
}

impl Server {
    /// Starts the server over stdio and completes the handshake, with validation on, the
    /// schema store (a download) off, and `schemas` as the `yaml.schemas` setting.
    fn start(root: &Path, schemas: Value) -> Server {
        let mut child = Command::new(server_path())
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start yaml-language-server");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        let settings = json!({
            "validate": true,
            "hover": false,
            "completion": false,
            "format": {"enable": false},
            "schemaStore": {"enable": false},
            "schemas": schemas,
        });
        let mut server = Server {
            child,
            stdin,
            messages,
            next_id: 1,
            settings,
            configured: false,
            published: HashMap::new(),
        };
        let capabilities = json!({
            "workspace": {"configuration": true, "didChangeConfiguration": {"dynamicRegistration": true}},
            "textDocument": {"publishDiagnostics": {"relatedInformation": false}},
        });
        server.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": uri(root),
                "workspaceFolders": [{"uri": uri(root), "name": "workspace"}],
                "capabilities": capabilities,
            }),
        );
        server.notify("initialized", json!({}));
        // The server pulls its settings (workspace/configuration) on this notification; a
        // document opened before they are in could be checked without them.
        server.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"yaml": server.settings.clone()}}),
        );
        let deadline = Instant::now() + WAIT;
        while !server.configured {
            server.next(deadline, "workspace/configuration");
        }
        server
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + WAIT;
        loop {
            let message = self.next(deadline, method);
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    /// The next message, after answering it when it is a request from the server and
    /// recording it when it is published diagnostics.
    fn next(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match self.messages.recv_timeout(left) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                panic!("yaml-language-server: no {waiting_for} within {WAIT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("yaml-language-server exited while waiting for {waiting_for}")
            }
        };
        if let (Some(method), Some(id)) = (message.get("method"), message.get("id")) {
            let result = match method.as_str() {
                // One answer per section asked for: yaml, http, [yaml], editor.
                Some("workspace/configuration") => {
                    let items = message["params"]["items"].as_array().cloned();
                    Value::Array(
                        items
                            .unwrap_or_default()
                            .iter()
                            .map(|item| match item["section"].as_str() {
                                Some("yaml") => {
                                    self.configured = true;
                                    self.settings.clone()
                                }
                                _ => json!({}),
                            })
                            .collect(),
                    )
                }
                _ => Value::Null,
            };
            let id = id.clone();
            self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
        } else if message["method"] == "textDocument/publishDiagnostics" {
            let diagnostics = message["params"]["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|d| Diagnostic {
                    line: d["range"]["start"]["line"].as_u64().unwrap(),
                    message: d["message"].as_str().unwrap_or_default().to_string(),
                })
                .collect();
            let uri = message["params"]["uri"].as_str().unwrap().to_string();
            self.published.insert(uri, diagnostics);
        }
        message
    }

    /// Opens `text` as the document at `path` (an editor's buffer: the server reads the text
    /// sent, not the disk, and resolves relative modelines from `path`'s folder) and returns
    /// the diagnostics the server publishes for it.
    fn diagnostics(&mut self, path: &Path, text: &str) -> Vec<Diagnostic> {
        let uri = uri(path);
        self.published.remove(&uri);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}),
        );
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(diagnostics) = self.published.remove(&uri) {
                return diagnostics;
            }
            self.next(deadline, "diagnostics");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// The 0-based line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    let index = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"));
    u64::try_from(index).unwrap()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pd-lsp-")
        .tempdir()
        .unwrap()
}

#[test]
fn a_wrong_field_in_the_third_document_of_an_init_workspace_is_flagged_at_its_line() {
    let dir = tempdir();
    let run = cli::pd(dir.path(), &[], &["init"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let folder = dir.path().join(".pocket-dock");
    let example = std::fs::read_to_string(folder.join("sandbox.yaml")).unwrap();
    // The modeline exactly as init writes it (a path relative to the file).
    let modeline = example.lines().next().unwrap().to_string();
    assert!(modeline.starts_with("# yaml-language-server: $schema="));

    // init's example, then a Volume and a Sandbox whose spec has a misspelt field, each
    // after `---` and the modeline, as the example's own comment says to write them.
    let volume = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: cache\n";
    let sandbox = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: web\n\
                   spec:\n  image: docker.io/library/busybox\n  workdirr: /srv\n";
    let fixed = format!("{example}---\n{modeline}\n{volume}---\n{modeline}\n{sandbox}");
    // The same three documents with the modeline on the first line only (as before), and
    // a wrong field in the first document too, to show that validation did run.
    let first_only = format!("{example}---\n{volume}---\n{sandbox}").replacen(
        "  workdir: /work\n",
        "  workdir: /work\n  mountz: []\n",
        1,
    );

    let mut server = Server::start(dir.path(), json!({}));

    let valid = server.diagnostics(&folder.join("sandbox.yaml"), &example);
    assert!(valid.is_empty(), "init's example: {valid:?}");

    let found = server.diagnostics(&folder.join("fixed.yaml"), &fixed);
    let wrong = line_of(&fixed, "workdirr:");
    assert!(
        wrong > line_of(&fixed, "name: web"),
        "the wrong field is in the third document"
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].line, wrong, "{found:?}");
    assert!(found[0].message.contains("workdirr"), "{found:?}");

    let found = server.diagnostics(&folder.join("first-only.yaml"), &first_only);
    let lines: Vec<u64> = found.iter().map(|d| d.line).collect();
    assert_eq!(
        lines,
        [line_of(&first_only, "mountz:")],
        "with the modeline on the first line only, the first document is checked and the \
         third is not: {found:?}"
    );
}

/// The `yaml.schemas` setting that docs/spec.md gives VS Code users (their
/// `.vscode/settings.json`), instead of modelines: every document of every file directly in
/// `.pocket-dock/`, whatever its comments.
#[test]
fn the_documented_yaml_schemas_mapping_checks_every_document_without_modelines() {
    let dir = tempdir();
    let run = cli::pd(dir.path(), &[], &["init"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let folder = dir.path().join(".pocket-dock");
    let text = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: a\n\
                ---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Network\nmetadata:\n  name: b\n\
                ---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: c\n\
                spec:\n  image: docker.io/library/busybox\n  workdirr: /srv\n";
    let docs = std::fs::read_to_string(repo().join("docs/spec.md")).unwrap();
    let mapping = r#""./.pocket-dock/schema/pocket-dock.json": ".pocket-dock/*.yaml""#;
    assert!(
        docs.contains(mapping),
        "docs/spec.md no longer shows {mapping}"
    );
    let mut server = Server::start(
        dir.path(),
        json!({"./.pocket-dock/schema/pocket-dock.json": ".pocket-dock/*.yaml"}),
    );
    let found = server.diagnostics(&folder.join("objects.yaml"), text);
    let lines: Vec<u64> = found.iter().map(|d| d.line).collect();
    assert_eq!(lines, [line_of(text, "workdirr:")], "{found:?}");
    let example = std::fs::read_to_string(folder.join("sandbox.yaml")).unwrap();
    let found = server.diagnostics(&folder.join("sandbox.yaml"), &example);
    assert!(found.is_empty(), "init's example: {found:?}");
}

#[test]
fn every_document_of_every_shipped_example_is_checked_in_an_editor() {
    let examples = repo().join("examples/workspaces");
    let mut files = Vec::new();
    for workspace in std::fs::read_dir(&examples).unwrap().flatten() {
        let folder = workspace.path().join(".pocket-dock");
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "yaml") {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no example files");

    let mut server = Server::start(&repo(), json!({}));
    let mut third_documents = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let found = server.diagnostics(file, &text);
        assert!(found.is_empty(), "{}: {found:?}", file.display());

        // Each document in turn given a field no kind has, opened as a buffer beside the
        // example so that its relative modeline still points at schemas/. The documents
        // begin on the file's first line and on the line after each `---`.
        let heads: Vec<usize> = std::iter::once(0)
            .chain(
                text.lines()
                    .enumerate()
                    .filter(|(_, l)| *l == "---")
                    .map(|(i, _)| i + 1),
            )
            .collect();
        for (n, head) in heads.iter().enumerate() {
            let mut lines: Vec<&str> = text.lines().collect();
            // After the document's first line (its modeline).
            lines.insert(head + 1, "notAField: 1");
            let broken = lines.join("\n") + "\n";
            let buffer = file.with_file_name(format!(
                "unsaved-{n}-{}",
                file.file_name().unwrap().to_string_lossy()
            ));
            let found = server.diagnostics(&buffer, &broken);
            let lines: Vec<u64> = found.iter().map(|d| d.line).collect();
            assert_eq!(
                lines,
                [line_of(&broken, "notAField")],
                "{} document {}: a wrong field must be flagged at its line (does the document \
                 start with the modeline, on the line after `---`?): {found:?}",
                file.display(),
                n + 1
            );
            if n >= 2 {
                third_documents += 1;
            }
        }
    }
    assert!(third_documents > 0, "no example has a third document");
}
