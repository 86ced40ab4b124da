//! `split_name(full_name)`: a person's full name as a struct
//! `{first, middle, last}`, the way the hand-written V1 -> V2 user migrations
//! split it.
//!
//! Rules, in order:
//! - Blank or NULL gives NULL (the whole struct).
//! - `Last, First Middle` (one comma) is read as such, unless what follows the
//!   comma is only a suffix (`King, Jr.`).
//! - Leading titles (`Mr`, `Mrs`, `Ms`, `Miss`, `Mx`, `Dr`, `Prof`, `Sir`,
//!   with or without a dot) are dropped.
//! - Trailing suffixes (`Jr`, `Sr`, `II`, `III`, `IV`, `PhD`, `MD`, ...) stay
//!   with the last name: `Martin Luther King Jr.` is
//!   `{Martin, Luther, King Jr.}`.
//! - Lowercase particles before the last word belong to the last name:
//!   `Ludwig van Beethoven` is `{Ludwig, NULL, van Beethoven}`.
//! - One word is a first name only; two are first and last; the words between
//!   the first and the last name are the middle name (NULL when none).
//!
//! Whitespace runs become one space; letters keep their case.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{check_count, check_text, text_array};

const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "madam",
];
const SUFFIXES: &[&str] = &[
    "jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "dds", "jnr", "snr",
];
const PARTICLES: &[&str] = &[
    "van", "von", "de", "da", "del", "della", "der", "den", "di", "du", "dos", "das", "la", "le",
    "ter", "ten", "bin", "ibn", "al", "el", "st.", "y",
];

/// The parts of a name; `None` where the name has no such part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameParts {
    pub first: Option<String>,
    pub middle: Option<String>,
    pub last: Option<String>,
}

fn bare(word: &str) -> String {
    word.trim_end_matches(['.', ',']).to_lowercase()
}

fn is_suffix(word: &str) -> bool {
    SUFFIXES.contains(&bare(word).as_str())
}

fn joined(words: &[&str]) -> Option<String> {
    (!words.is_empty()).then(|| words.join(" "))
}

/// Splits `full` by the rules of the module; `None` when it is blank.
pub fn split(full: &str) -> Option<NameParts> {
    let full = full.trim();
    if full.is_empty() {
        return None;
    }
    // `Last, First Middle`.
    if let Some((before, after)) = full.split_once(',') {
        let after_words: Vec<&str> = after.split_whitespace().collect();
        let before_words: Vec<&str> = before.split_whitespace().collect();
        if !after.contains(',')
            && !after_words.is_empty()
            && !before_words.is_empty()
            && !after_words.iter().all(|w| is_suffix(w))
        {
            let mut rest: Vec<&str> = after_words;
            while rest.len() > 1 && TITLES.contains(&bare(rest[0]).as_str()) {
                rest.remove(0);
            }
            return Some(NameParts {
                first: rest.first().map(|s| s.to_string()),
                middle: joined(&rest[1.min(rest.len())..]),
                last: joined(&before_words),
            });
        }
    }
    let mut words: Vec<&str> = full
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    while words.len() > 1 && TITLES.contains(&bare(words[0]).as_str()) {
        words.remove(0);
    }
    let mut suffixes = Vec::new();
    while words.len() > 2 && words.last().is_some_and(|w| is_suffix(w)) {
        suffixes.insert(0, words.pop().unwrap_or_default());
    }
    if words.is_empty() {
        return None;
    }
    if words.len() == 1 {
        return Some(NameParts {
            first: Some(words[0].to_string()),
            middle: None,
            last: joined(&suffixes),
        });
    }
    let mut last_start = words.len() - 1;
    while last_start > 1 && {
        let w = words[last_start - 1];
        w.chars().next().is_some_and(char::is_lowercase) && PARTICLES.contains(&bare(w).as_str())
    } {
        last_start -= 1;
    }
    let mut last: Vec<&str> = words[last_start..].to_vec();
    last.extend(suffixes);
    Some(NameParts {
        first: Some(words[0].to_string()),
        middle: joined(&words[1..last_start]),
        last: joined(&last),
    })
}

/// The `split_name` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SplitName {
    signature: Signature,
}

impl SplitName {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }

    fn fields() -> Fields {
        Fields::from(vec![
            Field::new("first", DataType::Utf8, true),
            Field::new("middle", DataType::Utf8, true),
            Field::new("last", DataType::Utf8, true),
        ])
    }
}

impl ScalarUDFImpl for SplitName {
    fn name(&self) -> &str {
        "split_name"
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
            "split_name(full_name)['first'] (or ['middle'], ['last'])",
        )?;
        check_text(self.name(), "full_name", &arg_types[0])?;
        Ok(DataType::Struct(Self::fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let names = text_array(&args.args[0], args.number_rows)?;
        let mut first = StringBuilder::new();
        let mut middle = StringBuilder::new();
        let mut last = StringBuilder::new();
        let mut valid = Vec::with_capacity(names.len());
        for name in names.iter() {
            let parts = name.and_then(split);
            valid.push(parts.is_some());
            let parts = parts.unwrap_or_default();
            first.append_option(parts.first);
            middle.append_option(parts.middle);
            last.append_option(parts.last);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(first.finish()),
            Arc::new(middle.finish()),
            Arc::new(last.finish()),
        ];
        let out = StructArray::try_new(Self::fields(), columns, Some(NullBuffer::from(valid)))?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::prelude::SessionContext;

    fn parts(first: &str, middle: Option<&str>, last: Option<&str>) -> Option<NameParts> {
        Some(NameParts {
            first: Some(first.into()),
            middle: middle.map(Into::into),
            last: last.map(Into::into),
        })
    }

    #[test]
    fn splits_the_usual_shapes() {
        assert_eq!(split("Ada Lovelace"), parts("Ada", None, Some("Lovelace")));
        assert_eq!(split("  Cher "), parts("Cher", None, None));
        assert_eq!(
            split("John Ronald Reuel Tolkien"),
            parts("John", Some("Ronald Reuel"), Some("Tolkien"))
        );
        assert_eq!(
            split("Martin Luther King Jr."),
            parts("Martin", Some("Luther"), Some("King Jr."))
        );
        assert_eq!(
            split("Ludwig van Beethoven"),
            parts("Ludwig", None, Some("van Beethoven"))
        );
        assert_eq!(
            split("Dr. Jane  Q.   Public"),
            parts("Jane", Some("Q."), Some("Public"))
        );
        assert_eq!(
            split("Lovelace, Ada King"),
            parts("Ada", Some("King"), Some("Lovelace"))
        );
        assert_eq!(
            split("Martin Luther King, Jr."),
            parts("Martin", Some("Luther"), Some("King Jr."))
        );
        assert_eq!(split("   "), None);
    }

    #[tokio::test]
    async fn returns_a_struct_with_named_fields() {
        let ctx = SessionContext::new();
        crate::register_all(&ctx, crate::Options::default());
        let batches = ctx
            .sql("SELECT split_name(n)['first'] AS f, split_name(n)['last'] AS l, split_name(n) IS NULL AS gone \
                  FROM (VALUES ('Grace Brewster Hopper'), (NULL), ('')) t(n)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let b = &batches[0];
        let f = b.column(0).as_string::<i32>();
        let l = b.column(1).as_string::<i32>();
        let gone = b.column(2).as_boolean();
        assert_eq!(f.value(0), "Grace");
        assert_eq!(l.value(0), "Hopper");
        assert!(f.is_null(1) && gone.value(1) && gone.value(2));
    }

    #[tokio::test]
    async fn checks_its_arguments() {
        let ctx = SessionContext::new();
        crate::register_all(&ctx, crate::Options::default());
        let err = ctx
            .sql("SELECT split_name('a', 'b')")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("split_name: takes 1 argument, got 2"), "{err}");
    }
}
