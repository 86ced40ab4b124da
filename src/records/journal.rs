//! The rollback journal's files (see `run::journal`, which writes them, and
//! `run::rollback`, which reads them): `.barge/journal/<run_id>/journal.json`
//! beside the pipeline file, and the key files it names.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::write_atomically;
use crate::config::Pipeline;
use crate::error::Error;

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

/// The journal directory of `run_id` of `pipeline`.
pub fn dir_for(pipeline: &Pipeline, run_id: &str) -> PathBuf {
    pipeline.dir().join(JOURNAL_DIR).join(run_id)
}

/// Reads the journal of `run_id` of `pipeline`.
pub fn read(pipeline: &Pipeline, run_id: &str) -> Result<(PathBuf, JournalFile), Error> {
    let dir = dir_for(pipeline, run_id);
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
