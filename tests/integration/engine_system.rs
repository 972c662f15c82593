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

/// The calls that only ask "Podman or Docker?" (list, create, exec) learn it from one
/// `/_ping` on Podman: its `/version` and `/info` gather host facts, which cost more than
/// a whole `run`'s other reads. The identity agrees with the full profile read later.
#[tokio::test]
async fn the_engine_identity_is_one_ping_on_podman_and_agrees_with_the_profile() {
    let engine = Podman::shared().engine();
    let identity = engine.identity().await.unwrap();
    let podman = under_test() == EngineUnderTest::Podman;
    assert_eq!(identity.is_podman(), podman, "{identity:?}");
    let reads = engine.stats().reads;
    if podman {
        assert_eq!(reads, 1, "one ping");
    }
    // Kept: asking again makes no request.
    assert_eq!(engine.identity().await.unwrap(), identity);
    assert_eq!(engine.stats().reads, reads);
    let profile = engine.profile().await.unwrap();
    assert_eq!(profile.kind, identity.kind);
    if podman {
        assert_eq!(
            pocket_dock::engine::capabilities::Version::parse(&profile.version),
            pocket_dock::engine::capabilities::Version::parse(&identity.version),
            "the header names the version /version does"
        );
    }
}
