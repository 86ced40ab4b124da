//! Arrow → DuckDB column types: the one table barge uses to create DuckDB
//! tables. (DuckDB → Arrow is DuckDB's own Arrow export, see `connect.rs`.)
//!
//! | Arrow | DuckDB |
//! | --- | --- |
//! | Boolean | `BOOLEAN` |
//! | Int8, Int16, Int32, Int64 | `TINYINT`, `SMALLINT`, `INTEGER`, `BIGINT` |
//! | UInt8, UInt16, UInt32, UInt64 | `UTINYINT`, `USMALLINT`, `UINTEGER`, `UBIGINT` |
//! | Float16, Float32 | `FLOAT` |
//! | Float64 | `DOUBLE` |
//! | Decimal32/64/128(p, s), Decimal256(p ≤ 38, s) | `DECIMAL(p,s)` |
//! | Decimal256(p > 38, s) | error: DuckDB decimals hold at most 38 digits |
//! | Utf8, LargeUtf8, Utf8View | `VARCHAR` |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | `BLOB` |
//! | FixedSizeBinary(16) with extension `arrow.uuid` | `UUID` |
//! | Date32, Date64 | `DATE` |
//! | Time32, Time64 | `TIME` (microseconds: nanoseconds are truncated) |
//! | Timestamp(s / ms / us, none) | `TIMESTAMP` (microseconds) |
//! | Timestamp(ns, none) | `TIMESTAMP_NS` (keeps every nanosecond value) |
//! | Timestamp(_, time zone) | `TIMESTAMPTZ` (UTC instant, microseconds) |
//! | Interval, Duration | `INTERVAL` (microseconds) |
//! | List, LargeList (T) | `T[]` |
//! | FixedSizeList (T, n) | `T[n]` |
//! | Struct (a: A, ...) | `STRUCT("a" A, ...)` |
//! | Map (K, V) | `MAP(K, V)` |
//! | Dictionary (_, V) | the type of V |
//! | anything else (Null, Union, run-end encoded, ...) | error naming the column: CAST it in the step's SQL |
//!
//! Nanosecond timestamps get `TIMESTAMP_NS` because `TIMESTAMP` would silently
//! drop their last three digits; DuckDB has no nanosecond `TIMESTAMPTZ` or
//! `TIME`, so those keep microseconds.

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use crate::engines::dialect::{Dialect, ForeignKeyDdl};
use crate::error::{EngineError, EngineResult};
use crate::ident::quote;
use crate::model::EngineKind;
use crate::model::TableName;

/// Largest DECIMAL precision DuckDB stores.
const MAX_DECIMAL_PRECISION: u8 = 38;

/// Extension name of Arrow's canonical UUID type.
const UUID_EXTENSION: &str = "arrow.uuid";

/// DuckDB type for an Arrow field, or why there is none.
pub fn declared_type(field: &Field) -> Result<String, String> {
    if field.extension_type_name() == Some(UUID_EXTENSION)
        && field.data_type() == &DataType::FixedSizeBinary(16)
    {
        return Ok("UUID".to_string());
    }
    duckdb_data_type(field.data_type())
}

fn duckdb_data_type(data_type: &DataType) -> Result<String, String> {
    use DataType::*;
    Ok(match data_type {
        Boolean => "BOOLEAN".into(),
        Int8 => "TINYINT".into(),
        Int16 => "SMALLINT".into(),
        Int32 => "INTEGER".into(),
        Int64 => "BIGINT".into(),
        UInt8 => "UTINYINT".into(),
        UInt16 => "USMALLINT".into(),
        UInt32 => "UINTEGER".into(),
        UInt64 => "UBIGINT".into(),
        Float16 | Float32 => "FLOAT".into(),
        Float64 => "DOUBLE".into(),
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) => {
            decimal(*p, *s, data_type)?
        }
        Utf8 | LargeUtf8 | Utf8View => "VARCHAR".into(),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "BLOB".into(),
        Date32 | Date64 => "DATE".into(),
        Time32(_) | Time64(_) => "TIME".into(),
        Timestamp(TimeUnit::Nanosecond, None) => "TIMESTAMP_NS".into(),
        Timestamp(_, None) => "TIMESTAMP".into(),
        Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        Interval(_) | Duration(_) => "INTERVAL".into(),
        List(child) | LargeList(child) => format!("{}[]", declared_type(child)?),
        FixedSizeList(child, n) => format!("{}[{n}]", declared_type(child)?),
        Struct(fields) => {
            let members = fields
                .iter()
                .map(|f| Ok(format!("{} {}", quote(f.name()), declared_type(f)?)))
                .collect::<Result<Vec<_>, String>>()?;
            format!("STRUCT({})", members.join(", "))
        }
        Map(entries, _) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => {
                format!("MAP({}, {})", declared_type(&kv[0])?, declared_type(&kv[1])?)
            }
            other => return Err(format!("map entries of type {other} are not a key/value struct")),
        },
        Dictionary(_, values) => duckdb_data_type(values)?,
        other => {
            return Err(format!(
                "Arrow type {other} has no DuckDB column type\n  hint: CAST the column in the step's SQL (e.g. CAST(col AS VARCHAR))"
            ))
        }
    })
}

fn decimal(precision: u8, scale: i8, data_type: &DataType) -> Result<String, String> {
    if precision > MAX_DECIMAL_PRECISION {
        return Err(format!(
            "{data_type} does not fit DuckDB, whose decimals hold at most {MAX_DECIMAL_PRECISION} digits\n  hint: CAST the column in the step's SQL to DECIMAL(38, s), DOUBLE or VARCHAR"
        ));
    }
    if scale < 0 || scale as u8 > precision {
        return Err(format!(
            "{data_type} has a scale outside 0..=precision, which DuckDB cannot store\n  hint: CAST the column in the step's SQL to a DECIMAL(p, s) with 0 <= s <= p"
        ));
    }
    Ok(format!("DECIMAL({precision},{scale})"))
}

/// The Arrow type DuckDB reads back from the column barge creates for
/// `data_type` (the table above, then DuckDB's Arrow export): microsecond
/// times and zoned timestamps, `FLOAT` for half floats, month-day-nano
/// intervals, values of dictionaries.
pub fn stored_type(data_type: &DataType) -> DataType {
    use DataType::*;
    match data_type {
        Float16 => Float32,
        Decimal32(p, s) | Decimal64(p, s) | Decimal256(p, s) => Decimal128(*p, *s),
        LargeUtf8 | Utf8View => Utf8,
        LargeBinary | BinaryView | FixedSizeBinary(_) => Binary,
        Date64 => Date32,
        Time32(_) | Time64(_) => Time64(TimeUnit::Microsecond),
        Timestamp(TimeUnit::Nanosecond, None) => Timestamp(TimeUnit::Nanosecond, None),
        Timestamp(_, None) => Timestamp(TimeUnit::Microsecond, None),
        Timestamp(_, Some(_)) => Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Interval(_) | Duration(_) => {
            Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano)
        }
        Dictionary(_, values) => stored_type(values),
        other => other.clone(),
    }
}

/// `CREATE TABLE` for `schema`; `quoted_table` is the table's quoted name,
/// `key` becomes the primary key.
pub fn create_table_sql(
    connection: &str,
    table: &TableName,
    quoted_table: &str,
    schema: &Schema,
    key: &[String],
) -> EngineResult<String> {
    let table_name = table.to_string();
    let mut columns = Vec::with_capacity(schema.fields().len() + 1);
    for field in schema.fields() {
        let ty = declared_type(field)
            .map_err(|m| EngineError::column(connection, &table_name, field.name(), m))?;
        let not_null = if field.is_nullable() { "" } else { " NOT NULL" };
        columns.push(format!("{} {ty}{not_null}", quote(field.name())));
    }
    if !key.is_empty() {
        for k in key {
            if schema.field_with_name(k).is_err() {
                return Err(EngineError::column(
                    connection,
                    &table_name,
                    k,
                    "key column is not in the step's output\n  hint: select it in the step's SQL or fix the step's key",
                ));
            }
        }
        let key = key.iter().map(|k| quote(k)).collect::<Vec<_>>();
        columns.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    Ok(format!(
        "CREATE TABLE {quoted_table} ({})",
        columns.join(", ")
    ))
}

/// DuckDB's [`Dialect`]: the tables above; foreign keys in `CREATE TABLE`
/// once the referenced table exists (it cannot add them later), without
/// referential actions (it has none).
#[derive(Debug, Clone, Copy)]
pub struct DuckDbDialect;

impl Dialect for DuckDbDialect {
    fn kind(&self) -> EngineKind {
        EngineKind::DuckDb
    }

    /// DuckDB sets no limit; names follow PostgreSQL's.
    fn max_ident_len(&self) -> usize {
        63
    }

    fn declared_type(&self, data_type: &DataType, _indexed: bool) -> Option<String> {
        declared_type(&Field::new("c", data_type.clone(), true)).ok()
    }

    fn stored_type(&self, data_type: &DataType, _declared: &str) -> DataType {
        stored_type(data_type)
    }

    fn text_type(&self, _indexed: bool) -> &'static str {
        "VARCHAR"
    }

    fn sized_text(&self, _n: u32, _fixed: bool, _indexed: bool) -> (String, Option<u32>) {
        ("VARCHAR".to_string(), None)
    }

    fn foreign_keys(&self) -> ForeignKeyDdl {
        ForeignKeyDdl::InCreateAfterReferenced
    }

    fn foreign_key_actions(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{Fields, IntervalUnit};

    use super::*;

    fn ty(dt: DataType) -> Result<String, String> {
        declared_type(&Field::new("c", dt, true))
    }

    #[test]
    fn maps_scalar_types() {
        let cases = [
            (DataType::Boolean, "BOOLEAN"),
            (DataType::Int8, "TINYINT"),
            (DataType::UInt64, "UBIGINT"),
            (DataType::Float16, "FLOAT"),
            (DataType::Float64, "DOUBLE"),
            (DataType::Decimal128(38, 10), "DECIMAL(38,10)"),
            (DataType::Decimal256(20, 2), "DECIMAL(20,2)"),
            (DataType::Utf8View, "VARCHAR"),
            (DataType::LargeBinary, "BLOB"),
            (DataType::Date64, "DATE"),
            (DataType::Time64(TimeUnit::Microsecond), "TIME"),
            (
                DataType::Timestamp(TimeUnit::Microsecond, None),
                "TIMESTAMP",
            ),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                "TIMESTAMP_NS",
            ),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                "TIMESTAMPTZ",
            ),
            (DataType::Interval(IntervalUnit::MonthDayNano), "INTERVAL"),
            (
                DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8)),
                "VARCHAR",
            ),
        ];
        for (dt, expected) in cases {
            assert_eq!(ty(dt.clone()).unwrap(), expected, "{dt}");
        }
        let uuid =
            Field::new("id", DataType::FixedSizeBinary(16), true).with_metadata(HashMap::from([(
                "ARROW:extension:name".to_string(),
                UUID_EXTENSION.to_string(),
            )]));
        assert_eq!(declared_type(&uuid).unwrap(), "UUID");
    }

    #[test]
    fn maps_nested_types() {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)));
        assert_eq!(ty(list.clone()).unwrap(), "INTEGER[]");
        let st = DataType::Struct(Fields::from(vec![
            Field::new("a b", DataType::Utf8, true),
            Field::new("l", list, true),
        ]));
        assert_eq!(ty(st).unwrap(), "STRUCT(\"a b\" VARCHAR, \"l\" INTEGER[])");
    }

    #[test]
    fn refuses_what_duckdb_cannot_store() {
        let err = ty(DataType::Decimal256(50, 2)).unwrap_err();
        assert!(err.contains("38 digits") && err.contains("hint"), "{err}");
        let err = ty(DataType::Null).unwrap_err();
        assert!(err.contains("CAST"), "{err}");
    }

    #[test]
    fn create_table_has_key_and_not_null() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("na\"me", DataType::Utf8, true),
        ]);
        let t = TableName::new(Some("main"), "t");
        let sql = create_table_sql("dst", &t, "\"main\".\"t\"", &schema, &["id".into()]).unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE \"main\".\"t\" (\"id\" BIGINT NOT NULL, \"na\"\"me\" VARCHAR, PRIMARY KEY (\"id\"))"
        );
        let err = create_table_sql("dst", &t, "t", &schema, &["nope".into()]).unwrap_err();
        assert!(err.to_string().contains("'nope'"), "{err}");
        let bad = Schema::new(vec![Field::new("n", DataType::Null, true)]);
        let err = create_table_sql("dst", &t, "t", &bad, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dst") && err.contains("main.t") && err.contains("'n'"),
            "{err}"
        );
    }
}
