//! `export kube` against real Podman: the export of examples/workspaces/basic, played with
//! `podman kube play`, serves the example's page on its published port, and
//! `podman kube down` removes it. Plus the command's conventions: `--output json`, exit 2
//! with file:line on invalid declarations, `--out` never through a symlink.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pocket_dock::engine::Capability;

use crate::support::workspace::{TestWorkspace, port};
use crate::support::{Need, Podman, requires};

/// The pods the basic example becomes.
const PODS: [&str; 3] = ["web", "worker", "shell"];

/// Takes down what `kube play` made, also when the test fails half-way.
struct Played<'a> {
    podman: &'a Podman,
    file: PathBuf,
}

impl Drop for Played<'_> {
    fn drop(&mut self) {
        let file = self.file.display().to_string();
        let _ = self.podman.podman(&["kube", "down", &file]);
        let _ = self.podman.podman(&["volume", "rm", "-f", "work-data"]);
    }
}

fn page(host_port: u16) -> String {
    let out = std::process::Command::new("busybox")
        .args([
            // (Not `-T`: Debian 12's busybox wget crashes with it.)
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://127.0.0.1:{host_port}/"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn the_basic_example_exported_plays_in_podman_serves_its_page_and_goes_down() {
    if !requires(
        "export_kube::the_basic_example_exported_plays_in_podman_serves_its_page_and_goes_down",
        &[Need::Engine(Capability::Kube)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let host_port = port(8);
    let ws = TestWorkspace::from_example(
        podman,
        "basic",
        &[("host: 18080", &format!("host: {host_port}"))],
    );
    let file = ws.path("kube.yaml");
    let run = ws.pd_ok(&["export", "kube", "--out", file.to_str().unwrap()]);
    assert!(
        run.stdout_text().starts_with("wrote 5 documents to "),
        "{}",
        run.stdout_text()
    );
    // What cannot be expressed is a warning naming the object and the field.
    let stderr = run.stderr_text();
    for expected in [
        "Sandbox/worker spec.dependsOn",
        "Sandbox/worker spec.resources.pids",
        "Sandbox/shell spec.command",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
    let text = std::fs::read_to_string(&file).unwrap();
    // Read-only: no secret read, so no workspace key made (the worker has `env`).
    assert!(!ws.path(".pocket-dock/secret-key").exists());
    // The bind mount is the copy's own folder, with the comment a cluster needs.
    let site = ws.root().canonicalize().unwrap().join("site");
    assert!(
        text.contains(&format!("path: {}\n", site.display())),
        "{text}"
    );
    assert!(text.contains("# hostPath: "), "{text}");

    // `--output json`: the same documents, and the warnings as data.
    let run = ws.pd_ok(&["export", "kube", "--output", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let kinds: Vec<&str> = value["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["PersistentVolumeClaim", "Pod", "Pod", "Pod", "Service"]
    );
    assert_eq!(value["warnings"].as_array().unwrap().len(), 3, "{value}");
    assert_eq!(value["warnings"][0]["object"], "Sandbox/worker");

    // It runs: podman kube play serves the page on the published port.
    let played = Played {
        podman,
        file: file.clone(),
    };
    let out = podman.podman(&["kube", "play", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "kube play: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    while page(host_port) != "<h1>served by pocket-dock</h1>" {
        if started.elapsed() > Duration::from_secs(30) {
            let ps = podman.podman(&["ps", "-a"]);
            let logs = podman.podman(&["logs", "web-web"]);
            panic!(
                "the played web pod did not serve the page on {host_port} within 30 s:\n{}\n{}{}",
                String::from_utf8_lossy(&ps.stdout),
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for pod in PODS {
        let out = podman.podman(&["pod", "exists", pod]);
        assert!(out.status.success(), "pod {pod} after kube play");
    }

    // And podman kube down removes it.
    let out = podman.podman(&["kube", "down", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "kube down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for pod in PODS {
        let out = podman.podman(&["pod", "exists", pod]);
        assert!(!out.status.success(), "pod {pod} after kube down");
    }
    assert_ne!(page(host_port), "<h1>served by pocket-dock</h1>");
    drop(played);
}

#[tokio::test]
async fn invalid_declarations_exit_2_with_file_and_line_and_out_refuses_a_symlink() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "bad.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: web\nspec:\n  image: localhost/x:1\n  wrokdir: /srv\n",
    );
    let run = ws.pd(&["export", "kube"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains(".pocket-dock/bad.yaml:7"),
        "{}",
        run.stderr_text()
    );
    assert!(
        run.stdout.is_empty(),
        "no manifests from invalid declarations"
    );

    // Valid now; --out onto a symlink is refused and what it points at is untouched.
    ws.write(
        "bad.yaml",
        "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: web\nspec:\n  image: localhost/x:1\n  command: [\"true\"]\n",
    );
    let target = ws.path("precious.txt");
    std::fs::write(&target, "keep me\n").unwrap();
    let link = ws.path("out.yaml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let run = ws.pd(&["export", "kube", "--out", link.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");

    // -C DIR from elsewhere, and an existing regular file is replaced.
    let file = ws.path("manifests.yaml");
    std::fs::write(&file, "old\n").unwrap();
    let run = crate::support::cli::pd(
        std::path::Path::new("/"),
        &[],
        &[
            "-C",
            ws.root().to_str().unwrap(),
            "export",
            "kube",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("kind: Pod\n") && text.contains("name: web\n"),
        "{text}"
    );
}
