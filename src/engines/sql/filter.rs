//! Translates the DataFusion expressions a SQL engine evaluates exactly the
//! same way into its SQL: comparisons of columns and literals, `IS [NOT]
//! NULL`, `IN (...)` lists, and `AND`/`OR`/`NOT` of those. Anything else stays
//! in DataFusion.

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::expr::{Cast, InList};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use super::SqlSource;

/// How a column reads in the SQL being written, and its type.
pub(crate) type ResolveColumn<'a> = &'a dyn Fn(&Column) -> Option<(String, DataType)>;

/// SQL for the filter `expr` over a table of `schema` when the engine
/// evaluates it exactly as DataFusion does.
pub fn expr_to_sql(expr: &Expr, schema: &Schema, engine: &dyn SqlSource) -> Option<String> {
    let resolve = |c: &Column| {
        let field = schema.field_with_name(&c.name).ok()?;
        Some((engine.quote_ident(&c.name), field.data_type().clone()))
    };
    predicate_sql(expr, &resolve, engine)
}

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
                let types_agree = match (&l.1, &r.1) {
                    (Some(a), Some(b)) => a == b || (a.is_integer() && b.is_integer()),
                    (None, None) => false,
                    _ => true,
                };
                types_agree.then(|| format!("{} {op} {}", l.0, r.0))
            }
            _ => None,
        },
        Expr::Not(inner) => Some(format!("(NOT {})", predicate_sql(inner, resolve, engine)?)),
        Expr::IsNull(inner) => Some(format!("{} IS NULL", column_sql(inner, resolve)?.0)),
        Expr::IsNotNull(inner) => Some(format!("{} IS NOT NULL", column_sql(inner, resolve)?.0)),
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            let c = comparable_column(expr, resolve, engine)?;
            let values = list.iter().map(literal).collect::<Option<Vec<_>>>()?;
            if values.is_empty() {
                return None;
            }
            let not = if *negated { "NOT " } else { "" };
            Some(format!("{c} {not}IN ({})", values.join(", ")))
        }
        _ => None,
    }
}

/// A comparison operand: a comparable column (with its type) or a literal.
fn operand(
    expr: &Expr,
    resolve: ResolveColumn,
    engine: &dyn SqlSource,
) -> Option<(String, Option<DataType>)> {
    match expr {
        Expr::Literal(..) => Some((literal(expr)?, None)),
        _ => {
            let (sql, data_type) = column_sql(expr, resolve)?;
            comparable(&data_type, engine).then_some((sql, Some(data_type)))
        }
    }
}

/// A column, seen through a cast that widens one integer type to another
/// (which every engine does implicitly).
pub(crate) fn column_sql(expr: &Expr, resolve: ResolveColumn) -> Option<(String, DataType)> {
    match expr {
        Expr::Column(c) => resolve(c),
        Expr::Cast(Cast { expr, field }) if field.data_type().is_integer() => {
            let (sql, from) = column_sql(expr, resolve)?;
            widens(&from, field.data_type()).then_some((sql, field.data_type().clone()))
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
) -> Option<String> {
    let (sql, data_type) = column_sql(expr, resolve)?;
    comparable(&data_type, engine).then_some(sql)
}

/// Integers, floats, booleans and text, when the engine compares them like
/// DataFusion (dates, decimals and timestamps are stored differently per
/// engine and are compared in DataFusion).
pub(crate) fn comparable(data_type: &DataType, engine: &dyn SqlSource) -> bool {
    let ok = data_type.is_integer()
        || data_type.is_floating()
        || matches!(
            data_type,
            DataType::Boolean | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
    ok && engine.compares_like_datafusion(data_type)
}

/// A non-null literal as SQL.
pub(crate) fn literal(expr: &Expr) -> Option<String> {
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
        | ScalarValue::Utf8View(Some(s)) => {
            format!("'{}'", s.replace('\'', "''"))
        }
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
