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

mod graph;
mod patterns;
mod select;
mod sql;
mod steps;

use std::collections::{HashMap, HashSet};
use std::fmt;

use secrecy::ExposeSecret;

use crate::config::{Pipeline, ReferenceMode, SubsetConfig};
use crate::error::{Error, SubsetError};
use crate::model::catalog::Table;
use crate::model::WriteMode;
use crate::session::Session;
use graph::{find_table, Edge};
use sql::{table_ref, Tuple};

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
        memory_limit: pipeline.memory_limit,
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
}
