use std::time::{Duration, Instant};

use pocket_dock::engine::{
    ConnectFailure, Engine, EngineConfig, EngineError, ExecConfig, ExecOutput, Operation,
};

use crate::support::{Mode, Podman, ownership, running_sandbox};

#[tokio::test]
async fn a_missing_socket_is_unreachable_at_once() {
    let started = Instant::now();
    let err = Engine::new(&EngineConfig::new("/nonexistent/podman.sock")).unwrap_err();
    assert!(
        matches!(&err, EngineError::Unreachable { failure: ConnectFailure::Missing, op: Operation::Connect, socket, .. } if socket.to_str() == Some("/nonexistent/podman.sock")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot reach Podman at /nonexistent/podman.sock: no such socket"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn a_socket_nobody_listens_on_is_refused() {
    let dir = std::env::temp_dir().join(format!("pd-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dead.sock");
    let _ = std::fs::remove_file(&path);
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // the file stays, nobody listens
    let engine = Engine::new(&EngineConfig::new(&path)).unwrap();
    let first = engine.ping().await.unwrap_err();
    let second = engine.ping().await.unwrap_err();
    assert!(
        matches!(
            first,
            EngineError::Unreachable {
                failure: ConnectFailure::Refused,
                op: Operation::Ping,
                ..
            }
        ),
        "{first:?}"
    );
    assert_eq!(first.to_string(), second.to_string());
    assert_eq!(first.category().as_str(), "connection");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Kills the service while an exec streams output; returns the error `exec_run` ended with.
async fn kill_mid_stream() -> EngineError {
    let podman = Podman::start(Mode::Rootful);
    let engine = podman.engine();
    let own = ownership("kill-mid-stream");
    let c = running_sandbox(&engine, &own, "k").await;

    let (first_chunk_tx, first_chunk_rx) = tokio::sync::oneshot::channel::<()>();
    let mut first_chunk_tx = Some(first_chunk_tx);
    let output = ExecOutput::new().on_chunk(move |_, _| {
        if let Some(tx) = first_chunk_tx.take() {
            let _ = tx.send(());
        }
        Ok(())
    });
    let run = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .exec_run(
                    &c,
                    &ExecConfig::new(["sh", "-c", "while :; do echo tick; sleep 0.01; done"]),
                    output,
                    Some(Duration::from_secs(60)),
                )
                .await
        })
    };
    first_chunk_rx.await.unwrap();
    podman.kill_service();
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("exec_run must end, not hang, when the service dies")
        .unwrap();
    result.unwrap_err()
}

#[tokio::test]
async fn killing_the_service_mid_stream_gives_one_deterministic_error() {
    let first = kill_mid_stream().await;
    let second = kill_mid_stream().await;
    for err in [&first, &second] {
        assert!(
            matches!(
                err,
                EngineError::ConnectionLost {
                    op: Operation::ExecStream,
                    id: Some(_),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.category().as_str(), "connection");
    }
    // Same text apart from the ids and socket paths, which differ between the two services.
    let shape = |e: &EngineError| match e {
        EngineError::ConnectionLost { op, .. } => format!("connection lost during {op}"),
        other => other.to_string(),
    };
    assert_eq!(shape(&first), shape(&second));
    assert!(first.to_string().starts_with("connection to Podman at "));
    assert!(
        first
            .to_string()
            .ends_with(" was lost during exec output stream")
    );
}
