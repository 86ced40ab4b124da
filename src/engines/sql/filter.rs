//! Translates the DataFusion expressions a SQL engine evaluates exactly the
//! same way into its SQL: comparisons of columns and literals, `IS [NOT]
//! NULL`, `IN (...)` lists, and `AND`/`OR`/`NOT` of those. Anything else stays
//! in DataFusion. Text is compared only on columns whose collation compares
//! bytes, as DataFusion does ([`SqlSource::collation_compares_bytes`]);
//! string literals are written by the engine ([`SqlSource::string_literal`]).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::expr::{Cast, InList};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use super::SqlSource;

/// A column as the SQL being written reads it.
#[derive(Debug, Clone)]
pub(crate) struct ColumnSql {
    pub sql: String,
    pub data_type: DataType,
    /// A text column's collation as its engine names it (`None`: not text,
    /// or unknown).
    pub collation: Option<String>,
}

/// How a column reads in the SQL being written.
pub(crate) type ResolveColumn<'a> = &'a dyn Fn(&Column) -> Option<ColumnSql>;

/// SQL for the predicate `expr`, its columns written by `resolve`.
pub(crate) fn predicate_sql(
    expr: &Expr,
    resolve: ResolveColumn,
    engine: &dyn SqlSource,
) -> Option<String> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => {
                let l = predicate_sql(left, resolve, engine)?;
                let r = predicate_sql(right, resolve, engine)?;
                Some(format!("({l} {op} {r})"))
            }
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq => {
                let l = operand(left, resolve, engine)?;
                let r = operand(right, resolve, engine)?;
                let agree = match (&l, &r) {
                    (Operand::Column(a), Operand::Column(b)) => {
                        // Two text columns of different collations: the
                        // engine would pick one, or refuse to compare.
                        (a.data_type == b.data_type && a.collation == b.collation)
                            || (a.data_type.is_integer() && b.data_type.is_integer())
                    }
                    (Operand::Literal(_), Operand::Literal(_)) => false,
                    _ => true,
                };
                agree.then(|| format!("{} {op} {}", l.sql(), r.sql()))
            }
            _ => None,
        },
        Expr::Not(inner) => Some(format!("(NOT {})", predicate_sql(inner, resolve, engine)?)),
        Expr::IsNull(inner) => Some(format!("{} IS NULL", column_sql(inner, resolve)?.sql)),
        Expr::IsNotNull(inner) => Some(format!("{} IS NOT NULL", column_sql(inner, resolve)?.sql)),
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            let c = comparable_column(expr, resolve, engine)?;
            let values = list
                .iter()
                .map(|v| literal(v, engine))
                .collect::<Option<Vec<_>>>()?;
            if values.is_empty() {
                return None;
            }
            let not = if *negated { "NOT " } else { "" };
            Some(format!("{} {not}IN ({})", c.sql, values.join(", ")))
        }
        _ => None,
    }
}

/// A comparison operand.
enum Operand {
    /// A column the engine compares like DataFusion.
    Column(ColumnSql),
    Literal(String),
}

impl Operand {
    fn sql(&self) -> &str {
        match self {
            Operand::Column(c) => &c.sql,
            Operand::Literal(sql) => sql,
        }
    }
}

fn operand(expr: &Expr, resolve: ResolveColumn, engine: &dyn SqlSource) -> Option<Operand> {
    match expr {
        Expr::Literal(..) => Some(Operand::Literal(literal(expr, engine)?)),
        _ => comparable_column(expr, resolve, engine).map(Operand::Column),
    }
}

/// A column, seen through a cast that widens one integer type to another
/// (which every engine does implicitly).
pub(crate) fn column_sql(expr: &Expr, resolve: ResolveColumn) -> Option<ColumnSql> {
    match expr {
        Expr::Column(c) => resolve(c),
        Expr::Cast(Cast { expr, field }) if field.data_type().is_integer() => {
            let column = column_sql(expr, resolve)?;
            widens(&column.data_type, field.data_type()).then(|| ColumnSql {
                data_type: field.data_type().clone(),
                ..column
            })
        }
        _ => None,
    }
}

/// Whether every value of integer type `from` is a value of `to`.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let rank = |t: &DataType| match t {
        Int8 => Some((true, 1)),
        Int16 => Some((true, 2)),
        Int32 => Some((true, 4)),
        Int64 => Some((true, 8)),
        UInt8 => Some((false, 1)),
        UInt16 => Some((false, 2)),
        UInt32 => Some((false, 4)),
        UInt64 => Some((false, 8)),
        _ => None,
    };
    match (rank(from), rank(to)) {
        (Some((fs, fw)), Some((ts, tw))) => (fs == ts && tw >= fw) || (!fs && ts && tw > fw),
        _ => false,
    }
}

/// A column whose values compare the same in the engine as in DataFusion.
pub(crate) fn comparable_column(
    expr: &Expr,
    resolve: ResolveColumn,
    engine: &dyn SqlSource,
) -> Option<ColumnSql> {
    column_sql(expr, resolve).filter(|c| comparable(c, engine))
}

/// Integers, floats and booleans when the engine compares them like
/// DataFusion; text when its collation compares bytes (dates, decimals and
/// timestamps are stored differently per engine and are compared in
/// DataFusion).
pub(crate) fn comparable(column: &ColumnSql, engine: &dyn SqlSource) -> bool {
    let data_type = &column.data_type;
    if matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return column
            .collation
            .as_deref()
            .is_some_and(|c| engine.collation_compares_bytes(c));
    }
    (data_type.is_integer() || data_type.is_floating() || *data_type == DataType::Boolean)
        && engine.compares_like_datafusion(data_type)
}

/// A non-null literal as the engine's SQL.
pub(crate) fn literal(expr: &Expr, engine: &dyn SqlSource) -> Option<String> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    Some(match value {
        ScalarValue::Boolean(Some(b)) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        ScalarValue::Int8(Some(v)) => v.to_string(),
        ScalarValue::Int16(Some(v)) => v.to_string(),
        ScalarValue::Int32(Some(v)) => v.to_string(),
        ScalarValue::Int64(Some(v)) => v.to_string(),
        ScalarValue::UInt8(Some(v)) => v.to_string(),
        ScalarValue::UInt16(Some(v)) => v.to_string(),
        ScalarValue::UInt32(Some(v)) => v.to_string(),
        ScalarValue::UInt64(Some(v)) => v.to_string(),
        ScalarValue::Float32(Some(v)) if v.is_finite() => format!("{v:?}"),
        ScalarValue::Float64(Some(v)) if v.is_finite() => format!("{v:?}"),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => engine.string_literal(s),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::widens;
    use datafusion::arrow::datatypes::DataType::*;

    #[test]
    fn integer_casts_that_widen() {
        assert!(widens(&Int32, &Int64));
        assert!(widens(&UInt32, &Int64));
        assert!(widens(&UInt8, &UInt16));
        assert!(!widens(&Int64, &Int32));
        assert!(!widens(&Int32, &UInt64));
        assert!(!widens(&UInt64, &Int64));
        assert!(!widens(&Float64, &Int64));
    }
}
