//! [`MySqlWriter`]: loads batches into a MySQL/MariaDB table in one
//! transaction, committed by `finish`, rolled back when the writer is dropped
//! unfinished.
//!
//! The session runs with `time_zone = '+00:00'` and a strict `sql_mode`
//! (`STRICT_ALL_TABLES`, no zero dates, `NO_AUTO_VALUE_ON_ZERO`, backslash
//! escapes on).
//!
//! **LOAD DATA** (the server has `local_infile` on): one
//! `LOAD DATA LOCAL INFILE` statement reads the whole step. Its "file" is a
//! stream fed by `write`: every batch is encoded to TSV ([`TsvEncoder`]) and
//! sent over a bounded channel to the task running the statement, so the
//! encoder works on the next batch while the server stores the last one,
//! and memory stays at a few batches. With `LOCAL`, the server turns bad
//! values and duplicate keys into warnings and goes on; the writer therefore
//! fails the load (and rolls back) on any warning, quoting the first ones, and
//! when fewer rows were stored than sent.
//!
//! **INSERT** (the server has `local_infile` off): multi-row `INSERT`s of up
//! to 1000 rows, the values rendered by the same encoder.
//!
//! | mode | LOAD DATA | INSERT |
//! |------|-----------|--------|
//! | append, replace, truncate, error_if_exists | into the table | `INSERT INTO t ...` |
//! | insert_ignore | into a temporary table, then `INSERT INTO t SELECT ... ON DUPLICATE KEY UPDATE k = k` | `... ON DUPLICATE KEY UPDATE k = k` |
//! | upsert | into a temporary table, then `INSERT INTO t SELECT ... ON DUPLICATE KEY UPDATE c = VALUES(c)` | `... ON DUPLICATE KEY UPDATE c = VALUES(c)` |
//!
//! `ON DUPLICATE KEY UPDATE k = k` skips rows whose key exists like `INSERT
//! IGNORE`, without `IGNORE`'s downgrading of other errors (foreign keys,
//! CHECK constraints) to warnings.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connect::MySqlConnection;
use super::errors::error_code;
use super::tsv::TsvEncoder;
use super::types::ColumnInfo;
use crate::engines::hooks::LoadObserver;
use crate::engines::sql::SqlSource;
use crate::engines::BatchWriter;
use crate::error::{EngineError, EngineResult};
use crate::model::{TargetSpec, WriteMode};

/// The load session's `sql_mode`: values that do not fit are errors, not
/// silent truncations; an explicit 0 in an AUTO_INCREMENT column stays 0.
/// Without `NO_BACKSLASH_ESCAPES`, as every session barge opens: the literals
/// of the commit record (`SqlSource::string_literal`) and the `VALUES`
/// fallback escape backslashes.
pub const SQL_MODE: &str = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION";

/// Most rows in one fallback `INSERT`.
pub(super) const INSERT_ROWS: usize = 1000;
/// Target size of one fallback `INSERT` statement (below the default 16 MiB
/// `max_allowed_packet`).
pub(super) const INSERT_BYTES: usize = 4 << 20;
/// Encoded batches in flight to the LOAD DATA task.
const CHANNEL_CHUNKS: usize = 2;
/// Warnings quoted in an error.
const WARNINGS_SHOWN: usize = 5;
/// Warning codes that say nothing about the data (1592: statement unsafe for
/// statement-based binary logging).
const BENIGN_WARNINGS: &[u32] = &[1592];

/// Writes batches into one MySQL/MariaDB table inside one transaction.
pub struct MySqlWriter {
    connection: String,
    table: String,
    handle: Handle,
    encoder: TsvEncoder,
    /// The schema batches are cast to before encoding, when it differs.
    load_schema: Option<SchemaRef>,
    rows_sent: u64,
    /// Rows the server reported written so far (INSERT path).
    written: u64,
    /// Run in the transaction after the rows.
    finish: Vec<String>,
    path: Path,
}

enum Path {
    Load(Load),
    Insert(Insert),
}

/// The running `LOAD DATA` statement.
struct Load {
    tx: Option<mpsc::Sender<Chunk>>,
    /// Gives the session back, its transaction open, with the rows stored.
    task: Option<JoinHandle<EngineResult<(Conn, u64)>>>,
}

enum Chunk {
    Data(Bytes),
    /// The last batch was sent; the value is the number of rows.
    End(u64),
}

/// Multi-row INSERTs on a session held by the writer.
struct Insert {
    conn: Option<Conn>,
    /// `INSERT INTO t (..) VALUES `.
    head: String,
    /// ` ON DUPLICATE KEY UPDATE ...` or empty.
    tail: String,
    /// Rows written are the server's affected rows (else the rows sent: an
    /// upsert's update counts 2).
    count_affected: bool,
    buf: Vec<u8>,
    rows_per_statement: usize,
    committed: bool,
}

/// What the statements of one load look like.
pub(super) struct Plan {
    pub(super) table_sql: String,
    pub(super) columns_sql: Vec<String>,
    /// The temporary table loaded first (insert_ignore, upsert).
    pub(super) stage_sql: Option<String>,
    /// `ON DUPLICATE KEY UPDATE ...` of the mode, or empty.
    pub(super) on_duplicate: String,
    pub(super) mode: WriteMode,
    /// `FOREIGN_KEY_CHECKS = 0` for the session (the pool's reset restores it).
    pub(super) disable_fk_checks: bool,
    /// The load's own statements, first in its transaction (a truncate's DELETE).
    pub(super) setup: Vec<String>,
}

/// What both writers start from: the connection's transaction open (and
/// its stage table), the encoder, and the `LOAD DATA` statement when the
/// server takes it.
pub(super) struct Opened {
    pub(super) connection: String,
    pub(super) table: String,
    pub(super) handle: Handle,
    pub(super) load_schema: Option<SchemaRef>,
    pub(super) encoder: TsvEncoder,
    pub(super) plan: Plan,
    pub(super) conn: Conn,
    pub(super) load_sql: Option<String>,
}

impl Opened {
    /// Called on a blocking thread.
    pub(super) fn start(
        mysql: &MySqlConnection,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let connection = mysql.name.clone();
        let table = target.table.to_string();
        let handle = Handle::try_current().map_err(|e| {
            EngineError::query(
                &connection,
                Some(&table),
                None,
                format!("no async runtime: {e}"),
            )
        })?;
        let load_schema = load_schema(&schema);
        let encoder = TsvEncoder::new(
            &connection,
            &table,
            load_schema.clone().unwrap_or_else(|| schema.clone()),
        )?;
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let plan = plan(mysql, target, &columns)?;
        check_key(mysql, &handle, target)?;
        let conn = handle.block_on(start(mysql, &plan))?;
        let load_sql = if mysql.local_infile {
            let numbers = handle.block_on(number_columns(mysql, target, &columns))?;
            Some(encoder.load_data_sql(
                plan.stage_sql.as_deref().unwrap_or(&plan.table_sql),
                &plan.columns_sql,
                &numbers,
                None,
            ))
        } else {
            None
        };
        Ok(Self {
            connection,
            table,
            handle,
            load_schema,
            encoder,
            plan,
            conn,
            load_sql,
        })
    }
}

impl MySqlWriter {
    /// Starts the load of `target` (its table resolved to a database).
    /// Called on a blocking thread.
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
        let path = if let Some(load_sql) = load_sql {
            let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
            let task = handle.spawn(run_load(
                conn,
                connection.clone(),
                table.clone(),
                load_sql,
                plan,
                rx,
            ));
            Path::Load(Load {
                tx: Some(tx),
                task: Some(task),
            })
        } else {
            let head = format!(
                "INSERT INTO {} ({}) VALUES ",
                plan.table_sql,
                plan.columns_sql.join(", ")
            );
            Path::Insert(Insert {
                conn: Some(conn),
                head,
                tail: plan.on_duplicate.clone(),
                count_affected: plan.mode != WriteMode::Upsert,
                buf: Vec::new(),
                rows_per_statement: INSERT_ROWS,
                committed: false,
            })
        };
        Ok(Self {
            connection,
            table,
            handle,
            encoder,
            load_schema,
            rows_sent: 0,
            written: 0,
            finish: target.finish.clone(),
            path,
        })
    }

    fn error(&self, message: impl ToString) -> EngineError {
        EngineError::query(&self.connection, Some(&self.table), None, message)
    }

    /// `batch` with the columns the encoder cannot take cast to ones it can.
    fn cast(&self, batch: &RecordBatch) -> EngineResult<RecordBatch> {
        let Some(schema) = &self.load_schema else {
            return Ok(batch.clone());
        };
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
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| self.error(e))
    }

    /// The load task's error after it stopped taking data.
    fn load_failure(&mut self) -> EngineError {
        let task = match &mut self.path {
            Path::Load(load) => load.task.take(),
            Path::Insert(_) => None,
        };
        match task.map(|t| self.handle.block_on(t)) {
            Some(Ok(Err(e))) => e,
            Some(Err(e)) => self.error(format!("the LOAD DATA task failed: {e}")),
            _ => self.error("the LOAD DATA statement ended before the last batch"),
        }
    }
}

impl BatchWriter for MySqlWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        let batch = self.cast(batch)?;
        let rows = batch.num_rows();
        match &mut self.path {
            Path::Load(load) => {
                let mut buf = Vec::new();
                self.encoder.encode(&batch, &mut buf)?;
                self.rows_sent += rows as u64;
                let sent = match &load.tx {
                    Some(tx) => tx.blocking_send(Chunk::Data(Bytes::from(buf))).is_ok(),
                    None => false,
                };
                if !sent {
                    return Err(self.load_failure());
                }
                Ok(0)
            }
            Path::Insert(insert) => {
                let mut written = 0;
                let mut start = 0;
                while start < rows {
                    let n = insert.rows_per_statement.min(rows - start);
                    let slice = batch.slice(start, n);
                    insert.buf.clear();
                    insert.buf.extend_from_slice(insert.head.as_bytes());
                    self.encoder.encode_values(&slice, &mut insert.buf)?;
                    insert.buf.extend_from_slice(insert.tail.as_bytes());
                    let size = insert.buf.len();
                    let Some(conn) = insert.conn.as_mut() else {
                        return Err(EngineError::query(
                            &self.connection,
                            Some(&self.table),
                            None,
                            "the writer has no session",
                        ));
                    };
                    let first_row = self.rows_sent + start as u64 + 1;
                    let affected = self.handle.block_on(async {
                        conn.query_drop(insert.buf.as_slice()).await.map_err(|e| {
                            let message =
                                format!("rows {first_row}..{}: {e}", first_row + n as u64 - 1);
                            (message, error_code(&e))
                        })?;
                        let affected = conn.affected_rows();
                        if conn.get_warnings() > 0 {
                            if let Some(w) = warnings(conn).await {
                                return Err((format!(
                                    "rows {first_row}..{}: the server changed or refused values:{w}\n  hint: CAST the column in the step SQL to a type that fits the target column",
                                    first_row + n as u64 - 1
                                ), None));
                            }
                        }
                        Ok(affected)
                    });
                    let affected = affected.map_err(|(message, code)| {
                        EngineError::query(&self.connection, Some(&self.table), None, message)
                            .with_code(code)
                    })?;
                    written += if insert.count_affected {
                        affected
                    } else {
                        n as u64
                    };
                    // Keep statements well under max_allowed_packet.
                    let per_row = size / n.max(1) + 1;
                    insert.rows_per_statement = (INSERT_BYTES / per_row).clamp(1, INSERT_ROWS);
                    start += n;
                }
                self.rows_sent += rows as u64;
                self.written += written;
                Ok(written)
            }
        }
    }

    fn finish(mut self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
        let rows = self.rows_sent;
        let error = |message: String| {
            EngineError::query(&self.connection, Some(&self.table), None, message)
        };
        let (mut conn, written) = match &mut self.path {
            Path::Load(load) => {
                // A failed send means the task already ended: its result says why.
                if let Some(tx) = load.tx.take() {
                    let _ = tx.blocking_send(Chunk::End(rows));
                }
                let task = load.task.take();
                match task.map(|t| self.handle.block_on(t)) {
                    Some(Ok(result)) => result?,
                    Some(Err(e)) => return Err(error(format!("the LOAD DATA task failed: {e}"))),
                    None => return Err(error("the load was already stopped".into())),
                }
            }
            Path::Insert(insert) => {
                let conn = insert
                    .conn
                    .take()
                    .ok_or_else(|| error("the writer has no session".into()))?;
                // Committed or rolled back below, whatever happens.
                insert.committed = true;
                (conn, self.written)
            }
        };
        let (connection, table, finish) = (&self.connection, &self.table, &self.finish);
        self.handle.block_on(async {
            let result = commit(&mut conn, connection, table, finish, observer, written).await;
            if result.is_err() {
                let _ = conn.query_drop("ROLLBACK").await;
            }
            result
        })?;
        Ok(written)
    }
}

/// The end of every MySQL load: the observer's check of the rows the server
/// wrote and its commit record, the load's `finish` statements, the COMMIT.
pub(super) async fn commit(
    conn: &mut Conn,
    connection: &str,
    table: &str,
    finish: &[String],
    observer: &dyn LoadObserver,
    written: u64,
) -> EngineResult<()> {
    let record = observer.before_commit(written)?;
    for sql in finish
        .iter()
        .chain(&record)
        .map(String::as_str)
        .chain(["COMMIT"])
    {
        conn.query_drop(sql).await.map_err(|e| {
            EngineError::query(connection, Some(table), Some(sql), &e).with_code(error_code(&e))
        })?;
    }
    observer.after_commit()
}

impl Drop for MySqlWriter {
    fn drop(&mut self) {
        match &mut self.path {
            // The stream ends without its end marker: the statement fails and
            // the task rolls back.
            Path::Load(load) => drop(load.tx.take()),
            Path::Insert(insert) => {
                if let Some(mut conn) = insert.conn.take() {
                    if !insert.committed {
                        self.handle.spawn(async move {
                            let _ = conn.query_drop("ROLLBACK").await;
                        });
                    }
                }
            }
        }
    }
}

/// Fails when an `insert_ignore` or `upsert` target has no unique key on
/// the step's key.
fn check_key(mysql: &MySqlConnection, handle: &Handle, target: &TargetSpec) -> EngineResult<()> {
    if !target.mode.needs_key() {
        return Ok(());
    }
    let keys = handle.block_on(mysql.unique_keys(&target.table))?;
    let wanted: std::collections::BTreeSet<&str> = target.key.iter().map(String::as_str).collect();
    if !keys.iter().any(|k| {
        k.iter()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            == wanted
    }) {
        return Err(EngineError::query(
            &mysql.name,
            Some(&target.table.to_string()),
            None,
            format!(
                "mode {} needs a PRIMARY KEY or UNIQUE index on ({}), and the table has none\n  hint: add one (ALTER TABLE ... ADD UNIQUE (...)), or use mode = \"replace\" to recreate the table with the key",
                target.mode,
                target.key.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Per column: whether the load gives it a number (see [`loads_as_number`]).
async fn number_columns(
    mysql: &MySqlConnection,
    target: &TargetSpec,
    columns: &[String],
) -> EngineResult<Vec<bool>> {
    let declared = mysql.columns(&target.table).await?;
    Ok(columns
        .iter()
        .map(|c| {
            declared
                .iter()
                .any(|d| d.name.eq_ignore_ascii_case(c) && loads_as_number(d))
        })
        .collect())
}

/// The schema batches are cast to when the encoder cannot take a column's
/// type as is; `None` when every column fits.
pub(super) fn load_schema(schema: &SchemaRef) -> Option<SchemaRef> {
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let to = match f.data_type() {
                DataType::Float16 => Some(DataType::Float32),
                DataType::Date64 => Some(DataType::Date32),
                DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => {
                    Some(DataType::Decimal128(*p, *s))
                }
                DataType::Dictionary(_, value) if !value.is_string() => {
                    Some(value.as_ref().clone())
                }
                _ => None,
            };
            match to {
                Some(t) => {
                    changed = true;
                    f.as_ref().clone().with_data_type(t)
                }
                None => f.as_ref().clone(),
            }
        })
        .collect();
    changed.then(|| Arc::new(Schema::new(fields)))
}

/// Statement pieces for `target`'s mode.
/// Whether a column takes a text value differently from the number it
/// spells, so a load gives it numbers: `BIT(n)` ('1' is the byte 0x31) and
/// `YEAR` ('0' is 2000, the number 0 is 0000).
fn loads_as_number(column: &ColumnInfo) -> bool {
    matches!(column.data_type.as_str(), "bit" | "year")
}

fn plan(mysql: &MySqlConnection, target: &TargetSpec, columns: &[String]) -> EngineResult<Plan> {
    let table = target.table.to_string();
    if columns.is_empty() {
        return Err(EngineError::query(
            &mysql.name,
            Some(&table),
            None,
            "the step's output has no columns",
        ));
    }
    let table_sql = mysql.quote_table(&target.table);
    let columns_sql: Vec<String> = columns.iter().map(|c| mysql.quote_ident(c)).collect();
    if target.mode.needs_key() {
        if target.key.is_empty() {
            return Err(EngineError::query(
                &mysql.name,
                Some(&table),
                None,
                format!("mode {} needs the step's key", target.mode),
            ));
        }
        for k in &target.key {
            if !columns.contains(k) {
                return Err(EngineError::column(
                    &mysql.name,
                    &table,
                    k,
                    "the key column is not in the step's output",
                ));
            }
        }
    }
    let first_key = target
        .key
        .first()
        .map(|k| mysql.quote_ident(k))
        .unwrap_or_default();
    let keep =
        format!(" ON DUPLICATE KEY UPDATE {table_sql}.{first_key} = {table_sql}.{first_key}");
    let on_duplicate = match target.mode {
        WriteMode::InsertIgnore => keep,
        WriteMode::Upsert => {
            let updates: Vec<String> = columns
                .iter()
                .filter(|c| !target.key.contains(c))
                .map(|c| {
                    let q = mysql.quote_ident(c);
                    format!("{table_sql}.{q} = VALUES({q})")
                })
                .collect();
            if updates.is_empty() {
                keep
            } else {
                format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", "))
            }
        }
        _ => String::new(),
    };
    let stage_sql = target.mode.needs_key().then(|| {
        let name = format!("barge_stage_{}", uuid::Uuid::new_v4().simple());
        mysql.quote_ident(&name)
    });
    Ok(Plan {
        table_sql,
        columns_sql,
        stage_sql,
        on_duplicate,
        mode: target.mode,
        disable_fk_checks: target.disable_fk_checks,
        setup: target.setup.clone(),
    })
}

/// A session ready to load: strict `sql_mode`, the staging table, and an
/// open transaction.
async fn start(mysql: &MySqlConnection, plan: &Plan) -> EngineResult<Conn> {
    let mut conn = mysql.conn().await?;
    let mut statements = vec![format!("SET SESSION sql_mode = '{SQL_MODE}'")];
    if plan.disable_fk_checks {
        statements.push("SET SESSION FOREIGN_KEY_CHECKS = 0".to_string());
    }
    if let Some(stage) = &plan.stage_sql {
        // No keys on the stage: every row is loaded, duplicates are resolved
        // by the final INSERT ... SELECT in input order.
        statements.push(format!(
            "CREATE TEMPORARY TABLE {stage} AS SELECT {} FROM {} LIMIT 0",
            plan.columns_sql.join(", "),
            plan.table_sql
        ));
    }
    statements.push("START TRANSACTION".to_string());
    statements.extend(plan.setup.iter().cloned());
    for sql in &statements {
        conn.query_drop(sql)
            .await
            .map_err(|e| mysql.server_error(None, Some(sql), e))?;
    }
    Ok(conn)
}

/// The first warnings of the last statement, one per line; `None` when all
/// of them are benign.
pub(super) async fn warnings(conn: &mut Conn) -> Option<String> {
    let total = conn.get_warnings();
    let rows: Vec<(String, u32, String)> = match conn.query("SHOW WARNINGS").await {
        Ok(rows) => rows,
        Err(e) => {
            return Some(format!(
                "\n  {total} warning(s) (SHOW WARNINGS failed: {e})"
            ))
        }
    };
    let relevant: Vec<&(String, u32, String)> = rows
        .iter()
        .filter(|(_, code, _)| !BENIGN_WARNINGS.contains(code))
        .collect();
    if relevant.is_empty() && !rows.is_empty() {
        return None;
    }
    let mut text = String::new();
    for (level, code, message) in relevant.iter().take(WARNINGS_SHOWN) {
        text.push_str(&format!("\n    {level} {code}: {message}"));
    }
    if usize::from(total) > WARNINGS_SHOWN {
        text.push_str(&format!("\n    ... {} warning(s) in all", total));
    }
    Some(text)
}

/// Runs the `LOAD DATA` statement over the channel's chunks, then merges the
/// stage (if any), and gives the session back with its transaction open
/// for the writer to commit. Rolls back on any failure, including a stream
/// that closes without its end marker (the writer was dropped).
async fn run_load(
    mut conn: Conn,
    connection: String,
    table: String,
    load_sql: String,
    plan: Plan,
    rx: mpsc::Receiver<Chunk>,
) -> EngineResult<(Conn, u64)> {
    let result = load_and_merge(&mut conn, &connection, &table, &load_sql, &plan, rx).await;
    if let Some(stage) = &plan.stage_sql {
        let _ = conn
            .query_drop(format!("DROP TEMPORARY TABLE IF EXISTS {stage}"))
            .await;
    }
    match result {
        Ok(rows) => Ok((conn, rows)),
        Err(e) => {
            let _ = conn.query_drop("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn load_and_merge(
    conn: &mut Conn,
    connection: &str,
    table: &str,
    load_sql: &str,
    plan: &Plan,
    rx: mpsc::Receiver<Chunk>,
) -> EngineResult<u64> {
    let end: Arc<Mutex<Option<u64>>> = Arc::new(Mutex::new(None));
    let end_seen = end.clone();
    let stream = futures::stream::unfold(Some(rx), move |state| {
        let end = end_seen.clone();
        async move {
            let mut rx = state?;
            match rx.recv().await {
                Some(Chunk::Data(bytes)) => Some((Ok(bytes), Some(rx))),
                Some(Chunk::End(rows)) => {
                    if let Ok(mut e) = end.lock() {
                        *e = Some(rows);
                    }
                    None
                }
                None => Some((
                    Err(std::io::Error::other(
                        "the step stopped before its last batch",
                    )),
                    None,
                )),
            }
        }
    });
    conn.set_infile_handler(async move { Ok(stream.boxed()) });
    let error = |sql: &str, message: String| {
        EngineError::query(connection, Some(table), Some(sql), message)
    };
    conn.query_drop(load_sql).await.map_err(|e| {
        let mut message = e.to_string();
        if message.contains("LOAD DATA LOCAL") || message.contains("not allowed") {
            message.push_str(
                "\n  hint: the server refuses LOAD DATA LOCAL INFILE; enable local_infile on it",
            );
        }
        error(load_sql, message).with_code(error_code(&e))
    })?;
    let loaded = conn.affected_rows();
    let Some(sent) = end.lock().ok().and_then(|e| *e) else {
        return Err(error(
            load_sql,
            "the load stopped before the step's last batch; rolled back".to_string(),
        ));
    };
    if conn.get_warnings() > 0 {
        if let Some(w) = warnings(conn).await {
            return Err(EngineError::query(
                connection,
                Some(table),
                None,
                format!(
                    "LOAD DATA stored values other than the ones sent, or skipped rows; rolled back:{w}\n  hint: a value does not fit its column (CAST it in the step SQL to a type that fits), or a key is duplicated (use mode = \"insert_ignore\" or \"upsert\")"
                ),
            ));
        }
    }
    if loaded != sent {
        return Err(EngineError::query(
            connection,
            Some(table),
            None,
            format!(
                "LOAD DATA stored {loaded} of the {sent} rows sent (duplicate keys are skipped); rolled back\n  hint: use mode = \"insert_ignore\" or \"upsert\" with the table's key"
            ),
        ));
    }
    let Some(stage) = &plan.stage_sql else {
        return Ok(loaded);
    };
    let merge = format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage}{}",
        plan.table_sql,
        plan.on_duplicate,
        cols = plan.columns_sql.join(", ")
    );
    conn.query_drop(&merge)
        .await
        .map_err(|e| error(&merge, e.to_string()).with_code(error_code(&e)))?;
    Ok(match plan.mode {
        WriteMode::Upsert => sent,
        _ => conn.affected_rows(),
    })
}
