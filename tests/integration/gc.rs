//! Nothing is left behind, against real Podman: a `run` killed with SIGKILL is swept by the
//! next `run` and by `gc`; `gc --dry-run` lists and removes nothing; `gc` removes what this
//! workspace no longer declares; `gc --all-workspaces` removes what a deleted workspace
//! left, and never a live workspace's objects, a foreign container, or (without
//! `--volumes`) a volume.

use std::time::{Duration, Instant};

use pocket_dock::engine::labels::{LEASE_PID, LEASE_START};
use pocket_dock::engine::labels::{MANAGED_BY, MANAGED_BY_VALUE, WORKSPACE, WORKSPACE_PATH};

use crate::support::cli;
use crate::support::workspace::{TestWorkspace, sandbox};
use crate::support::{Podman, TEST_IMAGE};

/// Ids of containers whose name matches `name` (Podman's name filter is a regex).
fn containers_named(podman: &Podman, name: &str) -> Vec<String> {
    let out = podman.podman(&["ps", "-aq", "--filter", &format!("name=^{name}$")]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// What `podman <what> ls` lists with a label (containers, images, volumes).
fn listed_with_label(podman: &Podman, what: &str, label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    let args: Vec<&str> = match what {
        "container" => vec!["ps", "-a", "--format", "{{.Names}}", "--filter", &filter],
        "image" => vec![
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            &filter,
        ],
        "network" => vec![
            "network",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            &filter,
        ],
        _ => vec!["volume", "ls", "--format", "{{.Name}}", "--filter", &filter],
    };
    // Podman's image listing fails whole when another test removes an image meanwhile
    // ("image not known"); it is a read, so it is taken again.
    let mut out = podman.podman(&args);
    for _ in 0..3 {
        if out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("not known") {
            break;
        }
        out = podman.podman(&args);
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn label_of(podman: &Podman, container: &str, key: &str) -> String {
    let format = format!("{{{{index .Config.Labels \"{key}\"}}}}");
    let out = podman.podman(&["inspect", "--format", &format, container]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Starts `run --name NAME` with a long command and kills it with SIGKILL once its
/// container runs; returns when the process is gone, its container left behind.
fn killed_run(ws: &TestWorkspace, podman: &Podman, name: &str) {
    let run = cli::run(
        ws.command(&["run", "--name", name, TEST_IMAGE, "--", "sleep", "60"]),
        |pid| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while containers_named(podman, name).is_empty() {
                assert!(Instant::now() < deadline, "run never created its container");
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(500));
            std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
        },
    );
    assert_eq!(run.code, None, "killed by a signal: {}", run.stderr_text());
    assert_eq!(
        containers_named(podman, name).len(),
        1,
        "SIGKILL left the container behind"
    );
}

#[test]
fn a_run_killed_with_sigkill_is_swept_by_the_next_run_and_by_gc() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let first = format!("pd-gc-killed-{}", std::process::id());
    killed_run(&ws, podman, &first);
    // Its lease names the process that is gone; its folder is recorded.
    assert!(!label_of(podman, &first, LEASE_PID).is_empty());
    assert!(!label_of(podman, &first, LEASE_START).is_empty());
    assert_eq!(
        label_of(podman, &first, WORKSPACE_PATH),
        ws.root().canonicalize().unwrap().display().to_string()
    );

    // The next run (of anything) removes it first.
    ws.pd_ok(&["run", TEST_IMAGE, "--", "true"]);
    assert!(containers_named(podman, &first).is_empty(), "swept by run");

    // And gc: listed by --dry-run, which leaves it; removed by gc.
    let second = format!("pd-gc-killed2-{}", std::process::id());
    killed_run(&ws, podman, &second);
    let (run, values) = ws.pd_json(&["gc", "--dry-run"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let collect = values[0]["collect"].as_array().unwrap();
    let item = collect
        .iter()
        .find(|i| i["name"] == second.as_str())
        .unwrap_or_else(|| panic!("{second} not listed: {}", values[0]));
    assert_eq!(item["type"], "container");
    assert_eq!(item["key"]["kind"], "Run");
    assert!(
        item["reason"].as_str().unwrap().contains("is gone"),
        "{item}"
    );
    assert_eq!(containers_named(podman, &second).len(), 1, "dry run");

    let run = ws.pd_ok(&["gc"]);
    assert!(
        run.stdout_text()
            .contains(&format!("container {second} (Run/{second}) removed")),
        "{}",
        run.stdout_text()
    );
    assert!(
        containers_named(podman, &second).is_empty(),
        "removed by gc"
    );

    // And apply, which sweeps only when its observation saw a leased `run` container.
    let third = format!("pd-gc-killed3-{}", std::process::id());
    killed_run(&ws, podman, &third);
    ws.write("s.yaml", &sandbox("s", ""));
    ws.pd_ok(&["apply"]);
    assert!(
        containers_named(podman, &third).is_empty(),
        "swept by apply"
    );
    ws.remove("s.yaml");
    ws.pd_ok(&["apply"]);

    // A kept run has no lease and survives both.
    let kept = format!("pd-gc-kept-{}", std::process::id());
    ws.pd_ok(&["run", "--keep", "--name", &kept, TEST_IMAGE, "--", "true"]);
    assert!(label_of(podman, &kept, LEASE_PID).is_empty());
    ws.pd_ok(&["run", TEST_IMAGE, "--", "true"]);
    ws.pd_ok(&["gc"]);
    assert_eq!(containers_named(podman, &kept).len(), 1);
    assert!(podman.podman(&["rm", "-f", &kept]).status.success());
}

#[test]
fn gc_dry_run_lists_and_gc_removes_what_this_workspace_no_longer_declares() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write("a.yaml", &sandbox("a", ""));
    ws.write("b.yaml", &sandbox("b", ""));
    ws.pd_ok(&["apply"]);
    let own = ws.ownership();
    let workspace_label = format!("{WORKSPACE}={}", own.workspace);
    assert_eq!(
        listed_with_label(podman, "container", &workspace_label).len(),
        2
    );
    ws.remove("b.yaml");
    // A temp file of an interrupted write by a process that cannot exist (beyond pid_max).
    let temp = ws.path(".pocket-dock/status/sandbox/a.yaml.tmp-4194305");
    std::fs::write(&temp, "half").unwrap();

    let run = ws.pd_ok(&["gc", "--dry-run"]);
    let text = run.stdout_text();
    assert!(
        text.contains("(Sandbox/b) would be removed: no longer declared"),
        "{text}"
    );
    assert!(
        text.contains("a.yaml.tmp-4194305 would be removed"),
        "{text}"
    );
    assert!(text.contains("2 to remove"), "{text}");
    assert!(!text.contains("Sandbox/a"), "{text}");
    assert_eq!(
        listed_with_label(podman, "container", &workspace_label).len(),
        2,
        "--dry-run removed nothing"
    );
    assert!(temp.exists());

    let run = ws.pd_ok(&["gc"]);
    assert!(
        run.stdout_text().contains("gc: 2 removed"),
        "{}",
        run.stdout_text()
    );
    assert_eq!(
        listed_with_label(podman, "container", &workspace_label),
        [own.container_name(pocket_dock_spec::Kind::Sandbox, "a")]
    );
    assert!(!temp.exists());
    // Nothing left to do.
    let run = ws.pd_ok(&["gc"]);
    assert!(
        run.stdout_text().contains("nothing to remove"),
        "{}",
        run.stdout_text()
    );

    // An invalid file: nothing is collected, exit 2.
    ws.write("a.yaml", "kind: [\n");
    let run = ws.pd(&["gc"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(run.stderr_text().contains("nothing was collected"));
    assert_eq!(
        listed_with_label(podman, "container", &workspace_label).len(),
        1
    );
    ws.write("a.yaml", &sandbox("a", ""));
    ws.pd_ok(&["delete", "--all"]);
}

#[test]
fn gc_all_workspaces_removes_a_deleted_workspaces_objects_and_nothing_else() {
    let podman = Podman::shared();
    let live = TestWorkspace::new(podman);
    live.write("a.yaml", &sandbox("a", ""));
    live.pd_ok(&["apply"]);

    let doomed = TestWorkspace::new(podman);
    doomed.write(
        "a.yaml",
        &format!(
            "{}---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {{name: data}}\n\
             ---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Snapshot\nmetadata: {{name: snap}}\nspec: {{sandbox: a, generation: 1}}\n",
            sandbox("a", "")
        ),
    );
    doomed.pd_ok(&["apply"]);
    let doomed_label = format!("{WORKSPACE}={}", doomed.ownership().workspace);
    let live_label = format!("{WORKSPACE}={}", live.ownership().workspace);
    assert_eq!(
        listed_with_label(podman, "container", &doomed_label).len(),
        1
    );
    assert_eq!(listed_with_label(podman, "image", &doomed_label).len(), 1);
    assert_eq!(listed_with_label(podman, "volume", &doomed_label).len(), 1);

    // A container pocket-dock did not make, and one an older pocket-dock made (no path).
    let pid = std::process::id();
    let foreign = format!("pd-gc-foreign-{pid}");
    let older = format!("pd-gc-older-{pid}");
    for (name, labels) in [
        (&foreign, vec![]),
        (
            &older,
            vec![
                format!("{MANAGED_BY}={MANAGED_BY_VALUE}"),
                format!("{WORKSPACE}=older-{pid}"),
                "pocket-dock.dev/kind=Sandbox".to_string(),
                "pocket-dock.dev/name=a".to_string(),
            ],
        ),
    ] {
        let mut args = vec!["create".to_string(), "--name".to_string(), name.clone()];
        for l in labels {
            args.extend(["--label".to_string(), l]);
        }
        args.extend([TEST_IMAGE.to_string(), "true".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = podman.podman(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The workspace's folder is deleted; gc runs from the live one.
    let doomed_path = doomed.root().canonicalize().unwrap().display().to_string();
    std::fs::remove_dir_all(doomed.root()).unwrap();

    // Without --all-workspaces, other workspaces are not looked at.
    live.pd_ok(&["gc"]);
    assert_eq!(
        listed_with_label(podman, "container", &doomed_label).len(),
        1
    );

    let (run, values) = live.pd_json(&["gc", "--all-workspaces"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let report = &values[0];
    let removed: Vec<&serde_json::Value> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["workspace_path"] == doomed_path.as_str())
        .collect();
    let mut types: Vec<&str> = removed
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["container", "image", "network"],
        "the sandbox, the snapshot image and the workspace's network: {report}"
    );
    assert!(
        removed
            .iter()
            .all(|i| i["reason"].as_str().unwrap().contains("is gone")),
        "{report}"
    );
    assert!(listed_with_label(podman, "container", &doomed_label).is_empty());
    assert!(listed_with_label(podman, "image", &doomed_label).is_empty());
    assert!(listed_with_label(podman, "network", &doomed_label).is_empty());
    // The volume is kept, and the report says how to remove it.
    assert_eq!(listed_with_label(podman, "volume", &doomed_label).len(), 1);
    let kept_volume = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "volume" && i["workspace_path"] == doomed_path.as_str())
        .unwrap_or_else(|| panic!("volume not reported as kept: {report}"));
    assert!(
        kept_volume["reason"]
            .as_str()
            .unwrap()
            .contains("--volumes")
    );
    assert!(report["without_path"].as_u64().unwrap() >= 1, "{report}");

    // The live workspace, the foreign and the older container are untouched.
    assert_eq!(listed_with_label(podman, "container", &live_label).len(), 1);
    assert_eq!(containers_named(podman, &foreign).len(), 1);
    assert_eq!(containers_named(podman, &older).len(), 1);

    let run = live.pd_ok(&["gc", "--all-workspaces", "--volumes"]);
    assert!(
        run.stdout_text().contains("(Volume/data) removed"),
        "{}",
        run.stdout_text()
    );
    assert!(listed_with_label(podman, "volume", &doomed_label).is_empty());
    assert_eq!(listed_with_label(podman, "container", &live_label).len(), 1);
    assert_eq!(containers_named(podman, &foreign).len(), 1);

    for name in [&foreign, &older] {
        assert!(podman.podman(&["rm", "-f", name]).status.success());
    }
    live.pd_ok(&["delete", "--all"]);
}
