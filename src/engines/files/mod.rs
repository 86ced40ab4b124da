//! Parquet and CSV files as a connection.
//!
//! The URL's path names one file (`parquet://out/orders.parquet`, table
//! `orders`), a directory (`parquet://out/export`: each `*.parquet` file is a
//! table, target `t` is written to `out/export/t.parquet`), or a glob
//! (`parquet://data/*.parquet`, read only). The only schema is `main`.
//!
//! - [`connect`]: [`FileConnection`], opening and the `Connection` impl.
//! - [`source`]: reading through DataFusion's `ListingTable`.
//! - [`sink`]: writing with Arrow's Parquet (ZSTD, large row groups) and CSV
//!   writers into a temp file renamed over the target when the load finishes.
//! - [`types`]: which Arrow types each format stores.
//!
//! Files are written whole: mode `replace`/`truncate` rewrites the file,
//! `append` and `error_if_exists` refuse an existing file, and
//! `insert_ignore`/`upsert` are not supported.

pub mod connect;
pub mod sink;
pub mod source;
pub mod types;

pub use connect::FileConnection;
pub use sink::{CsvWriter, ParquetWriter};
