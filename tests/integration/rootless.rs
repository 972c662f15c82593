use std::time::Duration;

use crate::support::{Need, requires};
use pocket_dock::engine::socket::{self, EnvSnapshot, SocketSource};
use pocket_dock::engine::{
    ContainerConfig, Engine, EngineConfig, ExecConfig, ExecOutput, NetworkMode,
};
use pocket_dock_spec::Kind;

use crate::support::cli;
use crate::support::{Podman, TEST_IMAGE, cleanup, ownership};

#[tokio::test]
async fn rootless_service_is_discovered_and_fully_usable() {
    if !requires(
        "rootless::rootless_service_is_discovered_and_fully_usable",
        &[Need::RootlessService],
    ) {
        return;
    }
    let podman = Podman::rootless();
    let xdg = podman
        .xdg_runtime_dir
        .clone()
        .expect("rootless service has an XDG dir");

    // Discovery finds $XDG_RUNTIME_DIR/podman/podman.sock before the rootful socket.
    let env = EnvSnapshot {
        xdg_runtime_dir: Some(xdg.clone()),
        ..Default::default()
    };
    let choice = socket::discover(None, &env, |p| p.exists()).unwrap();
    assert_eq!(choice.source, SocketSource::Rootless);
    assert_eq!(choice.path, podman.socket);

    let engine = Engine::new(&EngineConfig::new(&choice.path)).unwrap();
    engine.ping().await.unwrap();
    let info = engine.info().await.unwrap();
    assert!(info.rootless, "{info:?}");

    let own = ownership("rootless");
    let name = own.container_name(Kind::Sandbox, "r");
    let mut config = ContainerConfig::idle(Kind::Sandbox, "r", &name, TEST_IMAGE);
    config.network = NetworkMode::None;
    let c = engine.create_container(&own, &config).await.unwrap();
    engine.start_container(&c).await.unwrap();
    let result = engine
        .exec_run(
            &c,
            &ExecConfig::new(["sh", "-c", "id -u; echo oops >&2; exit 2"]),
            ExecOutput::new().capture(),
            Some(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!(result.exit_code, 2);
    assert_eq!(
        result.stdout.bytes, b"0\n",
        "root inside the user namespace"
    );
    assert_eq!(result.stderr.bytes, b"oops\n");
    engine
        .stop_container(&c, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(cleanup(&engine, &own).await, 1);

    // The CLI finds the same socket from XDG_RUNTIME_DIR alone and reports rootless mode.
    let env = vec![("XDG_RUNTIME_DIR".to_string(), xdg.display().to_string())];
    let run = cli::pd(&podman.dir, &env, &["doctor"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let text = run.stdout_text();
    assert!(text.contains("rootless default"), "{text}");
    assert!(text.contains("ok   mode     rootless"), "{text}");
}

#[tokio::test]
async fn apply_converges_against_a_rootless_service() {
    if !requires(
        "rootless::apply_converges_against_a_rootless_service",
        &[Need::RootlessService],
    ) {
        return;
    }
    use crate::support::workspace::{TestWorkspace, sandbox};
    let podman = Podman::rootless();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "s.yaml",
        &format!(
            // These VMs cannot run rootless networking (/dev/net/tun is root-only; see
            // docs/troubleshooting.md), and the compat API ignores containers.conf's netns.
            "{}  network: none\n  mounts: [{{type: volume, source: data, target: /data}}]\n---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {{name: data}}\n",
            sandbox("dev", "")
        ),
    );
    ws.pd_ok(&["apply"]);
    assert_eq!(ws.running_ids(podman).await.len(), 1);
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0));
    let summary = out.iter().rev().find(|v| v["event"] == "summary").unwrap();
    assert_eq!(summary["podman_calls"]["writes"], 0, "{summary}");
    ws.pd_ok(&["delete", "--all", "--volumes"]);
    assert!(ws.sandboxes(podman).await.is_empty());
}
