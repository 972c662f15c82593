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

/// A loopback registry of its own that wants a user name and password (htpasswd basic
/// auth, bcrypt), plain HTTP on a free port. Nothing marks it insecure for the engine:
/// pocket-dock's own loopback rule must. Dropping it stops it and deletes its storage.
pub struct AuthRegistry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub user: String,
    pub password: String,
    process: Watched,
}

impl AuthRegistry {
    pub fn start() -> AuthRegistry {
        super::podman::require_tool("docker-registry", super::podman::INSTALL_HINT);
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pd-authreg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the registry folder");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let user = "pd-tester".to_string();
        let password = format!("pd-reg-pw-{}-{nanos:x}", std::process::id());
        let hash = bcrypt::hash(&password, 4).expect("bcrypt the test password");
        std::fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n")).expect("write htpasswd");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free loopback port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: pocket-dock-test\n    path: {}\n",
                dir.join("data").display(),
                dir.join("htpasswd").display()
            ),
        )
        .expect("write the registry config");
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
        // Ready when /v2/ asks for credentials.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if Self::status_of_v2(&addr) == Some(401) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not start; its log:\n{}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        AuthRegistry {
            addr,
            user,
            password,
            process,
        }
    }

    fn status_of_v2(addr: &str) -> Option<u16> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).ok()?;
        stream
            .write_all(b"GET /v2/ HTTP/1.0\r\nHost: registry\r\n\r\n")
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    }

    /// A containers auth.json with this registry's credentials (`auth`: base64 user:pass).
    pub fn auth_json(&self) -> String {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.password));
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, self.addr)
    }

    /// The same credentials as `username` and `password` fields.
    pub fn auth_json_fields(&self) -> String {
        format!(
            r#"{{"auths": {{"http://{}": {{"username": "{}", "password": "{}"}}}}}}"#,
            self.addr, self.user, self.password
        )
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}
