//! Validation: per step, row counts and order-independent content
//! checksums of the source (the step's SQL re-run), the stage (its manifest)
//! and the target, compared; with a sample of differing rows on request.

pub mod checksum;
