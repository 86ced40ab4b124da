//! The executor: every step is one DataFusion plan, `INSERT INTO target
//! SELECT ...`, streamed batch by batch into the target's writer. Steps run in
//! dependency levels; independent steps of a level run concurrently.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::datasource::empty::EmptyTable;
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::progress::StepProgress;
use super::rejects::{self, StepRejects};
use super::report::{RunReport, StepReport, StepStatus};
use super::retry;
use super::session::{
    output_schema, plain_source_scan, row_estimate, source_queries, step_error, Session,
};
use crate::config::{Pipeline, StepConfig};
use crate::engines::catalog::TargetTable;
use crate::engines::sql::ReadPartitioning;
use crate::engines::{TableName, TargetSpec, WriteMode};
use crate::error::{describe_datafusion, EngineError, Error};
use crate::plan::order::{add_edges_without_cycles, dependencies, levels};
use crate::stage::manifest::{SourceQuery, StagedColumn};
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
        }
    }
}

/// Runs `pipeline`. Returns the report; steps that failed are in it with
/// their errors (the caller decides the exit code).
pub async fn run_pipeline(pipeline: &Pipeline, options: &RunOptions) -> Result<RunReport, Error> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
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
        options,
        stage.as_ref(),
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
    options: &RunOptions,
    stage: Option<&Stage>,
    start: RunStart,
) -> Result<RunReport, Error> {
    let steps = &pipeline.steps;

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
    let rejects_dir = rejects::run_dir(pipeline, &start.run_id);

    let multi = if options.quiet {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    let mut reports: Vec<Option<StepReport>> = vec![None; steps.len()];
    for level in levels {
        let mut runnable = Vec::new();
        for i in level.into_iter().filter(|i| selected.contains(i)) {
            let blocked = deps[i].iter().find(|&&d| {
                reports[d]
                    .as_ref()
                    .is_some_and(|r| matches!(r.status, StepStatus::Failed | StepStatus::Skipped))
            });
            match blocked {
                Some(&d) => {
                    reports[i] = Some(skipped(&steps[i], &steps[d].name));
                }
                None => runnable.push(i),
            }
        }
        let results: Vec<(usize, StepReport)> = futures::stream::iter(runnable)
            .map(|i| {
                let (multi, rejects_dir) = (&multi, &rejects_dir);
                async move {
                    let report = run_step(session, &steps[i], options, stage, rejects_dir, multi);
                    (i, report.await)
                }
            })
            .buffer_unordered(options.jobs.max(1))
            .collect()
            .await;
        for (i, report) in results {
            reports[i] = Some(report);
        }
    }
    let _ = multi.clear();

    let finished_at = chrono::Utc::now();
    Ok(RunReport {
        pipeline: pipeline.name.clone(),
        run_id: start.run_id,
        started_at: start.started_at.to_rfc3339(),
        finished_at: finished_at.to_rfc3339(),
        seconds: start.clock.elapsed().as_secs_f64(),
        staged_in: stage.map(|s| s.run_dir().display().to_string()),
        dry_run: options.dry_run,
        steps: reports.into_iter().flatten().collect(),
        zero_dates_as_null: session
            .connections()
            .map(|c| (c.name().to_string(), c.zero_dates_read()))
            .filter(|(_, n)| *n > 0)
            .collect(),
    })
}

fn select_steps(pipeline: &Pipeline, names: Option<&[String]>) -> Result<Vec<usize>, Error> {
    let Some(names) = names else {
        return Ok((0..pipeline.steps.len()).collect());
    };
    let mut selected = Vec::new();
    for name in names {
        match pipeline.steps.iter().position(|s| &s.name == name) {
            Some(i) => selected.push(i),
            None => {
                let known: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "--steps names unknown step '{name}'\n  hint: steps of {} are: {}",
                    pipeline.name,
                    known.join(", ")
                )));
            }
        }
    }
    Ok(selected)
}

fn skipped(step: &StepConfig, because: &str) -> StepReport {
    StepReport {
        name: step.name.clone(),
        target: step.target.to_string(),
        mode: step.mode.to_string(),
        status: StepStatus::Skipped,
        rows_read: 0,
        rows_written: 0,
        rows_rejected: 0,
        rejects_file: None,
        seconds: 0.0,
        rows_per_second: 0.0,
        target_statements: vec![],
        error: Some(format!(
            "not run: step '{because}' it depends on did not complete"
        )),
    }
}

async fn run_step(
    session: &Session,
    step: &StepConfig,
    options: &RunOptions,
    stage: Option<&Stage>,
    rejects_dir: &std::path::Path,
    multi: &MultiProgress,
) -> StepReport {
    let bar = multi.add(ProgressBar::new_spinner());
    bar.set_style(running_style(false));
    bar.set_prefix(step.name.clone());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let progress = Arc::new(StepProgress::new(bar));
    let clock = Instant::now();
    let mut attempt = 0;
    let outcome = loop {
        let outcome = execute_step(session, step, options, stage, rejects_dir, &progress).await;
        match outcome {
            Err(e) if attempt < step.retry.retries && retry::is_transient(&e.to_string()) => {
                attempt += 1;
                let wait = retry::wait(&step.retry, attempt);
                // A failed attempt committed nothing: the load is one
                // transaction, or a temp file renamed at its end.
                multi.suspend(|| {
                    eprintln!(
                        "step '{}': {e}\n  a passing failure: retry {attempt} of {} in {:.1} s",
                        step.name,
                        step.retry.retries,
                        wait.as_secs_f64()
                    )
                });
                tokio::time::sleep(wait).await;
                progress.restart();
            }
            outcome => break outcome,
        }
    };
    let seconds = clock.elapsed().as_secs_f64();
    progress.bar().finish_and_clear();
    let succeeded = outcome.is_ok();
    let (status, rows_read, rows_written, statements, error) = match outcome {
        Ok(done) => (
            if options.dry_run {
                StepStatus::Planned
            } else {
                StepStatus::Succeeded
            },
            done.rows_read,
            done.rows_written,
            done.target_statements,
            None,
        ),
        Err(e) => (
            StepStatus::Failed,
            progress.read(),
            0,
            vec![],
            Some(e.to_string()),
        ),
    };
    StepReport {
        name: step.name.clone(),
        target: step.target.to_string(),
        mode: step.mode.to_string(),
        status,
        rows_read,
        rows_written,
        rows_rejected: if succeeded { progress.rejected() } else { 0 },
        rejects_file: (succeeded && progress.rejected() > 0).then(|| {
            rejects::file_of(rejects_dir, &step.name)
                .display()
                .to_string()
        }),
        seconds,
        rows_per_second: if seconds > 0.0 {
            rows_read as f64 / seconds
        } else {
            0.0
        },
        target_statements: statements,
        error,
    }
}

struct StepDone {
    rows_read: u64,
    rows_written: u64,
    target_statements: Vec<String>,
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

async fn execute_step(
    session: &Session,
    step: &StepConfig,
    options: &RunOptions,
    stage: Option<&Stage>,
    rejects_dir: &std::path::Path,
    progress: &Arc<StepProgress>,
) -> Result<StepDone, Error> {
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

    // `replace` of an existing table loads a shadow table and swaps it in
    // at the end, where the engine can: readers never see a half-loaded
    // table, and a failed load leaves the old one as it was.
    let swap = step.mode == WriteMode::Replace
        && !options.dry_run
        && connection.swaps_tables()
        && connection
            .table_schema(&step.target.table)
            .await
            .map_err(engine_error)?
            .is_some();
    let target = TargetSpec {
        table: if swap {
            TableName::new(
                step.target.table.schema.as_deref(),
                &format!("{}{SHADOW_SUFFIX}", step.target.table.name),
            )
        } else {
            step.target.table.clone()
        },
        mode: step.mode,
        key: step.key.clone(),
        disable_fk_checks: step.disable_fk_checks,
    };
    let mut statements = connection
        .prepare_target(&target, &output, options.dry_run)
        .await
        .map_err(engine_error)?;
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

    if options.dry_run {
        let count_sql = format!("SELECT count(*) AS n FROM ({select}) AS barge_dry_run");
        let batches = session
            .ctx
            .sql(&count_sql)
            .await
            .map_err(df_error)?
            .collect()
            .await
            .map_err(df_error)?;
        let rows = batches
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_primitive_opt::<Int64Type>()
                    .map(|a| a.value(0))
            })
            .unwrap_or(0) as u64;
        // Later steps that read this target plan against its future shape.
        if connection
            .table_schema(&target.table)
            .await
            .map_err(engine_error)?
            .is_none()
        {
            schema_provider.register_target(
                &target.table.name,
                Arc::new(EmptyTable::new(output.clone())),
            );
        }
        return Ok(StepDone {
            rows_read: rows,
            rows_written: 0,
            target_statements: statements,
        });
    }

    let target_schema = connection
        .table_schema(&target.table)
        .await
        .map_err(engine_error)?
        .unwrap_or_else(|| output.clone());
    let columns = target_columns(step, &output, &target_schema)?;
    let source = connection
        .clone()
        .table_provider(&target.table)
        .await
        .map_err(engine_error)?;
    let table_name = target.table.name.clone();
    let target_schema_for_hint = target_schema.clone();
    let tee = stage.map(|s| StepTee::new(s.run_dir(), &step_dir_name(&step.name), columns.clone()));
    let rejects = StepRejects::for_step(step, rejects_dir, columns.clone());
    let provider = TargetTable::new(
        connection.clone(),
        target.clone(),
        target_schema,
        source,
        progress.clone(),
    )
    .with_tee(tee.clone())
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
        if let Some(rows) = row_estimate(&plan) {
            let rows = options.limit.map_or(rows, |l| rows.min(l as u64));
            progress.bar().set_length(rows);
            progress.bar().set_style(running_style(true));
        }
        // Staging and rejects need the rows as Arrow batches: no pass-through then.
        if let Some(scan) = plain_source_scan(&plan).filter(|_| tee.is_none() && rejects.is_none())
        {
            let moved = connection
                .load_through(
                    scan.engine(),
                    scan.sql(),
                    &datafusion::physical_plan::ExecutionPlan::schema(scan),
                    &target,
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
    let staged = match (stage, &tee) {
        (Some(stage), Some(tee)) => {
            let entry = staged_step(step, &select, &sent_to_sources, tee, result.is_ok());
            if result.is_err() {
                tee.discard();
            }
            stage.record(entry).map(Some)
        }
        _ => Ok(None),
    };
    if let (Some(rejects), Err(_)) = (&rejects, &result) {
        rejects.discard();
    }
    if swap && result.is_err() {
        // The old table is untouched; the half-loaded shadow goes.
        let _ = connection.drop_shadow(&target.table).await;
    }
    result.map_err(|e| {
        let message = describe_datafusion(&e);
        let hint = message
            .contains("Cast error")
            .then(|| cast_hint(&output, &target_schema_for_hint, &columns))
            .flatten();
        step_error(step, message, hint)
    })?;
    staged.map_err(|e| step_error(step, e.to_string(), None))?;
    check_counts(step, progress)?;
    if swap {
        statements.extend(
            connection
                .swap_in(&target.table, &step.target.table)
                .await
                .map_err(engine_error)?,
        );
    }
    Ok(StepDone {
        rows_read: progress.read(),
        rows_written: progress.written(),
        target_statements: statements,
    })
}

/// The manifest entry of a step staged through `tee`.
fn staged_step(
    step: &StepConfig,
    select: &str,
    sent_to_sources: &[(String, String)],
    tee: &StepTee,
    loaded: bool,
) -> StagedStep {
    let result = tee.result().filter(|_| loaded);
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
        status: if result.is_some() { "staged" } else { "failed" }.to_string(),
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
