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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_numerically() {
        assert_eq!(parse_api("1.41"), Some((1, 41)));
        assert_eq!(parse_api("4.3.1"), Some((4, 3)));
        assert!(parse_api("1.41").unwrap() >= MIN_API);
        assert!(parse_api("1.9").unwrap() < MIN_API);
        assert_eq!(parse_api("junk"), None);
    }
}
