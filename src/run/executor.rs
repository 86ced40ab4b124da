//! The executor: every step is one DataFusion plan, `INSERT INTO target
//! SELECT ...`, streamed batch by batch into the target's writer. Steps run in
//! dependency levels; independent steps of a level run concurrently.

mod chunks;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::datasource::empty::EmptyTable;
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::interrupt::Interrupt;
use super::journal::Journal;
use super::progress::StepProgress;
use super::rejects::{self, StepRejects};
use super::report::{RunReport, StepReport, StepStatus};
use super::retry;
use super::session::{
    output_schema, plain_source_scan, row_estimate, source_queries, step_error, Session,
};
use super::state::{self, StateFile, StepPhase};
use crate::config::{Pipeline, StepConfig};
use crate::engines::catalog::TargetTable;
use crate::engines::sql::ReadPartitioning;
use crate::engines::{Connection, TableName, TargetSpec, WriteMode};
use crate::error::{describe_datafusion, EngineError, Error};
use crate::plan::order::{add_edges_without_cycles, dependencies, levels};
use crate::stage::manifest::{SourceQuery, StagedColumn};
use crate::stage::tee::TeeResult;
use crate::stage::{stage_dir, step_dir_name, Stage, StagedStep, StepTee};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionContext;

/// Options of `barge run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Plan and count source rows; write nothing.
    pub dry_run: bool,
    /// Rows per step (a test run).
    pub limit: Option<usize>,
    /// Run only these steps.
    pub steps: Option<Vec<String>>,
    /// Steps run at once.
    pub jobs: usize,
    /// No progress bars.
    pub quiet: bool,
    /// Stage every step's rows to Parquet under `DIR/<run_id>/` (overrides
    /// the pipeline's `[defaults].stage`).
    pub stage: Option<PathBuf>,
    /// Start afresh: ignore the state of an unfinished earlier run.
    pub force: bool,
    /// Run these steps from the start even when the state says they are done.
    pub force_steps: Vec<String>,
    /// Stop on Ctrl+C and SIGTERM (the CLI); a library caller stops the run
    /// by dropping its future.
    pub listen_for_signals: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            limit: None,
            steps: None,
            jobs: 2,
            quiet: true,
            stage: None,
            force: false,
            force_steps: vec![],
            listen_for_signals: false,
        }
    }
}

/// Runs `pipeline`. Returns the report; steps that failed are in it with
/// their errors (the caller decides the exit code).
///
/// Unless it is a dry run or limited (`--limit`), the run keeps its state
/// in `.barge/state/` (see [`StateFile`]): a rerun after a failure or an
/// interrupt skips the steps that completed and continues chunked steps
/// after their last committed chunk.
pub async fn run_pipeline(pipeline: &Pipeline, options: &RunOptions) -> Result<RunReport, Error> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let state = if options.dry_run || options.limit.is_some() {
        None
    } else {
        let state = StateFile::open(pipeline, &run_id, options.force)?;
        for name in &options.force_steps {
            if !pipeline.steps.iter().any(|s| &s.name == name) {
                return Err(unknown_step(pipeline, "--force-steps", name));
            }
            state.forget(name);
        }
        Some(state)
    };
    let journal = state.as_ref().map(|_| Journal::new(pipeline, &run_id));
    let interrupt = Interrupt::new();
    if options.listen_for_signals {
        interrupt.listen();
    }
    let session = Session::open(pipeline).await?;
    let stage = match stage_dir(options.stage.as_deref(), pipeline) {
        Some(dir) if !options.dry_run => Some(Stage::create(
            &dir,
            &run_id,
            pipeline,
            &started_at.to_rfc3339(),
        )?),
        _ => None,
    };
    let result = run_steps(
        pipeline,
        &session,
        StepContext {
            session: &session,
            options,
            stage: stage.as_ref(),
            state: state.as_ref(),
            journal: journal.as_ref(),
            rejects_dir: rejects::run_dir(pipeline, &run_id),
            interrupt: &interrupt,
            multi: &if options.quiet {
                MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
            } else {
                MultiProgress::new()
            },
        },
        RunStart {
            run_id,
            started_at,
            clock,
        },
    )
    .await;
    if options.dry_run {
        session.discard_created();
    }
    if let Some(state) = &state {
        state.finish(pipeline)?;
    }
    if let (Some(stage), Ok(report)) = (&stage, &result) {
        let order: Vec<String> = pipeline.steps.iter().map(|s| s.name.clone()).collect();
        stage.finish(&report.finished_at, &order)?;
    }
    result
}

/// When and as what a run started.
struct RunStart {
    run_id: String,
    started_at: chrono::DateTime<chrono::Utc>,
    clock: Instant,
}

async fn run_steps(
    pipeline: &Pipeline,
    session: &Session,
    ctx: StepContext<'_>,
    start: RunStart,
) -> Result<RunReport, Error> {
    let steps = &pipeline.steps;
    let options = ctx.options;

    let selected = select_steps(pipeline, options.steps.as_deref())?;
    let reads = steps
        .iter()
        .map(|s| session.table_reads(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut deps = dependencies(steps, &reads, &session.single_writer_connections());
    add_edges_without_cycles(&mut deps, &session.target_foreign_key_edges(steps).await?);
    let levels = levels(steps, &deps)?;

    // Sources must exist, unless an earlier step creates them.
    for &i in &selected {
        for read in &reads[i] {
            let written_by_a_step = steps.iter().any(|s| {
                s.target.connection == read.0 && s.target.table.name.eq_ignore_ascii_case(&read.1)
            });
            if !written_by_a_step {
                session.check_table_exists(&steps[i], read).await?;
            }
        }
    }

    // max_rejects on a target that cannot set rows aside fails before any step runs.
    let chosen: Vec<&StepConfig> = selected.iter().map(|&i| &steps[i]).collect();
    rejects::check_targets(&chosen, |name| session.connection(name).cloned())?;

    let mut reports: Vec<Option<StepReport>> = vec![None; steps.len()];
    for level in levels {
        let mut runnable = Vec::new();
        for i in level.into_iter().filter(|i| selected.contains(i)) {
            let blocked = deps[i].iter().find(|&&d| {
                reports[d]
                    .as_ref()
                    .is_some_and(|r| !r.status.lets_dependents_run())
            });
            match blocked {
                _ if ctx.interrupt.is_set() => {
                    reports[i] = Some(skipped(&steps[i], "the run was interrupted"));
                }
                Some(&d) => {
                    let because =
                        format!("step '{}' it depends on did not complete", steps[d].name);
                    reports[i] = Some(skipped(&steps[i], &because));
                }
                None => runnable.push(i),
            }
        }
        let results: Vec<(usize, StepReport)> = futures::stream::iter(runnable)
            .map(|i| {
                let ctx = &ctx;
                async move {
                    if ctx.interrupt.is_set() {
                        return (i, skipped(&steps[i], "the run was interrupted"));
                    }
                    (i, run_step(ctx, &steps[i]).await)
                }
            })
            .buffer_unordered(options.jobs.max(1))
            .collect()
            .await;
        for (i, report) in results {
            reports[i] = Some(report);
        }
    }
    let _ = ctx.multi.clear();

    let finished_at = chrono::Utc::now();
    Ok(RunReport {
        pipeline: pipeline.name.clone(),
        run_id: start.run_id,
        started_at: start.started_at.to_rfc3339(),
        finished_at: finished_at.to_rfc3339(),
        seconds: start.clock.elapsed().as_secs_f64(),
        staged_in: ctx.stage.map(|s| s.run_dir().display().to_string()),
        dry_run: options.dry_run,
        steps: reports.into_iter().flatten().collect(),
        interrupted: ctx.interrupt.is_set(),
        state_file: ctx.state.map(|s| s.path().display().to_string()),
        zero_dates_as_null: session
            .connections()
            .map(|c| (c.name().to_string(), c.zero_dates_read()))
            .filter(|(_, n)| *n > 0)
            .collect(),
    })
}

fn unknown_step(pipeline: &Pipeline, flag: &str, name: &str) -> Error {
    let known: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
    Error::Usage(format!(
        "{flag} names unknown step '{name}'\n  hint: steps of {} are: {}",
        pipeline.name,
        known.join(", ")
    ))
}

fn select_steps(pipeline: &Pipeline, names: Option<&[String]>) -> Result<Vec<usize>, Error> {
    let Some(names) = names else {
        return Ok((0..pipeline.steps.len()).collect());
    };
    names
        .iter()
        .map(|name| {
            pipeline
                .steps
                .iter()
                .position(|s| &s.name == name)
                .ok_or_else(|| unknown_step(pipeline, "--steps", name))
        })
        .collect()
}

fn skipped(step: &StepConfig, because: &str) -> StepReport {
    StepReport {
        error: Some(format!("not run: {because}")),
        ..StepReport::new(step, StepStatus::Skipped)
    }
}

/// What the steps of a run share.
struct StepContext<'a> {
    session: &'a Session,
    options: &'a RunOptions,
    stage: Option<&'a Stage>,
    /// `None` for a dry run or `--limit` (they keep no state).
    state: Option<&'a StateFile>,
    /// What the run inserted, for `barge rollback` (kept with the state).
    journal: Option<&'a Journal>,
    /// Where steps set refused rows aside (`rejects/<run_id>/`).
    rejects_dir: std::path::PathBuf,
    interrupt: &'a Interrupt,
    multi: &'a MultiProgress,
}

async fn run_step(ctx: &StepContext<'_>, step: &StepConfig) -> StepReport {
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
                rejects::file_of(&ctx.rejects_dir, &step.name)
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
            s.finished_at = Some(state::now());
            s.message = report.error.clone().or_else(|| report.note.clone());
        });
        if let Err(e) = saved {
            report.status = StepStatus::Failed;
            report.error = Some(step_error(step, e.to_string(), None).to_string());
        }
    }
    report
}

struct StepDone {
    rows_read: u64,
    rows_written: u64,
    target_statements: Vec<String>,
    /// Said in the report beside the counts (a resumed step's chunks).
    note: Option<String>,
}

/// The step's SQL, limited to `limit` rows when set.
pub fn step_select(step: &StepConfig, limit: Option<usize>) -> String {
    let sql = step.sql.trim().trim_end_matches(';').trim_end();
    match limit {
        Some(n) => format!("SELECT * FROM ({sql}) AS barge_limited LIMIT {n}"),
        None => sql.to_string(),
    }
}

/// Quotes an identifier for DataFusion SQL.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Runs `attempt` until it succeeds, fails for good, or the retries of
/// `step` are spent; the progress counts go back to where they were before
/// each new attempt. A failed attempt committed nothing: a load is one
/// transaction, or a temp file renamed at its end.
async fn retrying<T, F, Fut>(
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
                    && retry::is_transient(&e.to_string()) =>
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

fn interrupted(step: &StepConfig) -> Error {
    Error::Interrupted(format!(
        "step '{}' interrupted; its load was rolled back",
        step.name
    ))
}

async fn execute_step(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    progress: &Arc<StepProgress>,
) -> Result<StepDone, Error> {
    let (session, options) = (ctx.session, ctx.options);
    let df_error =
        |e: datafusion::error::DataFusionError| step_error(step, describe_datafusion(&e), None);
    let engine_error = |e: EngineError| step_error(step, e.to_string(), None);
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

/// Rows `select` returns, counted by DataFusion (pushed to the source where it can).
async fn count_rows(
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

/// The step's write into `table` (its target, or the shadow of a `replace`).
fn target_spec(step: &StepConfig, table: TableName) -> TargetSpec {
    TargetSpec {
        table,
        mode: step.mode,
        key: step.key.clone(),
        disable_fk_checks: step.disable_fk_checks,
    }
}

/// Whether the step is a `replace` of an existing table on an engine that
/// swaps tables: it then loads a shadow table swapped in at the end.
async fn replaces_through_shadow(
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
) -> Result<bool, Error> {
    Ok(step.mode == WriteMode::Replace
        && connection.swaps_tables()
        && connection
            .table_schema(&step.target.table)
            .await
            .map_err(|e| step_error(step, e.to_string(), None))?
            .is_some())
}

/// The shadow table a `replace` of `table` loads.
fn shadow_of(table: &TableName) -> TableName {
    TableName::new(
        table.schema.as_deref(),
        &format!("{}{SHADOW_SUFFIX}", table.name),
    )
}

/// What a load reads: the step's SELECT, or one chunk of it.
#[derive(Clone, Copy)]
struct LoadRows<'a> {
    select: &'a str,
    /// The chunk's index (its staged file is `part-<index>.parquet`), or
    /// `None` for a step loaded at once.
    chunk: Option<usize>,
}

/// Streams the rows of `rows` into the prepared `target` and commits them
/// (one transaction, or a temp file renamed at the end). Stages them too
/// when the run is staged, and returns what was staged. Counts go to
/// `progress`.
async fn load(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
    rows: LoadRows<'_>,
    output: &SchemaRef,
    target: &TargetSpec,
    progress: &Arc<StepProgress>,
) -> Result<Option<TeeResult>, Error> {
    let (session, stage, options) = (ctx.session, ctx.stage, ctx.options);
    let select = rows.select;
    let engine_error = |e: EngineError| step_error(step, e.to_string(), None);
    let schema_provider = session.target_schema(&step.target).ok_or_else(|| {
        step_error(
            step,
            format!(
                "connection '{}' has no schema '{}'",
                step.target.connection,
                step.target.table.schema.as_deref().unwrap_or("")
            ),
            Some("create the schema in the target first, or drop the schema from `target`".into()),
        )
    })?;
    let target_schema = connection
        .table_schema(&target.table)
        .await
        .map_err(engine_error)?
        .unwrap_or_else(|| output.clone());
    let columns = target_columns(step, output, &target_schema)?;
    let source = connection
        .clone()
        .table_provider(&target.table)
        .await
        .map_err(engine_error)?;
    let table_name = target.table.name.clone();
    let target_schema_for_hint = target_schema.clone();
    let tee = stage.map(|s| {
        StepTee::new(
            s.run_dir(),
            &step_dir_name(&step.name),
            rows.chunk.unwrap_or(0),
            columns.clone(),
        )
    });
    let key = key_columns(step, output, &columns);
    let journal_tee = ctx.journal.and_then(|j| j.tee(step, &key));
    let rejects = StepRejects::for_step(step, &ctx.rejects_dir, columns.clone());
    let provider = TargetTable::new(
        connection.clone(),
        target.clone(),
        target_schema,
        source,
        progress.clone(),
    )
    .with_tees(tee.iter().chain(&journal_tee).cloned().collect())
    .with_rejects(rejects.clone());
    schema_provider.register_target(&table_name, Arc::new(provider));
    let mut sent_to_sources = Vec::new();

    let result = async {
        let insert = format!(
            "INSERT INTO {}.{}.{} ({}) {select}",
            quote(connection.name()),
            quote(
                target
                    .table
                    .schema
                    .as_deref()
                    .unwrap_or(connection.default_schema())
            ),
            quote(&table_name),
            columns
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let ctx = step_context(session, step);
        let plan = ctx.sql(&insert).await?.create_physical_plan().await?;
        sent_to_sources = source_queries(&plan);
        // A chunked step's bar already counts the whole step.
        if let Some(rows) = row_estimate(&plan).filter(|_| progress.bar().length().is_none()) {
            let rows = options.limit.map_or(rows, |l| rows.min(l as u64));
            progress.bar().set_length(rows);
            progress.bar().set_style(running_style(true));
        }
        // Staging, the journal and rejects need the rows as Arrow batches:
        // no pass-through then.
        if let Some(scan) = plain_source_scan(&plan)
            .filter(|_| tee.is_none() && journal_tee.is_none() && rejects.is_none())
        {
            let moved = connection
                .load_through(
                    scan.engine(),
                    scan.sql(),
                    &datafusion::physical_plan::ExecutionPlan::schema(scan),
                    target,
                    &columns,
                    progress,
                )
                .await
                .map_err(datafusion::error::DataFusionError::from)?;
            if moved.is_some() {
                return Ok(Vec::new());
            }
        }
        datafusion::physical_plan::collect(plan, ctx.task_ctx()).await
    }
    .await;
    schema_provider.unregister_target(&table_name);
    if let (Some(rejects), Err(_)) = (&rejects, &result) {
        rejects.discard();
    }
    let staged = match (stage, &tee) {
        (Some(stage), Some(tee)) => {
            let entry = staged_step(step, select, &sent_to_sources, tee, result.is_ok());
            if result.is_err() {
                tee.discard();
            }
            match rows.chunk {
                None => stage.record(entry).map(|_| tee.result()),
                // A chunk that failed is loaded again or fails the step.
                Some(_) if result.is_ok() => stage.record_chunk(entry).map(|_| tee.result()),
                Some(_) => Ok(None),
            }
        }
        _ => Ok(None),
    };
    result.map_err(|e| {
        let message = describe_datafusion(&e);
        if let Some(column) = null_into_not_null(&message, &target_schema_for_hint) {
            return step_error(
                step,
                format!("a NULL in column '{column}', which {} declares NOT NULL", step.target),
                Some(format!(
                    "filter or COALESCE the NULLs of '{column}' in the step's SQL, or set max_rejects to set such rows aside"
                )),
            );
        }
        let hint = message
            .contains("Cast error")
            .then(|| cast_hint(output, &target_schema_for_hint, &columns))
            .flatten();
        step_error(step, message, hint)
    })?;
    let staged = staged.map_err(|e| step_error(step, e.to_string(), None))?;
    if let Some(journal) = ctx.journal {
        let before = journal.before_path(step);
        journal.record(
            step,
            &key,
            journal_tee.as_deref(),
            before.exists().then_some(before.as_path()),
        )?;
    }
    Ok(staged)
}

/// The step's key columns as the target spells them.
fn key_columns(step: &StepConfig, output: &SchemaRef, columns: &[String]) -> Vec<String> {
    step.key
        .iter()
        .filter_map(|k| {
            output
                .index_of(k)
                .ok()
                .and_then(|i| columns.get(i).cloned())
        })
        .collect()
}

/// Before a step adds rows to a table that holds some, the journal keeps
/// the keys it held: a rollback must not delete them.
async fn snapshot_keys(
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
    journal: &Journal,
) -> Result<(), Error> {
    if !Journal::records_keys(step) || step.key.is_empty() {
        return Ok(());
    }
    let path = journal.before_path(step);
    if path.exists() {
        return Ok(());
    }
    let fail = |message: String| step_error(step, format!("rollback journal: {message}"), None);
    let Some(provider) = connection
        .clone()
        .table_provider(&step.target.table)
        .await
        .map_err(|e| fail(e.to_string()))?
    else {
        return Ok(());
    };
    let schema = provider.schema();
    let key: Vec<String> = step
        .key
        .iter()
        .filter_map(|k| {
            schema
                .fields()
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(k))
                .map(|f| quote(f.name()))
        })
        .collect();
    if key.len() != step.key.len() {
        return Ok(());
    }
    let ctx = SessionContext::new();
    ctx.register_table("barge_target", provider)
        .map_err(|e| fail(e.to_string()))?;
    let stream = ctx
        .sql(&format!("SELECT {} FROM barge_target", key.join(", ")))
        .await
        .map_err(|e| fail(describe_datafusion(&e)))?
        .execute_stream()
        .await
        .map_err(|e| fail(describe_datafusion(&e)))?;
    super::journal::write_keys(stream, &path)
        .await
        .map_err(|e| fail(e.to_string()))
}

/// The manifest entry of a step staged through `tee`.
fn staged_step(
    step: &StepConfig,
    select: &str,
    sent_to_sources: &[(String, String)],
    tee: &StepTee,
    loaded: bool,
) -> StagedStep {
    staged_entry(
        step,
        select,
        sent_to_sources,
        tee.result().filter(|_| loaded),
    )
}

/// The manifest entry of `step`, whose staged rows are `result` (`None`:
/// the step failed).
fn staged_entry(
    step: &StepConfig,
    select: &str,
    sent_to_sources: &[(String, String)],
    result: Option<TeeResult>,
) -> StagedStep {
    StagedStep {
        name: step.name.clone(),
        target: step.target.to_string(),
        table: step.target.table.name.clone(),
        table_schema: step.target.table.schema.clone(),
        mode: step.mode.to_string(),
        key: step.key.clone(),
        sql: select.to_string(),
        source_queries: sent_to_sources
            .iter()
            .map(|(connection, sql)| SourceQuery {
                connection: connection.clone(),
                sql: sql.clone(),
            })
            .collect(),
        schema: result
            .as_ref()
            .map(|r| StagedColumn::of(&r.schema))
            .unwrap_or_default(),
        rows: result.as_ref().map_or(0, |r| r.rows),
        checksum: result
            .as_ref()
            .map(|r| r.checksum.hex())
            .unwrap_or_default(),
        files: result.as_ref().map(|r| r.files.clone()).unwrap_or_default(),
        max_rejects: step.max_rejects,
        status: if result.is_some() {
            crate::stage::manifest::STAGED
        } else {
            "failed"
        }
        .to_string(),
    }
}

/// Nothing lost silently: every row read is in the target or set aside
/// as refused (read = written + rejected). `insert_ignore`
/// skips rows whose key exists (and an `upsert` of key columns only does
/// too), so for those only a surplus is an error.
fn check_counts(step: &StepConfig, progress: &StepProgress) -> Result<(), Error> {
    use crate::engines::WriteMode;
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
const SHADOW_SUFFIX: &str = "__barge_new";

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

/// The target column DataFusion's "Invalid batch column at 'N' has null
/// but schema specifies non-nullable" is about (N counts the target's columns).
fn null_into_not_null(message: &str, target: &SchemaRef) -> Option<String> {
    let rest = message.split("Invalid batch column at '").nth(1)?;
    if !rest.contains("has null but schema specifies non-nullable") {
        return None;
    }
    let index: usize = rest.split('\'').next()?.parse().ok()?;
    target.fields().get(index).map(|f| f.name().clone())
}

/// Names the columns whose output type differs from the target's, for a
/// value that did not fit its target column.
fn cast_hint(output: &SchemaRef, target: &SchemaRef, columns: &[String]) -> Option<String> {
    let differing: Vec<String> = output
        .fields()
        .iter()
        .zip(columns)
        .filter_map(|(f, c)| {
            let t = target.field_with_name(c).ok()?;
            (t.data_type() != f.data_type())
                .then(|| format!("{c} ({} -> {})", f.data_type(), t.data_type()))
        })
        .collect();
    (!differing.is_empty()).then(|| {
        format!(
            "a value does not fit its target column; columns converted on the way: {}. CAST or filter the value in the step's SQL, or widen the target column",
            differing.join(", ")
        )
    })
}

/// Output columns must be named, distinct, and contain the key.
fn check_output_columns(step: &StepConfig, output: &SchemaRef) -> Result<(), Error> {
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
pub(crate) fn target_columns(
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

fn running_style(known_length: bool) -> ProgressStyle {
    let template = if known_length {
        "{spinner} {prefix:<20} [{bar:30}] {human_pos}/{human_len} rows  {rate}  eta {eta}"
    } else {
        "{spinner} {prefix:<20} {human_pos} rows  {rate}  {elapsed}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:>10.0} rows/s", state.per_sec());
            },
        )
        .progress_chars("=> ")
}
