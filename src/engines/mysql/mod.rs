//! MySQL/MariaDB: `mysql://USER:PASS@HOST:PORT/DB` (or `mariadb://`), with
//! `?ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY`.
//!
//! - [`connect`]: [`MySqlConnection`], a `mysql_async` pool whose sessions
//!   run with `time_zone = '+00:00'` (read-only ones with
//!   `SET SESSION TRANSACTION READ ONLY`); it connects once at open.
//! - [`errors`]: driver errors' codes (for retries) and connection hints.
//! - [`source`]: runs a `SELECT` (binary protocol) in a task that decodes
//!   rows into Arrow batches and streams them over a bounded channel; zero
//!   dates read as NULL and are counted.
//! - [`sink`]: [`MySqlWriter`], one `LOAD DATA LOCAL INFILE` fed batch by
//!   batch through [`tsv`], or multi-row `INSERT`s when the server has
//!   `local_infile` off; one transaction; staging table for
//!   `insert_ignore` / `upsert`; [`isolating`]: the writer of steps that
//!   set refused rows aside, one savepoint per batch.
//! - [`snapshot`]: the consistent snapshot the reads of a source share.
//! - [`introspect`]: `information_schema` as a [`crate::model::catalog::Catalog`].
//! - [`types`]: the one table mapping MySQL types to Arrow types and back.
//! - [`tsv`]: the Arrow → TSV encoder `LOAD DATA` reads.
//!
//! A connection's tables live in its URL's database (the default schema);
//! `conn.otherdb.t` reads a table of another database on the same server.

pub mod checksum;
pub mod connect;
pub mod errors;
pub mod introspect;
pub mod isolating;
pub mod sink;
pub mod snapshot;
pub mod source;
pub mod swap;
pub mod tls;
pub mod tsv;
pub mod types;

pub use connect::MySqlConnection;
pub use sink::MySqlWriter;

#[cfg(test)]
mod tests;
