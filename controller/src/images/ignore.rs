//! `.containerignore` / `.dockerignore` patterns, with Docker's semantics: one pattern per
//! line, `#` comments, `*` and `?` within a path segment, `**` across segments, `!` to
//! re-include, the last matching pattern wins, and a pattern that matches a folder excludes
//! everything under it.
//!
//! The ignore file is user input, so matching never backtracks without bound: a segment is
//! matched by the greedy wildcard algorithm (back to the last `*` only), and `**` by
//! following every position of the pattern at once, one path segment at a time.

/// One pattern, split into path segments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    segments: Vec<Segment>,
    exclude: bool,
}

/// One path segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of path segments, none included.
    AnyDepth,
    Glob(Vec<Token>),
}

/// One element of a segment glob; every token but `Star` matches exactly one character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    AnyChar,
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
    Literal(char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    One(char),
    Range(char, char),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    pub fn parse(text: &str) -> Self {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let (exclude, body) = match line.strip_prefix('!') {
                    Some(rest) => (false, rest.trim()),
                    None => (true, line),
                };
                let segments: Vec<Segment> = body
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(Segment::parse)
                    .collect();
                (!segments.is_empty()).then_some(Pattern { segments, exclude })
            })
            .collect();
        IgnoreRules { patterns }
    }

    /// These rules, then `later`'s: a pattern of `later` wins over these where both match.
    pub fn followed_by(mut self, later: IgnoreRules) -> Self {
        self.patterns.extend(later.patterns);
        self
    }

    /// Whether `path` (relative, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let parts = split_path(path);
        self.patterns
            .iter()
            .rev()
            .find(|p| p.run(&parts).matched)
            .is_some_and(|p| p.exclude)
    }

    /// Whether an exception (`!pattern`) may re-include something under the folder `dir`:
    /// only then must an excluded folder still be walked.
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let parts = split_path(dir);
        self.patterns
            .iter()
            .filter(|p| !p.exclude)
            .any(|p| p.run(&parts).reaches_below())
    }
}

fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// How far a pattern got along a path.
struct Run {
    /// The pattern matched the path or one of its parent folders.
    matched: bool,
    /// The pattern could still match a path under this one.
    alive: bool,
}

impl Run {
    fn reaches_below(&self) -> bool {
        self.matched || self.alive
    }
}

impl Pattern {
    /// Follows every position the pattern can be at after each segment of `parts` (a set of
    /// at most `segments.len() + 1` positions), so `**` costs no backtracking.
    fn run(&self, parts: &[&str]) -> Run {
        let end = self.segments.len();
        let mut at = vec![false; end + 1];
        at[0] = true;
        self.skip_any_depth(&mut at);
        let mut matched = false;
        for part in parts {
            let mut next = vec![false; end + 1];
            for (i, segment) in self.segments.iter().enumerate().filter(|(i, _)| at[*i]) {
                match segment {
                    Segment::AnyDepth => next[i] = true,
                    Segment::Glob(tokens) if glob_matches(tokens, part) => next[i + 1] = true,
                    Segment::Glob(_) => {}
                }
            }
            self.skip_any_depth(&mut next);
            at = next;
            matched |= at[end];
            if !at.contains(&true) {
                break;
            }
        }
        Run {
            matched,
            alive: at.contains(&true),
        }
    }

    /// A `**` may match no segment at all: a position before one is also after it.
    fn skip_any_depth(&self, at: &mut [bool]) {
        for (i, segment) in self.segments.iter().enumerate() {
            if at[i] && *segment == Segment::AnyDepth {
                at[i + 1] = true;
            }
        }
    }
}

impl Segment {
    /// `*`, `?`, `[abc]`, `[a-z]`, `[^a]` / `[!a]`, `\x`; `**` alone is [`Segment::AnyDepth`].
    fn parse(text: &str) -> Segment {
        if text == "**" {
            return Segment::AnyDepth;
        }
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            let token = match c {
                // Consecutive stars match what one does.
                '*' if tokens.last() == Some(&Token::Star) => continue,
                '*' => Token::Star,
                '?' => Token::AnyChar,
                '[' => match class_end(&chars[i - 1..]) {
                    Some(len) => {
                        let token = Token::class(&chars[i..i - 1 + len]);
                        i += len;
                        token
                    }
                    None => Token::Literal('['),
                },
                '\\' => match chars.get(i) {
                    Some(&escaped) => {
                        i += 1;
                        Token::Literal(escaped)
                    }
                    None => Token::Literal('\\'),
                },
                c => Token::Literal(c),
            };
            tokens.push(token);
        }
        Segment::Glob(tokens)
    }
}

/// Where the class opened by `p[0] == '['` closes, relative to `p` (a `]` right after the
/// `[` is a member, not the end).
fn class_end(p: &[char]) -> Option<usize> {
    p.iter().skip(2).position(|&c| c == ']').map(|i| i + 2)
}

impl Token {
    fn class(body: &[char]) -> Token {
        let (negated, body) = match body.first() {
            Some('^' | '!') => (true, &body[1..]),
            _ => (false, body),
        };
        let mut items = Vec::new();
        let mut i = 0;
        while let Some(&c) = body.get(i) {
            match (body.get(i + 1), body.get(i + 2)) {
                (Some('-'), Some(&last)) => {
                    items.push(ClassItem::Range(c, last));
                    i += 3;
                }
                _ => {
                    items.push(ClassItem::One(c));
                    i += 1;
                }
            }
        }
        Token::Class { negated, items }
    }

    /// Whether this one-character token accepts `c` (`Star` is handled by the matcher).
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Star => false,
            Token::AnyChar => true,
            Token::Literal(l) => *l == c,
            Token::Class { negated, items } => {
                let found = items.iter().any(|item| match item {
                    ClassItem::One(one) => *one == c,
                    ClassItem::Range(first, last) => (*first..=*last).contains(&c),
                });
                found != *negated
            }
        }
    }
}

/// Greedy wildcard matching: on a mismatch, the last `*` takes one more character and the
/// match resumes after it. Every other token takes exactly one character, so going back to
/// the last star is enough, and the cost is at most tokens × characters.
fn glob_matches(tokens: &[Token], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut n) = (0, 0);
    // After the last star seen: the token following it, and where its match would resume.
    let mut last_star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                t += 1;
                last_star = Some((t, n));
                continue;
            }
            Some(token) if token.accepts(name[n]) => {
                t += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match &mut last_star {
            Some((after_star, resume)) => {
                *resume += 1;
                t = *after_star;
                n = *resume;
            }
            None => return false,
        }
    }
    tokens[t..].iter().all(|token| *token == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::IgnoreRules;
    use std::time::{Duration, Instant};

    #[test]
    fn docker_semantics() {
        let rules = IgnoreRules::parse(
            "# comment\n\n*.log\n/build\nsecret?.txt\ndocs/**/*.md\n!docs/keep.md\n**/node_modules\n",
        );
        assert!(rules.excludes("a.log"));
        assert!(!rules.excludes("sub/a.log"), "* does not cross folders");
        assert!(rules.excludes("build"));
        assert!(
            rules.excludes("build/out/x.o"),
            "a folder's content goes with it"
        );
        assert!(rules.excludes("secret1.txt"));
        assert!(!rules.excludes("secret12.txt"));
        assert!(rules.excludes("docs/a/b/c.md"));
        assert!(rules.excludes("docs/c.md"));
        assert!(!rules.excludes("docs/keep.md"), "the last match wins");
        assert!(rules.excludes("x/y/node_modules/z.js"));
        assert!(rules.excludes("node_modules"), "** matches no folder too");
        assert!(!rules.excludes("src/main.rs"));
    }

    #[test]
    fn classes_and_escapes() {
        let rules = IgnoreRules::parse("[a-c]x\n[^z]y\n\\*lit\n[]]b\n[!0-9]n\nunclosed[\n");
        assert!(rules.excludes("bx"));
        assert!(!rules.excludes("dx"));
        assert!(rules.excludes("ay"));
        assert!(!rules.excludes("zy"));
        assert!(rules.excludes("*lit"));
        assert!(!rules.excludes("alit"));
        assert!(rules.excludes("]b"), "a ] right after [ is a member");
        assert!(rules.excludes("xn"));
        assert!(!rules.excludes("5n"));
        assert!(rules.excludes("unclosed["), "an unclosed [ is literal");
    }

    #[test]
    fn stars_backtrack_correctly() {
        let rules = IgnoreRules::parse("a*b*c\n*.tar.*\n*?\\?\nx*[0-9]\n");
        assert!(rules.excludes("abxbc"));
        assert!(rules.excludes("abc"));
        assert!(!rules.excludes("abxbcd"));
        assert!(!rules.excludes("acb"));
        assert!(rules.excludes("a.tar.gz"));
        assert!(!rules.excludes("a.tar"));
        assert!(rules.excludes("ab?"));
        assert!(
            !rules.excludes("?"),
            "*? needs one character before the literal ?"
        );
        assert!(rules.excludes("xa1b2"));
        assert!(!rules.excludes("xa1b"));
        assert!(IgnoreRules::parse("?").excludes("é"), "? is one character");
    }

    #[test]
    fn any_depth_in_the_middle_and_at_the_ends() {
        let rules = IgnoreRules::parse("a/**/b/**/c\n");
        assert!(rules.excludes("a/b/c"));
        assert!(rules.excludes("a/x/y/b/z/c"));
        assert!(rules.excludes("a/b/c/d"), "content of a matched folder");
        assert!(!rules.excludes("a/c"));
        assert!(
            !rules.excludes("x/a/b/c"),
            "patterns are anchored at the root"
        );
        assert!(IgnoreRules::parse("**").excludes("any/thing"));
        assert!(IgnoreRules::parse("a/**").excludes("a/x"));
    }

    #[test]
    fn later_rules_win_over_earlier_ones() {
        let defaults = IgnoreRules::parse(".git\n");
        assert!(defaults.clone().excludes(".git/HEAD"));
        let back = defaults.clone().followed_by(IgnoreRules::parse("!.git\n"));
        assert!(!back.excludes(".git/HEAD"));
        let partly = defaults.followed_by(IgnoreRules::parse("!.git\n.git/objects\n"));
        assert!(!partly.excludes(".git/HEAD"));
        assert!(partly.excludes(".git/objects/ab/cdef"));
    }

    #[test]
    fn excluded_folders_are_walked_only_when_an_exception_can_reach_inside() {
        let rules = IgnoreRules::parse("*\n!keep/**/x.txt\n!other\n");
        assert!(rules.may_reinclude_under("keep"));
        assert!(rules.may_reinclude_under("keep/a/b"));
        assert!(
            rules.may_reinclude_under("other/deep"),
            "a re-included parent"
        );
        assert!(!rules.may_reinclude_under("drop"));
        assert!(
            !rules.may_reinclude_under("drop/keep"),
            "patterns are anchored at the root"
        );
        assert!(!IgnoreRules::parse("drop\n").may_reinclude_under("drop"));
    }

    /// The recursive matcher this module had before, kept as the reference for its
    /// semantics (exponential on hostile patterns, so only fed short ones).
    mod reference {
        pub fn excludes(text: &str, path: &str) -> bool {
            let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let mut excluded = false;
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (exclude, body) = match line.strip_prefix('!') {
                    Some(rest) => (false, rest.trim()),
                    None => (true, line),
                };
                let segments: Vec<&str> = body
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .collect();
                if segments.is_empty() {
                    continue;
                }
                if (1..=parts.len()).any(|n| matches_path(&segments, &parts[..n])) {
                    excluded = exclude;
                }
            }
            excluded
        }

        fn matches_path(pattern: &[&str], path: &[&str]) -> bool {
            match (pattern.first(), path.first()) {
                (None, None) => true,
                (None, Some(_)) => false,
                (Some(&"**"), _) => {
                    (0..=path.len()).any(|skip| matches_path(&pattern[1..], &path[skip..]))
                }
                (Some(_), None) => false,
                (Some(p), Some(s)) => {
                    matches_segment(p.as_bytes(), s.as_bytes())
                        && matches_path(&pattern[1..], &path[1..])
                }
            }
        }

        fn matches_segment(p: &[u8], s: &[u8]) -> bool {
            match p.first() {
                None => s.is_empty(),
                Some(b'*') => (0..=s.len()).any(|i| matches_segment(&p[1..], &s[i..])),
                Some(b'?') => !s.is_empty() && matches_segment(&p[1..], &s[1..]),
                Some(b'[') => match (class_end(p), s.first()) {
                    (Some(end), Some(&c)) => {
                        class_matches(&p[1..end], c) && matches_segment(&p[end + 1..], &s[1..])
                    }
                    (None, Some(&c)) => c == b'[' && matches_segment(&p[1..], &s[1..]),
                    (_, None) => false,
                },
                Some(b'\\') if p.len() > 1 => {
                    s.first() == Some(&p[1]) && matches_segment(&p[2..], &s[1..])
                }
                Some(&c) => s.first() == Some(&c) && matches_segment(&p[1..], &s[1..]),
            }
        }

        fn class_end(p: &[u8]) -> Option<usize> {
            p.iter().skip(2).position(|&b| b == b']').map(|i| i + 2)
        }

        fn class_matches(class: &[u8], c: u8) -> bool {
            let (negated, class) = match class.first() {
                Some(b'^' | b'!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut i = 0;
            let mut found = false;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    found |= (class[i]..=class[i + 2]).contains(&c);
                    i += 3;
                } else {
                    found |= class[i] == c;
                    i += 1;
                }
            }
            found != negated
        }
    }

    /// A pattern line built from pieces that often match paths over `a` and `b`.
    fn arb_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = proptest::sample::select(vec![
            "a", "b", "*", "?", "[ab]", "[^a]", "[!b]", "[a-b]", "[]a]", "\\a", "[", "\\",
        ]);
        let segment = prop_oneof![
            4 => proptest::collection::vec(piece, 1..4).prop_map(|p| p.concat()),
            1 => Just("**".to_string()),
        ];
        (any::<bool>(), proptest::collection::vec(segment, 1..4)).prop_map(
            |(exception, segments)| {
                format!("{}{}", if exception { "!" } else { "" }, segments.join("/"))
            },
        )
    }

    proptest::proptest! {
        /// The bounded matcher decides exactly as the recursive one did.
        #[test]
        fn matching_keeps_the_semantics_of_the_recursive_matcher(
            lines in proptest::collection::vec(arb_line(), 1..4),
            paths in proptest::collection::vec(r"[ab\\\[]{1,3}(/[ab]{1,3}){0,3}", 1..8),
        ) {
            let text = lines.join("\n");
            let rules = IgnoreRules::parse(&text);
            for path in &paths {
                proptest::prop_assert_eq!(
                    rules.excludes(path),
                    reference::excludes(&text, path),
                    "{:?} against {:?}", text, path
                );
            }
        }
    }

    proptest::proptest! {
        /// Skipping an excluded folder that no exception can reach inside loses nothing:
        /// everything under it is excluded too.
        #[test]
        fn a_skipped_folder_holds_nothing_re_included(
            lines in proptest::collection::vec(arb_line(), 1..4),
            dir in r"[ab]{1,2}(/[ab]{1,2}){0,2}",
            below in proptest::collection::vec(r"[ab]{1,2}(/[ab]{1,2}){0,2}", 1..6),
        ) {
            let rules = IgnoreRules::parse(&lines.join("\n"));
            if rules.excludes(&dir) && !rules.may_reinclude_under(&dir) {
                for path in &below {
                    let path = format!("{dir}/{path}");
                    proptest::prop_assert!(rules.excludes(&path), "{:?}: {}", lines, path);
                }
            }
        }
    }

    fn assert_fast(pattern: &str, name: &str) {
        let rules = IgnoreRules::parse(pattern);
        let start = Instant::now();
        let _ = rules.excludes(name);
        let _ = rules.may_reinclude_under(name);
        let took = start.elapsed();
        assert!(
            took < Duration::from_millis(100),
            "{took:?} for {pattern:.40}"
        );
    }

    #[test]
    fn pathological_patterns_finish_fast() {
        let stars = format!("{}b", "*a".repeat(64));
        assert_fast(&stars, &"a".repeat(4096));
        assert!(!IgnoreRules::parse(&stars).excludes(&"a".repeat(200)));
        assert!(IgnoreRules::parse(&stars).excludes(&format!("{}b", "a".repeat(200))));

        let question_stars = "*?".repeat(64);
        assert_fast(&question_stars, &"x".repeat(4096));

        let depth = format!("{}x", "**/".repeat(64));
        let deep = "a/".repeat(2048) + "y";
        assert_fast(&depth, &deep);
        assert!(!IgnoreRules::parse(&depth).excludes(&deep));
        assert!(IgnoreRules::parse(&depth).excludes(&("a/".repeat(100) + "x")));

        let mixed = "**/*a*a*a*a*a*a*a*a*/**/".repeat(16) + "*b";
        assert_fast(&mixed, &("aaaaaaaaaaaaaaaaaaaaaaaaaaaa/".repeat(256) + "c"));
    }
}
