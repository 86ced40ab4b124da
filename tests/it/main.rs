//! barge's integration tests: one binary, a module per area.

mod common;
mod cross;
mod demo;
mod errors;
mod functions;
mod mysql;
mod postgres;
mod pushdown;
mod reliability;
mod roundtrip;
mod schema;
mod servers;
mod stage;
