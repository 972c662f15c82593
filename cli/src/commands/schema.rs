use std::path::PathBuf;

use clap::Args;
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::schema::{COMBINED_FILE, combined_schema, schema_files};

use super::Outcome;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write every schema file into DIR (created if missing)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Compare the files in DIR (--out, default ./schemas) with the generated ones; exit 1
    /// when they differ
    #[arg(long)]
    check: bool,
}

pub fn schema(args: SchemaArgs) -> Outcome {
    match (args.check, args.out) {
        (false, None) => {
            out!(
                "{}",
                serde_json::to_string_pretty(&combined_schema()).unwrap_or_default()
            );
            Ok(ExitCode::Success.code())
        }
        (false, Some(dir)) => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::file("create", &dir, e))?;
            for (name, text) in schema_files() {
                let path = dir.join(&name);
                std::fs::write(&path, text).map_err(|e| Error::file("write", &path, e))?;
            }
            out!(
                "wrote {} schemas to {} (editors: {COMBINED_FILE})",
                schema_files().len(),
                dir.display()
            );
            Ok(ExitCode::Success.code())
        }
        (true, dir) => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("schemas"));
            let mut stale = Vec::new();
            for (name, text) in schema_files() {
                let path = dir.join(&name);
                if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    stale.push(path.display().to_string());
                }
            }
            if stale.is_empty() {
                out!("schemas in {} are up to date", dir.display());
                Ok(ExitCode::Success.code())
            } else {
                for path in &stale {
                    err!("out of date: {path}");
                }
                err!(
                    "regenerate with `pocket-dock schema --out {}`",
                    dir.display()
                );
                Ok(ExitCode::ChangesPending.code())
            }
        }
    }
}
