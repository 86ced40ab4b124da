//! Differing rows by key, for `barge validate --sample N`. Only the rows of
//! the key buckets whose checksums differ are read into memory (a bucket is
//! one 1024th of the keys), so a few differences in a large table cost a
//! few buckets' rows.

use std::collections::{BTreeMap, HashSet};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;

use crate::checksum::{bucket_of, RowHasher};
use crate::config::StepConfig;
use crate::error::{describe_datafusion, Error};
use crate::session::step_error;

/// A row of a sampled bucket: its key as text, its hash, its values as text.
#[derive(Debug, Clone)]
pub struct SampledRow {
    pub key: String,
    pub hash: u64,
    pub row: String,
}

/// A row that differs between source and target.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowDiff {
    /// `id=5` (the whole row when the step has no key).
    pub key: String,
    /// `missing in target`, `extra in target`, or `differs`.
    pub kind: String,
    pub source: Option<String>,
    pub target: Option<String>,
}

/// The rows of `sql` whose key falls in one of `buckets`.
pub async fn collect(
    ctx: &SessionContext,
    step: &StepConfig,
    sql: &str,
    key: &[usize],
    buckets: &[usize],
) -> Result<Vec<SampledRow>, Error> {
    let wanted: HashSet<usize> = buckets.iter().copied().collect();
    let mut stream = super::stream(ctx, step, sql).await?;
    let mut hasher = RowHasher::default();
    let mut rows = Vec::new();
    let fail = |e: String| step_error(step, format!("cannot sample `{sql}`: {e}"), None);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| fail(describe_datafusion(&e)))?;
        let hashes = hasher
            .hash_rows(batch.columns())
            .map_err(|e| fail(e.to_string()))?;
        let key_hashes = if key.is_empty() {
            hashes.clone()
        } else {
            let columns: Vec<ArrayRef> = key.iter().map(|&i| batch.column(i).clone()).collect();
            hasher
                .hash_rows(&columns)
                .map_err(|e| fail(e.to_string()))?
        };
        let picked: Vec<usize> = (0..batch.num_rows())
            .filter(|&r| wanted.contains(&bucket_of(key_hashes[r])))
            .collect();
        if picked.is_empty() {
            continue;
        }
        let texts = RowText::new(&batch).map_err(|e| fail(e.to_string()))?;
        for r in picked {
            let row = texts.render(r, None);
            rows.push(SampledRow {
                key: if key.is_empty() {
                    row.clone()
                } else {
                    texts.render(r, Some(key))
                },
                hash: hashes[r],
                row,
            });
        }
    }
    Ok(rows)
}

const FORMAT: FormatOptions<'static> = FormatOptions::new().with_null("NULL");

/// Values of a batch as text: NULL as `NULL`, text quoted (so an empty
/// string and a cut one show).
struct RowText<'a> {
    batch: &'a RecordBatch,
    formatters: Vec<ArrayFormatter<'a>>,
}

impl<'a> RowText<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self, datafusion::arrow::error::ArrowError> {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FORMAT))
            .collect::<Result<_, _>>()?;
        Ok(Self { batch, formatters })
    }

    fn value(&self, column: usize, row: usize) -> String {
        let array = self.batch.column(column);
        if array.is_null(row) {
            return "NULL".into();
        }
        match array.data_type() {
            DataType::Utf8 => format!("{:?}", array.as_string::<i32>().value(row)),
            DataType::LargeUtf8 => format!("{:?}", array.as_string::<i64>().value(row)),
            DataType::Utf8View => format!("{:?}", array.as_string_view().value(row)),
            _ => self.formatters[column].value(row).to_string(),
        }
    }

    fn render(&self, row: usize, columns: Option<&[usize]>) -> String {
        let all: Vec<usize> = (0..self.batch.num_columns()).collect();
        columns
            .unwrap_or(&all)
            .iter()
            .map(|&c| {
                format!(
                    "{}={}",
                    self.batch.schema().field(c).name(),
                    self.value(c, row)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Up to `limit` differences between the sampled source and target rows.
pub fn differences(source: Vec<SampledRow>, target: Vec<SampledRow>, limit: usize) -> Vec<RowDiff> {
    let mut by_key: BTreeMap<String, (Vec<SampledRow>, Vec<SampledRow>)> = BTreeMap::new();
    for row in source {
        by_key.entry(row.key.clone()).or_default().0.push(row);
    }
    for row in target {
        by_key.entry(row.key.clone()).or_default().1.push(row);
    }
    let mut diffs = Vec::new();
    for (key, (mut s, mut t)) in by_key {
        // Rows equal on both sides cancel out.
        s.retain(|row| match t.iter().position(|o| o.hash == row.hash) {
            Some(i) => {
                t.swap_remove(i);
                false
            }
            None => true,
        });
        let (mut s, mut t) = (s.into_iter(), t.into_iter());
        loop {
            let diff = match (s.next(), t.next()) {
                (None, None) => break,
                (Some(a), Some(b)) => RowDiff {
                    key: key.clone(),
                    kind: "differs".into(),
                    source: Some(a.row),
                    target: Some(b.row),
                },
                (Some(a), None) => RowDiff {
                    key: key.clone(),
                    kind: "missing in target".into(),
                    source: Some(a.row),
                    target: None,
                },
                (None, Some(b)) => RowDiff {
                    key: key.clone(),
                    kind: "extra in target".into(),
                    source: None,
                    target: Some(b.row),
                },
            };
            diffs.push(diff);
            if diffs.len() >= limit {
                return diffs;
            }
        }
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, hash: u64, text: &str) -> SampledRow {
        SampledRow {
            key: key.into(),
            hash,
            row: text.into(),
        }
    }

    #[test]
    fn pairs_rows_by_key() {
        let source = vec![
            row("id=1", 1, "a"),
            row("id=2", 2, "b"),
            row("id=3", 3, "c"),
        ];
        let target = vec![
            row("id=1", 1, "a"),
            row("id=2", 9, "B"),
            row("id=4", 4, "d"),
        ];
        let diffs = differences(source, target, 10);
        let kinds: Vec<(&str, &str)> = diffs
            .iter()
            .map(|d| (d.key.as_str(), d.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("id=2", "differs"),
                ("id=3", "missing in target"),
                ("id=4", "extra in target")
            ]
        );
        assert_eq!(diffs[0].target.as_deref(), Some("B"));
        let first = differences(vec![row("k", 1, "x"), row("l", 2, "y")], vec![], 1);
        assert_eq!(first.len(), 1);
    }
}
