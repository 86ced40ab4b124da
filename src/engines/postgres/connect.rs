//! [`PostgresConnection`]: a PostgreSQL database as a barge connection.
//!
//! The connection keeps one client for catalog queries; every scan and
//! every writer opens a client of its own (scans run in parallel, a writer
//! holds a transaction). [`Connector`] opens them all, with the URL's TLS
//! mode, and read-only sessions when the pipeline says `read_only = true`;
//! its readers see the connection's one exported snapshot (see
//! [`super::snapshot`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use tokio_postgres::Client;

use super::connector::Connector;
use super::sink::PostgresWriter;
use super::snapshot::SharedSnapshot;
use super::source::run_copy_out;
use super::swap;
use super::types::{self, ColumnType};
use crate::engines::load::{self, LoadPlan};
use crate::engines::sql::commit::{self, COMMIT_TABLE};
use crate::engines::sql::{RangePartitioning, SqlSource, SqlTable};
use crate::engines::{BatchIter, BatchWriter, Connection, OpenOptions, ReadSnapshot};
use crate::error::{EngineError, EngineResult};
use crate::model::{CommitRecord, EngineKind, TableName, TargetSpec};

/// A PostgreSQL database. Cheap to clone.
#[derive(Clone)]
pub struct PostgresConnection {
    connector: Connector,
    /// The client for catalog queries and DDL.
    meta: Arc<Client>,
    /// `current_schema()`: where `conn.table` resolves.
    default_schema: String,
    read_only: bool,
}

impl fmt::Debug for PostgresConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConnection")
            .field("connector", &self.connector)
            .field("default_schema", &self.default_schema)
            .finish()
    }
}

impl PostgresConnection {
    /// Connects the connection `name` to `url` (`postgres://USER:PASS@HOST:PORT/DB`).
    pub async fn open(
        name: &str,
        url: &str,
        options: &OpenOptions,
    ) -> EngineResult<Arc<dyn Connection>> {
        Ok(Arc::new(Self::connect(name, url, options).await?))
    }

    /// Like [`PostgresConnection::open`], returning the concrete type.
    pub async fn connect(name: &str, url: &str, options: &OpenOptions) -> EngineResult<Self> {
        let mut connector = Connector::parse(name, url, options.read_only)?;
        connector.snapshot = Arc::new(SharedSnapshot::new(options.snapshot));
        let meta = connector.connect().await?;
        let row = meta
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(|e| connector.error(None, e))?;
        let default_schema: Option<String> = row.get(0);
        Ok(Self {
            default_schema: default_schema.unwrap_or_else(|| "public".to_string()),
            connector,
            meta: Arc::new(meta),
            read_only: options.read_only,
        })
    }

    /// Opens this database's clients.
    pub(crate) fn connector(&self) -> &Connector {
        &self.connector
    }

    /// `table` with its schema filled in.
    fn resolve(&self, table: &TableName) -> TableName {
        TableName::new(
            Some(table.schema.as_deref().unwrap_or(&self.default_schema)),
            &table.name,
        )
    }

    fn check_writable(&self, table: &TableName) -> EngineResult<()> {
        if self.read_only {
            return Err(EngineError::unsupported(
                &self.connector.name,
                format!(
                    "cannot write table '{table}': the connection is read_only\n  hint: remove read_only = true from the connection, or write to another connection"
                ),
            ));
        }
        Ok(())
    }

    /// The collation of each `text` and `varchar` column of `table`
    /// (`schema`, resolved), in schema order; `None` for other columns (a
    /// `Utf8` field may be a uuid, json, enum or padded `char`).
    async fn collations(
        &self,
        table: &TableName,
        schema: &Schema,
    ) -> EngineResult<Vec<Option<String>>> {
        const SQL: &str = "SELECT a.attname::text, co.collname::text FROM pg_attribute a \
            JOIN pg_class c ON c.oid = a.attrelid \
            JOIN pg_namespace n ON n.oid = c.relnamespace \
            JOIN pg_type t ON t.oid = a.atttypid \
            JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
            JOIN pg_collation co ON co.oid = a.attcollation \
            WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
            AND bt.typname IN ('text', 'varchar')";
        let label = table.to_string();
        let rows = self
            .meta
            .query(
                SQL,
                &[&table.schema.as_deref().unwrap_or_default(), &table.name],
            )
            .await
            .map_err(|e| self.connector.error(Some(&label), e).with_sql(SQL))?;
        let rows: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(schema
            .fields()
            .iter()
            .map(|f| {
                let (_, collation) = rows.iter().find(|(name, _)| name == f.name())?;
                Some(collation.clone())
            })
            .collect())
    }

    /// Catalog types of the table's columns, in order; empty when the table
    /// does not exist.
    pub(crate) async fn column_types(
        client: &Client,
        connector: &Connector,
        table: &TableName,
    ) -> EngineResult<Vec<(String, ColumnType, bool)>> {
        const SQL: &str = "SELECT a.attname::text, bt.typname::text, bt.typtype::text, \
              CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, a.attnotnull, \
              format_type(a.atttypid, a.atttypmod) \
            FROM pg_attribute a \
            JOIN pg_class c ON c.oid = a.attrelid \
            JOIN pg_namespace n ON n.oid = c.relnamespace \
            JOIN pg_type t ON t.oid = a.atttypid \
            JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
            WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
            ORDER BY a.attnum";
        let schema = table.schema.as_deref().unwrap_or("public");
        let rows = client
            .query(SQL, &[&schema, &table.name])
            .await
            .map_err(|e| connector.error(Some(&table.to_string()), e).with_sql(SQL))?;
        Ok(rows
            .iter()
            .map(|r| {
                let kind: String = r.get(2);
                (
                    r.get::<_, String>(0),
                    ColumnType {
                        name: r.get(1),
                        kind: kind.chars().next().unwrap_or('b'),
                        typmod: r.get(3),
                        declared: r.get(5),
                    },
                    r.get::<_, bool>(4),
                )
            })
            .collect())
    }

    /// The leading column of the table's primary key, when it is an integer,
    /// with its smallest and largest value: the ranges of a partitioned read.
    async fn key_range(&self, table: &TableName) -> EngineResult<Option<RangePartitioning>> {
        const SQL: &str = "SELECT a.attname::text FROM pg_index i \
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
            WHERE i.indrelid = $1::text::regclass AND i.indisprimary \
              AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)";
        let label = table.to_string();
        let quoted = self.quote_table(table);
        let err = |e, sql: &str| self.connector.error(Some(&label), e).with_sql(sql);
        let Some(row) = self
            .meta
            .query_opt(SQL, &[&quoted])
            .await
            .map_err(|e| err(e, SQL))?
        else {
            return Ok(None);
        };
        let column: String = row.get(0);
        Ok(self
            .column_bounds(table, &column)
            .await?
            .map(|(min, max)| RangePartitioning { column, min, max }))
    }

    /// Smallest and largest value of an integer column; `None` when empty.
    async fn column_bounds(
        &self,
        table: &TableName,
        column: &str,
    ) -> EngineResult<Option<(i64, i64)>> {
        let sql = format!(
            "SELECT min({0})::int8, max({0})::int8 FROM {1}",
            self.quote_ident(column),
            self.quote_table(table)
        );
        let row = self.meta.query_one(&sql, &[]).await.map_err(|e| {
            self.connector
                .error(Some(&table.to_string()), e)
                .with_sql(&sql)
        })?;
        Ok(
            match (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)) {
                (Some(min), Some(max)) => Some((min, max)),
                _ => None,
            },
        )
    }

    /// Runs statements on the catalog client (from a blocking thread).
    fn execute_blocking(&self, sql: &str) -> EngineResult<u64> {
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            EngineError::query(&self.connector.name, None, Some(sql), e.to_string())
        })?;
        handle
            .block_on(self.meta.execute(sql, &[]))
            .map_err(|e| self.connector.error(None, e).with_sql(sql))
    }
}

impl SqlSource for PostgresConnection {
    fn connection_name(&self) -> &str {
        &self.connector.name
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// Casts every column to the type its Arrow type stands for, so the
    /// binary stream carries what the decoder expects (a no-op cast for
    /// columns already of that type; PostgreSQL's text form for the rest).
    fn select_column(&self, field: &Field) -> String {
        let name = self.quote_ident(field.name());
        match types::natural_typname(field.data_type()) {
            Some(ty) => format!("{name}::{ty}"),
            None => name,
        }
    }

    /// Floats stay in DataFusion (PostgreSQL compares NaN and -0.0 its own
    /// way). Text: see [`Self::collation_compares_bytes`].
    fn compares_like_datafusion(&self, data_type: &DataType) -> bool {
        !data_type.is_floating()
    }

    /// `C`, `POSIX` and `ucs_basic` compare bytes (code points); the
    /// database default and the libc and ICU locales do not.
    fn collation_compares_bytes(&self, collation: &str) -> bool {
        matches!(collation, "C" | "POSIX" | "ucs_basic")
    }

    /// A literal with a backslash is an `E'...'` string, which means the same
    /// whatever the session's `standard_conforming_strings`.
    fn string_literal(&self, value: &str) -> String {
        let quoted = value.replace('\'', "''");
        if value.contains('\\') {
            format!("E'{}'", quoted.replace('\\', "\\\\"))
        } else {
            format!("'{quoted}'")
        }
    }

    fn canonical_text(&self, sql: &str, data_type: &DataType) -> Option<String> {
        super::checksum::canonical_text(sql, data_type)
    }

    fn checksum_aggregate(&self, values: &[String]) -> Option<String> {
        Some(super::checksum::checksum_aggregate(values))
    }

    fn query(&self, sql: &str, schema: SchemaRef) -> EngineResult<BatchIter> {
        run_copy_out(&self.connector, sql, schema)
    }

    fn integer_bounds(&self, table: &TableName, column: &str) -> EngineResult<Option<(i64, i64)>> {
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            EngineError::query(&self.connector.name, Some(&table.to_string()), None, e)
        })?;
        handle.block_on(self.column_bounds(table, column))
    }

    fn execute(&self, sql: &str) -> EngineResult<u64> {
        if self.read_only {
            return Err(EngineError::unsupported(
                &self.connector.name,
                "the connection is read_only; statements that write are refused",
            ));
        }
        self.execute_blocking(sql)
    }
}

#[async_trait]
impl Connection for PostgresConnection {
    fn name(&self) -> &str {
        &self.connector.name
    }

    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn default_schema(&self) -> &str {
        &self.default_schema
    }

    async fn list_tables(&self) -> EngineResult<Vec<TableName>> {
        const SQL: &str = "SELECT n.nspname::text, c.relname::text FROM pg_class c \
            JOIN pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition \
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
              AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
            ORDER BY 1, 2";
        let rows = self
            .meta
            .query(SQL, &[])
            .await
            .map_err(|e| self.connector.error(None, e).with_sql(SQL))?;
        Ok(rows
            .iter()
            .map(|r| TableName::new(Some(&r.get::<_, String>(0)), &r.get::<_, String>(1)))
            .filter(|t| t.name != COMMIT_TABLE)
            .collect())
    }

    async fn table_schema(&self, table: &TableName) -> EngineResult<Option<SchemaRef>> {
        let table = self.resolve(table);
        let columns = Self::column_types(&self.meta, &self.connector, &table).await?;
        if columns.is_empty() {
            return Ok(None);
        }
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, ty, not_null)| Field::new(name, types::arrow_type(ty), !not_null))
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
        let collations = self.collations(&table, &schema).await?;
        let source: Arc<dyn SqlSource> = self.clone();
        let key_range = self.key_range(&table);
        Ok(Some(Arc::new(
            SqlTable::split_on_key(source, table.clone(), schema, row_count, key_range)
                .await?
                .with_collations(collations),
        )))
    }

    /// The planner's estimate (`pg_class.reltuples`); an exact count for a
    /// table never analyzed.
    async fn row_count(&self, table: &TableName) -> EngineResult<Option<u64>> {
        const SQL: &str = "SELECT c.reltuples::float8 FROM pg_class c \
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2";
        let table = self.resolve(table);
        let schema = table.schema.as_deref().unwrap_or_default();
        let label = table.to_string();
        let row = self
            .meta
            .query_opt(SQL, &[&schema, &table.name])
            .await
            .map_err(|e| self.connector.error(Some(&label), e).with_sql(SQL))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let estimate: f64 = row.get(0);
        if estimate >= 0.0 {
            return Ok(Some(estimate as u64));
        }
        let count_sql = format!("SELECT count(*) FROM {}", self.quote_table(&table));
        let row = self
            .meta
            .query_one(&count_sql, &[])
            .await
            .map_err(|e| self.connector.error(Some(&label), e).with_sql(&count_sql))?;
        Ok(Some(row.get::<_, i64>(0).max(0) as u64))
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
                    &self.connector.name,
                    &label,
                    k,
                    "the key column is not in the step's output",
                ));
            }
        }
        let fields: Vec<&Field> = schema.fields().iter().map(|f| f.as_ref()).collect();
        types::create_table_sql(&self.quote_table(&table), &fields, key).map_err(|message| {
            EngineError::query(&self.connector.name, Some(&label), None, message)
        })
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

    fn transactional_ddl(&self) -> bool {
        true
    }

    async fn take_snapshot(&self) -> EngineResult<()> {
        self.connector
            .snapshot
            .id(&self.connector)
            .await
            .map(|_| ())
    }

    async fn snapshot_description(&self) -> ReadSnapshot {
        self.connector.snapshot.describe().await
    }

    async fn shadow_sql(
        &self,
        target: &TargetSpec,
        shadow: &TableName,
        schema: &SchemaRef,
    ) -> EngineResult<(Vec<String>, bool)> {
        let (table, shadow) = (self.resolve(&target.table), self.resolve(shadow));
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        if swap::keeps_definition(&self.meta, &self.connector, &table, &columns).await? {
            return Ok((vec![swap::shadow_like(&table, &shadow)], true));
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
            &self.meta,
            &self.connector,
            &self.resolve(shadow),
            &self.resolve(target),
            target_exists,
            kept,
        )
        .await
    }

    async fn execute_transaction(&self, statements: &[String]) -> EngineResult<()> {
        let batch = format!("BEGIN; {}; COMMIT", statements.join("; "));
        if let Err(e) = self.meta.batch_execute(&batch).await {
            let _ = self.meta.batch_execute("ROLLBACK").await;
            return Err(self.connector.error(None, e).with_sql(&batch));
        }
        Ok(())
    }

    /// A session-level advisory lock on the connection's catalog session.
    async fn lock_run(&self, key: &str) -> EngineResult<bool> {
        let digest = blake3::hash(format!("barge:{key}").as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest.as_bytes()[..8]);
        let id = i64::from_le_bytes(id);
        const SQL: &str = "SELECT pg_try_advisory_lock($1)";
        let row = self
            .meta
            .query_one(SQL, &[&id])
            .await
            .map_err(|e| self.connector.error(None, e).with_sql(SQL))?;
        Ok(row.get(0))
    }

    async fn ensure_commit_table(&self) -> EngineResult<()> {
        self.check_writable(&TableName::new(None, COMMIT_TABLE))?;
        let sql = commit::create_commit_table_sql(self);
        self.meta
            .batch_execute(&sql)
            .await
            .map_err(|e| self.connector.error(None, e).with_sql(&sql))
    }

    async fn committed_load(&self, load_id: &str) -> EngineResult<Option<u64>> {
        let (this, id) = (self.clone(), load_id.to_string());
        tokio::task::spawn_blocking(move || commit::committed_load(&this, &id))
            .await
            .map_err(|e| EngineError::query(&self.connector.name, None, None, e))?
    }

    fn commit_record_sql(&self, record: &CommitRecord, rows: u64) -> Option<String> {
        Some(commit::commit_record_sql(self, record, rows))
    }

    async fn load_through(
        &self,
        source: &Arc<dyn SqlSource>,
        queries: &[String],
        schema: &SchemaRef,
        target: &TargetSpec,
        columns: &[String],
        hooks: &crate::engines::hooks::LoadHooks,
        sink_schema: &SchemaRef,
    ) -> EngineResult<Option<u64>> {
        let Some(source) = source.as_any().downcast_ref::<PostgresConnection>() else {
            return Ok(None);
        };
        let mut target = target.clone();
        target.table = self.resolve(&target.table);
        super::passthrough::copy_through(
            source,
            queries,
            schema,
            self,
            &target,
            columns,
            hooks,
            sink_schema,
        )
        .await
    }

    async fn introspect(&self) -> EngineResult<crate::model::catalog::Catalog> {
        super::introspect::introspect(&self.meta, &self.connector).await
    }

    async fn routines(&self) -> EngineResult<Vec<crate::model::catalog::Routine>> {
        super::introspect::routines(&self.meta, &self.connector).await
    }

    async fn execute_statement(&self, sql: &str) -> EngineResult<u64> {
        if self.read_only {
            return Err(EngineError::unsupported(
                &self.connector.name,
                "the connection is read_only; statements that write are refused",
            ));
        }
        self.meta
            .execute(sql, &[])
            .await
            .map_err(|e| self.connector.error(None, e).with_sql(sql))
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
        Ok(Box::new(super::sink::IsolatingPostgresWriter::open(
            &self.connector,
            &target,
            schema,
        )?))
    }

    fn open_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        self.check_writable(&target.table)?;
        let mut target = target.clone();
        target.table = self.resolve(&target.table);
        Ok(Box::new(PostgresWriter::open(
            &self.connector,
            &target,
            schema,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use tokio_postgres::NoTls;

    use super::*;
    use crate::error::ErrorCode;

    /// Against the server of tests/servers.sh: errors carry the server's
    /// SQLSTATE, whatever their text says; a refused connection carries its
    /// I/O error's kind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_carry_the_servers_sqlstate() {
        let options = OpenOptions::default();
        let pg = PostgresConnection::connect(
            "src",
            "postgres://postgres@127.0.0.1:5432/postgres",
            &options,
        )
        .await
        .expect("PostgreSQL at 127.0.0.1:5432 (run tests/servers.sh)");
        let raise = |code: &str, message: &str| {
            format!("DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '{code}'; END $$")
        };
        let serialization = pg
            .execute_statement(&raise("40001", "could not serialize"))
            .await
            .expect_err("raised");
        assert_eq!(
            serialization.code(),
            Some(ErrorCode::SqlState("40001".into())),
            "{serialization}"
        );
        let worded = pg
            .execute_statement(&raise("22012", "timed out (SQLSTATE 40001)"))
            .await
            .expect_err("raised");
        assert_eq!(
            worded.code(),
            Some(ErrorCode::SqlState("22012".into())),
            "{worded}"
        );
        let refused =
            PostgresConnection::connect("src", "postgres://postgres@127.0.0.1:1/d", &options)
                .await
                .expect_err("nothing listens on port 1");
        assert_eq!(
            refused.code(),
            Some(ErrorCode::Io(std::io::ErrorKind::ConnectionRefused)),
            "{refused}"
        );
    }

    /// Text filters go down on `C`-like columns only, and a literal with a
    /// backslash keeps its meaning even where `standard_conforming_strings`
    /// is off.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn text_filters_go_down_only_on_byte_collations() {
        use datafusion::logical_expr::TableProviderFilterPushDown::{Exact, Unsupported};
        use datafusion::prelude::{col, lit, SessionContext};

        const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
        let db = "barge_ut_pg_collations";
        let (admin, connection) = tokio_postgres::connect(&format!("{SERVER}/postgres"), NoTls)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (tests/servers.sh)");
        tokio::spawn(connection);
        for sql in [
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            format!("CREATE DATABASE {db}"),
            format!("ALTER DATABASE {db} SET standard_conforming_strings = off"),
        ] {
            admin.batch_execute(&sql).await.expect("create database");
        }
        let url = format!("{SERVER}/{db}");
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(
                "CREATE TABLE t (id bigint, c text COLLATE \"C\", d text, u uuid, \
                   v varchar(10) COLLATE \"POSIX\");
                 INSERT INTO t VALUES
                   (1, 'abc', 'abc', NULL, 'abc'), (2, 'ABC', 'ABC', NULL, 'x'),
                   (3, E'C:\\\\temp', 'x', NULL, 'zz');",
            )
            .await
            .unwrap();
        let options = OpenOptions {
            read_only: true,
            create: false,
            ..OpenOptions::default()
        };
        let pg = Arc::new(
            PostgresConnection::connect("src", &url, &options)
                .await
                .unwrap(),
        );
        let provider = pg
            .clone()
            .table_provider(&TableName::new(None, "t"))
            .await
            .unwrap()
            .unwrap();
        let filters = [
            col("c").eq(lit("abc")),
            col("d").eq(lit("abc")),
            col("u").eq(lit("abc")),
            col("v").lt(lit("b")),
        ];
        assert_eq!(
            provider
                .supports_filters_pushdown(&filters.iter().collect::<Vec<_>>())
                .unwrap(),
            [Exact, Unsupported, Unsupported, Exact]
        );
        let ctx = SessionContext::new();
        ctx.register_table("t", provider).unwrap();
        for (sql, want) in [
            // Bytes: 'ABC' and 'C:\temp' sort before 'abc'.
            ("SELECT id FROM t WHERE c < 'abc' ORDER BY id", vec![2, 3]),
            (r"SELECT id FROM t WHERE c = 'C:\temp'", vec![3]),
            ("SELECT id FROM t WHERE v < 'b'", vec![1]),
        ] {
            let rows = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            let ids: Vec<i64> = rows
                .iter()
                .flat_map(|b| {
                    use datafusion::arrow::array::AsArray;
                    b.column(0)
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .values()
                        .to_vec()
                })
                .collect();
            assert_eq!(ids, want, "{sql}");
        }
    }
}
