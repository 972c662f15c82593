//! `--only` and `--selector` on `apply`, `diff`, `delete` against real Podman: a subset is
//! converged with what it needs, and nothing outside it is touched or pruned.

use std::time::Duration;

use crate::support::Podman;
use crate::support::controller::Running;
use crate::support::poll::until;
use crate::support::workspace::{TestWorkspace, actions, sandbox};

/// A Sandbox on the test image with `labels` (YAML flow map) and `extra` spec lines.
fn labelled(name: &str, labels: &str, extra: &str) -> String {
    sandbox(name, extra).replace(
        &format!("  name: {name}\n"),
        &format!("  name: {name}\n  labels: {labels}\n"),
    )
}

fn volume(name: &str) -> String {
    format!("---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {{name: {name}}}\n")
}

#[tokio::test]
async fn a_selected_apply_makes_the_selection_and_its_dependencies_and_prunes_nothing() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    // A container of this workspace that nothing declares any more: a full apply would
    // prune it.
    ws.write("leftover.yaml", &sandbox("leftover", ""));
    ws.pd_ok(&["apply"]);
    ws.remove("leftover.yaml");
    ws.write(
        "s.yaml",
        &format!(
            "{}{}{}{}",
            labelled(
                "a",
                "{tier: web}",
                "  dependsOn: [db]\n  mounts:\n    - {type: volume, source: data, target: /data}\n"
            ),
            labelled("db", "{tier: db}", ""),
            labelled("b", "{tier: web}", ""),
            volume("data"),
        ),
    );

    // diff shows the selection's actions only.
    let (run, out) = ws.pd_json(&["diff", "--only", "Sandbox/a"]);
    assert_eq!(
        run.code,
        Some(1),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let plan = &out[0]["actions"];
    let mut planned: Vec<String> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {}/{}",
                a["op"].as_str().unwrap(),
                a["key"]["kind"].as_str().unwrap(),
                a["key"]["name"].as_str().unwrap()
            )
        })
        .collect();
    planned.sort();
    assert_eq!(
        planned,
        [
            "create Sandbox/a",
            "create Sandbox/db",
            "create-volume Volume/data"
        ],
        "{out:?}"
    );

    let (run, out) = ws.pd_json(&["apply", "--only", "Sandbox/a"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(
        actions(&out),
        [
            "create Sandbox/a",
            "create Sandbox/db",
            "create-volume Volume/data"
        ]
    );
    let seen = ws.sandboxes(podman).await;
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["a", "db", "leftover"],
        "b is not made, the leftover is not pruned"
    );

    // By label: tier=web is a and b; a is there already, b is made (and nothing else).
    let (run, out) = ws.pd_json(&["apply", "--selector", "tier=web"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(actions(&out), ["create Sandbox/b"]);
    assert!(ws.sandboxes(podman).await.contains_key("leftover"));

    // Both flags: the intersection. a is not tier=db: nothing matches, exit 2, named.
    let run = ws.pd(&["apply", "--only", "Sandbox/a", "--selector", "tier=db"]);
    assert_eq!(
        run.code,
        Some(2),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        run.stderr_text()
            .contains("--only Sandbox/a --selector tier=db")
            && run.stderr_text().contains("matches no declared object"),
        "{}",
        run.stderr_text()
    );
    let run = ws.pd(&["apply", "--only", "Sandbox/nope,Sandbox/a"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("Sandbox/nope"),
        "{}",
        run.stderr_text()
    );
    let run = ws.pd(&["diff", "--selector", "tier=cache"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("tier=cache"),
        "{}",
        run.stderr_text()
    );

    // delete takes the selection without its dependencies: a goes, db and the volume stay.
    let (run, out) = ws.pd_json(&["delete", "--only", "Sandbox/a"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let removed: Vec<&str> = out[0]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(removed, ["a"]);
    assert_eq!(
        ws.sandboxes(podman).await.keys().collect::<Vec<_>>(),
        ["b", "db", "leftover"]
    );
    let run = ws.pd(&["delete", "--selector", "tier=nothing"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert_eq!(
        ws.sandboxes(podman).await.len(),
        3,
        "a failed selection deletes nothing"
    );

    // A full apply prunes again.
    let (_, out) = ws.pd_json(&["apply"]);
    assert_eq!(
        actions(&out),
        ["create Sandbox/a", "remove Sandbox/leftover"]
    );
    ws.pd(&["delete", "--all", "--volumes"]);
}

#[tokio::test]
async fn a_selected_controller_converges_the_selection_only_and_prunes_nothing() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("leftover.yaml", &sandbox("leftover", ""));
    ws.pd_ok(&["apply"]);
    ws.remove("leftover.yaml");
    ws.write(
        "s.yaml",
        &format!(
            "{}{}{}",
            labelled("a", "{tier: web}", "  dependsOn: [db]\n"),
            labelled("db", "{tier: db}", ""),
            labelled("b", "{tier: web}", ""),
        ),
    );

    // A selection that matches nothing is refused at once.
    let run = ws.pd(&["controller", "--selector", "tier=cache"]);
    assert_eq!(
        run.code,
        Some(2),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(
        run.stderr_text().contains("tier=cache"),
        "{}",
        run.stderr_text()
    );

    let controller = Running::start_with(&ws, podman, &["controller", "--only", "Sandbox/a"]);
    until(
        Duration::from_secs(20),
        "a and its dependency running",
        || async {
            let seen = ws.sandboxes(podman).await;
            seen.contains_key("a") && seen.contains_key("db")
        },
    )
    .await;
    // An edit to b, and the pass it brings: b is still not made, nothing pruned.
    let before = controller.reconciles();
    ws.write(
        "s.yaml",
        &format!(
            "{}{}{}",
            labelled("a", "{tier: web}", "  dependsOn: [db]\n"),
            labelled("db", "{tier: db}", ""),
            labelled("b", "{tier: web}", "  env: {V: '2'}\n"),
        ),
    );
    until(Duration::from_secs(10), "a pass after the edit", || async {
        controller.reconciles() > before
    })
    .await;
    assert_eq!(
        ws.sandboxes(podman).await.keys().collect::<Vec<_>>(),
        ["a", "db", "leftover"],
        "{}",
        controller.log()
    );
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
    ws.pd(&["delete", "--all"]);
}
