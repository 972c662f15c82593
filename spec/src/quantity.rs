//! Memory quantities: bytes, or a number with a binary suffix (`Ki`, `Mi`, `Gi`, `Ti`).

/// Podman refuses memory limits below 6 MiB.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// The smallest `logs.maxSize`: two of conmon's 8 KiB read buffers, so that a file always
/// holds some whole output.
pub const MIN_LOG_SIZE: u64 = 16 << 10;
/// The largest `logs.maxSize`.
pub const MAX_LOG_SIZE: u64 = 1 << 40;

/// Parses `512Mi`, `2Gi`, `1048576`; at least [`MIN_MEMORY`].
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let bytes = parse_quantity(text)?;
    if bytes < MIN_MEMORY {
        return Err(format!("`{text}` is below the minimum of 6Mi"));
    }
    Ok(bytes)
}

/// Parses a `logs.maxSize`: a quantity from [`MIN_LOG_SIZE`] to [`MAX_LOG_SIZE`].
pub fn parse_log_size(text: &str) -> Result<u64, String> {
    let bytes = parse_quantity(text)?;
    if bytes < MIN_LOG_SIZE {
        return Err(format!("`{text}` is below the minimum of 16Ki"));
    }
    if bytes > MAX_LOG_SIZE {
        return Err(format!("`{text}` is above the maximum of 1Ti"));
    }
    Ok(bytes)
}

/// Bytes, or a whole number with `Ki`, `Mi`, `Gi` or `Ti`.
fn parse_quantity(text: &str) -> Result<u64, String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, suffix) = text.split_at(digits);
    let multiplier: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}` is not a memory quantity: use bytes or a number with Ki, Mi, Gi or Ti"
            ));
        }
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a memory quantity: it needs a whole number"))?;
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_suffixes_and_bounds() {
        assert_eq!(parse_memory("512Mi"), Ok(512 << 20));
        assert_eq!(parse_memory("2Gi"), Ok(2 << 30));
        assert_eq!(parse_memory("8388608"), Ok(8 << 20));
        assert!(parse_memory("512MB").is_err());
        assert!(parse_memory("1.5Gi").is_err());
        assert!(parse_memory("1Mi").unwrap_err().contains("minimum"));
        assert!(
            parse_memory("99999999999999Ti")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_memory("").is_err());
    }

    #[test]
    fn log_sizes_have_their_own_bounds() {
        assert_eq!(parse_log_size("10Mi"), Ok(10 << 20));
        assert_eq!(parse_log_size("16Ki"), Ok(16 << 10));
        assert!(
            parse_log_size("8Ki")
                .unwrap_err()
                .contains("minimum of 16Ki")
        );
        assert!(
            parse_log_size("2Ti")
                .unwrap_err()
                .contains("maximum of 1Ti")
        );
        assert!(parse_log_size("10MB").is_err());
    }
}
