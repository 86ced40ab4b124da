//! Reads a `SELECT` into Arrow batches.
//!
//! The query runs as a prepared statement (binary protocol: numbers, dates
//! and times arrive as binary values, not text) in a task on the tokio
//! runtime. The task decodes rows straight into Arrow builders and hands
//! every [`BATCH_ROWS`] rows to the reader thread over a bounded channel, so
//! a table is never held in memory whole. When the consumer goes away the
//! task closes its session instead of draining the rest of the result.
//!
//! Zero dates (`0000-00-00`, `0000-00-00 00:00:00`) read as NULL; they are
//! counted per column, logged with `tracing::warn!` and added to the
//! connection's [`MySqlConnection::zero_dates_read`]. A value that does not
//! fit its column's Arrow type fails the read, naming column, row and value.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Decimal256Builder,
    DurationMicrosecondBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, Int8Builder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder,
    UInt32Builder, UInt64Builder, UInt8Builder,
};
use datafusion::arrow::datatypes::{i256, DataType, Field, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use tokio::sync::mpsc;

use super::connect::MySqlConnection;
use crate::engines::BatchIter;
use crate::error::{EngineError, EngineResult};

/// Rows per Arrow batch.
pub const BATCH_ROWS: usize = 8192;

/// Batches in flight between the reading task and the consumer.
const CHANNEL_BATCHES: usize = 2;

enum Message {
    Batch(RecordBatch),
    Failed(EngineError),
    Done,
}

/// Runs `sql` and yields batches of `schema`. Must be called where a tokio
/// runtime is current (DataFusion's blocking reader thread is).
pub(crate) fn run_query(
    mysql: &MySqlConnection,
    sql: &str,
    schema: SchemaRef,
) -> EngineResult<BatchIter> {
    let handle = tokio::runtime::Handle::try_current().map_err(|e| {
        EngineError::query(
            &mysql.name,
            None,
            Some(sql),
            format!("no async runtime: {e}"),
        )
    })?;
    // Fail on a type the decoder cannot build before any round trip.
    let table = table_label(sql);
    for field in schema.fields() {
        if Decoder::new(field).is_none() {
            return Err(EngineError::column(
                &mysql.name,
                &table,
                field.name(),
                format!("barge cannot read MySQL values as {}", field.data_type()),
            ));
        }
    }
    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let connection = mysql.name.clone();
    let mysql = mysql.clone();
    let sql = sql.to_string();
    handle.spawn(async move {
        let message = match read(&mysql, &sql, &table, schema, &tx).await {
            Ok(()) => Message::Done,
            Err(e) => Message::Failed(e),
        };
        let _ = tx.send(message).await;
    });
    Ok(Box::new(Batches {
        rx,
        done: false,
        connection,
    }))
}

/// The consumer's end of the channel. The task ends with `Done` or `Failed`;
/// a channel that closes without either (the task panicked or was dropped)
/// is an error, never the end of the data.
struct Batches {
    rx: mpsc::Receiver<Message>,
    done: bool,
    connection: String,
}

impl Iterator for Batches {
    type Item = EngineResult<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.rx.blocking_recv() {
            Some(Message::Batch(b)) => Some(Ok(b)),
            Some(Message::Done) => {
                self.done = true;
                None
            }
            Some(Message::Failed(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                self.done = true;
                Some(Err(EngineError::query(
                    &self.connection,
                    None,
                    None,
                    "the MySQL read ended before its last row (the reading task stopped)",
                )))
            }
        }
    }
}

/// The reading task: query, decode, send. Returns `Ok` when the consumer
/// went away too.
async fn read(
    mysql: &MySqlConnection,
    sql: &str,
    table: &str,
    schema: SchemaRef,
    tx: &mpsc::Sender<Message>,
) -> EngineResult<()> {
    let query_error = |e: mysql_async::Error| mysql.server_error(Some(table), Some(sql), e);
    let mut session = mysql.read_session(table).await?;
    let mut result = session
        .conn()
        .exec_iter(sql, ())
        .await
        .map_err(query_error)?;
    let mut decoders: Vec<(Decoder, u64)> = schema
        .fields()
        .iter()
        .filter_map(|f| Decoder::new(f).map(|d| (d, 0)))
        .collect();
    let mut rows_in_batch = 0usize;
    let mut rows_done = 0u64;
    let mut cancelled = false;
    while let Some(row) = result.next().await.map_err(query_error)? {
        for (i, (decoder, zero_dates)) in decoders.iter_mut().enumerate() {
            let value = row.as_ref(i).unwrap_or(&Value::NULL);
            match decoder.append(value) {
                Ok(Appended::Value) => {}
                Ok(Appended::ZeroDate) => *zero_dates += 1,
                Err(message) => {
                    let name = schema.field(i).name();
                    return Err(EngineError::column(
                        &mysql.name,
                        table,
                        name,
                        format!(
                            "row {}: value {} {message}",
                            rows_done + rows_in_batch as u64 + 1,
                            show(value)
                        ),
                    ));
                }
            }
        }
        rows_in_batch += 1;
        if rows_in_batch == BATCH_ROWS {
            let batch = finish_batch(mysql, table, &schema, &mut decoders, rows_in_batch)?;
            rows_done += rows_in_batch as u64;
            rows_in_batch = 0;
            if tx.send(Message::Batch(batch)).await.is_err() {
                cancelled = true;
                break;
            }
        }
    }
    if cancelled {
        // Close the session rather than read the rest of the result.
        drop(result);
        session.close().await;
        return Ok(());
    }
    drop(result);
    session.release();
    if rows_in_batch > 0 {
        let batch = finish_batch(mysql, table, &schema, &mut decoders, rows_in_batch)?;
        if tx.send(Message::Batch(batch)).await.is_err() {
            return Ok(());
        }
    }
    for (field, (_, zero_dates)) in schema.fields().iter().zip(&decoders) {
        if *zero_dates > 0 {
            mysql.zero_dates.fetch_add(*zero_dates, Ordering::Relaxed);
            tracing::warn!(
                connection = %mysql.name,
                table = %table,
                column = %field.name(),
                count = *zero_dates,
                "MySQL zero dates (0000-00-00) read as NULL"
            );
        }
    }
    Ok(())
}

fn finish_batch(
    mysql: &MySqlConnection,
    table: &str,
    schema: &SchemaRef,
    decoders: &mut [(Decoder, u64)],
    rows: usize,
) -> EngineResult<RecordBatch> {
    let columns: Vec<ArrayRef> = decoders.iter_mut().map(|(d, _)| d.finish()).collect();
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| EngineError::query(&mysql.name, Some(table), None, e))
}

/// A value for an error message (long values cut).
fn show(value: &Value) -> String {
    let text = match value {
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("'{s}'"),
            Err(_) => format!(
                "0x{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
        },
        Value::NULL => "NULL".to_string(),
        other => other.as_sql(false),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// `db.t` of `SELECT ... FROM `db`.`t` ...` (for messages), else `query`.
pub(crate) fn table_label(sql: &str) -> String {
    let Some(at) = sql.find(" FROM ") else {
        return "query".to_string();
    };
    let rest = &sql[at + 6..];
    let mut label = String::new();
    let mut chars = rest.chars().peekable();
    while chars.next_if_eq(&'`').is_some() {
        while let Some(c) = chars.next() {
            if c == '`' {
                if chars.next_if_eq(&'`').is_some() {
                    label.push('`');
                } else {
                    break;
                }
            } else {
                label.push(c);
            }
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            label.push('.');
        } else {
            break;
        }
    }
    if label.is_empty() {
        "query".to_string()
    } else {
        label
    }
}

/// What one appended value was.
enum Appended {
    Value,
    /// A zero date, appended as NULL.
    ZeroDate,
}

/// Builds one Arrow column from MySQL values.
enum Decoder {
    Bool(BooleanBuilder),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Dec128(Decimal128Builder, u8, i8),
    Dec256(Decimal256Builder, i8),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Date32(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Duration(DurationMicrosecondBuilder),
}

type Res = Result<Appended, String>;

const OUT_OF_RANGE: &str = "does not fit the column's type";

impl Decoder {
    fn new(field: &Field) -> Option<Self> {
        Some(match field.data_type() {
            DataType::Boolean => Decoder::Bool(BooleanBuilder::new()),
            DataType::Int8 => Decoder::I8(Int8Builder::new()),
            DataType::Int16 => Decoder::I16(Int16Builder::new()),
            DataType::Int32 => Decoder::I32(Int32Builder::new()),
            DataType::Int64 => Decoder::I64(Int64Builder::new()),
            DataType::UInt8 => Decoder::U8(UInt8Builder::new()),
            DataType::UInt16 => Decoder::U16(UInt16Builder::new()),
            DataType::UInt32 => Decoder::U32(UInt32Builder::new()),
            DataType::UInt64 => Decoder::U64(UInt64Builder::new()),
            DataType::Float32 => Decoder::F32(Float32Builder::new()),
            DataType::Float64 => Decoder::F64(Float64Builder::new()),
            DataType::Decimal128(p, s) => Decoder::Dec128(
                Decimal128Builder::new()
                    .with_precision_and_scale(*p, *s)
                    .ok()?,
                *p,
                *s,
            ),
            DataType::Decimal256(p, s) => Decoder::Dec256(
                Decimal256Builder::new()
                    .with_precision_and_scale(*p, *s)
                    .ok()?,
                *s,
            ),
            DataType::Utf8 => Decoder::Utf8(StringBuilder::new()),
            DataType::Binary => Decoder::Binary(BinaryBuilder::new()),
            DataType::Date32 => Decoder::Date32(Date32Builder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                Decoder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone()))
            }
            DataType::Duration(TimeUnit::Microsecond) => {
                Decoder::Duration(DurationMicrosecondBuilder::new())
            }
            _ => return None,
        })
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Decoder::Bool(b) => Arc::new(b.finish()),
            Decoder::I8(b) => Arc::new(b.finish()),
            Decoder::I16(b) => Arc::new(b.finish()),
            Decoder::I32(b) => Arc::new(b.finish()),
            Decoder::I64(b) => Arc::new(b.finish()),
            Decoder::U8(b) => Arc::new(b.finish()),
            Decoder::U16(b) => Arc::new(b.finish()),
            Decoder::U32(b) => Arc::new(b.finish()),
            Decoder::U64(b) => Arc::new(b.finish()),
            Decoder::F32(b) => Arc::new(b.finish()),
            Decoder::F64(b) => Arc::new(b.finish()),
            Decoder::Dec128(b, _, _) => Arc::new(b.finish()),
            Decoder::Dec256(b, _) => Arc::new(b.finish()),
            Decoder::Utf8(b) => Arc::new(b.finish()),
            Decoder::Binary(b) => Arc::new(b.finish()),
            Decoder::Date32(b) => Arc::new(b.finish()),
            Decoder::Timestamp(b) => Arc::new(b.finish()),
            Decoder::Duration(b) => Arc::new(b.finish()),
        }
    }

    fn append_null(&mut self) {
        match self {
            Decoder::Bool(b) => b.append_null(),
            Decoder::I8(b) => b.append_null(),
            Decoder::I16(b) => b.append_null(),
            Decoder::I32(b) => b.append_null(),
            Decoder::I64(b) => b.append_null(),
            Decoder::U8(b) => b.append_null(),
            Decoder::U16(b) => b.append_null(),
            Decoder::U32(b) => b.append_null(),
            Decoder::U64(b) => b.append_null(),
            Decoder::F32(b) => b.append_null(),
            Decoder::F64(b) => b.append_null(),
            Decoder::Dec128(b, _, _) => b.append_null(),
            Decoder::Dec256(b, _) => b.append_null(),
            Decoder::Utf8(b) => b.append_null(),
            Decoder::Binary(b) => b.append_null(),
            Decoder::Date32(b) => b.append_null(),
            Decoder::Timestamp(b) => b.append_null(),
            Decoder::Duration(b) => b.append_null(),
        }
    }

    /// Appends one value; on error returns why (the caller adds column, row
    /// and value).
    fn append(&mut self, value: &Value) -> Res {
        if matches!(value, Value::NULL) {
            self.append_null();
            return Ok(Appended::Value);
        }
        match self {
            Decoder::Bool(b) => b.append_value(to_bool(value)?),
            Decoder::I8(b) => b.append_value(int(value)?),
            Decoder::I16(b) => b.append_value(int(value)?),
            Decoder::I32(b) => b.append_value(int(value)?),
            Decoder::I64(b) => b.append_value(int(value)?),
            Decoder::U8(b) => b.append_value(int(value)?),
            Decoder::U16(b) => b.append_value(int(value)?),
            Decoder::U32(b) => b.append_value(int(value)?),
            Decoder::U64(b) => b.append_value(int(value)?),
            Decoder::F32(b) => b.append_value(match value {
                Value::Float(f) => *f,
                Value::Double(d) => {
                    let f = *d as f32;
                    if f64::from(f) != *d && d.is_finite() {
                        return Err(OUT_OF_RANGE.to_string());
                    }
                    f
                }
                Value::Bytes(t) => text(t)?
                    .trim()
                    .parse()
                    .map_err(|_| "is not a number".to_string())?,
                _ => return Err("is not a FLOAT".to_string()),
            }),
            Decoder::F64(b) => b.append_value(match value {
                Value::Double(d) => *d,
                Value::Float(f) => f64::from(*f),
                Value::Int(i) => *i as f64,
                Value::UInt(u) => *u as f64,
                Value::Bytes(t) => text(t)?
                    .trim()
                    .parse()
                    .map_err(|_| "is not a number".to_string())?,
                _ => return Err("is not a DOUBLE".to_string()),
            }),
            Decoder::Dec128(b, p, s) => {
                let v = decimal(value, *s)?;
                let v = v.to_i128().ok_or(OUT_OF_RANGE)?;
                if v.unsigned_abs() >= 10u128.pow(u32::from(*p)) {
                    return Err(OUT_OF_RANGE.to_string());
                }
                b.append_value(v)
            }
            Decoder::Dec256(b, s) => b.append_value(decimal(value, *s)?),
            Decoder::Utf8(b) => match value {
                Value::Bytes(t) => b.append_value(text(t)?),
                other => b.append_value(other.as_sql(true).trim_matches('\'')),
            },
            Decoder::Binary(b) => match value {
                Value::Bytes(t) => b.append_value(t),
                _ => return Err("is not binary data".to_string()),
            },
            Decoder::Date32(b) => match value {
                Value::Date(y, m, d, h, mi, s, us) => {
                    if is_zero_date(*y, *m, *d) {
                        b.append_null();
                        return Ok(Appended::ZeroDate);
                    }
                    if (*h, *mi, *s, *us) != (0, 0, 0, 0) {
                        return Err("has a time of day; the column is a DATE".to_string());
                    }
                    b.append_value(civil_days(*y, *m, *d)? as i32)
                }
                _ => return Err("is not a DATE".to_string()),
            },
            Decoder::Timestamp(b) => match value {
                Value::Date(y, m, d, h, mi, s, us) => {
                    if is_zero_date(*y, *m, *d) {
                        b.append_null();
                        return Ok(Appended::ZeroDate);
                    }
                    if *h > 23 || *mi > 59 || *s > 59 || *us > 999_999 {
                        return Err("is not a valid time of day".to_string());
                    }
                    let days = civil_days(*y, *m, *d)?;
                    let secs =
                        days * 86_400 + i64::from(*h) * 3_600 + i64::from(*mi) * 60 + i64::from(*s);
                    b.append_value(secs * 1_000_000 + i64::from(*us))
                }
                _ => return Err("is not a DATETIME/TIMESTAMP".to_string()),
            },
            Decoder::Duration(b) => match value {
                Value::Time(negative, days, h, m, s, us) => {
                    let secs = i64::from(*days) * 86_400
                        + i64::from(*h) * 3_600
                        + i64::from(*m) * 60
                        + i64::from(*s);
                    let micros = secs * 1_000_000 + i64::from(*us);
                    b.append_value(if *negative { -micros } else { micros })
                }
                _ => return Err("is not a TIME".to_string()),
            },
        }
        Ok(Appended::Value)
    }
}

fn text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| {
        "is not valid UTF-8\n  hint: the column's character set is not utf8mb4-compatible, or it holds binary data; convert it on the server, e.g. ALTER TABLE ... MODIFY ... VARBINARY(..)".to_string()
    })
}

fn int<T: TryFrom<i64> + TryFrom<u64>>(value: &Value) -> Result<T, String> {
    match value {
        Value::Int(i) => T::try_from(*i).map_err(|_| OUT_OF_RANGE.to_string()),
        Value::UInt(u) => T::try_from(*u).map_err(|_| OUT_OF_RANGE.to_string()),
        Value::Bytes(t) => {
            let t = text(t)?.trim();
            if let Ok(i) = t.parse::<i64>() {
                T::try_from(i).map_err(|_| OUT_OF_RANGE.to_string())
            } else if let Ok(u) = t.parse::<u64>() {
                T::try_from(u).map_err(|_| OUT_OF_RANGE.to_string())
            } else {
                Err("is not an integer".to_string())
            }
        }
        _ => Err("is not an integer".to_string()),
    }
}

fn to_bool(value: &Value) -> Result<bool, String> {
    let not_bool = || {
        "is not a boolean (0 or 1)\n  hint: the column is TINYINT(1) or BIT(1), read as BOOLEAN; store only 0 and 1 in it, or make it TINYINT(2)/BIT(2) to read it as a number".to_string()
    };
    match value {
        Value::Int(0) | Value::UInt(0) => Ok(false),
        Value::Int(1) | Value::UInt(1) => Ok(true),
        // BIT(1) arrives as one byte; text protocol as a digit.
        Value::Bytes(b) => match b.as_slice() {
            [0] | b"0" => Ok(false),
            [1] | b"1" => Ok(true),
            _ => Err(not_bool()),
        },
        _ => Err(not_bool()),
    }
}

/// The unscaled value of a decimal at `scale` (MySQL sends decimals as text).
fn decimal(value: &Value, scale: i8) -> Result<i256, String> {
    match value {
        Value::Bytes(t) => parse_decimal(text(t)?, scale),
        Value::Int(i) => parse_decimal(&i.to_string(), scale),
        Value::UInt(u) => parse_decimal(&u.to_string(), scale),
        _ => Err("is not a DECIMAL".to_string()),
    }
}

/// Parses `[-]digits[.digits]` exactly at `scale`; more fractional digits
/// than `scale` is an error (never rounded).
pub(crate) fn parse_decimal(text: &str, scale: i8) -> Result<i256, String> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err("is not a decimal number".to_string());
    }
    let scale = usize::try_from(scale).map_err(|_| "has a negative scale".to_string())?;
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > scale {
        return Err(format!("has more than {scale} fractional digits"));
    }
    let ten = i256::from_i128(10);
    let mut v = i256::ZERO;
    let digits = int_part
        .bytes()
        .chain(frac_part.bytes().take(scale))
        .chain(std::iter::repeat_n(
            b'0',
            scale.saturating_sub(frac_part.len()),
        ));
    for c in digits {
        if !c.is_ascii_digit() {
            return Err("is not a decimal number".to_string());
        }
        v = v
            .checked_mul(ten)
            .and_then(|v| v.checked_add(i256::from_i128(i128::from(c - b'0'))))
            .ok_or(OUT_OF_RANGE)?;
    }
    Ok(if negative { v.wrapping_neg() } else { v })
}

fn is_zero_date(y: u16, m: u8, d: u8) -> bool {
    y == 0 && m == 0 && d == 0
}

/// Days since 1970-01-01 of a valid calendar date.
fn civil_days(y: u16, m: u8, d: u8) -> Result<i64, String> {
    if !(1..=12).contains(&m)
        || d == 0
        || u32::from(d) > crate::dates::days_in_month(i64::from(y), u32::from(m))
    {
        return Err(
            "is not a valid date (zero month or day?)\n  hint: fix the value on the server; only the whole zero date 0000-00-00 reads as NULL"
                .to_string(),
        );
    }
    Ok(crate::dates::days_from_civil(
        i64::from(y),
        u32::from(m),
        u32::from(d),
    ))
}

#[cfg(test)]
mod tests;
