//! A load: the rows of a step (or of one of its chunks) streamed into the
//! prepared target through the engine's sink, staged and journalled beside
//! it, committed as one transaction (or one renamed file).

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;

use super::hints::{cast_hint, memory_hint, null_into_not_null};
use super::StepContext;
use crate::config::StepConfig;
use crate::engines::catalog::TargetTable;
use crate::engines::hooks::{BatchTee, LoadHooks, LoadObserver, RejectPolicy};
use crate::engines::Connection;
use crate::error::{
    code_of_datafusion, describe_datafusion, EngineError, EngineResult, Error, LoadError,
};
use crate::ident::quote;
use crate::model::{CommitRecord, TargetSpec, WriteMode};
use crate::records::manifest::{SourceQuery, StagedColumn, StagedStep};
use crate::records::step_dir_name;
use crate::run::failpoint;
use crate::run::journal::Journal;
use crate::run::progress::{running_style, StepProgress};
use crate::run::rejects::StepRejects;
use crate::session::{
    plain_source_scan, row_estimate, source_queries, step_context, step_engine_error, step_error,
    target_columns,
};
use crate::stage::tee::TeeResult;
use crate::stage::StepTee;

/// What a load reads: the step's SELECT, or one chunk of it.
#[derive(Clone, Copy)]
pub(super) struct LoadRows<'a> {
    pub(super) select: &'a str,
    /// The chunk's index (its staged file is `part-<index>.parquet`), or
    /// `None` for a step loaded at once.
    pub(super) chunk: Option<usize>,
}

/// The observer of one load: its counts go to the step's progress; before
/// its commit, its own count check (rows read = written + refused;
/// `insert_ignore` and `upsert` may write fewer) and its commit record.
#[derive(Debug)]
struct LoadCheck {
    progress: Arc<StepProgress>,
    /// The progress counts when the load started (read, written, rejected).
    mark: (u64, u64, u64),
    target: String,
    mode: WriteMode,
    record: Option<(Arc<dyn Connection>, CommitRecord)>,
}

impl LoadObserver for LoadCheck {
    fn rows_read(&self, rows: u64) {
        self.progress.add_read(rows);
    }

    fn rows_written(&self, rows: u64) {
        self.progress.add_written(rows);
    }

    fn rows_rejected(&self, rows: u64) {
        self.progress.add_rejected(rows);
    }

    fn before_commit(&self, written: u64) -> EngineResult<Vec<String>> {
        failpoint::before_commit()?;
        let read = self.progress.read() - self.mark.0;
        let rejected = self.progress.rejected() - self.mark.2;
        let lost = match self.mode {
            WriteMode::InsertIgnore | WriteMode::Upsert => written + rejected > read,
            _ => written + rejected != read,
        };
        if lost {
            return Err(EngineError::driver(LoadError::CountMismatch {
                target: self.target.clone(),
                read,
                written,
                rejected,
            }));
        }
        Ok(self
            .record
            .as_ref()
            .and_then(|(connection, record)| connection.commit_record_sql(record, written))
            .into_iter()
            .collect())
    }

    fn after_commit(&self) -> EngineResult<()> {
        failpoint::after_commit()
    }
}

/// Streams the rows of `rows` into `target` (the table and statements of
/// its load plan) and commits them (one transaction, or a temp file renamed
/// at the end), with `record` as its commit record. Stages them too when the
/// run is staged, and returns what was staged. Counts go to `progress`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn load(
    ctx: &StepContext<'_>,
    step: &StepConfig,
    connection: &Arc<dyn Connection>,
    rows: LoadRows<'_>,
    output: &SchemaRef,
    target: &TargetSpec,
    record: Option<&CommitRecord>,
    progress: &Arc<StepProgress>,
) -> Result<Option<TeeResult>, Error> {
    let (session, stage, options) = (ctx.session, ctx.stage, ctx.options);
    let select = rows.select;
    let engine_error = |e: EngineError| step_engine_error(step, &e);
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
    // The table's own columns; a table the load creates (or a shadow made
    // from the target's definition) has the step's output columns, or the
    // target's.
    let target_schema = match connection
        .table_schema(&target.table)
        .await
        .map_err(engine_error)?
    {
        Some(schema) => schema,
        None if target.table.name != step.target.table.name => connection
            .table_schema(&step.target.table)
            .await
            .map_err(engine_error)?
            .filter(|existing| {
                output
                    .fields()
                    .iter()
                    .all(|f| existing.field_with_name(f.name()).is_ok())
            })
            .unwrap_or_else(|| output.clone()),
        None => output.clone(),
    };
    let columns = target_columns(step, output, &target_schema)?;
    // The load writes the step's columns only: the target fills the others
    // (defaults, identities, generated columns), as an INSERT naming its
    // columns does.
    let target_schema = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
        target_schema
            .fields()
            .iter()
            .filter(|f| columns.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
        target_schema.metadata().clone(),
    ));
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
    let hooks = LoadHooks {
        observer: Arc::new(LoadCheck {
            progress: progress.clone(),
            mark: progress.mark(),
            target: step.target.to_string(),
            mode: step.mode,
            record: record.map(|r| (connection.clone(), r.clone())),
        }),
        tees: tee
            .iter()
            .chain(&journal_tee)
            .map(|t| t.clone() as Arc<dyn BatchTee>)
            .collect(),
        rejects: rejects.clone().map(|r| r as Arc<dyn RejectPolicy>),
    };
    let through_hooks = hooks.clone();
    let sink_schema = target_schema.clone();
    let provider = TargetTable::new(
        connection.clone(),
        target.clone(),
        target_schema,
        source,
        hooks,
    );
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
        // Rejects need the rows as Arrow batches: no pass-through then.
        // Staging and the journal get theirs from it.
        if let Some(scan) = plain_source_scan(&plan).filter(|_| rejects.is_none()) {
            let moved = connection
                .load_through(
                    scan.engine(),
                    scan.sql(),
                    &datafusion::physical_plan::ExecutionPlan::schema(scan),
                    target,
                    &columns,
                    &through_hooks,
                    &sink_schema,
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
        let code = code_of_datafusion(&e);
        if let Some(column) = null_into_not_null(&message, &target_schema_for_hint) {
            return step_error(
                step,
                format!("a NULL in column '{column}', which {} declares NOT NULL", step.target),
                Some(format!(
                    "filter or COALESCE the NULLs of '{column}' in the step's SQL, or set max_rejects to set such rows aside"
                )),
            )
            .with_code(code);
        }
        let hint = message
            .contains("Cast error")
            .then(|| cast_hint(output, &target_schema_for_hint, &columns))
            .flatten()
            .or_else(|| memory_hint(&e));
        step_error(step, message, hint).with_code(code)
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
pub(super) fn key_columns(
    step: &StepConfig,
    output: &SchemaRef,
    columns: &[String],
) -> Vec<String> {
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
pub(super) async fn snapshot_keys(
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
    crate::run::journal::write_keys(stream, &path)
        .await
        .map_err(|e| fail(e.to_string()))
}

/// The manifest entry of a step staged through `tee`.
pub(super) fn staged_step(
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
pub(super) fn staged_entry(
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
            crate::records::manifest::STAGED
        } else {
            "failed"
        }
        .to_string(),
    }
}
