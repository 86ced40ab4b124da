//! SQLite declared types ⇄ Arrow types (the one mapping table of the engine),
//! and the text forms values take when SQLite has no native storage for them.
//!
//! SQLite is dynamically typed: a column's *declared* type only gives it an
//! affinity, and any cell may hold any storage class (NULL, INTEGER, REAL,
//! TEXT, BLOB). barge reads a column as the Arrow type its declared type
//! names, and converts every storage class it can into that type exactly
//! (see `source.rs`); what it cannot convert is an error naming the row.
//!
//! # Reading: declared type → Arrow ([`arrow_type`])
//!
//! The declared type is matched case-insensitively; the first rule that
//! applies wins. Rules 1–6 look at the type's name (without its `(…)`
//! arguments); the rest are SQLite's own affinity rules.
//!
//! | # | declared type | Arrow |
//! |---|---------------|-------|
//! | 1 | empty (views, expressions) | `Utf8` |
//! | 2 | `BOOL`, `BOOLEAN` | `Boolean` |
//! | 3 | `DECIMAL(p,s)`, `NUMERIC(p,s)`, `DECIMAL_TEXT(p,s)`; `(p)` means `s = 0` | `Decimal128(p,s)` for p ≤ 38, `Decimal256(p,s)` for p ≤ 76, else `Utf8` |
//! | 3 | bare `DECIMAL`, `NUMERIC` | `Decimal128(38,9)` ([`DEFAULT_DECIMAL`]; values round half-up to 9 decimals) |
//! | 4 | `DATE` | `Date32` |
//! | 5 | `DATETIME`, `TIMESTAMP`, `TIMESTAMP WITHOUT TIME ZONE` | `Timestamp(Microsecond, None)` |
//! | 5 | `TIMESTAMPTZ`, `TIMESTAMP WITH TIME ZONE` | `Timestamp(Microsecond, "UTC")` |
//! | 6 | `TIME`, `TIME WITHOUT TIME ZONE` | `Time64(Microsecond)` |
//! | 7 | contains `INT` | `Int64` |
//! | 8 | contains `CHAR`, `CLOB` or `TEXT` | `Utf8` |
//! | 9 | contains `BLOB` | `Binary` |
//! | 10 | contains `REAL`, `FLOA` or `DOUB` | `Float64` |
//! | 11 | anything else (`UUID`, `JSON`, …) | `Utf8` |
//!
//! # Writing: Arrow → declared type ([`declared_type`])
//!
//! Every type reads back as the Arrow type in the last column (integers of
//! every width become `Int64`, floats `Float64`, temporal types microsecond
//! precision).
//!
//! | Arrow | declared type | stored as | read back as |
//! |-------|---------------|-----------|--------------|
//! | `Boolean` | `BOOLEAN` | INTEGER 0/1 | `Boolean` |
//! | `Int8..Int64`, `UInt8..UInt32` | `INTEGER` | INTEGER | `Int64` |
//! | `UInt64` | `UNSIGNED BIGINT` | INTEGER (values > 2⁶³−1 are an error) | `Int64` |
//! | `Float16/32/64` | `REAL` | REAL (NaN is an error: SQLite stores it as NULL) | `Float64` |
//! | `Decimal*(p,s)`, p ≤ 15 | `DECIMAL(p,s)` | INTEGER or REAL (NUMERIC affinity, exact at ≤ 15 digits) | `Decimal128(p,s)` |
//! | `Decimal*(p,s)`, p > 15 | `DECIMAL_TEXT(p,s)` | TEXT with exactly `s` decimals (TEXT affinity keeps every digit) | `Decimal128/256(p,s)` |
//! | `Utf8`, `LargeUtf8`, `Utf8View`, `Null` | `TEXT` | TEXT | `Utf8` |
//! | `Binary`, `LargeBinary`, `BinaryView`, `FixedSizeBinary` | `BLOB` | BLOB | `Binary` |
//! | `Date32`, `Date64` | `DATE` | TEXT `YYYY-MM-DD` | `Date32` |
//! | `Timestamp(_, None)` | `TIMESTAMP` | TEXT `YYYY-MM-DD HH:MM:SS[.ffffff]` | `Timestamp(µs, None)` |
//! | `Timestamp(_, tz)` | `TIMESTAMPTZ` | TEXT in UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00` | `Timestamp(µs, "UTC")` |
//! | `Time32`, `Time64` | `TIME` | TEXT `HH:MM:SS[.ffffff]` | `Time64(µs)` |
//! | `Dictionary(_, v)` | as `v` | as `v` | as `v` |
//! | anything else | error: CAST it in the step SQL | | |
//!
//! Why two decimal spellings: SQLite converts text bound into a NUMERIC
//! column (`DECIMAL(p,s)`) to INTEGER or REAL whenever it parses as a number,
//! keeping only ~15 significant digits. Up to 15 digits that is exact (and
//! SQLite compares and sums such columns as numbers); beyond, the column is
//! declared `DECIMAL_TEXT(p,s)`, whose TEXT affinity stores every digit.
//! Fractional seconds are written with 6 digits, or 9 when the value has
//! sub-microsecond precision (reading such a value back into microseconds is
//! an error, not a silent truncation).

use std::fmt::Write as _;

use datafusion::arrow::datatypes::{i256, DataType, TimeUnit};

use crate::engines::dialect::{Dialect, ForeignKeyDdl};
use crate::model::EngineKind;

/// Precision and scale of a `DECIMAL`/`NUMERIC` column declared without arguments.
pub const DEFAULT_DECIMAL: (u8, i8) = (38, 9);

/// Largest decimal precision that SQLite's NUMERIC affinity stores exactly
/// (as INTEGER or REAL); wider decimals are declared `DECIMAL_TEXT(p,s)`.
pub const MAX_NUMERIC_PRECISION: u8 = 15;

/// Time zone of timestamps read from `TIMESTAMPTZ` columns.
pub const UTC: &str = "UTC";

/// The Arrow type a column of SQLite declared type `declared` is read as
/// (see the module's table).
pub fn arrow_type(declared: &str) -> DataType {
    let upper = declared.trim().to_ascii_uppercase();
    let (name, args) = split_args(&upper);
    // Collapse inner whitespace so `TIMESTAMP  WITH TIME ZONE` matches too.
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.as_str() {
        "" => return DataType::Utf8,
        "BOOL" | "BOOLEAN" => return DataType::Boolean,
        "DECIMAL" | "NUMERIC" | "DECIMAL_TEXT" => return decimal_type(args),
        "DATE" => return DataType::Date32,
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => {
            return DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => {
            return DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
        }
        "TIME" | "TIME WITHOUT TIME ZONE" => return DataType::Time64(TimeUnit::Microsecond),
        _ => {}
    }
    // SQLite's affinity rules (https://sqlite.org/datatype3.html#determination_of_column_affinity).
    if name.contains("INT") {
        DataType::Int64
    } else if name.contains("CHAR") || name.contains("CLOB") || name.contains("TEXT") {
        DataType::Utf8
    } else if name.contains("BLOB") {
        DataType::Binary
    } else if name.contains("REAL") || name.contains("FLOA") || name.contains("DOUB") {
        DataType::Float64
    } else {
        DataType::Utf8
    }
}

/// Splits `DECIMAL(10, 2)` into `("DECIMAL", Some("10, 2"))`.
fn split_args(upper: &str) -> (&str, Option<&str>) {
    match upper.find('(') {
        Some(open) => {
            let rest = &upper[open + 1..];
            let args = rest.strip_suffix(')').unwrap_or(rest);
            (upper[..open].trim(), Some(args))
        }
        None => (upper, None),
    }
}

fn decimal_type(args: Option<&str>) -> DataType {
    let Some(args) = args else {
        return DataType::Decimal128(DEFAULT_DECIMAL.0, DEFAULT_DECIMAL.1);
    };
    let parts: Vec<&str> = args.split(',').map(str::trim).collect();
    let parsed = match parts.as_slice() {
        [p] => p.parse::<u8>().ok().map(|p| (p, 0i8)),
        [p, s] => p.parse::<u8>().ok().zip(s.parse::<i8>().ok()),
        _ => None,
    };
    match parsed {
        Some((p, s)) if p >= 1 && i16::from(s) <= i16::from(p) => {
            if p <= 38 {
                DataType::Decimal128(p, s)
            } else if p <= 76 {
                DataType::Decimal256(p, s)
            } else {
                DataType::Utf8
            }
        }
        // Arguments Arrow cannot represent: keep the text exact.
        _ => DataType::Utf8,
    }
}

/// The SQLite declared type barge creates for a column of Arrow type `dt`,
/// `None` when SQLite cannot store it (see the module's table).
pub fn declared_type(dt: &DataType) -> Option<String> {
    Some(match dt {
        DataType::Boolean => "BOOLEAN".to_string(),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => "INTEGER".to_string(),
        DataType::UInt64 => "UNSIGNED BIGINT".to_string(),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "REAL".to_string(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => {
            if *p <= MAX_NUMERIC_PRECISION {
                format!("DECIMAL({p},{s})")
            } else {
                format!("DECIMAL_TEXT({p},{s})")
            }
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            "TEXT".to_string()
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "BLOB".to_string(),
        DataType::Date32 | DataType::Date64 => "DATE".to_string(),
        DataType::Timestamp(_, None) => "TIMESTAMP".to_string(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ".to_string(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".to_string(),
        DataType::Dictionary(_, values) => return declared_type(values),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Decimal text
// ---------------------------------------------------------------------------

/// A decimal parsed at a column's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedDecimal {
    /// The value times 10^scale, rounded half away from zero.
    pub unscaled: i256,
    /// No non-zero digit was rounded away.
    pub exact: bool,
}

/// Parses decimal text (`-12.50`, `1e3`, `.5`, surrounding spaces allowed) at
/// `scale`, rounding half away from zero; errors when the result needs more
/// than `precision` digits or the text is not a number.
pub(crate) fn parse_decimal(
    text: &[u8],
    precision: u8,
    scale: i8,
) -> Result<ParsedDecimal, String> {
    let text = text.trim_ascii();
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match body.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    let not_a_number = || "not a decimal number".to_string();
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(not_a_number());
    }
    if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
        return Err(not_a_number());
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (neg, digits) = match e.first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(not_a_number());
            }
            // Saturate: anything this large overflows (or rounds to zero) anyway.
            let mut v: i64 = 0;
            for d in digits {
                v = (v * 10 + i64::from(d - b'0')).min(1_000_000);
            }
            if neg {
                -v
            } else {
                v
            }
        }
    };
    let digits = int_part.len() + frac_part.len();
    let digit_at = |i: usize| -> u8 {
        if i < int_part.len() {
            int_part[i] - b'0'
        } else if i < digits {
            frac_part[i - int_part.len()] - b'0'
        } else {
            0
        }
    };
    // Digit i has weight 10^(point - 1 - i); it lands in the unscaled value
    // when that weight times 10^scale is at least 1, i.e. i <= last.
    let point = int_part.len() as i64 + exponent;
    let last = point - 1 + i64::from(scale);
    let too_wide =
        || format!("does not fit DECIMAL({precision},{scale}) (more than {precision} digits)");
    let ten = i256::from_i128(10);
    let mut unscaled = i256::ZERO;
    let mut significant: u32 = 0;
    let mut i: i64 = 0;
    while i <= last {
        let idx = i as usize;
        if idx >= digits && unscaled == i256::ZERO {
            break;
        }
        let d = digit_at(idx);
        if !(unscaled == i256::ZERO && d == 0) {
            significant += 1;
            if significant > u32::from(precision) {
                return Err(too_wide());
            }
            unscaled = unscaled
                .wrapping_mul(ten)
                .wrapping_add(i256::from_i128(i128::from(d)));
        }
        i += 1;
    }
    // Rounding: the first dropped digit decides; exact when all dropped are 0.
    let first_dropped = last + 1;
    let mut exact = true;
    if first_dropped < digits as i64 {
        let from = first_dropped.max(0) as usize;
        exact = (from..digits).all(|i| digit_at(i) == 0);
        if first_dropped >= 0 && digit_at(from) >= 5 {
            unscaled = unscaled.wrapping_add(i256::ONE);
        }
    }
    if precision <= 76 {
        let limit = ten.wrapping_pow(u32::from(precision));
        if unscaled >= limit {
            return Err(too_wide());
        }
    }
    if negative {
        unscaled = unscaled.wrapping_neg();
    }
    Ok(ParsedDecimal { unscaled, exact })
}

/// Writes `unscaled / 10^scale` into `out` (cleared first) with exactly
/// `scale` decimals (`-0.05`, `12.50`, `1200` for a negative scale).
pub(crate) fn format_decimal(out: &mut String, unscaled: impl std::fmt::Display, scale: i8) {
    out.clear();
    let _ = write!(out, "{unscaled}");
    let sign = usize::from(out.starts_with('-'));
    if scale <= 0 {
        if out[sign..] != *"0" {
            for _ in 0..scale.unsigned_abs() {
                out.push('0');
            }
        }
        return;
    }
    let scale = usize::from(scale.unsigned_abs());
    let digits = out.len() - sign;
    if digits <= scale {
        let pad = scale + 1 - digits;
        out.insert_str(sign, &"0".repeat(pad));
    }
    let at = out.len() - scale;
    out.insert(at, '.');
}

// ---------------------------------------------------------------------------
// Dates and times
// ---------------------------------------------------------------------------

use crate::dates::{civil_from_days, days_from_civil, days_in_month, NANOS_PER_SEC, SECS_PER_DAY};

/// A date, time or timestamp parsed from ISO-8601-like text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedDateTime {
    /// Days since 1970-01-01, when the text has a date.
    pub days: Option<i64>,
    /// Nanoseconds since midnight, when the text has a time.
    pub nanos_of_day: Option<i64>,
    /// UTC offset in seconds, when the text has one (`Z`, `+02:00`, `-0530`).
    pub offset_secs: Option<i64>,
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD[ T]HH:MM[:SS[.fffffffff]][offset]` or
/// `HH:MM[:SS[.fffffffff]]`, where offset is `Z` or `±HH[:MM]`.
pub(crate) fn parse_datetime(text: &str) -> Result<ParsedDateTime, String> {
    let s = text.trim().as_bytes();
    let bad =
        || "not an ISO date/time (expected YYYY-MM-DD[ HH:MM:SS[.ffffff]][+HH:MM])".to_string();
    let mut pos = 0usize;
    let time_only = s.len() >= 3 && s[2] == b':';
    let mut parsed = ParsedDateTime {
        days: None,
        nanos_of_day: None,
        offset_secs: None,
    };
    if !time_only {
        let negative = match s.first() {
            Some(b'-') => {
                pos += 1;
                true
            }
            Some(b'+') => {
                pos += 1;
                false
            }
            _ => false,
        };
        let year_digits = digits_at(s, pos);
        if !(4..=9).contains(&year_digits) {
            return Err(bad());
        }
        let year = number(&s[pos..pos + year_digits]);
        let year = if negative { -year } else { year };
        pos += year_digits;
        let month = two_digits_after(s, &mut pos, b'-').ok_or_else(bad)?;
        let day = two_digits_after(s, &mut pos, b'-').ok_or_else(bad)?;
        let month = month as u32;
        let day = day as u32;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(format!("{text:?} is not a valid date"));
        }
        parsed.days = Some(days_from_civil(year, month, day));
        match s.get(pos) {
            None => return Ok(parsed),
            Some(b' ' | b'T' | b't') => pos += 1,
            Some(_) => return Err(bad()),
        }
    }
    // Time of day.
    if digits_at(s, pos) != 2 {
        return Err(bad());
    }
    let hour = number(&s[pos..pos + 2]);
    pos += 2;
    let minute = two_digits_after(s, &mut pos, b':').ok_or_else(bad)?;
    let mut second = 0;
    let mut nanos = 0;
    if s.get(pos) == Some(&b':') {
        second = two_digits_after(s, &mut pos, b':').ok_or_else(bad)?;
        if s.get(pos) == Some(&b'.') {
            pos += 1;
            let n = digits_at(s, pos);
            if n == 0 || n > 9 {
                return Err(format!("{text:?}: fractional seconds need 1 to 9 digits"));
            }
            nanos = number(&s[pos..pos + n]) * 10i64.pow(9 - n as u32);
            pos += n;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("{text:?} is not a valid time of day"));
    }
    parsed.nanos_of_day = Some((hour * 3600 + minute * 60 + second) * NANOS_PER_SEC + nanos);
    // Optional offset, possibly after one space.
    if s.get(pos) == Some(&b' ') {
        pos += 1;
    }
    match s.get(pos) {
        None => {}
        Some(b'Z' | b'z') if pos + 1 == s.len() => parsed.offset_secs = Some(0),
        Some(&sign @ (b'+' | b'-')) => {
            pos += 1;
            if digits_at(s, pos) < 2 {
                return Err(bad());
            }
            let hh = number(&s[pos..pos + 2]);
            pos += 2;
            let mm = match s.get(pos) {
                None => 0,
                Some(b':') => two_digits_after(s, &mut pos, b':').ok_or_else(bad)?,
                Some(_) if digits_at(s, pos) == 2 => {
                    pos += 2;
                    number(&s[pos - 2..pos])
                }
                Some(_) => return Err(bad()),
            };
            if pos != s.len() || hh > 23 || mm > 59 {
                return Err(bad());
            }
            let secs = hh * 3600 + mm * 60;
            parsed.offset_secs = Some(if sign == b'-' { -secs } else { secs });
        }
        Some(_) => return Err(bad()),
    }
    Ok(parsed)
}

/// Number of ASCII digits starting at `pos`.
fn digits_at(s: &[u8], pos: usize) -> usize {
    s.get(pos..)
        .map(|rest| rest.iter().take_while(|b| b.is_ascii_digit()).count())
        .unwrap_or(0)
}

/// Value of a run of ASCII digits (at most 18, checked by callers).
fn number(digits: &[u8]) -> i64 {
    digits
        .iter()
        .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'))
}

/// Reads `sep` followed by exactly two digits at `pos`.
fn two_digits_after(s: &[u8], pos: &mut usize, sep: u8) -> Option<i64> {
    if s.get(*pos) != Some(&sep) || digits_at(s, *pos + 1) != 2 {
        return None;
    }
    let v = number(&s[*pos + 1..*pos + 3]);
    *pos += 3;
    Some(v)
}

/// Appends `YYYY-MM-DD` for a day count since 1970-01-01 (years outside
/// 0..=9999 get a sign: `-0044-03-15`, `+10000-01-01`).
pub(crate) fn write_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    let _ = if (0..=9999).contains(&y) {
        write!(out, "{y:04}-{m:02}-{d:02}")
    } else if y < 0 {
        write!(out, "{y:05}-{m:02}-{d:02}")
    } else {
        write!(out, "+{y}-{m:02}-{d:02}")
    };
}

/// Appends `HH:MM:SS`, plus `.ffffff` (or `.fffffffff` when needed) when
/// there is a fraction, for nanoseconds since midnight (0 ≤ n < 1 day).
pub(crate) fn write_time(out: &mut String, nanos_of_day: i64) {
    let secs = nanos_of_day / NANOS_PER_SEC;
    let frac = nanos_of_day % NANOS_PER_SEC;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let _ = if frac % 1000 == 0 {
            write!(out, ".{:06}", frac / 1000)
        } else {
            write!(out, ".{frac:09}")
        };
    }
}

/// Appends `YYYY-MM-DD HH:MM:SS[.ffffff]` for seconds and nanoseconds since the epoch.
pub(crate) fn write_timestamp(out: &mut String, secs: i64, nanos: i64) {
    write_date(out, secs.div_euclid(SECS_PER_DAY));
    out.push(' ');
    write_time(out, secs.rem_euclid(SECS_PER_DAY) * NANOS_PER_SEC + nanos);
}

/// Per-unit factor to nanoseconds.
pub(crate) fn nanos_per_unit(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => NANOS_PER_SEC,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// Splits a value in `unit` since the epoch into (seconds, nanoseconds 0..1e9).
pub(crate) fn split_epoch(value: i64, unit: TimeUnit) -> (i64, i64) {
    let per_sec = NANOS_PER_SEC / nanos_per_unit(unit);
    (
        value.div_euclid(per_sec),
        value.rem_euclid(per_sec) * nanos_per_unit(unit),
    )
}

/// Joins seconds and nanoseconds since the epoch into a value in `unit`;
/// errors when the unit cannot hold the fraction or the value overflows.
pub(crate) fn join_epoch(secs: i64, nanos: i64, unit: TimeUnit) -> Result<i64, String> {
    let per = nanos_per_unit(unit);
    if nanos % per != 0 {
        return Err(format!(
            "has more fractional digits than {} precision holds",
            unit_name(unit)
        ));
    }
    secs.checked_mul(NANOS_PER_SEC / per)
        .and_then(|v| v.checked_add(nanos / per))
        .ok_or_else(|| format!("is out of range for {} precision", unit_name(unit)))
}

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "second",
        TimeUnit::Millisecond => "millisecond",
        TimeUnit::Microsecond => "microsecond",
        TimeUnit::Nanosecond => "nanosecond",
    }
}

/// SQLite's [`Dialect`]: the tables above; foreign keys in `CREATE TABLE`
/// (it cannot add them later); an INTEGER PRIMARY KEY is its own counter.
#[derive(Debug, Clone, Copy)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn kind(&self) -> EngineKind {
        EngineKind::Sqlite
    }

    /// SQLite sets no limit; names follow PostgreSQL's.
    fn max_ident_len(&self) -> usize {
        63
    }

    fn declared_type(&self, data_type: &DataType, _indexed: bool) -> Option<String> {
        declared_type(data_type)
    }

    fn stored_type(&self, _data_type: &DataType, declared: &str) -> DataType {
        arrow_type(declared)
    }

    fn text_type(&self, _indexed: bool) -> &'static str {
        "TEXT"
    }

    /// The length is declared, not enforced.
    fn sized_text(&self, n: u32, _fixed: bool, _indexed: bool) -> (String, Option<u32>) {
        (format!("VARCHAR({n})"), None)
    }

    fn keeps_identity(&self, data_type: &DataType) -> bool {
        data_type.is_integer()
    }

    fn foreign_keys(&self) -> ForeignKeyDdl {
        ForeignKeyDdl::InCreate
    }

    fn boolean_literal(&self, value: bool) -> &'static str {
        if value {
            "1"
        } else {
            "0"
        }
    }

    /// `IS`: what every SQLite version has (and its indexes serve).
    fn null_safe_eq(&self, left: &str, right: &str) -> String {
        format!("{left} IS {right}")
    }
}

#[cfg(test)]
mod tests;
