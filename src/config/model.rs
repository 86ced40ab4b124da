//! The pipeline file as written (TOML). Unknown keys are rejected. See the
//! README's "Pipeline file" section for the format.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::engines::WriteMode;

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
    /// SQL macros: `NAME = "expression"` (no parameters), or `[functions.NAME]`
    /// with `args = [...]` and `sql = "expression"`. Checked in `load.rs`.
    #[serde(default)]
    pub functions: BTreeMap<String, Spanned<toml::Value>>,
}

/// `[connections.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFile {
    pub url: Spanned<String>,
    #[serde(default)]
    pub read_only: bool,
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
