//! Order-independent content checksums of tables, computed batch by batch
//! over a canonical encoding of every value, so the same rows give the same
//! checksum whatever engine holds them and whatever Arrow type carries them.
//!
//! Canonical encoding, one tagged value per column:
//! - exact numbers (integers, decimals, booleans as 0/1): the decimal value
//!   with trailing fractional zeros stripped, so NUMERIC 1.50, DECIMAL(9,1)
//!   1.5 agree and INTEGER 2 equals DECIMAL 2.00;
//! - floats: the f64 value (f32 widened), -0 as 0, one NaN;
//! - text of every Arrow string type: its UTF-8 bytes; bytes: the bytes;
//! - dates: days since 1970-01-01; times: nanoseconds since midnight;
//! - timestamps: nanoseconds since the epoch of the stored instant (UTC for
//!   zoned timestamps, whatever zone label they carry), so a time-zone shift
//!   changes the checksum and a relabelled zone does not;
//! - NULL: its own tag, never equal to an empty string or zero;
//! - anything else (lists, structs): its display text.
//!
//! A row's hash is the BLAKE3 hash (first 128 bits) of its encoded values in
//! column order; the table's checksum is the wrapping sum of its rows'
//! hashes, so row order does not matter and a duplicated row still counts.

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

const TAG_NULL: u8 = 0;
const TAG_NUMBER: u8 = 1;
const TAG_BIG_NUMBER: u8 = 2;
const TAG_FLOAT: u8 = 3;
const TAG_TEXT: u8 = 4;
const TAG_BYTES: u8 = 5;
const TAG_DATE: u8 = 6;
const TAG_TIMESTAMP: u8 = 7;
const TAG_TIME: u8 = 8;
const TAG_DURATION: u8 = 9;
const TAG_INTERVAL: u8 = 10;
const TAG_OTHER: u8 = 11;

/// Number of key buckets a [`Checksum`] keeps when asked to (see
/// [`Checksum::with_buckets`]): differing buckets narrow down where rows differ.
pub const BUCKETS: usize = 1024;

/// Count and order-independent checksum of a stream of rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksum {
    pub rows: u64,
    pub sum: u128,
    /// Per bucket (by key hash, or row hash without a key): rows and sum.
    pub buckets: Option<Vec<(u64, u128)>>,
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

    /// The checksum as 32 hex digits.
    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }

    /// Adds rows whose hashes are `rows` and whose bucket hashes are `keys`
    /// (the same as `rows` when there is no key).
    pub fn add(&mut self, rows: &[u128], keys: &[u128]) {
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

    /// Buckets whose rows differ between `self` and `other`.
    pub fn differing_buckets(&self, other: &Checksum) -> Vec<usize> {
        match (&self.buckets, &other.buckets) {
            (Some(a), Some(b)) => (0..BUCKETS).filter(|&i| a[i] != b[i]).collect(),
            _ => Vec::new(),
        }
    }
}

/// The bucket of a key hash.
pub fn bucket_of(key_hash: u128) -> usize {
    (key_hash % BUCKETS as u128) as usize
}

/// Hashes rows of batches: canonical encoding of the chosen columns, reusing
/// its buffers from batch to batch.
#[derive(Debug, Default)]
pub struct RowHasher {
    buffers: Vec<Vec<u8>>,
}

impl RowHasher {
    /// The hash of every row of `columns` (all of one length), in order.
    pub fn hash_rows(&mut self, columns: &[ArrayRef]) -> Result<Vec<u128>, ArrowError> {
        let rows = columns.first().map_or(0, |c| c.len());
        if self.buffers.len() < rows {
            self.buffers.resize_with(rows, Vec::new);
        }
        for buffer in &mut self.buffers[..rows] {
            buffer.clear();
        }
        for column in columns {
            encode_column(column, &mut self.buffers[..rows])?;
        }
        Ok(self.buffers[..rows].iter().map(|b| hash128(b)).collect())
    }

    /// Adds the rows of `batch` (its `columns`, in that order) to `checksum`;
    /// buckets go by the `key` columns (by the whole row when empty).
    pub fn add_batch(
        &mut self,
        checksum: &mut Checksum,
        batch: &RecordBatch,
        columns: &[usize],
        key: &[usize],
    ) -> Result<Vec<u128>, ArrowError> {
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

fn hash128(bytes: &[u8]) -> u128 {
    let hash = blake3::hash(bytes);
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash.as_bytes()[..16]);
    u128::from_le_bytes(first)
}

fn put_null(buffer: &mut Vec<u8>) {
    buffer.push(TAG_NULL);
}

/// Tag, length (LEB128), bytes.
fn put_len_bytes(buffer: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    buffer.push(tag);
    let mut len = bytes.len() as u64;
    while len >= 0x80 {
        buffer.push((len as u8) | 0x80);
        len >>= 7;
    }
    buffer.push(len as u8);
    buffer.extend_from_slice(bytes);
}

/// An integer: the exact number `value` with scale 0.
#[inline]
fn put_int(buffer: &mut Vec<u8>, value: i64) {
    buffer.push(TAG_NUMBER);
    buffer.extend_from_slice(&value.to_le_bytes());
    buffer.push(0);
}

/// An exact number `mantissa * 10^-scale`, normalised (no trailing
/// fractional zeros, zero with scale 0). The mantissa is written in 8 bytes
/// when it fits an i64, else in 16: the form follows from the value, so
/// equal values always encode alike.
fn put_number(buffer: &mut Vec<u8>, mantissa: i128, scale: i32) {
    if scale == 0 {
        if let Ok(small) = i64::try_from(mantissa) {
            return put_int(buffer, small);
        }
    }
    let (mut mantissa, mut scale) = (mantissa, scale);
    if mantissa == 0 {
        scale = 0;
    }
    if let Ok(mut small) = i64::try_from(mantissa) {
        // i64 division by a constant is a multiply; i128 is a library call.
        while scale > 0 && small % 10 == 0 {
            small /= 10;
            scale -= 1;
        }
        mantissa = small as i128;
    } else {
        while scale > 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            scale -= 1;
        }
    }
    while scale < 0 {
        match mantissa.checked_mul(10) {
            Some(m) => {
                mantissa = m;
                scale += 1;
            }
            None => break,
        }
    }
    buffer.push(TAG_NUMBER);
    match i64::try_from(mantissa) {
        Ok(small) => buffer.extend_from_slice(&small.to_le_bytes()),
        Err(_) => buffer.extend_from_slice(&mantissa.to_le_bytes()),
    }
    // Arrow scales are i8; a negative one left over (overflow) stays distinct.
    buffer.push(scale.clamp(i8::MIN as i32, i8::MAX as i32) as i8 as u8);
}

fn put_float(buffer: &mut Vec<u8>, value: f64) {
    let canonical = if value.is_nan() {
        f64::NAN.to_bits()
    } else if value == 0.0 {
        0f64.to_bits()
    } else {
        value.to_bits()
    };
    buffer.push(TAG_FLOAT);
    buffer.extend_from_slice(&canonical.to_le_bytes());
}

fn put_i64(buffer: &mut Vec<u8>, tag: u8, value: i64) {
    buffer.push(tag);
    buffer.extend_from_slice(&value.to_le_bytes());
}

fn put_i128(buffer: &mut Vec<u8>, tag: u8, value: i128) {
    buffer.push(tag);
    buffer.extend_from_slice(&value.to_le_bytes());
}

fn each<T: ArrowPrimitiveType>(
    array: &ArrayRef,
    buffers: &mut [Vec<u8>],
    mut put: impl FnMut(&mut Vec<u8>, T::Native),
) {
    let array: &PrimitiveArray<T> = array.as_primitive();
    for (i, buffer) in buffers.iter_mut().enumerate() {
        if array.is_null(i) {
            put_null(buffer);
        } else {
            put(buffer, array.value(i));
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

/// Appends the canonical encoding of every value of `array` to the row buffers.
fn encode_column(array: &ArrayRef, buffers: &mut [Vec<u8>]) -> Result<(), ArrowError> {
    match array.data_type() {
        DataType::Null => buffers.iter_mut().for_each(put_null),
        DataType::Boolean => {
            let a: &BooleanArray = array.as_boolean();
            for (i, buffer) in buffers.iter_mut().enumerate() {
                if a.is_null(i) {
                    put_null(buffer);
                } else {
                    put_number(buffer, a.value(i) as i128, 0);
                }
            }
        }
        DataType::Int8 => each::<Int8Type>(array, buffers, |b, v| put_int(b, v as i64)),
        DataType::Int16 => each::<Int16Type>(array, buffers, |b, v| put_int(b, v as i64)),
        DataType::Int32 => each::<Int32Type>(array, buffers, |b, v| put_int(b, v as i64)),
        DataType::Int64 => each::<Int64Type>(array, buffers, put_int),
        DataType::UInt8 => each::<UInt8Type>(array, buffers, |b, v| put_int(b, v as i64)),
        DataType::UInt16 => each::<UInt16Type>(array, buffers, |b, v| put_int(b, v as i64)),
        DataType::UInt32 => each::<UInt32Type>(array, buffers, |b, v| put_int(b, v as i64)),
        DataType::UInt64 => each::<UInt64Type>(array, buffers, |b, v| put_number(b, v as i128, 0)),
        DataType::Decimal32(_, s) => {
            let s = *s as i32;
            each::<Decimal32Type>(array, buffers, |b, v| put_number(b, v as i128, s))
        }
        DataType::Decimal64(_, s) => {
            let s = *s as i32;
            each::<Decimal64Type>(array, buffers, |b, v| put_number(b, v as i128, s))
        }
        DataType::Decimal128(_, s) => {
            let s = *s as i32;
            each::<Decimal128Type>(array, buffers, |b, v| put_number(b, v, s))
        }
        DataType::Decimal256(_, s) => {
            let s = *s as i32;
            each::<Decimal256Type>(array, buffers, |b, v| match v.to_i128() {
                Some(v) => put_number(b, v, s),
                None => {
                    // Beyond 128 bits: the exact text, which only another
                    // value beyond 128 bits can equal.
                    let text = format!("{v}e-{s}");
                    put_len_bytes(b, TAG_BIG_NUMBER, text.as_bytes());
                }
            })
        }
        DataType::Float16 => {
            each::<Float16Type>(array, buffers, |b, v| put_float(b, f64::from(v.to_f32())))
        }
        DataType::Float32 => each::<Float32Type>(array, buffers, |b, v| put_float(b, v as f64)),
        DataType::Float64 => each::<Float64Type>(array, buffers, put_float),
        DataType::Utf8 => text(array.as_string::<i32>().iter(), buffers),
        DataType::LargeUtf8 => text(array.as_string::<i64>().iter(), buffers),
        DataType::Utf8View => text(array.as_string_view().iter(), buffers),
        DataType::Binary => bytes(array.as_binary::<i32>().iter(), buffers),
        DataType::LargeBinary => bytes(array.as_binary::<i64>().iter(), buffers),
        DataType::BinaryView => bytes(array.as_binary_view().iter(), buffers),
        DataType::FixedSizeBinary(_) => bytes(array.as_fixed_size_binary().iter(), buffers),
        DataType::Date32 => {
            each::<Date32Type>(array, buffers, |b, v| put_i64(b, TAG_DATE, v as i64))
        }
        DataType::Date64 => each::<Date64Type>(array, buffers, |b, v| {
            put_i64(b, TAG_DATE, v.div_euclid(86_400_000))
        }),
        DataType::Timestamp(unit, _) => {
            let n = nanos_per(*unit);
            let put = move |b: &mut Vec<u8>, v: i64| put_i128(b, TAG_TIMESTAMP, v as i128 * n);
            match unit {
                TimeUnit::Second => each::<TimestampSecondType>(array, buffers, put),
                TimeUnit::Millisecond => each::<TimestampMillisecondType>(array, buffers, put),
                TimeUnit::Microsecond => each::<TimestampMicrosecondType>(array, buffers, put),
                TimeUnit::Nanosecond => each::<TimestampNanosecondType>(array, buffers, put),
            }
        }
        DataType::Time32(unit) => {
            let n = nanos_per(*unit);
            let put = move |b: &mut Vec<u8>, v: i32| put_i64(b, TAG_TIME, v as i64 * n as i64);
            match unit {
                TimeUnit::Second => each::<Time32SecondType>(array, buffers, put),
                _ => each::<Time32MillisecondType>(array, buffers, put),
            }
        }
        DataType::Time64(unit) => {
            let n = nanos_per(*unit);
            let put =
                move |b: &mut Vec<u8>, v: i64| put_i64(b, TAG_TIME, v.saturating_mul(n as i64));
            match unit {
                TimeUnit::Nanosecond => each::<Time64NanosecondType>(array, buffers, put),
                _ => each::<Time64MicrosecondType>(array, buffers, put),
            }
        }
        DataType::Duration(unit) => {
            let n = nanos_per(*unit);
            let put = move |b: &mut Vec<u8>, v: i64| put_i128(b, TAG_DURATION, v as i128 * n);
            match unit {
                TimeUnit::Second => each::<DurationSecondType>(array, buffers, put),
                TimeUnit::Millisecond => each::<DurationMillisecondType>(array, buffers, put),
                TimeUnit::Microsecond => each::<DurationMicrosecondType>(array, buffers, put),
                TimeUnit::Nanosecond => each::<DurationNanosecondType>(array, buffers, put),
            }
        }
        DataType::Interval(unit) => {
            // (months, days, nanoseconds), as PostgreSQL keeps an interval.
            let put = |b: &mut Vec<u8>, months: i32, days: i32, nanos: i64| {
                b.push(TAG_INTERVAL);
                b.extend_from_slice(&months.to_le_bytes());
                b.extend_from_slice(&days.to_le_bytes());
                b.extend_from_slice(&nanos.to_le_bytes());
            };
            match unit {
                IntervalUnit::YearMonth => {
                    each::<IntervalYearMonthType>(array, buffers, |b, v| put(b, v, 0, 0))
                }
                IntervalUnit::DayTime => each::<IntervalDayTimeType>(array, buffers, |b, v| {
                    put(b, 0, v.days, v.milliseconds as i64 * 1_000_000)
                }),
                IntervalUnit::MonthDayNano => {
                    each::<IntervalMonthDayNanoType>(array, buffers, |b, v| {
                        put(b, v.months, v.days, v.nanoseconds)
                    })
                }
            }
        }
        DataType::Dictionary(_, value_type) => {
            let values = cast(array.as_ref(), value_type)?;
            encode_column(&values, buffers)?;
        }
        DataType::RunEndEncoded(_, values) => {
            let values = cast(array.as_ref(), values.data_type())?;
            encode_column(&values, buffers)?;
        }
        _ => {
            let options = FormatOptions::default().with_null("");
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            for (i, buffer) in buffers.iter_mut().enumerate() {
                if array.is_null(i) {
                    put_null(buffer);
                } else {
                    put_len_bytes(buffer, TAG_OTHER, formatter.value(i).to_string().as_bytes());
                }
            }
        }
    }
    Ok(())
}

fn text<'a>(values: impl Iterator<Item = Option<&'a str>>, buffers: &mut [Vec<u8>]) {
    for (value, buffer) in values.zip(buffers.iter_mut()) {
        match value {
            Some(s) => put_len_bytes(buffer, TAG_TEXT, s.as_bytes()),
            None => put_null(buffer),
        }
    }
}

fn bytes<'a>(values: impl Iterator<Item = Option<&'a [u8]>>, buffers: &mut [Vec<u8>]) {
    for (value, buffer) in values.zip(buffers.iter_mut()) {
        match value {
            Some(b) => put_len_bytes(buffer, TAG_BYTES, b),
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
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A column as one array.
    fn one(array: impl Array + 'static) -> Vec<ArrayRef> {
        vec![Arc::new(array) as ArrayRef]
    }
    use datafusion::arrow::array::{
        Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray, StringViewArray,
        TimestampMicrosecondArray, TimestampNanosecondArray,
    };

    fn hashes(columns: Vec<ArrayRef>) -> Vec<u128> {
        RowHasher::default().hash_rows(&columns).unwrap()
    }

    #[test]
    fn equal_values_across_types_hash_alike() {
        let numeric = Decimal128Array::from(vec![150, 200, -10])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let decimal = Decimal128Array::from(vec![15, 20, -1])
            .with_precision_and_scale(5, 1)
            .unwrap();
        assert_eq!(hashes(one(numeric)), hashes(one(decimal)));
        let ints = Int32Array::from(vec![2, 0]);
        let decimals = Decimal128Array::from(vec![200, 0])
            .with_precision_and_scale(12, 2)
            .unwrap();
        assert_eq!(hashes(one(ints)), hashes(one(decimals)));
        assert_eq!(
            hashes(one(StringArray::from(vec!["a", "é"]))),
            hashes(one(StringViewArray::from(vec!["a", "é"])))
        );
        let micros =
            TimestampMicrosecondArray::from(vec![1_700_000_000_000_000]).with_timezone("UTC");
        let nanos =
            TimestampNanosecondArray::from(vec![1_700_000_000_000_000_000]).with_timezone("+02:00");
        assert_eq!(hashes(one(micros)), hashes(one(nanos)));
    }

    #[test]
    fn differences_change_the_hash() {
        let a = hashes(one(StringArray::from(vec![Some(""), None, Some("abc")])));
        let b = hashes(one(StringArray::from(vec![None, Some(""), Some("ab")])));
        assert_ne!(a[0], b[0], "empty string and NULL differ");
        assert_ne!(a[1], b[1]);
        assert_ne!(a[2], b[2], "a truncated string differs");
        let t = hashes(one(TimestampMicrosecondArray::from(vec![0])));
        let shifted = hashes(one(TimestampMicrosecondArray::from(vec![3_600_000_000])));
        assert_ne!(t, shifted);
        assert_ne!(
            hashes(one(Int64Array::from(vec![0]))),
            hashes(one(StringArray::from(vec!["0"])))
        );
        assert_eq!(
            hashes(one(Float64Array::from(vec![-0.0, f64::NAN]))),
            hashes(one(Float64Array::from(vec![0.0, -f64::NAN])))
        );
    }

    #[test]
    fn column_boundaries_matter() {
        let ab = hashes(vec![
            Arc::new(StringArray::from(vec!["ab"])) as ArrayRef,
            Arc::new(StringArray::from(vec!["c"])),
        ]);
        let a_bc = hashes(vec![
            Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            Arc::new(StringArray::from(vec!["bc"])),
        ]);
        assert_ne!(ab, a_bc);
    }

    #[test]
    fn checksum_ignores_order_but_counts_duplicates() {
        let batch = |v: Vec<i64>| {
            RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(v)) as ArrayRef)]).unwrap()
        };
        let a = checksum_batches(&[batch(vec![1, 2, 3])]).unwrap();
        let b = checksum_batches(&[batch(vec![3]), batch(vec![2, 1])]).unwrap();
        assert_eq!(a, b);
        let c = checksum_batches(&[batch(vec![1, 1, 2, 3])]).unwrap();
        assert_ne!(a.sum, c.sum);
        let d = checksum_batches(&[batch(vec![1, 2, 2, 3, 3])]).unwrap();
        assert_ne!(c.sum, d.sum);
    }
}
