//! Key selection: the key values of every copied table's rows, computed in
//! the source by semi-joins over the foreign-key graph to a fixpoint, and
//! the reference tables' verdicts (whole, needed rows only, or asked).

use std::collections::{BTreeMap, HashSet, VecDeque};

use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

use super::sql::{match_sql, normalize, Tuple};
use super::{abbreviate, keys_per_query, SubsetOptions};
use super::{Category, Derivation, Fetch, Filter};

use crate::error::{describe_datafusion, Error, SubsetError};

impl Derivation {
    /// Reference tables above `confirm_rows` are copied whole only when
    /// confirmed (`--yes`, the prompt; `barge plan` assumes it); otherwise
    /// only their referenced rows (`skip_large`, a "no"), or, with nobody
    /// to ask, the run fails naming the table.
    pub(super) async fn decide_references(
        &mut self,
        ctx: &SessionContext,
        options: &SubsetOptions,
    ) -> Result<(), Error> {
        for i in 0..self.tables.len() {
            if self.category[i] != Category::Reference {
                continue;
            }
            let rows = match self.rows_estimate[i] {
                Some(n) if n > self.confirm_rows => n,
                _ => {
                    self.count(ctx, &format!("SELECT t.* FROM {} t", self.table_sql(i)))
                        .await?
                }
            };
            self.rows_estimate[i] = Some(rows);
            if rows <= self.confirm_rows {
                continue;
            }
            let name = self.tables[i].name.name.clone();
            let whole = if self.skip_large {
                false
            } else if options.yes {
                true
            } else if options.plan_only {
                self.notes[i].push(format!(
                    "{rows} rows > confirm_rows = {}: the run asks before copying it whole (--yes: copy; skip_large = true: only referenced rows)",
                    self.confirm_rows
                ));
                true
            } else if let Some(ask) = &options.ask {
                ask(&name, rows)
            } else {
                return Err(SubsetError::LargeReference {
                    pipeline: self.pipeline.clone(),
                    table: name,
                    rows,
                    confirm_rows: self.confirm_rows,
                }
                .into());
            };
            if !whole {
                self.category[i] = Category::Parents;
                self.notes[i].push(format!(
                    "{rows} rows > confirm_rows = {}: not copied whole, only the rows the subset references",
                    self.confirm_rows
                ));
            }
        }
        Ok(())
    }

    /// Rows `select` returns, counted in the source.
    pub(super) async fn count(&self, ctx: &SessionContext, select: &str) -> Result<u64, Error> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Int64Type;
        let sql = format!("SELECT count(*) AS n FROM ({select}) AS barge_subset_count");
        let batches = self.run(ctx, &sql).await?;
        Ok(batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| {
                b.column(0)
                    .as_primitive_opt::<Int64Type>()
                    .map(|a| a.value(0))
            })
            .unwrap_or(0) as u64)
    }

    pub(super) async fn run(
        &self,
        ctx: &SessionContext,
        sql: &str,
    ) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, Error> {
        let fail = |e: datafusion::error::DataFusionError| {
            Error::from(SubsetError::Source {
                pipeline: self.pipeline.clone(),
                message: format!(
                    "selecting rows in connection '{}' failed: {}\n  sql: {}\n  hint: check the columns named in [subset] where, [[subset.roots]] and [[subset.fk]]",
                    self.source,
                    describe_datafusion(&e),
                    abbreviate(sql)
                ),
            })
        };
        ctx.sql(sql)
            .await
            .map_err(fail)?
            .collect()
            .await
            .map_err(fail)
    }

    /// Selects the rows of every table: from the roots' `where` down the
    /// foreign keys (via root), and from every copied row up to the rows it
    /// references (parents), until no new key turns up.
    pub(super) async fn select(&mut self, ctx: &SessionContext) -> Result<(), Error> {
        let mut queue: VecDeque<Fetch> = VecDeque::new();
        for (i, where_sql) in &self.roots {
            queue.push_back(Fetch {
                table: *i,
                down: true,
                filter: Filter::Where(where_sql.clone()),
            });
        }
        for i in 0..self.tables.len() {
            if self.whole(i) {
                queue.push_back(Fetch {
                    table: i,
                    down: false,
                    filter: Filter::All,
                });
            }
        }
        while let Some(fetch) = queue.pop_front() {
            match &fetch.filter {
                Filter::Keys(columns, keys) if keys.len() > keys_per_query(columns) => {
                    for chunk in keys.chunks(keys_per_query(columns)) {
                        queue.push_back(Fetch {
                            table: fetch.table,
                            down: fetch.down,
                            filter: Filter::Keys(columns.clone(), chunk.to_vec()),
                        });
                    }
                }
                _ => {
                    let more = self.fetch(ctx, &fetch).await?;
                    queue.extend(more);
                }
            }
        }
        Ok(())
    }

    /// Reads the key columns of the rows `fetch` selects; records the new
    /// keys and returns the fetches they call for.
    pub(super) async fn fetch(
        &mut self,
        ctx: &SessionContext,
        fetch: &Fetch,
    ) -> Result<Vec<Fetch>, Error> {
        let t = fetch.table;
        // Column lists children reference this table by (via-root rows only).
        let mut down_lists: Vec<Vec<String>> = Vec::new();
        if fetch.down {
            for (_, e) in self.edges_where(|k, e| e.parent == t && self.follows_down(k)) {
                if !down_lists.contains(&e.referenced_columns) {
                    down_lists.push(e.referenced_columns.clone());
                }
            }
        }
        // Foreign keys whose parents copied rows need.
        let up_edges: Vec<usize> = (0..self.edges.len())
            .filter(|&k| self.edges[k].child == t && self.follows_up(&self.edges[k]))
            .filter(|_| self.copies(t))
            .collect();
        if down_lists.is_empty() && up_edges.is_empty() {
            return Ok(vec![]);
        }
        let mut columns: Vec<String> = Vec::new();
        for c in down_lists
            .iter()
            .flatten()
            .chain(up_edges.iter().flat_map(|&k| self.edges[k].columns.iter()))
        {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        }
        let position = |c: &String| columns.iter().position(|x| x == c).unwrap_or(0);
        let select_list: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(k, c)| format!("t.{} AS c{k}", crate::ident::quote(c)))
            .collect();
        let condition = match &fetch.filter {
            Filter::Where(w) => format!(" WHERE ({w})"),
            Filter::All => String::new(),
            Filter::Keys(cols, keys) => {
                let refs: Vec<&Tuple> = keys.iter().collect();
                format!(" WHERE {}", match_sql("t", cols, &refs))
            }
        };
        let sql = format!(
            "SELECT {} FROM {} t{condition}",
            select_list.join(", "),
            self.table_sql(t)
        );
        let batches = self.run(ctx, &sql).await?;

        let down_positions: Vec<Vec<usize>> = down_lists
            .iter()
            .map(|l| l.iter().map(position).collect())
            .collect();
        let up_positions: Vec<Vec<usize>> = up_edges
            .iter()
            .map(|&k| self.edges[k].columns.iter().map(position).collect())
            .collect();
        let mut new_down: Vec<Vec<Tuple>> = vec![Vec::new(); down_lists.len()];
        let mut new_up: Vec<Vec<Tuple>> = vec![Vec::new(); up_edges.len()];
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let mut values: Vec<Option<ScalarValue>> = Vec::with_capacity(columns.len());
                for (k, column) in columns.iter().enumerate() {
                    let value = ScalarValue::try_from_array(batch.column(k), row).map_err(|e| {
                        SubsetError::Source {
                            pipeline: self.pipeline.clone(),
                            message: describe_datafusion(&e),
                        }
                    })?;
                    values.push(normalize(value).map_err(|data_type| {
                        SubsetError::UnsupportedKey {
                            pipeline: self.pipeline.clone(),
                            table: self.tables[t].name.name.clone(),
                            column: column.clone(),
                            data_type,
                        }
                    })?);
                }
                let tuple = |positions: &[usize]| -> Option<Tuple> {
                    positions.iter().map(|&p| values[p].clone()).collect()
                };
                for (l, positions) in down_positions.iter().enumerate() {
                    if let Some(key) = tuple(positions) {
                        let set = self.down.entry((t, down_lists[l].clone())).or_default();
                        if set.insert(key.clone()) {
                            new_down[l].push(key);
                        }
                    }
                }
                for (u, positions) in up_positions.iter().enumerate() {
                    if let Some(key) = tuple(positions) {
                        if self.up[up_edges[u]].insert(key.clone()) {
                            new_up[u].push(key);
                        }
                    }
                }
            }
        }

        let mut more = Vec::new();
        for (l, keys) in new_down.into_iter().enumerate() {
            if keys.is_empty() {
                continue;
            }
            for (_, e) in self.edges_where(|k, e| {
                e.parent == t && self.follows_down(k) && e.referenced_columns == down_lists[l]
            }) {
                more.push(Fetch {
                    table: e.child,
                    down: true,
                    filter: Filter::Keys(e.columns.clone(), keys.clone()),
                });
            }
        }
        for (u, keys) in new_up.into_iter().enumerate() {
            if keys.is_empty() {
                continue;
            }
            let e = &self.edges[up_edges[u]];
            more.push(Fetch {
                table: e.parent,
                down: false,
                filter: Filter::Keys(e.referenced_columns.clone(), keys),
            });
        }
        Ok(more)
    }

    /// Keys of the rows of table `i` that copied rows reference, beyond
    /// those selected via a root, per referenced column list.
    pub(super) fn parent_keys(&self, i: usize) -> BTreeMap<Vec<String>, HashSet<Tuple>> {
        let mut keys: BTreeMap<Vec<String>, HashSet<Tuple>> = BTreeMap::new();
        for (k, e) in self.edges.iter().enumerate() {
            if e.parent == i && self.follows_up(e) {
                // Referenced keys are unique: those of rows selected via a
                // root are selected by the terms of the via-root rows already.
                let selected = self.down.get(&(i, e.referenced_columns.clone()));
                let extra = self.up[k]
                    .iter()
                    .filter(|key| !selected.is_some_and(|s| s.contains(*key)))
                    .cloned();
                keys.entry(e.referenced_columns.clone())
                    .or_default()
                    .extend(extra);
            }
        }
        keys.retain(|_, v| !v.is_empty());
        keys
    }
}
