//! The state of a pipeline's runs, kept in `.barge/state/` next to the
//! pipeline file (for `barge copy`, in the working directory): one JSON file
//! per pipeline and params, rewritten atomically (temp file + rename) after
//! every change. A rerun of a run that did not complete skips the steps it
//! completed and continues chunked steps after their last committed chunk.
//!
//! The file holds no secret: params are kept as a digest, and errors (the
//! messages of the report) are scrubbed as every record is written (see
//! [`super::write_atomically`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{io_error, now, write_atomically};
use crate::config::{Pipeline, StepConfig};
use crate::error::Error;

/// Directory of state files, relative to the pipeline's directory.
pub const STATE_DIR: &str = ".barge/state";

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    /// Started and not finished (or the process died while it ran).
    Running,
    Completed,
    /// Not run, for the reason given.
    Skipped,
    Failed,
    /// Stopped by Ctrl+C or SIGTERM.
    Interrupted,
}

impl StepPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            StepPhase::Running => "running",
            StepPhase::Completed => "completed",
            StepPhase::Skipped => "skipped",
            StepPhase::Failed => "failed",
            StepPhase::Interrupted => "interrupted",
        }
    }
}

/// One chunk of a chunked step: the rows whose chunk column lies in
/// `[lo, hi)`, or, when `nulls`, the rows where it is NULL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub lo: i64,
    pub hi: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nulls: bool,
    /// Committed in the target (and so never loaded again).
    pub done: bool,
    /// Rows the chunk wrote, once done.
    pub rows: u64,
    /// Where a staged run staged the chunk, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<StagedChunk>,
}

/// A done chunk's staged file, so that a resumed staged run lists it in its
/// manifest beside the chunks it stages itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedChunk {
    /// The Parquet file (absolute).
    pub file: std::path::PathBuf,
    pub rows: u64,
    /// Its content checksum (hex).
    pub checksum: String,
}

/// The chunks of a chunked step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkPlan {
    /// The integer column the chunks split on.
    pub column: String,
    /// The table the chunks load into: the target, or for a `replace` its
    /// shadow table, swapped in once every chunk is done.
    pub load_table: String,
    /// Rows of the step when the chunks were planned.
    pub rows: u64,
    pub chunks: Vec<Chunk>,
    /// The chunks' loads are `<load_id>-<index>` in the target's commit
    /// records; the swap of a shadow is `<load_id>-swap`.
    #[serde(default)]
    pub load_id: String,
}

impl ChunkPlan {
    pub fn done(&self) -> usize {
        self.chunks.iter().filter(|c| c.done).count()
    }
}

/// What the state says about one step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepState {
    pub status: StepPhase,
    /// Digest of the step's definition (SQL, target, mode, key): a step
    /// changed since is not skipped.
    pub definition: String,
    pub run_id: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The error of a failed step, or why a step was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<ChunkPlan>,
    /// The load of an unchunked step that started: a rerun asks the
    /// target's commit records whether it landed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_id: Option<String>,
}

impl StepState {
    /// A step that starts now, with nothing done.
    fn fresh(definition: &str, run_id: &str) -> Self {
        Self {
            status: StepPhase::Running,
            definition: definition.to_string(),
            run_id: run_id.to_string(),
            rows_read: 0,
            rows_written: 0,
            started_at: now(),
            finished_at: None,
            message: None,
            chunks: None,
            load_id: None,
        }
    }
}

/// The state file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub pipeline: String,
    /// Digest of the params the pipeline ran with (values are not kept).
    pub params: String,
    /// The run that last wrote this state.
    pub run_id: String,
    pub updated_at: String,
    /// Every step completed: the next run starts afresh.
    pub complete: bool,
    pub steps: BTreeMap<String, StepState>,
    /// Target tables the run created before its steps (`barge copy`'s pass
    /// one): a rerun takes them as its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_tables: Vec<String>,
}

/// A pipeline's state file, shared by the steps of a run.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    state: Mutex<RunState>,
    /// Held while the run lives: overlapping runs of one pipeline (with the
    /// same params) are refused. The system frees it when the process ends,
    /// however it ends.
    _lock: std::fs::File,
}

impl StateFile {
    /// The state file of `pipeline` with its params (`barge copy` puts a
    /// digest of its arguments in its params).
    pub fn path_for(pipeline: &Pipeline) -> PathBuf {
        let dir = pipeline.dir().join(STATE_DIR);
        let stem = pipeline
            .file
            .as_deref()
            .and_then(Path::file_stem)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| pipeline.name.clone());
        let stem = crate::records::step_dir_name(&stem);
        dir.join(format!("{stem}-{}.json", &params_digest(pipeline)[..12]))
    }

    /// Reads the state at `path`; `None` when there is none yet.
    pub fn read(path: &Path) -> Result<Option<RunState>, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                Error::Usage(format!(
                    "{}: not a barge state file: {e}\n  hint: delete it to start afresh, or rerun with --force",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// The state a run starts from: the previous one when it did not
    /// complete (to resume), else an empty one.
    pub fn open(pipeline: &Pipeline, run_id: &str, force: bool) -> Result<Self, Error> {
        let path = Self::path_for(pipeline);
        let lock = lock(&path, &pipeline.name)?;
        let previous = if force { None } else { Self::read(&path)? };
        let state = match previous {
            Some(mut state) if !state.complete => {
                state.run_id = run_id.to_string();
                state
            }
            _ => RunState {
                pipeline: pipeline.name.clone(),
                params: params_digest(pipeline),
                run_id: run_id.to_string(),
                updated_at: now(),
                complete: false,
                steps: BTreeMap::new(),
                created_tables: Vec::new(),
            },
        };
        Ok(Self {
            path,
            state: Mutex::new(state),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded state of `step`, when its definition is unchanged.
    pub fn step(&self, step: &StepConfig) -> Option<StepState> {
        let state = self.lock();
        state
            .steps
            .get(&step.name)
            .filter(|s| s.definition == definition_digest(step))
            .cloned()
    }

    /// Changes the state of `step` with `change` (starting from a fresh
    /// `Running` entry when there is none, or when the step changed) and
    /// saves the file.
    pub fn update(
        &self,
        step: &StepConfig,
        change: impl FnOnce(&mut StepState),
    ) -> Result<(), Error> {
        let mut state = self.lock();
        let definition = definition_digest(step);
        let run_id = state.run_id.clone();
        let entry = state
            .steps
            .entry(step.name.clone())
            .or_insert_with(|| StepState::fresh(&definition, &run_id));
        if entry.definition != definition {
            *entry = StepState::fresh(&definition, &run_id);
        }
        entry.run_id = run_id;
        change(entry);
        state.updated_at = now();
        write_atomically(&self.path, &*state)
    }

    /// Target tables an unfinished earlier run created (see
    /// [`RunState::created_tables`]).
    pub fn created_tables(&self) -> Vec<String> {
        self.lock().created_tables.clone()
    }

    /// Records that the run created `tables`, and saves.
    pub fn note_created(&self, tables: &[String]) -> Result<(), Error> {
        let mut state = self.lock();
        for table in tables {
            if !state.created_tables.contains(table) {
                state.created_tables.push(table.clone());
            }
        }
        state.updated_at = now();
        write_atomically(&self.path, &*state)
    }

    /// Forgets `step` (a `--force-steps` step runs from the start).
    pub fn forget(&self, step: &str) {
        self.lock().steps.remove(step);
    }

    /// Marks the run complete when every step of `pipeline` completed, and saves.
    pub fn finish(&self, pipeline: &Pipeline) -> Result<(), Error> {
        let mut state = self.lock();
        state.complete = pipeline.steps.iter().all(|s| {
            state
                .steps
                .get(&s.name)
                .is_some_and(|st| st.status == StepPhase::Completed)
        });
        state.updated_at = now();
        write_atomically(&self.path, &*state)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        // A panic while holding the lock leaves a consistent value: every
        // change is a plain field assignment.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Takes the lock of the state at `path` (the file `<path>.lock`), or says
/// which run holds it.
fn lock(path: &Path, pipeline: &str) -> Result<std::fs::File, Error> {
    let lock_path = path.with_extension("lock");
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_error(&lock_path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Usage(format!(
            "another run of {pipeline} (with the same params) is running: it holds {}\n  hint: wait for it to end and run again (it resumes what is left); overlapping runs would load the same steps twice",
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(&lock_path, e)),
    }
}

/// Digest of the pipeline's params (names and values) and of where its
/// connections point, so the state of `--set customer_ids=4` is not the
/// state of `--set customer_ids=5`, nor that of the same pipeline writing
/// `out/x.duckdb` in another working directory.
fn params_digest(pipeline: &Pipeline) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(pipeline.name.as_bytes());
    for (name, value) in &pipeline.params {
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    // Where the connections point: a relative database file or directory
    // is another one from another working directory, so its run is another
    // run (passwords are left out of the URLs).
    for connection in &pipeline.connections {
        let url = connection.display_url();
        let place = match crate::engines::local_path(&url) {
            Some(path) if path.is_relative() => std::path::absolute(&path)
                .map(|p| p.display().to_string())
                .unwrap_or(url),
            _ => url,
        };
        for part in [&connection.name, &place] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize().to_hex().to_string()
}

/// Digest of what a step does: a changed step is run again.
pub fn definition_digest(step: &StepConfig) -> String {
    let text = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}\u{0}{:?}",
        step.sql,
        step.target,
        step.mode,
        step.key.join(","),
        step.chunk_rows,
        step.partition_on
    );
    blake3::hash(text.as_bytes()).to_hex()[..16].to_string()
}
