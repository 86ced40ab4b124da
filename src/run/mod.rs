//! Running pipelines: the session (connections as catalogs), the executor,
//! progress and the run report.

pub mod executor;
pub mod progress;
pub mod rejects;
pub mod report;
pub mod retry;
pub mod session;

pub use executor::{run_pipeline, RunOptions};
pub use report::{RunReport, StepReport, StepStatus};
