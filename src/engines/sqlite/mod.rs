//! SQLite: `sqlite://PATH` (a database file; relative paths are resolved from
//! the working directory).
//!
//! - [`connect`]: [`SqliteConnection`], the barge connection; it opens a new
//!   rusqlite connection per query, writer and metadata call, each with a
//!   30 s busy timeout, read-only when the pipeline says `read_only = true`.
//! - [`source`]: runs a `SELECT` on a reader thread and converts every cell,
//!   whatever its storage class, into the column's Arrow type, exactly or
//!   with an error naming the row and value.
//! - [`sink`]: [`SqliteWriter`], prepared multi-row `INSERT`s in one
//!   transaction (`ON CONFLICT` clauses for `insert_ignore` and `upsert`).
//! - [`introspect`]: tables, keys, foreign keys and indexes from the pragmas.
//! - [`types`]: the one table mapping declared types to Arrow types and back,
//!   and the text forms of decimals, dates and times.
//!
//! Tables live in the schema `main`: `conn.t` and `conn.main.t` are the same.

pub mod connect;
pub mod introspect;
pub mod sink;
pub mod source;
pub mod types;

pub use connect::SqliteConnection;
pub use sink::SqliteWriter;
pub use types::{arrow_type, declared_type};
