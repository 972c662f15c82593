//! Which engine the suite runs against, and the one declared table of what a test may need
//! from it. `POCKET_DOCK_TEST_ENGINE` picks the engine (`podman`, the default, or `docker`;
//! scripts/compat.sh sets it). A test that needs something the engine lacks calls
//! [`requires`] first and returns when it says no; every such skip is written, with its
//! reason, to the skips file that the scripts print (never silent).

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use pocket_dock::engine::{Capability, EngineProfile};

use super::Podman;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineUnderTest {
    Podman,
    Docker,
}

impl EngineUnderTest {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineUnderTest::Podman => "podman",
            EngineUnderTest::Docker => "docker",
        }
    }
}

/// The engine the suite runs against.
pub fn under_test() -> EngineUnderTest {
    match std::env::var("POCKET_DOCK_TEST_ENGINE").as_deref() {
        Ok("docker") => EngineUnderTest::Docker,
        Ok("podman") | Err(_) => EngineUnderTest::Podman,
        Ok(other) => panic!("POCKET_DOCK_TEST_ENGINE={other:?}: use podman or docker"),
    }
}

/// Something a test needs that not every engine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A capability of pocket-dock's own engine table (`pocket-dock doctor` prints it).
    Engine(Capability),
    /// A rootless service the harness can start: Podman's, as a dedicated user. Docker's
    /// rootless mode needs rootlesskit and a user session, which the harness does not set up.
    RootlessService,
    /// Changing containers while the service is down: Podman's CLI works on the store
    /// directly; Docker's CLI is only a client of the daemon.
    DaemonlessCli,
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Need::Engine(c) => write!(f, "{c}"),
            Need::RootlessService => f.write_str("rootless-service"),
            Need::DaemonlessCli => f.write_str("daemonless-cli"),
        }
    }
}

/// Whether the engine under test has every one of `needs`. When it lacks one, the skip is
/// recorded with the engine's own reason and `false` returned: the test returns without
/// asserting.
pub fn requires(test: &str, needs: &[Need]) -> bool {
    needs.iter().all(|&need| has(test, need))
}

fn has(test: &str, need: Need) -> bool {
    let missing = match need {
        Need::Engine(capability) => {
            let profile = shared_profile();
            match profile.state(capability) {
                Some(state) if !state.available => Some(state.detail.clone()),
                _ => None,
            }
        }
        Need::DaemonlessCli => match under_test() {
            EngineUnderTest::Podman => None,
            EngineUnderTest::Docker => {
                Some("the docker CLI cannot change containers while dockerd is down".to_string())
            }
        },
        Need::RootlessService => match under_test() {
            EngineUnderTest::Podman => None,
            EngineUnderTest::Docker => Some(
                "the harness starts Docker Engine rootful only (rootless dockerd needs \
                 rootlesskit and a user session)"
                    .to_string(),
            ),
        },
    };
    match missing {
        None => true,
        Some(reason) => {
            record_skip(&format!(
                "{}: {test}: needs {need}: {reason}",
                under_test().as_str()
            ));
            false
        }
    }
}

/// The shared service's profile, read once (on a thread of its own, so that tokio tests
/// can ask too).
pub fn shared_profile() -> &'static EngineProfile {
    static PROFILE: OnceLock<EngineProfile> = OnceLock::new();
    PROFILE.get_or_init(|| {
        let engine = Podman::shared().engine();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the profile");
            runtime
                .block_on(engine.profile())
                .map(|p| (*p).clone())
                .expect("the engine's profile")
        })
        .join()
        .expect("read the engine's profile")
    })
}

/// Where skips go: `POCKET_DOCK_TEST_SKIPS`, or target/test-skips.txt.
fn skips_file() -> PathBuf {
    std::env::var_os("POCKET_DOCK_TEST_SKIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-skips.txt")
        })
}

fn record_skip(line: &str) {
    eprintln!("SKIP {line}");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skips_file())
        .and_then(|mut f| writeln!(f, "{line}"));
    written.expect("record the skip (a silent skip is a defect)");
}
