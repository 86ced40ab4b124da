//! [`ErrorCode`]: what a database driver said failed, as a code rather than
//! text. Engines set it where they turn a driver's error into an
//! [`EngineError`]; it travels through DataFusion inside the engine error and
//! into the step's [`super::Error::Step`], where retries decide on it (see
//! `crate::run::retry`) without reading the message, which may quote SQL
//! and data.

use std::error::Error as StdError;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

use super::EngineError;

/// A driver's code for a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// A PostgreSQL SQLSTATE, such as `40001`.
    SqlState(Box<str>),
    /// A MySQL/MariaDB error number, such as 1213.
    MySql(u16),
    /// A SQLite primary result code, such as 5 (`SQLITE_BUSY`).
    Sqlite(i32),
    /// The kind of the operating system's I/O error under a driver's error
    /// (a connection reset, refused or timed out); a connection the driver
    /// found closed is `ConnectionAborted`.
    Io(std::io::ErrorKind),
}

impl ErrorCode {
    /// The kind of the first I/O error in `error`'s chain of sources
    /// (`error` included).
    pub fn io_in(error: &(dyn StdError + 'static)) -> Option<Self> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return Some(ErrorCode::Io(io.kind()));
            }
            next = e.source();
        }
        None
    }
}

/// The code of the engine error inside a DataFusion error (a load's or a
/// scan's failure travels as `DataFusionError::External(EngineError)`,
/// possibly wrapped in context, shared or Arrow errors).
pub fn code_of_datafusion(e: &DataFusionError) -> Option<ErrorCode> {
    match e {
        DataFusionError::External(inner) => code_of_boxed(inner.as_ref()),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            code_of_datafusion(inner)
        }
        DataFusionError::Shared(inner) => code_of_datafusion(inner),
        DataFusionError::ArrowError(inner, _) => code_of_arrow(inner),
        DataFusionError::Collection(errors) => errors.iter().find_map(code_of_datafusion),
        _ => None,
    }
}

fn code_of_arrow(e: &ArrowError) -> Option<ErrorCode> {
    match e {
        ArrowError::ExternalError(inner) => code_of_boxed(inner.as_ref()),
        _ => None,
    }
}

/// The code of a boxed error that is an engine, DataFusion or Arrow error.
fn code_of_boxed(e: &(dyn StdError + Send + Sync + 'static)) -> Option<ErrorCode> {
    if let Some(engine) = e.downcast_ref::<EngineError>() {
        engine.code()
    } else if let Some(df) = e.downcast_ref::<DataFusionError>() {
        code_of_datafusion(df)
    } else if let Some(arrow) = e.downcast_ref::<ArrowError>() {
        code_of_arrow(arrow)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_code_of_an_engine_error_survives_datafusion_wrapping() {
        let engine = || {
            EngineError::query("dst", Some("t"), None, "deadlock detected")
                .with_code(Some(ErrorCode::SqlState("40P01".into())))
        };
        let expected = Some(ErrorCode::SqlState("40P01".into()));
        let wrapped = [
            DataFusionError::from(engine()),
            DataFusionError::Context("writing".into(), Box::new(engine().into())),
            DataFusionError::Shared(Arc::new(engine().into())),
            DataFusionError::ArrowError(
                Box::new(ArrowError::ExternalError(Box::new(engine()))),
                None,
            ),
            DataFusionError::External(Box::new(EngineError::DataFusion(
                DataFusionError::External(Box::new(engine())),
            ))),
        ];
        for e in &wrapped {
            assert_eq!(code_of_datafusion(e), expected, "{e:?}");
        }
        // Text alone carries no code.
        let text = DataFusionError::Execution("deadlock detected (SQLSTATE 40P01)".into());
        assert_eq!(code_of_datafusion(&text), None);
    }

    #[test]
    fn the_io_kind_is_found_under_a_driver_error() {
        #[derive(Debug, thiserror::Error)]
        #[error("driver: {0}")]
        struct Driver(#[source] std::io::Error);
        let e = Driver(std::io::Error::new(ErrorKind::ConnectionReset, "reset"));
        assert_eq!(
            ErrorCode::io_in(&e),
            Some(ErrorCode::Io(ErrorKind::ConnectionReset))
        );
        let plain = std::fmt::Error;
        assert_eq!(ErrorCode::io_in(&plain), None);
    }
}
