//! Hints for a failed load: what DataFusion's and the engines' messages
//! mean for the step's columns, and what to change.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;

/// The target column DataFusion's "Invalid batch column at 'N' has null
/// but schema specifies non-nullable" is about (N counts the target's columns).
pub(super) fn null_into_not_null(message: &str, target: &SchemaRef) -> Option<String> {
    let rest = message.split("Invalid batch column at '").nth(1)?;
    if !rest.contains("has null but schema specifies non-nullable") {
        return None;
    }
    let index: usize = rest.split('\'').next()?.parse().ok()?;
    target.fields().get(index).map(|f| f.name().clone())
}

/// For a join, sort or aggregate that needed more than the memory limit
/// even with spilling (or a hash join, which cannot spill).
pub(super) fn memory_hint(e: &DataFusionError) -> Option<String> {
    matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)).then(|| {
        "the step's joins, sorts or aggregates need more memory than memory_limit gives them; raise it ([defaults].memory_limit or --memory-limit), or push the work into one source".to_string()
    })
}

/// Names the columns whose output type differs from the target's, for a
/// value that did not fit its target column.
pub(super) fn cast_hint(
    output: &SchemaRef,
    target: &SchemaRef,
    columns: &[String],
) -> Option<String> {
    let differing: Vec<String> = output
        .fields()
        .iter()
        .zip(columns)
        .filter_map(|(f, c)| {
            let t = target.field_with_name(c).ok()?;
            (t.data_type() != f.data_type())
                .then(|| format!("{c} ({} -> {})", f.data_type(), t.data_type()))
        })
        .collect();
    (!differing.is_empty()).then(|| {
        format!(
            "a value does not fit its target column; columns converted on the way: {}. CAST or filter the value in the step's SQL, or widen the target column",
            differing.join(", ")
        )
    })
}
