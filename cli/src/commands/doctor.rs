use pocket_dock::doctor::{self, CheckStatus};
use pocket_dock::engine::{EnvSnapshot, Timeouts};

use super::{GlobalArgs, Outcome, OutputFormat};

pub async fn doctor(global: &GlobalArgs) -> Outcome {
    let mut report = doctor::diagnose(
        global.host.as_deref(),
        &EnvSnapshot::from_process(),
        Timeouts::default(),
    )
    .await;
    // In a workspace: its state store's schema version too (read, never migrated here).
    if let Some(check) = global
        .workspace()
        .ok()
        .and_then(|ws| doctor::state_store_check(&ws.dir()))
    {
        if check.status == CheckStatus::Fail && report.exit == pocket_dock::ExitCode::Success {
            report.exit = pocket_dock::ExitCode::Failed;
        }
        report.checks.push(check);
    }
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            out!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        OutputFormat::Text | OutputFormat::Wide => {
            for check in &report.checks {
                let mark = match check.status {
                    CheckStatus::Ok => "ok  ",
                    CheckStatus::Warn => "warn",
                    CheckStatus::Fail => "FAIL",
                };
                out!("{mark} {:<8} {}", check.name, check.message);
                if let Some(fix) = &check.fix {
                    out!("     {:<8} fix: {fix}", "");
                }
            }
            if let Some(engine) = &report.engine {
                out!("");
                out!("capabilities of {}:", engine.describe());
                for c in &engine.capabilities {
                    let mark = if c.available { "yes" } else { "no " };
                    out!("  {mark} {:<16} {}", c.capability.as_str(), c.detail);
                    if let Some(fix) = &c.fix {
                        out!("      {:<16} fix: {fix}", "");
                    }
                }
            }
        }
    }
    Ok(report.exit.code())
}
