//! Reads SQL results into Arrow batches.
//!
//! [`run_query`] prepares the statement on a dedicated thread (rusqlite's
//! `Statement` and `Rows` borrow the connection, so they cannot be handed to
//! another thread) and streams batches of [`BATCH_ROWS`] rows through a
//! bounded channel; the returned iterator reads that channel. Dropping the
//! iterator stops the thread at its next batch.
//!
//! Every column is built as the Arrow type of the requested schema, whatever
//! storage class each SQLite cell has: see [`ColumnReader::append`] for the
//! conversions. A cell that cannot be converted exactly is an error naming
//! the connection, table, column, row and value.

mod convert;

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Date64Builder, Decimal128Builder,
    Decimal256Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    Int8Builder, LargeBinaryBuilder, LargeStringBuilder, StringBuilder, Time32MillisecondBuilder,
    Time32SecondBuilder, Time64MicrosecondBuilder, Time64NanosecondBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder, TimestampNanosecondBuilder,
    TimestampSecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder, UInt8Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use rusqlite::types::ValueRef;

use self::convert::{
    to_bool, to_bytes, to_days, to_decimal, to_f64, to_int, to_text, to_time, to_timestamp,
};
use super::connect::error_code;
use crate::dates::SECS_PER_DAY;
use crate::engines::BatchIter;
use crate::error::{EngineError, EngineResult};

/// Rows per Arrow batch read from SQLite.
pub const BATCH_ROWS: usize = 8192;

/// Batches in flight between the reader thread and the consumer.
const CHANNEL_BATCHES: usize = 2;

/// What the reader thread sends. `Done` marks a complete read: a channel
/// that closes without it means the thread died, never a short table.
enum Message {
    Batch(RecordBatch),
    Failed(EngineError),
    Done,
}

/// Runs `sql` on `conn` (moved to a new reader thread) and yields batches of
/// `schema`. Preparation errors are returned here; later ones by the iterator.
pub(crate) fn run_query(
    connection: &str,
    conn: rusqlite::Connection,
    sql: &str,
    schema: SchemaRef,
) -> EngineResult<BatchIter> {
    let ctx = Context {
        connection: connection.to_string(),
        table: table_label(sql),
        sql: sql.to_string(),
    };
    let (ready_tx, ready_rx) = sync_channel::<EngineResult<()>>(1);
    let (tx, rx) = sync_channel::<Message>(CHANNEL_BATCHES);
    let thread_ctx = ctx.clone();
    std::thread::Builder::new()
        .name("barge-sqlite-read".to_string())
        .spawn(move || produce(thread_ctx, conn, schema, ready_tx, tx))
        .map_err(|e| ctx.query_error(format!("cannot start a reader thread: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(ctx.query_error("the reader thread ended before the query started")),
    }
    Ok(Box::new(QueryIter {
        rx,
        ctx,
        finished: false,
    }))
}

/// Names used in error messages.
#[derive(Debug, Clone)]
struct Context {
    connection: String,
    /// The table read (from a `SELECT ... FROM "schema"."table"` scan), or `query`.
    table: String,
    sql: String,
}

impl Context {
    fn query_error(&self, message: impl ToString) -> EngineError {
        let table = (self.table != "query").then_some(self.table.as_str());
        EngineError::query(&self.connection, table, Some(&self.sql), message)
    }

    /// A failure SQLite returned for the query, with its result code.
    fn sqlite_error(&self, e: &rusqlite::Error) -> EngineError {
        self.query_error(e).with_code(error_code(e))
    }
}

/// The table a scan reads, for messages: the quoted name after the first
/// `FROM` (as `SqlTable` writes it), else `query`.
fn table_label(sql: &str) -> String {
    let upper = sql.to_ascii_uppercase();
    let Some(at) = upper.find(" FROM ") else {
        return "query".to_string();
    };
    let mut rest = sql[at + 6..].trim_start();
    let mut parts = Vec::new();
    while let Some(body) = rest.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if matches!(chars.peek(), Some((_, '"'))) {
                    chars.next();
                    name.push('"');
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                name.push(c);
            }
        }
        let Some(end) = end else { break };
        parts.push(name);
        rest = &body[end..];
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    let next_is_word_end = rest.is_empty() || rest.starts_with(char::is_whitespace);
    if parts.is_empty() || !next_is_word_end {
        return "query".to_string();
    }
    parts.join(".")
}

struct QueryIter {
    rx: Receiver<Message>,
    ctx: Context,
    finished: bool,
}

impl Iterator for QueryIter {
    type Item = EngineResult<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.rx.recv() {
            Ok(Message::Batch(batch)) => Some(Ok(batch)),
            Ok(Message::Failed(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            Ok(Message::Done) => {
                self.finished = true;
                None
            }
            Err(_) => {
                self.finished = true;
                Some(Err(self.ctx.query_error(
                    "the reader thread stopped before the end of the result",
                )))
            }
        }
    }
}

/// The reader thread: prepares, reports readiness, then streams batches.
fn produce(
    ctx: Context,
    conn: rusqlite::Connection,
    schema: SchemaRef,
    ready: SyncSender<EngineResult<()>>,
    tx: SyncSender<Message>,
) {
    let mut stmt = match conn.prepare(&ctx.sql) {
        Ok(stmt) => stmt,
        Err(e) => {
            let _ = ready.send(Err(ctx.sqlite_error(&e)));
            return;
        }
    };
    let fields = schema.fields().len();
    if fields > 0 && stmt.column_count() != fields {
        let _ = ready.send(Err(ctx.query_error(format!(
            "the query returns {} columns, {} were expected",
            stmt.column_count(),
            fields
        ))));
        return;
    }
    let mut reader = match BatchReader::new(&ctx, schema) {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(())).is_err() {
        return;
    }
    let mut rows = stmt.raw_query();
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Message::Failed(ctx.sqlite_error(&e)));
                return;
            }
        };
        if let Err(e) = reader.append_row(row) {
            let _ = tx.send(Message::Failed(e));
            return;
        }
        if reader.len() == BATCH_ROWS {
            let message = match reader.finish() {
                Ok(batch) => Message::Batch(batch),
                Err(e) => Message::Failed(e),
            };
            let failed = matches!(message, Message::Failed(_));
            // A closed channel means the consumer is gone: stop reading.
            if tx.send(message).is_err() || failed {
                return;
            }
        }
    }
    if reader.len() > 0 {
        match reader.finish() {
            Ok(batch) => {
                if tx.send(Message::Batch(batch)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Message::Failed(e));
                return;
            }
        }
    }
    let _ = tx.send(Message::Done);
}

/// Accumulates rows into one batch of a fixed schema.
struct BatchReader {
    ctx: Context,
    schema: SchemaRef,
    columns: Vec<ColumnReader>,
    /// Rows in the batch being built.
    rows: usize,
    /// Rows read before the batch being built (for 1-based row numbers in errors).
    rows_before: u64,
}

impl BatchReader {
    fn new(ctx: &Context, schema: SchemaRef) -> EngineResult<Self> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                ColumnReader::new(f).ok_or_else(|| {
                    EngineError::column(
                        &ctx.connection,
                        &ctx.table,
                        f.name(),
                        format!("cannot read SQLite values as Arrow type {}", f.data_type()),
                    )
                })
            })
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Self {
            ctx: ctx.clone(),
            schema,
            columns,
            rows: 0,
            rows_before: 0,
        })
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn append_row(&mut self, row: &rusqlite::Row<'_>) -> EngineResult<()> {
        let row_number = self.rows_before + self.rows as u64 + 1;
        for (i, column) in self.columns.iter_mut().enumerate() {
            let value = row.get_ref(i).map_err(|e| self.ctx.query_error(e))?;
            column.append(value).map_err(|reason| {
                EngineError::column(
                    &self.ctx.connection,
                    &self.ctx.table,
                    &column.name,
                    format!(
                        "row {row_number}: cannot read {} as {}: {reason}",
                        describe_value(value),
                        column.data_type
                    ),
                )
            })?;
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> EngineResult<RecordBatch> {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnReader::finish).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map_err(|e| self.ctx.query_error(e))?;
        self.rows_before += self.rows as u64;
        self.rows = 0;
        Ok(batch)
    }
}

/// A value for error messages: storage class and (shortened) content.
pub(crate) fn describe_value(value: ValueRef<'_>) -> String {
    const MAX: usize = 60;
    match value {
        ValueRef::Null => "NULL".to_string(),
        ValueRef::Integer(i) => format!("INTEGER {i}"),
        ValueRef::Real(r) => format!("REAL {r:?}"),
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            if text.chars().count() > MAX {
                let short: String = text.chars().take(MAX).collect();
                format!("TEXT {short:?}… ({} bytes)", t.len())
            } else {
                format!("TEXT {text:?}")
            }
        }
        ValueRef::Blob(b) => {
            let hex: String = b.iter().take(MAX / 2).map(|x| format!("{x:02x}")).collect();
            let more = if b.len() > MAX / 2 { "…" } else { "" };
            format!("BLOB x'{hex}{more}' ({} bytes)", b.len())
        }
    }
}

/// One column's builder, by target Arrow type.
enum Builder {
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    UInt8(UInt8Builder),
    UInt16(UInt16Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal128(Decimal128Builder, u8, i8),
    Decimal256(Decimal256Builder, u8, i8),
    Utf8(StringBuilder),
    LargeUtf8(LargeStringBuilder),
    Binary(BinaryBuilder),
    LargeBinary(LargeBinaryBuilder),
    Date32(Date32Builder),
    Date64(Date64Builder),
    TimestampSecond(TimestampSecondBuilder, bool),
    TimestampMillisecond(TimestampMillisecondBuilder, bool),
    TimestampMicrosecond(TimestampMicrosecondBuilder, bool),
    TimestampNanosecond(TimestampNanosecondBuilder, bool),
    Time32Second(Time32SecondBuilder),
    Time32Millisecond(Time32MillisecondBuilder),
    Time64Microsecond(Time64MicrosecondBuilder),
    Time64Nanosecond(Time64NanosecondBuilder),
}

/// Converts SQLite cells of one column into its Arrow builder.
pub(crate) struct ColumnReader {
    name: String,
    data_type: DataType,
    nullable: bool,
    builder: Builder,
    /// Scratch text for number formatting.
    scratch: String,
}

impl ColumnReader {
    /// A reader for `field`, `None` when its type is not supported.
    pub(crate) fn new(field: &Field) -> Option<Self> {
        let n = BATCH_ROWS;
        let dt = field.data_type();
        let builder = match dt {
            DataType::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(n)),
            DataType::Int8 => Builder::Int8(Int8Builder::with_capacity(n)),
            DataType::Int16 => Builder::Int16(Int16Builder::with_capacity(n)),
            DataType::Int32 => Builder::Int32(Int32Builder::with_capacity(n)),
            DataType::Int64 => Builder::Int64(Int64Builder::with_capacity(n)),
            DataType::UInt8 => Builder::UInt8(UInt8Builder::with_capacity(n)),
            DataType::UInt16 => Builder::UInt16(UInt16Builder::with_capacity(n)),
            DataType::UInt32 => Builder::UInt32(UInt32Builder::with_capacity(n)),
            DataType::UInt64 => Builder::UInt64(UInt64Builder::with_capacity(n)),
            DataType::Float32 => Builder::Float32(Float32Builder::with_capacity(n)),
            DataType::Float64 => Builder::Float64(Float64Builder::with_capacity(n)),
            DataType::Decimal128(p, s) => Builder::Decimal128(
                Decimal128Builder::with_capacity(n)
                    .with_precision_and_scale(*p, *s)
                    .ok()?,
                *p,
                *s,
            ),
            DataType::Decimal256(p, s) => Builder::Decimal256(
                Decimal256Builder::with_capacity(n)
                    .with_precision_and_scale(*p, *s)
                    .ok()?,
                *p,
                *s,
            ),
            DataType::Utf8 => Builder::Utf8(StringBuilder::new()),
            DataType::LargeUtf8 => Builder::LargeUtf8(LargeStringBuilder::new()),
            DataType::Binary => Builder::Binary(BinaryBuilder::new()),
            DataType::LargeBinary => Builder::LargeBinary(LargeBinaryBuilder::new()),
            DataType::Date32 => Builder::Date32(Date32Builder::with_capacity(n)),
            DataType::Date64 => Builder::Date64(Date64Builder::with_capacity(n)),
            DataType::Timestamp(unit, tz) => {
                let has_tz = tz.is_some();
                let tz = tz.clone();
                match unit {
                    TimeUnit::Second => Builder::TimestampSecond(
                        TimestampSecondBuilder::with_capacity(n).with_timezone_opt(tz),
                        has_tz,
                    ),
                    TimeUnit::Millisecond => Builder::TimestampMillisecond(
                        TimestampMillisecondBuilder::with_capacity(n).with_timezone_opt(tz),
                        has_tz,
                    ),
                    TimeUnit::Microsecond => Builder::TimestampMicrosecond(
                        TimestampMicrosecondBuilder::with_capacity(n).with_timezone_opt(tz),
                        has_tz,
                    ),
                    TimeUnit::Nanosecond => Builder::TimestampNanosecond(
                        TimestampNanosecondBuilder::with_capacity(n).with_timezone_opt(tz),
                        has_tz,
                    ),
                }
            }
            DataType::Time32(TimeUnit::Second) => {
                Builder::Time32Second(Time32SecondBuilder::with_capacity(n))
            }
            DataType::Time32(TimeUnit::Millisecond) => {
                Builder::Time32Millisecond(Time32MillisecondBuilder::with_capacity(n))
            }
            DataType::Time64(TimeUnit::Microsecond) => {
                Builder::Time64Microsecond(Time64MicrosecondBuilder::with_capacity(n))
            }
            DataType::Time64(TimeUnit::Nanosecond) => {
                Builder::Time64Nanosecond(Time64NanosecondBuilder::with_capacity(n))
            }
            _ => return None,
        };
        Some(Self {
            name: field.name().clone(),
            data_type: dt.clone(),
            nullable: field.is_nullable(),
            builder,
            scratch: String::new(),
        })
    }

    /// Appends one cell; the error is the reason it cannot be converted.
    ///
    /// Conversions, by target type (NULL is NULL everywhere):
    /// - integers: INTEGER in range; REAL or TEXT holding an exact integer;
    /// - floats: REAL; INTEGER; TEXT holding a number;
    /// - booleans: INTEGER or REAL 0/1; TEXT `true`/`false`/`t`/`f`/`1`/`0`;
    /// - decimals: INTEGER; REAL (its shortest decimal form); TEXT; rounded
    ///   half away from zero to the scale, an error beyond the precision;
    /// - text: TEXT; INTEGER and REAL rendered; BLOB holding UTF-8;
    /// - binary: BLOB; TEXT as its UTF-8 bytes;
    /// - dates, timestamps, times: ISO text (see `types::parse_datetime`) or
    ///   INTEGER unix seconds (seconds since midnight for times).
    pub(crate) fn append(&mut self, value: ValueRef<'_>) -> Result<(), String> {
        if matches!(value, ValueRef::Null) {
            if !self.nullable {
                return Err("the column is NOT NULL in the schema".to_string());
            }
            self.append_null();
            return Ok(());
        }
        let scratch = &mut self.scratch;
        match &mut self.builder {
            Builder::Boolean(b) => b.append_value(to_bool(value)?),
            Builder::Int8(b) => b.append_value(to_int(value)?),
            Builder::Int16(b) => b.append_value(to_int(value)?),
            Builder::Int32(b) => b.append_value(to_int(value)?),
            Builder::Int64(b) => b.append_value(to_int(value)?),
            Builder::UInt8(b) => b.append_value(to_int(value)?),
            Builder::UInt16(b) => b.append_value(to_int(value)?),
            Builder::UInt32(b) => b.append_value(to_int(value)?),
            Builder::UInt64(b) => b.append_value(to_int(value)?),
            Builder::Float32(b) => b.append_value(to_f64(value)? as f32),
            Builder::Float64(b) => b.append_value(to_f64(value)?),
            Builder::Decimal128(b, p, s) => {
                let d = to_decimal(value, *p, *s, scratch)?;
                // Fits: the precision is at most 38 digits.
                b.append_value(d.as_i128())
            }
            Builder::Decimal256(b, p, s) => b.append_value(to_decimal(value, *p, *s, scratch)?),
            Builder::Utf8(b) => b.append_value(to_text(value, scratch)?),
            Builder::LargeUtf8(b) => b.append_value(to_text(value, scratch)?),
            Builder::Binary(b) => b.append_value(to_bytes(value)?),
            Builder::LargeBinary(b) => b.append_value(to_bytes(value)?),
            Builder::Date32(b) => {
                let days = to_days(value)?;
                b.append_value(i32::try_from(days).map_err(|_| "the date is out of range")?)
            }
            Builder::Date64(b) => {
                let ms = to_days(value)?
                    .checked_mul(SECS_PER_DAY * 1000)
                    .ok_or("the date is out of range")?;
                b.append_value(ms)
            }
            Builder::TimestampSecond(b, tz) => {
                b.append_value(to_timestamp(value, *tz, TimeUnit::Second)?)
            }
            Builder::TimestampMillisecond(b, tz) => {
                b.append_value(to_timestamp(value, *tz, TimeUnit::Millisecond)?)
            }
            Builder::TimestampMicrosecond(b, tz) => {
                b.append_value(to_timestamp(value, *tz, TimeUnit::Microsecond)?)
            }
            Builder::TimestampNanosecond(b, tz) => {
                b.append_value(to_timestamp(value, *tz, TimeUnit::Nanosecond)?)
            }
            Builder::Time32Second(b) => b.append_value(to_time(value, TimeUnit::Second)? as i32),
            Builder::Time32Millisecond(b) => {
                b.append_value(to_time(value, TimeUnit::Millisecond)? as i32)
            }
            Builder::Time64Microsecond(b) => b.append_value(to_time(value, TimeUnit::Microsecond)?),
            Builder::Time64Nanosecond(b) => b.append_value(to_time(value, TimeUnit::Nanosecond)?),
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match &mut self.builder {
            Builder::Boolean(b) => b.append_null(),
            Builder::Int8(b) => b.append_null(),
            Builder::Int16(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::UInt8(b) => b.append_null(),
            Builder::UInt16(b) => b.append_null(),
            Builder::UInt32(b) => b.append_null(),
            Builder::UInt64(b) => b.append_null(),
            Builder::Float32(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Decimal128(b, ..) => b.append_null(),
            Builder::Decimal256(b, ..) => b.append_null(),
            Builder::Utf8(b) => b.append_null(),
            Builder::LargeUtf8(b) => b.append_null(),
            Builder::Binary(b) => b.append_null(),
            Builder::LargeBinary(b) => b.append_null(),
            Builder::Date32(b) => b.append_null(),
            Builder::Date64(b) => b.append_null(),
            Builder::TimestampSecond(b, _) => b.append_null(),
            Builder::TimestampMillisecond(b, _) => b.append_null(),
            Builder::TimestampMicrosecond(b, _) => b.append_null(),
            Builder::TimestampNanosecond(b, _) => b.append_null(),
            Builder::Time32Second(b) => b.append_null(),
            Builder::Time32Millisecond(b) => b.append_null(),
            Builder::Time64Microsecond(b) => b.append_null(),
            Builder::Time64Nanosecond(b) => b.append_null(),
        }
    }

    /// The column built so far; the builder starts over.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        match &mut self.builder {
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Int8(b) => Arc::new(b.finish()),
            Builder::Int16(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::UInt8(b) => Arc::new(b.finish()),
            Builder::UInt16(b) => Arc::new(b.finish()),
            Builder::UInt32(b) => Arc::new(b.finish()),
            Builder::UInt64(b) => Arc::new(b.finish()),
            Builder::Float32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Decimal128(b, ..) => Arc::new(b.finish()),
            Builder::Decimal256(b, ..) => Arc::new(b.finish()),
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::LargeUtf8(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
            Builder::LargeBinary(b) => Arc::new(b.finish()),
            Builder::Date32(b) => Arc::new(b.finish()),
            Builder::Date64(b) => Arc::new(b.finish()),
            Builder::TimestampSecond(b, _) => Arc::new(b.finish()),
            Builder::TimestampMillisecond(b, _) => Arc::new(b.finish()),
            Builder::TimestampMicrosecond(b, _) => Arc::new(b.finish()),
            Builder::TimestampNanosecond(b, _) => Arc::new(b.finish()),
            Builder::Time32Second(b) => Arc::new(b.finish()),
            Builder::Time32Millisecond(b) => Arc::new(b.finish()),
            Builder::Time64Microsecond(b) => Arc::new(b.finish()),
            Builder::Time64Nanosecond(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests;
