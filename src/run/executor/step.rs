//! One step: its state checked and kept, its load run with retries (a
//! `replace` through a shadow table swapped in at the end), its counts
//! checked, its report made.

use std::sync::Arc;
use std::time::Instant;

use datafusion::datasource::empty::EmptyTable;
use indicatif::ProgressBar;

use super::load::{load, snapshot_keys, LoadRows};
use super::{chunks, StepContext};
use crate::config::StepConfig;
use crate::engines::Connection;
use crate::error::{EngineError, Error};
use crate::model::{TableName, TargetSpec, WriteMode};
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
                ctx.multi.suspend(|| {
                    eprintln!(
                        "step '{}': {e}\n  a passing failure: retry {retry} of {} in {:.1} s",
                        step.name,
                        step.retry.retries,
                        wait.as_secs_f64()
                    )
                });
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

    if options.dry_run {
        let statements = connection
            .prepare_target(&target_spec(step, step.target.table.clone()), &output, true)
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
            target_statements: statements,
            note: None,
        });
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

    let load = async {
        retrying(ctx, step, progress, || async {
            // `replace` of an existing table loads a shadow table and swaps
            // it in at the end, where the engine can: readers never see a
            // half-loaded table, and a failed load leaves the old one as it was.
            let load_table = if replaces_through_shadow(step, &connection).await? {
                shadow_of(&step.target.table)
            } else {
                step.target.table.clone()
            };
            let swap = load_table != step.target.table;
            let target = target_spec(step, load_table);
            let mut statements = connection
                .prepare_target(&target, &output, false)
                .await
                .map_err(engine_error)?;
            let rows = LoadRows {
                select: &select,
                chunk: None,
            };
            let loaded = load(ctx, step, &connection, rows, &output, &target, progress).await;
            if swap && loaded.is_err() {
                // The old table is untouched; the half-loaded shadow goes.
                let _ = connection.drop_shadow(&target.table).await;
            }
            loaded?;
            check_counts(step, progress)?;
            if swap {
                statements.extend(
                    connection
                        .swap_in(&target.table, &step.target.table)
                        .await
                        .map_err(engine_error)?,
                );
            }
            Ok(statements)
        })
        .await
    };
    // An interrupt drops the load: its writer rolls the transaction back.
    let statements = tokio::select! {
        statements = load => statements?,
        _ = ctx.interrupt.wait() => {
            if step.mode == WriteMode::Replace && connection.swaps_tables() {
                // The half-loaded shadow goes too, once the dropped load's
                // transaction has let go of it (not waiting long for that).
                let shadow = shadow_of(&step.target.table);
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    connection.drop_shadow(&shadow),
                )
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

/// The step's write into `table` (its target, or the shadow of a `replace`).
pub(super) fn target_spec(step: &StepConfig, table: TableName) -> TargetSpec {
    TargetSpec {
        table,
        mode: step.mode,
        key: step.key.clone(),
        disable_fk_checks: step.disable_fk_checks,
    }
}

/// Whether the step is a `replace` of an existing table on an engine that
/// swaps tables: it then loads a shadow table swapped in at the end.
pub(super) async fn replaces_through_shadow(
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
) -> Result<bool, Error> {
    Ok(step.mode == WriteMode::Replace
        && connection.swaps_tables()
        && connection
            .table_schema(&step.target.table)
            .await
            .map_err(|e| step_engine_error(step, &e))?
            .is_some())
}

/// The shadow table a `replace` of `table` loads.
pub(super) fn shadow_of(table: &TableName) -> TableName {
    TableName::new(
        table.schema.as_deref(),
        &format!("{}{SHADOW_SUFFIX}", table.name),
    )
}

/// Nothing lost silently: every row read is in the target or set aside
/// as refused (read = written + rejected). `insert_ignore`
/// skips rows whose key exists (and an `upsert` of key columns only does
/// too), so for those only a surplus is an error.
pub(super) fn check_counts(step: &StepConfig, progress: &StepProgress) -> Result<(), Error> {
    use crate::model::WriteMode;
    let (read, written, rejected) = (progress.read(), progress.written(), progress.rejected());
    let lost = match step.mode {
        WriteMode::InsertIgnore | WriteMode::Upsert => written + rejected > read,
        _ => written + rejected != read,
    };
    if lost {
        return Err(step_error(
            step,
            format!(
                "count check failed on {}: {read} rows read, the target reports {written} written{}",
                step.target,
                if rejected > 0 { format!(" and {rejected} refused") } else { String::new() }
            ),
            Some("the load was committed; run `barge validate` on the pipeline to find the rows that differ".into()),
        ));
    }
    Ok(())
}

/// Name suffix of the shadow table a `replace` loads before it is swapped in.
pub(super) const SHADOW_SUFFIX: &str = "__barge_new";
