//! Problems found in a workspace, each pinned to a file, line, column and field path.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use crate::yaml::{Loc, YamlError};

/// The most characters of one piece of user text (a key, a value, a name) that a message
/// repeats: enough to recognise it, never a hostile megabyte.
pub const MAX_ECHO_CHARS: usize = 80;

/// Each pass over a document (the structural check, the semantic checks) lists at most this
/// many problems, then one line counting the rest. A real document never comes close; a
/// generated or hostile one gets a report that stays short and cheap to make (finding the
/// location of a problem walks the document, so an unbounded count would be quadratic).
pub const MAX_PER_DOCUMENT: usize = 100;

/// `text` cut to [`MAX_ECHO_CHARS`] characters, with `…` when something was cut.
fn cut(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// `text` as a message shows it: cut to [`MAX_ECHO_CHARS`] characters with `…`, control
/// characters escaped (a newline would break the one-line report).
pub fn shown(text: &str) -> Cow<'_, str> {
    let text = cut(text);
    if !text.chars().any(char::is_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The longest message or hint, whatever it quotes.
const MAX_MESSAGE_CHARS: usize = 1000;

/// A message with every backticked piece of user text cut by [`shown`], and at most
/// [`MAX_MESSAGE_CHARS`] long in any case (user text may hold backticks itself). Every issue
/// passes through here, so no check can echo megabytes, even one that forgets to shorten
/// what it quotes.
fn bounded(message: String) -> String {
    let needs_cuts = message
        .split('`')
        .skip(1)
        .step_by(2)
        .any(|quoted| matches!(shown(quoted), Cow::Owned(_)));
    let message = if needs_cuts {
        message
            .split('`')
            .enumerate()
            .map(|(i, part)| {
                if i % 2 == 1 {
                    shown(part)
                } else {
                    Cow::Borrowed(part)
                }
            })
            .collect::<Vec<_>>()
            .join("`")
    } else {
        message
    };
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message,
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A field path such as `spec.mounts[1].source`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        FieldPath(segs)
    }

    pub fn index(&self, i: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(i));
        FieldPath(segs)
    }

    /// Parses `spec.mounts[1].source` (keys are plain names).
    pub fn parse(path: &str) -> Self {
        let mut segs = Vec::new();
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let (key, rest) = part.split_once('[').unwrap_or((part, ""));
            if !key.is_empty() {
                segs.push(Seg::Key(key.to_string()));
            }
            for index in rest.split('[') {
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    segs.push(Seg::Index(i));
                }
            }
        }
        FieldPath(segs)
    }
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if is_plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(&cut(k))?;
                }
                Seg::Key(k) => write!(f, "[{:?}]", cut(k).as_ref())?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file, relative to the workspace root.
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    /// The field path, e.g. `spec.mounts[1].source`; empty for file-level problems.
    pub path: String,
    /// A short identifier of the rule, e.g. `unknown-field`.
    pub code: &'static str,
    pub message: String,
    /// What to do about it, e.g. "did you mean `workdir`?".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// A problem before it is attached to its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub loc: Loc,
    pub path: FieldPath,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl Issue {
    pub fn new(loc: Loc, path: FieldPath, code: &'static str, message: impl Into<String>) -> Self {
        Issue {
            loc,
            path,
            code,
            message: bounded(message.into()),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(bounded(hint.into()));
        self
    }

    /// The line that closes a list cut at [`MAX_PER_DOCUMENT`] problems.
    pub fn more_problems(loc: Loc, more: usize) -> Self {
        let problems = if more == 1 { "problem" } else { "problems" };
        Issue::new(
            loc,
            FieldPath::root(),
            "too-many-problems",
            format!("… and {more} more {problems} in this document"),
        )
        .hint("fix the problems above, then validate again")
    }

    pub fn in_file(self, file: &std::path::Path) -> Diagnostic {
        Diagnostic {
            file: file.to_path_buf(),
            line: self.loc.line,
            column: self.loc.column,
            path: self.path.to_string(),
            code: self.code,
            message: self.message,
            hint: self.hint,
        }
    }
}

/// Words longer than this are not compared letter by letter: no field or value name is
/// that long, and the comparison costs the product of the lengths.
const MAX_TYPO_CHARS: usize = 64;

impl From<YamlError> for Issue {
    fn from(e: YamlError) -> Self {
        let issue = Issue::new(e.loc, FieldPath::root(), e.code, e.message);
        match e.hint {
            Some(hint) => issue.hint(hint),
            None => issue,
        }
    }
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo:
/// the same once case, `_` and `-` are ignored, or within a small edit distance.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let fold = |s: &str| s.to_lowercase().replace(['_', '-'], "");
    let folded = fold(word);
    let length = word.chars().count();
    let limit = (length / 3).max(1);
    candidates
        .into_iter()
        .filter_map(|c| {
            if fold(c) == folded {
                return Some((0, c));
            }
            // The distance is at least the difference in length: skip hopeless pairs.
            let hopeless = length > MAX_TYPO_CHARS || c.chars().count().abs_diff(length) > limit;
            let d = if hopeless {
                usize::MAX
            } else {
                edit_distance(word, c)
            };
            (d <= limit).then_some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters, one row at a time.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = Vec::with_capacity(b.len() + 1);
    for (i, ca) in a.chars().enumerate() {
        row.clear();
        row.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_kubectl() {
        let p = FieldPath::root()
            .key("spec")
            .key("mounts")
            .index(1)
            .key("source");
        assert_eq!(p.to_string(), "spec.mounts[1].source");
        assert_eq!(FieldPath::parse("spec.mounts[1].source"), p);
        let env = FieldPath::root().key("spec").key("env").key("A.B");
        assert_eq!(env.to_string(), "spec.env[\"A.B\"]");
    }

    #[test]
    fn typos_find_their_field() {
        let fields = ["image", "imageFrom", "workdir", "readOnly", "dependsOn"];
        assert_eq!(closest("workdri", fields), Some("workdir"));
        assert_eq!(closest("read_only", fields), Some("readOnly"));
        assert_eq!(closest("WorkDir", fields), Some("workdir"));
        assert_eq!(closest("depends_on", fields), Some("dependsOn"));
        assert_eq!(closest("completely-else", fields), None);
        assert_eq!(closest(&"x".repeat(1_000_000), fields), None);
        assert_eq!(closest(&"workdir".repeat(50), fields), None);
    }

    #[test]
    fn echoed_user_text_is_cut_and_escaped() {
        assert_eq!(shown("web"), "web");
        let long = "k".repeat(10_000);
        let cut = shown(&long);
        assert_eq!(cut.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown("a\nb\tc"), "a\\nb\\tc");

        let issue = Issue::new(
            Loc::default(),
            FieldPath::root().key(&long),
            "unknown-field",
            format!("unknown field `{long}`"),
        )
        .hint(format!("did you mean `{long}`?"));
        assert!(issue.message.len() < 120, "{}", issue.message);
        assert!(issue.hint.as_ref().unwrap().len() < 120);
        assert_eq!(
            issue.path.to_string(),
            format!("{}…", &long[..MAX_ECHO_CHARS])
        );
        // A backtick in the user's text must not let the rest through.
        let tricky = Issue::new(
            Loc::default(),
            FieldPath::root(),
            "unknown-field",
            format!("unknown field `a`b{long}`"),
        );
        assert!(tricky.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        let odd = FieldPath::root().key("env").key(&"a.".repeat(100));
        assert_eq!(odd.to_string(), format!("env[\"{}…\"]", &"a.".repeat(40)));
    }
}
