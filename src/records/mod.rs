//! What a run leaves on disk, in one place: written by `run` (and `stage`),
//! read by `status`, `validate`, `replay` and `rollback`.
//!
//! | what | where | module |
//! | --- | --- | --- |
//! | run state (resume) | `.barge/state/<pipeline>-<digest>.json` beside the pipeline file | [`state`] |
//! | stage manifest | `<stage dir>/<run_id>/manifest.json`, staged files under `<step>/` | [`manifest`] |
//! | rejects | `rejects/<run_id>/<step>.parquet` beside the pipeline file | [`rejects`] |
//! | rollback journal | `.barge/journal/<run_id>/journal.json` and key files | [`journal`] |
//!
//! Every JSON file barge writes (these, and the run and validation reports)
//! goes through [`write_atomically`]: rewritten atomically, every string in
//! it scrubbed of secrets ([`crate::redact::scrub`]).

pub mod journal;
pub mod manifest;
pub mod rejects;
pub mod state;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Pipeline;
use crate::error::Error;

/// Now, as the state and reports write times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

/// `value` as pretty JSON, every string in it scrubbed of secrets
/// ([`crate::redact::scrub_json`]): what barge prints or writes as JSON.
pub fn to_json(value: &impl Serialize) -> Result<String, serde_json::Error> {
    let mut json = serde_json::to_value(value)?;
    crate::redact::scrub_json(&mut json);
    serde_json::to_string_pretty(&json)
}

/// Writes `value` as JSON ([`to_json`]: no secret in it) to `path` through
/// a temp file renamed over it, so a crash leaves the old file or the new
/// one, never half of one.
pub fn write_atomically(path: &Path, value: &impl Serialize) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        context: format!("cannot create the directory {}", dir.display()),
        source,
    })?;
    let json = to_json(value).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(json.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io {
            context: format!("cannot write {}", path.display()),
            source: e,
        }
    })
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("state file {}", path.display()),
        source,
    }
}

/// A step name as a directory name: path separators and other unsafe
/// characters become `_`.
pub fn step_dir_name(step: &str) -> String {
    let name: String = step
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "_".to_string()
    } else {
        name
    }
}

/// The stage directory of a run: `--stage` wins over `[defaults].stage`.
pub fn stage_dir(flag: Option<&Path>, pipeline: &Pipeline) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| pipeline.stage.as_ref().map(PathBuf::from))
}
