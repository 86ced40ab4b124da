//! MySQL/MariaDB column types <-> Arrow types: the one table both directions
//! follow.
//!
//! | MySQL/MariaDB | Arrow (read) | created from Arrow (write) |
//! |---|---|---|
//! | `tinyint(1)`, `bit(1)` (`BOOLEAN`) | Boolean | Boolean → `TINYINT(1)` |
//! | `tinyint`, `smallint`, `mediumint`, `int`, `bigint` | Int8, Int16, Int32, Int32, Int64 | Int8/16/32/64 → `TINYINT`, `SMALLINT`, `INT`, `BIGINT` |
//! | the same `UNSIGNED` | UInt8, UInt16, UInt32, UInt32, UInt64 | UInt8/16/32/64 → `... UNSIGNED` |
//! | `decimal(p,s)` | Decimal128(p,s) for p ≤ 38, else Decimal256(p,s) | Decimal(p,s) → `DECIMAL(p,s)` (p ≤ 65, s ≤ 30) |
//! | `float`, `double` | Float32, Float64 | Float16/32 → `FLOAT`, Float64 → `DOUBLE` |
//! | `char`, `varchar`, `*text`, `enum`, `set`, `json` (and unknown types) | Utf8 | Utf8 → `LONGTEXT` (`VARCHAR(255)` in a key) |
//! | `binary`, `varbinary`, `*blob`, `bit(n>1)`, geometry types | Binary | Binary → `LONGBLOB` (`VARBINARY(255)` in a key), FixedSizeBinary(n ≤ 255) → `BINARY(n)` |
//! | `date` | Date32 | Date32/64 → `DATE` |
//! | `datetime(n)` | Timestamp(µs) | Timestamp without zone → `DATETIME(6)` |
//! | `timestamp(n)` | Timestamp(µs, "UTC") (session time zone `+00:00`) | Timestamp with zone → `TIMESTAMP(6)` (1970–2038) |
//! | `time(n)` | Duration(µs) (`-838:59:59` to `838:59:59`) | Duration, Time32/64 → `TIME(6)` |
//! | `year` | Int16 | — |
//!
//! Date and time columns are always nullable in Arrow: MySQL's zero dates
//! (`0000-00-00`) read as NULL. Created tables use `utf8mb4` with the binary
//! collation, so keys compare byte for byte as in every other engine.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

use crate::engines::dialect::{ColumnDef, Dialect, ForeignKeyDdl};
use crate::ident::Quoting;
use crate::model::EngineKind;

/// Time zone of `TIMESTAMP` columns (sessions run with `time_zone = '+00:00'`).
pub const UTC: &str = "UTC";

/// Largest `DECIMAL` precision and scale MySQL/MariaDB accept.
pub const MAX_DECIMAL_PRECISION: u8 = 65;
pub const MAX_DECIMAL_SCALE: i8 = 30;

/// One column as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// `DATA_TYPE`, e.g. `int`, `varchar`, `decimal`.
    pub data_type: String,
    /// `COLUMN_TYPE`, e.g. `int(10) unsigned`, `tinyint(1)`, `bit(1)`.
    pub column_type: String,
    /// `NUMERIC_PRECISION` (decimals).
    pub precision: Option<u64>,
    /// `NUMERIC_SCALE` (decimals).
    pub scale: Option<u64>,
    pub nullable: bool,
}

impl ColumnInfo {
    /// The Arrow type barge reads the column as.
    pub fn arrow_type(&self) -> DataType {
        arrow_type(
            &self.data_type,
            &self.column_type,
            self.precision,
            self.scale,
        )
    }

    /// Whether the Arrow field is nullable: date/time columns always are
    /// (zero dates read as NULL).
    pub fn arrow_nullable(&self) -> bool {
        self.nullable
            || matches!(
                self.data_type.to_ascii_lowercase().as_str(),
                "date" | "datetime" | "timestamp"
            )
    }
}

/// The Arrow type of a MySQL column from its `DATA_TYPE` and `COLUMN_TYPE`.
pub fn arrow_type(
    data_type: &str,
    column_type: &str,
    precision: Option<u64>,
    scale: Option<u64>,
) -> DataType {
    let data_type = data_type.trim().to_ascii_lowercase();
    let column_type = column_type.trim().to_ascii_lowercase();
    let unsigned = column_type.contains("unsigned");
    let width = display_width(&column_type);
    match data_type.as_str() {
        "bool" | "boolean" => DataType::Boolean,
        "tinyint" if !unsigned && width == Some(1) => DataType::Boolean,
        "tinyint" if unsigned => DataType::UInt8,
        "tinyint" => DataType::Int8,
        "smallint" if unsigned => DataType::UInt16,
        "smallint" => DataType::Int16,
        "mediumint" | "int" | "integer" if unsigned => DataType::UInt32,
        "mediumint" | "int" | "integer" => DataType::Int32,
        "bigint" if unsigned => DataType::UInt64,
        "bigint" => DataType::Int64,
        "decimal" | "numeric" | "dec" | "fixed" => {
            let (p, s) = match (precision, scale) {
                (Some(p), Some(s)) => (p, s),
                _ => {
                    let (p, s) = width_pair(&column_type).unwrap_or((10, 0));
                    (p, s)
                }
            };
            let p = p.clamp(1, u64::from(MAX_DECIMAL_PRECISION)) as u8;
            let s = s.min(u64::from(p)) as i8;
            if p <= 38 {
                DataType::Decimal128(p, s)
            } else {
                DataType::Decimal256(p, s)
            }
        }
        "float" => DataType::Float32,
        "double" | "real" | "double precision" => DataType::Float64,
        "bit" if width.unwrap_or(1) == 1 => DataType::Boolean,
        "bit" => DataType::Binary,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "geometry"
        | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => DataType::Binary,
        "date" => DataType::Date32,
        "datetime" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        "time" => DataType::Duration(TimeUnit::Microsecond),
        "year" => DataType::Int16,
        // char, varchar, the text types, enum, set, json, and types this
        // table does not know (MariaDB's uuid, inet4, inet6): text.
        _ => DataType::Utf8,
    }
}

/// `n` of `type(n)...`.
fn display_width(column_type: &str) -> Option<u64> {
    let open = column_type.find('(')?;
    let close = column_type[open..].find(')')? + open;
    column_type[open + 1..close].trim().parse().ok()
}

/// `(p, s)` of `decimal(p,s)`.
fn width_pair(column_type: &str) -> Option<(u64, u64)> {
    let open = column_type.find('(')?;
    let close = column_type[open..].find(')')? + open;
    let inner = &column_type[open + 1..close];
    match inner.split_once(',') {
        Some((p, s)) => Some((p.trim().parse().ok()?, s.trim().parse().ok()?)),
        None => Some((inner.trim().parse().ok()?, 0)),
    }
}

/// The MySQL column type barge creates for an Arrow type; `None` when MySQL
/// has no column type for it. `key` columns get indexable types
/// (`VARCHAR(255)`, `VARBINARY(255)`: MySQL cannot index a TEXT or BLOB
/// without a prefix length).
pub fn declared_type(data_type: &DataType, key: bool) -> Option<String> {
    Some(match data_type {
        DataType::Boolean => "TINYINT(1)".to_string(),
        DataType::Int8 => "TINYINT".to_string(),
        DataType::Int16 => "SMALLINT".to_string(),
        DataType::Int32 => "INT".to_string(),
        DataType::Int64 => "BIGINT".to_string(),
        DataType::UInt8 => "TINYINT UNSIGNED".to_string(),
        DataType::UInt16 => "SMALLINT UNSIGNED".to_string(),
        DataType::UInt32 => "INT UNSIGNED".to_string(),
        DataType::UInt64 => "BIGINT UNSIGNED".to_string(),
        DataType::Float16 | DataType::Float32 => "FLOAT".to_string(),
        DataType::Float64 => "DOUBLE".to_string(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => decimal_sql(*p, *s)?,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if key => {
            "VARCHAR(255)".to_string()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "LONGTEXT".to_string(),
        DataType::Dictionary(_, value) if value.is_string() => {
            return declared_type(value, key);
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView if key => {
            "VARBINARY(255)".to_string()
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "LONGBLOB".to_string(),
        DataType::FixedSizeBinary(n) if (0..=255).contains(n) => format!("BINARY({n})"),
        DataType::FixedSizeBinary(_) if key => "VARBINARY(255)".to_string(),
        DataType::FixedSizeBinary(_) => "LONGBLOB".to_string(),
        DataType::Date32 | DataType::Date64 => "DATE".to_string(),
        DataType::Timestamp(_, None) => "DATETIME(6)".to_string(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP(6)".to_string(),
        DataType::Time32(_) | DataType::Time64(_) | DataType::Duration(_) => "TIME(6)".to_string(),
        // A column of NULLs (e.g. `SELECT NULL AS x`).
        DataType::Null => "TEXT".to_string(),
        _ => return None,
    })
}

/// `DECIMAL(p,s)` for an Arrow decimal; a negative scale widens the
/// precision instead. `None` beyond MySQL's `DECIMAL(65,30)`.
fn decimal_sql(precision: u8, scale: i8) -> Option<String> {
    let (p, s) = if scale < 0 {
        (u16::from(precision) + u16::from(scale.unsigned_abs()), 0u16)
    } else {
        (u16::from(precision), scale as u16)
    };
    let p = p.max(s).max(1);
    if p > u16::from(MAX_DECIMAL_PRECISION) || s > MAX_DECIMAL_SCALE as u16 {
        return None;
    }
    Some(format!("DECIMAL({p},{s})"))
}

/// Largest VARCHAR length MySQL takes in utf8mb4 (65,535 bytes a row), and in an index.
const MAX_VARCHAR: u32 = 16_383;
const MAX_INDEXED_VARCHAR: u32 = 768;

/// MySQL's and MariaDB's [`Dialect`]: backticks, indexable key types,
/// AUTO_INCREMENT leading the key, utf8mb4 tables.
#[derive(Debug, Clone, Copy)]
pub struct MySqlDialect;

impl Dialect for MySqlDialect {
    fn kind(&self) -> EngineKind {
        EngineKind::MySql
    }

    fn quoting(&self) -> Quoting {
        Quoting::Backtick
    }

    fn max_ident_len(&self) -> usize {
        64
    }

    fn declared_type(&self, data_type: &DataType, indexed: bool) -> Option<String> {
        declared_type(data_type, indexed)
    }

    fn stored_type(&self, _data_type: &DataType, declared: &str) -> DataType {
        let lower = declared.to_ascii_lowercase();
        let name_end = lower.find(['(', ' ']).unwrap_or(lower.len());
        arrow_type(&lower[..name_end], &lower, None, None)
    }

    fn text_type(&self, indexed: bool) -> &'static str {
        if indexed {
            "VARCHAR(255)"
        } else {
            "LONGTEXT"
        }
    }

    fn sized_text(&self, n: u32, fixed: bool, indexed: bool) -> (String, Option<u32>) {
        if fixed && n <= 255 {
            (format!("CHAR({n})"), Some(n))
        } else if indexed && n > MAX_INDEXED_VARCHAR {
            (
                format!("VARCHAR({MAX_INDEXED_VARCHAR})"),
                Some(MAX_INDEXED_VARCHAR),
            )
        } else if n <= MAX_VARCHAR {
            (format!("VARCHAR({n})"), Some(n))
        } else {
            ("LONGTEXT".to_string(), None)
        }
    }

    fn enforced_length(&self, declared: &str) -> Option<u32> {
        let upper = declared.to_ascii_uppercase();
        let inner = upper.strip_prefix("VARCHAR(")?.strip_suffix(')')?;
        inner.parse().ok()
    }

    fn semantic_type(&self, base: &str, indexed: bool) -> Option<&'static str> {
        match base {
            "json" | "jsonb" if !indexed => Some("JSON"),
            "uuid" => Some("CHAR(36)"),
            _ => None,
        }
    }

    fn keeps_identity(&self, data_type: &DataType) -> bool {
        data_type.is_integer()
    }

    fn lossy_note(&self, data_type: &DataType) -> Option<String> {
        matches!(data_type, DataType::Timestamp(_, Some(_)))
            .then(|| "time zone: MySQL TIMESTAMP holds 1970-2038 only".to_string())
    }

    /// AUTO_INCREMENT must lead a key.
    fn identity_allowed(&self, leads_primary_key: bool) -> bool {
        leads_primary_key
    }

    fn column_sql(&self, column: &ColumnDef<'_>) -> String {
        let mut line = format!("{} {}", column.name, column.data_type);
        if column.not_null {
            line.push_str(" NOT NULL");
        }
        match column.default {
            Some(default) => line.push_str(&format!(" DEFAULT {default}")),
            None if !column.not_null
                && column
                    .data_type
                    .to_ascii_uppercase()
                    .starts_with("TIMESTAMP") =>
            {
                // Old servers give the first TIMESTAMP column DEFAULT CURRENT_TIMESTAMP otherwise.
                line.push_str(" NULL DEFAULT NULL");
            }
            None => {}
        }
        if column.identity {
            line.push_str(" AUTO_INCREMENT");
        }
        line
    }

    fn foreign_keys(&self) -> ForeignKeyDdl {
        ForeignKeyDdl::AfterData
    }

    fn create_table_suffix(&self) -> &'static str {
        " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    }

    fn unique_as_constraint(&self) -> bool {
        true
    }

    fn string_literal(&self, value: &str) -> String {
        format!("'{}'", value.replace('\'', "''").replace('\\', "\\\\"))
    }

    fn boolean_literal(&self, value: bool) -> &'static str {
        if value {
            "1"
        } else {
            "0"
        }
    }

    fn current_timestamp(&self, fraction: Option<u8>) -> String {
        match fraction {
            Some(n) => format!("CURRENT_TIMESTAMP({n})"),
            None => "CURRENT_TIMESTAMP".to_string(),
        }
    }

    fn current_date(&self) -> &'static str {
        "(CURRENT_DATE)"
    }

    /// MySQL and MariaDB have no `IS NOT DISTINCT FROM`.
    fn null_safe_eq(&self, left: &str, right: &str) -> String {
        format!("{left} <=> {right}")
    }

    /// `'ABC' = 'abc'` under the default `_ci` collations; the casts'
    /// bytes differ (an index on the plain equality still serves).
    fn exact_eq(&self, left: &str, right: &str) -> Option<String> {
        Some(format!(
            "CAST({left} AS BINARY) <=> CAST({right} AS BINARY)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data_type: &str, column_type: &str) -> DataType {
        arrow_type(data_type, column_type, None, None)
    }

    #[test]
    fn mysql_types_read_as() {
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()));
        let cases: &[(&str, &str, DataType)] = &[
            ("tinyint", "tinyint(1)", DataType::Boolean),
            ("TINYINT", "TINYINT(1)", DataType::Boolean),
            ("tinyint", "tinyint(4)", DataType::Int8),
            ("tinyint", "tinyint", DataType::Int8),
            ("tinyint", "tinyint(1) unsigned", DataType::UInt8),
            ("tinyint", "tinyint(3) unsigned", DataType::UInt8),
            ("bit", "bit(1)", DataType::Boolean),
            ("bit", "bit(8)", DataType::Binary),
            ("smallint", "smallint(6)", DataType::Int16),
            ("smallint", "smallint(5) unsigned", DataType::UInt16),
            ("mediumint", "mediumint(9)", DataType::Int32),
            ("mediumint", "mediumint(8) unsigned", DataType::UInt32),
            ("int", "int(11)", DataType::Int32),
            ("int", "int(10) unsigned", DataType::UInt32),
            ("bigint", "bigint(20)", DataType::Int64),
            ("bigint", "bigint(20) unsigned", DataType::UInt64),
            ("decimal", "decimal(10,2)", DataType::Decimal128(10, 2)),
            ("decimal", "decimal(38,10)", DataType::Decimal128(38, 10)),
            ("decimal", "decimal(39,0)", DataType::Decimal256(39, 0)),
            ("decimal", "decimal(65,30)", DataType::Decimal256(65, 30)),
            ("decimal", "decimal(7)", DataType::Decimal128(7, 0)),
            ("float", "float", DataType::Float32),
            ("double", "double", DataType::Float64),
            ("char", "char(3)", DataType::Utf8),
            ("varchar", "varchar(255)", DataType::Utf8),
            ("longtext", "longtext", DataType::Utf8),
            ("enum", "enum('a','b')", DataType::Utf8),
            ("set", "set('x','y')", DataType::Utf8),
            ("json", "json", DataType::Utf8),
            ("uuid", "uuid", DataType::Utf8),
            ("binary", "binary(16)", DataType::Binary),
            ("varbinary", "varbinary(10)", DataType::Binary),
            ("blob", "blob", DataType::Binary),
            ("longblob", "longblob", DataType::Binary),
            ("geometry", "geometry", DataType::Binary),
            ("point", "point", DataType::Binary),
            ("date", "date", DataType::Date32),
            (
                "datetime",
                "datetime(6)",
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            ("timestamp", "timestamp", utc),
            ("time", "time(6)", DataType::Duration(TimeUnit::Microsecond)),
            ("year", "year(4)", DataType::Int16),
        ];
        for (data_type, column_type, expected) in cases {
            assert_eq!(
                &read(data_type, column_type),
                expected,
                "{data_type} / {column_type}"
            );
        }
        // information_schema's precision and scale win over the type text.
        assert_eq!(
            arrow_type("decimal", "decimal(65,30)", Some(20), Some(5)),
            DataType::Decimal128(20, 5)
        );
    }

    #[test]
    fn date_columns_are_nullable() {
        let column = |data_type: &str, nullable| ColumnInfo {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: data_type.into(),
            precision: None,
            scale: None,
            nullable,
        };
        assert!(column("date", false).arrow_nullable());
        assert!(column("datetime", false).arrow_nullable());
        assert!(column("timestamp", false).arrow_nullable());
        assert!(!column("int", false).arrow_nullable());
        assert!(column("int", true).arrow_nullable());
    }

    #[test]
    fn arrow_types_created_as() {
        let cases: &[(DataType, &str, DataType)] = &[
            (DataType::Boolean, "TINYINT(1)", DataType::Boolean),
            (DataType::Int8, "TINYINT", DataType::Int8),
            (DataType::Int16, "SMALLINT", DataType::Int16),
            (DataType::Int32, "INT", DataType::Int32),
            (DataType::Int64, "BIGINT", DataType::Int64),
            (DataType::UInt8, "TINYINT UNSIGNED", DataType::UInt8),
            (DataType::UInt16, "SMALLINT UNSIGNED", DataType::UInt16),
            (DataType::UInt32, "INT UNSIGNED", DataType::UInt32),
            (DataType::UInt64, "BIGINT UNSIGNED", DataType::UInt64),
            (DataType::Float32, "FLOAT", DataType::Float32),
            (DataType::Float64, "DOUBLE", DataType::Float64),
            (
                DataType::Decimal128(38, 10),
                "DECIMAL(38,10)",
                DataType::Decimal128(38, 10),
            ),
            (
                DataType::Decimal256(65, 30),
                "DECIMAL(65,30)",
                DataType::Decimal256(65, 30),
            ),
            (DataType::Utf8, "LONGTEXT", DataType::Utf8),
            (DataType::LargeUtf8, "LONGTEXT", DataType::Utf8),
            (DataType::Binary, "LONGBLOB", DataType::Binary),
            (
                DataType::FixedSizeBinary(16),
                "BINARY(16)",
                DataType::Binary,
            ),
            (DataType::Date32, "DATE", DataType::Date32),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                "DATETIME(6)",
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            (
                DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Paris".into())),
                "TIMESTAMP(6)",
                DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            ),
            (
                DataType::Duration(TimeUnit::Microsecond),
                "TIME(6)",
                DataType::Duration(TimeUnit::Microsecond),
            ),
            (
                DataType::Time64(TimeUnit::Microsecond),
                "TIME(6)",
                DataType::Duration(TimeUnit::Microsecond),
            ),
        ];
        for (arrow, sql, back) in cases {
            let created = declared_type(arrow, false);
            assert_eq!(created.as_deref(), Some(*sql), "{arrow}");
            let lower = sql.to_ascii_lowercase();
            let data_type = lower.split(['(', ' ']).next().unwrap_or_default();
            assert_eq!(&arrow_type(data_type, &lower, None, None), back, "{sql}");
        }
    }

    #[test]
    fn key_columns_are_indexable() {
        assert_eq!(
            declared_type(&DataType::Utf8, true).as_deref(),
            Some("VARCHAR(255)")
        );
        assert_eq!(
            declared_type(&DataType::Binary, true).as_deref(),
            Some("VARBINARY(255)")
        );
        assert_eq!(
            declared_type(&DataType::Int64, true).as_deref(),
            Some("BIGINT")
        );
    }

    #[test]
    fn decimals_beyond_mysql_are_refused() {
        assert_eq!(declared_type(&DataType::Decimal256(76, 10), false), None);
        assert_eq!(declared_type(&DataType::Decimal128(38, 31), false), None);
        assert_eq!(
            declared_type(&DataType::Decimal128(5, -2), false).as_deref(),
            Some("DECIMAL(7,0)")
        );
        assert_eq!(
            declared_type(
                &DataType::List(std::sync::Arc::new(
                    datafusion::arrow::datatypes::Field::new("x", DataType::Int32, true)
                )),
                false
            ),
            None
        );
    }
}
