//! SQL identifiers: the two quoting styles barge's engines use, and
//! qualified table names. A leaf: every layer quotes through it.

use crate::model::TableName;

/// How an engine quotes identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// `"name"` with `"` doubled: standard SQL (PostgreSQL, SQLite, DuckDB,
    /// DataFusion).
    Double,
    /// `` `name` `` with `` ` `` doubled: MySQL and MariaDB.
    Backtick,
}

impl Quoting {
    /// `ident` quoted in this style.
    pub fn ident(self, ident: &str) -> String {
        match self {
            Quoting::Double => quote(ident),
            Quoting::Backtick => format!("`{}`", ident.replace('`', "``")),
        }
    }

    /// `schema.table` (or `table`) quoted in this style.
    pub fn table(self, table: &TableName) -> String {
        match &table.schema {
            Some(s) => format!("{}.{}", self.ident(s), self.ident(&table.name)),
            None => self.ident(&table.name),
        }
    }
}

/// `ident` double-quoted, as standard SQL and DataFusion write it.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_double_the_quote_character() {
        assert_eq!(quote(r#"a"b"#), r#""a""b""#);
        assert_eq!(Quoting::Backtick.ident("a`b"), "`a``b`");
        assert_eq!(
            Quoting::Double.table(&TableName::new(Some("s"), "t")),
            r#""s"."t""#
        );
        assert_eq!(Quoting::Backtick.table(&TableName::new(None, "t")), "`t`");
    }
}
