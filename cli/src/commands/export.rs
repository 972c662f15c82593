//! `pocket-dock export ...`: the workspace in other tools' formats.

use clap::{Args, Subcommand};

use super::{GlobalArgs, Outcome, export_quadlet};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    command: ExportCommand,
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// Write Podman Quadlet units (.container, .volume, .network, .build), so that systemd
    /// runs the workspace at boot without pocket-dock
    Quadlet(export_quadlet::QuadletArgs),
}

pub fn export(global: &GlobalArgs, args: ExportArgs) -> Outcome {
    match args.command {
        ExportCommand::Quadlet(args) => export_quadlet::quadlet(global, args),
    }
}
