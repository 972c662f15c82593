use crate::support::{EngineUnderTest, Podman, under_test};

#[tokio::test]
async fn ping_version_and_info_describe_the_service() {
    let engine = Podman::shared().engine();
    engine.ping().await.unwrap();
    let version = engine.version().await.unwrap();
    assert_eq!(
        version.is_podman(),
        under_test() == EngineUnderTest::Podman,
        "{version:?}"
    );
    assert!(!version.version.is_empty());
    // The compat API: 1.41 on Podman 4.x, 1.44 on 5.x.
    assert!(version.api_version.starts_with("1.4"), "{version:?}");
    let info = engine.info().await.unwrap();
    assert!(!info.rootless, "the shared service runs as root");
    assert_eq!(info.runtime.as_deref(), Some("runc"));
    let stats = engine.stats();
    assert_eq!((stats.reads, stats.writes), (3, 0));
}
