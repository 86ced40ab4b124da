//! Reads query results by binary `COPY (SELECT ...) TO STDOUT` into Arrow.
//!
//! An async task on the runtime runs the COPY and gathers its rows into
//! chunks of about [`CHUNK_BYTES`]; a bounded channel hands the chunks to
//! the iterator, which decodes each on the caller's (blocking) thread: first
//! the tuple framing (where every field of every row is), then one loop per
//! column. Reading and decoding overlap, and memory stays at a few chunks
//! whatever the table's size.
//!
//! The stream must end with the COPY trailer and the server's completion:
//! a stream that stops early (a dropped connection, a killed query) is an
//! error, never a short table.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, StringArray,
    Time64MicrosecondArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{i256, DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::connector::Connector;
use super::copy_binary::{HEADER, PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use crate::engines::BatchIter;
use crate::error::{EngineError, EngineResult};

/// Bytes of COPY data decoded into one Arrow batch.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Chunks in flight between the COPY task and the decoder.
const CHANNEL_CHUNKS: usize = 2;

/// What the COPY task sends. A channel that closes without `Done` means the
/// task died: an error, never the end of the data.
enum Message {
    Chunk(Vec<u8>),
    Failed(EngineError),
    Done,
}

/// Runs `COPY (sql) TO STDOUT (FORMAT binary)` and yields batches of
/// `schema`, whose columns the query returns in their natural PostgreSQL
/// types (see `types.rs`). Called on a blocking thread.
pub(crate) fn run_copy_out(
    connector: &Connector,
    sql: &str,
    schema: SchemaRef,
) -> EngineResult<BatchIter> {
    let decoder = TupleDecoder::new(connector.name(), sql, schema)?;
    let handle = tokio::runtime::Handle::try_current().map_err(|e| {
        EngineError::query(
            connector.name(),
            None,
            Some(sql),
            format!("no async runtime: {e}"),
        )
    })?;
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let copy = format!("COPY ({sql}) TO STDOUT (FORMAT binary)");
    let connector = connector.clone();
    let task_sql = sql.to_string();
    handle.spawn(async move {
        let message = match produce(&connector, &copy, &tx).await {
            Ok(()) => Message::Done,
            Err(e) => Message::Failed(e.with_sql(&task_sql)),
        };
        let _ = tx.send(message).await;
    });
    Ok(Box::new(CopyOutIter {
        rx,
        decoder,
        carry: Vec::new(),
        header_read: false,
        trailer_seen: false,
        finished: false,
    }))
}

/// The COPY task: streams the rows into chunks of about [`CHUNK_BYTES`].
async fn produce(
    connector: &Connector,
    copy: &str,
    tx: &mpsc::Sender<Message>,
) -> EngineResult<()> {
    let client = connector.reader().await?;
    let stream = client
        .copy_out(copy)
        .await
        .map_err(|e| connector.error(None, e))?;
    futures::pin_mut!(stream);
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + 64 * 1024);
    while let Some(data) = stream.next().await {
        let data = data.map_err(|e| connector.error(None, e))?;
        chunk.extend_from_slice(&data);
        if chunk.len() >= CHUNK_BYTES {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 64 * 1024));
            if tx.send(Message::Chunk(full)).await.is_err() {
                // The consumer is gone (query cancelled or done with a LIMIT).
                return Ok(());
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Message::Chunk(chunk)).await;
    }
    Ok(())
}

/// Yields one batch per chunk of COPY data.
struct CopyOutIter {
    rx: mpsc::Receiver<Message>,
    decoder: TupleDecoder,
    /// An incomplete tuple left at the end of the previous chunk.
    carry: Vec<u8>,
    header_read: bool,
    trailer_seen: bool,
    finished: bool,
}

impl CopyOutIter {
    fn next_batch(&mut self) -> EngineResult<Option<RecordBatch>> {
        loop {
            let chunk = match self.rx.blocking_recv() {
                Some(Message::Chunk(chunk)) => chunk,
                Some(Message::Failed(e)) => return Err(e),
                Some(Message::Done) => {
                    if !self.trailer_seen || !self.carry.is_empty() {
                        return Err(self.decoder.error(None, "the COPY stream ended early"));
                    }
                    return Ok(None);
                }
                None => {
                    return Err(self
                        .decoder
                        .error(None, "the COPY task ended before the stream did"))
                }
            };
            let mut data = if self.carry.is_empty() {
                chunk
            } else {
                let mut data = std::mem::take(&mut self.carry);
                data.extend_from_slice(&chunk);
                data
            };
            let mut start = 0;
            if !self.header_read {
                match header_len(&data).map_err(|m| self.decoder.error(None, m))? {
                    Some(len) => {
                        start = len;
                        self.header_read = true;
                    }
                    None => {
                        self.carry = data;
                        continue;
                    }
                }
            }
            if self.trailer_seen {
                return Err(self.decoder.error(None, "data after the COPY trailer"));
            }
            let framed = self.decoder.frame(&data[start..])?;
            self.trailer_seen = framed.trailer;
            let end = start + framed.consumed;
            let batch = if framed.rows > 0 {
                Some(self.decoder.decode(&data[start..end], framed.rows)?)
            } else {
                None
            };
            if end < data.len() {
                data.drain(..end);
                self.carry = data;
            }
            if let Some(batch) = batch {
                return Ok(Some(batch));
            }
        }
    }
}

impl Iterator for CopyOutIter {
    type Item = EngineResult<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

/// Length of the binary COPY header at the start of `data`, `None` when
/// `data` does not hold all of it yet.
pub(crate) fn header_len(data: &[u8]) -> Result<Option<usize>, String> {
    if data.len() < 19 {
        return Ok(None);
    }
    if data[..11] != HEADER[..11] {
        return Err("the COPY stream does not start with the binary signature".to_string());
    }
    let extension = i32::from_be_bytes([data[15], data[16], data[17], data[18]]);
    let len = 19 + usize::try_from(extension).map_err(|_| "bad COPY header".to_string())?;
    Ok((data.len() >= len).then_some(len))
}

/// Where the complete tuples of a chunk end.
struct Framed {
    rows: usize,
    consumed: usize,
    trailer: bool,
}

/// How one column's fields are decoded.
#[derive(Debug, Clone)]
enum Decode {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Decimal128(u8, i8),
    Decimal256(u8, i8),
    Text,
    Bytes,
    Date,
    Time,
    Timestamp(Option<Arc<str>>),
}

impl Decode {
    fn of(data_type: &DataType) -> Option<Decode> {
        Some(match data_type {
            DataType::Boolean => Decode::Bool,
            DataType::Int16 => Decode::Int16,
            DataType::Int32 => Decode::Int32,
            DataType::Int64 => Decode::Int64,
            DataType::Float32 => Decode::Float32,
            DataType::Float64 => Decode::Float64,
            DataType::Decimal128(p, s) => Decode::Decimal128(*p, *s),
            DataType::Decimal256(p, s) => Decode::Decimal256(*p, *s),
            DataType::Utf8 => Decode::Text,
            DataType::Binary => Decode::Bytes,
            DataType::Date32 => Decode::Date,
            DataType::Time64(TimeUnit::Microsecond) => Decode::Time,
            DataType::Timestamp(TimeUnit::Microsecond, tz) => Decode::Timestamp(tz.clone()),
            _ => return None,
        })
    }
}

/// Decodes binary COPY tuples into batches of one schema.
pub(crate) struct TupleDecoder {
    connection: String,
    sql: String,
    schema: SchemaRef,
    columns: Vec<Decode>,
    /// Fields per tuple, and which of them the schema's columns are.
    width: usize,
    keep: Vec<usize>,
    /// Per row and column: start of the field's value and its length (-1: NULL).
    fields: Vec<(u32, i32)>,
}

impl TupleDecoder {
    pub(crate) fn new(connection: &str, sql: &str, schema: SchemaRef) -> EngineResult<Self> {
        let width = schema.fields().len();
        Self::projected(connection, sql, width, (0..width).collect(), schema)
    }

    /// A decoder of tuples of `width` fields that decodes only fields
    /// `keep`, into the columns of `schema` (one per kept field).
    pub(crate) fn projected(
        connection: &str,
        sql: &str,
        width: usize,
        keep: Vec<usize>,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                Decode::of(f.data_type()).ok_or_else(|| {
                    EngineError::query(
                        connection,
                        None,
                        Some(sql),
                        format!(
                            "column '{}': type {} is not read from PostgreSQL",
                            f.name(),
                            f.data_type()
                        ),
                    )
                })
            })
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Self {
            connection: connection.to_string(),
            sql: sql.to_string(),
            schema,
            columns,
            width,
            keep,
            fields: Vec::new(),
        })
    }

    /// Decodes `data`, which holds complete tuples only (no header, no
    /// trailer), into one batch.
    pub(crate) fn decode_tuples(&mut self, data: &[u8]) -> EngineResult<RecordBatch> {
        let framed = self.frame(data)?;
        if framed.trailer || framed.consumed != data.len() {
            return Err(self.error(None, "a COPY piece that does not hold whole tuples"));
        }
        self.decode(data, framed.rows)
    }

    fn error(&self, column: Option<&str>, message: impl std::fmt::Display) -> EngineError {
        let message = match column {
            Some(c) => format!("column '{c}': {message}"),
            None => message.to_string(),
        };
        EngineError::query(&self.connection, None, Some(&self.sql), message)
    }

    /// Finds the complete tuples at the start of `data`, recording where
    /// each field is.
    fn frame(&mut self, data: &[u8]) -> EngineResult<Framed> {
        let width = self.width;
        self.fields.clear();
        let mut pos = 0usize;
        let mut rows = 0usize;
        if data.len() > u32::MAX as usize {
            return Err(self.error(None, "a COPY chunk larger than 4 GiB"));
        }
        loop {
            let tuple_start = pos;
            let Some(count) = data.get(pos..pos + 2) else {
                break;
            };
            let count = i16::from_be_bytes([count[0], count[1]]);
            if count == -1 {
                return Ok(Framed {
                    rows,
                    consumed: pos + 2,
                    trailer: true,
                });
            }
            if count as usize != width {
                return Err(self.error(
                    None,
                    format!("a tuple has {count} fields, the query selects {width}"),
                ));
            }
            pos += 2;
            let mut complete = true;
            for _ in 0..width {
                let Some(len) = data.get(pos..pos + 4) else {
                    complete = false;
                    break;
                };
                let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
                pos += 4;
                self.fields.push((pos as u32, len));
                if len > 0 {
                    pos += len as usize;
                }
                if pos > data.len() {
                    complete = false;
                    break;
                }
            }
            if !complete {
                self.fields.truncate(rows * width);
                return Ok(Framed {
                    rows,
                    consumed: tuple_start,
                    trailer: false,
                });
            }
            rows += 1;
        }
        Ok(Framed {
            rows,
            consumed: pos,
            trailer: false,
        })
    }

    /// Decodes the `rows` tuples framed last, whose bytes are `data`.
    fn decode(&self, data: &[u8], rows: usize) -> EngineResult<RecordBatch> {
        let width = self.width;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (column, (decode, &index)) in self.columns.iter().zip(&self.keep).enumerate() {
            let fields = Column {
                data,
                fields: &self.fields,
                width,
                index,
                rows,
            };
            let name = self.schema.field(column).name();
            let array = decode_column(decode, &fields)
                .map_err(|(row, message)| self.error(Some(name), row_message(row, message)))?;
            arrays.push(array);
        }
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| self.error(None, e))
    }
}

fn row_message(row: Option<usize>, message: String) -> String {
    match row {
        Some(row) => format!("row {} of the batch: {message}", row + 1),
        None => message,
    }
}

/// The fields of one column in a framed chunk.
struct Column<'a> {
    data: &'a [u8],
    fields: &'a [(u32, i32)],
    width: usize,
    index: usize,
    rows: usize,
}

impl<'a> Column<'a> {
    /// The value of row `row`, `None` for NULL.
    #[inline]
    fn get(&self, row: usize) -> Option<&'a [u8]> {
        let (start, len) = self.fields[row * self.width + self.index];
        (len >= 0).then(|| &self.data[start as usize..start as usize + len as usize])
    }

    fn nulls(&self) -> Option<NullBuffer> {
        let valid: Vec<bool> = (0..self.rows)
            .map(|r| self.fields[r * self.width + self.index].1 >= 0)
            .collect();
        let nulls = NullBuffer::from(valid);
        (nulls.null_count() > 0).then_some(nulls)
    }
}

type Fail = (Option<usize>, String);

/// Decodes fixed-width values with `convert`; NULLs become the default.
fn fixed<T: Default + Copy, const W: usize>(
    column: &Column,
    convert: impl Fn([u8; W]) -> Result<T, String>,
) -> Result<(Vec<T>, Option<NullBuffer>), Fail> {
    let mut values = Vec::with_capacity(column.rows);
    for row in 0..column.rows {
        match column.get(row) {
            None => values.push(T::default()),
            Some(bytes) => {
                let raw: [u8; W] = bytes.try_into().map_err(|_| {
                    (
                        Some(row),
                        format!("a {}-byte value where {W} bytes were expected", bytes.len()),
                    )
                })?;
                values.push(convert(raw).map_err(|m| (Some(row), m))?);
            }
        }
    }
    Ok((values, column.nulls()))
}

fn decode_column(decode: &Decode, column: &Column) -> Result<ArrayRef, Fail> {
    Ok(match decode {
        Decode::Bool => {
            let (values, nulls) = fixed(column, |b: [u8; 1]| Ok(b[0] != 0))?;
            Arc::new(BooleanArray::new(BooleanBuffer::from(values), nulls))
        }
        Decode::Int16 => {
            let (values, nulls) = fixed(column, |b| Ok(i16::from_be_bytes(b)))?;
            Arc::new(Int16Array::new(values.into(), nulls))
        }
        Decode::Int32 => {
            let (values, nulls) = fixed(column, |b| Ok(i32::from_be_bytes(b)))?;
            Arc::new(Int32Array::new(values.into(), nulls))
        }
        Decode::Int64 => {
            let (values, nulls) = fixed(column, |b| Ok(i64::from_be_bytes(b)))?;
            Arc::new(Int64Array::new(values.into(), nulls))
        }
        Decode::Float32 => {
            let (values, nulls) = fixed(column, |b| Ok(f32::from_be_bytes(b)))?;
            Arc::new(Float32Array::new(values.into(), nulls))
        }
        Decode::Float64 => {
            let (values, nulls) = fixed(column, |b| Ok(f64::from_be_bytes(b)))?;
            Arc::new(Float64Array::new(values.into(), nulls))
        }
        Decode::Date => {
            let (values, nulls) = fixed(column, |b| {
                let days = i32::from_be_bytes(b);
                days.checked_add(PG_EPOCH_DAYS)
                    .filter(|_| days != i32::MAX && days != i32::MIN)
                    .ok_or_else(|| "date ±infinity has no Arrow value".to_string())
            })?;
            Arc::new(Date32Array::new(values.into(), nulls))
        }
        Decode::Time => {
            let (values, nulls) = fixed(column, |b| Ok(i64::from_be_bytes(b)))?;
            Arc::new(Time64MicrosecondArray::new(values.into(), nulls))
        }
        Decode::Timestamp(tz) => {
            let (values, nulls) = fixed(column, |b| {
                let micros = i64::from_be_bytes(b);
                if micros == i64::MAX || micros == i64::MIN {
                    return Err("timestamp ±infinity has no Arrow value".to_string());
                }
                micros
                    .checked_add(PG_EPOCH_MICROS)
                    .ok_or_else(|| "timestamp out of range".to_string())
            })?;
            Arc::new(
                TimestampMicrosecondArray::new(values.into(), nulls).with_timezone_opt(tz.clone()),
            )
        }
        Decode::Decimal128(precision, scale) => {
            let mut values = Vec::with_capacity(column.rows);
            for row in 0..column.rows {
                values.push(match column.get(row) {
                    None => 0,
                    Some(bytes) => numeric_i128(bytes, *scale).map_err(|m| (Some(row), m))?,
                });
            }
            let array = Decimal128Array::new(values.into(), column.nulls())
                .with_precision_and_scale(*precision, *scale)
                .map_err(|e| (None, e.to_string()))?;
            Arc::new(array)
        }
        Decode::Decimal256(precision, scale) => {
            let mut values = Vec::with_capacity(column.rows);
            for row in 0..column.rows {
                values.push(match column.get(row) {
                    None => i256::ZERO,
                    Some(bytes) => numeric_i256(bytes, *scale).map_err(|m| (Some(row), m))?,
                });
            }
            let array = Decimal256Array::new(values.into(), column.nulls())
                .with_precision_and_scale(*precision, *scale)
                .map_err(|e| (None, e.to_string()))?;
            Arc::new(array)
        }
        Decode::Text => {
            let (offsets, values) = variable(column)?;
            Arc::new(
                StringArray::try_new(offsets, values.into(), column.nulls())
                    .map_err(|e| (None, format!("text that is not valid UTF-8: {e}")))?,
            )
        }
        Decode::Bytes => {
            let (offsets, values) = variable(column)?;
            Arc::new(
                BinaryArray::try_new(offsets, values.into(), column.nulls())
                    .map_err(|e| (None, e.to_string()))?,
            )
        }
    })
}

/// Offsets and concatenated bytes of a variable-width column.
fn variable(column: &Column) -> Result<(OffsetBuffer<i32>, Vec<u8>), Fail> {
    let mut offsets = Vec::with_capacity(column.rows + 1);
    let total: usize = (0..column.rows)
        .map(|r| column.get(r).map_or(0, <[u8]>::len))
        .sum();
    if total > i32::MAX as usize {
        return Err((None, "more than 2 GiB of values in one batch".to_string()));
    }
    let mut values = Vec::with_capacity(total);
    offsets.push(0i32);
    for row in 0..column.rows {
        if let Some(bytes) = column.get(row) {
            values.extend_from_slice(bytes);
        }
        offsets.push(values.len() as i32);
    }
    Ok((OffsetBuffer::new(offsets.into()), values))
}

/// The parts of a binary numeric: digits (base 10000), the weight of the
/// first digit, and the sign.
fn numeric_parts(bytes: &[u8]) -> Result<(&[u8], i32, bool), String> {
    if bytes.len() < 8 {
        return Err("a truncated numeric".to_string());
    }
    let ndigits = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
    let weight = i32::from(i16::from_be_bytes([bytes[2], bytes[3]]));
    let sign = u16::from_be_bytes([bytes[4], bytes[5]]);
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Err("NaN cannot be stored in a decimal".to_string()),
        0xD000 => return Err("Infinity cannot be stored in a decimal".to_string()),
        0xF000 => return Err("-Infinity cannot be stored in a decimal".to_string()),
        other => return Err(format!("a numeric with sign word {other:#06x}")),
    };
    let digits = bytes
        .get(8..8 + 2 * ndigits)
        .ok_or_else(|| "a truncated numeric".to_string())?;
    Ok((digits, weight, negative))
}

/// A binary numeric as an integer count of `10^-scale`.
fn numeric_i128(bytes: &[u8], scale: i8) -> Result<i128, String> {
    let (digits, weight, negative) = numeric_parts(bytes)?;
    let mut acc: i128 = 0;
    for pair in digits.chunks_exact(2) {
        let digit = i128::from(i16::from_be_bytes([pair[0], pair[1]]));
        match acc.checked_mul(10_000).and_then(|a| a.checked_add(digit)) {
            Some(a) => acc = a,
            // Too many digits for 128 bits before rescaling: take the wide path.
            None => {
                return numeric_i256(bytes, scale)?
                    .to_i128()
                    .ok_or_else(|| "value out of range for its decimal type".to_string())
            }
        }
    }
    let last = weight - (digits.len() / 2) as i32 + 1;
    let shift = 4 * last + i32::from(scale);
    let value = rescale(
        acc,
        shift,
        10,
        |a, b| a.checked_mul(b),
        |a, b| (a.checked_div(b), a.checked_rem(b).map(|r| r == 0)),
    )
    .ok_or_else(|| "value out of range or with more decimals than its type's scale".to_string())?;
    Ok(if negative { -value } else { value })
}

/// A binary numeric as an `i256` count of `10^-scale`.
fn numeric_i256(bytes: &[u8], scale: i8) -> Result<i256, String> {
    let (digits, weight, negative) = numeric_parts(bytes)?;
    let base = i256::from_i128(10_000);
    let mut acc = i256::ZERO;
    for pair in digits.chunks_exact(2) {
        let digit = i256::from_i128(i128::from(i16::from_be_bytes([pair[0], pair[1]])));
        acc = acc
            .checked_mul(base)
            .and_then(|a| a.checked_add(digit))
            .ok_or_else(|| "value out of range for its decimal type".to_string())?;
    }
    let last = weight - (digits.len() / 2) as i32 + 1;
    let shift = 4 * last + i32::from(scale);
    let value = rescale(
        acc,
        shift,
        i256::from_i128(10),
        |a, b| a.checked_mul(b),
        |a, b| (a.checked_div(b), a.checked_rem(b).map(|r| r == i256::ZERO)),
    )
    .ok_or_else(|| "value out of range or with more decimals than its type's scale".to_string())?;
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// `value * 10^shift`, exact or `None`.
fn rescale<T: Copy>(
    mut value: T,
    shift: i32,
    ten: T,
    mul: impl Fn(T, T) -> Option<T>,
    div: impl Fn(T, T) -> (Option<T>, Option<bool>),
) -> Option<T> {
    if shift >= 0 {
        for _ in 0..shift {
            value = mul(value, ten)?;
        }
    } else {
        for _ in 0..-shift {
            match div(value, ten) {
                (Some(q), Some(true)) => value = q,
                _ => return None,
            }
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    /// Binary numeric from base-10000 digits.
    fn numeric(digits: &[i16], weight: i16, negative: bool, dscale: u16) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&(if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode_exactly() {
        // 12345.67 = [1, 2345, 6700], weight 1
        let n = numeric(&[1, 2345, 6700], 1, false, 2);
        assert_eq!(numeric_i128(&n, 2).unwrap(), 1_234_567);
        assert_eq!(numeric_i128(&n, 4).unwrap(), 123_456_700);
        assert!(numeric_i128(&n, 1).is_err(), "a lost decimal is an error");
        // -0.5
        let n = numeric(&[5000], -1, true, 1);
        assert_eq!(numeric_i128(&n, 2).unwrap(), -50);
        // 0
        assert_eq!(numeric_i128(&numeric(&[], 0, false, 0), 3).unwrap(), 0);
        // 10^36 (digits [1] weight 9) at scale 2: fits i128 after rescale.
        let n = numeric(&[1], 9, false, 0);
        assert_eq!(numeric_i128(&n, 2).unwrap(), 10i128.pow(38));
        let nan = [0, 0, 0, 0, 0xC0, 0, 0, 0];
        assert!(numeric_i128(&nan, 0).unwrap_err().contains("NaN"));
        // 38 nines with scale 0 across 10 groups (the first group 99).
        let mut groups = vec![99i16];
        groups.extend([9999i16; 9]);
        let n = numeric(&groups, 9, false, 0);
        assert_eq!(numeric_i128(&n, 0).unwrap(), 10i128.pow(38) - 1);
        assert_eq!(
            numeric_i256(&n, 10).unwrap(),
            i256::from_i128(10i128.pow(38) - 1)
                .checked_mul(i256::from_i128(10i128.pow(10)))
                .unwrap()
        );
    }

    fn tuple(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = (fields.len() as i16).to_be_bytes().to_vec();
        for f in fields {
            match f {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    #[test]
    fn frames_complete_tuples_and_decodes_columns() {
        use datafusion::arrow::datatypes::{Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("day", DataType::Date32, true),
        ]));
        let mut decoder = TupleDecoder::new("src", "SELECT", schema).unwrap();
        let mut data = tuple(&[
            Some(&7i64.to_be_bytes()),
            Some("añ\tb".as_bytes()),
            Some(&0i32.to_be_bytes()),
        ]);
        data.extend(tuple(&[Some(&8i64.to_be_bytes()), None, None]));
        let partial = tuple(&[Some(&9i64.to_be_bytes()), Some(b"x"), None]);
        data.extend_from_slice(&partial[..9]);
        let framed = decoder.frame(&data).unwrap();
        assert_eq!(framed.rows, 2);
        assert!(!framed.trailer);
        assert_eq!(framed.consumed, data.len() - 9);
        let batch = decoder.decode(&data[..framed.consumed], 2).unwrap();
        let names = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(names.value(0), "añ\tb");
        assert!(names.is_null(1));
        let days = batch
            .column(2)
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap();
        assert_eq!(days.value(0), PG_EPOCH_DAYS);
        let mut rest = partial;
        rest.extend_from_slice(&(-1i16).to_be_bytes());
        let framed = decoder.frame(&rest).unwrap();
        assert_eq!((framed.rows, framed.trailer), (1, true));
    }

    #[test]
    fn a_wrong_width_names_the_column_and_row() {
        use datafusion::arrow::datatypes::{Field, Schema};
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)]));
        let mut decoder = TupleDecoder::new("src", "SELECT", schema).unwrap();
        let mut data = tuple(&[Some(&1i32.to_be_bytes())]);
        data.extend(tuple(&[Some(&1i64.to_be_bytes())]));
        let framed = decoder.frame(&data).unwrap();
        let err = decoder.decode(&data, framed.rows).unwrap_err().to_string();
        assert!(err.contains("column 'n'") && err.contains("row 2"), "{err}");
    }
}
