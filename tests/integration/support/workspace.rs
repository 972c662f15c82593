//! A workspace in a temp folder, driven through the real binary against a test service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pocket_dock::engine::labels::{KIND, NAME};
use pocket_dock::engine::{ContainerState, Ownership};
use pocket_dock::workspace::Workspace;

use super::cli::{self, CliRun};
use super::podman::Podman;

pub struct TestWorkspace {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// One sandbox container as Podman reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub id: String,
    pub name: String,
    pub state: ContainerState,
}

impl TestWorkspace {
    pub fn new(podman: &Podman) -> Self {
        let dir = tempfile::Builder::new().prefix("pd-ws-").tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".pocket-dock")).unwrap();
        TestWorkspace {
            dir,
            env: vec![("CONTAINER_HOST".into(), podman.host())],
        }
    }

    /// A copy of `examples/workspaces/<name>` with `replacements` applied to its YAML.
    pub fn from_example(podman: &Podman, name: &str, replacements: &[(&str, &str)]) -> Self {
        let ws = TestWorkspace::new(podman);
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/workspaces")
            .join(name);
        copy_tree(&source, ws.dir.path(), replacements);
        ws
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, file: &str, text: &str) {
        let path = self.root().join(".pocket-dock").join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.root().join(".pocket-dock").join(file)).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn pd(&self, args: &[&str]) -> CliRun {
        cli::pd(self.root(), &self.env, args)
    }

    /// Runs the binary and insists on exit 0 (showing its output otherwise).
    pub fn pd_ok(&self, args: &[&str]) -> CliRun {
        let run = self.pd(args);
        assert_eq!(
            run.code,
            Some(0),
            "pocket-dock {args:?}:\n{}{}",
            run.stdout_text(),
            run.stderr_text()
        );
        run
    }

    /// The binary as a `Command` in this workspace (for tests that signal it).
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        cli::command(self.root(), &self.env, args)
    }

    /// Runs with `--output json` and returns the JSON lines printed on stdout.
    pub fn pd_json(&self, args: &[&str]) -> (CliRun, Vec<serde_json::Value>) {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let run = self.pd(&all);
        let values = run
            .stdout_text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        (run, values)
    }

    pub fn ownership(&self) -> Ownership {
        Workspace::locate(Some(self.root()), self.root())
            .unwrap()
            .ownership()
    }

    /// The workspace's sandbox containers by object name.
    pub async fn sandboxes(&self, podman: &Podman) -> BTreeMap<String, Vec<Seen>> {
        let mut out: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
        for (summary, _) in podman.engine().list_owned(&self.ownership()).await.unwrap() {
            if summary.labels.get(KIND).map(String::as_str) == Some("Sandbox") {
                out.entry(summary.labels[NAME].clone())
                    .or_default()
                    .push(Seen {
                        id: summary.id,
                        name: summary.name,
                        state: summary.state,
                    });
            }
        }
        out
    }

    /// Runs `argv` in `sandbox`'s container through the engine: (exit code, stdout).
    pub async fn exec(&self, podman: &Podman, sandbox: &str, argv: &[&str]) -> (i64, String) {
        let own = self.ownership();
        let (_, c) = podman
            .engine()
            .find_owned_by_name(
                &own,
                &own.container_name(pocket_dock_spec::Kind::Sandbox, sandbox),
                pocket_dock::engine::Operation::ExecCreate,
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no container for Sandbox/{sandbox}"));
        let result = podman
            .engine()
            .exec_run(
                &c,
                &pocket_dock::engine::ExecConfig::new(argv.iter().copied()),
                pocket_dock::engine::ExecOutput::new().capture(),
                Some(std::time::Duration::from_secs(20)),
            )
            .await
            .unwrap();
        (
            result.exit_code,
            String::from_utf8_lossy(&result.stdout.bytes).into_owned(),
        )
    }

    /// Object name to container id, requiring exactly one running container each.
    pub async fn running_ids(&self, podman: &Podman) -> BTreeMap<String, String> {
        self.sandboxes(podman)
            .await
            .into_iter()
            .map(|(name, seen)| {
                assert_eq!(seen.len(), 1, "{name}: {seen:?}");
                assert_eq!(seen[0].state, ContainerState::Running, "{name}: {seen:?}");
                (name, seen[0].id.clone())
            })
            .collect()
    }
}

fn copy_tree(from: &Path, to: &Path, replacements: &[(&str, &str)]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target, replacements);
        } else {
            let mut text = std::fs::read_to_string(entry.path()).unwrap();
            for (a, b) in replacements {
                text = text.replace(a, b);
            }
            std::fs::write(target, text).unwrap();
        }
    }
}

/// A Sandbox document on the test image; `extra` is appended to its spec (indented 2).
pub fn sandbox(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: {name}\nspec:\n  image: {}\n{extra}",
        super::podman::TEST_IMAGE
    )
}

/// A host port unlikely to clash with other test runs: 20000 + 10 x (pid mod 4000) + `n`.
pub fn port(n: u16) -> u16 {
    20000 + (std::process::id() % 4000) as u16 * 10 + n
}

/// The actions of `--output json` lines, as `op Kind/name`, with ` FAILED` on a failure,
/// sorted.
pub fn actions(values: &[serde_json::Value]) -> Vec<String> {
    let mut done: Vec<String> = values
        .iter()
        .filter(|v| v["event"] == "action")
        .map(|v| {
            format!(
                "{} {}/{}{}",
                v["action"]["op"].as_str().unwrap_or_default(),
                v["kind"].as_str().unwrap_or_default(),
                v["name"].as_str().unwrap_or_default(),
                if v["ok"] == true { "" } else { " FAILED" }
            )
        })
        .collect();
    done.sort();
    done
}
