//! Templates against real Podman: a sandbox made from a template runs with the merged
//! config (the template's fields, its own on top); editing the template recreates the
//! sandboxes made from it on the next apply and leaves the others alone; a built-in template
//! applies its profile; a broken template file changes nothing.

use crate::support::Podman;
use crate::support::podman::TEST_IMAGE;
use crate::support::workspace::{TestWorkspace, sandbox};

fn runner_template(a: &str) -> String {
    format!(
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Template\nmetadata:\n  name: runner\nspec:\n  sandbox:\n    image: {TEST_IMAGE}\n    workdir: /tmp\n    env:\n      A: {a}\n      B: from-template\n"
    )
}

const GRADER: &str = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: grader\nspec:\n  template: runner\n  env:\n    B: from-sandbox\n    C: own\n";

async fn sh(ws: &TestWorkspace, podman: &Podman, name: &str, script: &str) -> (i64, String) {
    let (code, out) = ws.exec(podman, name, &["sh", "-c", script]).await;
    (code, out.trim().to_string())
}

#[tokio::test]
async fn a_sandbox_runs_with_its_templates_fields_and_a_template_edit_recreates_only_its_sandboxes()
{
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("templates.yaml", &runner_template("from-template"));
    ws.write("grader.yaml", GRADER);
    ws.write("other.yaml", &sandbox("other", "  env: {A: untouched}\n"));
    ws.pd_ok(&["apply", "--wait", "--timeout", "60s"]);

    // Both maps merged, the sandbox's value winning; the template's scalar fields too.
    assert_eq!(
        sh(&ws, podman, "grader", "echo $A $B $C; pwd").await,
        (0, "from-template from-sandbox own\n/tmp".into())
    );
    let before = ws.running_ids(podman).await;

    // What a template gives is visible without a sandbox.
    let (_, listed) = ws.pd_json(&["template", "list"]);
    let names: Vec<(&str, bool)> = listed[0]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["builtin"] == true))
        .collect();
    assert_eq!(
        names,
        [
            ("code-executor", true),
            ("integration-test", true),
            ("workshop", true),
            ("runner", false)
        ]
    );
    let (_, shown) = ws.pd_json(&["template", "show", "runner"]);
    assert_eq!(shown[0]["spec"]["env"]["A"], "from-template");
    assert_eq!(shown[0]["spec"]["image"], TEST_IMAGE);
    let run = ws.pd(&["template", "show", "runer"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("did you mean `runner`?"),
        "{}",
        run.stderr_text()
    );

    // A converged workspace: nothing to do.
    ws.pd_ok(&["diff"]);

    // The template is edited: its sandbox is made again, the other one is not touched.
    ws.write("templates.yaml", &runner_template("edited"));
    let diff = ws.pd(&["diff"]);
    assert_eq!(diff.code, Some(1), "{}", diff.stdout_text());
    assert!(
        diff.stdout_text().contains("Sandbox/grader")
            && !diff.stdout_text().contains("Sandbox/other"),
        "{}",
        diff.stdout_text()
    );
    ws.pd_ok(&["apply", "--wait", "--timeout", "60s"]);
    let after = ws.running_ids(podman).await;
    assert_ne!(
        after["grader"], before["grader"],
        "grader was not recreated"
    );
    assert_eq!(after["other"], before["other"], "other was recreated");
    assert_eq!(
        sh(&ws, podman, "grader", "echo $A $B $C").await,
        (0, "edited from-sandbox own".into())
    );
    assert_eq!(
        sh(&ws, podman, "other", "echo $A").await,
        (0, "untouched".into())
    );

    // A half-saved template: apply refuses (exit 2) and nothing is recreated or removed.
    ws.write(
        "templates.yaml",
        &format!("{}    C: [unclosed\n", runner_template("broken")),
    );
    let run = ws.pd(&["apply"]);
    assert_eq!(
        run.code,
        Some(2),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(ws.running_ids(podman).await, after);

    // The same fields moved from the template into the sandbox: no recreation (the merged
    // spec is what counts, not where it is written).
    ws.remove("templates.yaml");
    ws.write(
        "grader.yaml",
        &format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: grader\nspec:\n  image: {TEST_IMAGE}\n  workdir: /tmp\n  env:\n    A: edited\n    B: from-sandbox\n    C: own\n"
        ),
    );
    ws.pd_ok(&["diff"]);
}

#[tokio::test]
async fn a_sandbox_of_the_built_in_code_executor_runs_locked_without_network() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "runner.yaml",
        &format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: runner\nspec:\n  template: code-executor\n  image: {TEST_IMAGE}\n"
        ),
    );
    // A sandbox may weaken its template (the files are the user's own; an enforced
    // Workspace policy is what refuses it): `get -o wide` shows what it became.
    ws.write(
        "weakened.yaml",
        &format!(
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: weakened\nspec:\n  template: code-executor\n  image: {TEST_IMAGE}\n  security: {{profile: default}}\n"
        ),
    );
    ws.pd_ok(&["apply", "--wait", "--timeout", "60s"]);
    assert_eq!(
        sh(&ws, podman, "runner", "id -u").await,
        (0, "65534".into())
    );
    assert_eq!(sh(&ws, podman, "weakened", "id -u").await, (0, "0".into()));
    let table = ws.pd_ok(&["get", "-o", "wide"]).stdout_text();
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with("Sandbox") && l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("{table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert!(
        row("runner").ends_with(&["locked", "code-executor", "-"]),
        "{table}"
    );
    assert!(
        row("weakened").ends_with(&["default", "code-executor", "-"]),
        "{table}"
    );
    // Read-only root, loopback only.
    assert_ne!(sh(&ws, podman, "runner", "touch /x").await.0, 0);
    let (_, links) = sh(&ws, podman, "runner", "ls /sys/class/net").await;
    assert_eq!(links, "lo");
}

#[tokio::test]
async fn under_the_controller_a_template_edit_recreates_its_sandbox_and_a_broken_one_changes_nothing()
 {
    use std::time::Duration;

    use crate::support::controller::{Running, running, until};

    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("templates.yaml", &runner_template("one"));
    ws.write("grader.yaml", GRADER);
    ws.write("other.yaml", &sandbox("other", ""));
    let controller = Running::start(&ws, podman);
    until(Duration::from_secs(30), "both to run", || async {
        running(&ws, podman, "grader").await.is_some()
            && running(&ws, podman, "other").await.is_some()
    })
    .await;
    let grader = running(&ws, podman, "grader").await.unwrap();
    let other = running(&ws, podman, "other").await.unwrap();

    // Half-saved: nothing is recreated or pruned, however long it stays broken.
    ws.write(
        "templates.yaml",
        &format!("{}    C: [unclosed\n", runner_template("two")),
    );
    // A pass has seen it: the workspace's status names the problem, and the sandbox made
    // from the template says it is held at its last valid version.
    until(
        Duration::from_secs(20),
        "the broken template to be seen",
        || async {
            std::fs::read_to_string(ws.path(".pocket-dock/status/workspace.yaml"))
                .is_ok_and(|t| t.contains(".pocket-dock/templates.yaml"))
                && std::fs::read_to_string(ws.path(".pocket-dock/status/sandbox/grader.yaml"))
                    .is_ok_and(|t| t.contains("InvalidSpec"))
        },
    )
    .await;
    assert_eq!(
        running(&ws, podman, "grader").await.as_deref(),
        Some(grader.as_str()),
        "{}",
        controller.log()
    );

    // Saved whole: the sandbox made from it is made again, the other is not.
    ws.write("templates.yaml", &runner_template("two"));
    until(
        Duration::from_secs(30),
        "grader to be recreated",
        || async {
            running(&ws, podman, "grader")
                .await
                .is_some_and(|id| id != grader)
        },
    )
    .await;
    assert_eq!(
        sh(&ws, podman, "grader", "echo $A").await,
        (0, "two".into())
    );
    assert_eq!(running(&ws, podman, "other").await, Some(other));
    let (code, _, log) = controller.stop();
    assert_eq!(code, Some(0), "{log}");
}
