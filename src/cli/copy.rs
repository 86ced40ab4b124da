//! `barge copy FROM TO`: a pipeline made on the fly, one step per table, in
//! foreign-key order. Into a database, the target tables are made by the
//! schema copy's pass one (types from the type plan, primary keys) before
//! the data, and get their unique constraints, indexes, foreign keys and
//! counters (pass two) after it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::schema::{is_database, kind_of_url, open};
use super::{finish_run, CopyArgs};
use crate::config::{ConnectionConfig, Pipeline, StepConfig, TargetRef};
use crate::engines::{Connection, TableName, WriteMode};
use crate::error::{EngineError, Error};
use crate::redact::redact_url;
use crate::run::executor::quote;
use crate::run::run_pipeline;
use crate::schema::copy::{select_tables, SchemaCopy};

/// What `barge copy` runs: the pipeline, and the schema copy around it.
pub struct CopyJob {
    pub pipeline: Pipeline,
    /// The schema copy, the target, and the tables pass one created (for pass two).
    pub schema: Option<(SchemaCopy, Arc<dyn Connection>, Vec<usize>)>,
}

pub async fn copy(args: CopyArgs) -> Result<(), Error> {
    let job = copy_job(&args).await?;
    let options = args.exec.run_options(None);
    let report = run_pipeline(&job.pipeline, &options).await?;
    if let Some((schema, target, created)) = &job.schema {
        if !args.exec.dry_run && report.failed_steps().is_empty() && !created.is_empty() {
            schema.finish_tables(target.as_ref(), created).await?;
            if !args.exec.quiet {
                println!(
                    "pass two: unique constraints, indexes and foreign keys added to {} table(s)",
                    created.len()
                );
            }
        }
    }
    finish_run(&report, &args.exec)
}

/// Plans `barge copy`; into a database, runs pass one (unless dry run).
pub async fn copy_job(args: &CopyArgs) -> Result<CopyJob, Error> {
    let source = open("src", &args.from, false).await?;
    let catalog = source.introspect().await?;
    let tables = select_tables(&catalog, args.tables.as_deref(), &redact_url(&args.from))?;
    if tables.is_empty() {
        return Err(Error::Usage(format!(
            "{} has no tables to copy",
            redact_url(&args.from)
        )));
    }
    let mode: WriteMode = args.mode.into();
    let key = args.key.clone().unwrap_or_default();
    // A target that is one file holds one table, named by the file.
    let single_file = single_file_stem(&args.to);
    if single_file.is_some() && tables.len() > 1 {
        return Err(Error::Usage(format!(
            "{} is one file but {} tables are to be copied\n  hint: pick one with --tables, or give a directory: parquet://DIR or csv://DIR",
            args.to,
            tables.len()
        )));
    }
    let target_kind = kind_of_url(&args.to)?;
    let naming = if is_database(target_kind) {
        args.naming
    } else {
        crate::schema::naming::Naming::Keep
    };
    let plan = SchemaCopy::plan(catalog.engine, tables, target_kind, naming);
    if args.fail_on_lossy {
        plan.check_lossless()?;
    }
    if args.exec.dry_run && !args.exec.quiet {
        println!("type plan ({} -> {target_kind}):", catalog.engine);
        print!("{}", plan.type_plan_text());
        if is_database(target_kind) {
            println!("\n{}", plan.script());
        }
    } else if !args.exec.quiet {
        for line in plan.lossy() {
            eprintln!("warning: lossy type plan: {line}");
        }
    }

    // Pass one: the tables the load needs.
    let mut modes = vec![mode; plan.tables.len()];
    let mut schema = None;
    if is_database(target_kind) {
        let target = open("dst", &args.to, true).await?;
        let existing = plan.existing(target.as_ref()).await?;
        if let Some(&first) = existing
            .first()
            .filter(|_| mode == WriteMode::ErrorIfExists)
        {
            // Nothing is copied: every table is checked before any is made.
            return Err(EngineError::TargetExists {
                connection: "dst".into(),
                table: plan.ddl[first].target.to_string(),
            }
            .into());
        }
        let create: Vec<usize> = if mode == WriteMode::Replace {
            (0..plan.tables.len()).collect()
        } else {
            (0..plan.tables.len())
                .filter(|i| !existing.contains(i))
                .collect()
        };
        if !args.exec.dry_run {
            if mode == WriteMode::Replace {
                plan.drop_tables(target.as_ref(), &existing).await?;
            }
            plan.create_tables(target.as_ref(), &create).await?;
            for &i in &create {
                modes[i] = WriteMode::Append;
            }
        }
        schema = Some((create, target));
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
                disable_fk_checks: args.disable_fk_checks,
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
    let pipeline = Pipeline {
        name: "copy".into(),
        file: None,
        connections: vec![
            ConnectionConfig {
                name: "src".into(),
                url: args.from.clone().into(),
                read_only: true,
            },
            ConnectionConfig {
                name: "dst".into(),
                url: args.to.clone().into(),
                read_only: false,
            },
        ],
        // The run's state is keyed by the arguments (their digest only:
        // the URLs may hold passwords).
        params: BTreeMap::from([("copy_arguments".to_string(), copy_key(args))]),
        steps,
        mappings: BTreeMap::new(),
        stage: None,
        subset: None,
        salt: None,
    };
    Ok(CopyJob {
        pipeline,
        schema: schema.map(|(created, target)| (plan, target, created)),
    })
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

/// Digest of the arguments that say what a copy moves, naming its state file.
fn copy_key(args: &CopyArgs) -> String {
    let text = format!(
        "{}\u{0}{}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
        args.from, args.to, args.tables, args.mode, args.key, args.naming
    );
    blake3::hash(text.as_bytes()).to_hex()[..16].to_string()
}
