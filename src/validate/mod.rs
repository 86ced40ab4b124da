//! Validation: per step, the row count and order-independent content
//! checksum ([`checksum`]) of the source (the step's SQL re-run), the stage
//! (its files, read again, against its manifest, when the run was staged)
//! and the target table, compared; with `sample`, up to N differing rows by
//! key ([`sample`]).
//!
//! Source and target checksums are the aggregate `barge_checksum(...)`
//! ([`aggregate`]) over the step's query and over the target table: where
//! the rows come from one PostgreSQL, MySQL/MariaDB or DuckDB connection
//! whose types the engine can write canonically, the whole aggregate runs
//! in the engine and one row crosses the wire; otherwise the rows stream
//! through barge and are folded batch by batch. Nothing is held but the
//! checksum; a sample reads both sides again, keeping only the rows of the
//! few key buckets whose checksums differ.

pub mod report;
pub mod sample;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use indicatif::ProgressBar;

pub use self::report::{Side, SourceSnapshot, StepValidation, ValidationReport};
use crate::checksum::aggregate::{checksum_udaf, CHECKSUM_FUNCTION};
use crate::checksum::{Checksum, RowHasher};
use crate::config::{Pipeline, StepConfig};
use crate::error::{describe_datafusion, Error};
use crate::ident::quote;
use crate::records::manifest::{runs_of, Manifest, StagedStep};
use crate::records::rejects;
use crate::records::state::StateFile;
use crate::session::{output_schema, source_queries, step_datafusion_error, step_error, Session};
use crate::session::{step_context, step_select, target_columns};

/// Options of `barge validate`.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// The stage directory (`--stage`, else the pipeline's `[defaults].stage`).
    pub stage: Option<PathBuf>,
    /// The staged run to compare with; the pipeline's newest staged run when
    /// `None` and there is a stage directory.
    pub run: Option<String>,
    /// Differing rows to list per step.
    pub sample: usize,
    /// Only these steps.
    pub steps: Option<Vec<String>>,
    /// No spinner while steps are compared.
    pub quiet: bool,
}

/// Validates every (selected) step of `pipeline`.
pub async fn validate_pipeline(
    pipeline: &Pipeline,
    options: &ValidateOptions,
) -> Result<ValidationReport, Error> {
    let manifest = find_manifest(pipeline, options)?;
    let run_dir = manifest.as_ref().map(|(_, dir)| dir.clone());
    let manifest = manifest.map(|(m, _)| m);
    let steps: Vec<&StepConfig> = match &options.steps {
        None => pipeline.steps.iter().collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                pipeline.steps.iter().find(|s| &s.name == n).ok_or_else(|| {
                    Error::Usage(format!(
                        "--steps names unknown step '{n}'\n  hint: steps of {} are: {}",
                        pipeline.name,
                        pipeline
                            .steps
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let session = Session::open(pipeline).await?;
    // The source connections the steps read (an unknown one fails its step).
    let sources: BTreeSet<String> = steps
        .iter()
        .filter_map(|s| session.table_reads(s).ok())
        .flatten()
        .map(|(connection, _)| connection)
        .collect();
    // The run whose rejects count: the staged run compared with, else the
    // run that last loaded each step.
    let state = StateFile::read(&StateFile::path_for(pipeline))
        .ok()
        .flatten();
    let mut results = Vec::new();
    let total = steps.len();
    for (i, step) in steps.into_iter().enumerate() {
        // On a terminal only (indicatif draws nothing elsewhere).
        let spinner = if options.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner()
        };
        spinner.set_message(format!(
            "validating step {} ({} of {total}): {}",
            step.name,
            i + 1,
            step.target
        ));
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        let run = match &manifest {
            Some(m) => Some(m.run_id.as_str()),
            None => state
                .as_ref()
                .and_then(|s| s.steps.get(&step.name))
                .map(|s| s.run_id.as_str()),
        };
        let rejects_file =
            run.map(|run| rejects::file_of(&rejects::run_dir(pipeline, run), &step.name));
        let rejected = match &rejects_file {
            Some(path) => rejected_side(path).await,
            None => None,
        };
        let staged = match (&manifest, &run_dir) {
            (Some(m), Some(dir)) => Some(match m.step(&step.name) {
                Some(_) if !m.checksums_comparable() => Some(Side::missing(&format!(
                    "staged by an earlier barge (manifest format {}), whose checksums are computed differently; stage the run again to compare it",
                    m.format
                ))),
                Some(s) => Some(staged_side(dir, s).await),
                None => None,
            }),
            _ => None,
        };
        let mut result = validate_step(&session, step, staged, rejected, options.sample).await;
        if result.rejected.is_some() {
            result.rejects_file = rejects_file.map(|p| p.display().to_string());
        }
        results.push(result);
        spinner.finish_and_clear();
    }
    let mut snapshots = Vec::new();
    for name in &sources {
        if let Some(connection) = session.connection(name) {
            let snapshot = connection.snapshot_description().await;
            snapshots.push(SourceSnapshot::new(name, &snapshot));
        }
    }
    session.discard_created();
    Ok(ValidationReport {
        pipeline: pipeline.name.clone(),
        run_id: manifest.map(|m| m.run_id),
        steps: results,
        snapshots,
    })
}

/// The manifest of the run to compare with, if any.
fn find_manifest(
    pipeline: &Pipeline,
    options: &ValidateOptions,
) -> Result<Option<(Manifest, PathBuf)>, Error> {
    let dir = crate::records::stage_dir(options.stage.as_deref(), pipeline);
    match (&options.run, dir) {
        (Some(run), Some(dir)) => {
            let run_dir = dir.join(run);
            Manifest::read(&run_dir).map(|m| Some((m, run_dir)))
        }
        (Some(run), None) => Err(Error::Usage(format!(
            "--run {run}: pipeline {} has no stage directory\n  hint: pass --stage DIR (the directory given to `barge run --stage`), or set stage in [defaults]",
            pipeline.name
        ))),
        (None, Some(dir)) => Ok(runs_of(&dir, &pipeline.name)
            .into_iter()
            .next()
            .map(|(_, run_dir)| Manifest::read(&run_dir).map(|m| (m, run_dir)))
            .transpose()?),
        (None, None) => Ok(None),
    }
}

/// The stage's side of a step: `None` inside when the run did not stage it.
type StagedSide = Option<Option<Side>>;

/// The stage's side of a staged step: its files read again and summed, so a
/// staged file changed or damaged since the run shows, not only the
/// manifest's figures.
async fn staged_side(run_dir: &Path, step: &StagedStep) -> Side {
    if step.status == crate::records::manifest::INCOMPLETE {
        return Side::missing(
            "not every chunk of the step is staged (the run stopped, or an earlier run loaded chunks without --stage)",
        );
    }
    if step.status != crate::records::manifest::STAGED {
        return Side::missing(&format!("step {} in this run", step.status));
    }
    let files: Vec<PathBuf> = step.files.iter().map(|f| run_dir.join(f)).collect();
    match sum_files(files, 0).await {
        Ok(checksum) if checksum.rows == step.rows && checksum.hex() == step.checksum => {
            Side::of(checksum.rows, checksum.hex())
        }
        Ok(checksum) => Side::missing(&format!(
            "the staged files hold {} rows (checksum {}) where the manifest says {} rows (checksum {}): they changed after the run",
            checksum.rows,
            checksum.hex(),
            step.rows,
            step.checksum
        )),
        Err(e) => Side::missing(&format!("cannot read the staged files: {e}")),
    }
}

/// The rows a step's load set aside (its rejects file, when there is one):
/// the target holds the source's rows less these.
async fn rejected_side(path: &Path) -> Option<Side> {
    if !path.is_file() {
        return None;
    }
    // barge_error and barge_row, then the row's columns as sent.
    let mut side = match sum_files(vec![path.to_path_buf()], 2).await {
        Ok(checksum) => Side::of(checksum.rows, checksum.hex()),
        Err(e) => Side::missing(&format!("cannot read the rejects file: {e}")),
    };
    side.computed_in = Some("barge".into());
    Some(side)
}

/// [`checksum_files`] on a blocking thread.
async fn sum_files(files: Vec<PathBuf>, skip: usize) -> Result<Checksum, String> {
    tokio::task::spawn_blocking(move || checksum_files(&files, skip))
        .await
        .map_err(|e| e.to_string())?
}

/// The content checksum of Parquet files (their columns after the first
/// `skip`), summed as staging sums them.
fn checksum_files(files: &[PathBuf], skip: usize) -> Result<Checksum, String> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut sum = Checksum::default();
    let mut hasher = RowHasher::default();
    for path in files {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for batch in reader {
            let batch = batch.map_err(|e| format!("{}: {e}", path.display()))?;
            let columns: Vec<usize> =
                (skip.min(batch.num_columns())..batch.num_columns()).collect();
            hasher
                .add_batch(&mut sum, &batch, &columns, &[])
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(sum)
}

async fn validate_step(
    session: &Session,
    step: &StepConfig,
    staged: StagedSide,
    rejected: Option<Side>,
    sample: usize,
) -> StepValidation {
    let mut result = StepValidation::new(step);
    result.rejected = rejected;
    result.stage = match staged {
        None => None,
        Some(None) => Some(Side::missing("not staged in this run")),
        Some(Some(side)) => Some(side),
    };
    match compare(session, step, sample).await {
        Ok(compared) => {
            result.source = Some(Side::computed(&compared.source));
            result.target = Some(Side::computed(&compared.target));
            result.samples = compared.samples;
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    result.decide();
    result
}

/// The step's columns on both sides: the source query, the target query,
/// the key's positions, and each side's checksum query.
struct Sides {
    source_sql: String,
    target_sql: String,
    key: Vec<usize>,
    source_checksum_sql: String,
    target_checksum_sql: String,
}

async fn sides(session: &Session, step: &StepConfig) -> Result<Sides, Error> {
    let df_error = |e: datafusion::error::DataFusionError| step_datafusion_error(step, &e);
    let source_sql = step_select(step, None);
    let df = session.ctx.sql(&source_sql).await.map_err(df_error)?;
    let output: SchemaRef = output_schema(&df);
    let connection = session.connection(&step.target.connection).ok_or_else(|| {
        step_error(
            step,
            format!("no connection '{}'", step.target.connection),
            None,
        )
    })?;
    let target_schema = connection
        .table_schema(&step.target.table)
        .await?
        .ok_or_else(|| {
            step_error(
                step,
                format!("target table {} does not exist", step.target),
                Some("run the pipeline first".into()),
            )
        })?;
    let columns = target_columns(step, &output, &target_schema)?;
    let schema = step
        .target
        .table
        .schema
        .clone()
        .unwrap_or_else(|| connection.default_schema().to_string());
    let target_table = format!(
        "{}.{}.{}",
        quote(&step.target.connection),
        quote(&schema),
        quote(&step.target.table.name)
    );
    let list = |names: &mut dyn Iterator<Item = &String>| {
        names.map(|c| quote(c)).collect::<Vec<_>>().join(", ")
    };
    let target_list = list(&mut columns.iter());
    let target_sql = format!("SELECT {target_list} FROM {target_table}");
    let target_checksum_sql =
        format!("SELECT {CHECKSUM_FUNCTION}({target_list}) FROM {target_table}");
    let source_checksum_sql = format!(
        "SELECT {CHECKSUM_FUNCTION}({}) FROM ({source_sql}) AS barge_validated",
        list(&mut output.fields().iter().map(|f| f.name()))
    );
    let key = step
        .key
        .iter()
        .filter_map(|k| output.fields().iter().position(|f| f.name() == k))
        .collect();
    Ok(Sides {
        source_sql,
        target_sql,
        key,
        source_checksum_sql,
        target_checksum_sql,
    })
}

/// What comparing a step found.
struct Compared {
    source: Computed,
    target: Computed,
    samples: Vec<sample::RowDiff>,
}

/// A side's checksum and where it was computed.
pub struct Computed {
    pub checksum: Checksum,
    /// The connection that computed it, or `barge`.
    pub computed_in: String,
}

/// Checksums of source and target; rows that differ when they do and
/// `sample` asks for them.
async fn compare(session: &Session, step: &StepConfig, sample: usize) -> Result<Compared, Error> {
    let sides = sides(session, step).await?;
    let ctx = step_context(session, step);
    ctx.register_udaf(checksum_udaf());
    let (source, target) = futures::try_join!(
        side_checksum(&ctx, step, &sides.source_checksum_sql, &sides.source_sql),
        side_checksum(&ctx, step, &sides.target_checksum_sql, &sides.target_sql),
    )?;
    let mut samples = Vec::new();
    if sample > 0 && source.checksum != target.checksum {
        // Read both sides again, by key bucket, to find the rows.
        let (source, target) = futures::try_join!(
            fold(&ctx, step, &sides.source_sql, &sides.key),
            fold(&ctx, step, &sides.target_sql, &sides.key),
        )?;
        let buckets = source.differing_buckets(&target);
        let chosen: Vec<usize> = buckets.into_iter().take(sample).collect();
        let (source_rows, target_rows) = futures::try_join!(
            sample::collect(&ctx, step, &sides.source_sql, &sides.key, &chosen),
            sample::collect(&ctx, step, &sides.target_sql, &sides.key, &chosen),
        )?;
        samples = sample::differences(source_rows, target_rows, sample);
    }
    Ok(Compared {
        source,
        target,
        samples,
    })
}

/// The checksum of one side: `checksum_sql` (pushed into the engine where
/// it can be), else, should the engine refuse it (an older server without
/// a function it uses), the rows of `sql` summed in barge.
async fn side_checksum(
    ctx: &SessionContext,
    step: &StepConfig,
    checksum_sql: &str,
    sql: &str,
) -> Result<Computed, Error> {
    match aggregate_checksum(ctx, step, checksum_sql).await {
        Ok(computed) => Ok(computed),
        Err(e) => {
            tracing::warn!(step = %step.name, error = %e, "checksum in the engine failed; summing the rows in barge");
            let mut checksum = fold(ctx, step, sql, &[]).await?;
            checksum.buckets = None;
            Ok(Computed {
                checksum,
                computed_in: "barge".into(),
            })
        }
    }
}

/// Runs `sql`, a `barge_checksum(...)` query, and reads its one value;
/// says where it ran: in the source engine when the plan left no
/// aggregation to DataFusion.
async fn aggregate_checksum(
    ctx: &SessionContext,
    step: &StepConfig,
    sql: &str,
) -> Result<Computed, Error> {
    let df_error = running_error(step, sql);
    let df = ctx.sql(sql).await.map_err(df_error)?;
    let plan = df.clone().create_physical_plan().await.map_err(df_error)?;
    let computed_in = match source_queries(&plan).as_slice() {
        [(connection, _)] if !aggregates(&plan) => connection.clone(),
        _ => "barge".to_string(),
    };
    let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
        .await
        .map_err(df_error)?;
    let value = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| cast(b.column(0), &DataType::Utf8).ok())
        .and_then(|c| {
            let c = c.as_string::<i32>();
            (!c.is_null(0)).then(|| c.value(0).to_string())
        });
    let checksum = value
        .as_deref()
        .and_then(Checksum::parse_engine_result)
        .ok_or_else(|| {
            step_error(
                step,
                format!(
                    "the checksum query `{sql}` returned {value:?}, not `<rows>:<sum>` (computed in {computed_in})"
                ),
                None,
            )
        })?;
    Ok(Computed {
        checksum,
        computed_in,
    })
}

/// A DataFusion error of `step` while running `sql`, as barge reports it.
fn running_error<'a>(
    step: &'a StepConfig,
    sql: &'a str,
) -> impl Fn(datafusion::error::DataFusionError) -> Error + Copy + 'a {
    move |e| {
        step_error(
            step,
            format!("{} (while running `{sql}`)", describe_datafusion(&e)),
            None,
        )
    }
}

/// Whether DataFusion aggregates anything in `plan`.
fn aggregates(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.name() == "AggregateExec" || plan.children().into_iter().any(aggregates)
}

/// Runs `sql` and folds its rows into a checksum with key buckets.
async fn fold(
    ctx: &SessionContext,
    step: &StepConfig,
    sql: &str,
    key: &[usize],
) -> Result<Checksum, Error> {
    let mut stream = stream(ctx, step, sql).await?;
    let mut checksum = Checksum::with_buckets();
    let mut hasher = RowHasher::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| step_datafusion_error(step, &e))?;
        let columns: Vec<usize> = (0..batch.num_columns()).collect();
        hasher
            .add_batch(&mut checksum, &batch, &columns, key)
            .map_err(|e| {
                step_error(
                    step,
                    format!("cannot checksum the rows of `{sql}`: {e}"),
                    None,
                )
            })?;
    }
    Ok(checksum)
}

/// The rows of `sql`, streamed.
pub(crate) async fn stream(
    ctx: &SessionContext,
    step: &StepConfig,
    sql: &str,
) -> Result<SendableRecordBatchStream, Error> {
    let df_error = running_error(step, sql);
    ctx.sql(sql)
        .await
        .map_err(df_error)?
        .execute_stream()
        .await
        .map_err(df_error)
}
