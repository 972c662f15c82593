use std::time::{Duration, Instant};

use pocket_dock::engine::{EngineError, ExecConfig, ExecOutput, ExecPhase, Operation, StreamKind};
use tokio::sync::mpsc;

use crate::support::{Podman, cleanup, ownership, running_sandbox};

#[tokio::test]
async fn exec_lifecycle_is_observable_created_running_exited() {
    let engine = Podman::shared().engine();
    let own = ownership("exec-lifecycle");
    let c = running_sandbox(&engine, &own, "a").await;

    let id = engine
        .exec_create(
            &c,
            &ExecConfig::new(["sh", "-c", "echo started; sleep 1; exit 3"]),
        )
        .await
        .unwrap();
    assert_eq!(
        engine.exec_inspect(&id).await.unwrap().phase,
        ExecPhase::Created
    );

    let mut stream = engine.exec_start(&id).await.unwrap();
    let first = stream.next_chunk().await.unwrap().unwrap();
    assert_eq!(first.stream, StreamKind::Stdout);
    assert_eq!(&first.data[..], b"started\n");
    let mut running = engine.exec_inspect(&id).await.unwrap();
    assert_eq!(running.phase, ExecPhase::Running);
    // Docker records the process id a moment after the process starts.
    let deadline = Instant::now() + Duration::from_secs(2);
    while running.pid.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        running = engine.exec_inspect(&id).await.unwrap();
    }
    assert!(running.pid.is_some());
    assert_eq!(running.container_id, c.id());

    // The stream ends exactly when the process exits.
    assert!(stream.next_chunk().await.is_none());
    crate::support::until(Duration::from_secs(5), "the exec's exit", || async {
        engine.exec_inspect(&id).await.unwrap().phase == ExecPhase::Exited(3)
    })
    .await;
    cleanup(&engine, &own).await;
}

#[tokio::test]
async fn stdout_and_stderr_stay_apart_and_in_order_with_env_and_workdir() {
    let engine = Podman::shared().engine();
    let own = ownership("exec-streams");
    let c = running_sandbox(&engine, &own, "s").await;

    let mut config = ExecConfig::new([
        "sh",
        "-c",
        "pwd; echo \"$GREETING\"; for i in $(seq 1 2000); do echo out$i; echo err$i >&2; done; exit 4",
    ]);
    config.env = vec!["GREETING=hello; $(not expanded)".to_string()];
    config.workdir = Some("/tmp".to_string());
    let (tx, mut rx) = mpsc::channel(4);
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(chunk) = rx.recv().await {
            seen.push(chunk);
        }
        seen
    });
    let result = engine
        .exec_run(
            &c,
            &config,
            ExecOutput::new().capture().channel(tx).log(),
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(result.exit_code, 4);

    let mut expected_out = String::from("/tmp\nhello; $(not expanded)\n");
    let mut expected_err = String::new();
    for i in 1..=2000 {
        expected_out.push_str(&format!("out{i}\n"));
        expected_err.push_str(&format!("err{i}\n"));
    }
    assert_eq!(
        String::from_utf8(result.stdout.bytes.clone()).unwrap(),
        expected_out
    );
    assert_eq!(
        String::from_utf8(result.stderr.bytes.clone()).unwrap(),
        expected_err
    );
    assert!(!result.stdout.is_truncated());

    // The channel saw the same bytes, per stream, in the same order.
    let seen = collector.await.unwrap();
    let joined = |kind| {
        seen.iter()
            .filter(|c| c.stream == kind)
            .flat_map(|c| c.data.to_vec())
            .collect::<Vec<u8>>()
    };
    assert_eq!(joined(StreamKind::Stdout), expected_out.as_bytes());
    assert_eq!(joined(StreamKind::Stderr), expected_err.as_bytes());
    cleanup(&engine, &own).await;
}

#[tokio::test]
async fn large_output_applies_backpressure_instead_of_buffering() {
    let engine = Podman::shared().engine();
    let own = ownership("exec-backpressure");
    let c = running_sandbox(&engine, &own, "b").await;
    const TOTAL: u64 = 12_000_000;

    let (tx, mut rx) = mpsc::channel(1);
    let config = ExecConfig::new(["sh", "-c", "yes 0123456789abcdef | head -c 12000000"]);
    let run = {
        let engine = engine.clone();
        let c = c.clone();
        tokio::spawn(async move {
            engine
                .exec_run(
                    &c,
                    &config,
                    ExecOutput::new().channel(tx),
                    Some(Duration::from_secs(120)),
                )
                .await
        })
    };

    // Nobody reads the channel for a second: the client must stop reading the socket,
    // so the producer in the container blocks instead of finishing into client memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !run.is_finished(),
        "the exec finished although nobody consumed its output"
    );

    let mut received = 0u64;
    let mut max_chunk = 0usize;
    while let Some(chunk) = rx.recv().await {
        assert_eq!(chunk.stream, StreamKind::Stdout);
        received += chunk.data.len() as u64;
        max_chunk = max_chunk.max(chunk.data.len());
    }
    let result = run.await.unwrap().unwrap();
    assert_eq!(result.exit_code, 0);
    assert_eq!(received, TOTAL);
    assert_eq!(result.stdout.total, TOTAL);
    assert!(
        result.stdout.bytes.is_empty(),
        "nothing captured unless asked"
    );
    assert!(max_chunk <= 1 << 20, "chunks stay small: {max_chunk}");
    cleanup(&engine, &own).await;
}

#[tokio::test]
async fn capture_limit_is_explicit_and_reported() {
    let engine = Podman::shared().engine();
    let own = ownership("exec-cap");
    let c = running_sandbox(&engine, &own, "c").await;
    let result = engine
        .exec_run(
            &c,
            &ExecConfig::new(["sh", "-c", "yes | head -c 100000"]),
            ExecOutput::new().capture_up_to(1000),
            None,
        )
        .await
        .unwrap();
    assert_eq!(result.stdout.bytes.len(), 1000);
    assert_eq!(result.stdout.dropped, 99_000);
    assert_eq!(result.stdout.total, 100_000);
    cleanup(&engine, &own).await;
}

#[tokio::test]
async fn exec_timeout_is_an_explicit_typed_error() {
    let engine = Podman::shared().engine();
    let own = ownership("exec-timeout");
    let c = running_sandbox(&engine, &own, "t").await;
    let started = Instant::now();
    let err = engine
        .exec_run(
            &c,
            &ExecConfig::new(["sleep", "30"]),
            ExecOutput::new(),
            Some(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, EngineError::Timeout { op: Operation::ExecStream, after, .. } if *after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert_eq!(err.category().as_str(), "timeout");

    let err = engine
        .exec_run(&c, &ExecConfig::default(), ExecOutput::new(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::InvalidInput {
                op: Operation::ExecCreate,
                ..
            }
        ),
        "{err:?}"
    );
    cleanup(&engine, &own).await;
}
