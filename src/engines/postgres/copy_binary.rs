//! PostgreSQL binary `COPY ... FROM STDIN (FORMAT binary)` encoder.
//!
//! Batches are encoded column by column: every row's byte size is computed
//! first, the per-row field counts are written, then each column runs one
//! monomorphic loop writing its fields at each row's running write position.

use datafusion::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    i256, DataType, Date32Type, Decimal128Type, Decimal256Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Float32Type, Float64Type,
    Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{EngineError, EngineResult};

/// Signature, flags field and header extension length of a binary COPY stream.
pub(crate) const HEADER: [u8; 19] = *b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Days from 1970-01-01 to 2000-01-01 (the PostgreSQL epoch).
pub(crate) const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 00:00:00 UTC to 2000-01-01 00:00:00 UTC.
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Field length that marks a NULL.
const NULL_LEN: [u8; 4] = (-1i32).to_be_bytes();
/// Sign word of a negative numeric.
const NUMERIC_NEG: u16 = 0x4000;

/// How one column is encoded.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Utf8,
    LargeUtf8,
    Utf8View,
    Binary,
    LargeBinary,
    BinaryView,
    Date32,
    Timestamp(TimeUnit),
    Time32(TimeUnit),
    Time64(TimeUnit),
    /// An `interval` of microseconds (no days or months).
    Duration(TimeUnit),
    Decimal128(i8),
    Decimal256(i8),
}

impl Kind {
    fn of(data_type: &DataType) -> Option<Kind> {
        Some(match data_type {
            DataType::Boolean => Kind::Bool,
            DataType::Int8 => Kind::Int8,
            DataType::Int16 => Kind::Int16,
            DataType::Int32 => Kind::Int32,
            DataType::Int64 => Kind::Int64,
            DataType::UInt8 => Kind::UInt8,
            DataType::UInt16 => Kind::UInt16,
            DataType::UInt32 => Kind::UInt32,
            DataType::UInt64 => Kind::UInt64,
            DataType::Float32 => Kind::Float32,
            DataType::Float64 => Kind::Float64,
            DataType::Utf8 => Kind::Utf8,
            DataType::LargeUtf8 => Kind::LargeUtf8,
            DataType::Utf8View => Kind::Utf8View,
            DataType::Binary => Kind::Binary,
            DataType::LargeBinary => Kind::LargeBinary,
            DataType::BinaryView => Kind::BinaryView,
            DataType::Date32 => Kind::Date32,
            DataType::Timestamp(unit, _) => Kind::Timestamp(*unit),
            DataType::Time32(unit @ (TimeUnit::Second | TimeUnit::Millisecond)) => {
                Kind::Time32(*unit)
            }
            DataType::Time64(unit @ (TimeUnit::Microsecond | TimeUnit::Nanosecond)) => {
                Kind::Time64(*unit)
            }
            DataType::Duration(unit) => Kind::Duration(*unit),
            DataType::Decimal128(_, scale) => Kind::Decimal128(*scale),
            DataType::Decimal256(_, scale) => Kind::Decimal256(*scale),
            _ => return None,
        })
    }

    /// Byte width of a non-NULL value for fixed-width kinds.
    fn fixed_width(self) -> Option<usize> {
        match self {
            Kind::Bool => Some(1),
            Kind::Int8 | Kind::Int16 | Kind::UInt8 => Some(2),
            Kind::Int32 | Kind::UInt16 | Kind::Float32 | Kind::Date32 => Some(4),
            Kind::Int64
            | Kind::UInt32
            | Kind::Float64
            | Kind::Timestamp(_)
            | Kind::Time32(_)
            | Kind::Time64(_) => Some(8),
            Kind::Duration(_) => Some(16),
            _ => None,
        }
    }
}

/// A failure inside a column loop, turned into an [`EngineError`] by the caller.
struct Fail {
    row: Option<usize>,
    message: String,
}

impl Fail {
    fn at(row: usize, message: impl ToString) -> Self {
        Fail {
            row: Some(row),
            message: message.to_string(),
        }
    }

    fn mismatch(expected: &DataType, actual: &DataType) -> Self {
        Fail {
            row: None,
            message: format!(
                "batch column has type {actual}, the encoder was built for {expected}"
            ),
        }
    }
}

/// One column of the target, with its reusable numeric scratch buffers.
#[derive(Debug)]
struct Column {
    name: String,
    data_type: DataType,
    kind: Kind,
    /// Encoded numeric values of the current batch (numeric kinds only).
    scratch: Vec<u8>,
    /// `scratch` offsets: value `r` is `scratch[offsets[r]..offsets[r + 1]]`.
    offsets: Vec<usize>,
}

/// Encodes Arrow record batches as PostgreSQL binary COPY tuples.
///
/// Write [`header`](Self::header) once, [`encode`](Self::encode) every
/// batch, then [`trailer`](Self::trailer).
#[derive(Debug)]
pub struct CopyBinaryEncoder {
    connection: String,
    table: String,
    columns: Vec<Column>,
    /// Per-row byte size, then per-row write position in the output.
    positions: Vec<usize>,
    /// Base-10000 digit scratch of the numeric writer.
    digits: Vec<i16>,
    /// Decimal text scratch of the numeric writer (Decimal256).
    text: String,
}

impl CopyBinaryEncoder {
    /// Builds an encoder for batches of `schema`; fails naming the first
    /// column whose type has no binary COPY encoding.
    pub fn new(connection: &str, table: &str, schema: SchemaRef) -> EngineResult<Self> {
        if schema.fields().len() > i16::MAX as usize {
            return Err(EngineError::query(
                connection,
                Some(table),
                None,
                format!(
                    "{} columns exceed the binary COPY limit of {}",
                    schema.fields().len(),
                    i16::MAX
                ),
            ));
        }
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let kind = Kind::of(field.data_type()).ok_or_else(|| {
                EngineError::column(
                    connection,
                    table,
                    field.name(),
                    format!(
                        "type {} cannot be written to PostgreSQL by binary COPY\n  hint: CAST the column to a supported type (text, bigint, double, decimal, date, timestamp, ...) in the step's SQL",
                        field.data_type()
                    ),
                )
            })?;
            columns.push(Column {
                name: field.name().clone(),
                data_type: field.data_type().clone(),
                kind,
                scratch: Vec::new(),
                offsets: Vec::new(),
            });
        }
        Ok(Self {
            connection: connection.to_string(),
            table: table.to_string(),
            columns,
            positions: Vec::new(),
            digits: Vec::new(),
            text: String::new(),
        })
    }

    /// The 19-byte stream header: signature, flags (0) and extension length (0).
    pub fn header(&self) -> &'static [u8] {
        &HEADER
    }

    /// The stream trailer: a field count of -1.
    pub fn trailer() -> [u8; 2] {
        [0xFF, 0xFF]
    }

    /// Appends one tuple per row of `batch` to `out`. On error `out` is left
    /// as it was.
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> EngineResult<()> {
        if batch.num_columns() != self.columns.len() {
            return Err(EngineError::query(
                &self.connection,
                Some(&self.table),
                None,
                format!(
                    "batch has {} columns, the COPY encoder expects {}",
                    batch.num_columns(),
                    self.columns.len()
                ),
            ));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let base = out.len();
        let result = self.encode_rows(batch, out);
        if result.is_err() {
            out.truncate(base);
        }
        result
    }

    fn encode_rows(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> EngineResult<()> {
        let rows = batch.num_rows();
        // 1. Per-row sizes.
        self.positions.clear();
        self.positions.resize(rows, 2);
        for (column, array) in self.columns.iter_mut().zip(batch.columns()) {
            add_sizes(
                column,
                array,
                &mut self.positions,
                &mut self.digits,
                &mut self.text,
            )
            .map_err(|fail| fail_error(&self.connection, &self.table, &column.name, fail))?;
        }
        // 2. Sizes to write positions; field counts.
        let field_count = (self.columns.len() as i16).to_be_bytes();
        let mut end = out.len();
        for position in self.positions.iter_mut() {
            let size = *position;
            *position = end;
            end += size;
        }
        out.resize(end, 0);
        for position in self.positions.iter_mut() {
            out[*position..*position + 2].copy_from_slice(&field_count);
            *position += 2;
        }
        // 3. One loop per column.
        for (index, array) in batch.columns().iter().enumerate() {
            let column = &self.columns[index];
            write_column(column, array, &mut self.positions, out)
                .map_err(|fail| fail_error(&self.connection, &self.table, &column.name, fail))?;
        }
        Ok(())
    }
}

fn fail_error(connection: &str, table: &str, column: &str, fail: Fail) -> EngineError {
    let message = match fail.row {
        Some(row) => format!("row {row} of the batch: {}", fail.message),
        None => fail.message,
    };
    EngineError::column(connection, table, column, message)
}

/// Adds each row's field size (4 + value length) of `column` to `sizes`.
fn add_sizes(
    column: &mut Column,
    array: &ArrayRef,
    sizes: &mut [usize],
    digits: &mut Vec<i16>,
    text: &mut String,
) -> Result<(), Fail> {
    if array.data_type() != &column.data_type {
        return Err(Fail::mismatch(&column.data_type, array.data_type()));
    }
    if let Some(width) = column.kind.fixed_width() {
        add_fixed_sizes(array.logical_nulls().as_ref(), width, sizes);
        return Ok(());
    }
    let nulls = array.nulls();
    match column.kind {
        Kind::Utf8 => {
            let a = array.as_string::<i32>();
            add_byte_sizes(nulls, |i| a.value(i).as_bytes(), true, sizes)
        }
        Kind::LargeUtf8 => {
            let a = array.as_string::<i64>();
            add_byte_sizes(nulls, |i| a.value(i).as_bytes(), true, sizes)
        }
        Kind::Utf8View => {
            let a = array.as_string_view();
            add_byte_sizes(nulls, |i| a.value(i).as_bytes(), true, sizes)
        }
        Kind::Binary => {
            let a = array.as_binary::<i32>();
            add_byte_sizes(nulls, |i| a.value(i), false, sizes)
        }
        Kind::LargeBinary => {
            let a = array.as_binary::<i64>();
            add_byte_sizes(nulls, |i| a.value(i), false, sizes)
        }
        Kind::BinaryView => {
            let a = array.as_binary_view();
            add_byte_sizes(nulls, |i| a.value(i), false, sizes)
        }
        Kind::UInt64 => {
            let a = array.as_primitive::<UInt64Type>();
            fill_numeric(column, a, sizes, |v, buf| {
                push_numeric_u128(buf, digits, false, u128::from(v), 0)
            });
            Ok(())
        }
        Kind::Decimal128(scale) => {
            let a = array.as_primitive::<Decimal128Type>();
            fill_numeric(column, a, sizes, |v, buf| {
                push_numeric_u128(buf, digits, v < 0, v.unsigned_abs(), scale)
            });
            Ok(())
        }
        Kind::Decimal256(scale) => {
            let a = array.as_primitive::<Decimal256Type>();
            fill_numeric(column, a, sizes, |v: i256, buf| {
                use std::fmt::Write;
                text.clear();
                let _ = write!(text, "{v}");
                let (negative, abs) = match text.strip_prefix('-') {
                    Some(abs) => (true, abs),
                    None => (false, text.as_str()),
                };
                push_numeric(buf, digits, negative, abs.as_bytes(), scale)
            });
            Ok(())
        }
        _ => Err(Fail::mismatch(&column.data_type, array.data_type())),
    }
}

fn add_fixed_sizes(nulls: Option<&NullBuffer>, width: usize, sizes: &mut [usize]) {
    match nulls.filter(|n| n.null_count() > 0) {
        None => sizes.iter_mut().for_each(|s| *s += 4 + width),
        Some(nulls) => {
            for (row, size) in sizes.iter_mut().enumerate() {
                *size += if nulls.is_null(row) { 4 } else { 4 + width };
            }
        }
    }
}

fn add_byte_sizes<'a>(
    nulls: Option<&NullBuffer>,
    value: impl Fn(usize) -> &'a [u8],
    text: bool,
    sizes: &mut [usize],
) -> Result<(), Fail> {
    for (row, size) in sizes.iter_mut().enumerate() {
        *size += 4;
        if nulls.is_some_and(|n| n.is_null(row)) {
            continue;
        }
        let bytes = value(row);
        if bytes.len() > i32::MAX as usize {
            return Err(Fail::at(row, "value longer than 2 GiB"));
        }
        if text && bytes.contains(&0) {
            return Err(Fail::at(
                row,
                "text contains a NUL byte (\\0), which PostgreSQL text cannot store\n  hint: remove it (replace(col, chr(0), '')) or CAST the column to binary in the step's SQL",
            ));
        }
        *size += bytes.len();
    }
    Ok(())
}

/// Encodes every non-NULL value of a numeric column into the column's scratch.
fn fill_numeric<T: ArrowPrimitiveType>(
    column: &mut Column,
    array: &PrimitiveArray<T>,
    sizes: &mut [usize],
    mut encode: impl FnMut(T::Native, &mut Vec<u8>),
) {
    column.scratch.clear();
    column.offsets.clear();
    column.offsets.push(0);
    let nulls = array.nulls();
    for (row, (size, &value)) in sizes.iter_mut().zip(array.values().iter()).enumerate() {
        let start = column.scratch.len();
        if !nulls.is_some_and(|n| n.is_null(row)) {
            encode(value, &mut column.scratch);
        }
        column.offsets.push(column.scratch.len());
        *size += 4 + column.scratch.len() - start;
    }
}

/// A PostgreSQL `interval` of `micros` microseconds: time, days 0, months 0.
fn pg_interval(micros: Option<i64>) -> Result<[u8; 16], &'static str> {
    let micros = micros.ok_or("duration out of range for an interval")?;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&micros.to_be_bytes());
    Ok(out)
}

/// Writes the fields of one column at each row's position, advancing them.
fn write_column(
    column: &Column,
    array: &ArrayRef,
    positions: &mut [usize],
    out: &mut [u8],
) -> Result<(), Fail> {
    let nulls = array.logical_nulls();
    let nulls = nulls.as_ref().filter(|n| n.null_count() > 0);
    match column.kind {
        Kind::Bool => {
            let a = array.as_boolean();
            for (row, position) in positions.iter_mut().enumerate() {
                let p = *position;
                if nulls.is_some_and(|n| n.is_null(row)) {
                    out[p..p + 4].copy_from_slice(&NULL_LEN);
                    *position = p + 4;
                } else {
                    out[p..p + 4].copy_from_slice(&1i32.to_be_bytes());
                    out[p + 4] = u8::from(a.value(row));
                    *position = p + 5;
                }
            }
            Ok(())
        }
        Kind::Int8 => write_fixed(
            array.as_primitive::<Int8Type>(),
            nulls,
            positions,
            out,
            |v| Ok(i16::from(v).to_be_bytes()),
        ),
        Kind::Int16 => write_fixed(
            array.as_primitive::<Int16Type>(),
            nulls,
            positions,
            out,
            |v| Ok(v.to_be_bytes()),
        ),
        Kind::Int32 => write_fixed(
            array.as_primitive::<Int32Type>(),
            nulls,
            positions,
            out,
            |v| Ok(v.to_be_bytes()),
        ),
        Kind::Int64 => write_fixed(
            array.as_primitive::<Int64Type>(),
            nulls,
            positions,
            out,
            |v| Ok(v.to_be_bytes()),
        ),
        Kind::UInt8 => write_fixed(
            array.as_primitive::<UInt8Type>(),
            nulls,
            positions,
            out,
            |v| Ok(i16::from(v).to_be_bytes()),
        ),
        Kind::UInt16 => write_fixed(
            array.as_primitive::<UInt16Type>(),
            nulls,
            positions,
            out,
            |v| Ok(i32::from(v).to_be_bytes()),
        ),
        Kind::UInt32 => write_fixed(
            array.as_primitive::<UInt32Type>(),
            nulls,
            positions,
            out,
            |v| Ok(i64::from(v).to_be_bytes()),
        ),
        Kind::Float32 => write_fixed(
            array.as_primitive::<Float32Type>(),
            nulls,
            positions,
            out,
            |v| Ok(v.to_be_bytes()),
        ),
        Kind::Float64 => write_fixed(
            array.as_primitive::<Float64Type>(),
            nulls,
            positions,
            out,
            |v| Ok(v.to_be_bytes()),
        ),
        Kind::Date32 => write_fixed(
            array.as_primitive::<Date32Type>(),
            nulls,
            positions,
            out,
            |v| {
                v.checked_sub(PG_EPOCH_DAYS)
                    .map(i32::to_be_bytes)
                    .ok_or("date out of PostgreSQL range")
            },
        ),
        Kind::Timestamp(TimeUnit::Second) => write_fixed(
            array.as_primitive::<TimestampSecondType>(),
            nulls,
            positions,
            out,
            |v| pg_timestamp(v.checked_mul(1_000_000)),
        ),
        Kind::Timestamp(TimeUnit::Millisecond) => write_fixed(
            array.as_primitive::<TimestampMillisecondType>(),
            nulls,
            positions,
            out,
            |v| pg_timestamp(v.checked_mul(1_000)),
        ),
        Kind::Timestamp(TimeUnit::Microsecond) => write_fixed(
            array.as_primitive::<TimestampMicrosecondType>(),
            nulls,
            positions,
            out,
            |v| pg_timestamp(Some(v)),
        ),
        Kind::Timestamp(TimeUnit::Nanosecond) => write_fixed(
            array.as_primitive::<TimestampNanosecondType>(),
            nulls,
            positions,
            out,
            |v| pg_timestamp(Some(nanos_to_micros(v)?)),
        ),
        Kind::Time32(TimeUnit::Second) => write_fixed(
            array.as_primitive::<Time32SecondType>(),
            nulls,
            positions,
            out,
            |v| Ok((i64::from(v) * 1_000_000).to_be_bytes()),
        ),
        Kind::Time32(_) => write_fixed(
            array.as_primitive::<Time32MillisecondType>(),
            nulls,
            positions,
            out,
            |v| Ok((i64::from(v) * 1_000).to_be_bytes()),
        ),
        Kind::Time64(TimeUnit::Nanosecond) => write_fixed(
            array.as_primitive::<Time64NanosecondType>(),
            nulls,
            positions,
            out,
            |v| Ok(nanos_to_micros(v)?.to_be_bytes()),
        ),
        Kind::Time64(_) => write_fixed(
            array.as_primitive::<Time64MicrosecondType>(),
            nulls,
            positions,
            out,
            |v| Ok(v.to_be_bytes()),
        ),
        Kind::Duration(TimeUnit::Second) => write_fixed(
            array.as_primitive::<DurationSecondType>(),
            nulls,
            positions,
            out,
            |v| pg_interval(v.checked_mul(1_000_000)),
        ),
        Kind::Duration(TimeUnit::Millisecond) => write_fixed(
            array.as_primitive::<DurationMillisecondType>(),
            nulls,
            positions,
            out,
            |v| pg_interval(v.checked_mul(1_000)),
        ),
        Kind::Duration(TimeUnit::Microsecond) => write_fixed(
            array.as_primitive::<DurationMicrosecondType>(),
            nulls,
            positions,
            out,
            |v| pg_interval(Some(v)),
        ),
        Kind::Duration(TimeUnit::Nanosecond) => write_fixed(
            array.as_primitive::<DurationNanosecondType>(),
            nulls,
            positions,
            out,
            |v| pg_interval(Some(nanos_to_micros(v)?)),
        ),
        Kind::Utf8 => {
            let a = array.as_string::<i32>();
            write_bytes(nulls, |i| a.value(i).as_bytes(), positions, out);
            Ok(())
        }
        Kind::LargeUtf8 => {
            let a = array.as_string::<i64>();
            write_bytes(nulls, |i| a.value(i).as_bytes(), positions, out);
            Ok(())
        }
        Kind::Utf8View => {
            let a = array.as_string_view();
            write_bytes(nulls, |i| a.value(i).as_bytes(), positions, out);
            Ok(())
        }
        Kind::Binary => {
            let a = array.as_binary::<i32>();
            write_bytes(nulls, |i| a.value(i), positions, out);
            Ok(())
        }
        Kind::LargeBinary => {
            let a = array.as_binary::<i64>();
            write_bytes(nulls, |i| a.value(i), positions, out);
            Ok(())
        }
        Kind::BinaryView => {
            let a = array.as_binary_view();
            write_bytes(nulls, |i| a.value(i), positions, out);
            Ok(())
        }
        Kind::UInt64 | Kind::Decimal128(_) | Kind::Decimal256(_) => {
            let (scratch, offsets) = (&column.scratch, &column.offsets);
            write_bytes(
                nulls,
                |i| &scratch[offsets[i]..offsets[i + 1]],
                positions,
                out,
            );
            Ok(())
        }
    }
}

fn nanos_to_micros(v: i64) -> Result<i64, &'static str> {
    if v % 1_000 != 0 {
        return Err("nanosecond value has sub-microsecond digits, which PostgreSQL cannot store\n  hint: truncate it (date_trunc('microseconds', col)) or CAST it in the step's SQL");
    }
    Ok(v / 1_000)
}

fn pg_timestamp(unix_micros: Option<i64>) -> Result<[u8; 8], &'static str> {
    unix_micros
        .and_then(|v| v.checked_sub(PG_EPOCH_MICROS))
        .map(i64::to_be_bytes)
        .ok_or("timestamp out of range")
}

/// The monomorphic loop of a fixed-width column.
fn write_fixed<T: ArrowPrimitiveType, const W: usize>(
    array: &PrimitiveArray<T>,
    nulls: Option<&NullBuffer>,
    positions: &mut [usize],
    out: &mut [u8],
    encode: impl Fn(T::Native) -> Result<[u8; W], &'static str>,
) -> Result<(), Fail> {
    let length = (W as i32).to_be_bytes();
    for (row, (position, &value)) in positions.iter_mut().zip(array.values().iter()).enumerate() {
        let p = *position;
        if nulls.is_some_and(|n| n.is_null(row)) {
            out[p..p + 4].copy_from_slice(&NULL_LEN);
            *position = p + 4;
        } else {
            let bytes = encode(value).map_err(|m| Fail::at(row, m))?;
            out[p..p + 4].copy_from_slice(&length);
            out[p + 4..p + 4 + W].copy_from_slice(&bytes);
            *position = p + 4 + W;
        }
    }
    Ok(())
}

/// The loop of a variable-length column (lengths were checked when sizing).
fn write_bytes<'a>(
    nulls: Option<&NullBuffer>,
    value: impl Fn(usize) -> &'a [u8],
    positions: &mut [usize],
    out: &mut [u8],
) {
    for (row, position) in positions.iter_mut().enumerate() {
        let p = *position;
        if nulls.is_some_and(|n| n.is_null(row)) {
            out[p..p + 4].copy_from_slice(&NULL_LEN);
            *position = p + 4;
        } else {
            let bytes = value(row);
            out[p..p + 4].copy_from_slice(&(bytes.len() as i32).to_be_bytes());
            out[p + 4..p + 4 + bytes.len()].copy_from_slice(bytes);
            *position = p + 4 + bytes.len();
        }
    }
}

/// Appends the binary numeric of `±abs × 10^-scale`.
fn push_numeric_u128(
    out: &mut Vec<u8>,
    digits: &mut Vec<i16>,
    negative: bool,
    abs: u128,
    scale: i8,
) {
    let mut buf = [0u8; 40];
    let mut at = buf.len();
    let mut rest = abs;
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    push_numeric(out, digits, negative, &buf[at..], scale);
}

/// Appends the binary numeric of a value given as its absolute decimal digits
/// (ASCII) and Arrow scale: ndigits, weight, sign, dscale (i16/u16 each),
/// then the base-10000 digits from the most significant non-zero one.
fn push_numeric(
    out: &mut Vec<u8>,
    groups: &mut Vec<i16>,
    negative: bool,
    digits: &[u8],
    scale: i8,
) {
    // A negative scale appends zeros to the integer; PostgreSQL's dscale is >= 0.
    let shift = usize::from(scale.unsigned_abs()) * usize::from(scale < 0);
    let frac = usize::try_from(scale).unwrap_or(0);
    let total = digits.len() + shift;
    let int_len = total.saturating_sub(frac);
    let int_groups = int_len.div_ceil(4);
    let frac_groups = frac.div_ceil(4);
    // Index of the first digit in the string padded to whole groups.
    let start = int_groups * 4 + frac - total;
    let digit = |k: usize| -> i16 {
        match k.checked_sub(start) {
            Some(i) if i < digits.len() => i16::from(digits[i].saturating_sub(b'0')),
            _ => 0,
        }
    };
    groups.clear();
    for g in 0..int_groups + frac_groups {
        let k = g * 4;
        groups.push(digit(k) * 1000 + digit(k + 1) * 100 + digit(k + 2) * 10 + digit(k + 3));
    }
    let first = groups.iter().position(|&d| d != 0);
    let last = groups.iter().rposition(|&d| d != 0);
    let dscale = frac as u16;
    match (first, last) {
        (Some(first), Some(last)) => {
            let weight = int_groups as i16 - 1 - first as i16;
            out.extend_from_slice(&((last - first + 1) as i16).to_be_bytes());
            out.extend_from_slice(&weight.to_be_bytes());
            out.extend_from_slice(&(if negative { NUMERIC_NEG } else { 0 }).to_be_bytes());
            out.extend_from_slice(&dscale.to_be_bytes());
            for d in &groups[first..=last] {
                out.extend_from_slice(&d.to_be_bytes());
            }
        }
        _ => {
            out.extend_from_slice(&0i16.to_be_bytes());
            out.extend_from_slice(&0i16.to_be_bytes());
            out.extend_from_slice(&0u16.to_be_bytes());
            out.extend_from_slice(&dscale.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
