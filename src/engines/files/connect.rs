//! [`FileConnection`]: a Parquet or CSV file, a directory of them, or a glob,
//! as a connection whose tables are the files (named by their stems).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;

use super::sink::{CsvWriter, ParquetWriter};
use super::source::{extension, kind_label, listing_table, parquet_row_count};
use super::types::check_schema;
use crate::engines::load::LoadPlan;
use crate::engines::{BatchWriter, Connection, OpenOptions};
use crate::error::{EngineError, EngineResult};
use crate::model::{EngineKind, TableName, TargetSpec, WriteMode};

/// The only schema of a file connection.
pub const SCHEMA: &str = "main";

/// What the connection's path names.
#[derive(Debug, Clone)]
enum Location {
    /// One file; its stem is the only table.
    File { path: PathBuf, table: String },
    /// A directory: each `*.parquet` (or `*.csv`) file in it is a table, and
    /// target table `t` is written to `DIR/t.parquet`.
    Dir(PathBuf),
    /// A glob: each matching file is a table (read only).
    Glob(String),
}

/// A connection to Parquet or CSV files.
#[derive(Debug)]
pub struct FileConnection {
    name: String,
    kind: EngineKind,
    location: Location,
    read_only: bool,
}

fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

fn stem(path: &Path) -> Option<String> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
}

/// The other format's extension, when `path` ends with it (a likely mistake).
fn other_extension(path: &str, kind: EngineKind) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let other = match kind {
        EngineKind::Csv => "parquet",
        _ => "csv",
    };
    lower.ends_with(&format!(".{other}")).then_some(other)
}

impl FileConnection {
    /// Opens `path` (a file, a directory, or a glob) as connection `name`.
    /// With `options.create`, a missing directory (or a missing file's
    /// parent directory) is created; otherwise a missing path is an error.
    pub fn open(
        name: &str,
        path: &str,
        kind: EngineKind,
        options: &OpenOptions,
    ) -> EngineResult<Arc<dyn Connection>> {
        let open_error = |message: String, hint: Option<String>| EngineError::Open {
            connection: name.to_string(),
            url: format!("{kind}://{path}"),
            message,
            hint,
            code: None,
        };
        let ext = extension(kind);
        if path.is_empty() {
            return Err(open_error(
                "the path is empty".to_string(),
                Some(format!(
                    "use {kind}://FILE.{ext} for one file or {kind}://DIR for a directory of *.{ext} files"
                )),
            ));
        }
        let absolute = std::path::absolute(path)
            .map_err(|e| open_error(format!("cannot resolve the path: {e}"), None))?;

        let location = if has_glob(path) {
            // The pattern is taken as written; a relative one is anchored at
            // the current directory, whose name is matched literally.
            let pattern = if Path::new(path).is_absolute() {
                path.to_string()
            } else {
                let cwd = std::env::current_dir()
                    .map_err(|e| open_error(format!("cannot resolve the path: {e}"), None))?;
                format!(
                    "{}/{}",
                    glob::Pattern::escape(&cwd.to_string_lossy()),
                    path.trim_start_matches("./")
                )
            };
            glob::Pattern::new(&pattern).map_err(|e| {
                open_error(
                    format!("invalid glob pattern: {e}"),
                    Some(
                        "a glob uses *, ? and [abc]; write [[] or []] for a literal bracket"
                            .to_string(),
                    ),
                )
            })?;
            let location = Location::Glob(pattern);
            let connection = FileConnection {
                name: name.to_string(),
                kind,
                location: location.clone(),
                read_only: true,
            };
            let files = connection.glob_files()?;
            if files.is_empty() && !options.create {
                return Err(open_error(
                    "no file matches the pattern".to_string(),
                    Some(format!("check the pattern, e.g. {kind}://data/*.{ext}")),
                ));
            }
            location
        } else if absolute.is_dir() {
            Location::Dir(absolute)
        } else {
            let looks_like_file = !path.ends_with('/')
                && (absolute.is_file()
                    || path.to_ascii_lowercase().ends_with(".parquet")
                    || path.to_ascii_lowercase().ends_with(".csv"));
            if looks_like_file {
                if let Some(other) = other_extension(path, kind) {
                    return Err(open_error(
                        format!("the file ends in .{other} but the URL asks for {kind}"),
                        Some(format!("use {other}://{path}, or a file ending in .{ext}")),
                    ));
                }
                if !absolute.exists() {
                    if !options.create {
                        return Err(open_error(
                            "no such file or directory".to_string(),
                            Some(format!(
                                "check the path (relative paths start at the current directory, {})",
                                current_dir_label()
                            )),
                        ));
                    }
                    if let Some(parent) = absolute.parent() {
                        create_dir(name, parent)?;
                    }
                }
                let table = stem(&absolute).ok_or_else(|| {
                    open_error(
                        "the file name is not valid UTF-8".to_string(),
                        Some("rename the file".to_string()),
                    )
                })?;
                Location::File {
                    path: absolute,
                    table,
                }
            } else {
                if !options.create {
                    return Err(open_error(
                        "no such file or directory".to_string(),
                        Some(format!(
                            "check the path (relative paths start at the current directory, {}); a directory is created only when the connection is a step's target",
                            current_dir_label()
                        )),
                    ));
                }
                create_dir(name, &absolute)?;
                Location::Dir(absolute)
            }
        };
        let read_only = options.read_only || matches!(location, Location::Glob(_));
        Ok(Arc::new(FileConnection {
            name: name.to_string(),
            kind,
            location,
            read_only,
        }))
    }

    fn io_error(&self, path: &Path, source: std::io::Error) -> EngineError {
        EngineError::Io {
            connection: self.name.clone(),
            path: path.to_path_buf(),
            source,
        }
    }

    fn has_extension(&self, path: &Path) -> bool {
        path.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case(extension(self.kind)))
    }

    /// Files matching the glob, as (table, path).
    fn glob_files(&self) -> EngineResult<Vec<(String, PathBuf)>> {
        let Location::Glob(pattern) = &self.location else {
            return Ok(Vec::new());
        };
        let paths = glob::glob(pattern).map_err(|e| {
            EngineError::query(
                &self.name,
                None,
                None,
                format!("invalid glob pattern {pattern}: {e}"),
            )
        })?;
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for entry in paths {
            let path = entry.map_err(|e| {
                let path = e.path().to_path_buf();
                self.io_error(&path, e.into())
            })?;
            if !path.is_file() || is_hidden(&path) {
                continue;
            }
            let Some(table) = stem(&path) else { continue };
            if let Some((_, first)) = files.iter().find(|(t, _)| *t == table) {
                return Err(EngineError::query(
                    &self.name,
                    Some(&table),
                    None,
                    format!(
                        "the pattern {pattern} matches two files named {table}: {} and {}\n  hint: narrow the pattern so that each file name (without extension) appears once",
                        first.display(),
                        path.display()
                    ),
                ));
            }
            files.push((table, path));
        }
        files.sort();
        Ok(files)
    }

    /// Every table the connection holds now, as (table, path).
    fn files(&self) -> EngineResult<Vec<(String, PathBuf)>> {
        match &self.location {
            Location::File { path, table } => Ok(if path.is_file() {
                vec![(table.clone(), path.clone())]
            } else {
                Vec::new()
            }),
            Location::Glob(_) => self.glob_files(),
            Location::Dir(dir) => {
                let entries = match std::fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(self.io_error(dir, e)),
                };
                let mut files = Vec::new();
                for entry in entries {
                    let path = entry.map_err(|e| self.io_error(dir, e))?.path();
                    if path.is_file() && self.has_extension(&path) && !is_hidden(&path) {
                        if let Some(table) = stem(&path) {
                            files.push((table, path));
                        }
                    }
                }
                files.sort();
                Ok(files)
            }
        }
    }

    /// The existing file of `table`: an exact name match, else the only
    /// case-insensitive one (SQL folds unquoted names to lower case).
    fn find(&self, table: &TableName) -> EngineResult<Option<(String, PathBuf)>> {
        if !in_schema(table) {
            return Ok(None);
        }
        let files = self.files()?;
        if let Some(found) = files.iter().find(|(t, _)| *t == table.name) {
            return Ok(Some(found.clone()));
        }
        let mut folded = files
            .iter()
            .filter(|(t, _)| t.eq_ignore_ascii_case(&table.name));
        match (folded.next(), folded.next()) {
            (Some(found), None) => Ok(Some(found.clone())),
            _ => Ok(None),
        }
    }

    /// The file a target table is written to, checked for writability.
    fn target_path(&self, table: &TableName) -> EngineResult<PathBuf> {
        if self.read_only {
            let why = if matches!(self.location, Location::Glob(_)) {
                "its URL is a glob, which is read only\n  hint: write to a directory (parquet://DIR) or one file (parquet://DIR/NAME.parquet) instead"
            } else {
                "it is read_only\n  hint: remove read_only = true from the connection, or write to another connection"
            };
            return Err(EngineError::unsupported(
                &self.name,
                format!("cannot write table '{table}': {why}"),
            ));
        }
        if !in_schema(table) {
            return Err(EngineError::unsupported(
                &self.name,
                format!(
                    "cannot write table '{table}': {} connections have the single schema '{SCHEMA}'\n  hint: name the target {}.{}",
                    kind_label(self.kind),
                    self.name,
                    table.name
                ),
            ));
        }
        let name = &table.name;
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
            return Err(EngineError::unsupported(
                &self.name,
                format!(
                    "cannot write table '{name}': the name is not a plain file name\n  hint: use letters, digits and underscores"
                ),
            ));
        }
        match &self.location {
            Location::File { path, table: only } => {
                if only == name || only.eq_ignore_ascii_case(name) {
                    Ok(path.clone())
                } else {
                    Err(EngineError::unsupported(
                        &self.name,
                        format!(
                            "cannot write table '{name}': the connection is the single file {} whose table is '{only}'\n  hint: name the target {}.{only}, or point the connection at a directory ({}://DIR) to write several tables",
                            path.display(),
                            self.name,
                            self.kind
                        ),
                    ))
                }
            }
            Location::Dir(dir) => Ok(match self.find(table)? {
                Some((_, path)) => path,
                None => dir.join(format!("{name}.{}", extension(self.kind))),
            }),
            Location::Glob(_) => Err(EngineError::unsupported(
                &self.name,
                format!("cannot write table '{name}' to a glob"),
            )),
        }
    }

    /// Refuses modes and existing files that the mode cannot handle.
    fn check_mode(&self, target: &TargetSpec, path: &Path) -> EngineResult<()> {
        let label = kind_label(self.kind);
        let exists = path.exists();
        match target.mode {
            WriteMode::Append if exists => Err(EngineError::unsupported(
                &self.name,
                format!(
                    "table '{}' ({}) exists: Parquet/CSV files cannot be appended to\n  hint: use mode = \"replace\" to rewrite the file, or write to a new table name",
                    target.table,
                    path.display()
                ),
            )),
            WriteMode::ErrorIfExists if exists => Err(EngineError::TargetExists {
                connection: self.name.clone(),
                table: format!("{} ({})", target.table, path.display()),
            }),
            WriteMode::InsertIgnore | WriteMode::Upsert => Err(EngineError::unsupported(
                &self.name,
                format!(
                    "mode {} is not supported for {label} files (table '{}'): a file has no keys to match rows on\n  hint: use mode = \"replace\" to rewrite the whole file, or write to a database connection",
                    target.mode, target.table
                ),
            )),
            _ => Ok(()),
        }
    }

    /// One line describing the file written for `table` with `schema`.
    fn describe_write(
        &self,
        table: &TableName,
        path: &Path,
        schema: &SchemaRef,
    ) -> EngineResult<String> {
        check_schema(&self.name, &table.to_string(), self.kind, schema)?;
        let columns = schema
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
            .join(", ");
        let format = match self.kind {
            EngineKind::Csv => "(CSV with header)".to_string(),
            _ => format!("(zstd level {})", super::sink::ZSTD_LEVEL),
        };
        Ok(format!(
            "-- write {} {format} with columns: {columns}",
            path.display()
        ))
    }
}

fn in_schema(table: &TableName) -> bool {
    table
        .schema
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case(SCHEMA))
}

/// Temp files of loads in progress (and other dot files) are not tables.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn current_dir_label() -> String {
    std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

fn create_dir(connection: &str, dir: &Path) -> EngineResult<()> {
    std::fs::create_dir_all(dir).map_err(|source| EngineError::Io {
        connection: connection.to_string(),
        path: dir.to_path_buf(),
        source,
    })
}

#[async_trait]
impl Connection for FileConnection {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> EngineKind {
        self.kind
    }

    fn default_schema(&self) -> &str {
        SCHEMA
    }

    async fn list_tables(&self) -> EngineResult<Vec<TableName>> {
        Ok(self
            .files()?
            .into_iter()
            .map(|(table, _)| TableName::new(Some(SCHEMA), &table))
            .collect())
    }

    async fn table_schema(&self, table: &TableName) -> EngineResult<Option<SchemaRef>> {
        let Some((name, path)) = self.find(table)? else {
            return Ok(None);
        };
        let provider = listing_table(&self.name, &name, &path, self.kind).await?;
        Ok(Some(provider.schema()))
    }

    async fn table_provider(
        self: Arc<Self>,
        table: &TableName,
    ) -> EngineResult<Option<Arc<dyn TableProvider>>> {
        let Some((name, path)) = self.find(table)? else {
            return Ok(None);
        };
        Ok(Some(
            listing_table(&self.name, &name, &path, self.kind).await?,
        ))
    }

    async fn row_count(&self, table: &TableName) -> EngineResult<Option<u64>> {
        if self.kind == EngineKind::Csv {
            return Ok(None);
        }
        let Some((name, path)) = self.find(table)? else {
            return Ok(None);
        };
        let connection = self.name.clone();
        let rows =
            tokio::task::spawn_blocking(move || parquet_row_count(&connection, &name, &path))
                .await
                .map_err(|e| EngineError::query(&self.name, Some(&table.name), None, e))??;
        Ok(Some(rows))
    }

    fn create_table_sql(
        &self,
        table: &TableName,
        schema: &SchemaRef,
        _key: &[String],
    ) -> EngineResult<String> {
        let path = self.target_path(table)?;
        self.describe_write(table, &path, schema)
    }

    async fn prepare_target(
        &self,
        target: &TargetSpec,
        schema: &SchemaRef,
        _dry_run: bool,
        _chunked: bool,
    ) -> EngineResult<LoadPlan> {
        // Nothing is changed before the load: the writer replaces the file at finish.
        let path = self.target_path(&target.table)?;
        self.check_mode(target, &path)?;
        let mut lines = Vec::new();
        if path.exists() {
            lines.push(format!(
                "-- replace {} when the load finishes (atomic rename; a failed load keeps the old file)",
                path.display()
            ));
        }
        lines.push(self.describe_write(&target.table, &path, schema)?);
        Ok(LoadPlan {
            described: lines,
            ..LoadPlan::default()
        })
    }

    fn open_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        let path = self.target_path(&target.table)?;
        self.check_mode(target, &path)?;
        let table = target.table.to_string();
        check_schema(&self.name, &table, self.kind, &schema)?;
        Ok(match self.kind {
            EngineKind::Csv => Box::new(CsvWriter::create(&self.name, &table, &path, schema)?),
            _ => Box::new(ParquetWriter::create(&self.name, &table, &path, schema)?),
        })
    }

    fn isolates_rejects(&self) -> Result<(), String> {
        Ok(())
    }

    /// Files refuse no row: `max_rejects` changes nothing.
    fn open_isolating_writer(
        &self,
        target: &TargetSpec,
        schema: SchemaRef,
    ) -> EngineResult<Box<dyn BatchWriter>> {
        Ok(Box::new(crate::engines::RefusesNothing(
            self.open_writer(target, schema)?,
        )))
    }
}

#[cfg(test)]
mod tests;
