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
//! until the proxy says it serves that configuration.

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

/// After `delete`: the listeners whose network is gone are dropped (the proxy exits when
/// none is left). Warnings as [`sync`]'s.
pub async fn prune(engine: &Engine, pd_dir: &Path) -> Vec<String> {
    let dir = pd_dir.to_path_buf();
    let read = tokio::task::spawn_blocking(move || -> Option<ProxyConfig> {
        let pd = OwnedDir::open(&dir).ok()?;
        let folder = pd.subdir(DIR, false).ok()??;
        let bytes = folder.read(CONFIG_FILE, 4 * 1024 * 1024).ok()??;
        serde_json::from_slice(&bytes).ok()
    })
    .await;
    let Ok(Some(config)) = read else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    for l in config.listeners {
        if let Ok(Some(gateway)) = engine.network_gateway(&l.network).await
            && gateway == l.address.ip()
        {
            kept.push(l);
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
