//! [`SqlTable`]: a TableProvider over one table of a SQL engine, and
//! [`SqlScanExec`]: the leaf node that runs the pushed-down `SELECT` and
//! streams its batches through a bounded channel (backpressure).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::catalog::TableProvider;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Column;
use datafusion::common::Statistics;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

use super::filter::{predicate_sql, ColumnSql};
use super::SqlSource;
use crate::error::EngineResult;
use crate::model::TableName;

/// Batches in flight between an engine's reader thread and DataFusion.
const CHANNEL_BATCHES: usize = 2;

datafusion::common::extensions_options! {
    /// A step's choice of read partitioning (`partition_on` in the pipeline),
    /// carried in its session's configuration.
    pub struct ReadPartitioning {
        /// Integer column whose ranges split every scan that has it; empty:
        /// each table's integer primary key.
        pub partition_on: String, default = String::new()
    }
}

impl datafusion::common::config::ConfigExtension for ReadPartitioning {
    const PREFIX: &'static str = "barge_read";
}

/// Tables with fewer rows than this are read by one query.
pub const PARTITION_MIN_ROWS: u64 = 250_000;

/// An integer column whose value ranges split a table into parallel reads
/// (by default its integer primary key), with its smallest and largest value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePartitioning {
    pub column: String,
    pub min: i64,
    pub max: i64,
}

impl RangePartitioning {
    /// `n` half-open ranges `[lo, hi)` covering `min..=max` (the last one
    /// unbounded above, the first unbounded below and holding the NULLs of
    /// a nullable column), as predicates.
    fn predicates(&self, column: &str, n: usize) -> Vec<String> {
        let span = (i128::from(self.max) - i128::from(self.min) + 1).max(1);
        let n = (n as i128).min(span).max(1);
        let bounds: Vec<i128> = (1..n)
            .map(|i| i128::from(self.min) + span * i / n)
            .collect();
        (0..n as usize)
            .map(
                |i| match (i.checked_sub(1).map(|j| bounds[j]), bounds.get(i)) {
                    (None, Some(hi)) => format!("({column} < {hi} OR {column} IS NULL)"),
                    (Some(lo), Some(hi)) => format!("{column} >= {lo} AND {column} < {hi}"),
                    (Some(lo), None) => format!("{column} >= {lo}"),
                    (None, None) => "1 = 1".to_string(),
                },
            )
            .collect()
    }
}

/// One table of a SQL engine, read by running a `SELECT` inside the engine.
#[derive(Debug)]
pub struct SqlTable {
    engine: Arc<dyn SqlSource>,
    table: TableName,
    schema: SchemaRef,
    row_count: Option<u64>,
    partitioning: Option<RangePartitioning>,
    /// The collation of each column, in schema order (`None`: not text, or
    /// unknown).
    collations: Vec<Option<String>>,
}

impl SqlTable {
    pub fn new(
        engine: Arc<dyn SqlSource>,
        table: TableName,
        schema: SchemaRef,
        row_count: Option<u64>,
    ) -> Self {
        Self {
            engine,
            table,
            schema,
            row_count,
            partitioning: None,
            collations: Vec::new(),
        }
    }

    /// The collation of each text column, in schema order, as the engine
    /// names it (`None`: not text, or unknown). Text comparisons on a column
    /// run in the engine only when [`SqlSource::collation_compares_bytes`]
    /// says its collation compares bytes; without collations, none do.
    pub fn with_collations(mut self, collations: Vec<Option<String>>) -> Self {
        self.collations = collations;
        self
    }

    /// The collation of column `index` (see [`Self::with_collations`]).
    pub(crate) fn collation(&self, index: usize) -> Option<String> {
        self.collations.get(index).cloned().flatten()
    }

    /// The filter `expr` in the engine's SQL, when the engine evaluates it
    /// exactly as DataFusion does.
    pub(crate) fn filter_sql(&self, expr: &Expr) -> Option<String> {
        let resolve = |c: &Column| {
            let index = self.schema.index_of(&c.name).ok()?;
            Some(ColumnSql {
                sql: self.engine.quote_ident(&c.name),
                data_type: self.schema.field(index).data_type().clone(),
                collation: self.collation(index),
            })
        };
        predicate_sql(expr, &resolve, self.engine.as_ref())
    }

    /// A table whose reads split into ranges of its integer key when it
    /// holds at least [`PARTITION_MIN_ROWS`] rows; `key_range` (the key and
    /// its bounds) is only awaited then.
    pub async fn split_on_key(
        engine: Arc<dyn SqlSource>,
        table: TableName,
        schema: SchemaRef,
        row_count: Option<u64>,
        key_range: impl std::future::Future<Output = EngineResult<Option<RangePartitioning>>>,
    ) -> EngineResult<Self> {
        let partitioning = if row_count.unwrap_or(0) >= PARTITION_MIN_ROWS {
            key_range.await?
        } else {
            None
        };
        Ok(Self::new(engine, table, schema, row_count).with_partitioning(partitioning))
    }

    /// Reads the table in parallel ranges of `partitioning`'s column when it
    /// holds at least [`PARTITION_MIN_ROWS`] rows and a scan has no LIMIT.
    pub fn with_partitioning(mut self, partitioning: Option<RangePartitioning>) -> Self {
        self.partitioning = partitioning;
        self
    }

    /// The engine the table lives in.
    pub fn engine(&self) -> &Arc<dyn SqlSource> {
        &self.engine
    }

    /// The table's name in its engine.
    pub fn table_name(&self) -> &TableName {
        &self.table
    }

    /// The `SELECT` this table sends to its engine for a scan.
    pub fn select_sql(
        &self,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> String {
        self.select_sql_in_range(projection, filters, limit, None)
    }

    /// Ranges on `column` when the table has it as an integer column.
    async fn explicit_partitioning(&self, column: &str) -> Result<Option<RangePartitioning>> {
        let Ok(field) = self.schema.field_with_name(column) else {
            return Ok(None);
        };
        if !field.data_type().is_integer() {
            return Err(DataFusionError::Plan(format!(
                "partition_on = \"{column}\": the column is {} in {}, not an integer",
                field.data_type(),
                self.table
            )));
        }
        let engine = self.engine.clone();
        let table = self.table.clone();
        let column = column.to_string();
        let bounds = tokio::task::spawn_blocking(move || engine.integer_bounds(&table, &column))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        Ok(bounds.map(|(min, max)| RangePartitioning {
            column: field.name().clone(),
            min,
            max,
        }))
    }

    /// [`select_sql`](Self::select_sql) with one more predicate (a partition's range).
    fn select_sql_in_range(
        &self,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
        range: Option<&str>,
    ) -> String {
        let columns = match projection {
            Some(p) if p.is_empty() => "1".to_string(),
            Some(p) => p
                .iter()
                .map(|&i| self.engine.select_column(self.schema.field(i)))
                .collect::<Vec<_>>()
                .join(", "),
            None => self
                .schema
                .fields()
                .iter()
                .map(|f| self.engine.select_column(f))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let mut sql = format!(
            "SELECT {columns} FROM {}",
            self.engine.quote_table(&self.table)
        );
        let mut predicates: Vec<String> =
            filters.iter().filter_map(|f| self.filter_sql(f)).collect();
        predicates.extend(range.map(str::to_string));
        if !predicates.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&predicates.join(" AND "));
        }
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        sql
    }
}

#[async_trait]
impl TableProvider for SqlTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.filter_sql(f).is_some() {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    fn statistics(&self) -> Option<Statistics> {
        self.row_count.map(|n| {
            Statistics::new_unknown(&self.schema).with_num_rows(Precision::Inexact(n as usize))
        })
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let partitions = state.config().target_partitions();
        let chosen = state
            .config_options()
            .extensions
            .get::<ReadPartitioning>()
            .map(|o| o.partition_on.clone())
            .filter(|c| !c.is_empty());
        let explicit = match chosen {
            Some(column) if partitions > 1 && limit.is_none() => {
                self.explicit_partitioning(&column).await?
            }
            _ => None,
        };
        // A step's partition_on applies whatever the table's size; the
        // primary key, to tables worth splitting.
        let ranges = explicit.as_ref().or(self.partitioning.as_ref().filter(|_| {
            limit.is_none() && partitions > 1 && self.row_count.unwrap_or(0) >= PARTITION_MIN_ROWS
        }));
        let sql = match ranges {
            Some(p) => {
                let column = self.engine.quote_ident(&p.column);
                p.predicates(&column, partitions)
                    .iter()
                    .map(|range| self.select_sql_in_range(projection, filters, limit, Some(range)))
                    .collect()
            }
            None => vec![self.select_sql(projection, filters, limit)],
        };
        Ok(Arc::new(SqlScanExec::new_partitioned(
            self.engine.clone(),
            sql,
            schema,
            self.row_count,
        )))
    }
}

/// Runs one `SELECT` per partition in its engine and streams the results.
#[derive(Debug)]
pub struct SqlScanExec {
    engine: Arc<dyn SqlSource>,
    /// One query per partition.
    sql: Vec<String>,
    schema: SchemaRef,
    row_count: Option<u64>,
    properties: Arc<PlanProperties>,
}

impl SqlScanExec {
    pub fn new(
        engine: Arc<dyn SqlSource>,
        sql: String,
        schema: SchemaRef,
        row_count: Option<u64>,
    ) -> Self {
        Self::new_partitioned(engine, vec![sql], schema, row_count)
    }

    /// A scan running one query per partition, all yielding `schema`.
    pub fn new_partitioned(
        engine: Arc<dyn SqlSource>,
        sql: Vec<String>,
        schema: SchemaRef,
        row_count: Option<u64>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(sql.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            engine,
            sql,
            schema,
            row_count,
            properties,
        }
    }

    /// The engine the queries run in.
    pub fn engine(&self) -> &Arc<dyn SqlSource> {
        &self.engine
    }

    /// Connection this scan reads from.
    pub fn connection(&self) -> &str {
        self.engine.connection_name()
    }

    /// The SQL sent to the engine, one query per partition.
    pub fn sql(&self) -> &[String] {
        &self.sql
    }

    /// Rows the source table holds (the scan may return fewer), when known.
    pub fn row_estimate(&self) -> Option<u64> {
        self.row_count
    }
}

impl DisplayAs for SqlScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "SqlScanExec: {}: {}",
            self.connection(),
            self.sql.join("; ")
        )
    }
}

impl ExecutionPlan for SqlScanExec {
    fn name(&self) -> &str {
        "SqlScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let sql = self.sql.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("SqlScanExec has no partition {partition}"))
        })?;
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_BATCHES);
        let engine = self.engine.clone();
        let schema = self.schema.clone();
        tokio::task::spawn_blocking(move || {
            let batches = match engine.query(&sql, schema) {
                Ok(it) => it,
                Err(e) => {
                    let _ = tx.blocking_send(Err(DataFusionError::from(e)));
                    return;
                }
            };
            for batch in batches {
                let failed = batch.is_err();
                // The receiver is gone when the plan was cancelled: stop reading.
                if tx
                    .blocking_send(batch.map_err(DataFusionError::from))
                    .is_err()
                    || failed
                {
                    return;
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::RangePartitioning;

    #[test]
    fn ranges_cover_every_value_once() {
        let p = RangePartitioning {
            column: "id".into(),
            min: 1,
            max: 100,
        };
        assert_eq!(
            p.predicates("id", 3),
            [
                "(id < 34 OR id IS NULL)",
                "id >= 34 AND id < 67",
                "id >= 67"
            ]
        );
        let one = RangePartitioning {
            column: "id".into(),
            min: 5,
            max: 5,
        };
        assert_eq!(one.predicates("id", 4), ["1 = 1"]);
        let wide = RangePartitioning {
            column: "id".into(),
            min: i64::MIN,
            max: i64::MAX,
        };
        assert_eq!(
            wide.predicates("id", 2),
            ["(id < 0 OR id IS NULL)", "id >= 0"]
        );
    }
}
