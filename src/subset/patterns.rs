//! `skip` and `force` patterns: `DB.TABLE`, `DB.*`, `*.TABLE` and `TABLE`,
//! where `DB` is the source's database (MySQL) or schema (PostgreSQL) or the
//! connection's name, and both parts are globs compared without case.

use glob::{MatchOptions, Pattern};

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// Whether `pattern` matches table `table` of database `databases` (any of
/// the names the source goes by).
pub fn matches(pattern: &str, databases: &[&str], table: &str) -> bool {
    let pattern = pattern.trim();
    let (db, name) = match pattern.rsplit_once('.') {
        Some((db, name)) => (Some(db), name),
        None => (None, pattern),
    };
    let glob = |p: &str, text: &str| {
        Pattern::new(p)
            .map(|g| g.matches_with(text, OPTIONS))
            .unwrap_or_else(|_| p.eq_ignore_ascii_case(text))
    };
    glob(name, table) && db.is_none_or(|db| databases.iter().any(|d| glob(db, d)))
}

/// Whether any of `patterns` matches.
pub fn any_matches(patterns: &[String], databases: &[&str], table: &str) -> bool {
    patterns.iter().any(|p| matches(p, databases, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_forms_match_as_documented() {
        let dbs = ["STARFOX", "src"];
        assert!(matches("AUDIT_LOG", &dbs, "audit_log"));
        assert!(matches("*.AUDIT_LOG", &dbs, "Audit_Log"));
        assert!(matches("STARFOX.temp_*", &dbs, "temp_2024"));
        assert!(matches("starfox.*", &dbs, "anything"));
        assert!(matches("src.orders", &dbs, "orders"));
        assert!(!matches("OTHER.*", &dbs, "orders"));
        assert!(!matches("temp_*", &dbs, "orders"));
        assert!(!matches("STARFOX.temp_*", &dbs, "attempt"));
    }
}
