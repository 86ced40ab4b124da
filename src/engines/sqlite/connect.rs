//! [`SqliteConnection`]: a SQLite database file as a barge connection.
//!
//! No rusqlite connection is shared between threads: every query, writer and
//! metadata call opens its own (opening a SQLite file is cheap), with a busy
//! timeout so concurrent readers and a writer wait for each other's locks
//! instead of failing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use rusqlite::OpenFlags;

use super::sink::SqliteWriter;
use super::source::run_query;
use super::types;
use crate::engines::load::{self, LoadPlan};
use crate::engines::sql::collation::collations_of;
use crate::engines::sql::commit::{self, COMMIT_TABLE};
use crate::engines::sql::{SqlSource, SqlTable};
use crate::engines::{BatchIter, BatchWriter, Connection, OpenOptions};
use crate::error::{EngineError, EngineResult, ErrorCode};
use crate::model::{CommitRecord, EngineKind, TableName, TargetSpec};

/// How long a statement waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The only schema of a SQLite connection.
pub const MAIN_SCHEMA: &str = "main";

/// A SQLite database file. Cheap to clone: it holds the path, not a handle.
#[derive(Debug, Clone)]
pub struct SqliteConnection {
    name: String,
    /// Absolute path of the database file.
    path: PathBuf,
    read_only: bool,
}

impl SqliteConnection {
    /// Opens the connection `name` on the database file `path` (what follows
    /// `sqlite://`; relative paths are resolved from the working directory).
    pub fn open(
        name: &str,
        path: &str,
        options: &OpenOptions,
    ) -> EngineResult<Arc<dyn Connection>> {
        Ok(Arc::new(Self::new(name, path, options)?))
    }

    /// Like [`SqliteConnection::open`], returning the concrete type.
    pub fn new(name: &str, path: &str, options: &OpenOptions) -> EngineResult<Self> {
        let url = format!("sqlite://{path}");
        let open_error = |message: String, hint: Option<String>| EngineError::Open {
            connection: name.to_string(),
            url: url.clone(),
            message,
            hint,
            code: None,
        };
        if path.is_empty() {
            return Err(open_error(
                "the URL has no file path".to_string(),
                Some(
                    "write sqlite://PATH, e.g. sqlite://data/shop.sqlite or sqlite:///abs/path.db"
                        .to_string(),
                ),
            ));
        }
        if path == ":memory:" || path.starts_with("file:") {
            return Err(open_error(
                "in-memory and URI databases are not supported".to_string(),
                Some(
                    "use a database file path; barge opens a new SQLite connection per query"
                        .to_string(),
                ),
            ));
        }
        let absolute = std::path::absolute(path).map_err(|e| open_error(e.to_string(), None))?;
        let exists = absolute.exists();
        if !exists && (!options.create || options.read_only) {
            let cwd = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "?".to_string());
            return Err(open_error(
                "database file does not exist".to_string(),
                Some(format!(
                    "check the path; relative paths are resolved from the working directory ({cwd})"
                )),
            ));
        }
        if absolute.is_dir() {
            return Err(open_error(
                "the path is a directory, not a database file".to_string(),
                None,
            ));
        }
        if !exists {
            if let Some(parent) = absolute.parent() {
                if !parent.is_dir() {
                    return Err(open_error(
                        format!("directory {} does not exist", parent.display()),
                        Some("create the directory first; barge creates the database file, not its directory".to_string()),
                    ));
                }
            }
        }
        let connection = Self {
            name: name.to_string(),
            path: absolute,
            read_only: options.read_only,
        };
        // Validate now (and create the file when asked): a missing directory,
        // a non-SQLite file or a permission problem fails at open, not mid-run.
        let flags = if options.read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        };
        let check = rusqlite::Connection::open_with_flags(
            &connection.path,
            flags | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|conn| {
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|_| ())
        });
        if let Err(e) = check {
            return Err(open_error(
                e.to_string(),
                Some(
                    "is it a SQLite database file, readable (and writable unless read_only)?"
                        .to_string(),
                ),
            ));
        }
        Ok(connection)
    }

    /// Absolute path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a new rusqlite connection to the file (read-only when the
    /// connection is), with the busy timeout set.
    pub(crate) fn connect(&self) -> EngineResult<rusqlite::Connection> {
        let flags = if self.read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(&self.path, flags).map_err(|e| {
            EngineError::Open {
                connection: self.name.clone(),
                url: format!("sqlite://{}", self.path.display()),
                message: e.to_string(),
                hint: None,
                code: error_code(&e),
            }
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sqlite_error(&self.name, None, None, &e))?;
        Ok(conn)
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

    /// The table name inside `main`, `None` for any other schema.
    fn main_table<'a>(&self, table: &'a TableName) -> Option<&'a str> {
        match &table.schema {
            None => Some(&table.name),
            Some(s) if s.eq_ignore_ascii_case(MAIN_SCHEMA) => Some(&table.name),
            Some(_) => None,
        }
    }

    /// `table` with its schema set to `main`; an error for another schema.
    pub(crate) fn resolve(&self, table: &TableName) -> EngineResult<TableName> {
        match self.main_table(table) {
            Some(name) => Ok(TableName::new(Some(MAIN_SCHEMA), name)),
            None => Err(EngineError::unsupported(
                &self.name,
                format!("table '{table}': a SQLite database has only the schema 'main'"),
            )),
        }
    }

    /// Runs `f` on a clone of the connection on tokio's blocking pool.
    async fn blocking<T, F>(&self, f: F) -> EngineResult<T>
    where
        T: Send + 'static,
        F: FnOnce(SqliteConnection) -> EngineResult<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .map_err(|e| EngineError::query(&self.name, None, None, format!("task failed: {e}")))?
    }

    fn list_tables_blocking(&self) -> EngineResult<Vec<TableName>> {
        let sql = "SELECT name FROM main.sqlite_master WHERE type IN ('table', 'view') \
                   AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
        let conn = self.connect()?;
        let err = |e: rusqlite::Error| sqlite_error(&self.name, None, Some(sql), &e);
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(names
            .into_iter()
            .filter(|n| n != COMMIT_TABLE)
            .map(|n| TableName::new(Some(MAIN_SCHEMA), &n))
            .collect())
    }

    /// The `CREATE TABLE` of `table` and the `CREATE` statements of its
    /// own indexes and triggers, as `sqlite_master` keeps them.
    fn definition_blocking(
        &self,
        table: &TableName,
    ) -> EngineResult<Option<(String, Vec<String>)>> {
        let sql = "SELECT type, sql FROM main.sqlite_master WHERE tbl_name = ?1 \
                   AND sql IS NOT NULL AND type IN ('table', 'index', 'trigger') \
                   ORDER BY type = 'table' DESC, name";
        let conn = self.connect()?;
        let err = |e: rusqlite::Error| EngineError::query(&self.name, None, Some(sql), e);
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let rows = stmt
            .query_map([&table.name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let mut rows = rows.into_iter();
        Ok(match rows.next() {
            Some((kind, create)) if kind == "table" => {
                Some((create, rows.map(|(_, sql)| sql).collect()))
            }
            _ => None,
        })
    }

    /// Arrow schema from `PRAGMA table_info` (declared types via `types.rs`).
    fn table_schema_blocking(&self, table: &TableName) -> EngineResult<Option<SchemaRef>> {
        let Some(name) = self.main_table(table) else {
            return Ok(None);
        };
        let sql = "SELECT name, type, \"notnull\" FROM pragma_table_info(?1, 'main') ORDER BY cid";
        let conn = self.connect()?;
        let err =
            |e: rusqlite::Error| sqlite_error(&self.name, Some(&table.to_string()), Some(sql), &e);
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let fields = stmt
            .query_map([name], |r| {
                let column: String = r.get(0)?;
                let declared: Option<String> = r.get(1)?;
                let not_null: bool = r.get(2)?;
                Ok(Field::new(
                    column,
                    types::arrow_type(declared.as_deref().unwrap_or("")),
                    !not_null,
                ))
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        if fields.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Schema::new(fields))))
    }

    /// The collation of each text column of `table` (`schema`), as its
    /// `CREATE TABLE` declares it (`BINARY` when it declares none); `None`
    /// for every column of a view.
    fn collations_blocking(
        &self,
        table: &TableName,
        schema: &Schema,
    ) -> EngineResult<Vec<Option<String>>> {
        let create = self
            .definition_blocking(table)?
            .map(|(create, _)| create)
            .unwrap_or_default();
        Ok(collations_of(&create, schema, "BINARY"))
    }

    fn row_count_blocking(&self, table: &TableName) -> EngineResult<Option<u64>> {
        if self.table_schema_blocking(table)?.is_none() {
            return Ok(None);
        }
        let table = self.resolve(table)?;
        let sql = format!("SELECT count(*) FROM {}", self.quote_table(&table));
        let conn = self.connect()?;
        let count: i64 = conn
            .query_row(&sql, [], |r| r.get(0))
            .map_err(|e| sqlite_error(&self.name, Some(&table.to_string()), Some(&sql), &e))?;
        Ok(Some(count.max(0) as u64))
    }
}

/// SQLite's primary result code of a rusqlite error (`SQLITE_BUSY` is 5,
/// `SQLITE_LOCKED` 6), when SQLite returned one.
pub(crate) fn error_code(e: &rusqlite::Error) -> Option<ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(failure, _) => {
            Some(ErrorCode::Sqlite(failure.extended_code & 0xff))
        }
        _ => None,
    }
}

/// A query error on `connection` from SQLite's, with its result code.
pub(crate) fn sqlite_error(
    connection: &str,
    table: Option<&str>,
    sql: Option<&str>,
    e: &rusqlite::Error,
) -> EngineError {
    EngineError::query(connection, table, sql, e).with_code(error_code(e))
}

impl SqlSource for SqliteConnection {
    fn connection_name(&self) -> &str {
        &self.name
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// SQLite compares by storage class: a BOOLEAN column may hold 'true' as
    /// text, which barge reads as true but `b = TRUE` would not match. Only
    /// integer and float comparisons are pushed down (text: see
    /// [`Self::collation_compares_bytes`]).
    fn compares_like_datafusion(&self, data_type: &datafusion::arrow::datatypes::DataType) -> bool {
        !matches!(data_type, datafusion::arrow::datatypes::DataType::Boolean)
    }

    /// `BINARY` (the default) compares with `memcmp`; `NOCASE`, `RTRIM` and
    /// application collations do not.
    fn collation_compares_bytes(&self, collation: &str) -> bool {
        collation.eq_ignore_ascii_case("BINARY")
    }

    fn query(&self, sql: &str, schema: SchemaRef) -> EngineResult<BatchIter> {
        let conn = self.connect()?;
        run_query(&self.name, conn, sql, schema)
    }

    fn execute(&self, sql: &str) -> EngineResult<u64> {
        if self.read_only {
            return Err(EngineError::unsupported(
                &self.name,
                "the connection is read_only; statements that write are refused",
            ));
        }
        let conn = self.connect()?;
        let changed = conn
            .execute(sql, [])
            .map_err(|e| sqlite_error(&self.name, None, Some(sql), &e))?;
        Ok(changed as u64)
    }
}

#[async_trait]
impl Connection for SqliteConnection {
    fn name(&self) -> &str {
        &self.name
    }

    /// SQLite locks the whole file for a write transaction.
    fn single_writer(&self) -> bool {
        true
    }

    fn kind(&self) -> EngineKind {
        EngineKind::Sqlite
    }

    fn default_schema(&self) -> &str {
        MAIN_SCHEMA
    }

    async fn list_tables(&self) -> EngineResult<Vec<TableName>> {
        self.blocking(|c| c.list_tables_blocking()).await
    }

    async fn table_schema(&self, table: &TableName) -> EngineResult<Option<SchemaRef>> {
        let table = table.clone();
        self.blocking(move |c| c.table_schema_blocking(&table))
            .await
    }

    async fn table_provider(
        self: Arc<Self>,
        table: &TableName,
    ) -> EngineResult<Option<Arc<dyn TableProvider>>> {
        let Some(schema) = self.table_schema(table).await? else {
            return Ok(None);
        };
        let row_count = self.row_count(table).await?;
        let collations = {
            let (table, schema) = (table.clone(), schema.clone());
            self.blocking(move |c| c.collations_blocking(&table, &schema))
                .await?
        };
        let table = self.resolve(table)?;
        let source: Arc<dyn SqlSource> = self;
        Ok(Some(Arc::new(
            SqlTable::new(source, table, schema, row_count).with_collations(collations),
        )))
    }

    async fn row_count(&self, table: &TableName) -> EngineResult<Option<u64>> {
        let table = table.clone();
        self.blocking(move |c| c.row_count_blocking(&table)).await
    }

    fn create_table_sql(
        &self,
        table: &TableName,
        schema: &SchemaRef,
        key: &[String],
    ) -> EngineResult<String> {
        let table = self.resolve(table)?;
        let table_label = table.to_string();
        for k in key {
            if schema.field_with_name(k).is_err() {
                return Err(EngineError::column(
                    &self.name,
                    &table_label,
                    k,
                    "the key column is not in the step's output",
                ));
            }
        }
        let mut columns = Vec::with_capacity(schema.fields().len() + 1);
        for field in schema.fields() {
            let declared = types::declared_type(field.data_type()).ok_or_else(|| {
                EngineError::column(
                    &self.name,
                    &table_label,
                    field.name(),
                    format!(
                        "type {} cannot be stored in SQLite\n  hint: CAST the column in the step SQL (to TEXT, BIGINT, DOUBLE, DECIMAL, ...)",
                        field.data_type()
                    ),
                )
            })?;
            // Key columns are NOT NULL too: SQLite would accept NULL keys, which
            // never conflict. A `Null`-typed column holds only NULLs, whatever
            // its field says.
            let not_null = (!field.is_nullable() && field.data_type() != &DataType::Null)
                || key.contains(field.name());
            columns.push(format!(
                "{} {declared}{}",
                self.quote_ident(field.name()),
                if not_null { " NOT NULL" } else { "" }
            ));
        }
        if !key.is_empty() {
            let key_columns: Vec<String> = key.iter().map(|k| self.quote_ident(k)).collect();
            columns.push(format!("PRIMARY KEY ({})", key_columns.join(", ")));
        }
        Ok(format!(
            "CREATE TABLE {} ({})",
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
            table: self.resolve(&target.table)?,
            ..target.clone()
        };
        load::prepare(self, &target, schema, dry_run, chunked).await
    }

    fn transactional_ddl(&self) -> bool {
        true
    }

    /// The target's own `CREATE TABLE` under the shadow's name, when every
    /// column of `schema` is in it.
    async fn shadow_sql(
        &self,
        target: &TargetSpec,
        shadow: &TableName,
        schema: &SchemaRef,
    ) -> EngineResult<(Vec<String>, bool)> {
        let existing = self.table_schema(&target.table).await?;
        let holds_columns = existing.is_some_and(|e| {
            schema
                .fields()
                .iter()
                .all(|f| e.fields().iter().any(|c| c.name() == f.name()))
        });
        let table = self.resolve(&target.table)?;
        let shadow_sql = self.quote_table(shadow);
        let definition = self
            .blocking(move |this| this.definition_blocking(&table))
            .await?;
        match definition.filter(|_| holds_columns) {
            Some((create, _)) => match create.find('(') {
                Some(open) if !create[..open].to_ascii_uppercase().contains(" AS ") => Ok((
                    vec![format!("CREATE TABLE {shadow_sql} {}", &create[open..])],
                    true,
                )),
                _ => Ok((
                    vec![self.create_table_sql(shadow, schema, &target.key)?],
                    false,
                )),
            },
            None => Ok((
                vec![self.create_table_sql(shadow, schema, &target.key)?],
                false,
            )),
        }
    }

    /// Drops the target, renames the shadow, and (when the shadow kept the
    /// target's definition) creates its indexes and triggers again.
    async fn swap_sql(
        &self,
        shadow: &TableName,
        target: &TableName,
        target_exists: bool,
        kept: bool,
    ) -> EngineResult<Vec<String>> {
        let target = self.resolve(target)?;
        // Views and triggers naming the target would stop the rename's
        // schema check while the target is dropped.
        let mut statements = vec!["PRAGMA legacy_alter_table = ON".to_string()];
        if target_exists {
            statements.push(format!("DROP TABLE {}", self.quote_table(&target)));
        }
        statements.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            self.quote_table(shadow),
            self.quote_ident(&target.name)
        ));
        statements.push("PRAGMA legacy_alter_table = OFF".to_string());
        if kept && target_exists {
            let definition = self
                .blocking(move |this| this.definition_blocking(&target))
                .await?;
            statements.extend(definition.map(|(_, others)| others).unwrap_or_default());
        }
        Ok(statements)
    }

    async fn execute_transaction(&self, statements: &[String]) -> EngineResult<()> {
        let batch = format!("BEGIN IMMEDIATE; {}; COMMIT;", statements.join("; "));
        self.blocking(move |this| {
            let conn = this.connect()?;
            conn.execute_batch(&batch)
                .map_err(|e| EngineError::query(&this.name, None, Some(&batch), e))
        })
        .await
    }

    async fn ensure_commit_table(&self) -> EngineResult<()> {
        self.check_writable(&TableName::new(None, COMMIT_TABLE))?;
        let sql = commit::create_commit_table_sql(self);
        self.execute_statement(&sql).await.map(|_| ())
    }

    async fn committed_load(&self, load_id: &str) -> EngineResult<Option<u64>> {
        let id = load_id.to_string();
        self.blocking(move |this| commit::committed_load(&this, &id))
            .await
    }

    fn commit_record_sql(&self, record: &CommitRecord, rows: u64) -> Option<String> {
        Some(commit::commit_record_sql(self, record, rows))
    }

    async fn introspect(&self) -> EngineResult<crate::model::catalog::Catalog> {
        self.blocking(|this| super::introspect::introspect(&this))
            .await
    }

    async fn execute_statement(&self, sql: &str) -> EngineResult<u64> {
        let sql = sql.to_string();
        self.blocking(move |this| SqlSource::execute(&this, &sql))
            .await
    }

    fn open_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        self.check_writable(&target.table)?;
        let table = self.resolve(&target.table)?;
        Ok(Box::new(SqliteWriter::open(self, &table, target, schema)?))
    }

    fn isolates_rejects(&self) -> Result<(), String> {
        Ok(())
    }

    fn open_isolating_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        self.open_writer(target, schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, RecordBatch};
    use datafusion::arrow::datatypes::Decimal128Type;

    /// A write refused because another connection holds the database
    /// carries SQLITE_BUSY.
    #[test]
    fn a_locked_database_is_busy_by_code() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("busy.db");
        let holder = rusqlite::Connection::open(&path).expect("open");
        holder
            .execute_batch("CREATE TABLE t (x INTEGER); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
            .expect("lock");
        let other = rusqlite::Connection::open(&path).expect("open");
        other.busy_timeout(Duration::ZERO).expect("no waiting");
        let e = other
            .execute("INSERT INTO t VALUES (2)", [])
            .expect_err("the database is locked");
        let error = sqlite_error("dst", Some("t"), None, &e);
        assert_eq!(error.code(), Some(ErrorCode::Sqlite(5)), "{error}");
        drop(holder);
        let parse = other
            .execute("INSERT INTO nope VALUES (1)", [])
            .expect_err("no table");
        assert_eq!(error_code(&parse), Some(ErrorCode::Sqlite(1)));
    }

    /// The repository's sample database.
    fn shop() -> Arc<SqliteConnection> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/shop.sqlite");
        let options = OpenOptions {
            read_only: true,
            create: false,
            ..Default::default()
        };
        Arc::new(SqliteConnection::new("shop", path, &options).unwrap())
    }

    fn collect(iter: BatchIter) -> Vec<RecordBatch> {
        iter.collect::<EngineResult<Vec<_>>>().unwrap()
    }

    #[test]
    fn missing_file_is_an_error_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.sqlite");
        let err = SqliteConnection::open("src", path.to_str().unwrap(), &OpenOptions::default())
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, EngineError::Open { .. }), "{text}");
        assert!(text.contains("connection 'src'"), "{text}");
        assert!(text.contains("database file does not exist"), "{text}");
        assert!(
            text.contains("relative paths are resolved from the working directory"),
            "{text}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn create_needs_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let options = OpenOptions {
            read_only: false,
            create: true,
            ..Default::default()
        };
        let missing = dir.path().join("no/such/dir/db.sqlite");
        let err = SqliteConnection::open("dst", missing.to_str().unwrap(), &options).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let path = dir.path().join("new.sqlite");
        SqliteConnection::open("dst", path.to_str().unwrap(), &options).unwrap();
        assert!(path.exists());
    }

    #[test]
    fn not_a_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text.sqlite");
        std::fs::write(
            &path,
            "this is not a database, just some text that is long enough",
        )
        .unwrap();
        let err = SqliteConnection::open("src", path.to_str().unwrap(), &OpenOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("not a database"), "{err}");
    }

    #[tokio::test]
    async fn read_only_refuses_writes() {
        let shop = shop();
        let target = TargetSpec {
            table: TableName::new(None, "products"),
            mode: crate::model::WriteMode::Append,
            key: vec![],
            disable_fk_checks: false,
            setup: vec![],
            finish: vec![],
        };
        let schema = shop.table_schema(&target.table).await.unwrap().unwrap();
        let err = shop
            .prepare_target(&target, &schema, true, false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("read_only"), "{err}");
        assert!(shop.open_writer(&target, schema).is_err());
        assert!(shop.execute("DELETE FROM products").is_err());
    }

    #[tokio::test]
    async fn shop_catalog() {
        let shop = shop();
        let tables = shop.list_tables().await.unwrap();
        let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            names,
            [
                "main.categories",
                "main.customers",
                "main.order_lines",
                "main.orders",
                "main.products"
            ]
        );
        let products = TableName::new(None, "products");
        let schema = shop.table_schema(&products).await.unwrap().unwrap();
        let types: Vec<(String, DataType, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("id".to_string(), DataType::Int64, true),
                ("sku".to_string(), DataType::Utf8, false),
                ("title".to_string(), DataType::Utf8, false),
                ("category_name".to_string(), DataType::Utf8, false),
                ("price".to_string(), DataType::Decimal128(10, 2), false),
                ("weight_kg".to_string(), DataType::Float64, true),
                ("discontinued".to_string(), DataType::Boolean, false),
            ]
        );
        let in_main = TableName::new(Some("main"), "products");
        assert!(shop.table_schema(&in_main).await.unwrap().is_some());
        let elsewhere = TableName::new(Some("public"), "products");
        assert!(shop.table_schema(&elsewhere).await.unwrap().is_none());
        assert!(shop
            .table_schema(&TableName::new(None, "nope"))
            .await
            .unwrap()
            .is_none());
        assert_eq!(shop.row_count(&products).await.unwrap(), Some(200));
        assert_eq!(
            shop.row_count(&TableName::new(None, "nope")).await.unwrap(),
            None
        );
        assert!(shop
            .clone()
            .table_provider(&products)
            .await
            .unwrap()
            .is_some());
    }

    /// `price` is DECIMAL(10,2) stored as REAL (74.13) or INTEGER (6): both
    /// read as exact decimals (values checked with Python's sqlite3).
    #[tokio::test]
    async fn shop_prices_are_exact_decimals() {
        let shop = shop();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("price", DataType::Decimal128(10, 2), false),
        ]));
        let batches = collect(
            shop.query("SELECT id, price FROM products ORDER BY id", schema)
                .unwrap(),
        );
        let mut prices = std::collections::HashMap::new();
        let mut total: i128 = 0;
        for batch in &batches {
            let ids = batch
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let p = batch.column(1).as_primitive::<Decimal128Type>();
            for i in 0..batch.num_rows() {
                prices.insert(ids.value(i), p.value(i));
                total += p.value(i);
            }
        }
        assert_eq!(prices.len(), 200);
        assert_eq!(prices[&1], 7413); // REAL 74.13
        assert_eq!(prices[&2], 600); // INTEGER 6
        assert_eq!(prices[&15], 475); // REAL 4.75
        assert_eq!(total, SHOP_PRICE_TOTAL_CENTS);
    }

    /// sum(round(price * 100)) over products, computed with Python's sqlite3.
    const SHOP_PRICE_TOTAL_CENTS: i128 = 2_276_160;

    #[tokio::test]
    async fn shop_scan_through_datafusion() {
        let shop = shop();
        let ctx = datafusion::prelude::SessionContext::new();
        let provider = shop
            .clone()
            .table_provider(&TableName::new(None, "orders"))
            .await
            .unwrap()
            .unwrap();
        ctx.register_table("orders", provider).unwrap();
        let df = ctx
            .sql("SELECT count(*) AS n, count(ship_date) AS shipped, min(ordered_at) AS first FROM orders WHERE status = 'SHIPPED' OR status = 'DELIVERED'")
            .await
            .unwrap();
        let batches = df.collect().await.unwrap();
        let n = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0);
        let shipped = batches[0]
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0);
        assert!(n > 0);
        assert_eq!(
            n, shipped,
            "ship_date is set for shipped and delivered orders"
        );
    }

    #[test]
    fn query_errors_carry_the_sql() {
        let shop = shop();
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let err = match shop.query("SELECT nope FROM products", schema.clone()) {
            Err(e) => e,
            Ok(_) => panic!("expected an error"),
        };
        let text = err.to_string();
        assert!(text.contains("SELECT nope FROM products"), "{text}");
        // A conversion error names the connection, table, column, row and value.
        let err = shop
            .query(r#"SELECT "title" FROM "main"."products""#, schema)
            .unwrap()
            .find_map(Result::err)
            .unwrap();
        let text = err.to_string();
        assert!(text.contains("connection 'shop'"), "{text}");
        assert!(text.contains("table 'main.products'"), "{text}");
        assert!(text.contains("column 'x'"), "{text}");
        assert!(text.contains("row 1"), "{text}");
        assert!(text.contains("TEXT"), "{text}");
    }

    #[test]
    fn empty_projection_counts_rows() {
        let shop = shop();
        let schema = Arc::new(Schema::empty());
        let batches = collect(shop.query("SELECT 1 FROM order_lines", schema).unwrap());
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 6006);
        assert!(batches
            .iter()
            .all(|b| b.num_rows() <= super::super::source::BATCH_ROWS));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn text_filters_go_down_only_on_binary_columns() {
        use datafusion::logical_expr::TableProviderFilterPushDown::{Exact, Unsupported};
        use datafusion::prelude::{col, lit, SessionContext};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collated.sqlite");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, \
                   code TEXT, tag TEXT COLLATE RTRIM, [b c] TEXT COLLATE binary);
                 INSERT INTO people VALUES (1, 'abc', 'abc', 'abc', 'abc'),
                   (2, 'ABC', 'ABC', 'abc ', 'ABC');
                 CREATE VIEW v AS SELECT code FROM people;",
            )
            .unwrap();
        let options = OpenOptions {
            read_only: true,
            create: false,
            ..OpenOptions::default()
        };
        let conn =
            Arc::new(SqliteConnection::new("src", path.to_str().unwrap(), &options).unwrap());
        let provider = conn
            .clone()
            .table_provider(&TableName::new(None, "people"))
            .await
            .unwrap()
            .unwrap();
        let filters = [
            col("name").eq(lit("abc")),
            col("code").eq(lit("abc")),
            col("tag").eq(lit("abc")),
            col("b c").gt_eq(lit("abc")),
            col("id").eq(lit(1i64)),
        ];
        let pushed = provider
            .supports_filters_pushdown(&filters.iter().collect::<Vec<_>>())
            .unwrap();
        assert_eq!(pushed, [Unsupported, Exact, Unsupported, Exact, Exact]);
        // A view's columns: collation unknown.
        let view = conn
            .clone()
            .table_provider(&TableName::new(None, "v"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            view.supports_filters_pushdown(&[&col("code").eq(lit("abc"))])
                .unwrap(),
            [Unsupported]
        );

        let ctx = SessionContext::new();
        ctx.register_table("people", provider).unwrap();
        for (sql, want) in [
            ("SELECT id FROM people WHERE name = 'abc'", 1),
            ("SELECT id FROM people WHERE tag = 'abc'", 1),
        ] {
            let rows = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            let ids: Vec<i64> = rows
                .iter()
                .flat_map(|b| {
                    b.column(0)
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                        .values()
                        .to_vec()
                })
                .collect();
            assert_eq!(ids, [want], "{sql}");
        }
    }
}
