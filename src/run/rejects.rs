//! Rejects: rows the target refuses (a constraint violation, a value that
//! does not convert) are set aside instead of failing the step, up to the
//! step's `max_rejects`.
//!
//! With `max_rejects > 0` the step's writer is opened by
//! [`Connection::open_isolating_writer`] and every batch is written with
//! [`BatchWriter::write_isolated`]: a batch the target refuses is undone
//! (a savepoint inside the step's one transaction) and cut in halves, each
//! written the same way, down to the single rows the target refuses. Those
//! go to `rejects/<run_id>/<step>.parquet` (beside the pipeline file) with
//! the target's message in `barge_error` and their place in the step's
//! output in `barge_row`; every other row lands. One row more than
//! `max_rejects` fails the step, and its load is rolled back.
//!
//! With `max_rejects = 0` (the default) none of this runs: the step loads
//! through the engine's fastest path and its first refused row fails it.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

use crate::config::StepConfig;
use crate::engines::hooks::{LoadObserver, RejectPolicy, RejectWriter};
use crate::engines::{BatchWriter, Connection};
use crate::error::{EngineError, EngineResult, Error, LoadError};
use crate::records::rejects::{file_of, ERROR_COLUMN, ROW_COLUMN};

/// Fails before anything runs when a selected step sets `max_rejects` on a
/// target that cannot set refused rows aside (DuckDB).
pub fn check_targets(
    steps: &[&StepConfig],
    connection: impl Fn(&str) -> Option<Arc<dyn Connection>>,
) -> Result<(), Error> {
    for step in steps.iter().filter(|s| s.max_rejects > 0) {
        let Some(target) = connection(&step.target.connection) else {
            continue;
        };
        if let Err(why) = target.isolates_rejects() {
            return Err(crate::session::step_error(
                step,
                format!(
                    "max_rejects = {} on target {}: {why}",
                    step.max_rejects, step.target
                ),
                None,
            ));
        }
    }
    Ok(())
}

/// The rejects of one step: how many it may set aside, and where.
#[derive(Debug)]
pub struct StepRejects {
    target: String,
    max: u64,
    path: PathBuf,
    /// The step's output columns (target spelling), kept in the file.
    columns: Vec<String>,
}

impl StepRejects {
    /// The rejects of `step` into `run_dir`, `None` when the step sets
    /// none aside (`max_rejects = 0`).
    pub fn for_step(step: &StepConfig, run_dir: &Path, columns: Vec<String>) -> Option<Arc<Self>> {
        (step.max_rejects > 0).then(|| {
            Arc::new(Self {
                target: step.target.to_string(),
                max: step.max_rejects,
                path: file_of(run_dir, &step.name),
                columns,
            })
        })
    }

    /// The step's rejects file (written only when a row was refused).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the rejects file of a load that failed (its rows are not
    /// refused: the whole load was rolled back).
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(temp_path(&self.path));
        // Only when empty: other steps' and runs' files stay.
        for dir in self.path.ancestors().skip(1).take(2) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl RejectPolicy for StepRejects {
    /// Starts setting rows aside for batches of `sink_schema`. Called on
    /// the writer's thread.
    fn open(
        self: Arc<Self>,
        sink_schema: &SchemaRef,
        observer: Arc<dyn LoadObserver>,
    ) -> EngineResult<Box<dyn RejectWriter>> {
        let indices = self
            .columns
            .iter()
            .map(|c| {
                sink_schema.index_of(c).map_err(|_| {
                    rejects_error(&self.path, format!("the target has no column '{c}'"))
                })
            })
            .collect::<EngineResult<Vec<usize>>>()?;
        for &i in &indices {
            let field = sink_schema.field(i);
            if field.name() == ERROR_COLUMN || field.name() == ROW_COLUMN {
                return Err(rejects_error(
                    &self.path,
                    format!(
                        "the step writes a column named '{}', which the rejects file uses for itself",
                        field.name()
                    ),
                ));
            }
        }
        Ok(Box::new(RejectsWriter {
            rejects: self,
            observer,
            indices,
            file: None,
            count: 0,
            first: None,
            position: 0,
            finished: false,
        }))
    }
}

/// A failure of the rejects file, passed through the sink (the load is rolled back).
fn rejects_error(path: &Path, message: impl ToString) -> EngineError {
    EngineError::driver(LoadError::Rejects {
        path: path.to_path_buf(),
        message: message.to_string(),
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes a step's batches through an isolating writer and sets the rows
/// the target refuses aside. Lives on the writer's thread.
struct RejectsWriter {
    rejects: Arc<StepRejects>,
    observer: Arc<dyn LoadObserver>,
    indices: Vec<usize>,
    /// Opened at the first refused row, with `barge_error`, `barge_row`,
    /// then the step's columns as the batches carry them.
    file: Option<(ArrowWriter<BufWriter<File>>, SchemaRef)>,
    count: u64,
    first: Option<String>,
    /// Rows of the step before the current batch.
    position: u64,
    finished: bool,
}

impl RejectWriter for RejectsWriter {
    /// Writes `batch` through `writer`; returns the rows it wrote. Rows the
    /// target refuses are set aside; one more than `max_rejects` fails.
    fn write(&mut self, writer: &mut dyn BatchWriter, batch: &RecordBatch) -> EngineResult<u64> {
        let written = self.isolate(writer, batch, self.position)?;
        self.position += batch.num_rows() as u64;
        Ok(written)
    }

    /// Closes the rejects file, when a row was refused. Called before the
    /// target commits: a load whose rejects cannot be kept is rolled back.
    fn finish(mut self: Box<Self>) -> EngineResult<()> {
        self.finished = true;
        let Some((file, _)) = self.file.take() else {
            return Ok(());
        };
        let buffered = file.into_inner().map_err(|e| self.error(e))?;
        buffered.into_inner().map_err(|e| self.error(e.error()))?;
        let path = &self.rejects.path;
        std::fs::rename(temp_path(path), path).map_err(|e| self.error(e))
    }
}

impl RejectsWriter {
    /// Writes `batch` (whose first row is row `offset` of the step, 0-based);
    /// a refused batch is halved until the refused rows stand alone.
    fn isolate(
        &mut self,
        writer: &mut dyn BatchWriter,
        batch: &RecordBatch,
        offset: u64,
    ) -> EngineResult<u64> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(0);
        }
        match writer.write_isolated(batch)? {
            Ok(written) => Ok(written),
            Err(message) if rows == 1 => {
                self.reject(batch, offset, message)?;
                Ok(0)
            }
            Err(_) => {
                let half = rows / 2;
                let first = self.isolate(writer, &batch.slice(0, half), offset)?;
                let second = self.isolate(
                    writer,
                    &batch.slice(half, rows - half),
                    offset + half as u64,
                )?;
                Ok(first + second)
            }
        }
    }

    fn error(&self, message: impl ToString) -> EngineError {
        rejects_error(&self.rejects.path, message)
    }

    /// Creates the (temporary) rejects file and its directory. Another
    /// step's failed load may remove the run's directory while it is empty:
    /// then it is created again.
    fn create_file(&self) -> EngineResult<File> {
        let path = temp_path(&self.rejects.path);
        let mut attempts = 0;
        loop {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| self.error(e))?;
            }
            match File::create(&path) {
                Ok(file) => return Ok(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                }
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    /// Sets the one-row `row` aside with the target's `message`.
    fn reject(&mut self, row: &RecordBatch, offset: u64, message: String) -> EngineResult<()> {
        self.count += 1;
        self.observer.rows_rejected(1);
        if self.first.is_none() {
            self.first = Some(message.clone());
        }
        if self.count > self.rejects.max {
            return Err(EngineError::driver(LoadError::TooManyRejects {
                target: self.rejects.target.clone(),
                max: self.rejects.max,
                first: self.first.clone().unwrap_or_default(),
            }));
        }
        if self.file.is_none() {
            // The batches' own types: DataFusion may hand the sink a column
            // in a type of the same family as the table's (Utf8View, Utf8).
            let mut fields = vec![
                Field::new(ERROR_COLUMN, DataType::Utf8, false),
                Field::new(ROW_COLUMN, DataType::UInt64, false),
            ];
            let row_schema = row.schema();
            fields.extend(
                self.indices
                    .iter()
                    .map(|&i| row_schema.field(i).as_ref().clone().with_nullable(true)),
            );
            let schema = Arc::new(Schema::new(fields));
            let file = self.create_file()?;
            let writer = ArrowWriter::try_new(BufWriter::new(file), schema.clone(), None)
                .map_err(|e| self.error(e))?;
            self.file = Some((writer, schema));
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![crate::redact::scrub(&message)])),
            Arc::new(UInt64Array::from(vec![offset + 1])),
        ];
        columns.extend(self.indices.iter().map(|&i| row.column(i).clone()));
        let Some((file, schema)) = self.file.as_mut() else {
            return Err(self.error("the rejects file is closed"));
        };
        let path = &self.rejects.path;
        let record =
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| rejects_error(path, e))?;
        file.write(&record).map_err(|e| rejects_error(path, e))
    }
}

impl Drop for RejectsWriter {
    fn drop(&mut self) {
        if !self.finished {
            drop(self.file.take());
            let _ = std::fs::remove_file(temp_path(&self.rejects.path));
        }
    }
}
