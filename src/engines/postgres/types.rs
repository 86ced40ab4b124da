//! PostgreSQL types ⇄ Arrow types: the one mapping table of the engine.
//!
//! # Reading: column type → Arrow ([`arrow_type`])
//!
//! Domains are read as their base type. Every column is selected cast to
//! the PostgreSQL type its Arrow type stands for ([`declared_type`]), so the
//! binary COPY stream always carries that type (`"c"::text` for anything read
//! as `Utf8`); the cast is a no-op where the types already match.
//!
//! | PostgreSQL | Arrow |
//! |------------|-------|
//! | `boolean` | `Boolean` |
//! | `smallint`, `integer`, `bigint` | `Int16`, `Int32`, `Int64` |
//! | `oid` | `Int64` |
//! | `real`, `double precision` | `Float32`, `Float64` (NaN and ±infinity kept) |
//! | `numeric(p,s)` | `Decimal128(p,s)` for p ≤ 38, `Decimal256(p,s)` for p ≤ 76 |
//! | `numeric` (no precision), `numeric(p,s)` with p > 76 or s < 0 | `Utf8`: the exact digits (no precision to give a decimal type; NaN and ±Infinity as text) |
//! | `text`, `varchar`, `char(n)`, `name`, `citext`, `json`, `jsonb`, `xml`, `uuid`, enums | `Utf8` |
//! | `bytea` | `Binary` |
//! | `date` | `Date32` (±infinity is an error naming the row) |
//! | `time` | `Time64(Microsecond)` |
//! | `timestamp` | `Timestamp(Microsecond, None)`: naive, kept as written |
//! | `timestamptz` | `Timestamp(Microsecond, "UTC")`: the same instant |
//! | anything else (`interval`, `timetz`, arrays, `inet`, ranges, …) | `Utf8`: PostgreSQL's text form |
//!
//! # Writing: Arrow → column type ([`declared_type`])
//!
//! This is the type of a created column and the type the binary COPY
//! encoder writes. Into an existing column of another type (say `uuid` or
//! `jsonb` from `Utf8`), the writer copies into a staging table of these
//! types and casts while inserting (see `sink.rs`).
//!
//! | Arrow | PostgreSQL |
//! |-------|------------|
//! | `Boolean` | `boolean` |
//! | `Int8`, `Int16`, `UInt8` | `smallint` |
//! | `Int32`, `UInt16` | `integer` |
//! | `Int64`, `UInt32` | `bigint` |
//! | `UInt64` | `numeric(20,0)` |
//! | `Float32`, `Float64` | `real`, `double precision` |
//! | `Decimal128/256(p,s)` | `numeric(p,s)` |
//! | `Utf8`, `LargeUtf8`, `Utf8View` | `text` |
//! | `Binary`, `LargeBinary`, `BinaryView` | `bytea` |
//! | `Date32` | `date` |
//! | `Time32`, `Time64` | `time` |
//! | `Timestamp(_, None)` | `timestamp` |
//! | `Timestamp(_, tz)` | `timestamptz` |
//! | `Duration` | `interval` |
//! | anything else | error: CAST it in the step SQL |

use crate::engines::dialect::{ColumnDef, Dialect, ForeignKeyDdl};
use crate::ident::quote;
use crate::model::EngineKind;
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};

/// Time zone of timestamps read from `timestamptz` columns.
pub const UTC: &str = "UTC";

/// Widest decimal precision Arrow holds (`Decimal256`).
const MAX_DECIMAL256: i32 = 76;

/// What the catalog says about a column: its type's name (of the base type
/// for a domain), `typtype` and `atttypmod`.
#[derive(Debug, Clone)]
pub struct ColumnType {
    /// `pg_type.typname` of the (base) type: `int4`, `varchar`, `numeric`, ...
    pub name: String,
    /// `pg_type.typtype`: `b` base, `e` enum, `r` range, `c` composite, ...
    pub kind: char,
    /// `atttypmod`: precision/scale of numerics, length of varchars; -1 when none.
    pub typmod: i32,
    /// The column's type as SQL (`format_type`): `character varying(20)`, `myschema.mood`.
    pub declared: String,
}

/// The Arrow type a column is read as (see the module's table).
pub fn arrow_type(column: &ColumnType) -> DataType {
    match column.name.as_str() {
        "bool" => DataType::Boolean,
        "int2" => DataType::Int16,
        "int4" => DataType::Int32,
        "int8" | "oid" => DataType::Int64,
        "float4" => DataType::Float32,
        "float8" => DataType::Float64,
        "numeric" => numeric_type(column.typmod),
        "bytea" => DataType::Binary,
        "date" => DataType::Date32,
        "time" => DataType::Time64(TimeUnit::Microsecond),
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        _ => DataType::Utf8,
    }
}

/// `numeric(p,s)` from its typmod: a decimal type when Arrow can hold it exactly.
fn numeric_type(typmod: i32) -> DataType {
    if typmod < 4 {
        return DataType::Utf8;
    }
    let precision = ((typmod - 4) >> 16) & 0xFFFF;
    // The scale is an 11-bit signed field since PostgreSQL 15.
    let scale = (((typmod - 4) & 0x7FF) ^ 0x400) - 0x400;
    if !(1..=MAX_DECIMAL256).contains(&precision) || scale < 0 || scale > precision {
        return DataType::Utf8;
    }
    if precision <= 38 {
        DataType::Decimal128(precision as u8, scale as i8)
    } else {
        DataType::Decimal256(precision as u8, scale as i8)
    }
}

/// The PostgreSQL type the binary COPY encoder writes for `data_type`, and
/// the type of a column created for it; `None` when there is none.
pub fn declared_type(data_type: &DataType) -> Option<String> {
    Some(match data_type {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "numeric(20,0)".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            if *s < 0 || i16::from(*s) > i16::from(*p) {
                "numeric".into()
            } else {
                format!("numeric({p},{s})")
            }
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        DataType::Date32 => "date".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Duration(_) => "interval".into(),
        _ => return None,
    })
}

/// The `typname` of [`declared_type`] (how the catalog spells it).
pub fn natural_typname(data_type: &DataType) -> Option<&'static str> {
    Some(match data_type {
        DataType::Boolean => "bool",
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "int2",
        DataType::Int32 | DataType::UInt16 => "int4",
        DataType::Int64 | DataType::UInt32 => "int8",
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric",
        DataType::Float32 => "float4",
        DataType::Float64 => "float8",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea",
        DataType::Date32 => "date",
        DataType::Time32(_) | DataType::Time64(_) => "time",
        DataType::Timestamp(_, None) => "timestamp",
        DataType::Timestamp(_, Some(_)) => "timestamptz",
        DataType::Duration(_) => "interval",
        _ => return None,
    })
}

/// Whether the encoder's binary form of `data_type` is accepted as is by a
/// column of type `column` (otherwise the writer stages and casts).
pub fn copies_directly(data_type: &DataType, column: &ColumnType) -> bool {
    let Some(natural) = natural_typname(data_type) else {
        return false;
    };
    if natural == column.name {
        return true;
    }
    // These types' binary input is the text itself.
    natural == "text"
        && (column.kind == 'e'
            || matches!(
                column.name.as_str(),
                "varchar" | "bpchar" | "name" | "json" | "citext" | "xml"
            ))
}

/// `CREATE TABLE` for `fields`, with `key` as its primary key.
pub fn create_table_sql(table: &str, fields: &[&Field], key: &[String]) -> Result<String, String> {
    let mut columns = Vec::with_capacity(fields.len() + 1);
    for field in fields {
        let ty = declared_type(field.data_type()).ok_or_else(|| {
            format!(
                "column '{}': type {} has no PostgreSQL column type\n  hint: CAST it in the step's SQL (to text, bigint, double, decimal, date, timestamp, ...)",
                field.name(),
                field.data_type()
            )
        })?;
        let not_null = if field.is_nullable() { "" } else { " NOT NULL" };
        columns.push(format!("{} {ty}{not_null}", quote(field.name())));
    }
    if !key.is_empty() {
        let key: Vec<String> = key.iter().map(|k| quote(k)).collect();
        columns.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    Ok(format!("CREATE TABLE {table} ({})", columns.join(", ")))
}

/// PostgreSQL's [`Dialect`]: the tables above, identity columns, foreign
/// keys after the data, counters moved by `setval`.
#[derive(Debug, Clone, Copy)]
pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn max_ident_len(&self) -> usize {
        63
    }

    fn declared_type(&self, data_type: &DataType, _indexed: bool) -> Option<String> {
        declared_type(data_type)
    }

    fn stored_type(&self, data_type: &DataType, declared: &str) -> DataType {
        let Some(name) = natural_typname(data_type) else {
            return DataType::Utf8;
        };
        if name == "interval" {
            return DataType::Duration(TimeUnit::Microsecond);
        }
        let typmod = match data_type {
            DataType::UInt64 => (20 << 16) + 4,
            DataType::Decimal128(p, s) | DataType::Decimal256(p, s) if *s >= 0 => {
                ((i32::from(*p) << 16) | i32::from(*s)) + 4
            }
            _ => -1,
        };
        arrow_type(&ColumnType {
            name: name.to_string(),
            kind: 'b',
            typmod,
            declared: declared.to_string(),
        })
    }

    fn text_type(&self, _indexed: bool) -> &'static str {
        "text"
    }

    fn sized_text(&self, n: u32, fixed: bool, _indexed: bool) -> (String, Option<u32>) {
        if fixed {
            (format!("char({n})"), Some(n))
        } else {
            (format!("varchar({n})"), Some(n))
        }
    }

    fn semantic_type(&self, base: &str, _indexed: bool) -> Option<&'static str> {
        match base {
            "json" | "jsonb" => Some("jsonb"),
            "uuid" => Some("uuid"),
            _ => None,
        }
    }

    fn keeps_identity(&self, data_type: &DataType) -> bool {
        data_type.is_integer()
    }

    fn identity_allowed(&self, _leads_primary_key: bool) -> bool {
        true
    }

    fn column_sql(&self, column: &ColumnDef<'_>) -> String {
        let mut line = format!("{} {}", column.name, column.data_type);
        if column.identity {
            line.push_str(" GENERATED BY DEFAULT AS IDENTITY");
        }
        if column.not_null {
            line.push_str(" NOT NULL");
        }
        if let Some(default) = column.default {
            line.push_str(&format!(" DEFAULT {default}"));
        }
        line
    }

    fn foreign_keys(&self) -> ForeignKeyDdl {
        ForeignKeyDdl::AfterData
    }

    fn unique_as_constraint(&self) -> bool {
        true
    }

    fn identity_counter_sql(&self, table: &str, column: &str) -> Option<String> {
        Some(format!(
            "SELECT setval(pg_get_serial_sequence('{}', '{}'), (SELECT COALESCE(max({}), 0) + 1 FROM {table}), false)",
            table.replace('\'', "''"),
            column.replace('\'', "''"),
            quote(column)
        ))
    }

    fn drop_table_sql(&self, table: &str) -> String {
        format!("DROP TABLE {table} CASCADE")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, typmod: i32) -> ColumnType {
        ColumnType {
            name: name.to_string(),
            kind: 'b',
            typmod,
            declared: name.to_string(),
        }
    }

    /// `numeric(p,s)`'s typmod.
    fn numeric(p: i32, s: i32) -> i32 {
        ((p << 16) | (s & 0x7FF)) + 4
    }

    #[test]
    fn numerics_map_to_exact_decimals_or_text() {
        assert_eq!(
            arrow_type(&column("numeric", numeric(15, 2))),
            DataType::Decimal128(15, 2)
        );
        assert_eq!(
            arrow_type(&column("numeric", numeric(38, 38))),
            DataType::Decimal128(38, 38)
        );
        assert_eq!(
            arrow_type(&column("numeric", numeric(76, 30))),
            DataType::Decimal256(76, 30)
        );
        // No declared precision, too wide, or a negative scale: exact text.
        assert_eq!(arrow_type(&column("numeric", -1)), DataType::Utf8);
        assert_eq!(
            arrow_type(&column("numeric", numeric(77, 0))),
            DataType::Utf8
        );
        assert_eq!(
            arrow_type(&column("numeric", numeric(5, -2))),
            DataType::Utf8
        );
    }

    #[test]
    fn every_read_type_writes_back_as_itself() {
        for name in [
            "bool",
            "int2",
            "int4",
            "int8",
            "float4",
            "float8",
            "bytea",
            "date",
            "time",
            "timestamp",
            "timestamptz",
            "text",
        ] {
            let column = column(name, -1);
            let arrow = arrow_type(&column);
            assert_eq!(natural_typname(&arrow), Some(name), "{name}");
            assert!(copies_directly(&arrow, &column), "{name}");
        }
        let decimal = column("numeric", numeric(20, 4));
        assert!(copies_directly(&arrow_type(&decimal), &decimal));
    }

    #[test]
    fn text_goes_straight_into_text_like_columns_only() {
        for name in ["varchar", "bpchar", "json", "citext"] {
            assert!(
                copies_directly(&DataType::Utf8, &column(name, -1)),
                "{name}"
            );
        }
        let mut enumeration = column("mood", -1);
        enumeration.kind = 'e';
        assert!(copies_directly(&DataType::Utf8, &enumeration));
        for name in ["uuid", "jsonb", "numeric", "_int4", "interval", "inet"] {
            assert!(
                !copies_directly(&DataType::Utf8, &column(name, -1)),
                "{name}"
            );
        }
        assert!(!copies_directly(&DataType::Int64, &column("int4", -1)));
    }

    #[test]
    fn create_table_has_types_key_and_not_null() {
        let id = Field::new("id", DataType::Int64, false);
        let big = Field::new("big", DataType::UInt64, true);
        let at = Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
            true,
        );
        let sql = create_table_sql("\"public\".\"t\"", &[&id, &big, &at], &["id".into()]).unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE \"public\".\"t\" (\"id\" bigint NOT NULL, \"big\" numeric(20,0), \"at\" timestamptz, PRIMARY KEY (\"id\"))"
        );
        let list = Field::new(
            "l",
            DataType::List(std::sync::Arc::new(Field::new("x", DataType::Int32, true))),
            true,
        );
        let err = create_table_sql("t", &[&list], &[]).unwrap_err();
        assert!(err.contains("column 'l'") && err.contains("CAST"), "{err}");
    }
}
