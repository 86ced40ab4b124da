//! Step derivation: each copied table's condition on the selected keys
//! (an IN-list, or nested semi-joins when the list would be long) and the
//! ordinary steps the subset expands into.

use std::collections::HashSet;

use datafusion::prelude::SessionContext;

use super::graph::Edge;
use super::graph::EdgeOrigin;
use super::sql::{match_sql, sorted};
use super::{Category, Derivation};
use super::{SubsetOptions, SubsetReport, TablePlan, KEYS_IN_STEP_SQL};

use crate::config::{Pipeline, StepConfig, SubsetConfig, TargetRef};
use crate::error::Error;
use crate::model::{TableName, WriteMode};

impl Derivation {
    /// The condition selecting table `i`'s copied rows and the number of
    /// keys it lists; `None` when no row is selected.
    pub(super) fn condition(&self, i: usize) -> Option<(String, usize)> {
        let mut terms: Vec<String> = self
            .roots
            .iter()
            .filter(|(r, _)| *r == i)
            .map(|(_, w)| format!("({w})"))
            .collect();
        let mut keys = self.parent_keys(i);
        for (k, e) in self.edges.iter().enumerate() {
            if e.child == i && self.follows_down(k) {
                if let Some(values) = self.down.get(&(e.parent, e.referenced_columns.clone())) {
                    keys.entry(e.columns.clone())
                        .or_default()
                        .extend(values.iter().cloned());
                }
            }
        }
        let mut count = 0;
        for (columns, values) in &keys {
            if !values.is_empty() {
                count += values.len();
                terms.push(match_sql("t", columns, &sorted(values)));
            }
        }
        (!terms.is_empty()).then(|| (terms.join(" OR "), count))
    }

    /// Table `i`'s rows as nested semi-joins along its one foreign-key path
    /// to a root (`t."invoice_id" IN (SELECT s1."id" FROM ... s1 WHERE
    /// s1."customer_id" IN (SELECT ...))`), when that is all it selects: a
    /// root with its `where` alone, or a table selected down one
    /// single-column foreign key from such a table, with no parent rows
    /// beyond those. `None` otherwise.
    pub(super) fn path_condition(&self, i: usize, alias: &str, depth: usize) -> Option<String> {
        if depth > 16 || !self.parent_keys(i).is_empty() {
            return None;
        }
        let wheres: Vec<&String> = self
            .roots
            .iter()
            .filter(|(r, _)| *r == i)
            .map(|(_, w)| w)
            .collect();
        let downs: Vec<&Edge> = self
            .edges
            .iter()
            .enumerate()
            .filter(|(k, e)| {
                e.child == i
                    && self.follows_down(*k)
                    && self
                        .down
                        .get(&(e.parent, e.referenced_columns.clone()))
                        .is_some_and(|v| !v.is_empty())
            })
            .map(|(_, e)| e)
            .collect();
        match (wheres.as_slice(), downs.as_slice()) {
            ([w], []) => Some(format!("({w})")),
            ([], [e]) if e.columns.len() == 1 => {
                let inner = format!("s{}", depth + 1);
                let condition = self.path_condition(e.parent, &inner, depth + 1)?;
                Some(format!(
                    "{alias}.{} IN (SELECT {inner}.{} FROM {} {inner} WHERE {condition})",
                    crate::ident::quote(&e.columns[0]),
                    crate::ident::quote(&e.referenced_columns[0]),
                    self.table_sql(e.parent)
                ))
            }
            _ => None,
        }
    }

    /// The derived steps, in foreign-key order, with the explicit ones in
    /// place of theirs; replaces `pipeline.steps`. Returns the plan.
    pub(super) async fn into_steps(
        mut self,
        pipeline: &mut Pipeline,
        subset: &SubsetConfig,
        target: &str,
        (mode, target_is_mysql): (WriteMode, bool),
        options: &SubsetOptions,
        ctx: &SessionContext,
    ) -> Result<SubsetReport, Error> {
        let n = self.tables.len();
        // Warn where copied rows reference tables that are not copied.
        for e in &self.edges {
            if self.copies(e.child) && self.category[e.parent] == Category::Skipped {
                let note = format!(
                    "its foreign key ({}) references skipped table {}: those references will not resolve in the target",
                    e.columns.join(", "),
                    self.tables[e.parent].name.name
                );
                if !self.notes[e.child].contains(&note) {
                    self.notes[e.child].push(note);
                }
            }
        }
        let references: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                self.edges
                    .iter()
                    .filter(|e| e.child == i && !e.is_self())
                    .map(|e| e.parent)
                    .collect()
            })
            .collect();
        let (levels, deferred) = crate::schema::order::fk_levels(&references);

        let explicit_steps = std::mem::take(&mut pipeline.steps);
        let mut used_explicit = vec![false; explicit_steps.len()];
        let taken: HashSet<String> = explicit_steps.iter().map(|s| s.name.clone()).collect();
        let mut step_of: Vec<Option<String>> = vec![None; n];
        // (position in `steps`, table) of each derived step.
        let mut derived: Vec<(usize, usize)> = Vec::new();
        let mut plans: Vec<TablePlan> = Vec::new();
        let mut steps: Vec<StepConfig> = Vec::new();

        for &i in levels.iter().flatten() {
            let table = &self.tables[i];
            let name = table.name.name.clone();
            let mut plan = TablePlan {
                table: name.clone(),
                category: self.category[i],
                notes: self.notes[i].clone(),
                step: None,
                sql: None,
                rows: None,
            };
            if self.explicit[i] {
                if let Some(k) = explicit_steps.iter().position(|s| {
                    s.target.connection != self.source
                        && s.target.table.name.eq_ignore_ascii_case(&name)
                }) {
                    plan.category = Category::Step;
                    plan.notes.push(format!(
                        "written by [[step]] '{}' ({}) instead of the derived step",
                        explicit_steps[k].name, explicit_steps[k].origin
                    ));
                    plan.step = Some(explicit_steps[k].name.clone());
                    step_of[i] = Some(explicit_steps[k].name.clone());
                    for (j, s) in explicit_steps.iter().enumerate() {
                        if s.target.connection != self.source
                            && s.target.table.name.eq_ignore_ascii_case(&name)
                            && !used_explicit[j]
                        {
                            used_explicit[j] = true;
                            steps.push(s.clone());
                        }
                    }
                }
                plans.push(plan);
                continue;
            }
            let from = format!("SELECT t.* FROM {} t", self.table_sql(i));
            let sql = match self.category[i] {
                Category::Skipped => None,
                Category::Reference | Category::Forced => Some(from),
                _ => match self.condition(i) {
                    Some((c, keys)) => {
                        let path = (keys > KEYS_IN_STEP_SQL)
                            .then(|| self.path_condition(i, "t", 0))
                            .flatten();
                        let c = match path {
                            Some(path) => {
                                plan.notes.push(format!(
                                    "{keys} keys are too many to list: selected by semi-joins along its foreign-key path"
                                ));
                                path
                            }
                            None => c,
                        };
                        Some(format!("{from} WHERE {c}"))
                    }
                    None if self.category[i] == Category::Parents => {
                        plan.category = Category::Unreferenced;
                        None
                    }
                    None => {
                        plan.notes.push("no row is selected".into());
                        Some(format!("{from} WHERE FALSE"))
                    }
                },
            };
            let Some(sql) = sql else {
                plans.push(plan);
                continue;
            };
            let step_name = if taken.contains(&name) {
                format!("{name}__subset")
            } else {
                name.clone()
            };
            let key = table
                .primary_key
                .as_ref()
                .map(|k| k.columns.clone())
                .unwrap_or_default();
            let mode = if mode.needs_key() && key.is_empty() {
                plan.notes.push(format!(
                    "no primary key: appended (mode {mode} needs a key)"
                ));
                WriteMode::Append
            } else {
                mode
            };
            let breaks_cycle = deferred.iter().any(|(t, _)| *t == i);
            let self_referencing = self.edges.iter().any(|e| e.child == i && e.is_self());
            let disable_fk_checks = breaks_cycle || (self_referencing && target_is_mysql);
            if disable_fk_checks {
                plan.notes.push(if breaks_cycle {
                    "loaded first in a cycle of foreign keys: the target's foreign-key checks are off for its load".to_string()
                } else {
                    "references itself: the target's foreign-key checks are off for its load (MySQL checks row by row)".to_string()
                });
            }
            plan.step = Some(step_name.clone());
            plan.sql = Some(sql.clone());
            plan.rows = self.rows_estimate[i].filter(|_| self.whole(i));
            step_of[i] = Some(step_name.clone());
            derived.push((steps.len(), i));
            steps.push(StepConfig {
                name: step_name,
                target: TargetRef {
                    connection: target.to_string(),
                    table: TableName::new(None, &name),
                },
                sql,
                key,
                mode,
                depends_on: vec![],
                disable_fk_checks,
                partition_on: None,
                partitions: None,
                retry: subset.retry,
                chunk_rows: None,
                max_rejects: 0,
                origin: format!("{} ([subset], table {name})", subset.origin),
            });
            plans.push(plan);
        }
        // Derived steps wait for the steps of the tables they reference
        // (except where a cycle is broken), so loads follow foreign keys
        // even into targets that do not exist yet.
        for &(position, i) in &derived {
            let mut depends_on: Vec<String> = Vec::new();
            for e in self.edges.iter().filter(|e| e.child == i && !e.is_self()) {
                if deferred.contains(&(i, e.parent)) {
                    continue;
                }
                if let Some(parent_step) = &step_of[e.parent] {
                    if !depends_on.contains(parent_step) {
                        depends_on.push(parent_step.clone());
                    }
                }
            }
            steps[position].depends_on = depends_on;
        }
        for (j, s) in explicit_steps.into_iter().enumerate() {
            if !used_explicit[j] {
                steps.push(s);
            }
        }
        if options.plan_only {
            for plan in plans.iter_mut() {
                if let (Some(sql), None) = (&plan.sql, plan.rows) {
                    plan.rows = Some(self.count(ctx, sql).await?);
                }
            }
        }
        pipeline.steps = steps;
        let extra_fks = self
            .edges
            .iter()
            .filter(|e| e.origin != EdgeOrigin::Declared)
            .map(|e| {
                format!(
                    "{}({}) -> {}({}) ({})",
                    self.tables[e.child].name.name,
                    e.columns.join(", "),
                    self.tables[e.parent].name.name,
                    e.referenced_columns.join(", "),
                    if e.origin == EdgeOrigin::Inferred {
                        "inferred from the name"
                    } else {
                        "[[subset.fk]]"
                    }
                )
            })
            .collect();
        Ok(SubsetReport {
            source: self.source.clone(),
            target: target.to_string(),
            extra_fks,
            tables: plans,
        })
    }
}
