//! Containerfile edits: `build.from` replaces the base image of the first `FROM`, like
//! `podman build --from`. Flags (`--platform=...`) and the stage name (`AS build`) stay.

/// The Containerfile with the first `FROM`'s image replaced by `base`; `None` when it has
/// no `FROM` instruction.
pub fn replace_first_from(text: &str, base: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + base.len());
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        if !replaced && let Some(new) = rewrite_from(line, base) {
            out.push_str(&new);
            replaced = true;
            continue;
        }
        out.push_str(line);
    }
    replaced.then_some(out)
}

fn rewrite_from(line: &str, base: &str) -> Option<String> {
    let indent = line.len() - line.trim_start().len();
    let body = &line[indent..];
    let keyword = body.get(..4)?;
    if !keyword.eq_ignore_ascii_case("from") || !body[4..].starts_with([' ', '\t']) {
        return None;
    }
    let ending = &body[body.trim_end().len()..];
    let mut words: Vec<&str> = body.split_whitespace().collect();
    let image = words.iter().skip(1).position(|w| !w.starts_with("--"))? + 1;
    words[image] = base;
    Some(format!("{}{}{ending}", &line[..indent], words.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::replace_first_from;

    #[test]
    fn only_the_first_from_changes_and_flags_and_stage_names_stay() {
        let text = "# syntax comment\nARG V=1\nfrom --platform=linux/amd64 debian:12 AS build\nRUN make\nFROM build AS final\n";
        let out = replace_first_from(text, "localhost/step-1:abc").unwrap();
        assert_eq!(
            out,
            "# syntax comment\nARG V=1\nfrom --platform=linux/amd64 localhost/step-1:abc AS build\nRUN make\nFROM build AS final\n"
        );
        assert_eq!(
            replace_first_from("  FROM\tx\r\n", "y").unwrap(),
            "  from y\r\n".replace("from", "FROM")
        );
    }

    #[test]
    fn a_containerfile_without_from_is_refused() {
        assert_eq!(replace_first_from("RUN true\nFROMAGE x\n", "y"), None);
        assert_eq!(replace_first_from("", "y"), None);
    }
}
