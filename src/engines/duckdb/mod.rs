//! DuckDB engine (`duckdb://PATH`): reads stream DuckDB's Arrow result chunks
//! (lazily fetched, bounded channel), writes go through DuckDB's Appender in
//! one transaction. DuckDB is built on arrow 60 and DataFusion on arrow 59:
//! batches cross through [`crate::engines::arrow_bridge`] without copies.
//!
//! - `connect.rs`: opening files (one database per file and process), the
//!   [`DuckDbConnection`] (`Connection` + `SqlSource`)
//! - `source.rs`: streaming queries
//! - `checksum.rs`: content checksums computed by DuckDB (validation)
//! - `sink.rs`: the batch writer (Appender, staging table for upsert/ignore)
//! - `introspect.rs`: tables, keys, foreign keys and indexes as a catalog
//! - `types.rs`: Arrow → DuckDB column types

mod checksum;
mod connect;
mod database;
mod introspect;
mod sink;
mod source;
pub mod types;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use connect::DuckDbConnection;

use super::{Connection, OpenOptions};
use crate::error::EngineResult;

/// Opens the DuckDB file at `path` (what follows `duckdb://`) as connection `name`.
pub fn open(name: &str, path: &str, options: &OpenOptions) -> EngineResult<Arc<dyn Connection>> {
    DuckDbConnection::open(name, path, options)
}
