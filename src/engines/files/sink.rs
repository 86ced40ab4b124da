//! Writing files: [`ParquetWriter`] (ArrowWriter, ZSTD, large row groups) and
//! [`CsvWriter`] (header row). Both write a temp file next to the target
//! (`.NAME.tmp-PID`) and rename it over the target in `finish`, so a failed
//! load leaves the old file as it was; a writer dropped without `finish`
//! removes its temp file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::csv::{Writer as ArrowCsvWriter, WriterBuilder};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::engines::BatchWriter;
use crate::error::{EngineError, EngineResult};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// Upper bound on a row group's encoded size, so wide rows keep memory bounded.
pub const ROW_GROUP_BYTES: usize = 256 * 1024 * 1024;
/// ZSTD level of Parquet pages.
pub const ZSTD_LEVEL: i32 = 3;

/// The temp file a load into `target` writes before it is renamed over it.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// What the writers share: names for messages, the temp file and the target.
struct Staged {
    connection: String,
    table: String,
    target: PathBuf,
    temp: PathBuf,
    done: bool,
}

impl Staged {
    fn create(connection: &str, table: &str, target: &Path) -> EngineResult<(Self, File)> {
        let temp = temp_path(target);
        let file = File::create(&temp).map_err(|source| EngineError::Io {
            connection: connection.to_string(),
            path: temp.clone(),
            source,
        })?;
        let staged = Staged {
            connection: connection.to_string(),
            table: table.to_string(),
            target: target.to_path_buf(),
            temp,
            done: false,
        };
        Ok((staged, file))
    }

    fn error(&self, message: impl std::fmt::Display) -> EngineError {
        EngineError::query(
            &self.connection,
            Some(&self.table),
            None,
            format!("writing {}: {message}", self.target.display()),
        )
    }

    fn io_error(&self, path: &Path, source: std::io::Error) -> EngineError {
        EngineError::Io {
            connection: self.connection.clone(),
            path: path.to_path_buf(),
            source,
        }
    }

    /// Makes the temp file durable and renames it over the target.
    fn commit(&mut self, file: File) -> EngineResult<()> {
        file.sync_all().map_err(|e| self.io_error(&self.temp, e))?;
        drop(file);
        std::fs::rename(&self.temp, &self.target).map_err(|e| self.io_error(&self.target, e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes one Parquet file with ZSTD pages and row groups of [`ROW_GROUP_ROWS`].
pub struct ParquetWriter {
    // Declared before `staged` so the file is closed before the temp file is removed.
    writer: Option<ArrowWriter<File>>,
    staged: Staged,
}

impl ParquetWriter {
    /// Starts writing `target` (through its temp file) with `schema`.
    pub fn create(
        connection: &str,
        table: &str,
        target: &Path,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let (staged, file) = Staged::create(connection, table, target)?;
        let level = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| staged.error(e))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .build();
        let writer =
            ArrowWriter::try_new(file, schema, Some(properties)).map_err(|e| staged.error(e))?;
        Ok(Self {
            writer: Some(writer),
            staged,
        })
    }
}

impl BatchWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| self.staged.error("the writer is closed"))?;
        writer.write(batch).map_err(|e| self.staged.error(e))?;
        Ok(batch.num_rows() as u64)
    }

    fn finish(mut self: Box<Self>) -> EngineResult<u64> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| self.staged.error("the writer is closed"))?;
        let file = writer.into_inner().map_err(|e| self.staged.error(e))?;
        self.staged.commit(file)?;
        Ok(0)
    }
}

/// Writes one CSV file with a header row (written even when no rows are).
pub struct CsvWriter {
    writer: Option<ArrowCsvWriter<BufWriter<File>>>,
    schema: SchemaRef,
    rows: u64,
    staged: Staged,
}

impl CsvWriter {
    /// Starts writing `target` (through its temp file) with `schema`.
    pub fn create(
        connection: &str,
        table: &str,
        target: &Path,
        schema: SchemaRef,
    ) -> EngineResult<Self> {
        let (staged, file) = Staged::create(connection, table, target)?;
        let writer = WriterBuilder::new()
            .with_header(true)
            .build(BufWriter::with_capacity(1 << 20, file));
        Ok(Self {
            writer: Some(writer),
            schema,
            rows: 0,
            staged,
        })
    }
}

impl BatchWriter for CsvWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| self.staged.error("the writer is closed"))?;
        writer.write(batch).map_err(|e| self.staged.error(e))?;
        self.rows += batch.num_rows() as u64;
        Ok(batch.num_rows() as u64)
    }

    fn finish(mut self: Box<Self>) -> EngineResult<u64> {
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| self.staged.error("the writer is closed"))?;
        if self.rows == 0 {
            // The header is written with the first batch.
            writer
                .write(&RecordBatch::new_empty(self.schema.clone()))
                .map_err(|e| self.staged.error(e))?;
        }
        let mut buffered = writer.into_inner();
        buffered
            .flush()
            .map_err(|e| self.staged.io_error(&self.staged.temp, e))?;
        let file = buffered
            .into_inner()
            .map_err(|e| self.staged.error(e.error()))?;
        self.staged.commit(file)?;
        Ok(0)
    }
}
