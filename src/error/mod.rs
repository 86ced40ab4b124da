//! Error types of the library. Every message names what failed (pipeline,
//! step, connection, table, column) and, where one exists, the fix. A leaf:
//! every layer returns these, none of them imports a layer.

mod code;
mod config;
mod engine;
mod load;
mod subset;

pub use code::{code_of_datafusion, ErrorCode};
pub use config::ConfigError;
pub use engine::{EngineError, EngineResult};
pub use load::LoadError;
pub use subset::SubsetError;

use datafusion::error::DataFusionError;

/// Errors of a pipeline run as the CLI reports them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// Boxed: an engine error carries its SQL, message and code, and every
    /// `Result` of the library would be as large.
    #[error(transparent)]
    Engine(Box<EngineError>),

    /// A `[subset]` that cannot be derived (see `crate::subset`).
    #[error(transparent)]
    Subset(#[from] SubsetError),

    #[error("step '{step}' failed: {message}")]
    Step {
        step: String,
        message: String,
        /// The driver's code of the engine error behind the failure, kept
        /// for retries (see `crate::run::retry`).
        code: Option<ErrorCode>,
    },

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

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        Error::Engine(Box::new(e))
    }
}

impl Error {
    /// Exit code for the CLI: 2 for bad input, 1 for a failed run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => 2,
            Error::Interrupted(_) => 130,
            Error::Subset(e) if !matches!(e, SubsetError::Source { .. }) => 2,
            _ => 1,
        }
    }

    /// The same error carrying the driver's `code` when it is a step's.
    pub fn with_code(mut self, code: Option<ErrorCode>) -> Self {
        if let Error::Step { code: own, .. } = &mut self {
            *own = code;
        }
        self
    }

    /// The driver's code of what failed, when an engine gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Engine(e) => e.code(),
            Error::Step { code, .. } => code.clone(),
            _ => None,
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
