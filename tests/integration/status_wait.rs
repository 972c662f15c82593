//! Status with kstatus conventions and `wait`, against real Podman: generations,
//! observedGeneration, Ready, and `wait --for condition=Ready|delete` with its exit codes.

use std::time::{Duration, Instant};

use pocket_dock::status::{ConditionStatus, ConditionType, Status};

use crate::support::Podman;
use crate::support::workspace::{TestWorkspace, sandbox};

fn read_status(ws: &TestWorkspace, name: &str) -> Status {
    let text =
        std::fs::read_to_string(ws.path(&format!(".pocket-dock/status/sandbox/{name}.yaml")))
            .unwrap();
    let doc = pocket_dock_spec::yaml::parse(&text, Default::default()).unwrap();
    serde_json::from_value(doc[0].root.to_json()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn condition(status: &Status, kind: ConditionType) -> ConditionStatus {
    status
        .condition(kind)
        .map(|c| c.status)
        .unwrap_or_else(|| panic!("no {kind:?}: {status:?}"))
}

#[tokio::test]
async fn generations_follow_the_spec_and_wait_sees_ready_and_delete() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("s.yaml", &sandbox("x", ""));
    ws.pd_ok(&["apply"]);
    let s = read_status(&ws, "x");
    assert_eq!(condition(&s, ConditionType::Ready), ConditionStatus::True);
    assert_eq!(
        condition(&s, ConditionType::Reconciling),
        ConditionStatus::False
    );
    assert_eq!(
        condition(&s, ConditionType::Stalled),
        ConditionStatus::False
    );
    // The deprecated aliases are still written.
    assert_eq!(
        condition(&s, ConditionType::Progressing),
        ConditionStatus::False
    );
    assert_eq!(
        condition(&s, ConditionType::Degraded),
        ConditionStatus::False
    );
    assert_eq!((s.generation(), s.observed_generation), (Some(1), Some(1)));

    // Applying the same spec again keeps the generation.
    ws.pd_ok(&["apply"]);
    assert_eq!(read_status(&ws, "x").generation(), Some(1));

    let started = Instant::now();
    let run = ws.pd_ok(&["wait", "--for", "condition=Ready", "sandbox/x"]);
    assert!(
        run.stdout_text().contains("sandbox/x condition met"),
        "{}",
        run.stdout_text()
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A changed spec not applied yet: the Ready of generation 1 does not count.
    ws.write("s.yaml", &sandbox("x", "  env: {A: b}\n"));
    let (run, out) = ws.pd_json(&[
        "wait",
        "--for",
        "condition=Ready",
        "sandbox/x",
        "--timeout",
        "1s",
    ]);
    assert_eq!(
        run.code,
        Some(5),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(out[0]["timedOut"], true, "{out:?}");
    assert!(
        out[0]["targets"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("generation 2"),
        "{out:?}"
    );
    ws.pd_ok(&["apply"]);
    let s = read_status(&ws, "x");
    assert_eq!((s.generation(), s.observed_generation), (Some(2), Some(2)));
    ws.pd_ok(&["wait", "--for", "condition=Ready", "sandbox/x"]);

    // get shows the typed status, its columns unchanged.
    let (_, rows) = ws.pd_json(&["get", "sandbox/x"]);
    assert_eq!(rows[0][0]["ready"], "true", "{rows:?}");
    assert_eq!(rows[0][0]["status"]["observedGeneration"], 2, "{rows:?}");

    ws.pd_ok(&["delete", "sandbox/x"]);
    let run = ws.pd_ok(&["wait", "--for", "delete", "sandbox/x", "--timeout", "10s"]);
    assert!(
        run.stdout_text().contains("sandbox/x deleted"),
        "{}",
        run.stdout_text()
    );
    // Something that is not there is deleted already.
    ws.pd_ok(&["wait", "--for", "delete", "sandbox/never-declared"]);
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn wait_times_out_with_exit_5_and_refuses_bad_arguments_with_exit_2() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("s.yaml", &sandbox("stopped", "  state: stopped\n"));
    ws.pd_ok(&["apply"]);
    let started = Instant::now();
    let run = ws.pd(&[
        "wait",
        "--for",
        "condition=Ready",
        "sandbox/stopped",
        "sandbox/ghost",
        "--timeout",
        "1s",
    ]);
    assert_eq!(
        run.code,
        Some(5),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let stderr = run.stderr_text();
    assert!(stderr.contains("sandbox/ghost: not declared"), "{stderr}");
    assert!(
        stderr.contains("sandbox/stopped: Ready is False"),
        "{stderr}"
    );

    for bad in [
        vec!["wait", "--for", "condition=Healthy", "sandbox/stopped"],
        vec!["wait", "--for", "Ready", "sandbox/stopped"],
        vec!["wait", "--for", "delete", "pod/x"],
        vec!["wait", "--for", "delete", "sandbox"],
    ] {
        let run = ws.pd(&bad);
        assert_eq!(
            run.code,
            Some(2),
            "{bad:?}: {}{}",
            run.stdout_text(),
            run.stderr_text()
        );
    }
    ws.pd(&["delete", "--all"]);
}
