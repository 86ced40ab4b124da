//! Validation: per step, the row count and order-independent content
//! checksum ([`checksum`]) of the source (the step's SQL re-run), the stage
//! (its manifest, when the run was staged) and the target table, compared;
//! with `sample`, up to N differing rows by key ([`sample`]).
//!
//! Every side is read as a stream and folded batch by batch: nothing is
//! held but the checksum (and, for a sample, the rows of the few key buckets
//! whose checksums differ).

pub mod checksum;
pub mod report;
pub mod sample;

use std::path::PathBuf;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use self::checksum::{Checksum, RowHasher};
pub use self::report::{Side, StepValidation, ValidationReport};
use crate::config::{Pipeline, StepConfig};
use crate::error::{describe_datafusion, Error};
use crate::run::executor::{quote, step_context, step_select, target_columns};
use crate::run::session::{output_schema, step_error, Session};
use crate::stage::manifest::{runs_of, Manifest};

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
}

/// Validates every (selected) step of `pipeline`.
pub async fn validate_pipeline(
    pipeline: &Pipeline,
    options: &ValidateOptions,
) -> Result<ValidationReport, Error> {
    let manifest = find_manifest(pipeline, options)?;
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
    let mut results = Vec::new();
    for step in steps {
        let staged = manifest.as_ref().map(|m| {
            m.step(&step.name)
                .map(|s| (s.status.clone(), s.rows, s.checksum.clone()))
        });
        results.push(validate_step(&session, step, staged, options.sample).await);
    }
    session.discard_created();
    Ok(ValidationReport {
        pipeline: pipeline.name.clone(),
        run_id: manifest.map(|m| m.run_id),
        steps: results,
    })
}

/// The manifest of the run to compare with, if any.
fn find_manifest(
    pipeline: &Pipeline,
    options: &ValidateOptions,
) -> Result<Option<Manifest>, Error> {
    let dir = crate::stage::stage_dir(options.stage.as_deref(), pipeline);
    match (&options.run, dir) {
        (Some(run), Some(dir)) => Manifest::read(&dir.join(run)).map(Some),
        (Some(run), None) => Err(Error::Usage(format!(
            "--run {run}: pipeline {} has no stage directory\n  hint: pass --stage DIR (the directory given to `barge run --stage`), or set stage in [defaults]",
            pipeline.name
        ))),
        (None, Some(dir)) => Ok(runs_of(&dir, &pipeline.name)
            .into_iter()
            .next()
            .map(|(_, run_dir)| Manifest::read(&run_dir))
            .transpose()?),
        (None, None) => Ok(None),
    }
}

/// What a step's manifest entry says: status, rows, checksum. `None` inside
/// when the run did not stage the step.
type StagedSide = Option<Option<(String, u64, String)>>;

async fn validate_step(
    session: &Session,
    step: &StepConfig,
    staged: StagedSide,
    sample: usize,
) -> StepValidation {
    let mut result = StepValidation::new(step);
    result.stage = match &staged {
        None => None,
        Some(None) => Some(Side::missing("not staged in this run")),
        Some(Some((status, _, _))) if status != "staged" => {
            Some(Side::missing(&format!("step {status} in this run")))
        }
        Some(Some((_, rows, checksum))) => Some(Side::of(*rows, checksum.clone())),
    };
    match compare(session, step, sample).await {
        Ok((source, target, samples)) => {
            result.source = Some(Side::of(source.rows, source.hex()));
            result.target = Some(Side::of(target.rows, target.hex()));
            result.samples = samples;
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    result.decide();
    result
}

/// The step's columns on both sides: the source query, the target query,
/// the key's positions.
struct Sides {
    source_sql: String,
    target_sql: String,
    key: Vec<usize>,
}

async fn sides(session: &Session, step: &StepConfig) -> Result<Sides, Error> {
    let df_error =
        |e: datafusion::error::DataFusionError| step_error(step, describe_datafusion(&e), None);
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
    let target_sql = format!(
        "SELECT {} FROM {}.{}.{}",
        columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", "),
        quote(&step.target.connection),
        quote(&schema),
        quote(&step.target.table.name)
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
    })
}

/// Checksums of source and target; rows that differ when they do and
/// `sample` asks for them.
async fn compare(
    session: &Session,
    step: &StepConfig,
    sample: usize,
) -> Result<(Checksum, Checksum, Vec<sample::RowDiff>), Error> {
    let sides = sides(session, step).await?;
    let ctx = step_context(session, step);
    let (source, target) = futures::try_join!(
        fold(&ctx, step, &sides.source_sql, &sides.key),
        fold(&ctx, step, &sides.target_sql, &sides.key),
    )?;
    let mut samples = Vec::new();
    if sample > 0 && (source.rows != target.rows || source.sum != target.sum) {
        let buckets = source.differing_buckets(&target);
        let chosen: Vec<usize> = buckets.into_iter().take(sample).collect();
        let (source_rows, target_rows) = futures::try_join!(
            sample::collect(&ctx, step, &sides.source_sql, &sides.key, &chosen),
            sample::collect(&ctx, step, &sides.target_sql, &sides.key, &chosen),
        )?;
        samples = sample::differences(source_rows, target_rows, sample);
    }
    Ok((source, target, samples))
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
        let batch = batch.map_err(|e| step_error(step, describe_datafusion(&e), None))?;
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
    let df_error = |e: datafusion::error::DataFusionError| {
        step_error(
            step,
            format!("{} (while running `{sql}`)", describe_datafusion(&e)),
            None,
        )
    };
    ctx.sql(sql)
        .await
        .map_err(df_error)?
        .execute_stream()
        .await
        .map_err(df_error)
}
