//! `barge copy FROM TO`: a pipeline made on the fly, one step per table.

use std::collections::BTreeMap;
use std::path::Path;

use super::{finish_run, CopyArgs};
use crate::config::{ConnectionConfig, Pipeline, StepConfig, TargetRef};
use crate::engines::{self, OpenOptions, TableName, WriteMode};
use crate::error::Error;
use crate::run::executor::quote;
use crate::run::{run_pipeline, RunOptions};

pub async fn copy(args: CopyArgs) -> Result<(), Error> {
    let pipeline = copy_pipeline(&args).await?;
    let options = RunOptions {
        dry_run: args.exec.dry_run,
        limit: args.exec.limit,
        steps: None,
        jobs: args.exec.jobs,
        quiet: args.exec.quiet,
        stage: args.exec.stage.clone(),
    };
    let report = run_pipeline(&pipeline, &options).await?;
    finish_run(&report, &args.exec)
}

/// The pipeline `barge copy` runs.
pub async fn copy_pipeline(args: &CopyArgs) -> Result<Pipeline, Error> {
    let source = engines::open(
        "src",
        &args.from,
        &OpenOptions {
            read_only: true,
            create: false,
        },
    )
    .await?;
    let available = source.list_tables().await?;
    let tables: Vec<TableName> = match &args.tables {
        None => available,
        Some(wanted) => wanted
            .iter()
            .map(|w| {
                available
                    .iter()
                    .find(|t| t.name == *w)
                    .or_else(|| available.iter().find(|t| t.name.eq_ignore_ascii_case(w)))
                    .cloned()
                    .ok_or_else(|| {
                        let names: Vec<&str> = available.iter().map(|t| t.name.as_str()).collect();
                        Error::Usage(format!(
                            "--tables names '{w}', which {} does not have\n  hint: its tables are: {}",
                            crate::redact::redact_url(&args.from),
                            names.join(", ")
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    if tables.is_empty() {
        return Err(Error::Usage(format!(
            "{} has no tables to copy",
            crate::redact::redact_url(&args.from)
        )));
    }
    let mode: WriteMode = args.mode.into();
    let key = args.key.clone().unwrap_or_default();
    if mode.needs_key() && key.is_empty() {
        return Err(Error::Usage(format!(
            "--mode {mode} needs --key COLUMN,..."
        )));
    }
    // A target that is one file holds one table, named by the file.
    let single_file = single_file_stem(&args.to);
    if single_file.is_some() && tables.len() > 1 {
        return Err(Error::Usage(format!(
            "{} is one file but {} tables are to be copied\n  hint: pick one with --tables, or give a directory: parquet://DIR or csv://DIR",
            args.to,
            tables.len()
        )));
    }
    let steps = tables
        .iter()
        .map(|t| {
            let schema = t.schema.as_deref().unwrap_or(source.default_schema());
            StepConfig {
                name: t.name.clone(),
                target: TargetRef {
                    connection: "dst".into(),
                    table: TableName::new(None, single_file.as_deref().unwrap_or(&t.name)),
                },
                sql: format!(
                    "SELECT * FROM {}.{}.{}",
                    quote("src"),
                    quote(schema),
                    quote(&t.name)
                ),
                key: key.clone(),
                mode,
                depends_on: vec![],
                disable_fk_checks: args.disable_fk_checks,
                partition_on: None,
                partitions: None,
                retry: Default::default(),
                origin: "barge copy".into(),
            }
        })
        .collect();
    Ok(Pipeline {
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
        params: BTreeMap::new(),
        steps,
        mappings: BTreeMap::new(),
        stage: None,
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
