//! `[subset]`: a referentially complete subset of a source, derived from the
//! foreign-key graph and expanded into ordinary steps.
//!
//! Given root tables and a `where` on each, every table of the source gets
//! a category ([`Category`]) and, when copied, a step whose SQL selects its
//! rows:
//!
//! - **root**: rows matching the root's `where`;
//! - **via root**: tables with a foreign-key path to a root; a row is
//!   selected when one of its foreign keys references a selected row of a
//!   root or via-root table (the union over every path: diamonds);
//! - **parents**: rows that copied rows reference, transitively upward
//!   (self-references followed to the top, cycles to their fixpoint), so
//!   every foreign key in the target resolves. Every copied table gets its
//!   parents; a table with no path to a root gets only those with
//!   `reference = "needed"`. Children of rows selected only as parents are
//!   not followed;
//! - **reference**: tables with no path to a root, copied whole;
//! - **forced** (copied whole), **skipped** (not copied), **step** (an
//!   explicit `[[step]]` writes the table).
//!
//! Selection is exact: barge computes the key values of the selected rows
//! by running queries in the source, one semi-join per foreign key and new
//! batch of keys (semi-naive iteration to the fixpoint), and each derived
//! step filters its table by those keys (`WHERE t."customer_id" IN (...)`),
//! which runs inside SQL sources; a step that would list more than
//! 10,000 keys on a single foreign-key path uses nested
//! semi-joins instead. See the README's "Subsetting" section.

mod error;
mod graph;
mod patterns;
mod sql;

pub use error::SubsetError;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;

use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use secrecy::ExposeSecret;

use crate::config::{Pipeline, ReferenceMode, StepConfig, SubsetConfig, TargetRef};
use crate::engines::{TableName, WriteMode};
use crate::error::{describe_datafusion, Error};
use crate::run::session::Session;
use crate::schema::Table;
use graph::{find_table, Edge, EdgeOrigin};
use sql::{match_sql, normalize, sorted, table_ref, Tuple};

/// Keys per query while selecting rows: one `IN` list of up to 1,000
/// values, or up to 50 `(a = .. AND b = ..)` terms for composite keys (a
/// long `OR` chain nests deeply in the planner).
fn keys_per_query(columns: &[String]) -> usize {
    if columns.len() == 1 {
        1000
    } else {
        50
    }
}

/// A derived step lists at most this many keys when a semi-join along its
/// table's foreign-key path can select the same rows.
const KEYS_IN_STEP_SQL: usize = 10_000;

/// Asks whether to copy a large reference table whole: `(table, rows)`.
pub type AskFn = dyn Fn(&str, u64) -> bool + Send + Sync;

/// How [`expand_subset`] decides what the pipeline file leaves open.
#[derive(Default)]
pub struct SubsetOptions {
    /// Copy large reference tables whole without asking (`--yes`).
    pub yes: bool,
    /// Tables always copied whole (`--force-tables`), over `skip` in the file.
    pub force_tables: Vec<String>,
    /// Planning only (`barge plan`): never ask, count each step's rows.
    pub plan_only: bool,
    /// Asks the user; `None` when there is no terminal to ask on.
    pub ask: Option<Box<AskFn>>,
}

/// How a table's rows are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// A root: rows matching its `where` (and the parents copied rows need).
    Root,
    /// Reaches a root through foreign keys (and the parents copied rows need).
    ViaRoot,
    /// Only the rows copied rows reference.
    Parents,
    /// No path to a root: copied whole.
    Reference,
    /// Copied whole (`force`, `--force-tables`).
    Forced,
    /// Not copied (`skip`).
    Skipped,
    /// Written by an explicit `[[step]]`.
    Step,
    /// No path to a root and no copied row references it: not copied.
    Unreferenced,
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Root => "root",
            Category::ViaRoot => "via root",
            Category::Parents => "parents",
            Category::Reference => "reference",
            Category::Forced => "forced",
            Category::Skipped => "skipped",
            Category::Step => "step",
            Category::Unreferenced => "not copied",
        })
    }
}

/// One source table in the subset's plan.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The source table's name (also the target table's).
    pub table: String,
    /// How its rows are chosen.
    pub category: Category,
    /// Why, or what to know (large table, referenced skipped table...).
    pub notes: Vec<String>,
    /// The step writing the table, when one does.
    pub step: Option<String>,
    /// The derived SQL (`None` for skipped tables and explicit steps).
    pub sql: Option<String>,
    /// Rows the step moves (counted by `barge plan`), or the table's estimate.
    pub rows: Option<u64>,
}

/// What [`expand_subset`] derived, for `barge plan`.
#[derive(Debug, Clone)]
pub struct SubsetReport {
    /// The connection the subset reads.
    pub source: String,
    /// The connection it writes.
    pub target: String,
    /// Foreign keys followed that the source does not declare.
    pub extra_fks: Vec<String>,
    /// Every table of the source, in foreign-key order.
    pub tables: Vec<TablePlan>,
}

impl fmt::Display for SubsetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "subset of {} into {}: {} table(s)",
            self.source,
            self.target,
            self.tables.len()
        )?;
        for fk in &self.extra_fks {
            writeln!(f, "  foreign key {fk}")?;
        }
        for t in &self.tables {
            let rows = match t.rows {
                Some(1) => ", 1 row".to_string(),
                Some(r) => format!(", {r} rows"),
                None => String::new(),
            };
            let step = t
                .step
                .as_ref()
                .filter(|s| **s != t.table)
                .map(|s| format!(", step {s}"))
                .unwrap_or_default();
            writeln!(f, "  {} [{}{step}{rows}]", t.table, t.category)?;
            for note in &t.notes {
                writeln!(f, "    {note}")?;
            }
            if let Some(sql) = &t.sql {
                writeln!(f, "    {}", abbreviate(sql))?;
            }
        }
        Ok(())
    }
}

/// Long key lists shortened for display: the first keys, then a count.
fn abbreviate(sql: &str) -> String {
    const KEEP: usize = 600;
    if sql.len() <= KEEP {
        return sql.to_string();
    }
    let mut end = KEEP;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} ... ({} more characters of keys)",
        &sql[..end],
        sql.len() - end
    )
}

/// Expands `pipeline.subset` into steps (a no-op without one): opens the
/// source, reads its foreign keys, selects the rows of every table and
/// replaces `pipeline.steps` by the derived steps in foreign-key order, with
/// the explicit `[[step]]`s in place of the derived step for their target.
pub async fn expand_subset(
    pipeline: &mut Pipeline,
    options: &SubsetOptions,
) -> Result<Option<SubsetReport>, Error> {
    let Some(subset) = pipeline.subset.take() else {
        return Ok(None);
    };
    let source = subset
        .roots
        .first()
        .map(|r| r.connection.clone())
        .unwrap_or_default();
    let target = match &subset.target {
        Some(t) => t.clone(),
        None => pipeline
            .connections
            .iter()
            .map(|c| c.name.clone())
            .find(|n| *n != source)
            .unwrap_or_default(),
    };
    let source_error = |message: String| SubsetError::Source {
        pipeline: pipeline.name.clone(),
        message,
    };
    let Some(source_config) = pipeline.connection(&source).cloned() else {
        return Err(source_error(format!("no connection '{source}'")).into());
    };
    let target_url = pipeline
        .connection(&target)
        .map(|c| c.url.expose_secret().to_ascii_lowercase())
        .unwrap_or_default();
    let target_is_mysql = target_url.starts_with("mysql:") || target_url.starts_with("mariadb:");
    // Files take no insert_ignore: a subset written to Parquet or CSV replaces them.
    let target_is_file = ["parquet:", "csv:"]
        .iter()
        .any(|s| target_url.starts_with(s))
        || [".parquet", ".csv"]
            .iter()
            .any(|e| target_url.trim_end_matches('/').ends_with(e));
    let mode = subset.mode.unwrap_or(if target_is_file {
        WriteMode::Replace
    } else {
        WriteMode::InsertIgnore
    });
    // The source alone, with no steps: nothing is created or written.
    let source_only = Pipeline {
        name: pipeline.name.clone(),
        file: pipeline.file.clone(),
        connections: vec![source_config],
        params: pipeline.params.clone(),
        steps: vec![],
        mappings: pipeline.mappings.clone(),
        stage: None,
        subset: None,
        salt: pipeline.salt.clone(),
    };
    let session = Session::open(&source_only).await?;
    let connection = session
        .connection(&source)
        .cloned()
        .ok_or_else(|| source_error(format!("connection '{source}' did not open")))?;
    let default_schema = connection.default_schema().to_string();
    let tables: Vec<Table> = connection
        .introspect()
        .await?
        .tables
        .into_iter()
        .filter(|t| t.name.schema.as_deref().is_none_or(|s| s == default_schema))
        .collect();

    let derivation = Derivation::new(pipeline, &subset, options, &source, tables)?;
    let mut derivation = derivation;
    derivation.decide_references(&session.ctx, options).await?;
    derivation.select(&session.ctx).await?;
    let report = derivation
        .into_steps(
            pipeline,
            &subset,
            &target,
            (mode, target_is_mysql),
            options,
            &session.ctx,
        )
        .await?;
    Ok(Some(report))
}

/// How one fetch selects rows of a table.
#[derive(Debug, Clone)]
enum Filter {
    /// The root's `where`.
    Where(String),
    /// Every row (a table copied whole).
    All,
    /// Rows whose `columns` hold one of the keys.
    Keys(Vec<String>, Vec<Tuple>),
}

/// Rows of `table` to read: `down` when they are selected via a root (their
/// children follow), else only as parents (only their parents follow).
#[derive(Debug)]
struct Fetch {
    table: usize,
    down: bool,
    filter: Filter,
}

/// The state of one derivation: tables, edges, categories, selected keys.
struct Derivation {
    pipeline: String,
    source: String,
    tables: Vec<Table>,
    edges: Vec<Edge>,
    roots: Vec<(usize, String)>,
    /// Per edge: child rows referencing via-root rows are selected.
    follow_down: Vec<bool>,
    /// The category as if no explicit step wrote the table.
    category: Vec<Category>,
    /// An explicit `[[step]]` writes the table.
    explicit: Vec<bool>,
    notes: Vec<Vec<String>>,
    rows_estimate: Vec<Option<u64>>,
    /// Key values of the rows selected via a root, per table and column list.
    down: HashMap<(usize, Vec<String>), HashSet<Tuple>>,
    /// Key values copied rows reference, per edge.
    up: Vec<HashSet<Tuple>>,
    confirm_rows: u64,
    skip_large: bool,
}

impl Derivation {
    fn new(
        pipeline: &Pipeline,
        subset: &SubsetConfig,
        options: &SubsetOptions,
        source: &str,
        tables: Vec<Table>,
    ) -> Result<Self, Error> {
        let mut roots = Vec::new();
        for root in &subset.roots {
            let i = find_table(&tables, &root.table.name).ok_or_else(|| {
                let mut names: Vec<&str> = tables.iter().map(|t| t.name.name.as_str()).collect();
                names.sort();
                SubsetError::RootNotFound {
                    pipeline: pipeline.name.clone(),
                    connection: source.to_string(),
                    table: root.table.name.clone(),
                    tables: if names.is_empty() {
                        "no tables".into()
                    } else {
                        names.join(", ")
                    },
                }
            })?;
            roots.push((i, root.where_sql.clone()));
        }
        let edges = graph::edges(&pipeline.name, &tables, &subset.fks, subset.infer_fks)?;
        let root_indices: Vec<usize> = roots.iter().map(|(i, _)| *i).collect();
        let reaches = graph::reaches_root(tables.len(), &edges, &root_indices, None);
        // Rows are selected down every foreign key from a selected row; into
        // a root only from tables other roots reach without passing through
        // it (a cycle back into a root does not widen its `where`).
        let follow_down: Vec<bool> = edges
            .iter()
            .map(|e| {
                !e.is_self()
                    && reaches[e.child]
                    && (!root_indices.contains(&e.child)
                        || graph::reaches_root(tables.len(), &edges, &root_indices, Some(e.child))
                            [e.parent])
            })
            .collect();
        // `DB` of the patterns: the source's database or schema, or the connection.
        let databases = tables
            .iter()
            .filter_map(|t| t.name.schema.clone())
            .take(1)
            .chain(std::iter::once(source.to_string()))
            .collect::<Vec<_>>();
        let dbs: Vec<&str> = databases.iter().map(String::as_str).collect();
        let n = tables.len();
        let mut category = Vec::with_capacity(n);
        let mut explicit = Vec::with_capacity(n);
        let mut notes = vec![Vec::new(); n];
        for (i, table) in tables.iter().enumerate() {
            let name = &table.name.name;
            explicit.push(pipeline.steps.iter().any(|s| {
                s.target.connection != source && s.target.table.name.eq_ignore_ascii_case(name)
            }));
            let forced_cli = patterns::any_matches(&options.force_tables, &dbs, name);
            let forced = forced_cli || patterns::any_matches(&subset.force, &dbs, name);
            let skipped = patterns::any_matches(&subset.skip, &dbs, name);
            category.push(if forced {
                if skipped {
                    notes[i].push(if forced_cli {
                        "matches skip, but --force-tables wins".to_string()
                    } else {
                        "matches skip, but force wins".to_string()
                    });
                }
                Category::Forced
            } else if skipped {
                Category::Skipped
            } else if root_indices.contains(&i) {
                Category::Root
            } else if reaches[i] {
                Category::ViaRoot
            } else {
                match subset.reference {
                    ReferenceMode::All => Category::Reference,
                    ReferenceMode::Needed => Category::Parents,
                }
            });
        }
        let edge_count = edges.len();
        Ok(Self {
            pipeline: pipeline.name.clone(),
            source: source.to_string(),
            rows_estimate: tables.iter().map(|t| t.row_estimate).collect(),
            tables,
            edges,
            roots,
            follow_down,
            category,
            explicit,
            notes,
            down: HashMap::new(),
            up: vec![HashSet::new(); edge_count],
            confirm_rows: subset.confirm_rows,
            skip_large: subset.skip_large,
        })
    }

    fn table_sql(&self, i: usize) -> String {
        let t = &self.tables[i].name;
        table_ref(&self.source, t.schema.as_deref(), &t.name)
    }

    fn whole(&self, i: usize) -> bool {
        matches!(self.category[i], Category::Reference | Category::Forced)
    }

    /// Rows of the table end up in the target (so their parents must too).
    fn copies(&self, i: usize) -> bool {
        self.category[i] != Category::Skipped
    }

    /// Whether `e` selects child rows from the via-root rows of its parent.
    fn follows_down(&self, k: usize) -> bool {
        self.follow_down[k]
    }

    /// Edges (with their indices) `keep` accepts.
    fn edges_where(&self, keep: impl Fn(usize, &Edge) -> bool) -> Vec<(usize, &Edge)> {
        self.edges
            .iter()
            .enumerate()
            .filter(|(k, e)| keep(*k, e))
            .collect()
    }

    /// Whether `e` pulls in the parent rows copied child rows reference.
    fn follows_up(&self, e: &Edge) -> bool {
        self.copies(e.child) && !self.whole(e.parent) && self.copies(e.parent)
    }

    /// Reference tables above `confirm_rows` are copied whole only when
    /// confirmed (`--yes`, the prompt; `barge plan` assumes it); otherwise
    /// only their referenced rows (`skip_large`, a "no"), or, with nobody
    /// to ask, the run fails naming the table.
    async fn decide_references(
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
    async fn count(&self, ctx: &SessionContext, select: &str) -> Result<u64, Error> {
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

    async fn run(
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
    async fn select(&mut self, ctx: &SessionContext) -> Result<(), Error> {
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
    async fn fetch(&mut self, ctx: &SessionContext, fetch: &Fetch) -> Result<Vec<Fetch>, Error> {
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
            .map(|(k, c)| format!("t.{} AS c{k}", crate::run::executor::quote(c)))
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
    fn parent_keys(&self, i: usize) -> BTreeMap<Vec<String>, HashSet<Tuple>> {
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

    /// The condition selecting table `i`'s copied rows and the number of
    /// keys it lists; `None` when no row is selected.
    fn condition(&self, i: usize) -> Option<(String, usize)> {
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
    fn path_condition(&self, i: usize, alias: &str, depth: usize) -> Option<String> {
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
                    crate::run::executor::quote(&e.columns[0]),
                    crate::run::executor::quote(&e.referenced_columns[0]),
                    self.table_sql(e.parent)
                ))
            }
            _ => None,
        }
    }

    /// The derived steps, in foreign-key order, with the explicit ones in
    /// place of theirs; replaces `pipeline.steps`. Returns the plan.
    async fn into_steps(
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
        let (levels, deferred) = crate::plan::order::fk_levels(&references);

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
