//! Engines: one folder per database engine, all behind the [`Connection`] trait.
//!
//! A connection is opened from its URL by [`open`], which picks the engine by
//! URL scheme. Every connection is registered as a DataFusion catalog (see
//! [`catalog`]); its tables are read through TableProviders and written
//! through a [`BatchWriter`] driven by the generic DataFusion `DataSink` in
//! [`sink`].

pub mod arrow_bridge;
pub mod catalog;
pub mod dialect;
pub mod duckdb;
pub mod files;
pub mod hooks;
pub mod load;
pub mod mysql;
pub mod postgres;
pub mod sink;
pub mod sql;
pub mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;

use crate::error::{EngineError, EngineResult};
use crate::model::{CommitRecord, EngineKind, TableName, TargetSpec};

use self::hooks::LoadObserver;
use self::load::LoadPlan;

/// Batches read from a source, produced on a blocking thread.
pub type BatchIter = Box<dyn Iterator<Item = EngineResult<RecordBatch>> + Send>;

/// Writes batches into one target table. Lives on one blocking thread for the
/// duration of a step: `write` is called per batch, then `finish` once.
pub trait BatchWriter: Send {
    /// Writes one batch; returns the rows it wrote to the target (rows skipped
    /// by `insert_ignore` are not counted when the engine reports them).
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64>;
    /// Ends the load: the last rows in, the merge of a staging table, the
    /// target's own count of the rows the load wrote (the server's where it
    /// reports one) handed to [`LoadObserver::before_commit`] — whose check
    /// may refuse the load and whose statements (the commit record) run in
    /// the transaction — then the load's `finish` statements and the COMMIT.
    /// Returns that count. An error leaves the transaction rolled back.
    fn finish(self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64>;
    /// Writes one batch so that, when the target refuses a row of it
    /// (a constraint violation, a value that does not convert), the batch's
    /// effects are undone and the step's transaction goes on. Returns
    /// `Ok(Ok(rows written))`, `Ok(Err(the target's message))` when it refused
    /// the batch, or `Err` when the connection or engine failed (that fails
    /// the step). Only writers opened by [`Connection::open_isolating_writer`]
    /// take it.
    fn write_isolated(&mut self, batch: &RecordBatch) -> EngineResult<Result<u64, String>> {
        Err(EngineError::query(
            "",
            None,
            None,
            format!(
                "a writer of {} rows cannot set refused rows aside (open it with open_isolating_writer)",
                batch.num_rows()
            ),
        ))
    }
}

/// A writer for targets that refuse no row (files): its isolated writes are
/// plain writes.
pub struct RefusesNothing(pub Box<dyn BatchWriter>);

impl BatchWriter for RefusesNothing {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        self.0.write(batch)
    }

    fn finish(self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
        self.0.finish(observer)
    }

    fn write_isolated(&mut self, batch: &RecordBatch) -> EngineResult<Result<u64, String>> {
        self.0.write(batch).map(Ok)
    }
}

/// A batch write that failed: the target refused a row of the batch, or the
/// load itself failed. Writers that isolate refused rows tell them apart.
#[derive(Debug)]
pub enum WriteFailure {
    /// The target refused a row (constraint, conversion); the message is the
    /// target's, naming no connection or URL.
    Refused(String),
    /// The connection or the engine failed.
    Failed(EngineError),
}

impl From<EngineError> for WriteFailure {
    fn from(e: EngineError) -> Self {
        WriteFailure::Failed(e)
    }
}

/// One open connection of a pipeline, whatever its engine.
#[async_trait]
pub trait Connection: Send + Sync + fmt::Debug {
    /// The connection's name in the pipeline (`src`, `dst`, ...).
    fn name(&self) -> &str;
    fn kind(&self) -> EngineKind;
    /// True when the engine takes one writer at a time (steps writing to it
    /// run in turn instead of waiting on its lock).
    fn single_writer(&self) -> bool {
        false
    }
    /// Quotes an identifier in this engine's SQL (for statements the run
    /// sends through [`Connection::execute_statement`]).
    fn sql_ident(&self, ident: &str) -> String {
        dialect(self.kind()).quote_ident(ident)
    }
    /// `schema.table` quoted in this engine's SQL.
    fn sql_table(&self, table: &TableName) -> String {
        dialect(self.kind()).quote_table(table)
    }
    /// Schema that `conn.table` resolves to (`main` for SQLite and DuckDB).
    fn default_schema(&self) -> &str;
    /// Tables (and views) the connection can read.
    async fn list_tables(&self) -> EngineResult<Vec<TableName>>;
    /// Arrow schema of a table, `None` when it does not exist.
    async fn table_schema(&self, table: &TableName) -> EngineResult<Option<SchemaRef>>;
    /// A DataFusion TableProvider reading the table, `None` when it does not exist.
    async fn table_provider(
        self: Arc<Self>,
        table: &TableName,
    ) -> EngineResult<Option<Arc<dyn TableProvider>>>;
    /// Exact or estimated number of rows, when cheap to know.
    async fn row_count(&self, table: &TableName) -> EngineResult<Option<u64>>;
    /// `CREATE TABLE` for `schema` in this engine's types (see the engine's `types.rs`).
    fn create_table_sql(
        &self,
        table: &TableName,
        schema: &SchemaRef,
        key: &[String],
    ) -> EngineResult<String>;
    /// Plans the load of `target` for rows of `schema` (see [`load`]): what
    /// runs before it, in its transaction and after it. Runs the `before`
    /// statements unless `dry_run`. `chunked` loads commit chunk by chunk.
    async fn prepare_target(
        &self,
        target: &TargetSpec,
        schema: &SchemaRef,
        dry_run: bool,
        chunked: bool,
    ) -> EngineResult<LoadPlan>;
    /// Whether DDL runs inside a transaction (and so can be rolled back
    /// with the rows): PostgreSQL, SQLite, DuckDB; not MySQL.
    fn transactional_ddl(&self) -> bool {
        false
    }
    /// The statements creating `shadow` for a load replacing `target`, and
    /// whether they keep the target's own definition (types, defaults,
    /// indexes, constraints, grants): they do where the target exists, holds
    /// every column of `schema` and the engine can copy it; else the shadow
    /// is made from `schema`. Not run.
    async fn shadow_sql(
        &self,
        target: &TargetSpec,
        shadow: &TableName,
        schema: &SchemaRef,
    ) -> EngineResult<(Vec<String>, bool)> {
        Ok((
            vec![self.create_table_sql(shadow, schema, &target.key)?],
            false,
        ))
    }
    /// The statements replacing `target` (when `target_exists`) by the
    /// loaded `shadow`; `kept` says [`Connection::shadow_sql`] kept the
    /// target's definition. Not run.
    async fn swap_sql(
        &self,
        shadow: &TableName,
        target: &TableName,
        target_exists: bool,
        kept: bool,
    ) -> EngineResult<Vec<String>> {
        let _ = kept;
        let mut statements = Vec::new();
        if target_exists {
            statements.push(format!("DROP TABLE {}", self.sql_table(target)));
        }
        statements.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            self.sql_table(shadow),
            self.sql_ident(&target.name)
        ));
        Ok(statements)
    }
    /// Runs `statements` in one transaction (where the engine's DDL allows).
    async fn execute_transaction(&self, statements: &[String]) -> EngineResult<()> {
        Err(EngineError::unsupported(
            self.name(),
            format!(
                "{} connections run no transactions: {}",
                self.kind(),
                statements.join("; ")
            ),
        ))
    }
    /// Takes the run lock `key` in the target, held while the connection
    /// lives (PostgreSQL advisory lock, MySQL `GET_LOCK`); `false` when
    /// another session holds it. Engines without one (files, SQLite, DuckDB,
    /// whose files lock themselves) always take it.
    async fn lock_run(&self, key: &str) -> EngineResult<bool> {
        let _ = key;
        Ok(true)
    }
    /// Makes sure the target's table of commit records exists (see
    /// [`CommitRecord`]); targets that keep none (files) do nothing.
    async fn ensure_commit_table(&self) -> EngineResult<()> {
        Ok(())
    }
    /// The rows of the load `load_id` when its commit record is in the
    /// target (the load landed), `None` when it is not.
    async fn committed_load(&self, load_id: &str) -> EngineResult<Option<u64>> {
        let _ = load_id;
        Ok(None)
    }
    /// The statement writing `record` of a load of `rows` rows, run in the
    /// load's transaction; `None` for targets that keep no records.
    fn commit_record_sql(&self, record: &CommitRecord, rows: u64) -> Option<String> {
        let _ = (record, rows);
        None
    }
    /// Loads the rows of `queries`, run on `source`, into the prepared
    /// `target`'s `columns` without decoding them into Arrow, when both
    /// engines share a wire format and every column's form fits (PostgreSQL
    /// binary COPY). `schema` is what the queries return; the load is
    /// driven through `hooks` as a sink of `sink_schema` would be (counts,
    /// the moment before the commit, tees given the columns they keep).
    /// `None` when this connection cannot: the step then runs through Arrow.
    #[allow(clippy::too_many_arguments)]
    async fn load_through(
        &self,
        _source: &Arc<dyn sql::SqlSource>,
        _queries: &[String],
        _schema: &SchemaRef,
        _target: &TargetSpec,
        _columns: &[String],
        _hooks: &hooks::LoadHooks,
        _sink_schema: &SchemaRef,
    ) -> EngineResult<Option<u64>> {
        Ok(None)
    }
    /// Takes the snapshot this connection's reads share now, when they share
    /// one, instead of at the first read. A run takes its sources'
    /// snapshots before any load starts: MySQL/MariaDB's `FLUSH TABLES WITH
    /// READ LOCK` waits for statements in progress, so a load into the same
    /// server would hold it up. Fails only when the server cannot be reached.
    async fn take_snapshot(&self) -> EngineResult<()> {
        Ok(())
    }
    /// Whether the reads of this connection so far saw one snapshot of its
    /// data, and which (PostgreSQL exported snapshot, MySQL/MariaDB
    /// consistent snapshot); engines that take none say so.
    async fn snapshot_description(&self) -> ReadSnapshot {
        ReadSnapshot::NotOne(format!(
            "{} connections take no shared snapshot: each read sees the data as it is when it runs",
            self.kind()
        ))
    }
    /// MySQL zero dates (`0000-00-00`) this connection has read as NULL so
    /// far; 0 for engines that have none.
    fn zero_dates_read(&self) -> u64 {
        0
    }
    /// Stored functions and procedures of the connection's schema, for a
    /// copy into the same engine (PostgreSQL, MySQL/MariaDB).
    async fn routines(&self) -> EngineResult<Vec<crate::model::catalog::Routine>> {
        Err(EngineError::unsupported(
            self.name(),
            format!(
                "{} has no stored routines barge can copy (PostgreSQL and MySQL/MariaDB do)",
                self.kind()
            ),
        ))
    }
    /// The connection's tables with their columns, keys, foreign keys,
    /// indexes and row estimates, and its views (see [`crate::schema`]).
    /// Engines without constraints (files) give tables and columns only.
    async fn introspect(&self) -> EngineResult<crate::model::catalog::Catalog> {
        let mut tables = Vec::new();
        for name in self.list_tables().await? {
            let Some(schema) = self.table_schema(&name).await? else {
                continue;
            };
            tables.push(crate::model::catalog::Table {
                row_estimate: self.row_count(&name).await?,
                columns: schema
                    .fields()
                    .iter()
                    .map(|f| {
                        crate::model::catalog::Column::from_arrow(
                            f.name(),
                            f.data_type(),
                            f.is_nullable(),
                        )
                    })
                    .collect(),
                name,
                primary_key: None,
                uniques: vec![],
                foreign_keys: vec![],
                indexes: vec![],
            });
        }
        Ok(crate::model::catalog::Catalog {
            engine: self.kind(),
            tables,
            views: vec![],
        })
    }
    /// Runs one statement that returns no rows (DDL of `barge schema copy`).
    /// Refused on read-only connections and by engines without SQL.
    async fn execute_statement(&self, sql: &str) -> EngineResult<u64> {
        Err(EngineError::unsupported(
            self.name(),
            format!("{} connections run no SQL statements: {sql}", self.kind()),
        ))
    }
    /// Opens a writer for the prepared target. Called on a blocking thread.
    fn open_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>>;
    /// Whether this connection's targets can set refused rows aside
    /// (`max_rejects`): `Err(why not)` when they cannot.
    fn isolates_rejects(&self) -> Result<(), String> {
        Err(format!(
            "{} targets cannot undo one batch inside the step's transaction",
            self.kind()
        ))
    }
    /// Opens a writer whose [`BatchWriter::write_isolated`] undoes a refused
    /// batch and goes on (`max_rejects` > 0). Called on a blocking thread.
    fn open_isolating_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        let _ = (target, schema);
        Err(EngineError::unsupported(
            self.name(),
            self.isolates_rejects()
                .err()
                .unwrap_or_else(|| "this connection cannot set refused rows aside".to_string()),
        ))
    }
}

/// The dialect of `kind`: what its SQL and type table say about creating
/// tables (see [`dialect::Dialect`]).
pub fn dialect(kind: EngineKind) -> &'static dyn dialect::Dialect {
    match kind {
        EngineKind::Postgres => &postgres::types::PostgresDialect,
        EngineKind::MySql => &mysql::types::MySqlDialect,
        EngineKind::Sqlite => &sqlite::types::SqliteDialect,
        EngineKind::DuckDb => &duckdb::types::DuckDbDialect,
        EngineKind::Parquet => &files::types::FileDialect(EngineKind::Parquet),
        EngineKind::Csv => &files::types::FileDialect(EngineKind::Csv),
    }
}

/// How a connection is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Refuse writes (`read_only = true` in the pipeline).
    pub read_only: bool,
    /// Create the database file or directory when missing (the connection is
    /// the target of a step). Otherwise a missing file is an error.
    pub create: bool,
    /// Whether the connection's reads share one snapshot (PostgreSQL and
    /// MySQL/MariaDB; other engines ignore it).
    pub snapshot: SnapshotMode,
}

/// Whether the reads of a connection share one snapshot of its data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Each read sees the data as it is when it runs (`snapshot = false`).
    #[default]
    Off,
    /// Each read sees the data as it is when it runs, because steps of the
    /// pipeline write to the connection and later steps read their writes.
    Written,
    /// Every read shares one snapshot taken at the first read; `readers`
    /// reads may run at once (the MySQL/MariaDB snapshot sessions).
    Shared { readers: usize },
}

impl SnapshotMode {
    /// Why the reads take no snapshot; `None` when they share one.
    pub fn why_not(&self) -> Option<&'static str> {
        match self {
            SnapshotMode::Off => Some(
                "snapshot = false: each read sees the data as it is when it runs",
            ),
            SnapshotMode::Written => Some(
                "steps of the pipeline write to this connection, so each read sees the data (and those writes) as they are when it runs",
            ),
            SnapshotMode::Shared { .. } => None,
        }
    }
}

/// Whether a connection's reads so far saw one snapshot of its data (see
/// [`Connection::snapshot_description`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadSnapshot {
    /// Every read saw one snapshot, described (`PostgreSQL exported snapshot ...`).
    One(String),
    /// The reads are not one snapshot: why.
    NotOne(String),
}

impl fmt::Display for ReadSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadSnapshot::One(what) => write!(f, "read in one snapshot ({what})"),
            ReadSnapshot::NotOne(why) => write!(f, "not one snapshot: {why}"),
        }
    }
}

/// The engine a URL names, by its scheme (`postgres://`, `postgresql://`,
/// `mysql://`, `mariadb://`, `sqlite://`, `duckdb://`, `parquet://`,
/// `csv://`) or, without one, by a path (or glob) ending in `.parquet` /
/// `.csv`; without connecting.
pub fn kind_of_url(url: &str) -> Option<EngineKind> {
    let lower = url.to_ascii_lowercase();
    Some(match lower.split_once("://") {
        Some((scheme, _)) => match scheme {
            "postgres" | "postgresql" => EngineKind::Postgres,
            "mysql" | "mariadb" => EngineKind::MySql,
            "sqlite" => EngineKind::Sqlite,
            "duckdb" => EngineKind::DuckDb,
            "parquet" => EngineKind::Parquet,
            "csv" => EngineKind::Csv,
            _ => return None,
        },
        None if lower.trim_end_matches('/').ends_with(".parquet") => EngineKind::Parquet,
        None if lower.trim_end_matches('/').ends_with(".csv") => EngineKind::Csv,
        None => return None,
    })
}

/// Opens the connection `name` from its URL, choosing the engine by
/// [`kind_of_url`]: `sqlite://PATH`, `duckdb://PATH`, `parquet://PATH`,
/// `csv://PATH`, `postgres://USER:PASS@HOST:PORT/DB`,
/// `mysql://USER:PASS@HOST:PORT/DB`, or a plain path (or glob) ending in
/// `.parquet` / `.csv`.
pub async fn open(
    name: &str,
    url: &str,
    options: &OpenOptions,
) -> EngineResult<Arc<dyn Connection>> {
    let kind = kind_of_url(url).ok_or_else(|| EngineError::UnsupportedUrl {
        connection: name.to_string(),
        url: crate::redact::redact_url(url),
    })?;
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    if options.create && matches!(kind, EngineKind::Sqlite | EngineKind::DuckDb) {
        create_parent_dir(name, path)?;
    }
    match kind {
        EngineKind::Sqlite => sqlite::SqliteConnection::open(name, path, options),
        EngineKind::DuckDb => duckdb::DuckDbConnection::open(name, path, options),
        EngineKind::Parquet | EngineKind::Csv => {
            files::FileConnection::open(name, path, kind, options)
        }
        EngineKind::Postgres => postgres::PostgresConnection::open(name, url, options).await,
        EngineKind::MySql => mysql::MySqlConnection::open(name, url, options).await,
    }
}

/// Creates the directory a new database file goes in.
fn create_parent_dir(connection: &str, path: &str) -> EngineResult<()> {
    match std::path::Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|source| EngineError::Io {
                connection: connection.to_string(),
                path: dir.to_path_buf(),
                source,
            }),
        _ => Ok(()),
    }
}

/// The local file or directory a URL points at (SQLite, DuckDB, Parquet, CSV).
pub fn local_path(url: &str) -> Option<std::path::PathBuf> {
    let path = match url.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "sqlite" | "duckdb" | "parquet" | "csv" => rest,
            _ => return None,
        },
        None => url,
    };
    if path.is_empty() || path.contains(['*', '?', '[']) || path.starts_with(':') {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}
