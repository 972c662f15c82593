//! Common ways a file breaks, named as what they are: an unresolved merge conflict, tabs
//! used for indentation, a byte-order mark inside the file, template placeholders, two
//! documents without `---` between them, JSON with comments or a syntax error. Each has a
//! code of its own, the location where the problem starts and a hint. The parser's message
//! for the same file often points a line late and speaks of YAML's grammar instead.
//!
//! `scan` looks at the text before parsing (a merge conflict can hide in text that still
//! parses); `explain` looks again when parsing failed. Both are linear in the text.

use crate::yaml::{Loc, YamlError};

const BOM: char = '\u{feff}';

/// Problems that the text shows on its own, reported even when the rest would parse: a
/// merge conflict first (it explains everything else), then a byte-order mark inside the
/// file, then a comment in a JSON file.
pub(crate) fn scan(text: &str) -> Option<YamlError> {
    merge_conflict(text)
        .or_else(|| stray_byte_order_mark(text))
        .or_else(|| json_comment(text))
}

/// A parse failure named after its likely cause when the text shows one; otherwise the
/// error as it was, with a hint when the file looks like JSON.
pub(crate) fn explain(text: &str, error: YamlError) -> YamlError {
    if let Some(tab) = misplaced_tab(text, &error) {
        return tab;
    }
    if let Some(template) = template_placeholder(text, error.loc) {
        return template;
    }
    if looks_like_json(text) {
        let hint = json_hint(text, &error);
        return error.hint(hint);
    }
    error
}

/// Whether a duplicate top-level key is the start of a second pocket-dock document.
pub(crate) fn starts_a_document(key: &str) -> bool {
    matches!(key, "apiVersion" | "kind")
}

/// Two documents written one after the other: the second one's `apiVersion` or `kind` is a
/// duplicate key of the first.
pub(crate) fn second_document(loc: Loc) -> YamlError {
    YamlError::new(
        loc,
        "missing-separator",
        "a second document starts here without `---`",
    )
    .hint("add a line `---` before it")
}

/// The lines of `text` numbered from 1, without their line ending (`\n` or `\r\n`) and
/// without a leading byte-order mark (YAML allows one, and columns do not count it).
fn numbered_lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    (1..=u32::MAX).zip(text.lines())
}

/// The 1-based column of the character at byte `at` of `line`.
fn column(line: &str, at: usize) -> u32 {
    let before = line.get(..at).map_or(0, |s| s.chars().count());
    u32::try_from(before + 1).unwrap_or(u32::MAX)
}

fn merge_conflict(text: &str) -> Option<YamlError> {
    let (line, _) = numbered_lines(text).find(|(_, l)| is_conflict_marker(l))?;
    Some(
        YamlError::new(
            Loc { line, column: 1 },
            "merge-conflict",
            "merge conflict marker: this file has an unresolved merge conflict",
        )
        .hint("keep one side, delete the <<<<<<< ======= >>>>>>> lines"),
    )
}

/// git's markers, at column 1: `<<<<<<< ours`, `||||||| base` (diff3), `=======`,
/// `>>>>>>> theirs`.
fn is_conflict_marker(line: &str) -> bool {
    if line.trim_end() == "=======" {
        return true;
    }
    ["<<<<<<<", "|||||||", ">>>>>>>"].iter().any(|marker| {
        line.strip_prefix(marker)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}

fn stray_byte_order_mark(text: &str) -> Option<YamlError> {
    let (line, column) = numbered_lines(text)
        .find_map(|(n, line)| line.find(BOM).map(|at| (n, column(line, at))))?;
    Some(
        YamlError::new(
            Loc { line, column },
            "byte-order-mark",
            "byte-order mark (U+FEFF) inside the file",
        )
        .hint(
            "delete this invisible character; it usually comes from joining files that each started with one",
        ),
    )
}

/// Whether the first thing in the file, after blank lines and comments, is `{` or `[`.
fn looks_like_json(text: &str) -> bool {
    numbered_lines(text)
        .map(|(_, line)| line.trim_start())
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .is_some_and(|line| line.starts_with(['{', '[']))
}

/// `//` and `/* */` comments do not break YAML's parse of a JSON file: they silently become
/// part of a key or a value. Named here before they turn into confusing field errors.
fn json_comment(text: &str) -> Option<YamlError> {
    if !looks_like_json(text) {
        return None;
    }
    let (line, column) = numbered_lines(text)
        .find_map(|(n, line)| json_comment_start(line).map(|at| (n, column(line, at))))?;
    Some(
        YamlError::new(
            Loc { line, column },
            "json-comment",
            "comment in a JSON file: JSON has no comments, and YAML would read it as part of a key or value",
        )
        .hint("delete the comment, or write the file as YAML and use `#` for comments"),
    )
}

/// Where a `//` or `/*` comment starts on a JSON line: outside strings, after white space or
/// punctuation, where a value could not go on.
fn json_comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    let mut previous: Option<char> = None;
    let mut after_blank = true;
    for (i, c) in line.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    in_string = false;
                    previous = Some('"');
                }
                _ => {}
            }
            after_blank = false;
            continue;
        }
        let opens_comment = c == '/'
            && line.get(i + 1..).is_some_and(|r| r.starts_with(['/', '*']))
            && (after_blank || matches!(previous, Some(',' | '{' | '[')))
            && previous.is_none_or(|p| {
                matches!(p, ',' | '{' | '}' | '[' | ']' | '"') || p.is_ascii_digit()
            });
        if opens_comment {
            return Some(i);
        }
        if c == '"' {
            in_string = true;
        }
        after_blank = c.is_whitespace();
        if !after_blank {
            previous = Some(c);
        }
    }
    None
}

/// A tab where the parser wants a space: in a line's indentation (reported at the tab,
/// which is on the failing line or the next: the parser notices it while reading the
/// previous value), or after `:`.
fn misplaced_tab(text: &str, error: &YamlError) -> Option<YamlError> {
    let after_colon = error.message.contains("':' must be followed by");
    // The word, not the letters: "found unprintable character" is no tab.
    let about_tabs = error
        .message
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|word| word == "tab" || word == "tabs");
    if !about_tabs && !after_colon {
        return None;
    }
    let indentation = |line: &str| {
        let blank = line.len() - line.trim_start_matches([' ', '\t']).len();
        // Tabs before a comment are allowed.
        let content = line
            .get(blank..)
            .is_some_and(|c| !c.is_empty() && !c.starts_with('#'));
        line.get(..blank)
            .and_then(|lead| lead.find('\t'))
            .filter(|_| content)
    };
    let first = error.loc.line;
    let lines = numbered_lines(text)
        .skip(
            usize::try_from(first)
                .unwrap_or(usize::MAX)
                .saturating_sub(1),
        )
        .take(2);
    let mut in_indentation = None;
    let mut on_error_line = None;
    for (n, line) in lines {
        if let Some(at) = indentation(line) {
            in_indentation = Some(Loc {
                line: n,
                column: column(line, at),
            });
            break;
        }
        if n == first {
            on_error_line = line.find('\t').map(|at| Loc {
                line: n,
                column: column(line, at),
            });
        }
    }
    match (in_indentation, on_error_line) {
        (Some(loc), _) => Some(
            YamlError::new(loc, "tab-indentation", "tab character used for indentation")
                .hint("YAML indents with spaces only; replace the tab with spaces"),
        ),
        (None, Some(loc)) if after_colon => Some(
            YamlError::new(loc, "tab-indentation", "tab character after `:`")
                .hint("put a space after `:`, not a tab"),
        ),
        (None, loc) if !after_colon => Some(
            YamlError::new(
                loc.unwrap_or(error.loc),
                "tab-indentation",
                "tab character where YAML needs spaces",
            )
            .hint("YAML indents with spaces only; replace the tab with spaces"),
        ),
        _ => None,
    }
}

/// `{{ … }}` (Helm, Jinja, Go templates) or `{% … %}` (Jinja) unquoted on the failing line
/// or the one before: YAML reads `{` as the start of a mapping.
fn template_placeholder(text: &str, loc: Loc) -> Option<YamlError> {
    let first = loc.line.saturating_sub(1).max(1);
    let mut found = None;
    for (n, line) in numbered_lines(text)
        .skip(
            usize::try_from(first)
                .unwrap_or(usize::MAX)
                .saturating_sub(1),
        )
        .take_while(|(n, _)| *n <= loc.line)
    {
        if let Some(at) = unquoted_template(line) {
            let statement = line.get(at..).is_some_and(|r| r.starts_with("{%"));
            found = Some((n, column(line, at), statement));
        }
    }
    let (line, column, statement) = found?;
    let what = if statement {
        "template tag `{% … %}`"
    } else {
        "template placeholder `{{ … }}`"
    };
    Some(
        YamlError::new(
            Loc { line, column },
            "template",
            format!("{what}: pocket-dock reads plain YAML"),
        )
        .hint("render the template first, or quote the value"),
    )
}

/// Where `{{` or `{%` starts on a line outside quotes and comments.
fn unquoted_template(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            // `''` is an escaped quote inside single quotes.
            Some('\'') if c == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' if previous.is_whitespace() || matches!(previous, '[' | '{' | ',') => {
                    quote = Some(c);
                }
                '#' if previous.is_whitespace() => return None,
                '{' if chars.peek().is_some_and(|(_, n)| matches!(n, '{' | '%')) => {
                    return Some(i);
                }
                _ => {}
            },
        }
        previous = c;
    }
    None
}

/// The likely cause of a JSON file's parse failure. JSON is YAML (trailing commas are
/// accepted too), so what fails is broken JSON.
fn json_hint(text: &str, error: &YamlError) -> String {
    let content = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let mut before = None;
    let mut last = 0;
    // Nothing but the next key before the error: the comma was due at the previous line.
    let mut first_on_line = false;
    for (n, line) in numbered_lines(text) {
        if n == error.loc.line {
            let column = usize::try_from(error.loc.column).unwrap_or(usize::MAX);
            let mut prefix = line.chars().take(column.saturating_sub(1));
            first_on_line = prefix.all(|c| !matches!(c, ',' | ':'));
        }
        if content(line) {
            if n < error.loc.line {
                before = Some(n);
            }
            last = n;
        }
    }
    let cause = match before {
        _ if !error.message.contains("',' or") => {
            "look for a JSON syntax error here (JSON itself is valid YAML)".to_string()
        }
        _ if error.loc.line > last => "a closing `}` or `]` is probably missing".to_string(),
        Some(line) if first_on_line => {
            format!("a `,` is probably missing at the end of line {line}")
        }
        _ => "a `,` is probably missing before this point".to_string(),
    };
    format!("this file looks like JSON: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse};

    fn failure(text: &str) -> YamlError {
        parse(text, Limits::default()).unwrap_err()
    }

    fn at(e: &YamlError) -> (u32, u32) {
        (e.loc.line, e.loc.column)
    }

    #[test]
    fn merge_conflicts_are_found_at_their_first_marker_even_when_the_rest_parses() {
        let e = failure("a: 1\n<<<<<<< HEAD\nb: 2\n=======\nb: 3\n>>>>>>> other\n");
        assert_eq!((e.code, at(&e)), ("merge-conflict", (2, 1)));
        assert_eq!(
            e.message,
            "merge conflict marker: this file has an unresolved merge conflict"
        );
        // In a flow mapping the markers would be read as keys.
        let e = failure("{a: 1,\r\n||||||| base\r\n b: 2}\r\n");
        assert_eq!((e.code, at(&e)), ("merge-conflict", (2, 1)));
        assert!(parse("a: \"=======\"\nb: <<<<<<<x\n", Limits::default()).is_ok());
    }

    #[test]
    fn tabs_are_reported_where_they_are() {
        for (text, loc) in [
            ("a:\n\tb: 1\n", (2, 1)),
            ("a: 1\n\tb: 2\n", (2, 1)),
            ("a:\n  b: 1\n\t c: 2\n", (3, 1)),
            ("a:\n  b:\n  \tc: 2\n", (3, 3)),
            ("a:\r\n  - x\r\n\t- y\r\n", (3, 1)),
        ] {
            let e = failure(text);
            assert_eq!((e.code, at(&e)), ("tab-indentation", loc), "{text:?}");
            assert_eq!(e.message, "tab character used for indentation");
        }
        let e = failure("a:\t1\n");
        assert_eq!((e.code, at(&e)), ("tab-indentation", (1, 3)));
        let e = failure("a: b\n\0");
        assert_eq!(e.message, "invalid YAML: found unprintable character");
        // Tabs inside a block scalar's content, in comments and in flow context are fine.
        for ok in ["a: |\n  x\n  \ty\n", "a: 1\n\t# c\n", "a: [1,\n\t2]\n"] {
            assert!(parse(ok, Limits::default()).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_allowed_only_at_the_start() {
        let docs = parse("\u{feff}a: 1\nb: [x]\n", Limits::default()).unwrap();
        assert_eq!(docs[0].root.key_loc("b"), Some(Loc { line: 2, column: 1 }));
        let e = failure("\u{feff}a: 1\nb: 2\n\u{feff}c: 3\n");
        assert_eq!((e.code, at(&e)), ("byte-order-mark", (3, 1)));
        let e = failure("a: 1\n---\nb: x\u{feff}\n");
        assert_eq!((e.code, at(&e)), ("byte-order-mark", (3, 5)));
    }

    #[test]
    fn template_placeholders_are_named() {
        for (text, loc) in [
            ("a: {{ .Values.x }}\n", (1, 4)),
            ("a: 1\n{{- if .Values.x }}\nb: 2\n{{- end }}\n", (2, 1)),
            ("a:\n  image: \"x\"\n  tag: {{ .Values.tag }}\n", (3, 8)),
            ("a:\n  - {{ y }}\n", (2, 5)),
        ] {
            let e = failure(text);
            assert_eq!((e.code, at(&e)), ("template", loc), "{text:?}");
            assert_eq!(
                e.message,
                "template placeholder `{{ … }}`: pocket-dock reads plain YAML"
            );
        }
        let e = failure("a: 1\n{% if x %}\nb: 2\n{% endif %}\n");
        assert_eq!((e.code, at(&e)), ("template", (2, 1)));
        assert!(e.message.starts_with("template tag `{% … %}`"));
        // Quoted, it is a string like any other.
        assert!(parse("a: \"{{ x }}\"\nb: '{{ y }}'\n", Limits::default()).is_ok());
        assert_eq!(unquoted_template("a: 'it''s {{x}}' # {{"), None);
        assert_eq!(unquoted_template("a: \"\\\"{{\" {{"), Some(10));
    }

    #[test]
    fn a_second_document_without_separator_is_named() {
        let e = failure("apiVersion: v\nkind: K\nmetadata: {name: a}\n\nkind: K\napiVersion: v\n");
        assert_eq!((e.code, at(&e)), ("missing-separator", (5, 1)));
        assert_eq!(e.message, "a second document starts here without `---`");
        // Deeper down, or another key, it is an ordinary duplicate.
        let e = failure("spec:\n  kind: a\n  kind: b\n");
        assert_eq!(e.message, "duplicate key `kind` (first defined on line 2)");
        let e = failure("name: a\nname: b\n");
        assert_eq!(e.message, "duplicate key `name` (first defined on line 1)");
    }

    #[test]
    fn json_works_and_broken_json_is_explained() {
        let docs = parse(
            "{\"apiVersion\":\"v\",\"kind\":\"K\",\"a\":[1,2,],\"b\":{\"c\":null}}",
            Limits::default(),
        )
        .unwrap();
        assert_eq!(docs[0].root.get("kind").unwrap().as_str(), Some("K"));

        let e = failure("{\n  \"a\": 1\n  \"b\": 2\n}\n");
        assert_eq!(e.code, "yaml");
        assert_eq!(
            e.hint.as_deref(),
            Some("this file looks like JSON: a `,` is probably missing at the end of line 2")
        );
        let e = failure("{\"a\": 1 \"b\": 2}");
        assert_eq!(
            e.hint.as_deref(),
            Some("this file looks like JSON: a `,` is probably missing before this point")
        );
        let e = failure("{\n  \"a\": [1, 2\n");
        assert_eq!(
            e.hint.as_deref(),
            Some("this file looks like JSON: a closing `}` or `]` is probably missing")
        );

        let e = failure("{\n  // the image\n  \"a\": 1\n}\n");
        assert_eq!((e.code, at(&e)), ("json-comment", (2, 3)));
        let e = failure("{\n  \"a\": \"http://x\", /* b */\n  \"b\": 2\n}\n");
        assert_eq!((e.code, at(&e)), ("json-comment", (2, 20)));
        assert!(
            parse(
                "{\"url\": \"http://x//y\", \"b\": [a, b//c]}\n",
                Limits::default()
            )
            .is_ok()
        );
    }

    /// The same sandbox written as YAML with CRLF line endings, with a leading byte-order
    /// mark, and as JSON: each loads, and a problem in it is located exactly.
    #[test]
    fn crlf_bom_and_json_files_load_with_exact_locations() {
        let load = |text: &str| {
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(root.path().join(".pocket-dock")).unwrap();
            std::fs::write(root.path().join(".pocket-dock/a.yaml"), text).unwrap();
            crate::load(root.path())
        };
        let yaml = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: a\nspec:\n  image: x:1\n";
        let json = "{\"apiVersion\": \"pocket-dock.dev/v1alpha1\", \"kind\": \"Sandbox\",\n \"metadata\": {\"name\": \"a\"},\n \"spec\": {\"image\": \"x:1\"}}\n";
        let crlf = yaml.replace('\n', "\r\n");
        let bom = format!("\u{feff}{yaml}");
        for text in [crlf.as_str(), bom.as_str(), json] {
            let loaded = load(text);
            assert!(loaded.is_valid(), "{text:?}: {:?}", loaded.diagnostics);
            assert_eq!(loaded.declarations.objects.len(), 1);
        }
        let typo = |text: &str| {
            let loaded = load(text);
            let d = loaded
                .diagnostics
                .iter()
                .find(|d| d.code == "unknown-field");
            d.map(|d| (d.line, d.column, d.path.clone()))
                .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics))
        };
        let spec = (6, 3, "spec.imagex".to_string());
        assert_eq!(typo(&crlf.replace("image:", "imagex:")), spec);
        assert_eq!(typo(&bom.replace("image:", "imagex:")), spec);
        let first_line = (1, 1, "kindx".to_string());
        assert_eq!(typo(&format!("\u{feff}kindx: 1\r\n{crlf}")), first_line);
        assert_eq!(typo(&format!("\u{feff}kindx: 1\n{yaml}")), first_line);
        assert_eq!(
            typo(&json.replace("\"image\"", "\"imagex\"")),
            (3, 11, "spec.imagex".into())
        );
        for nothing in [
            "",
            "  \r\n",
            "# only a comment\r\n# and another\r\n",
            "\u{feff}",
        ] {
            let loaded = load(nothing);
            assert!(loaded.is_valid() && loaded.declarations.objects.is_empty());
        }
    }

    #[test]
    fn empty_and_comment_only_files_declare_nothing() {
        for text in [
            "",
            "\n\n",
            "  \n\t\n",
            "# a\n  # b\n",
            "\u{feff}",
            "---\n",
            "# x\r\n",
        ] {
            assert_eq!(parse(text, Limits::default()).unwrap(), vec![], "{text:?}");
        }
    }
}
