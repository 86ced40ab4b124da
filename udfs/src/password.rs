//! `hash_password(text)` and `random_password([len])`: credentials for
//! accounts a migration creates (the V1 -> V2 user split gave every new user
//! a generated 12-character password and stored only its hash).
//!
//! - `hash_password` is Argon2id with the argon2 crate's defaults (19 MiB,
//!   2 passes, 1 lane: the OWASP recommendation) and a fresh 16-byte salt
//!   from the operating system's CSPRNG per value, as a PHC string
//!   (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) that PHC-aware
//!   verifiers (libsodium, passlib, Spring, the `argon2` crates) accept. Each
//!   hash costs tens of milliseconds by design: a batch is spread over every
//!   core.
//! - `random_password(len)` draws `len` characters (default 12, 8 to 256)
//!   from `A-Z a-z 0-9` with the operating system's CSPRNG, without modulo
//!   bias, and at least one upper-case letter, one lower-case letter and one
//!   digit.
//!
//! Both differ on every call (volatile): a rerun produces other values.

use std::sync::Arc;

use argon2::{Argon2, PasswordHasher};
use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::args::{check_count, check_integer, check_text, text_array};

/// Length of `random_password()`.
pub const DEFAULT_PASSWORD_LEN: i64 = 12;
const MIN_LEN: i64 = 8;
const MAX_LEN: i64 = 256;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_bytes(function: &str, n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| {
        DataFusionError::Execution(format!(
            "{function}: the operating system's random source failed: {e}"
        ))
    })?;
    Ok(buf)
}

/// A PHC string of `password` under a fresh random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = random_bytes("hash_password", 16)?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DataFusionError::Execution(format!("hash_password: {e}")))
}

/// A random password of `len` characters (see the module).
pub fn random_password(len: usize) -> Result<String> {
    loop {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            for b in random_bytes("random_password", len * 2)? {
                // 248 = 4 * 62: bytes above it are dropped, so no character is favoured.
                if b < 248 && out.len() < len {
                    out.push(char::from(ALPHABET[(b % 62) as usize]));
                }
            }
        }
        let has = |f: fn(&char) -> bool| out.chars().any(|c| f(&c));
        if has(char::is_ascii_uppercase)
            && has(char::is_ascii_lowercase)
            && has(char::is_ascii_digit)
        {
            return Ok(out);
        }
    }
}

/// The `hash_password` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HashPassword {
    signature: Signature,
}

impl HashPassword {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::variadic_any(Volatility::Volatile),
        })
    }
}

impl ScalarUDFImpl for HashPassword {
    fn name(&self) -> &str {
        "hash_password"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_count(
            self.name(),
            arg_types,
            1,
            1,
            "hash_password(password), e.g. hash_password(random_password(12))",
        )?;
        check_text(self.name(), "text", &arg_types[0])?;
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = text_array(&args.args[0], args.number_rows)?;
        let rows = text.len();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(rows.max(1));
        let chunk = rows.div_ceil(threads).max(1);
        let hashes: Vec<Option<String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..rows)
                .step_by(chunk)
                .map(|start| {
                    let text = &text;
                    scope.spawn(move || {
                        (start..(start + chunk).min(rows))
                            .map(|i| {
                                if text.is_null(i) {
                                    Ok(None)
                                } else {
                                    hash_password(text.value(i)).map(Some)
                                }
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(rows);
            for h in handles {
                match h.join() {
                    Ok(part) => out.extend(part?),
                    Err(_) => return exec_err!("hash_password: a hashing thread panicked"),
                }
            }
            Ok(out)
        })?;
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(hashes))))
    }
}

/// The `random_password` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RandomPassword {
    signature: Signature,
}

impl RandomPassword {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::Any(1)],
                Volatility::Volatile,
            ),
        })
    }
}

fn length(value: Option<i64>) -> Result<usize> {
    match value {
        Some(n) if (MIN_LEN..=MAX_LEN).contains(&n) => Ok(n as usize),
        Some(n) => plan_err!(
            "random_password: len {n} is out of range; give {MIN_LEN} to {MAX_LEN} (default {DEFAULT_PASSWORD_LEN})"
        ),
        None => plan_err!("random_password: len is NULL; give a length such as 12, or call random_password()"),
    }
}

impl ScalarUDFImpl for RandomPassword {
    fn name(&self) -> &str {
        "random_password"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_count(
            self.name(),
            arg_types,
            0,
            1,
            "random_password() or random_password(16)",
        )?;
        if let Some(t) = arg_types.first() {
            check_integer(self.name(), "len", t)?;
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let lengths: Vec<Option<i64>> = match args.args.first() {
            None => vec![Some(DEFAULT_PASSWORD_LEN); rows],
            Some(ColumnarValue::Scalar(s)) => {
                let n = match s.cast_to(&DataType::Int64)? {
                    ScalarValue::Int64(n) => n,
                    _ => None,
                };
                vec![n; rows]
            }
            Some(ColumnarValue::Array(a)) => {
                let a = datafusion::arrow::compute::cast(a, &DataType::Int64)?;
                let a = datafusion::arrow::array::AsArray::as_primitive::<
                    datafusion::arrow::datatypes::Int64Type,
                >(&a)
                .clone();
                a.iter().collect()
            }
        };
        let out = lengths
            .into_iter()
            .map(|n| random_password(length(n)?).map(Some))
            .collect::<Result<Vec<_>>>()?;
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHash, PasswordVerifier};
    use datafusion::arrow::array::AsArray;
    use datafusion::prelude::SessionContext;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        let parsed = PasswordHash::new(&a).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong", &parsed)
            .is_err());
    }

    #[test]
    fn passwords_are_long_and_mixed() {
        for _ in 0..50 {
            let p = random_password(12).unwrap();
            assert_eq!(p.len(), 12);
            assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
        }
        assert_ne!(random_password(12).unwrap(), random_password(12).unwrap());
    }

    #[tokio::test]
    async fn in_sql() {
        let ctx = SessionContext::new();
        crate::register_all(&ctx, crate::Options::default());
        let batches = ctx
            .sql(
                "SELECT random_password() AS p, random_password(20) AS q, hash_password(x) AS h \
                  FROM (VALUES ('a'), ('b'), (NULL)) t(x)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let b = &batches[0];
        let p = b.column(0).as_string::<i32>();
        assert_eq!(p.value(0).len(), 12);
        assert_ne!(p.value(0), p.value(1));
        assert_eq!(b.column(1).as_string::<i32>().value(2).len(), 20);
        let h = b.column(2).as_string::<i32>();
        assert!(h.value(0).starts_with("$argon2id$") && h.is_null(2));
        let err = ctx
            .sql("SELECT random_password(4)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("random_password: len 4 is out of range"),
            "{err}"
        );
    }
}
