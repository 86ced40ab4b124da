//! PostgreSQL: `postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=...]`.
//!
//! - [`connect`]: [`PostgresConnection`], the barge connection.
//! - [`connector`]: opens a client per scan and per writer (TLS by
//!   `sslmode`, read-only sessions for `read_only = true`), and turns the
//!   driver's errors into barge's.
//! - [`source`]: reads by binary `COPY (SELECT ...) TO STDOUT`, decoded
//!   column by column into Arrow batches.
//! - [`sink`]: [`PostgresWriter`], binary `COPY ... FROM STDIN` encoded by
//!   [`copy_binary`]; through a staging table and `INSERT ... ON CONFLICT`
//!   for `insert_ignore`, `upsert` and columns that need a cast.
//! - [`passthrough`]: PostgreSQL → PostgreSQL steps that only read columns
//!   move the binary COPY bytes through without decoding them.
//! - [`snapshot`]: the exported snapshot every read of a source shares.
//! - [`introspect`]: the catalog (keys, foreign keys, indexes) as a
//!   [`crate::model::catalog::Catalog`].
//! - [`types`]: the one table mapping PostgreSQL types to Arrow and back.
//! - [`tls`]: the rustls connector for each `sslmode`.

pub mod checksum;
pub mod connect;
pub mod connector;
pub mod copy_binary;
pub mod introspect;
pub mod passthrough;
pub mod sink;
pub mod snapshot;
pub mod source;
pub mod swap;
pub mod tls;
pub mod types;

pub use connect::PostgresConnection;
pub use sink::PostgresWriter;
