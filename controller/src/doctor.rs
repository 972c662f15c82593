//! `doctor`: which socket, which engine, rootless or not, what the engine can do (its
//! capability table), and what to fix.

use crate::engine::socket::{self, EnvSnapshot, SocketChoice};
use crate::engine::{
    Category, Engine, EngineConfig, EngineError, EngineKind, EngineProfile, ServerInfo,
    ServerVersion, Timeouts,
};
use crate::error::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: CheckStatus,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DoctorReport {
    pub socket: Option<SocketChoice>,
    pub version: Option<ServerVersion>,
    pub info: Option<ServerInfo>,
    /// The engine's kind, version and capability table (what `apply` checks against).
    pub engine: Option<EngineProfile>,
    pub checks: Vec<Check>,
    /// How the process should exit: 0 healthy, 3 unreachable, 4 otherwise broken.
    #[serde(skip)]
    pub exit: ExitCode,
}

impl DoctorReport {
    pub fn healthy(&self) -> bool {
        self.checks.iter().all(|c| c.status != CheckStatus::Fail)
    }
}

/// The oldest compat API pocket-dock is known to work with.
const MIN_API: (u32, u32) = (1, 40);

fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
}

fn fail(name: &'static str, err: &EngineError) -> Check {
    Check {
        name,
        status: CheckStatus::Fail,
        message: err.to_string(),
        fix: err.hint(),
    }
}

/// Runs every check it can; stops at the first one that makes the rest meaningless.
pub async fn diagnose(host: Option<&str>, env: &EnvSnapshot, timeouts: Timeouts) -> DoctorReport {
    let mut report = DoctorReport {
        socket: None,
        version: None,
        info: None,
        engine: None,
        checks: Vec::new(),
        exit: ExitCode::Success,
    };
    let choice = match socket::discover(host, env, |p| p.exists()) {
        Ok(choice) => choice,
        Err(err) => {
            report.checks.push(fail("socket", &err));
            report.exit = ExitCode::InvalidInput;
            return report;
        }
    };
    let tried: Vec<String> = choice
        .candidates
        .iter()
        .map(|c| {
            let state = if c.exists { "present" } else { "absent" };
            format!("{} ({}, {state})", c.path.display(), c.source)
        })
        .collect();
    report.checks.push(Check {
        name: "socket",
        status: if choice.candidates.iter().any(|c| c.exists) {
            CheckStatus::Ok
        } else {
            CheckStatus::Fail
        },
        message: format!(
            "using {} from {}; tried: {}",
            choice.path.display(),
            choice.source,
            tried.join(", ")
        ),
        fix: None,
    });
    let config = EngineConfig {
        socket: choice.path.clone(),
        timeouts,
    };
    report.socket = Some(choice);

    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(err) => return unreachable(report, &err),
    };
    if let Err(err) = engine.ping().await {
        return unreachable(report, &err);
    }
    // The socket check passed if the ping did, whatever discovery thought.
    if let Some(socket_check) = report.checks.first_mut() {
        socket_check.status = CheckStatus::Ok;
    }
    report.checks.push(Check {
        name: "connect",
        status: CheckStatus::Ok,
        message: "the service answers /_ping".to_string(),
        fix: None,
    });

    match (engine.version().await, engine.profile().await) {
        (Ok(version), Ok(profile)) => {
            report.checks.push(server_check(&version, &profile));
            report.checks.push(api_check(&version));
            report.checks.push(capabilities_check(&profile));
            report.version = Some(version);
            report.engine = Some((*profile).clone());
        }
        (Err(err), _) | (_, Err(err)) => report.checks.push(fail("server", &err)),
    }
    match engine.info().await {
        Ok(info) => {
            report.checks.push(Check {
                name: "mode",
                status: CheckStatus::Ok,
                message: if info.rootless { "rootless" } else { "rootful" }.to_string(),
                fix: None,
            });
            report.checks.push(Check {
                name: "runtime",
                status: CheckStatus::Ok,
                message: format!(
                    "OCI runtime {}, storage driver {}",
                    info.runtime.as_deref().unwrap_or("unknown"),
                    info.storage_driver.as_deref().unwrap_or("unknown")
                ),
                fix: None,
            });
            report.info = Some(info);
        }
        Err(err) => report.checks.push(fail("mode", &err)),
    }
    if !report.healthy() {
        report.exit = ExitCode::Failed;
    }
    report
}

fn unreachable(mut report: DoctorReport, err: &EngineError) -> DoctorReport {
    report.checks.push(fail("connect", err));
    report.exit = if err.category() == Category::EngineUnreachable {
        ExitCode::EngineUnreachable
    } else {
        ExitCode::Failed
    };
    report
}

fn server_check(version: &ServerVersion, profile: &EngineProfile) -> Check {
    let described = format!(
        "{} {} ({}/{})",
        version.product, version.version, version.os, version.arch
    );
    match profile.kind {
        EngineKind::Podman | EngineKind::Docker if profile.tested => Check {
            name: "server",
            status: CheckStatus::Ok,
            message: described,
            fix: None,
        },
        EngineKind::Podman | EngineKind::Docker => Check {
            name: "server",
            status: CheckStatus::Warn,
            message: format!("{described}: a version the compatibility matrix does not cover"),
            fix: Some(
                "carry on, and report what breaks; docs/compatibility.md lists the tested versions"
                    .to_string(),
            ),
        },
        EngineKind::Other => Check {
            name: "server",
            status: CheckStatus::Warn,
            message: format!("{described} is neither Podman nor Docker Engine"),
            fix: Some(
                "pocket-dock treats it as Docker Engine; point --host at Podman or Docker for a tested setup"
                    .to_string(),
            ),
        },
    }
}

/// One line for the whole table: what is missing, if anything. The table itself is in
/// the report (`engine.capabilities`) and printed after the checks.
fn capabilities_check(profile: &EngineProfile) -> Check {
    let missing: Vec<&str> = profile
        .capabilities
        .iter()
        .filter(|c| !c.available)
        .map(|c| c.capability.as_str())
        .collect();
    if missing.is_empty() {
        Check {
            name: "features",
            status: CheckStatus::Ok,
            message: format!("all {} capabilities", profile.capabilities.len()),
            fix: None,
        }
    } else {
        Check {
            name: "features",
            status: CheckStatus::Warn,
            message: format!(
                "{} lacks {}: declarations that need them are refused",
                profile.describe(),
                missing.join(", ")
            ),
            fix: Some("see the capability table below for each one's fix".to_string()),
        }
    }
}

fn api_check(version: &ServerVersion) -> Check {
    match parse_api(&version.api_version) {
        Some(api) if api >= MIN_API => Check {
            name: "api",
            status: CheckStatus::Ok,
            message: format!("API {} (pocket-dock speaks 1.41)", version.api_version),
            fix: None,
        },
        _ => Check {
            name: "api",
            status: CheckStatus::Fail,
            message: format!(
                "API version {:?} is older than 1.40 or unreadable",
                version.api_version
            ),
            fix: Some("upgrade Podman to 4.0 or newer".to_string()),
        },
    }
}

/// The schema version in the header of a SQLite file (`PRAGMA user_version`: the 4 bytes at
/// offset 60, big-endian, signed); `None` when `header` is no SQLite header.
fn header_version(header: &[u8]) -> Option<i64> {
    if !header.starts_with(b"SQLite format 3\0") {
        return None;
    }
    let bytes: [u8; 4] = header.get(60..64)?.try_into().ok()?;
    Some(i64::from(i32::from_be_bytes(bytes)))
}

/// The state store's schema version, when `state_dir` (`.pocket-dock/`) has a `state.db`.
/// Read from the file's header, never through SQLite: `doctor` writes nothing (an older
/// database is migrated by the next command that opens it, not here), and opening a WAL
/// database would leave journal files beside it. A version a running newer pocket-dock has
/// not yet checkpointed out of the WAL is not seen here; the commands themselves see it.
pub fn state_store_check(state_dir: &std::path::Path) -> Option<Check> {
    use crate::store::{FILE_NAME, SCHEMA_VERSION, StoreError, StoreErrorKind};
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = state_dir.join(FILE_NAME);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    let check = |status, message: String, fix: Option<String>| Check {
        name: "state",
        status,
        message,
        fix,
    };
    if !meta.is_file() {
        return Some(check(
            CheckStatus::Warn,
            format!(
                "state store {}: not a regular file (a symlink?); pocket-dock never opens it",
                path.display()
            ),
            Some(format!(
                "remove {}: the state store is made anew and rebuilt from Podman's labels",
                path.display()
            )),
        ));
    }
    let mut header = Vec::with_capacity(100);
    let read = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .and_then(|file| file.take(100).read_to_end(&mut header));
    if let Err(e) = read {
        return Some(check(
            CheckStatus::Warn,
            format!("state store {}: cannot read it: {e}", path.display()),
            None,
        ));
    }
    let known = i64::from(SCHEMA_VERSION);
    Some(match header_version(&header) {
        // An empty file is a database SQLite has not written yet.
        None if header.is_empty() => check(
            CheckStatus::Ok,
            format!(
                "state store {}: empty; made at schema version {known} by the next command",
                path.display()
            ),
            None,
        ),
        None => check(
            CheckStatus::Warn,
            format!("state store {}: not a SQLite database", path.display()),
            Some("the next `pocket-dock apply` moves it aside (if no process holds it) and starts a new one".to_string()),
        ),
        Some(v) if v == known => check(
            CheckStatus::Ok,
            format!("state store {}: schema version {v} (current)", path.display()),
            None,
        ),
        Some(v) if (0..known).contains(&v) => check(
            CheckStatus::Ok,
            format!(
                "state store {}: schema version {v}; migrated to {known} by the next command that opens it",
                path.display()
            ),
            None,
        ),
        Some(found) => {
            let refused = StoreError {
                path: path.clone(),
                kind: StoreErrorKind::NewerSchema {
                    found,
                    known: SCHEMA_VERSION,
                },
                source: None,
            };
            check(CheckStatus::Fail, refused.to_string(), refused.hint())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_store_check_reads_the_version_from_the_header_and_writes_nothing() {
        use crate::store::{FILE_NAME, SCHEMA_VERSION, StateStore};
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(state_store_check(dir.path()), None, "no state.db, no check");
        drop(StateStore::open(dir.path()).unwrap());
        let db = dir.path().join(FILE_NAME);
        let c = state_store_check(dir.path()).unwrap();
        assert_eq!(c.status, CheckStatus::Ok);
        assert!(
            c.message
                .ends_with(&format!("schema version {SCHEMA_VERSION} (current)")),
            "{}",
            c.message
        );

        let mut bytes = std::fs::read(&db).unwrap();
        bytes[60..64].copy_from_slice(&0_i32.to_be_bytes());
        std::fs::write(&db, &bytes).unwrap();
        let c = state_store_check(dir.path()).unwrap();
        assert_eq!(c.status, CheckStatus::Ok);
        assert!(
            c.message.contains("schema version 0; migrated to"),
            "{}",
            c.message
        );

        bytes[60..64].copy_from_slice(&7_i32.to_be_bytes());
        std::fs::write(&db, &bytes).unwrap();
        let c = state_store_check(dir.path()).unwrap();
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(
            c.message
                .contains("schema version 7 was written by a newer"),
            "{}",
            c.message
        );
        assert!(c.fix.unwrap().contains("upgrade pocket-dock"));
        assert_eq!(std::fs::read(&db).unwrap(), bytes, "read only");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, [FILE_NAME], "no journal file made");

        std::fs::write(&db, b"garbage, not a database").unwrap();
        assert_eq!(
            state_store_check(dir.path()).unwrap().status,
            CheckStatus::Warn
        );
        std::fs::write(&db, b"").unwrap();
        assert_eq!(
            state_store_check(dir.path()).unwrap().status,
            CheckStatus::Ok
        );
        std::fs::remove_file(&db).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &db).unwrap();
        assert_eq!(
            state_store_check(dir.path()).unwrap().status,
            CheckStatus::Warn
        );
    }

    #[test]
    fn a_header_version_is_signed_big_endian_at_offset_60() {
        let mut header = b"SQLite format 3\0".to_vec();
        header.resize(100, 0);
        assert_eq!(header_version(&header), Some(0));
        header[63] = 2;
        assert_eq!(header_version(&header), Some(2));
        header[60..64].copy_from_slice(&(-3_i32).to_be_bytes());
        assert_eq!(header_version(&header), Some(-3));
        assert_eq!(header_version(&header[..62]), None, "too short");
        assert_eq!(header_version(b"not sqlite"), None);
    }

    #[test]
    fn api_versions_compare_numerically() {
        assert_eq!(parse_api("1.41"), Some((1, 41)));
        assert_eq!(parse_api("4.3.1"), Some((4, 3)));
        assert!(parse_api("1.41").unwrap() >= MIN_API);
        assert!(parse_api("1.9").unwrap() < MIN_API);
        assert_eq!(parse_api("junk"), None);
    }
}
