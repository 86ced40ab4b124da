//! How a load changes its target so that a failed, interrupted or killed
//! load changes nothing: [`LoadPlan`], made by [`plan_load`] for every SQL
//! engine from what the engine can do.
//!
//! | mode | target exists | transactional DDL (PostgreSQL, SQLite, DuckDB) | MySQL/MariaDB |
//! | --- | --- | --- | --- |
//! | append, insert_ignore, upsert | yes | rows in one transaction | same |
//! | truncate | yes | `DELETE` + rows in one transaction | same |
//! | replace | yes | shadow created, loaded, swapped in, all in one transaction | shadow created and loaded (one transaction), then swapped in by one `RENAME TABLE` |
//! | any (error_if_exists: only) | no | `CREATE` + rows in one transaction | shadow created and loaded, then renamed to the target |
//!
//! A chunked load (one transaction per chunk) goes through a shadow for
//! every mode but append, insert_ignore and upsert into an existing table,
//! swapped in once every chunk is in.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::hooks::Unobserved;
use super::Connection;
use crate::error::{EngineError, EngineResult};
use crate::model::{TableName, TargetSpec, WriteMode};

/// Name suffix of the shadow table a load fills before it is swapped in.
pub const SHADOW_SUFFIX: &str = "__barge_new";

/// The shadow of `table`: where a load that must not show half done goes.
pub fn shadow_of(table: &TableName) -> TableName {
    TableName::new(
        table.schema.as_deref(),
        &format!("{}{SHADOW_SUFFIX}", table.name),
    )
}

/// The statements of one load, in the four places they run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadPlan {
    /// Before the load's transaction (a shadow made where DDL commits on its own).
    pub before: Vec<String>,
    /// The table the rows go into: the target, or its shadow.
    pub table: Option<TableName>,
    /// In the load's transaction, before the rows.
    pub setup: Vec<String>,
    /// In the load's transaction, after the rows.
    pub finish: Vec<String>,
    /// After the commit (a shadow renamed where DDL commits on its own); a
    /// rerun that finds the load committed runs them while the shadow is there.
    pub after: Vec<String>,
    /// When the load fails: what `before` made goes.
    pub cleanup: Vec<String>,
    /// What a file target does, for reports.
    pub described: Vec<String>,
}

impl LoadPlan {
    /// Every statement, in order, for reports and dry runs.
    pub fn statements(&self) -> Vec<String> {
        [
            &self.before,
            &self.setup,
            &self.finish,
            &self.after,
            &self.described,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }

    /// The table the rows go into.
    pub fn table<'a>(&'a self, target: &'a TargetSpec) -> &'a TableName {
        self.table.as_ref().unwrap_or(&target.table)
    }

    /// `target` with this plan's table and in-transaction statements: what
    /// the writer is opened with.
    pub fn writer_target(&self, target: &TargetSpec) -> TargetSpec {
        TargetSpec {
            table: self.table(target).clone(),
            setup: self.setup.clone(),
            finish: self.finish.clone(),
            ..target.clone()
        }
    }

    /// Whether the rows go into a shadow swapped in after the load.
    pub fn shadowed(&self, target: &TargetSpec) -> bool {
        self.table(target) != &target.table
    }
}

/// Plans a load of `target` (its table resolved by the engine) for rows of
/// `schema`: see the module's table. `chunked` loads commit once per chunk,
/// so only a shadow keeps them invisible until the last.
pub async fn plan_load(
    connection: &dyn Connection,
    target: &TargetSpec,
    schema: &SchemaRef,
    chunked: bool,
) -> EngineResult<LoadPlan> {
    let exists = connection.table_schema(&target.table).await?.is_some();
    let transactional = connection.transactional_ddl() && !chunked;
    let mut plan = LoadPlan::default();
    match (target.mode, exists) {
        (WriteMode::ErrorIfExists, true) => {
            return Err(EngineError::TargetExists {
                connection: connection.name().to_string(),
                table: target.table.to_string(),
            })
        }
        (WriteMode::Append | WriteMode::InsertIgnore | WriteMode::Upsert, true) => {}
        (WriteMode::Truncate, true) if !chunked => plan.setup.push(format!(
            "DELETE FROM {}",
            connection.sql_table(&target.table)
        )),
        (_, false) if transactional => {
            plan.setup
                .push(connection.create_table_sql(&target.table, schema, &target.key)?);
        }
        _ => {
            let shadow = shadow_of(&target.table);
            let drop_shadow = format!("DROP TABLE IF EXISTS {}", connection.sql_table(&shadow));
            let (create, kept) = connection.shadow_sql(target, &shadow, schema).await?;
            let swap = connection
                .swap_sql(&shadow, &target.table, exists, kept)
                .await?;
            plan.before.push(drop_shadow.clone());
            if transactional {
                plan.setup = create;
                plan.finish = swap;
            } else {
                plan.before.extend(create);
                plan.after = swap;
                plan.cleanup.push(drop_shadow);
            }
            plan.table = Some(shadow);
        }
    }
    Ok(plan)
}

/// [`plan_load`], then the plan's `before` statements run unless `dry_run`:
/// what every SQL engine's `prepare_target` does once it has resolved the
/// target's table.
pub async fn prepare(
    connection: &dyn Connection,
    target: &TargetSpec,
    schema: &SchemaRef,
    dry_run: bool,
    chunked: bool,
) -> EngineResult<LoadPlan> {
    let plan = plan_load(connection, target, schema, chunked).await?;
    if !dry_run {
        for sql in &plan.before {
            connection.execute_statement(sql).await?;
        }
    }
    Ok(plan)
}

/// Loads `batches` (at least one, all of one schema) into `target` as one
/// load: planned, written through the connection's writer on a blocking
/// thread, committed, and swapped in. Returns the rows the target wrote.
/// For callers holding a few rows in memory (tests, key tables).
pub async fn load_batches(
    connection: &Arc<dyn Connection>,
    target: &TargetSpec,
    batches: Vec<RecordBatch>,
) -> EngineResult<u64> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(0);
    };
    let plan = connection
        .prepare_target(target, &schema, false, false)
        .await?;
    let writer_target = plan.writer_target(target);
    let writer_connection = connection.clone();
    let written = tokio::task::spawn_blocking(move || {
        let mut writer = writer_connection.open_writer(&writer_target, schema)?;
        for batch in &batches {
            writer.write(batch)?;
        }
        writer.finish(&Unobserved)
    })
    .await
    .map_err(|e| EngineError::query(connection.name(), None, None, e))?;
    match written {
        Ok(rows) => {
            if !plan.after.is_empty() {
                connection.execute_transaction(&plan.after).await?;
            }
            Ok(rows)
        }
        Err(e) => {
            for sql in &plan.cleanup {
                let _ = connection.execute_statement(sql).await;
            }
            Err(e)
        }
    }
}
