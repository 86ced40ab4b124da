//! Parquet and CSV files as a connection.
//!
//! The URL's path names one file (`parquet://out/orders.parquet`, table
//! `orders`), a directory (`parquet://out/export`: each `*.parquet` file is a
//! table, target `t` is written to `out/export/t.parquet`), or a glob
//! (`parquet://data/*.parquet`, read only). The only schema is `main`.
//!
//! - [`connect`]: [`FileConnection`], opening and the `Connection` impl.
//! - [`source`]: reading through DataFusion's `ListingTable`.
//! - [`sink`]: writing with Arrow's Parquet (ZSTD, large row groups) and CSV
//!   writers into a temp file renamed over the target when the load finishes.
//! - [`types`]: which Arrow types each format stores.
//!
//! Files are written whole: mode `replace`/`truncate` rewrites the file,
//! `append` and `error_if_exists` refuse an existing file, and
//! `insert_ignore`/`upsert` are not supported.

pub mod connect;
pub mod sink;
pub mod source;
pub mod types;

pub use connect::FileConnection;
pub use sink::{CsvWriter, ParquetWriter};

/// Helpers shared by the tests of this engine.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use datafusion::arrow::compute::concat_batches;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::prelude::SessionContext;

    use crate::engines::{Connection, OpenOptions};

    use crate::error::EngineResult;
    use crate::model::{EngineKind, TableName, TargetSpec, WriteMode};

    /// Opens `path` as a target (`create = true`).
    pub fn open_target(path: &str, kind: EngineKind) -> Arc<dyn Connection> {
        let options = OpenOptions {
            read_only: false,
            create: true,
            ..Default::default()
        };
        super::FileConnection::open("dst", path, kind, &options).unwrap()
    }

    /// Prepares `table` for `mode` and writes `batches` through the connection's writer.
    pub async fn write(
        conn: &Arc<dyn Connection>,
        table: &str,
        mode: WriteMode,
        batches: &[RecordBatch],
    ) -> EngineResult<u64> {
        let schema = batches[0].schema();
        let target = TargetSpec {
            table: TableName::new(None, table),
            mode,
            key: vec![],
            disable_fk_checks: false,
            setup: vec![],
            finish: vec![],
        };
        conn.prepare_target(&target, &schema, false, false).await?;
        let mut writer = conn.open_writer(&target, schema)?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish(&crate::engines::hooks::Unobserved)
    }

    /// `SELECT *` of `table` through the connection's TableProvider, as one batch.
    pub async fn read(conn: &Arc<dyn Connection>, table: &str) -> RecordBatch {
        let provider = conn
            .clone()
            .table_provider(&TableName::new(None, table))
            .await
            .unwrap()
            .unwrap();
        let schema = provider.schema();
        let ctx = SessionContext::new();
        ctx.register_table("t", provider).unwrap();
        let batches = ctx
            .sql("SELECT * FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        concat_batches(&schema, &batches).unwrap()
    }
}
