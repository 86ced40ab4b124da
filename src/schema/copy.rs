//! `barge schema copy` (and the schema half of `barge copy`): selected
//! source tables in foreign-key order, their type plans, and the two DDL
//! passes, run against the target or written as a script.

use std::fmt::Write as _;

use super::ddl::{table_ddl, TableDdl};
use super::naming::Naming;
use super::type_plan::{self, TablePlan};
use crate::engines::{self, Connection};
use crate::error::Error;
use crate::model::catalog::{same_table, Catalog, Table};
use crate::model::{EngineKind, TableName};
use crate::schema::order::fk_levels;

/// The plan of a schema copy.
#[derive(Debug, Clone)]
pub struct SchemaCopy {
    pub source: EngineKind,
    pub target: EngineKind,
    /// Selected source tables, in foreign-key order.
    pub tables: Vec<Table>,
    /// Per table (same order): its type plan.
    pub plans: Vec<TablePlan>,
    /// Per table (same order): its DDL.
    pub ddl: Vec<TableDdl>,
    /// Tables (indices) by foreign-key level: a level references only earlier ones.
    pub levels: Vec<Vec<usize>>,
    /// Per table: the tables (indices) it waits for when loading.
    pub waits_for: Vec<Vec<usize>>,
    /// Foreign keys deferred to break cycles, and those left out, as text.
    pub notes: Vec<String>,
}

/// The catalog's tables that `patterns` name (exact names, then names that
/// differ in case, or globs: `Invoice*`); every table when `None`.
pub fn select_tables(
    catalog: &Catalog,
    patterns: Option<&[String]>,
    source_label: &str,
) -> Result<Vec<Table>, Error> {
    let Some(patterns) = patterns else {
        return Ok(catalog.tables.clone());
    };
    let mut selected: Vec<Table> = Vec::new();
    for p in patterns {
        let matched: Vec<&Table> = if p.contains(['*', '?', '[']) {
            let pattern = glob::Pattern::new(p)
                .map_err(|e| Error::Usage(format!("--tables: '{p}' is not a pattern: {e}")))?;
            catalog
                .tables
                .iter()
                .filter(|t| pattern.matches(&t.name.name))
                .collect()
        } else {
            catalog
                .tables
                .iter()
                .find(|t| t.name.name == *p)
                .or_else(|| {
                    catalog
                        .tables
                        .iter()
                        .find(|t| t.name.name.eq_ignore_ascii_case(p))
                })
                .into_iter()
                .collect()
        };
        if matched.is_empty() {
            let names: Vec<&str> = catalog
                .tables
                .iter()
                .map(|t| t.name.name.as_str())
                .collect();
            return Err(Error::Usage(format!(
                "--tables names '{p}', which matches no table of {source_label}\n  hint: its tables are: {}",
                names.join(", ")
            )));
        }
        for t in matched {
            if !selected.iter().any(|s| s.name == t.name) {
                selected.push(t.clone());
            }
        }
    }
    Ok(selected)
}

impl SchemaCopy {
    /// Plans copying `tables` (from a `source` engine catalog) into `target`.
    /// Foreign keys to tables outside the selection are left out.
    pub fn plan(
        source: EngineKind,
        tables: Vec<Table>,
        target: EngineKind,
        naming: Naming,
    ) -> Self {
        let mut notes = Vec::new();
        let index_of = |name: &TableName| tables.iter().position(|t| same_table(&t.name, name));
        let references: Vec<Vec<usize>> = tables
            .iter()
            .map(|t| {
                t.foreign_keys
                    .iter()
                    .filter_map(|fk| index_of(&fk.referenced))
                    .collect()
            })
            .collect();
        let (levels, deferred) = fk_levels(&references);
        for (from, to) in &deferred {
            notes.push(format!(
                "foreign keys of {} to {} close a cycle: {} loads first, its foreign keys are added after the data",
                tables[*from].name.name, tables[*to].name.name, tables[*from].name.name
            ));
        }
        let order: Vec<usize> = levels.iter().flatten().copied().collect();
        let mut ordered: Vec<Table> = order.iter().map(|&i| tables[i].clone()).collect();
        let position = |old: usize| order.iter().position(|&o| o == old).unwrap_or(old);
        let levels: Vec<Vec<usize>> = levels
            .iter()
            .map(|l| l.iter().map(|&i| position(i)).collect())
            .collect();
        let waits_for: Vec<Vec<usize>> = order
            .iter()
            .map(|&old| {
                let mut w: Vec<usize> = references[old]
                    .iter()
                    .filter(|&&r| r != old && !deferred.contains(&(old, r)))
                    .map(|&r| position(r))
                    .collect();
                w.sort_unstable();
                w.dedup();
                w
            })
            .collect();
        for t in &mut ordered {
            let name = t.name.name.clone();
            t.foreign_keys.retain(|fk| {
                let kept = tables.iter().any(|o| same_table(&o.name, &fk.referenced));
                if !kept {
                    notes.push(format!(
                        "{name}: foreign key ({}) left out: {} is not copied",
                        fk.columns.join(", "),
                        fk.referenced
                    ));
                }
                kept
            });
        }
        let plans: Vec<TablePlan> = ordered
            .iter()
            .map(|t| TablePlan::new(source, t, target))
            .collect();
        let ddl: Vec<TableDdl> = ordered
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let before = |fk: &crate::model::catalog::ForeignKey| {
                    ordered[..i]
                        .iter()
                        .any(|o| same_table(&o.name, &fk.referenced))
                };
                table_ddl(source, t, &plans[i], target, naming, None, &before)
            })
            .collect();
        for d in &ddl {
            notes.extend(d.skipped.iter().cloned());
        }
        Self {
            source,
            target,
            tables: ordered,
            plans,
            ddl,
            levels,
            waits_for,
            notes,
        }
    }

    /// Every lossy column, as `table.column: source -> target (why)`.
    pub fn lossy(&self) -> Vec<String> {
        type_plan::lossy(&self.plans)
    }

    /// The type plan as text.
    pub fn type_plan_text(&self) -> String {
        type_plan::render(&self.plans)
    }

    /// Both passes as one SQL script.
    pub fn script(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "-- barge schema copy: {} -> {}, {} table(s)",
            self.source,
            self.target,
            self.tables.len()
        );
        for note in &self.notes {
            let _ = writeln!(out, "-- note: {note}");
        }
        let _ = writeln!(out, "\n-- pass one: tables and primary keys");
        for d in &self.ddl {
            let _ = writeln!(out, "{};\n", d.create);
        }
        let _ = writeln!(
            out,
            "-- pass two (after the data): unique constraints, indexes, foreign keys, counters"
        );
        for d in &self.ddl {
            for s in &d.after_data {
                let _ = writeln!(out, "{};", s.sql);
            }
        }
        out
    }

    /// Refuses the copy when a column is lossy (`--fail-on-lossy`).
    pub fn check_lossless(&self) -> Result<(), Error> {
        let lossy = self.lossy();
        if lossy.is_empty() {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "the type plan is lossy in {} column(s) and --fail-on-lossy is set; nothing was written:\n  {}\n  hint: CAST these columns in a pipeline step, or drop --fail-on-lossy to accept the plan",
            lossy.len(),
            lossy.join("\n  ")
        )))
    }

    /// Target tables (indices) that already exist.
    pub async fn existing(&self, target: &dyn Connection) -> Result<Vec<usize>, Error> {
        let mut found = Vec::new();
        for (i, d) in self.ddl.iter().enumerate() {
            if target.table_schema(&d.target).await?.is_some() {
                found.push(i);
            }
        }
        Ok(found)
    }

    /// Drops the target tables `which`, referencing tables first.
    pub async fn drop_tables(&self, target: &dyn Connection, which: &[usize]) -> Result<(), Error> {
        for &i in self.levels.iter().flatten().rev() {
            if !which.contains(&i) {
                continue;
            }
            let dialect = engines::dialect(self.target);
            let sql = dialect.drop_table_sql(&dialect.quote_table(&self.ddl[i].target));
            target.execute_statement(&sql).await?;
        }
        Ok(())
    }

    /// Pass one: creates the tables `which` (indices), referenced tables first.
    pub async fn create_tables(
        &self,
        target: &dyn Connection,
        which: &[usize],
    ) -> Result<(), Error> {
        for &i in self.levels.iter().flatten() {
            if which.contains(&i) {
                target.execute_statement(&self.ddl[i].create).await?;
            }
        }
        Ok(())
    }

    /// Pass two for the tables `which`: every unique constraint, index and
    /// foreign key the target's table does not have yet (compared with the
    /// target's catalog, so a copy finished by a rerun gets every one), and
    /// the identity counters. Returns how many statements ran.
    pub async fn finish_tables(
        &self,
        target: &dyn Connection,
        which: &[usize],
    ) -> Result<usize, Error> {
        let catalog = target.introspect().await?;
        let mut ran = 0;
        for &i in self.levels.iter().flatten() {
            if !which.contains(&i) {
                continue;
            }
            let existing = catalog.table(&self.ddl[i].target);
            for step in &self.ddl[i].after_data {
                if existing.is_some_and(|t| step.item.present_in(t)) {
                    continue;
                }
                target.execute_statement(&step.sql).await?;
                ran += 1;
            }
        }
        Ok(ran)
    }
}
