//! Egress allow-lists (`network: {egress: [...]}`): see docs/security-egress.md.
//!
//! A sandbox with an egress list joins only a network of its own (`egress.<sandbox>`):
//! internal (no route out), without DNS, with a gateway address on the host. pocket-dock's
//! proxy ([`proxy`], the hidden `pocket-dock egress-proxy` command) listens on that gateway
//! address, port [`PROXY_PORT`]; the sandbox gets `HTTP_PROXY`/`HTTPS_PROXY` pointing there.
//!
//! `apply` keeps the proxy in step with [`sync`]: it writes `.pocket-dock/egress/config.json`
//! (one listener per egress sandbox whose network exists), starts the proxy when no live one
//! is recorded in `egress/proxy.json` (pid and start time, as leases are judged), and waits
//! until the proxy says it serves that configuration. It also keeps each egress network's
//! host firewall rules ([`firewall`]): the sandbox reaches the host only at the proxy.

pub mod firewall;
pub mod http;
pub mod proxy;
pub mod subnet;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::owned_files::OwnedDir;

/// The proxy's port on each egress network's gateway address.
pub const PROXY_PORT: u16 = 3128;
/// The folder under `.pocket-dock/` with the proxy's configuration and record.
pub const DIR: &str = crate::workspace::own_files::EGRESS_DIR;
pub const CONFIG_FILE: &str = "config.json";
pub const PROXY_FILE: &str = "proxy.json";
pub const LOG_FILE: &str = "proxy.log";
/// The `Network` name (not declarable: it has a dot) of a sandbox's egress network.
pub fn network_name(sandbox: &str) -> String {
    format!("egress.{sandbox}")
}

/// Environment to override the program started as the proxy (the SDK's users, whose
/// program is not `pocket-dock`).
pub const PROXY_PROGRAM_ENV: &str = "POCKET_DOCK_EGRESS_PROXY";

/// How long `apply` waits for the proxy to serve a new configuration.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What the proxy serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProxyConfig {
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Listener {
    pub sandbox: String,
    /// The engine's name of its egress network.
    pub network: String,
    /// That network's subnet: only connections from it are served (a container on another
    /// network that routes to the host could otherwise borrow this allow-list).
    pub subnet: String,
    pub address: SocketAddr,
    /// Canonical allow-list entries.
    pub allow: Vec<String>,
}

/// The running proxy, as it records itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProxyRecord {
    pub pid: i64,
    /// Its start time (`/proc/<pid>/stat` field 22): a reused pid is not taken for it.
    pub start: u64,
    /// The hash of the configuration it serves, every listener bound.
    pub serving: Option<String>,
}

impl ProxyRecord {
    pub fn of_this_process() -> Option<ProxyRecord> {
        let pid = i64::from(std::process::id());
        Some(ProxyRecord {
            pid,
            start: crate::procs::start_time(pid)?,
            serving: None,
        })
    }

    fn read(folder: &OwnedDir) -> Option<ProxyRecord> {
        let bytes = folder.read(PROXY_FILE, 64 * 1024).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Whether the recorded process still runs: same pid, same start time, and not a
    /// zombie (an exited proxy whose adoptive parent has not reaped it yet).
    pub fn alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let state = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next());
        crate::procs::parse_start_time(&stat) == Some(self.start)
            && !matches!(state, Some("Z" | "X" | "x"))
    }
}

/// Only a JSON file is replaced (one of ours; anything else by that name is left alone).
fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}

fn config_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The environment a sandbox behind the proxy at `gateway` gets.
pub fn proxy_env(gateway: IpAddr) -> BTreeMap<String, String> {
    let url = match gateway {
        IpAddr::V4(ip) => format!("http://{ip}:{PROXY_PORT}"),
        IpAddr::V6(ip) => format!("http://[{ip}]:{PROXY_PORT}"),
    };
    let mut env = BTreeMap::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        env.insert(name.to_string(), url.clone());
    }
    for name in ["NO_PROXY", "no_proxy"] {
        env.insert(name.to_string(), "localhost,127.0.0.1,::1".to_string());
    }
    env
}

/// The proxy's configuration as last written; `None` when there is none (or it cannot be
/// read).
pub async fn read_config(pd_dir: &Path) -> Option<ProxyConfig> {
    let dir = pd_dir.to_path_buf();
    tokio::task::spawn_blocking(move || -> Option<ProxyConfig> {
        let pd = OwnedDir::open(&dir).ok()?;
        let folder = pd.subdir(DIR, false).ok()??;
        let bytes = folder.read(CONFIG_FILE, 4 * 1024 * 1024).ok()??;
        serde_json::from_slice(&bytes).ok()
    })
    .await
    .ok()
    .flatten()
}

/// Whether an engine network name or `Network` object name is an egress network's
/// (declared networks cannot have a dot in their name).
pub fn is_egress_network(name: &str) -> bool {
    name.starts_with("egress.") || name.starts_with("pd-egress.")
}

/// Installs (or checks) the host firewall rules of the egress network `network`, whose
/// gateway is `gateway`. A warning when they could not be: the host is then reachable
/// from the sandbox. Logged once per network and reason by a long-running process.
pub async fn guard_host(engine: &Engine, network: &str, gateway: IpAddr) -> Option<String> {
    let result = match engine.network_interface(network).await {
        Ok(Some(interface)) => {
            let network = network.to_string();
            tokio::task::spawn_blocking(move || {
                firewall::ensure(&firewall::System, &network, &interface, gateway)
            })
            .await
            .unwrap_or_else(|e| Err(firewall::FirewallError::Task(e.to_string())))
        }
        Ok(None) => Err(firewall::FirewallError::NoInterface {
            network: network.to_string(),
            interface: String::new(),
        }),
        Err(source) => Err(firewall::FirewallError::Inspect {
            network: network.to_string(),
            source: Box::new(source),
        }),
    };
    match result {
        Ok(true) => {
            tracing::info!(network, "egress: host firewall rules installed");
            None
        }
        Ok(false) => None,
        Err(e) => {
            let warning = unguarded_warning(network, gateway, &e);
            warn_once(&warning);
            Some(warning)
        }
    }
}

/// What a user is told when an egress network's host firewall rules are missing.
pub fn unguarded_warning(
    network: &str,
    gateway: IpAddr,
    error: &firewall::FirewallError,
) -> String {
    let fix = if error.unavailable() {
        "run pocket-dock as root with iptables installed, or add the rules by hand"
    } else {
        "add the rules by hand"
    };
    format!(
        "egress network {network}: host firewall rules not installed ({error}); the sandbox can reach any host service listening on all addresses, at {gateway} and on the bridge's IPv6 link-local address: {fix} (docs/security-egress.md)"
    )
}

/// A warning through `tracing`, once per process (a controller ensures on every pass).
fn warn_once(warning: &str) {
    static WARNED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let first = match WARNED.lock() {
        Ok(mut seen) => seen.insert(warning.to_string()),
        Err(_) => true,
    };
    if first {
        tracing::warn!("{warning}");
    }
}

/// Removes the host firewall rules of the egress network `network` (after the network is
/// removed). Where the firewall cannot be changed, none were made: nothing to say.
pub async fn unguard_host(network: &str) {
    let name = network.to_string();
    let result =
        tokio::task::spawn_blocking(move || firewall::remove(&firewall::System, &name)).await;
    match result {
        Ok(Ok(0)) => {}
        Ok(Ok(removed)) => {
            tracing::info!(network, removed, "egress: host firewall rules removed");
        }
        Ok(Err(e)) if e.unavailable() => {
            tracing::debug!(network, "egress: host firewall rules not removed: {e}");
        }
        Ok(Err(e)) => tracing::warn!(network, "egress: host firewall rules not removed: {e}"),
        Err(e) => tracing::warn!(network, "egress: host firewall rules not removed: {e}"),
    }
}

/// After `delete`: the listeners whose network is gone are dropped (the proxy exits when
/// none is left), and their host firewall rules removed. Warnings as [`sync`]'s.
pub async fn prune(engine: &Engine, pd_dir: &Path) -> Vec<String> {
    let Some(config) = read_config(pd_dir).await else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    for l in config.listeners {
        match engine.network_gateway(&l.network).await {
            Ok(Some(gateway)) if gateway == l.address.ip() => kept.push(l),
            // Gone: so go its firewall rules.
            Ok(None) => unguard_host(&l.network).await,
            _ => {}
        }
    }
    start_and_wait(pd_dir, kept).await
}

/// Writes the configuration for `listeners`, starts the proxy when none runs, and waits
/// until it serves it. Returns warnings (the proxy could not be started or did not answer
/// in time): egress sandboxes then reach nothing, which is the safe side.
pub async fn start_and_wait(pd_dir: &Path, listeners: Vec<Listener>) -> Vec<String> {
    let pd_dir = pd_dir.to_path_buf();
    let task = tokio::task::spawn_blocking(move || write_and_start(&pd_dir, listeners));
    let (folder, hash, record) = match task.await {
        Ok(Ok(Some(started))) => started,
        Ok(Ok(None)) => return Vec::new(),
        Ok(Err(e)) => return vec![format!("egress proxy: {e}")],
        Err(e) => return vec![format!("egress proxy: {e}")],
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if !record.alive() {
            return vec![format!(
                "egress proxy (pid {}) exited; see {}/{DIR}/{LOG_FILE}",
                record.pid,
                crate::workspace::DIR_NAME
            )];
        }
        if ProxyRecord::read(&folder)
            .is_some_and(|r| r.pid == record.pid && r.serving.as_deref() == Some(hash.as_str()))
        {
            return Vec::new();
        }
        if Instant::now() > deadline {
            return vec![format!(
                "egress proxy (pid {}) did not serve the new configuration within {}s; see {}/{DIR}/{LOG_FILE}",
                record.pid,
                START_TIMEOUT.as_secs(),
                crate::workspace::DIR_NAME
            )];
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes the configuration (when it changed) and starts the proxy when none runs.
/// `None` when there is nothing to serve (a running proxy then exits by itself).
fn write_and_start(
    pd_dir: &Path,
    listeners: Vec<Listener>,
) -> Result<Option<(OwnedDir, String, ProxyRecord)>, String> {
    let pd = OwnedDir::open(pd_dir).map_err(|e| e.to_string())?;
    let Some(folder) = pd
        .subdir(DIR, !listeners.is_empty())
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let config = ProxyConfig { listeners };
    let bytes = serde_json::to_vec_pretty(&config).map_err(|e| e.to_string())?;
    let current = folder.read(CONFIG_FILE, 4 * 1024 * 1024).ok().flatten();
    if current.as_deref() != Some(&bytes[..]) {
        folder
            .write_atomic(CONFIG_FILE, &bytes, is_json)
            .map_err(|e| e.to_string())?;
    }
    if config.listeners.is_empty() {
        return Ok(None);
    }
    let hash = config_hash(&bytes);
    let record = match ProxyRecord::read(&folder).filter(ProxyRecord::alive) {
        Some(running) => running,
        None => start(pd_dir, &folder)?,
    };
    Ok(Some((folder, hash, record)))
}

/// Starts `pocket-dock egress-proxy DIR` in its own process group (a Ctrl-C of this
/// command does not reach it), its output to `egress/proxy.log`.
fn start(pd_dir: &Path, folder: &OwnedDir) -> Result<ProxyRecord, String> {
    use std::os::unix::process::CommandExt;
    let program = proxy_program();
    let log = folder.open_or_create(LOG_FILE).map_err(|e| e.to_string())?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let child = std::process::Command::new(&program)
        .arg("egress-proxy")
        .arg(pd_dir)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {} egress-proxy: {e}", program.display()))?;
    let pid = i64::from(child.id());
    // Reaped when it exits (a long-running controller would keep it a zombie otherwise);
    // a command that exits first leaves it to be adopted.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    // Its start time identifies it from now on.
    let start = (0..100)
        .find_map(|_| {
            let t = crate::procs::start_time(pid);
            if t.is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
            t
        })
        .ok_or_else(|| format!("egress proxy (pid {pid}) exited at once"))?;
    let record = ProxyRecord {
        pid,
        start,
        serving: None,
    };
    // Recorded now, so that an older proxy still running sees it is replaced and exits.
    let bytes = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
    folder
        .write_atomic(PROXY_FILE, &bytes, is_json)
        .map_err(|e| e.to_string())?;
    Ok(record)
}

/// The program run as the proxy: `POCKET_DOCK_EGRESS_PROXY`, else this program when it is
/// `pocket-dock`, else `pocket-dock` from `PATH`.
fn proxy_program() -> std::path::PathBuf {
    if let Some(program) = std::env::var_os(PROXY_PROGRAM_ENV) {
        return program.into();
    }
    match std::env::current_exe() {
        Ok(me) if me.file_name().is_some_and(|n| n == "pocket-dock") => me,
        _ => "pocket-dock".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_is_pointed_at_its_gateway() {
        let env = proxy_env("10.213.4.1".parse().unwrap());
        assert_eq!(env["HTTPS_PROXY"], "http://10.213.4.1:3128");
        assert_eq!(env["http_proxy"], "http://10.213.4.1:3128");
        assert!(env["NO_PROXY"].contains("localhost"));
        let v6 = proxy_env("fd00::1".parse().unwrap());
        assert_eq!(v6["HTTP_PROXY"], "http://[fd00::1]:3128");
    }

    #[test]
    fn egress_networks_are_told_by_name_and_a_missing_firewall_is_explained() {
        assert!(is_egress_network("egress.agent"));
        assert!(is_egress_network("pd-egress.agent-0a1b2c3d"));
        assert!(!is_egress_network("default"));
        assert!(!is_egress_network("pd-default-0a1b2c3d"));
        let warning = unguarded_warning(
            "pd-egress.agent-0a1b2c3d",
            "10.213.4.1".parse().unwrap(),
            &firewall::FirewallError::NotInstalled {
                program: "iptables",
            },
        );
        assert!(warning.starts_with(
            "egress network pd-egress.agent-0a1b2c3d: host firewall rules not installed (iptables is not installed)"
        ));
        assert!(warning.contains("at 10.213.4.1 and on the bridge's IPv6 link-local address"));
        assert!(warning.contains("run pocket-dock as root"));
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        let me = ProxyRecord::of_this_process().unwrap();
        assert!(me.alive());
        assert!(
            !ProxyRecord {
                start: me.start + 1,
                ..me
            }
            .alive()
        );
    }
}
