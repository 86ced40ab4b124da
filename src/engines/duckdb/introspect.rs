//! DuckDB `duckdb_columns()`, `duckdb_constraints()` and `duckdb_indexes()`
//! → [`Catalog`]: tables of the database with their columns (type, length,
//! nullability, default), primary keys, unique constraints, foreign keys,
//! plain-column indexes and exact row counts; views listed. Also the
//! collations of a table's text columns.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::Schema;

use super::connect::DuckDbConnection;
use super::database::Session;
use crate::engines::sql::collation::collations_of;
use crate::error::{EngineError, EngineResult};
use crate::model::catalog::{Catalog, Column, DefaultValue, ForeignKey, Index, Key, Table};
use crate::model::{EngineKind, TableName};

/// schema, table, column, type, nullable, default, length.
type ColumnRow = (
    String,
    String,
    String,
    String,
    bool,
    Option<String>,
    Option<i64>,
);

/// Separates list items in `array_to_string` (no identifier contains it).
const SEP: char = '\u{1f}';

/// Reads the catalog of the database (runs on a blocking thread).
pub(crate) fn introspect(connection: &DuckDbConnection) -> EngineResult<Catalog> {
    let name = connection.connection_name().to_string();
    let session = connection.session()?;
    let err = |sql: &str| {
        let name = name.clone();
        let sql = sql.to_string();
        move |e: duckdb::Error| EngineError::query(&name, None, Some(&sql), e)
    };

    let sql = "SELECT table_schema, table_name, table_type FROM information_schema.tables \
               WHERE table_catalog = current_database() AND table_type IN ('BASE TABLE', 'VIEW') \
               AND table_name <> 'barge_commits' ORDER BY table_schema, table_name";
    let objects: Vec<(String, String, String)> = {
        let mut stmt = session.prepare(sql).map_err(err(sql))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(err(sql))?;
        rows.collect::<duckdb::Result<_>>().map_err(err(sql))?
    };
    let mut tables: BTreeMap<(String, String), Table> = BTreeMap::new();
    let mut views = Vec::new();
    for (schema, table, kind) in objects {
        let table_name = TableName::new(Some(&schema), &table);
        if kind == "VIEW" {
            views.push(table_name);
            continue;
        }
        let row_estimate = connection.count_rows(&session, &table_name)?;
        tables.insert(
            (schema, table),
            Table {
                name: table_name,
                columns: vec![],
                primary_key: None,
                uniques: vec![],
                foreign_keys: vec![],
                indexes: vec![],
                row_estimate,
            },
        );
    }

    // Arrow types as DuckDB exports them, per table.
    let mut arrow = BTreeMap::new();
    for (key, table) in &tables {
        arrow.insert(key.clone(), connection.read_schema(&session, &table.name)?);
    }
    let sql = "SELECT schema_name, table_name, column_name, data_type, is_nullable, column_default, \
               character_maximum_length FROM duckdb_columns() \
               WHERE database_name = current_database() ORDER BY schema_name, table_name, column_index";
    let columns: Vec<ColumnRow> = {
        let mut stmt = session.prepare(sql).map_err(err(sql))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(err(sql))?;
        rows.collect::<duckdb::Result<_>>().map_err(err(sql))?
    };
    for (schema, table, column, declared, nullable, default, length) in columns {
        let key = (schema, table);
        let (Some(t), Some(schema)) = (tables.get_mut(&key), arrow.get(&key)) else {
            continue;
        };
        let data_type = schema
            .field_with_name(&column)
            .map(|f| f.data_type().clone())
            .unwrap_or(datafusion::arrow::datatypes::DataType::Utf8);
        let identity = default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("));
        t.columns.push(Column {
            name: column,
            declared,
            data_type,
            nullable,
            default: default
                .filter(|_| !identity)
                .map(|d| DefaultValue::parse(&d)),
            identity,
            length: length.and_then(|n| u32::try_from(n).ok()),
            fixed_length: false,
            builtin: true,
        });
    }

    let sql = format!(
        "SELECT schema_name, table_name, constraint_type, \
           array_to_string(constraint_column_names, chr({sep})), referenced_table, \
           array_to_string(referenced_column_names, chr({sep})), constraint_name \
         FROM duckdb_constraints() WHERE database_name = current_database() \
           AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
         ORDER BY schema_name, table_name, constraint_index",
        sep = SEP as u32
    );
    type ConstraintRow = (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let constraints: Vec<ConstraintRow> = {
        let mut stmt = session.prepare(&sql).map_err(err(&sql))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(err(&sql))?;
        rows.collect::<duckdb::Result<_>>().map_err(err(&sql))?
    };
    let split = |s: &str| -> Vec<String> {
        s.split(SEP)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    for (schema, table, kind, cols, referenced, referenced_cols, constraint) in constraints {
        let Some(t) = tables.get_mut(&(schema.clone(), table)) else {
            continue;
        };
        let columns = split(&cols);
        match kind.as_str() {
            "PRIMARY KEY" => {
                t.primary_key = Some(Key {
                    name: None,
                    columns,
                })
            }
            "UNIQUE" => t.uniques.push(Key {
                name: None,
                columns,
            }),
            _ => t.foreign_keys.push(ForeignKey {
                name: constraint,
                columns,
                referenced: TableName::new(Some(&schema), &referenced.unwrap_or_default()),
                referenced_columns: split(referenced_cols.as_deref().unwrap_or_default()),
                on_delete: None,
                on_update: None,
            }),
        }
    }
    // DuckDB also lists a foreign key on its referenced table; keep the referencing side.
    for t in tables.values_mut() {
        let columns: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        t.foreign_keys
            .retain(|fk| fk.columns.iter().all(|c| columns.contains(c)) && !fk.columns.is_empty());
    }

    let sql = "SELECT schema_name, table_name, index_name, is_unique, sql FROM duckdb_indexes() \
               WHERE database_name = current_database() ORDER BY schema_name, table_name, index_name";
    let indexes: Vec<(String, String, String, bool, Option<String>)> = {
        let mut stmt = session.prepare(sql).map_err(err(sql))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(err(sql))?;
        rows.collect::<duckdb::Result<_>>().map_err(err(sql))?
    };
    for (schema, table, index, unique, sql) in indexes {
        let Some(t) = tables.get_mut(&(schema, table)) else {
            continue;
        };
        let Some(columns) = sql.as_deref().and_then(index_columns) else {
            continue;
        };
        if !columns.iter().all(|c| t.column(c).is_some()) {
            continue;
        }
        if unique {
            t.uniques.push(Key {
                name: Some(index),
                columns,
            });
        } else {
            t.indexes.push(Index {
                name: index,
                columns,
                unique,
            });
        }
    }

    Ok(Catalog {
        engine: EngineKind::DuckDb,
        tables: tables.into_values().collect(),
        views,
    })
}

/// The collation of each text column of base table `table` (`schema`):
/// the one its `CREATE TABLE` declares, else the session's
/// `default_collation` (`binary` when unset). DuckDB lists collations
/// nowhere else.
pub(crate) fn collations(
    connection: &DuckDbConnection,
    session: &Session,
    table: &TableName,
    schema: &Schema,
) -> EngineResult<Vec<Option<String>>> {
    let table = connection.resolve(table);
    let sql = "SELECT sql, current_setting('default_collation') FROM duckdb_tables() \
               WHERE database_name = current_database() AND lower(schema_name) = lower(?) \
               AND lower(table_name) = lower(?) LIMIT 1";
    let result: duckdb::Result<(String, String)> = session.query_row(
        sql,
        [
            table.schema.as_deref().unwrap_or_default(),
            table.name.as_str(),
        ],
        |row| Ok((row.get(0)?, row.get(1)?)),
    );
    match result {
        Ok((create, default)) => {
            let default = if default.is_empty() {
                "binary"
            } else {
                &default
            };
            Ok(collations_of(&create, schema, default))
        }
        Err(duckdb::Error::QueryReturnedNoRows) => Ok(Vec::new()),
        Err(e) => Err(EngineError::query(
            connection.connection_name(),
            Some(&table.to_string()),
            Some(sql),
            e,
        )),
    }
}

/// The column list of `CREATE [UNIQUE] INDEX name ON t(a, "b");`.
fn index_columns(sql: &str) -> Option<Vec<String>> {
    let open = sql.rfind('(')?;
    let close = sql[open..].find(')')? + open;
    let columns: Vec<String> = sql[open + 1..close]
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect();
    (!columns.iter().any(|c| c.is_empty() || c.contains(' '))).then_some(columns)
}
