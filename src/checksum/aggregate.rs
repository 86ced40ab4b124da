//! `barge_checksum(column, ...)`: the content checksum ([`super`])
//! as an aggregate function, so DataFusion's plan decides where it runs.
//! When the rows come from one SQL connection that can compute it
//! (`SqlSource::checksum_aggregate`), the source-query push-down rule sends
//! it into the engine with the rest of the query and one row comes back;
//! otherwise this accumulator hashes the rows as they stream by.
//!
//! Its value is the text `<rows>:<sum>`, as the engines write it (see
//! [`Checksum::parse_engine_result`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::{Checksum, RowHasher};

/// The function's name in SQL.
pub const CHECKSUM_FUNCTION: &str = "barge_checksum";

/// The `barge_checksum` aggregate, to register on a session.
pub fn checksum_udaf() -> AggregateUDF {
    AggregateUDF::from(ChecksumFunction {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ChecksumFunction {
    signature: Signature,
}

impl AggregateUDFImpl for ChecksumFunction {
    fn name(&self) -> &str {
        CHECKSUM_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<ChecksumAccumulator>::default())
    }

    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new("rows", DataType::UInt64, false)),
            Arc::new(Field::new("sum", DataType::UInt64, false)),
        ])
    }
}

#[derive(Debug, Default)]
struct ChecksumAccumulator {
    checksum: Checksum,
    hasher: RowHasher,
}

impl Accumulator for ChecksumAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let hashes = self
            .hasher
            .hash_rows(values)
            .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
        self.checksum.add(&hashes, &hashes);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Utf8(Some(format!(
            "{}:{}",
            self.checksum.rows, self.checksum.sum
        ))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.checksum.rows)),
            ScalarValue::UInt64(Some(self.checksum.sum)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [rows, sums] = states else {
            return Err(DataFusionError::Internal(format!(
                "{CHECKSUM_FUNCTION}: expected 2 state columns, got {}",
                states.len()
            )));
        };
        let (rows, sums) = (
            rows.as_primitive::<UInt64Type>(),
            sums.as_primitive::<UInt64Type>(),
        );
        for i in 0..rows.len() {
            if !rows.is_null(i) {
                self.checksum.merge(rows.value(i), sums.value(i));
            }
        }
        Ok(())
    }
}
