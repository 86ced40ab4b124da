//! The value types every layer shares: which engine ([`EngineKind`]), a
//! table's name ([`TableName`]), how a step writes ([`WriteMode`],
//! [`TargetSpec`]), and the catalog model introspection fills in
//! ([`catalog`]). A leaf: it imports nothing of barge.

pub mod catalog;

use std::fmt;

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Sqlite,
    DuckDb,
    Parquet,
    Csv,
    Postgres,
    MySql,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Sqlite => "sqlite",
            EngineKind::DuckDb => "duckdb",
            EngineKind::Parquet => "parquet",
            EngineKind::Csv => "csv",
            EngineKind::Postgres => "postgres",
            EngineKind::MySql => "mysql",
        })
    }
}

/// A table inside a connection: an optional schema and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn new(schema: Option<&str>, name: &str) -> Self {
        Self {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// How a step writes into its target table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Create the table when missing, then insert.
    #[default]
    Append,
    /// Drop the table when it exists, create it anew, insert.
    Replace,
    /// Create the table when missing, else delete its rows; then insert.
    Truncate,
    /// Fail when the table already exists.
    ErrorIfExists,
    /// Insert, skipping rows whose key is already present.
    InsertIgnore,
    /// Insert, updating rows whose key is already present.
    Upsert,
}

impl WriteMode {
    /// Modes that need the step's `key`.
    pub fn needs_key(self) -> bool {
        matches!(self, WriteMode::InsertIgnore | WriteMode::Upsert)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Append => "append",
            WriteMode::Replace => "replace",
            WriteMode::Truncate => "truncate",
            WriteMode::ErrorIfExists => "error_if_exists",
            WriteMode::InsertIgnore => "insert_ignore",
            WriteMode::Upsert => "upsert",
        }
    }
}

impl fmt::Display for WriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a step writes: the target table, how, and on which key.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub table: TableName,
    pub mode: WriteMode,
    /// Key columns (for `insert_ignore`/`upsert`; also the primary key of a created table).
    pub key: Vec<String>,
    /// Load with the target's foreign-key checks off, for the load's session only.
    pub disable_fk_checks: bool,
    /// Statements the writer runs in the load's transaction before the
    /// first row (a truncate's `DELETE`, the `CREATE` of a missing table).
    pub setup: Vec<String>,
    /// Statements the writer runs in the load's transaction after the last
    /// row, before the commit (a replace's swap).
    pub finish: Vec<String>,
}

impl TargetSpec {
    /// A load of `table` in `mode` on `key`, with nothing run around it.
    pub fn new(table: TableName, mode: WriteMode, key: Vec<String>) -> Self {
        Self {
            table,
            mode,
            key,
            disable_fk_checks: false,
            setup: vec![],
            finish: vec![],
        }
    }
}

/// The record of one committed load, written into the target in the load's
/// own transaction: a rerun or a retry after an unknown COMMIT outcome
/// reads it to know for certain whether the load landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// Unique per load (a step's, or one chunk's), stable across reruns.
    pub load_id: String,
    pub pipeline: String,
    pub step: String,
    pub run_id: String,
}

impl EngineKind {
    /// Whether the engine is a database (not a Parquet or CSV file).
    pub fn is_database(self) -> bool {
        !matches!(self, EngineKind::Parquet | EngineKind::Csv)
    }
}
