//! Human durations as users write them: `500ms`, `30s`, `5m`, `1h30m`, `2h`.

use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationParseError {
    #[error("empty duration")]
    Empty,
    #[error(
        "invalid duration `{input}`: expected a number followed by ms, s, m or h (e.g. 30s, 5m, 1h30m)"
    )]
    Malformed { input: String },
    #[error("duration `{input}` is too large")]
    Overflow { input: String },
}

/// Parses a sequence of `<integer><unit>` parts, units `ms`, `s`, `m`, `h`.
/// A bare integer is rejected: a unit is always required, so `10` never silently
/// means ten seconds to one reader and ten minutes to another.
pub fn parse_duration(input: &str) -> Result<Duration, DurationParseError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationParseError::Empty);
    }
    let malformed = || DurationParseError::Malformed {
        input: input.to_string(),
    };
    let overflow = || DurationParseError::Overflow {
        input: input.to_string(),
    };
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(malformed());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| overflow())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(overflow)?),
            "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(overflow)?),
            _ => return Err(malformed()),
        };
        total = total.checked_add(part).ok_or_else(overflow)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 2s "), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        for bad in ["10", "s", "1d", "1.5s", "-1s", "1s2", "ms5"] {
            assert!(
                matches!(
                    parse_duration(bad),
                    Err(DurationParseError::Malformed { .. })
                ),
                "{bad} should be malformed"
            );
        }
        assert_eq!(parse_duration(""), Err(DurationParseError::Empty));
    }

    #[test]
    fn rejects_overflow_without_panicking() {
        assert!(matches!(
            parse_duration("99999999999999999999999s"),
            Err(DurationParseError::Overflow { .. })
        ));
        assert!(matches!(
            parse_duration("18446744073709551615h"),
            Err(DurationParseError::Overflow { .. })
        ));
    }
}
