//! Error types of the library. Every message names what failed (pipeline,
//! step, connection, table, column) and, where one exists, the fix.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

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
    },

    #[error("connection '{connection}'{}: {message}{}", table_suffix(.table), sql_suffix(.sql))]
    Query {
        connection: String,
        table: Option<String>,
        sql: Option<String>,
        message: String,
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

    #[error("staging to {path}: {message}\n  hint: check the stage directory (--stage or [defaults].stage): free space and permissions")]
    Stage { path: PathBuf, message: String },

    #[error("setting refused rows aside in {path}: {message}\n  hint: check the rejects directory beside the pipeline file: free space and permissions")]
    Rejects { path: PathBuf, message: String },

    #[error("target {target} refused more than max_rejects = {max} rows (the load was rolled back); the first refused row: {first}\n  hint: fix the rows (filter or CAST them in the step's SQL), or raise max_rejects to set more of them aside")]
    TooManyRejects {
        target: String,
        max: u64,
        first: String,
    },

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
            } => EngineError::Query {
                connection,
                table,
                sql: Some(sql.to_string()),
                message,
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

/// Errors of a pipeline run as the CLI reports them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),

    #[error(transparent)]
    Engine(#[from] EngineError),

    /// A `[subset]` that cannot be derived (see `crate::subset`).
    #[error(transparent)]
    Subset(#[from] crate::subset::SubsetError),

    #[error("step '{step}' failed: {message}")]
    Step { step: String, message: String },

    #[error("{0} step(s) failed:{1}")]
    StepsFailed(usize, String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },

    #[error("{0}")]
    Usage(String),

    /// `barge validate` (or `run --validate`) found steps whose source, stage
    /// and target differ; the message names their tables.
    #[error("validation failed: {0}")]
    ValidationFailed(String),

    /// Ctrl+C or SIGTERM stopped the run; the message says how to resume.
    #[error("{0}")]
    Interrupted(String),
}

impl Error {
    /// Exit code for the CLI: 2 for bad input, 1 for a failed run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => 2,
            Error::Interrupted(_) => 130,
            Error::Subset(e) if !matches!(e, crate::subset::SubsetError::Source { .. }) => 2,
            _ => 1,
        }
    }
}

/// Renders a DataFusion error without its internal wrapping, keeping the
/// barge engine error's message when there is one.
pub fn describe_datafusion(e: &DataFusionError) -> String {
    match e {
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::Context(ctx, inner) => format!("{ctx}: {}", describe_datafusion(inner)),
        DataFusionError::Shared(inner) => describe_datafusion(inner),
        DataFusionError::ArrowError(inner, _) => {
            if let datafusion::arrow::error::ArrowError::ExternalError(ext) = inner.as_ref() {
                ext.to_string()
            } else {
                inner.to_string()
            }
        }
        other => other.to_string(),
    }
}
