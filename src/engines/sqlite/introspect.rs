//! SQLite `sqlite_master` and pragmas → [`Catalog`]: tables with their
//! columns (declared type, length, nullability, default, `INTEGER PRIMARY
//! KEY` row ids as identity), primary keys, unique constraints and indexes,
//! foreign keys (composite, self-referencing) and exact row counts; views
//! listed.

use rusqlite::Connection as Sqlite;

use super::connect::{sqlite_error, SqliteConnection, MAIN_SCHEMA};
use super::types;
use crate::engines::Connection;
use crate::error::EngineResult;
use crate::model::catalog::{
    fk_action, Catalog, Column, DefaultValue, ForeignKey, Index, Key, Table,
};
use crate::model::{EngineKind, TableName};

/// id, seq, referenced table, from, to, on update, on delete.
type ForeignKeyRow = (i64, i64, String, String, Option<String>, String, String);

/// Reads the catalog of the `main` schema (runs on a blocking thread).
pub(crate) fn introspect(connection: &SqliteConnection) -> EngineResult<Catalog> {
    let name = connection.name().to_string();
    let conn = connection.connect()?;
    let err = |sql: &str| {
        let name = name.clone();
        let sql = sql.to_string();
        move |e: rusqlite::Error| sqlite_error(&name, None, Some(&sql), &e)
    };
    let sql = "SELECT name, type FROM main.sqlite_master WHERE type IN ('table', 'view') \
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'barge_commits' ORDER BY name";
    let objects: Vec<(String, String)> =
        query(&conn, sql, [], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err(sql))?;
    let mut tables = Vec::new();
    let mut views = Vec::new();
    for (table, kind) in objects {
        if kind == "view" {
            views.push(TableName::new(Some(MAIN_SCHEMA), &table));
            continue;
        }
        tables.push(read_table(&conn, &table).map_err(err(&format!("pragmas of '{table}'")))?);
    }
    Ok(Catalog {
        engine: EngineKind::Sqlite,
        tables,
        views,
    })
}

fn query<T, P: rusqlite::Params>(
    conn: &Sqlite,
    sql: &str,
    params: P,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, map)?;
    rows.collect()
}

fn read_table(conn: &Sqlite, table: &str) -> rusqlite::Result<Table> {
    // name, declared type, not null, default, position in the primary key.
    let columns: Vec<(String, String, bool, Option<String>, i64)> = query(
        conn,
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1, 'main') ORDER BY cid",
        [table],
        |r| Ok((r.get(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default(), r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    let mut key: Vec<(i64, String)> = columns
        .iter()
        .filter(|c| c.4 > 0)
        .map(|c| (c.4, c.0.clone()))
        .collect();
    key.sort();
    let key: Vec<String> = key.into_iter().map(|(_, c)| c).collect();
    let row_id = key.len() == 1
        && columns
            .iter()
            .any(|c| c.0 == key[0] && c.1.eq_ignore_ascii_case("INTEGER"));
    let columns = columns
        .into_iter()
        .map(|(name, declared, not_null, default, _)| {
            let length = text_length(&declared);
            Column {
                identity: row_id && key[0] == name,
                data_type: types::arrow_type(&declared),
                fixed_length: length.is_some()
                    && declared
                        .to_ascii_uppercase()
                        .trim_start()
                        .starts_with("CHAR"),
                length,
                nullable: !not_null,
                default: default.map(|d| DefaultValue::parse(&d)),
                builtin: true,
                declared,
                name,
            }
        })
        .collect();

    // id, seq, referenced table, from, to, on update, on delete.
    let fk_rows: Vec<ForeignKeyRow> = query(
        conn,
        "SELECT id, seq, \"table\", \"from\", \"to\", on_update, on_delete \
         FROM pragma_foreign_key_list(?1, 'main') ORDER BY id, seq",
        [table],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        },
    )?;
    let mut foreign_keys: Vec<(i64, ForeignKey)> = Vec::new();
    for (id, _, referenced, from, to, on_update, on_delete) in fk_rows {
        match foreign_keys.last_mut() {
            Some((last, fk)) if *last == id => {
                fk.columns.push(from);
                fk.referenced_columns.push(to.unwrap_or_default());
            }
            _ => foreign_keys.push((
                id,
                ForeignKey {
                    name: None,
                    columns: vec![from],
                    referenced: TableName::new(Some(MAIN_SCHEMA), &referenced),
                    referenced_columns: vec![to.unwrap_or_default()],
                    on_delete: fk_action(&on_delete),
                    on_update: fk_action(&on_update),
                },
            )),
        }
    }
    let mut foreign_keys: Vec<ForeignKey> = foreign_keys.into_iter().map(|(_, fk)| fk).collect();
    // A foreign key naming no columns references the primary key.
    for fk in &mut foreign_keys {
        if fk.referenced_columns.iter().any(String::is_empty) {
            let target_key: Vec<(i64, String)> = query(
                conn,
                "SELECT pk, name FROM pragma_table_info(?1, 'main') WHERE pk > 0 ORDER BY pk",
                [&fk.referenced.name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            fk.referenced_columns = target_key.into_iter().map(|(_, c)| c).collect();
        }
    }

    // name, unique, origin (c: CREATE INDEX, u: UNIQUE, pk), partial.
    let index_rows: Vec<(String, bool, String, bool)> = query(
        conn,
        "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, 'main') ORDER BY name",
        [table],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let mut uniques = Vec::new();
    let mut indexes = Vec::new();
    for (index, unique, origin, partial) in index_rows {
        if origin == "pk" || partial {
            continue;
        }
        let cols: Vec<Option<String>> = query(
            conn,
            "SELECT name FROM pragma_index_info(?1) ORDER BY seqno",
            [&index],
            |r| r.get(0),
        )?;
        let Some(cols) = cols.into_iter().collect::<Option<Vec<String>>>() else {
            continue;
        };
        if unique {
            uniques.push(Key {
                name: (origin == "c").then(|| index.clone()),
                columns: cols,
            });
        } else {
            indexes.push(Index {
                name: index,
                columns: cols,
                unique: false,
            });
        }
    }
    let count: i64 = conn.query_row(
        &format!("SELECT count(*) FROM main.{}", crate::ident::quote(table)),
        [],
        |r| r.get(0),
    )?;
    Ok(Table {
        name: TableName::new(Some(MAIN_SCHEMA), table),
        columns,
        primary_key: (!key.is_empty()).then_some(Key {
            name: None,
            columns: key,
        }),
        uniques,
        foreign_keys,
        indexes,
        row_estimate: Some(count.max(0) as u64),
    })
}

/// `n` of `VARCHAR(n)` / `CHAR(n)` / `CHARACTER VARYING(n)`.
fn text_length(declared: &str) -> Option<u32> {
    let upper = declared.to_ascii_uppercase();
    if !upper.contains("CHAR") {
        return None;
    }
    let open = upper.find('(')?;
    let close = upper[open..].find(')')? + open;
    upper[open + 1..close].trim().parse().ok()
}
