//! Key values as SQL literals, and the conditions derived steps filter by:
//! `t."col" IN (1, 2, 3)` for one column, `(t."a" = 1 AND t."b" = 2) OR ...`
//! for several. Integer keys in such conditions run inside the source.

use std::cmp::Ordering;
use std::collections::HashSet;

use datafusion::arrow::datatypes::{Decimal128Type, DecimalType};
use datafusion::common::ScalarValue;

use crate::ident::quote;

/// A key: the values of a foreign key's columns in one row.
pub type Tuple = Vec<ScalarValue>;

/// The value as barge compares keys (integers as i64, text as Utf8);
/// `Ok(None)` for NULL, `Err(type)` for a type keys cannot have.
pub fn normalize(value: ScalarValue) -> Result<Option<ScalarValue>, String> {
    use ScalarValue::*;
    if value.is_null() {
        return Ok(None);
    }
    Ok(Some(match value {
        Int8(Some(v)) => Int64(Some(v.into())),
        Int16(Some(v)) => Int64(Some(v.into())),
        Int32(Some(v)) => Int64(Some(v.into())),
        Int64(Some(v)) => Int64(Some(v)),
        UInt8(Some(v)) => Int64(Some(v.into())),
        UInt16(Some(v)) => Int64(Some(v.into())),
        UInt32(Some(v)) => Int64(Some(v.into())),
        UInt64(Some(v)) => match i64::try_from(v) {
            Ok(i) => Int64(Some(i)),
            Err(_) => UInt64(Some(v)),
        },
        Utf8(Some(s)) | LargeUtf8(Some(s)) | Utf8View(Some(s)) => Utf8(Some(s)),
        v @ (Boolean(_) | Decimal128(..) | Date32(_)) => v,
        other => return Err(other.data_type().to_string()),
    }))
}

/// A normalized value as a DataFusion SQL literal.
pub fn literal(value: &ScalarValue) -> String {
    use ScalarValue::*;
    match value {
        Int64(Some(v)) => v.to_string(),
        UInt64(Some(v)) => v.to_string(),
        Utf8(Some(s)) => format!("'{}'", s.replace('\'', "''")),
        Boolean(Some(b)) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Decimal128(Some(v), p, s) => format!(
            "CAST('{}' AS DECIMAL({p}, {s}))",
            Decimal128Type::format_decimal(*v, *p, *s)
        ),
        Date32(Some(_)) => format!("DATE '{value}'"),
        _ => "NULL".to_string(),
    }
}

/// Sorted keys, so the SQL of a step is the same from run to run.
pub fn sorted(values: &HashSet<Tuple>) -> Vec<&Tuple> {
    let mut v: Vec<&Tuple> = values.iter().collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    v
}

/// `alias.columns` equal to one of `values`.
pub fn match_sql(alias: &str, columns: &[String], values: &[&Tuple]) -> String {
    let col = |c: &str| format!("{alias}.{}", quote(c));
    if columns.len() == 1 {
        let list: Vec<String> = values.iter().map(|t| literal(&t[0])).collect();
        return format!("{} IN ({})", col(&columns[0]), list.join(", "));
    }
    let rows: Vec<String> = values
        .iter()
        .map(|t| {
            let parts: Vec<String> = columns
                .iter()
                .zip(t.iter())
                .map(|(c, v)| format!("{} = {}", col(c), literal(v)))
                .collect();
            format!("({})", parts.join(" AND "))
        })
        .collect();
    format!("({})", rows.join(" OR "))
}

/// `"connection"."table"` as a DataFusion table reference.
pub fn table_ref(connection: &str, schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(s) => format!("{}.{}.{}", quote(connection), quote(s), quote(table)),
        None => format!("{}.{}", quote(connection), quote(table)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_literals_and_conditions() {
        let a: Tuple = vec![normalize(ScalarValue::Int32(Some(2))).unwrap().unwrap()];
        let b: Tuple = vec![normalize(ScalarValue::UInt8(Some(1))).unwrap().unwrap()];
        let set: HashSet<Tuple> = [a, b].into_iter().collect();
        let values = sorted(&set);
        assert_eq!(
            match_sql("t", &["id".into()], &values),
            "t.\"id\" IN (1, 2)"
        );
        let pair: Tuple = vec![
            ScalarValue::Int64(Some(1)),
            ScalarValue::Utf8(Some("it's".into())),
        ];
        assert_eq!(
            match_sql("t", &["a".into(), "b".into()], &[&pair]),
            "((t.\"a\" = 1 AND t.\"b\" = 'it''s'))"
        );
        assert_eq!(normalize(ScalarValue::Int64(None)), Ok(None));
        assert!(normalize(ScalarValue::Float64(Some(1.0))).is_err());
    }
}
