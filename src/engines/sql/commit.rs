//! Commit records in SQL targets: the table `barge_commits` in the
//! connection's default schema, one row per committed load, written in the
//! load's own transaction (see [`crate::model::CommitRecord`]). It is
//! barge's bookkeeping: no connection lists it as a table.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};

use super::SqlSource;
use crate::error::EngineResult;
use crate::model::CommitRecord;

/// The table of commit records.
pub const COMMIT_TABLE: &str = "barge_commits";

/// `CREATE TABLE IF NOT EXISTS` of the commit records, in types every SQL
/// engine has.
pub fn create_commit_table_sql(engine: &dyn SqlSource) -> String {
    let q = |c: &str| engine.quote_ident(c);
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({} VARCHAR(64) NOT NULL PRIMARY KEY, {} VARCHAR(255), {} VARCHAR(255), {} VARCHAR(64), {} BIGINT, {} VARCHAR(40))",
        q(COMMIT_TABLE),
        q("load_id"),
        q("pipeline"),
        q("step"),
        q("run_id"),
        q("loaded_rows"),
        q("committed_at"),
    )
}

/// The `INSERT` of `record` for a load of `rows` rows.
pub fn commit_record_sql(engine: &dyn SqlSource, record: &CommitRecord, rows: u64) -> String {
    let q = |c: &str| engine.quote_ident(c);
    let text = |v: &str| engine.string_literal(v);
    format!(
        "INSERT INTO {} ({}, {}, {}, {}, {}, {}) VALUES ({}, {}, {}, {}, {rows}, {})",
        q(COMMIT_TABLE),
        q("load_id"),
        q("pipeline"),
        q("step"),
        q("run_id"),
        q("loaded_rows"),
        q("committed_at"),
        text(&record.load_id),
        text(&record.pipeline),
        text(&record.step),
        text(&record.run_id),
        text(&chrono::Utc::now().to_rfc3339()),
    )
}

/// The rows of load `load_id` when its record is in the target. Called on
/// a blocking thread, after [`create_commit_table_sql`] ran.
pub fn committed_load(engine: &dyn SqlSource, load_id: &str) -> EngineResult<Option<u64>> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = {}",
        engine.quote_ident("loaded_rows"),
        engine.quote_ident(COMMIT_TABLE),
        engine.quote_ident("load_id"),
        engine.string_literal(load_id)
    );
    let schema = Arc::new(Schema::new(vec![Field::new(
        "loaded_rows",
        DataType::Int64,
        true,
    )]));
    for batch in engine.query(&sql, schema)? {
        let batch = batch?;
        if batch.num_rows() > 0 {
            let rows = batch.column(0).as_primitive::<Int64Type>();
            return Ok(Some(if rows.is_null(0) {
                0
            } else {
                rows.value(0).max(0) as u64
            }));
        }
    }
    Ok(None)
}
