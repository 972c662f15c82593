//! Warm pools against real Podman: `apply` fills a pool; `claim` hands over a member by name
//! and only that line is printed; exec, logs and release work on it; `apply`, `apply` after
//! the Pool is deleted and `gc --dry-run` leave a claimed sandbox alone; a background refill
//! (no controller) and a controller (on the rename event) fill the pool again; members of an
//! old generation are replaced and never handed out; 8 processes making 40 claims at once
//! never get one member twice.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::Podman;
use crate::support::TEST_IMAGE;
use crate::support::controller::Running;
use crate::support::poll::until;
use crate::support::workspace::TestWorkspace;

/// A Template on the test image (with `env: {GEN: <generation>}` and a readiness probe) and
/// a Pool of `size` of it.
fn pool_files(ws: &TestWorkspace, size: u32, generation: &str) {
    ws.write(
        "runner.yaml",
        &format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Template\nmetadata:\n  name: runner\nspec:\n  sandbox:\n    image: {TEST_IMAGE}\n    env:\n      GEN: \"{generation}\"\n    readiness:\n      exec: [\"true\"]\n      interval: 200ms\n"
        ),
    );
    ws.write(
        "pool.yaml",
        &format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Pool\nmetadata:\n  name: graders\nspec:\n  template: runner\n  size: {size}\n"
        ),
    );
}

/// `pool list -o json` for `graders`.
fn status(ws: &TestWorkspace) -> serde_json::Value {
    let (run, values) = ws.pd_json(&["pool", "list"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let pools = values[0].as_array().unwrap().clone();
    pools
        .into_iter()
        .find(|p| p["name"] == "graders")
        .unwrap_or_else(|| panic!("no graders in {values:?}"))
}

fn ready(ws: &TestWorkspace) -> u64 {
    status(ws)["ready"].as_u64().unwrap()
}

/// The ids of the pool's idle members (ready or warming), through Podman.
async fn member_ids(ws: &TestWorkspace, podman: &Podman) -> BTreeSet<String> {
    let own = ws.ownership();
    podman
        .engine()
        .list_owned(&own)
        .await
        .unwrap()
        .into_iter()
        .filter(|(s, _)| {
            s.labels
                .get(pocket_dock::engine::labels::KIND)
                .map(String::as_str)
                == Some("Pool")
                && pocket_dock::pool::sandbox_of_container_name(&own, &s.name).is_none()
        })
        .map(|(s, _)| s.id)
        .collect()
}

fn claim(ws: &TestWorkspace, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["claim", "graders", "--no-refill"];
    all.extend_from_slice(args);
    let (run, values) = ws.pd_json(&all);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(values.len(), 1, "one JSON object: {}", run.stdout_text());
    values[0].clone()
}

#[tokio::test]
async fn a_claimed_sandbox_is_handed_over_by_name_and_survives_the_reconciler() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    pool_files(&ws, 2, "1");
    let plan = ws.pd(&["plan"]);
    assert!(
        plan.stdout_text().contains("+ Pool/graders"),
        "{}",
        plan.stdout_text()
    );
    ws.pd_ok(&["apply"]);
    assert_eq!(ready(&ws), 2);

    // The name is the only line on stdout.
    let run = ws.pd_ok(&["claim", "graders", "--name", "job-1", "--no-refill"]);
    assert_eq!(run.stdout_text(), "job-1\n", "{}", run.stderr_text());
    assert_eq!(ready(&ws), 1);
    let exec = ws.pd_ok(&["exec", "job-1", "--", "sh", "-c", "echo $GEN"]);
    assert_eq!(exec.stdout_text(), "1\n");
    ws.pd_ok(&["logs", "job-1"]);
    let get = ws.pd_ok(&["get"]).stdout_text();
    assert!(
        get.lines()
            .any(|l| l.contains("job-1") && l.contains("claimed")),
        "{get}"
    );
    assert!(
        get.lines()
            .any(|l| l.contains("graders") && l.contains("1 ready, 0 warming, 1 claimed")),
        "{get}"
    );
    let (_, job) = {
        let own = ws.ownership();
        podman
            .engine()
            .find_owned_by_name(
                &own,
                &own.container_name(pocket_dock_spec::Kind::Sandbox, "job-1"),
                pocket_dock::engine::Operation::ContainerInspect,
            )
            .await
            .unwrap()
            .unwrap()
    };

    // A declared sandbox's name, an invalid one and a taken one are refused (Conflict: 4,
    // invalid input: 2); nothing is handed out.
    ws.write("web.yaml", &crate::support::workspace::sandbox("web", ""));
    assert_eq!(
        ws.pd(&["claim", "graders", "--name", "web", "--no-refill"])
            .code,
        Some(4)
    );
    ws.remove("web.yaml");
    assert_eq!(
        ws.pd(&["claim", "graders", "--name", "Not_A_Name", "--no-refill"])
            .code,
        Some(2)
    );
    let taken = ws.pd(&["claim", "graders", "--name", "job-1", "--no-refill"]);
    assert_eq!(taken.code, Some(4), "{}", taken.stderr_text());
    assert!(
        taken.stderr_text().contains("exists already"),
        "{}",
        taken.stderr_text()
    );
    assert_eq!(ready(&ws), 1, "a refused claim takes nothing");

    // apply refills and leaves the claimed sandbox as it is; gc does not name it.
    ws.pd_ok(&["apply"]);
    assert_eq!(ready(&ws), 2);
    let gc = ws.pd_ok(&["gc", "--dry-run"]);
    assert!(
        !gc.stdout_text().contains(job.name()),
        "{}",
        gc.stdout_text()
    );
    // The Pool deleted: its idle members go, the claimed sandbox stays.
    ws.remove("pool.yaml");
    ws.pd_ok(&["apply"]);
    assert!(member_ids(&ws, podman).await.is_empty());
    let exec = ws.pd_ok(&["exec", "job-1", "--", "true"]);
    assert_eq!(exec.code, Some(0));
    let gc = ws.pd_ok(&["gc", "--dry-run"]);
    assert!(
        !gc.stdout_text().contains(job.name()),
        "{}",
        gc.stdout_text()
    );
    assert_eq!(
        podman
            .engine()
            .inspect_container(job.id())
            .await
            .unwrap()
            .name,
        job.name()
    );

    // release removes it; releasing again, or a name that is no claimed sandbox, is exit 4.
    ws.pd_ok(&["release", "job-1"]);
    assert!(podman.engine().inspect_container(job.id()).await.is_err());
    assert_eq!(ws.pd(&["release", "job-1"]).code, Some(4));

    // delete works on a claimed sandbox too.
    pool_files(&ws, 1, "1");
    ws.pd_ok(&["apply"]);
    let claimed = claim(&ws, &[]);
    let name = claimed["name"].as_str().unwrap();
    assert!(name.starts_with("graders-"), "{claimed}");
    assert_eq!(claimed["pool"], "graders");
    assert_eq!(claimed["cold"], false);
    ws.pd_ok(&["delete", &format!("sandbox/{name}")]);
    assert!(
        podman
            .engine()
            .inspect_container(claimed["container_id"].as_str().unwrap())
            .await
            .is_err()
    );
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn old_generation_members_are_replaced_and_never_handed_out() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    pool_files(&ws, 2, "1");
    ws.pd_ok(&["apply"]);
    let old = member_ids(&ws, podman).await;
    assert_eq!(old.len(), 2);

    // The template changes: before any apply, the old members are not handed out.
    pool_files(&ws, 2, "2");
    let refused = ws.pd(&["claim", "graders", "--no-cold", "--no-refill"]);
    assert_eq!(refused.code, Some(4), "{}", refused.stderr_text());
    assert!(
        refused.stderr_text().contains("no ready member"),
        "{}",
        refused.stderr_text()
    );
    assert_eq!(member_ids(&ws, podman).await, old, "nothing was taken");
    let plan = ws.pd(&["plan"]);
    assert!(
        plan.stdout_text().contains("old generation"),
        "{}",
        plan.stdout_text()
    );

    // apply replaces them; a claim then gets the new generation.
    ws.pd_ok(&["apply"]);
    let new = member_ids(&ws, podman).await;
    assert_eq!(new.len(), 2);
    assert!(new.is_disjoint(&old), "{old:?} {new:?}");
    let claimed = claim(&ws, &[]);
    let name = claimed["name"].as_str().unwrap();
    let exec = ws.pd_ok(&["exec", name, "--", "sh", "-c", "echo $GEN"]);
    assert_eq!(exec.stdout_text(), "2\n");
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn an_empty_pool_makes_one_cold_or_refuses_and_a_claim_refills_in_the_background() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    pool_files(&ws, 2, "1");
    // Nothing applied: the first claim is cold (and says so), --no-cold refuses.
    assert_eq!(
        ws.pd(&["claim", "graders", "--no-cold", "--no-refill"])
            .code,
        Some(4)
    );
    let cold = ws.pd_ok(&["claim", "graders", "--no-refill"]);
    assert!(
        cold.stderr_text().contains("cold"),
        "{}",
        cold.stderr_text()
    );
    let name = cold.stdout_text().trim().to_string();
    ws.pd_ok(&["exec", &name, "--", "true"]);

    // Without a controller, a claim starts a detached refill and returns at once.
    ws.pd_ok(&["apply"]);
    assert_eq!(ready(&ws), 2);
    ws.pd_ok(&["claim", "graders"]);
    until(Duration::from_secs(60), "the background refill", || async {
        ready(&ws) == 2
    })
    .await;
    assert_eq!(status(&ws)["claimed"].as_array().unwrap().len(), 2);
    // Concurrent refills never overfill.
    let refills: Vec<_> = (0..3)
        .map(|_| ws.command(&["pool", "refill", "graders"]).spawn().unwrap())
        .collect();
    for mut r in refills {
        assert!(r.wait().unwrap().success());
    }
    assert_eq!(member_ids(&ws, podman).await.len(), 2);
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn a_controller_refills_a_pool_when_a_member_is_claimed() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    pool_files(&ws, 2, "1");
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(60), "the controller's fill", || async {
        ready(&ws) == 2
    })
    .await;
    claim(&ws, &[]);
    claim(&ws, &[]);
    until(
        Duration::from_secs(60),
        "the controller's refill",
        || async { ready(&ws) == 2 },
    )
    .await;
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn eight_processes_making_forty_claims_never_get_one_member_twice() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    pool_files(&ws, 10, "1");
    ws.pd_ok(&["apply"]);
    assert_eq!(ready(&ws), 10);
    // 8 processes, 5 claims each, all at once (30 of them find the pool empty: cold).
    let script = (0..5)
        .map(|_| {
            format!(
                "{} -o json claim graders --no-refill || echo FAILED",
                crate::support::cli::binary()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = std::process::Command::new("sh");
            cmd.args(["-c", &script])
                .current_dir(ws.root())
                .env("CONTAINER_HOST", podman.host())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut names = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut members = BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("FAILED"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            names.insert(v["name"].as_str().unwrap().to_string());
            ids.insert(v["container_id"].as_str().unwrap().to_string());
            members.insert(v["member_id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(names.len(), 40);
    assert_eq!(ids.len(), 40, "a member was handed out twice");
    assert_eq!(members.len(), 40);
    // Every one is a running sandbox under its own name.
    let own = ws.ownership();
    for name in &names {
        let (details, _) = podman
            .engine()
            .find_owned_by_name(
                &own,
                &own.container_name(pocket_dock_spec::Kind::Sandbox, name),
                pocket_dock::engine::Operation::ContainerInspect,
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} has no container"));
        assert!(details.state.is_running(), "{name}");
        assert!(ids.contains(&details.id), "{name}");
    }
    ws.pd_ok(&["delete", "--all"]);
}
