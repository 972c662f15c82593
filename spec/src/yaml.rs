//! A located YAML tree, built from saphyr-parser's events under explicit limits.
//!
//! Every node keeps its line and column, so that later checks can point at the exact spot.
//! Scalars are typed by the YAML 1.2 core schema (`no`, `on` and `yes` stay strings). The
//! limits make hostile input harmless: file size, nesting depth, number of nodes, and bytes
//! of text. Everything the builder holds is charged when it is made: an alias costs the
//! nodes and bytes it copies (so an alias bomb, even one made of a single long string, runs
//! out of budget long before it runs out of memory), and an anchor the copy it keeps. An
//! alias may not nest a tree deeper than `max_depth` either, so every recursive walk over a
//! tree (here, in the checks, in derived `Clone` and `Drop`) is at most `max_depth` deep.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::breakage;

/// A position in a file, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
}

impl Loc {
    fn from_span(span: &Span) -> Loc {
        Loc {
            line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
            column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; keys are unique (duplicates are an error).
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub loc: Loc,
    pub value: Value,
    /// For plain scalars, the text as written (to suggest quoting `8080` or `true`).
    pub plain: Option<String>,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn key_loc(&self, key: &str) -> Option<Loc> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(k, _)| k.loc),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of value this is, as a person would say it.
    pub fn describe(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON for serde decoding (after validation, so nothing is lost).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// One document of a multi-document file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub root: Node,
}

/// Limits on one file. The defaults are far beyond any real workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    /// Nodes in a file, counting each alias as the nodes it copies.
    pub max_nodes: usize,
    /// Bytes of scalar and key text in a file, counting each alias as the bytes it copies
    /// and each anchor as the bytes of the copy it keeps.
    pub max_text_bytes: usize,
    pub max_documents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
            // Twice the file size: room for anchors and aliases, never a memory problem.
            max_text_bytes: 8 * 1024 * 1024,
            max_documents: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub loc: Loc,
    /// A short identifier of the problem, e.g. `yaml` for a syntax error or `merge-conflict`.
    pub code: &'static str,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl YamlError {
    pub(crate) fn new(loc: Loc, code: &'static str, message: impl Into<String>) -> Self {
        YamlError {
            loc,
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The code of syntax errors and of the limits.
const YAML: &str = "yaml";

/// Parses every document of `text`. Empty documents (a lone `---`) are skipped; a file that
/// is empty or holds only comments has no documents.
pub fn parse(text: &str, limits: Limits) -> Result<Vec<Document>, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError::new(
            Loc { line: 1, column: 1 },
            YAML,
            format!(
                "file is {} bytes, over the limit of {} bytes",
                text.len(),
                limits.max_bytes
            ),
        ));
    }
    if let Some(problem) = breakage::scan(text) {
        return Err(problem);
    }
    check_flow_entries(text, limits)?;
    let mut builder = Builder {
        text,
        parser: Parser::new_from_str(text),
        limits,
        anchors: HashMap::new(),
        held: Weight::default(),
        last: Loc { line: 1, column: 1 },
    };
    builder.documents()
}

/// saphyr's scanner queues every token of a flow collection (`[a, b, …]`, `{k: v, …}`) that
/// could still turn out to be a mapping key before it yields the first event, at about
/// 200 bytes a token, so the node budget would be checked too late: a 4 MB one-line list
/// took 700 MB. Flow separators are counted before parsing instead (all of them, those in
/// strings and comments too: an over-count only refuses files no declaration resembles).
fn check_flow_entries(text: &str, limits: Limits) -> Result<(), YamlError> {
    let mut count = 0usize;
    let mut loc = Loc { line: 1, column: 1 };
    for c in text.chars() {
        if matches!(c, ',' | '[' | '{') {
            count += 1;
            if count > limits.max_nodes {
                return Err(YamlError::new(
                    loc,
                    YAML,
                    format!(
                        "more than {} flow collection entries (`,` `[` `{{`) in one file",
                        limits.max_nodes
                    ),
                )
                .hint("write long lists in block style (one `- item` a line), or split the file"));
            }
        }
        if c == '\n' {
            loc.line += 1;
            loc.column = 1;
        } else {
            loc.column += 1;
        }
    }
    Ok(())
}

/// What a node holds, charged against the limits when it is built, anchored or copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Weight {
    nodes: usize,
    /// Bytes of scalar and key text.
    bytes: usize,
    /// Levels of nested collections: 0 for a scalar, 1 for a list of scalars.
    height: usize,
}

impl Weight {
    fn scalar(bytes: usize) -> Self {
        Weight {
            nodes: 1,
            bytes,
            height: 0,
        }
    }

    fn empty_collection() -> Self {
        Weight {
            nodes: 1,
            bytes: 0,
            height: 1,
        }
    }

    fn add_child(&mut self, child: Weight) {
        self.nodes = self.nodes.saturating_add(child.nodes);
        self.bytes = self.bytes.saturating_add(child.bytes);
        self.height = self.height.max(child.height.saturating_add(1));
    }
}

/// Why something is charged, to say so when the budget runs out.
#[derive(Clone, Copy)]
enum Charge {
    Parsed,
    Alias,
    Anchor,
}

struct Builder<'a> {
    text: &'a str,
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    limits: Limits,
    /// Each anchor's value with its weight, cached so that an alias costs no walk.
    anchors: HashMap<usize, (Node, Weight)>,
    /// Everything charged so far in this file.
    held: Weight,
    last: Loc,
}

enum Step {
    Node(Node, Weight),
    End,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Loc), YamlError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => {
                let loc = Loc::from_span(&span);
                self.last = loc;
                Ok((event, loc))
            }
            Some(Err(e)) => {
                let loc = Loc {
                    line: u32::try_from(e.marker().line()).unwrap_or(u32::MAX),
                    column: u32::try_from(e.marker().col() + 1).unwrap_or(u32::MAX),
                };
                Err(self.syntax_error(loc, format!("invalid YAML: {}", e.info())))
            }
            None => Err(self.error(self.last, "unexpected end of input")),
        }
    }

    fn error(&self, loc: Loc, message: impl Into<String>) -> YamlError {
        YamlError::new(loc, YAML, message)
    }

    /// A syntax error, named as a common breakage (tabs, templates, JSON) when the text
    /// shows its likely cause.
    fn syntax_error(&self, loc: Loc, message: impl Into<String>) -> YamlError {
        breakage::explain(self.text, self.error(loc, message))
    }

    fn documents(&mut self) -> Result<Vec<Document>, YamlError> {
        let mut docs = Vec::new();
        loop {
            let (event, loc) = self.next()?;
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => return Ok(docs),
                Event::DocumentStart(_) => {
                    self.anchors.clear();
                    let root = match self.node(0)? {
                        Step::Node(n, _) => n,
                        Step::End => return Err(self.error(loc, "empty document")),
                    };
                    // DocumentEnd
                    let (end, end_loc) = self.next()?;
                    if !matches!(end, Event::DocumentEnd) {
                        return Err(self.error(end_loc, "expected the end of the document"));
                    }
                    if root.value != Value::Null {
                        if docs.len() >= self.limits.max_documents {
                            return Err(self.error(
                                loc,
                                format!(
                                    "more than {} documents in one file",
                                    self.limits.max_documents
                                ),
                            ));
                        }
                        docs.push(Document { root });
                    }
                }
                _ => return Err(self.error(loc, "expected a document")),
            }
        }
    }

    fn charge(&mut self, weight: Weight, loc: Loc, why: Charge) -> Result<(), YamlError> {
        self.held.nodes = self.held.nodes.saturating_add(weight.nodes);
        self.held.bytes = self.held.bytes.saturating_add(weight.bytes);
        let (max_nodes, max_bytes) = (self.limits.max_nodes, self.limits.max_text_bytes);
        if self.held.nodes > max_nodes {
            return Err(self
                .error(
                    loc,
                    format!(
                        "document too large: more than {max_nodes} nodes (an alias counts as the nodes it copies, an anchor as the copy it keeps)"
                    ),
                )
                .hint("use fewer aliases, or split the file"));
        }
        if self.held.bytes > max_bytes {
            let message = match why {
                Charge::Alias => format!(
                    "aliases expand this file beyond {max_bytes} bytes (an alias counts as the bytes it copies)"
                ),
                Charge::Anchor => format!(
                    "anchored values make this file hold more than {max_bytes} bytes (an anchor keeps a copy of its value)"
                ),
                Charge::Parsed => format!("this file holds more than {max_bytes} bytes of text"),
            };
            return Err(self
                .error(loc, message)
                .hint("copy long values fewer times, or split the file"));
        }
        Ok(())
    }

    /// Reads one node. Recursion is bounded by `max_depth`: `enter` refuses a deeper
    /// collection, and an alias cannot nest what it copies deeper either.
    fn node(&mut self, depth: usize) -> Result<Step, YamlError> {
        let (event, loc) = self.next()?;
        let (anchor, node, weight) = match event {
            Event::SequenceEnd | Event::MappingEnd | Event::DocumentEnd => return Ok(Step::End),
            Event::Alias(id) => return self.alias(id, depth, loc),
            Event::Scalar(text, style, anchor, tag) => {
                let weight = Weight::scalar(text.len());
                self.charge(weight, loc, Charge::Parsed)?;
                // Show core-schema tags the way they are written: `!!binary`.
                let tag = tag.map(|t| match t.handle.as_str() {
                    "tag:yaml.org,2002:" => format!("!!{}", t.suffix),
                    handle => format!("{handle}{}", t.suffix),
                });
                (anchor, scalar(&text, style, tag.as_deref(), loc)?, weight)
            }
            Event::SequenceStart(anchor, _) => {
                self.enter(depth, loc)?;
                self.charge(Weight::empty_collection(), loc, Charge::Parsed)?;
                let (node, weight) = self.sequence(depth, loc)?;
                (anchor, node, weight)
            }
            Event::MappingStart(anchor, _) => {
                self.enter(depth, loc)?;
                self.charge(Weight::empty_collection(), loc, Charge::Parsed)?;
                let (node, weight) = self.mapping(depth, loc)?;
                (anchor, node, weight)
            }
            _ => return Err(self.error(loc, "unexpected YAML event")),
        };
        if anchor > 0 {
            self.charge(weight, loc, Charge::Anchor)?;
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        Ok(Step::Node(node, weight))
    }

    /// A copy of an anchored node, charged as what it copies before it is made.
    fn alias(&mut self, id: usize, depth: usize, loc: Loc) -> Result<Step, YamlError> {
        let unknown = |this: &Self| this.error(loc, "alias to an unknown anchor");
        let Some(&(_, weight)) = self.anchors.get(&id) else {
            return Err(unknown(self));
        };
        if weight.height > 0 && depth.saturating_add(weight.height) > self.limits.max_depth {
            return Err(self.error(
                loc,
                format!(
                    "nested deeper than {} levels (counting what aliases copy)",
                    self.limits.max_depth
                ),
            ));
        }
        self.charge(weight, loc, Charge::Alias)?;
        let Some((target, _)) = self.anchors.get(&id) else {
            return Err(unknown(self));
        };
        let copy = Node {
            loc,
            ..target.clone()
        };
        Ok(Step::Node(copy, weight))
    }

    fn enter(&self, depth: usize, loc: Loc) -> Result<(), YamlError> {
        if depth >= self.limits.max_depth {
            return Err(self.error(
                loc,
                format!("nested deeper than {} levels", self.limits.max_depth),
            ));
        }
        Ok(())
    }

    fn sequence(&mut self, depth: usize, loc: Loc) -> Result<(Node, Weight), YamlError> {
        let mut weight = Weight::empty_collection();
        let mut items = Vec::new();
        while let Step::Node(item, item_weight) = self.node(depth + 1)? {
            weight.add_child(item_weight);
            items.push(item);
        }
        let node = Node {
            loc,
            value: Value::Seq(items),
            plain: None,
        };
        Ok((node, weight))
    }

    fn mapping(&mut self, depth: usize, loc: Loc) -> Result<(Node, Weight), YamlError> {
        let mut weight = Weight::empty_collection();
        let mut entries: Vec<(Key, Node)> = Vec::new();
        // The line of each key's first definition: duplicates are found in linear time.
        let mut first_lines: HashMap<String, u32> = HashMap::new();
        loop {
            let (key, key_weight) = match self.node(depth + 1)? {
                Step::End => break,
                Step::Node(k, w) => (k, w),
            };
            let name = match &key.value {
                Value::Str(s) => s.clone(),
                Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                    key.plain.clone().unwrap_or_default()
                }
                Value::Seq(_) | Value::Map(_) => {
                    return Err(self.syntax_error(key.loc, "mapping keys must be plain strings"));
                }
            };
            let (value, value_weight) = match self.node(depth + 1)? {
                Step::Node(v, w) => (v, w),
                Step::End => return Err(self.error(key.loc, "a key without a value")),
            };
            match first_lines.entry(name) {
                Entry::Occupied(first) => {
                    let name = first.key();
                    if depth == 0 && key.loc.column == 1 && breakage::starts_a_document(name) {
                        return Err(breakage::second_document(key.loc));
                    }
                    return Err(self.error(
                        key.loc,
                        format!(
                            "duplicate key `{}` (first defined on line {})",
                            crate::diagnostic::shown(name),
                            first.get()
                        ),
                    ));
                }
                Entry::Vacant(slot) => {
                    let name = slot.key().clone();
                    slot.insert(key.loc.line);
                    weight.add_child(key_weight);
                    weight.add_child(value_weight);
                    entries.push((Key { name, loc: key.loc }, value));
                }
            }
        }
        let node = Node {
            loc,
            value: Value::Map(entries),
            plain: None,
        };
        Ok((node, weight))
    }
}

/// Types a scalar by the YAML 1.2 core schema; quoted and block scalars are strings.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>, loc: Loc) -> Result<Node, YamlError> {
    let string = |s: &str| Node {
        loc,
        value: Value::Str(s.to_string()),
        plain: None,
    };
    match tag {
        None => {}
        Some("!!str") => return Ok(string(text)),
        Some(other) => {
            return Err(YamlError::new(
                loc,
                YAML,
                format!("YAML tag `{other}` is not supported (only `!!str`)"),
            ));
        }
    }
    if style != ScalarStyle::Plain {
        return Ok(string(text));
    }
    let value = match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => number(text).unwrap_or_else(|| Value::Str(text.to_string())),
    };
    Ok(Node {
        loc,
        value,
        plain: Some(text.to_string()),
    })
}

fn number(text: &str) -> Option<Value> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits(unsigned) {
        return text.parse::<i64>().ok().map(Value::Int);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::Int);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(Value::Int);
    }
    let is_float = {
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
            None => (unsigned, None),
        };
        let mantissa_ok = match mantissa.split_once('.') {
            Some((a, b)) => {
                (digits(a) || a.is_empty())
                    && (digits(b) || b.is_empty())
                    && !(a.is_empty() && b.is_empty())
            }
            None => digits(mantissa),
        };
        let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
        mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some())
    };
    if is_float {
        return text.parse::<f64>().ok().map(Value::Float);
    }
    match unsigned {
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN" => Some(Value::Str(text.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let docs = parse(text, Limits::default()).unwrap();
        assert_eq!(docs.len(), 1);
        docs.into_iter().next().unwrap().root
    }

    #[test]
    fn scalars_follow_the_yaml_1_2_core_schema() {
        let root = one(
            "a: no\nb: yes\nc: on\nd: true\ne: 8080\nf: 1.5\ng: ~\nh: '42'\ni: 0x1f\nj: 1e3\nk: .5\n",
        );
        let v = |k: &str| root.get(k).unwrap().value.clone();
        assert_eq!(v("a"), Value::Str("no".into()));
        assert_eq!(v("b"), Value::Str("yes".into()));
        assert_eq!(v("c"), Value::Str("on".into()));
        assert_eq!(v("d"), Value::Bool(true));
        assert_eq!(v("e"), Value::Int(8080));
        assert_eq!(v("f"), Value::Float(1.5));
        assert_eq!(v("g"), Value::Null);
        assert_eq!(v("h"), Value::Str("42".into()));
        assert_eq!(v("i"), Value::Int(31));
        assert_eq!(v("j"), Value::Float(1000.0));
        assert_eq!(v("k"), Value::Float(0.5));
        assert_eq!(root.get("e").unwrap().plain.as_deref(), Some("8080"));
    }

    #[test]
    fn locations_are_one_based_and_point_at_keys_and_values() {
        let root = one("kind: Sandbox\nspec:\n  image: x\n");
        assert_eq!(root.key_loc("spec"), Some(Loc { line: 2, column: 1 }));
        let spec = root.get("spec").unwrap();
        assert_eq!(spec.key_loc("image"), Some(Loc { line: 3, column: 3 }));
        assert_eq!(
            spec.get("image").unwrap().loc,
            Loc {
                line: 3,
                column: 10
            }
        );
    }

    #[test]
    fn multi_document_files_skip_empty_documents() {
        let docs = parse("---\n---\na: 1\n---\nb: 2\n---\n", Limits::default()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].root.loc.line, 5);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\nb: 2\na: 3\n", Limits::default()).unwrap_err();
        assert_eq!(err.loc, Loc { line: 3, column: 1 });
        assert_eq!(err.message, "duplicate key `a` (first defined on line 1)");
    }

    #[test]
    fn aliases_copy_their_anchor_and_count_against_the_budget() {
        let root = one("base: &b {x: 1}\nother: *b\n");
        assert_eq!(
            root.get("other").unwrap().get("x").unwrap().value,
            Value::Int(1)
        );

        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            bomb.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                [prev.as_str(); 10].join(", ")
            ));
        }
        let started = std::time::Instant::now();
        let err = parse(&bomb, Limits::default()).unwrap_err();
        assert!(
            err.message.starts_with("document too large"),
            "{}",
            err.message
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn aliases_are_charged_the_bytes_they_copy_as_values_and_as_keys() {
        let long = "x".repeat(1024 * 1024);
        let as_values = format!("a: &a \"{long}\"\nb: [{}]\n", vec!["*a"; 20].join(", "));
        let err = parse(&as_values, Limits::default()).unwrap_err();
        assert_eq!(
            err.message,
            "aliases expand this file beyond 8388608 bytes (an alias counts as the bytes it copies)"
        );
        // The value and the anchor's copy hold 2 MiB: 5 aliases fit, the 6th does not.
        assert_eq!((err.loc.line, err.loc.column), (2, 5 + 5 * 4));

        let as_keys: String = std::iter::once(format!("a: &a \"{long}\"\nb:\n"))
            .chain((0..20).map(|i| format!("  c{i}: {{*a : 1}}\n")))
            .collect();
        let err = parse(&as_keys, Limits::default()).unwrap_err();
        assert!(err.message.starts_with("aliases expand"), "{}", err.message);

        let small = Limits {
            max_text_bytes: 10,
            ..Limits::default()
        };
        assert!(parse("a: &a 12345\nb: *a\n", small).is_err());
        assert!(parse("a: 12345\nb: 123\n", small).is_ok());
    }

    #[test]
    fn an_alias_cannot_nest_deeper_than_the_limit() {
        let nest = |levels: usize| format!("{}x{}", "[".repeat(levels), "]".repeat(levels));
        // The anchored list is 60 levels high; placed at depth 4 it reaches depth 63.
        let at = |depth: usize| {
            format!(
                "a: &a {}\nb: {}*a{}\n",
                nest(60),
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            )
        };
        assert!(parse(&at(4), Limits::default()).is_ok());
        let err = parse(&at(5), Limits::default()).unwrap_err();
        assert_eq!(
            err.message,
            "nested deeper than 64 levels (counting what aliases copy)"
        );
        // A chain of anchors, each holding an alias of the previous one deep down.
        let mut chain = format!("a0: &a0 {}\n", nest(40));
        for i in 1..10 {
            chain.push_str(&format!("a{i}: &a{i} [[[[*a{}]]]]\n", i - 1));
        }
        assert!(parse(&chain, Limits::default()).is_err());
    }

    #[test]
    fn crlf_line_endings_keep_locations() {
        let root = one("kind: Sandbox\r\nspec:\r\n  image: x\r\n  env: {A: \"1\"}\r\n");
        let spec = root.get("spec").unwrap();
        assert_eq!(spec.key_loc("env"), Some(Loc { line: 4, column: 3 }));
        let err = parse("a: 1\r\nb: 2\r\na: 3\r\n", Limits::default()).unwrap_err();
        assert_eq!(err.loc, Loc { line: 3, column: 1 });
    }

    #[test]
    fn deep_nesting_and_large_files_are_refused() {
        let flow = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse(&flow, Limits::default()).unwrap_err();
        assert!(
            err.message.contains("recursion limit") || err.message.starts_with("nested deeper"),
            "{}",
            err.message
        );

        let block: String = (0..200)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let err = parse(&block, Limits::default()).unwrap_err();
        assert_eq!(err.message, "nested deeper than 64 levels");
        assert_eq!(err.loc.line, 65);

        let big = "a: b\n".repeat(1_000_000);
        let err = parse(&big, Limits::default()).unwrap_err();
        assert!(err.message.contains("over the limit"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = parse("a: [1, 2\nb: 3\n", Limits::default()).unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.loc.line >= 1);
        let err = parse("a: !!binary abc\n", Limits::default()).unwrap_err();
        assert!(err.message.contains("not supported"));
    }
}
