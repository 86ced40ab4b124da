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

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use datafusion::arrow::datatypes::SchemaRef;
use futures::{SinkExt, StreamExt};

use super::connect::PostgresConnection;
use super::connector::Connector;
use super::copy_binary::HEADER;
use super::source::header_len;
use super::types::copies_directly;
use crate::engines::hooks::LoadObserver;
use crate::error::{EngineError, EngineResult};
use crate::ident::{quote, Quoting};
use crate::model::TargetSpec;

/// Bytes forwarded to the target at a time.
const FORWARD_BYTES: usize = 1 << 20;

/// Whether the environment allows the pass-through (`BARGE_PASSTHROUGH=0` does not).
fn enabled() -> bool {
    std::env::var("BARGE_PASSTHROUGH").map_or(true, |v| v != "0")
}

/// Runs `queries` on `source` and copies their rows into `target`'s
/// `columns`; `None` (nothing done) when the pass-through does not apply.
pub(crate) async fn copy_through(
    source: &PostgresConnection,
    queries: &[String],
    schema: &SchemaRef,
    target_conn: &PostgresConnection,
    target: &TargetSpec,
    columns: &[String],
    observer: &Arc<dyn LoadObserver>,
) -> EngineResult<Option<u64>> {
    if !enabled()
        || target.mode.needs_key()
        || target.disable_fk_checks
        || queries.is_empty()
        || columns.len() != schema.fields().len()
    {
        return Ok(None);
    }
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
        tokio::spawn(async move {
            let piece = match read_tuples(&connector, &query, &tx).await {
                Ok(()) => Piece::Done,
                Err(e) => Piece::Failed(e),
            };
            let _ = tx.send(piece).await;
        });
    }
    drop(tx);
    sink.send(Bytes::from_static(&HEADER))
        .await
        .map_err(|e| err(e, &copy_in))?;
    let mut reported = 0u64;
    let mut done = 0;
    while let Some(piece) = rx.recv().await {
        match piece {
            Piece::Tuples(bytes, rows) => {
                sink.send(bytes).await.map_err(|e| err(e, &copy_in))?;
                observer.rows_read(rows);
                reported += rows;
            }
            Piece::Done => done += 1,
            // Dropping the sink and the client rolls the load back.
            Piece::Failed(e) => return Err(e),
        }
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

/// What a reader sends: complete tuples (bytes, rows), its end, or its failure.
enum Piece {
    Tuples(Bytes, u64),
    Done,
    Failed(EngineError),
}

/// Runs `COPY (query) TO STDOUT` and sends its tuples, without header and
/// trailer, in pieces of about [`FORWARD_BYTES`].
async fn read_tuples(
    connector: &Connector,
    query: &str,
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
            if tx
                .send(Piece::Tuples(out.split().freeze(), rows))
                .await
                .is_err()
            {
                return Ok(());
            }
            rows = 0;
        }
    }
    if !ended {
        return Err(framing("the COPY stream ended without its trailer"));
    }
    if rows > 0 {
        let _ = tx.send(Piece::Tuples(out.split().freeze(), rows)).await;
    }
    Ok(())
}
