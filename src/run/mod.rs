//! Running pipelines: the executor, progress and the run report.

pub mod progress;
