//! Planning a pipeline: step order (dependencies and levels) and the `plan`
//! report (SQL per step, SQL pushed to each source, target DDL).

pub mod explain;
pub mod order;
