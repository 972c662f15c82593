//! Published ports against real Podman: `get -o wide` and status files show what Podman
//! bound, and a host port that is taken fails with a message that names it.

use pocket_dock::status::{Phase, Status};

use crate::support::Podman;
use crate::support::workspace::{TestWorkspace, actions, port, sandbox};

fn read_status(ws: &TestWorkspace, name: &str) -> Status {
    let text =
        std::fs::read_to_string(ws.path(&format!(".pocket-dock/status/sandbox/{name}.yaml")))
            .unwrap();
    let doc = pocket_dock_spec::yaml::parse(&text, Default::default()).unwrap();
    serde_json::from_value(doc[0].root.to_json()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn published_ports_are_shown_as_bound_and_a_taken_one_is_named() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let free = port(5);
    ws.write(
        "web.yaml",
        &sandbox(
            "web",
            &format!(
                "  ports:\n    - {{container: 8080, host: {free}}}\n    - {{container: 53, host: {free}, protocol: udp}}\n"
            ),
        ),
    );
    ws.pd_ok(&["apply"]);

    let run = ws.pd_ok(&["get", "-o", "wide"]);
    let table = run.stdout_text();
    assert!(table.lines().next().unwrap().ends_with("PORTS"), "{table}");
    let web = table
        .lines()
        .find(|l| l.starts_with("Sandbox") && l.contains(" web "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        web.contains(&format!("127.0.0.1:{free}->53/udp"))
            && web.contains(&format!("127.0.0.1:{free}->8080/tcp")),
        "{table}"
    );
    let run = ws.pd_ok(&["get"]);
    assert!(
        !run.stdout_text().contains("PORTS"),
        "only -o wide: {}",
        run.stdout_text()
    );

    let status = read_status(&ws, "web");
    let ports: Vec<(u16, &str, &str, u16)> = status
        .ports
        .iter()
        .map(|p| {
            (
                p.container_port,
                p.protocol.as_str(),
                p.host_ip.as_str(),
                p.host_port,
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            (53, "udp", "127.0.0.1", free),
            (8080, "tcp", "127.0.0.1", free)
        ]
    );
    let text = std::fs::read_to_string(ws.path(".pocket-dock/status/sandbox/web.yaml")).unwrap();
    assert!(
        text.contains("hostIP: 127.0.0.1") && text.contains("containerPort: 8080"),
        "{text}"
    );

    // A port something else holds: the action and the status name it, category conflict.
    let taken = port(6);
    let _holder = std::net::TcpListener::bind(("127.0.0.1", taken)).unwrap();
    ws.write(
        "busy.yaml",
        &sandbox(
            "busy",
            &format!("  ports:\n    - {{container: 80, host: {taken}}}\n"),
        ),
    );
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(
        run.code,
        Some(4),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    assert_eq!(actions(&out), ["create Sandbox/busy FAILED"]);
    let failed = out.iter().find(|v| v["event"] == "action").unwrap();
    let expected = format!("host port 127.0.0.1:{taken}/tcp is already in use");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(&expected), "{message}");
    assert!(
        message.contains("spec.ports[].host"),
        "says what to do: {message}"
    );
    assert_eq!(failed["error"]["category"], "conflict");

    let status = read_status(&ws, "busy");
    assert_eq!(status.phase, Phase::Failed, "{status:?}");
    let error = status.last_error.as_ref().unwrap();
    assert_eq!(error.category, "conflict");
    assert!(error.message.starts_with(&expected), "{error:?}");
    assert!(
        status.ports.is_empty(),
        "not running, nothing bound: {status:?}"
    );

    // Applied again while the port is still taken: the same clear failure, not Podman's.
    let (run, out) = ws.pd_json(&["apply"]);
    assert_eq!(
        run.code,
        Some(4),
        "{}{}",
        run.stdout_text(),
        run.stderr_text()
    );
    let failed = out.iter().find(|v| v["event"] == "action").unwrap();
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&expected),
        "{failed}"
    );
    let text = run.stdout_text();
    assert!(!text.contains("address already in use"), "{text}");
    ws.pd(&["delete", "--all"]);
}
