//! `replace` of an existing MySQL/MariaDB table that keeps the table. DDL
//! commits on its own here, so the shadow is made before the load
//! (`CREATE TABLE shadow LIKE target`: columns, defaults, indexes,
//! AUTO_INCREMENT; the target's foreign keys added under temporary names,
//! so the load is checked against them), loaded in one transaction, then
//! swapped in by one atomic `RENAME TABLE`; the foreign keys get their
//! names back. A table other tables' foreign keys reference is refused
//! before any row moves (a rename would carry their references away).
//! Triggers are not kept.

use mysql_async::prelude::Queryable;

use super::connect::MySqlConnection;
use crate::engines::sql::SqlSource;
use crate::error::{EngineError, EngineResult};
use crate::model::TableName;

/// Suffix of a foreign key's name while it is on the shadow.
const FK_SUFFIX: &str = "__barge";

/// The target's foreign keys as `SHOW CREATE TABLE` writes them
/// (`CONSTRAINT `name` FOREIGN KEY (...) REFERENCES ...`): (name, clause).
async fn foreign_keys(
    mysql: &MySqlConnection,
    table: &TableName,
) -> EngineResult<Vec<(String, String)>> {
    let sql = format!("SHOW CREATE TABLE {}", mysql.quote_table(table));
    let mut conn = mysql.conn().await?;
    let row: Option<(String, String)> = conn
        .query_first(&sql)
        .await
        .map_err(|e| mysql.server_error(Some(&table.to_string()), Some(&sql), e))?;
    let create = row.map(|(_, create)| create).unwrap_or_default();
    Ok(create
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("CONSTRAINT ") && l.contains(" FOREIGN KEY "))
        .filter_map(|l| {
            let clause = l.trim_end_matches(',').to_string();
            let name = clause.split('`').nth(1)?.to_string();
            Some((name, clause))
        })
        .collect())
}

/// The tables whose foreign keys reference `table`.
pub(crate) async fn referenced_by(
    mysql: &MySqlConnection,
    table: &TableName,
) -> EngineResult<Vec<String>> {
    let sql = "SELECT DISTINCT TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS \
               WHERE REFERENCED_TABLE_NAME = ? AND CONSTRAINT_SCHEMA = ? AND TABLE_NAME <> ? \
               ORDER BY 1";
    let schema = table.schema.clone().unwrap_or_default();
    let mut conn = mysql.conn().await?;
    conn.exec(sql, (&table.name, &schema, &table.name))
        .await
        .map_err(|e| mysql.server_error(Some(&table.to_string()), Some(sql), e))
}

/// `CREATE TABLE shadow LIKE target` and its foreign keys under temporary names.
pub(crate) async fn shadow_like(
    mysql: &MySqlConnection,
    target: &TableName,
    shadow: &TableName,
) -> EngineResult<Vec<String>> {
    let referencing = referenced_by(mysql, target).await?;
    if !referencing.is_empty() {
        return Err(EngineError::unsupported(
            &mysql.name,
            format!(
                "table {target} is referenced by foreign keys of {}, and MySQL/MariaDB would move their references with a replaced table\n  hint: use mode = \"truncate\" (or \"upsert\") to load it in place",
                referencing.join(", ")
            ),
        ));
    }
    let s = mysql.quote_table(shadow);
    let mut out = vec![format!(
        "CREATE TABLE {s} LIKE {}",
        mysql.quote_table(target)
    )];
    for (name, clause) in foreign_keys(mysql, target).await? {
        out.push(format!(
            "ALTER TABLE {s} ADD {}",
            clause.replacen(&format!("`{name}`"), &format!("`{}`", temporary(&name)), 1)
        ));
    }
    Ok(out)
}

/// The statements swapping `shadow` in for `target`, run after the load's
/// commit on one session.
pub(crate) async fn swap_sql(
    mysql: &MySqlConnection,
    shadow: &TableName,
    target: &TableName,
    target_exists: bool,
    kept: bool,
) -> EngineResult<Vec<String>> {
    let (s, t) = (mysql.quote_table(shadow), mysql.quote_table(target));
    if !target_exists {
        return Ok(vec![format!("RENAME TABLE {s} TO {t}")]);
    }
    let old = mysql.quote_table(&TableName::new(
        target.schema.as_deref(),
        &format!("{}__barge_old", target.name),
    ));
    let mut out = vec![
        format!("DROP TABLE IF EXISTS {old}"),
        format!("RENAME TABLE {t} TO {old}, {s} TO {t}"),
        format!("DROP TABLE {old}"),
    ];
    if kept {
        let fks = foreign_keys(mysql, target).await?;
        if !fks.is_empty() {
            // The rows were checked against the temporary keys: no second check.
            out.push("SET SESSION FOREIGN_KEY_CHECKS = 0".to_string());
            for (name, clause) in fks {
                out.push(format!(
                    "ALTER TABLE {t} DROP FOREIGN KEY `{}`, ADD {clause}",
                    temporary(&name)
                ));
            }
            out.push("SET SESSION FOREIGN_KEY_CHECKS = 1".to_string());
        }
    }
    Ok(out)
}

/// A foreign key's name while it is on the shadow (64 characters at most).
fn temporary(name: &str) -> String {
    let keep: String = name.chars().take(64 - FK_SUFFIX.len()).collect();
    format!("{keep}{FK_SUFFIX}")
}
