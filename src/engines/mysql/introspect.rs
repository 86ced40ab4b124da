//! MySQL/MariaDB `information_schema` → [`Catalog`]: the tables of the
//! connection's database with their columns (type, length, nullability,
//! default, auto-increment), primary keys, unique keys, foreign keys
//! (composite, self-referencing), other indexes and `TABLE_ROWS` estimates;
//! views listed. Also the collations of a table's text columns.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;

use datafusion::arrow::datatypes::Schema;

use super::connect::MySqlConnection;
use super::types::ColumnInfo;
use crate::error::EngineResult;
use crate::model::catalog::{
    fk_action, Catalog, Column, DefaultValue, ForeignKey, Index, Key, Routine, Table,
};
use crate::model::{EngineKind, TableName};

/// A row of `information_schema.COLUMNS`.
type ColumnRow = (
    String,
    String,
    String,
    String,
    Option<u64>,
    Option<u64>,
    String,
    Option<String>,
    String,
    Option<u64>,
);

/// A column of a key, with what it references (foreign keys).
type KeyRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Whether an index is unique, and its columns (`None`: an expression).
type IndexColumns = (bool, Vec<Option<String>>);

/// Reads the catalog of the connection's database.
pub(crate) async fn introspect(connection: &MySqlConnection) -> EngineResult<Catalog> {
    let database = connection.database.clone();
    let mut conn = connection.conn().await?;
    let err = |sql: &str, e: mysql_async::Error| connection.server_error(None, Some(sql), e);

    let sql = "SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES \
               WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 'barge_commits' ORDER BY TABLE_NAME";
    let rows: Vec<(String, String, Option<u64>)> = conn
        .exec(sql, (&database,))
        .await
        .map_err(|e| err(sql, e))?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut views = Vec::new();
    for (name, kind, estimate) in rows {
        if kind.eq_ignore_ascii_case("VIEW") {
            views.push(TableName::new(Some(&database), &name));
            continue;
        }
        tables.insert(
            name.clone(),
            Table {
                name: TableName::new(Some(&database), &name),
                columns: vec![],
                primary_key: None,
                uniques: vec![],
                foreign_keys: vec![],
                indexes: vec![],
                row_estimate: estimate,
            },
        );
    }

    let sql = "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, \
               NUMERIC_SCALE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, CHARACTER_MAXIMUM_LENGTH \
               FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
               ORDER BY TABLE_NAME, ORDINAL_POSITION";
    let rows: Vec<ColumnRow> = conn
        .exec(sql, (&database,))
        .await
        .map_err(|e| err(sql, e))?;
    for (table, name, data_type, column_type, precision, scale, nullable, default, extra, length) in
        rows
    {
        let Some(table) = tables.get_mut(&table) else {
            continue;
        };
        let info = ColumnInfo {
            name: name.clone(),
            data_type: data_type.clone(),
            column_type: column_type.clone(),
            precision,
            scale,
            nullable: nullable.eq_ignore_ascii_case("YES"),
        };
        let lower = data_type.to_ascii_lowercase();
        let text = matches!(lower.as_str(), "char" | "varchar");
        table.columns.push(Column {
            name,
            declared: column_type,
            data_type: info.arrow_type(),
            nullable: info.nullable,
            default: default.map(|d| parse_default(&d, &extra)),
            identity: extra.to_ascii_lowercase().contains("auto_increment"),
            length: length
                .filter(|_| text)
                .map(|n| n.min(u64::from(u32::MAX)) as u32),
            fixed_length: lower == "char",
            builtin: true,
        });
    }

    let sql = "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, c.CONSTRAINT_TYPE, k.COLUMN_NAME, \
               k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, \
               r.DELETE_RULE, r.UPDATE_RULE \
               FROM information_schema.KEY_COLUMN_USAGE k \
               JOIN information_schema.TABLE_CONSTRAINTS c \
                 ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME \
                AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
               LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
                 ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME \
                AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
               WHERE k.TABLE_SCHEMA = ? \
                 AND c.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
               ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";
    let rows: Vec<KeyRow> = conn
        .exec(sql, (&database,))
        .await
        .map_err(|e| err(sql, e))?;
    let mut constraint_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, name, kind, column, ref_schema, ref_table, ref_column, on_delete, on_update) in rows
    {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let names = constraint_names.entry(table).or_default();
        let is_new = names.last() != Some(&name);
        if is_new {
            names.push(name.clone());
        }
        match kind.as_str() {
            "PRIMARY KEY" => match &mut t.primary_key {
                Some(key) if !is_new => key.columns.push(column),
                _ => {
                    t.primary_key = Some(Key {
                        name: None,
                        columns: vec![column],
                    })
                }
            },
            "UNIQUE" => match t.uniques.last_mut() {
                Some(key) if !is_new => key.columns.push(column),
                _ => t.uniques.push(Key {
                    name: Some(name),
                    columns: vec![column],
                }),
            },
            _ => match t.foreign_keys.last_mut() {
                Some(fk) if !is_new => {
                    fk.columns.push(column);
                    fk.referenced_columns.push(ref_column.unwrap_or_default());
                }
                _ => t.foreign_keys.push(ForeignKey {
                    name: Some(name),
                    columns: vec![column],
                    referenced: TableName::new(
                        ref_schema.as_deref(),
                        &ref_table.unwrap_or_default(),
                    ),
                    referenced_columns: vec![ref_column.unwrap_or_default()],
                    on_delete: on_delete.as_deref().and_then(action),
                    on_update: on_update.as_deref().and_then(action),
                }),
            },
        }
    }

    let sql = "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS \
               WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";
    let rows: Vec<(String, String, i64, Option<String>)> = conn
        .exec(sql, (&database,))
        .await
        .map_err(|e| err(sql, e))?;
    let mut indexes: BTreeMap<(String, String), IndexColumns> = BTreeMap::new();
    for (table, index, non_unique, column) in rows {
        let constraint = constraint_names
            .get(&table)
            .is_some_and(|names| names.contains(&index));
        if index == "PRIMARY" || constraint {
            continue;
        }
        indexes
            .entry((table, index))
            .or_insert((non_unique == 0, vec![]))
            .1
            .push(column);
    }
    for ((table, name), (unique, columns)) in indexes {
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        // Functional indexes (a NULL column) are left out.
        let Some(columns) = columns.into_iter().collect::<Option<Vec<String>>>() else {
            continue;
        };
        if unique {
            t.uniques.push(Key {
                name: Some(name),
                columns,
            });
        } else {
            t.indexes.push(Index {
                name,
                columns,
                unique,
            });
        }
    }

    Ok(Catalog {
        engine: EngineKind::MySql,
        tables: tables.into_values().collect(),
        views,
    })
}

/// The collation of each `VARCHAR` and `TEXT` column of `table` (resolved)
/// for the fields of `schema`, in order; `None` for other columns (`CHAR`
/// pads, `ENUM` and `SET` order by position). Text filters go down by it.
pub(crate) async fn collations(
    connection: &MySqlConnection,
    table: &TableName,
    schema: &Schema,
) -> EngineResult<Vec<Option<String>>> {
    let sql = "SELECT COLUMN_NAME, DATA_TYPE, COLLATION_NAME FROM information_schema.COLUMNS \
               WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?";
    let mut conn = connection.conn().await?;
    let rows: Vec<(String, String, Option<String>)> = conn
        .exec(
            sql,
            (table.schema.as_deref().unwrap_or_default(), &table.name),
        )
        .await
        .map_err(|e| connection.server_error(Some(&table.to_string()), Some(sql), e))?;
    Ok(schema
        .fields()
        .iter()
        .map(|field| {
            let (_, data_type, collation) = rows.iter().find(|(n, ..)| n == field.name())?;
            let text = matches!(
                data_type.to_ascii_lowercase().as_str(),
                "varchar" | "tinytext" | "text" | "mediumtext" | "longtext"
            );
            text.then(|| collation.clone()).flatten()
        })
        .collect())
}

/// A referential action; MySQL's RESTRICT is its default, NO ACTION.
fn action(rule: &str) -> Option<String> {
    fk_action(rule).filter(|a| a != "RESTRICT")
}

/// A `COLUMN_DEFAULT`: MariaDB quotes string literals and writes `NULL`;
/// MySQL 8 writes strings bare and marks expressions `DEFAULT_GENERATED`.
fn parse_default(text: &str, extra: &str) -> DefaultValue {
    let parsed = DefaultValue::parse(text);
    let expression = extra.to_ascii_uppercase().contains("DEFAULT_GENERATED");
    match parsed {
        DefaultValue::Expression(bare) if !expression && !bare.contains('(') => {
            DefaultValue::Text(bare)
        }
        other => other,
    }
}

/// Functions and procedures of the connection's database, as `SHOW CREATE`
/// writes them, without their `DEFINER` (the target's user owns the copy).
pub(crate) async fn routines(connection: &MySqlConnection) -> EngineResult<Vec<Routine>> {
    let mut conn = connection.conn().await?;
    let err = |sql: &str, e: mysql_async::Error| connection.server_error(None, Some(sql), e);
    let sql = "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES \
               WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME";
    let names: Vec<(String, String)> = conn
        .exec(sql, (&connection.database,))
        .await
        .map_err(|e| err(sql, e))?;
    let mut routines = Vec::new();
    for (name, kind) in names {
        let show = format!(
            "SHOW CREATE {kind} {}",
            crate::ident::Quoting::Backtick.ident(&name)
        );
        let row: Option<mysql_async::Row> =
            conn.query_first(&show).await.map_err(|e| err(&show, e))?;
        let definition: Option<String> = row.and_then(|r| r.get_opt(2).and_then(Result::ok));
        let Some(definition) = definition else {
            return Err(connection.located_error(
                None,
                Some(&show),
                format!("the definition of {kind} {name} is hidden: the user needs SELECT on mysql.proc or SHOW_ROUTINE"),
            ));
        };
        routines.push(Routine {
            definition: without_definer(&definition, &kind),
            name,
            kind,
        });
    }
    Ok(routines)
}

/// `` CREATE DEFINER=`u`@`h` FUNCTION ... `` as `CREATE FUNCTION ...`.
fn without_definer(definition: &str, kind: &str) -> String {
    let marker = format!(" {kind} ");
    match (
        definition.strip_prefix("CREATE DEFINER="),
        definition.find(&marker),
    ) {
        (Some(_), Some(at)) => format!("CREATE{}", &definition[at..]),
        _ => definition.to_string(),
    }
}
