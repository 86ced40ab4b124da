//! `barge status PIPELINE`: the state of the pipeline's last run.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};

use super::output::stdout_line;
use super::StatusArgs;
use crate::config::load_pipeline;
use crate::error::Error;
use crate::records::state::{StateFile, StepPhase, StepState};

pub fn status(args: StatusArgs) -> Result<(), Error> {
    let pipeline = load_pipeline(&args.pipeline, &args.params.load_options())?;
    let path = StateFile::path_for(&pipeline);
    let Some(state) = StateFile::read(&path)? else {
        stdout_line(&format!(
            "{}: no run recorded with these params (no {})",
            pipeline.name,
            path.display()
        ));
        return Ok(());
    };
    if args.json {
        let json = crate::records::to_json(&state).map_err(|e| Error::Io {
            context: format!("cannot encode {}", path.display()),
            source: std::io::Error::other(e),
        })?;
        stdout_line(&json);
        return Ok(());
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "step",
        "status",
        "rows read",
        "rows written",
        "chunks",
        "run",
        "finished",
        "message",
    ]);
    for step in &pipeline.steps {
        let Some(s) = state.steps.get(&step.name) else {
            table.add_row(vec![Cell::new(&step.name), Cell::new("not run")]);
            continue;
        };
        let changed = s.definition != crate::records::state::definition_digest(step);
        table.add_row(row(&step.name, s, changed));
    }
    // A [subset]'s steps are derived when a run starts, so the file does
    // not list them: show the ones the state holds.
    if pipeline.subset.is_some() {
        for (name, s) in &state.steps {
            if !pipeline.steps.iter().any(|step| &step.name == name) {
                table.add_row(row(name, s, false));
            }
        }
    }
    stdout_line(&table.to_string());
    let open = if pipeline.subset.is_some() {
        // Not every derived step is in the state yet: only the state knows.
        true
    } else {
        pipeline.steps.iter().any(|step| {
            state
                .steps
                .get(&step.name)
                .is_none_or(|s| s.status != StepPhase::Completed)
        })
    };
    stdout_line(&format!(
        "{} ({}): {}",
        pipeline.name,
        path.display(),
        if state.complete || !open {
            "last run complete; the next run starts afresh".to_string()
        } else {
            format!(
                "run {} not complete; `barge run {}` with the same params resumes it",
                state.run_id,
                args.pipeline.display()
            )
        }
    ));
    Ok(())
}

/// A step's row: its state, marked when the step changed since.
fn row(name: &str, s: &StepState, changed: bool) -> Vec<Cell> {
    vec![
        Cell::new(name),
        Cell::new(if changed {
            format!("{} (step changed since)", s.status.as_str())
        } else {
            s.status.as_str().to_string()
        }),
        Cell::new(s.rows_read).set_alignment(CellAlignment::Right),
        Cell::new(s.rows_written).set_alignment(CellAlignment::Right),
        Cell::new(
            s.chunks
                .as_ref()
                .map(|c| format!("{}/{}", c.done(), c.chunks.len()))
                .unwrap_or_default(),
        ),
        Cell::new(&s.run_id),
        Cell::new(s.finished_at.as_deref().unwrap_or("")),
        Cell::new(s.message.as_deref().unwrap_or("")),
    ]
}
