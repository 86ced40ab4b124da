//! Content checksums computed by DuckDB: the canonical text of
//! `crate::checksum` for each type DuckDB writes exactly like barge, and
//! the aggregate summing the rows' MD5 halves.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// The canonical text of `sql`, a value barge reads as `data_type`.
pub fn canonical_text(sql: &str, data_type: &DataType) -> Option<String> {
    Some(match data_type {
        t if t.is_integer() => format!("CAST({sql} AS VARCHAR)"),
        DataType::Boolean => format!("CASE WHEN ({sql}) THEN '1' WHEN NOT ({sql}) THEN '0' END"),
        DataType::Decimal128(..) | DataType::Decimal256(..) => {
            let text = format!("CAST({sql} AS VARCHAR)");
            format!("CASE WHEN contains({text}, '.') THEN rtrim(rtrim({text}, '0'), '.') ELSE {text} END")
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            format!("CAST({sql} AS VARCHAR)")
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            format!("lower(hex({sql}))")
        }
        DataType::Date32 => format!("strftime({sql}, '%Y-%m-%d')"),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            format!("strftime({sql}, '%Y-%m-%d %H:%M:%S.%f')")
        }
        // The instant in UTC, whatever the session's TimeZone.
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            format!("strftime(make_timestamp(epoch_us({sql})), '%Y-%m-%d %H:%M:%S.%f')")
        }
        _ => return None,
    })
}

/// `<rows>:<sum of row hashes>` over rows whose column texts are `values`.
pub fn checksum_aggregate(values: &[String]) -> String {
    let row = values
        .iter()
        .map(|v| format!("COALESCE(CAST(strlen({v}) AS VARCHAR) || ':' || {v}, 'N')"))
        .collect::<Vec<_>>()
        .join(" || ");
    format!(
        "CAST(COUNT(*) AS VARCHAR) || ':' || CAST(COALESCE(SUM(CAST('0x' || substr(md5({row}), 1, 16) AS UBIGINT)), 0) AS VARCHAR)"
    )
}
