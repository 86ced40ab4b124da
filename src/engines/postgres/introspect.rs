//! PostgreSQL catalog → [`Catalog`]: tables of every user schema with their
//! columns (type, length, nullability, default, identity/serial), primary
//! keys, unique constraints, foreign keys (composite, self-referencing),
//! plain-column indexes and `reltuples` estimates; views listed.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::connector::Connector;
use super::types::{self, ColumnType};
use crate::error::EngineResult;
use crate::model::catalog::{
    fk_action, Catalog, Column, DefaultValue, ForeignKey, Index, Key, Routine, Table,
};
use crate::model::{EngineKind, TableName};

/// Schemas that hold no user tables.
const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

/// Reads the catalog of every user schema.
pub(crate) async fn introspect(client: &Client, connector: &Connector) -> EngineResult<Catalog> {
    let query = |sql: String| async move {
        client
            .query(&sql, &[])
            .await
            .map_err(|e| connector.error(None, e).with_sql(&sql))
    };
    let mut tables: BTreeMap<(String, String), Table> = BTreeMap::new();
    let mut views = Vec::new();
    for row in query(format!(
        "SELECT n.nspname::text, c.relname::text, c.relkind::text, c.reltuples::float8 \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND {USER_SCHEMAS} \
         AND c.relname <> 'barge_commits' ORDER BY 1, 2"
    ))
    .await?
    {
        let (schema, name, kind): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        if kind == "v" || kind == "m" {
            views.push(TableName::new(Some(&schema), &name));
            continue;
        }
        let estimate: f64 = row.get(3);
        tables.insert(
            (schema.clone(), name.clone()),
            Table {
                name: TableName::new(Some(&schema), &name),
                columns: vec![],
                primary_key: None,
                uniques: vec![],
                foreign_keys: vec![],
                indexes: vec![],
                row_estimate: (estimate >= 0.0).then_some(estimate as u64),
            },
        );
    }

    for row in query(format!(
        "SELECT n.nspname::text, c.relname::text, a.attname::text, bt.typname::text, bt.typtype::text, \
           CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, a.attnotnull, \
           format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid), \
           a.attidentity::text, tn.nspname::text = 'pg_catalog' AND t.typtype = 'b' \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_type t ON t.oid = a.atttypid \
         JOIN pg_namespace tn ON tn.oid = t.typnamespace \
         JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE c.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped AND {USER_SCHEMAS} \
         ORDER BY 1, 2, a.attnum"
    ))
    .await?
    {
        let key = (row.get::<_, String>(0), row.get::<_, String>(1));
        let Some(table) = tables.get_mut(&key) else {
            continue;
        };
        let kind: String = row.get(4);
        let column_type = ColumnType {
            name: row.get(3),
            kind: kind.chars().next().unwrap_or('b'),
            typmod: row.get(5),
            declared: row.get(7),
        };
        let default: Option<String> = row.get(8);
        let identity: String = row.get(9);
        let serial = default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("));
        let length = match column_type.name.as_str() {
            "varchar" | "bpchar" if column_type.typmod >= 4 => Some((column_type.typmod - 4) as u32),
            _ => None,
        };
        table.columns.push(Column {
            name: row.get(2),
            declared: column_type.declared.clone(),
            data_type: types::arrow_type(&column_type),
            nullable: !row.get::<_, bool>(6),
            default: default
                .filter(|_| !serial)
                .map(|d| DefaultValue::parse(&d)),
            identity: serial || !identity.is_empty(),
            length,
            fixed_length: column_type.name == "bpchar",
            builtin: row.get::<_, Option<bool>>(10).unwrap_or(false),
        });
    }

    for row in query(format!(
        "SELECT n.nspname::text, c.relname::text, con.conname::text, con.contype::text, \
           ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, i) \
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.i), \
           fn.nspname::text, fc.relname::text, \
           ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, i) \
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.i), \
           con.confdeltype::text, con.confupdtype::text \
         FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.conrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
         LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
         WHERE con.contype IN ('p', 'u', 'f') AND {USER_SCHEMAS} \
         ORDER BY 1, 2, 3"
    ))
    .await?
    {
        let key = (row.get::<_, String>(0), row.get::<_, String>(1));
        let Some(table) = tables.get_mut(&key) else {
            continue;
        };
        let name: String = row.get(2);
        let kind: String = row.get(3);
        let columns: Vec<String> = row.get(4);
        match kind.as_str() {
            "p" => {
                table.primary_key = Some(Key {
                    name: Some(name),
                    columns,
                })
            }
            "u" => table.uniques.push(Key {
                name: Some(name),
                columns,
            }),
            _ => {
                let schema: Option<String> = row.get(5);
                let referenced: Option<String> = row.get(6);
                let delete: String = row.get(8);
                let update: String = row.get(9);
                table.foreign_keys.push(ForeignKey {
                    name: Some(name),
                    columns,
                    referenced: TableName::new(schema.as_deref(), &referenced.unwrap_or_default()),
                    referenced_columns: row.get(7),
                    on_delete: fk_action(&delete),
                    on_update: fk_action(&update),
                });
            }
        }
    }

    // Indexes that back no constraint, on plain columns, without a predicate.
    for row in query(format!(
        "SELECT n.nspname::text, c.relname::text, i.relname::text, ix.indisunique, \
           ARRAY(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(num, o) \
                 JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.num ORDER BY k.o), \
           ix.indnkeyatts \
         FROM pg_index ix \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class c ON c.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE ix.indexprs IS NULL AND ix.indpred IS NULL AND {USER_SCHEMAS} \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid \
                           AND con.conrelid = ix.indrelid AND con.contype IN ('p', 'u', 'x')) \
         ORDER BY 1, 2, 3"
    ))
    .await?
    {
        let key = (row.get::<_, String>(0), row.get::<_, String>(1));
        let Some(table) = tables.get_mut(&key) else {
            continue;
        };
        let mut columns: Vec<String> = row.get(4);
        let key_columns: i16 = row.get(5);
        columns.truncate(key_columns.max(0) as usize);
        let index = Index {
            name: row.get(2),
            columns,
            unique: row.get(3),
        };
        if index.unique {
            table.uniques.push(Key {
                name: Some(index.name.clone()),
                columns: index.columns.clone(),
            });
        } else {
            table.indexes.push(index);
        }
    }

    Ok(Catalog {
        engine: EngineKind::Postgres,
        tables: tables.into_values().collect(),
        views,
    })
}

/// Functions and procedures of the current schema (not those of
/// extensions), as `pg_get_functiondef` writes them.
pub(crate) async fn routines(client: &Client, connector: &Connector) -> EngineResult<Vec<Routine>> {
    let sql = "SELECT p.proname::text, \
                      CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, \
                      pg_get_functiondef(p.oid) \
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
               WHERE n.nspname = current_schema() AND p.prokind IN ('f', 'p') \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                                 WHERE d.objid = p.oid AND d.deptype = 'e') \
               ORDER BY p.proname, p.oid";
    let rows = client
        .query(sql, &[])
        .await
        .map_err(|e| connector.error(None, e).with_sql(sql))?;
    Ok(rows
        .iter()
        .map(|row| Routine {
            name: row.get(0),
            kind: row.get(1),
            definition: row.get(2),
        })
        .collect())
}
