//! barge's integration tests: one binary, a module per area.

mod checksums;
mod common;
mod cross;
mod demo;
mod errors;
mod functions;
mod guarantees;
mod layers;
mod memory;
mod mysql;
mod planned_types;
mod postgres;
mod pushdown;
mod recipes;
mod rejects;
mod reliability;
mod resume;
mod rollback;
mod roundtrip;
mod schema;
mod secrets;
mod servers;
mod snapshot;
mod stage;
mod subset;
