//! `pocket-dock template list|show`: the built-in templates and the workspace's, and the
//! sandbox spec a template gives.

use clap::{Args, Subcommand};
use pocket_dock::ExitCode;
use pocket_dock_spec::template::Listed;
use serde_json::json;

use super::{GlobalArgs, Outcome, OutputFormat, emit};

#[derive(Debug, Args)]
pub struct TemplateArgs {
    #[command(subcommand)]
    command: TemplateCommand,
}

#[derive(Debug, Subcommand)]
enum TemplateCommand {
    /// List the built-in templates and the workspace's, with what each extends
    List,
    /// Print the sandbox spec a template gives (its `extends` chain merged) as YAML; an
    /// unknown name exits 2
    Show {
        /// A built-in template or a Template of this workspace
        name: String,
        /// Also apply the workspace's defaults and expand the security profile: the spec a
        /// sandbox of this template adding nothing would run with
        #[arg(long)]
        effective: bool,
    },
}

pub fn template(global: &GlobalArgs, args: TemplateArgs) -> Outcome {
    match args.command {
        TemplateCommand::List => list(global),
        TemplateCommand::Show { name, effective } => show(global, &name, effective),
    }
}

fn source(l: &Listed) -> String {
    match &l.source {
        Some(s) => format!("{}:{}", s.file.display(), s.line),
        None => "built-in".to_string(),
    }
}

fn list(global: &GlobalArgs) -> Outcome {
    let workspace = global.declared_workspace()?;
    let list = workspace.templates();
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => emit(
            &json!({ "templates": list.templates, "problems": list.problems }),
            global.output,
        ),
        OutputFormat::Text | OutputFormat::Wide => {
            let rows: Vec<[String; 4]> = list
                .templates
                .iter()
                .map(|l| {
                    [
                        l.name.clone(),
                        l.extends.clone().unwrap_or_else(|| "-".into()),
                        source(l),
                        l.description.clone(),
                    ]
                })
                .collect();
            let header = [
                "NAME".to_string(),
                "EXTENDS".into(),
                "SOURCE".into(),
                "DESCRIPTION".into(),
            ];
            let widths: Vec<usize> = (0..3)
                .map(|i| {
                    std::iter::once(&header)
                        .chain(&rows)
                        .map(|r| r[i].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for row in std::iter::once(&header).chain(&rows) {
                let line = format!(
                    "{:w0$}  {:w1$}  {:w2$}  {}",
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    w0 = widths[0],
                    w1 = widths[1],
                    w2 = widths[2]
                );
                out!("{}", line.trim_end());
            }
            if !list.problems.is_empty() {
                err!(
                    "warning: {} problem{} in the workspace's files (broken files shown in their last valid version; see `pocket-dock validate`)",
                    list.problems.len(),
                    if list.problems.len() == 1 { "" } else { "s" }
                );
            }
        }
    }
    Ok(ExitCode::Success.code())
}

fn show(global: &GlobalArgs, name: &str, effective: bool) -> Outcome {
    let workspace = global.declared_workspace()?;
    let view = workspace.template(name, effective)?;
    let spec = serde_json::to_value(&view.spec).unwrap_or_default();
    match global.output {
        OutputFormat::Json | OutputFormat::Yaml => emit(
            &json!({
                "name": view.listed.name,
                "builtin": view.listed.builtin,
                "extends": view.listed.extends,
                "chain": view.chain,
                "source": view.listed.source,
                "effective": effective,
                "spec": spec,
            }),
            global.output,
        ),
        OutputFormat::Text | OutputFormat::Wide => {
            let what = if effective {
                ", with the workspace's defaults"
            } else {
                ""
            };
            out!(
                "# template {} ({}): the fields of {} merged{what}",
                view.listed.name,
                source(&view.listed),
                view.chain.join(" over ")
            );
            use std::io::Write as _;
            let _ = write!(
                std::io::stdout().lock(),
                "{}",
                pocket_dock_spec::to_yaml(&spec)
            );
        }
    }
    Ok(ExitCode::Success.code())
}
