//! A pipeline's DataFusion session: its connections opened and registered as
//! catalogs, its mappings and functions registered; and the step helpers
//! that plan, validate, subset and run share ([`step`]: a step's SELECT, the
//! context it plans in, its output schema, the SQL it sends to sources, its
//! row estimate, its errors).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::common::TableReference;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use secrecy::ExposeSecret;

use crate::config::{Mapping, MappingValue, Pipeline, StepConfig, TargetRef};
use crate::engines::catalog::{register_connection, ConnectionCatalog, ConnectionSchema};
use crate::engines::sql::PushDownSourceQueries;
use crate::engines::{self, Connection, OpenOptions};
use crate::error::{describe_datafusion, EngineError, Error};

mod snapshot;
pub mod step;

pub use step::{
    check_output_columns, count_rows, output_schema, plain_source_scan, row_estimate,
    source_queries, step_context, step_datafusion_error, step_engine_error, step_error,
    step_select, target_columns,
};

/// A table a step's SQL reads: `(connection, table)` as written.
pub type TableRead = (String, String);

/// Rows per batch read from sources and handed to writers.
pub const BATCH_SIZE: usize = 8192;

/// A pipeline's open connections inside one DataFusion session.
pub struct Session {
    pub ctx: SessionContext,
    connections: BTreeMap<String, (Arc<dyn Connection>, ConnectionCatalog)>,
    /// Files and directories that opening the targets created, removed by
    /// [`Session::discard_created`] after a plan or a dry run.
    created: Vec<std::path::PathBuf>,
}

impl Session {
    /// Opens every connection of `pipeline` (targets of steps are created
    /// when missing) and registers them, the mappings and the functions, in
    /// a session bounded by the pipeline's `memory_limit`; for steps run one
    /// at a time (see [`Session::open_for_jobs`]).
    pub async fn open(pipeline: &Pipeline) -> Result<Self, Error> {
        Self::open_for_jobs(pipeline, 1).await
    }

    /// [`Session::open`] for a run of up to `jobs` steps at once. The reads
    /// of a connection share one snapshot when its `snapshot` setting says
    /// so and no step writes to it, nor to a connection of the same URL (a
    /// step must see what earlier steps wrote); see [`snapshot`].
    pub async fn open_for_jobs(pipeline: &Pipeline, jobs: usize) -> Result<Self, Error> {
        let mut config = SessionConfig::new()
            .with_batch_size(BATCH_SIZE)
            .with_information_schema(true);
        // Names are matched as written, so `SELECT CustomerId FROM src.Customer` works.
        config.options_mut().sql_parser.enable_ident_normalization = false;
        // Parquet min/max statistics leave NaN out; a plan that trusts them can
        // take a column holding 1.0 and NaN for the constant 1.0. barge moves
        // data exactly, so it reads the values instead.
        config.options_mut().execution.collect_statistics = false;
        let ctx = bounded_context(config, pipeline.memory_limit)?;
        // Joins and aggregates over one connection run in its engine.
        ctx.add_optimizer_rule(Arc::new(PushDownSourceQueries));

        let mappings = pipeline
            .mappings
            .iter()
            .map(|(name, m)| mapping_table(name, m))
            .collect::<Result<Vec<_>, Error>>()?;
        barge_udfs::register_all(
            &ctx,
            barge_udfs::Options {
                mappings,
                salt: pipeline
                    .salt
                    .as_ref()
                    .map(|s| s.expose_secret().to_string()),
            },
        );

        let targets: BTreeSet<&str> = pipeline
            .steps
            .iter()
            .map(|s| s.target.connection.as_str())
            .collect();
        let snapshots = snapshot::modes(pipeline, &ctx, jobs);
        let mut connections = BTreeMap::new();
        let mut created = Vec::new();
        for c in &pipeline.connections {
            let options = OpenOptions {
                read_only: c.read_only,
                create: targets.contains(c.name.as_str()),
                snapshot: snapshots.get(&c.name).copied().unwrap_or_default(),
            };
            if options.create {
                if let Some(path) = engines::local_path(c.url.expose_secret()) {
                    created.extend(topmost_missing(&path));
                }
            }
            let connection = engines::open(&c.name, c.url.expose_secret(), &options).await?;
            let catalog = register_connection(&ctx, connection.clone()).await?;
            connections.insert(c.name.clone(), (connection, catalog));
        }
        Ok(Self {
            ctx,
            connections,
            created,
        })
    }

    /// Removes the target files and directories this session's opening
    /// created, so `plan` and `--dry-run` leave nothing behind.
    pub fn discard_created(&self) {
        for path in &self.created {
            if path.is_dir() {
                let _ = std::fs::remove_dir_all(path);
            } else {
                let _ = std::fs::remove_file(path);
                // Side files: DuckDB's `.wal`, SQLite's `-wal`, `-shm`, `-journal`.
                for suffix in [".wal", "-wal", "-shm", "-journal"] {
                    let mut side = path.clone().into_os_string();
                    side.push(suffix);
                    let _ = std::fs::remove_file(side);
                }
            }
        }
    }

    /// Takes the shared snapshot of every connection whose reads share one
    /// (see `Connection::take_snapshot`): a run does so before its first load.
    pub async fn take_snapshots(&self) -> Result<(), Error> {
        for connection in self.connections() {
            connection.take_snapshot().await?;
        }
        Ok(())
    }

    /// Every connection of the pipeline.
    pub fn connections(&self) -> impl Iterator<Item = &Arc<dyn Connection>> {
        self.connections.values().map(|(c, _)| c)
    }

    /// The connection named `name`.
    pub fn connection(&self, name: &str) -> Option<&Arc<dyn Connection>> {
        self.connections.get(name).map(|(c, _)| c)
    }

    /// The schema provider a target table lives in.
    pub fn target_schema(&self, target: &TargetRef) -> Option<Arc<ConnectionSchema>> {
        self.connections
            .get(&target.connection)
            .and_then(|(_, cat)| cat.schema_provider(target.table.schema.as_deref()))
    }

    /// The `(connection, table)` pairs a step's SQL reads, checked against the
    /// pipeline's connections.
    pub fn table_reads(&self, step: &StepConfig) -> Result<Vec<TableRead>, Error> {
        let mut reads = Vec::new();
        for reference in table_references(&self.ctx, step)? {
            let Some((conn, table)) = table_read(&reference) else {
                let table = reference.table();
                return Err(step_error(
                    step,
                    format!("table '{table}' has no connection"),
                    Some(format!(
                        "write it as CONNECTION.{table}, with one of: {}",
                        self.names()
                    )),
                ));
            };
            if !self.connections.contains_key(&conn) {
                return Err(step_error(
                    step,
                    format!("'{reference}' names unknown connection '{conn}'"),
                    Some(format!(
                        "define [connections.{conn}], or use one of: {}",
                        self.names()
                    )),
                ));
            }
            reads.push((conn, table));
        }
        Ok(reads)
    }

    /// Fails with the list of tables when a read names a table its
    /// connection does not have (and no earlier step creates).
    pub async fn check_table_exists(
        &self,
        step: &StepConfig,
        (conn, table): &TableRead,
    ) -> Result<(), Error> {
        let Some(connection) = self.connection(conn) else {
            return Ok(());
        };
        let tables = connection.list_tables().await?;
        if tables.iter().any(|t| t.name.eq_ignore_ascii_case(table)) {
            return Ok(());
        }
        let mut names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        names.sort();
        Err(step_error(
            step,
            format!("table '{table}' not found in connection '{conn}'"),
            Some(if names.is_empty() {
                format!("connection '{conn}' has no tables; check its url")
            } else {
                format!("connection '{conn}' has: {}", names.join(", "))
            }),
        ))
    }

    /// `(before, after)` pairs of steps whose existing target tables have a
    /// foreign key from `after`'s table to `before`'s (same connection), so
    /// loads into enforced foreign keys run parents first. Targets that do
    /// not exist yet, and engines that cannot say, add nothing.
    pub async fn target_foreign_key_edges(
        &self,
        steps: &[StepConfig],
    ) -> Result<Vec<(usize, usize)>, Error> {
        let mut edges = Vec::new();
        let connections: BTreeSet<&str> =
            steps.iter().map(|s| s.target.connection.as_str()).collect();
        for name in connections {
            let on_it: Vec<usize> = (0..steps.len())
                .filter(|&i| steps[i].target.connection == name)
                .collect();
            let Some(connection) = self.connection(name).filter(|_| on_it.len() > 1) else {
                continue;
            };
            let catalog = connection.introspect().await?;
            for &after in &on_it {
                let Some(table) = catalog.table(&steps[after].target.table) else {
                    continue;
                };
                for fk in &table.foreign_keys {
                    for &before in &on_it {
                        if before != after
                            && crate::model::catalog::same_table(
                                &fk.referenced,
                                &steps[before].target.table,
                            )
                        {
                            edges.push((before, after));
                        }
                    }
                }
            }
        }
        Ok(edges)
    }

    /// Connections whose engine takes one writer at a time.
    pub fn single_writer_connections(&self) -> Vec<&str> {
        self.connections
            .iter()
            .filter(|(_, (c, _))| c.single_writer())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    fn names(&self) -> String {
        self.connections
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A session whose joins, sorts and aggregates share `memory_limit` bytes
/// (a fair share each) and spill to files in the OS temp directory past it.
/// DataFusion's hash joins hold their build side in memory and cannot
/// spill, so joins are planned as sort-merge joins, whose sorts spill (at
/// least two partitions: with one, DataFusion plans a hash join whatever
/// it is told).
fn bounded_context(mut config: SessionConfig, memory_limit: u64) -> Result<SessionContext, Error> {
    let limit = usize::try_from(memory_limit).unwrap_or(usize::MAX);
    let options = config.options_mut();
    options.optimizer.prefer_hash_join = false;
    // Each spilling sort keeps this much for merging its spilled runs,
    // outside its fair share: 10 MiB (DataFusion's default) at most, and a
    // small part of a small limit.
    options.execution.sort_spill_reservation_bytes =
        (limit / SORT_RESERVATION_PARTS).min(options.execution.sort_spill_reservation_bytes);
    let partitions = config.target_partitions().max(2);
    let config = config.with_target_partitions(partitions);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(TrackConsumersPool::new(
            FairSpillPool::new(limit),
            CONSUMERS_NAMED,
        )))
        .with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::OsTmpDirectory)
                .with_max_spill_merge_fan_in((limit / MERGE_FAN_IN_BYTES).clamp(2, 16)),
        )
        .build_arc()
        .map_err(|e| Error::from(EngineError::DataFusion(e)))?;
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// How many of the largest memory consumers an out-of-memory error names.
const CONSUMERS_NAMED: NonZeroUsize = NonZeroUsize::new(5).expect("5 is not zero");

/// Memory limit per spill file a sort merges at once (DataFusion reserves a
/// few batches per file, outside the fair shares): 2 files under 128 MiB,
/// 16 from 1 GiB.
const MERGE_FAN_IN_BYTES: usize = 64 << 20;

/// A sort's merge reservation is at most this part of the memory limit.
const SORT_RESERVATION_PARTS: usize = 32;
/// The tables a step's SQL names, as written.
fn table_references(ctx: &SessionContext, step: &StepConfig) -> Result<Vec<TableReference>, Error> {
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(&step.sql, &dialect).map_err(|e| {
        step_error(
            step,
            format!("the SQL does not parse: {}", describe_datafusion(&e)),
            None,
        )
    })?;
    state
        .resolve_table_references(&statement)
        .map_err(|e| step_datafusion_error(step, &e))
}

/// The `(connection, table)` a reference names; `None` without a connection.
fn table_read(reference: &TableReference) -> Option<TableRead> {
    match reference {
        TableReference::Bare { .. } => None,
        TableReference::Partial { schema, table } => Some((schema.to_string(), table.to_string())),
        TableReference::Full { catalog, table, .. } => {
            Some((catalog.to_string(), table.to_string()))
        }
    }
}

/// The highest ancestor of `path` (or `path` itself) that does not exist yet.
fn topmost_missing(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut missing = None;
    let mut current = Some(path);
    while let Some(p) = current {
        if p.as_os_str().is_empty() || p.exists() {
            break;
        }
        missing = Some(p.to_path_buf());
        current = p.parent();
    }
    missing
}

fn mapping_table(name: &str, mapping: &Mapping) -> Result<barge_udfs::MappingTable, Error> {
    let keys: Vec<String> = mapping.entries.iter().map(|(k, _)| k.clone()).collect();
    let values = mapping.entries.iter().map(|(_, v)| v);
    let all = |f: fn(&MappingValue) -> bool| mapping.entries.iter().all(|(_, v)| f(v));
    let array: ArrayRef = if all(|v| matches!(v, MappingValue::Int(_))) {
        Arc::new(Int64Array::from_iter_values(values.map(|v| match v {
            MappingValue::Int(i) => *i,
            _ => 0,
        })))
    } else if all(|v| matches!(v, MappingValue::Int(_) | MappingValue::Float(_))) {
        Arc::new(Float64Array::from_iter_values(values.map(|v| match v {
            MappingValue::Int(i) => *i as f64,
            MappingValue::Float(f) => *f,
            _ => 0.0,
        })))
    } else if all(|v| matches!(v, MappingValue::Bool(_))) {
        Arc::new(BooleanArray::from_iter(values.map(|v| match v {
            MappingValue::Bool(b) => Some(*b),
            _ => None,
        })))
    } else {
        Arc::new(StringArray::from_iter_values(values.map(|v| match v {
            MappingValue::Text(s) => s.clone(),
            MappingValue::Int(i) => i.to_string(),
            MappingValue::Float(f) => f.to_string(),
            MappingValue::Bool(b) => b.to_string(),
        })))
    };
    barge_udfs::MappingTable::new(name, keys, array)
        .map_err(|e| Error::from(EngineError::DataFusion(e)))
}
