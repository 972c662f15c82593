//! Networks with names: the workspace's own network, declared `Network` objects (internal,
//! subnet, aliases), what is pruned and what never is, against real Podman (netavark and
//! aardvark-dns, set up by the harness's containers.conf).

use std::time::Duration;

use crate::support::Podman;
use crate::support::engine::{EngineUnderTest, under_test};
use crate::support::poll::until;
use crate::support::workspace::{TestWorkspace, actions, port, sandbox};

fn network_doc(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: pocket-dock.dev/v1alpha1\nkind: Network\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// The engine's networks of this workspace: object name -> (engine name, attached names).
async fn networks(ws: &TestWorkspace, podman: &Podman) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<(String, String, Vec<String>)> = podman
        .engine()
        .list_owned_networks(&ws.ownership())
        .await
        .unwrap()
        .into_iter()
        .map(|n| {
            (
                n.labels["pocket-dock.dev/name"].clone(),
                n.name,
                n.containers.into_iter().map(|(_, name)| name).collect(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_basic_example_worker_fetches_web_by_name() {
    let podman = Podman::shared();
    let ws = TestWorkspace::from_example(
        podman,
        "basic",
        &[("host: 18080", &format!("host: {}", port(5)))],
    );
    ws.pd_ok(&["apply", "--wait", "--timeout", "60s"]);
    // The worker's own loop fetches `http://web:8080/` into its volume...
    until(
        Duration::from_secs(20),
        "the worker fetched web's page",
        || async {
            ws.exec(podman, "worker", &["cat", "/data/latest.html"])
                .await
                .1
                .contains("served by pocket-dock")
        },
    )
    .await;
    // ...and the name resolves from any sandbox of the workspace.
    let (code, page) = ws
        .exec(
            podman,
            "shell",
            &["wget", "-q", "-O", "-", "http://web:8080/"],
        )
        .await;
    assert_eq!((code, page.trim()), (0, "<h1>served by pocket-dock</h1>"));
    let nets = networks(&ws, podman).await;
    assert_eq!(nets.len(), 1, "{nets:?}");
    assert_eq!(nets[0].0, "default");
    assert_eq!(nets[0].2.len(), 3, "every sandbox joined it: {nets:?}");
    // Its status file says it is there.
    let status =
        std::fs::read_to_string(ws.path(".pocket-dock/status/network/default.yaml")).unwrap();
    assert!(status.contains("phase: Ready"), "{status}");

    // A sandbox taken off its network by hand (or made before networks existed, on
    // Podman's own) is attached to it again: the same container, its names back.
    let shell = ws.sandboxes(podman).await["shell"][0].name.clone();
    let run = podman.podman(&["network", "disconnect", &nets[0].1, &shell]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(actions(&out), ["connect Sandbox/shell"]);
    assert_eq!(
        ws.sandboxes(podman).await["shell"][0].name,
        shell,
        "the container is kept"
    );
    let (code, _) = ws
        .exec(
            podman,
            "shell",
            &["wget", "-q", "-O", "/dev/null", "http://web:8080/"],
        )
        .await;
    assert_eq!(code, 0, "back on the network, names resolve again");

    // Deleting the workspace's objects takes the network with them.
    ws.pd_ok(&["delete", "--all"]);
    assert!(networks(&ws, podman).await.is_empty());
}

#[tokio::test]
async fn declared_networks_aliases_internal_and_none() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let serve = "  command: [httpd, -f, -p, \"8080\", -h, /etc]\n";
    let api =
        format!("{serve}  networks:\n    - back\n    - name: default\n      aliases: [gateway]\n");
    // Two sandboxes on an internal network with a subnet and aliases, one also on the
    // default network, one on the default only, one on none.
    let declare = |subnet: u8| {
        ws.write(
            "s.yaml",
            &[
                network_doc(
                    "back",
                    &format!(
                        "  internal: true\n  subnet: 10.89.{subnet}.0/24\n  aliases:\n    db: [primary]\n"
                    ),
                ),
                sandbox(
                    "db",
                    &format!("{serve}  networks: [back]\n  aliases: [database]\n"),
                ),
                sandbox("api", &api),
                sandbox("front", ""),
                sandbox("alone", "  network: none\n"),
                // Stopped, on `back`: it too holds the network until it is detached.
                sandbox("idle", "  state: stopped\n  networks: [back]\n"),
            ]
            .concat(),
        )
    };
    declare(231);
    ws.pd_ok(&["apply"]);
    // On `back`: the name, the sandbox's alias and the network's alias for it.
    for name in ["db", "database", "primary"] {
        let (code, out) = ws
            .exec(
                podman,
                "api",
                &[
                    "wget",
                    "-q",
                    "-O",
                    "-",
                    &format!("http://{name}:8080/passwd"),
                ],
            )
            .await;
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains("root:x:0:0"), "{name}: {out}");
    }
    // `api` is on both; `front` only on default, where it reaches api by its alias there,
    // and not db, which is on `back` only.
    let (code, _) = ws
        .exec(
            podman,
            "front",
            &[
                "wget",
                "-q",
                "-O",
                "/dev/null",
                "http://gateway:8080/passwd",
            ],
        )
        .await;
    assert_eq!(
        code, 0,
        "front reaches api as `gateway` on the default network"
    );
    let (code, _) = ws
        .exec(
            podman,
            "front",
            &["wget", "-q", "-T", "2", "-O", "-", "http://db:8080/passwd"],
        )
        .await;
    assert_ne!(code, 0, "db is not on front's network");
    // `back` is internal, as the engine reports it. Podman gives its sandboxes no default
    // route at all; Docker 20.10 keeps one and drops the traffic instead, so the route is
    // checked on Podman only.
    let nets = networks(&ws, podman).await;
    assert!(
        podman
            .engine()
            .inspect_network(&nets.iter().find(|n| n.0 == "back").unwrap().1)
            .await
            .unwrap()
            .unwrap()
            .internal
    );
    if under_test() == EngineUnderTest::Podman {
        let (_, routes) = ws.exec(podman, "db", &["cat", "/proc/net/route"]).await;
        assert!(
            !routes
                .lines()
                .skip(1)
                .any(|l| l.split_whitespace().nth(1) == Some("00000000")),
            "an internal network has no default route: {routes}"
        );
    }
    let (_, addr) = ws.exec(podman, "db", &["cat", "/proc/net/fib_trie"]).await;
    assert!(addr.contains("10.89.231."), "the declared subnet: {addr}");
    // `network: none` joins nothing.
    let (_, dev) = ws.exec(podman, "alone", &["cat", "/proc/net/dev"]).await;
    assert_eq!(
        dev.lines().filter(|l| l.contains(':')).count(),
        1,
        "only lo: {dev}"
    );
    let nets = networks(&ws, podman).await;
    assert_eq!(
        nets.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        ["back", "default"]
    );

    // Settings change: the network is made again and its members with it; nothing else.
    declare(232);
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert_eq!(
        actions(&out),
        [
            "recreate Sandbox/api",
            "recreate Sandbox/db",
            "recreate Sandbox/idle",
            "recreate-network Network/back"
        ]
    );
    let (_, addr) = ws.exec(podman, "db", &["cat", "/proc/net/fib_trie"]).await;
    assert!(addr.contains("10.89.232."), "the new subnet: {addr}");
    let (code, _) = ws
        .exec(
            podman,
            "api",
            &[
                "wget",
                "-q",
                "-O",
                "/dev/null",
                "http://primary:8080/passwd",
            ],
        )
        .await;
    assert_eq!(code, 0);
    ws.pd_ok(&["delete", "--all"]);
}

#[tokio::test]
async fn an_undeclared_network_is_pruned_unless_someone_else_uses_it() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    ws.write(
        "s.yaml",
        &[network_doc("extra", "  internal: true\n"), sandbox("a", "")].concat(),
    );
    ws.pd_ok(&["apply"]);
    let nets = networks(&ws, podman).await;
    let extra = nets.iter().find(|n| n.0 == "extra").unwrap().1.clone();

    // A container that is not pocket-dock's joins the network; then the network goes from
    // the declarations. It is kept, and the stranger with it.
    let stranger = format!("stranger-{}", std::process::id());
    let run = podman.podman(&[
        "run",
        "-d",
        "--name",
        &stranger,
        "--network",
        &extra,
        crate::support::podman::TEST_IMAGE,
        "sleep",
        "300",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    ws.write("s.yaml", &sandbox("a", ""));
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    assert!(actions(&out).is_empty(), "{:?}", actions(&out));
    let summary = out.iter().find(|v| v["event"] == "summary").unwrap();
    assert!(
        summary.to_string().contains(&stranger),
        "the kept network says who holds it: {summary}"
    );
    assert!(networks(&ws, podman).await.iter().any(|n| n.0 == "extra"));
    let run = podman.podman(&["inspect", "--format", "{{.State.Running}}", &stranger]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "true");

    // Once the stranger is gone, the next apply removes it.
    let run = podman.podman(&["rm", "-f", &stranger]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (_, out) = ws.pd_json(&["apply"]);
    assert_eq!(actions(&out), ["remove-network Network/extra"]);
    assert!(!networks(&ws, podman).await.iter().any(|n| n.0 == "extra"));
    ws.pd_ok(&["delete", "--all"]);
}
