//! `man` and `explain` through the real binary: no Podman needed.

use std::path::Path;

use crate::support::cli;

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pd-docs-")
        .tempdir()
        .unwrap()
}

fn expected_pages(cwd: &Path, words: &mut Vec<String>, out: &mut Vec<String>) {
    let mut name = String::from("pocket-dock");
    for w in words.iter() {
        name = format!("{name}-{w}");
    }
    out.push(format!("{name}.1"));
    for sub in cli::subcommands(cwd, words) {
        words.push(sub);
        expected_pages(cwd, words, out);
        words.pop();
    }
}

#[test]
fn man_writes_one_valid_page_per_command() {
    let dir = tempdir();
    let out = dir.path().join("man/man1");
    let run = cli::pd(dir.path(), &[], &["man", "--out", "man/man1"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());

    let mut want = Vec::new();
    expected_pages(dir.path(), &mut Vec::new(), &mut want);
    want.sort();
    let mut got: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, want, "one page per command of `--help`'s tree");
    assert!(got.len() > 30, "{got:?}");
    assert!(
        run.stdout_text()
            .contains(&format!("wrote {} man pages", got.len()))
    );

    let man = std::process::Command::new("man").arg("--version").output();
    if man.is_err() {
        eprintln!("NOTE: no `man` on this machine: the pages were checked as text only");
    }
    for name in &got {
        let path = out.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n.TH "), "{name}: no .TH");
        assert!(text.contains("\n.SH NAME\n"), "{name}: no NAME");
        assert!(text.contains("\n.SH SYNOPSIS\n"), "{name}: no SYNOPSIS");
        if man.is_ok() {
            // groff through man: warnings (-ww) about bad requests go to stderr.
            let rendered = std::process::Command::new("man")
                .args(["-l", "--warnings=w"])
                .arg(&path)
                .env("MANWIDTH", "80")
                .env_remove("MAN_KEEP_FORMATTING")
                .env("PAGER", "cat")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&rendered.stderr);
            assert!(rendered.status.success(), "{name}: man -l failed: {stderr}");
            assert!(stderr.trim().is_empty(), "{name}: groff warned: {stderr}");
            // Overstrike bold (`N\bN`), should this man keep formatting into a pipe.
            let mut page = String::new();
            for c in String::from_utf8_lossy(&rendered.stdout).chars() {
                if c == '\u{8}' {
                    page.pop();
                } else {
                    page.push(c);
                }
            }
            assert!(
                page.contains("NAME") && page.contains("SYNOPSIS"),
                "{name}: rendered without NAME or SYNOPSIS:\n{page}"
            );
        }
    }

    // A symlinked DIR is refused, and nothing is written through it.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.path().join("link")).unwrap();
    let run = cli::pd(dir.path(), &[], &["man", "--out", "link"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("symlink"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn explain_prints_a_field_and_names_the_closest_one_on_a_typo() {
    let dir = tempdir();
    let run = cli::pd(dir.path(), &[], &["explain", "Sandbox.spec.mounts"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let text = run.stdout_text();
    for part in [
        "KIND:     Sandbox",
        "FIELD:    mounts <[]Mount>",
        "DESCRIPTION:",
        "DEFAULT:  [] (none)",
        "EXAMPLE:",
        "  target\t<string> -required-",
    ] {
        assert!(text.contains(part), "no {part:?} in\n{text}");
    }

    let run = cli::pd(
        dir.path(),
        &[],
        &["explain", "sandbox.spec.resources.memory", "-o", "json"],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr_text());
    let value: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(value["path"], "Sandbox.spec.resources.memory");
    assert_eq!(value["type"], "string");
    assert_eq!(value["example"], "512Mi");
    assert!(
        value["description"]
            .as_str()
            .unwrap()
            .contains("Memory limit")
    );

    let run = cli::pd(dir.path(), &[], &["explain", "sandbox.spec.mountz"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr_text()
            .contains("Sandbox.spec has no field `mountz` (did you mean `sandbox.spec.mounts`?)"),
        "{}",
        run.stderr_text()
    );
    let run = cli::pd(dir.path(), &[], &["explain", "sandbx", "-o", "json"]);
    assert_eq!(run.code, Some(2));
    let error: serde_json::Value = serde_json::from_slice(&run.stderr).unwrap();
    assert_eq!(error["error"]["exit_code"], 2);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`sandbox`")
    );
}
