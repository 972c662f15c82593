use std::time::{Duration, Instant};

use pocket_dock::engine::{EngineError, Operation, PullOutcome};

use crate::support::{Podman, TEST_IMAGE};

#[tokio::test]
async fn image_inspect_and_existence() {
    let engine = Podman::shared().engine();
    let image = engine.inspect_image(TEST_IMAGE).await.unwrap();
    assert!(
        image.id.starts_with("sha256:") || image.id.len() == 64,
        "{}",
        image.id
    );
    assert!(
        image.repo_tags.iter().any(|t| t == TEST_IMAGE),
        "{:?}",
        image.repo_tags
    );
    assert!(engine.find_image(TEST_IMAGE).await.unwrap().is_some());
    assert!(
        engine
            .find_image("localhost/absent:1")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn pull_if_missing_uses_a_present_image_without_pulling() {
    let engine = Podman::shared().engine();
    let before = engine.stats();
    let outcome = engine
        .pull_if_missing(TEST_IMAGE, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(matches!(outcome, PullOutcome::Present(_)));
    let after = engine.stats();
    assert_eq!(after.writes, before.writes, "no pull for a present image");
}

#[tokio::test]
async fn pull_failure_is_typed_and_fast_offline() {
    let engine = Podman::shared().engine();
    let started = Instant::now();
    let reference = "registry.invalid/pocket-dock/absent:1";
    let err = engine
        .pull_if_missing(reference, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::PullFailed { reference: r, .. } if r == reference),
        "{err:?}"
    );
    assert_eq!(err.operation(), Operation::ImagePull);
    assert_eq!(err.category().as_str(), "runtime");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        engine.find_image(reference).await.unwrap().is_none(),
        "nothing half-created"
    );
}

#[tokio::test]
async fn pull_if_missing_pulls_an_absent_image_once() {
    let podman = Podman::shared();
    let engine = podman.engine();
    let reference = podman.registry_image("pull-once");
    assert!(engine.find_image(&reference).await.unwrap().is_none());

    let pulled = engine
        .pull_if_missing(&reference, Duration::from_secs(60))
        .await
        .unwrap();
    let PullOutcome::Pulled(image) = &pulled else {
        panic!("expected a pull: {pulled:?}");
    };
    assert!(image.repo_tags.contains(&reference), "{image:?}");
    let local = engine.inspect_image(TEST_IMAGE).await.unwrap();
    assert_eq!(image.id, local.id, "same content, same image id");

    let before = engine.stats();
    let again = engine
        .pull_if_missing(&reference, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(matches!(again, PullOutcome::Present(_)));
    assert_eq!(engine.stats().writes, before.writes, "no second pull");
    assert!(podman.podman(&["rmi", &reference]).status.success());
}

#[tokio::test]
async fn images_are_listed_by_label() {
    let podman = Podman::shared();
    let engine = podman.engine();
    let marker = format!("list-{}", std::process::id());
    podman.import_labeled(
        "localhost/pocket-dock-test/labeled:1",
        "pocket-dock.test/marker",
        &marker,
    );

    let listed = engine
        .list_images(&[format!("pocket-dock.test/marker={marker}")])
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].labels["pocket-dock.test/marker"], marker);
    assert!(
        listed[0]
            .repo_tags
            .iter()
            .any(|t| t == "localhost/pocket-dock-test/labeled:1")
    );
    assert!(
        engine
            .list_images(&["pocket-dock.test/marker=none".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(engine.list_images(&[]).await.unwrap().len() >= 2);
    assert!(
        podman
            .podman(&["rmi", "localhost/pocket-dock-test/labeled:1"])
            .status
            .success()
    );
}
