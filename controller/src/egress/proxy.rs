//! The proxy process (`pocket-dock egress-proxy DIR`): one per workspace, listening on each
//! egress network's gateway address. The listener a connection arrives on names the
//! sandbox, and so the allow-list that applies.
//!
//! It re-reads its configuration (`egress/config.json`) every [`POLL`], binds new
//! listeners and drops removed ones, and records the configuration it serves in
//! `egress/proxy.json` (which `apply` waits for). It exits when the configuration is gone or
//! lists no listener, or when `proxy.json` names another process (it was replaced).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pocket_dock_spec::egress::{EgressRule, Target, TargetHost, allowed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::http::{self, HeadError, Request};
use super::{CONFIG_FILE, PROXY_FILE, ProxyConfig, ProxyRecord};
use crate::owned_files::OwnedDir;
use crate::store::{Event, Outcome, Source};

/// How often the configuration is re-read.
const POLL: Duration = Duration::from_millis(300);
/// Connections served at once (beyond: closed at once).
const MAX_CONNECTIONS: usize = 512;
/// How long a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long resolving and connecting to a destination may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The configuration file's size limit.
const MAX_CONFIG: u64 = 4 * 1024 * 1024;

/// One listener's sandbox and allow-list.
struct Policy {
    sandbox: String,
    rules: Vec<EgressRule>,
    /// Where its sandbox's connections come from; any other peer is turned away.
    subnet: Option<super::subnet::Net>,
}

type Policies = Arc<RwLock<HashMap<SocketAddr, Arc<Policy>>>>;

/// Runs the proxy for the workspace folder `dir` (`.pocket-dock/`) until it has nothing to
/// serve. Errors only when it cannot start (its folder, its record).
pub async fn run(dir: &Path) -> Result<(), String> {
    let pd = OwnedDir::open(dir).map_err(|e| e.to_string())?;
    let folder = pd
        .subdir(super::DIR, false)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} has no {} folder", dir.display(), super::DIR))?;
    let me = ProxyRecord::of_this_process().ok_or("/proc cannot say who this process is")?;
    write_record(&folder, &me, None)?;
    let events = spawn_event_writer(dir.to_path_buf());
    let policies: Policies = Arc::default();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut listeners: HashMap<SocketAddr, JoinHandle<()>> = HashMap::new();
    let mut served: Option<String> = None;
    // Each listener that cannot be bound is reported once, not on every retry.
    let mut reported: std::collections::HashSet<SocketAddr> = std::collections::HashSet::new();
    while let Ok(Some(bytes)) = folder.read(CONFIG_FILE, MAX_CONFIG) {
        match ProxyRecord::read(&folder) {
            Some(record) if record.pid == me.pid && record.start == me.start => {}
            _ => break,
        }
        let hash = super::config_hash(&bytes);
        let config: ProxyConfig = serde_json::from_slice(&bytes).unwrap_or_default();
        if config.listeners.is_empty() {
            break;
        }
        let mut wanted = HashMap::new();
        for l in &config.listeners {
            let rules = l
                .allow
                .iter()
                .filter_map(|e| EgressRule::parse(e).ok())
                .collect();
            wanted.insert(
                l.address,
                Arc::new(Policy {
                    sandbox: l.sandbox.clone(),
                    rules,
                    subnet: super::subnet::Net::parse(&l.subnet),
                }),
            );
        }
        if let Ok(mut p) = policies.write() {
            *p = wanted.clone();
        }
        listeners.retain(|address, task| {
            let keep = wanted.contains_key(address) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        let mut all_bound = true;
        for address in wanted.keys() {
            if listeners.contains_key(address) {
                continue;
            }
            match bind(*address) {
                Ok(listener) => {
                    let task = tokio::spawn(serve(
                        listener,
                        *address,
                        policies.clone(),
                        permits.clone(),
                        events.clone(),
                    ));
                    listeners.insert(*address, task);
                }
                Err(e) => {
                    all_bound = false;
                    if reported.insert(*address) {
                        tracing::warn!(%address, error = %e, "cannot listen yet; retrying");
                    }
                }
            }
        }
        if all_bound && served.as_deref() != Some(hash.as_str()) {
            write_record(&folder, &me, Some(&hash))?;
            served = Some(hash);
        }
        tokio::time::sleep(POLL).await;
    }
    for task in listeners.values() {
        task.abort();
    }
    Ok(())
}

fn write_record(folder: &OwnedDir, me: &ProxyRecord, serving: Option<&str>) -> Result<(), String> {
    let record = ProxyRecord {
        serving: serving.map(str::to_string),
        ..me.clone()
    };
    let bytes = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
    folder
        .write_atomic(PROXY_FILE, &bytes, super::is_json)
        .map_err(|e| e.to_string())
}

/// A listener on `address`, which may not exist yet (the bridge appears when its first
/// container starts): `IP_FREEBIND` lets the bind happen before.
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let family = match address {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = rustix::net::socket(family, SocketType::STREAM, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_ip_freebind(&fd, true)?;
    rustix::net::bind(&fd, &address)?;
    rustix::net::listen(&fd, 128)?;
    let listener = std::net::TcpListener::from(fd);
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

async fn serve(
    listener: TcpListener,
    address: SocketAddr,
    policies: Policies,
    permits: Arc<Semaphore>,
    events: std::sync::mpsc::Sender<Event>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let policy = policies.read().ok().and_then(|p| p.get(&address).cloned());
        let Some(policy) = policy else {
            continue;
        };
        let from_its_network = match (peer.ip(), policy.subnet) {
            (IpAddr::V4(ip), Some(net)) => net.contains(ip),
            _ => false,
        };
        if !from_its_network {
            let _ = events.send(
                Event::new(Source::Egress, "refused")
                    .object("Sandbox", policy.sandbox.clone())
                    .reason(format!("connection from {}", peer.ip()))
                    .failed("refused", "not from the sandbox's egress network"),
            );
            continue;
        }
        let events = events.clone();
        tokio::spawn(async move {
            handle(stream, &policy, &events).await;
            drop(permit);
        });
    }
}

/// One client connection: its head read (bounded), the decision logged, the tunnel made.
async fn handle(mut client: TcpStream, policy: &Policy, events: &std::sync::mpsc::Sender<Event>) {
    let mut buffer = Vec::with_capacity(1024);
    let head_len =
        match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client, &mut buffer)).await {
            Ok(Ok(Some(len))) => len,
            Ok(Ok(None)) | Ok(Err(_)) => return,
            Err(_) => {
                let _ = client
                    .write_all(&http::response(
                        408,
                        "Request Timeout",
                        "request head too slow\n",
                    ))
                    .await;
                return;
            }
        };
    let request = match http::parse_head(&buffer[..head_len]) {
        Ok(r) => r,
        Err(e) => {
            let (status, reason, why) = match e {
                HeadError::TooLarge => (431, "Request Header Fields Too Large", "head too large"),
                HeadError::Malformed(why) => (400, "Bad Request", why),
            };
            let _ = client
                .write_all(&http::response(
                    status,
                    reason,
                    &format!("pocket-dock egress: {why}\n"),
                ))
                .await;
            return;
        }
    };
    let leftover = buffer[head_len..].to_vec();
    let target = request.target().clone();
    let event = |outcome: Outcome, why: &str| {
        let decision = if outcome == Outcome::Ok {
            "allowed"
        } else {
            "refused"
        };
        let mut event = Event::new(Source::Egress, decision)
            .object("Sandbox", policy.sandbox.clone())
            .reason(format!("{} {target}", request.method()))
            .detail(serde_json::json!({
                "destination": target.to_string(),
                "method": request.method(),
                "decision": decision,
            }));
        if outcome != Outcome::Ok {
            event = event.failed("refused", why);
        }
        let _ = events.send(event);
    };
    if !allowed(&policy.rules, &target) {
        let why = format!(
            "{target} is not in Sandbox {}'s egress list",
            policy.sandbox
        );
        event(Outcome::Failed, &why);
        let _ = client
            .write_all(&http::response(
                403,
                "Forbidden",
                &format!("pocket-dock egress: {why}\n"),
            ))
            .await;
        return;
    }
    let upstream = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&target)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(why)) => {
            event(Outcome::Failed, &why);
            let _ = client
                .write_all(&http::response(
                    502,
                    "Bad Gateway",
                    &format!("pocket-dock egress: {why}\n"),
                ))
                .await;
            return;
        }
        Err(_) => {
            let why = format!("{target} did not answer in time");
            event(Outcome::Failed, &why);
            let _ = client
                .write_all(&http::response(
                    504,
                    "Gateway Timeout",
                    &format!("pocket-dock egress: {why}\n"),
                ))
                .await;
            return;
        }
    };
    event(Outcome::Ok, "");
    let mut upstream = upstream;
    let first = match &request {
        Request::Connect { .. } => {
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            leftover
        }
        Request::Http { head, .. } => {
            let mut first = head.clone();
            first.extend_from_slice(&leftover);
            first
        }
    };
    if !first.is_empty() && upstream.write_all(&first).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// Reads until the end of the head; `None` when the client left first.
async fn read_head(client: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = http::head_end(buffer) {
            return Ok(Some(end));
        }
        if buffer.len() > http::MAX_HEAD {
            // Let the parser say it is too large.
            return Ok(Some(buffer.len()));
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Connects to an allowed destination. A name is resolved here, on the host; the addresses
/// a name must not lead to (loopback, link-local, unspecified, multicast: the host's own
/// services and cloud metadata) are refused unless asked for by their literal address.
async fn connect(target: &Target) -> Result<TcpStream, String> {
    let addresses: Vec<SocketAddr> = match &target.host {
        TargetHost::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
        TargetHost::Name(name) => {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), target.port))
                .await
                .map_err(|_| format!("{name} does not resolve"))?
                .collect();
            let usable: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !off_limits(a.ip()))
                .collect();
            if usable.is_empty() && !found.is_empty() {
                return Err(format!(
                    "{name} resolves only to loopback or link-local addresses (allow the address itself to reach it)"
                ));
            }
            usable
        }
    };
    let mut last = format!("{target} cannot be reached");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("{target} cannot be reached ({})", e.kind()),
        }
    }
    Err(last)
}

/// Addresses a name may not lead to.
pub(super) fn off_limits(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Events go to the state store from one thread (SQLite writes block).
fn spawn_event_writer(dir: PathBuf) -> std::sync::mpsc::Sender<Event> {
    let (sender, receiver) = std::sync::mpsc::channel::<Event>();
    std::thread::spawn(move || {
        let mut store = None;
        while let Ok(event) = receiver.recv() {
            if store.is_none() {
                store = crate::store::StateStore::open(&dir).ok().map(|(s, _)| s);
            }
            crate::store::record_or_warn(store.as_ref(), &event);
        }
    });
    sender
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the proxy at `proxy` answers to `request` (everything until it closes).
    async fn ask(proxy: SocketAddr, request: &[u8]) -> String {
        let mut client = TcpStream::connect(proxy).await.unwrap();
        client.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn the_proxy_tunnels_what_is_allowed_and_refuses_the_rest_with_a_reason() {
        // An "outside" server that answers every connection with one line.
        let outside = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let outside_port = outside.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = outside.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let _ = c.read(&mut buf).await;
                    let _ = c.write_all(b"outside\n").await;
                });
            }
        });
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        let policies: Policies = Arc::default();
        policies.write().unwrap().insert(
            address,
            Arc::new(Policy {
                sandbox: "agent".into(),
                rules: vec![EgressRule::parse(&format!("127.0.0.1:{outside_port}")).unwrap()],
                subnet: super::super::subnet::Net::parse("127.0.0.0/8"),
            }),
        );
        let (events, received) = std::sync::mpsc::channel();
        tokio::spawn(serve(
            listener,
            address,
            policies,
            Arc::new(Semaphore::new(8)),
            events,
        ));

        let ok = ask(
            address,
            format!("CONNECT 127.0.0.1:{outside_port} HTTP/1.1\r\n\r\nhello").as_bytes(),
        )
        .await;
        assert_eq!(ok, "HTTP/1.1 200 Connection established\r\n\r\noutside\n");
        let http = ask(
            address,
            format!("GET http://127.0.0.1:{outside_port}/x HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(http, "outside\n");
        let refused = ask(address, b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n").await;
        assert!(refused.starts_with("HTTP/1.1 403 Forbidden"), "{refused}");
        assert!(
            refused.contains("127.0.0.1:1 is not in Sandbox agent's egress list"),
            "{refused}"
        );
        let by_name = ask(
            address,
            format!("CONNECT localhost:{outside_port} HTTP/1.1\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(
            by_name.starts_with("HTTP/1.1 403"),
            "a name is not its address: {by_name}"
        );
        let garbage = ask(address, b"\x00\xff\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
        let mut huge = b"CONNECT a.b:1 HTTP/1.1\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 40_000));
        let huge = ask(address, &huge).await;
        assert!(huge.starts_with("HTTP/1.1 431"), "{huge}");

        // One event per decision, the destination in it; none for malformed heads.
        let rows: Vec<Event> = received.try_iter().collect();
        let actions: Vec<&str> = rows.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["allowed", "allowed", "refused", "refused"],
            "{rows:?}"
        );
        assert_eq!(rows[2].reason, "CONNECT 127.0.0.1:1");
        assert!(rows.iter().all(|e| e.name.as_deref() == Some("agent")));
    }

    #[test]
    fn names_may_not_lead_to_the_host_or_metadata() {
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(off_limits(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.1.2.3", "192.168.1.1", "93.184.216.34", "fd00::1"] {
            assert!(!off_limits(ip.parse().unwrap()), "{ip}");
        }
    }
}
