//! Content checksums computed by MySQL/MariaDB: the canonical text of
//! `crate::checksum` for each type the server writes exactly like barge
//! (sessions run with `time_zone = '+00:00'`, so `TIMESTAMP` formats in
//! UTC), and the aggregate summing the rows' MD5 halves.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// The canonical text of `sql`, a value barge reads as `data_type`.
pub fn canonical_text(sql: &str, data_type: &DataType) -> Option<String> {
    Some(match data_type {
        t if t.is_integer() => format!("CAST({sql} AS CHAR)"),
        // The reader refuses values other than 0 and 1.
        DataType::Boolean => {
            format!("CASE WHEN ({sql}) = 1 THEN '1' WHEN ({sql}) = 0 THEN '0' END")
        }
        DataType::Decimal128(..) | DataType::Decimal256(..) => {
            let text = format!("CAST({sql} AS CHAR)");
            format!(
                "IF(LOCATE('.', {text}) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {text})), {text})"
            )
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            format!("CONVERT({sql} USING utf8mb4)")
        }
        // The reader reads the zero date as NULL.
        DataType::Date32 => format!("NULLIF(DATE_FORMAT({sql}, '%Y-%m-%d'), '0000-00-00')"),
        DataType::Timestamp(TimeUnit::Microsecond, _) => format!(
            "NULLIF(DATE_FORMAT({sql}, '%Y-%m-%d %H:%i:%s.%f'), '0000-00-00 00:00:00.000000')"
        ),
        _ => return None,
    })
}

/// `<rows>:<sum of row hashes>` over rows whose column texts are `values`.
pub fn checksum_aggregate(values: &[String]) -> String {
    let row = values
        .iter()
        .map(|v| format!("COALESCE(CONCAT(LENGTH({v}), ':', {v}), 'N')"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CONCAT(COUNT(*), ':', COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT({row})), 1, 16), 16, 10) AS UNSIGNED)), 0))"
    )
}
