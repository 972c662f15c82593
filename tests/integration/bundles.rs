//! Workshops that travel, against real Podman: portable image names shared by two
//! checkouts, pruning that never takes what another workspace uses, bundles of every image
//! a workspace declares (into a fresh engine, then used with zero builds), and images built
//! under the names of earlier versions.

use std::collections::BTreeSet;

use pocket_dock::engine::Capability;

use crate::support::workspace::{TestWorkspace, actions};
use crate::support::{Mode, Need, Podman, requires};

const EXAMPLE: &str = "workshop-branches";
const IMAGES: [&str; 4] = ["base", "basics", "track-shell", "track-text"];

/// A checkout of the example whose first step's content is this test's own, so that no
/// other test on the shared engine has built its images.
fn checkout(podman: &Podman, test: &str) -> TestWorkspace {
    let mine = format!("\"step 1: basics ({test})\"");
    TestWorkspace::from_example(podman, EXAMPLE, &[("\"step 1: basics\"", &mine)])
}

/// Applies, insists on exit 0 and returns the sorted actions.
fn apply_ok(ws: &TestWorkspace) -> Vec<String> {
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(
        run.code,
        Some(0),
        "{}\n{}",
        run.stdout_text(),
        run.stderr_text()
    );
    actions(&out)
}

/// `image inspect NAME` as JSON.
fn inspect(ws: &TestWorkspace, name: &str) -> serde_json::Value {
    let (run, out) = ws.pd_json(&["image", "inspect", name]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    out[0].clone()
}

fn str_of(v: &serde_json::Value, field: &str) -> String {
    v[field].as_str().unwrap_or_default().to_string()
}

fn builds(done: &[String]) -> Vec<&String> {
    done.iter().filter(|a| a.starts_with("build ")).collect()
}

async fn shell(ws: &TestWorkspace, podman: &Podman, sandbox: &str, script: &str) -> String {
    let (code, out) = ws.exec(podman, sandbox, &["sh", "-c", script]).await;
    assert_eq!(code, 0, "{script}: {out}");
    out.trim().to_string()
}

fn image_exists(podman: &Podman, reference: &str) -> bool {
    podman
        .podman(&["image", "exists", reference])
        .status
        .success()
}

#[tokio::test]
async fn two_checkouts_share_one_build_and_pruning_in_one_keeps_what_the_other_uses() {
    if !requires(
        "bundles::two_checkouts_share_one_build_and_pruning_in_one_keeps_what_the_other_uses",
        &[
            Need::Engine(Capability::Build),
            Need::Engine(Capability::Commit),
        ],
    ) {
        return;
    }
    let podman = Podman::shared();
    let a = checkout(podman, "two checkouts");
    let b = checkout(podman, "two checkouts");
    assert_ne!(a.root(), b.root());
    assert_ne!(a.ownership().workspace, b.ownership().workspace);

    let first = apply_ok(&a);
    assert_eq!(builds(&first).len(), 3, "{first:?}");
    // The other checkout builds nothing: it finds every build under its portable name.
    let second = apply_ok(&b);
    assert!(builds(&second).is_empty(), "{second:?}");
    for image in ["basics", "track-shell", "track-text"] {
        assert!(second.contains(&format!("tag Image/{image}")), "{second:?}");
    }
    for name in IMAGES {
        let (ia, ib) = (inspect(&a, name), inspect(&b, name));
        assert_eq!(
            ia["id"], ib["id"],
            "Image/{name}: same id in both checkouts"
        );
        assert_eq!(
            ia["portable"], ib["portable"],
            "Image/{name}: same portable name"
        );
        if name != "base" {
            assert!(
                str_of(&ia, "portable").starts_with("localhost/pocket-dock/images/"),
                "{ia}"
            );
            // Each checkout runs it by its own name, readable in the image's names.
            let names: BTreeSet<String> = ia["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            for wanted in [str_of(&ia, "image"), str_of(&ib, "image")] {
                assert!(names.contains(&wanted), "{names:?} lacks {wanted}");
            }
        }
    }
    // The snapshot is each workspace's own: B took its own generation of its own sandbox.
    let (sa, sb) = (inspect(&a, "midway"), inspect(&b, "midway"));
    assert_ne!(sa["id"], sb["id"]);
    assert_eq!(
        shell(
            &b,
            podman,
            "resumed",
            "cat /workshop/STEP /workshop/progress"
        )
        .await,
        "step 2a: shell scripting\nchapter 1 done"
    );

    // A edits its shell track: A builds it again and lets go of the old one, which B still
    // runs, so it stays (B's name and the portable name keep it).
    let old_shell = inspect(&a, "track-shell");
    std::fs::write(
        a.path("steps/2a-shell/exercise.sh"),
        "# Exercise 2a, edited: print the arguments in reverse.\n",
    )
    .unwrap();
    let edited = apply_ok(&a);
    assert_eq!(builds(&edited), ["build Image/track-shell"], "{edited:?}");
    assert!(
        edited.contains(&"remove-image Image/track-shell".to_string()),
        "{edited:?}"
    );
    assert!(!image_exists(podman, &str_of(&old_shell, "image")));
    assert!(image_exists(podman, &str_of(&old_shell, "portable")));
    assert_eq!(inspect(&b, "track-shell")["id"], old_shell["id"]);
    let (run, out) = b.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(actions(&out), Vec::<String>::new(), "B is untouched");
    // gc in A agrees: nothing of B's is collectable.
    let (run, out) = a.pd_json(&["gc", "--dry-run"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let text = serde_json::to_string(&out).unwrap();
    assert!(
        !text.contains(b.ownership().workspace.as_str()),
        "gc in A would touch B: {text}"
    );

    // When B lets go too, the last workspace name and the portable name go with it.
    a.pd_ok(&["delete", "--all"]);
    b.pd_ok(&["delete", "--all"]);
    std::fs::write(
        b.path("steps/2a-shell/exercise.sh"),
        "# Exercise 2a, edited in B too.\n",
    )
    .unwrap();
    let pruned = apply_ok(&b);
    assert!(
        pruned.contains(&"remove-image Image/track-shell".to_string()),
        "{pruned:?}"
    );
    assert!(!image_exists(podman, &str_of(&old_shell, "portable")));
    b.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn a_bundle_from_the_author_runs_in_an_attendees_checkout_on_a_fresh_engine_with_no_builds() {
    if !requires(
        "bundles::a_bundle_from_the_author_runs_in_an_attendees_checkout_on_a_fresh_engine_with_no_builds",
        &[
            Need::Engine(Capability::Build),
            Need::Engine(Capability::Commit),
            // Archives carry Docker's manifest.json too: loading needs no load-oci.
            Need::Engine(Capability::ExportOci),
        ],
    ) {
        return;
    }
    // The author: apply, then one bundle of every image.
    let podman = Podman::shared();
    let author = checkout(podman, "bundle");
    apply_ok(&author);
    let bundle = author.path("workshop.tar");
    let (run, out) = author.pd_json(&["image", "export", "--all", bundle.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let images = out[0]["bundle"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 5, "base, three builds, one snapshot: {out:?}");
    let names: BTreeSet<String> = images
        .iter()
        .flat_map(|i| i["names"].as_array().unwrap().clone())
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains(author.ownership().workspace.as_str())),
        "no name in a bundle depends on the author's checkout: {names:?}"
    );
    assert!(names.contains("localhost/pocket-dock/snapshots/midway:gen-1"));
    // Each layer once: the base layer is shared by all five images.
    let blobs = out[0]["bundle"]["blobs"].as_u64().unwrap();
    let listed = podman.podman(&[
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        &str_of(&inspect(&author, "track-shell"), "image"),
    ]);
    let layers: u64 = String::from_utf8_lossy(&listed.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(
        blobs < 5 * (2 + layers),
        "{blobs} blobs for 5 images of at most {layers} layers"
    );
    let author_ids: Vec<serde_json::Value> = ["basics", "track-shell", "track-text", "midway"]
        .iter()
        .map(|n| inspect(&author, n)["id"].clone())
        .collect();

    // The attendee: another engine that has never seen these images, another path.
    let fresh = Podman::start(Mode::Rootful);
    let attendee = checkout(&fresh, "bundle");
    let attendee_bundle = attendee.path("workshop.tar");
    std::fs::copy(&bundle, &attendee_bundle).unwrap();
    let (run, out) = attendee.pd_json(&["image", "import", attendee_bundle.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(out[0]["bundle"], true);
    assert_eq!(out[0]["verified"], true);
    assert_eq!(out[0]["images"].as_array().unwrap().len(), 5);

    let done = apply_ok(&attendee);
    assert!(builds(&done).is_empty(), "zero builds: {done:?}");
    assert!(
        !done.iter().any(|a| a.starts_with("commit ")),
        "the author's snapshot is used, not a new one: {done:?}"
    );
    assert!(
        !done.iter().any(|a| a.starts_with("load ")),
        "the base came in the bundle: {done:?}"
    );
    for sandbox in ["shell", "text", "resumed"] {
        assert!(
            done.contains(&format!("create Sandbox/{sandbox}")),
            "{done:?}"
        );
    }
    let attendee_ids: Vec<serde_json::Value> = ["basics", "track-shell", "track-text", "midway"]
        .iter()
        .map(|n| inspect(&attendee, n)["id"].clone())
        .collect();
    assert_eq!(attendee_ids, author_ids, "the author's images, by id");
    assert_eq!(
        shell(
            &attendee,
            &fresh,
            "resumed",
            "cat /workshop/STEP /workshop/progress"
        )
        .await,
        "step 2a: shell scripting\nchapter 1 done"
    );
    assert_eq!(
        shell(&attendee, &fresh, "text", "cat /workshop/words.txt | wc -l").await,
        "3"
    );
    // Converged: nothing left to do.
    let (_, out) = attendee.pd_json(&["apply"]);
    assert_eq!(actions(&out), Vec::<String>::new());

    // A tampered bundle is refused whole, before the engine loads anything.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    let bad = attendee.path("bad.tar");
    std::fs::write(&bad, bytes).unwrap();
    let other = Podman::start(Mode::Rootful);
    let clean = TestWorkspace::from_example(&other, EXAMPLE, &[]);
    let run = clean.pd(&["image", "import", bad.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    let listed = other.podman(&["images", "--format", "{{.Repository}}"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("localhost/pocket-dock/"),
        "nothing was loaded"
    );
    attendee.pd(&["delete", "--all"]);
    author.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn images_built_under_the_names_of_earlier_versions_are_reused_or_pruned() {
    if !requires(
        "bundles::images_built_under_the_names_of_earlier_versions_are_reused_or_pruned",
        &[
            Need::Engine(Capability::Build),
            Need::Engine(Capability::Commit),
        ],
    ) {
        return;
    }
    let podman = Podman::shared();
    let ws = checkout(podman, "earlier versions");
    let id = ws.ownership().workspace.to_string();
    let path = ws.root().canonicalize().unwrap();
    // The names this version gives: the plan says what it would build.
    let (run, out) = ws.pd_json(&["apply", "--dry-run"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let planned_tag = |image: &str| {
        out[0]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"]["name"] == image && a["op"] == "build")
            .map(|a| a["tag"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no build of {image} planned: {out:?}"))
    };
    let basics_tag = planned_tag("basics");

    // What an earlier version left: the first step under the same workspace name (its
    // content hash has not changed), and a chained step under a name whose hash covered
    // the workspace's path. Both carry the workspace labels earlier versions wrote.
    let legacy = |tag: &str, name: &str, hash: &str| {
        let context = ws.path(&format!("legacy-{name}"));
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(
            // `Dockerfile`: the name both engines look for.
            context.join("Dockerfile"),
            format!(
                "FROM {}\nRUN mkdir -p /workshop && echo 'step 1: basics' > /workshop/STEP\n",
                crate::support::podman::TEST_IMAGE
            ),
        )
        .unwrap();
        let labels = [
            "pocket-dock.dev/managed-by=pocket-dock".to_string(),
            format!("pocket-dock.dev/workspace={id}"),
            format!("pocket-dock.dev/workspace-path={}", path.display()),
            "pocket-dock.dev/kind=Image".to_string(),
            format!("pocket-dock.dev/name={name}"),
            format!("pocket-dock.dev/content-hash={hash}"),
        ];
        let mut args = vec!["build", "-t", tag];
        for l in &labels {
            args.extend(["--label", l]);
        }
        let context = context.to_string_lossy().to_string();
        args.push(&context);
        let built = podman.podman(&args);
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
    };
    let basics_hash = basics_tag.rsplit(':').next().unwrap().to_string();
    legacy(&basics_tag, "basics", &format!("{basics_hash}000000"));
    let old_chained = format!("localhost/pocket-dock/{id}/track-shell:0123456789abcdef");
    legacy(&old_chained, "track-shell", "0123456789abcdef0000");

    let done = apply_ok(&ws);
    assert!(
        !done.contains(&"build Image/basics".to_string()),
        "the old image under the current name is reused: {done:?}"
    );
    assert!(
        done.contains(&"tag Image/basics".to_string()),
        "and gets its portable name: {done:?}"
    );
    assert!(done.contains(&"build Image/track-shell".to_string()));
    assert!(
        done.contains(&"remove-image Image/track-shell".to_string()),
        "the old chained name is pruned, not orphaned: {done:?}"
    );
    assert!(!image_exists(podman, &old_chained));
    assert_eq!(
        shell(&ws, podman, "shell", "cat /workshop/STEP").await,
        "step 2a: shell scripting"
    );
    let (_, out) = ws.pd_json(&["apply"]);
    assert_eq!(actions(&out), Vec::<String>::new());
    ws.pd(&["delete", "--all"]);
}

#[tokio::test]
async fn one_image_exported_from_a_checkout_is_used_by_another_without_a_rebuild() {
    if !requires(
        "bundles::one_image_exported_from_a_checkout_is_used_by_another_without_a_rebuild",
        &[
            Need::Engine(Capability::Build),
            // Archives carry Docker's manifest.json too: loading needs no load-oci.
            Need::Engine(Capability::ExportOci),
        ],
    ) {
        return;
    }
    let podman = Podman::shared();
    let author = checkout(podman, "one image");
    apply_ok(&author);
    let archive = author.path("basics.tar");
    author.pd_ok(&["image", "export", "basics", archive.to_str().unwrap()]);
    let basics = inspect(&author, "basics");

    let fresh = Podman::start(Mode::Rootful);
    let other = checkout(&fresh, "one image");
    let (run, out) = other.pd_json(&["image", "import", archive.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(out[0]["verified"], true);
    assert_eq!(
        out[0]["names"][0].as_str(),
        basics["portable"].as_str(),
        "the archive names the image by its portable name"
    );
    let done = apply_ok(&other);
    assert!(done.contains(&"tag Image/basics".to_string()), "{done:?}");
    assert!(
        !done.contains(&"build Image/basics".to_string()),
        "{done:?}"
    );
    assert!(done.contains(&"build Image/track-shell".to_string()));
    assert_eq!(inspect(&other, "basics")["id"], basics["id"]);
    other.pd(&["delete", "--all"]);
    author.pd(&["delete", "--all"]);
}
