use crate::support::Podman;

#[tokio::test]
async fn ping_version_and_info_describe_the_service() {
    let engine = Podman::shared().engine();
    engine.ping().await.unwrap();
    let version = engine.version().await.unwrap();
    assert!(version.is_podman(), "{version:?}");
    assert!(!version.version.is_empty());
    assert_eq!(version.api_version, "1.41");
    let info = engine.info().await.unwrap();
    assert!(!info.rootless, "the shared service runs as root");
    assert_eq!(info.runtime.as_deref(), Some("runc"));
    let stats = engine.stats();
    assert_eq!((stats.reads, stats.writes), (3, 0));
}
