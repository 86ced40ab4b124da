//! The catalog model: what introspection finds in one connection (tables,
//! columns, keys, foreign keys, indexes, views, routines), whatever the
//! engine. Every engine's `introspect.rs` fills it in; schema copy, diff and
//! subsets read it.

use datafusion::arrow::datatypes::DataType;

use super::{EngineKind, TableName};

/// A stored function or procedure, as the statement that creates it.
#[derive(Debug, Clone, PartialEq)]
pub struct Routine {
    pub name: String,
    /// `FUNCTION` or `PROCEDURE`.
    pub kind: String,
    /// The `CREATE ...` statement (without a MySQL `DEFINER`).
    pub definition: String,
}

/// Everything introspection found in one connection.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub engine: EngineKind,
    /// Base tables, ordered by schema and name.
    pub tables: Vec<Table>,
    /// Views (listed only: their definitions are not copied).
    pub views: Vec<TableName>,
}

impl Catalog {
    /// The table named `name` (schema compared when both sides have one).
    pub fn table(&self, name: &TableName) -> Option<&Table> {
        self.tables.iter().find(|t| same_table(&t.name, name))
    }
}

/// Whether two table names denote the same table (a missing schema matches any).
pub fn same_table(a: &TableName, b: &TableName) -> bool {
    a.name == b.name
        && match (&a.schema, &b.schema) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

/// One base table.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: TableName,
    pub columns: Vec<Column>,
    pub primary_key: Option<Key>,
    /// UNIQUE constraints (and unique indexes on plain columns).
    pub uniques: Vec<Key>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Non-unique indexes on plain columns (expression and partial indexes are left out).
    pub indexes: Vec<Index>,
    /// The engine's row estimate (exact for SQLite, DuckDB and small MySQL tables).
    pub row_estimate: Option<u64>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Whether `column` is in the primary key, a unique key, an index or a foreign key.
    pub fn is_indexed(&self, column: &str) -> bool {
        let has = |cols: &[String]| cols.iter().any(|c| c == column);
        self.primary_key.as_ref().is_some_and(|k| has(&k.columns))
            || self.uniques.iter().any(|k| has(&k.columns))
            || self.indexes.iter().any(|i| has(&i.columns))
            || self
                .foreign_keys
                .iter()
                .any(|f| has(&f.columns) || has(&f.referenced_columns))
    }
}

/// One column.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The type as the engine declares it: `character varying(20)`, `int(10) unsigned`.
    pub declared: String,
    /// The Arrow type barge reads the column as (the engine's `types.rs`).
    pub data_type: DataType,
    pub nullable: bool,
    pub default: Option<DefaultValue>,
    /// Identity, serial or auto-increment column.
    pub identity: bool,
    /// Character length of `char(n)`/`varchar(n)` columns.
    pub length: Option<u32>,
    /// `char(n)` (fixed length) rather than `varchar(n)`.
    pub fixed_length: bool,
    /// The type is the engine's own (not a user-defined enum, domain or composite):
    /// a same-engine copy may declare it verbatim.
    pub builtin: bool,
}

impl Column {
    /// A column known only by its Arrow type (files, step outputs).
    pub fn from_arrow(name: &str, data_type: &DataType, nullable: bool) -> Self {
        Self {
            name: name.to_string(),
            declared: data_type.to_string(),
            data_type: data_type.clone(),
            nullable,
            default: None,
            identity: false,
            length: None,
            fixed_length: false,
            builtin: false,
        }
    }

    /// The declared type's name in lower case, without arguments (`varchar`, `jsonb`).
    pub fn base_type(&self) -> String {
        let lower = self.declared.to_ascii_lowercase();
        let end = lower.find('(').unwrap_or(lower.len());
        lower[..end].trim().to_string()
    }
}

/// A column default, parsed where it has a portable meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Null,
    /// A numeric literal as written.
    Number(String),
    /// A string literal (unquoted value).
    Text(String),
    Boolean(bool),
    CurrentTimestamp,
    CurrentDate,
    /// Anything else, as the engine wrote it: kept in same-engine copies only.
    Expression(String),
}

impl DefaultValue {
    /// Parses a default as engines print it: `'abc'::character varying`,
    /// `0`, `'-1'::integer`, `now()`, `current_timestamp()`, `NULL`.
    pub fn parse(text: &str) -> Self {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        if lower == "null" || lower.starts_with("null::") {
            return DefaultValue::Null;
        }
        match lower.as_str() {
            "true" => return DefaultValue::Boolean(true),
            "false" => return DefaultValue::Boolean(false),
            "now()"
            | "current_timestamp"
            | "current_timestamp()"
            | "localtimestamp"
            | "transaction_timestamp()"
            | "get_current_timestamp()" => return DefaultValue::CurrentTimestamp,
            "current_date" | "curdate()" | "current_date()" => return DefaultValue::CurrentDate,
            _ => {}
        }
        if lower.starts_with("current_timestamp(") {
            return DefaultValue::CurrentTimestamp;
        }
        if is_number(t) {
            return DefaultValue::Number(t.to_string());
        }
        if let Some(value) = string_literal(t) {
            return if is_number(&value)
                && t.contains("::")
                && !t.contains("::char")
                && !t.contains("::text")
            {
                DefaultValue::Number(value)
            } else {
                DefaultValue::Text(value)
            };
        }
        // `(0)` and `(-1)`.
        if let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            if is_number(inner) {
                return DefaultValue::Number(inner.to_string());
            }
        }
        DefaultValue::Expression(t.to_string())
    }
}

fn is_number(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    !digits.is_empty()
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().any(|c| c.is_ascii_digit())
}

/// The value of `'...'` optionally followed by `::type` casts.
fn string_literal(t: &str) -> Option<String> {
    let rest = t.strip_prefix('\'')?;
    let mut value = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                value.push('\'');
            }
            '\'' => {
                let tail: String = chars.collect();
                let tail = tail.trim();
                return (tail.is_empty() || tail.starts_with("::")).then_some(value);
            }
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some(other) => value.push(other),
                None => return None,
            },
            other => value.push(other),
        }
    }
    None
}

/// A primary key or unique constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referenced: TableName,
    pub referenced_columns: Vec<String>,
    /// `CASCADE`, `SET NULL`, `SET DEFAULT`, `RESTRICT`; `None` for NO ACTION.
    pub on_delete: Option<String>,
    pub on_update: Option<String>,
}

/// A referential action as SQL; `None` for the default (NO ACTION).
pub fn fk_action(action: &str) -> Option<String> {
    let upper = action.trim().to_ascii_uppercase().replace('_', " ");
    match upper.as_str() {
        "CASCADE" | "SET NULL" | "SET DEFAULT" | "RESTRICT" => Some(upper),
        // PostgreSQL's pg_constraint codes.
        "C" => Some("CASCADE".into()),
        "N" => Some("SET NULL".into()),
        "D" => Some("SET DEFAULT".into()),
        "R" => Some("RESTRICT".into()),
        _ => None,
    }
}

/// A plain-column index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_as_engines_print_them() {
        assert_eq!(
            DefaultValue::parse("'abc'::character varying"),
            DefaultValue::Text("abc".into())
        );
        assert_eq!(
            DefaultValue::parse("'it''s'"),
            DefaultValue::Text("it's".into())
        );
        assert_eq!(
            DefaultValue::parse("'-1'::integer"),
            DefaultValue::Number("-1".into())
        );
        assert_eq!(DefaultValue::parse("0"), DefaultValue::Number("0".into()));
        assert_eq!(
            DefaultValue::parse("12.50"),
            DefaultValue::Number("12.50".into())
        );
        assert_eq!(DefaultValue::parse("NULL"), DefaultValue::Null);
        assert_eq!(DefaultValue::parse("now()"), DefaultValue::CurrentTimestamp);
        assert_eq!(
            DefaultValue::parse("current_timestamp()"),
            DefaultValue::CurrentTimestamp
        );
        assert_eq!(DefaultValue::parse("true"), DefaultValue::Boolean(true));
        assert_eq!(
            DefaultValue::parse("gen_random_uuid()"),
            DefaultValue::Expression("gen_random_uuid()".into())
        );
    }

    #[test]
    fn actions_are_normalized() {
        assert_eq!(fk_action("c").as_deref(), Some("CASCADE"));
        assert_eq!(fk_action("SET NULL").as_deref(), Some("SET NULL"));
        assert_eq!(fk_action("NO ACTION"), None);
        assert_eq!(fk_action("a"), None);
    }
}
