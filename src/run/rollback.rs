//! `barge rollback`: deletes the rows a run inserted, as its journal
//! records them (see [`super::journal`]), going through the steps in
//! reverse commit order so children go before their parents.
//!
//! A step recorded by key has its keys to delete loaded into a key table
//! beside its table (created with the table's own column types, written by
//! the connection's writer), then one `DELETE ... WHERE EXISTS` matches
//! them, NULL parts included; the rows deleted are compared with the keys.

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use serde::Serialize;

use crate::config::Pipeline;
use crate::engines::dialect::Dialect;
use crate::engines::hooks::Unobserved;
use crate::engines::Connection;
use crate::error::{describe_datafusion, Error};
use crate::model::{EngineKind, TableName, TargetSpec, WriteMode};
use crate::records::journal::{self, JournalStep};
use crate::records::state::StateFile;
use crate::records::{now, write_atomically};

/// Name of the table a step's keys to delete are loaded into (the step's
/// index and the run id follow).
const KEY_TABLE: &str = "barge_rollback_keys";
/// What the key table's index adds to its name.
const INDEX_SUFFIX: &str = "_i";

/// What the rollback did to one step's table.
#[derive(Debug, Clone, Serialize)]
pub struct StepRollback {
    pub step: String,
    pub table: String,
    /// Rows deleted (with `dry_run`: keys or rows that would be).
    pub rows: u64,
    /// Rows the journal records the run inserted (the keys to delete), for
    /// steps rolled back by key.
    pub journalled: Option<u64>,
    /// Why nothing was deleted, what was left as it is, or why `rows`
    /// differs from `journalled`.
    pub note: Option<String>,
}

impl StepRollback {
    /// Whether the rows deleted differ from the rows journalled.
    pub fn count_differs(&self) -> bool {
        self.journalled.is_some_and(|keys| keys != self.rows)
    }
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
    for (index, step) in file.steps.iter().enumerate().rev() {
        let table = TableName::new(step.schema.as_deref(), &step.table);
        let mut outcome = StepRollback {
            step: step.step.clone(),
            table: format!("{}.{table}", step.connection),
            rows: 0,
            journalled: None,
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
            let keys = key_table(&table, run_id, index, connection.kind());
            let counts = delete_keys(connection, &table, &keys, step, &dir, dry_run)
                .await
                .map_err(fail)?;
            outcome.rows = counts.deleted;
            outcome.journalled = Some(counts.keys);
            let notes: Vec<String> = [
                count_note(counts.keys, counts.deleted),
                (step.mode == "upsert").then(|| {
                    "rows the run updated keep their new values (only inserts are undone)".into()
                }),
                counts.left_behind,
            ]
            .into_iter()
            .flatten()
            .collect();
            outcome.note = (!notes.is_empty()).then(|| notes.join("; "));
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

/// What deleting one step's keys did.
#[derive(Debug, Default, PartialEq)]
struct KeyCounts {
    /// Keys to delete: the distinct keys the step sent that its table did
    /// not hold before.
    keys: u64,
    /// Rows the `DELETE` deleted (with `dry_run`: `keys`).
    deleted: u64,
    /// A note when the key table could not be dropped.
    left_behind: Option<String>,
}

/// Why `deleted` rows for `keys` journalled keys is not the count expected.
fn count_note(keys: u64, deleted: u64) -> Option<String> {
    match deleted.cmp(&keys) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Less => Some(format!(
            "deleted {deleted} of the {keys} rows the run inserted: {} already gone or changed key",
            plural(keys - deleted, "was", "were")
        )),
        std::cmp::Ordering::Greater => Some(format!(
            "deleted {deleted} rows for the {keys} keys the run inserted: {} those keys too (the run's rows repeated a key, or rows were added since)",
            plural(deleted - keys, "more row had", "more rows had")
        )),
    }
}

/// `n` and the verb agreeing with it.
fn plural(n: u64, one: &str, more: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { more })
}

/// The table the keys of the step at `index` of run `run_id` are loaded
/// into, beside `table`: the same name each time the run is rolled back,
/// so the leftover of a killed rollback is dropped before it is made again.
fn key_table(table: &TableName, run_id: &str, index: usize, kind: EngineKind) -> TableName {
    let run: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("{KEY_TABLE}_{index}_{run}");
    // ASCII only: any byte is a char boundary.
    name.truncate(
        crate::engines::dialect(kind)
            .max_ident_len()
            .saturating_sub(INDEX_SUFFIX.len()),
    );
    TableName::new(table.schema.as_deref(), &name)
}

/// Deletes the keys the step sent that its table did not hold before: loads
/// them into the table `keys` (of the target's own column types, through
/// the connection's writer), deletes the rows of `table` matching one of
/// them, NULL parts included, and drops `keys`. With `dry_run` only counts
/// the keys.
async fn delete_keys(
    connection: &Arc<dyn Connection>,
    table: &TableName,
    keys: &TableName,
    step: &JournalStep,
    dir: &std::path::Path,
    dry_run: bool,
) -> Result<KeyCounts, String> {
    let Some(mut stream) = keys_to_delete(step, dir).await? else {
        return Ok(KeyCounts::default());
    };
    if dry_run {
        let mut count = 0;
        while let Some(batch) = stream.next().await {
            count += batch.map_err(|e| describe_datafusion(&e))?.num_rows() as u64;
        }
        return Ok(KeyCounts {
            keys: count,
            deleted: count,
            left_behind: None,
        });
    }
    let first = loop {
        match stream.next().await {
            Some(batch) => {
                let batch = batch.map_err(|e| describe_datafusion(&e))?;
                if batch.num_rows() > 0 {
                    break batch;
                }
            }
            None => return Ok(KeyCounts::default()),
        }
    };
    let columns: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| connection.sql_ident(f.name()))
        .collect();
    let keys_sql = connection.sql_table(keys);
    let drop = format!("DROP TABLE IF EXISTS {keys_sql}");
    execute(connection, &drop).await?;
    execute(
        connection,
        &format!(
            "CREATE TABLE {keys_sql} AS SELECT {} FROM {} WHERE 1 = 0",
            columns.join(", "),
            connection.sql_table(table)
        ),
    )
    .await?;
    let deleted = match load_and_delete(connection, table, keys, &columns, first, stream).await {
        Ok(counts) => counts,
        Err(e) => {
            // The next rollback drops what is left, should this fail too.
            let _ = connection.execute_statement(&drop).await;
            return Err(e);
        }
    };
    let left_behind = execute(connection, &drop)
        .await
        .err()
        .map(|e| format!("the key table {keys_sql} was left behind ({e}): drop it"));
    Ok(KeyCounts {
        left_behind,
        ..deleted
    })
}

/// The distinct keys the step sent less those its table held before,
/// `None` when the step sent none. Read in the types they were recorded in
/// (no string views), which are the target table's.
async fn keys_to_delete(
    step: &JournalStep,
    dir: &std::path::Path,
) -> Result<Option<SendableRecordBatchStream>, String> {
    if step.files.is_empty() {
        return Ok(None);
    }
    let mut config = SessionConfig::new();
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    let ctx = SessionContext::new_with_config(config);
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
    let stream = ctx
        .sql(&sql)
        .await
        .map_err(df_error)?
        .execute_stream()
        .await
        .map_err(df_error)?;
    Ok(Some(stream))
}

/// Loads `first` and the rest of `stream` into the created key table
/// `keys`, indexes it and deletes the rows of `table` matching a key.
async fn load_and_delete(
    connection: &Arc<dyn Connection>,
    table: &TableName,
    keys: &TableName,
    columns: &[String],
    first: RecordBatch,
    stream: SendableRecordBatchStream,
) -> Result<KeyCounts, String> {
    let (count, has_nulls) = load_keys(connection, keys, first, stream).await?;
    // Only speed: without it (a MySQL TEXT column takes no plain index) the
    // DELETE is as exact, and slower.
    let index = format!(
        "CREATE INDEX {} ON {} ({})",
        connection.sql_ident(&format!("{}{INDEX_SUFFIX}", keys.name)),
        connection.sql_table(keys),
        columns.join(", ")
    );
    if let Err(e) = connection.execute_statement(&index).await {
        tracing::warn!(table = %keys, error = %e, "the rollback's key table has no index");
    }
    let deleted = execute(
        connection,
        &delete_sql(
            crate::engines::dialect(connection.kind()),
            table,
            keys,
            columns,
            &has_nulls,
        ),
    )
    .await?;
    Ok(KeyCounts {
        keys: count,
        deleted,
        left_behind: None,
    })
}

/// `DELETE` of the rows of `table` whose key columns `columns` (quoted)
/// match a row of `keys`: null-safe for the columns where a key holds NULL,
/// plain `=` (which engines can hash and index) for the others, byte for
/// byte where the dialect says so.
fn delete_sql(
    dialect: &dyn Dialect,
    table: &TableName,
    keys: &TableName,
    columns: &[String],
    has_nulls: &[bool],
) -> String {
    let (target, key) = (
        dialect.quote_ident(&table.name),
        dialect.quote_ident(&keys.name),
    );
    let matches: Vec<String> = columns
        .iter()
        .zip(has_nulls)
        .map(|(column, &nulls)| {
            let (left, right) = (format!("{target}.{column}"), format!("{key}.{column}"));
            let equal = if nulls {
                dialect.null_safe_eq(&left, &right)
            } else {
                format!("{left} = {right}")
            };
            match dialect.exact_eq(&left, &right) {
                Some(exact) => format!("{equal} AND {exact}"),
                None => equal,
            }
        })
        .collect();
    format!(
        "DELETE FROM {} WHERE EXISTS (SELECT 1 FROM {} WHERE {})",
        dialect.quote_table(table),
        dialect.quote_table(keys),
        matches.join(" AND ")
    )
}

/// Writes `first` and the rest of `stream` into `keys` through the
/// connection's writer, on a blocking thread, in one transaction; returns
/// the rows written and, per column, whether one held NULL.
async fn load_keys(
    connection: &Arc<dyn Connection>,
    keys: &TableName,
    first: RecordBatch,
    mut stream: SendableRecordBatchStream,
) -> Result<(u64, Vec<bool>), String> {
    let target = TargetSpec::new(keys.clone(), WriteMode::Append, vec![]);
    // `None` ends the keys: a writer whose channel closes without it
    // drops its transaction.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<RecordBatch>>(4);
    let writer_connection = connection.clone();
    let schema = first.schema();
    let writer = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut writer = writer_connection
            .open_writer(&target, schema)
            .map_err(|e| e.to_string())?;
        while let Some(message) = rx.blocking_recv() {
            match message {
                Some(batch) => {
                    writer.write(&batch).map_err(|e| e.to_string())?;
                }
                None => {
                    return writer
                        .finish(&Unobserved)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            }
        }
        Err("reading the journal's keys failed; their load was rolled back".into())
    });
    let mut count = 0u64;
    let mut has_nulls = vec![false; first.num_columns()];
    let mut next = Some(Ok(first));
    let mut read_error = None;
    while let Some(batch) = next {
        match batch {
            Ok(batch) => {
                count += batch.num_rows() as u64;
                for (nulls, column) in has_nulls.iter_mut().zip(batch.columns()) {
                    *nulls |= column.null_count() > 0;
                }
                if tx.send(Some(batch)).await.is_err() {
                    break; // The writer failed: its error follows.
                }
            }
            Err(e) => {
                read_error = Some(describe_datafusion(&e));
                break;
            }
        }
        next = stream.next().await;
    }
    if read_error.is_none() {
        let _ = tx.send(None).await;
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| format!("the key table's writer stopped: {e}"))?;
    match read_error {
        Some(e) => Err(e),
        None => written.map(|()| (count, has_nulls)),
    }
}

/// Runs `sql` on `connection`, its error as text.
async fn execute(connection: &Arc<dyn Connection>, sql: &str) -> Result<u64, String> {
    connection
        .execute_statement(sql)
        .await
        .map_err(|e| e.to_string())
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

#[cfg(test)]
mod tests;
