//! [`Dialect`]: what an engine's SQL and type table say about creating
//! tables in it. Each engine's `types.rs` implements it once; the schema
//! layer (type plan, DDL of a schema copy) asks the target's dialect
//! ([`super::dialect`]) instead of matching on the engine.
//!
//! # Sections
//!
//! - **Names**: quoting and identifier length.
//! - **Types**: the column type created for an Arrow type (the engine's
//!   write table), the Arrow type such a column reads back as (its read
//!   table), text types, what the engine keeps of identity columns and of
//!   `json`/`uuid`, and what it loses that the read-back type does not show.
//! - **DDL**: a column's definition, where foreign keys go, unique
//!   constraints, identity counters, literals of defaults.
//! - **Comparisons**: null-safe and byte-for-byte equality (how `barge
//!   rollback` matches keys).

use datafusion::arrow::datatypes::DataType;

use crate::ident::Quoting;
use crate::model::{EngineKind, TableName};

/// Where an engine's foreign keys are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignKeyDdl {
    /// `ALTER TABLE ... ADD CONSTRAINT` after the data (PostgreSQL, MySQL).
    AfterData,
    /// In `CREATE TABLE`, whatever the order (SQLite checks nothing then).
    InCreate,
    /// In `CREATE TABLE`, when the referenced table exists by then (DuckDB
    /// cannot add one later); others are left out.
    InCreateAfterReferenced,
    /// None (files).
    Unsupported,
}

/// One column of a `CREATE TABLE`, for [`Dialect::column_sql`].
#[derive(Debug, Clone)]
pub struct ColumnDef<'a> {
    /// The quoted column name.
    pub name: &'a str,
    /// The column type (from the type plan).
    pub data_type: &'a str,
    /// An identity / auto-increment column (only when
    /// [`Dialect::identity_allowed`]).
    pub identity: bool,
    pub not_null: bool,
    /// The default as SQL.
    pub default: Option<&'a str>,
}

/// An engine's SQL and type table, as the schema layer needs them.
pub trait Dialect: Send + Sync {
    /// The engine.
    fn kind(&self) -> EngineKind;

    // ----- Names -----

    /// How the engine quotes identifiers.
    fn quoting(&self) -> Quoting {
        Quoting::Double
    }
    /// `ident` quoted.
    fn quote_ident(&self, ident: &str) -> String {
        self.quoting().ident(ident)
    }
    /// `schema.table` (or `table`) quoted.
    fn quote_table(&self, table: &TableName) -> String {
        self.quoting().table(table)
    }
    /// Longest identifier the engine keeps.
    fn max_ident_len(&self) -> usize;

    // ----- Types -----

    /// The column type created for `data_type` (the type table barge
    /// creates step targets with); `indexed` columns get indexable types.
    /// `None` when the engine has no type for it.
    fn declared_type(&self, data_type: &DataType, indexed: bool) -> Option<String>;
    /// The Arrow type a column created as `declared` for `data_type` reads
    /// back as (the engine's read table).
    fn stored_type(&self, data_type: &DataType, declared: &str) -> DataType;
    /// Unbounded text (and what a type without a column type is stored as).
    fn text_type(&self, indexed: bool) -> &'static str;
    /// The type of `varchar(n)` / `char(n)` text, and the length it enforces.
    fn sized_text(&self, n: u32, fixed: bool, indexed: bool) -> (String, Option<u32>);
    /// The length a created text type enforces (`VARCHAR(255)` of MySQL keys).
    fn enforced_length(&self, _declared: &str) -> Option<u32> {
        None
    }
    /// The type keeping the meaning of a source's `json`/`jsonb`/`uuid`
    /// text column (`base` is its declared type's name), where the engine
    /// has one.
    fn semantic_type(&self, _base: &str, _indexed: bool) -> Option<&'static str> {
        None
    }
    /// Whether a created column of `data_type` keeps being an identity
    /// column (PostgreSQL identity, MySQL AUTO_INCREMENT, SQLite INTEGER
    /// PRIMARY KEY).
    fn keeps_identity(&self, _data_type: &DataType) -> bool {
        false
    }
    /// What the engine loses of `data_type` that its read-back type does
    /// not show (MySQL TIMESTAMP's range), when it loses something.
    fn lossy_note(&self, _data_type: &DataType) -> Option<String> {
        None
    }

    // ----- DDL -----

    /// Whether `CREATE TABLE` declares an identity column, which must lead
    /// the primary key when `leads_primary_key` matters (MySQL).
    fn identity_allowed(&self, _leads_primary_key: bool) -> bool {
        false
    }
    /// A column's definition in `CREATE TABLE`.
    fn column_sql(&self, column: &ColumnDef<'_>) -> String {
        let mut line = format!("{} {}", column.name, column.data_type);
        if column.not_null {
            line.push_str(" NOT NULL");
        }
        if let Some(default) = column.default {
            line.push_str(&format!(" DEFAULT {default}"));
        }
        line
    }
    /// Where foreign keys are created.
    fn foreign_keys(&self) -> ForeignKeyDdl;
    /// Whether foreign keys take ON DELETE / ON UPDATE actions.
    fn foreign_key_actions(&self) -> bool {
        true
    }
    /// What follows `CREATE TABLE t (...)` (MySQL's character set).
    fn create_table_suffix(&self) -> &'static str {
        ""
    }
    /// Whether unique keys are constraints (`ALTER TABLE ... ADD CONSTRAINT
    /// ... UNIQUE`) rather than unique indexes.
    fn unique_as_constraint(&self) -> bool {
        false
    }
    /// The statement moving an identity counter past the copied maximum,
    /// for engines whose counters do not move while loading (PostgreSQL).
    fn identity_counter_sql(&self, _table: &str, _column: &str) -> Option<String> {
        None
    }
    /// `DROP TABLE` of the quoted `table`.
    fn drop_table_sql(&self, table: &str) -> String {
        format!("DROP TABLE {table}")
    }
    /// A string literal.
    fn string_literal(&self, value: &str) -> String {
        format!("'{}'", value.replace('\'', "''"))
    }
    /// A boolean literal.
    fn boolean_literal(&self, value: bool) -> &'static str {
        if value {
            "true"
        } else {
            "false"
        }
    }
    /// The current timestamp as a default, of a column with `fraction`
    /// sub-second digits.
    fn current_timestamp(&self, _fraction: Option<u8>) -> String {
        "CURRENT_TIMESTAMP".to_string()
    }
    /// The current date as a default.
    fn current_date(&self) -> &'static str {
        "CURRENT_DATE"
    }

    // ----- Comparisons -----

    /// SQL true when `left` and `right` are equal or both NULL (never NULL
    /// itself).
    fn null_safe_eq(&self, left: &str, right: &str) -> String {
        format!("{left} IS NOT DISTINCT FROM {right}")
    }
    /// A condition that, added to an equality of `left` and `right` of the
    /// same type, keeps only the same bytes, for engines whose default
    /// collations match differing strings (MySQL's case-insensitive ones);
    /// `None` where the column's collation decides.
    fn exact_eq(&self, _left: &str, _right: &str) -> Option<String> {
        None
    }
}
