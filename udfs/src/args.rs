//! Argument checking shared by the functions: every message names the
//! function, the argument and how to call it.

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::{can_cast_types, cast};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

/// Fails unless `types.len()` is within `min..=max`; `usage` shows a call.
pub(crate) fn check_count(
    function: &str,
    types: &[DataType],
    min: usize,
    max: usize,
    usage: &str,
) -> Result<()> {
    let n = types.len();
    if n < min || n > max {
        let expected = match (min, max) {
            (a, b) if a == b => format!("{a}"),
            (a, usize::MAX) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        return plan_err!(
            "{function}: takes {expected} argument{}, got {n}; call it as {usage}",
            if expected == "1" { "" } else { "s" }
        );
    }
    Ok(())
}

/// Fails unless `data_type` (argument `arg` of `function`) can be read as text.
pub(crate) fn check_text(function: &str, arg: &str, data_type: &DataType) -> Result<()> {
    if can_cast_types(data_type, &DataType::Utf8) {
        Ok(())
    } else {
        plan_err!("{function}: {arg} must be text (or a value with a text form), not {data_type}; CAST it to VARCHAR first")
    }
}

/// Fails unless `data_type` (argument `arg` of `function`) is an integer.
pub(crate) fn check_integer(function: &str, arg: &str, data_type: &DataType) -> Result<()> {
    if data_type.is_integer() || data_type == &DataType::Null {
        Ok(())
    } else {
        plan_err!("{function}: {arg} must be an integer, not {data_type}")
    }
}

/// Argument `value` as a text array of `rows` rows (a scalar is repeated).
pub(crate) fn text_array(value: &ColumnarValue, rows: usize) -> Result<StringArray> {
    let array: ArrayRef = value.to_array(rows)?;
    let text = cast(&array, &DataType::Utf8)?;
    Ok(text.as_string::<i32>().clone())
}

/// A constant text argument: `Ok(None)` when it is a column or NULL.
pub(crate) fn scalar_text(value: Option<&ScalarValue>) -> Option<String> {
    match value? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        _ => None,
    }
}
