//! [`SqliteWriter`]: loads batches into a SQLite table with prepared
//! multi-row `INSERT`s inside one `BEGIN IMMEDIATE` transaction, committed by
//! `finish` and rolled back when the writer is dropped unfinished.
//!
//! Values are bound straight from the Arrow arrays: integers, floats and
//! bytes without any formatting; decimals, dates and times as text in a
//! reused buffer (their stored forms are listed in `types.rs`).
//!
//! | mode | statement |
//! |------|-----------|
//! | append, replace, truncate, error_if_exists | `INSERT INTO t (..) VALUES (..), ..` |
//! | insert_ignore | `... ON CONFLICT DO NOTHING` (skips rows that hit a unique key; unlike `INSERT OR IGNORE`, a NOT NULL or CHECK violation still fails) |
//! | upsert | `... ON CONFLICT (key) DO UPDATE SET c = excluded.c` for the non-key columns (`DO NOTHING` when every column is a key) |

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, Date32Array, Date64Array,
    Decimal128Array, Decimal256Array, Decimal32Array, Decimal64Array, FixedSizeBinaryArray,
    Float16Array, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array,
    LargeBinaryArray, LargeStringArray, StringArray, StringViewArray, UInt16Array, UInt32Array,
    UInt64Array, UInt8Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use rusqlite::types::Null;
use rusqlite::Statement;

use super::connect::{error_code, sqlite_error, SqliteConnection};
use super::types;
use crate::dates::{NANOS_PER_SEC, SECS_PER_DAY};
use crate::engines::hooks::LoadObserver;
use crate::engines::sql::SqlSource;
use crate::engines::BatchWriter;
use crate::error::{EngineError, EngineResult};
use crate::model::{TableName, TargetSpec, WriteMode};

/// Most rows bound by one `INSERT` statement.
const MAX_ROWS_PER_STATEMENT: usize = 256;
/// SQLite's default limit on host parameters in one statement (since 3.32).
const MAX_VARIABLES: usize = 32_766;

/// Writes batches into one SQLite table inside one transaction.
pub struct SqliteWriter {
    connection: String,
    table: String,
    conn: rusqlite::Connection,
    columns: Vec<String>,
    rows_per_statement: usize,
    /// `INSERT INTO t (..) VALUES` (without the row tuples).
    insert_head: String,
    /// `ON CONFLICT ...` clause, or empty.
    conflict: String,
    /// The statement for a full chunk of `rows_per_statement` rows.
    full_sql: String,
    /// The statement for the last, shorter chunk of a batch: (rows, sql).
    tail_sql: Option<(usize, String)>,
    /// Rows written before the current batch (for 1-based row numbers in errors).
    rows_seen: u64,
    /// Scratch buffer for decimal and date/time text.
    text: String,
    /// Rows SQLite reported inserted or updated so far.
    written: u64,
    /// Run in the transaction after the rows (a replace's swap).
    finish: Vec<String>,
    committed: bool,
}

impl SqliteWriter {
    /// Opens a connection to `sqlite`'s file and starts the transaction.
    /// `table` is resolved (schema `main`); columns are `schema`'s fields.
    pub(crate) fn open(
        sqlite: &SqliteConnection,
        table: &TableName,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let connection = sqlite.connection_name().to_string();
        let table_label = table.to_string();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        if columns.is_empty() {
            return Err(EngineError::query(
                &connection,
                Some(&table_label),
                None,
                "the step's output has no columns",
            ));
        }
        for field in schema.fields() {
            if types::declared_type(field.data_type()).is_none() {
                return Err(EngineError::column(
                    &connection,
                    &table_label,
                    field.name(),
                    format!(
                        "type {} cannot be stored in SQLite\n  hint: CAST the column in the step SQL",
                        field.data_type()
                    ),
                ));
            }
        }
        let quoted: Vec<String> = columns.iter().map(|c| sqlite.quote_ident(c)).collect();
        let conflict = conflict_clause(sqlite, &connection, &table_label, target, &columns)?;
        let insert_head = format!(
            "INSERT INTO {} ({}) VALUES ",
            sqlite.quote_table(table),
            quoted.join(", ")
        );
        let rows_per_statement = (MAX_VARIABLES / columns.len()).clamp(1, MAX_ROWS_PER_STATEMENT);
        let mut writer = Self {
            connection,
            table: table_label,
            conn: sqlite.connect()?,
            columns,
            rows_per_statement,
            insert_head,
            conflict,
            full_sql: String::new(),
            tail_sql: None,
            rows_seen: 0,
            text: String::new(),
            written: 0,
            finish: target.finish.clone(),
            committed: false,
        };
        writer.full_sql = writer.insert_sql(rows_per_statement);
        if target.disable_fk_checks {
            // Only outside a transaction, and for this connection only.
            writer
                .conn
                .execute_batch("PRAGMA foreign_keys = OFF")
                .map_err(|e| writer.sql_error(e, Some("PRAGMA foreign_keys = OFF")))?;
        }
        writer
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| writer.sql_error(e, Some("BEGIN IMMEDIATE")))?;
        // The load's own statements (a truncate's DELETE, the CREATE of a
        // missing table) run in its transaction: a failed load undoes them.
        for sql in &target.setup {
            writer
                .conn
                .execute_batch(sql)
                .map_err(|e| writer.sql_error(e, Some(sql)))?;
        }
        // Prepare once now: a wrong column or conflict target fails before any data.
        writer
            .conn
            .prepare_cached(&writer.full_sql)
            .map_err(|e| writer.sql_error(e, None))?;
        Ok(writer)
    }

    fn insert_sql(&self, rows: usize) -> String {
        let tuple = format!("({})", vec!["?"; self.columns.len()].join(", "));
        let mut sql = String::with_capacity(
            self.insert_head.len() + rows * (tuple.len() + 2) + self.conflict.len(),
        );
        sql.push_str(&self.insert_head);
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&tuple);
        }
        sql.push_str(&self.conflict);
        sql
    }

    fn sql_error(&self, e: rusqlite::Error, sql: Option<&str>) -> EngineError {
        let mut message = e.to_string();
        if message.contains("ON CONFLICT clause does not match") {
            message.push_str(
                "\n  hint: the step's key must be the table's PRIMARY KEY or a UNIQUE index",
            );
        }
        EngineError::query(&self.connection, Some(&self.table), sql, message)
            .with_code(error_code(&e))
    }

    /// The failure of the `INSERT` of rows `first..=last`.
    fn statement_error(&self, first: u64, last: u64, e: &rusqlite::Error) -> EngineError {
        EngineError::query(
            &self.connection,
            Some(&self.table),
            None,
            format!("rows {first}..{last}: {e}"),
        )
        .with_code(error_code(e))
    }

    fn value_error(&self, column: usize, row: u64, message: impl std::fmt::Display) -> EngineError {
        let name = self.columns.get(column).map(String::as_str).unwrap_or("?");
        EngineError::column(
            &self.connection,
            &self.table,
            name,
            format!("row {row}: {message}"),
        )
    }
}

/// The `ON CONFLICT` clause of the mode (leading space included), or empty.
fn conflict_clause(
    sqlite: &SqliteConnection,
    connection: &str,
    table: &str,
    target: &TargetSpec,
    columns: &[String],
) -> EngineResult<String> {
    match target.mode {
        WriteMode::Append | WriteMode::Replace | WriteMode::Truncate | WriteMode::ErrorIfExists => {
            Ok(String::new())
        }
        WriteMode::InsertIgnore => Ok(" ON CONFLICT DO NOTHING".to_string()),
        WriteMode::Upsert => {
            if target.key.is_empty() {
                return Err(EngineError::query(
                    connection,
                    Some(table),
                    None,
                    "mode upsert needs the step's key",
                ));
            }
            for k in &target.key {
                if !columns.contains(k) {
                    return Err(EngineError::column(
                        connection,
                        table,
                        k,
                        "the key column is not in the step's output",
                    ));
                }
            }
            let keys: Vec<String> = target.key.iter().map(|k| sqlite.quote_ident(k)).collect();
            let updates: Vec<String> = columns
                .iter()
                .filter(|c| !target.key.contains(c))
                .map(|c| {
                    let q = sqlite.quote_ident(c);
                    format!("{q} = excluded.{q}")
                })
                .collect();
            Ok(if updates.is_empty() {
                format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "))
            } else {
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    keys.join(", "),
                    updates.join(", ")
                )
            })
        }
    }
}

/// Why [`SqliteWriter::insert`] stopped.
enum InsertFailure {
    /// A value SQLite cannot store (row numbers are 1-based in the step).
    Value {
        column: usize,
        row: u64,
        message: String,
    },
    /// An `INSERT` of rows `first..=last` failed.
    Statement {
        first: u64,
        last: u64,
        error: rusqlite::Error,
    },
    Other(Box<EngineError>),
}

impl From<EngineError> for InsertFailure {
    fn from(e: EngineError) -> Self {
        InsertFailure::Other(Box::new(e))
    }
}

/// Whether SQLite refused the rows (a constraint, a STRICT table's type
/// check) rather than the statement or the database.
fn refuses_rows(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation | rusqlite::ErrorCode::TypeMismatch)
    )
}

/// Savepoint around one batch of an isolated write.
const SAVEPOINT: &str = "barge_batch";

impl BatchWriter for SqliteWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        match self.insert(batch) {
            Ok(rows) => {
                self.written += rows;
                Ok(rows)
            }
            Err(InsertFailure::Value {
                column,
                row,
                message,
            }) => Err(self.value_error(column, row, message)),
            Err(InsertFailure::Statement { first, last, error }) => {
                Err(self.statement_error(first, last, &error))
            }
            Err(InsertFailure::Other(e)) => Err(*e),
        }
    }

    fn write_isolated(&mut self, batch: &RecordBatch) -> EngineResult<Result<u64, String>> {
        let savepoint = format!("SAVEPOINT {SAVEPOINT}");
        self.conn
            .execute_batch(&savepoint)
            .map_err(|e| self.sql_error(e, Some(&savepoint)))?;
        let refused = match self.insert(batch) {
            Ok(rows) => {
                let release = format!("RELEASE {SAVEPOINT}");
                self.conn
                    .execute_batch(&release)
                    .map_err(|e| self.sql_error(e, Some(&release)))?;
                self.written += rows;
                return Ok(Ok(rows));
            }
            Err(InsertFailure::Value {
                column, message, ..
            }) => {
                let name = self.columns.get(column).map(String::as_str).unwrap_or("?");
                format!("column '{name}': {message}")
            }
            Err(InsertFailure::Statement { error, .. }) if refuses_rows(&error) => {
                error.to_string()
            }
            Err(InsertFailure::Statement { first, last, error }) => {
                return Err(self.statement_error(first, last, &error))
            }
            Err(InsertFailure::Other(e)) => return Err(*e),
        };
        let undo = format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}");
        self.conn
            .execute_batch(&undo)
            .map_err(|e| self.sql_error(e, Some(&undo)))?;
        Ok(Err(refused))
    }

    fn finish(mut self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
        let record = observer.before_commit(self.written)?;
        for sql in self.finish.iter().chain(&record) {
            self.conn
                .execute_batch(sql)
                .map_err(|e| self.sql_error(e, Some(sql)))?;
        }
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| self.sql_error(e, Some("COMMIT")))?;
        self.committed = true;
        observer.after_commit()?;
        Ok(self.written)
    }
}

impl SqliteWriter {
    /// Inserts `batch` in statements of `rows_per_statement` rows.
    fn insert(&mut self, batch: &RecordBatch) -> Result<u64, InsertFailure> {
        if batch.num_columns() != self.columns.len() {
            return Err(EngineError::query(
                &self.connection,
                Some(&self.table),
                None,
                format!(
                    "a batch has {} columns, the writer expects {}",
                    batch.num_columns(),
                    self.columns.len()
                ),
            )
            .into());
        }
        // Dictionary columns are written as their values.
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (i, column) in batch.columns().iter().enumerate() {
            arrays.push(match column.data_type() {
                DataType::Dictionary(_, values) => {
                    cast(column, values).map_err(|e| InsertFailure::Value {
                        column: i,
                        row: self.rows_seen + 1,
                        message: e.to_string(),
                    })?
                }
                _ => column.clone(),
            });
        }
        let cols = arrays
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Column::new(a.as_ref()).ok_or_else(|| {
                    self.value_error(
                        i,
                        self.rows_seen + 1,
                        format!("type {} cannot be stored in SQLite", a.data_type()),
                    )
                })
            })
            .collect::<EngineResult<Vec<_>>>()?;
        let rows_seen = self.rows_seen;

        let rows = batch.num_rows();
        let mut changed = 0u64;
        let mut start = 0;
        while start < rows {
            let n = (rows - start).min(self.rows_per_statement);
            if n != self.rows_per_statement && self.tail_sql.as_ref().map(|t| t.0) != Some(n) {
                self.tail_sql = Some((n, self.insert_sql(n)));
            }
            let sql = if n == self.rows_per_statement {
                self.full_sql.as_str()
            } else {
                self.tail_sql
                    .as_ref()
                    .map(|t| t.1.as_str())
                    .unwrap_or_default()
            };
            let mut stmt = self
                .conn
                .prepare_cached(sql)
                .map_err(|e| sqlite_error(&self.connection, Some(&self.table), None, &e))?;
            let mut param = 1;
            for row in start..start + n {
                for (c, col) in cols.iter().enumerate() {
                    let row_number = rows_seen + row as u64 + 1;
                    bind(&mut stmt, param, col, row, &mut self.text).map_err(|e| match e {
                        BindError::Sqlite(e) => InsertFailure::from(EngineError::query(
                            &self.connection,
                            Some(&self.table),
                            None,
                            format!("row {row_number}: {e}"),
                        )),
                        BindError::Value(message) => InsertFailure::Value {
                            column: c,
                            row: row_number,
                            message,
                        },
                    })?;
                    param += 1;
                }
            }
            let done = stmt
                .raw_execute()
                .map_err(|error| InsertFailure::Statement {
                    first: rows_seen + start as u64 + 1,
                    last: rows_seen + (start + n) as u64,
                    error,
                })?;
            changed += done as u64;
            start += n;
        }
        self.rows_seen += rows as u64;
        Ok(changed)
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        if !self.committed && !self.conn.is_autocommit() {
            // Nothing to report to: the step already failed for another reason.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// A column of a batch, downcast once per batch.
enum Col<'a> {
    Null,
    Boolean(&'a BooleanArray),
    Int8(&'a Int8Array),
    Int16(&'a Int16Array),
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    UInt8(&'a UInt8Array),
    UInt16(&'a UInt16Array),
    UInt32(&'a UInt32Array),
    UInt64(&'a UInt64Array),
    Float16(&'a Float16Array),
    Float32(&'a Float32Array),
    Float64(&'a Float64Array),
    Decimal32(&'a Decimal32Array, i8),
    Decimal64(&'a Decimal64Array, i8),
    Decimal128(&'a Decimal128Array, i8),
    Decimal256(&'a Decimal256Array, i8),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Binary(&'a BinaryArray),
    LargeBinary(&'a LargeBinaryArray),
    BinaryView(&'a BinaryViewArray),
    FixedSizeBinary(&'a FixedSizeBinaryArray),
    Date32(&'a Date32Array),
    Date64(&'a Date64Array),
    /// Values in `unit` since the epoch; `true` when the type has a time zone.
    Timestamp(&'a dyn Array, TimeUnit, bool),
    /// Time of day in `unit`.
    Time(&'a dyn Array, TimeUnit),
}

struct Column<'a> {
    values: Col<'a>,
    nulls: Option<&'a NullBuffer>,
}

impl<'a> Column<'a> {
    fn new(a: &'a dyn Array) -> Option<Self> {
        let values = match a.data_type() {
            DataType::Null => Col::Null,
            DataType::Boolean => Col::Boolean(a.as_boolean()),
            DataType::Int8 => Col::Int8(a.as_primitive::<Int8Type>()),
            DataType::Int16 => Col::Int16(a.as_primitive::<Int16Type>()),
            DataType::Int32 => Col::Int32(a.as_primitive::<Int32Type>()),
            DataType::Int64 => Col::Int64(a.as_primitive::<Int64Type>()),
            DataType::UInt8 => Col::UInt8(a.as_primitive::<UInt8Type>()),
            DataType::UInt16 => Col::UInt16(a.as_primitive::<UInt16Type>()),
            DataType::UInt32 => Col::UInt32(a.as_primitive::<UInt32Type>()),
            DataType::UInt64 => Col::UInt64(a.as_primitive::<UInt64Type>()),
            DataType::Float16 => Col::Float16(a.as_primitive::<Float16Type>()),
            DataType::Float32 => Col::Float32(a.as_primitive::<Float32Type>()),
            DataType::Float64 => Col::Float64(a.as_primitive::<Float64Type>()),
            DataType::Decimal32(_, s) => Col::Decimal32(a.as_primitive::<Decimal32Type>(), *s),
            DataType::Decimal64(_, s) => Col::Decimal64(a.as_primitive::<Decimal64Type>(), *s),
            DataType::Decimal128(_, s) => Col::Decimal128(a.as_primitive::<Decimal128Type>(), *s),
            DataType::Decimal256(_, s) => Col::Decimal256(a.as_primitive::<Decimal256Type>(), *s),
            DataType::Utf8 => Col::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => Col::LargeUtf8(a.as_string::<i64>()),
            DataType::Utf8View => Col::Utf8View(a.as_string_view()),
            DataType::Binary => Col::Binary(a.as_binary::<i32>()),
            DataType::LargeBinary => Col::LargeBinary(a.as_binary::<i64>()),
            DataType::BinaryView => Col::BinaryView(a.as_binary_view()),
            DataType::FixedSizeBinary(_) => Col::FixedSizeBinary(a.as_fixed_size_binary()),
            DataType::Date32 => Col::Date32(a.as_primitive::<Date32Type>()),
            DataType::Date64 => Col::Date64(a.as_primitive::<Date64Type>()),
            DataType::Timestamp(unit, tz) => Col::Timestamp(a, *unit, tz.is_some()),
            DataType::Time32(unit @ (TimeUnit::Second | TimeUnit::Millisecond)) => {
                Col::Time(a, *unit)
            }
            DataType::Time64(unit @ (TimeUnit::Microsecond | TimeUnit::Nanosecond)) => {
                Col::Time(a, *unit)
            }
            _ => return None,
        };
        Some(Self {
            values,
            nulls: a.nulls(),
        })
    }
}

enum BindError {
    Sqlite(rusqlite::Error),
    Value(String),
}

impl From<rusqlite::Error> for BindError {
    fn from(e: rusqlite::Error) -> Self {
        BindError::Sqlite(e)
    }
}

/// Binds row `row` of `col` as parameter `param`.
fn bind(
    stmt: &mut Statement<'_>,
    param: usize,
    col: &Column<'_>,
    row: usize,
    text: &mut String,
) -> Result<(), BindError> {
    if col.nulls.is_some_and(|n| n.is_null(row)) || matches!(col.values, Col::Null) {
        stmt.raw_bind_parameter(param, Null)?;
        return Ok(());
    }
    match &col.values {
        Col::Null => stmt.raw_bind_parameter(param, Null)?,
        Col::Boolean(a) => stmt.raw_bind_parameter(param, i64::from(a.value(row)))?,
        Col::Int8(a) => stmt.raw_bind_parameter(param, i64::from(a.value(row)))?,
        Col::Int16(a) => stmt.raw_bind_parameter(param, i64::from(a.value(row)))?,
        Col::Int32(a) => stmt.raw_bind_parameter(param, i64::from(a.value(row)))?,
        Col::Int64(a) => stmt.raw_bind_parameter(param, a.value(row))?,
        Col::UInt8(a) => stmt.raw_bind_parameter(param, i64::from(a.value(row)))?,
        Col::UInt16(a) => stmt.raw_bind_parameter(param, i64::from(a.value(row)))?,
        Col::UInt32(a) => stmt.raw_bind_parameter(param, i64::from(a.value(row)))?,
        Col::UInt64(a) => {
            let v = a.value(row);
            let v = i64::try_from(v).map_err(|_| {
                BindError::Value(format!(
                    "value {v} is larger than SQLite's largest integer (9223372036854775807)\n  hint: CAST it to DECIMAL(20,0) or TEXT in the step SQL"
                ))
            })?;
            stmt.raw_bind_parameter(param, v)?
        }
        Col::Float16(a) => bind_float(stmt, param, a.value(row).to_f64())?,
        Col::Float32(a) => bind_float(stmt, param, f64::from(a.value(row)))?,
        Col::Float64(a) => bind_float(stmt, param, a.value(row))?,
        Col::Decimal32(a, s) => {
            types::format_decimal(text, a.value(row), *s);
            stmt.raw_bind_parameter(param, text.as_str())?
        }
        Col::Decimal64(a, s) => {
            types::format_decimal(text, a.value(row), *s);
            stmt.raw_bind_parameter(param, text.as_str())?
        }
        Col::Decimal128(a, s) => {
            types::format_decimal(text, a.value(row), *s);
            stmt.raw_bind_parameter(param, text.as_str())?
        }
        Col::Decimal256(a, s) => {
            types::format_decimal(text, a.value(row), *s);
            stmt.raw_bind_parameter(param, text.as_str())?
        }
        Col::Utf8(a) => stmt.raw_bind_parameter(param, a.value(row))?,
        Col::LargeUtf8(a) => stmt.raw_bind_parameter(param, a.value(row))?,
        Col::Utf8View(a) => stmt.raw_bind_parameter(param, a.value(row))?,
        Col::Binary(a) => stmt.raw_bind_parameter(param, a.value(row))?,
        Col::LargeBinary(a) => stmt.raw_bind_parameter(param, a.value(row))?,
        Col::BinaryView(a) => stmt.raw_bind_parameter(param, a.value(row))?,
        Col::FixedSizeBinary(a) => stmt.raw_bind_parameter(param, a.value(row))?,
        Col::Date32(a) => {
            text.clear();
            types::write_date(text, i64::from(a.value(row)));
            stmt.raw_bind_parameter(param, text.as_str())?
        }
        Col::Date64(a) => {
            text.clear();
            types::write_date(text, a.value(row).div_euclid(SECS_PER_DAY * 1000));
            stmt.raw_bind_parameter(param, text.as_str())?
        }
        Col::Timestamp(a, unit, tz) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(row),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(row),
            };
            let (secs, nanos) = types::split_epoch(v, *unit);
            text.clear();
            types::write_timestamp(text, secs, nanos);
            if *tz {
                text.push_str("+00:00");
            }
            stmt.raw_bind_parameter(param, text.as_str())?
        }
        Col::Time(a, unit) => {
            let v = match unit {
                TimeUnit::Second => i64::from(a.as_primitive::<Time32SecondType>().value(row)),
                TimeUnit::Millisecond => {
                    i64::from(a.as_primitive::<Time32MillisecondType>().value(row))
                }
                TimeUnit::Microsecond => a.as_primitive::<Time64MicrosecondType>().value(row),
                TimeUnit::Nanosecond => a.as_primitive::<Time64NanosecondType>().value(row),
            };
            let nanos = v.checked_mul(types::nanos_per_unit(*unit));
            match nanos {
                Some(n) if (0..SECS_PER_DAY * NANOS_PER_SEC).contains(&n) => {
                    text.clear();
                    types::write_time(text, n);
                    stmt.raw_bind_parameter(param, text.as_str())?
                }
                _ => {
                    return Err(BindError::Value(format!(
                        "time value {v} is not a time of day"
                    )))
                }
            }
        }
    }
    Ok(())
}

fn bind_float(stmt: &mut Statement<'_>, param: usize, v: f64) -> Result<(), BindError> {
    if v.is_nan() {
        return Err(BindError::Value(
            "SQLite cannot store NaN (it would become NULL)\n  hint: map NaN to NULL or a value in the step SQL, e.g. CASE WHEN isnan(x) THEN NULL ELSE x END"
                .to_string(),
        ));
    }
    stmt.raw_bind_parameter(param, v)?;
    Ok(())
}

#[cfg(test)]
mod tests;
