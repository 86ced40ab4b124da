//! The text of one value in `LOAD DATA`'s TSV: integers, floats, decimals,
//! text and bytes escaped, dates, datetimes and times.

use std::io::Write as _;

use super::CellResult;

/// Writes the decimal digits of `v` at the end of `digits`; returns where they start.
#[inline]
pub(super) fn u128_digits(mut v: u128, digits: &mut [u8; 40]) -> usize {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return i;
        }
    }
}

#[inline]
pub(super) fn put_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

#[inline]
pub(super) fn put_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    put_u64(buf, v.unsigned_abs());
}

/// `v` with at least `width` digits, zero padded.
#[inline]
pub(super) fn put_padded(buf: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 && digits.len() - i >= width {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Shortest round-trip text (`{:?}`: `1.5`, `1e300`, `-0.0`).
#[inline]
pub(super) fn put_float(
    buf: &mut Vec<u8>,
    nan: bool,
    infinite: bool,
    v: impl std::fmt::Debug,
) -> CellResult {
    if nan {
        return Err("NaN cannot be stored in MySQL/MariaDB\n  hint: turn it into NULL in the step SQL, e.g. CASE WHEN isnan(x) THEN NULL ELSE x END");
    }
    if infinite {
        return Err(
            "infinity cannot be stored in MySQL/MariaDB\n  hint: turn it into NULL in the step SQL",
        );
    }
    // Writing into a Vec cannot fail.
    let _ = write!(buf, "{v:?}");
    Ok(())
}

/// `digits` (no sign) as a decimal with `scale` fractional digits.
pub(super) fn put_decimal(buf: &mut Vec<u8>, negative: bool, digits: &[u8], scale: i8) {
    if negative {
        buf.push(b'-');
    }
    if scale <= 0 {
        buf.extend_from_slice(digits);
        if digits != b"0" {
            buf.resize(buf.len() + usize::from(scale.unsigned_abs()), b'0');
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        buf.extend_from_slice(b"0.");
        buf.resize(buf.len() + scale - digits.len(), b'0');
        buf.extend_from_slice(digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        buf.extend_from_slice(int);
        buf.push(b'.');
        buf.extend_from_slice(frac);
    }
}

/// Text with the LOAD DATA escapes (`\\`, `\t`, `\n`, `\r`, `\0`).
#[inline]
pub(super) fn put_text(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let escaped: &[u8] = match c {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            0 => b"\\0",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escaped);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// Lowercase hex, read back with `UNHEX`.
#[inline]
pub(super) fn put_hex(buf: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.reserve(bytes.len() * 2);
    for &b in bytes {
        buf.push(HEX[usize::from(b >> 4)]);
        buf.push(HEX[usize::from(b & 15)]);
    }
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (years 1 to 9999).
pub(super) fn put_date(buf: &mut Vec<u8>, days: i64) -> CellResult {
    let (year, month, day) = crate::dates::civil_from_days(days);
    if !(1..=9999).contains(&year) {
        return Err("date outside the years 1 to 9999 that MySQL/MariaDB can store");
    }
    put_padded(buf, year as u64, 4);
    buf.push(b'-');
    put_padded(buf, month as u64, 2);
    buf.push(b'-');
    put_padded(buf, day as u64, 2);
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` of seconds since the epoch plus microseconds.
#[inline]
pub(super) fn put_datetime(buf: &mut Vec<u8>, secs: i64, micros: u32) -> CellResult {
    put_date(buf, secs.div_euclid(86_400))?;
    buf.push(b' ');
    put_hms(buf, secs.rem_euclid(86_400) as u64, micros);
    Ok(())
}

/// `HH:MM:SS[.ffffff]` of microseconds since midnight (negative: `-HH:...`).
#[inline]
pub(super) fn put_time(buf: &mut Vec<u8>, micros: i64) {
    if micros < 0 {
        buf.push(b'-');
    }
    let m = micros.unsigned_abs();
    put_hms(buf, m / 1_000_000, (m % 1_000_000) as u32);
}

#[inline]
pub(super) fn put_hms(buf: &mut Vec<u8>, secs: u64, micros: u32) {
    put_padded(buf, secs / 3_600, 2);
    buf.push(b':');
    put_padded(buf, secs / 60 % 60, 2);
    buf.push(b':');
    put_padded(buf, secs % 60, 2);
    if micros != 0 {
        buf.push(b'.');
        put_padded(buf, u64::from(micros), 6);
    }
}
