//! A private image registry on loopback (Debian's `docker-registry`), so that pulls can be
//! tested for real with no network: the harness pushes the test image into it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::watchdog::Watched;

pub struct Registry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// A registries.conf marking this registry as plain HTTP, for CONTAINERS_REGISTRIES_CONF.
    pub registries_conf: PathBuf,
    _process: Watched,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

impl Registry {
    pub fn shared() -> &'static Registry {
        REGISTRY.get_or_init(Registry::start)
    }

    fn start() -> Registry {
        super::podman::require_tool("docker-registry", super::podman::INSTALL_HINT);
        let dir = std::env::temp_dir().join(format!("pd-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the registry folder");
        // A free port: bind to port 0, read it, release it for the registry.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free loopback port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.join("data").display()
            ),
        )
        .expect("write the registry config");
        let registries_conf = dir.join("registries.conf");
        std::fs::write(
            &registries_conf,
            format!("[[registry]]\nlocation = \"{addr}\"\ninsecure = true\n"),
        )
        .expect("write registries.conf");
        let process = Watched::spawn(
            &dir,
            "",
            &[
                "docker-registry".into(),
                "serve".into(),
                config.display().to_string(),
            ],
            &[],
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start; its log:\n{}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            addr,
            registries_conf,
            _process: process,
        }
    }
}
