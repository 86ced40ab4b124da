//! `map_value(mapping, value [, default])`: maps a value through a named
//! mapping table. Without a default, values missing from the mapping fail the
//! query and the error lists them (up to 20) with their counts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{cast, concat, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

/// Most unmapped values an error lists.
const MAX_LISTED: usize = 20;

/// One mapping: keys (compared as text) and their values, one per key.
#[derive(Debug, Clone)]
pub struct MappingTable {
    pub name: String,
    index: HashMap<String, u32>,
    values: ArrayRef,
}

impl MappingTable {
    /// A mapping from `keys[i]` to `values[i]`.
    pub fn new(name: impl Into<String>, keys: Vec<String>, values: ArrayRef) -> Result<Self> {
        let name = name.into();
        if keys.len() != values.len() {
            return plan_err!(
                "mapping '{name}': {} keys but {} values",
                keys.len(),
                values.len()
            );
        }
        let index = keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, i as u32))
            .collect();
        Ok(Self {
            name,
            index,
            values,
        })
    }

    pub fn data_type(&self) -> &DataType {
        self.values.data_type()
    }
}

/// The `map_value` scalar function over a pipeline's mappings.
#[derive(Debug)]
pub struct MapValue {
    signature: Signature,
    mappings: BTreeMap<String, MappingTable>,
}

impl PartialEq for MapValue {
    fn eq(&self, other: &Self) -> bool {
        self.mappings.keys().eq(other.mappings.keys())
    }
}
impl Eq for MapValue {}
impl std::hash::Hash for MapValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.mappings.keys().for_each(|k| k.hash(state));
    }
}

impl MapValue {
    pub fn new(mappings: Vec<MappingTable>) -> Self {
        Self {
            signature: Signature::one_of(
                vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Immutable,
            ),
            mappings: mappings.into_iter().map(|m| (m.name.clone(), m)).collect(),
        }
    }

    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }

    fn mapping(&self, name: Option<&ScalarValue>) -> Result<&MappingTable> {
        let name = match name {
            Some(ScalarValue::Utf8(Some(n)))
            | Some(ScalarValue::LargeUtf8(Some(n)))
            | Some(ScalarValue::Utf8View(Some(n))) => n,
            _ => return plan_err!("map_value: the first argument must be a mapping name in quotes, e.g. map_value('status', status)"),
        };
        self.mappings.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.mappings.keys().map(String::as_str).collect();
            datafusion::error::DataFusionError::Plan(format!(
                "map_value: no mapping named '{name}'; add [mappings.{name}] to the pipeline (defined: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))
        })
    }
}

impl ScalarUDFImpl for MapValue {
    fn name(&self) -> &str {
        "map_value"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        plan_err!("map_value: return type depends on the mapping name")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let mapping = self.mapping(args.scalar_arguments.first().copied().flatten())?;
        Ok(Arc::new(Field::new(
            self.name(),
            mapping.data_type().clone(),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = match &args.args[0] {
            ColumnarValue::Scalar(s) => Some(s.clone()),
            ColumnarValue::Array(_) => None,
        };
        let mapping = self.mapping(name.as_ref())?;
        let values = args.args[1].to_array(args.number_rows)?;
        let keys = cast(&values, &DataType::Utf8)?;
        let keys = keys.as_string::<i32>();
        let default_slot = mapping.values.len() as u32;
        let has_default = args.args.len() == 3;

        let mut missing: HashMap<&str, usize> = HashMap::new();
        let indices: UInt32Array = keys
            .iter()
            .map(|k| {
                let k = k?;
                match mapping.index.get(k) {
                    Some(&i) => Some(i),
                    None if has_default => Some(default_slot),
                    None => {
                        *missing.entry(k).or_default() += 1;
                        None
                    }
                }
            })
            .collect();
        if !missing.is_empty() {
            let mut listed: Vec<(&str, usize)> = missing.into_iter().collect();
            listed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let total = listed.len();
            let shown = listed
                .iter()
                .take(MAX_LISTED)
                .map(|(v, n)| format!("'{v}' ({n} row{})", if *n == 1 { "" } else { "s" }))
                .collect::<Vec<_>>()
                .join(", ");
            let more = if total > MAX_LISTED {
                format!(" and {} more", total - MAX_LISTED)
            } else {
                String::new()
            };
            return exec_err!(
                "map_value('{}'): {total} value(s) have no mapping: {shown}{more}; add them to [mappings.{}] or give a default: map_value('{}', value, default)",
                mapping.name, mapping.name, mapping.name
            );
        }
        let table = if has_default {
            let default = args.args[2].to_array(1)?;
            let default = cast(&default.slice(0, 1), mapping.data_type())?;
            concat(&[mapping.values.as_ref(), default.as_ref()])?
        } else {
            mapping.values.clone()
        };
        Ok(ColumnarValue::Array(take(&table, &indices, None)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::prelude::SessionContext;

    fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        let status = MappingTable::new(
            "status",
            vec!["NEW".into(), "PAID".into()],
            Arc::new(Int64Array::from(vec![1, 2])),
        )
        .unwrap();
        crate::register_all(
            &ctx,
            crate::Options {
                mappings: vec![status],
                ..Default::default()
            },
        );
        ctx
    }

    #[tokio::test]
    async fn maps_values_and_nulls() {
        let batches = ctx()
            .sql("SELECT map_value('status', s) AS id FROM (VALUES ('PAID'), ('NEW'), (NULL)) t(s)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let ids = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(ids.iter().collect::<Vec<_>>(), vec![Some(2), Some(1), None]);
    }

    #[tokio::test]
    async fn default_covers_missing_values() {
        let batches = ctx()
            .sql("SELECT map_value('status', s, 0) AS id FROM (VALUES ('LOST'), ('NEW')) t(s)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let ids = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(ids.iter().collect::<Vec<_>>(), vec![Some(0), Some(1)]);
    }

    #[tokio::test]
    async fn missing_values_fail_with_their_counts() {
        let err = ctx()
            .sql("SELECT map_value('status', s) FROM (VALUES ('LOST'), ('LOST'), ('NEW'), ('GONE')) t(s)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("'LOST' (2 rows), 'GONE' (1 row)"), "{err}");
        assert!(err.contains("[mappings.status]"), "{err}");
    }

    #[tokio::test]
    async fn unknown_mapping_is_a_plan_error() {
        let err = ctx()
            .sql("SELECT map_value('nope', 'x')")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no mapping named 'nope'"), "{err}");
    }
}
