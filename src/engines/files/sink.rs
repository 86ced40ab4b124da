//! Writing files: [`ParquetWriter`] (ZSTD, large row groups, columns encoded
//! in parallel) and
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
use datafusion::parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::writer::SerializedFileWriter;
use datafusion::parquet::schema::types::ColumnPath;

use crate::engines::hooks::LoadObserver;
use crate::engines::BatchWriter;
use crate::error::{EngineError, EngineResult};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// Upper bound on a row group's encoded size, so wide rows keep memory bounded.
pub const ROW_GROUP_BYTES: usize = 256 * 1024 * 1024;
/// Most threads one Parquet file's columns are encoded on.
const MAX_ENCODER_THREADS: usize = 4;
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

/// Writes one Parquet file with ZSTD pages and row groups of [`ROW_GROUP_ROWS`],
/// encoding and compressing its columns on several threads at once.
pub struct ParquetWriter {
    /// The column writers of the row group being written (one per leaf column).
    columns: Vec<ArrowColumnWriter>,
    rows_in_group: usize,
    /// Rows written in all.
    rows: u64,
    row_group_rows: usize,
    threads: usize,
    factory: ArrowRowGroupWriterFactory,
    // Declared before `staged` so the file is closed before the temp file is removed.
    file: Option<SerializedFileWriter<File>>,
    schema: SchemaRef,
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
        Self::with_row_group_rows(connection, table, target, schema, ROW_GROUP_ROWS)
    }

    fn with_row_group_rows(
        connection: &str,
        table: &str,
        target: &Path,
        schema: SchemaRef,
        row_group_rows: usize,
    ) -> EngineResult<Self> {
        let (staged, file) = Staged::create(connection, table, target)?;
        let level = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| staged.error(e))?;
        let mut properties = WriterProperties::builder().set_compression(Compression::ZSTD(level));
        // Dictionaries pay for text; for numbers and dates zstd gets most of
        // their gain, and hashing every value was a third of the writer's time.
        for field in schema.fields() {
            if field.data_type().is_primitive() {
                properties = properties
                    .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
            }
        }
        // ArrowWriter converts the schema and records it in the footer; the
        // row groups are then written here, column by column in parallel.
        let (file, factory) = ArrowWriter::try_new(file, schema.clone(), Some(properties.build()))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(|e| staged.error(e))?;
        let columns = factory
            .create_column_writers(0)
            .map_err(|e| staged.error(e))?;
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_ENCODER_THREADS)
            .min(columns.len().max(1));
        Ok(Self {
            columns,
            rows_in_group: 0,
            rows: 0,
            row_group_rows,
            threads,
            factory,
            file: Some(file),
            schema,
            staged,
        })
    }

    /// Encodes `batch` (which fits in the current row group) into the
    /// column writers, a share of the columns per thread.
    fn encode(&mut self, batch: &RecordBatch) -> EngineResult<()> {
        let mut leaves = Vec::with_capacity(self.columns.len());
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, column).map_err(|e| self.staged.error(e))?);
        }
        let mut shares: Vec<Vec<_>> = (0..self.threads).map(|_| Vec::new()).collect();
        for (i, work) in self.columns.iter_mut().zip(&leaves).enumerate() {
            shares[i % self.threads].push(work);
        }
        let encode_share = |share: Vec<(&mut ArrowColumnWriter, &ArrowLeafColumn)>| {
            share
                .into_iter()
                .try_for_each(|(writer, leaf)| writer.write(leaf))
        };
        let result = std::thread::scope(|scope| {
            let mut shares = shares.into_iter();
            let mine = shares.next().unwrap_or_default();
            let others: Vec<_> = shares
                .map(|share| scope.spawn(move || encode_share(share)))
                .collect();
            let mut result = encode_share(mine);
            for handle in others {
                let other = handle.join().unwrap_or_else(|_| {
                    Err(ParquetError::General(
                        "a Parquet encoder thread panicked".into(),
                    ))
                });
                result = result.and(other);
            }
            result
        });
        result.map_err(|e| self.staged.error(e))
    }

    /// Closes the current row group's columns (in parallel: closing
    /// compresses the last pages) and appends them to the file.
    fn flush_row_group(&mut self) -> EngineResult<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| self.staged.error("the writer is closed"))?;
        let next = self
            .factory
            .create_column_writers(file.flushed_row_groups().len() + 1)
            .map_err(|e| self.staged.error(e))?;
        let columns = std::mem::replace(&mut self.columns, next);
        let mut shares: Vec<Vec<(usize, ArrowColumnWriter)>> =
            (0..self.threads).map(|_| Vec::new()).collect();
        for (i, writer) in columns.into_iter().enumerate() {
            shares[i % self.threads].push((i, writer));
        }
        let close_share = |share: Vec<(usize, ArrowColumnWriter)>| {
            share
                .into_iter()
                .map(|(i, writer)| writer.close().map(|chunk| (i, chunk)))
                .collect::<Result<Vec<_>, ParquetError>>()
        };
        let chunks = std::thread::scope(|scope| {
            let handles: Vec<_> = shares
                .into_iter()
                .map(|share| scope.spawn(move || close_share(share)))
                .collect();
            let mut chunks = Vec::new();
            for handle in handles {
                chunks.extend(handle.join().unwrap_or_else(|_| {
                    Err(ParquetError::General(
                        "a Parquet encoder thread panicked".into(),
                    ))
                })?);
            }
            Ok::<_, ParquetError>(chunks)
        });
        let mut chunks = chunks.map_err(|e| self.staged.error(e))?;
        chunks.sort_by_key(|(i, _)| *i);
        let mut row_group = file.next_row_group().map_err(|e| self.staged.error(e))?;
        for (_, chunk) in chunks {
            chunk
                .append_to_row_group(&mut row_group)
                .map_err(|e| self.staged.error(e))?;
        }
        row_group.close().map_err(|e| self.staged.error(e))?;
        self.rows_in_group = 0;
        Ok(())
    }
}

impl BatchWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<u64> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (self.row_group_rows - self.rows_in_group).min(batch.num_rows() - offset);
            self.encode(&batch.slice(offset, take))?;
            offset += take;
            self.rows_in_group += take;
            let bytes: usize = self
                .columns
                .iter()
                .map(ArrowColumnWriter::get_estimated_total_bytes)
                .sum();
            if self.rows_in_group >= self.row_group_rows || bytes >= ROW_GROUP_BYTES {
                self.flush_row_group()?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(batch.num_rows() as u64)
    }

    /// Closes the file and renames it into place: the rename is the commit.
    fn finish(mut self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
        if self.rows_in_group > 0 {
            self.flush_row_group()?;
        }
        let writer = self
            .file
            .take()
            .ok_or_else(|| self.staged.error("the writer is closed"))?;
        let file = writer.into_inner().map_err(|e| self.staged.error(e))?;
        observer.before_commit(self.rows)?;
        self.staged.commit(file)?;
        observer.after_commit()?;
        Ok(self.rows)
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

    /// Closes the file and renames it into place: the rename is the commit.
    fn finish(mut self: Box<Self>, observer: &dyn LoadObserver) -> EngineResult<u64> {
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
        observer.before_commit(self.rows)?;
        self.staged.commit(file)?;
        observer.after_commit()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests;
