use std::path::{Path, PathBuf};

use clap::Args;
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::crd::{CRD_DIR, crd_files, crds};
use pocket_dock_spec::schema::{COMBINED_FILE, combined_schema, schema_files};
use serde_json::json;

use super::{GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Write every schema file into DIR (created if missing)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Compare the files in DIR (--out, default ./schemas) with the generated ones; exit 1
    /// when they differ. Without --out it also checks the CRDs in ./schemas/crds
    #[arg(long)]
    check: bool,
    /// Kubernetes CustomResourceDefinitions (group pocket-dock.dev, v1alpha1) instead of
    /// JSON Schemas: YAML documents on stdout (a JSON list with --output json), one file
    /// per kind with --out, or --check them (default DIR ./schemas/crds)
    #[arg(long)]
    crds: bool,
}

/// The default folders, as committed in the repository.
const SCHEMA_DIR: &str = "schemas";

pub fn schema(global: &GlobalArgs, args: SchemaArgs) -> Outcome {
    // `-C DIR` is where relative paths start, as for every other command.
    let base = |path: PathBuf| match &global.dir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    };
    let out = args.out.map(base);
    let json = matches!(global.output, OutputFormat::Json | OutputFormat::Yaml);
    match (args.check, out) {
        (false, None) if args.crds => {
            if global.output == OutputFormat::Json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&crds()).unwrap_or_default()
                );
            } else {
                let docs: Vec<String> = crd_files().into_iter().map(|(_, text)| text).collect();
                out!("{}", docs.join("---\n").trim_end());
            }
            Ok(ExitCode::Success.code())
        }
        (false, None) => {
            out!(
                "{}",
                serde_json::to_string_pretty(&combined_schema()).unwrap_or_default()
            );
            Ok(ExitCode::Success.code())
        }
        (false, Some(dir)) => {
            let files = if args.crds {
                crd_files()
            } else {
                schema_files()
            };
            std::fs::create_dir_all(&dir).map_err(|e| Error::file("create", &dir, e))?;
            let mut written = Vec::new();
            for (name, text) in files {
                let path = dir.join(&name);
                std::fs::write(&path, text).map_err(|e| Error::file("write", &path, e))?;
                written.push(path.display().to_string());
            }
            if json {
                super::emit(&json!({ "wrote": written }), global.output);
            } else if args.crds {
                out!(
                    "wrote {} CustomResourceDefinitions to {}",
                    written.len(),
                    dir.display()
                );
            } else {
                out!(
                    "wrote {} schemas to {} (editors: {COMBINED_FILE})",
                    written.len(),
                    dir.display()
                );
            }
            Ok(ExitCode::Success.code())
        }
        (true, dir) => {
            let mut stale = Vec::new();
            let mut checked = Vec::new();
            let mut regenerate = Vec::new();
            let schemas = dir
                .clone()
                .unwrap_or_else(|| base(PathBuf::from(SCHEMA_DIR)));
            if !args.crds {
                stale.extend(stale_files(&schemas, schema_files()));
                checked.push(schemas.display().to_string());
                regenerate.push(format!("pocket-dock schema --out {}", schemas.display()));
            }
            // The repository's CRDs are checked with its schemas; an explicit DIR is
            // checked for what `schema [--crds] --out DIR` writes there.
            if args.crds || dir.is_none() {
                let crd_dir = match (&dir, args.crds) {
                    (Some(dir), true) => dir.clone(),
                    _ => schemas.join(CRD_DIR),
                };
                stale.extend(stale_files(&crd_dir, crd_files()));
                checked.push(crd_dir.display().to_string());
                regenerate.push(format!(
                    "pocket-dock schema --crds --out {}",
                    crd_dir.display()
                ));
            }
            if json {
                super::emit(
                    &json!({
                        "checked": checked,
                        "stale": stale,
                        "regenerate": if stale.is_empty() { Vec::new() } else { regenerate.clone() },
                    }),
                    global.output,
                );
            }
            if stale.is_empty() {
                if !json {
                    out!("schemas in {} are up to date", checked.join(" and "));
                }
                Ok(ExitCode::Success.code())
            } else if json {
                // The report is the finding (exit 1), as `diff`'s plan.
                Ok(ExitCode::ChangesPending.code())
            } else {
                for path in &stale {
                    err!("out of date: {path}");
                }
                err!("regenerate with `{}`", regenerate.join("` and `"));
                Ok(ExitCode::ChangesPending.code())
            }
        }
    }
}

/// The files of `dir` that differ from (or lack) the generated text.
fn stale_files(dir: &Path, files: Vec<(String, String)>) -> Vec<String> {
    files
        .into_iter()
        .filter_map(|(name, text)| {
            let path = dir.join(&name);
            (std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()))
                .then(|| path.display().to_string())
        })
        .collect()
}
