//! `barge plan`: steps in order with the SQL each runs, the SQL pushed to
//! each source, and the statements that prepare each target (DDL).

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::datasource::empty::EmptyTable;

use super::order::{add_edges_without_cycles, dependencies, levels};
use crate::config::Pipeline;
use crate::error::Error;
use crate::model::catalog::Column;
use crate::model::{TargetSpec, WriteMode};
use crate::schema::type_plan::{classify, plan_column};
use crate::session::step_select;
use crate::session::{
    output_schema, row_estimate, source_queries, step_datafusion_error, step_engine_error,
    step_error, Session,
};

/// The plan of `pipeline` as text. Nothing is written.
pub async fn explain(pipeline: &Pipeline) -> Result<String, Error> {
    let session = Session::open(pipeline).await?;
    let result = describe(pipeline, &session).await;
    session.discard_created();
    result
}

async fn describe(pipeline: &Pipeline, session: &Session) -> Result<String, Error> {
    let steps = &pipeline.steps;
    let reads = steps
        .iter()
        .map(|s| session.table_reads(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut deps = dependencies(steps, &reads, &session.single_writer_connections());
    add_edges_without_cycles(&mut deps, &session.target_foreign_key_edges(steps).await?);
    let levels = levels(steps, &deps)?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "pipeline {}: {} step(s) in {} level(s)",
        pipeline.name,
        steps.len(),
        levels.len()
    );
    for c in &pipeline.connections {
        let kind = session
            .connection(&c.name)
            .map(|k| k.kind().to_string())
            .unwrap_or_default();
        let ro = if c.read_only { ", read-only" } else { "" };
        let _ = writeln!(
            out,
            "  connection {} ({kind}{ro}): {}",
            c.name,
            c.display_url()
        );
    }
    let mut number = 0;
    for (level_no, level) in levels.iter().enumerate() {
        for &i in level {
            number += 1;
            let step = &steps[i];
            let _ = writeln!(
                out,
                "\nstep {number}: {} -> {} (mode {}{})",
                step.name,
                step.target,
                step.mode,
                if step.key.is_empty() {
                    String::new()
                } else {
                    format!(", key {}", step.key.join(", "))
                }
            );
            let after: Vec<&str> = deps[i].iter().map(|&d| steps[d].name.as_str()).collect();
            let _ = writeln!(
                out,
                "  level {}{}",
                level_no + 1,
                if after.is_empty() {
                    String::new()
                } else {
                    format!(", after {}", after.join(", "))
                }
            );
            let _ = writeln!(out, "  declared at {}", step.origin);
            let _ = writeln!(out, "  sql:\n{}", indent(step.sql.trim(), 4));

            let select = step_select(step, None);
            let df_error = |e: datafusion::error::DataFusionError| step_datafusion_error(step, &e);
            let df = crate::session::step_context(session, step)
                .sql(&select)
                .await
                .map_err(df_error)?;
            let output = output_schema(&df);
            let physical = df.clone().create_physical_plan().await.map_err(df_error)?;
            let pushed = source_queries(&physical);
            if pushed.is_empty() {
                let _ = writeln!(out, "  sources: read by DataFusion (files or in-memory)");
            }
            for (conn, sql) in pushed {
                let _ = writeln!(out, "  pushed to {conn}:\n{}", indent(&sql, 4));
            }
            if let Some(rows) = row_estimate(&physical) {
                let _ = writeln!(out, "  source rows (largest source): {rows}");
            }
            let _ = writeln!(out, "  output columns:");
            for f in output.fields() {
                let _ = writeln!(
                    out,
                    "    {} {}{}",
                    f.name(),
                    f.data_type(),
                    if f.is_nullable() { "" } else { " NOT NULL" }
                );
            }
            let connection = session.connection(&step.target.connection).ok_or_else(|| {
                step_error(
                    step,
                    format!("no connection '{}'", step.target.connection),
                    None,
                )
            })?;
            let target = TargetSpec {
                disable_fk_checks: step.disable_fk_checks,
                ..TargetSpec::new(step.target.table.clone(), step.mode, step.key.clone())
            };
            let statements = connection
                .prepare_target(&target, &output, true, step.chunk_rows.is_some())
                .await
                .map_err(|e| step_engine_error(step, &e))?
                .statements();
            if statements.is_empty() {
                let _ = writeln!(out, "  target: exists, loaded as is");
            } else {
                let _ = writeln!(out, "  target ddl:");
                for s in statements {
                    let _ = writeln!(out, "{}", indent(&s, 4));
                }
            }
            let existing = connection.table_schema(&target.table).await?;
            if connection.kind().is_database() {
                let _ = writeln!(out, "  type plan:");
                for f in output.fields() {
                    let (target_type, fidelity, note) = match existing
                        .as_ref()
                        .filter(|_| step.mode != WriteMode::Replace)
                        .and_then(|s| s.field_with_name(f.name()).ok())
                    {
                        Some(t) => {
                            let (fidelity, note) = classify(f.data_type(), t.data_type());
                            (
                                format!("existing column ({})", t.data_type()),
                                fidelity,
                                note,
                            )
                        }
                        None => {
                            let column =
                                Column::from_arrow(f.name(), f.data_type(), f.is_nullable());
                            let indexed = step.key.contains(f.name());
                            let p = plan_column(None, &column, connection.kind(), indexed);
                            (p.target_type, p.fidelity, p.note)
                        }
                    };
                    let note = note.map(|n| format!(": {n}")).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "    {} {} -> {target_type} ({fidelity}{note})",
                        f.name(),
                        f.data_type()
                    );
                }
            }
            if existing.is_none() {
                if let Some(schema) = session.target_schema(&step.target) {
                    schema.register_target(&target.table.name, Arc::new(EmptyTable::new(output)));
                }
            }
        }
    }
    Ok(out)
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
