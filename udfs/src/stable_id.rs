//! `stable_id(namespace, table, key...)` and `stable_id_int(...)`:
//! deterministic new identifiers, so that keys and the foreign keys that point
//! at them, remapped with the same arguments, still match in the target.
//!
//! # Derivation (fixed: changing it would change every id already issued)
//!
//! 1. Each argument is taken in its text form (`CAST(x AS VARCHAR)`: the
//!    integer 42 and the text `'42'` give the same id, the decimal `42.00`
//!    does not).
//! 2. The parts are joined without ambiguity: each one is written as its
//!    length in bytes, a colon, then its bytes, one after the other. So
//!    `('prod', 'users', 42)` becomes `4:prod5:users2:42`.
//! 3. `stable_id` is the UUID version 5 of that name in the namespace
//!    [`BARGE_NAMESPACE`] (`d249d559-2b09-46c7-b9b2-2595c61f70cc`): the
//!    SHA-1 of the namespace's 16 bytes followed by the name, its first 16
//!    bytes with the version and variant bits set (RFC 9562), as lowercase
//!    hyphenated text.
//! 4. `stable_id_int` is the first 8 bytes of that same SHA-1 digest read as
//!    a big-endian integer with the top bit cleared (a positive BIGINT); 0
//!    becomes 1.
//!
//! A NULL argument gives NULL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Builder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sha1::{Digest, Sha1};
use uuid::Uuid;

use crate::args::{check_count, check_text, text_array};

/// The namespace of every `stable_id`.
pub const BARGE_NAMESPACE: Uuid = uuid::uuid!("d249d559-2b09-46c7-b9b2-2595c61f70cc");

/// The SHA-1 both functions derive from.
fn digest(parts: &[&str]) -> [u8; 20] {
    let mut hasher = Sha1::new();
    hasher.update(BARGE_NAMESPACE.as_bytes());
    for part in parts {
        hasher.update(part.len().to_string().as_bytes());
        hasher.update(b":");
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// `stable_id` of already-textual parts.
pub fn stable_uuid(parts: &[&str]) -> Uuid {
    let d = digest(parts);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// `stable_id_int` of already-textual parts.
pub fn stable_int(parts: &[&str]) -> i64 {
    let d = digest(parts);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&d[..8]);
    let n = (u64::from_be_bytes(bytes) & 0x7FFF_FFFF_FFFF_FFFF) as i64;
    if n == 0 {
        1
    } else {
        n
    }
}

/// Which of the two functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Uuid,
    Int,
}

/// The `stable_id` and `stable_id_int` scalar functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StableId {
    kind: Kind,
    signature: Signature,
}

impl StableId {
    /// `stable_id(namespace, table, key...)`: a UUID as text.
    pub fn uuid() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            kind: Kind::Uuid,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }

    /// `stable_id_int(namespace, table, key...)`: a positive BIGINT.
    pub fn int() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            kind: Kind::Int,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for StableId {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Uuid => "stable_id",
            Kind::Int => "stable_id_int",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let name = self.name();
        check_count(
            name,
            arg_types,
            3,
            usize::MAX,
            &format!("{name}('prod', 'users', id), or with more key columns: {name}('prod', 'order_lines', order_id, line_no)"),
        )?;
        for (i, t) in arg_types.iter().enumerate() {
            let arg = match i {
                0 => "namespace".to_string(),
                1 => "table".to_string(),
                n => format!("key {}", n - 1),
            };
            check_text(name, &arg, t)?;
        }
        Ok(match self.kind {
            Kind::Uuid => DataType::Utf8,
            Kind::Int => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let columns = args
            .args
            .iter()
            .map(|a| text_array(a, rows))
            .collect::<Result<Vec<StringArray>>>()?;
        let mut uuids = StringBuilder::with_capacity(rows, rows * 36);
        let mut ints = Int64Builder::with_capacity(rows);
        let mut buf = Uuid::encode_buffer();
        let mut parts: Vec<&str> = Vec::with_capacity(columns.len());
        for row in 0..rows {
            parts.clear();
            for c in &columns {
                if c.is_null(row) {
                    break;
                }
                parts.push(c.value(row));
            }
            let complete = parts.len() == columns.len();
            match (self.kind, complete) {
                (Kind::Uuid, true) => {
                    uuids.append_value(stable_uuid(&parts).hyphenated().encode_lower(&mut buf))
                }
                (Kind::Uuid, false) => uuids.append_null(),
                (Kind::Int, true) => ints.append_value(stable_int(&parts)),
                (Kind::Int, false) => ints.append_null(),
            }
        }
        let out: ArrayRef = match self.kind {
            Kind::Uuid => Arc::new(uuids.finish()),
            Kind::Int => Arc::new(ints.finish()),
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::prelude::SessionContext;

    async fn query(sql: &str) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>> {
        let ctx = SessionContext::new();
        crate::register_all(&ctx, crate::Options::default());
        ctx.sql(sql).await?.collect().await
    }

    #[test]
    fn derivation_is_fixed() {
        // Pinned values: a change here changes every id users already issued.
        assert_eq!(
            stable_uuid(&["prod", "users", "42"]).to_string(),
            stable_uuid(&["prod", "users", "42"]).to_string()
        );
        let id = stable_uuid(&["prod", "users", "42"]);
        assert_eq!(id.get_version_num(), 5);
        assert_eq!(id.to_string(), PINNED_UUID);
        assert_eq!(stable_int(&["prod", "users", "42"]), PINNED_INT);
        // The parts are joined without ambiguity.
        assert_ne!(
            stable_uuid(&["prod", "users", "42"]),
            stable_uuid(&["prod", "users4", "2"])
        );
        assert_ne!(
            stable_uuid(&["a", "b", "c"]),
            stable_uuid(&["a", "b:c", ""])
        );
    }

    /// Python agrees: `uuid.uuid5(UUID("d249d559-..."), "4:prod5:users2:42")`.
    const PINNED_UUID: &str = "30b3317e-d0b0-5245-9c58-fb428e9eaeed";
    const PINNED_INT: i64 = 3509202955388609093;

    #[tokio::test]
    async fn keys_and_foreign_keys_agree_whatever_their_type() {
        let batches = query(
            "SELECT stable_id('prod', 'users', 42) AS a, stable_id('prod', 'users', '42') AS b, \
             stable_id('prod', 'users', CAST(42 AS SMALLINT)) AS c, stable_id_int('prod', 'users', 42) AS d",
        )
        .await
        .unwrap();
        let b = &batches[0];
        let a = b.column(0).as_string::<i32>().value(0).to_string();
        assert_eq!(a, b.column(1).as_string::<i32>().value(0));
        assert_eq!(a, b.column(2).as_string::<i32>().value(0));
        assert_eq!(a, stable_uuid(&["prod", "users", "42"]).to_string());
        let n = b.column(3).as_primitive::<Int64Type>().value(0);
        assert!(n > 0);
        assert_eq!(n, stable_int(&["prod", "users", "42"]));
    }

    #[tokio::test]
    async fn composite_keys_and_nulls() {
        let batches = query(
            "SELECT stable_id_int('prod', 'lines', o, l) AS id FROM (VALUES (1, 1), (1, 2), (NULL, 2)) t(o, l)",
        )
        .await
        .unwrap();
        let ids = batches[0].column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.len(), 3);
        assert_ne!(ids.value(0), ids.value(1));
        assert!(ids.is_null(2));
    }

    #[tokio::test]
    async fn too_few_arguments_name_the_function() {
        let err = query("SELECT stable_id('prod', 42)")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stable_id: takes at least 3 arguments, got 2"),
            "{err}"
        );
    }
}
