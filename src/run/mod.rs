//! Running pipelines: the session (connections as catalogs), the executor,
//! progress and the run report.

pub mod executor;
pub mod failpoint;
pub mod interrupt;
pub mod journal;
pub mod progress;
pub mod rejects;
pub mod report;
pub mod retry;
pub mod rollback;

pub use executor::{run_pipeline, RunOptions};
pub use report::{RunReport, StepReport, StepStatus};
