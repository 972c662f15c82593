//! Shared test support: the private Podman service, per-test ownership, the CLI runner.

pub mod cli;
pub mod controller;
pub mod engine;
pub mod podman;
pub mod poll;
pub mod registry;
pub mod watchdog;
pub mod workspace;

use std::sync::atomic::{AtomicU32, Ordering};

use pocket_dock::engine::{ContainerConfig, Engine, OwnedContainer, Ownership, WorkspaceId};
use pocket_dock_spec::Kind;

pub use engine::{EngineUnderTest, Need, requires, under_test};
pub use podman::{Mode, Podman, TEST_IMAGE, require_tool};
pub use poll::{until, until_blocking};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A workspace identity of its own for one test, so tests never see each other's containers.
pub fn ownership(test: &str) -> Ownership {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ownership::new(WorkspaceId::new(format!(
        "it-{test}-{}-{n}",
        std::process::id()
    )))
}

/// Removes every container `ownership` owns; returns how many there were.
pub async fn cleanup(engine: &Engine, ownership: &Ownership) -> usize {
    let owned = engine.list_owned(ownership).await.expect("list owned");
    for (_, c) in &owned {
        engine.remove_container(c).await.expect("remove owned");
    }
    owned.len()
}

/// An idle sandbox named `name`, created and started, owned by `ownership`.
pub async fn running_sandbox(engine: &Engine, ownership: &Ownership, name: &str) -> OwnedContainer {
    let container_name = ownership.container_name(Kind::Sandbox, name);
    let config = ContainerConfig::idle(Kind::Sandbox, name, &container_name, TEST_IMAGE);
    let c = engine.create_container(ownership, &config).await.unwrap();
    engine.start_container(&c).await.unwrap();
    c
}
