//! `barge validate PIPELINE`.

use std::path::Path;

use super::output::stdout_line;
use super::ValidateArgs;
use crate::config::load_pipeline;
use crate::error::Error;
use crate::validate::{validate_pipeline, ValidateOptions, ValidationReport};

pub async fn validate(args: ValidateArgs) -> Result<(), Error> {
    let mut pipeline = load_pipeline(&args.pipeline, &args.params.load_options())?;
    args.memory.apply(&mut pipeline);
    crate::subset::expand_subset(&mut pipeline, &args.subset.options(false)).await?;
    let options = ValidateOptions {
        stage: args.stage.clone(),
        run: args.run.clone(),
        sample: args.sample,
        steps: args.steps.clone(),
        quiet: args.quiet,
    };
    let report = validate_pipeline(&pipeline, &options).await?;
    finish(&report, args.json.as_deref(), args.quiet)
}

/// Prints the table, writes the JSON, and fails naming every table that
/// does not match.
pub fn finish(report: &ValidationReport, json: Option<&Path>, quiet: bool) -> Result<(), Error> {
    if let Some(path) = json {
        report.write_json(path)?;
    }
    if !quiet {
        stdout_line(&report.table());
        if let Some(run) = &report.run_id {
            stdout_line(&format!("compared with staged run {run}"));
        }
        for snapshot in &report.snapshots {
            stdout_line(&snapshot.line());
        }
    }
    let bad = report.mismatched();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Error::ValidationFailed(
        bad.iter()
            .map(|s| {
                format!(
                    "\n  step '{}', table {}: {}",
                    s.step,
                    s.table,
                    s.differences.join("; ")
                )
            })
            .collect(),
    ))
}
