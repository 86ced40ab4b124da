//! Translates the DataFusion filters a SQL engine evaluates exactly the same
//! way into its SQL: comparisons of a column with a literal, `IS [NOT] NULL`,
//! `IN (...)` lists, and `AND`/`OR`/`NOT` of those. Anything else stays in
//! DataFusion.

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

use super::SqlSource;

/// SQL for `expr` when the engine evaluates it exactly as DataFusion does.
pub fn expr_to_sql(expr: &Expr, schema: &Schema, engine: &dyn SqlSource) -> Option<String> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => {
                let l = expr_to_sql(left, schema, engine)?;
                let r = expr_to_sql(right, schema, engine)?;
                Some(format!("({l} {op} {r})"))
            }
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq => {
                let (col, lit, flipped) = match (left.as_ref(), right.as_ref()) {
                    (Expr::Column(_), Expr::Literal(..)) => (left, right, false),
                    (Expr::Literal(..), Expr::Column(_)) => (right, left, true),
                    _ => return None,
                };
                let c = comparable_column(col, schema, engine)?;
                let v = literal(lit)?;
                let op = if flipped { op.swap()? } else { *op };
                Some(format!("{c} {op} {v}"))
            }
            _ => None,
        },
        Expr::Not(inner) => Some(format!("(NOT {})", expr_to_sql(inner, schema, engine)?)),
        Expr::IsNull(inner) => Some(format!("{} IS NULL", column(inner, schema, engine)?)),
        Expr::IsNotNull(inner) => Some(format!("{} IS NOT NULL", column(inner, schema, engine)?)),
        Expr::InList(list) => {
            let c = comparable_column(&list.expr, schema, engine)?;
            let values = list.list.iter().map(literal).collect::<Option<Vec<_>>>()?;
            if values.is_empty() {
                return None;
            }
            let not = if list.negated { "NOT " } else { "" };
            Some(format!("{c} {not}IN ({})", values.join(", ")))
        }
        _ => None,
    }
}

fn column(expr: &Expr, schema: &Schema, engine: &dyn SqlSource) -> Option<String> {
    match expr {
        Expr::Column(c) => {
            schema.field_with_name(&c.name).ok()?;
            Some(engine.quote_ident(&c.name))
        }
        _ => None,
    }
}

/// A column whose values compare the same in every engine as in DataFusion:
/// integers, floats, booleans and text (dates, decimals and timestamps are
/// stored differently per engine and are filtered in DataFusion).
fn comparable_column(expr: &Expr, schema: &Schema, engine: &dyn SqlSource) -> Option<String> {
    let Expr::Column(c) = expr else { return None };
    let field = schema.field_with_name(&c.name).ok()?;
    let ok = field.data_type().is_integer()
        || field.data_type().is_floating()
        || matches!(
            field.data_type(),
            DataType::Boolean | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
    (ok && engine.compares_like_datafusion(field.data_type())).then(|| engine.quote_ident(&c.name))
}

fn literal(expr: &Expr) -> Option<String> {
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
