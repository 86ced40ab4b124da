//! The run report: per step rows read and written, seconds and rows/s, as a
//! summary table for people and JSON (`--report FILE.json`) for machines.

use std::path::Path;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use serde::Serialize;

use crate::error::Error;

/// Outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// Not run because a step it depends on failed.
    Skipped,
    /// `--dry-run`: planned and counted, nothing written.
    Planned,
    /// Completed by an earlier run that this one resumes; not run again.
    DoneBefore,
    /// Stopped by Ctrl+C or SIGTERM (its load rolled back, or its committed
    /// chunks kept for the rerun).
    Interrupted,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Planned => "planned",
            StepStatus::DoneBefore => "done before",
            StepStatus::Interrupted => "interrupted",
        }
    }

    /// Whether steps that depend on this one may run.
    pub fn lets_dependents_run(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded | StepStatus::Planned | StepStatus::DoneBefore
        )
    }
}

/// What one step did.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub name: String,
    pub target: String,
    pub mode: String,
    pub status: StepStatus,
    pub rows_read: u64,
    pub rows_written: u64,
    /// Rows the target refused, set aside in `rejects_file` (`max_rejects`).
    pub rows_rejected: u64,
    /// The step's rejects file, when it set rows aside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_file: Option<String>,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// Statements run (or, with `--dry-run`, to be run) on the target before the load.
    pub target_statements: Vec<String>,
    pub error: Option<String>,
    /// Said beside the counts: a resumed step's chunks, or why a step
    /// completed earlier is not run again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl StepReport {
    /// A report of `step` with `status` and nothing counted yet.
    pub fn new(step: &crate::config::StepConfig, status: StepStatus) -> Self {
        Self {
            name: step.name.clone(),
            target: step.target.to_string(),
            mode: step.mode.to_string(),
            status,
            rows_read: 0,
            rows_written: 0,
            rows_rejected: 0,
            rejects_file: None,
            seconds: 0.0,
            rows_per_second: 0.0,
            target_statements: vec![],
            error: None,
            note: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub pipeline: String,
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    pub dry_run: bool,
    /// The run's stage directory (`DIR/<run_id>`), when staged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged_in: Option<String>,
    pub steps: Vec<StepReport>,
    /// Stopped by Ctrl+C or SIGTERM.
    pub interrupted: bool,
    /// The state file a rerun resumes from (not for dry runs and `--limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_file: Option<String>,
    /// Per connection: MySQL zero dates read as NULL (connections with none are left out).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub zero_dates_as_null: std::collections::BTreeMap<String, u64>,
}

impl RunReport {
    pub fn failed_steps(&self) -> Vec<&StepReport> {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .collect()
    }

    /// Writes the report as JSON, scrubbed of secrets (see
    /// [`crate::records::write_atomically`]).
    pub fn write_json(&self, path: &Path) -> Result<(), Error> {
        crate::records::write_atomically(path, self)
    }

    /// The summary table printed at the end of a run.
    pub fn summary_table(&self) -> String {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        let read_header = if self.dry_run {
            "rows (source)"
        } else {
            "rows read"
        };
        // The rejected column shows only when a step set rows aside.
        let rejects = self.steps.iter().any(|s| s.rows_rejected > 0);
        let mut header = vec![
            "step",
            "target",
            "mode",
            "status",
            read_header,
            "rows written",
        ];
        if rejects {
            header.push("rows rejected");
        }
        header.extend(["seconds", "rows/s"]);
        table.set_header(header);
        for s in &self.steps {
            let mut row = vec![
                Cell::new(&s.name),
                Cell::new(&s.target),
                Cell::new(&s.mode),
                Cell::new(s.status.as_str()),
                Cell::new(s.rows_read).set_alignment(CellAlignment::Right),
                Cell::new(s.rows_written).set_alignment(CellAlignment::Right),
            ];
            if rejects {
                row.push(Cell::new(s.rows_rejected).set_alignment(CellAlignment::Right));
            }
            row.extend([
                Cell::new(format!("{:.2}", s.seconds)).set_alignment(CellAlignment::Right),
                Cell::new(format!("{:.0}", s.rows_per_second)).set_alignment(CellAlignment::Right),
            ]);
            table.add_row(row);
        }
        let mut text = table.to_string();
        for s in self.steps.iter().filter(|s| s.note.is_some()) {
            text.push_str(&format!(
                "\nstep '{}': {}",
                s.name,
                s.note.as_deref().unwrap_or_default()
            ));
        }
        for s in &self.steps {
            if let Some(file) = &s.rejects_file {
                text.push_str(&format!(
                    "\nstep '{}': {} row(s) refused by {}, set aside with the reasons in {file}",
                    s.name, s.rows_rejected, s.target
                ));
            }
        }
        for (connection, count) in &self.zero_dates_as_null {
            text.push_str(&format!(
                "\nconnection '{connection}': {count} MySQL zero date(s) (0000-00-00) read as NULL"
            ));
        }
        text
    }
}
