//! `pocket-dock import ...`: `.pocket-dock/` documents from other tools' files.

use clap::{Args, Subcommand};

use super::{GlobalArgs, Outcome, import_devcontainer};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    command: ImportCommand,
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Write .pocket-dock/devcontainer.yaml from a Dev Container's devcontainer.json
    Devcontainer(import_devcontainer::DevcontainerArgs),
}

pub fn import(global: &GlobalArgs, args: ImportArgs) -> Outcome {
    match args.command {
        ImportCommand::Devcontainer(args) => import_devcontainer::devcontainer(global, args),
    }
}
