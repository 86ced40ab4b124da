//! Streaming reads: a query runs on a thread of its own with its own DuckDB
//! connection, fetching result chunks lazily (`Statement::stream_arrow`) and
//! sending them, bridged to DataFusion's arrow and cast to the schema the
//! plan expects, through a bounded channel. Memory holds at most a few chunks
//! whatever the table size; dropping the iterator stops the query.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::connect::DuckDbConnection;
use super::database::Session;
use crate::engines::arrow_bridge::batch_from_duckdb;
use crate::engines::BatchIter;
use crate::error::{EngineError, EngineResult};

/// Batches in flight between the DuckDB thread and the reader.
const CHANNEL_BATCHES: usize = 2;

/// Runs `sql` and streams its result as batches of `schema`.
pub(super) fn query(
    conn: &DuckDbConnection,
    sql: &str,
    schema: SchemaRef,
) -> EngineResult<BatchIter> {
    let session = conn.session()?;
    let interrupt = session.interrupt_handle();
    let (tx, rx) = sync_channel(CHANNEL_BATCHES);
    let job = Job {
        connection: conn.connection_name().to_string(),
        sql: sql.to_string(),
        schema,
    };
    std::thread::Builder::new()
        .name("barge-duckdb-read".into())
        .spawn(move || job.run(session, tx))
        .map_err(|e| {
            EngineError::query(
                conn.connection_name(),
                None,
                Some(sql),
                format!("cannot start a reader thread: {e}"),
            )
        })?;
    Ok(Box::new(Batches {
        rx,
        interrupt,
        connection: conn.connection_name().to_string(),
        sql: sql.to_string(),
        done: false,
    }))
}

/// One query to run on the reader thread.
struct Job {
    connection: String,
    sql: String,
    schema: SchemaRef,
}

impl Job {
    fn error(&self, message: impl ToString) -> EngineError {
        EngineError::query(&self.connection, None, Some(&self.sql), message)
    }

    /// Streams the result into `tx`; `Ok(None)` marks the end, so a reader
    /// thread that dies is never mistaken for the end of the data.
    fn run(self, session: Session, tx: SyncSender<Message>) {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.stream(&session, &tx)));
        let end = match outcome {
            Ok(Ok(())) => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(panic) => Err(self.error(format!(
                "the DuckDB reader failed: {}",
                panic_message(panic.as_ref())
            ))),
        };
        let _ = tx.send(end);
    }

    /// Sends every batch; returns early (`Ok`) when the reader has gone.
    fn stream(&self, session: &Session, tx: &SyncSender<Message>) -> EngineResult<()> {
        let mut stmt = session.prepare(&self.sql).map_err(|e| self.error(e))?;
        let stream = stmt.stream_arrow([]).map_err(|e| self.error(e))?;
        for chunk in stream {
            let chunk = chunk.map_err(|e| self.error(e))?;
            let batch = batch_from_duckdb(chunk).map_err(|e| self.error(e))?;
            let batch = conform(batch, &self.schema).map_err(|e| self.error(e))?;
            // A closed channel means the reader is gone: stop the query.
            if tx.send(Ok(Some(batch))).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// What the DuckDB thread sends: a batch, the end (`Ok(None)`), or an error.
type Message = EngineResult<Option<RecordBatch>>;

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".to_string())
}

/// Rebuilds `batch` with `schema`: same columns in the same order, cast where
/// DuckDB's Arrow type differs from the planned one (e.g. a view column).
pub(super) fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    // `SELECT 1 FROM t` answers a scan that needs no columns (e.g. count(*)).
    if schema.fields().is_empty() {
        return RecordBatch::try_new_with_options(schema.clone(), vec![], &options)
            .map_err(|e| e.to_string());
    }
    if batch.num_columns() != schema.fields().len() {
        return Err(format!(
            "the query returned {} columns, expected {}",
            batch.num_columns(),
            schema.fields().len()
        ));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                cast(column, field.data_type()).map_err(|e| {
                    format!(
                        "column '{}': cannot convert DuckDB's {} to {}: {e}",
                        field.name(),
                        column.data_type(),
                        field.data_type()
                    )
                })
            }
        })
        .collect::<Result<Vec<ArrayRef>, String>>()?;
    RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(|e| e.to_string())
}

/// The reader side: yields what the DuckDB thread sends; interrupts the query
/// when dropped before the end.
struct Batches {
    rx: Receiver<Message>,
    interrupt: Arc<duckdb::InterruptHandle>,
    connection: String,
    sql: String,
    done: bool,
}

impl Iterator for Batches {
    type Item = EngineResult<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.rx.recv() {
            Ok(Ok(Some(batch))) => return Some(Ok(batch)),
            Ok(Ok(None)) => None,
            Ok(Err(e)) => Some(Err(e)),
            Err(_) => Some(Err(EngineError::query(
                &self.connection,
                None,
                Some(&self.sql),
                "the DuckDB reader thread stopped before the end of the result",
            ))),
        };
        self.done = true;
        item
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        if !self.done {
            self.interrupt.interrupt();
        }
    }
}
