//! Egress allow-lists against real Podman: a sandbox with `network: {egress: [...]}` reaches
//! an "outside" server (which this test runs on the host's loopback, out of the sandbox's
//! reach) only through pocket-dock's proxy, only at the allowed address and port; every
//! other request is refused (403) and a direct connection fails. Each request is a row of
//! the event log; the proxy is reused by a second apply and started again when it died.
//! As root, pocket-dock's host firewall rules keep the sandbox off every other host port
//! on its gateway (and the bridge's IPv6 link-local address), and leave with the network.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use pocket_dock::engine::Capability;

use crate::support::Podman;
use crate::support::engine::shared_profile;
use crate::support::poll::until;
use crate::support::workspace::{TestWorkspace, sandbox};

/// An "outside" HTTP server on 127.0.0.1 (unreachable from a sandbox's network): every
/// connection gets one short page naming the server. Runs until the test binary exits.
fn outside(name: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = format!("hello from {name}\n");
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

fn proxy_pid(ws: &TestWorkspace) -> i64 {
    let record = std::fs::read_to_string(ws.path(".pocket-dock/egress/proxy.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&record).unwrap();
    value["pid"].as_i64().unwrap()
}

fn alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// The engine's names of the workspace's egress networks.
async fn egress_networks(ws: &TestWorkspace, podman: &Podman) -> Vec<String> {
    podman
        .engine()
        .list_owned_networks(&ws.ownership())
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .filter(|n| n.contains("egress"))
        .collect()
}

/// A host service listening on all addresses (IPv6 and IPv4 when the host has IPv6):
/// without the firewall rules, a sandbox reaches it on its gateway. Answers `host service`.
fn host_service() -> u16 {
    let listener = TcpListener::bind("[::]:0")
        .or_else(|_| TcpListener::bind("0.0.0.0:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.write_all(b"host service\n");
        }
    });
    port
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// The lines of `iptables -S INPUT` (or ip6tables) that name `network`.
fn firewall_rules(program: &str, network: &str) -> Vec<String> {
    let out = std::process::Command::new(program)
        .args(["-w", "-S", "INPUT"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{program} -S INPUT: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("\"pocket-dock egress {network}\"")))
        .map(str::to_string)
        .collect()
}

/// Removes a network's firewall rules when the test ends, passed or not: a failed test
/// leaves its network to the harness, which wipes the store without pocket-dock, and a
/// stale drop on a bridge name another network reuses would cut that network off.
struct RulesCleanup(String);

impl Drop for RulesCleanup {
    fn drop(&mut self) {
        let _ =
            pocket_dock::egress::firewall::remove(&pocket_dock::egress::firewall::System, &self.0);
    }
}

/// The host's IPv6 link-local address on `interface`, from /proc/net/if_inet6.
fn link_local(interface: &str) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/if_inet6").ok()?;
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let hex = fields.first()?;
        (fields.last() == Some(&interface) && hex.starts_with("fe80")).then(|| {
            hex.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(":")
        })
    })
}

/// `sh -c` inside the sandbox: (exit code, stdout).
async fn sh(ws: &TestWorkspace, podman: &Podman, script: &str) -> (i64, String) {
    ws.exec(podman, "agent", &["sh", "-c", script]).await
}

/// Sends `request` to the proxy with nc and prints what comes back.
fn through_nc(request: &str) -> String {
    format!("P=${{HTTP_PROXY#http://}}; printf '{request}' | nc -w 3 ${{P%:*}} ${{P##*:}}")
}

#[tokio::test]
async fn egress_reaches_exactly_the_allowed_destinations_through_the_proxy() {
    let podman = Podman::shared();
    let ws = TestWorkspace::new(podman);
    let allowed = outside("allowed");
    let other = outside("other");
    // Under `locked`, which has no network unless an egress list allows some.
    ws.write(
        "s.yaml",
        &sandbox(
            "agent",
            &format!(
                "  network: {{egress: [\"127.0.0.1:{allowed}\", \"*.example.invalid:443\"]}}\n  security: {{profile: locked}}\n  hooks:\n    postStart: [[wget, -q, -O, /dev/null, \"http://127.0.0.1:{allowed}/\"]]\n"
            ),
        ),
    );
    // A neighbour on the workspace's ordinary network, which routes to the host.
    ws.write("n.yaml", &sandbox("neighbour", ""));
    ws.pd_ok(&["validate"]);
    if !shared_profile().has(Capability::Egress) {
        // Docker (or rootless Podman): refused before anything is made, the fix named.
        let run = ws.pd(&["apply"]);
        let text = format!("{}{}", run.stdout_text(), run.stderr_text());
        assert_eq!(run.code, Some(2), "{text}");
        assert!(
            text.contains("network.egress") && text.contains("egress"),
            "{text}"
        );
        assert!(ws.sandboxes(podman).await.is_empty(), "nothing was made");
        return;
    }
    let service = host_service();
    // Its postStart hook fetches through the proxy: served before the first start.
    let applied = ws.pd_ok(&["apply", "--wait", "--timeout", "60s"]);
    let networks = egress_networks(&ws, podman).await;
    assert_eq!(networks.len(), 1, "{networks:?}");
    let network = &networks[0];
    let _cleanup = RulesCleanup(network.clone());
    if is_root() {
        // The rules stand: the proxy's port accepted on the gateway, the rest dropped.
        let v4 = firewall_rules("iptables", network);
        assert_eq!(v4.len(), 2, "{v4:?}");
        assert!(
            v4[0].contains("--dport 3128") && v4[0].ends_with("-j ACCEPT"),
            "{v4:?}"
        );
        assert!(v4[1].ends_with("-j DROP"), "{v4:?}");
        let v6 = firewall_rules("ip6tables", network);
        assert_eq!(v6.len(), 1, "{v6:?}");
        assert!(v6[0].ends_with("-j DROP"), "{v6:?}");
    } else {
        // Not root: applied all the same, and the user is told the host is reachable.
        let text = applied.stderr_text();
        assert!(text.contains("host firewall rules not installed"), "{text}");
    }

    // HTTP through the proxy (busybox wget honours http_proxy): the allowed address and
    // port answer; another port of the same address is refused by the proxy.
    let (code, page) = sh(
        &ws,
        podman,
        &format!("wget -q -O - http://127.0.0.1:{allowed}/"),
    )
    .await;
    assert_eq!((code, page.trim()), (0, "hello from allowed"));
    let (code, out) = sh(
        &ws,
        podman,
        &format!("wget -O - http://127.0.0.1:{other}/ 2>&1"),
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("403"), "{out}");

    // CONNECT (what HTTPS uses): 200 and a tunnel for the allowed one, 403 for others.
    let (_, out) = sh(
        &ws,
        podman,
        &through_nc(&format!(
            "CONNECT 127.0.0.1:{allowed} HTTP/1.1\\r\\n\\r\\nGET / HTTP/1.0\\r\\n\\r\\n"
        )),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("hello from allowed"), "{out}");
    for target in [
        format!("127.0.0.1:{other}"),
        "localhost:443".to_string(),
        "a.example.invalid:80".to_string(),
    ] {
        let (_, out) = sh(
            &ws,
            podman,
            &through_nc(&format!("CONNECT {target} HTTP/1.1\\r\\n\\r\\n")),
        )
        .await;
        assert!(out.starts_with("HTTP/1.1 403"), "{target}: {out}");
    }
    // Allowed by the wildcard, but the name does not resolve: the proxy says so (502).
    let (_, out) = sh(
        &ws,
        podman,
        &through_nc("CONNECT a.example.invalid:443 HTTP/1.1\\r\\n\\r\\n"),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    // Garbage gets a 400, not a crash: the proxy still answers after.
    let (_, out) = sh(&ws, podman, &through_nc("\\x00\\xff garbage\\r\\n\\r\\n")).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");

    // The neighbour can reach the proxy's address, but is not served: only connections
    // from the sandbox's own network are.
    let (_, proxy) = sh(&ws, podman, "echo ${HTTP_PROXY#http://}").await;
    let (host, proxy_port) = proxy.trim().rsplit_once(':').unwrap();
    let (_, out) = ws
        .exec(
            podman,
            "neighbour",
            &[
                "sh",
                "-c",
                &format!(
                    "printf 'CONNECT 127.0.0.1:{allowed} HTTP/1.1\\r\\n\\r\\n' | nc -w 3 {host} {proxy_port}"
                ),
            ],
        )
        .await;
    assert!(!out.contains("200"), "the neighbour was served: {out}");

    // No direct route: not to the gateway on the outside server's port, not anywhere else.
    let (code, out) = sh(
        &ws,
        podman,
        &format!("P=${{HTTP_PROXY#http://}}; nc -w 2 ${{P%:*}} {allowed} </dev/null 2>&1"),
    )
    .await;
    assert_ne!(code, 0, "direct to the host: {out}");
    let (code, out) = sh(&ws, podman, "nc -w 2 8.8.8.8 53 </dev/null 2>&1").await;
    assert_ne!(code, 0, "direct out: {out}");
    if is_root() {
        // A host service on all addresses: not reachable on the gateway, nor on the
        // bridge's IPv6 link-local address (when the host has one).
        let (code, out) = sh(
            &ws,
            podman,
            &format!("P=${{HTTP_PROXY#http://}}; nc -w 2 ${{P%:*}} {service} </dev/null 2>&1"),
        )
        .await;
        assert!(
            code != 0 && !out.contains("host service"),
            "the host's service on the gateway: {code} {out}"
        );
        let interface = podman
            .engine()
            .network_interface(network)
            .await
            .unwrap()
            .unwrap();
        if let Some(address) = link_local(&interface) {
            let (code, out) = sh(
                &ws,
                podman,
                &format!("nc -w 2 {address}%eth0 {service} </dev/null 2>&1"),
            )
            .await;
            assert!(
                code != 0 && !out.contains("host service"),
                "the host's service on {address}: {code} {out}"
            );
        }
    }
    // No DNS either: the egress network has no resolver (Podman's would forward names out).
    let (code, out) = sh(&ws, podman, "busybox nslookup example.org 2>&1").await;
    assert_ne!(code, 0, "a resolver answered: {out}");

    // Every request is in the event log, allowed and refused, with its destination.
    let (run, rows) = ws.pd_json(&["events", "--source", "egress", "--last", "100"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let text = serde_json::to_string(&rows).unwrap();
    let count = |action: &str| rows.iter().filter(|r| r["action"] == action).count();
    assert!(count("allowed") >= 2, "{text}");
    assert!(count("refused") >= 4, "{text}");
    assert!(text.contains(&format!("127.0.0.1:{other}")), "{text}");
    assert!(
        text.contains("not from the sandbox's egress network"),
        "{text}"
    );

    // A second apply reuses the proxy; one that finds it dead starts it again.
    let first = proxy_pid(&ws);
    ws.pd_ok(&["apply"]);
    assert_eq!(proxy_pid(&ws), first, "the running proxy is reused");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    until(Duration::from_secs(10), "the proxy is gone", || async {
        !alive(first)
    })
    .await;
    let (code, _) = sh(
        &ws,
        podman,
        &format!("wget -q -O - http://127.0.0.1:{allowed}/"),
    )
    .await;
    assert_ne!(code, 0, "no proxy, no way out");
    ws.pd_ok(&["apply"]);
    let second = proxy_pid(&ws);
    assert_ne!(second, first);
    assert!(alive(second));
    let (code, page) = sh(
        &ws,
        podman,
        &format!("wget -q -O - http://127.0.0.1:{allowed}/"),
    )
    .await;
    assert_eq!((code, page.trim()), (0, "hello from allowed"));

    // `delete --all` takes the network, and the proxy, with nothing left to serve, exits.
    ws.pd_ok(&["delete", "--all"]);
    until(
        Duration::from_secs(10),
        "the proxy exits after delete",
        || async { !alive(second) },
    )
    .await;
    assert!(egress_networks(&ws, podman).await.is_empty());
    // And so do its firewall rules.
    if is_root() {
        assert!(firewall_rules("iptables", network).is_empty());
        assert!(firewall_rules("ip6tables", network).is_empty());
    }

    // Applied again, then declared away: the same.
    ws.pd_ok(&["apply"]);
    if is_root() {
        assert_eq!(firewall_rules("iptables", network).len(), 2);
    }
    let third = proxy_pid(&ws);
    assert!(alive(third) && third != second);
    ws.remove("n.yaml");
    ws.write("s.yaml", &sandbox("other", "  network: none\n"));
    ws.pd_ok(&["apply"]);
    until(Duration::from_secs(10), "the proxy exits", || async {
        !alive(third)
    })
    .await;
    let left = egress_networks(&ws, podman).await;
    assert!(left.is_empty(), "the egress network is removed: {left:?}");
    if is_root() {
        assert!(firewall_rules("iptables", network).is_empty());
        assert!(firewall_rules("ip6tables", network).is_empty());
    }
    ws.pd_ok(&["delete", "--all"]);
}

/// Without `iptables` (here: not on `PATH`; the same path as not being root) the apply
/// still succeeds, and says that the host is reachable and how to fix it.
#[tokio::test]
async fn egress_without_a_firewall_applies_and_warns_that_the_host_is_reachable() {
    let podman = Podman::shared();
    if !shared_profile().has(Capability::Egress) {
        return; // refused up front: the test above checks that
    }
    let ws = TestWorkspace::new(podman);
    let allowed = outside("allowed");
    ws.write(
        "s.yaml",
        &sandbox(
            "agent",
            &format!("  network: {{egress: [\"127.0.0.1:{allowed}\"]}}\n"),
        ),
    );
    let mut apply = ws.command(&["apply", "--wait", "--timeout", "60s"]);
    apply.env("PATH", "/usr/bin:/bin");
    let run = crate::support::cli::run(apply, |_| {});
    let text = run.stderr_text();
    assert_eq!(run.code, Some(0), "{}{text}", run.stdout_text());
    let networks = egress_networks(&ws, podman).await;
    assert_eq!(networks.len(), 1, "{networks:?}");
    let _cleanup = RulesCleanup(networks[0].clone());
    assert!(
        text.contains(&format!(
            "egress network {}: host firewall rules not installed (iptables is not installed)",
            networks[0]
        )) && text.contains("can reach any host service listening on all addresses")
            && text.contains("docs/security-egress.md"),
        "{text}"
    );
    if std::path::Path::new("/usr/sbin/iptables").exists() && is_root() {
        assert!(firewall_rules("/usr/sbin/iptables", &networks[0]).is_empty());
    }
    // The proxy serves all the same.
    let (code, page) = sh(
        &ws,
        podman,
        &format!("wget -q -O - http://127.0.0.1:{allowed}/"),
    )
    .await;
    assert_eq!((code, page.trim()), (0, "hello from allowed"));
    ws.pd_ok(&["delete", "--all"]);
}
