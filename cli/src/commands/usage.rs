//! Parsing the command line with `--output json` honoured even when parsing fails: a usage
//! error is then one JSON error object on stderr (exit 2, category `invalid-input`), and
//! `--help` / `--version` print one JSON object on stdout. Without json (or yaml) clap
//! prints and exits as it always did.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use pocket_dock::{Category, ExitCode};

use super::Cli;
use super::report::{ErrorObject, print_error_object};

/// The parsed command line and the command's path (`image export`), or the exit code to
/// leave with (help, version and usage errors are already printed).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<(Cli, String), u8> {
    let args: Vec<OsString> = args.into_iter().collect();
    let mut root = Cli::command();
    let parsed = root.try_get_matches_from_mut(&args).and_then(|matches| {
        let path = path_of(&matches);
        Cli::from_arg_matches(&matches).map(|cli| (cli, path))
    });
    let err = match parsed {
        Ok(parsed) => return Ok(parsed),
        Err(err) => err.format(&mut root),
    };
    let code = u8::try_from(err.exit_code()).unwrap_or(ExitCode::InvalidInput.code());
    if !wants_json(&args) {
        let _ = err.print();
        return Err(code);
    }
    match err.kind() {
        ErrorKind::DisplayHelp => {
            out!(
                "{}",
                serde_json::json!({ "help": err.render().to_string() })
            );
        }
        ErrorKind::DisplayVersion => out!(
            "{}",
            serde_json::json!({ "name": "pocket-dock", "version": env!("CARGO_PKG_VERSION") })
        ),
        _ => {
            let rendered = err.render().to_string();
            let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("invalid arguments");
            let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
            let rest: Vec<&str> = lines.collect();
            let command = guess_path(&root, &args);
            print_error_object(&ErrorObject {
                category: Category::InvalidInput,
                operation: None,
                command: &command,
                subject: None,
                message,
                hint: (!rest.is_empty()).then(|| rest.join(" ")),
                exit_code: ExitCode::InvalidInput.code(),
            });
            return Err(ExitCode::InvalidInput.code());
        }
    }
    Err(code)
}

/// The subcommands chosen, joined by spaces (`image export`).
fn path_of(matches: &clap::ArgMatches) -> String {
    let mut names = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        names.push(name.to_string());
        current = sub;
    }
    names.join(" ")
}

/// Whether the last `--output`/`-o` before `--` asks for json or yaml (both report errors
/// as JSON). Read from the raw arguments: parsing may be what failed.
fn wants_json(args: &[OsString]) -> bool {
    let mut format = None;
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        let value = match word {
            "--output" | "-o" => words.next(),
            _ => word
                .strip_prefix("--output=")
                .or_else(|| word.strip_prefix("-o="))
                .or_else(|| word.strip_prefix("-o").filter(|v| !v.is_empty())),
        };
        if value.is_some() {
            format = value;
        }
    }
    matches!(format, Some("json" | "yaml"))
}

/// The command a command line that did not parse was for, as far as it can be told: the
/// subcommand names up to the first word that is none (option values skipped).
fn guess_path(root: &clap::Command, args: &[OsString]) -> String {
    let globals: Vec<&clap::Arg> = root.get_arguments().filter(|a| a.is_global_set()).collect();
    let takes_value = |cmd: &clap::Command, is: &dyn Fn(&clap::Arg) -> bool| {
        cmd.get_arguments()
            .chain(globals.iter().copied())
            .find(|a| is(a))
            .is_some_and(|a| a.get_action().takes_values())
    };
    let mut names = Vec::new();
    let mut cmd = root;
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        if let Some(long) = word.strip_prefix("--") {
            if !long.contains('=') && takes_value(cmd, &|a| a.get_long() == Some(long)) {
                words.next();
            }
        } else if let Some(short) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut chars = short.chars();
            if let (Some(c), None) = (chars.next(), chars.next())
                && takes_value(cmd, &|a| a.get_short() == Some(c))
            {
                words.next();
            }
        } else if let Some(sub) = cmd.find_subcommand(word) {
            names.push(sub.get_name().to_string());
            cmd = sub;
        } else {
            break;
        }
    }
    names.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        std::iter::once("pocket-dock")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn json_is_seen_in_every_spelling_and_the_last_one_wins() {
        for words in [
            &["--output", "json", "get"][..],
            &["get", "-o", "json"],
            &["get", "--output=json"],
            &["get", "-ojson"],
            &["get", "-o=yaml"],
            &["-o", "text", "get", "-o", "json"],
        ] {
            assert!(wants_json(&args(words)), "{words:?}");
        }
        for words in [
            &["get"][..],
            &["get", "-o", "wide"],
            &["-o", "json", "get", "-o", "text"],
            &["exec", "box", "--", "echo", "-o", "json"],
            &["get", "--output"],
        ] {
            assert!(!wants_json(&args(words)), "{words:?}");
        }
    }

    #[test]
    fn the_command_of_a_bad_command_line_is_guessed_past_option_values() {
        let root = Cli::command();
        for (words, path) in [
            (
                &["-C", "dir", "image", "export", "--bogus"][..],
                "image export",
            ),
            (&["--host", "unix:///x", "-o", "json", "pool"], "pool"),
            (&["-vv", "exec", "--timeout", "2s", "box"], "exec"),
            (&["plan", "--nope"], "diff"),
            (&["nosuchcommand", "image"], ""),
        ] {
            assert_eq!(guess_path(&root, &args(words)), path, "{words:?}");
        }
    }

    #[test]
    fn the_path_of_a_parsed_command_line_names_every_subcommand() {
        let matches = Cli::command()
            .try_get_matches_from(args(&["-o", "json", "template", "show", "base"]))
            .unwrap();
        assert_eq!(path_of(&matches), "template show");
    }
}
