//! The DDL of a schema copy, per target engine, in two passes:
//!
//! 1. `CREATE TABLE` with column types from the [type plan](super::type_plan),
//!    NOT NULL, defaults that translate, identity / auto-increment and the
//!    primary key (SQLite and DuckDB, which cannot add foreign keys later,
//!    also get their foreign keys here);
//! 2. after the data: unique constraints, indexes, foreign keys, and
//!    identity counters moved past the copied maximum (PostgreSQL; MySQL's
//!    InnoDB and SQLite move theirs while loading).

use super::naming::Naming;
use super::type_plan::TablePlan;
use crate::engines::{
    self,
    dialect::{ColumnDef, Dialect, ForeignKeyDdl},
};
use crate::model::catalog::{DefaultValue, ForeignKey, Table};
use crate::model::{EngineKind, TableName};

/// Longest generated constraint name: PostgreSQL's limit, whatever the
/// target (names follow PostgreSQL's conventions), or the target's own
/// when it is shorter.
const MAX_IDENT: usize = 63;

/// How one source table is created in the target.
#[derive(Debug, Clone)]
pub struct TableDdl {
    /// The target table (schema `None`: the target's default schema).
    pub target: TableName,
    /// `(source column, target column)` in table order.
    pub columns: Vec<(String, String)>,
    /// Pass one: `CREATE TABLE`.
    pub create: String,
    /// Pass two: unique constraints, indexes, foreign keys, counters.
    pub after_data: Vec<PassTwo>,
    /// Foreign keys left out (the engine cannot add them after the table exists).
    pub skipped: Vec<String>,
}

/// One statement of pass two, and what it adds (to tell whether a target
/// already has it).
#[derive(Debug, Clone, PartialEq)]
pub struct PassTwo {
    pub item: PassTwoItem,
    pub sql: String,
}

/// What a pass-two statement adds; columns and tables as the target names them.
#[derive(Debug, Clone, PartialEq)]
pub enum PassTwoItem {
    Unique(Vec<String>),
    Index(Vec<String>),
    ForeignKey {
        columns: Vec<String>,
        referenced: String,
        referenced_columns: Vec<String>,
    },
    /// An identity counter moved past the copied maximum (always run again).
    Counter,
}

impl PassTwoItem {
    /// Whether `table` (the target's, as introspected) has this already.
    pub fn present_in(&self, table: &crate::model::catalog::Table) -> bool {
        let same = |a: &[String], b: &[String]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
        };
        let unique = |cols: &[String]| {
            table
                .primary_key
                .iter()
                .chain(&table.uniques)
                .any(|k| same(&k.columns, cols))
                || table
                    .indexes
                    .iter()
                    .any(|i| i.unique && same(&i.columns, cols))
        };
        match self {
            PassTwoItem::Unique(cols) => unique(cols),
            PassTwoItem::Index(cols) => {
                unique(cols) || table.indexes.iter().any(|i| same(&i.columns, cols))
            }
            PassTwoItem::ForeignKey {
                columns,
                referenced,
                referenced_columns,
            } => table.foreign_keys.iter().any(|fk| {
                same(&fk.columns, columns)
                    && fk.referenced.name.eq_ignore_ascii_case(referenced)
                    && same(&fk.referenced_columns, referenced_columns)
            }),
            PassTwoItem::Counter => false,
        }
    }
}

/// Builds both passes for `table`. `inline_fks` are the foreign keys the
/// engine must get in `CREATE TABLE` (SQLite, DuckDB): those whose
/// referenced table is created before this one. `target_schema` qualifies
/// every target table when set.
pub fn table_ddl(
    source: EngineKind,
    table: &Table,
    plan: &TablePlan,
    target: EngineKind,
    naming: Naming,
    target_schema: Option<&str>,
    fk_created_before: &dyn Fn(&ForeignKey) -> bool,
) -> TableDdl {
    let dialect = engines::dialect(target);
    let rename = |n: &str| naming.apply(n);
    let target_name = TableName::new(target_schema, &rename(&table.name.name));
    let quoted_table = dialect.quote_table(&target_name);
    let q = |n: &str| dialect.quote_ident(&rename(n));
    let cols = |cols: &[String]| cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    // Generated names follow PostgreSQL's conventions; a same-engine copy
    // with unchanged names keeps the source's.
    let keep_names = source == target && naming == Naming::Keep;
    let max_ident = MAX_IDENT.min(dialect.max_ident_len());
    let constraint_name = |given: &Option<String>, columns: &[String], suffix: &str| match given {
        Some(n) if keep_names => n.clone(),
        _ => {
            let mut parts = vec![rename(&table.name.name)];
            parts.extend(columns.iter().map(|c| rename(c)));
            parts.push(suffix.to_string());
            let mut name = parts.join("_");
            name.truncate(max_ident);
            name
        }
    };

    let pk_first = table
        .primary_key
        .as_ref()
        .and_then(|k| k.columns.first())
        .cloned();
    let mut lines = Vec::new();
    for (column, planned) in table.columns.iter().zip(&plan.columns) {
        let in_key = table
            .primary_key
            .as_ref()
            .is_some_and(|k| k.columns.contains(&column.name));
        let identity = planned.identity
            && dialect.identity_allowed(pk_first.as_deref() == Some(column.name.as_str()));
        let not_null = !column.nullable || in_key;
        let default = column
            .default
            .as_ref()
            .filter(|d| !identity && **d != DefaultValue::Null)
            .and_then(|d| render_default(d, source, dialect, &planned.target_type));
        lines.push(dialect.column_sql(&ColumnDef {
            name: &q(&column.name),
            data_type: &planned.target_type,
            identity,
            not_null,
            default: default.as_deref(),
        }));
    }
    if let Some(pk) = &table.primary_key {
        lines.push(format!("PRIMARY KEY ({})", cols(&pk.columns)));
    }
    let mut skipped = Vec::new();
    let mut after_data = Vec::new();
    let fk_sql = |fk: &ForeignKey| {
        let mut sql = format!(
            "FOREIGN KEY ({}) REFERENCES {} ({})",
            cols(&fk.columns),
            dialect.quote_table(&TableName::new(target_schema, &rename(&fk.referenced.name))),
            cols(&fk.referenced_columns)
        );
        if dialect.foreign_key_actions() {
            if let Some(action) = &fk.on_delete {
                sql.push_str(&format!(" ON DELETE {action}"));
            }
            if let Some(action) = &fk.on_update {
                sql.push_str(&format!(" ON UPDATE {action}"));
            }
        }
        sql
    };
    for fk in &table.foreign_keys {
        let name = constraint_name(&fk.name, &fk.columns, "fkey");
        match dialect.foreign_keys() {
            ForeignKeyDdl::AfterData => after_data.push(PassTwo {
                item: PassTwoItem::ForeignKey {
                    columns: fk.columns.iter().map(|c| rename(c)).collect(),
                    referenced: rename(&fk.referenced.name),
                    referenced_columns: fk.referenced_columns.iter().map(|c| rename(c)).collect(),
                },
                sql: format!(
                    "ALTER TABLE {quoted_table} ADD CONSTRAINT {} {}",
                    dialect.quote_ident(&name),
                    fk_sql(fk)
                ),
            }),
            // SQLite checks nothing at CREATE TABLE (nor while loading, unless
            // PRAGMA foreign_keys is on): every foreign key goes in.
            ForeignKeyDdl::InCreate => lines.push(fk_sql(fk)),
            ForeignKeyDdl::InCreateAfterReferenced if fk_created_before(fk) => {
                if !dialect.foreign_key_actions()
                    && (fk.on_delete.is_some() || fk.on_update.is_some())
                {
                    skipped.push(format!(
                        "{target_name}: foreign key ({}) without its ON DELETE/ON UPDATE action: {target} has none",
                        fk.columns.join(", ")
                    ));
                }
                lines.push(fk_sql(fk))
            }
            _ => skipped.push(format!(
                "{}: foreign key ({}) -> {} ({}): {target} cannot add it to an existing table",
                target_name,
                fk.columns.join(", "),
                fk.referenced.name,
                fk.referenced_columns.join(", ")
            )),
        }
    }
    let create = format!(
        "CREATE TABLE {quoted_table} (\n  {}\n){}",
        lines.join(",\n  "),
        dialect.create_table_suffix()
    );

    let mut pass_two = Vec::new();
    for key in &table.uniques {
        let name = dialect.quote_ident(&constraint_name(&key.name, &key.columns, "key"));
        let sql = if dialect.unique_as_constraint() {
            format!(
                "ALTER TABLE {quoted_table} ADD CONSTRAINT {name} UNIQUE ({})",
                cols(&key.columns)
            )
        } else {
            format!(
                "CREATE UNIQUE INDEX {name} ON {quoted_table} ({})",
                cols(&key.columns)
            )
        };
        pass_two.push(PassTwo {
            item: PassTwoItem::Unique(key.columns.iter().map(|c| rename(c)).collect()),
            sql,
        });
    }
    for index in &table.indexes {
        let given = Some(index.name.clone());
        let name = dialect.quote_ident(&constraint_name(&given, &index.columns, "idx"));
        pass_two.push(PassTwo {
            item: PassTwoItem::Index(index.columns.iter().map(|c| rename(c)).collect()),
            sql: format!(
                "CREATE INDEX {name} ON {quoted_table} ({})",
                cols(&index.columns)
            ),
        });
    }
    pass_two.extend(after_data);
    for (column, planned) in table.columns.iter().zip(&plan.columns) {
        if planned.identity {
            pass_two.extend(
                dialect
                    .identity_counter_sql(&quoted_table, &rename(&column.name))
                    .map(|sql| PassTwo {
                        item: PassTwoItem::Counter,
                        sql,
                    }),
            );
        }
    }
    TableDdl {
        columns: table
            .columns
            .iter()
            .map(|c| (c.name.clone(), rename(&c.name)))
            .collect(),
        target: target_name,
        create,
        after_data: pass_two,
        skipped,
    }
}

/// A default as SQL for the target, `None` when it does not translate
/// (an engine-specific expression in a cross-engine copy).
fn render_default(
    default: &DefaultValue,
    source: EngineKind,
    target: &dyn Dialect,
    target_type: &str,
) -> Option<String> {
    let lower = target_type.to_ascii_lowercase();
    let boolean = lower == "boolean" || lower == "bool" || lower == "tinyint(1)";
    let textual = lower.contains("char") || lower.contains("text") || lower == "json";
    let boolean_sql = |b: bool| target.boolean_literal(b).to_string();
    Some(match default {
        DefaultValue::Null => "NULL".to_string(),
        DefaultValue::Number(n) if boolean => boolean_sql(n.trim() != "0"),
        DefaultValue::Number(n) if textual => target.string_literal(n),
        DefaultValue::Number(n) => n.clone(),
        DefaultValue::Text(t) if boolean => match t.to_ascii_lowercase().as_str() {
            "t" | "true" | "1" | "y" | "yes" => boolean_sql(true),
            "f" | "false" | "0" | "n" | "no" => boolean_sql(false),
            _ => return None,
        },
        DefaultValue::Text(t) => target.string_literal(t),
        DefaultValue::Boolean(b) => boolean_sql(*b),
        DefaultValue::CurrentTimestamp => target.current_timestamp(fraction_digits(&lower)),
        DefaultValue::CurrentDate => target.current_date().to_string(),
        DefaultValue::Expression(e) if source == target.kind() => e.clone(),
        DefaultValue::Expression(_) => return None,
    })
}

/// `n` of `datetime(n)` / `timestamp(n)`.
fn fraction_digits(lower_type: &str) -> Option<u8> {
    if !(lower_type.starts_with("datetime") || lower_type.starts_with("timestamp")) {
        return None;
    }
    let open = lower_type.find('(')?;
    let close = lower_type[open..].find(')')? + open;
    lower_type[open + 1..close].trim().parse().ok()
}
