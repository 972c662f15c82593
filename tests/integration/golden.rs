//! Golden output: the text the main commands print (apply, diff, get, snapshot, image,
//! delete), run through the real binary against real Podman over one small workspace, and
//! compared with the snapshots committed under `tests/integration/snapshots/`.
//!
//! Timings, ids, content hashes, workspace ids, sizes, ages and temp paths are redacted, so
//! the text is the same on every run and every engine version. A mismatch fails the test;
//! to bless new text, run it with `INSTA_UPDATE=always` (or `cargo insta review`) and
//! commit the reviewed `.snap` files (see docs/testing.md).

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use pocket_dock::engine::Capability;

use crate::support::cli::CliRun;
use crate::support::workspace::TestWorkspace;
use crate::support::{Mode, Need, Podman, requires};

const HEADER: &str = "apiVersion: pocket-dock.dev/v1alpha1";

/// The embedded base, one build on it, and a sandbox running that build: every action
/// runs in a level of its own, so the order of the lines is fixed.
fn documents() -> String {
    format!(
        "---\n{HEADER}\nkind: Image\nmetadata: {{name: base}}\nspec: {{embedded: base}}\n\
         ---\n{HEADER}\nkind: Image\nmetadata: {{name: app}}\nspec:\n  build:\n    context: app\n    from: {{image: base}}\n\
         ---\n{HEADER}\nkind: Sandbox\nmetadata: {{name: web}}\nspec:\n  imageFrom: {{image: app}}\n  command: [sleep, \"3600\"]\n"
    )
}

fn containerfile(ws: &TestWorkspace, version: &str) {
    std::fs::create_dir_all(ws.path("app")).unwrap();
    std::fs::write(
        ws.path("app/Containerfile"),
        format!("FROM base\nRUN echo {version} > /version\n"),
    )
    .unwrap();
}

/// Replaces what differs between runs and engine versions with placeholders. Hashes and
/// ids are numbered in the order they first appear (`<hash-3>`), over the whole test: an
/// old and a new image stay apart, and the same image keeps its number from one command
/// to the next.
struct Redactor {
    workspace: String,
    hashes: std::cell::RefCell<Vec<String>>,
}

impl Redactor {
    fn new(ws: &TestWorkspace) -> Redactor {
        Redactor {
            workspace: ws.root().display().to_string(),
            hashes: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn redact(&self, text: &str) -> String {
        let text = text.replace(&self.workspace, "[workspace]");
        // Image ids, content hashes, workspace ids in image names, and the hash of the
        // workspace id that container and network names end in.
        let hex = regex::Regex::new(r"\b(?:sha256:)?([0-9a-f]{64}|[0-9a-f]{12,16}|[0-9a-f]{8})\b")
            .unwrap();
        let text = hex.replace_all(&text, |c: &regex::Captures| {
            let hash = c[1].to_string();
            let mut hashes = self.hashes.borrow_mut();
            // A short id is the start of a full one seen before (or after).
            let n = match hashes
                .iter()
                .position(|h| h.starts_with(&hash) || hash.starts_with(h.as_str()))
            {
                Some(n) => n,
                None => {
                    hashes.push(hash);
                    hashes.len() - 1
                }
            };
            format!("<hash-{}>", n + 1)
        });
        let size = regex::Regex::new(r"\b\d+(\.\d+)? MB\b").unwrap();
        let text = size.replace_all(&text, "<size>");
        // Elapsed times (`12ms`, `1.2s`) and ages (`3s`, `2m`).
        let time = regex::Regex::new(r"\b\d+(\.\d+)?(ms|s|m|h|d)\b").unwrap();
        time.replace_all(&text, "<time>").into_owned()
    }
}

/// Exit code, stdout and stderr, as one text.
fn shown(run: &CliRun) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code
            .map_or_else(|| "signal".to_string(), |c| c.to_string()),
        run.stdout_text(),
        run.stderr_text()
    )
}

fn check(redactor: &Redactor, name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let text = redactor.redact(text);
    settings.bind(|| insta::assert_snapshot!(format!("golden__{name}"), text));
}

fn golden(ws: &TestWorkspace, redactor: &Redactor, name: &str, args: &[&str]) -> CliRun {
    let run = ws.pd(args);
    check(redactor, name, &shown(&run));
    run
}

#[test]
fn the_main_commands_print_the_golden_text() {
    if !requires(
        "golden::the_main_commands_print_the_golden_text",
        &[
            Need::Engine(Capability::Build),
            Need::Engine(Capability::Commit),
        ],
    ) {
        return;
    }
    // A store of its own: the embedded base is one image per store, which another test
    // of the shared service may have loaded already, and the first diff must say "load".
    let podman = Podman::start(Mode::Rootful);
    let ws = TestWorkspace::new(&podman);
    ws.write("workspace.yaml", &documents());
    containerfile(&ws, "one");
    let r = Redactor::new(&ws);

    golden(&ws, &r, "diff_first", &["diff"]);
    golden(&ws, &r, "apply_first", &["apply"]);
    golden(&ws, &r, "apply_no_op", &["apply"]);
    golden(&ws, &r, "diff_no_op", &["diff"]);
    golden(&ws, &r, "get", &["get"]);

    // An edit that replaces the built image: the old and new names are both said.
    containerfile(&ws, "two");
    golden(&ws, &r, "diff_after_edit", &["diff"]);
    golden(&ws, &r, "apply_after_edit", &["apply"]);

    golden(&ws, &r, "snapshot", &["snapshot", "web", "saved"]);
    golden(&ws, &r, "get_with_snapshot", &["get"]);
    golden(&ws, &r, "image_inspect", &["image", "inspect", "app"]);
    // `image export` writes OCI, which Docker before 25 cannot (refused up front).
    if requires(
        "golden::the_main_commands_print_the_golden_text (image export)",
        &[Need::Engine(Capability::ExportOci)],
    ) {
        let archive = ws.path("app.oci.tar");
        golden(
            &ws,
            &r,
            "image_export",
            &["image", "export", "app", &archive.display().to_string()],
        );
    }

    // `delete --all` while a session is open in the sandbox: it says the session ended,
    // and the session's client ends cleanly (no Podman error of an exec into a container
    // that is gone).
    let mut session = ws
        .command(&["session", "web"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = session.stdin.take().unwrap();
    let mut lines = BufReader::new(session.stdout.take().unwrap()).lines();
    let started = lines.next().expect("a line").unwrap();
    assert!(started.contains("\"started\""), "{started}");
    golden(&ws, &r, "delete_all_with_a_session", &["delete", "--all"]);
    writeln!(stdin, "{{\"close\": true}}").unwrap();
    drop(stdin);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let output = session.wait_with_output().unwrap();
    check(
        &r,
        "session_after_delete",
        &format!(
            "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            output.status.code(),
            rest.join("\n"),
            String::from_utf8_lossy(&output.stderr)
        ),
    );
    golden(&ws, &r, "delete_nothing_left", &["delete", "--all"]);
}
