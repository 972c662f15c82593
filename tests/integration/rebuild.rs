//! Forced rebuilds (`apply --rebuild`, `--no-cache`), build timeouts and `reset`, against
//! real Podman.

use std::time::{Duration, Instant};

use pocket_dock::engine::Capability;

use crate::support::workspace::{TestWorkspace, actions};
use crate::support::{Need, Podman, requires};

const HEADER: &str = "apiVersion: pocket-dock.dev/v1alpha1";

/// An Image built from `context` on `from`.
fn built(name: &str, context: &str, from: &str, extra: &str) -> String {
    format!(
        "---\n{HEADER}\nkind: Image\nmetadata: {{name: {name}}}\nspec:\n  build:\n    context: {context}\n    from: {{image: {from}}}\n{extra}"
    )
}

/// A Sandbox running Image `image`.
fn on(name: &str, image: &str, extra: &str) -> String {
    format!(
        "---\n{HEADER}\nkind: Sandbox\nmetadata: {{name: {name}}}\nspec:\n  imageFrom: {{image: {image}}}\n{extra}"
    )
}

fn base() -> String {
    format!("---\n{HEADER}\nkind: Image\nmetadata: {{name: base}}\nspec: {{embedded: base}}\n")
}

/// A context whose one step writes something new at every run.
fn stamped(ws: &TestWorkspace, dir: &str, file: &str) {
    std::fs::create_dir_all(ws.path(dir)).unwrap();
    std::fs::write(
        ws.path(&format!("{dir}/Containerfile")),
        format!("FROM base\nRUN cat /proc/sys/kernel/random/uuid > /{file}\n"),
    )
    .unwrap();
}

fn json_apply(ws: &TestWorkspace, args: &[&str]) -> Vec<String> {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    let (run, out) = ws.pd_json(&all);
    assert_eq!(
        run.code,
        Some(0),
        "{}\n{}",
        run.stdout_text(),
        run.stderr_text()
    );
    actions(&out)
}

fn image_id(ws: &TestWorkspace, name: &str) -> String {
    let (run, out) = ws.pd_json(&["image", "inspect", name]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    out[0]["id"].as_str().unwrap().to_string()
}

async fn cat(ws: &TestWorkspace, podman: &Podman, sandbox: &str, file: &str) -> String {
    let (code, out) = ws.exec(podman, sandbox, &["cat", file]).await;
    assert_eq!(code, 0, "cat {file} in {sandbox}");
    out.trim().to_string()
}

#[tokio::test]
async fn a_forced_rebuild_remakes_the_image_and_what_is_built_on_it_and_moves_their_sandboxes() {
    if !requires(
        "rebuild::a_forced_rebuild_remakes_the_image_and_what_is_built_on_it_and_moves_their_sandboxes",
        &[Need::Engine(Capability::Build)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    stamped(&ws, "s1", "stamp1");
    stamped(&ws, "s2", "stamp2");
    stamped(&ws, "sib", "stamp-sibling");
    ws.write(
        "images.yaml",
        &[
            base(),
            built("step1", "s1", "base", ""),
            built("step2", "s2", "step1", ""),
            built("sibling", "sib", "base", ""),
            on("one", "step1", ""),
            on("two", "step2", ""),
            on("side", "sibling", ""),
        ]
        .concat(),
    );
    let first = json_apply(&ws, &[]);
    assert!(
        first.contains(&"build Image/step2".to_string()),
        "{first:?}"
    );
    let ids = |ws: &TestWorkspace| ["base", "step1", "step2", "sibling"].map(|n| image_id(ws, n));
    let before = ids(&ws);

    // A plain apply builds nothing.
    assert_eq!(json_apply(&ws, &[]), Vec::<String>::new());
    assert_eq!(ids(&ws), before);

    // The plan shows the rebuild and why.
    let dry = ws.pd_ok(&["apply", "--dry-run", "--rebuild", "step1"]);
    let text = dry.stdout_text();
    assert!(
        text.contains("Image/step1") && text.contains("forced by --rebuild"),
        "{text}"
    );
    assert!(
        text.contains("built on Image/step1, which is rebuilt (--rebuild)"),
        "{text}"
    );
    assert!(!text.contains("Image/sibling"), "{text}");

    // With the layer cache allowed: whether the engine gives the result a new id or the
    // same one (a full cache hit), a sandbox is recreated exactly when the id of its image
    // changed.
    let cached = json_apply(&ws, &["--rebuild", "step1"]);
    let cached_ids = ids(&ws);
    assert_eq!(cached_ids[0], before[0]);
    assert_eq!(cached_ids[3], before[3], "the sibling is not rebuilt");
    let mut expected = vec!["build Image/step1", "build Image/step2"];
    if cached_ids[1] != before[1] {
        expected.push("recreate Sandbox/one");
    }
    if cached_ids[2] != before[2] {
        expected.push("recreate Sandbox/two");
    }
    let made: Vec<&str> = cached
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("remove-image"))
        .collect();
    assert_eq!(made, expected, "{cached:?}");
    // (Whether the step ran again is the engine's cache's call: Podman 4.3's build API
    // misses it for RUN steps, Docker's classic builder hits it.)
    let stamp = cat(&ws, podman, "one", "/stamp1").await;
    let containers = ws.running_ids(podman).await;
    let before = cached_ids;

    // Without it, step 1 runs again: new ids for step1 and step2, their sandboxes
    // recreated; the sibling, the base and its sandbox untouched.
    let fresh = json_apply(&ws, &["--rebuild", "step1", "--no-cache"]);
    let made: Vec<&String> = fresh
        .iter()
        .filter(|a| !a.starts_with("remove-image"))
        .collect();
    assert_eq!(
        made,
        [
            "build Image/step1",
            "build Image/step2",
            "recreate Sandbox/one",
            "recreate Sandbox/two"
        ],
        "{fresh:?}"
    );
    let after = ids(&ws);
    assert_eq!(after[0], before[0], "base untouched");
    assert_ne!(after[1], before[1], "step1 rebuilt");
    assert_ne!(after[2], before[2], "step2 rebuilt on it");
    assert_eq!(after[3], before[3], "sibling untouched");
    let now = ws.running_ids(podman).await;
    assert_eq!(now["side"], containers["side"]);
    assert_ne!(now["one"], containers["one"]);
    assert_ne!(now["two"], containers["two"]);
    assert_ne!(
        cat(&ws, podman, "one", "/stamp1").await,
        stamp,
        "the step ran again"
    );
    // The builds the tags left are gone (no container runs them any more).
    assert!(
        fresh.contains(&"remove-image Image/step2".to_string()),
        "{fresh:?}"
    );
    // (By id: other tests on this engine leave nameless images of their own.)
    for old in [&before[1], &before[2]] {
        let gone = !podman.podman(&["image", "exists", old]).status.success();
        assert!(gone, "{old} is still there");
    }
    assert_eq!(json_apply(&ws, &[]), Vec::<String>::new(), "converged");

    // An unknown name is refused before anything changes, with the closest name.
    let run = ws.pd(&["apply", "--rebuild", "stepp1"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    let err = run.stderr_text();
    assert!(
        err.contains("Image/stepp1") && err.contains("did you mean `step1`"),
        "{err}"
    );
    assert!(err.contains("base, sibling, step1, step2"), "{err}");
    assert_eq!(ids(&ws), after);
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn a_build_that_overruns_its_timeout_fails_with_the_timeout_exit_code() {
    if !requires(
        "rebuild::a_build_that_overruns_its_timeout_fails_with_the_timeout_exit_code",
        &[Need::Engine(Capability::Build)],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    std::fs::create_dir_all(ws.path("slow")).unwrap();
    std::fs::write(ws.path("slow/Containerfile"), "FROM base\nRUN sleep 30\n").unwrap();
    let declared = |timeout: &str| {
        [
            base(),
            built("slow", "slow", "base", timeout),
            on("user", "slow", ""),
        ]
        .concat()
    };
    // The declared timeout wins over the flag.
    ws.write("images.yaml", &declared("    timeout: 2s\n"));
    let started = Instant::now();
    let run = ws.pd(&["apply", "--build-timeout", "10m"]);
    let took = started.elapsed();
    assert_eq!(
        run.code,
        Some(5),
        "{}\n{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(took < Duration::from_secs(25), "took {took:?}");
    let text = run.stdout_text();
    assert!(
        text.contains("the build of Image/slow timed out after 2s")
            && text.contains("build.timeout")
            && text.contains("--build-timeout"),
        "{text}"
    );
    // Without one, the flag decides.
    ws.write("images.yaml", &declared(""));
    let started = Instant::now();
    let run = ws.pd(&["--output", "json", "apply", "--build-timeout", "2s"]);
    let took = started.elapsed();
    assert_eq!(run.code, Some(5), "{}", run.stdout_text());
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert!(
        run.stdout_text().contains("\"category\":\"timeout\""),
        "{}",
        run.stdout_text()
    );
    assert!(!ws.sandboxes(podman).await.contains_key("user"));
    ws.pd(&["delete", "--all"]);
}

/// A Sandbox on the test image with `mounts`.
fn mounting(name: &str, mounts: &[(&str, &str)]) -> String {
    let mut text = format!(
        "---\n{HEADER}\nkind: Sandbox\nmetadata: {{name: {name}}}\nspec:\n  image: {}\n  mounts:\n",
        crate::support::podman::TEST_IMAGE
    );
    for (volume, target) in mounts {
        text.push_str(&format!(
            "  - {{type: volume, source: {volume}, target: {target}}}\n"
        ));
    }
    text
}

fn volume(name: &str) -> String {
    format!("---\n{HEADER}\nkind: Volume\nmetadata: {{name: {name}}}\n")
}

/// Runs `pocket-dock ARGS` on a pseudo-terminal (util-linux `script`), typing `input`:
/// its exit code and everything it wrote.
fn on_a_terminal(ws: &TestWorkspace, args: &str, input: &str) -> (Option<i32>, String) {
    use std::io::Write as _;
    let inner = ws.command(&[]);
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qec",
        &format!("{} {args}", crate::support::cli::binary()),
        "/dev/null",
    ])
    .current_dir(ws.root());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    // Typed once the question is up: a terminal in canonical mode keeps the line anyway.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn reset_makes_the_sandbox_again_keeping_its_volumes_unless_asked() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "all.yaml",
        &[
            volume("notes"),
            volume("shared"),
            mounting("box", &[("notes", "/notes")]),
            mounting("a", &[("shared", "/shared")]),
            mounting("b", &[("shared", "/shared")]),
        ]
        .concat(),
    );
    ws.pd_ok(&["apply"]);
    let ws = &ws;
    let write = |file: &'static str| async move {
        let (code, _) = ws
            .exec(podman, "box", &["sh", "-c", &format!("echo kept > {file}")])
            .await;
        assert_eq!(code, 0);
    };
    let exists = |file: &'static str| async move {
        ws.exec(podman, "box", &["test", "-e", file]).await.0 == 0
    };
    write("/in-container").await;
    write("/notes/in-volume").await;
    let before = ws.running_ids(podman).await;

    // Unknown: refused with the closest name.
    let run = ws.pd(&["reset", "bxo"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("Sandbox/bxo"),
        "{}",
        run.stderr_text()
    );

    // Plain reset: a new container, the container's file gone, the volume's kept.
    let (run, out) = ws.pd_json(&["reset", "box"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}\n{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let reset = out.iter().find(|v| v["event"] == "reset").unwrap();
    assert_eq!(reset["kept_volumes"], serde_json::json!(["notes"]));
    assert_eq!(reset["removed_volumes"], serde_json::json!([]));
    assert_eq!(actions(&out), ["create Sandbox/box"]);
    let after = ws.running_ids(podman).await;
    assert_ne!(after["box"], before["box"]);
    assert_eq!(after["a"], before["a"], "others untouched");
    assert!(!exists("/in-container").await);
    assert!(exists("/notes/in-volume").await);

    // --volumes without --yes and without a terminal: refused, nothing changed.
    let run = ws.pd(&["reset", "box", "--volumes"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(run.stderr_text().contains("--yes"), "{}", run.stderr_text());
    assert_eq!(ws.running_ids(podman).await, after);
    assert!(exists("/notes/in-volume").await);

    // On a terminal it asks; anything but yes changes nothing.
    let (code, text) = on_a_terminal(ws, "reset box --volumes", "n\n");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("remove volumes notes of Sandbox/box, deleting their data? [y/N]")
            && text.contains("nothing was changed"),
        "{text}"
    );
    assert_eq!(ws.running_ids(podman).await, after);
    assert!(exists("/notes/in-volume").await);

    // A volume another sandbox mounts is not removed from under it.
    let run = ws.pd(&["reset", "a", "--volumes", "--yes"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text()
            .contains("Volume/shared is also mounted by Sandbox/b"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(ws.running_ids(podman).await, after);

    // --volumes --yes: the volume made again, empty.
    let (run, out) = ws.pd_json(&["reset", "box", "--volumes", "--yes"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}\n{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(
        actions(&out),
        ["create Sandbox/box", "create-volume Volume/notes"]
    );
    assert!(!exists("/notes/in-volume").await);

    // The event log has the resets.
    let (_, events) = ws.pd_json(&["events", "--source", "reset"]);
    let objects: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["object"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        objects.contains(&"remove Sandbox/box".to_string())
            && objects.contains(&"remove Volume/notes".to_string())
            && objects.contains(&"create Sandbox/box".to_string()),
        "{objects:?}"
    );
    ws.pd(&["delete", "--all", "--volumes"]);
}

#[tokio::test]
async fn a_pull_that_overruns_its_timeout_fails_with_the_timeout_exit_code() {
    // A "registry" that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "images.yaml",
        &format!(
            "---\n{HEADER}\nkind: Image\nmetadata: {{name: stuck}}\nspec:\n  from:\n    reference: 127.0.0.1:{port}/stuck/tools:1\n    timeout: 2s\n{}",
            on("user", "stuck", "")
        ),
    );
    let started = Instant::now();
    let run = ws.pd(&["apply", "--pull-timeout", "10m"]);
    let took = started.elapsed();
    assert_eq!(
        run.code,
        Some(5),
        "{}\n{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert!(took < Duration::from_secs(25), "took {took:?}");
    let text = run.stdout_text();
    assert!(
        text.contains("the pull of Image/stuck timed out after 2s")
            && text.contains("from.timeout")
            && text.contains("--pull-timeout"),
        "{text}"
    );
    assert!(!ws.sandboxes(podman).await.contains_key("user"));
}
