//! [`EngineError`]: what an engine's connection, read or write can fail with.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

use super::code::{code_of_datafusion, ErrorCode};

/// Result of engine operations.
pub type EngineResult<T> = std::result::Result<T, EngineError>;

/// Errors raised by an engine (connection, read, write, types).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("connection '{connection}': unsupported URL '{url}'\n  hint: use postgres://USER:PASS@HOST:PORT/DB, mysql://USER:PASS@HOST:PORT/DB, sqlite://PATH, duckdb://PATH, parquet://PATH, csv://PATH, or a path ending in .parquet or .csv")]
    UnsupportedUrl { connection: String, url: String },

    #[error("connection '{connection}': cannot open {url}: {message}{}", hint_suffix(.hint))]
    Open {
        connection: String,
        url: String,
        message: String,
        hint: Option<String>,
        /// The driver's code, when it gave one (see [`ErrorCode`]).
        code: Option<ErrorCode>,
    },

    #[error("connection '{connection}'{}: {message}{}", table_suffix(.table), sql_suffix(.sql))]
    Query {
        connection: String,
        table: Option<String>,
        sql: Option<String>,
        message: String,
        /// The driver's code, when it gave one (see [`ErrorCode`]).
        code: Option<ErrorCode>,
    },

    #[error("connection '{connection}', table '{table}', column '{column}': {message}")]
    Column {
        connection: String,
        table: String,
        column: String,
        message: String,
    },

    #[error("connection '{connection}': table '{table}' already exists and the step's mode is error_if_exists\n  hint: pick mode = \"replace\", \"truncate\" or \"append\", or drop the table")]
    TargetExists { connection: String, table: String },

    #[error("connection '{connection}': {message}")]
    Unsupported { connection: String, message: String },

    #[error("connection '{connection}': {path}: {source}")]
    Io {
        connection: String,
        path: PathBuf,
        source: std::io::Error,
    },

    /// A failure of what drives the load beside the engine (staging, the
    /// rejects file: see [`super::LoadError`]), passed through the sink.
    #[error(transparent)]
    Driver(Box<dyn std::error::Error + Send + Sync>),

    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\n  hint: {h}"))
        .unwrap_or_default()
}

fn table_suffix(table: &Option<String>) -> String {
    table
        .as_ref()
        .map(|t| format!(", table '{t}'"))
        .unwrap_or_default()
}

fn sql_suffix(sql: &Option<String>) -> String {
    sql.as_ref()
        .map(|s| format!("\n  sql: {}", s.trim()))
        .unwrap_or_default()
}

impl EngineError {
    /// A query or statement error on `connection`.
    pub fn query(
        connection: &str,
        table: Option<&str>,
        sql: Option<&str>,
        message: impl ToString,
    ) -> Self {
        EngineError::Query {
            connection: connection.to_string(),
            table: table.map(str::to_string),
            sql: sql.map(str::to_string),
            message: message.to_string(),
            code: None,
        }
    }

    /// The same error carrying the driver's `code` (only
    /// [`EngineError::Open`] and [`EngineError::Query`] carry one).
    pub fn with_code(mut self, code: Option<ErrorCode>) -> Self {
        if let EngineError::Open { code: own, .. } | EngineError::Query { code: own, .. } =
            &mut self
        {
            *own = code;
        }
        self
    }

    /// The driver's code of what failed, when it gave one; local file
    /// errors ([`EngineError::Io`]) and failures beside the load
    /// ([`EngineError::Driver`]) have none.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            EngineError::Open { code, .. } | EngineError::Query { code, .. } => code.clone(),
            EngineError::DataFusion(e) => code_of_datafusion(e),
            _ => None,
        }
    }

    /// The same error, naming `sql` as the statement that failed when it
    /// names none yet.
    pub fn with_sql(self, sql: &str) -> Self {
        match self {
            EngineError::Query {
                connection,
                table,
                sql: None,
                message,
                code,
            } => EngineError::Query {
                connection,
                table,
                sql: Some(sql.to_string()),
                message,
                code,
            },
            other => other,
        }
    }

    /// An error about one column of a table.
    pub fn column(connection: &str, table: &str, column: &str, message: impl ToString) -> Self {
        EngineError::Column {
            connection: connection.to_string(),
            table: table.to_string(),
            column: column.to_string(),
            message: message.to_string(),
        }
    }

    /// A failure of what drives the load (staging, rejects), for the sink
    /// to pass on.
    pub fn driver(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        EngineError::Driver(Box::new(error))
    }

    /// Something this engine cannot do.
    pub fn unsupported(connection: &str, message: impl ToString) -> Self {
        EngineError::Unsupported {
            connection: connection.to_string(),
            message: message.to_string(),
        }
    }
}

impl From<EngineError> for DataFusionError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::DataFusion(inner) => inner,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}
