//! Order-independent content checksums of tables, computed batch by batch
//! over a canonical text of every value, so the same rows give the same
//! checksum whatever engine holds them and whatever Arrow type carries them
//! — and so PostgreSQL, MySQL/MariaDB and DuckDB can compute it themselves
//! (see each engine's `checksum.rs`): validation then reads one row per
//! table instead of every row.
//!
//! Canonical text of a value:
//! - integers and booleans (`1`/`0`): decimal digits;
//! - decimals: the exact value with trailing fractional zeros and a bare
//!   point stripped (`1.50` → `1.5`, `2.00` → `2`, `0.000` → `0`), so
//!   NUMERIC 1.50, DECIMAL(9,1) 1.5 agree and INTEGER 2 equals DECIMAL 2.00;
//! - text: itself; bytes: lowercase hex;
//! - dates: `YYYY-MM-DD`; times: `HH:MM:SS.ffffff`; timestamps:
//!   `YYYY-MM-DD HH:MM:SS.ffffff` of the stored instant (UTC for zoned
//!   timestamps, whatever zone label they carry), so a time-zone shift
//!   changes the checksum and a relabelled zone does not (nine fractional
//!   digits when a value has nanoseconds);
//! - floats: the shortest text that reads back as the same f64 (f32
//!   widened), `0` for -0, `NaN`, `inf`, `-inf`;
//! - durations: nanoseconds then `ns`; intervals: `<months>m<days>d<ns>ns`;
//!   anything else (lists, structs): its display text.
//!
//! A row's text is, column by column, `N` for NULL and `<bytes>:<text>`
//! otherwise (so NULL never equals an empty string, and column boundaries
//! are unambiguous). Its hash is the first 8 bytes of the row text's MD5,
//! big-endian; the table's checksum is the sum of its rows' hashes modulo
//! 2^64, so row order does not matter and a duplicated row still counts.

pub mod aggregate;

use std::fmt::Write as _;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, RecordBatch,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type,
    Decimal32Type, Decimal64Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float16Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit,
    IntervalYearMonthType, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use md5::{Digest, Md5};

use crate::dates::civil_from_days;

/// Number of key buckets a [`Checksum`] keeps when asked to (see
/// [`Checksum::with_buckets`]): differing buckets narrow down where rows differ.
pub const BUCKETS: usize = 1024;

/// Count and order-independent checksum of a stream of rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksum {
    pub rows: u64,
    pub sum: u64,
    /// Per bucket (by key hash, or row hash without a key): rows and sum.
    pub buckets: Option<Vec<(u64, u64)>>,
}

impl Checksum {
    /// An empty checksum that also sums rows per key bucket.
    pub fn with_buckets() -> Self {
        Self {
            rows: 0,
            sum: 0,
            buckets: Some(vec![(0, 0); BUCKETS]),
        }
    }

    /// The checksum as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }

    /// The sum a [`Checksum::hex`] spells (0 when it spells none).
    pub fn sum_of_hex(hex: &str) -> u64 {
        u64::from_str_radix(hex, 16).unwrap_or(0)
    }

    /// Adds rows whose hashes are `rows` and whose bucket hashes are `keys`
    /// (the same as `rows` when there is no key).
    pub fn add(&mut self, rows: &[u64], keys: &[u64]) {
        self.rows += rows.len() as u64;
        for &h in rows {
            self.sum = self.sum.wrapping_add(h);
        }
        if let Some(buckets) = &mut self.buckets {
            for (&h, &k) in rows.iter().zip(keys) {
                let b = &mut buckets[bucket_of(k)];
                b.0 += 1;
                b.1 = b.1.wrapping_add(h);
            }
        }
    }

    /// Adds another checksum's rows (buckets are not merged).
    pub fn merge(&mut self, rows: u64, sum: u64) {
        self.rows += rows;
        self.sum = self.sum.wrapping_add(sum);
    }

    /// Buckets whose rows differ between `self` and `other`.
    pub fn differing_buckets(&self, other: &Checksum) -> Vec<usize> {
        match (&self.buckets, &other.buckets) {
            (Some(a), Some(b)) => (0..BUCKETS).filter(|&i| a[i] != b[i]).collect(),
            _ => Vec::new(),
        }
    }

    /// Parses `<rows>:<sum>` as an engine computes it (the sum of the row
    /// hashes as signed or unsigned 64-bit integers, in any exact numeric
    /// type: it is taken modulo 2^64).
    pub fn parse_engine_result(text: &str) -> Option<Checksum> {
        let (rows, sum) = text.trim().split_once(':')?;
        let rows = rows.trim().parse::<u64>().ok()?;
        let sum = sum.trim().parse::<i128>().ok()?;
        Some(Checksum {
            rows,
            sum: sum.rem_euclid(1i128 << 64) as u64,
            buckets: None,
        })
    }
}

/// The bucket of a key hash.
pub fn bucket_of(key_hash: u64) -> usize {
    (key_hash % BUCKETS as u64) as usize
}

/// The hash of a row's canonical text.
pub fn row_hash(text: &[u8]) -> u64 {
    let digest = Md5::digest(text);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Hashes rows of batches: canonical text of the chosen columns, reusing
/// its buffers from batch to batch.
#[derive(Debug, Default)]
pub struct RowHasher {
    buffers: Vec<Vec<u8>>,
    scratch: String,
}

impl RowHasher {
    /// The hash of every row of `columns` (all of one length), in order.
    pub fn hash_rows(&mut self, columns: &[ArrayRef]) -> Result<Vec<u64>, ArrowError> {
        Ok(self
            .row_texts(columns)?
            .iter()
            .map(|b| row_hash(b))
            .collect())
    }

    /// The canonical text of every row of `columns`.
    fn row_texts(&mut self, columns: &[ArrayRef]) -> Result<&[Vec<u8>], ArrowError> {
        let rows = columns.first().map_or(0, |c| c.len());
        if self.buffers.len() < rows {
            self.buffers.resize_with(rows, Vec::new);
        }
        for buffer in &mut self.buffers[..rows] {
            buffer.clear();
        }
        for column in columns {
            encode_column(column, &mut self.buffers[..rows], &mut self.scratch)?;
        }
        Ok(&self.buffers[..rows])
    }

    /// Adds the rows of `batch` (its `columns`, in that order) to `checksum`;
    /// buckets go by the `key` columns (by the whole row when empty).
    pub fn add_batch(
        &mut self,
        checksum: &mut Checksum,
        batch: &RecordBatch,
        columns: &[usize],
        key: &[usize],
    ) -> Result<Vec<u64>, ArrowError> {
        let selected: Vec<ArrayRef> = columns.iter().map(|&i| batch.column(i).clone()).collect();
        let rows = self.hash_rows(&selected)?;
        if checksum.buckets.is_some() && !key.is_empty() {
            let keys: Vec<ArrayRef> = key.iter().map(|&i| batch.column(i).clone()).collect();
            let keys = self.hash_rows(&keys)?;
            checksum.add(&rows, &keys);
        } else {
            checksum.add(&rows, &rows);
        }
        Ok(rows)
    }
}

fn put_null(buffer: &mut Vec<u8>) {
    buffer.push(b'N');
}

/// `<bytes>:<text>`.
fn put_text(buffer: &mut Vec<u8>, text: &[u8]) {
    let mut len = itoa::Buffer::new();
    let len = len.format(text.len()).as_bytes();
    buffer.reserve(len.len() + 1 + text.len());
    buffer.extend_from_slice(len);
    buffer.push(b':');
    buffer.extend_from_slice(text);
}

/// Puts what `write` writes to the scratch string.
fn put_with(buffer: &mut Vec<u8>, scratch: &mut String, write: impl FnOnce(&mut String)) {
    scratch.clear();
    write(scratch);
    put_text(buffer, scratch.as_bytes());
}

fn put_int(buffer: &mut Vec<u8>, value: impl itoa::Integer) {
    put_text(buffer, itoa::Buffer::new().format(value).as_bytes());
}

/// The exact number `mantissa * 10^-scale`, with trailing fractional zeros
/// and a bare point stripped.
fn put_decimal(buffer: &mut Vec<u8>, scratch: &mut String, mantissa: i128, scale: i32) {
    if let (Ok(small), 0..=18) = (i64::try_from(mantissa), scale) {
        return put_small_decimal(buffer, small, scale as usize);
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(mantissa.unsigned_abs());
    put_with(buffer, scratch, |s| {
        decimal_text(s, mantissa < 0, digits, scale)
    })
}

/// [`put_decimal`] of a 64-bit mantissa and a scale up to 18, the common
/// case, written on the stack (it runs for every decimal checksummed).
fn put_small_decimal(buffer: &mut Vec<u8>, mantissa: i64, scale: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(mantissa.unsigned_abs()).as_bytes();
    // Sign, up to 19 integer digits or "0", point, up to 18 fraction digits.
    let mut text = [0u8; 40];
    let mut n = 0;
    let mut push = |bytes: &[u8]| {
        text[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    if mantissa == 0 {
        return put_text(buffer, b"0");
    }
    if mantissa < 0 {
        push(b"-");
    }
    let (int, frac) = digits.split_at(digits.len().saturating_sub(scale));
    push(if int.is_empty() { b"0" } else { int });
    let leading = scale - frac.len();
    let frac = &frac[..frac.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1)];
    if !frac.is_empty() {
        push(b".");
        for _ in 0..leading {
            push(b"0");
        }
        push(frac);
    }
    put_text(buffer, &text[..n]);
}

/// Writes `-`? `digits * 10^-scale` normalised.
fn decimal_text(out: &mut String, negative: bool, digits: &str, scale: i32) {
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        out.push('0');
        return;
    }
    if negative {
        out.push('-');
    }
    if scale <= 0 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        return;
    }
    let scale = scale as usize;
    let (int, frac) = if digits.len() > scale {
        digits.split_at(digits.len() - scale)
    } else {
        ("", digits)
    };
    let leading = scale - frac.len();
    let frac = frac.trim_end_matches('0');
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.extend(std::iter::repeat_n('0', leading));
        out.push_str(frac);
    }
}

fn put_float(buffer: &mut Vec<u8>, scratch: &mut String, value: f64) {
    if value == 0.0 {
        return put_text(buffer, b"0");
    }
    put_with(buffer, scratch, |s| {
        let _ = write!(s, "{value}");
    })
}

/// `value` in decimal, zero-padded to `width` digits (without `write!`:
/// this runs for every date and timestamp checksummed).
fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
    out.push_str(digits);
}

fn write_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if y < 0 {
        out.push('-');
    }
    push_padded(out, y.unsigned_abs(), 4);
    out.push('-');
    push_padded(out, u64::from(m), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
}

/// `HH:MM:SS.ffffff`, or nine fractional digits when there are nanoseconds.
fn write_time(out: &mut String, nanos_of_day: i64) {
    let secs = nanos_of_day.div_euclid(1_000_000_000) as u64;
    let nanos = nanos_of_day.rem_euclid(1_000_000_000) as u64;
    push_padded(out, secs / 3600, 2);
    out.push(':');
    push_padded(out, secs / 60 % 60, 2);
    out.push(':');
    push_padded(out, secs % 60, 2);
    out.push('.');
    if nanos.is_multiple_of(1000) {
        push_padded(out, nanos / 1000, 6);
    } else {
        push_padded(out, nanos, 9);
    }
}

fn put_timestamp(buffer: &mut Vec<u8>, scratch: &mut String, nanos: i128) {
    let day_nanos = 86_400_000_000_000i128;
    let days = nanos.div_euclid(day_nanos) as i64;
    let of_day = nanos.rem_euclid(day_nanos) as i64;
    put_with(buffer, scratch, |s| {
        write_date(s, days);
        s.push(' ');
        write_time(s, of_day);
    })
}

fn each<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    buffers: &mut [Vec<u8>],
    scratch: &mut String,
    mut put: impl FnMut(&mut Vec<u8>, &mut String, T::Native),
) {
    let array: &PrimitiveArray<T> = array.as_primitive();
    for (i, buffer) in buffers.iter_mut().enumerate() {
        if array.is_null(i) {
            put_null(buffer);
        } else {
            put(buffer, scratch, array.value(i));
        }
    }
}

fn nanos_per(unit: TimeUnit) -> i128 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// Appends the canonical text of every value of `array` to the row buffers.
fn encode_column(
    array: &ArrayRef,
    buffers: &mut [Vec<u8>],
    scratch: &mut String,
) -> Result<(), ArrowError> {
    let s = scratch;
    match array.data_type() {
        DataType::Null => buffers.iter_mut().for_each(put_null),
        DataType::Boolean => {
            let a: &BooleanArray = array.as_boolean();
            for (i, buffer) in buffers.iter_mut().enumerate() {
                if a.is_null(i) {
                    put_null(buffer);
                } else {
                    put_text(buffer, if a.value(i) { b"1" } else { b"0" });
                }
            }
        }
        DataType::Int8 => each::<Int8Type>(array, buffers, s, |b, _, v| put_int(b, v)),
        DataType::Int16 => each::<Int16Type>(array, buffers, s, |b, _, v| put_int(b, v)),
        DataType::Int32 => each::<Int32Type>(array, buffers, s, |b, _, v| put_int(b, v)),
        DataType::Int64 => each::<Int64Type>(array, buffers, s, |b, _, v| put_int(b, v)),
        DataType::UInt8 => each::<UInt8Type>(array, buffers, s, |b, _, v| put_int(b, v)),
        DataType::UInt16 => each::<UInt16Type>(array, buffers, s, |b, _, v| put_int(b, v)),
        DataType::UInt32 => each::<UInt32Type>(array, buffers, s, |b, _, v| put_int(b, v)),
        DataType::UInt64 => each::<UInt64Type>(array, buffers, s, |b, _, v| put_int(b, v)),
        DataType::Decimal32(_, scale) => {
            let scale = *scale as i32;
            each::<Decimal32Type>(array, buffers, s, |b, s, v| {
                put_decimal(b, s, v as i128, scale)
            })
        }
        DataType::Decimal64(_, scale) => {
            let scale = *scale as i32;
            each::<Decimal64Type>(array, buffers, s, |b, s, v| {
                put_decimal(b, s, v as i128, scale)
            })
        }
        DataType::Decimal128(_, scale) => {
            let scale = *scale as i32;
            each::<Decimal128Type>(array, buffers, s, |b, s, v| put_decimal(b, s, v, scale))
        }
        DataType::Decimal256(_, scale) => {
            let scale = *scale as i32;
            each::<Decimal256Type>(array, buffers, s, |b, s, v| match v.to_i128() {
                Some(v) => put_decimal(b, s, v, scale),
                None => {
                    let text = v.wrapping_abs().to_string();
                    let negative = v.is_negative();
                    put_with(b, s, |out| decimal_text(out, negative, &text, scale))
                }
            })
        }
        DataType::Float16 => each::<Float16Type>(array, buffers, s, |b, s, v| {
            put_float(b, s, f64::from(v.to_f32()))
        }),
        DataType::Float32 => {
            each::<Float32Type>(array, buffers, s, |b, s, v| put_float(b, s, v as f64))
        }
        DataType::Float64 => each::<Float64Type>(array, buffers, s, put_float),
        DataType::Utf8 => text(array.as_string::<i32>().iter(), buffers),
        DataType::LargeUtf8 => text(array.as_string::<i64>().iter(), buffers),
        DataType::Utf8View => text(array.as_string_view().iter(), buffers),
        DataType::Binary => bytes(array.as_binary::<i32>().iter(), buffers, s),
        DataType::LargeBinary => bytes(array.as_binary::<i64>().iter(), buffers, s),
        DataType::BinaryView => bytes(array.as_binary_view().iter(), buffers, s),
        DataType::FixedSizeBinary(_) => bytes(array.as_fixed_size_binary().iter(), buffers, s),
        DataType::Date32 => each::<Date32Type>(array, buffers, s, |b, s, v| {
            put_with(b, s, |out| write_date(out, v as i64))
        }),
        DataType::Date64 => each::<Date64Type>(array, buffers, s, |b, s, v| {
            put_with(b, s, |out| write_date(out, v.div_euclid(86_400_000)))
        }),
        DataType::Timestamp(unit, _) => {
            let n = nanos_per(*unit);
            let put =
                move |b: &mut Vec<u8>, s: &mut String, v: i64| put_timestamp(b, s, v as i128 * n);
            match unit {
                TimeUnit::Second => each::<TimestampSecondType>(array, buffers, s, put),
                TimeUnit::Millisecond => each::<TimestampMillisecondType>(array, buffers, s, put),
                TimeUnit::Microsecond => each::<TimestampMicrosecondType>(array, buffers, s, put),
                TimeUnit::Nanosecond => each::<TimestampNanosecondType>(array, buffers, s, put),
            }
        }
        DataType::Time32(unit) => {
            let n = nanos_per(*unit) as i64;
            let put = move |b: &mut Vec<u8>, s: &mut String, v: i32| {
                put_with(b, s, |out| write_time(out, v as i64 * n))
            };
            match unit {
                TimeUnit::Second => each::<Time32SecondType>(array, buffers, s, put),
                _ => each::<Time32MillisecondType>(array, buffers, s, put),
            }
        }
        DataType::Time64(unit) => {
            let n = nanos_per(*unit) as i64;
            let put = move |b: &mut Vec<u8>, s: &mut String, v: i64| {
                put_with(b, s, |out| write_time(out, v.saturating_mul(n)))
            };
            match unit {
                TimeUnit::Nanosecond => each::<Time64NanosecondType>(array, buffers, s, put),
                _ => each::<Time64MicrosecondType>(array, buffers, s, put),
            }
        }
        DataType::Duration(unit) => {
            let n = nanos_per(*unit);
            let put = move |b: &mut Vec<u8>, s: &mut String, v: i64| {
                put_with(b, s, |out| {
                    let _ = write!(out, "{}ns", v as i128 * n);
                })
            };
            match unit {
                TimeUnit::Second => each::<DurationSecondType>(array, buffers, s, put),
                TimeUnit::Millisecond => each::<DurationMillisecondType>(array, buffers, s, put),
                TimeUnit::Microsecond => each::<DurationMicrosecondType>(array, buffers, s, put),
                TimeUnit::Nanosecond => each::<DurationNanosecondType>(array, buffers, s, put),
            }
        }
        DataType::Interval(unit) => {
            // (months, days, nanoseconds), as PostgreSQL keeps an interval.
            let put = |b: &mut Vec<u8>, s: &mut String, months: i32, days: i32, nanos: i64| {
                put_with(b, s, |out| {
                    let _ = write!(out, "{months}m{days}d{nanos}ns");
                })
            };
            match unit {
                IntervalUnit::YearMonth => {
                    each::<IntervalYearMonthType>(array, buffers, s, |b, s, v| put(b, s, v, 0, 0))
                }
                IntervalUnit::DayTime => {
                    each::<IntervalDayTimeType>(array, buffers, s, |b, s, v| {
                        put(b, s, 0, v.days, v.milliseconds as i64 * 1_000_000)
                    })
                }
                IntervalUnit::MonthDayNano => {
                    each::<IntervalMonthDayNanoType>(array, buffers, s, |b, s, v| {
                        put(b, s, v.months, v.days, v.nanoseconds)
                    })
                }
            }
        }
        DataType::Dictionary(_, value_type) => {
            let values = cast(array.as_ref(), value_type)?;
            encode_column(&values, buffers, s)?;
        }
        DataType::RunEndEncoded(_, values) => {
            let values = cast(array.as_ref(), values.data_type())?;
            encode_column(&values, buffers, s)?;
        }
        _ => {
            let options = FormatOptions::default().with_null("");
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            for (i, buffer) in buffers.iter_mut().enumerate() {
                if array.is_null(i) {
                    put_null(buffer);
                } else {
                    put_with(buffer, s, |out| {
                        let _ = write!(out, "{}", formatter.value(i));
                    });
                }
            }
        }
    }
    Ok(())
}

fn text<'a>(values: impl Iterator<Item = Option<&'a str>>, buffers: &mut [Vec<u8>]) {
    for (value, buffer) in values.zip(buffers.iter_mut()) {
        match value {
            Some(s) => put_text(buffer, s.as_bytes()),
            None => put_null(buffer),
        }
    }
}

fn bytes<'a>(
    values: impl Iterator<Item = Option<&'a [u8]>>,
    buffers: &mut [Vec<u8>],
    scratch: &mut String,
) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (value, buffer) in values.zip(buffers.iter_mut()) {
        match value {
            Some(b) => put_with(buffer, scratch, |out| {
                for byte in b {
                    out.push(HEX[(byte >> 4) as usize] as char);
                    out.push(HEX[(byte & 15) as usize] as char);
                }
            }),
            None => put_null(buffer),
        }
    }
}

/// Checksum of whole batches (every column, in order), for tests and tools.
pub fn checksum_batches(batches: &[RecordBatch]) -> Result<Checksum, ArrowError> {
    let mut checksum = Checksum::default();
    let mut hasher = RowHasher::default();
    for batch in batches {
        let columns: Vec<usize> = (0..batch.num_columns()).collect();
        hasher.add_batch(&mut checksum, batch, &columns, &[])?;
    }
    Ok(checksum)
}

#[cfg(test)]
mod tests;
