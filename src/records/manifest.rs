//! `manifest.json`: what a staged run moved, step by step. Written when the
//! run starts and rewritten as each step ends, so a killed run still leaves
//! a manifest of the steps it finished.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use crate::checksum::Checksum;
use crate::error::Error;

/// The manifest's file name inside `DIR/<run_id>/`.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Version of the manifest format this barge writes. Format 1 differs only
/// in its checksums (BLAKE3 over a binary encoding): its runs still replay,
/// but their checksums cannot be compared with today's.
pub const MANIFEST_FORMAT: u32 = 2;

/// The oldest manifest format this barge reads.
const OLDEST_FORMAT: u32 = 1;

/// A staged run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub pipeline: String,
    pub run_id: String,
    pub started_at: String,
    /// `None` while the run is going on (or when it was killed).
    pub finished_at: Option<String>,
    /// Params after overrides; values of secret-looking params are `***`.
    pub params: BTreeMap<String, String>,
    /// Connection URLs, passwords replaced by `***`.
    pub connections: BTreeMap<String, String>,
    pub steps: Vec<StagedStep>,
}

/// One step of a staged run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StagedStep {
    pub name: String,
    /// `connection.table` or `connection.schema.table`.
    pub target: String,
    /// The target table name and schema, for replay.
    pub table: String,
    pub table_schema: Option<String>,
    pub mode: String,
    pub key: Vec<String>,
    /// Rows the target may refuse (`max_rejects`): a replay sets aside as
    /// many, so rows the run's target refused do not fail a replay into a
    /// database with the same constraints.
    #[serde(default)]
    pub max_rejects: u64,
    /// The step's SQL as run by DataFusion.
    pub sql: String,
    /// What each source was sent: `(connection, SQL)`.
    pub source_queries: Vec<SourceQuery>,
    /// Columns of the staged files (target column names, the types written).
    pub schema: Vec<StagedColumn>,
    pub rows: u64,
    /// Order-independent content checksum (see `crate::checksum`), hex.
    pub checksum: String,
    /// Parquet files, relative to the run's directory (a resumed chunked
    /// step lists the chunks an earlier run staged as `../<run_id>/...`).
    pub files: Vec<PathBuf>,
    /// `staged`; `failed` (then the files are removed); `incomplete`: a
    /// chunked step some of whose chunks are not staged (still loading, the
    /// run stopped, or an earlier run loaded them without staging).
    pub status: String,
}

/// Status of a staged step whose every row is staged.
pub const STAGED: &str = "staged";
/// Status of a chunked step not every chunk of which is staged.
pub const INCOMPLETE: &str = "incomplete";

impl StagedStep {
    /// Adds the rows and files of `other`, more chunks of the same step.
    pub fn absorb(&mut self, other: StagedStep) {
        self.rows += other.rows;
        self.checksum = add_checksums(&self.checksum, &other.checksum);
        self.files.extend(other.files);
        self.source_queries.extend(other.source_queries);
        if self.schema.is_empty() {
            self.schema = other.schema;
        }
    }
}

/// The checksum of two sets of rows, from theirs (hex; see
/// `crate::checksum`: sums modulo 2^64).
pub fn add_checksums(a: &str, b: &str) -> String {
    let sum = Checksum::sum_of_hex(a).wrapping_add(Checksum::sum_of_hex(b));
    format!("{sum:016x}")
}

/// A query sent to a source connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceQuery {
    pub connection: String,
    pub sql: String,
}

/// A column of staged files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StagedColumn {
    pub name: String,
    /// The Arrow type, as Arrow prints it (`Decimal128(15, 2)`, `Utf8`).
    pub data_type: String,
    pub nullable: bool,
}

impl StagedColumn {
    /// The columns of `schema`.
    pub fn of(schema: &Schema) -> Vec<StagedColumn> {
        schema
            .fields()
            .iter()
            .map(|f| StagedColumn {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
                nullable: f.is_nullable(),
            })
            .collect()
    }
}

impl Manifest {
    /// Reads `RUN_DIR/manifest.json`.
    pub fn read(run_dir: &Path) -> Result<Manifest, Error> {
        let path = run_dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            context: format!(
                "cannot read the stage manifest {}\n  hint: give the run's directory, DIR/<run_id>, as `barge run --stage DIR` made it",
                path.display()
            ),
            source,
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "{} is not a barge stage manifest: {e}",
                path.display()
            ))
        })?;
        if !(OLDEST_FORMAT..=MANIFEST_FORMAT).contains(&manifest.format) {
            return Err(Error::Usage(format!(
                "{} has manifest format {}; this barge reads formats {OLDEST_FORMAT} to {MANIFEST_FORMAT}",
                path.display(),
                manifest.format
            )));
        }
        Ok(manifest)
    }

    /// Writes `RUN_DIR/manifest.json` (see [`super::write_atomically`]: a
    /// reader never sees half of it, and it holds no secret).
    pub fn write(&self, run_dir: &Path) -> Result<(), Error> {
        super::write_atomically(&run_dir.join(MANIFEST_FILE), self)
    }

    /// Whether the checksums in this manifest are computed as today's barge
    /// computes them.
    pub fn checksums_comparable(&self) -> bool {
        self.format == MANIFEST_FORMAT
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&StagedStep> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// Runs staged under `stage_dir` (newest first) whose manifest names `pipeline`.
pub fn runs_of(stage_dir: &Path, pipeline: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(stage_dir) else {
        return Vec::new();
    };
    let mut runs: Vec<(String, String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let m = Manifest::read(&dir).ok()?;
            (m.pipeline == pipeline).then(|| (m.started_at.clone(), m.run_id, dir))
        })
        .collect();
    runs.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    runs.into_iter().map(|(_, id, dir)| (id, dir)).collect()
}
