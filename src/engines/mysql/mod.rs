//! MySQL/MariaDB engine (in progress): the TSV encoder the LOAD DATA sink will use.

pub mod tsv;
