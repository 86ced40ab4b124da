//! The rollback journal: what each run inserted, so `barge rollback` can
//! delete exactly those rows. Kept in `.barge/journal/<run_id>/` next to the
//! pipeline file:
//!
//! - steps that add rows to a table that may hold others (`append`,
//!   `insert_ignore`, `upsert`) record the key of every row they sent
//!   (`<step>/load-N/part-00000.parquet`, written beside the load) and, when
//!   the table held rows before, the keys it held (`<step>/before.parquet`):
//!   the run inserted the keys it sent that were not there before;
//! - steps that fill a table of their own (`replace`, `truncate`,
//!   `error_if_exists`) record that the whole table is theirs.
//!
//! `journal.json` lists the steps in the order they committed; a rollback
//! goes through them backwards (children before parents).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::{Pipeline, StepConfig};
use crate::error::Error;
use crate::model::WriteMode;
use crate::records::journal::{self, JournalFile, JournalStep};
use crate::records::step_dir_name;
use crate::records::{now, write_atomically};
use crate::stage::StepTee;

/// The journal of a running run.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    file: Mutex<JournalFile>,
    /// Loads recorded per step (a chunked step has one per chunk).
    loads: Mutex<std::collections::HashMap<String, usize>>,
}

impl Journal {
    /// Starts the journal of `run_id` (files appear once a step commits).
    pub fn new(pipeline: &Pipeline, run_id: &str) -> Self {
        Self {
            dir: journal::dir_for(pipeline, run_id),
            file: Mutex::new(JournalFile {
                pipeline: pipeline.name.clone(),
                run_id: run_id.to_string(),
                started_at: now(),
                rolled_back_at: None,
                steps: vec![],
            }),
            loads: Mutex::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `step`'s rows are recorded by key (else the whole table is the run's).
    pub fn records_keys(step: &StepConfig) -> bool {
        matches!(
            step.mode,
            WriteMode::Append | WriteMode::InsertIgnore | WriteMode::Upsert
        )
    }

    /// The tee recording the keys of the next load of `step` (`None` when
    /// the step records none).
    pub fn tee(&self, step: &StepConfig, key: &[String]) -> Option<Arc<StepTee>> {
        (Self::records_keys(step) && !key.is_empty()).then(|| {
            let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
            let load = loads.entry(step.name.clone()).or_insert(0);
            *load += 1;
            let load = *load;
            StepTee::without_checksum(
                &self.dir,
                &format!("{}/load-{load:05}", step_dir_name(&step.name)),
                key.to_vec(),
            )
        })
    }

    /// Where the keys a table held before the run go.
    pub fn before_path(&self, step: &StepConfig) -> PathBuf {
        self.dir
            .join(step_dir_name(&step.name))
            .join("before.parquet")
    }

    /// Records what a committed load (or step) of `step` inserted.
    pub fn record(
        &self,
        step: &StepConfig,
        key: &[String],
        tee: Option<&StepTee>,
        before: Option<&Path>,
    ) -> Result<(), Error> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let relative = |p: &Path| {
            p.strip_prefix(&self.dir)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        let index = match file.steps.iter().position(|s| s.step == step.name) {
            Some(i) => i,
            None => {
                let keyed = Self::records_keys(step);
                file.steps.push(JournalStep {
                    step: step.name.clone(),
                    connection: step.target.connection.clone(),
                    schema: step.target.table.schema.clone(),
                    table: step.target.table.name.clone(),
                    mode: step.mode.to_string(),
                    key: key.to_vec(),
                    whole_table: !keyed,
                    files: vec![],
                    before: before.map(relative),
                    unsupported: (keyed && key.is_empty()).then(|| {
                        format!(
                            "step '{}' ({}) has no key: the rows it added cannot be told from the table's others",
                            step.name, step.mode
                        )
                    }),
                });
                file.steps.len() - 1
            }
        };
        if let Some(result) = tee.and_then(|t| t.result()) {
            file.steps[index].files.extend(
                result
                    .files
                    .iter()
                    .map(|f| f.to_string_lossy().into_owned()),
            );
        }
        write_atomically(&self.dir.join("journal.json"), &*file)
    }
}

/// Writes the key rows of `stream` to a Parquet file at `path`; writes
/// nothing when there are none.
pub async fn write_keys(
    mut stream: datafusion::execution::SendableRecordBatchStream,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use futures::StreamExt;
    let mut writer = None;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        if writer.is_none() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            writer = Some(datafusion::parquet::arrow::ArrowWriter::try_new(
                std::fs::File::create(path)?,
                batch.schema(),
                None,
            )?);
        }
        if let Some(writer) = writer.as_mut() {
            writer.write(&batch)?;
        }
    }
    if let Some(writer) = writer {
        writer.close()?;
    }
    Ok(())
}
