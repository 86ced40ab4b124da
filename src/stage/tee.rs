//! [`StepTee`]: the step's batches, as the target's writer receives them,
//! also written to a Parquet file and summed into the content checksum.
//! `WriterSink` feeds it on a thread of its own, so staging runs beside the
//! target's write instead of after it.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use crate::checksum::{Checksum, RowHasher};
use crate::engines::hooks::{self, BatchTee};
use crate::error::{EngineError, EngineResult, LoadError};

/// Rows per Parquet row group of staged files: small enough that the writer's
/// buffered row group stays a few tens of MiB.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Name of a staged file: `part-00000.parquet` for a step loaded at once,
/// one per chunk (by chunk index) for a chunked step.
pub fn part_file(part: usize) -> String {
    format!("part-{part:05}.parquet")
}

/// What a step's staging produced.
#[derive(Debug, Clone)]
pub struct TeeResult {
    pub rows: u64,
    pub checksum: Checksum,
    /// Files relative to the run's directory.
    pub files: Vec<PathBuf>,
    /// Schema of the staged files.
    pub schema: SchemaRef,
}

/// The staging of one step: where its files go, which target columns it
/// keeps (the step's output columns, in the step's order), and its result
/// once the load committed.
#[derive(Debug)]
pub struct StepTee {
    run_dir: PathBuf,
    dir_name: String,
    file_name: String,
    columns: Vec<String>,
    /// Sum the content checksum (staging); the journal's key files need none.
    sums: bool,
    result: Mutex<Option<TeeResult>>,
}

impl StepTee {
    /// Staging into `run_dir/dir_name/part-<part>.parquet` of target
    /// columns `columns`.
    pub fn new(run_dir: &Path, dir_name: &str, part: usize, columns: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            run_dir: run_dir.to_path_buf(),
            dir_name: dir_name.to_string(),
            file_name: part_file(part),
            columns,
            sums: true,
            result: Mutex::new(None),
        })
    }

    /// The same file of `columns` only, without a content checksum (the
    /// rollback journal's keys).
    pub fn without_checksum(run_dir: &Path, dir_name: &str, columns: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            run_dir: run_dir.to_path_buf(),
            dir_name: dir_name.to_string(),
            file_name: part_file(0),
            columns,
            sums: false,
            result: Mutex::new(None),
        })
    }

    /// Opens the step's Parquet file for batches of `sink_schema`. Called on
    /// the staging thread.
    fn open_file(self: Arc<Self>, sink_schema: &SchemaRef) -> EngineResult<StagedFileWriter> {
        let dir = self.run_dir.join(&self.dir_name);
        let path = dir.join(&self.file_name);
        let error = |message: String| stage_error(&path, message);
        let indices = self
            .columns
            .iter()
            .map(|c| {
                sink_schema
                    .index_of(c)
                    .map_err(|_| error(format!("the target has no column '{c}'")))
            })
            .collect::<EngineResult<Vec<usize>>>()?;
        let schema = Arc::new(
            sink_schema
                .project(&indices)
                .map_err(|e| error(e.to_string()))?,
        );
        std::fs::create_dir_all(&dir).map_err(|e| error(e.to_string()))?;
        let file = File::create(&path).map_err(|e| error(e.to_string()))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            schema.clone(),
            Some(writer_properties()),
        )
        .map_err(|e| error(e.to_string()))?;
        Ok(StagedFileWriter {
            tee: self,
            writer: Some(writer),
            path,
            indices,
            schema,
            hasher: RowHasher::default(),
            checksum: Checksum::default(),
        })
    }

    /// The result, once the writer finished.
    pub fn result(&self) -> Option<TeeResult> {
        self.result.lock().ok().and_then(|r| r.clone())
    }

    /// The file, removed when its load failed (and the step's directory
    /// when nothing else is in it).
    pub fn discard(&self) {
        let dir = self.run_dir.join(&self.dir_name);
        let _ = std::fs::remove_file(dir.join(&self.file_name));
        let _ = std::fs::remove_dir(dir);
    }
}

/// A staging failure, passed through the sink (the load is rolled back).
fn stage_error(path: &Path, message: impl ToString) -> EngineError {
    EngineError::driver(LoadError::Stage {
        path: path.to_path_buf(),
        message: message.to_string(),
    })
}

/// Staged files favour the load's speed over their size: LZ4 pages, no
/// dictionaries (hashing every value costs more CPU than it saves bytes).
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

/// Writes one step's staged file and sums its checksum.
pub struct StagedFileWriter {
    tee: Arc<StepTee>,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    path: PathBuf,
    indices: Vec<usize>,
    schema: SchemaRef,
    hasher: RowHasher,
    checksum: Checksum,
}

impl BatchTee for StepTee {
    fn open(self: Arc<Self>, sink_schema: &SchemaRef) -> EngineResult<Box<dyn hooks::TeeWriter>> {
        Ok(Box::new(self.open_file(sink_schema)?))
    }

    fn columns(&self) -> Option<Vec<String>> {
        Some(self.columns.clone())
    }
}

impl StagedFileWriter {
    fn error(&self, e: impl ToString) -> EngineError {
        stage_error(&self.path, e)
    }
}

impl hooks::TeeWriter for StagedFileWriter {
    /// Stages one batch (of the sink's schema).
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<()> {
        let projected = batch.project(&self.indices).map_err(|e| self.error(e))?;
        if self.tee.sums {
            let all: Vec<usize> = (0..projected.num_columns()).collect();
            self.hasher
                .add_batch(&mut self.checksum, &projected, &all, &[])
                .map_err(|e| self.error(e))?;
        } else {
            self.checksum.rows += projected.num_rows() as u64;
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| stage_error(&self.path, "the staged file is closed"))?;
        writer
            .write(&projected)
            .map_err(|e| stage_error(&self.path, e))
    }

    /// Closes the file; the result is kept for the step's manifest entry.
    fn finish(mut self: Box<Self>) -> EngineResult<()> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| self.error("the staged file is closed"))?;
        let buffered = writer.into_inner().map_err(|e| self.error(e))?;
        buffered.into_inner().map_err(|e| self.error(e.error()))?;
        let result = TeeResult {
            rows: self.checksum.rows,
            checksum: self.checksum.clone(),
            files: vec![PathBuf::from(&self.tee.dir_name).join(&self.tee.file_name)],
            schema: self.schema.clone(),
        };
        if let Ok(mut slot) = self.tee.result.lock() {
            *slot = Some(result);
        }
        Ok(())
    }
}
