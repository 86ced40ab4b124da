//! Which Arrow types each file format stores, as one table ([`row`]).
//!
//! | Arrow type                                  | Parquet                                  | CSV                                  |
//! | ------------------------------------------- | ---------------------------------------- | ------------------------------------ |
//! | Null                                        | null column                              | empty field                          |
//! | Boolean                                     | BOOLEAN                                  | `true` / `false`                     |
//! | Int8/16/32, UInt8/16/32                     | INT32 (integer annotation)               | digits                               |
//! | Int64, UInt64                               | INT64 (integer annotation)               | digits                               |
//! | Float16/32/64                               | FLOAT16 / FLOAT / DOUBLE                 | decimal text, `NaN`, `inf`, `-inf`   |
//! | Decimal32/64/128/256                        | DECIMAL (full precision)                 | decimal text                         |
//! | Utf8, LargeUtf8, Utf8View                   | BYTE_ARRAY (STRING)                      | text, quoted when needed             |
//! | Binary, LargeBinary, BinaryView, FixedSize  | BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY        | error (hint: hex-encode it)          |
//! | Date32, Date64                              | DATE / INT64                             | `YYYY-MM-DD`                         |
//! | Time32, Time64                              | TIME                                     | `HH:MM:SS.fffffffff`                 |
//! | Timestamp (with or without time zone)       | TIMESTAMP (zone kept in the Arrow schema) | ISO 8601 (`+00:00` offset when zoned) |
//! | Duration                                    | INT64 (unit kept in the Arrow schema)    | ISO 8601 duration text               |
//! | Interval YearMonth, DayTime                 | INTERVAL                                 | text                                 |
//! | Interval MonthDayNano                       | error (Parquet has no nanosecond interval) | text                               |
//! | Dictionary, RunEndEncoded                   | as their value type                      | as their value type                  |
//! | List, LargeList, FixedSizeList, ListView, Struct, Map | nested group (children checked) | error (hint: flatten in SQL)        |
//! | Union                                       | error                                    | error                                |
//!
//! The Arrow schema is embedded in every Parquet file, so a Parquet round trip
//! gives back the exact Arrow types. CSV keeps text only: reading infers the
//! types from the data (DataFusion's default), and an empty string cannot be
//! told from NULL (both are read back as NULL).

use datafusion::arrow::datatypes::{DataType, IntervalUnit, Schema};

use crate::engines::dialect::{Dialect, ForeignKeyDdl};
use crate::error::{EngineError, EngineResult};
use crate::model::EngineKind;

/// How one format keeps one Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored, described as the format's type.
    As(&'static str),
    /// Stored as its children / value type, each checked in turn.
    AsChildren(&'static str),
    /// Not storable: why, and what to do instead.
    No {
        why: &'static str,
        hint: &'static str,
    },
}

/// One row of the table: how Parquet and CSV store an Arrow type.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub parquet: Stored,
    pub csv: Stored,
}

const CSV_BINARY: Stored = Stored::No {
    why: "CSV cannot store binary values",
    hint: "encode the column as text in the step's SQL, e.g. encode(col, 'hex') or encode(col, 'base64'), or write Parquet",
};
const CSV_NESTED: Stored = Stored::No {
    why: "CSV cannot store nested values (lists, structs, maps)",
    hint: "flatten the column in the step's SQL (array_to_string(col, ','), or select struct fields as col['field']), or write Parquet",
};
const UNION: Stored = Stored::No {
    why: "union columns cannot be written to files",
    hint: "select one variant of the union as its own column in the step's SQL",
};

/// The table: how each format stores `data_type`.
pub fn row(data_type: &DataType) -> Row {
    use DataType::*;
    let (parquet, csv) = match data_type {
        Null => (Stored::As("null"), Stored::As("empty field")),
        Boolean => (Stored::As("BOOLEAN"), Stored::As("true/false")),
        Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 => {
            (Stored::As("INT32"), Stored::As("digits"))
        }
        Int64 | UInt64 => (Stored::As("INT64"), Stored::As("digits")),
        Float16 => (Stored::As("FLOAT16"), Stored::As("decimal text")),
        Float32 => (Stored::As("FLOAT"), Stored::As("decimal text")),
        Float64 => (Stored::As("DOUBLE"), Stored::As("decimal text")),
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => {
            (Stored::As("DECIMAL"), Stored::As("decimal text"))
        }
        Utf8 | LargeUtf8 | Utf8View => (Stored::As("STRING"), Stored::As("text")),
        Binary | LargeBinary | BinaryView => (Stored::As("BYTE_ARRAY"), CSV_BINARY),
        FixedSizeBinary(_) => (Stored::As("FIXED_LEN_BYTE_ARRAY"), CSV_BINARY),
        Date32 => (Stored::As("DATE"), Stored::As("YYYY-MM-DD")),
        Date64 => (Stored::As("INT64 (date64)"), Stored::As("YYYY-MM-DD")),
        Time32(_) | Time64(_) => (Stored::As("TIME"), Stored::As("HH:MM:SS.f")),
        Timestamp(_, _) => (Stored::As("TIMESTAMP"), Stored::As("ISO 8601")),
        Duration(_) => (Stored::As("INT64 (duration)"), Stored::As("ISO 8601 duration")),
        Interval(IntervalUnit::MonthDayNano) => (
            Stored::No {
                why: "Parquet cannot store month-day-nanosecond intervals",
                hint: "cast the column to text or split it into numbers in the step's SQL, or write CSV",
            },
            Stored::As("text"),
        ),
        Interval(_) => (Stored::As("INTERVAL"), Stored::As("text")),
        Dictionary(_, _) | RunEndEncoded(_, _) => (
            Stored::AsChildren("its value type"),
            Stored::AsChildren("its value type"),
        ),
        List(_) | LargeList(_) | FixedSizeList(..) | ListView(_) | LargeListView(_) => {
            (Stored::AsChildren("LIST"), CSV_NESTED)
        }
        Struct(_) => (Stored::AsChildren("group"), CSV_NESTED),
        Map(..) => (Stored::AsChildren("MAP"), CSV_NESTED),
        Union(..) => (UNION, UNION),
    };
    Row { parquet, csv }
}

/// Children of a nested or encoded type (checked with the same table).
fn children(data_type: &DataType) -> Vec<&DataType> {
    use DataType::*;
    match data_type {
        Dictionary(_, value) => vec![value.as_ref()],
        RunEndEncoded(_, value) => vec![value.data_type()],
        List(f)
        | LargeList(f)
        | FixedSizeList(f, _)
        | ListView(f)
        | LargeListView(f)
        | Map(f, _) => {
            vec![f.data_type()]
        }
        Struct(fields) => fields.iter().map(|f| f.data_type()).collect(),
        _ => vec![],
    }
}

/// Whether `kind` stores `data_type`; on failure, why and the hint.
pub fn check(kind: EngineKind, data_type: &DataType) -> Result<(), (&'static str, &'static str)> {
    let r = row(data_type);
    let stored = match kind {
        EngineKind::Csv => r.csv,
        _ => r.parquet,
    };
    match stored {
        Stored::As(_) => Ok(()),
        Stored::No { why, hint } => Err((why, hint)),
        Stored::AsChildren(_) => children(data_type)
            .into_iter()
            .try_for_each(|child| check(kind, child)),
    }
}

/// Checks every column of `schema`; the error names the connection, table and column.
pub fn check_schema(
    connection: &str,
    table: &str,
    kind: EngineKind,
    schema: &Schema,
) -> EngineResult<()> {
    for field in schema.fields() {
        if let Err((why, hint)) = check(kind, field.data_type()) {
            return Err(EngineError::column(
                connection,
                table,
                field.name(),
                format!("{why} (type {})\n  hint: {hint}", field.data_type()),
            ));
        }
    }
    Ok(())
}

/// The [`Dialect`] of Parquet and CSV files: a column is its Arrow type
/// (Parquet keeps it; CSV reads text back); no keys, no constraints.
#[derive(Debug, Clone, Copy)]
pub struct FileDialect(pub EngineKind);

impl Dialect for FileDialect {
    fn kind(&self) -> EngineKind {
        self.0
    }

    fn max_ident_len(&self) -> usize {
        usize::MAX
    }

    fn declared_type(&self, data_type: &DataType, _indexed: bool) -> Option<String> {
        Some(data_type.to_string())
    }

    fn stored_type(&self, data_type: &DataType, _declared: &str) -> DataType {
        match self.0 {
            EngineKind::Csv => DataType::Utf8,
            _ => data_type.clone(),
        }
    }

    fn text_type(&self, _indexed: bool) -> &'static str {
        "Utf8"
    }

    fn sized_text(&self, _n: u32, _fixed: bool, _indexed: bool) -> (String, Option<u32>) {
        ("Utf8".to_string(), None)
    }

    fn foreign_keys(&self) -> ForeignKeyDdl {
        ForeignKeyDdl::Unsupported
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{Field, Fields, TimeUnit};

    use super::*;

    #[test]
    fn parquet_stores_everything_the_project_uses() {
        let types = [
            DataType::Int8,
            DataType::UInt64,
            DataType::Float64,
            DataType::Decimal128(38, 10),
            DataType::Utf8,
            DataType::Binary,
            DataType::Date32,
            DataType::Time64(TimeUnit::Microsecond),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            DataType::Struct(Fields::from(vec![Field::new("a", DataType::Utf8, true)])),
        ];
        for t in &types {
            assert!(check(EngineKind::Parquet, t).is_ok(), "{t}");
        }
        let nano = DataType::List(Arc::new(Field::new(
            "item",
            DataType::Interval(IntervalUnit::MonthDayNano),
            true,
        )));
        assert!(check(EngineKind::Parquet, &nano).is_err());
    }

    #[test]
    fn csv_refuses_binary_and_nested_naming_the_column() {
        assert!(check(EngineKind::Csv, &DataType::Utf8).is_ok());
        assert!(check(
            EngineKind::Csv,
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        )
        .is_ok());
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("photo", DataType::Binary, true),
        ]);
        let err = check_schema("dst", "users", EngineKind::Csv, &schema)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'dst'") && err.contains("'users'") && err.contains("'photo'"));
        assert!(err.contains("hint: "), "{err}");
        let list = Schema::new(vec![Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        )]);
        let err = check_schema("dst", "t", EngineKind::Csv, &list)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'tags'") && err.contains("nested"), "{err}");
    }
}
