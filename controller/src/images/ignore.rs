//! `.containerignore` / `.dockerignore` patterns, with Docker's semantics: one pattern per
//! line, `#` comments, `*` and `?` within a path segment, `**` across segments, `!` to
//! re-include, the last matching pattern wins, and a pattern that matches a folder excludes
//! everything under it.

/// One pattern, split into path segments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    segments: Vec<String>,
    exclude: bool,
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
                let segments: Vec<String> = body
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(str::to_string)
                    .collect();
                (!segments.is_empty()).then_some(Pattern { segments, exclude })
            })
            .collect();
        IgnoreRules { patterns }
    }

    /// Whether any pattern re-includes something; then excluded folders must still be walked.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| !p.exclude)
    }

    /// Whether `path` (relative, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // The path itself or one of its parent folders.
            let hit = (1..=parts.len()).any(|n| matches_path(&pattern.segments, &parts[..n]));
            if hit {
                excluded = pattern.exclude;
            }
        }
        excluded
    }
}

fn matches_path(pattern: &[String], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(p), _) if p == "**" => {
            (0..=path.len()).any(|skip| matches_path(&pattern[1..], &path[skip..]))
        }
        (Some(_), None) => false,
        (Some(p), Some(s)) => {
            matches_segment(p.as_bytes(), s.as_bytes()) && matches_path(&pattern[1..], &path[1..])
        }
    }
}

/// Glob match of one segment: `*`, `?`, `[abc]`, `[a-z]`, `[^a]`, `\x`.
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
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && matches_segment(&p[2..], &s[1..]),
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

#[cfg(test)]
mod tests {
    use super::IgnoreRules;

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
        assert!(!rules.excludes("src/main.rs"));
        assert!(rules.has_exceptions());
    }

    #[test]
    fn classes_and_escapes() {
        let rules = IgnoreRules::parse("[a-c]x\n[^z]y\n\\*lit\n");
        assert!(rules.excludes("bx"));
        assert!(!rules.excludes("dx"));
        assert!(rules.excludes("ay"));
        assert!(!rules.excludes("zy"));
        assert!(rules.excludes("*lit"));
        assert!(!rules.excludes("alit"));
        assert!(!IgnoreRules::parse("").has_exceptions());
    }
}
