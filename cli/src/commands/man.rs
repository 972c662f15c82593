//! `pocket-dock man --out DIR`: a man page (section 1) for every command and subcommand,
//! from the same clap tree that parses the arguments (clap_mangen), so a new command gets
//! its page without anyone listing it.
//!
//! DIR is created if missing. Only files named `pocket-dock*.1` are written, never through
//! a symlink: a symlinked DIR or page is refused (exit 2), and an existing page is replaced
//! by a new file rather than written into.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use pocket_dock::{Error, ExitCode};
use serde_json::json;

use super::{Cli, GlobalArgs, Outcome, OutputFormat};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Folder to write the pages into (created if missing); only `pocket-dock*.1` files
    /// are written
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn man(global: &GlobalArgs, args: ManArgs) -> Outcome {
    // `-C DIR` is where relative paths start, as for every other command.
    let dir = match &global.dir {
        Some(base) if args.out.is_relative() => base.join(&args.out),
        _ => args.out,
    };
    let written = write_pages(&dir)?;
    if matches!(global.output, OutputFormat::Json | OutputFormat::Yaml) {
        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        super::emit(&json!({ "wrote": names }), global.output);
    } else {
        out!("wrote {} man pages to {}", written.len(), dir.display());
    }
    Ok(ExitCode::Success.code())
}

/// The commands that get a page: every visible command of the tree, the built-in `help`
/// subcommand excepted (its text is each page's own).
pub fn documented(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
}

/// Every page: (file name, roff text). Names are `pocket-dock.1`,
/// `pocket-dock-image-export.1`, ... (clap's display names after `build`).
pub fn pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let mut out = Vec::new();
    render(&root, &mut out)?;
    Ok(out)
}

fn render(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), std::io::Error> {
    // Every page names the release it documents (clap gives only the root a version).
    let page = clap_mangen::Man::new(cmd.clone())
        .source(format!("pocket-dock {}", env!("CARGO_PKG_VERSION")))
        .manual("pocket-dock Manual");
    let mut text = Vec::new();
    page.render(&mut text)?;
    out.push((page.get_filename(), text));
    for sub in documented(cmd) {
        render(sub, out)?;
    }
    Ok(())
}

fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::argument(
            "--out",
            format!(
                "{} is a symlink; give the folder it points to",
                dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::file("create", dir, e))?;
    let pages = pages().map_err(|e| Error::file("render", "the man pages", e))?;
    let mut written = Vec::new();
    for (name, text) in pages {
        let path = dir.join(&name);
        write_page(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

/// Replaces a page: an existing regular file is removed and a new one created
/// (`create_new` never follows a symlink); anything else in the way is refused.
fn write_page(path: &Path, text: &[u8]) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => {
            std::fs::remove_file(path).map_err(|e| Error::file("replace", path, e))?;
        }
        Ok(_) => {
            return Err(Error::argument(
                "--out",
                format!(
                    "{} exists and is not a regular file; not writing through it",
                    path.display()
                ),
            ));
        }
        Err(_) => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::file("write", path, e))?;
    file.write_all(text)
        .map_err(|e| Error::file("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command of clap's tree, as its page's file name.
    fn expected(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        let name = if prefix.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{prefix}-{}", cmd.get_name())
        };
        out.push(format!("{name}.1"));
        for sub in cmd.get_subcommands() {
            if !sub.is_hide_set() && sub.get_name() != "help" {
                expected(sub, &name, out);
            }
        }
    }

    #[test]
    fn one_page_per_command_of_the_tree_each_with_name_and_synopsis() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_pages(dir.path()).unwrap();
        let mut want = Vec::new();
        expected(&Cli::command(), "", &mut want);
        want.sort();
        let mut got: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        got.sort();
        assert_eq!(got, want);
        assert_eq!(written.len(), want.len());
        assert!(got.contains(&"pocket-dock-explain.1".to_string()));
        assert!(
            !got.iter()
                .any(|n| n.contains("egress-proxy") || n.ends_with("-help.1"))
        );
        let mut references = 0;
        for name in &got {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{name} is not roff");
            assert!(text.contains(".TH "), "{name} has no title");
            assert!(text.contains(".SH NAME"), "{name} has no NAME");
            assert!(text.contains(".SH SYNOPSIS"), "{name} has no SYNOPSIS");
            // Every page another page points to (`pocket-dock-image-export(1)`) exists.
            for (i, _) in text.match_indices("(1)") {
                let start = text[..i]
                    .rfind(|c: char| c.is_whitespace())
                    .map_or(0, |s| s + 1);
                let referenced = text[start..i].replace("\\-", "-");
                if referenced.starts_with("pocket-dock") {
                    references += 1;
                    assert!(
                        got.contains(&format!("{referenced}.1")),
                        "{name} points to {referenced}(1), which has no page"
                    );
                }
            }
        }
        assert!(
            references >= want.len() - 1,
            "the pages point to each other"
        );
        // A second run replaces its own pages.
        assert_eq!(write_pages(dir.path()).unwrap().len(), want.len());
    }

    #[test]
    fn symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(write_pages(&link), Err(Error::Argument { .. })));

        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("pocket-dock.1")).unwrap();
        assert!(matches!(write_pages(&out), Err(Error::Argument { .. })));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
