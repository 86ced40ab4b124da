//! Scalar functions barge registers into every pipeline session, and the SQL
//! macros a pipeline declares under `[functions]`.
//!
//! - [`map_value`]: `map_value('mapping', value [, default])` looks a value up
//!   in a `[mappings.NAME]` table of the pipeline.
//! - [`stable_id`]: `stable_id(namespace, table, key...)` (UUIDv5 text) and
//!   `stable_id_int(...)` (positive BIGINT), deterministic new keys.
//! - [`split_name`]: `split_name(full_name)` -> `{first, middle, last}`.
//! - [`contact`]: `normalize_phone(text, default_region)` (E.164) and
//!   `normalize_email(text)`.
//! - [`anonymize`]: `mask(text, kind)` and `hash_text(text)` under the
//!   `BARGE_SALT` secret.
//! - [`password`]: `hash_password(text)` (Argon2id PHC string) and
//!   `random_password([len])`.
//! - [`macros`]: `[functions]` SQL macros, expanded in a statement's syntax
//!   tree before DataFusion plans it.

pub mod anonymize;
mod args;
pub mod contact;
pub mod macros;
pub mod map_value;
pub mod password;
pub mod phone;
pub mod split_name;
pub mod stable_id;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub use anonymize::SALT_VAR;
pub use macros::{MacroError, SqlMacro, SqlMacros};
pub use map_value::{MapValue, MappingTable};

/// What a session's functions need from the pipeline.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// The pipeline's `[mappings.NAME]` tables, used by `map_value`.
    pub mappings: Vec<MappingTable>,
    /// The `BARGE_SALT` secret of `mask` and `hash_text` (they fail without it).
    pub salt: Option<String>,
}

/// Every barge function, as registered by [`register_all`].
pub fn functions(options: Options) -> Vec<ScalarUDF> {
    vec![
        MapValue::new(options.mappings).into_udf(),
        stable_id::StableId::uuid(),
        stable_id::StableId::int(),
        split_name::SplitName::udf(),
        contact::NormalizePhone::udf(),
        contact::NormalizeEmail::udf(),
        anonymize::Mask::udf(options.salt.clone()),
        anonymize::HashText::udf(options.salt),
        password::HashPassword::udf(),
        password::RandomPassword::udf(),
    ]
}

/// Registers every barge function into `ctx`.
pub fn register_all(ctx: &SessionContext, options: Options) {
    for f in functions(options) {
        ctx.register_udf(f);
    }
}

/// Names of the functions [`register_all`] adds.
pub fn function_names() -> Vec<String> {
    functions(Options::default())
        .iter()
        .map(|f| f.name().to_string())
        .collect()
}
