//! A private Podman service for tests: its own storage (`--root`/`--runroot` in a temp
//! folder), its own socket, its own containers.conf (via CONTAINERS_CONF), and an offline
//! busybox image it builds itself, since no outside registry is reachable. With
//! `POCKET_DOCK_TEST_ENGINE=docker` the same is a private Docker Engine (see [`super::engine`]):
//! its own data root, socket and bridge.
//!
//! The service runs under a [`Watched`] shell: when the test process exits, however it exits,
//! every container is removed, the service is killed by PID and the folder deleted.
//! Every service can pull from the shared loopback [`Registry`], which holds the test image
//! under [`Podman::registry_image`].

use std::io::{Read, Write};

use super::engine::{EngineUnderTest, under_test};
use super::registry::Registry;
use super::watchdog::{Watched, shell_quote};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pocket_dock::engine::{Engine, EngineConfig};

/// The offline image every service gets.
pub const TEST_IMAGE: &str = "localhost/pocket-dock-test/busybox:1";
/// The same image under the name the example workspaces use.
pub const DEMO_IMAGE: &str = "localhost/pocket-dock-demo/busybox:1";
/// The `PATH` the test images carry: Podman's and Docker's default for an image without one.
const DEFAULT_PATH_ENV: &str =
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Podman settings shared with the demo.
const CONTAINERS_CONF: &str = include_str!("../../../scripts/containers.conf");

/// Writes the offline busybox rootfs tarball (shared with the demo).
const ROOTFS_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/busybox-rootfs.sh");

/// The user that the rootless service runs as, when the tests run as root.
const ROOTLESS_USER: &str = "pdtest";

const DOCKER_HINT: &str = "Docker Engine is needed for POCKET_DOCK_TEST_ENGINE=docker: \
apt-get install -y --no-install-recommends docker.io containerd, or run scripts/compat.sh docker-20.10";

pub const INSTALL_HINT: &str = "Podman and friends are needed for the integration tests. \
Run ./scripts/test.sh (it installs what is missing), or: \
apt-get install -y podman runc catatonit netavark aardvark-dns busybox-static uidmap docker-registry";

#[derive(Debug, Clone)]
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

/// A running private Podman service.
pub struct Podman {
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// For a rootless service: the XDG_RUNTIME_DIR whose `podman/podman.sock` it serves.
    pub xdg_runtime_dir: Option<PathBuf>,
    user: Option<User>,
    service: Watched,
    /// Services started by `restart_service`, on the same store and socket.
    restarted: Vec<Watched>,
    /// The command prefix for the podman (or docker) CLI on this service's storage.
    prefix: Vec<String>,
    /// The command that runs the service (again, after a kill).
    service_command: Vec<String>,
    engine: EngineUnderTest,
    /// A process the service needs beside it (Docker's containerd), stopped with it.
    _helper: Option<Watched>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Rootful,
    Rootless,
}

static SHARED: OnceLock<Podman> = OnceLock::new();
static ROOTLESS: OnceLock<Podman> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Podman {
    /// The service shared by all tests of this process.
    pub fn shared() -> &'static Podman {
        SHARED.get_or_init(|| Podman::start(Mode::Rootful))
    }

    /// A rootless service (as a dedicated user when running as root).
    pub fn rootless() -> &'static Podman {
        ROOTLESS.get_or_init(|| Podman::start(Mode::Rootless))
    }

    /// A service of its own, for tests that break it. Dropping it stops it.
    pub fn start(mode: Mode) -> Podman {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("pd-it-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the service folder");
        if under_test() == EngineUnderTest::Docker {
            return Podman::start_docker(mode, n, dir);
        }
        require_tool("podman", INSTALL_HINT);

        let user = match mode {
            Mode::Rootful => None,
            Mode::Rootless => rootless_user(),
        };
        let conf = dir.join("containers.conf");
        // The same settings the demo uses (see scripts/containers.conf for why), plus what
        // rootless needs here: no slirp4netns network (/dev/net/tun is root-only on these
        // hosts) and cgroupfs (no systemd user session).
        let mut conf_text = CONTAINERS_CONF.to_string();
        if mode == Mode::Rootless {
            conf_text = conf_text.replace("[containers]\n", "[containers]\nnetns = \"none\"\n");
            conf_text.push_str("cgroup_manager = \"cgroupfs\"\n");
        }
        std::fs::write(&conf, conf_text).expect("write containers.conf");

        let registry = Registry::shared();
        let mut env = vec![
            ("CONTAINERS_CONF".to_string(), conf.display().to_string()),
            (
                "CONTAINERS_REGISTRIES_CONF".to_string(),
                registry.registries_conf.display().to_string(),
            ),
        ];
        let mut xdg_runtime_dir = None;
        if mode == Mode::Rootless {
            let home = dir.join("home");
            let xdg = dir.join("xdg");
            for d in [&home, &xdg] {
                std::fs::create_dir_all(d).expect("create rootless folders");
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                    .expect("chmod rootless folders");
            }
            env.push(("HOME".into(), home.display().to_string()));
            env.push(("XDG_RUNTIME_DIR".into(), xdg.display().to_string()));
            xdg_runtime_dir = Some(xdg);
        }
        let socket = match &xdg_runtime_dir {
            Some(xdg) => {
                std::fs::create_dir_all(xdg.join("podman")).expect("create socket folder");
                xdg.join("podman").join("podman.sock")
            }
            None => dir.join("podman.sock"),
        };
        if let Some(u) = &user {
            chown_tree(&dir, u);
        }

        let mut prefix: Vec<String> = Vec::new();
        if let Some(u) = &user {
            prefix.extend([
                "setpriv".into(),
                format!("--reuid={}", u.uid),
                format!("--regid={}", u.gid),
                "--clear-groups".into(),
            ]);
        }
        prefix.push("env".into());
        prefix.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        prefix.extend([
            "podman".into(),
            "--root".into(),
            dir.join("root").display().to_string(),
            "--runroot".into(),
            dir.join("run").display().to_string(),
        ]);

        let cleanup = prefix
            .iter()
            .map(|a| shell_quote(a))
            .chain(["rm", "-af", "-t", "0"].map(String::from))
            .collect::<Vec<_>>()
            .join(" ");
        // A rootless service leaves its user-namespace pause process behind.
        let cleanup = match &user {
            Some(u) => format!("{cleanup}; pkill -KILL -u {}", shell_quote(&u.name)),
            None => cleanup,
        };
        let mut command = prefix.clone();
        command.extend([
            "system".into(),
            "service".into(),
            "--time=0".into(),
            format!("unix://{}", socket.display()),
        ]);
        let service = Watched::spawn(&dir, &cleanup, &command, &[]);

        let podman = Podman {
            dir,
            socket,
            xdg_runtime_dir,
            user,
            service,
            restarted: Vec::new(),
            prefix,
            service_command: command,
            engine: EngineUnderTest::Podman,
            _helper: None,
        };
        podman.wait_until_ready();
        podman.import_test_image();
        podman
    }

    /// A private Docker Engine: its own data and exec roots in `dir`, and a bridge of its
    /// own (so that several daemons can run side by side) without iptables rules; published
    /// ports go through Docker's userland proxy. Run by scripts/compat.sh inside a network
    /// namespace of its own, so that the bridge never reaches the host's.
    fn start_docker(mode: Mode, n: u32, dir: PathBuf) -> Podman {
        assert!(
            mode == Mode::Rootful,
            "no rootless Docker service: the test must ask requires(.., Need::RootlessService)"
        );
        require_tool("dockerd", DOCKER_HINT);
        let socket = dir.join("podman.sock");
        let bridge = format!("pdbr{n}");
        let address = format!("172.30.{}.1/24", n % 250);
        for args in [
            vec!["link", "add", &bridge, "type", "bridge"],
            vec!["addr", "add", &address, "dev", &bridge],
            vec!["link", "set", &bridge, "up"],
        ] {
            let out = Command::new("ip").args(&args).output().expect("run ip");
            assert!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let prefix: Vec<String> = vec![
            "docker".into(),
            "-H".into(),
            format!("unix://{}", socket.display()),
        ];
        let docker = prefix
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let cleanup = format!(
            "{docker} ps -aq | xargs -r {docker} rm -f; ip link delete {}",
            shell_quote(&bridge)
        );
        // containerd runs apart from dockerd, as Debian's docker.service has it: a daemon
        // that is killed and started again (the fault tests) finds its containers there.
        // (A containerd that dockerd itself started does not survive dockerd's SIGKILL.)
        let containerd_dir = dir.join("containerd");
        std::fs::create_dir_all(&containerd_dir).expect("create the containerd folder");
        let containerd_config = containerd_dir.join("config.toml");
        std::fs::write(&containerd_config, "version = 2\n").expect("write containerd's config");
        let containerd_socket = dir.join("x").join("containerd.sock");
        let containerd = Watched::spawn(
            &containerd_dir,
            "",
            &[
                "containerd",
                "--config",
                &containerd_config.display().to_string(),
                "--root",
                &containerd_dir.join("root").display().to_string(),
                "--state",
                &dir.join("x").join("state").display().to_string(),
                "--address",
                &containerd_socket.display().to_string(),
            ]
            .map(String::from),
            &[],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !containerd_socket.exists() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start within 30 s; its log:\n{}",
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let command: Vec<String> = [
            "dockerd",
            "--containerd",
            &containerd_socket.display().to_string(),
            "--host",
            &format!("unix://{}", socket.display()),
            "--data-root",
            &dir.join("root").display().to_string(),
            "--exec-root",
            &dir.join("x").display().to_string(),
            "--pidfile",
            &dir.join("docker.pid").display().to_string(),
            "--iptables=false",
            // Containers outlive a daemon that dies, as they outlive a Podman service (the
            // fault tests kill the service and expect its containers still there).
            "--live-restore",
            "--bridge",
            &bridge,
        ]
        .map(String::from)
        .to_vec();
        let service = Watched::spawn(&dir, &cleanup, &command, &[]);
        let podman = Podman {
            dir,
            socket,
            xdg_runtime_dir: None,
            user: None,
            service,
            restarted: Vec::new(),
            prefix,
            service_command: command,
            engine: EngineUnderTest::Docker,
            _helper: Some(containerd),
        };
        podman.wait_until_ready();
        podman.import_test_image();
        podman
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ping(&self.socket) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the service did not answer within 30 s; its log:\n{}",
            self.restarted.last().unwrap_or(&self.service).log()
        );
    }

    fn import_test_image(&self) {
        let tar = self.dir.join("rootfs.tar");
        let out = Command::new("bash")
            .arg(ROOTFS_SCRIPT)
            .arg(&tar)
            .output()
            .expect("run busybox-rootfs.sh");
        assert!(
            out.status.success(),
            "{}. {INSTALL_HINT}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        if let Some(u) = &self.user {
            chown_tree(&tar, u);
        }
        // PATH as the engines' own default: containers made through the API get it anyway,
        // but `podman kube play` (export_kube.rs) gives a container only the image's.
        self.podman_ok(&[
            "import",
            "--change",
            DEFAULT_PATH_ENV,
            &tar.display().to_string(),
            TEST_IMAGE,
        ]);
        // The examples name the image the demo builds.
        self.podman_ok(&["tag", TEST_IMAGE, DEMO_IMAGE]);
    }

    /// Imports the test rootfs as `reference` with the label `key=value`.
    pub fn import_labeled(&self, reference: &str, key: &str, value: &str) {
        let tar = self.dir.join("rootfs.tar").display().to_string();
        self.podman_ok(&[
            "import",
            "--change",
            &format!("LABEL {key}={value}"),
            &tar,
            reference,
        ]);
    }

    /// The test image as a reference in the loopback registry, pushed there on first use.
    /// Absent from this service's store until pulled.
    pub fn registry_image(&self, tag: &str) -> String {
        let reference = format!("{}/pocket-dock-test/busybox:{tag}", Registry::shared().addr);
        self.podman_ok(&["tag", TEST_IMAGE, &reference]);
        self.podman_ok(&["push", "-q", &reference]);
        self.podman_ok(&["rmi", &reference]);
        reference
    }

    fn podman_ok(&self, args: &[&str]) {
        let out = self.podman(args);
        assert!(
            out.status.success(),
            "podman {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the podman CLI on this service's storage (the docker CLI on a Docker service,
    /// with Podman's `exists` subcommands read as `inspect`).
    pub fn podman(&self, args: &[&str]) -> Output {
        let mut args: Vec<&str> = args.to_vec();
        if self.engine == EngineUnderTest::Docker
            && matches!(args.as_slice(), ["container" | "image", "exists", ..])
        {
            args[1] = "inspect";
        }
        Command::new(&self.prefix[0])
            .args(&self.prefix[1..])
            .args(&args)
            .output()
            .expect("run the podman CLI")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn engine(&self) -> Engine {
        Engine::new(&EngineConfig::new(&self.socket)).expect("engine for the test service")
    }

    /// Kills the running service (SIGKILL) and starts a new one on the same store and
    /// socket, as a crash and a restart by systemd would.
    pub fn restart_service(&mut self) {
        self.kill_service();
        self.revive_service();
    }

    /// Starts the service again on the same store and socket (after `kill_service`).
    pub fn revive_service(&mut self) {
        let n = self.restarted.len();
        let log_dir = self.dir.join(format!("restart-{n}"));
        std::fs::create_dir_all(&log_dir).unwrap();
        let _ = std::fs::remove_file(&self.socket);
        // dockerd refuses a pid file whose process still exists, and the killed one lingers
        // as its watchdog's zombie.
        let _ = std::fs::remove_file(self.dir.join("docker.pid"));
        self.restarted
            .push(Watched::spawn(&log_dir, "", &self.service_command, &[]));
        self.wait_until_ready();
    }

    /// Kills the current service process (SIGKILL) by PID, as a crash would.
    pub fn kill_service(&self) {
        let pid = self.restarted.last().unwrap_or(&self.service).pid();
        let status = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "killing the service failed");
    }
}

fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.") && response.ends_with("OK")
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

pub fn require_tool(tool: &str, hint: &str) {
    assert!(which(tool).is_some(), "`{tool}` not found. {hint}");
}

fn current_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric uid")
}

/// As root: a dedicated unprivileged user (created once, with subuid/subgid ranges).
/// As anyone else: none needed, the tests already run rootless.
fn rootless_user() -> Option<User> {
    if current_uid() != 0 {
        return None;
    }
    let exists = Command::new("id")
        .arg(ROOTLESS_USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        let status = Command::new("useradd")
            .args([
                "--create-home",
                "--shell",
                "/usr/sbin/nologin",
                ROOTLESS_USER,
            ])
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {ROOTLESS_USER} failed");
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, ROOTLESS_USER])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    Some(User {
        name: ROOTLESS_USER.to_string(),
        uid: id("-u"),
        gid: id("-g"),
    })
}

fn chown_tree(path: &Path, user: &User) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", user.uid, user.gid))
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown of {} failed", path.display());
}
