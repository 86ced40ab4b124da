//! [`MySqlConnection`]: a MySQL or MariaDB database as a barge connection.
//!
//! One `mysql_async` pool per connection. Every session the pool opens runs
//! `SET NAMES utf8mb4` and `SET time_zone = '+00:00'` (so `TIMESTAMP`
//! values keep their instant), takes `NO_BACKSLASH_ESCAPES` out of its
//! `sql_mode` (every string literal barge writes escapes backslashes, see
//! [`SqlSource::string_literal`]), plus `SET SESSION TRANSACTION READ ONLY`
//! when the connection is `read_only`. The pool resets sessions it takes
//! back, and runs these again. Reads of a source run on its snapshot
//! sessions, opened with the same options (see [`super::snapshot`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, SslOpts};

use super::errors::{connect_hint, error_code};
use super::introspect;
use super::sink::MySqlWriter;
use super::snapshot::{ReadSession, Snapshots};
use super::source::run_query;
use super::swap;
use super::tls::{parse_url, SslMode};
use super::types::{self, ColumnInfo};
use crate::engines::load::{self, LoadPlan};
use crate::engines::sql::commit::{self, COMMIT_TABLE};
use crate::engines::sql::{RangePartitioning, SqlSource, SqlTable};
use crate::engines::{BatchIter, BatchWriter, Connection, OpenOptions, ReadSnapshot};
use crate::error::{EngineError, EngineResult, ErrorCode};
use crate::model::{CommitRecord, EngineKind, TableName, TargetSpec};

/// How long `open`, and each snapshot session, waits for the server before giving up.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Below this estimate, `row_count` counts exactly (InnoDB's estimate of a
/// small, freshly loaded table is often 0).
const EXACT_COUNT_BELOW: u64 = 100_000;

/// A MySQL or MariaDB database. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct MySqlConnection {
    pub(crate) name: String,
    /// The URL with its password hidden, for messages.
    pub(crate) url: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The database of the URL: the connection's default schema.
    pub(crate) database: String,
    pub(crate) pool: Pool,
    pub(crate) read_only: bool,
    /// The server accepts `LOAD DATA LOCAL INFILE` (`@@local_infile`).
    pub(crate) local_infile: bool,
    /// Zero dates read as NULL, over every read of this connection.
    pub(crate) zero_dates: Arc<AtomicU64>,
    /// The session holding the run lock (`GET_LOCK`), kept while the
    /// connection lives.
    run_lock: Arc<tokio::sync::Mutex<Option<mysql_async::Conn>>>,
    /// The snapshot sessions the reads share.
    pub(crate) snapshots: Arc<Snapshots>,
}

impl std::fmt::Debug for MySqlConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySqlConnection")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl MySqlConnection {
    /// Connects the connection `name` to `url` (`mysql://USER:PASS@HOST:PORT/DB`,
    /// or `mariadb://`; `?ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY`,
    /// default PREFERRED, and `ssl-ca=PATH`). Connects once, so a wrong host,
    /// password or database fails here.
    pub async fn open(
        name: &str,
        url: &str,
        options: &OpenOptions,
    ) -> EngineResult<Arc<dyn Connection>> {
        Ok(Arc::new(Self::connect(name, url, options).await?))
    }

    /// Like [`MySqlConnection::open`], returning the concrete type.
    pub async fn connect(name: &str, url: &str, options: &OpenOptions) -> EngineResult<Self> {
        let redacted = crate::redact::redact_url(url);
        let open_error = |message: String, hint: Option<String>| EngineError::Open {
            connection: name.to_string(),
            url: redacted.clone(),
            message,
            hint,
            code: None,
        };
        let parsed = parse_url(url).map_err(|m| open_error(m, None))?;
        let opts = Opts::from_url(&parsed.driver_url).map_err(|e| {
            open_error(
                format!("invalid URL: {e}"),
                Some("write mysql://USER:PASSWORD@HOST:PORT/DATABASE; percent-encode special characters in the password".to_string()),
            )
        })?;
        let host = opts.ip_or_hostname().to_string();
        let port = opts.tcp_port();
        let Some(database) = opts.db_name().map(str::to_string).filter(|d| !d.is_empty()) else {
            return Err(open_error(
                "the URL names no database".to_string(),
                Some(format!(
                    "add it to the URL: mysql://USER@{host}:{port}/DATABASE"
                )),
            ));
        };
        let mut setup = vec![
            "SET NAMES utf8mb4".to_string(),
            "SET time_zone = '+00:00'".to_string(),
            BACKSLASH_ESCAPES.to_string(),
        ];
        if options.read_only {
            setup.push("SET SESSION TRANSACTION READ ONLY".to_string());
        }
        let build = |ssl: Option<SslOpts>| {
            // `setup` runs last to first.
            let mut setup = setup.clone();
            setup.reverse();
            let session: Opts = OptsBuilder::from_opts(opts.clone())
                .ssl_opts(ssl)
                .setup(setup)
                .tcp_nodelay(true)
                .into();
            (Pool::new(session.clone()), session)
        };
        let where_ = format!("{host}:{port}, database '{database}'");
        let (mut pool, mut session) = build(parsed.ssl_mode.ssl_opts(parsed.ssl_ca.as_deref()));
        let mut first = first_contact(&pool).await;
        if parsed.ssl_mode == SslMode::Preferred
            && matches!(
                first,
                Err(ConnectError::Driver(mysql_async::Error::Driver(
                    mysql_async::DriverError::NoClientSslFlagFromServer
                )))
            )
        {
            // PREFERRED: the server has no TLS; connect in plain text.
            (pool, session) = build(None);
            first = first_contact(&pool).await;
        }
        let (local_infile, _version) = first.map_err(|e| {
            let (message, hint, code) = match e {
                ConnectError::Timeout => (
                    format!(
                        "cannot reach MySQL/MariaDB at {where_}: no answer within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                    "check the host and port, and that the server is running and reachable"
                        .to_string(),
                    Some(ErrorCode::Io(std::io::ErrorKind::TimedOut)),
                ),
                ConnectError::Driver(e) => (
                    format!("cannot connect to MySQL/MariaDB at {where_}: {e}"),
                    connect_hint(&e, parsed.ssl_mode),
                    error_code(&e),
                ),
            };
            open_error(message, Some(hint)).with_code(code)
        })?;
        Ok(Self {
            name: name.to_string(),
            url: redacted,
            host,
            port,
            database,
            pool,
            read_only: options.read_only,
            local_infile,
            zero_dates: Arc::new(AtomicU64::new(0)),
            run_lock: Arc::default(),
            snapshots: Arc::new(Snapshots::new(options.snapshot, session)),
        })
    }

    /// Zero dates (`0000-00-00`) this connection has read as NULL so far.
    pub fn zero_dates_read(&self) -> u64 {
        self.zero_dates.load(Ordering::Relaxed)
    }

    /// Whether writes go through `LOAD DATA LOCAL INFILE` (else multi-row
    /// `INSERT`s): the server's `local_infile` setting.
    pub fn uses_load_data(&self) -> bool {
        self.local_infile
    }

    /// A session from the pool.
    pub(crate) async fn conn(&self) -> EngineResult<mysql_async::Conn> {
        self.pool.get_conn().await.map_err(|e| {
            EngineError::query(
                &self.name,
                None,
                None,
                format!(
                    "cannot connect to MySQL/MariaDB at {}:{}, database '{}': {e}",
                    self.host, self.port, self.database
                ),
            )
            .with_code(error_code(&e))
        })
    }

    /// A session for a read of `table`: one of the snapshot sessions when
    /// the reads share a snapshot, else a pooled one.
    pub(crate) async fn read_session(&self, table: &str) -> EngineResult<ReadSession> {
        self.snapshots.session(self, table).await
    }

    /// An error the server (or the driver talking to it) returned for a
    /// statement, naming where the server is, with its code.
    pub(crate) fn server_error(
        &self,
        table: Option<&str>,
        sql: Option<&str>,
        e: mysql_async::Error,
    ) -> EngineError {
        self.located_error(table, sql, &e).with_code(error_code(&e))
    }

    /// An error about a statement on this connection, naming where the
    /// server is.
    pub(crate) fn located_error(
        &self,
        table: Option<&str>,
        sql: Option<&str>,
        message: impl std::fmt::Display,
    ) -> EngineError {
        EngineError::query(
            &self.name,
            table,
            sql,
            format!(
                "{message} (MySQL/MariaDB at {}:{}, database '{}')",
                self.host, self.port, self.database
            ),
        )
    }

    /// Errors when the connection is read-only.
    pub(crate) fn check_writable(&self, table: &TableName) -> EngineResult<()> {
        if self.read_only {
            return Err(EngineError::unsupported(
                &self.name,
                format!(
                    "cannot write table '{table}': the connection is read_only\n  hint: remove read_only = true from the connection, or write to another connection"
                ),
            ));
        }
        Ok(())
    }

    /// `table` with its schema (database) set: the URL's database when none.
    pub(crate) fn resolve(&self, table: &TableName) -> TableName {
        TableName::new(
            Some(table.schema.as_deref().unwrap_or(&self.database)),
            &table.name,
        )
    }

    /// Runs one statement (no rows) on a pooled session.
    pub(crate) async fn exec(&self, sql: &str) -> EngineResult<u64> {
        let mut conn = self.conn().await?;
        conn.query_drop(sql)
            .await
            .map_err(|e| self.server_error(None, Some(sql), e))?;
        Ok(conn.affected_rows())
    }

    /// Columns of a table from `information_schema`, in table order.
    pub(crate) async fn columns(&self, table: &TableName) -> EngineResult<Vec<ColumnInfo>> {
        let table = self.resolve(table);
        let sql = "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE \
                   FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                   ORDER BY ORDINAL_POSITION";
        let mut conn = self.conn().await?;
        let rows: Vec<ColumnRow> = conn
            .exec(
                sql,
                (table.schema.as_deref().unwrap_or_default(), &table.name),
            )
            .await
            .map_err(|e| self.server_error(Some(&table.to_string()), Some(sql), e))?;
        Ok(rows
            .into_iter()
            .map(
                |(name, data_type, column_type, precision, scale, nullable)| ColumnInfo {
                    name,
                    data_type,
                    column_type,
                    precision,
                    scale,
                    nullable: nullable.eq_ignore_ascii_case("YES"),
                },
            )
            .collect())
    }

    /// Column sets of the table's PRIMARY KEY and UNIQUE indexes.
    pub(crate) async fn unique_keys(&self, table: &TableName) -> EngineResult<Vec<Vec<String>>> {
        let table = self.resolve(table);
        let sql = "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
                   WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
                   ORDER BY INDEX_NAME, SEQ_IN_INDEX";
        let mut conn = self.conn().await?;
        let rows: Vec<(String, String)> = conn
            .exec(
                sql,
                (table.schema.as_deref().unwrap_or_default(), &table.name),
            )
            .await
            .map_err(|e| self.server_error(Some(&table.to_string()), Some(sql), e))?;
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        for (index, column) in rows {
            match keys.last_mut() {
                Some((name, columns)) if *name == index => columns.push(column),
                _ => keys.push((index, vec![column])),
            }
        }
        Ok(keys.into_iter().map(|(_, columns)| columns).collect())
    }
}

/// A row of `information_schema.COLUMNS`: name, data type, column type,
/// precision, scale, nullable.
type ColumnRow = (String, String, String, Option<u64>, Option<u64>, String);

/// Takes `NO_BACKSLASH_ESCAPES` out of the session's `sql_mode` (a server
/// may set it globally), keeping the rest: literals barge writes into the
/// SQL it sends, pushed-down filters among them, escape backslashes.
pub(super) const BACKSLASH_ESCAPES: &str = "SET SESSION sql_mode = TRIM(BOTH ',' FROM \
     REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))";

/// Why the first connection failed.
enum ConnectError {
    Timeout,
    Driver(mysql_async::Error),
}

/// Connects once; returns `@@local_infile` and the server version.
async fn first_contact(pool: &Pool) -> Result<(bool, String), ConnectError> {
    let attempt = async {
        let mut conn = pool.get_conn().await?;
        let row: Option<(Option<i64>, String)> =
            conn.query_first("SELECT @@local_infile, VERSION()").await?;
        let (infile, version) = row.unwrap_or((None, String::new()));
        Ok::<_, mysql_async::Error>((infile.unwrap_or(0) != 0, version))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Err(_) => Err(ConnectError::Timeout),
        Ok(r) => r.map_err(ConnectError::Driver),
    }
}

impl MySqlConnection {
    /// The leading column of the table's primary key, when it is an integer,
    /// with its smallest and largest value: the ranges of a partitioned read.
    async fn key_range(&self, table: &TableName) -> EngineResult<Option<RangePartitioning>> {
        const SQL: &str = "SELECT k.COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE k \
            JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA \
              AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME \
            WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.CONSTRAINT_NAME = 'PRIMARY' \
              AND k.ORDINAL_POSITION = 1 \
              AND c.DATA_TYPE IN ('tinyint', 'smallint', 'mediumint', 'int', 'bigint')";
        let label = table.to_string();
        let mut conn = self.conn().await?;
        let column: Option<String> = conn
            .exec_first(
                SQL,
                (table.schema.as_deref().unwrap_or_default(), &table.name),
            )
            .await
            .map_err(|e| self.server_error(Some(&label), Some(SQL), e))?;
        let Some(column) = column else {
            return Ok(None);
        };
        Ok(self
            .column_bounds(table, &column)
            .await?
            .map(|(min, max)| RangePartitioning { column, min, max }))
    }

    /// Smallest and largest value of an integer column; `None` for an empty
    /// table or values beyond i64 (BIGINT UNSIGNED).
    async fn column_bounds(
        &self,
        table: &TableName,
        column: &str,
    ) -> EngineResult<Option<(i64, i64)>> {
        let label = table.to_string();
        let sql = format!(
            "SELECT CAST(MIN({0}) AS CHAR), CAST(MAX({0}) AS CHAR) FROM {1}",
            self.quote_ident(column),
            self.quote_table(table)
        );
        let mut conn = self.conn().await?;
        let bounds: Option<(Option<String>, Option<String>)> = conn
            .query_first(&sql)
            .await
            .map_err(|e| self.server_error(Some(&label), Some(&sql), e))?;
        let parse = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok());
        Ok(match bounds {
            Some((min, max)) => match (parse(min), parse(max)) {
                (Some(min), Some(max)) => Some((min, max)),
                _ => None,
            },
            None => None,
        })
    }
}

impl SqlSource for MySqlConnection {
    fn connection_name(&self) -> &str {
        &self.name
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn quote_ident(&self, ident: &str) -> String {
        crate::ident::Quoting::Backtick.ident(ident)
    }

    /// Backslashes escape in MySQL's string literals: every session barge
    /// opens runs without `NO_BACKSLASH_ESCAPES` (`BACKSLASH_ESCAPES`, and
    /// the load sessions' own `sql_mode`).
    fn string_literal(&self, value: &str) -> String {
        crate::engines::dialect::Dialect::string_literal(&types::MySqlDialect, value)
    }

    /// Integer and DOUBLE comparisons only: FLOAT columns compare as doubles
    /// (`f = 0.1` misses the float 0.1), and a TINYINT(1) may hold values
    /// other than 0 and 1. Text: see [`Self::collation_compares_bytes`].
    fn compares_like_datafusion(&self, data_type: &DataType) -> bool {
        data_type.is_integer() || matches!(data_type, DataType::Float64)
    }

    /// Only the binary collations without padding compare bytes
    /// (`utf8mb4_nopad_bin` in MariaDB, `utf8mb4_0900_bin` in MySQL): the
    /// `_ci` ones ignore case, and `utf8mb4_bin` (barge's own) ignores
    /// trailing spaces.
    fn collation_compares_bytes(&self, collation: &str) -> bool {
        matches!(collation, "utf8mb4_nopad_bin" | "utf8mb4_0900_bin")
    }

    /// MySQL and MariaDB have no `FULL JOIN`.
    fn supports_full_join(&self) -> bool {
        false
    }

    fn canonical_text(&self, sql: &str, data_type: &DataType) -> Option<String> {
        super::checksum::canonical_text(sql, data_type)
    }

    fn checksum_aggregate(&self, values: &[String]) -> Option<String> {
        Some(super::checksum::checksum_aggregate(values))
    }

    fn query(&self, sql: &str, schema: SchemaRef) -> EngineResult<BatchIter> {
        run_query(self, sql, schema)
    }

    fn integer_bounds(&self, table: &TableName, column: &str) -> EngineResult<Option<(i64, i64)>> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| EngineError::query(&self.name, None, None, e.to_string()))?;
        handle.block_on(self.column_bounds(table, column))
    }

    fn execute(&self, sql: &str) -> EngineResult<u64> {
        if self.read_only {
            return Err(EngineError::unsupported(
                &self.name,
                "the connection is read_only; statements that write are refused",
            ));
        }
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            EngineError::query(
                &self.name,
                None,
                Some(sql),
                format!("no async runtime: {e}"),
            )
        })?;
        handle.block_on(self.exec(sql))
    }
}

#[async_trait]
impl Connection for MySqlConnection {
    fn zero_dates_read(&self) -> u64 {
        self.zero_dates.load(Ordering::Relaxed)
    }

    async fn take_snapshot(&self) -> EngineResult<()> {
        self.snapshots.take(self).await;
        Ok(())
    }

    async fn snapshot_description(&self) -> ReadSnapshot {
        self.snapshots.describe()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> EngineKind {
        EngineKind::MySql
    }

    fn default_schema(&self) -> &str {
        &self.database
    }

    async fn list_tables(&self) -> EngineResult<Vec<TableName>> {
        let sql = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME";
        let mut conn = self.conn().await?;
        let names: Vec<String> = conn
            .exec(sql, (&self.database,))
            .await
            .map_err(|e| self.server_error(None, Some(sql), e))?;
        Ok(names
            .into_iter()
            .filter(|n| n != COMMIT_TABLE)
            .map(|n| TableName::new(Some(&self.database), &n))
            .collect())
    }

    async fn table_schema(&self, table: &TableName) -> EngineResult<Option<SchemaRef>> {
        let columns = self.columns(table).await?;
        if columns.is_empty() {
            return Ok(None);
        }
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field::new(&c.name, c.arrow_type(), c.arrow_nullable()))
            .collect();
        Ok(Some(Arc::new(Schema::new(fields))))
    }

    async fn table_provider(
        self: Arc<Self>,
        table: &TableName,
    ) -> EngineResult<Option<Arc<dyn TableProvider>>> {
        let Some(schema) = self.table_schema(table).await? else {
            return Ok(None);
        };
        let row_count = self.row_count(table).await?;
        let table = self.resolve(table);
        let collations = introspect::collations(&self, &table, &schema).await?;
        let source: Arc<dyn SqlSource> = self.clone();
        let key_range = self.key_range(&table);
        Ok(Some(Arc::new(
            SqlTable::split_on_key(source, table.clone(), schema, row_count, key_range)
                .await?
                .with_collations(collations),
        )))
    }

    async fn row_count(&self, table: &TableName) -> EngineResult<Option<u64>> {
        let table = self.resolve(table);
        let label = table.to_string();
        let sql = "SELECT TABLE_ROWS, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?";
        let mut conn = self.conn().await?;
        let row: Option<(Option<u64>, String)> = conn
            .exec_first(
                sql,
                (table.schema.as_deref().unwrap_or_default(), &table.name),
            )
            .await
            .map_err(|e| self.server_error(Some(&label), Some(sql), e))?;
        let Some((estimate, table_type)) = row else {
            return Ok(None);
        };
        if table_type.eq_ignore_ascii_case("VIEW") {
            return Ok(None);
        }
        match estimate {
            Some(n) if n >= EXACT_COUNT_BELOW => Ok(Some(n)),
            _ => {
                let sql = format!("SELECT COUNT(*) FROM {}", self.quote_table(&table));
                let count: Option<u64> = conn
                    .query_first(&sql)
                    .await
                    .map_err(|e| self.server_error(Some(&label), Some(&sql), e))?;
                Ok(count)
            }
        }
    }

    fn create_table_sql(
        &self,
        table: &TableName,
        schema: &SchemaRef,
        key: &[String],
    ) -> EngineResult<String> {
        let table = self.resolve(table);
        let label = table.to_string();
        for k in key {
            if schema.field_with_name(k).is_err() {
                return Err(EngineError::column(
                    &self.name,
                    &label,
                    k,
                    "the key column is not in the step's output",
                ));
            }
        }
        let mut columns = Vec::with_capacity(schema.fields().len() + 1);
        for field in schema.fields() {
            let is_key = key.contains(field.name());
            let declared = types::declared_type(field.data_type(), is_key).ok_or_else(|| {
                EngineError::column(
                    &self.name,
                    &label,
                    field.name(),
                    format!(
                        "type {} cannot be stored in MySQL/MariaDB\n  hint: CAST the column in the step SQL (to VARCHAR, BIGINT, DOUBLE, DECIMAL(p,s) with p <= 65 and s <= 30, ...)",
                        field.data_type()
                    ),
                )
            })?;
            let not_null = (!field.is_nullable() && field.data_type() != &DataType::Null) || is_key;
            // TIMESTAMP columns say NULL / DEFAULT explicitly: without it, old
            // servers give the first one DEFAULT CURRENT_TIMESTAMP ON UPDATE ...
            let tail = match (field.data_type(), not_null) {
                (DataType::Timestamp(_, Some(_)), true) => {
                    " NOT NULL DEFAULT '1970-01-01 00:00:01'"
                }
                (DataType::Timestamp(_, Some(_)), false) => " NULL DEFAULT NULL",
                (_, true) => " NOT NULL",
                (_, false) => "",
            };
            columns.push(format!(
                "{} {declared}{tail}",
                self.quote_ident(field.name())
            ));
        }
        if !key.is_empty() {
            let key_columns: Vec<String> = key.iter().map(|k| self.quote_ident(k)).collect();
            columns.push(format!("PRIMARY KEY ({})", key_columns.join(", ")));
        }
        Ok(format!(
            "CREATE TABLE {} ({}) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.quote_table(&table),
            columns.join(", ")
        ))
    }

    async fn prepare_target(
        &self,
        target: &TargetSpec,
        schema: &SchemaRef,
        dry_run: bool,
        chunked: bool,
    ) -> EngineResult<LoadPlan> {
        self.check_writable(&target.table)?;
        let target = TargetSpec {
            table: self.resolve(&target.table),
            ..target.clone()
        };
        load::prepare(self, &target, schema, dry_run, chunked).await
    }

    async fn shadow_sql(
        &self,
        target: &TargetSpec,
        shadow: &TableName,
        schema: &SchemaRef,
    ) -> EngineResult<(Vec<String>, bool)> {
        let (table, shadow) = (self.resolve(&target.table), self.resolve(shadow));
        let existing = self.columns(&table).await?;
        let holds_columns = !existing.is_empty()
            && schema
                .fields()
                .iter()
                .all(|f| existing.iter().any(|c| &c.name == f.name()));
        if holds_columns {
            return Ok((swap::shadow_like(self, &table, &shadow).await?, true));
        }
        if !existing.is_empty() {
            let referencing = swap::referenced_by(self, &table).await?;
            if !referencing.is_empty() {
                return Err(EngineError::unsupported(
                    &self.name,
                    format!(
                        "table {table} is referenced by foreign keys of {}, and MySQL/MariaDB would move their references with a replaced table\n  hint: use mode = \"truncate\" (or \"upsert\") to load it in place",
                        referencing.join(", ")
                    ),
                ));
            }
        }
        Ok((
            vec![self.create_table_sql(&shadow, schema, &target.key)?],
            false,
        ))
    }

    async fn swap_sql(
        &self,
        shadow: &TableName,
        target: &TableName,
        target_exists: bool,
        kept: bool,
    ) -> EngineResult<Vec<String>> {
        swap::swap_sql(
            self,
            &self.resolve(shadow),
            &self.resolve(target),
            target_exists,
            kept,
        )
        .await
    }

    /// On one session, in order (MySQL's DDL commits on its own).
    async fn execute_transaction(&self, statements: &[String]) -> EngineResult<()> {
        let mut conn = self.conn().await?;
        for sql in statements {
            conn.query_drop(sql)
                .await
                .map_err(|e| self.server_error(None, Some(sql), e))?;
        }
        Ok(())
    }

    /// `GET_LOCK` on a session kept for it.
    async fn lock_run(&self, key: &str) -> EngineResult<bool> {
        let mut held = self.run_lock.lock().await;
        if held.is_some() {
            return Ok(true);
        }
        // Lock names hold 64 characters at most.
        let name: String = format!("barge:{key}").chars().take(64).collect();
        let sql = "SELECT GET_LOCK(?, 0)";
        let mut conn = self.conn().await?;
        let got: Option<Option<i64>> = conn
            .exec_first(sql, (&name,))
            .await
            .map_err(|e| self.server_error(None, Some(sql), e))?;
        let locked = got.flatten() == Some(1);
        if locked {
            *held = Some(conn);
        }
        Ok(locked)
    }

    async fn ensure_commit_table(&self) -> EngineResult<()> {
        self.check_writable(&TableName::new(None, COMMIT_TABLE))?;
        self.exec(&commit::create_commit_table_sql(self))
            .await
            .map(|_| ())
    }

    async fn committed_load(&self, load_id: &str) -> EngineResult<Option<u64>> {
        let (this, id) = (self.clone(), load_id.to_string());
        tokio::task::spawn_blocking(move || commit::committed_load(&this, &id))
            .await
            .map_err(|e| EngineError::query(&self.name, None, None, e))?
    }

    fn commit_record_sql(&self, record: &CommitRecord, rows: u64) -> Option<String> {
        Some(commit::commit_record_sql(self, record, rows))
    }

    async fn introspect(&self) -> EngineResult<crate::model::catalog::Catalog> {
        super::introspect::introspect(self).await
    }

    async fn routines(&self) -> EngineResult<Vec<crate::model::catalog::Routine>> {
        super::introspect::routines(self).await
    }

    async fn execute_statement(&self, sql: &str) -> EngineResult<u64> {
        if self.read_only {
            return Err(EngineError::unsupported(
                &self.name,
                "the connection is read_only; statements that write are refused",
            ));
        }
        self.exec(sql).await
    }

    fn open_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        self.check_writable(&target.table)?;
        let mut target = target.clone();
        target.table = self.resolve(&target.table);
        Ok(Box::new(MySqlWriter::open(self, &target, schema)?))
    }

    fn isolates_rejects(&self) -> Result<(), String> {
        Ok(())
    }

    fn open_isolating_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        self.check_writable(&target.table)?;
        let mut target = target.clone();
        target.table = self.resolve(&target.table);
        Ok(Box::new(super::isolating::IsolatingMySqlWriter::open(
            self, &target, schema,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_url_errors_hide_the_password() {
        let err =
            MySqlConnection::connect("src", "mysql://u:s3cret@h:3306", &OpenOptions::default())
                .await
                .unwrap_err()
                .to_string();
        assert!(err.contains("names no database"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = MySqlConnection::connect(
            "src",
            "mysql://u:s3cret@h:3306/db?ssl-mode=maybe",
            &OpenOptions::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("ssl-mode=maybe"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
