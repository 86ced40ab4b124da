//! PostgreSQL engine (in progress): the binary COPY encoder the sink will use.

pub mod copy_binary;
