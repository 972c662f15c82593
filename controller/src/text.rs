//! Small helpers for text meant for people: counts with the right plural.
//!
//! Pure, no I/O. Every message that counts something says `1 object` and `2 objects`,
//! never `1 objects` or `object(s)`.

/// `n` followed by `noun`, in the plural unless `n` is 1: `count(1, "object")` is
/// `1 object`, `count(3, "object")` is `3 objects`. For nouns whose plural is not the
/// singular with an `s`, use [`count_as`].
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `n` followed by `singular` or `plural`: `count_as(2, "process", "processes")`.
pub fn count_as(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// The plural `s` for `n` things, for the rare sentence where the count is not next to its
/// noun: `format!("{n} sandbox{} need{} ...", ...)`.
pub fn plural_s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_is_plural() {
        assert_eq!(count(0, "object"), "0 objects");
        assert_eq!(count(1, "object"), "1 object");
        assert_eq!(count(2, "object"), "2 objects");
        assert_eq!(count(11, "image"), "11 images");
        assert_eq!(count_as(1, "process", "processes"), "1 process");
        assert_eq!(count_as(0, "process", "processes"), "0 processes");
        assert_eq!(count_as(3, "sandbox", "sandboxes"), "3 sandboxes");
        assert_eq!(plural_s(1), "");
        assert_eq!(plural_s(0), "s");
        assert_eq!(plural_s(7), "s");
    }
}
