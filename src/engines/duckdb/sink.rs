//! [`DuckDbWriter`]: loads a step's batches into a DuckDB table in one
//! transaction through DuckDB's Appender, fed Arrow batches bridged to the
//! arrow version `duckdb` is built on.
//!
//! `append`, `replace`, `truncate` and `error_if_exists` append straight into
//! the target. `insert_ignore` and `upsert` append into a temporary staging
//! table and merge it at the end with `INSERT OR IGNORE` / `INSERT OR REPLACE`
//! (which need the primary key barge creates from the step's key); when the
//! step's output repeats a key, the first row wins for `insert_ignore` and the
//! last for `upsert`, as if the rows had been inserted one at a time.
//!
//! The Appender takes almost every Arrow type (DuckDB casts each chunk to the
//! column types). Before appending, barge casts what it cannot take:
//! dictionaries to their values, Float16 to Float32, Decimal256 to
//! Decimal128, and all-NULL (`Null`) columns to the target column's type.
//! Intervals and durations go as text (`1 months 2 days 3 microseconds`)
//! that DuckDB casts back: the Appender writes NULL intervals as zero. For
//! the same reason intervals nested in lists or structs are refused.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::{can_cast_types, cast};
use datafusion::arrow::datatypes::{
    DataType, Field, Fields, IntervalMonthDayNanoType, IntervalUnit, Schema, SchemaRef,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::connect::DuckDbConnection;
use super::database::Session;
use crate::engines::arrow_bridge::{batch_to_duckdb, schema_from_duckdb};
use crate::engines::hooks::LoadObserver;
use crate::engines::sql::SqlSource;
use crate::engines::BatchWriter;
use crate::error::{EngineError, EngineResult};
use crate::ident::quote;
use crate::model::{TableName, TargetSpec, WriteMode};

/// Largest DECIMAL precision DuckDB (and Decimal128) holds.
const MAX_DECIMAL_PRECISION: u8 = 38;

/// Writes batches into one DuckDB table inside one transaction.
pub(crate) struct DuckDbWriter {
    session: Session,
    connection: String,
    table: TableName,
    quoted_table: String,
    mode: WriteMode,
    key: Vec<String>,
    /// Column names the batches fill, in batch order.
    columns: Vec<String>,
    /// Temporary staging table for `insert_ignore` / `upsert`.
    staging: Option<String>,
    /// Arrow type of each target column DuckDB reports, by lowercase name.
    target_types: HashMap<String, DataType>,
    /// Rows appended so far (DuckDB's appender reports no count: barge's).
    appended: u64,
    /// Run in the transaction after the rows (a replace's swap).
    finish: Vec<String>,
    committed: bool,
}

impl DuckDbWriter {
    /// Begins the transaction (and creates the staging table) for `target`.
    pub(crate) fn open(
        conn: &DuckDbConnection,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let session = conn.session()?;
        let table = conn.resolve(&target.table);
        let quoted_table = conn.quote_table(&table);
        let mut writer = Self {
            session,
            connection: conn.connection_name().to_string(),
            table,
            quoted_table,
            mode: target.mode,
            key: target.key.clone(),
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            staging: None,
            target_types: HashMap::new(),
            appended: 0,
            finish: target.finish.clone(),
            committed: false,
        };
        writer.run("BEGIN TRANSACTION")?;
        // The load's own statements (a truncate's DELETE, the CREATE of a
        // missing table) run in its transaction: a failed load undoes them.
        for sql in &target.setup {
            writer.run(sql)?;
        }
        writer.target_types = writer.read_target_types()?;
        if writer.has_index()? {
            // DuckDB keeps a table's indexes (a primary key, a unique
            // constraint) in memory: past the bounded pool a keyed load of a
            // few million rows fails to allocate. Such a load gets DuckDB's
            // own limit (80% of RAM) instead.
            writer.run("RESET memory_limit")?;
        }
        if matches!(target.mode, WriteMode::InsertIgnore | WriteMode::Upsert) {
            let staging = format!("barge_stage_{}", uuid::Uuid::new_v4().simple());
            writer.run(&format!(
                "CREATE TEMP TABLE {} AS SELECT {} FROM {} LIMIT 0",
                quote(&staging),
                writer.column_list(),
                writer.quoted_table
            ))?;
            writer.staging = Some(staging);
        }
        Ok(writer)
    }

    fn error(&self, sql: Option<&str>, message: impl ToString) -> EngineError {
        EngineError::query(
            &self.connection,
            Some(&self.table.to_string()),
            sql,
            message,
        )
    }

    /// Runs one statement; returns rows changed.
    /// Whether the target table has an index (a primary key, a unique
    /// constraint or a `CREATE INDEX`).
    fn has_index(&self) -> EngineResult<bool> {
        let sql = "SELECT (SELECT count(*) FROM duckdb_constraints() c
                           WHERE c.schema_name = ?1 AND c.table_name = ?2
                             AND c.constraint_type IN ('PRIMARY KEY', 'UNIQUE'))
                        + (SELECT count(*) FROM duckdb_indexes() i
                           WHERE i.schema_name = ?1 AND i.table_name = ?2)";
        let schema = self.table.schema.as_deref().unwrap_or("main");
        let n: i64 = self
            .session
            .query_row(sql, [schema, self.table.name.as_str()], |row| row.get(0))
            .map_err(|e| self.error(Some(sql), e))?;
        Ok(n > 0)
    }

    fn run(&self, sql: &str) -> EngineResult<u64> {
        self.session
            .execute(sql, [])
            .map(|n| n as u64)
            .map_err(|e| self.error(Some(sql), e))
    }

    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn read_target_types(&self) -> EngineResult<HashMap<String, DataType>> {
        let sql = format!("SELECT * FROM {} LIMIT 0", self.quoted_table);
        let mut stmt = self
            .session
            .prepare(&sql)
            .map_err(|e| self.error(Some(&sql), e))?;
        let stream = stmt
            .stream_arrow([])
            .map_err(|e| self.error(Some(&sql), e))?;
        let schema =
            schema_from_duckdb(&stream.get_schema()).map_err(|e| self.error(Some(&sql), e))?;
        Ok(schema
            .fields()
            .iter()
            .map(|f| (f.name().to_lowercase(), f.data_type().clone()))
            .collect())
    }

    /// The batch with every column in a type the Appender takes.
    fn appendable(&self, batch: &RecordBatch) -> EngineResult<RecordBatch> {
        let schema = batch.schema();
        let mut fields = Vec::with_capacity(batch.num_columns());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        let mut changed = false;
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let column_error = |message: String| {
                EngineError::column(
                    &self.connection,
                    &self.table.to_string(),
                    field.name(),
                    format!("{message}\n  hint: CAST the column in the step's SQL"),
                )
            };
            let converted = match field.data_type() {
                DataType::Interval(_) | DataType::Duration(_) => {
                    Some(interval_text(column).map_err(|e| {
                        column_error(format!("cannot convert {}: {e}", field.data_type()))
                    })?)
                }
                dt if contains_interval(dt) => {
                    return Err(column_error(format!(
                        "DuckDB's Appender loses the NULLs of intervals nested in {dt}"
                    )))
                }
                DataType::Null => {
                    let to = self
                        .target_types
                        .get(&field.name().to_lowercase())
                        .filter(|t| can_cast_types(&DataType::Null, t))
                        .cloned()
                        .unwrap_or(DataType::Utf8);
                    Some(new_null_array(&to, column.len()))
                }
                other => match appender_type(other) {
                    Some(to) => Some(cast(column, &to).map_err(|e| {
                        column_error(format!(
                            "cannot convert {} to {to} for DuckDB's Appender: {e}",
                            field.data_type()
                        ))
                    })?),
                    None => None,
                },
            };
            match converted {
                Some(column) => {
                    // The Appender ignores nullability; the target enforces NOT NULL.
                    fields.push(
                        field
                            .as_ref()
                            .clone()
                            .with_data_type(column.data_type().clone())
                            .with_nullable(true),
                    );
                    columns.push(column);
                    changed = true;
                }
                None => {
                    fields.push(field.as_ref().clone());
                    columns.push(column.clone());
                }
            }
        }
        if !changed {
            return Ok(batch.clone());
        }
        let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        RecordBatch::try_new_with_options(
            schema,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| self.error(None, e))
    }

    /// Appends one batch into the target or the staging table.
    fn append(&self, batch: &RecordBatch) -> EngineResult<()> {
        let batch = self.appendable(batch)?;
        let bridged = batch_to_duckdb(&batch).map_err(|e| self.error(None, e))?;
        let columns: Vec<&str> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let schema = self.table.schema.as_deref().unwrap_or("main");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut appender = match &self.staging {
                Some(staging) => self
                    .session
                    .appender_with_columns_to_catalog_and_db(staging, "temp", "main", &columns),
                None => {
                    self.session
                        .appender_with_columns_to_db(&self.table.name, schema, &columns)
                }
            }?;
            appender.append_record_batch(bridged)?;
            appender.flush()
        }));
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.error(None, format!("append failed: {e}"))),
            Err(panic) => Err(self.error(
                None,
                format!(
                    "append failed: {}",
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic in the DuckDB Appender".to_string())
                ),
            )),
        }
    }

    /// `INSERT OR IGNORE` / `INSERT OR REPLACE` from the staging table.
    fn merge_sql(&self, staging: &str) -> String {
        let verb = if self.mode == WriteMode::Upsert {
            "INSERT OR REPLACE"
        } else {
            "INSERT OR IGNORE"
        };
        let columns = self.column_list();
        let mut sql = format!(
            "{verb} INTO {} ({columns}) SELECT {columns} FROM temp.main.{}",
            self.quoted_table,
            quote(staging)
        );
        if !self.key.is_empty() {
            // One row per key: the last wins for upsert, the first for ignore.
            let order = if self.mode == WriteMode::Upsert {
                "DESC"
            } else {
                "ASC"
            };
            let key = self
                .key
                .iter()
                .map(|k| quote(k))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push_str(&format!(
                " QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY rowid {order}) = 1"
            ));
        }
        sql
    }
}

/// The type to cast an Arrow type to before the Appender, `None` when the
/// Appender takes it as it is.
fn appender_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Dictionary(_, values) => {
            Some(appender_type(values).unwrap_or_else(|| values.as_ref().clone()))
        }
        DataType::Float16 => Some(DataType::Float32),
        DataType::Decimal256(p, s) => {
            Some(DataType::Decimal128((*p).min(MAX_DECIMAL_PRECISION), *s))
        }
        DataType::RunEndEncoded(_, values) => {
            Some(appender_type(values.data_type()).unwrap_or_else(|| values.data_type().clone()))
        }
        DataType::List(child) => {
            appender_type(child.data_type()).map(|t| DataType::List(with_type(child, t)))
        }
        DataType::LargeList(child) => {
            appender_type(child.data_type()).map(|t| DataType::LargeList(with_type(child, t)))
        }
        DataType::FixedSizeList(child, n) => appender_type(child.data_type())
            .map(|t| DataType::FixedSizeList(with_type(child, t), *n)),
        DataType::Struct(fields) => {
            let wanted: Vec<Option<DataType>> = fields
                .iter()
                .map(|f| appender_type(f.data_type()))
                .collect();
            if wanted.iter().all(Option::is_none) {
                return None;
            }
            let fields: Fields = fields
                .iter()
                .zip(wanted)
                .map(|(f, t)| match t {
                    Some(t) => with_type(f, t),
                    None => f.clone(),
                })
                .collect();
            Some(DataType::Struct(fields))
        }
        _ => None,
    }
}

/// Whether an interval or duration sits anywhere inside `data_type`.
fn contains_interval(data_type: &DataType) -> bool {
    match data_type {
        DataType::Interval(_) | DataType::Duration(_) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => contains_interval(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| contains_interval(f.data_type())),
        DataType::Dictionary(_, values) => contains_interval(values),
        DataType::RunEndEncoded(_, values) => contains_interval(values.data_type()),
        _ => false,
    }
}

/// Intervals and durations as text DuckDB casts to INTERVAL
/// (`1 months 2 days 3 microseconds`). The Appender's own interval path
/// writes NULL intervals as zero; text keeps them NULL.
fn interval_text(column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let intervals = cast(column, &DataType::Interval(IntervalUnit::MonthDayNano))?;
    let text: StringArray = intervals
        .as_primitive::<IntervalMonthDayNanoType>()
        .iter()
        .map(|v| {
            v.map(|v| {
                format!(
                    "{} months {} days {} microseconds",
                    v.months,
                    v.days,
                    v.nanoseconds / 1_000
                )
            })
        })
        .collect();
    Ok(Arc::new(text))
}

fn with_type(field: &Arc<Field>, data_type: DataType) -> Arc<Field> {
    Arc::new(field.as_ref().clone().with_data_type(data_type))
}

impl BatchWriter for DuckDbWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        if batch.num_rows() == 0 {
            return Ok(0);
        }
        self.append(batch)?;
        self.appended += batch.num_rows() as u64;
        Ok(if self.staging.is_some() {
            0
        } else {
            batch.num_rows() as u64
        })
    }

    fn finish(mut self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
        let written = match self.staging.clone() {
            Some(staging) => {
                let sql = self.merge_sql(&staging);
                let rows = self.session.execute(&sql, []).map_err(|e| {
                    let message = e.to_string();
                    let message = if message.contains("PRIMARY KEY") || message.contains("UNIQUE") {
                        format!(
                            "{message}\n  hint: {} needs a PRIMARY KEY or UNIQUE constraint on the step's key ({}); barge adds it when it creates the table",
                            self.mode,
                            self.key.join(", ")
                        )
                    } else {
                        message
                    };
                    self.error(Some(&sql), message)
                })? as u64;
                self.run(&format!("DROP TABLE temp.main.{}", quote(&staging)))?;
                rows
            }
            None => self.appended,
        };
        let record = observer.before_commit(written)?;
        for sql in self.finish.iter().chain(&record) {
            self.run(sql)?;
        }
        self.run("COMMIT")?;
        self.committed = true;
        observer.after_commit()?;
        Ok(written)
    }
}

impl Drop for DuckDbWriter {
    fn drop(&mut self) {
        if !self.committed {
            // The load failed or was cancelled: nothing of it stays.
            let _ = self.session.execute("ROLLBACK", []);
        }
    }
}
