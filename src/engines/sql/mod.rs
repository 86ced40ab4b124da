//! Shared pieces of the SQL engines (SQLite, DuckDB, and the server engines):
//! a TableProvider that turns DataFusion's projection, filters and limit into
//! one `SELECT` run inside the engine, the scan node that streams its result,
//! and target preparation for each write mode.

pub mod collation;
pub mod commit;
mod filter;
mod pushdown;
mod scan;

pub use pushdown::PushDownSourceQueries;
pub use scan::{RangePartitioning, ReadPartitioning, SqlScanExec, SqlTable, PARTITION_MIN_ROWS};

use datafusion::arrow::datatypes::SchemaRef;

use super::BatchIter;
use crate::error::EngineResult;
use crate::model::TableName;

/// An engine that runs SQL and streams the result as Arrow batches.
pub trait SqlSource: Send + Sync + std::fmt::Debug {
    /// Connection name, for messages.
    fn connection_name(&self) -> &str;
    /// The engine itself, for engine-specific paths (see `Connection::load_through`).
    fn as_any(&self) -> &dyn std::any::Any;
    /// Quotes an identifier for this engine.
    fn quote_ident(&self, ident: &str) -> String {
        crate::ident::quote(ident)
    }
    /// A string literal in this engine's SQL, as its sessions read it.
    fn string_literal(&self, value: &str) -> String {
        format!("'{}'", value.replace('\'', "''"))
    }
    /// `schema.table` quoted for this engine.
    fn quote_table(&self, table: &TableName) -> String {
        match &table.schema {
            Some(s) => format!("{}.{}", self.quote_ident(s), self.quote_ident(&table.name)),
            None => self.quote_ident(&table.name),
        }
    }
    /// How the `SELECT` of a scan selects a column (its quoted name; an
    /// engine may add a cast so the result has the type its reader expects).
    fn select_column(&self, field: &datafusion::arrow::datatypes::Field) -> String {
        self.quote_ident(field.name())
    }
    /// Whether a comparison on a column of this type (integer, float or
    /// boolean) evaluates in the engine exactly as in DataFusion (so filters
    /// on it may be pushed down). Text: see [`Self::collation_compares_bytes`].
    fn compares_like_datafusion(
        &self,
        _data_type: &datafusion::arrow::datatypes::DataType,
    ) -> bool {
        true
    }
    /// Whether text of collation `collation` (as the engine names it, see
    /// [`SqlTable::with_collations`]) compares byte for byte, as DataFusion
    /// compares strings: then comparisons, `IN`, grouping, `DISTINCT` and
    /// `min`/`max` of such columns run in the engine. No collation does
    /// unless the engine says so.
    fn collation_compares_bytes(&self, _collation: &str) -> bool {
        false
    }
    /// The canonical text of content checksums (`crate::checksum`) of
    /// the value `sql`, which barge reads as `data_type`, computed by the
    /// engine; `None` when the engine cannot write it exactly as barge does
    /// (the checksum is then computed in barge).
    fn canonical_text(
        &self,
        _sql: &str,
        _data_type: &datafusion::arrow::datatypes::DataType,
    ) -> Option<String> {
        None
    }
    /// The aggregate giving `<rows>:<sum of row hashes>` over rows whose
    /// column texts ([`Self::canonical_text`]) are `values`.
    fn checksum_aggregate(&self, _values: &[String]) -> Option<String> {
        None
    }
    /// Whether the engine runs `FULL JOIN` (pushed-down joins use it).
    fn supports_full_join(&self) -> bool {
        true
    }
    /// Runs `sql` and yields batches of `schema`. Called on a blocking thread;
    /// the iterator is drained there too.
    fn query(&self, sql: &str, schema: SchemaRef) -> EngineResult<BatchIter>;
    /// Smallest and largest value of an integer column (`None` for an empty
    /// table or an engine that does not say). Called on a blocking thread.
    fn integer_bounds(
        &self,
        _table: &TableName,
        _column: &str,
    ) -> EngineResult<Option<(i64, i64)>> {
        Ok(None)
    }
    /// Runs one statement that returns no rows; returns rows changed.
    fn execute(&self, sql: &str) -> EngineResult<u64>;
}
