//! `barge rollback`: deletes exactly the rows a run inserted, as its
//! journal records them (see [`super::journal`]), going through the steps
//! in reverse commit order so children go before their parents.

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use serde::Serialize;

use crate::config::Pipeline;
use crate::engines::Connection;
use crate::error::{describe_datafusion, Error};
use crate::model::{EngineKind, TableName};
use crate::records::journal::{self, JournalStep};
use crate::records::state::StateFile;
use crate::records::{now, write_atomically};

/// Keys per `DELETE` statement.
const KEYS_PER_DELETE: usize = 500;

/// What the rollback did to one step's table.
#[derive(Debug, Clone, Serialize)]
pub struct StepRollback {
    pub step: String,
    pub table: String,
    /// Rows deleted (with `dry_run`: keys or rows that would be).
    pub rows: u64,
    /// Why nothing was deleted, or what was left as it is.
    pub note: Option<String>,
}

/// Deletes the rows run `run_id` of `pipeline` inserted; with `dry_run`
/// only counts them.
pub async fn rollback(
    pipeline: &Pipeline,
    run_id: &str,
    dry_run: bool,
) -> Result<Vec<StepRollback>, Error> {
    let (dir, mut file) = journal::read(pipeline, run_id)?;
    if let Some(at) = &file.rolled_back_at {
        return Err(Error::Usage(format!(
            "run '{run_id}' of {} was rolled back already, at {at}",
            pipeline.name
        )));
    }
    let session = crate::session::Session::open(pipeline).await?;
    let mut done = Vec::new();
    for step in file.steps.iter().rev() {
        let table = TableName::new(step.schema.as_deref(), &step.table);
        let mut outcome = StepRollback {
            step: step.step.clone(),
            table: format!("{}.{table}", step.connection),
            rows: 0,
            note: None,
        };
        if let Some(reason) = &step.unsupported {
            outcome.note = Some(format!("not rolled back: {reason}"));
            done.push(outcome);
            continue;
        }
        let connection = session.connection(&step.connection).ok_or_else(|| {
            Error::Usage(format!(
                "the journal names connection '{}', which {} no longer has",
                step.connection, pipeline.name
            ))
        })?;
        let fail = |message: String| Error::Step {
            step: step.step.clone(),
            message: format!("rollback of {}.{table}: {message}", step.connection),
            code: None,
        };
        if step.whole_table {
            outcome.note = Some(format!(
                "mode {}: every row of the table was the run's",
                step.mode
            ));
            outcome.rows = if dry_run {
                connection
                    .row_count(&table)
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .unwrap_or(0)
            } else {
                connection
                    .execute_statement(&format!("DELETE FROM {}", connection.sql_table(&table)))
                    .await
                    .map_err(|e| fail(e.to_string()))?
            };
        } else {
            outcome.rows = delete_keys(connection, &table, step, &dir, dry_run)
                .await
                .map_err(fail)?;
            if step.mode == "upsert" {
                outcome.note = Some(
                    "rows the run updated keep their new values (only inserts are undone)".into(),
                );
            }
        }
        done.push(outcome);
    }
    if !dry_run {
        file.rolled_back_at = Some(now());
        journal::save(&dir, &file)?;
        forget_run(pipeline, run_id)?;
    }
    Ok(done)
}

/// Deletes the keys the step sent that its table did not hold before.
async fn delete_keys(
    connection: &Arc<dyn Connection>,
    table: &TableName,
    step: &JournalStep,
    dir: &std::path::Path,
    dry_run: bool,
) -> Result<u64, String> {
    if step.files.is_empty() {
        return Ok(0);
    }
    let ctx = SessionContext::new();
    let df_error = |e: datafusion::error::DataFusionError| describe_datafusion(&e);
    let files: Vec<String> = step
        .files
        .iter()
        .map(|f| dir.join(f).to_string_lossy().into_owned())
        .collect();
    let sent = ctx
        .read_parquet(files, ParquetReadOptions::default())
        .await
        .map_err(df_error)?;
    ctx.register_table("sent", sent.into_view())
        .map_err(df_error)?;
    let mut sql = "SELECT DISTINCT * FROM sent".to_string();
    if let Some(before) = &step.before {
        ctx.register_parquet(
            "before",
            &dir.join(before).to_string_lossy(),
            ParquetReadOptions::default(),
        )
        .await
        .map_err(df_error)?;
        sql = format!("{sql} EXCEPT SELECT * FROM before");
    }
    let mut stream = ctx
        .sql(&sql)
        .await
        .map_err(df_error)?
        .execute_stream()
        .await
        .map_err(df_error)?;
    let columns: Vec<String> = step.key.iter().map(|k| connection.sql_ident(k)).collect();
    let mut deleted = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df_error)?;
        for start in (0..batch.num_rows()).step_by(KEYS_PER_DELETE) {
            let part = batch.slice(start, KEYS_PER_DELETE.min(batch.num_rows() - start));
            if dry_run {
                deleted += part.num_rows() as u64;
                continue;
            }
            let delete = format!(
                "DELETE FROM {} WHERE ({}) IN ({})",
                connection.sql_table(table),
                columns.join(", "),
                key_tuples(&part, connection.kind())?
            );
            deleted += connection
                .execute_statement(&delete)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(deleted)
}

/// The batch's rows as SQL tuples of literals: `(1, 'a'), (2, 'b')`.
fn key_tuples(batch: &RecordBatch, engine: EngineKind) -> Result<String, String> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let tuples: Vec<String> = (0..batch.num_rows())
        .map(|row| {
            let values: Vec<String> = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(column, format)| {
                    if column.is_null(row) {
                        "NULL".to_string()
                    } else if column.data_type().is_integer() {
                        format.value(row).to_string()
                    } else {
                        let mut text = format.value(row).to_string().replace('\'', "''");
                        if engine == EngineKind::MySql {
                            text = text.replace('\\', "\\\\");
                        }
                        format!("'{text}'")
                    }
                })
                .collect();
            format!("({})", values.join(", "))
        })
        .collect();
    Ok(tuples.join(", "))
}

/// A rolled-back run's steps are no longer done: a rerun loads them again.
fn forget_run(pipeline: &Pipeline, run_id: &str) -> Result<(), Error> {
    let path = StateFile::path_for(pipeline);
    let Some(mut state) = StateFile::read(&path)? else {
        return Ok(());
    };
    state.steps.retain(|_, s| s.run_id != run_id);
    state.complete = false;
    write_atomically(&path, &state)
}
