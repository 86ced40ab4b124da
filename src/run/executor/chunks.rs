//! Chunked steps (`chunk_rows`): the step's rows are split on the value
//! ranges of an integer column (`partition_on`, else the step's single
//! `key` column) and each range is loaded and committed on its own, then
//! checkpointed in the run's state file. Every chunk's commit writes its
//! commit record (`<load_id>-<index>`) in the target in its own
//! transaction, so a rerun continues after the last committed chunk, even
//! one the process died before checkpointing: nothing is loaded twice and
//! nothing is deleted. Unless they add to an existing table (`append`,
//! `insert_ignore`, `upsert`), the chunks fill a shadow table swapped in
//! once every chunk is in (see `engines::load`).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};

use super::load::{load, staged_entry, LoadRows};
use super::step::{commit_record, new_load_id, retrying, target_spec, StepDone};
use super::StepContext;
use crate::checksum::Checksum;
use crate::config::StepConfig;
use crate::engines::Connection;
use crate::error::Error;
use crate::ident::quote;
use crate::model::{EngineKind, TableName, TargetSpec, WriteMode};
use crate::records::state::{Chunk, ChunkPlan, StagedChunk};
use crate::run::failpoint;
use crate::run::progress::StepProgress;
use crate::session::{step_datafusion_error, step_engine_error, step_error};
use crate::stage::tee::TeeResult;
use crate::stage::Stage;

/// Loads `step` chunk by chunk. `None` when the step has no rows (it then
/// runs as an ordinary load, which creates its table).
pub(super) async fn run_chunked(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
    select: &str,
    output: &SchemaRef,
    chunk_rows: u64,
    progress: &Arc<StepProgress>,
) -> Result<Option<StepDone>, Error> {
    let fail = |message: String, hint: &str| step_error(step, message, Some(hint.to_string()));
    if matches!(connection.kind(), EngineKind::Parquet | EngineKind::Csv) {
        return Err(fail(
            format!(
                "chunk_rows needs a database target; {} is {}",
                step.target,
                connection.kind()
            ),
            "remove chunk_rows from the step (a file is written whole: a rerun rewrites it)",
        ));
    }
    if step.max_rejects > 0 {
        return Err(fail(
            "chunked steps do not set refused rows aside yet".into(),
            "set max_rejects = 0 on the step, or chunk_rows = 0 to load it in one transaction",
        ));
    }
    let column = chunk_column(step, output)?;
    let engine_error = |e: crate::error::EngineError| step_engine_error(step, &e);
    let spec = target_spec(step, step.target.table.clone());

    let mut statements = Vec::new();
    let resumed = ctx.state.and_then(|s| s.step(step)).and_then(|s| s.chunks);
    let resuming = resumed.is_some();
    let mut plan = match resumed {
        Some(plan) => plan,
        None => {
            let Some(bounds) = bounds(ctx, step, select, &column).await? else {
                return Ok(None);
            };
            // Chunks commit one by one: unless they add to an existing
            // table, they fill a shadow swapped in once all are in.
            let load = connection
                .prepare_target(&spec, output, false, true)
                .await
                .map_err(engine_error)?;
            statements = load.statements();
            let plan = ChunkPlan {
                column: column.clone(),
                load_table: load.table(&spec).name.clone(),
                rows: bounds.rows,
                chunks: split(&bounds, chunk_rows),
                load_id: new_load_id(),
            };
            if let Some(state) = ctx.state {
                state.update(step, |s| s.chunks = Some(plan.clone()))?;
            }
            plan
        }
    };
    let load_table = TableName::new(step.target.table.schema.as_deref(), &plan.load_table);
    let shadowed = load_table != step.target.table;
    // Done chunks whose rows no staged file holds (an earlier run that did
    // not stage loaded them).
    let unstaged = match ctx.stage {
        Some(stage) => stage_done_chunks(stage, step, select, &plan)?,
        None => 0,
    };

    // Chunks write into the prepared table, adding to it.
    let target = TargetSpec {
        mode: match step.mode {
            WriteMode::InsertIgnore | WriteMode::Upsert => step.mode,
            _ => WriteMode::Append,
        },
        ..target_spec(step, load_table.clone())
    };
    if plan.load_id.is_empty() {
        // A plan written before commit records: its chunks get them now.
        plan.load_id = new_load_id();
    }
    let base = plan.load_id.clone();
    let chunk_id = |index: usize| format!("{base}-{index}");
    let mut landed = 0;
    for index in 0..plan.chunks.len() {
        // A chunk an earlier run committed without living to checkpoint it
        // is in the target's commit records: it is not loaded again.
        if plan.chunks[index].done {
            continue;
        }
        if let Some(rows) = connection
            .committed_load(&chunk_id(index))
            .await
            .map_err(engine_error)?
        {
            plan.chunks[index].done = true;
            plan.chunks[index].rows = rows;
            landed += 1;
        }
    }
    if landed > 0 {
        if let Some(state) = ctx.state {
            state.update(step, |s| s.chunks = Some(plan.clone()))?;
        }
    }
    let earlier: u64 = plan.chunks.iter().filter(|c| c.done).map(|c| c.rows).sum();
    let earlier_chunks = plan.done();
    progress.bar().set_length(plan.rows.saturating_sub(earlier));
    progress
        .bar()
        .set_style(crate::run::progress::running_style(true));
    for index in 0..plan.chunks.len() {
        if plan.chunks[index].done {
            continue;
        }
        if ctx.interrupt.is_set() {
            return Err(Error::Interrupted(format!(
                "step '{}' interrupted after {} of {} chunks; the committed chunks stay, a rerun continues with the next",
                step.name,
                plan.done(),
                plan.chunks.len()
            )));
        }
        let chunk = plan.chunks[index].clone();
        let chunk_select = format!(
            "SELECT * FROM ({select}) AS barge_chunk WHERE {}",
            range_condition(&quote(&column), &chunk)
        );
        let record = commit_record(ctx, step, chunk_id(index));
        let before = progress.written();
        let mut attempts = 0;
        let staged = retrying(ctx, step, progress, || {
            attempts += 1;
            let again = attempts > 1;
            let (chunk_select, target, record) = (&chunk_select, &target, &record);
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
                        return Ok(None);
                    }
                }
                let rows = LoadRows {
                    select: chunk_select,
                    chunk: Some(index),
                };
                load(
                    ctx,
                    step,
                    connection,
                    rows,
                    output,
                    target,
                    Some(record),
                    progress,
                )
                .await
            }
        })
        .await?;
        failpoint::hit("chunk_committed");
        let rows = progress.written() - before;
        let staged = ctx.stage.zip(staged).map(|(stage, r)| StagedChunk {
            file: std::path::absolute(stage.run_dir())
                .unwrap_or_default()
                .join(r.files.first().cloned().unwrap_or_default()),
            rows: r.rows,
            checksum: r.checksum.hex(),
        });
        plan.chunks[index].done = true;
        plan.chunks[index].rows = rows;
        plan.chunks[index].staged = staged.clone();
        if let Some(state) = ctx.state {
            let load_id = plan.load_id.clone();
            state.update(step, |s| {
                if let Some(saved) = &mut s.chunks {
                    saved.load_id = load_id;
                    saved.chunks[index].done = true;
                    saved.chunks[index].rows = rows;
                    saved.chunks[index].staged = staged;
                }
            })?;
        }
        failpoint::hit("chunk_saved");
    }
    if let Some(stage) = ctx.stage {
        stage
            .complete(&step.name, unstaged)
            .map_err(|e| step_error(step, e.to_string(), None))?;
    }
    if shadowed {
        statements.extend(swap_in(ctx, step, connection, &spec, output, &plan).await?);
    }
    let rows: u64 = plan.chunks.iter().map(|c| c.rows).sum();
    Ok(Some(StepDone {
        rows_read: progress.read().max(rows),
        rows_written: progress.written().max(rows),
        target_statements: statements,
        note: resuming.then(|| {
            format!(
                "resumed: {earlier_chunks} of {} chunks ({earlier} rows) were committed by an earlier run",
                plan.chunks.len()
            )
        }),
    }))
}

/// Swaps the loaded shadow in for the target, recording the swap in the
/// same transaction where the engine's DDL is transactional. A rerun after
/// the swap landed (its record is there, or, where DDL commits on its own,
/// the shadow is gone) swaps nothing.
async fn swap_in(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
    spec: &TargetSpec,
    output: &SchemaRef,
    plan: &ChunkPlan,
) -> Result<Vec<String>, Error> {
    let engine_error = |e: crate::error::EngineError| step_engine_error(step, &e);
    let swap_id = format!("{}-swap", plan.load_id);
    let shadow = TableName::new(step.target.table.schema.as_deref(), &plan.load_table);
    let shadow_there = connection
        .table_schema(&shadow)
        .await
        .map_err(engine_error)?
        .is_some();
    if !shadow_there
        || connection
            .committed_load(&swap_id)
            .await
            .map_err(engine_error)?
            .is_some()
    {
        return Ok(vec![]);
    }
    let load = connection
        .prepare_target(spec, output, true, true)
        .await
        .map_err(engine_error)?;
    let mut swap = load.after;
    let rows: u64 = plan.chunks.iter().map(|c| c.rows).sum();
    swap.extend(connection.commit_record_sql(&commit_record(ctx, step, swap_id), rows));
    connection
        .execute_transaction(&swap)
        .await
        .map_err(engine_error)?;
    Ok(swap)
}

/// The integer column the step's chunks split on.
fn chunk_column(step: &StepConfig, output: &SchemaRef) -> Result<String, Error> {
    let column = match (&step.partition_on, step.key.as_slice()) {
        (Some(column), _) => column.clone(),
        (None, [key]) => key.clone(),
        _ => {
            return Err(step_error(
                step,
                "chunk_rows needs one integer column to split the rows on".to_string(),
                Some("set partition_on = \"id\" on the step, or a single-column key".into()),
            ))
        }
    };
    match output.field_with_name(&column) {
        Ok(field) if field.data_type().is_integer() && field.data_type() != &DataType::UInt64 => {
            Ok(column)
        }
        Ok(field) => Err(step_error(
            step,
            format!(
                "chunk column '{column}' is {}, not an integer",
                field.data_type()
            ),
            Some("split on an integer column with partition_on, or remove chunk_rows".into()),
        )),
        Err(_) => Err(step_error(
            step,
            format!("chunk column '{column}' is not in the step's output"),
            Some("select the column, or name another with partition_on".into()),
        )),
    }
}

/// What the chunks of a step cover.
struct Bounds {
    min: i64,
    max: i64,
    /// Rows whose chunk column is not NULL.
    values: u64,
    rows: u64,
}

/// Smallest and largest chunk value and the row counts of `select` (one
/// aggregate query, pushed to the source where it can be). `None` when
/// there are no rows.
async fn bounds(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    select: &str,
    column: &str,
) -> Result<Option<Bounds>, Error> {
    let c = quote(column);
    let sql = format!(
        "SELECT CAST(min({c}) AS BIGINT), CAST(max({c}) AS BIGINT), count({c}), count(*) FROM ({select}) AS barge_bounds"
    );
    let df_error = |e: datafusion::error::DataFusionError| step_datafusion_error(step, &e);
    let batches = ctx
        .session
        .ctx
        .sql(&sql)
        .await
        .map_err(df_error)?
        .collect()
        .await
        .map_err(df_error)?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let int = |i: usize| batch.column(i).as_primitive_opt::<Int64Type>().cloned();
    let (Some(min), Some(max), Some(values), Some(rows)) = (int(0), int(1), int(2), int(3)) else {
        return Err(step_error(
            step,
            format!("cannot read the bounds of chunk column '{column}'"),
            None,
        ));
    };
    let rows = rows.value(0) as u64;
    if rows == 0 {
        return Ok(None);
    }
    let (min, max) = if min.is_null(0) {
        (0, -1)
    } else {
        (min.value(0), max.value(0))
    };
    Ok(Some(Bounds {
        min,
        max,
        values: values.value(0) as u64,
        rows,
    }))
}

/// Lists the chunks of `plan` done by earlier runs in this run's manifest
/// (their staged files stay where those runs put them); returns how many of
/// them no staged file holds (loaded by a run that did not stage, or their
/// file is gone).
fn stage_done_chunks(
    stage: &Stage,
    step: &StepConfig,
    select: &str,
    plan: &ChunkPlan,
) -> Result<usize, Error> {
    let done: Vec<&Chunk> = plan.chunks.iter().filter(|c| c.done).collect();
    let staged: Vec<&StagedChunk> = done
        .iter()
        .filter_map(|c| c.staged.as_ref())
        .filter(|s| s.file.is_file())
        .collect();
    let unstaged = done.len() - staged.len();
    let Some(first) = staged.first() else {
        return Ok(unstaged);
    };
    let fail = |message: String| step_error(step, message, None);
    let schema = {
        use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let file = std::fs::File::open(&first.file).map_err(|e| {
            fail(format!(
                "cannot open {}, staged by an earlier run: {e}",
                first.file.display()
            ))
        })?;
        ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| fail(format!("cannot read {}: {e}", first.file.display())))?
            .schema()
            .clone()
    };
    let mut checksum = Checksum::default();
    for chunk in &staged {
        checksum.merge(chunk.rows, Checksum::sum_of_hex(&chunk.checksum));
    }
    let here = std::path::absolute(stage.run_dir()).unwrap_or_default();
    let files = staged.iter().map(|c| relative_to(&c.file, &here)).collect();
    let earlier = TeeResult {
        rows: checksum.rows,
        checksum,
        files,
        schema,
    };
    stage
        .record_chunk(staged_entry(step, select, &[], Some(earlier)))
        .map_err(|e| fail(e.to_string()))?;
    Ok(unstaged)
}

/// `file` relative to the run directory `run_dir` when both are in the same
/// stage directory (`../<run_id>/...`), else as it is.
fn relative_to(file: &Path, run_dir: &Path) -> std::path::PathBuf {
    match run_dir
        .parent()
        .and_then(|stage_dir| file.strip_prefix(stage_dir).ok())
    {
        Some(inside) => Path::new("..").join(inside),
        None => file.to_path_buf(),
    }
}

/// Even value ranges holding about `chunk_rows` rows each (exactly so for
/// dense keys), plus a chunk of the NULLs when there are any.
fn split(bounds: &Bounds, chunk_rows: u64) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    if bounds.values > 0 {
        let count = bounds.values.div_ceil(chunk_rows.max(1)).max(1) as i128;
        let span = bounds.max as i128 - bounds.min as i128 + 1;
        let width = (span + count - 1) / count;
        let mut lo = bounds.min as i128;
        while lo <= bounds.max as i128 {
            let hi = (lo + width - 1).min(bounds.max as i128);
            chunks.push(Chunk {
                lo: lo as i64,
                hi: hi as i64,
                nulls: false,
                done: false,
                rows: 0,
                staged: None,
            });
            lo = hi + 1;
        }
    }
    if bounds.rows > bounds.values {
        chunks.push(Chunk {
            lo: 0,
            hi: 0,
            nulls: true,
            done: false,
            rows: 0,
            staged: None,
        });
    }
    chunks
}

/// The SQL condition selecting `chunk`'s rows by the quoted `column`.
fn range_condition(column: &str, chunk: &Chunk) -> String {
    if chunk.nulls {
        format!("{column} IS NULL")
    } else {
        format!("{column} >= {} AND {column} <= {}", chunk.lo, chunk.hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_keys_split_into_even_chunks_covering_every_value() {
        let bounds = Bounds {
            min: 1,
            max: 10,
            values: 10,
            rows: 12,
        };
        let chunks = split(&bounds, 4);
        let ranges: Vec<(i64, i64, bool)> = chunks.iter().map(|c| (c.lo, c.hi, c.nulls)).collect();
        assert_eq!(
            ranges,
            vec![(1, 4, false), (5, 8, false), (9, 10, false), (0, 0, true)]
        );
    }

    #[test]
    fn extreme_keys_do_not_overflow() {
        let bounds = Bounds {
            min: i64::MIN,
            max: i64::MAX,
            values: 3,
            rows: 3,
        };
        let chunks = split(&bounds, 1);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].lo, i64::MIN);
        assert_eq!(chunks[2].hi, i64::MAX);
        assert!(chunks.windows(2).all(|w| w[0].hi + 1 == w[1].lo));
    }

    #[test]
    fn conditions_select_a_range_or_the_nulls() {
        let mut chunk = Chunk {
            lo: -5,
            hi: 7,
            nulls: false,
            done: false,
            rows: 0,
            staged: None,
        };
        assert_eq!(
            range_condition("\"id\"", &chunk),
            "\"id\" >= -5 AND \"id\" <= 7"
        );
        chunk.nulls = true;
        assert_eq!(range_condition("`id`", &chunk), "`id` IS NULL");
    }
}
