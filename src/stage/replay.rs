//! Replay: a staged run loaded into a target of any engine from its Parquet
//! files alone (the sources are not opened), step by step in the run's
//! order, with each step's write mode and key, and tables created by the
//! target engine's type table as in the run.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::{ConnectionConfig, Pipeline, StepConfig, TargetRef, DEFAULT_MEMORY_LIMIT};
use crate::error::Error;
use crate::ident::quote;
use crate::model::{TableName, WriteMode};
use crate::records::manifest::Manifest;

/// The pipeline that loads `to` from the staged run in `run_dir`: one step
/// per staged step (or per step of `steps`), in the run's order.
pub fn replay_pipeline(
    run_dir: &Path,
    to: &str,
    steps: Option<&[String]>,
    mode: Option<WriteMode>,
) -> Result<Pipeline, Error> {
    let manifest = Manifest::read(run_dir)?;
    let staged: Vec<_> = manifest
        .steps
        .iter()
        .filter(|s| s.status == "staged")
        .collect();
    let chosen: Vec<_> = match steps {
        None => staged,
        Some(names) => {
            for name in names {
                if !staged.iter().any(|s| &s.name == name) {
                    return Err(Error::Usage(format!(
                        "--steps names '{name}', which run {} did not stage\n  hint: staged steps are: {}",
                        manifest.run_id,
                        staged.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            staged
                .into_iter()
                .filter(|s| names.contains(&s.name))
                .collect()
        }
    };
    if chosen.is_empty() {
        return Err(Error::Usage(format!(
            "run {} in {} has no staged step to replay",
            manifest.run_id,
            run_dir.display()
        )));
    }
    let mut connections = vec![ConnectionConfig {
        name: "dst".into(),
        url: to.to_string().into(),
        read_only: false,
        snapshot: true,
    }];
    let mut pipeline_steps: Vec<StepConfig> = Vec::new();
    for (i, step) in chosen.iter().enumerate() {
        let mut reads = Vec::new();
        for (j, file) in step.files.iter().enumerate() {
            let path = run_dir.join(file);
            if !path.is_file() {
                return Err(Error::Usage(format!(
                    "step '{}': staged file {} is missing",
                    step.name,
                    path.display()
                )));
            }
            let name = format!("stage_{i}_{j}");
            let table = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            reads.push(format!("SELECT * FROM {}.{}", quote(&name), quote(&table)));
            connections.push(ConnectionConfig {
                name,
                url: path.display().to_string().into(),
                read_only: true,
                snapshot: true,
            });
        }
        let mode = match mode {
            Some(m) => m,
            None => mode_named(&step.mode).ok_or_else(|| {
                Error::Usage(format!(
                    "step '{}' has write mode '{}', which this barge does not know",
                    step.name, step.mode
                ))
            })?,
        };
        pipeline_steps.push(StepConfig {
            name: step.name.clone(),
            target: TargetRef {
                connection: "dst".into(),
                table: TableName::new(None, &step.table),
            },
            sql: reads.join(" UNION ALL "),
            key: step.key.clone(),
            mode,
            // The run's order, one step after the other (parents before children).
            depends_on: pipeline_steps
                .last()
                .map(|p| vec![p.name.clone()])
                .unwrap_or_default(),
            disable_fk_checks: false,
            partition_on: None,
            partitions: None,
            retry: Default::default(),
            chunk_rows: None,
            max_rejects: step.max_rejects,
            origin: format!("replay of run {}", manifest.run_id),
        });
    }
    Ok(Pipeline {
        name: format!("{} (replay of {})", manifest.pipeline, manifest.run_id),
        file: None,
        connections,
        params: BTreeMap::new(),
        steps: pipeline_steps,
        mappings: BTreeMap::new(),
        stage: None,
        subset: None,
        salt: None,
        memory_limit: DEFAULT_MEMORY_LIMIT,
    })
}

/// The write mode the manifest spells `name`.
fn mode_named(name: &str) -> Option<WriteMode> {
    [
        WriteMode::Append,
        WriteMode::Replace,
        WriteMode::Truncate,
        WriteMode::ErrorIfExists,
        WriteMode::InsertIgnore,
        WriteMode::Upsert,
    ]
    .into_iter()
    .find(|m| m.as_str() == name)
}
