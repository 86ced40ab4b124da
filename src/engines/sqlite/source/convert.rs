//! Cell conversions: one SQLite value (whatever its storage class) into a
//! value of the column's Arrow type, or why it does not fit.

use datafusion::arrow::datatypes::{i256, TimeUnit};
use rusqlite::types::ValueRef;

use super::super::types::{self, ParsedDateTime};
use crate::dates::{NANOS_PER_SEC, SECS_PER_DAY};

pub(super) fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "the text is not valid UTF-8".to_string())
}

/// An integer of the target type (range-checked).
pub(super) fn to_int<T: TryFrom<i64>>(value: ValueRef<'_>) -> Result<T, String> {
    let v: i64 = match value {
        ValueRef::Integer(i) => i,
        ValueRef::Real(r) => {
            // 2^63 is exactly representable; i64::MAX is not.
            if r.fract() == 0.0
                && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r)
            {
                r as i64
            } else {
                return Err("not an exact integer".to_string());
            }
        }
        ValueRef::Text(t) => {
            let text = utf8(t)?.trim();
            match text.parse::<i64>() {
                Ok(i) => i,
                Err(_) => {
                    let d = types::parse_decimal(text.as_bytes(), 19, 0)
                        .map_err(|_| "not an integer".to_string())?;
                    if !d.exact {
                        return Err("not an exact integer".to_string());
                    }
                    d.unscaled
                        .to_i128()
                        .and_then(|v| i64::try_from(v).ok())
                        .ok_or("out of range")?
                }
            }
        }
        ValueRef::Blob(_) => return Err("a BLOB is not an integer".to_string()),
        ValueRef::Null => return Err("NULL".to_string()),
    };
    T::try_from(v).map_err(|_| "out of range for the column type".to_string())
}

pub(super) fn to_f64(value: ValueRef<'_>) -> Result<f64, String> {
    match value {
        ValueRef::Real(r) => Ok(r),
        ValueRef::Integer(i) => Ok(i as f64),
        ValueRef::Text(t) => utf8(t)?
            .trim()
            .parse::<f64>()
            .map_err(|_| "not a number".to_string()),
        ValueRef::Blob(_) => Err("a BLOB is not a number".to_string()),
        ValueRef::Null => Err("NULL".to_string()),
    }
}

pub(super) fn to_bool(value: ValueRef<'_>) -> Result<bool, String> {
    let not_bool = || "not a boolean (expected 0/1 or true/false)".to_string();
    match value {
        ValueRef::Integer(0) => Ok(false),
        ValueRef::Integer(1) => Ok(true),
        ValueRef::Real(0.0) => Ok(false),
        ValueRef::Real(1.0) => Ok(true),
        ValueRef::Text(t) => {
            let text = utf8(t)?.trim();
            if ["true", "t", "1"]
                .iter()
                .any(|w| text.eq_ignore_ascii_case(w))
            {
                Ok(true)
            } else if ["false", "f", "0"]
                .iter()
                .any(|w| text.eq_ignore_ascii_case(w))
            {
                Ok(false)
            } else {
                Err(not_bool())
            }
        }
        _ => Err(not_bool()),
    }
}

pub(super) fn to_decimal(
    value: ValueRef<'_>,
    precision: u8,
    scale: i8,
    scratch: &mut String,
) -> Result<i256, String> {
    use std::fmt::Write as _;
    let text: &[u8] = match value {
        ValueRef::Integer(i) => {
            scratch.clear();
            let _ = write!(scratch, "{i}");
            scratch.as_bytes()
        }
        ValueRef::Real(r) => {
            if !r.is_finite() {
                return Err("not a finite number".to_string());
            }
            // `Display` is the shortest text that reads back as `r`, never
            // in exponent form: `74.13` stays 74.13.
            scratch.clear();
            let _ = write!(scratch, "{r}");
            scratch.as_bytes()
        }
        ValueRef::Text(t) => t,
        ValueRef::Blob(_) => return Err("a BLOB is not a number".to_string()),
        ValueRef::Null => return Err("NULL".to_string()),
    };
    types::parse_decimal(text, precision, scale).map(|d| d.unscaled)
}

pub(super) fn to_text<'a>(value: ValueRef<'a>, scratch: &'a mut String) -> Result<&'a str, String> {
    use std::fmt::Write as _;
    match value {
        ValueRef::Text(t) => utf8(t),
        ValueRef::Integer(i) => {
            scratch.clear();
            let _ = write!(scratch, "{i}");
            Ok(scratch.as_str())
        }
        ValueRef::Real(r) => {
            scratch.clear();
            let _ = write!(scratch, "{r:?}");
            Ok(scratch.as_str())
        }
        ValueRef::Blob(b) => std::str::from_utf8(b).map_err(|_| {
            "the BLOB is not UTF-8 text (declare the column BLOB, or CAST(hex(col) AS TEXT))"
                .to_string()
        }),
        ValueRef::Null => Err("NULL".to_string()),
    }
}

pub(super) fn to_bytes(value: ValueRef<'_>) -> Result<&[u8], String> {
    match value {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b),
        _ => Err("a number is not binary data".to_string()),
    }
}

pub(super) fn parse_text_datetime(value: ValueRef<'_>) -> Result<Option<ParsedDateTime>, String> {
    match value {
        ValueRef::Text(t) => types::parse_datetime(utf8(t)?).map(Some),
        ValueRef::Integer(_) => Ok(None),
        ValueRef::Real(_) => Err(
            "REAL is ambiguous as a date/time (unix time or julian day): convert it in the step SQL"
                .to_string(),
        ),
        ValueRef::Blob(_) => Err("a BLOB is not a date/time".to_string()),
        ValueRef::Null => Err("NULL".to_string()),
    }
}

/// Days since 1970-01-01: date text (a time part must be midnight) or unix
/// seconds at midnight.
pub(super) fn to_days(value: ValueRef<'_>) -> Result<i64, String> {
    match parse_text_datetime(value)? {
        None => {
            let ValueRef::Integer(secs) = value else {
                return Err("not a date".to_string());
            };
            if secs % SECS_PER_DAY != 0 {
                return Err("unix seconds with a time of day are not a date".to_string());
            }
            Ok(secs / SECS_PER_DAY)
        }
        Some(p) => {
            let days = p.days.ok_or("a time of day is not a date")?;
            if p.nanos_of_day.unwrap_or(0) != 0 || p.offset_secs.unwrap_or(0) != 0 {
                return Err(
                    "has a time of day or offset; a DATE column holds dates only".to_string(),
                );
            }
            Ok(days)
        }
    }
}

/// A timestamp in `unit`: ISO text or unix seconds. With `tz`, offsets are
/// applied (no offset means UTC); without, only a zero offset is accepted.
pub(super) fn to_timestamp(value: ValueRef<'_>, tz: bool, unit: TimeUnit) -> Result<i64, String> {
    let (secs, nanos) = match parse_text_datetime(value)? {
        None => match value {
            ValueRef::Integer(secs) => (secs, 0),
            _ => return Err("not a timestamp".to_string()),
        },
        Some(p) => {
            let days = p
                .days
                .ok_or("a time of day without a date is not a timestamp")?;
            let nanos_of_day = p.nanos_of_day.unwrap_or(0);
            let offset = p.offset_secs.unwrap_or(0);
            if !tz && offset != 0 {
                return Err(
                    "has a UTC offset but the column is a timestamp without time zone (declare it TIMESTAMPTZ)"
                        .to_string(),
                );
            }
            let secs = days * SECS_PER_DAY + nanos_of_day / NANOS_PER_SEC - offset;
            (secs, nanos_of_day % NANOS_PER_SEC)
        }
    };
    types::join_epoch(secs, nanos, unit)
}

/// Time since midnight in `unit`: `HH:MM[:SS[.f]]` text or INTEGER seconds.
pub(super) fn to_time(value: ValueRef<'_>, unit: TimeUnit) -> Result<i64, String> {
    let nanos = match parse_text_datetime(value)? {
        None => match value {
            ValueRef::Integer(secs) if (0..SECS_PER_DAY).contains(&secs) => secs * NANOS_PER_SEC,
            _ => return Err("seconds since midnight must be in 0..86400".to_string()),
        },
        Some(p) => {
            if p.days.is_some() || p.offset_secs.is_some() {
                return Err(
                    "a TIME column holds a time of day only (HH:MM:SS[.ffffff])".to_string()
                );
            }
            p.nanos_of_day.ok_or("not a time of day")?
        }
    };
    let per = types::nanos_per_unit(unit);
    if nanos % per != 0 {
        return Err("has more fractional digits than the column holds".to_string());
    }
    Ok(nanos / per)
}
