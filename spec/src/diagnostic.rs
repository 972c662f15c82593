//! Problems found in a workspace, each pinned to a file, line, column and field path.

use std::fmt;
use std::path::PathBuf;

use crate::yaml::{Loc, YamlError};

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
                    f.write_str(k)?;
                }
                Seg::Key(k) => write!(f, "[{k:?}]")?,
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
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
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
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter_map(|c| {
            let d = if fold(c) == folded {
                0
            } else {
                edit_distance(word, c)
            };
            (d <= limit).then_some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
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
    }
}
