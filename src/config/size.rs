//! Sizes in bytes as a pipeline file and the command line write them
//! (`memory_limit = "512MiB"`, `--memory-limit 2GiB`).

/// DataFusion's memory for joins, sorts and aggregates when neither the
/// pipeline nor `--memory-limit` sets it: 1 GiB, which a 2 GB machine holds
/// beside the engines' own buffers; operators past it spill to disk.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

/// The smallest memory limit taken: below it a sort cannot hold the few
/// batches it needs to spill.
pub const MIN_MEMORY_LIMIT: u64 = 4 << 20;

/// Parses a size: plain bytes (`1048576`), or a number with a unit, decimal
/// (`KB`, `MB`, `GB`, `TB`) or binary (`KiB`, `MiB`, `GiB`, `TiB`), case
/// ignored (`512MiB`, `1.5 GB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "'{text}' has unknown unit '{other}': write bytes, or a number with KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("'{text}' is not a size: write 512MiB, 2GiB, 512MB or bytes"))?;
    let bytes = value * unit_bytes as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("'{text}' is too large"));
    }
    Ok(bytes as u64)
}

/// Parses a memory limit: a size of at least [`MIN_MEMORY_LIMIT`].
pub fn parse_memory_limit(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if bytes < MIN_MEMORY_LIMIT {
        return Err(format!(
            "memory limit '{}' is below the least barge runs with, {} MiB",
            text.trim(),
            MIN_MEMORY_LIMIT >> 20
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        for (text, bytes) in [
            ("256MiB", 256 << 20),
            ("2GiB", 2 << 30),
            ("512MB", 512_000_000),
            ("1048576", 1 << 20),
            (" 1.5 gib ", 3 << 29),
            ("16mib", 16 << 20),
            ("4kB", 4_000),
            ("7b", 7),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "MiB", "12 parsecs", "-5MiB", "1.2.3GB", "5M", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(parse_memory_limit("1MiB").unwrap_err().contains("below"));
        assert_eq!(parse_memory_limit("4MiB"), Ok(4 << 20));
    }
}
