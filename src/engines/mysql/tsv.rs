//! Arrow → TSV encoder for MySQL/MariaDB `LOAD DATA LOCAL INFILE`.
//!
//! The text follows the LOAD DATA defaults: fields end with TAB, lines with
//! NEWLINE, `ESCAPED BY '\\'`, no enclosing quotes. NULL is `\N`; in text,
//! backslash, TAB, NEWLINE, CR and NUL are written `\\`, `\t`, `\n`, `\r`, `\0`;
//! an empty string stays empty.
//!
//! Values:
//! - Boolean → `1`/`0`; integers → decimal digits; floats → shortest
//!   round-trip text, Float32 of its exact value as a double (NaN and
//!   ±infinity are refused: MySQL cannot store them).
//! - Decimal128/256 → exact decimal text with `scale` fractional digits.
//! - Binary (and LargeBinary, BinaryView, FixedSizeBinary) → lowercase hex,
//!   loaded into a user variable and stored with `SET col = UNHEX(@var)` (see
//!   [`TsvEncoder::load_data_sql`]). Hex keeps arbitrary bytes out of the
//!   utf8mb4 character-set conversion of the file.
//! - Date32 → `YYYY-MM-DD`; Time32/Time64 and Duration → `[-]HH:MM:SS[.ffffff]`
//!   (hours may exceed 24, as in MySQL's `TIME`).
//! - Timestamp without time zone → `YYYY-MM-DD HH:MM:SS[.ffffff]` as is;
//!   with a time zone → the same instant in UTC. A `TIMESTAMP` target column
//!   therefore needs the session `time_zone = '+00:00'` (a `DATETIME` target
//!   stores the UTC wall time). Nanoseconds are truncated to microseconds,
//!   MySQL's finest precision.
//! - Dictionary of strings → its values; Null → `\N`.
//!
//! Every other type is refused with a hint to CAST the column in the step SQL.
//!
//! Encoding goes column by column: each column renders its cells into its own
//! scratch buffer (one monomorphic loop per Arrow type) with the end offset of
//! every cell, then the rows are interleaved into the output. The buffers are
//! reused across batches.

use std::io::Write as _;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, FixedSizeBinaryArray,
    LargeBinaryArray, LargeStringArray, StringArray, StringViewArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Decimal256Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Float32Type, Float64Type,
    Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{EngineError, EngineResult};

/// How one column is rendered, decided once from the schema.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Null,
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Dec128(i8),
    Dec256(i8),
    Utf8,
    LargeUtf8,
    Utf8View,
    Binary,
    LargeBinary,
    BinaryView,
    FixedBinary,
    Date32,
    Timestamp(TimeUnit),
    Time32(TimeUnit),
    Time64(TimeUnit),
    /// Elapsed time, written like a (possibly negative, over 24 h) `TIME`.
    Duration(TimeUnit),
    /// Dictionary whose values have the inner (string) kind.
    Dict(Box<Kind>),
}

impl Kind {
    fn of(data_type: &DataType) -> Option<Kind> {
        Some(match data_type {
            DataType::Null => Kind::Null,
            DataType::Boolean => Kind::Bool,
            DataType::Int8 => Kind::I8,
            DataType::Int16 => Kind::I16,
            DataType::Int32 => Kind::I32,
            DataType::Int64 => Kind::I64,
            DataType::UInt8 => Kind::U8,
            DataType::UInt16 => Kind::U16,
            DataType::UInt32 => Kind::U32,
            DataType::UInt64 => Kind::U64,
            DataType::Float32 => Kind::F32,
            DataType::Float64 => Kind::F64,
            DataType::Decimal128(_, s) => Kind::Dec128(*s),
            DataType::Decimal256(_, s) => Kind::Dec256(*s),
            DataType::Utf8 => Kind::Utf8,
            DataType::LargeUtf8 => Kind::LargeUtf8,
            DataType::Utf8View => Kind::Utf8View,
            DataType::Binary => Kind::Binary,
            DataType::LargeBinary => Kind::LargeBinary,
            DataType::BinaryView => Kind::BinaryView,
            DataType::FixedSizeBinary(_) => Kind::FixedBinary,
            DataType::Date32 => Kind::Date32,
            DataType::Timestamp(unit, _) => Kind::Timestamp(*unit),
            DataType::Time32(unit @ (TimeUnit::Second | TimeUnit::Millisecond)) => {
                Kind::Time32(*unit)
            }
            DataType::Time64(unit @ (TimeUnit::Microsecond | TimeUnit::Nanosecond)) => {
                Kind::Time64(*unit)
            }
            DataType::Duration(unit) => Kind::Duration(*unit),
            DataType::Dictionary(_, value) => match value.as_ref() {
                DataType::Utf8 => Kind::Dict(Box::new(Kind::Utf8)),
                DataType::LargeUtf8 => Kind::Dict(Box::new(Kind::LargeUtf8)),
                DataType::Utf8View => Kind::Dict(Box::new(Kind::Utf8View)),
                _ => return None,
            },
            _ => return None,
        })
    }

    fn literal_style(&self) -> Literal {
        match self {
            Kind::Null
            | Kind::Bool
            | Kind::I8
            | Kind::I16
            | Kind::I32
            | Kind::I64
            | Kind::U8
            | Kind::U16
            | Kind::U32
            | Kind::U64
            | Kind::F32
            | Kind::F64
            | Kind::Dec128(_)
            | Kind::Dec256(_) => Literal::Bare,
            k if k.is_binary() => Literal::Hex,
            _ => Literal::Quoted,
        }
    }

    fn is_binary(&self) -> bool {
        matches!(
            self,
            Kind::Binary | Kind::LargeBinary | Kind::BinaryView | Kind::FixedBinary
        )
    }
}

/// How a rendered cell becomes an SQL literal.
enum Literal {
    Bare,
    Hex,
    Quoted,
}

/// Rendered cells of one column: the bytes and the end offset of each row.
#[derive(Debug, Default)]
struct Scratch {
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// Digits of wide decimals.
    tmp: Vec<u8>,
    /// Rendered dictionary values.
    values: Option<Box<Scratch>>,
}

impl Scratch {
    fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    fn cell(&self, row: usize) -> &[u8] {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        &self.buf[start..self.ends[row]]
    }
}

#[derive(Debug)]
struct Column {
    name: String,
    data_type: DataType,
    kind: Kind,
    scratch: Scratch,
}

/// Encodes Arrow record batches as the TSV text `LOAD DATA LOCAL INFILE`
/// reads with [`TsvEncoder::load_data_sql`]'s options.
#[derive(Debug)]
pub struct TsvEncoder {
    connection: String,
    table: String,
    columns: Vec<Column>,
    /// Rows encoded so far, to number rows in error messages.
    rows_done: u64,
}

/// A value that cannot be written; turned into a column error with its row.
type CellResult = Result<(), &'static str>;

impl TsvEncoder {
    /// An encoder for batches of `schema`; refuses columns whose type MySQL
    /// cannot load, naming the column and suggesting a CAST.
    pub fn new(connection: &str, table: &str, schema: SchemaRef) -> EngineResult<Self> {
        if schema.fields().is_empty() {
            return Err(EngineError::unsupported(
                connection,
                format!("table '{table}': LOAD DATA needs at least one column"),
            ));
        }
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let kind = Kind::of(field.data_type()).ok_or_else(|| {
                    EngineError::column(
                        connection,
                        table,
                        field.name(),
                        format!(
                            "type {} cannot be loaded into MySQL/MariaDB\n  hint: CAST the column in the step SQL, e.g. CAST({} AS VARCHAR)",
                            field.data_type(),
                            field.name()
                        ),
                    )
                })?;
                Ok(Column {
                    name: field.name().clone(),
                    data_type: field.data_type().clone(),
                    kind,
                    scratch: Scratch::default(),
                })
            })
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Self {
            connection: connection.to_string(),
            table: table.to_string(),
            columns,
            rows_done: 0,
        })
    }

    /// Appends one TSV line per row of `batch` to `out`. On error nothing is
    /// appended; the message names the column and the row (counted from 1
    /// over all batches this encoder has seen).
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> EngineResult<()> {
        let rows = self.render_columns(batch)?;
        let total: usize = self.columns.iter().map(|c| c.scratch.buf.len()).sum();
        out.reserve(total + rows * self.columns.len());
        for row in 0..rows {
            for (i, column) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                out.extend_from_slice(column.scratch.cell(row));
            }
            out.push(b'\n');
        }
        self.rows_done += rows as u64;
        Ok(())
    }

    /// Renders every column of `batch` into its scratch buffer; returns the
    /// number of rows.
    fn render_columns(&mut self, batch: &RecordBatch) -> EngineResult<usize> {
        if batch.num_columns() != self.columns.len() {
            return Err(EngineError::unsupported(
                &self.connection,
                format!(
                    "table '{}': batch has {} columns, the encoder expects {}",
                    self.table,
                    batch.num_columns(),
                    self.columns.len()
                ),
            ));
        }
        let rows = batch.num_rows();
        for (column, array) in self.columns.iter_mut().zip(batch.columns()) {
            let error = |message: String| {
                EngineError::column(&self.connection, &self.table, &column.name, message)
            };
            if array.data_type() != &column.data_type {
                return Err(error(format!(
                    "batch column has type {}, the encoder expects {}",
                    array.data_type(),
                    column.data_type
                )));
            }
            column.scratch.clear();
            render(&column.kind, array, &mut column.scratch).map_err(|(row, message)| {
                error(format!(
                    "row {}: {message}",
                    self.rows_done + row as u64 + 1
                ))
            })?;
        }
        Ok(rows)
    }

    /// Appends the rows of `batch` as the value tuples of a multi-row
    /// `INSERT` (`(v, ...), (v, ...)`), for servers that refuse `LOAD DATA
    /// LOCAL`: numbers bare, binary as `X'..'`, NULL as `NULL`, everything else
    /// a quoted string with the same backslash escapes (the session must not
    /// use `NO_BACKSLASH_ESCAPES`). Errors as [`TsvEncoder::encode`].
    pub fn encode_values(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> EngineResult<()> {
        let rows = self.render_columns(batch)?;
        for row in 0..rows {
            if row > 0 {
                out.extend_from_slice(b", ");
            }
            out.push(b'(');
            for (i, column) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                let cell = column.scratch.cell(row);
                if cell == b"\\N" {
                    out.extend_from_slice(b"NULL");
                    continue;
                }
                match column.kind.literal_style() {
                    Literal::Bare => out.extend_from_slice(cell),
                    Literal::Hex => {
                        out.extend_from_slice(b"X'");
                        out.extend_from_slice(cell);
                        out.push(b'\'');
                    }
                    Literal::Quoted => {
                        out.push(b'\'');
                        for &c in cell {
                            if c == b'\'' {
                                out.extend_from_slice(b"\\'");
                            } else {
                                out.push(c);
                            }
                        }
                        out.push(b'\'');
                    }
                }
            }
            out.push(b')');
        }
        self.rows_done += rows as u64;
        Ok(())
    }

    /// The `LOAD DATA LOCAL INFILE 'barge'` statement reading this encoder's
    /// output into `table_sql` (quoted) with `columns_sql` (quoted, in schema
    /// order). `keyword` is `IGNORE`, `REPLACE` or `None`. Binary columns go
    /// through a user variable `@barge_cN` and `SET col = UNHEX(@barge_cN)`;
    /// other columns whose `numbers[i]` is set (a `BIT(n)` or `YEAR` target)
    /// through `SET col = CAST(@barge_cN AS UNSIGNED)`.
    /// The session must not use `NO_BACKSLASH_ESCAPES` (the statement's
    /// separators are backslash escapes).
    pub fn load_data_sql(
        &self,
        table_sql: &str,
        columns_sql: &[String],
        numbers: &[bool],
        keyword: Option<&str>,
    ) -> String {
        let mut sql = String::from("LOAD DATA LOCAL INFILE 'barge' ");
        if let Some(k) = keyword {
            sql.push_str(k);
            sql.push(' ');
        }
        sql.push_str("INTO TABLE ");
        sql.push_str(table_sql);
        sql.push_str(
            " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (",
        );
        let mut sets = Vec::new();
        for (i, (column, column_sql)) in self.columns.iter().zip(columns_sql).enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let var = format!("@barge_c{i}");
            if column.kind.is_binary() {
                sets.push(format!("{column_sql} = UNHEX({var})"));
                sql.push_str(&var);
            } else if numbers.get(i).copied().unwrap_or(false) {
                sets.push(format!("{column_sql} = CAST({var} AS UNSIGNED)"));
                sql.push_str(&var);
            } else {
                sql.push_str(column_sql);
            }
        }
        sql.push(')');
        if !sets.is_empty() {
            sql.push_str(" SET ");
            sql.push_str(&sets.join(", "));
        }
        sql
    }
}

/// Renders every row of `array` into `s`; on error returns the row index
/// (within the batch) and the reason.
fn render(kind: &Kind, array: &ArrayRef, s: &mut Scratch) -> Result<(), (usize, &'static str)> {
    const MISMATCH: (usize, &str) = (0, "array does not match its declared type");
    macro_rules! prim {
        ($t:ty, |$v:ident, $b:ident| $body:expr) => {{
            let a = array.as_primitive_opt::<$t>().ok_or(MISMATCH)?;
            let values = a.values();
            each(a.nulls(), a.len(), &mut s.buf, &mut s.ends, |i, $b| {
                let $v = values[i];
                $body
            })
        }};
    }
    macro_rules! typed {
        ($t:ty, |$a:ident, $i:ident, $b:ident| $body:expr) => {{
            let $a = array.as_any().downcast_ref::<$t>().ok_or(MISMATCH)?;
            each($a.nulls(), $a.len(), &mut s.buf, &mut s.ends, |$i, $b| {
                $body
            })
        }};
    }
    match kind {
        Kind::Null => {
            for _ in 0..array.len() {
                s.buf.extend_from_slice(b"\\N");
                s.ends.push(s.buf.len());
            }
            Ok(())
        }
        Kind::Bool => typed!(BooleanArray, |a, i, b| {
            b.push(if a.value(i) { b'1' } else { b'0' });
            Ok(())
        }),
        Kind::I8 => prim!(Int8Type, |v, b| {
            put_i64(b, v.into());
            Ok(())
        }),
        Kind::I16 => prim!(Int16Type, |v, b| {
            put_i64(b, v.into());
            Ok(())
        }),
        Kind::I32 => prim!(Int32Type, |v, b| {
            put_i64(b, v.into());
            Ok(())
        }),
        Kind::I64 => prim!(Int64Type, |v, b| {
            put_i64(b, v);
            Ok(())
        }),
        Kind::U8 => prim!(UInt8Type, |v, b| {
            put_u64(b, v.into());
            Ok(())
        }),
        Kind::U16 => prim!(UInt16Type, |v, b| {
            put_u64(b, v.into());
            Ok(())
        }),
        Kind::U32 => prim!(UInt32Type, |v, b| {
            put_u64(b, v.into());
            Ok(())
        }),
        Kind::U64 => prim!(UInt64Type, |v, b| {
            put_u64(b, v);
            Ok(())
        }),
        // The float's exact value as a double: the shortest f32 text may
        // round beyond FLT_MAX (3.4028235e38), which MySQL refuses.
        Kind::F32 => prim!(Float32Type, |v, b| put_float(
            b,
            v.is_nan(),
            v.is_infinite(),
            f64::from(v)
        )),
        Kind::F64 => prim!(Float64Type, |v, b| put_float(
            b,
            v.is_nan(),
            v.is_infinite(),
            v
        )),
        Kind::Dec128(scale) => prim!(Decimal128Type, |v, b| {
            let mut digits = [0u8; 40];
            let start = u128_digits(v.unsigned_abs(), &mut digits);
            put_decimal(b, v < 0, &digits[start..], *scale);
            Ok(())
        }),
        Kind::Dec256(scale) => {
            let a = array.as_primitive_opt::<Decimal256Type>().ok_or(MISMATCH)?;
            let values = a.values();
            let tmp = &mut s.tmp;
            each(a.nulls(), a.len(), &mut s.buf, &mut s.ends, |i, b| {
                let v = values[i];
                tmp.clear();
                // Writing into a Vec cannot fail.
                let _ = write!(tmp, "{v}");
                let (neg, digits) = match tmp.split_first() {
                    Some((b'-', rest)) => (true, rest),
                    _ => (false, &tmp[..]),
                };
                put_decimal(b, neg, digits, *scale);
                Ok(())
            })
        }
        Kind::Utf8 => typed!(StringArray, |a, i, b| {
            put_text(b, a.value(i));
            Ok(())
        }),
        Kind::LargeUtf8 => typed!(LargeStringArray, |a, i, b| {
            put_text(b, a.value(i));
            Ok(())
        }),
        Kind::Utf8View => typed!(StringViewArray, |a, i, b| {
            put_text(b, a.value(i));
            Ok(())
        }),
        Kind::Binary => typed!(BinaryArray, |a, i, b| {
            put_hex(b, a.value(i));
            Ok(())
        }),
        Kind::LargeBinary => typed!(LargeBinaryArray, |a, i, b| {
            put_hex(b, a.value(i));
            Ok(())
        }),
        Kind::BinaryView => typed!(BinaryViewArray, |a, i, b| {
            put_hex(b, a.value(i));
            Ok(())
        }),
        Kind::FixedBinary => typed!(FixedSizeBinaryArray, |a, i, b| {
            put_hex(b, a.value(i));
            Ok(())
        }),
        Kind::Date32 => prim!(Date32Type, |v, b| put_date(b, v.into())),
        Kind::Timestamp(unit) => match unit {
            TimeUnit::Second => prim!(TimestampSecondType, |v, b| put_datetime(b, v, 0)),
            TimeUnit::Millisecond => prim!(TimestampMillisecondType, |v, b| {
                put_datetime(b, v.div_euclid(1_000), v.rem_euclid(1_000) as u32 * 1_000)
            }),
            TimeUnit::Microsecond => prim!(TimestampMicrosecondType, |v, b| {
                put_datetime(b, v.div_euclid(1_000_000), v.rem_euclid(1_000_000) as u32)
            }),
            TimeUnit::Nanosecond => prim!(TimestampNanosecondType, |v, b| {
                put_datetime(
                    b,
                    v.div_euclid(1_000_000_000),
                    (v.rem_euclid(1_000_000_000) / 1_000) as u32,
                )
            }),
        },
        Kind::Time32(TimeUnit::Second) => prim!(Time32SecondType, |v, b| {
            {
                put_time(b, i64::from(v) * 1_000_000);
                Ok(())
            }
        }),
        Kind::Time32(_) => prim!(Time32MillisecondType, |v, b| {
            {
                put_time(b, i64::from(v) * 1_000);
                Ok(())
            }
        }),
        Kind::Time64(TimeUnit::Microsecond) => {
            prim!(Time64MicrosecondType, |v, b| {
                put_time(b, v);
                Ok(())
            })
        }
        Kind::Time64(_) => prim!(Time64NanosecondType, |v, b| {
            put_time(b, v / 1_000);
            Ok(())
        }),
        Kind::Duration(TimeUnit::Second) => prim!(DurationSecondType, |v, b| {
            put_time(b, v.checked_mul(1_000_000).ok_or(DURATION_RANGE)?);
            Ok(())
        }),
        Kind::Duration(TimeUnit::Millisecond) => prim!(DurationMillisecondType, |v, b| {
            put_time(b, v.checked_mul(1_000).ok_or(DURATION_RANGE)?);
            Ok(())
        }),
        Kind::Duration(TimeUnit::Microsecond) => prim!(DurationMicrosecondType, |v, b| {
            put_time(b, v);
            Ok(())
        }),
        Kind::Duration(TimeUnit::Nanosecond) => prim!(DurationNanosecondType, |v, b| {
            put_time(b, v / 1_000);
            Ok(())
        }),
        Kind::Dict(value_kind) => {
            let dict = array.as_any_dictionary_opt().ok_or(MISMATCH)?;
            let values_scratch = s.values.get_or_insert_with(Box::default);
            values_scratch.clear();
            render(value_kind, dict.values(), values_scratch).map_err(|_| MISMATCH)?;
            let keys = dict.normalized_keys();
            // Null keys and null values both count as NULL.
            let nulls = array.logical_nulls();
            let values_scratch: &Scratch = values_scratch;
            each(
                nulls.as_ref(),
                array.len(),
                &mut s.buf,
                &mut s.ends,
                |i, b| {
                    b.extend_from_slice(values_scratch.cell(keys[i]));
                    Ok(())
                },
            )
        }
    }
}

const DURATION_RANGE: &str = "duration out of the range MySQL/MariaDB TIME can store";

/// The monomorphic per-column loop: `\N` for nulls, else `cell(row, buf)`;
/// records the end offset of every cell.
#[inline]
fn each<F>(
    nulls: Option<&NullBuffer>,
    len: usize,
    buf: &mut Vec<u8>,
    ends: &mut Vec<usize>,
    mut cell: F,
) -> Result<(), (usize, &'static str)>
where
    F: FnMut(usize, &mut Vec<u8>) -> CellResult,
{
    ends.reserve(len);
    match nulls.filter(|n| n.null_count() > 0) {
        None => {
            for i in 0..len {
                cell(i, buf).map_err(|m| (i, m))?;
                ends.push(buf.len());
            }
        }
        Some(nulls) => {
            for i in 0..len {
                if nulls.is_null(i) {
                    buf.extend_from_slice(b"\\N");
                } else {
                    cell(i, buf).map_err(|m| (i, m))?;
                }
                ends.push(buf.len());
            }
        }
    }
    Ok(())
}

/// Writes the decimal digits of `v` at the end of `digits`; returns where they start.
#[inline]
fn u128_digits(mut v: u128, digits: &mut [u8; 40]) -> usize {
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
fn put_u64(buf: &mut Vec<u8>, mut v: u64) {
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
fn put_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    put_u64(buf, v.unsigned_abs());
}

/// `v` with at least `width` digits, zero padded.
#[inline]
fn put_padded(buf: &mut Vec<u8>, v: u64, width: usize) {
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
fn put_float(buf: &mut Vec<u8>, nan: bool, infinite: bool, v: impl std::fmt::Debug) -> CellResult {
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
fn put_decimal(buf: &mut Vec<u8>, negative: bool, digits: &[u8], scale: i8) {
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
fn put_text(buf: &mut Vec<u8>, s: &str) {
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
fn put_hex(buf: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.reserve(bytes.len() * 2);
    for &b in bytes {
        buf.push(HEX[usize::from(b >> 4)]);
        buf.push(HEX[usize::from(b & 15)]);
    }
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (years 1 to 9999).
fn put_date(buf: &mut Vec<u8>, days: i64) -> CellResult {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
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
fn put_datetime(buf: &mut Vec<u8>, secs: i64, micros: u32) -> CellResult {
    put_date(buf, secs.div_euclid(86_400))?;
    buf.push(b' ');
    put_hms(buf, secs.rem_euclid(86_400) as u64, micros);
    Ok(())
}

/// `HH:MM:SS[.ffffff]` of microseconds since midnight (negative: `-HH:...`).
#[inline]
fn put_time(buf: &mut Vec<u8>, micros: i64) {
    if micros < 0 {
        buf.push(b'-');
    }
    let m = micros.unsigned_abs();
    put_hms(buf, m / 1_000_000, (m % 1_000_000) as u32);
}

#[inline]
fn put_hms(buf: &mut Vec<u8>, secs: u64, micros: u32) {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array, DictionaryArray,
        FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
        Int8Array, LargeBinaryArray, LargeStringArray, NullArray, StringArray, StringViewArray,
        Time32MillisecondArray, Time32SecondArray, Time64MicrosecondArray, Time64NanosecondArray,
        TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
        TimestampSecondArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
    };
    use datafusion::arrow::datatypes::{i256, Field, Int32Type, Schema};

    use super::*;

    fn encoder_for(columns: &[(&str, ArrayRef)]) -> (TsvEncoder, RecordBatch) {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(
            schema.clone(),
            columns.iter().map(|(_, a)| a.clone()).collect(),
        )
        .unwrap();
        (TsvEncoder::new("dst", "t", schema).unwrap(), batch)
    }

    fn encode(columns: &[(&str, ArrayRef)]) -> String {
        let (mut enc, batch) = encoder_for(columns);
        let mut out = Vec::new();
        enc.encode(&batch, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Lines of a one-column encoding.
    fn cells(array: ArrayRef) -> Vec<String> {
        encode(&[("c", array)])
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn encode_err(array: ArrayRef) -> String {
        let (mut enc, batch) = encoder_for(&[("c", array)]);
        let mut out = Vec::new();
        let err = enc.encode(&batch, &mut out).unwrap_err().to_string();
        assert!(out.is_empty(), "nothing is written on error");
        err
    }

    #[test]
    fn tsv_booleans_and_nulls() {
        let a = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]));
        assert_eq!(cells(a), ["1", "0", "\\N"]);
        assert_eq!(cells(Arc::new(NullArray::new(2))), ["\\N", "\\N"]);
    }

    #[test]
    fn tsv_integers() {
        assert_eq!(
            cells(Arc::new(Int8Array::from(vec![
                Some(i8::MIN),
                None,
                Some(i8::MAX)
            ]))),
            ["-128", "\\N", "127"]
        );
        assert_eq!(
            cells(Arc::new(Int16Array::from(vec![i16::MIN, 0]))),
            ["-32768", "0"]
        );
        assert_eq!(
            cells(Arc::new(Int32Array::from(vec![i32::MIN, -7, i32::MAX]))),
            ["-2147483648", "-7", "2147483647"]
        );
        assert_eq!(
            cells(Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                None,
                Some(i64::MAX)
            ]))),
            ["-9223372036854775808", "\\N", "9223372036854775807"]
        );
        assert_eq!(
            cells(Arc::new(UInt8Array::from(vec![255u8, 0]))),
            ["255", "0"]
        );
        assert_eq!(
            cells(Arc::new(UInt16Array::from(vec![65535u16]))),
            ["65535"]
        );
        assert_eq!(
            cells(Arc::new(UInt32Array::from(vec![u32::MAX]))),
            ["4294967295"]
        );
        assert_eq!(
            cells(Arc::new(UInt64Array::from(vec![
                Some(u64::MAX),
                None,
                Some(10)
            ]))),
            ["18446744073709551615", "\\N", "10"]
        );
    }

    #[test]
    fn tsv_floats_round_trip() {
        let a = Arc::new(Float64Array::from(vec![
            Some(1.5),
            Some(0.1),
            Some(-0.0),
            Some(1e300),
            Some(f64::MIN_POSITIVE),
            Some(1.0),
            None,
        ]));
        let c = cells(a);
        assert_eq!(c[..3], ["1.5", "0.1", "-0.0"]);
        assert_eq!(c[3].parse::<f64>().unwrap(), 1e300);
        assert_eq!(c[4].parse::<f64>().unwrap(), f64::MIN_POSITIVE);
        assert_eq!(c[5..], ["1.0", "\\N"]);
        let a = Arc::new(Float32Array::from(vec![
            Some(0.1f32),
            Some(3.4028235e38),
            None,
        ]));
        let c = cells(a);
        assert_eq!(c[0].parse::<f32>().unwrap(), 0.1);
        assert_eq!(c[1].parse::<f64>().unwrap(), f64::from(f32::MAX));
        assert_eq!(c[2], "\\N");
    }

    #[test]
    fn tsv_nan_and_infinity_rejected_with_column_and_row() {
        let err = encode_err(Arc::new(Float64Array::from(vec![1.0, 2.0, f64::NAN])));
        assert!(err.contains("column 'c'"), "{err}");
        assert!(err.contains("row 3"), "{err}");
        assert!(err.contains("NaN"), "{err}");
        let err = encode_err(Arc::new(Float32Array::from(vec![f32::NEG_INFINITY])));
        assert!(err.contains("row 1") && err.contains("infinity"), "{err}");
    }

    #[test]
    fn tsv_error_rows_count_across_batches() {
        let (mut enc, batch) = encoder_for(&[(
            "x",
            Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef,
        )]);
        let mut out = Vec::new();
        enc.encode(&batch, &mut out).unwrap();
        let bad = RecordBatch::try_new(
            batch.schema(),
            vec![Arc::new(Float64Array::from(vec![3.0, f64::INFINITY]))],
        )
        .unwrap();
        let err = enc.encode(&bad, &mut out).unwrap_err().to_string();
        assert!(err.contains("column 'x'") && err.contains("row 4"), "{err}");
        assert_eq!(out, b"1.0\n2.0\n");
    }

    #[test]
    fn tsv_text_escaping() {
        let a = Arc::new(StringArray::from(vec![
            Some("a\tb"),
            Some("line1\nline2"),
            Some("cr\rlf"),
            Some("back\\slash"),
            Some("nul\0byte"),
            Some("quotes ' \" `"),
            Some("emoji 🦀 é"),
            Some(""),
            None,
            Some("\\N"),
        ]));
        assert_eq!(
            cells(a),
            [
                "a\\tb",
                "line1\\nline2",
                "cr\\rlf",
                "back\\\\slash",
                "nul\\0byte",
                "quotes ' \" `",
                "emoji 🦀 é",
                "",
                "\\N",
                "\\\\N",
            ]
        );
    }

    #[test]
    fn tsv_empty_string_is_not_null() {
        let out = encode(&[
            (
                "a",
                Arc::new(StringArray::from(vec![Some(""), None])) as ArrayRef,
            ),
            ("b", Arc::new(Int32Array::from(vec![Some(1), Some(2)]))),
        ]);
        assert_eq!(out, "\t1\n\\N\t2\n");
    }

    #[test]
    fn tsv_large_and_view_strings() {
        assert_eq!(
            cells(Arc::new(LargeStringArray::from(vec![Some("x\ty"), None]))),
            ["x\\ty", "\\N"]
        );
        assert_eq!(
            cells(Arc::new(StringViewArray::from(vec![
                Some("a string longer than twelve bytes\n"),
                None,
                Some("short"),
            ]))),
            ["a string longer than twelve bytes\\n", "\\N", "short"]
        );
    }

    #[test]
    fn tsv_dictionary_values() {
        let dict: DictionaryArray<Int32Type> =
            vec![Some("red"), None, Some("tab\there"), Some("red")]
                .into_iter()
                .collect();
        assert_eq!(cells(Arc::new(dict)), ["red", "\\N", "tab\\there", "red"]);
    }

    #[test]
    fn tsv_decimals() {
        let a = Decimal128Array::from(vec![
            Some(12345),
            Some(-12345),
            Some(5),
            Some(-5),
            Some(0),
            None,
        ])
        .with_precision_and_scale(10, 2)
        .unwrap();
        assert_eq!(
            cells(Arc::new(a)),
            ["123.45", "-123.45", "0.05", "-0.05", "0.00", "\\N"]
        );
        let max38 = 10i128.pow(38) - 1;
        let a = Decimal128Array::from(vec![max38, -max38])
            .with_precision_and_scale(38, 10)
            .unwrap();
        assert_eq!(
            cells(Arc::new(a)),
            [
                "9999999999999999999999999999.9999999999",
                "-9999999999999999999999999999.9999999999"
            ]
        );
        let a = Decimal128Array::from(vec![max38])
            .with_precision_and_scale(38, 0)
            .unwrap();
        assert_eq!(cells(Arc::new(a)), ["9".repeat(38)]);
        let a = Decimal128Array::from(vec![12, 0])
            .with_precision_and_scale(5, -3)
            .unwrap();
        assert_eq!(cells(Arc::new(a)), ["12000", "0"]);
        let a = Decimal256Array::from(vec![
            Some(i256::from_i128(-1)),
            Some(i256::from_i128(123456789)),
            None,
            Some(i256::from_i128(max38) * i256::from_i128(10)),
        ])
        .with_precision_and_scale(76, 4)
        .unwrap();
        assert_eq!(
            cells(Arc::new(a)),
            [
                "-0.0001",
                "12345.6789",
                "\\N",
                &format!("{}.9990", "9".repeat(35))
            ]
        );
    }

    #[test]
    fn tsv_binary_as_hex() {
        let a = BinaryArray::from(vec![
            Some(&[0u8, 0xff, 0x09, 0x5c][..]),
            Some(&b""[..]),
            None,
        ]);
        assert_eq!(cells(Arc::new(a)), ["00ff095c", "", "\\N"]);
        let a = LargeBinaryArray::from(vec![Some(&b"AB"[..])]);
        assert_eq!(cells(Arc::new(a)), ["4142"]);
        let a =
            FixedSizeBinaryArray::try_from_iter(vec![vec![1u8, 2], vec![0xab, 0xcd]].into_iter())
                .unwrap();
        assert_eq!(cells(Arc::new(a)), ["0102", "abcd"]);
    }

    #[test]
    fn tsv_dates() {
        // 0001-01-01 and 9999-12-31 as days since 1970-01-01.
        let a = Date32Array::from(vec![
            Some(-719_162),
            Some(2_932_896),
            Some(0),
            Some(19_782),
            None,
        ]);
        assert_eq!(
            cells(Arc::new(a)),
            [
                "0001-01-01",
                "9999-12-31",
                "1970-01-01",
                "2024-02-29",
                "\\N"
            ]
        );
        let err = encode_err(Arc::new(Date32Array::from(vec![-719_163])));
        assert!(err.contains("row 1") && err.contains("column 'c'"), "{err}");
    }

    #[test]
    fn tsv_timestamps() {
        let a = TimestampMicrosecondArray::from(vec![
            Some(1_700_000_000_123_456),
            Some(1_700_000_000_000_000),
            Some(-1),
            None,
        ]);
        assert_eq!(
            cells(Arc::new(a)),
            [
                "2023-11-14 22:13:20.123456",
                "2023-11-14 22:13:20",
                "1969-12-31 23:59:59.999999",
                "\\N"
            ]
        );
        assert_eq!(
            cells(Arc::new(TimestampSecondArray::from(vec![253_402_300_799]))),
            ["9999-12-31 23:59:59"]
        );
        assert_eq!(
            cells(Arc::new(TimestampMillisecondArray::from(vec![1_500]))),
            ["1970-01-01 00:00:01.500000"]
        );
        assert_eq!(
            cells(Arc::new(TimestampNanosecondArray::from(vec![1_999]))),
            ["1970-01-01 00:00:00.000001"]
        );
    }

    #[test]
    fn tsv_tz_timestamps_in_utc() {
        // Arrow stores the UTC instant; the zone only changes how it displays.
        let instant = 1_700_000_000_000_000i64; // 2023-11-14 22:13:20 UTC
        let a = TimestampMicrosecondArray::from(vec![Some(instant), None])
            .with_timezone("America/New_York");
        assert_eq!(cells(Arc::new(a)), ["2023-11-14 22:13:20", "\\N"]);
        let a = TimestampSecondArray::from(vec![instant / 1_000_000]).with_timezone("+09:00");
        assert_eq!(cells(Arc::new(a)), ["2023-11-14 22:13:20"]);
    }

    #[test]
    fn tsv_times() {
        assert_eq!(
            cells(Arc::new(Time32SecondArray::from(vec![
                Some(0),
                Some(86_399),
                None
            ]))),
            ["00:00:00", "23:59:59", "\\N"]
        );
        assert_eq!(
            cells(Arc::new(Time32MillisecondArray::from(vec![3_723_004]))),
            ["01:02:03.004000"]
        );
        assert_eq!(
            cells(Arc::new(Time64MicrosecondArray::from(vec![45_296_000_001]))),
            ["12:34:56.000001"]
        );
        assert_eq!(
            cells(Arc::new(Time64NanosecondArray::from(vec![
                45_296_123_456_789
            ]))),
            ["12:34:56.123456"]
        );
    }

    #[test]
    fn tsv_rows_interleave_and_buffers_are_reused() {
        let (mut enc, batch) = encoder_for(&[
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("name", Arc::new(StringArray::from(vec![Some("a"), None]))),
            ("ok", Arc::new(BooleanArray::from(vec![true, false]))),
        ]);
        let mut out = Vec::new();
        enc.encode(&batch, &mut out).unwrap();
        enc.encode(&batch.slice(1, 1), &mut out).unwrap();
        enc.encode(&batch.slice(0, 0), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1\ta\t1\n2\t\\N\t0\n2\t\\N\t0\n"
        );
    }

    #[test]
    fn tsv_unsupported_types_name_the_column() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
        ]));
        let err = TsvEncoder::new("dst", "t", schema).unwrap_err().to_string();
        assert!(err.contains("column 'tags'"), "{err}");
        assert!(err.contains("CAST"), "{err}");
    }

    #[test]
    fn tsv_mismatched_batch_rejected() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
        let mut enc = TsvEncoder::new("dst", "t", schema).unwrap();
        let other = RecordBatch::try_from_iter(vec![(
            "a",
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
        )])
        .unwrap();
        let err = enc.encode(&other, &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("column 'a'"), "{err}");
    }

    #[test]
    fn tsv_load_data_sql() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let enc = TsvEncoder::new("dst", "t", schema).unwrap();
        let cols = ["`id`".to_string(), "`name`".to_string()];
        let base = "INTO TABLE `db`.`t` CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`id`, `name`)";
        assert_eq!(
            enc.load_data_sql("`db`.`t`", &cols, &[], None),
            format!("LOAD DATA LOCAL INFILE 'barge' {base}")
        );
        assert_eq!(
            enc.load_data_sql("`db`.`t`", &cols, &[], Some("IGNORE")),
            format!("LOAD DATA LOCAL INFILE 'barge' IGNORE {base}")
        );
        assert_eq!(
            enc.load_data_sql("`db`.`t`", &cols, &[], Some("REPLACE")),
            format!("LOAD DATA LOCAL INFILE 'barge' REPLACE {base}")
        );
    }

    #[test]
    fn tsv_load_data_sql_bit_columns_take_numbers() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("flag", DataType::Boolean, true),
        ]));
        let enc = TsvEncoder::new("dst", "t", schema).unwrap();
        let cols = ["`id`".to_string(), "`flag`".to_string()];
        assert_eq!(
            enc.load_data_sql("`t`", &cols, &[false, true], None),
            "LOAD DATA LOCAL INFILE 'barge' INTO TABLE `t` CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' \
             (`id`, @barge_c1) SET `flag` = CAST(@barge_c1 AS UNSIGNED)"
        );
    }

    #[test]
    fn tsv_load_data_sql_binary_columns_unhex() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("blob", DataType::Binary, true),
            Field::new("hash", DataType::FixedSizeBinary(4), true),
        ]));
        let enc = TsvEncoder::new("dst", "t", schema).unwrap();
        let cols = [
            "`id`".to_string(),
            "`blob`".to_string(),
            "`hash`".to_string(),
        ];
        assert_eq!(
            enc.load_data_sql("`t`", &cols, &[false, false, true], Some("IGNORE")),
            "LOAD DATA LOCAL INFILE 'barge' IGNORE INTO TABLE `t` CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' \
             (`id`, @barge_c1, @barge_c2) SET `blob` = UNHEX(@barge_c1), `hash` = UNHEX(@barge_c2)"
        );
    }
}
