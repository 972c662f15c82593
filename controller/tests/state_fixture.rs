//! Makes the committed state store fixtures (`controller/tests/fixtures/state-*.db`): a
//! `state.db` with rows in every table, written through the public store API of the release
//! it is made by. The tests in `controller/src/store_schema.rs` open copies of them with the
//! code of today, which is how "a database the previous release wrote opens in the next one"
//! is proven.
//!
//! Not a test: it is ignored, and writes only when asked. To make the fixture of a release,
//! check that release out, copy this file into its `controller/tests/`, and run
//!
//! ```text
//! POCKET_DOCK_STATE_FIXTURE=/tmp/fixture cargo test -p pocket-dock --test state_fixture -- --ignored
//! cp /tmp/fixture/state.db controller/tests/fixtures/state-<release>.db
//! ```
//!
//! It uses only API that 0.1.0 had; keep it that way, so that it still builds in the
//! release it is copied into. See `controller/tests/fixtures/README.md`.

use std::time::Duration;

use pocket_dock::declared::{Declared, LastValid};
use pocket_dock::status::types::{
    Expiry, ExpiryReason, HookFailure, HookPoint, LifetimeRecord, PauseRecord, RestartRecord,
    SnapshotRecord,
};
use pocket_dock::store::{Event, HistoryEntry, Instance, Outcome, Retention, Source, StateStore};

const VOLUME: &str =
    "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: data}\nspec: {}\n";

#[test]
#[ignore = "writes a fixture; run by hand (see the file's doc comment)"]
fn make_state_fixture() {
    let Some(out) = std::env::var_os("POCKET_DOCK_STATE_FIXTURE") else {
        panic!("set POCKET_DOCK_STATE_FIXTURE to an empty folder to write state.db into");
    };
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out).unwrap();
    assert!(
        !out.join("state.db").exists(),
        "{} already has a state.db",
        out.display()
    );
    let (store, _) = StateStore::open(&out).unwrap();

    store
        .set_retention(&Retention {
            history: Some(500),
            events: None,
            journal: Some(700),
        })
        .unwrap();
    store
        .sync_instances(
            &[
                Instance {
                    kind: "Sandbox".into(),
                    name: "web".into(),
                    container_id: Some("c0ffee".into()),
                    container_name: Some("pd-web-0123abcd".into()),
                    image: Some("docker.io/library/busybox:latest".into()),
                    spec_hash: Some("sha256:aaaa".into()),
                    created_at: None,
                    started_at: Some("2026-01-01T00:00:02Z".into()),
                    stopped_at: None,
                },
                Instance {
                    kind: "Volume".into(),
                    name: "data".into(),
                    container_id: None,
                    container_name: None,
                    image: None,
                    spec_hash: Some("sha256:bbbb".into()),
                    created_at: None,
                    started_at: None,
                    stopped_at: None,
                },
            ],
            "2026-01-01T00:00:01Z",
        )
        .unwrap();
    store
        .record_snapshot(
            "warm",
            "localhost/pocket-dock/warm:gen-1",
            "sha256:1111",
            &SnapshotRecord {
                sandbox: "web".into(),
                sandbox_spec_hash: "sha256:aaaa".into(),
                sandbox_image: "docker.io/library/busybox:latest".into(),
                taken_at: "2026-01-01T00:00:03Z".into(),
                generation: "1".into(),
                description: Some("before the migration".into()),
            },
        )
        .unwrap();
    store.record_session("s-1", "web", 4242, 99).unwrap();
    store
        .save_restarts(
            "web",
            Some(&RestartRecord {
                container_id: "c0ffee".into(),
                restart_count: 3,
                backoff_ms: 40_000,
                last_exit_code: Some(1),
                last_finished_at: Some(1_767_225_600),
                restarted_at: Some(1_767_225_610),
            }),
        )
        .unwrap();
    store
        .save_hook_failure(
            "web",
            Some(&HookFailure {
                container_id: "c0ffee".into(),
                hook: HookPoint::PostCreate,
                argv: vec!["make".into(), "setup".into()],
                exit_code: Some(7),
                output: "no rule".into(),
                message: "postCreate hook \"make setup\" exited 7".into(),
            }),
        )
        .unwrap();
    store
        .save_pause(
            "web",
            Some(&PauseRecord {
                by: "pocket-dock pause".into(),
                at: Some("2026-01-01T00:00:04Z".into()),
            }),
        )
        .unwrap();
    store
        .save_lifetime(
            "web",
            Some(&LifetimeRecord {
                document_hash: "sha256:cccc".into(),
                since_ms: 1_767_225_600_000,
                expiry: Some(Expiry {
                    reason: ExpiryReason::IdleTimeout,
                    at_ms: 1_767_227_400_000,
                    message: "idle for 30m".into(),
                }),
            }),
        )
        .unwrap();
    store.touch_activity("web").unwrap();
    store.begin_activity("web").unwrap();
    assert_eq!(
        store
            .observe_generation("Sandbox", "web", "sha256:aaaa")
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .observe_generation("Sandbox", "web", "sha256:abab")
            .unwrap(),
        2
    );

    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir(ws.path().join(".pocket-dock")).unwrap();
    std::fs::write(ws.path().join(".pocket-dock/data.yaml"), VOLUME).unwrap();
    let declared = Declared::load(ws.path(), &LastValid::default());
    assert!(declared.is_valid(), "{:?}", declared.problems);
    store.save_last_valid(&declared.last_valid).unwrap();

    store
        .record(
            &Event::new(Source::Apply, "create")
                .object("Sandbox", "web")
                .reason("not found")
                .at("2026-01-01T00:00:01Z")
                .duration(Duration::from_millis(12)),
        )
        .unwrap();
    store
        .record(
            &Event::new(Source::Controller, "start")
                .object("Sandbox", "web")
                .reason("stopped")
                .at("2026-01-01T00:00:02Z"),
        )
        .unwrap();
    store
        .record(
            &Event::new(Source::Gc, "remove")
                .object("Volume", "old")
                .outcome(Outcome::Skipped)
                .reason("in use")
                .at("2026-01-01T00:00:03Z"),
        )
        .unwrap();
    store
        .record_history(&HistoryEntry {
            sandbox: "web".into(),
            command: vec!["echo".into(), "hi there".into()],
            exit_code: Some(0),
            duration_ms: 7,
            started_at: "2026-01-01T00:00:05Z".into(),
            finished_at: "2026-01-01T00:00:05Z".into(),
            stdout_bytes: 9,
            stderr_bytes: 0,
        })
        .unwrap();
    // Closing the last connection checkpoints the WAL into state.db and removes it.
    drop(store);
    for journal in ["state.db-wal", "state.db-shm"] {
        assert!(!out.join(journal).exists(), "{journal} left behind");
    }
}
