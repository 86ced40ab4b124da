//! barge moves tables between databases as streaming SQL pipelines built on
//! Apache Arrow and DataFusion.
//!
//! A pipeline ([`config`]) names connections and SQL steps. Every connection
//! is an engine ([`engines`]) registered as a DataFusion catalog; every step is
//! one DataFusion plan streamed batch by batch into the target engine's
//! writer ([`run`]). [`schema`] introspects, plans types for, copies and
//! diffs database schemas.

pub mod checksum;
pub mod cli;
pub mod config;
pub mod copy;
pub mod dates;
pub mod engines;
pub mod error;
pub mod ident;
pub mod model;
pub mod plan;
pub mod records;
pub mod redact;
pub mod run;
pub mod schema;
pub mod session;
pub mod stage;
pub mod subset;
pub mod validate;

pub use error::{EngineError, Error};
