//! A `pocket-dock controller` running in the background against the test service, and
//! waiting on conditions instead of sleeping.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pocket_dock::engine::ContainerState;

use super::cli;
use super::podman::Podman;
use super::workspace::TestWorkspace;

/// A controller running in the background, its log going to a file.
pub struct Running {
    pub child: Child,
    log: tempfile::NamedTempFile,
}

impl Running {
    pub fn start(ws: &TestWorkspace, podman: &Podman) -> Running {
        Running::start_with(ws, podman, &["controller"])
    }

    /// `pocket-dock ARGS...` (a controller with options) in the background.
    pub fn start_with(ws: &TestWorkspace, podman: &Podman, args: &[&str]) -> Running {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = cli::command(ws.root(), &[("CONTAINER_HOST".into(), podman.host())], args)
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        Running { child, log }
    }

    pub fn log(&self) -> String {
        let mut text = String::new();
        let _ = self.log.reopen().unwrap().read_to_string(&mut text);
        text
    }

    pub fn reconciles(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| {
                l.contains(" reconcile ")
                    || l.ends_with(" reconcile")
                    || l.contains("reconcile keys")
            })
            .count()
    }

    /// SIGTERM; the exit code and how long the stop took.
    pub fn stop(mut self) -> (Option<i32>, Duration, String) {
        let started = Instant::now();
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed(), self.log());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return (None, started.elapsed(), self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use super::poll::until;

/// The id of `name`'s running container, if exactly one runs.
pub async fn running(ws: &TestWorkspace, podman: &Podman, name: &str) -> Option<String> {
    let seen = ws.sandboxes(podman).await.remove(name)?;
    (seen.len() == 1 && seen[0].state == ContainerState::Running).then(|| seen[0].id.clone())
}
