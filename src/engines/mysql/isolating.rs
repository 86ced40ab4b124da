//! [`IsolatingMySqlWriter`]: the MySQL/MariaDB writer of steps that set
//! refused rows aside (`max_rejects` > 0): every batch in a savepoint of the
//! load's one transaction, a refused batch rolled back alone (see
//! [`super::sink`] for the statements both writers run).

use bytes::Bytes;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::runtime::Handle;

use super::connect::MySqlConnection;
use super::errors::error_code;
use super::sink::{commit, warnings, Opened, Plan, INSERT_BYTES, INSERT_ROWS};
use super::tsv::TsvEncoder;
use crate::engines::hooks::LoadObserver;
use crate::engines::{BatchWriter, WriteFailure};
use crate::error::{EngineError, EngineResult};
use crate::model::{TargetSpec, WriteMode};

/// Savepoint around one batch of an [`IsolatingMySqlWriter`].
const SAVEPOINT: &str = "barge_batch";

/// Writes batches into one MySQL/MariaDB table in one transaction, each
/// batch inside a savepoint: its own `LOAD DATA LOCAL INFILE` (or `INSERT`s),
/// checked for warnings and skipped rows, then the merge from the stage.
/// A batch the server refuses is rolled back alone and the load goes on
/// (`max_rejects`). Used only when a step may set rows aside.
pub struct IsolatingMySqlWriter {
    connection: String,
    table: String,
    handle: Handle,
    encoder: TsvEncoder,
    load_schema: Option<SchemaRef>,
    conn: Option<Conn>,
    plan: Plan,
    /// The `LOAD DATA` statement, when the server takes it; else INSERTs.
    load_sql: Option<String>,
    rows_per_statement: usize,
    /// Rows the server reported written so far.
    written: u64,
    /// Run in the transaction after the rows.
    finish: Vec<String>,
    committed: bool,
}

impl IsolatingMySqlWriter {
    /// Starts the transaction (and the stage) for `target` (its table
    /// resolved to a database). Called on a blocking thread.
    pub(crate) fn open(
        mysql: &MySqlConnection,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let Opened {
            connection,
            table,
            handle,
            load_schema,
            encoder,
            plan,
            conn,
            load_sql,
        } = Opened::start(mysql, target, schema)?;
        Ok(Self {
            connection,
            table,
            handle,
            encoder,
            load_schema,
            conn: Some(conn),
            plan,
            load_sql,
            rows_per_statement: INSERT_ROWS,
            written: 0,
            finish: target.finish.clone(),
            committed: false,
        })
    }

    fn error(&self, sql: Option<&str>, message: impl ToString) -> EngineError {
        EngineError::query(&self.connection, Some(&self.table), sql, message)
    }

    /// Loads `batch` inside the open savepoint.
    async fn load(
        conn: &mut Conn,
        encoder: &mut TsvEncoder,
        plan: &Plan,
        load_sql: Option<&str>,
        rows_per_statement: &mut usize,
        batch: &RecordBatch,
    ) -> Result<u64, WriteFailure> {
        let rows = batch.num_rows() as u64;
        if let Some(stage) = &plan.stage_sql {
            run(conn, &format!("DELETE FROM {stage}")).await?;
        }
        let mut written = 0u64;
        match load_sql {
            Some(load_sql) => {
                let mut buf = Vec::new();
                encoder.encode(batch, &mut buf)?;
                let bytes = Bytes::from(buf);
                conn.set_infile_handler(async move {
                    Ok(futures::stream::once(async move { Ok(bytes) }).boxed())
                });
                run(conn, load_sql).await?;
                let loaded = conn.affected_rows();
                refuse_on_warnings(conn).await?;
                if loaded != rows {
                    return Err(WriteFailure::Refused(format!(
                        "the server stored {loaded} of the {rows} rows sent"
                    )));
                }
                written = loaded;
            }
            None => {
                let target = plan.stage_sql.as_deref().unwrap_or(&plan.table_sql);
                let head = format!(
                    "INSERT INTO {target} ({}) VALUES ",
                    plan.columns_sql.join(", ")
                );
                let mut start = 0usize;
                let total = batch.num_rows();
                while start < total {
                    let n = (*rows_per_statement).min(total - start);
                    let mut sql = head.clone().into_bytes();
                    encoder.encode_values(&batch.slice(start, n), &mut sql)?;
                    let size = sql.len();
                    conn.query_drop(sql.as_slice())
                        .await
                        .map_err(|e| classify(e, &head))?;
                    written += conn.affected_rows();
                    refuse_on_warnings(conn).await?;
                    let per_row = size / n.max(1) + 1;
                    *rows_per_statement = (INSERT_BYTES / per_row).clamp(1, INSERT_ROWS);
                    start += n;
                }
            }
        }
        let Some(stage) = &plan.stage_sql else {
            return Ok(written);
        };
        let merge = format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage}{}",
            plan.table_sql,
            plan.on_duplicate,
            cols = plan.columns_sql.join(", ")
        );
        run(conn, &merge).await?;
        let merged = conn.affected_rows();
        refuse_on_warnings(conn).await?;
        Ok(match plan.mode {
            WriteMode::Upsert => rows,
            _ => merged,
        })
    }
}

/// Runs one statement; a refusal of the rows is told apart from a failure.
async fn run(conn: &mut Conn, sql: &str) -> Result<(), WriteFailure> {
    conn.query_drop(sql).await.map_err(|e| classify(e, sql))
}

/// Server errors that refuse rows (SQLSTATE classes 22 and 23, and the
/// codes of bad values, missing defaults and CHECK constraints filed under
/// HY000) rather than the statement or the session.
fn classify(e: mysql_async::Error, sql: &str) -> WriteFailure {
    const ROW_CODES: &[u16] = &[
        1048, 1062, 1264, 1265, 1292, 1364, 1366, 1367, 1406, 1451, 1452, 1690, 3819, 4025,
    ];
    match &e {
        mysql_async::Error::Server(server)
            if server.state.starts_with("22")
                || server.state.starts_with("23")
                || ROW_CODES.contains(&server.code) =>
        {
            WriteFailure::Refused(format!("{} {}: {}", "Error", server.code, server.message))
        }
        _ => failed(e, sql),
    }
}

/// A failure of the statement or the session (not a refusal of rows).
fn failed(e: mysql_async::Error, sql: &str) -> WriteFailure {
    WriteFailure::Failed(EngineError::query("", None, Some(sql), &e).with_code(error_code(&e)))
}

/// A refusal quoting the last statement's warnings, when it left any that
/// matter (with `LOCAL`, the server skips or changes refused rows with a
/// warning instead of an error).
async fn refuse_on_warnings(conn: &mut Conn) -> Result<(), WriteFailure> {
    if conn.get_warnings() == 0 {
        return Ok(());
    }
    match warnings(conn).await {
        Some(text) => Err(WriteFailure::Refused(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; "),
        )),
        None => Ok(()),
    }
}

impl BatchWriter for IsolatingMySqlWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        match self.write_isolated(batch)? {
            Ok(rows) => Ok(rows),
            Err(message) => Err(self.error(None, message)),
        }
    }

    fn write_isolated(&mut self, batch: &RecordBatch) -> EngineResult<Result<u64, String>> {
        let batch = match &self.load_schema {
            Some(schema) => {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(c, f)| {
                        if c.data_type() == f.data_type() {
                            Ok(c.clone())
                        } else {
                            cast(c, f.data_type()).map_err(|e| {
                                EngineError::column(&self.connection, &self.table, f.name(), e)
                            })
                        }
                    })
                    .collect::<EngineResult<Vec<ArrayRef>>>()?;
                RecordBatch::try_new(schema.clone(), columns).map_err(|e| self.error(None, e))?
            }
            None => batch.clone(),
        };
        let Some(mut conn) = self.conn.take() else {
            return Err(self.error(None, "the writer has no session"));
        };
        let Self {
            handle,
            encoder,
            plan,
            load_sql,
            rows_per_statement,
            ..
        } = self;
        let outcome = handle.block_on(async {
            let savepoint = format!("SAVEPOINT {SAVEPOINT}");
            conn.query_drop(&savepoint)
                .await
                .map_err(|e| failed(e, &savepoint))?;
            match Self::load(
                &mut conn,
                encoder,
                plan,
                load_sql.as_deref(),
                rows_per_statement,
                &batch,
            )
            .await
            {
                Ok(rows) => {
                    let release = format!("RELEASE SAVEPOINT {SAVEPOINT}");
                    run(&mut conn, &release).await?;
                    Ok(Ok(rows))
                }
                Err(WriteFailure::Refused(message)) => {
                    let undo = format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}");
                    run(&mut conn, &undo).await?;
                    let release = format!("RELEASE SAVEPOINT {SAVEPOINT}");
                    run(&mut conn, &release).await?;
                    Ok(Err(message))
                }
                Err(failure) => Err(failure),
            }
        });
        self.conn = Some(conn);
        match outcome {
            Ok(Ok(rows)) => {
                self.written += rows;
                Ok(Ok(rows))
            }
            Ok(refused) => Ok(refused),
            Err(WriteFailure::Refused(message)) => Err(self.error(None, message)),
            Err(WriteFailure::Failed(EngineError::Query {
                sql, message, code, ..
            })) => Err(self.error(sql.as_deref(), message).with_code(code)),
            Err(WriteFailure::Failed(e)) => Err(e),
        }
    }

    fn finish(mut self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
        let Some(mut conn) = self.conn.take() else {
            return Err(self.error(None, "the writer has no session"));
        };
        let stage = self.plan.stage_sql.clone();
        let (connection, table, finish, written) =
            (&self.connection, &self.table, &self.finish, self.written);
        let committed = self.handle.block_on(async {
            let result = commit(&mut conn, connection, table, finish, observer, written).await;
            if result.is_err() {
                let _ = conn.query_drop("ROLLBACK").await;
            }
            if let Some(stage) = &stage {
                let _ = conn
                    .query_drop(format!("DROP TEMPORARY TABLE IF EXISTS {stage}"))
                    .await;
            }
            result
        });
        // Committed or rolled back: nothing is left for `drop` to undo.
        self.committed = true;
        committed?;
        Ok(written)
    }
}

impl Drop for IsolatingMySqlWriter {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let stage = self.plan.stage_sql.clone();
            if !self.committed {
                self.handle.spawn(async move {
                    let _ = conn.query_drop("ROLLBACK").await;
                    if let Some(stage) = stage {
                        let _ = conn
                            .query_drop(format!("DROP TEMPORARY TABLE IF EXISTS {stage}"))
                            .await;
                    }
                });
            }
        }
    }
}
