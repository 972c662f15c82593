//! `export quadlet` checked by Quadlet itself: the generator of a newer Podman (5.8, from
//! the debootstrap root `scripts/compat.sh` builds; `scripts/test.sh` builds it before the
//! host tests) turns every unit into a service, in `-dryrun`, and the services' `ExecStart`
//! lines say what the workspace declares. No engine is needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::cli;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Podman 5.8 root: `POCKET_DOCK_QUADLET_ROOT`, else `target/compat/5.8/root`. Missing,
/// the test fails and says how to make it (it is never skipped).
fn quadlet_root() -> PathBuf {
    let root = std::env::var_os("POCKET_DOCK_QUADLET_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/compat/5.8/root"));
    assert!(
        root.join("usr/libexec/podman/quadlet").is_file(),
        "no Quadlet generator at {}/usr/libexec/podman/quadlet: build the Podman 5.8 root \
         with `sudo scripts/compat.sh 5.8` (scripts/test.sh does it first), or point \
         POCKET_DOCK_QUADLET_ROOT at a root that has it",
        root.display()
    );
    root
}

/// Runs the root's `quadlet -dryrun` on the units in `dir` with the root's own loader and
/// libraries; the services by name.
fn generate(dir: &Path) -> BTreeMap<String, String> {
    let root = quadlet_root();
    let libs = format!(
        "{}:{}",
        root.join("lib/x86_64-linux-gnu").display(),
        root.join("usr/lib/x86_64-linux-gnu").display()
    );
    let out = Command::new(root.join("lib64/ld-linux-x86-64.so.2"))
        .arg("--library-path")
        .arg(libs)
        .arg(root.join("usr/libexec/podman/quadlet"))
        .arg("-dryrun")
        .env("QUADLET_UNIT_DIRS", dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "quadlet failed: {stderr}");
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("Loading source unit file"))
        .collect();
    assert!(complaints.is_empty(), "quadlet complained: {complaints:#?}");
    let mut services = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("---").and_then(|l| l.strip_suffix("---")) {
            if let Some((n, t)) = current.take() {
                services.insert(n, t);
            }
            current = Some((name.to_string(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some((n, t)) = current {
        services.insert(n, t);
    }
    services
}

fn exec_start(services: &BTreeMap<String, String>, name: &str) -> String {
    let text = services
        .get(name)
        .unwrap_or_else(|| panic!("no {name}; services: {:?}", services.keys()));
    text.lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{name} has no ExecStart: {text}"))
        .to_string()
}

fn export(example: &str, out: &Path) -> serde_json::Value {
    let dir = repo().join("examples/workspaces").join(example);
    let run = cli::pd(
        &repo(),
        &[],
        &[
            "-C",
            dir.to_str().unwrap(),
            "-o",
            "json",
            "export",
            "quadlet",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    serde_json::from_str(&run.stdout_text()).unwrap()
}

#[test]
fn quadlet_accepts_the_basic_example_and_runs_what_it_declares() {
    let out = tempfile::Builder::new()
        .prefix("pd-quadlet-")
        .tempdir()
        .unwrap();
    let report = export("basic", out.path());
    let units: Vec<&str> = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert_eq!(
        units,
        [
            "default.network",
            "shell.container",
            "web.container",
            "work-data.volume",
            "worker.container"
        ]
    );
    let services = generate(out.path());
    assert_eq!(
        services.keys().collect::<Vec<_>>(),
        [
            "default-network.service",
            "shell.service",
            "web.service",
            "work-data-volume.service",
            "worker.service"
        ]
    );
    let site = repo()
        .join("examples/workspaces/basic/site")
        .canonicalize()
        .unwrap();
    let web = exec_start(&services, "web.service");
    for expected in [
        "/usr/bin/podman run ",
        "--name web ",
        "--publish 127.0.0.1:18080:8080",
        &format!("-v {}:/site:ro", site.display()),
        "--network systemd-default",
        "--health-cmd ",
        "--entrypoint=httpd ",
        "localhost/pocket-dock-demo/busybox:1 -f -p 8080 -h /site",
    ] {
        assert!(web.contains(expected), "{expected:?} not in {web}");
    }
    let worker = exec_start(&services, "worker.service");
    for expected in [
        "--name worker ",
        "-v systemd-work-data:/data",
        "--memory 67108864",
        "--pids-limit 64",
        "--cpus=0.5",
        "--env TARGET=http://web:8080/",
    ] {
        assert!(worker.contains(expected), "{expected:?} not in {worker}");
    }
    let worker_unit = &services["worker.service"];
    assert!(
        worker_unit.contains("After=web.service") && worker_unit.contains("Requires=web.service")
    );
    assert!(services["web.service"].contains("WantedBy=default.target"));
    assert!(exec_start(&services, "work-data-volume.service").contains("podman volume create"));
    assert!(
        report["warnings"].as_array().unwrap().is_empty(),
        "{report}"
    );
}

#[test]
fn quadlet_builds_the_workshop_images_in_order() {
    let out = tempfile::Builder::new()
        .prefix("pd-quadlet-")
        .tempdir()
        .unwrap();
    let report = export("workshop", out.path());
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{report}");
    assert_eq!(warnings[0]["object"], "Image/base");
    assert_eq!(warnings[0]["field"], "embedded");
    let services = generate(out.path());
    let root = repo()
        .join("examples/workspaces/workshop")
        .canonicalize()
        .unwrap();
    for (step, folder, parent) in [
        ("step-1", "steps/1-tools", "localhost/pocket-dock/base:"),
        (
            "step-2",
            "steps/2-project",
            "localhost/pocket-dock-quadlet/step-1:latest",
        ),
        (
            "step-3",
            "steps/3-tests",
            "localhost/pocket-dock-quadlet/step-2:latest",
        ),
    ] {
        let build = exec_start(&services, &format!("{step}-build.service"));
        for expected in [
            "/usr/bin/podman build ".to_string(),
            format!("--tag localhost/pocket-dock-quadlet/{step}:latest"),
            format!("--from={parent}"),
            root.join(folder).display().to_string(),
        ] {
            assert!(build.contains(&expected), "{expected:?} not in {build}");
        }
    }
    assert!(exec_start(&services, "step-3-build.service").contains("--build-arg LEVEL=advanced"));
    assert!(services["step-2-build.service"].contains("After=step-1-build.service"));
    let attendee = exec_start(&services, "attendee.service");
    for expected in [
        "--name attendee ",
        "-v systemd-notes:/notes",
        "--workdir /workshop",
        "localhost/pocket-dock-quadlet/step-2:latest",
    ] {
        assert!(
            attendee.contains(expected),
            "{expected:?} not in {attendee}"
        );
    }
    assert!(services["attendee.service"].contains("Requires=step-2-build.service"));
}
