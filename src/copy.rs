//! `barge copy` as a library function: a pipeline made on the fly, one
//! step per table, in foreign-key order. Into a database, the target tables
//! are made by the schema copy's pass one (types from the type plan,
//! primary keys) before the data, and get their unique constraints,
//! indexes, foreign keys and counters (pass two) after it.
//!
//! [`prepare`] plans the copy and runs pass one; [`CopyJob::run`] moves the
//! data and runs pass two. The command line only maps its flags onto a
//! [`CopyRequest`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::{ConnectionConfig, Pipeline, StepConfig, TargetRef, DEFAULT_MEMORY_LIMIT};
use crate::engines::{self, Connection, OpenOptions, SnapshotMode};
use crate::error::{EngineError, Error};
use crate::ident::quote;
use crate::model::{EngineKind, TableName, WriteMode};
use crate::records::state::StateFile;
use crate::redact::redact_url;
use crate::run::{run_pipeline, RunOptions, RunReport};
use crate::schema::copy::{select_tables, SchemaCopy};
use crate::schema::naming::Naming;

/// What to copy, from where to where, and how.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    /// Source URL.
    pub from: String,
    /// Target URL; a `.parquet` or `.csv` path is one file (one table).
    pub to: String,
    /// Tables to copy: names or globs; every table when `None`.
    pub tables: Option<Vec<String>>,
    /// Write mode of every table.
    pub mode: WriteMode,
    /// Key of `insert_ignore` / `upsert`; default: each table's primary key.
    pub key: Option<Vec<String>>,
    /// Load with the target's foreign-key checks off.
    pub disable_fk_checks: bool,
    /// How target tables, columns, keys and foreign keys are named
    /// (database targets).
    pub naming: Naming,
    /// Refuse a lossy type plan before any data moves.
    pub fail_on_lossy: bool,
    /// Plan only: run no DDL (and, in [`CopyJob::run`], move no data).
    pub dry_run: bool,
    /// Start afresh instead of finishing an unfinished earlier copy.
    pub force: bool,
}

/// A planned copy: its pipeline, its schema copy, and the target tables pass
/// one created.
pub struct CopyJob {
    /// One step per table.
    pub pipeline: Pipeline,
    /// The schema copy (type plan, DDL of both passes).
    pub plan: SchemaCopy,
    /// A database target and the tables (indices into `plan`) pass one
    /// created, in this run or an unfinished earlier one of the same copy;
    /// `None` for file targets.
    target: Option<(Arc<dyn Connection>, Vec<usize>)>,
    dry_run: bool,
}

/// What a copy did.
pub struct CopyOutcome {
    /// The run of the copy's pipeline.
    pub report: RunReport,
    /// Tables pass two completed (unique constraints, indexes, foreign keys).
    pub finished_tables: usize,
}

/// The engine a URL names, as a usage error when none.
pub fn kind_of_url(url: &str) -> Result<EngineKind, Error> {
    engines::kind_of_url(url).ok_or_else(|| {
        Error::Usage(format!(
            "unsupported URL '{}'\n  hint: use postgres://, mysql://, sqlite://PATH, duckdb://PATH",
            redact_url(url)
        ))
    })
}

/// Opens `url` as connection `name`, for reading only or as a target
/// (for its schema: its reads take no snapshot; the copy's run opens its
/// own connections).
pub async fn open(name: &str, url: &str, target: bool) -> Result<Arc<dyn Connection>, Error> {
    Ok(engines::open(
        name,
        url,
        &OpenOptions {
            read_only: !target,
            create: target,
            snapshot: SnapshotMode::Off,
        },
    )
    .await?)
}

/// Plans the copy; into a database, runs pass one (unless a dry run).
pub async fn prepare(request: &CopyRequest) -> Result<CopyJob, Error> {
    let source = open("src", &request.from, false).await?;
    let catalog = source.introspect().await?;
    let tables = select_tables(
        &catalog,
        request.tables.as_deref(),
        &redact_url(&request.from),
    )?;
    if tables.is_empty() {
        return Err(Error::Usage(format!(
            "{} has no tables to copy",
            redact_url(&request.from)
        )));
    }
    let mode = request.mode;
    let key = request.key.clone().unwrap_or_default();
    // A target that is one file holds one table, named by the file.
    let single_file = single_file_stem(&request.to);
    if single_file.is_some() && tables.len() > 1 {
        return Err(Error::Usage(format!(
            "{} is one file but {} tables are to be copied\n  hint: pick one with --tables, or give a directory: parquet://DIR or csv://DIR",
            request.to,
            tables.len()
        )));
    }
    let target_kind = kind_of_url(&request.to)?;
    let naming = if target_kind.is_database() {
        request.naming
    } else {
        Naming::Keep
    };
    let plan = SchemaCopy::plan(catalog.engine, tables, target_kind, naming);
    if request.fail_on_lossy {
        plan.check_lossless()?;
    }
    let mut pipeline = Pipeline {
        name: "copy".into(),
        file: None,
        connections: vec![
            ConnectionConfig {
                name: "src".into(),
                url: request.from.clone().into(),
                read_only: true,
                snapshot: true,
            },
            ConnectionConfig {
                name: "dst".into(),
                url: request.to.clone().into(),
                read_only: false,
                snapshot: true,
            },
        ],
        // The run's state is keyed by the request (its digest only: the
        // URLs may hold passwords).
        params: BTreeMap::from([("copy_arguments".to_string(), copy_key(request))]),
        steps: vec![],
        mappings: BTreeMap::new(),
        stage: None,
        subset: None,
        salt: None,
        memory_limit: DEFAULT_MEMORY_LIMIT,
    };

    // Pass one: the tables the load needs. Tables an unfinished earlier
    // run of this same copy created are its own: a rerun finishes them.
    let mut modes = vec![mode; plan.tables.len()];
    let mut target = None;
    if target_kind.is_database() {
        let connection = open("dst", &request.to, true).await?;
        let existing = plan.existing(connection.as_ref()).await?;
        let state = (!request.dry_run)
            .then(|| StateFile::open(&pipeline, "copy", request.force))
            .transpose()?;
        let earlier_names = state
            .as_ref()
            .map(StateFile::created_tables)
            .unwrap_or_default();
        let earlier: Vec<usize> = existing
            .iter()
            .copied()
            .filter(|&i| earlier_names.contains(&plan.ddl[i].target.name))
            .collect();
        let theirs: Vec<usize> = existing
            .iter()
            .copied()
            .filter(|i| !earlier.contains(i))
            .collect();
        if let Some(&first) = theirs.first().filter(|_| mode == WriteMode::ErrorIfExists) {
            // Nothing is copied: every table is checked before any is made.
            return Err(EngineError::TargetExists {
                connection: "dst".into(),
                table: plan.ddl[first].target.to_string(),
            }
            .into());
        }
        let create: Vec<usize> = (0..plan.tables.len())
            .filter(|i| {
                !earlier.contains(i) && (mode == WriteMode::Replace || !existing.contains(i))
            })
            .collect();
        if let Some(state) = &state {
            if mode == WriteMode::Replace {
                plan.drop_tables(connection.as_ref(), &theirs).await?;
            }
            plan.create_tables(connection.as_ref(), &create).await?;
            let names: Vec<String> = create
                .iter()
                .map(|&i| plan.ddl[i].target.name.clone())
                .collect();
            state.note_created(&names)?;
            for &i in create.iter().chain(&earlier) {
                modes[i] = WriteMode::Append;
            }
        }
        let mut ours = create;
        ours.extend(earlier);
        target = Some((connection, ours));
        // The run takes the state (and its lock) next.
        drop(state);
    }

    let steps = plan
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let source_schema = t.name.schema.as_deref().unwrap_or(source.default_schema());
            let ddl = &plan.ddl[i];
            let columns = ddl
                .columns
                .iter()
                .map(|(from, to)| {
                    if from == to {
                        quote(from)
                    } else {
                        format!("{} AS {}", quote(from), quote(to))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let rename = |c: &String| naming.apply(c);
            let table_key = if key.is_empty() && modes[i].needs_key() {
                t.primary_key
                    .as_ref()
                    .map(|k| k.columns.iter().map(rename).collect())
                    .unwrap_or_default()
            } else {
                key.clone()
            };
            StepConfig {
                name: t.name.name.clone(),
                target: TargetRef {
                    connection: "dst".into(),
                    table: TableName::new(None, single_file.as_deref().unwrap_or(&ddl.target.name)),
                },
                sql: format!(
                    "SELECT {columns} FROM {}.{}.{}",
                    quote("src"),
                    quote(source_schema),
                    quote(&t.name.name)
                ),
                key: table_key,
                mode: modes[i],
                depends_on: plan.waits_for[i]
                    .iter()
                    .map(|&w| plan.tables[w].name.name.clone())
                    .collect(),
                disable_fk_checks: request.disable_fk_checks,
                partition_on: None,
                partitions: None,
                retry: Default::default(),
                chunk_rows: None,
                max_rejects: 0,
                origin: "barge copy".into(),
            }
        })
        .collect::<Vec<_>>();
    if let Some(step) = steps
        .iter()
        .find(|s| s.mode.needs_key() && s.key.is_empty())
    {
        return Err(Error::Usage(format!(
            "--mode {mode} needs --key COLUMN,... (table '{}' has no primary key)",
            step.name
        )));
    }
    pipeline.steps = steps;
    Ok(CopyJob {
        pipeline,
        plan,
        target,
        dry_run: request.dry_run,
    })
}

impl CopyJob {
    /// Moves the data (the pipeline, with `options`), then, into a
    /// database and when every step succeeded, runs what pass two still
    /// lacks on the tables pass one created (compared with the target's
    /// catalog: a copy finished by a rerun gets every constraint).
    pub async fn run(self, options: &RunOptions) -> Result<CopyOutcome, Error> {
        let report = run_pipeline(&self.pipeline, options).await?;
        let mut finished_tables = 0;
        if let Some((target, created)) = &self.target {
            if !self.dry_run && report.failed_steps().is_empty() && !created.is_empty() {
                self.plan.finish_tables(target.as_ref(), created).await?;
                finished_tables = created.len();
            }
        }
        Ok(CopyOutcome {
            report,
            finished_tables,
        })
    }
}

fn single_file_stem(url: &str) -> Option<String> {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let lower = path.to_ascii_lowercase();
    (lower.ends_with(".parquet") || lower.ends_with(".csv"))
        .then(|| {
            Path::new(path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .flatten()
}

/// Digest of what says what a copy moves, naming its state file.
fn copy_key(request: &CopyRequest) -> String {
    let text = format!(
        "{}\u{0}{}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
        request.from, request.to, request.tables, request.mode, request.key, request.naming
    );
    blake3::hash(text.as_bytes()).to_hex()[..16].to_string()
}
