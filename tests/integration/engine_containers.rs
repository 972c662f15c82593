use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pocket_dock::engine::labels::{KIND, MANAGED_BY, NAME, WORKSPACE};
use pocket_dock::engine::{ContainerConfig, ContainerState, EngineError, Operation, RemoveOutcome};
use pocket_dock_spec::Kind;

use crate::support::{Podman, TEST_IMAGE, cleanup, ownership};

#[tokio::test]
async fn container_lifecycle_create_start_stop_remove() {
    let podman = Podman::shared();
    let engine = podman.engine();
    let own = ownership("lifecycle");
    let name = own.container_name(Kind::Sandbox, "web");
    let mut config = ContainerConfig::idle(Kind::Sandbox, "web", &name, TEST_IMAGE);
    config.labels = BTreeMap::from([
        ("extra".to_string(), "1".to_string()),
        // An attempt to override ownership is ignored.
        (MANAGED_BY.to_string(), "someone-else".to_string()),
    ]);

    let c = engine.create_container(&own, &config).await.unwrap();
    let details = engine.inspect_container(c.id()).await.unwrap();
    assert_eq!(
        details.state,
        ContainerState::Created,
        "created, not started"
    );
    assert_eq!(details.name, name);
    assert_eq!(details.labels[MANAGED_BY], "pocket-dock");
    assert_eq!(details.labels[WORKSPACE], own.workspace.as_str());
    assert_eq!(details.labels[KIND], "Sandbox");
    assert_eq!(details.labels[NAME], "web");
    assert_eq!(details.labels["extra"], "1");

    let listed = engine.list_owned(&own).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1.id(), c.id());
    assert!(
        engine
            .list_owned(&ownership("other"))
            .await
            .unwrap()
            .is_empty()
    );

    engine.start_container(&c).await.unwrap();
    engine.start_container(&c).await.unwrap(); // idempotent
    let details = engine.inspect_container(c.id()).await.unwrap();
    assert_eq!(details.state, ContainerState::Running);
    assert!(details.pid.is_some());

    // PID 1 is Podman's init, which handles SIGTERM: no 10 s stop timeout.
    let started = Instant::now();
    engine
        .stop_container(&c, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        started.elapsed()
    );
    engine
        .stop_container(&c, Duration::from_secs(10))
        .await
        .unwrap(); // idempotent
    assert_eq!(
        engine.inspect_container(c.id()).await.unwrap().state,
        ContainerState::Exited
    );

    assert_eq!(
        engine.remove_container(&c).await.unwrap(),
        RemoveOutcome::Removed
    );
    assert_eq!(
        engine.remove_container(&c).await.unwrap(),
        RemoveOutcome::AlreadyGone
    );
    let err = engine.inspect_container(c.id()).await.unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::ContainerNotFound {
                op: Operation::ContainerInspect,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(cleanup(&engine, &own).await, 0);
}

#[tokio::test]
async fn containers_without_our_labels_are_never_handed_out_for_writes() {
    let podman = Podman::shared();
    let engine = podman.engine();
    let own = ownership("foreign");
    let foreign_name = format!("foreign-{}", own.workspace);
    let out = podman.podman(&["create", "--name", &foreign_name, TEST_IMAGE, "sleep", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Not listed, not inspectable as owned, not findable by name for a write.
    assert!(engine.list_owned(&own).await.unwrap().is_empty());
    let err = engine
        .inspect_owned(&own, &foreign_name, Operation::ContainerRemove)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::NotOwned { op: Operation::ContainerRemove, id } if *id == foreign_name),
        "{err:?}"
    );
    assert_eq!(err.category().as_str(), "conflict");
    let err = engine
        .find_owned_by_name(&own, &foreign_name, Operation::ContainerStart)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::NotOwned { .. }));

    // Another workspace's container is just as foreign.
    let other = ownership("foreign-other");
    let theirs_name = other.container_name(Kind::Sandbox, "x");
    let theirs = engine
        .create_container(
            &other,
            &ContainerConfig::idle(Kind::Sandbox, "x", &theirs_name, TEST_IMAGE),
        )
        .await
        .unwrap();
    let err = engine
        .inspect_owned(&own, theirs.id(), Operation::ContainerStop)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::NotOwned { .. }));

    // Both still exist, untouched.
    engine.inspect_container(&foreign_name).await.unwrap();
    engine.inspect_container(theirs.id()).await.unwrap();
    assert_eq!(cleanup(&engine, &other).await, 1);
    assert!(podman.podman(&["rm", "-f", &foreign_name]).status.success());
}

#[tokio::test]
async fn each_failure_has_its_own_typed_error_and_repeats_identically() {
    let engine = Podman::shared().engine();
    let own = ownership("errors");
    let name = own.container_name(Kind::Sandbox, "e");
    let config = ContainerConfig::idle(Kind::Sandbox, "e", &name, TEST_IMAGE);
    let c = engine.create_container(&own, &config).await.unwrap();

    // Name taken: conflict, whoever asks.
    let err = engine.create_container(&own, &config).await.unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Conflict {
                op: Operation::ContainerCreate,
                ..
            }
        ),
        "{err:?}"
    );

    // Exec in a container that is not running: conflict, not a runtime failure.
    let err = engine
        .exec_create(&c, &pocket_dock::engine::ExecConfig::new(["true"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Conflict {
                op: Operation::ExecCreate,
                ..
            }
        ),
        "{err:?}"
    );

    // A missing image on create is an image-not-found, naming the image.
    let mut missing_image = ContainerConfig::idle(
        Kind::Sandbox,
        "m",
        &own.container_name(Kind::Sandbox, "m"),
        "localhost/no-such-image:1",
    );
    missing_image.name.push_str("-x");
    let err = engine
        .create_container(&own, &missing_image)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::ImageNotFound { op: Operation::ContainerCreate, reference } if reference == "localhost/no-such-image:1"),
        "{err:?}"
    );

    // Container gone: container-not-found for each write, the same text every time.
    engine.remove_container(&c).await.unwrap();
    let first = engine.start_container(&c).await.unwrap_err();
    let second = engine.start_container(&c).await.unwrap_err();
    assert!(
        matches!(
            first,
            EngineError::ContainerNotFound {
                op: Operation::ContainerStart,
                ..
            }
        ),
        "{first:?}"
    );
    assert_eq!(first.to_string(), second.to_string());
    assert_eq!(first.subject(), Some(c.id()));
    let err = engine
        .stop_container(&c, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        EngineError::ContainerNotFound {
            op: Operation::ContainerStop,
            ..
        }
    ));
    let err = engine
        .exec_create(&c, &pocket_dock::engine::ExecConfig::new(["true"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::ContainerNotFound {
                op: Operation::ExecCreate,
                ..
            }
        ),
        "{err:?}"
    );

    // Exec and image not-found are distinct variants.
    let err = engine
        .exec_inspect(&pocket_dock::engine::ExecId::new("nope"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::ExecNotFound {
                op: Operation::ExecInspect,
                ..
            }
        ),
        "{err:?}"
    );
    let err = engine
        .inspect_image("localhost/no-such-image:2")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::ImageNotFound {
                op: Operation::ImageInspect,
                ..
            }
        ),
        "{err:?}"
    );
    for e in [&first, &err] {
        assert_eq!(e.category().as_str(), "not-found");
    }
    assert_eq!(cleanup(&engine, &own).await, 0);
}
