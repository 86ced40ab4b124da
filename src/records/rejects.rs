//! Rejects files: rows a load's target refused, set aside in
//! `rejects/<run_id>/<step>.parquet` beside the pipeline file (see
//! `run::rejects`, which writes them; `validate` counts them).

use std::path::{Path, PathBuf};

use super::step_dir_name;
use crate::config::Pipeline;

/// Column of the rejects file holding the target's message.
pub const ERROR_COLUMN: &str = "barge_error";
/// Column of the rejects file holding the row's 1-based place in the step's output.
pub const ROW_COLUMN: &str = "barge_row";
/// Directory, beside the pipeline file, that runs set refused rows aside in.
pub const REJECTS_DIR: &str = "rejects";

/// Where a run's rejects files go: `rejects/<run_id>/` beside the pipeline
/// file (in the working directory for `barge copy`).
pub fn run_dir(pipeline: &Pipeline, run_id: &str) -> PathBuf {
    pipeline.dir().join(REJECTS_DIR).join(run_id)
}

/// The rejects file of `step` in the run's rejects directory.
pub fn file_of(run_dir: &Path, step: &str) -> PathBuf {
    run_dir.join(format!("{}.parquet", step_dir_name(step)))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn rejects_go_beside_the_pipeline_file_one_file_per_step() {
        let pipeline = Pipeline {
            name: "p".into(),
            file: Some(PathBuf::from("/work/pipes/p.toml")),
            connections: vec![],
            params: Default::default(),
            steps: vec![],
            mappings: Default::default(),
            stage: None,
            subset: None,
            salt: None,
            memory_limit: crate::config::DEFAULT_MEMORY_LIMIT,
        };
        let dir = run_dir(&pipeline, "20261122T000000Z-abc123");
        assert_eq!(
            dir,
            PathBuf::from("/work/pipes/rejects/20261122T000000Z-abc123")
        );
        assert_eq!(
            file_of(&dir, "load users"),
            PathBuf::from("/work/pipes/rejects/20261122T000000Z-abc123/load_users.parquet")
        );
    }
}
