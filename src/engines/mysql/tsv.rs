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

mod text;

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

use self::text::{
    put_date, put_datetime, put_decimal, put_float, put_hex, put_i64, put_text, put_time, put_u64,
    u128_digits,
};
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

#[cfg(test)]
mod tests;
