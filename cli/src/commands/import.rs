//! `pocket-dock import`: other tools' files as `.pocket-dock/` documents.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use pocket_dock::import::{self, Imported, Note, compose};
use pocket_dock::workspace::DIR_NAME;
use pocket_dock::{Error, ExitCode};

use super::{GlobalArgs, Outcome, OutputFormat, import_devcontainer};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    what: ImportCommand,
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// Write .pocket-dock/ documents from a compose file: services become Sandboxes (and
    /// Images), named volumes Volumes, networks Networks; every key not carried over is
    /// listed with its line and why
    Compose(ComposeArgs),
    /// Write .pocket-dock/devcontainer.yaml from a Dev Container's devcontainer.json
    Devcontainer(import_devcontainer::DevcontainerArgs),
}

#[derive(Debug, Args)]
struct ComposeArgs {
    /// The compose file (default: compose.yaml, compose.yml, docker-compose.yaml or
    /// docker-compose.yml in the workspace root, the first that exists)
    file: Option<PathBuf>,
    /// Folder to write the documents into (default: .pocket-dock/compose/ in the
    /// workspace root)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replace files in the folder that `import` did not write
    #[arg(long)]
    force: bool,
}

pub fn import(global: &GlobalArgs, args: ImportArgs) -> Outcome {
    match args.what {
        ImportCommand::Compose(args) => import_compose(global, args),
        ImportCommand::Devcontainer(args) => import_devcontainer::devcontainer(global, args),
    }
}

fn import_compose(global: &GlobalArgs, args: ComposeArgs) -> Outcome {
    let workspace = global.workspace()?;
    let root = &workspace.root;
    let file = match args.file {
        Some(file) => file,
        None => compose::DEFAULT_FILES
            .iter()
            .map(|name| root.join(name))
            .find(|path| path.is_file())
            .ok_or_else(|| {
                Error::argument(
                    "FILE",
                    format!(
                        "no compose file in {} (looked for {}); name one",
                        root.display(),
                        compose::DEFAULT_FILES.join(", ")
                    ),
                )
            })?,
    };
    // A compose file that is not there is a wrong argument (exit 2), as compose's `-f`.
    let file = file
        .canonicalize()
        .map_err(|e| Error::argument("FILE", format!("cannot read {}: {e}", file.display())))?;
    let text = read_limited(
        &file,
        pocket_dock_spec::yaml::Limits::default().max_bytes as u64,
    )?;
    let folder = file.parent().unwrap_or(root).to_path_buf();
    let shown = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
    let base = folder.strip_prefix(root).unwrap_or(&folder).to_path_buf();
    // Compose's variables: the process environment over the project's `.env`.
    let dotenv = folder.join(".env");
    let mut env = if dotenv.exists() {
        let text = read_limited(&dotenv, compose::MAX_ENV_FILE_BYTES)
            .map_err(|e| Error::argument(".env", e.to_string()))?;
        compose::parse_env_file(&text)
    } else {
        BTreeMap::new()
    };
    env.extend(std::env::vars());
    let read = |name: &str| -> Result<String, String> {
        read_limited(&folder.join(name), compose::MAX_ENV_FILE_BYTES).map_err(|e| e.to_string())
    };
    let input = compose::Input {
        file: shown,
        base,
        env: &env,
        read: &read,
    };
    let imported = match compose::import(&text, &input) {
        Ok(imported) => imported,
        Err(diagnostics) => {
            super::declared::print_problems(
                &diagnostics,
                global.output,
                "nothing was written",
                super::declared::Stream::Stdout,
                &global.command,
            );
            return Ok(ExitCode::InvalidInput.code());
        }
    };
    let out = match args.out {
        Some(dir) => dir,
        None => root.join(DIR_NAME).join("compose"),
    };
    let written = import::write(&out, &imported.files, args.force)?;
    report(global.output, root, &input.file, &written, &imported);
    Ok(ExitCode::Success.code())
}

fn read_limited(path: &Path, limit: u64) -> Result<String, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::file("read", path, e))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| Error::file("read", path, e))?;
    if text.len() as u64 > limit {
        return Err(Error::argument(
            "FILE",
            format!("{} is larger than {limit} bytes", path.display()),
        ));
    }
    Ok(text)
}

fn report(
    format: OutputFormat,
    root: &Path,
    file: &Path,
    written: &[PathBuf],
    imported: &Imported,
) {
    let shown = |p: &PathBuf| p.strip_prefix(root).unwrap_or(p).display().to_string();
    match format {
        OutputFormat::Text | OutputFormat::Wide => {
            for path in written {
                out!("wrote {}", shown(path));
            }
            let line = |note: &Note, what: &str| {
                format!(
                    "{}:{}: {}: {what}{}",
                    file.display(),
                    note.line,
                    note.path,
                    note.reason
                )
            };
            for note in &imported.warnings {
                out!("{}", line(note, "note: "));
            }
            for note in &imported.skipped {
                out!("{}", line(note, "not carried over: "));
            }
            out!(
                "{} file{} written, {} key{} not carried over; check with `pocket-dock validate`",
                written.len(),
                if written.len() == 1 { "" } else { "s" },
                imported.skipped.len(),
                if imported.skipped.len() == 1 { "" } else { "s" }
            );
        }
        OutputFormat::Json | OutputFormat::Yaml => {
            let value = serde_json::json!({
                "file": file.display().to_string(),
                "written": written.iter().map(shown).collect::<Vec<_>>(),
                "skipped": imported.skipped,
                "warnings": imported.warnings,
            });
            super::emit(&value, format);
        }
    }
}
