//! The pipeline file as written (TOML). Unknown keys are rejected. See the
//! README's "Pipeline file" section for the format.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::model::WriteMode;

/// A pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// Pipeline name (defaults to the file stem).
    pub name: Option<String>,
    /// Free text shown by `barge plan`.
    pub description: Option<String>,
    #[serde(default)]
    pub connections: BTreeMap<String, ConnectionFile>,
    /// Parameters, used as `${name}` in SQL and URLs.
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    pub defaults: DefaultsFile,
    #[serde(default, rename = "step")]
    pub steps: Vec<StepFile>,
    /// Value mappings: `[mappings.NAME]` with `KEY = value` pairs or `file = "x.csv"`.
    #[serde(default)]
    pub mappings: BTreeMap<String, Spanned<BTreeMap<String, toml::Value>>>,
    /// `[subset]`: steps derived by following foreign keys from root rows.
    pub subset: Option<Spanned<SubsetFile>>,
    /// SQL macros: `NAME = "expression"` (no parameters), or `[functions.NAME]`
    /// with `args = [...]` and `sql = "expression"`. Checked in `load.rs`.
    #[serde(default)]
    pub functions: BTreeMap<String, Spanned<toml::Value>>,
}

/// `[subset]`: a root table and its `where`, from which barge follows the
/// foreign keys of the source to select every table's rows (see `crate::subset`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetFile {
    /// `connection.table` of the root table.
    pub root: Spanned<String>,
    /// SQL condition on the root table's columns selecting the root rows.
    #[serde(rename = "where")]
    pub where_sql: Spanned<String>,
    /// Further roots, each with its own `where`.
    #[serde(default)]
    pub roots: Vec<SubsetRootFile>,
    /// The connection the subset is written to (default: the only other connection).
    pub target: Option<Spanned<String>>,
    /// Foreign keys the source does not declare.
    #[serde(default)]
    pub fk: Vec<SubsetFkFile>,
    /// Also follow foreign keys inferred from `<table>_id` column names.
    #[serde(default)]
    pub infer_fks: bool,
    /// Tables with no path to a root: `all` (copied whole, the default) or
    /// `needed` (only the rows copied rows reference).
    pub reference: Option<Spanned<String>>,
    /// Ask before copying a reference table of more rows than this whole (default 400).
    pub confirm_rows: Option<u64>,
    /// Do not copy reference tables above `confirm_rows` whole (no question asked).
    #[serde(default)]
    pub skip_large: bool,
    /// Tables never copied: `DB.TABLE`, `DB.*`, `*.TABLE`, `TABLE` (globs).
    #[serde(default)]
    pub skip: Vec<String>,
    /// Tables always copied whole (win over `skip`).
    #[serde(default)]
    pub force: Vec<String>,
    /// Write mode of the derived steps (default: `[defaults].mode`, else insert_ignore).
    pub mode: Option<WriteMode>,
}

/// `[[subset.roots]]`: a further root table and its `where`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetRootFile {
    /// `connection.table` of the root table.
    pub root: Spanned<String>,
    /// SQL condition on its columns.
    #[serde(rename = "where")]
    pub where_sql: Spanned<String>,
}

/// `[[subset.fk]]`: a foreign key the source does not declare.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetFkFile {
    /// The referencing table.
    pub table: Spanned<String>,
    /// Its referencing column(s).
    pub columns: KeyFile,
    /// The referenced table.
    pub references: Spanned<String>,
    /// The referenced column(s) (default: the referenced table's primary key).
    pub referenced_columns: Option<KeyFile>,
}

/// `[connections.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFile {
    pub url: Spanned<String>,
    #[serde(default)]
    pub read_only: bool,
    /// Whether every read of the connection in a run shares one snapshot
    /// (PostgreSQL, MySQL/MariaDB; default true).
    #[serde(default = "yes")]
    pub snapshot: bool,
}

fn yes() -> bool {
    true
}

/// `[defaults]`: values every step takes unless it sets its own.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsFile {
    pub mode: Option<WriteMode>,
    /// Stage every step's rows to Parquet under `DIR/<run_id>/` (`--stage` wins).
    pub stage: Option<Spanned<String>>,
    /// Retries of a step after a passing failure (default 3; 0: none).
    pub retries: Option<u32>,
    /// Longest wait between two attempts, in seconds (default 30).
    pub retry_max_seconds: Option<Spanned<f64>>,
    /// Commit keyed steps in chunks of about this many rows, each checkpointed
    /// so a rerun continues after the last committed chunk.
    pub chunk_rows: Option<Spanned<u64>>,
    /// Rows a step's target may refuse, set aside in `rejects/<run_id>/`
    /// (default 0: the first refused row fails the step).
    pub max_rejects: Option<u64>,
    /// DataFusion's memory for joins, sorts and aggregates, beyond which
    /// they spill to disk: bytes, or text such as `"512MiB"` (default 1 GiB;
    /// `--memory-limit` wins).
    pub memory_limit: Option<Spanned<toml::Value>>,
}

/// `[[step]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    /// Step name (defaults to the target table name).
    pub name: Option<Spanned<String>>,
    /// `connection.table` or `connection.schema.table`.
    pub target: Spanned<String>,
    pub sql: Option<Spanned<String>>,
    /// A file holding the SQL, relative to the pipeline file.
    pub sql_file: Option<Spanned<String>>,
    #[serde(default)]
    pub key: Option<Spanned<KeyFile>>,
    pub mode: Option<WriteMode>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Load with the target's foreign-key checks off (restored after).
    #[serde(default)]
    pub disable_fk_checks: bool,
    /// Integer column whose ranges split the step's source reads.
    pub partition_on: Option<String>,
    /// Parallel range reads per source table (1 turns them off).
    pub partitions: Option<Spanned<usize>>,
    /// Retries after a passing failure (overrides `[defaults]`).
    pub retries: Option<u32>,
    /// Longest wait between two attempts, in seconds (overrides `[defaults]`).
    pub retry_max_seconds: Option<Spanned<f64>>,
    /// Rows per committed chunk (overrides `[defaults]`; 0 turns chunks off).
    pub chunk_rows: Option<Spanned<u64>>,
    /// Rows the target may refuse, set aside (overrides `[defaults]`).
    pub max_rejects: Option<u64>,
}

/// A key: one column name or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum KeyFile {
    One(String),
    Many(Vec<String>),
}

impl KeyFile {
    pub fn columns(&self) -> Vec<String> {
        match self {
            KeyFile::One(c) => vec![c.clone()],
            KeyFile::Many(cs) => cs.clone(),
        }
    }
}
