//! [`DuckDbConnection`]: the [`Connection`] and [`SqlSource`] of one
//! pipeline connection. DuckDB lets a process open a database file once: the
//! connection holds the process's shared [`Database`] of its file (see
//! [`super::database`]).

use std::fmt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;

use super::database::{
    canonical_path, open_shared, url_options, Database, DbHandle, Session, MEMORY, URL_OPTIONS_HINT,
};
use super::{introspect, sink::DuckDbWriter, source, types};
use crate::engines::arrow_bridge::schema_from_duckdb;
use crate::engines::load::{self, LoadPlan};
use crate::engines::sql::commit::{self, COMMIT_TABLE};
use crate::engines::sql::{SqlSource, SqlTable};
use crate::engines::{BatchIter, BatchWriter, Connection, OpenOptions};
use crate::error::{EngineError, EngineResult};
use crate::model::{CommitRecord, EngineKind, TableName, TargetSpec};

/// Schema a table name without one resolves to.
const DEFAULT_SCHEMA: &str = "main";

/// One pipeline connection to a DuckDB file.
#[derive(Clone)]
pub struct DuckDbConnection {
    name: String,
    /// The path as written in the pipeline, for messages.
    path: String,
    db: DbHandle,
    /// Writes refused by barge (`read_only = true`).
    read_only: bool,
}

impl fmt::Debug for DuckDbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuckDbConnection")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl DuckDbConnection {
    /// The `CREATE TABLE` of `table` and the `CREATE INDEX` statements of
    /// its indexes, as DuckDB's catalog keeps them.
    fn definition(&self, table: &TableName) -> EngineResult<Option<(String, Vec<String>)>> {
        let session = self.session()?;
        let schema = table.schema.as_deref().unwrap_or(DEFAULT_SCHEMA);
        let tables = "SELECT sql FROM duckdb_tables() WHERE database_name = current_database() \
                      AND schema_name = ? AND table_name = ?";
        let indexes = "SELECT sql FROM duckdb_indexes() WHERE database_name = current_database() \
                       AND schema_name = ? AND table_name = ? AND sql IS NOT NULL ORDER BY index_name";
        let read = |sql: &str| -> EngineResult<Vec<String>> {
            let err = |e: duckdb::Error| EngineError::query(&self.name, None, Some(sql), e);
            let mut stmt = session.prepare(sql).map_err(err)?;
            let rows = stmt
                .query_map([schema, table.name.as_str()], |r| r.get::<_, String>(0))
                .map_err(err)?;
            rows.collect::<duckdb::Result<Vec<_>>>().map_err(err)
        };
        read(tables)?
            .into_iter()
            .next()
            .map(|create| Ok::<_, EngineError>((create, read(indexes)?)))
            .transpose()
    }

    /// The tables whose foreign keys reference `table`.
    fn referenced_by(&self, table: &TableName) -> EngineResult<Vec<String>> {
        let session = self.session()?;
        let schema = table.schema.as_deref().unwrap_or(DEFAULT_SCHEMA);
        let sql = "SELECT DISTINCT table_name FROM duckdb_constraints() \
                   WHERE database_name = current_database() AND constraint_type = 'FOREIGN KEY' \
                   AND referenced_table = ? AND schema_name = ? AND table_name <> ? ORDER BY 1";
        let err = |e: duckdb::Error| EngineError::query(&self.name, None, Some(sql), e);
        let mut stmt = session.prepare(sql).map_err(err)?;
        let rows = stmt
            .query_map([table.name.as_str(), schema, table.name.as_str()], |r| {
                r.get::<_, String>(0)
            })
            .map_err(err)?;
        rows.collect::<duckdb::Result<Vec<_>>>().map_err(err)
    }

    /// Opens the DuckDB file at `path` (what follows `duckdb://`; `:memory:`
    /// for a private in-memory database) as connection `name`.
    pub fn open(
        name: &str,
        path: &str,
        options: &OpenOptions,
    ) -> EngineResult<Arc<dyn Connection>> {
        Ok(Arc::new(Self::open_file(name, path, options)?))
    }

    pub(crate) fn open_file(
        name: &str,
        url_path: &str,
        options: &OpenOptions,
    ) -> EngineResult<Self> {
        let open_error = |message: String, hint: Option<&str>| EngineError::Open {
            connection: name.to_string(),
            url: format!("duckdb://{url_path}"),
            message,
            hint: hint.map(str::to_string),
            code: None,
        };
        let (path, storage_version) =
            url_options(url_path).map_err(|message| open_error(message, Some(URL_OPTIONS_HINT)))?;
        if path.is_empty() {
            return Err(open_error(
                "no database file given".into(),
                Some("write duckdb://PATH, e.g. duckdb://data/shop.duckdb"),
            ));
        }
        let db = if path == MEMORY {
            let conn = duckdb::Connection::open_in_memory()
                .map_err(|e| open_error(e.to_string(), None))?;
            Arc::new(Database::in_memory(conn))
        } else {
            let canonical = canonical_path(Path::new(path), options)
                .map_err(|(message, hint)| open_error(message, hint))?;
            open_shared(&canonical, options.read_only, &storage_version)
                .map_err(|(message, hint)| open_error(message, hint))?
        };
        Ok(Self {
            name: name.to_string(),
            path: path.to_string(),
            db: DbHandle(Some(db)),
            read_only: options.read_only,
        })
    }

    /// A new DuckDB connection to this database, for one query or writer.
    pub(crate) fn session(&self) -> EngineResult<Session> {
        let Some(db) = self.db.db() else {
            return Err(EngineError::query(
                &self.name,
                None,
                None,
                "the database is closed",
            ));
        };
        let base = db.base();
        let conn = base
            .conn
            .as_ref()
            .ok_or_else(|| {
                EngineError::query(&self.name, None, None, "the database is being reopened")
            })?
            .try_clone()
            .map_err(|e| EngineError::query(&self.name, None, None, e))?;
        db.sessions.fetch_add(1, Ordering::SeqCst);
        Ok(Session {
            conn: std::mem::ManuallyDrop::new(conn),
            db: self.db.clone(),
        })
    }

    /// Fails when barge or DuckDB must not write through this connection.
    pub(crate) fn check_writable(&self, table: &TableName) -> EngineResult<()> {
        let opened_read_only = self.db.db().is_some_and(|db| db.is_read_only());
        if self.read_only || opened_read_only {
            return Err(EngineError::unsupported(
                &self.name,
                format!(
                    "cannot write table '{table}': the connection is read-only\n  hint: remove `read_only = true` from the connection, or write to another connection"
                ),
            ));
        }
        Ok(())
    }

    /// The table with its schema filled in (`main` when the name has none).
    pub(crate) fn resolve(&self, table: &TableName) -> TableName {
        TableName::new(
            Some(table.schema.as_deref().unwrap_or(DEFAULT_SCHEMA)),
            &table.name,
        )
    }

    pub(crate) fn connection_name(&self) -> &str {
        &self.name
    }

    /// Whether the table is a view (`Some(true)`), a base table, or missing.
    fn table_kind(&self, session: &Session, table: &TableName) -> EngineResult<Option<bool>> {
        let table = self.resolve(table);
        let sql = "SELECT table_type FROM information_schema.tables \
                   WHERE table_catalog = current_database() AND lower(table_schema) = lower(?) \
                   AND lower(table_name) = lower(?) AND table_type IN ('BASE TABLE', 'VIEW') LIMIT 1";
        let result: duckdb::Result<String> = session.query_row(
            sql,
            [
                table.schema.as_deref().unwrap_or(DEFAULT_SCHEMA),
                table.name.as_str(),
            ],
            |row| row.get(0),
        );
        match result {
            Ok(kind) => Ok(Some(kind == "VIEW")),
            Err(duckdb::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(EngineError::query(
                &self.name,
                Some(&table.to_string()),
                Some(sql),
                e,
            )),
        }
    }

    /// Arrow schema DuckDB gives for the table, with NOT NULL columns marked.
    pub(crate) fn read_schema(
        &self,
        session: &Session,
        table: &TableName,
    ) -> EngineResult<SchemaRef> {
        let table = self.resolve(table);
        let label = table.to_string();
        let sql = format!("SELECT * FROM {} LIMIT 0", self.quote_table(&table));
        let err = |e: &dyn fmt::Display, sql: &str| {
            EngineError::query(&self.name, Some(&label), Some(sql), e)
        };
        // The statement must be gone before the next query: DuckDB allows one
        // open result per connection.
        let schema = {
            let mut stmt = session.prepare(&sql).map_err(|e| err(&e, &sql))?;
            let stream = stmt.stream_arrow([]).map_err(|e| err(&e, &sql))?;
            schema_from_duckdb(&stream.get_schema()).map_err(|e| err(&e, &sql))?
        };

        let not_null_sql = "SELECT column_name FROM information_schema.columns \
                            WHERE table_catalog = current_database() AND lower(table_schema) = lower(?) \
                            AND lower(table_name) = lower(?) AND is_nullable = 'NO'";
        let mut stmt = session
            .prepare(not_null_sql)
            .map_err(|e| err(&e, not_null_sql))?;
        let not_null = stmt
            .query_map(
                [
                    table.schema.as_deref().unwrap_or(DEFAULT_SCHEMA),
                    table.name.as_str(),
                ],
                |row| row.get::<_, String>(0),
            )
            .and_then(|rows| rows.collect::<duckdb::Result<Vec<String>>>())
            .map_err(|e| err(&e, not_null_sql))?;
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                let required = not_null.iter().any(|n| n.eq_ignore_ascii_case(f.name()));
                f.as_ref().clone().with_nullable(!required)
            })
            .collect();
        Ok(Arc::new(Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        )))
    }
}

impl SqlSource for DuckDbConnection {
    fn connection_name(&self) -> &str {
        &self.name
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// Floats stay in DataFusion: DuckDB and Arrow disagree on -0.0 = 0.0.
    fn compares_like_datafusion(&self, data_type: &DataType) -> bool {
        !data_type.is_floating()
    }

    /// Only `binary` (the default) compares bytes; `nocase`, `noaccent`,
    /// `nfc` and the ICU collations do not.
    fn collation_compares_bytes(&self, collation: &str) -> bool {
        collation.eq_ignore_ascii_case("binary")
    }

    fn canonical_text(&self, sql: &str, data_type: &DataType) -> Option<String> {
        super::checksum::canonical_text(sql, data_type)
    }

    fn checksum_aggregate(&self, values: &[String]) -> Option<String> {
        Some(super::checksum::checksum_aggregate(values))
    }

    fn query(&self, sql: &str, schema: SchemaRef) -> EngineResult<BatchIter> {
        source::query(self, sql, schema)
    }

    fn execute(&self, sql: &str) -> EngineResult<u64> {
        if self.read_only {
            return Err(EngineError::unsupported(
                &self.name,
                format!("the connection is read-only; refusing to run: {sql}"),
            ));
        }
        let session = self.session()?;
        session
            .execute(sql, [])
            .map(|n| n as u64)
            .map_err(|e| EngineError::query(&self.name, None, Some(sql), e))
    }
}

#[async_trait]
impl Connection for DuckDbConnection {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> EngineKind {
        EngineKind::DuckDb
    }

    fn default_schema(&self) -> &str {
        DEFAULT_SCHEMA
    }

    async fn list_tables(&self) -> EngineResult<Vec<TableName>> {
        let session = self.session()?;
        let sql = "SELECT table_schema, table_name FROM information_schema.tables \
                   WHERE table_catalog = current_database() AND table_type IN ('BASE TABLE', 'VIEW') \
                   ORDER BY table_schema, table_name";
        let err = |e: duckdb::Error| EngineError::query(&self.name, None, Some(sql), e);
        let mut stmt = session.prepare(sql).map_err(err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(TableName::new(
                    Some(row.get::<_, String>(0)?.as_str()),
                    &row.get::<_, String>(1)?,
                ))
            })
            .map_err(err)?;
        let tables = rows.collect::<duckdb::Result<Vec<_>>>().map_err(err)?;
        Ok(tables
            .into_iter()
            .filter(|t| t.name != COMMIT_TABLE)
            .collect())
    }

    async fn table_schema(&self, table: &TableName) -> EngineResult<Option<SchemaRef>> {
        let session = self.session()?;
        if self.table_kind(&session, table)?.is_none() {
            return Ok(None);
        }
        self.read_schema(&session, table).map(Some)
    }

    async fn table_provider(
        self: Arc<Self>,
        table: &TableName,
    ) -> EngineResult<Option<Arc<dyn TableProvider>>> {
        let session = self.session()?;
        let Some(is_view) = self.table_kind(&session, table)? else {
            return Ok(None);
        };
        let schema = self.read_schema(&session, table)?;
        let (row_count, collations) = if is_view {
            (None, Vec::new())
        } else {
            (
                self.count_rows(&session, table)?,
                introspect::collations(&self, &session, table, &schema)?,
            )
        };
        drop(session);
        let table = self.resolve(table);
        Ok(Some(Arc::new(
            SqlTable::new(self as Arc<dyn SqlSource>, table, schema, row_count)
                .with_collations(collations),
        )))
    }

    async fn row_count(&self, table: &TableName) -> EngineResult<Option<u64>> {
        let session = self.session()?;
        match self.table_kind(&session, table)? {
            Some(false) => self.count_rows(&session, table),
            // A view's count runs the view: not cheap.
            _ => Ok(None),
        }
    }

    fn create_table_sql(
        &self,
        table: &TableName,
        schema: &SchemaRef,
        key: &[String],
    ) -> EngineResult<String> {
        let table = self.resolve(table);
        types::create_table_sql(&self.name, &table, &self.quote_table(&table), schema, key)
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
        // A table in another schema needs the schema first.
        let mut create_schema = None;
        if let Some(name) = target
            .table
            .schema
            .as_deref()
            .filter(|s| *s != DEFAULT_SCHEMA)
        {
            if self.table_schema(&target.table).await?.is_none() {
                let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", self.quote_ident(name));
                if !dry_run {
                    self.execute(&sql)?;
                }
                create_schema = Some(sql);
            }
        }
        let mut plan = load::prepare(self, &target, schema, dry_run, chunked).await?;
        plan.before.splice(0..0, create_schema);
        Ok(plan)
    }

    fn transactional_ddl(&self) -> bool {
        true
    }

    /// The target's own `CREATE TABLE` under the shadow's name, when every
    /// column of `schema` is in it. A table other tables' foreign keys
    /// reference is refused before any row moves: DuckDB cannot drop it.
    async fn shadow_sql(
        &self,
        target: &TargetSpec,
        shadow: &TableName,
        schema: &SchemaRef,
    ) -> EngineResult<(Vec<String>, bool)> {
        let table = self.resolve(&target.table);
        let this = self.clone();
        let (definition, referenced_by) = tokio::task::spawn_blocking(move || {
            Ok::<_, EngineError>((this.definition(&table)?, this.referenced_by(&table)?))
        })
        .await
        .map_err(|e| EngineError::query(&self.name, None, None, format!("task failed: {e}")))??;
        if !referenced_by.is_empty() {
            return Err(EngineError::unsupported(
                &self.name,
                format!(
                    "table {} is referenced by foreign keys of {}, and DuckDB cannot replace a referenced table\n  hint: use mode = \"truncate\" (or \"upsert\") to load it in place, or load the referencing tables with it",
                    target.table,
                    referenced_by.join(", ")
                ),
            ));
        }
        let existing = self.table_schema(&target.table).await?;
        let holds_columns = existing.is_some_and(|e| {
            schema
                .fields()
                .iter()
                .all(|f| e.fields().iter().any(|c| c.name() == f.name()))
        });
        if let Some((create, _)) = definition.filter(|_| holds_columns) {
            if let Some(open) = create.find('(') {
                return Ok((
                    vec![format!(
                        "CREATE TABLE {} {}",
                        self.quote_table(&self.resolve(shadow)),
                        &create[open..]
                    )],
                    true,
                ));
            }
        }
        Ok((
            vec![self.create_table_sql(shadow, schema, &target.key)?],
            false,
        ))
    }

    /// Drops the target, renames the shadow, and (when the shadow kept the
    /// target's definition) creates its indexes again.
    async fn swap_sql(
        &self,
        shadow: &TableName,
        target: &TableName,
        target_exists: bool,
        kept: bool,
    ) -> EngineResult<Vec<String>> {
        let target = self.resolve(target);
        let mut statements = Vec::new();
        if target_exists {
            statements.push(format!("DROP TABLE {}", self.quote_table(&target)));
        }
        statements.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            self.quote_table(&self.resolve(shadow)),
            self.quote_ident(&target.name)
        ));
        if kept && target_exists {
            let this = self.clone();
            let definition = tokio::task::spawn_blocking(move || this.definition(&target))
                .await
                .map_err(|e| {
                    EngineError::query(&self.name, None, None, format!("task failed: {e}"))
                })??;
            statements.extend(definition.map(|(_, indexes)| indexes).unwrap_or_default());
        }
        Ok(statements)
    }

    async fn execute_transaction(&self, statements: &[String]) -> EngineResult<()> {
        let batch = format!("BEGIN; {}; COMMIT;", statements.join("; "));
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let session = this.session()?;
            session.execute_batch(&batch).map_err(|e| {
                let _ = session.execute_batch("ROLLBACK");
                EngineError::query(&this.name, None, Some(&batch), e)
            })
        })
        .await
        .map_err(|e| EngineError::query(&self.name, None, None, format!("task failed: {e}")))?
    }

    async fn ensure_commit_table(&self) -> EngineResult<()> {
        self.check_writable(&TableName::new(None, COMMIT_TABLE))?;
        let sql = commit::create_commit_table_sql(self);
        self.execute_statement(&sql).await.map(|_| ())
    }

    async fn committed_load(&self, load_id: &str) -> EngineResult<Option<u64>> {
        let (this, id) = (self.clone(), load_id.to_string());
        tokio::task::spawn_blocking(move || commit::committed_load(&this, &id))
            .await
            .map_err(|e| EngineError::query(&self.name, None, None, format!("task failed: {e}")))?
    }

    fn commit_record_sql(&self, record: &CommitRecord, rows: u64) -> Option<String> {
        Some(commit::commit_record_sql(self, record, rows))
    }

    async fn introspect(&self) -> EngineResult<crate::model::catalog::Catalog> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || super::introspect::introspect(&this))
            .await
            .map_err(|e| EngineError::query(&self.name, None, None, format!("task failed: {e}")))?
    }

    async fn execute_statement(&self, sql: &str) -> EngineResult<u64> {
        let this = self.clone();
        let sql = sql.to_string();
        tokio::task::spawn_blocking(move || SqlSource::execute(&this, &sql))
            .await
            .map_err(|e| EngineError::query(&self.name, None, None, format!("task failed: {e}")))?
    }

    fn open_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        self.check_writable(&target.table)?;
        Ok(Box::new(DuckDbWriter::open(self, target, schema)?))
    }

    fn isolates_rejects(&self) -> Result<(), String> {
        Err("DuckDB targets cannot set refused rows aside: DuckDB aborts the whole transaction on a constraint error and has no savepoints, so the rows before the refused one could not be kept\n  hint: set max_rejects = 0 for this step (the first refused row fails it), filter the bad rows in the step's SQL, or load into another engine".to_string())
    }
}

impl DuckDbConnection {
    pub(crate) fn count_rows(
        &self,
        session: &Session,
        table: &TableName,
    ) -> EngineResult<Option<u64>> {
        let table = self.resolve(table);
        let sql = format!("SELECT count(*) FROM {}", self.quote_table(&table));
        let n: i64 = session
            .query_row(&sql, [], |row| row.get(0))
            .map_err(|e| EngineError::query(&self.name, Some(&table.to_string()), Some(&sql), e))?;
        Ok(u64::try_from(n).ok())
    }
}
