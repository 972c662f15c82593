//! Rewriting a document file to the newest `apiVersion` by editing its text, so that
//! everything the YAML tree does not hold is kept: comments, key order, blank lines,
//! quoting, flow or block style, `# yaml-language-server: $schema=...` modelines, line
//! endings (CRLF stays CRLF) and a byte-order mark.
//!
//! Only the value of each older document's `apiVersion` is replaced, in place on its line,
//! and only where it is written out as plain or quoted text. The result is parsed again and
//! must be the same tree as before but for those values (and the columns after them on the
//! same lines); anything else (an `apiVersion` that is an alias or carries an anchor or a
//! tag, an escaped value) is refused with its line and nothing is rewritten. The
//! older and the newest version have the same fields, so no key is renamed (a later version
//! that renames one adds its edit here, with the same check).
//!
//! Pure: text in, text out. Reading, validating and writing files is the caller's.

use crate::diagnostic::{FieldPath, Issue};
use crate::model::{API_VERSION, API_VERSIONS};
use crate::yaml::{self, Limits, Loc, Node, Value};

/// The field whose value is rewritten.
const FIELD: &str = "apiVersion";

/// One edit of a document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// Where the old value was written (1-based; the column counts characters).
    pub line: u32,
    pub column: u32,
    /// The field edited, as a path from the document's root.
    pub field: String,
    pub from: String,
    pub to: String,
}

/// A file's text after migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The new text; equal to the input when `changes` is empty.
    pub text: String,
    /// In file order; empty when every document is already of the newest version.
    pub changes: Vec<Change>,
}

impl Migrated {
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Rewrites every document of `text` whose `apiVersion` is an older accepted version to
/// [`API_VERSION`]. A document of the newest version, or of none that is accepted, is left
/// as it is (the caller validates first: an unknown version is a validation error, not
/// this function's). Refused, with the place and the reason: text that does not parse, and
/// a value that cannot be edited in place.
pub fn migrate(text: &str) -> Result<Migrated, Issue> {
    let before = yaml::parse(text, Limits::default()).map_err(Issue::from)?;
    let mut edits: Vec<(Loc, &str)> = Vec::new();
    for document in &before {
        if let Some(node) = document.root.get(FIELD)
            && let Some(version) = node.as_str()
            && version != API_VERSION
            && API_VERSIONS.contains(&version)
        {
            edits.push((node.loc, version));
        }
    }
    if edits.is_empty() {
        return Ok(Migrated {
            text: text.to_string(),
            changes: Vec::new(),
        });
    }
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let mut changes = Vec::new();
    for (loc, from) in edits {
        let index = usize::try_from(loc.line.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(line) = lines.get_mut(index) else {
            return Err(not_in_place(loc, from));
        };
        *line = replace_value(line, loc, from).ok_or_else(|| not_in_place(loc, from))?;
        changes.push(Change {
            line: loc.line,
            column: loc.column,
            field: FIELD.to_string(),
            from: from.to_string(),
            to: API_VERSION.to_string(),
        });
    }
    let migrated = lines.concat();
    let after = yaml::parse(&migrated, Limits::default()).map_err(|e| {
        Issue::from(e).hint("the rewritten text would not parse; nothing was rewritten")
    })?;
    let same = before.len() == after.len()
        && before
            .iter()
            .zip(&after)
            .all(|(a, b)| same_but_version(&a.root, &b.root, true));
    if !same {
        let loc = changes.first().map_or(Loc { line: 1, column: 1 }, |c| Loc {
            line: c.line,
            column: c.column,
        });
        return Err(Issue::new(
            loc,
            FieldPath::root().key(FIELD),
            "cannot-migrate",
            "rewriting the apiVersion in place would change more than the apiVersion",
        )
        .hint(format!("set `{FIELD}: {API_VERSION}` by hand")));
    }
    Ok(Migrated {
        text: migrated,
        changes,
    })
}

fn not_in_place(loc: Loc, from: &str) -> Issue {
    Issue::new(
        loc,
        FieldPath::root().key(FIELD),
        "cannot-migrate",
        format!(
            "the apiVersion `{from}` is not written out as plain or quoted text here (an alias, an anchor, a tag or escapes), so it cannot be rewritten in place"
        ),
    )
    .hint(format!("set `{FIELD}: {API_VERSION}` by hand"))
}

/// `line` with the value `from` that starts at `loc.column` (optionally in quotes) replaced
/// by the newest version; `None` when the text there is anything else.
fn replace_value(line: &str, loc: Loc, from: &str) -> Option<String> {
    let column = usize::try_from(loc.column.saturating_sub(1)).ok()?;
    // The column counts characters, but not a byte-order mark at the start of the file:
    // the value is looked for at the column, then one character further.
    let starts: Vec<usize> = [column, column.saturating_add(1)]
        .into_iter()
        .filter_map(|c| line.char_indices().nth(c).map(|(byte, _)| byte))
        .collect();
    for start in starts {
        let rest = &line[start..];
        let (quote, inner) = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => (Some(q), &rest[1..]),
            _ => (None, rest),
        };
        let Some(after) = inner.strip_prefix(from) else {
            continue;
        };
        let closed = match quote {
            Some(q) => after.starts_with(q),
            // A plain scalar ends at a space, a line end, or (in flow style) `,` `}` `]`.
            None => after
                .chars()
                .next()
                .is_none_or(|c| matches!(c, ' ' | '\t' | '\r' | '\n' | ',' | '}' | ']' | '#')),
        };
        if !closed {
            continue;
        }
        let value_start = start + quote.map_or(0, char::len_utf8);
        let value_end = value_start + from.len();
        return Some(format!(
            "{}{API_VERSION}{}",
            &line[..value_start],
            &line[value_end..]
        ));
    }
    None
}

/// Whether two trees are equal in everything but the `apiVersion` value at their root and
/// the columns (an edit shifts what follows it on its line). Lines must be equal: an edit
/// never adds or removes one. Recursion is bounded by the parser's depth limit.
fn same_but_version(a: &Node, b: &Node, root: bool) -> bool {
    if a.loc.line != b.loc.line || a.plain.is_some() != b.plain.is_some() {
        return false;
    }
    match (&a.value, &b.value) {
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((ka, va), (kb, vb))| {
                    ka.name == kb.name
                        && ka.loc.line == kb.loc.line
                        && if root && ka.name == FIELD {
                            va.loc.line == vb.loc.line
                                && vb.as_str() == Some(API_VERSION)
                                && va.as_str().is_some_and(|v| API_VERSIONS.contains(&v))
                        } else {
                            same_but_version(va, vb, false)
                        }
                })
        }
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_but_version(p, q, false))
        }
        (x, y) => x == y && a.plain == b.plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::API_VERSION_V1ALPHA1 as OLD;

    fn new_text(text: &str) -> String {
        migrate(text).unwrap().text
    }

    #[test]
    fn rewrites_only_the_value_and_keeps_comments_order_and_modelines() {
        let text = "# yaml-language-server: $schema=../schema/pocket-dock.json\n\
                    # a comment\n\
                    apiVersion: pocket-dock.dev/v1alpha1   # trailing comment\n\
                    kind: Sandbox\n\
                    metadata:\n  name: web # why\n\n\
                    spec:\n  image: busybox:1\n  env: {B: '2', A: \"1\"}\n";
        let m = migrate(text).unwrap();
        assert_eq!(
            m.text,
            text.replace(
                "pocket-dock.dev/v1alpha1   #",
                "pocket-dock.dev/v1beta1   #"
            )
        );
        assert_eq!(
            m.changes,
            [Change {
                line: 3,
                column: 13,
                field: "apiVersion".into(),
                from: OLD.into(),
                to: API_VERSION.into(),
            }]
        );
    }

    #[test]
    fn every_document_of_a_file_and_only_the_older_ones() {
        let text = "---\n# first\napiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: a}\n\
                    ---\napiVersion: pocket-dock.dev/v1beta1\nkind: Volume\nmetadata: {name: b}\n\
                    ---\nkind: Volume\napiVersion: 'pocket-dock.dev/v1alpha1'\nmetadata: {name: c}\n...\n";
        let m = migrate(text).unwrap();
        assert_eq!(m.changes.len(), 2);
        assert_eq!((m.changes[0].line, m.changes[1].line), (3, 12));
        assert_eq!(m.text, text.replace("v1alpha1", "v1beta1"));
    }

    #[test]
    fn flow_json_quoted_and_crlf_documents() {
        let flow = "{apiVersion: pocket-dock.dev/v1alpha1, kind: Volume, metadata: {name: a}}\n";
        assert_eq!(new_text(flow), flow.replace("v1alpha1", "v1beta1"));
        let json = "{\n  \"apiVersion\": \"pocket-dock.dev/v1alpha1\",\n  \"kind\": \"Volume\",\n  \"metadata\": {\"name\": \"a\"}\n}\n";
        assert_eq!(new_text(json), json.replace("v1alpha1", "v1beta1"));
        let crlf = "# c\r\napiVersion: pocket-dock.dev/v1alpha1\r\nkind: Volume\r\nmetadata:\r\n  name: a\r\n";
        assert_eq!(new_text(crlf), crlf.replace("v1alpha1", "v1beta1"));
        let bom =
            "\u{feff}apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: a}\n";
        assert_eq!(new_text(bom), bom.replace("v1alpha1", "v1beta1"));
        let no_newline = "kind: Volume\nmetadata: {name: a}\napiVersion: pocket-dock.dev/v1alpha1";
        assert_eq!(
            new_text(no_newline),
            no_newline.replace("v1alpha1", "v1beta1")
        );
    }

    #[test]
    fn a_second_migration_changes_nothing() {
        let text = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: a}\n";
        let once = new_text(text);
        let twice = migrate(&once).unwrap();
        assert!(!twice.changed());
        assert_eq!(twice.text, once);
    }

    #[test]
    fn the_same_text_elsewhere_is_not_touched() {
        let text = "apiVersion: pocket-dock.dev/v1alpha1\nkind: Sandbox\nmetadata:\n  name: a\n  \
                    annotations: {was: pocket-dock.dev/v1alpha1}\n# pocket-dock.dev/v1alpha1\n\
                    spec: {image: 'x:1'}\n";
        let m = migrate(text).unwrap();
        assert_eq!(m.changes.len(), 1);
        assert_eq!(
            m.text,
            text.replacen("pocket-dock.dev/v1alpha1", "pocket-dock.dev/v1beta1", 1)
        );
    }

    #[test]
    fn refuses_what_it_cannot_edit_in_place() {
        // An alias: the value is written elsewhere.
        let alias = "metadata:\n  name: a\n  labels: {v: &v pocket-dock.dev/v1alpha1}\nkind: Volume\napiVersion: *v\n";
        let e = migrate(alias).unwrap_err();
        assert_eq!((e.code, e.loc.line), ("cannot-migrate", 5));
        // Anchored and used elsewhere: the edit would change the label too.
        let anchored = "apiVersion: &v pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata:\n  name: a\n  labels: {v: *v}\n";
        let e = migrate(anchored).unwrap_err();
        assert_eq!((e.code, e.loc.line), ("cannot-migrate", 1));
        // Escapes in a double-quoted value.
        let escaped =
            "apiVersion: \"pocket-dock.dev\\/v1alpha1\"\nkind: Volume\nmetadata: {name: a}\n";
        assert_eq!(migrate(escaped).unwrap_err().code, "cannot-migrate");
        // A tag, or an anchor even when nothing uses it: the value's place is the tag's or
        // the anchor's, not the text's.
        for text in [
            "apiVersion: !!str pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: a}\n",
            "apiVersion: &v pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: a}\n",
            "apiVersion: !!str 'pocket-dock.dev/v1alpha1'\nkind: Volume\nmetadata: {name: a}\n",
        ] {
            assert_eq!(migrate(text).unwrap_err().code, "cannot-migrate", "{text}");
        }
        // A value broken over two lines.
        let folded = "apiVersion:\n  pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: a}\n";
        assert_eq!(new_text(folded), folded.replace("v1alpha1", "v1beta1"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]
        /// Whatever follows an older document's first lines, migration never panics, and
        /// what it rewrites migrates to itself.
        #[test]
        fn never_panics_and_is_idempotent(
            before in "[ \t]{0,2}(\"|')?",
            after in "(\"|')?[ ,}\\]#\r\n&*!a-z:{\\[-]{0,40}",
            rest in "[ -~\t\r\n\u{feff}]{0,80}",
        ) {
            let text = format!("apiVersion:{before}{OLD}{after}\nkind: Volume\n{rest}");
            if let Ok(m) = migrate(&text) {
                let again = migrate(&m.text);
                proptest::prop_assert!(again.is_ok_and(|a| !a.changed()));
            }
        }
    }

    #[test]
    fn the_check_after_the_edit_sees_any_other_difference() {
        let parse = |t: &str| yaml::parse(t, Limits::default()).unwrap().remove(0).root;
        let old =
            parse("apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: a}\n");
        let new = parse("apiVersion: pocket-dock.dev/v1beta1\nkind: Volume\nmetadata: {name: a}\n");
        assert!(same_but_version(&old, &new, true));
        for other in [
            "apiVersion: pocket-dock.dev/v1beta1\nkind: Volume\nmetadata: {name: b}\n",
            "apiVersion: pocket-dock.dev/v1beta1\nmetadata: {name: a}\nkind: Volume\n",
            "apiVersion: pocket-dock.dev/v1beta1\n\nkind: Volume\nmetadata: {name: a}\n",
            "apiVersion: pocket-dock.dev/v1alpha1\nkind: Volume\nmetadata: {name: a}\n",
            "apiVersion: example.org/v1\nkind: Volume\nmetadata: {name: a}\n",
        ] {
            assert!(!same_but_version(&old, &parse(other), true), "{other}");
        }
        // Below the root, an apiVersion key is data like any other.
        let nested = |v: &str| {
            parse(&format!(
                "apiVersion: {v}\nmetadata: {{labels: {{apiVersion: {v}}}}}\n"
            ))
        };
        assert!(!same_but_version(&nested(OLD), &nested(API_VERSION), true));
    }

    #[test]
    fn refuses_text_that_does_not_parse_and_leaves_unknown_versions() {
        let e = migrate("apiVersion: pocket-dock.dev/v1alpha1\nkind: [\n").unwrap_err();
        assert_eq!(e.code, "yaml");
        let other = "apiVersion: example.org/v1\nkind: Volume\nmetadata: {name: a}\n";
        assert!(!migrate(other).unwrap().changed());
        assert!(!migrate("# only a comment\n").unwrap().changed());
    }
}
