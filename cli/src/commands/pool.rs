//! `claim`, `release` and `pool list|refill`: warm pools ([working-inside.md](../../../docs/working-inside.md#fast-sandboxes)).

use clap::{Args, Subcommand};
use pocket_dock::ExitCode;
use pocket_dock::pool::{ClaimOptions, EmptyPool};

use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// The pool to take a sandbox from
    #[arg(value_name = "POOL")]
    pool: String,
    /// The sandbox's name (default: POOL-<6 random hex>); must not be a declared sandbox's
    /// or an existing container's
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// With no ready member, fail (exit 4) instead of making one cold
    #[arg(long, conflicts_with = "wait")]
    no_cold: bool,
    /// With no ready member, wait up to this long for a refill (then exit 4), e.g. 30s
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    wait: Option<std::time::Duration>,
    /// Do not start a background refill (a running controller refills in any case)
    #[arg(long)]
    no_refill: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The claimed sandbox to remove (force: no graceful stop)
    #[arg(value_name = "NAME")]
    name: String,
}

#[derive(Debug, Args)]
pub struct PoolArgs {
    #[command(subcommand)]
    command: PoolCommand,
}

#[derive(Debug, Subcommand)]
enum PoolCommand {
    /// Each declared pool: size, ready, warming and claimed members
    List,
    /// Bring a pool to its size now: retire stale members, make the missing ones
    Refill {
        #[arg(value_name = "POOL")]
        pool: String,
        /// Return at once when another refill of this pool is running
        #[arg(long)]
        no_wait: bool,
        /// Print nothing (the background refill `claim` starts)
        #[arg(long, hide = true)]
        quiet: bool,
    },
}

/// `claim POOL [--name NAME]`: prints the sandbox's name as the only line on stdout (JSON:
/// an object), then, unless a controller runs for the workspace, starts a detached
/// `pool refill POOL` so that the pool fills again without the caller waiting
/// (`$(pocket-dock claim p)` returns at once).
pub async fn claim(global: &GlobalArgs, args: ClaimArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    let options = ClaimOptions {
        name: args.name.clone(),
        when_empty: match (args.no_cold, args.wait) {
            (true, _) => EmptyPool::Fail,
            (false, Some(limit)) => EmptyPool::Wait(limit),
            (false, None) => EmptyPool::Cold,
        },
    };
    let claimed = workspace.pool(&engine, &args.pool).claim(&options).await?;
    if claimed.cold {
        super::note(
            global.output,
            &format!(
                "claim: Pool/{} had no ready member; made Sandbox/{} cold ({:.0} ms)",
                claimed.pool, claimed.name, claimed.ms
            ),
        );
    }
    match global.output {
        OutputFormat::Json => out!("{}", serde_json::to_string(&claimed).unwrap_or_default()),
        OutputFormat::Yaml => out!(
            "{}",
            serde_json::to_value(&claimed)
                .map(|v| pocket_dock_spec::to_yaml(&v))
                .unwrap_or_default()
                .trim_end()
        ),
        OutputFormat::Text | OutputFormat::Wide => out!("{}", claimed.name),
    }
    {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }
    if !args.no_refill && !pocket_dock::controller::lock::controller_running(&workspace.dir()) {
        spawn_refill(global, &workspace, &args.pool);
    }
    Ok(ExitCode::Success.code())
}

/// Starts `pocket-dock -C ROOT pool refill POOL --quiet` detached: its own process group, no
/// terminal, no pipes of ours (so that a caller reading our stdout sees its end now).
fn spawn_refill(global: &GlobalArgs, workspace: &pocket_dock::Workspace, pool: &str) {
    use std::os::unix::process::CommandExt as _;
    let program = std::env::current_exe().unwrap_or_else(|_| "pocket-dock".into());
    let mut cmd = std::process::Command::new(program);
    cmd.arg("-C").arg(&workspace.root);
    if let Some(host) = &global.host {
        cmd.arg("--host").arg(host);
    }
    cmd.args(["pool", "refill", pool, "--quiet"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    if let Err(e) = cmd.spawn() {
        super::note(
            global.output,
            &format!("claim: could not start a background refill of Pool/{pool}: {e}"),
        );
    }
}

/// `release NAME`: removes a claimed sandbox at once.
pub async fn release(global: &GlobalArgs, args: ReleaseArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    workspace.release(&engine, &args.name).await?;
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => super::emit(
            &serde_json::json!({ "released": args.name, "kind": "Sandbox" }),
            global.output,
        ),
        _ => err!("released Sandbox/{}", args.name),
    }
    Ok(ExitCode::Success.code())
}

/// `pool list` and `pool refill POOL`.
pub async fn pool(global: &GlobalArgs, args: PoolArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let engine = global.engine_for(&workspace)?;
    match args.command {
        PoolCommand::List => {
            let pools = workspace.pools(&engine).await?;
            match global.output {
                OutputFormat::Json => {
                    out!("{}", serde_json::to_string(&pools).unwrap_or_default())
                }
                OutputFormat::Yaml => out!(
                    "{}",
                    serde_json::to_value(&pools)
                        .map(|v| pocket_dock_spec::to_yaml(&v))
                        .unwrap_or_default()
                        .trim_end()
                ),
                OutputFormat::Text | OutputFormat::Wide => {
                    out!(
                        "{:<20} {:<20} {:>4} {:>5} {:>7} {:>7}  PROBLEM",
                        "POOL",
                        "TEMPLATE",
                        "SIZE",
                        "READY",
                        "WARMING",
                        "CLAIMED"
                    );
                    for p in pools {
                        out!(
                            "{:<20} {:<20} {:>4} {:>5} {:>7} {:>7}  {}",
                            p.name,
                            p.template,
                            p.size,
                            p.ready,
                            p.warming,
                            p.claimed.len(),
                            p.problem.unwrap_or_default()
                        );
                    }
                }
            }
            Ok(ExitCode::Success.code())
        }
        PoolCommand::Refill {
            pool,
            no_wait,
            quiet,
        } => {
            let report = workspace.pool(&engine, &pool).refill(!no_wait).await?;
            if quiet {
                return Ok(ExitCode::Success.code());
            }
            match global.output {
                OutputFormat::Json | OutputFormat::Yaml => super::emit(
                    &serde_json::to_value(&report).unwrap_or_default(),
                    global.output,
                ),
                _ if report.skipped => {
                    err!("Pool/{pool}: another refill is running; nothing done")
                }
                _ => err!(
                    "Pool/{pool}: {} made, {} retired{}",
                    report.made,
                    report.retired,
                    if report.failures.is_empty() {
                        String::new()
                    } else {
                        format!("; failed: {}", report.failures.join("; "))
                    }
                ),
            }
            Ok(if report.failures.is_empty() {
                ExitCode::Success.code()
            } else {
                ExitCode::Failed.code()
            })
        }
    }
}
