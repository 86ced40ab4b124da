//! [`PostgresWriter`]: loads batches by binary `COPY ... FROM STDIN`.
//!
//! The writer holds one client and one transaction for the whole load.
//! Each batch is encoded by [`CopyBinaryEncoder`] on the writer's blocking
//! thread and handed to the COPY stream, which the client's connection task
//! sends while the next batch is encoded.
//!
//! The COPY goes straight into the target when every column's binary form
//! is what the target column takes. Otherwise (a `Utf8` value into a `uuid`
//! or `jsonb` column, an `insert_ignore` or `upsert` load) it goes into a
//! temporary staging table of the batch's own types, and one
//! `INSERT ... SELECT` moves the rows into the target, casting each column
//! to its type and adding `ON CONFLICT` for the key. Nothing is committed
//! until [`BatchWriter::finish`]; a writer dropped before that rolls back.

use std::pin::Pin;

use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use futures::SinkExt;
use tokio::runtime::Handle;
use tokio_postgres::{Client, CopyInSink};

use super::connect::PostgresConnection;
use super::connector::Connector;
use super::copy_binary::CopyBinaryEncoder;
use super::types::{copies_directly, declared_type};
use crate::engines::hooks::LoadObserver;
use crate::engines::BatchWriter;
use crate::error::{EngineError, EngineResult};
use crate::ident::{quote, Quoting};
use crate::model::{TargetSpec, WriteMode};

/// Name of the staging table (temporary: private to the writer's session).
const STAGE: &str = "barge_stage";

/// Encoded bytes sent to the server at a time.
const SEND_BYTES: usize = 1 << 20;

/// Writes batches into one PostgreSQL table.
pub struct PostgresWriter {
    connector: Connector,
    table: String,
    handle: Handle,
    /// Kept for the statements run at `finish`; owns the transaction.
    client: Client,
    sink: Pin<Box<CopyInSink<Bytes>>>,
    encoder: CopyBinaryEncoder,
    buffer: Vec<u8>,
    /// The `INSERT ... SELECT` from the staging table, when staging.
    merge: Option<String>,
    /// Run in the transaction after the rows (a replace's swap).
    finish: Vec<String>,
}

impl PostgresWriter {
    /// Opens a transaction and starts the COPY. Called on a blocking thread.
    pub(crate) fn open(
        connector: &Connector,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let table = target.table.to_string();
        let handle = Handle::try_current()
            .map_err(|e| EngineError::query(connector.name(), Some(&table), None, e.to_string()))?;
        let encoder = CopyBinaryEncoder::new(connector.name(), &table, schema.clone())?;
        let (client, sink, merge) = handle.block_on(start(connector, target, &schema))?;
        let mut buffer = Vec::with_capacity(SEND_BYTES * 2);
        buffer.extend_from_slice(encoder.header());
        Ok(Self {
            connector: connector.clone(),
            table,
            handle,
            client,
            sink: Box::pin(sink),
            encoder,
            buffer,
            merge,
            finish: target.finish.clone(),
        })
    }

    fn send(&mut self) -> EngineResult<()> {
        let bytes = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(SEND_BYTES * 2),
        ));
        let table = &self.table;
        let connector = &self.connector;
        self.handle
            .block_on(self.sink.as_mut().send(bytes))
            .map_err(|e| connector.error(Some(table), e))
    }
}

/// Begins the transaction, creates the staging table when needed, starts the COPY.
async fn start(
    connector: &Connector,
    target: &TargetSpec,
    schema: &SchemaRef,
) -> EngineResult<(Client, CopyInSink<Bytes>, Option<String>)> {
    let label = target.table.to_string();
    let (client, copy, merge) = begin(connector, target, schema).await?;
    let sink = client
        .copy_in(&copy)
        .await
        .map_err(|e| connector.error(Some(&label), e).with_sql(&copy))?;
    Ok((client, sink, merge))
}

/// Begins the transaction and creates the staging table when needed;
/// returns the client, the `COPY` statement and the merge from the stage.
async fn begin(
    connector: &Connector,
    target: &TargetSpec,
    schema: &SchemaRef,
) -> EngineResult<(Client, String, Option<String>)> {
    let label = target.table.to_string();
    let client = connector.connect().await?;
    // The load's own statements (a truncate's DELETE, the CREATE of a
    // missing table) run in its transaction: a failed load undoes them too.
    exec(&client, connector, &label, "BEGIN").await?;
    for sql in &target.setup {
        exec(&client, connector, &label, sql).await?;
    }
    let columns = PostgresConnection::column_types(&client, connector, &target.table).await?;
    if columns.is_empty() {
        return Err(EngineError::query(
            connector.name(),
            Some(&label),
            None,
            "the target table does not exist",
        ));
    }
    let mut direct = !target.mode.needs_key();
    let mut names = Vec::with_capacity(schema.fields().len());
    let mut casts = Vec::with_capacity(schema.fields().len());
    let mut stage_columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let Some((_, column, _)) = columns.iter().find(|(name, ..)| name == field.name()) else {
            return Err(EngineError::column(
                connector.name(),
                &label,
                field.name(),
                "the target table has no such column",
            ));
        };
        direct &= copies_directly(field.data_type(), column);
        let name = quote(field.name());
        let natural = declared_type(field.data_type()).ok_or_else(|| {
            EngineError::column(
                connector.name(),
                &label,
                field.name(),
                format!("type {} cannot be written to PostgreSQL", field.data_type()),
            )
        })?;
        stage_columns.push(format!("{name} {natural}"));
        casts.push(format!("{name}::{}", column.declared));
        names.push(name);
    }
    let names = names.join(", ");
    if target.disable_fk_checks {
        // Triggers (foreign keys are triggers) stay off until the transaction ends.
        exec(
            &client,
            connector,
            &label,
            "SET LOCAL session_replication_role = replica",
        )
        .await
        .map_err(|e| {
            EngineError::query(
                connector.name(),
                Some(&label),
                None,
                format!("{e}\n  hint: disable_fk_checks needs a superuser on PostgreSQL; load in foreign-key order instead, or drop it"),
            )
        })?;
    }
    let table = Quoting::Double.table(&target.table);
    let (copy, merge) = if direct {
        (
            format!("COPY {table} ({names}) FROM STDIN (FORMAT binary)"),
            None,
        )
    } else {
        let create = format!(
            "CREATE TEMPORARY TABLE {STAGE} ({}) ON COMMIT DROP",
            stage_columns.join(", ")
        );
        exec(&client, connector, &label, &create).await?;
        let conflict = match target.mode {
            WriteMode::InsertIgnore => on_conflict(&target.key, &[]),
            WriteMode::Upsert => {
                let updates: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| f.name())
                    .filter(|n| !target.key.contains(n))
                    .map(|n| format!("{0} = EXCLUDED.{0}", quote(n)))
                    .collect();
                on_conflict(&target.key, &updates)
            }
            _ => String::new(),
        };
        (
            format!("COPY {STAGE} ({names}) FROM STDIN (FORMAT binary)"),
            Some(format!(
                "INSERT INTO {table} ({names}) SELECT {} FROM {STAGE}{conflict}",
                casts.join(", ")
            )),
        )
    };
    Ok((client, copy, merge))
}

/// The end of every PostgreSQL load: the observer's check of the rows the
/// server wrote and its commit record, the load's `finish` statements, the
/// COMMIT.
async fn commit(
    client: &Client,
    connector: &Connector,
    table: &str,
    finish: &[String],
    observer: &dyn LoadObserver,
    written: u64,
) -> EngineResult<()> {
    let record = observer.before_commit(written)?;
    for sql in finish.iter().chain(&record) {
        exec(client, connector, table, sql).await?;
    }
    exec(client, connector, table, "COMMIT").await?;
    observer.after_commit()
}

/// Runs statements that return no rows.
async fn exec(client: &Client, connector: &Connector, table: &str, sql: &str) -> EngineResult<()> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| connector.error(Some(table), e).with_sql(sql))
}

fn on_conflict(key: &[String], updates: &[String]) -> String {
    let key: Vec<String> = key.iter().map(|k| quote(k)).collect();
    if updates.is_empty() {
        format!(" ON CONFLICT ({}) DO NOTHING", key.join(", "))
    } else {
        format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            key.join(", "),
            updates.join(", ")
        )
    }
}

impl BatchWriter for PostgresWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        self.encoder.encode(batch, &mut self.buffer)?;
        if self.buffer.len() >= SEND_BYTES {
            self.send()?;
        }
        // The server counts the rows when the COPY ends.
        Ok(0)
    }

    fn finish(mut self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
        self.buffer.extend_from_slice(&CopyBinaryEncoder::trailer());
        self.send()?;
        let this = *self;
        let PostgresWriter {
            connector,
            table,
            handle,
            client,
            sink,
            merge,
            finish,
            ..
        } = this;
        handle.block_on(async move {
            let mut sink = sink;
            let copied = sink
                .as_mut()
                .finish()
                .await
                .map_err(|e| connector.error(Some(&table), e))?;
            let written = match &merge {
                Some(sql) => client
                    .execute(sql.as_str(), &[])
                    .await
                    .map_err(|e| connector.error(Some(&table), e).with_sql(sql))?,
                None => copied,
            };
            commit(&client, &connector, &table, &finish, observer, written).await?;
            Ok(written)
        })
    }
}

/// Savepoint around one batch of an [`IsolatingPostgresWriter`].
const SAVEPOINT: &str = "barge_batch";

/// Writes batches into one PostgreSQL table, one binary COPY per batch
/// inside a savepoint, so a batch the server refuses is rolled back alone
/// and the load goes on (`max_rejects`). Slower than [`PostgresWriter`]'s
/// single COPY stream: used only when a step may set rows aside.
pub struct IsolatingPostgresWriter {
    connector: Connector,
    table: String,
    handle: Handle,
    client: Client,
    encoder: CopyBinaryEncoder,
    /// `COPY ... FROM STDIN (FORMAT binary)` into the target or the stage.
    copy: String,
    /// The `INSERT ... SELECT` from the staging table, when staging.
    merge: Option<String>,
    finish: Vec<String>,
    /// Rows the server reported written so far.
    written: u64,
}

impl IsolatingPostgresWriter {
    /// Opens a transaction (and the staging table). Called on a blocking thread.
    pub(crate) fn open(
        connector: &Connector,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let table = target.table.to_string();
        let handle = Handle::try_current()
            .map_err(|e| EngineError::query(connector.name(), Some(&table), None, e.to_string()))?;
        let encoder = CopyBinaryEncoder::new(connector.name(), &table, schema.clone())?;
        let (client, copy, merge) = handle.block_on(begin(connector, target, &schema))?;
        Ok(Self {
            connector: connector.clone(),
            table,
            handle,
            client,
            encoder,
            copy,
            merge,
            finish: target.finish.clone(),
            written: 0,
        })
    }
}

/// Whether the server's error refuses the rows (a data exception, an
/// integrity constraint, a trigger's exception or a view's check option)
/// rather than the statement or the session.
fn refuses_rows(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        let code = db.code().code();
        code.starts_with("22")
            || code.starts_with("23")
            || code.starts_with("44")
            || code == "P0001"
    })
}

/// The server's message for a refused row, without the connection's address.
fn refusal(e: &tokio_postgres::Error) -> String {
    super::connector::describe(e)
}

impl BatchWriter for IsolatingPostgresWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        match self.write_isolated(batch)? {
            Ok(rows) => Ok(rows),
            Err(message) => Err(EngineError::query(
                self.connector.name(),
                Some(&self.table),
                None,
                message,
            )),
        }
    }

    fn write_isolated(&mut self, batch: &RecordBatch) -> EngineResult<Result<u64, String>> {
        let mut buffer = Vec::with_capacity(64 * 1024);
        buffer.extend_from_slice(self.encoder.header());
        self.encoder.encode(batch, &mut buffer)?;
        buffer.extend_from_slice(&CopyBinaryEncoder::trailer());
        let Self {
            connector,
            table,
            handle,
            client,
            copy,
            merge,
            written,
            ..
        } = self;
        handle.block_on(async {
            let fail =
                |e: tokio_postgres::Error, sql: &str| connector.error(Some(table), e).with_sql(sql);
            let savepoint = format!("SAVEPOINT {SAVEPOINT}");
            client
                .batch_execute(&savepoint)
                .await
                .map_err(|e| fail(e, &savepoint))?;
            let attempt = async {
                if merge.is_some() {
                    client.batch_execute(&format!("TRUNCATE {STAGE}")).await?;
                }
                let sink = client.copy_in(copy.as_str()).await?;
                let mut sink = Box::pin(sink);
                sink.as_mut().send(Bytes::from(buffer)).await?;
                let copied = sink.as_mut().finish().await?;
                match merge.as_deref() {
                    Some(sql) => client.execute(sql, &[]).await,
                    None => Ok(copied),
                }
            };
            match attempt.await {
                Ok(rows) => {
                    let release = format!("RELEASE SAVEPOINT {SAVEPOINT}");
                    client
                        .batch_execute(&release)
                        .await
                        .map_err(|e| fail(e, &release))?;
                    *written += rows;
                    Ok(Ok(rows))
                }
                Err(e) if refuses_rows(&e) => {
                    let undo =
                        format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}");
                    client
                        .batch_execute(&undo)
                        .await
                        .map_err(|e| fail(e, &undo))?;
                    Ok(Err(refusal(&e)))
                }
                Err(e) => Err(fail(e, copy)),
            }
        })
    }

    fn finish(self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
        let Self {
            connector,
            table,
            handle,
            client,
            finish,
            written,
            ..
        } = *self;
        handle.block_on(commit(
            &client, &connector, &table, &finish, observer, written,
        ))?;
        Ok(written)
    }
}
