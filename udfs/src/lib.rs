//! Scalar functions barge registers into every pipeline session.
//!
//! - [`map_value`]: `map_value('mapping', value [, default])` looks a value up
//!   in a `[mappings.NAME]` table of the pipeline.

pub mod map_value;

use datafusion::prelude::SessionContext;

pub use map_value::{MapValue, MappingTable};

/// Registers every barge function into `ctx`. `mappings` are the pipeline's
/// `[mappings.NAME]` tables, used by `map_value`.
pub fn register_all(ctx: &SessionContext, mappings: Vec<MappingTable>) {
    ctx.register_udf(MapValue::new(mappings).into_udf());
}
