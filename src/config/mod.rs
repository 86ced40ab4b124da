//! Pipeline files: the TOML model ([`model`]), loading with `${VAR}`
//! interpolation and validation ([`load`]), and the resolved [`Pipeline`] the
//! executor runs.

mod interpolate;
mod load;
pub mod model;
mod size;

pub use load::{load_pipeline, LoadOptions};
pub use size::{parse_memory_limit, DEFAULT_MEMORY_LIMIT};

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::model::{TableName, WriteMode};

/// A pipeline ready to run: every `${VAR}` resolved, every reference checked.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    /// The pipeline file, when there is one (not for `barge copy`).
    pub file: Option<PathBuf>,
    pub connections: Vec<ConnectionConfig>,
    /// Parameters after `--set` and environment overrides.
    pub params: BTreeMap<String, String>,
    pub steps: Vec<StepConfig>,
    pub mappings: BTreeMap<String, Mapping>,
    /// `[defaults].stage`: the directory runs are staged under (`--stage` wins).
    pub stage: Option<String>,
    /// `[subset]`, expanded into steps by `crate::subset::expand_subset`
    /// once the source is open.
    pub subset: Option<SubsetConfig>,
    /// `BARGE_SALT` from the environment (or a `.env`): the secret of `mask`
    /// and `hash_text`.
    pub salt: Option<SecretString>,
    /// Bytes of memory DataFusion's joins, sorts and aggregates may hold
    /// before they spill to disk (`[defaults].memory_limit`,
    /// `--memory-limit`; default [`DEFAULT_MEMORY_LIMIT`]).
    pub memory_limit: u64,
}

/// `[subset]` resolved: roots with their conditions, and how the tables
/// around them are chosen (see `crate::subset`).
#[derive(Debug, Clone)]
pub struct SubsetConfig {
    /// The root tables; all on one connection, the subset's source.
    pub roots: Vec<SubsetRoot>,
    /// The connection written to (`None`: the only connection besides the source).
    pub target: Option<String>,
    /// Foreign keys declared in the pipeline.
    pub fks: Vec<SubsetFk>,
    /// Follow foreign keys inferred from `<table>_id` names.
    pub infer_fks: bool,
    /// How tables with no path to a root are copied.
    pub reference: ReferenceMode,
    /// Reference tables above this many rows are copied whole only when confirmed.
    pub confirm_rows: u64,
    /// Large reference tables are not copied whole (only referenced rows).
    pub skip_large: bool,
    /// Patterns of tables never copied.
    pub skip: Vec<String>,
    /// Patterns of tables always copied whole.
    pub force: Vec<String>,
    /// Write mode of the derived steps (`mode`, else `[defaults].mode`);
    /// `None`: insert_ignore into databases, replace into files.
    pub mode: Option<WriteMode>,
    /// Retry policy of the derived steps (`[defaults]`).
    pub retry: RetryPolicy,
    /// Where `[subset]` is declared (`file:line`), for messages.
    pub origin: String,
}

/// One root of a subset: `connection.table` and the condition on its rows.
#[derive(Debug, Clone)]
pub struct SubsetRoot {
    /// The source connection.
    pub connection: String,
    /// The root table.
    pub table: TableName,
    /// SQL condition over the root's columns (params interpolated).
    pub where_sql: String,
}

/// A foreign key declared in `[[subset.fk]]`.
#[derive(Debug, Clone)]
pub struct SubsetFk {
    /// The referencing table.
    pub table: String,
    /// Its referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub references: String,
    /// Empty: the referenced table's primary key.
    pub referenced_columns: Vec<String>,
}

/// `reference = "all" | "needed"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReferenceMode {
    /// Copy tables with no path to a root whole.
    #[default]
    All,
    /// Copy only the rows of such tables that copied rows reference.
    Needed,
}

impl Pipeline {
    /// The pipeline file's directory, where its run state, journal and
    /// rejects go (the working directory for `barge copy`).
    pub fn dir(&self) -> PathBuf {
        self.file
            .as_deref()
            .and_then(std::path::Path::parent)
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    }

    pub fn connection(&self, name: &str) -> Option<&ConnectionConfig> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// The passwords of the connections' URLs, to keep out of what is
    /// printed or stored (see [`crate::redact`]).
    pub fn passwords(&self) -> Vec<&str> {
        self.connections
            .iter()
            .filter_map(|c| crate::redact::url_password(c.url.expose_secret()))
            .collect()
    }
}

/// A connection of the pipeline.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub name: String,
    /// The URL; may hold a password, so it is only exposed to open the connection.
    pub url: SecretString,
    pub read_only: bool,
    /// Every read of the connection in a run shares one snapshot (`snapshot
    /// = true`, the default), unless steps write to it (see
    /// [`crate::session::Session::open`]).
    pub snapshot: bool,
}

impl ConnectionConfig {
    /// The URL with any password replaced by `***`, for messages.
    pub fn display_url(&self) -> String {
        crate::redact::redact_url(self.url.expose_secret())
    }
}

/// Where a step writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub connection: String,
    pub table: TableName,
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.connection, self.table)
    }
}

/// One step: a SQL query whose rows go into a target table.
#[derive(Debug, Clone)]
pub struct StepConfig {
    pub name: String,
    pub target: TargetRef,
    pub sql: String,
    pub key: Vec<String>,
    pub mode: WriteMode,
    /// Steps this one must run after, besides those whose targets it reads.
    pub depends_on: Vec<String>,
    /// Load with the target's foreign-key checks off (MySQL
    /// `FOREIGN_KEY_CHECKS = 0`, PostgreSQL `session_replication_role = replica`).
    pub disable_fk_checks: bool,
    /// Integer column whose value ranges split the step's source reads
    /// (default: each table's integer primary key).
    pub partition_on: Option<String>,
    /// Parallel range reads per source table (default: the session's
    /// target partitions: the number of cores, at least 2).
    pub partitions: Option<usize>,
    /// Retries after a passing failure (see `run::retry`).
    pub retry: RetryPolicy,
    /// Commit in chunks of about this many rows, split on the ranges of an
    /// integer column (`partition_on`, else the single `key` column); each
    /// chunk is checkpointed in the run's state (see `run::state`).
    pub chunk_rows: Option<u64>,
    /// Rows the target may refuse, set aside in the run's rejects file
    /// (see `run::rejects`); 0: the first refused row fails the step.
    pub max_rejects: u64,
    /// Where the step is declared (`file:line`), for messages.
    pub origin: String,
}

/// How often and how long a step is retried after a passing failure
/// (`retries`, `retry_max_seconds` in `[defaults]` or a step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// Longest wait between two attempts, in seconds.
    pub max_seconds: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            max_seconds: 30.0,
        }
    }
}

/// A value mapping used by `map_value(name, value)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub entries: Vec<(String, MappingValue)>,
}

/// A mapped value.
#[derive(Debug, Clone, PartialEq)]
pub enum MappingValue {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}
