//! The foreign-key graph of the source: declared foreign keys, those of
//! `[[subset.fk]]`, and with `infer_fks` those inferred from column names.

use std::collections::VecDeque;

use crate::config::SubsetFk;
use crate::model::catalog::Table;

use crate::error::SubsetError;

/// Where an edge comes from, for `barge plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeOrigin {
    Declared,
    Pipeline,
    Inferred,
}

/// A foreign key: rows of `child` reference rows of `parent`
/// (`columns` -> `referenced_columns`). Indices are into the table list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub child: usize,
    pub parent: usize,
    pub columns: Vec<String>,
    pub referenced_columns: Vec<String>,
    pub origin: EdgeOrigin,
}

impl Edge {
    /// A reference from a table to itself (`employee.reports_to`).
    pub fn is_self(&self) -> bool {
        self.child == self.parent
    }
}

/// Finds a table by name: exact, else the one differing only in case.
pub fn find_table(tables: &[Table], name: &str) -> Option<usize> {
    tables.iter().position(|t| t.name.name == name).or_else(|| {
        tables
            .iter()
            .position(|t| t.name.name.eq_ignore_ascii_case(name))
    })
}

/// A column's name as the table spells it (exact, else without case).
fn find_column(table: &Table, name: &str) -> Option<String> {
    table
        .columns
        .iter()
        .find(|c| c.name == name)
        .or_else(|| {
            table
                .columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
        .map(|c| c.name.clone())
}

/// Every edge between `tables`.
pub fn edges(
    pipeline: &str,
    tables: &[Table],
    extra: &[SubsetFk],
    infer: bool,
) -> Result<Vec<Edge>, SubsetError> {
    let mut edges = Vec::new();
    for (child, table) in tables.iter().enumerate() {
        for fk in &table.foreign_keys {
            let Some(parent) = tables
                .iter()
                .position(|t| crate::model::catalog::same_table(&t.name, &fk.referenced))
            else {
                continue;
            };
            edges.push(Edge {
                child,
                parent,
                columns: fk.columns.clone(),
                referenced_columns: fk.referenced_columns.clone(),
                origin: EdgeOrigin::Declared,
            });
        }
    }
    for fk in extra {
        let bad = |message: String, hint: String| SubsetError::BadForeignKey {
            pipeline: pipeline.to_string(),
            message,
            hint,
        };
        let names = || {
            tables
                .iter()
                .map(|t| t.name.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let child = find_table(tables, &fk.table).ok_or_else(|| {
            bad(
                format!("table '{}' is not in the source", fk.table),
                format!("the source has: {}", names()),
            )
        })?;
        let parent = find_table(tables, &fk.references).ok_or_else(|| {
            bad(
                format!(
                    "references table '{}', which is not in the source",
                    fk.references
                ),
                format!("the source has: {}", names()),
            )
        })?;
        let columns = fk
            .columns
            .iter()
            .map(|c| {
                find_column(&tables[child], c).ok_or_else(|| {
                    bad(
                        format!("table '{}' has no column '{c}'", fk.table),
                        "name the referencing columns of the table".into(),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let referenced_columns = if fk.referenced_columns.is_empty() {
            tables[parent]
                .primary_key
                .as_ref()
                .map(|k| k.columns.clone())
                .ok_or_else(|| {
                    bad(
                        format!("table '{}' has no primary key to reference", fk.references),
                        "add referenced_columns = [\"...\"]".into(),
                    )
                })?
        } else {
            fk.referenced_columns
                .iter()
                .map(|c| {
                    find_column(&tables[parent], c).ok_or_else(|| {
                        bad(
                            format!("table '{}' has no column '{c}'", fk.references),
                            "name the referenced columns of the table".into(),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        if columns.len() != referenced_columns.len() {
            return Err(bad(
                format!(
                    "{}({}) and {}({}) differ in their number of columns",
                    fk.table,
                    columns.join(", "),
                    fk.references,
                    referenced_columns.join(", ")
                ),
                "give as many columns as the referenced key has".into(),
            ));
        }
        edges.push(Edge {
            child,
            parent,
            columns,
            referenced_columns,
            origin: EdgeOrigin::Pipeline,
        });
    }
    if infer {
        let inferred = infer_edges(tables, &edges);
        edges.extend(inferred);
    }
    edges.dedup();
    Ok(edges)
}

/// Letters and digits of a name, lower case: `Customer_Id` -> `customerid`.
fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `<table>_id` columns (any case, with or without the underscore, the table
/// named in the singular or plural) not yet in a foreign key, referencing
/// that table's single-column primary key.
fn infer_edges(tables: &[Table], known: &[Edge]) -> Vec<Edge> {
    let mut out = Vec::new();
    for (child, table) in tables.iter().enumerate() {
        for column in &table.columns {
            let name = normalized(&column.name);
            let Some(stem) = name.strip_suffix("id").filter(|s| !s.is_empty()) else {
                continue;
            };
            let covered = known
                .iter()
                .any(|e| e.child == child && e.columns.contains(&column.name));
            if covered {
                continue;
            }
            let parent = tables.iter().position(|t| {
                let n = normalized(&t.name.name);
                n == stem || n == format!("{stem}s") || n == format!("{stem}es")
            });
            let Some(parent) = parent.filter(|&p| p != child) else {
                continue;
            };
            let Some(key) = tables[parent]
                .primary_key
                .as_ref()
                .filter(|k| k.columns.len() == 1)
            else {
                continue;
            };
            out.push(Edge {
                child,
                parent,
                columns: vec![column.name.clone()],
                referenced_columns: key.columns.clone(),
                origin: EdgeOrigin::Inferred,
            });
        }
    }
    out
}

/// Tables with a foreign-key path (not through self-references) to one of
/// `roots`, roots included; paths through `avoid` do not count.
pub fn reaches_root(n: usize, edges: &[Edge], roots: &[usize], avoid: Option<usize>) -> Vec<bool> {
    let mut reached = vec![false; n];
    let roots: Vec<usize> = roots
        .iter()
        .copied()
        .filter(|&r| Some(r) != avoid)
        .collect();
    let mut queue: VecDeque<usize> = roots.iter().copied().collect();
    for &r in &roots {
        reached[r] = true;
    }
    while let Some(parent) = queue.pop_front() {
        for e in edges.iter().filter(|e| e.parent == parent && !e.is_self()) {
            if !reached[e.child] && Some(e.child) != avoid {
                reached[e.child] = true;
                queue.push_back(e.child);
            }
        }
    }
    reached
}
