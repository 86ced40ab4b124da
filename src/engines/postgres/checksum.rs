//! Content checksums computed by PostgreSQL: the canonical text of
//! `crate::checksum` for each type PostgreSQL writes exactly like barge,
//! and the aggregate summing the rows' MD5 halves.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// The canonical text of `sql`, a value barge reads as `data_type` (the
/// casts are those of the reader: `types::natural_typname`).
pub fn canonical_text(sql: &str, data_type: &DataType) -> Option<String> {
    const TIMESTAMP: &str = "'YYYY-MM-DD HH24:MI:SS.US'";
    Some(match data_type {
        t if t.is_integer() => format!("({sql})::text"),
        DataType::Boolean => format!("CASE WHEN ({sql}) THEN '1' WHEN NOT ({sql}) THEN '0' END"),
        DataType::Decimal128(..) | DataType::Decimal256(..) => {
            format!("trim_scale(({sql})::numeric)::text")
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => format!("({sql})::text"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            format!("encode(({sql})::bytea, 'hex')")
        }
        DataType::Date32 => format!("to_char(({sql})::date, 'YYYY-MM-DD')"),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            format!("to_char(({sql})::timestamp, {TIMESTAMP})")
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            format!("to_char(({sql})::timestamptz AT TIME ZONE 'UTC', {TIMESTAMP})")
        }
        _ => return None,
    })
}

/// `<rows>:<sum of row hashes>` over rows whose column texts are `values`.
pub fn checksum_aggregate(values: &[String]) -> String {
    let row = values
        .iter()
        .map(|v| format!("COALESCE(octet_length({v})::text || ':' || {v}, 'N')"))
        .collect::<Vec<_>>()
        .join(" || ");
    format!(
        "COUNT(*)::text || ':' || COALESCE(SUM(('x' || substr(md5({row}), 1, 16))::bit(64)::bigint), 0)::text"
    )
}
