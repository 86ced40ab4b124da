//! Whole sub-queries pushed into their source: an optimizer rule that finds
//! the largest parts of a plan reading one SQL connection only — joins,
//! aggregates, and the filters, projections and limits around them — and
//! replaces each with one query that the source engine runs, written in SQL
//! every engine understands.
//!
//! A part is pushed only when every expression in it means the same in the
//! engine as in DataFusion (see `filter.rs`: comparisons on types the engine
//! compares like DataFusion, text only under a collation comparing bytes,
//! integer sums, counts, min/max); anything else stays in DataFusion above
//! the pushed query. Each column's collation follows it up through the
//! levels, so a text column compared, grouped or taken the min of in an
//! outer level is judged by its table's collation. Each level is a derived table
//! whose columns are named by position (`c0`, `c1`, ...), so names and
//! qualifiers never clash; the outermost `SELECT` casts each column to the
//! type the engine's reader expects (`SqlSource::select_column`).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, NullEquality, Result};
use datafusion::datasource::{provider_as_source, source_as_provider, TableType};
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams};
use datafusion::logical_expr::logical_plan::{FetchType, SkipType};
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, Expr, Join, JoinType, LogicalPlan, LogicalPlanBuilder, Operator,
    Projection, TableScan,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;

use super::filter::{column_sql, comparable, literal, predicate_sql, ColumnSql, ResolveColumn};
use super::{SqlScanExec, SqlSource, SqlTable};
use crate::checksum::aggregate::CHECKSUM_FUNCTION;

/// Replaces every largest single-connection sub-plan holding a join or an
/// aggregate with a scan of one query run by that connection's engine.
#[derive(Debug, Default)]
pub struct PushDownSourceQueries;

impl OptimizerRule for PushDownSourceQueries {
    fn name(&self) -> &str {
        "barge_push_down_source_queries"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        push_down(plan)
    }
}

fn push_down(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if let Some(query) = SqlWriter::default().write(&plan) {
        if query.combines {
            return Ok(Transformed::yes(replace(&plan, query)?));
        }
    }
    plan.map_children(push_down)
}

/// `plan` as a scan of `query`, its output renamed back to `plan`'s columns.
fn replace(plan: &LogicalPlan, query: SourceQuery) -> Result<LogicalPlan> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let alias = format!("source_query_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let schema = plan.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Field::new(format!("c{i}"), f.data_type().clone(), f.is_nullable()))
        .collect();
    let table = SqlQueryTable {
        engine: query.engine,
        sql: query.sql,
        schema: Arc::new(Schema::new(fields)),
    };
    let scan = LogicalPlanBuilder::scan(alias.as_str(), provider_as_source(Arc::new(table)), None)?
        .build()?;
    let renames = schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            Expr::Column(Column::new(Some(alias.as_str()), format!("c{i}")))
                .alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    Ok(LogicalPlan::Projection(Projection::try_new_with_schema(
        renames,
        Arc::new(scan),
        schema.clone(),
    )?))
}

/// A sub-plan written as one query of one engine; its columns are `c0..cN`
/// in the sub-plan's order.
struct SourceQuery {
    engine: Arc<dyn SqlSource>,
    sql: String,
    /// The collation of each column (`None`: not text, or unknown).
    collations: Vec<Option<String>>,
    /// Whether it joins or aggregates (a plain table read is left to
    /// [`SqlTable`], which can split it into parallel ranges).
    combines: bool,
}

/// Writes sub-plans as SQL, naming derived tables `t0, t1, ...`.
#[derive(Default)]
struct SqlWriter {
    next_alias: usize,
}

impl SqlWriter {
    fn alias(&mut self) -> String {
        self.next_alias += 1;
        format!("t{}", self.next_alias - 1)
    }

    /// The query for `plan`, or `None` when some part of it must run in
    /// DataFusion.
    fn write(&mut self, plan: &LogicalPlan) -> Option<SourceQuery> {
        match plan {
            LogicalPlan::TableScan(scan) => self.table_scan(scan),
            LogicalPlan::SubqueryAlias(a) => self.write(&a.input),
            LogicalPlan::Projection(p) => {
                let input = self.write(&p.input)?;
                let t = self.alias();
                let values = {
                    let resolve = resolver(p.input.schema(), &t, &input.collations);
                    p.expr
                        .iter()
                        .map(|e| value_sql(e, &resolve, input.engine.as_ref()))
                        .collect::<Option<Vec<_>>>()?
                };
                let (columns, collations): (Vec<_>, Vec<_>) = values.into_iter().unzip();
                let columns = select_list(columns);
                Some(SourceQuery {
                    collations,
                    ..input.wrap(|sql| format!("SELECT {columns} FROM ({sql}) AS {t}"))
                })
            }
            LogicalPlan::Filter(f) => {
                let input = self.write(&f.input)?;
                let t = self.alias();
                let predicate = {
                    let resolve = resolver(f.input.schema(), &t, &input.collations);
                    predicate_sql(&f.predicate, &resolve, input.engine.as_ref())?
                };
                Some(input.wrap(|sql| format!("SELECT * FROM ({sql}) AS {t} WHERE {predicate}")))
            }
            LogicalPlan::Limit(l) => {
                let (Ok(SkipType::Literal(0)), Ok(FetchType::Literal(Some(n)))) =
                    (l.get_skip_type(), l.get_fetch_type())
                else {
                    return None;
                };
                let input = self.write(&l.input)?;
                let t = self.alias();
                Some(input.wrap(|sql| format!("SELECT * FROM ({sql}) AS {t} LIMIT {n}")))
            }
            LogicalPlan::Join(j) => self.join(j),
            LogicalPlan::Aggregate(a) => self.aggregate(a),
            _ => None,
        }
    }

    fn table_scan(&mut self, scan: &TableScan) -> Option<SourceQuery> {
        let provider = source_as_provider(&scan.source).ok()?;
        let table = provider.downcast_ref::<SqlTable>()?;
        let engine = table.engine().clone();
        let schema = table.schema();
        let indices: Vec<usize> = match &scan.projection {
            Some(p) => p.clone(),
            None => (0..schema.fields().len()).collect(),
        };
        let columns = indices
            .iter()
            .map(|&i| engine.quote_ident(schema.field(i).name()))
            .collect();
        let collations = indices.iter().map(|&i| table.collation(i)).collect();
        let mut sql = format!(
            "SELECT {} FROM {}",
            select_list(columns),
            engine.quote_table(table.table_name())
        );
        let predicates = scan
            .filters
            .iter()
            .map(|f| table.filter_sql(f))
            .collect::<Option<Vec<_>>>()?;
        if !predicates.is_empty() {
            sql.push_str(&format!(" WHERE {}", predicates.join(" AND ")));
        }
        if let Some(n) = scan.fetch {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        Some(SourceQuery {
            engine,
            sql,
            collations,
            combines: false,
        })
    }

    fn join(&mut self, join: &Join) -> Option<SourceQuery> {
        if join.null_equality != NullEquality::NullEqualsNothing || join.null_aware {
            return None;
        }
        let left = self.write(&join.left)?;
        let right = self.write(&join.right)?;
        if left.engine.connection_name() != right.engine.connection_name() {
            return None;
        }
        let engine = left.engine.clone();
        let (a, b) = (self.alias(), self.alias());
        let (left_schema, right_schema) = (join.left.schema(), join.right.schema());
        let resolve_left = resolver(left_schema, &a, &left.collations);
        let resolve_right = resolver(right_schema, &b, &right.collations);
        let resolve_both = |c: &Column| resolve_left(c).or_else(|| resolve_right(c));
        let mut conditions = join
            .on
            .iter()
            .map(|(l, r)| {
                let eq = Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(l.clone()),
                    Operator::Eq,
                    Box::new(r.clone()),
                ));
                predicate_sql(&eq, &resolve_both, engine.as_ref())
            })
            .collect::<Option<Vec<_>>>()?;
        if let Some(filter) = &join.filter {
            conditions.push(predicate_sql(filter, &resolve_both, engine.as_ref())?);
        }
        let on = if conditions.is_empty() {
            "1 = 1".to_string()
        } else {
            conditions.join(" AND ")
        };
        let columns_of =
            |t: &str, n: usize| -> Vec<String> { (0..n).map(|i| format!("{t}.c{i}")).collect() };
        let (nl, nr) = (left_schema.fields().len(), right_schema.fields().len());
        let collations = match join.join_type {
            JoinType::LeftSemi | JoinType::LeftAnti => left.collations.clone(),
            JoinType::RightSemi | JoinType::RightAnti => right.collations.clone(),
            _ => [left.collations.as_slice(), right.collations.as_slice()].concat(),
        };
        let sql = match join.join_type {
            JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                if join.join_type == JoinType::Full && !engine.supports_full_join() {
                    return None;
                }
                let keyword = match join.join_type {
                    JoinType::Inner => "INNER JOIN",
                    JoinType::Left => "LEFT JOIN",
                    JoinType::Right => "RIGHT JOIN",
                    _ => "FULL JOIN",
                };
                let mut columns = columns_of(&a, nl);
                columns.extend(columns_of(&b, nr));
                format!(
                    "SELECT {} FROM ({}) AS {a} {keyword} ({}) AS {b} ON {on}",
                    select_list(columns),
                    left.sql,
                    right.sql
                )
            }
            JoinType::LeftSemi | JoinType::LeftAnti => {
                let not = if join.join_type == JoinType::LeftAnti {
                    "NOT "
                } else {
                    ""
                };
                format!(
                    "SELECT {} FROM ({}) AS {a} WHERE {not}EXISTS (SELECT 1 FROM ({}) AS {b} WHERE {on})",
                    select_list(columns_of(&a, nl)),
                    left.sql,
                    right.sql
                )
            }
            JoinType::RightSemi | JoinType::RightAnti => {
                let not = if join.join_type == JoinType::RightAnti {
                    "NOT "
                } else {
                    ""
                };
                format!(
                    "SELECT {} FROM ({}) AS {b} WHERE {not}EXISTS (SELECT 1 FROM ({}) AS {a} WHERE {on})",
                    select_list(columns_of(&b, nr)),
                    right.sql,
                    left.sql
                )
            }
            _ => return None,
        };
        Some(SourceQuery {
            engine,
            sql,
            collations,
            combines: true,
        })
    }

    fn aggregate(&mut self, aggregate: &Aggregate) -> Option<SourceQuery> {
        let input = self.write(&aggregate.input)?;
        let engine = input.engine.clone();
        let t = self.alias();
        let resolve = resolver(aggregate.input.schema(), &t, &input.collations);
        let groups = aggregate
            .group_expr
            .iter()
            .map(|e| {
                column_sql(unaliased(e), &resolve)
                    .filter(|c| groups_like_datafusion(c, engine.as_ref()))
            })
            .collect::<Option<Vec<_>>>()?;
        let mut columns: Vec<String> = groups.iter().map(|c| c.sql.clone()).collect();
        let mut collations: Vec<Option<String>> =
            groups.iter().map(|c| c.collation.clone()).collect();
        for e in &aggregate.aggr_expr {
            let (sql, collation) = aggregate_sql(e, &resolve, engine.as_ref())?;
            columns.push(sql);
            collations.push(collation);
        }
        let groups: Vec<String> = groups.into_iter().map(|c| c.sql).collect();
        let mut sql = format!(
            "SELECT {} FROM ({}) AS {t}",
            select_list(columns),
            input.sql
        );
        if !groups.is_empty() {
            sql.push_str(&format!(" GROUP BY {}", groups.join(", ")));
        }
        Some(SourceQuery {
            engine,
            sql,
            collations,
            combines: true,
        })
    }
}

impl SourceQuery {
    /// The same engine running the query `outer` builds around this one.
    fn wrap(self, outer: impl FnOnce(&str) -> String) -> SourceQuery {
        SourceQuery {
            sql: outer(&self.sql),
            ..self
        }
    }
}

/// Columns of `schema` as `t.c<index>`, with their `collations`.
fn resolver<'a>(
    schema: &'a DFSchema,
    t: &'a str,
    collations: &'a [Option<String>],
) -> impl Fn(&Column) -> Option<ColumnSql> + 'a {
    move |c: &Column| {
        let i = schema.index_of_column(c).ok()?;
        Some(ColumnSql {
            sql: format!("{t}.c{i}"),
            data_type: schema.field(i).data_type().clone(),
            collation: collations.get(i).cloned().flatten(),
        })
    }
}

/// A select list naming columns by position (a dummy column when empty:
/// `SELECT FROM` is not SQL everywhere).
fn select_list(columns: Vec<String>) -> String {
    if columns.is_empty() {
        return "1 AS d".to_string();
    }
    columns
        .into_iter()
        .enumerate()
        .map(|(i, c)| format!("{c} AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `expr` without the alias it may carry.
fn unaliased(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(a) => unaliased(&a.expr),
        e => e,
    }
}

/// A projected value: a column (any type) or a literal, with its collation.
fn value_sql(
    expr: &Expr,
    resolve: ResolveColumn,
    engine: &dyn SqlSource,
) -> Option<(String, Option<String>)> {
    match expr {
        Expr::Alias(a) => value_sql(&a.expr, resolve, engine),
        Expr::Literal(..) => Some((literal(expr, engine)?, None)),
        _ => column_sql(expr, resolve).map(|c| (c.sql, c.collation)),
    }
}

/// Grouping and DISTINCT keys: columns whose equality is DataFusion's
/// (floats excluded: engines differ on -0.0 and NaN).
fn groups_like_datafusion(column: &ColumnSql, engine: &dyn SqlSource) -> bool {
    !column.data_type.is_floating() && comparable(column, engine)
}

/// `count`, integer `sum`, `min`/`max` of comparable non-boolean columns,
/// without FILTER or ORDER BY, and the content checksum; with the result's
/// collation (a text `min`/`max` keeps its column's).
fn aggregate_sql(
    expr: &Expr,
    resolve: ResolveColumn,
    engine: &dyn SqlSource,
) -> Option<(String, Option<String>)> {
    let Expr::AggregateFunction(AggregateFunction {
        func,
        params:
            AggregateFunctionParams {
                args,
                distinct,
                filter: None,
                order_by,
                null_treatment: None,
            },
    }) = unaliased(expr)
    else {
        return None;
    };
    if !order_by.is_empty() {
        return None;
    }
    let distinct_sql = if *distinct { "DISTINCT " } else { "" };
    let name = func.name();
    let sql = match (name, args.as_slice()) {
        ("count", []) if !distinct => "COUNT(*)".into(),
        // The content checksum, when the engine writes every column's
        // canonical text exactly as barge does.
        (CHECKSUM_FUNCTION, [_, ..]) if !distinct => {
            let values = args
                .iter()
                .map(|arg| {
                    let c = column_sql(arg, resolve)?;
                    engine.canonical_text(&c.sql, &c.data_type)
                })
                .collect::<Option<Vec<_>>>()?;
            engine.checksum_aggregate(&values)?
        }
        ("count", [Expr::Literal(v, _)]) if !distinct && !v.is_null() => "COUNT(*)".into(),
        ("count", [arg]) => {
            let c = column_sql(arg, resolve)?;
            if *distinct && !groups_like_datafusion(&c, engine) {
                return None;
            }
            format!("COUNT({distinct_sql}{})", c.sql)
        }
        ("sum", [arg]) => {
            let c = column_sql(arg, resolve)?;
            if !(c.data_type.is_integer() && comparable(&c, engine)) {
                return None;
            }
            format!("SUM({distinct_sql}{})", c.sql)
        }
        // Not booleans: PostgreSQL has no min(boolean).
        ("min" | "max", [arg]) => {
            let c = column_sql(arg, resolve)?;
            if c.data_type == DataType::Boolean || !groups_like_datafusion(&c, engine) {
                return None;
            }
            return Some((format!("{}({})", name.to_uppercase(), c.sql), c.collation));
        }
        _ => return None,
    };
    Some((sql, None))
}

/// A query run by one engine, as a table: what a pushed-down sub-plan reads.
struct SqlQueryTable {
    engine: Arc<dyn SqlSource>,
    /// The query; its columns are `c0..cN`.
    sql: String,
    schema: SchemaRef,
}

impl fmt::Debug for SqlQueryTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlQueryTable")
            .field("connection", &self.engine.connection_name())
            .field("sql", &self.sql)
            .finish()
    }
}

#[async_trait]
impl TableProvider for SqlQueryTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| self.engine.select_column(f))
            .collect();
        let columns = if columns.is_empty() {
            "1".to_string()
        } else {
            columns.join(", ")
        };
        let mut sql = format!("SELECT {columns} FROM ({}) AS q", self.sql);
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        Ok(Arc::new(SqlScanExec::new(
            self.engine.clone(),
            sql,
            schema,
            None,
        )))
    }
}
