//! One step: its state checked and kept, its load planned (see
//! `engines::load`) and run with retries, each attempt checking first
//! whether an earlier one landed (the target's commit records), its report
//! made.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::empty::EmptyTable;
use indicatif::ProgressBar;

use super::load::{load, snapshot_keys, LoadRows};
use super::{chunks, StepContext};
use crate::config::StepConfig;
use crate::engines::load::shadow_of;
use crate::engines::Connection;
use crate::error::{EngineError, Error};
use crate::model::{CommitRecord, TableName, TargetSpec};
use crate::records::now;
use crate::records::rejects::file_of as rejects_file;
use crate::records::state::StepPhase;
use crate::run::progress::{running_style, StepProgress};
use crate::run::report::{StepReport, StepStatus};
use crate::run::retry;
use crate::session::{
    check_output_columns, count_rows, output_schema, step_datafusion_error, step_engine_error,
    step_error, step_select,
};

pub(super) async fn run_step(ctx: &StepContext<'_>, step: &StepConfig) -> StepReport {
    if let Some(done) = ctx
        .state
        .and_then(|s| s.step(step))
        .filter(|s| s.status == StepPhase::Completed)
    {
        return StepReport {
            rows_read: done.rows_read,
            rows_written: done.rows_written,
            note: Some(format!(
                "completed by run {} at {}; not run again (--force or --force-steps {} reruns it)",
                done.run_id,
                done.finished_at.as_deref().unwrap_or("?"),
                step.name
            )),
            ..StepReport::new(step, StepStatus::DoneBefore)
        };
    }
    if let Some(state) = ctx.state {
        if let Err(e) = state.update(step, |s| {
            s.status = StepPhase::Running;
            s.message = None;
            s.finished_at = None;
        }) {
            return StepReport {
                error: Some(step_error(step, e.to_string(), None).to_string()),
                ..StepReport::new(step, StepStatus::Failed)
            };
        }
    }
    let bar = ctx.multi.add(ProgressBar::new_spinner());
    bar.set_style(running_style(false));
    bar.set_prefix(step.name.clone());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let progress = Arc::new(StepProgress::new(bar));
    let clock = Instant::now();
    let outcome = execute_step(ctx, step, &progress).await;
    let seconds = clock.elapsed().as_secs_f64();
    progress.bar().finish_and_clear();
    let mut report = match outcome {
        Ok(done) => StepReport {
            rows_read: done.rows_read,
            rows_written: done.rows_written,
            rows_rejected: progress.rejected(),
            rejects_file: (progress.rejected() > 0).then(|| {
                rejects_file(&ctx.rejects_dir, &step.name)
                    .display()
                    .to_string()
            }),
            target_statements: done.target_statements,
            note: done.note,
            ..StepReport::new(
                step,
                if ctx.options.dry_run {
                    StepStatus::Planned
                } else {
                    StepStatus::Succeeded
                },
            )
        },
        Err(e) => StepReport {
            rows_read: progress.read(),
            rows_written: progress.written(),
            error: Some(e.to_string()),
            ..StepReport::new(
                step,
                if matches!(e, Error::Interrupted(_)) {
                    StepStatus::Interrupted
                } else {
                    StepStatus::Failed
                },
            )
        },
    };
    report.seconds = seconds;
    report.rows_per_second = if seconds > 0.0 {
        report.rows_read as f64 / seconds
    } else {
        0.0
    };
    if let Some(state) = ctx.state {
        let saved = state.update(step, |s| {
            s.status = match report.status {
                StepStatus::Succeeded => StepPhase::Completed,
                StepStatus::Interrupted => StepPhase::Interrupted,
                _ => StepPhase::Failed,
            };
            // Chunks of earlier runs count too.
            let earlier = s.chunks.as_ref().map_or(0, |c| {
                c.chunks.iter().filter(|c| c.done).map(|c| c.rows).sum()
            });
            s.rows_read = report.rows_read.max(earlier);
            s.rows_written = report.rows_written.max(earlier);
            s.finished_at = Some(now());
            s.message = report.error.clone().or_else(|| report.note.clone());
        });
        if let Err(e) = saved {
            report.status = StepStatus::Failed;
            report.error = Some(step_error(step, e.to_string(), None).to_string());
        }
    }
    report
}

pub(super) struct StepDone {
    pub(super) rows_read: u64,
    pub(super) rows_written: u64,
    pub(super) target_statements: Vec<String>,
    /// Said in the report beside the counts (a resumed step's chunks).
    pub(super) note: Option<String>,
}

/// Runs `attempt` until it succeeds, fails for good, or the retries of
/// `step` are spent; the progress counts go back to where they were before
/// each new attempt. A failed attempt committed nothing: a load is one
/// transaction, or a temp file renamed at its end.
pub(super) async fn retrying<T, F, Fut>(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    progress: &StepProgress,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mark = progress.mark();
    let mut retry = 0;
    loop {
        match attempt().await {
            Err(e)
                if retry < step.retry.retries
                    && !ctx.interrupt.is_set()
                    && retry::is_transient(&e) =>
            {
                retry += 1;
                let wait = retry::wait(&step.retry, retry);
                let message = format!(
                    "step '{}': {e}\n  a passing failure: retry {retry} of {} in {:.1} s",
                    step.name,
                    step.retry.retries,
                    wait.as_secs_f64()
                );
                ctx.multi
                    .suspend(|| eprintln!("{}", crate::redact::scrub(&message)));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.interrupt.wait() => return Err(interrupted(step)),
                }
                progress.reset_to(mark);
            }
            outcome => return outcome,
        }
    }
}

pub(super) fn interrupted(step: &StepConfig) -> Error {
    Error::Interrupted(format!(
        "step '{}' interrupted; its load was rolled back",
        step.name
    ))
}

pub(super) async fn execute_step(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    progress: &Arc<StepProgress>,
) -> Result<StepDone, Error> {
    let (session, options) = (ctx.session, ctx.options);
    let df_error = |e: datafusion::error::DataFusionError| step_datafusion_error(step, &e);
    let engine_error = |e: EngineError| step_engine_error(step, &e);
    let connection = session
        .connection(&step.target.connection)
        .ok_or_else(|| {
            step_error(
                step,
                format!("no connection '{}'", step.target.connection),
                None,
            )
        })?
        .clone();
    let select = step_select(step, options.limit);
    let df = session.ctx.sql(&select).await.map_err(df_error)?;
    let output = output_schema(&df);
    check_output_columns(step, &output)?;
    let spec = target_spec(step, step.target.table.clone());

    if options.dry_run {
        let plan = connection
            .prepare_target(&spec, &output, true, false)
            .await
            .map_err(engine_error)?;
        let rows = count_rows(&session.ctx, &select).await.map_err(df_error)?;
        // Later steps that read this target plan against its future shape.
        if connection
            .table_schema(&step.target.table)
            .await
            .map_err(engine_error)?
            .is_none()
        {
            if let Some(schema_provider) = session.target_schema(&step.target) {
                schema_provider.register_target(
                    &step.target.table.name,
                    Arc::new(EmptyTable::new(output.clone())),
                );
            }
        }
        return Ok(StepDone {
            rows_read: rows,
            rows_written: 0,
            target_statements: plan.statements(),
            note: None,
        });
    }

    {
        let mut made = ctx.commit_tables.lock().await;
        if !made.contains(connection.name()) {
            if let Err(e) = connection.ensure_commit_table().await {
                // A target that cannot be written says so about its own table.
                connection
                    .prepare_target(&spec, &output, true, false)
                    .await
                    .map_err(engine_error)?;
                return Err(engine_error(e));
            }
            made.insert(connection.name().to_string());
        }
    }
    if let Some(done) = landed_before(ctx, step, &connection, &spec, &output).await? {
        return Ok(done);
    }

    if let Some(journal) = ctx.journal {
        snapshot_keys(step, &connection, journal).await?;
    }

    if let Some(chunk_rows) = step.chunk_rows.filter(|_| options.limit.is_none()) {
        if let Some(done) = chunks::run_chunked(
            ctx,
            step,
            &connection,
            &select,
            &output,
            chunk_rows,
            progress,
        )
        .await?
        {
            return Ok(done);
        }
    }

    // The load's id goes into the state before the load starts: a rerun
    // asks the target whether it landed.
    let record = commit_record(ctx, step, new_load_id());
    if let Some(state) = ctx.state {
        state.update(step, |s| s.load_id = Some(record.load_id.clone()))?;
    }
    let mut attempts = 0;
    let load = async {
        retrying(ctx, step, progress, || {
            attempts += 1;
            let again = attempts > 1;
            let (record, spec, output, select) = (&record, &spec, &output, &select);
            let connection = &connection;
            async move {
                if again {
                    // A COMMIT whose answer was lost may have landed.
                    if let Some(rows) = connection
                        .committed_load(&record.load_id)
                        .await
                        .map_err(engine_error)?
                    {
                        progress.add_read(rows);
                        progress.add_written(rows);
                        return finish_landed(step, connection, spec, output).await;
                    }
                }
                let plan = connection
                    .prepare_target(spec, output, false, false)
                    .await
                    .map_err(engine_error)?;
                let rows = LoadRows {
                    select,
                    chunk: None,
                };
                let target = plan.writer_target(spec);
                let loaded = load(
                    ctx,
                    step,
                    connection,
                    rows,
                    output,
                    &target,
                    Some(record),
                    progress,
                )
                .await;
                if loaded.is_err() && !landed(connection, &record.load_id).await {
                    for sql in &plan.cleanup {
                        let _ = connection.execute_statement(sql).await;
                    }
                }
                loaded?;
                if !plan.after.is_empty() {
                    connection
                        .execute_transaction(&plan.after)
                        .await
                        .map_err(engine_error)?;
                }
                Ok(plan.statements())
            }
        })
        .await
    };
    // An interrupt drops the load: its writer rolls the transaction back.
    let statements = tokio::select! {
        statements = load => statements?,
        _ = ctx.interrupt.wait() => {
            if !connection.transactional_ddl() {
                // A shadow made outside the load's transaction goes too, unless
                // its load may have landed, once the dropped load has let go of
                // it (not waiting long for either).
                let drop = format!(
                    "DROP TABLE IF EXISTS {}",
                    connection.sql_table(&shadow_of(&step.target.table))
                );
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                    if !landed(&connection, &record.load_id).await {
                        let _ = connection.execute_statement(&drop).await;
                    }
                })
                .await;
            }
            return Err(interrupted(step));
        }
    };
    Ok(StepDone {
        rows_read: progress.read(),
        rows_written: progress.written(),
        target_statements: statements,
        note: None,
    })
}

/// When an earlier run started this step's load and the target's commit
/// records say it landed, the step is done: what ran after that load's
/// commit (a shadow renamed where DDL is not transactional) is finished, and
/// nothing is loaded again.
async fn landed_before(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
    spec: &TargetSpec,
    output: &SchemaRef,
) -> Result<Option<StepDone>, Error> {
    let Some(earlier) = ctx
        .state
        .and_then(|s| s.step(step))
        .filter(|s| s.chunks.is_none())
    else {
        return Ok(None);
    };
    let Some(load_id) = earlier.load_id else {
        return Ok(None);
    };
    let Some(rows) = connection
        .committed_load(&load_id)
        .await
        .map_err(|e| step_engine_error(step, &e))?
    else {
        return Ok(None);
    };
    let statements = finish_landed(step, connection, spec, output).await?;
    Ok(Some(StepDone {
        rows_read: rows,
        rows_written: rows,
        target_statements: statements,
        note: Some(format!(
            "the load run {} started had landed (its commit record is in the target); not loaded again",
            earlier.run_id
        )),
    }))
}

/// Whether load `load_id` may have landed: its shadow (which then holds the
/// new table, for the retry or rerun to swap in) is kept unless the target
/// says for sure that the load did not commit.
async fn landed(connection: &Arc<dyn Connection>, load_id: &str) -> bool {
    !matches!(connection.committed_load(load_id).await, Ok(None))
}

/// After a load that landed: its `after` statements, when its shadow is
/// still there (the process died between the COMMIT and them).
pub(super) async fn finish_landed(
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
    spec: &TargetSpec,
    output: &SchemaRef,
) -> Result<Vec<String>, Error> {
    let shadow = shadow_of(&spec.table);
    let pending = connection
        .table_schema(&shadow)
        .await
        .map_err(|e| step_engine_error(step, &e))?
        .is_some();
    if !pending {
        return Ok(vec![]);
    }
    let Ok(plan) = connection.prepare_target(spec, output, true, false).await else {
        return Ok(vec![]);
    };
    if !plan.shadowed(spec) || plan.after.is_empty() {
        return Ok(vec![]);
    }
    connection
        .execute_transaction(&plan.after)
        .await
        .map_err(|e| step_engine_error(step, &e))?;
    Ok(plan.after)
}

/// A new load's id: unique, short enough for every engine's key.
pub(super) fn new_load_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The commit record of the load `load_id` of `step`.
pub(super) fn commit_record(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    load_id: String,
) -> CommitRecord {
    CommitRecord {
        load_id,
        pipeline: ctx.pipeline.to_string(),
        step: step.name.clone(),
        run_id: ctx.run_id.to_string(),
    }
}

/// The step's write into its target.
pub(super) fn target_spec(step: &StepConfig, table: TableName) -> TargetSpec {
    TargetSpec {
        disable_fk_checks: step.disable_fk_checks,
        ..TargetSpec::new(table, step.mode, step.key.clone())
    }
}
