//! Errors of `[subset]`: each names the pipeline, the table and the fix.

/// A `[subset]` that cannot be derived from the source.
#[derive(Debug, thiserror::Error)]
pub enum SubsetError {
    /// A root table that the source connection does not have.
    #[error("pipeline '{pipeline}': [subset] root '{connection}.{table}' is not a table of connection '{connection}'\n  hint: connection '{connection}' has: {tables}")]
    RootNotFound {
        pipeline: String,
        connection: String,
        table: String,
        tables: String,
    },

    /// A `[[subset.fk]]` naming a table or column the source does not have.
    #[error("pipeline '{pipeline}': [[subset.fk]] {message}\n  hint: {hint}")]
    BadForeignKey {
        pipeline: String,
        message: String,
        hint: String,
    },

    /// A reference table above `confirm_rows` that nobody confirmed.
    #[error("pipeline '{pipeline}': reference table '{table}' holds about {rows} rows (more than confirm_rows = {confirm_rows}) and would be copied whole, but there is no terminal to ask\n  hint: pass --yes to copy it whole, or set skip_large = true in [subset] to copy only the rows the subset references (or raise confirm_rows)")]
    LargeReference {
        pipeline: String,
        table: String,
        rows: u64,
        confirm_rows: u64,
    },

    /// A key column of a type barge cannot write as a SQL literal.
    #[error("pipeline '{pipeline}': table '{table}', column '{column}': keys of type {data_type} cannot select subset rows\n  hint: subset keys must be integers, text, decimals, booleans or dates; skip the table (skip = [\"{table}\"]) or write its [[step]] by hand")]
    UnsupportedKey {
        pipeline: String,
        table: String,
        column: String,
        data_type: String,
    },

    /// The source connection is not open or not queryable.
    #[error("pipeline '{pipeline}': [subset] {message}")]
    Source { pipeline: String, message: String },
}
