//! What the engine behind the socket can do, read once when pocket-dock connects.
//!
//! Podman and Docker Engine serve the same compat API for containers, exec, logs, volumes
//! and events, but not for making and moving images: Podman has its own `/libpod` endpoints
//! (OCI builds, commits without pausing, OCI archives), Docker has `/build`, `/commit`,
//! `/images/load` and `/images/get`, and Docker before 25 knows nothing of OCI archives.
//! [`EngineProfile::derive`] turns the facts the engine reports about itself into one
//! table of [`Capability`]s, each with how pocket-dock uses it or why it cannot, so that a
//! missing one is refused before anything is changed, never met as a 404 halfway through.
//!
//! Pure: the facts come from [`Engine::profile`](super::Engine::profile); tests build them.

use std::fmt;

/// Which engine answers the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Podman,
    Docker,
    /// Something else speaking the Docker API; treated like Docker, with a warning.
    Other,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Podman => "podman",
            EngineKind::Docker => "docker",
            EngineKind::Other => "other",
        }
    }
}

/// One thing pocket-dock may need from an engine. The names are a public contract (they
/// appear in errors, `doctor` and `--output json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Containerfile builds (`Image` with `build`).
    Build,
    /// Committing a running sandbox to an image (`Snapshot`).
    Commit,
    /// Loading OCI image archives (`Image` with `embedded`, `image import`).
    LoadOci,
    /// Writing OCI image archives (`image export`).
    ExportOci,
    /// Playing Kubernetes YAML (`podman kube play`).
    Kube,
    /// Networks whose containers resolve each other by name.
    NetworkDns,
    /// A user namespace of its own per container.
    UserNamespaces,
    /// A seccomp filter on containers.
    Seccomp,
    /// Egress allow-lists: an internal network without DNS, with a gateway address on the
    /// host for pocket-dock's proxy (`network: {egress: [...]}`).
    Egress,
}

impl Capability {
    pub const ALL: [Capability; 9] = [
        Capability::Build,
        Capability::Commit,
        Capability::LoadOci,
        Capability::ExportOci,
        Capability::Kube,
        Capability::NetworkDns,
        Capability::UserNamespaces,
        Capability::Seccomp,
        Capability::Egress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Build => "build",
            Capability::Commit => "commit",
            Capability::LoadOci => "load-oci",
            Capability::ExportOci => "export-oci",
            Capability::Kube => "kube",
            Capability::NetworkDns => "network-dns",
            Capability::UserNamespaces => "user-namespaces",
            Capability::Seccomp => "seccomp",
            Capability::Egress => "egress",
        }
    }

    /// What the capability is for, in a user's words.
    pub fn purpose(self) -> &'static str {
        match self {
            Capability::Build => "Containerfile builds (Image build)",
            Capability::Commit => "snapshots of sandboxes (Snapshot)",
            Capability::LoadOci => "loading plain OCI archives (image import of a Podman export)",
            Capability::ExportOci => "writing OCI archives (image export)",
            Capability::Kube => "Kubernetes YAML (kube play)",
            Capability::NetworkDns => "name resolution between sandboxes on a network",
            Capability::UserNamespaces => "a user namespace per sandbox",
            Capability::Seccomp => "a seccomp filter on sandboxes",
            Capability::Egress => "egress allow-lists (an internal network with no DNS)",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version as numbers; what follows them (`+ds1`, `-dev`) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `5.4.2`, `26.1.5+dfsg1`, `4.3.1-dev`, `1.41`; `None` when it does not start
    /// with a number.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().trim_start_matches('v').split('.').map(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        });
        let major = parts.next()??;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Version::new(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What an engine reports about itself: `/version`, `/info` and, for Podman, `/libpod/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineFacts {
    /// The server component's name: `Podman Engine`, `Engine` (Docker), ...
    pub product: String,
    pub version: String,
    pub api_version: String,
    pub rootless: bool,
    /// Podman's network backend: `netavark` or `cni`.
    pub network_backend: Option<String>,
    /// Whether a DNS server for networks is installed (Podman's aardvark-dns).
    pub dns_available: Option<bool>,
    /// Docker's `SecurityOptions` (`name=seccomp,profile=builtin`, `name=userns`, ...).
    pub security_options: Vec<String>,
    /// Podman's `host.security.seccompEnabled`.
    pub seccomp_enabled: Option<bool>,
    /// Docker: whether images live in containerd's store (`DriverStatus` driver-type
    /// `io.containerd.snapshotter.v1`) rather than a classic graph driver.
    pub containerd_store: bool,
}

/// One capability as an engine has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CapabilityState {
    pub capability: Capability,
    pub available: bool,
    /// How pocket-dock uses it (the endpoint), or why it is missing.
    pub detail: String,
    /// What to do when it is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The engine's identity and capability table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineProfile {
    pub kind: EngineKind,
    pub product: String,
    pub version: String,
    pub api_version: String,
    pub rootless: bool,
    /// Whether the version is one the compatibility matrix covers (docs/compatibility.md).
    pub tested: bool,
    pub capabilities: Vec<CapabilityState>,
    /// Said once, at connect: an untested version, an engine that is not Podman.
    pub warnings: Vec<String>,
}

/// Which engine answers and which version: all that most calls need (the list, create and
/// exec endpoints differ only by engine), known from one cheap request. Podman names its
/// version in a `Libpod-Api-Version` header on every answer, `/_ping`'s included, which
/// Docker never sends; `/version` and `/info`, which the full [`EngineProfile`] reads, make
/// Podman gather its host facts (hundreds of milliseconds on a busy machine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineIdentity {
    pub kind: EngineKind,
    pub version: String,
}

impl EngineIdentity {
    /// Podman's identity from the headers of any answer (`/_ping`'s); `None` without the
    /// libpod header (Docker, or something else: their full profile says which).
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<EngineIdentity> {
        let (_, version) = headers
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("libpod-api-version"))?;
        let version = version.trim();
        Version::parse(version)?;
        Some(EngineIdentity {
            kind: EngineKind::Podman,
            version: version.to_string(),
        })
    }

    pub fn of_profile(profile: &EngineProfile) -> EngineIdentity {
        EngineIdentity {
            kind: profile.kind,
            version: profile.version.clone(),
        }
    }

    pub fn is_podman(&self) -> bool {
        self.kind == EngineKind::Podman
    }

    /// What is said once at connect about this engine (the profile's warnings, as far as
    /// they depend on which engine it is).
    pub fn warnings(&self) -> Vec<String> {
        let product = match self.kind {
            EngineKind::Podman => "Podman Engine",
            EngineKind::Docker => "Docker Engine",
            EngineKind::Other => "unknown",
        };
        identity_warnings(self.kind, product, &self.version)
    }
}

impl EngineKind {
    /// The kind a `/version` component name means.
    pub fn of_product(product: &str) -> EngineKind {
        if product.contains("Podman") {
            EngineKind::Podman
        } else if product == "Engine" || product.contains("Docker") {
            EngineKind::Docker
        } else {
            EngineKind::Other
        }
    }
}

fn is_tested(kind: EngineKind, version: Option<Version>) -> bool {
    version.is_some_and(|v| {
        TESTED
            .iter()
            .any(|(k, first, last)| *k == kind && *first <= v && v <= *last)
    })
}

/// An engine that is neither Podman nor Docker, or a version the matrix does not cover.
fn identity_warnings(kind: EngineKind, product: &str, version: &str) -> Vec<String> {
    match kind {
        EngineKind::Other => vec![format!(
            "the engine calls itself {product:?}, neither Podman nor Docker; pocket-dock treats \
             it like Docker Engine"
        )],
        _ if !is_tested(kind, Version::parse(version)) => vec![format!(
            "{} {version} is not a version pocket-dock was tested with (see \
             docs/compatibility.md); carrying on",
            kind.as_str()
        )],
        _ => Vec::new(),
    }
}

/// The engine versions the compatibility matrix runs against (docs/compatibility.md):
/// (kind, first tested, last tested). Versions between are expected to work.
pub const TESTED: [(EngineKind, Version, Version); 2] = [
    (
        EngineKind::Podman,
        Version::new(4, 3, 0),
        Version::new(5, 8, 99),
    ),
    (
        EngineKind::Docker,
        Version::new(20, 10, 0),
        Version::new(26, 1, 99),
    ),
];

/// Docker loads and saves OCI image layouts from Engine 25 on.
const DOCKER_OCI_ARCHIVES: Version = Version::new(25, 0, 0);

impl EngineProfile {
    pub fn derive(facts: &EngineFacts) -> EngineProfile {
        let kind = EngineKind::of_product(&facts.product);
        let version = Version::parse(&facts.version);
        let tested = is_tested(kind, version);
        let warnings = identity_warnings(kind, &facts.product, &facts.version);
        let capabilities = Capability::ALL
            .iter()
            .map(|&c| capability_state(c, kind, version, facts))
            .collect();
        EngineProfile {
            kind,
            product: facts.product.clone(),
            version: facts.version.clone(),
            api_version: facts.api_version.clone(),
            rootless: facts.rootless,
            tested,
            capabilities,
            warnings,
        }
    }

    pub fn is_podman(&self) -> bool {
        self.kind == EngineKind::Podman
    }

    pub fn state(&self, capability: Capability) -> Option<&CapabilityState> {
        self.capabilities
            .iter()
            .find(|s| s.capability == capability)
    }

    pub fn has(&self, capability: Capability) -> bool {
        self.state(capability).is_some_and(|s| s.available)
    }

    /// `podman 5.4.2` or `docker 26.1.5`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind.as_str(), self.version)
    }
}

fn capability_state(
    capability: Capability,
    kind: EngineKind,
    version: Option<Version>,
    facts: &EngineFacts,
) -> CapabilityState {
    let yes = |detail: &str| CapabilityState {
        capability,
        available: true,
        detail: detail.to_string(),
        fix: None,
    };
    let no = |detail: String, fix: &str| CapabilityState {
        capability,
        available: false,
        detail,
        fix: Some(fix.to_string()),
    };
    let docker_oci = version.is_some_and(|v| v >= DOCKER_OCI_ARCHIVES);
    let has_option = |name: &str| {
        facts
            .security_options
            .iter()
            .any(|o| o.split(',').any(|part| part == format!("name={name}")))
    };
    match (capability, kind) {
        (Capability::Build, EngineKind::Podman) => yes("POST /libpod/build"),
        (Capability::Build, _) => yes("POST /build (classic builder)"),
        (Capability::Commit, EngineKind::Podman) => yes("POST /libpod/commit, not paused"),
        (Capability::Commit, _) => yes("POST /commit, not paused"),
        (Capability::LoadOci, EngineKind::Podman) => yes("POST /libpod/images/load"),
        (Capability::LoadOci, _) if docker_oci && facts.containerd_store => {
            yes("POST /images/load (containerd image store)")
        }
        (Capability::LoadOci, _) => no(
            format!(
                "Docker {} loads only archives with Docker's manifest.json (`docker save`'s \
                 format), not plain OCI archives; Docker 25 and later do with the containerd \
                 image store",
                facts.version
            ),
            "import an archive written by Docker or by pocket-dock on Docker, enable the \
             containerd image store (Docker 25+), or use Podman",
        ),
        (Capability::ExportOci, EngineKind::Podman) => {
            yes("GET /libpod/images/{name}/get?format=oci-archive")
        }
        (Capability::ExportOci, _) if docker_oci => yes("GET /images/{name}/get"),
        (Capability::ExportOci, _) => no(
            format!(
                "Docker {} writes only docker-archive files (Docker 25 and later write OCI)",
                facts.version
            ),
            "use Podman or Docker Engine 25 or later, or `docker save` for a docker-archive",
        ),
        (Capability::Kube, EngineKind::Podman) => yes("POST /libpod/play/kube"),
        (Capability::Kube, _) => no(
            "only Podman plays Kubernetes YAML".to_string(),
            "use Podman",
        ),
        (Capability::NetworkDns, EngineKind::Podman) => {
            match (facts.network_backend.as_deref(), facts.dns_available) {
                (Some("netavark"), Some(false)) => no(
                    "netavark without aardvark-dns: networks have no name resolution".to_string(),
                    "install aardvark-dns",
                ),
                (Some("netavark"), _) => yes("netavark with aardvark-dns"),
                (Some(backend), _) => no(
                    format!("the {backend} network backend has no name resolution"),
                    "set network_backend = \"netavark\" in containers.conf and install \
                     netavark and aardvark-dns (the backend is chosen when the store is \
                     first used: `podman system reset` switches an existing one)",
                ),
                (None, _) => no(
                    "Podman did not say which network backend it uses".to_string(),
                    "run `podman info --format '{{.Host.NetworkBackend}}'`; netavark is needed",
                ),
            }
        }
        (Capability::NetworkDns, _) => yes("user-defined bridge networks (embedded DNS)"),
        (Capability::UserNamespaces, EngineKind::Podman) => yes("userns per container"),
        (Capability::UserNamespaces, _) if has_option("userns") => {
            yes("the daemon's userns-remap (one mapping for all containers)")
        }
        (Capability::UserNamespaces, _) => no(
            "Docker runs containers in the host's user namespace unless the daemon remaps"
                .to_string(),
            "use Podman, or run dockerd with --userns-remap",
        ),
        (Capability::Seccomp, EngineKind::Podman) => match facts.seccomp_enabled {
            Some(false) => no(
                "Podman was built or configured without seccomp".to_string(),
                "install a Podman with seccomp support (libseccomp)",
            ),
            _ => yes("the engine's default profile"),
        },
        (Capability::Egress, EngineKind::Podman) if facts.rootless => no(
            "rootless Podman keeps its bridges in a network namespace of its own, out of \
             reach of pocket-dock's proxy on the host"
                .to_string(),
            "run sandboxes with `network.egress` on rootful Podman",
        ),
        (Capability::Egress, EngineKind::Podman) => {
            yes("POST /libpod/networks/create (internal, DNS disabled, a gateway)")
        }
        (Capability::Egress, _) => no(
            "Docker's internal networks keep its embedded DNS, which forwards names out"
                .to_string(),
            "use Podman for sandboxes with `network.egress`",
        ),
        (Capability::Seccomp, _) if has_option("seccomp") => yes("the engine's default profile"),
        (Capability::Seccomp, _) => no(
            "Docker reports no seccomp support".to_string(),
            "install a Docker Engine built with seccomp",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn podman(version: &str, backend: &str) -> EngineFacts {
        EngineFacts {
            product: "Podman Engine".into(),
            version: version.into(),
            api_version: "1.41".into(),
            network_backend: Some(backend.into()),
            dns_available: Some(true),
            seccomp_enabled: Some(true),
            ..EngineFacts::default()
        }
    }

    fn docker(version: &str) -> EngineFacts {
        EngineFacts {
            product: "Engine".into(),
            version: version.into(),
            api_version: "1.41".into(),
            security_options: vec!["name=seccomp,profile=builtin".into()],
            ..EngineFacts::default()
        }
    }

    #[test]
    fn podman_is_known_by_its_libpod_header_docker_by_its_absence() {
        let podman = [
            ("Api-Version", "1.41"),
            ("Libpod-Api-Version", "4.3.1"),
            ("Server", "Libpod/4.3.1 (linux)"),
        ];
        let identity = EngineIdentity::from_headers(podman).unwrap();
        assert!(identity.is_podman());
        assert_eq!(identity.version, "4.3.1");
        assert!(identity.warnings().is_empty(), "4.3.1 is tested");
        // Header names are case-insensitive.
        let lower = EngineIdentity::from_headers([("libpod-api-version", " 5.8.6 ")]).unwrap();
        assert_eq!(lower.version, "5.8.6");
        assert!(
            EngineIdentity::from_headers([("Libpod-Api-Version", "9.0.0")])
                .unwrap()
                .warnings()[0]
                .contains("podman 9.0.0 is not a version pocket-dock was tested with")
        );
        let docker = [
            ("Api-Version", "1.41"),
            ("Server", "Docker/20.10.24 (linux)"),
        ];
        assert_eq!(EngineIdentity::from_headers(docker), None);
        // A header that is not a version says nothing.
        assert_eq!(
            EngineIdentity::from_headers([("Libpod-Api-Version", "")]),
            None
        );
    }

    #[test]
    fn the_identity_says_what_the_profile_says() {
        for facts in [
            podman("4.3.1", "netavark"),
            podman("9.1.0", "netavark"),
            docker("26.1.5"),
        ] {
            let profile = EngineProfile::derive(&facts);
            let identity = EngineIdentity::of_profile(&profile);
            assert_eq!(identity.kind, profile.kind);
            assert_eq!(identity.is_podman(), profile.is_podman());
            if profile.is_podman() {
                assert_eq!(identity.warnings(), profile.warnings, "{facts:?}");
            }
        }
    }

    #[test]
    fn versions_parse_with_distribution_suffixes() {
        assert_eq!(Version::parse("5.4.2"), Some(Version::new(5, 4, 2)));
        assert_eq!(Version::parse("26.1.5+dfsg1"), Some(Version::new(26, 1, 5)));
        assert_eq!(Version::parse("4.3.1-dev"), Some(Version::new(4, 3, 1)));
        assert_eq!(Version::parse("1.41"), Some(Version::new(1, 41, 0)));
        assert_eq!(Version::parse("v6"), Some(Version::new(6, 0, 0)));
        assert_eq!(Version::parse("dev"), None);
        assert_eq!(Version::parse(""), None);
    }

    #[test]
    fn egress_needs_rootful_podman() {
        assert!(EngineProfile::derive(&podman("4.3.1", "netavark")).has(Capability::Egress));
        let rootless = EngineFacts {
            rootless: true,
            ..podman("4.3.1", "netavark")
        };
        assert!(!EngineProfile::derive(&rootless).has(Capability::Egress));
        assert!(!EngineProfile::derive(&docker("26.1.5")).has(Capability::Egress));
    }

    #[test]
    fn podman_has_every_capability_but_dns_on_cni() {
        let p = EngineProfile::derive(&podman("4.3.1", "cni"));
        assert_eq!(p.kind, EngineKind::Podman);
        assert!(p.tested && p.warnings.is_empty());
        for c in Capability::ALL {
            assert_eq!(p.has(c), c != Capability::NetworkDns, "{c}");
        }
        let dns = p.state(Capability::NetworkDns).unwrap();
        assert!(dns.detail.contains("cni"), "{}", dns.detail);
        assert!(dns.fix.as_deref().unwrap().contains("netavark"));
        assert!(EngineProfile::derive(&podman("5.8.6", "netavark")).has(Capability::NetworkDns));
    }

    #[test]
    fn old_docker_cannot_move_oci_archives_or_play_kube() {
        let p = EngineProfile::derive(&docker("20.10.24+dfsg1"));
        assert_eq!(p.kind, EngineKind::Docker);
        assert!(p.tested);
        assert!(p.has(Capability::Build) && p.has(Capability::Commit));
        assert!(!p.has(Capability::LoadOci) && !p.has(Capability::ExportOci));
        assert!(!p.has(Capability::Kube) && !p.has(Capability::UserNamespaces));
        assert!(p.has(Capability::Seccomp) && p.has(Capability::NetworkDns));
        // Docker 25+ writes OCI archives; it reads plain ones only with containerd's store.
        let recent = EngineProfile::derive(&docker("26.1.5+dfsg1"));
        assert!(!recent.has(Capability::LoadOci) && recent.has(Capability::ExportOci));
        let containerd = EngineProfile::derive(&EngineFacts {
            containerd_store: true,
            ..docker("26.1.5+dfsg1")
        });
        assert!(containerd.has(Capability::LoadOci));
    }

    #[test]
    fn an_unknown_version_warns_and_carries_on() {
        let p = EngineProfile::derive(&podman("6.0.0", "netavark"));
        assert!(!p.tested);
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("not a version"), "{:?}", p.warnings);
        assert!(p.has(Capability::Build));
        let odd = EngineProfile::derive(&EngineFacts {
            product: "Cool Engine".into(),
            version: "garbage".into(),
            ..EngineFacts::default()
        });
        assert_eq!(odd.kind, EngineKind::Other);
        assert!(odd.warnings[0].contains("neither Podman nor Docker"));
        assert!(!odd.has(Capability::LoadOci));
    }
}
