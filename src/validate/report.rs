//! What `barge validate` found: per step, each side's rows and checksum and
//! the verdict, as a table for people and JSON (`--json FILE`) for machines.

use std::path::Path;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use serde::Serialize;

use super::sample::RowDiff;
use crate::checksum::Checksum;
use crate::config::StepConfig;
use crate::engines::ReadSnapshot;
use crate::error::Error;

/// Rows and checksum of one side (source, stage or target).
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub rows: Option<u64>,
    pub checksum: Option<String>,
    /// Where the checksum was computed: the connection whose engine ran it,
    /// or `barge` (the rows streamed through barge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_in: Option<String>,
    /// Why the side has no figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Side {
    pub fn of(rows: u64, checksum: String) -> Self {
        Self {
            rows: Some(rows),
            checksum: Some(checksum),
            computed_in: None,
            note: None,
        }
    }

    /// A side whose checksum was computed where `computed` says.
    pub fn computed(computed: &super::Computed) -> Self {
        Self {
            computed_in: Some(computed.computed_in.clone()),
            ..Self::of(computed.checksum.rows, computed.checksum.hex())
        }
    }

    pub fn missing(note: &str) -> Self {
        Self {
            rows: None,
            checksum: None,
            computed_in: None,
            note: Some(note.to_string()),
        }
    }

    /// This side's rows less `other`'s (checksums are sums modulo 2^64).
    fn less(&self, other: &Side) -> Side {
        let sum = |c: &Option<String>| c.as_deref().map_or(0, Checksum::sum_of_hex);
        Side {
            rows: self.rows.zip(other.rows).map(|(a, b)| a.saturating_sub(b)),
            checksum: Some(format!(
                "{:016x}",
                sum(&self.checksum).wrapping_sub(sum(&other.checksum))
            )),
            computed_in: None,
            note: None,
        }
    }

    fn agrees(&self, other: &Side) -> bool {
        self.rows.is_some() && self.rows == other.rows && self.checksum == other.checksum
    }
}

/// The validation of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepValidation {
    pub step: String,
    /// The target table, `connection.table`.
    pub table: String,
    pub source: Option<Side>,
    /// `None` when the run was not staged.
    pub stage: Option<Side>,
    /// Rows the load set aside (`max_rejects`), from `rejects_file`: the
    /// target should hold the source's rows less these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Side>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_file: Option<String>,
    pub target: Option<Side>,
    /// `match` or `mismatch` (or `error`, with `error` set).
    pub result: String,
    /// What differs, in words.
    pub differences: Vec<String>,
    /// Differing rows (`--sample N`).
    pub samples: Vec<RowDiff>,
    pub error: Option<String>,
}

impl StepValidation {
    pub fn new(step: &StepConfig) -> Self {
        Self {
            step: step.name.clone(),
            table: step.target.to_string(),
            source: None,
            stage: None,
            rejected: None,
            rejects_file: None,
            target: None,
            result: String::new(),
            differences: Vec::new(),
            samples: Vec::new(),
            error: None,
        }
    }
}

impl StepValidation {
    /// Sets `result` and `differences` from the sides.
    pub fn decide(&mut self) {
        if let Some(e) = &self.error {
            self.result = "error".into();
            self.differences.push(e.clone());
            return;
        }
        let (Some(source), Some(target)) = (&self.source, &self.target) else {
            self.result = "error".into();
            return;
        };
        let mut differences = Vec::new();
        let (expected, less) = match &self.rejected {
            Some(rejected) if rejected.rows.is_some() => (
                source.less(rejected),
                format!(" less {} rejected", show(rejected.rows)),
            ),
            Some(rejected) => {
                differences.push(format!(
                    "rejects: {}",
                    rejected.note.as_deref().unwrap_or("unreadable")
                ));
                (source.clone(), String::new())
            }
            None => (source.clone(), String::new()),
        };
        if expected.rows != target.rows {
            differences.push(format!(
                "rows: source {}{less}, target {}",
                show(source.rows),
                show(target.rows)
            ));
        } else if expected.checksum != target.checksum {
            differences.push(format!("content: source{less} and target checksums differ"));
        }
        if let Some(stage) = &self.stage {
            match &stage.note {
                Some(note) => differences.push(format!("stage: {note}")),
                None if !stage.agrees(source) => differences.push(format!(
                    "stage: {} rows staged, checksum {} the source's",
                    show(stage.rows),
                    if stage.checksum == source.checksum {
                        "equal to"
                    } else {
                        "unlike"
                    }
                )),
                None => {}
            }
        }
        self.result = if differences.is_empty() {
            "match"
        } else {
            "mismatch"
        }
        .into();
        self.differences = differences;
    }

    pub fn matches(&self) -> bool {
        self.result == "match"
    }
}

fn show(rows: Option<u64>) -> String {
    rows.map_or("-".to_string(), |r| r.to_string())
}

/// The validation of a pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub pipeline: String,
    /// The staged run compared with, when there was one.
    pub run_id: Option<String>,
    pub steps: Vec<StepValidation>,
    /// Per source connection the steps read, whether validation read it in
    /// one snapshot.
    pub snapshots: Vec<SourceSnapshot>,
}

/// Whether validation read one source connection in one snapshot, and which.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSnapshot {
    /// The source connection.
    pub connection: String,
    /// Every read of the connection saw one snapshot.
    pub one_snapshot: bool,
    /// Which snapshot, or why the reads were not one.
    pub description: String,
}

impl SourceSnapshot {
    /// What `connection` said of its reads.
    pub fn new(connection: &str, snapshot: &ReadSnapshot) -> Self {
        let (one_snapshot, description) = match snapshot {
            ReadSnapshot::One(what) => (true, what.clone()),
            ReadSnapshot::NotOne(why) => (false, why.clone()),
        };
        Self {
            connection: connection.to_string(),
            one_snapshot,
            description,
        }
    }

    /// `source src read in one snapshot (...)` or `source src not one snapshot: ...`.
    pub fn line(&self) -> String {
        let snapshot = if self.one_snapshot {
            ReadSnapshot::One(self.description.clone())
        } else {
            ReadSnapshot::NotOne(self.description.clone())
        };
        format!("source {} {snapshot}", self.connection)
    }
}

impl ValidationReport {
    /// Steps that do not match.
    pub fn mismatched(&self) -> Vec<&StepValidation> {
        self.steps.iter().filter(|s| !s.matches()).collect()
    }

    /// Writes the report as JSON, scrubbed of secrets (see
    /// [`crate::records::write_atomically`]).
    pub fn write_json(&self, path: &Path) -> Result<(), Error> {
        crate::records::write_atomically(path, self)
    }

    /// The table printed by `barge validate`, then the differing rows.
    pub fn table(&self) -> String {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        let staged = self.steps.iter().any(|s| s.stage.is_some());
        let mut header = vec!["step", "target", "source rows"];
        if staged {
            header.push("stage rows");
        }
        header.extend([
            "target rows",
            "checksum (source)",
            "computed in (source / target)",
            "result",
        ]);
        table.set_header(header);
        for s in &self.steps {
            let rows = |side: &Option<Side>| {
                Cell::new(side.as_ref().map_or("-".into(), |x| show(x.rows)))
                    .set_alignment(CellAlignment::Right)
            };
            let source_rows = match s.rejected.as_ref().and_then(|r| r.rows) {
                Some(rejected) => Cell::new(format!(
                    "{} ({rejected} rejected)",
                    s.source.as_ref().map_or("-".into(), |x| show(x.rows))
                ))
                .set_alignment(CellAlignment::Right),
                None => rows(&s.source),
            };
            let mut row = vec![Cell::new(&s.step), Cell::new(&s.table), source_rows];
            if staged {
                row.push(rows(&s.stage));
            }
            row.push(rows(&s.target));
            row.push(Cell::new(
                s.source
                    .as_ref()
                    .and_then(|x| x.checksum.as_deref())
                    .map_or("-", |c| &c[..c.len().min(16)]),
            ));
            let computed_in = |side: &Option<Side>| {
                side.as_ref()
                    .and_then(|x| x.computed_in.clone())
                    .unwrap_or_else(|| "-".into())
            };
            row.push(Cell::new(format!(
                "{} / {}",
                computed_in(&s.source),
                computed_in(&s.target)
            )));
            row.push(Cell::new(&s.result));
            table.add_row(row);
        }
        let mut text = table.to_string();
        for s in self.steps.iter().filter(|s| !s.matches()) {
            text.push_str(&format!(
                "\n{} ({}): {}",
                s.step,
                s.table,
                s.differences.join("; ")
            ));
            for d in &s.samples {
                text.push_str(&format!("\n  {} {}", d.kind, d.key));
                if let Some(r) = &d.source {
                    text.push_str(&format!("\n    source: {r}"));
                }
                if let Some(r) = &d.target {
                    text.push_str(&format!("\n    target: {r}"));
                }
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lines_say_which_snapshot_or_why_none() {
        let one = ReadSnapshot::One("PostgreSQL exported snapshot 00000003-0000001B-1".into());
        assert_eq!(
            SourceSnapshot::new("src", &one).line(),
            "source src read in one snapshot (PostgreSQL exported snapshot 00000003-0000001B-1)"
        );
        let off = crate::engines::SnapshotMode::Off
            .why_not()
            .unwrap_or_default();
        let none = SourceSnapshot::new("src", &ReadSnapshot::NotOne(off.into()));
        assert!(!none.one_snapshot);
        assert_eq!(
            none.line(),
            "source src not one snapshot: snapshot = false: each read sees the data as it is when it runs"
        );
    }
}
