//! `normalize_email(text)` and `normalize_phone(text, default_region)`: one
//! canonical form per address, so uniqueness checks and joins on contacts
//! work, and NULL for what is not an address.

use std::collections::HashMap;
use std::sync::Arc;

use crate::phone::{self, Region};
use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{check_count, check_text, text_array};

/// `text` trimmed and lowercased when it is an e-mail address, else `None`.
///
/// An address is one `@` between a local part and a domain, no whitespace;
/// the local part is 1 to 64 bytes of letters, digits and
/// ``!#$%&'*+/=?^_`{|}~.-`` with no leading, trailing or doubled dot; the
/// domain is up to 253 bytes of at least two dot-separated labels of letters,
/// digits and inner hyphens, the last one not all digits. A `mailto:` prefix
/// and surrounding `<...>` are dropped.
pub fn normalize_email(text: &str) -> Option<String> {
    let mut s = text.trim();
    if let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        s = inner.trim();
    }
    if s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("mailto:"))
    {
        s = &s[7..];
    }
    let lower = s.to_lowercase();
    let (local, domain) = lower.split_once('@')?;
    if domain.contains('@') || local.is_empty() || local.len() > 64 || domain.len() > 253 {
        return None;
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    (local_ok && domain_ok).then_some(lower)
}

pub use crate::phone::normalize_phone;

/// The `normalize_email` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NormalizeEmail {
    signature: Signature,
}

impl NormalizeEmail {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for NormalizeEmail {
    fn name(&self) -> &str {
        "normalize_email"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_count(self.name(), arg_types, 1, 1, "normalize_email(email)")?;
        check_text(self.name(), "text", &arg_types[0])?;
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let text = text_array(&args.args[0], args.number_rows)?;
        let out: StringArray = text.iter().map(|t| t.and_then(normalize_email)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The `normalize_phone` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NormalizePhone {
    signature: Signature,
}

impl NormalizePhone {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

/// A region code `normalize_phone` knows, or an error naming the fix.
fn region(code: &str) -> Result<Region> {
    match phone::region(code) {
        Some(r) => Ok(r),
        None => exec_err!(
            "normalize_phone: default_region '{code}' is not a region code it knows; use an ISO 3166 alpha-2 code: {}",
            phone::REGIONS.iter().map(|r| r.code).collect::<Vec<_>>().join(", ")
        ),
    }
}

impl ScalarUDFImpl for NormalizePhone {
    fn name(&self) -> &str {
        "normalize_phone"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_count(
            self.name(),
            arg_types,
            2,
            2,
            "normalize_phone(phone, 'US') (the region numbers without +country code are read in; may be a column)",
        )?;
        check_text(self.name(), "text", &arg_types[0])?;
        check_text(self.name(), "default_region", &arg_types[1])?;
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let text = text_array(&args.args[0], rows)?;
        let regions = text_array(&args.args[1], rows)?;
        let mut known: HashMap<&str, Region> = HashMap::new();
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            if text.is_null(row) {
                out.push(None);
                continue;
            }
            let region = if regions.is_null(row) {
                None
            } else {
                let code = regions.value(row);
                match known.get(code) {
                    Some(id) => Some(*id),
                    None => {
                        let id = region(code)?;
                        known.insert(code, id);
                        Some(id)
                    }
                }
            };
            out.push(normalize_phone(text.value(row), region));
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::prelude::SessionContext;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Ada.Lovelace+news@Example.COM "),
            Some("ada.lovelace+news@example.com".into())
        );
        assert_eq!(
            normalize_email("<bob@mail.example.org>"),
            Some("bob@mail.example.org".into())
        );
        assert_eq!(normalize_email("mailto:X@Y.io"), Some("x@y.io".into()));
        for bad in [
            "",
            "n/a",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@example..com",
            ".ada@example.com",
            "ada@-x.com",
            "ada@1.2.3.4",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn in_sql_with_a_region_column() {
        let ctx = SessionContext::new();
        crate::register_all(&ctx, crate::Options::default());
        let batches = ctx
            .sql("SELECT normalize_phone(p, r) AS p, normalize_email(e) AS e FROM (VALUES \
                  ('415-555-2671', 'us', ' A@B.CO '), ('07911 123456', 'GB', 'nope'), (NULL, 'US', NULL)) t(p, r, e)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let p = batches[0].column(0).as_string::<i32>();
        let e = batches[0].column(1).as_string::<i32>();
        assert_eq!(p.value(0), "+14155552671");
        assert_eq!(p.value(1), "+447911123456");
        assert!(p.is_null(2));
        assert_eq!(e.value(0), "a@b.co");
        assert!(e.is_null(1) && e.is_null(2));
    }

    #[tokio::test]
    async fn a_wrong_region_names_the_fix() {
        let ctx = SessionContext::new();
        crate::register_all(&ctx, crate::Options::default());
        let err = ctx
            .sql("SELECT normalize_phone('415-555-2671', 'USA')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("normalize_phone: default_region 'USA' is not a region code"),
            "{err}"
        );
    }
}
