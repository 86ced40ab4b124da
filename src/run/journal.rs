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

use serde::{Deserialize, Serialize};

use super::state::{now, write_atomically};
use crate::config::{Pipeline, StepConfig};
use crate::engines::WriteMode;
use crate::error::Error;
use crate::stage::{step_dir_name, StepTee};

/// Directory of run journals, relative to the pipeline's directory.
pub const JOURNAL_DIR: &str = ".barge/journal";

/// What one step's rollback deletes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalStep {
    pub step: String,
    pub connection: String,
    pub schema: Option<String>,
    pub table: String,
    pub mode: String,
    /// Key columns (target spelling) of the recorded keys.
    pub key: Vec<String>,
    /// The table's rows are all the run's (it was replaced, truncated or created).
    pub whole_table: bool,
    /// Files of keys the run sent, relative to the run's journal directory.
    pub files: Vec<String>,
    /// Keys the table held before the run, when it held any.
    pub before: Option<String>,
    /// Why the step cannot be rolled back (no key to delete by).
    pub unsupported: Option<String>,
}

/// `journal.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalFile {
    pub pipeline: String,
    pub run_id: String,
    pub started_at: String,
    /// Set once `barge rollback` deleted the run's rows.
    pub rolled_back_at: Option<String>,
    pub steps: Vec<JournalStep>,
}

/// The journal of a running run.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    file: Mutex<JournalFile>,
    /// Loads recorded per step (a chunked step has one per chunk).
    loads: Mutex<std::collections::HashMap<String, usize>>,
}

impl Journal {
    /// The journal directory of `run_id` of `pipeline`.
    pub fn dir_for(pipeline: &Pipeline, run_id: &str) -> PathBuf {
        pipeline.dir().join(JOURNAL_DIR).join(run_id)
    }

    /// Starts the journal of `run_id` (files appear once a step commits).
    pub fn new(pipeline: &Pipeline, run_id: &str) -> Self {
        Self {
            dir: Self::dir_for(pipeline, run_id),
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

/// Reads the journal of `run_id` of `pipeline`.
pub fn read(pipeline: &Pipeline, run_id: &str) -> Result<(PathBuf, JournalFile), Error> {
    let dir = Journal::dir_for(pipeline, run_id);
    let path = dir.join("journal.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "no journal of run '{run_id}' of {} ({}: {e})\n  hint: run ids are in the run's summary and in `barge status`; dry runs and --limit runs keep no journal",
            pipeline.name,
            path.display()
        ))
    })?;
    let file = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not a barge journal: {e}", path.display())))?;
    Ok((dir, file))
}

/// Saves `file` as the journal in `dir`.
pub fn save(dir: &Path, file: &JournalFile) -> Result<(), Error> {
    write_atomically(&dir.join("journal.json"), file)
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
