//! Step helpers shared by plan, validate, subset and run: a step's SELECT
//! and the context it plans in, its output schema and columns, the SQL it
//! sends to each source, its row estimate, and its errors.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::{ExecutionPlan, StatisticsArgs, StatisticsContext};
use datafusion::prelude::SessionContext;

use super::Session;
use crate::config::StepConfig;
use crate::engines::sql::{ReadPartitioning, SqlScanExec};
use crate::error::{code_of_datafusion, describe_datafusion, EngineError, Error};

/// An error of one step, naming it and where it is declared.
pub fn step_error(step: &StepConfig, message: impl Into<String>, hint: Option<String>) -> Error {
    let mut message = format!("{} ({})", message.into(), step.origin);
    if let Some(h) = hint {
        message.push_str("\n  hint: ");
        message.push_str(&h);
    }
    Error::Step {
        step: step.name.clone(),
        message,
        code: None,
    }
}

/// A step's error from an engine's: its message, and the driver's code that
/// retries decide on.
pub fn step_engine_error(step: &StepConfig, e: &EngineError) -> Error {
    step_error(step, e.to_string(), None).with_code(e.code())
}

/// A step's error from DataFusion's: the message of the engine error inside
/// it (see [`describe_datafusion`]) and that error's code.
pub fn step_datafusion_error(step: &StepConfig, e: &DataFusionError) -> Error {
    step_error(step, describe_datafusion(e), None).with_code(code_of_datafusion(e))
}

/// SQL each source runs for a physical plan: `(connection, sql)`.
pub fn source_queries(plan: &Arc<dyn ExecutionPlan>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    visit(plan, &mut |node| {
        if let Some(scan) = (node.as_ref() as &dyn std::any::Any).downcast_ref::<SqlScanExec>() {
            for sql in scan.sql() {
                out.push((scan.connection().to_string(), sql.clone()));
            }
        }
    });
    out
}

/// The source scan of an `INSERT` plan that only reads one SQL source's
/// columns in the target's order (no expression, cast, filter or join in
/// DataFusion): such a step may move the source's bytes without decoding
/// them (see `Connection::load_through`).
pub fn plain_source_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&SqlScanExec> {
    use datafusion::physical_expr::expressions::Column;
    use datafusion::physical_plan::projection::ProjectionExec;
    if plan.name() != "DataSinkExec" {
        return None;
    }
    let mut node = plan.children().into_iter().next()?;
    loop {
        let any = node.as_ref() as &dyn std::any::Any;
        if let Some(scan) = any.downcast_ref::<SqlScanExec>() {
            return Some(scan);
        }
        if let Some(projection) = any.downcast_ref::<ProjectionExec>() {
            let identity = projection.expr().iter().enumerate().all(|(i, e)| {
                (e.expr.as_ref() as &dyn std::any::Any)
                    .downcast_ref::<Column>()
                    .is_some_and(|c| c.index() == i)
            });
            let child = projection.children().into_iter().next()?;
            if !identity || child.schema().fields().len() != projection.expr().len() {
                return None;
            }
        } else if !matches!(
            node.name(),
            "CoalescePartitionsExec" | "CoalesceBatchesExec"
        ) {
            return None;
        }
        node = node.children().into_iter().next()?;
    }
}

/// Rows the largest source of a plan holds, when the sources know it.
pub fn row_estimate(plan: &Arc<dyn ExecutionPlan>) -> Option<u64> {
    let mut best: Option<u64> = None;
    visit(plan, &mut |node| {
        let rows = if let Some(scan) =
            (node.as_ref() as &dyn std::any::Any).downcast_ref::<SqlScanExec>()
        {
            scan.row_estimate()
        } else if node.children().is_empty() {
            StatisticsContext::default()
                .compute(node.as_ref(), &StatisticsArgs::new())
                .ok()
                .and_then(|s| s.num_rows.get_value().map(|n| *n as u64))
        } else {
            None
        };
        if let Some(n) = rows {
            best = Some(best.map_or(n, |b| b.max(n)));
        }
    });
    best
}

fn visit(plan: &Arc<dyn ExecutionPlan>, f: &mut dyn FnMut(&Arc<dyn ExecutionPlan>)) {
    f(plan);
    for child in plan.children() {
        visit(child, f);
    }
}

/// The Arrow schema of a step's output.
pub fn output_schema(df: &datafusion::dataframe::DataFrame) -> SchemaRef {
    Arc::new(df.schema().as_arrow().clone())
}

/// The step's SQL, limited to `limit` rows when set.
pub fn step_select(step: &StepConfig, limit: Option<usize>) -> String {
    let sql = step.sql.trim().trim_end_matches(';').trim_end();
    match limit {
        Some(n) => format!("SELECT * FROM ({sql}) AS barge_limited LIMIT {n}"),
        None => sql.to_string(),
    }
}

/// Rows `select` returns, counted by DataFusion (pushed to the source where it can).
pub async fn count_rows(
    ctx: &SessionContext,
    select: &str,
) -> Result<u64, datafusion::error::DataFusionError> {
    let count_sql = format!("SELECT count(*) AS n FROM ({select}) AS barge_counted");
    let batches = ctx.sql(&count_sql).await?.collect().await?;
    Ok(batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<Int64Type>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0) as u64)
}

/// The session as the step plans in it: with the step's `partitions` and
/// `partition_on` when it sets them (the catalogs are shared).
pub fn step_context(session: &Session, step: &StepConfig) -> SessionContext {
    if step.partitions.is_none() && step.partition_on.is_none() {
        return session.ctx.clone();
    }
    let state = session.ctx.state();
    // The catalog list is shared: building must not replace its default catalog.
    let mut config = state
        .config()
        .clone()
        .with_create_default_catalog_and_schema(false);
    if let Some(n) = step.partitions {
        config = config.with_target_partitions(n);
    }
    if let Some(column) = &step.partition_on {
        config.options_mut().extensions.insert(ReadPartitioning {
            partition_on: column.clone(),
        });
    }
    SessionContext::new_with_state(
        SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .build(),
    )
}

/// Output columns must be named, distinct, and contain the key.
pub fn check_output_columns(step: &StepConfig, output: &SchemaRef) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for field in output.fields() {
        if !seen.insert(field.name().to_lowercase()) {
            return Err(step_error(
                step,
                format!("the SQL returns column '{}' twice", field.name()),
                Some("give each output column a distinct name with AS".into()),
            ));
        }
    }
    for key in &step.key {
        if !output.fields().iter().any(|f| f.name() == key) {
            return Err(step_error(
                step,
                format!("key column '{key}' is not in the step's output"),
                Some(format!(
                    "the output columns are: {}",
                    output
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ));
        }
    }
    Ok(())
}

/// The target's spelling of each output column; every one must exist.
pub fn target_columns(
    step: &StepConfig,
    output: &SchemaRef,
    target: &SchemaRef,
) -> Result<Vec<String>, Error> {
    output
        .fields()
        .iter()
        .map(|f| {
            target
                .fields()
                .iter()
                .find(|t| t.name() == f.name())
                .or_else(|| target.fields().iter().find(|t| t.name().eq_ignore_ascii_case(f.name())))
                .map(|t| t.name().clone())
                .ok_or_else(|| {
                    step_error(
                        step,
                        format!("column '{}' of the step's output is not in target table {}", f.name(), step.target),
                        Some(format!(
                            "the target has: {}; alias the column with AS, or use mode = \"replace\" to recreate the table",
                            target.fields().iter().map(|t| t.name().as_str()).collect::<Vec<_>>().join(", ")
                        )),
                    )
                })
        })
        .collect()
}
