//! `export`: the workspace's declarations in another tool's format. Each format is one
//! subcommand (one variant of [`ExportFormat`]); each writes to stdout or `--out`, and
//! prints what it could not carry over as warnings on stderr.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pocket_dock::ExitCode;
use pocket_dock::export::ExportWarning;

use super::{GlobalArgs, Outcome, OutputFormat, export_quadlet};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    format: ExportFormat,
}

#[derive(Debug, Subcommand)]
enum ExportFormat {
    /// Kubernetes manifests: a Pod per sandbox (a Job for `run: once`), a
    /// PersistentVolumeClaim per volume, hostPath for bind mounts, hostPort and a Service
    /// for published ports, readiness probes; for `podman kube play` or a cluster
    Kube(KubeArgs),
    /// Podman Quadlet units (.container, .volume, .network, .build), so that systemd runs
    /// the workspace at boot without pocket-dock
    Quadlet(export_quadlet::QuadletArgs),
}

#[derive(Debug, Args)]
struct KubeArgs {
    /// Write the manifests to FILE (replaced atomically; a symlink is refused) instead of
    /// stdout
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub async fn export(global: &GlobalArgs, args: ExportArgs) -> Outcome {
    match args.format {
        ExportFormat::Kube(args) => kube(global, args).await,
        ExportFormat::Quadlet(args) => export_quadlet::quadlet(global, args),
    }
}

async fn kube(global: &GlobalArgs, args: KubeArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let exported = workspace.export_kube().await?;
    let text = exported.to_yaml();
    if let Some(file) = &args.out {
        pocket_dock::sdk::write_export(file, text.as_bytes())?;
    }
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let value = serde_json::json!({
                "documents": exported.documents.iter().map(|d| &d.manifest).collect::<Vec<_>>(),
                "warnings": exported.warnings,
                "out": args.out,
            });
            super::emit(&value, global.output);
        }
        _ => {
            print_warnings(&exported.warnings);
            match &args.out {
                Some(file) => out!(
                    "wrote {} document{} to {}",
                    exported.documents.len(),
                    if exported.documents.len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    file.display()
                ),
                None => {
                    use std::io::Write as _;
                    let _ = std::io::stdout().lock().write_all(text.as_bytes());
                }
            }
        }
    }
    Ok(ExitCode::Success.code())
}

fn print_warnings(warnings: &[ExportWarning]) {
    for warning in warnings {
        err!("warning: {warning}");
    }
}
