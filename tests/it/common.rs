//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a `barge` invocation did.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "barge failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts a failure with `code` whose stderr contains every needle.
    #[track_caller]
    pub fn assert_fails(&self, code: i32, needles: &[&str]) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "stderr lacks {needle:?}:\n{}",
                self.stderr
            );
        }
        assert!(
            !self.stderr.contains("panicked"),
            "barge panicked:\n{}",
            self.stderr
        );
        self
    }
}

/// Runs the barge binary in `dir` with `args`.
pub fn barge(dir: &Path, args: &[&str]) -> Outcome {
    barge_with_env(dir, args, &[])
}

/// Runs the barge binary in `dir` with `args` and environment variables `env`.
pub fn barge_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_barge"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the barge binary runs");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temp dir holding a copy of `data/shop.sqlite` at `data/shop.sqlite`.
pub fn workdir_with_shop() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::copy(
        repo().join("data/shop.sqlite"),
        dir.path().join("data/shop.sqlite"),
    )
    .expect("copy shop");
    dir
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write file");
    path.to_string_lossy().into_owned()
}

/// All rows of a Parquet file as one batch.
pub fn read_parquet(path: &Path) -> datafusion::arrow::record_batch::RecordBatch {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).expect("open parquet");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet footer")
        .build()
        .expect("reader");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
}

/// Rows of a batch rendered as text (NULL as `None`).
pub fn batch_rows(
    batch: &datafusion::arrow::record_batch::RecordBatch,
) -> Vec<Vec<Option<String>>> {
    use datafusion::arrow::array::Array;
    use datafusion::arrow::util::display::ArrayFormatter;
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &Default::default()).expect("formatter"))
        .collect();
    (0..batch.num_rows())
        .map(|r| {
            batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string()))
                .collect()
        })
        .collect()
}

/// Writes pipeline file `name` into `dir`: connections `src` and `dst` at
/// those URLs, then `body` (steps, defaults, a subset); returns its path.
pub fn src_dst_pipeline(dir: &Path, name: &str, src: &str, dst: &str, body: &str) -> String {
    write_file(
        dir,
        name,
        &format!(
            "\n[connections.src]\nurl = \"{src}\"\n\n[connections.dst]\nurl = \"{dst}\"\n{body}"
        ),
    )
}

/// Rows of a DuckDB query, each value as text (NULL as `None`); every
/// column must be cast to VARCHAR in `sql`.
pub fn duckdb_rows(path: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    let conn = duckdb::Connection::open(path).expect("open duckdb");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            let mut row = Vec::new();
            let mut i = 0;
            while let Ok(v) = r.get::<_, Option<String>>(i) {
                row.push(v);
                i += 1;
            }
            Ok(row)
        })
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    rows
}

/// Rows of a SQLite query, each value as text (NULL as `None`).
pub fn sqlite_rows(path: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    let conn = rusqlite::Connection::open(path).expect("open sqlite");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => None,
                    rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                    rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                    rusqlite::types::ValueRef::Text(t) => {
                        Some(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(b) => Some(format!("{b:?}")),
                })
            })
            .collect()
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}
