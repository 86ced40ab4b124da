//! barge's integration tests: one binary, a module per area.

mod common;
mod demo;
mod errors;
mod roundtrip;
