//! `mask(text, kind)` and `hash_text(text)`: anonymised values that are the
//! same on every run under one salt (so joins, uniqueness and reruns hold)
//! and cannot be recomputed without it.
//!
//! The salt is the `BARGE_SALT` environment variable (a `.env` file next to
//! the pipeline counts). It has no default: a step that calls `hash_text`, or
//! `mask` with a salted kind, fails when it is unset or empty, because a known
//! salt would let anyone rebuild the originals by hashing guesses. Keep the
//! salt secret and keep it between runs: another salt gives other values.

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::args::{check_count, check_text, scalar_text, text_array};

/// The environment variable holding the salt.
pub const SALT_VAR: &str = "BARGE_SALT";

/// The salt, checked: an error naming `function` and the variable when unset.
fn salt<'a>(function: &str, salt: &'a Option<String>) -> Result<&'a [u8]> {
    match salt.as_deref() {
        Some(s) if !s.is_empty() => Ok(s.as_bytes()),
        Some(_) => plan_err!("{function}: {SALT_VAR} is empty; set it to a long random secret (e.g. `openssl rand -hex 32`) in the environment or the pipeline's .env"),
        None => plan_err!("{function}: {SALT_VAR} is not set; {function} anonymises under a secret salt: set {SALT_VAR} to a long random secret (e.g. `openssl rand -hex 32`) in the environment or the pipeline's .env, and keep it for later runs"),
    }
}

/// HMAC-SHA-256 of `parts` (concatenated) keyed with `salt`.
fn hmac(salt: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(salt) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `hash_text`: lowercase hex of HMAC-SHA-256(salt, text).
pub fn hash_text(salt: &[u8], text: &str) -> String {
    hex(&hmac(salt, &[text.as_bytes()]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` bytes derived from `(kind, text)` under `salt`: HMAC-SHA-256 blocks of
/// `kind || 0x00 || counter (u32, big-endian) || text`.
fn stream(salt: &[u8], kind: &str, text: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut counter: u32 = 0;
    while out.len() < n {
        out.extend_from_slice(&hmac(
            salt,
            &[
                kind.as_bytes(),
                &[0],
                &counter.to_be_bytes(),
                text.as_bytes(),
            ],
        ));
        counter += 1;
    }
    out.truncate(n);
    out
}

/// The kinds of `mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// `user-<12 hex>@example.com`, from the trimmed, lowercased address.
    Email,
    /// Every digit replaced, `+`, spaces and punctuation kept.
    Phone,
    /// Letters replaced by letters (case kept), digits by digits, the rest kept.
    Text,
    /// First and last character kept, the others `*` (no salt needed).
    Partial,
}

impl MaskKind {
    const NAMES: &'static str = "'email', 'phone', 'text' or 'partial'";

    pub fn parse(kind: &str) -> Option<Self> {
        match kind.trim().to_ascii_lowercase().as_str() {
            "email" => Some(Self::Email),
            "phone" => Some(Self::Phone),
            "text" | "name" => Some(Self::Text),
            "partial" => Some(Self::Partial),
            _ => None,
        }
    }

    fn salted(self) -> bool {
        self != Self::Partial
    }
}

/// `mask(text, kind)` with the salt already checked (ignored by `Partial`).
pub fn mask(salt: &[u8], kind: MaskKind, text: &str) -> String {
    match kind {
        MaskKind::Email => {
            let canonical = text.trim().to_lowercase();
            let bytes = stream(salt, "email", &canonical, 6);
            format!("user-{}@example.com", hex(&bytes))
        }
        MaskKind::Phone => {
            let bytes = stream(salt, "phone", text, text.len());
            text.chars()
                .zip(bytes)
                .map(|(c, b)| {
                    if c.is_ascii_digit() {
                        char::from(b'0' + b % 10)
                    } else {
                        c
                    }
                })
                .collect()
        }
        MaskKind::Text => {
            let bytes = stream(salt, "text", text, text.chars().count());
            text.chars()
                .zip(bytes)
                .map(|(c, b)| {
                    if c.is_ascii_digit() {
                        char::from(b'0' + b % 10)
                    } else if c.is_uppercase() {
                        char::from(b'A' + b % 26)
                    } else if c.is_alphabetic() {
                        char::from(b'a' + b % 26)
                    } else {
                        c
                    }
                })
                .collect()
        }
        MaskKind::Partial => {
            let chars: Vec<char> = text.chars().collect();
            if chars.len() <= 2 {
                return "*".repeat(chars.len());
            }
            let mut out = String::with_capacity(text.len());
            out.push(chars[0]);
            out.extend(std::iter::repeat_n('*', chars.len() - 2));
            out.push(chars[chars.len() - 1]);
            out
        }
    }
}

/// The `mask` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Mask {
    signature: Signature,
    salt: Option<String>,
}

impl Mask {
    pub fn udf(salt: Option<String>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            salt,
        })
    }

    fn kind(value: Option<String>) -> Result<MaskKind> {
        match value {
            Some(k) => match MaskKind::parse(&k) {
                Some(kind) => Ok(kind),
                None => plan_err!("mask: kind '{k}' is not one of {}", MaskKind::NAMES),
            },
            None => plan_err!(
                "mask: kind must be a constant, one of {}: mask(email, 'email')",
                MaskKind::NAMES
            ),
        }
    }
}

impl ScalarUDFImpl for Mask {
    fn name(&self) -> &str {
        "mask"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_count(self.name(), arg_types, 2, 2, "mask(email, 'email')")?;
        check_text(self.name(), "text", &arg_types[0])?;
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let data_type = self.return_type(&types)?;
        let kind = Self::kind(scalar_text(args.scalar_arguments[1]))?;
        if kind.salted() {
            salt(self.name(), &self.salt)?;
        }
        Ok(Arc::new(Field::new(self.name(), data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let kind = match &args.args[1] {
            ColumnarValue::Scalar(s) => Self::kind(scalar_text(Some(s)))?,
            ColumnarValue::Array(_) => Self::kind(None)?,
        };
        let key: &[u8] = if kind.salted() {
            salt(self.name(), &self.salt)?
        } else {
            &[]
        };
        let text = text_array(&args.args[0], args.number_rows)?;
        let out: StringArray = text.iter().map(|t| t.map(|t| mask(key, kind, t))).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The `hash_text` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HashText {
    signature: Signature,
    salt: Option<String>,
}

impl HashText {
    pub fn udf(salt: Option<String>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::variadic_any(Volatility::Immutable),
            salt,
        })
    }
}

impl ScalarUDFImpl for HashText {
    fn name(&self) -> &str {
        "hash_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_count(self.name(), arg_types, 1, 1, "hash_text(email)")?;
        check_text(self.name(), "text", &arg_types[0])?;
        salt(self.name(), &self.salt)?;
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let key = salt(self.name(), &self.salt)?;
        let text = text_array(&args.args[0], args.number_rows)?;
        let out: StringArray = text.iter().map(|t| t.map(|t| hash_text(key, t))).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::prelude::SessionContext;

    fn ctx(salt: Option<&str>) -> SessionContext {
        let ctx = SessionContext::new();
        crate::register_all(
            &ctx,
            crate::Options {
                salt: salt.map(Into::into),
                ..Default::default()
            },
        );
        ctx
    }

    #[test]
    fn hash_text_is_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            hash_text(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn masks_keep_the_shape_and_follow_the_salt() {
        let e = mask(b"s1", MaskKind::Email, " Ada@Example.com");
        assert!(
            e.starts_with("user-") && e.ends_with("@example.com") && e.len() == 29,
            "{e}"
        );
        assert_eq!(e, mask(b"s1", MaskKind::Email, "ada@example.com"));
        assert_ne!(e, mask(b"s2", MaskKind::Email, "ada@example.com"));
        let p = mask(b"s1", MaskKind::Phone, "+1 (415) 555-2671");
        assert_eq!(p.len(), "+1 (415) 555-2671".len());
        assert!(
            p.starts_with("+") && p.contains(" (") && p.contains(") "),
            "{p}"
        );
        assert_ne!(p, "+1 (415) 555-2671");
        let t = mask(b"s1", MaskKind::Text, "Ada Lovelace-King 2");
        assert_eq!(t.chars().count(), 19);
        assert!(
            t.chars().next().unwrap().is_ascii_uppercase() && t.contains(' ') && t.contains('-')
        );
        assert_eq!(mask(b"", MaskKind::Partial, "Lovelace"), "L******e");
        assert_eq!(mask(b"", MaskKind::Partial, "Al"), "**");
    }

    #[tokio::test]
    async fn salted_functions_need_the_salt() {
        let err = ctx(None)
            .sql("SELECT hash_text('x')")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("hash_text: BARGE_SALT is not set"), "{err}");
        let err = ctx(None)
            .sql("SELECT mask('a@b.co', 'email')")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("mask: BARGE_SALT is not set"), "{err}");
        // 'partial' needs no salt.
        let batches = ctx(None)
            .sql("SELECT mask('Lovelace', 'partial')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(batches[0].column(0).as_string::<i32>().value(0), "L******e");
    }

    #[tokio::test]
    async fn in_sql() {
        let batches = ctx(Some("pepper"))
            .sql("SELECT hash_text(e) AS h, mask(e, 'email') AS m FROM (VALUES ('a@b.co'), (NULL)) t(e)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let h = batches[0].column(0).as_string::<i32>();
        assert_eq!(h.value(0), hash_text(b"pepper", "a@b.co"));
        assert!(h.is_null(1));
        let err = ctx(Some("pepper"))
            .sql("SELECT mask('x', 'ssn')")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("mask: kind 'ssn' is not one of"), "{err}");
    }
}
