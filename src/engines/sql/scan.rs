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

use super::{expr_to_sql, SqlSource};
use crate::engines::TableName;

/// Batches in flight between an engine's reader thread and DataFusion.
const CHANNEL_BATCHES: usize = 2;

/// One table of a SQL engine, read by running a `SELECT` inside the engine.
#[derive(Debug)]
pub struct SqlTable {
    engine: Arc<dyn SqlSource>,
    table: TableName,
    schema: SchemaRef,
    row_count: Option<u64>,
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
        }
    }

    /// The `SELECT` this table sends to its engine for a scan.
    pub fn select_sql(
        &self,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
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
        let predicates: Vec<String> = filters
            .iter()
            .filter_map(|f| expr_to_sql(f, &self.schema, self.engine.as_ref()))
            .collect();
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
                if expr_to_sql(f, &self.schema, self.engine.as_ref()).is_some() {
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
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let sql = self.select_sql(projection, filters, limit);
        Ok(Arc::new(SqlScanExec::new(
            self.engine.clone(),
            sql,
            schema,
            self.row_count,
        )))
    }
}

/// Runs one `SELECT` in its engine and streams the result.
#[derive(Debug)]
pub struct SqlScanExec {
    engine: Arc<dyn SqlSource>,
    sql: String,
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
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
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

    /// Connection this scan reads from.
    pub fn connection(&self) -> &str {
        self.engine.connection_name()
    }

    /// The SQL sent to the engine.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Rows the source table holds (the scan may return fewer), when known.
    pub fn row_estimate(&self) -> Option<u64> {
        self.row_count
    }
}

impl DisplayAs for SqlScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SqlScanExec: {}: {}", self.connection(), self.sql)
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
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_BATCHES);
        let engine = self.engine.clone();
        let sql = self.sql.clone();
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
