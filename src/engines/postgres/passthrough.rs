//! PostgreSQL → PostgreSQL without decoding: the binary COPY bytes of the
//! source query go straight into the target's binary COPY.
//!
//! Taken when a step is a plain read of one PostgreSQL source (its columns,
//! renamed or not, with the filters the source runs) into a PostgreSQL
//! target that takes every column's binary form as is (see
//! [`copies_directly`]), in a mode that needs no staging. The source query
//! already casts each column to its natural type, so the bytes are exactly
//! what the Arrow path would have encoded. Everything else goes through
//! Arrow. Set `BARGE_PASSTHROUGH=0` to always take the Arrow path.
//!
//! A load's tees (staging, the rollback journal's keys) still get their
//! batches: each reader decodes only the columns they keep from the tuples
//! it forwards, so a journalled `append` keeps the byte path.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use futures::{SinkExt, StreamExt};

use super::connect::PostgresConnection;
use super::connector::Connector;
use super::copy_binary::HEADER;
use super::source::{header_len, TupleDecoder};
use super::types::copies_directly;
use crate::engines::hooks::{LoadHooks, TeeThread};
use crate::engines::sink::conform;
use crate::error::{EngineError, EngineResult};
use crate::ident::{quote, Quoting};
use crate::model::TargetSpec;

/// Bytes forwarded to the target at a time.
const FORWARD_BYTES: usize = 1 << 20;

/// Whether the environment allows the pass-through (`BARGE_PASSTHROUGH=0` does not).
fn enabled() -> bool {
    std::env::var("BARGE_PASSTHROUGH").map_or(true, |v| v != "0")
}

/// The columns a load's tees keep, decoded from the forwarded tuples.
struct TeeColumns {
    /// Positions in the queries' tuples.
    positions: Vec<usize>,
    /// What the readers decode: the queries' types under the target's names.
    decoded: SchemaRef,
    /// What the tees get: the sink's schema of those columns.
    sink: SchemaRef,
}

impl TeeColumns {
    /// The union of the tees' columns; `Err(())` when a tee keeps a column
    /// the load does not write (the Arrow path then runs).
    fn of(
        hooks: &LoadHooks,
        schema: &SchemaRef,
        sink_schema: &SchemaRef,
        columns: &[String],
    ) -> Result<Option<Self>, ()> {
        if hooks.tees.is_empty() {
            return Ok(None);
        }
        let mut positions = Vec::new();
        for tee in &hooks.tees {
            match tee.columns() {
                None => positions.extend(0..columns.len()),
                Some(names) => {
                    for name in names {
                        positions.push(columns.iter().position(|c| *c == name).ok_or(())?);
                    }
                }
            }
        }
        positions.sort_unstable();
        positions.dedup();
        let mut decoded = Vec::with_capacity(positions.len());
        let mut sink = Vec::with_capacity(positions.len());
        for &i in &positions {
            let field = sink_schema.field_with_name(&columns[i]).map_err(|_| ())?;
            decoded.push(Field::new(
                field.name(),
                schema.field(i).data_type().clone(),
                true,
            ));
            sink.push(field.clone());
        }
        Ok(Some(Self {
            positions,
            decoded: Arc::new(Schema::new(decoded)),
            sink: Arc::new(Schema::new(sink)),
        }))
    }
}

/// Runs `queries` on `source` and copies their rows into `target`'s
/// `columns`, handing `hooks`' tees batches of the columns they keep (in
/// `sink_schema`'s types); `None` (nothing done) when the pass-through does
/// not apply.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn copy_through(
    source: &PostgresConnection,
    queries: &[String],
    schema: &SchemaRef,
    target_conn: &PostgresConnection,
    target: &TargetSpec,
    columns: &[String],
    hooks: &LoadHooks,
    sink_schema: &SchemaRef,
) -> EngineResult<Option<u64>> {
    if !enabled()
        || target.mode.needs_key()
        || target.disable_fk_checks
        || hooks.rejects.is_some()
        || queries.is_empty()
        || columns.len() != schema.fields().len()
    {
        return Ok(None);
    }
    let Ok(tee_columns) = TeeColumns::of(hooks, schema, sink_schema, columns) else {
        return Ok(None);
    };
    let observer = &hooks.observer;
    let connector = target_conn.connector();
    let label = target.table.to_string();
    let client = connector.connect().await?;
    let err = |e, sql: &str| connector.error(Some(&label), e).with_sql(sql);
    // The load's own statements (a truncate's DELETE, a CREATE) run in its
    // transaction; the target's columns are read there, after them.
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| err(e, "BEGIN"))?;
    for sql in &target.setup {
        client.batch_execute(sql).await.map_err(|e| err(e, sql))?;
    }
    let target_columns =
        PostgresConnection::column_types(&client, connector, &target.table).await?;
    for (field, column) in schema.fields().iter().zip(columns) {
        match target_columns.iter().find(|(name, ..)| name == column) {
            Some((_, ty, _)) if copies_directly(field.data_type(), ty) => {}
            // Dropping the client rolls the setup back.
            _ => return Ok(None),
        }
    }
    tracing::info!(
        "{}: copying from '{}' as binary COPY bytes, without decoding them",
        label,
        source.connector().name()
    );
    let names: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let copy_in = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        Quoting::Double.table(&target.table),
        names.join(", ")
    );
    let sink = client
        .copy_in::<_, Bytes>(&copy_in)
        .await
        .map_err(|e| err(e, &copy_in))?;
    futures::pin_mut!(sink);

    // One reader per partition query, all feeding the one COPY.
    let (tx, mut rx) = tokio::sync::mpsc::channel(2 * queries.len());
    for query in queries {
        let tx = tx.clone();
        let connector = source.connector().clone();
        let query = query.clone();
        let decoder = match &tee_columns {
            Some(t) => Some(TupleDecoder::projected(
                connector.name(),
                &query,
                columns.len(),
                t.positions.clone(),
                t.decoded.clone(),
            )?),
            None => None,
        };
        tokio::spawn(async move {
            let piece = match read_tuples(&connector, &query, decoder, &tx).await {
                Ok(()) => Piece::Done,
                Err(e) => Piece::Failed(e),
            };
            let _ = tx.send(piece).await;
        });
    }
    drop(tx);
    let tees = tee_columns
        .as_ref()
        .and_then(|t| TeeThread::spawn(&hooks.tees, &t.sink));
    sink.send(Bytes::from_static(&HEADER))
        .await
        .map_err(|e| err(e, &copy_in))?;
    let mut reported = 0u64;
    let mut done = 0;
    while let Some(piece) = rx.recv().await {
        match piece {
            Piece::Tuples(bytes, rows, batch) => {
                if let (Some(tees), Some(t), Some(batch)) = (&tees, &tee_columns, batch) {
                    let batch = for_tees(batch, &t.sink)?;
                    if !tees.send(batch).await {
                        break;
                    }
                }
                sink.send(bytes).await.map_err(|e| err(e, &copy_in))?;
                observer.rows_read(rows);
                reported += rows;
            }
            Piece::Done => done += 1,
            // Dropping the sink and the client rolls the load back.
            Piece::Failed(e) => return Err(e),
        }
    }
    // The copies are complete before the load commits: a load whose copy
    // failed is rolled back with it.
    if let Some(tees) = tees {
        tees.finish(done == queries.len()).await?;
    }
    if done != queries.len() {
        return Err(EngineError::query(
            source.connector().name(),
            None,
            None,
            "a COPY reader stopped before its stream ended",
        ));
    }
    sink.send(Bytes::from_static(&[0xFF, 0xFF]))
        .await
        .map_err(|e| err(e, &copy_in))?;
    let written = sink.finish().await.map_err(|e| err(e, &copy_in))?;
    if written != reported {
        return Err(EngineError::query(
            connector.name(),
            Some(&label),
            None,
            format!("{reported} rows were read but {written} written; nothing was committed"),
        ));
    }
    let record = observer.before_commit(written)?;
    for sql in target.finish.iter().chain(&record) {
        client.batch_execute(sql).await.map_err(|e| err(e, sql))?;
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| err(e, "COMMIT"))?;
    observer.after_commit()?;
    observer.rows_written(written);
    Ok(Some(written))
}

/// `batch`, decoded in the queries' types, in the tees' `schema`.
fn for_tees(batch: RecordBatch, schema: &SchemaRef) -> EngineResult<RecordBatch> {
    let batch = conform(batch, schema)?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), batch.columns().to_vec(), &options)
        .map_err(|e| EngineError::DataFusion(e.into()))
}

/// What a reader sends: complete tuples (bytes, rows, and the tees' columns
/// decoded from them), its end, or its failure.
enum Piece {
    Tuples(Bytes, u64, Option<RecordBatch>),
    Done,
    Failed(EngineError),
}

/// Runs `COPY (query) TO STDOUT` and sends its tuples, without header and
/// trailer, in pieces of about [`FORWARD_BYTES`], each decoded by `decoder`
/// too when there is one.
async fn read_tuples(
    connector: &Connector,
    query: &str,
    mut decoder: Option<TupleDecoder>,
    tx: &tokio::sync::mpsc::Sender<Piece>,
) -> EngineResult<()> {
    let copy_out = format!("COPY ({query}) TO STDOUT (FORMAT binary)");
    let source_err = |e| connector.error(None, e).with_sql(&copy_out);
    let framing = |m: &str| EngineError::query(connector.name(), None, Some(&copy_out), m);
    let reader = connector.reader().await?;
    let stream = reader.copy_out(&copy_out).await.map_err(source_err)?;
    futures::pin_mut!(stream);
    // PostgreSQL sends the header with the first row, then one message per
    // row, then the 2-byte trailer as a message of its own.
    let mut out = BytesMut::with_capacity(FORWARD_BYTES * 2);
    let mut first = true;
    let mut ended = false;
    let mut rows = 0u64;
    while let Some(message) = stream.next().await {
        let message = message.map_err(source_err)?;
        let mut body = &message[..];
        if first {
            let len = header_len(body)
                .map_err(|m| framing(&m))?
                .ok_or_else(|| framing("the first COPY message is shorter than its header"))?;
            body = &body[len..];
            first = false;
        }
        if ended {
            return Err(framing("data after the COPY trailer"));
        }
        if body == [0xFF, 0xFF] {
            ended = true;
            continue;
        }
        out.extend_from_slice(body);
        rows += 1;
        if out.len() >= FORWARD_BYTES {
            let piece = piece(out.split().freeze(), rows, decoder.as_mut())?;
            if tx.send(piece).await.is_err() {
                return Ok(());
            }
            rows = 0;
        }
    }
    if !ended {
        return Err(framing("the COPY stream ended without its trailer"));
    }
    if rows > 0 {
        let _ = tx
            .send(piece(out.split().freeze(), rows, decoder.as_mut())?)
            .await;
    }
    Ok(())
}

/// The piece of `rows` tuples `bytes`, with their decoded columns.
fn piece(bytes: Bytes, rows: u64, decoder: Option<&mut TupleDecoder>) -> EngineResult<Piece> {
    let batch = match decoder {
        Some(decoder) => {
            let batch = decoder.decode_tuples(&bytes)?;
            if batch.num_rows() as u64 != rows {
                return Err(EngineError::driver(std::io::Error::other(format!(
                    "{rows} tuples forwarded but {} decoded",
                    batch.num_rows()
                ))));
            }
            Some(batch)
        }
        None => None,
    };
    Ok(Piece::Tuples(bytes, rows, batch))
}
