//! [`WriterSink`]: the DataFusion `DataSink` every engine is written through.
//! It pulls the step's batches and hands them to the engine's [`BatchWriter`]
//! on a blocking thread over a bounded channel, so a slow target slows the
//! read (backpressure) and memory stays flat.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::sink::DataSink;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;

use super::hooks::{LoadHooks, TeeThread};
use super::Connection;
use crate::model::TargetSpec;

/// Batches in flight between DataFusion and an engine's writer thread.
const CHANNEL_BATCHES: usize = 2;

/// Writes a step's output into its target through the connection's writer,
/// driven through `hooks` (see [`super::hooks`]).
pub struct WriterSink {
    connection: Arc<dyn Connection>,
    target: TargetSpec,
    schema: SchemaRef,
    hooks: LoadHooks,
}

impl WriterSink {
    /// A sink of batches of `schema` into `target`. With a reject policy
    /// (`max_rejects` > 0) batches are written one savepoint each, and the
    /// sink takes NULL in every column: DataFusion's own NOT NULL check
    /// would fail the whole step, where the target refuses the row.
    pub fn new(
        connection: Arc<dyn Connection>,
        target: TargetSpec,
        schema: SchemaRef,
        hooks: LoadHooks,
    ) -> Self {
        let schema = if hooks.rejects.is_some() {
            let fields: Vec<_> = schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect();
            Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
                fields,
                schema.metadata().clone(),
            ))
        } else {
            schema
        };
        Self {
            connection,
            target,
            schema,
            hooks,
        }
    }
}

impl fmt::Debug for WriterSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterSink")
            .field("connection", &self.connection.name())
            .field("table", &self.target.table)
            .field("mode", &self.target.mode)
            .finish()
    }
}

impl DisplayAs for WriterSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WriterSink: {}.{} mode={}",
            self.connection.name(),
            self.target.table,
            self.target.mode
        )
    }
}

#[async_trait]
impl DataSink for WriterSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        mut data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        // `None` is the end-of-data marker: a writer whose channel closes
        // without it drops its transaction instead of committing a partial load.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<RecordBatch>>(CHANNEL_BATCHES);
        let connection = self.connection.clone();
        let target = self.target.clone();
        let schema = self.schema.clone();
        let observer = self.hooks.observer.clone();
        let rejects = self.hooks.rejects.clone();
        let writer_thread = tokio::task::spawn_blocking(move || -> Result<u64> {
            let (mut writer, mut set_aside) = match rejects {
                Some(rejects) => (
                    connection.open_isolating_writer(&target, schema.clone())?,
                    Some(rejects.open(&schema, observer.clone())?),
                ),
                None => (connection.open_writer(&target, schema)?, None),
            };
            while let Some(message) = rx.blocking_recv() {
                match message {
                    Some(batch) => {
                        match set_aside.as_mut() {
                            Some(set_aside) => set_aside.write(writer.as_mut(), &batch)?,
                            None => writer.write(&batch)?,
                        };
                        observer.rows_read(batch.num_rows() as u64);
                    }
                    None => {
                        // The rejects file is complete before the target commits.
                        if let Some(set_aside) = set_aside.take() {
                            set_aside.finish()?;
                        }
                        return Ok(writer.finish(observer.as_ref())?);
                    }
                }
            }
            Err(DataFusionError::Execution(
                "the read failed; the target load was rolled back".to_string(),
            ))
        });

        // Staging and the rollback journal: the same batches to Parquet
        // files, beside the load.
        let tees = TeeThread::spawn(&self.hooks.tees, &self.schema);
        let mut read_error = None;
        while let Some(batch) = data.next().await {
            match batch.and_then(|b| conform(b, &self.schema)) {
                Ok(batch) if batch.num_rows() == 0 => {}
                Ok(batch) => {
                    // A closed channel means the writer (or the staging)
                    // failed; its error is reported below.
                    if let Some(tees) = &tees {
                        if !tees.send(batch.clone()).await {
                            break;
                        }
                    }
                    if tx.send(Some(batch)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        // The staged file is complete before the target commits: a load
        // whose staging failed is rolled back with it.
        let staged = match tees {
            Some(tees) => tees
                .finish(read_error.is_none())
                .await
                .map_err(DataFusionError::from),
            None => Ok(()),
        };
        if read_error.is_none() && staged.is_ok() {
            let _ = tx.send(None).await;
        }
        drop(tx);
        let written = writer_thread
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        if let Some(e) = read_error {
            return Err(e);
        }
        staged?;
        let written = written?;
        self.hooks.observer.rows_written(written);
        Ok(written)
    }
}

/// `batch` in exactly the types of `schema`, the sink's planned schema:
/// DataFusion's physical types may differ from its logical plan's (an
/// aggregate's decimal precision, a string view), and every writer, tee and
/// rejects file must see the types it was planned with. A value that does
/// not fit fails the load.
pub(crate) fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let same = batch
        .schema()
        .fields()
        .iter()
        .zip(schema.fields())
        .all(|(have, want)| have.data_type() == want.data_type());
    if same || batch.num_columns() != schema.fields().len() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                // Not `cast`: it turns a value that does not fit into NULL.
                let options = datafusion::arrow::compute::CastOptions {
                    safe: false,
                    ..Default::default()
                };
                datafusion::arrow::compute::cast_with_options(column, field.data_type(), &options)
                    .map_err(|e| {
                        DataFusionError::Execution(format!(
                            "column '{}': a value of type {} does not fit the planned type {}: {e}",
                            field.name(),
                            column.data_type(),
                            field.data_type()
                        ))
                    })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let options = datafusion::arrow::record_batch::RecordBatchOptions::new()
        .with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
        .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
}
