//! `barge schema diff`: how a new schema differs from the current one.

use super::Catalog;

/// The changes from one catalog to another.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchemaDiff {
    pub changes: Vec<Change>,
}

/// One change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    pub table: String,
}

impl SchemaDiff {
    pub fn text(&self) -> String {
        String::new()
    }
    pub fn pipeline(&self, _from: &str, _to: &str) -> String {
        String::new()
    }
}

pub fn diff(_old: &Catalog, _new: &Catalog) -> SchemaDiff {
    SchemaDiff { changes: vec![] }
}
