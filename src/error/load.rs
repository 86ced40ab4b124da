//! [`LoadError`]: failures of what a run does beside a load (staging its
//! rows, setting refused rows aside). They reach the engine's sink boxed in
//! [`super::EngineError::Driver`], so engines know none of them.

use std::path::PathBuf;

/// A failure beside a load; the load is rolled back.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("staging to {path}: {message}\n  hint: check the stage directory (--stage or [defaults].stage): free space and permissions")]
    Stage { path: PathBuf, message: String },

    #[error("setting refused rows aside in {path}: {message}\n  hint: check the rejects directory beside the pipeline file: free space and permissions")]
    Rejects { path: PathBuf, message: String },

    #[error("count check failed on {target}: {read} rows read, the target reports {written} written{}; the load was rolled back\n  hint: run `barge validate` on the pipeline to compare the source with the target", refused_suffix(*.rejected))]
    CountMismatch {
        target: String,
        read: u64,
        written: u64,
        rejected: u64,
    },

    #[error("target {target} refused more than max_rejects = {max} rows (the load was rolled back); the first refused row: {first}\n  hint: fix the rows (filter or CAST them in the step's SQL), or raise max_rejects to set more of them aside")]
    TooManyRejects {
        target: String,
        max: u64,
        first: String,
    },
}

fn refused_suffix(rejected: u64) -> String {
    if rejected > 0 {
        format!(" and {rejected} refused")
    } else {
        String::new()
    }
}
