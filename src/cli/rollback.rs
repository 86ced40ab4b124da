//! `barge rollback PIPELINE --run RUN_ID`.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};

use super::output::{stderr_line, stdout_line};
use super::RollbackArgs;
use crate::config::load_pipeline;
use crate::error::Error;

pub async fn rollback(args: RollbackArgs) -> Result<(), Error> {
    let pipeline = load_pipeline(&args.pipeline, &args.params.load_options())?;
    let steps = crate::run::rollback::rollback(&pipeline, &args.run, args.dry_run).await?;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "step",
        "table",
        if args.dry_run {
            "rows to delete"
        } else {
            "rows deleted"
        },
        "rows journalled",
        "note",
    ]);
    for s in &steps {
        table.add_row(vec![
            Cell::new(&s.step),
            Cell::new(&s.table),
            Cell::new(s.rows).set_alignment(CellAlignment::Right),
            Cell::new(s.journalled.map(|n| n.to_string()).unwrap_or_default())
                .set_alignment(CellAlignment::Right),
            Cell::new(s.note.as_deref().unwrap_or("")),
        ]);
    }
    stdout_line(&table.to_string());
    let differing: Vec<&str> = steps
        .iter()
        .filter(|s| s.count_differs())
        .map(|s| s.step.as_str())
        .collect();
    if !differing.is_empty() {
        stderr_line(&format!(
            "warning: rows deleted differ from rows journalled in step(s) {} (see the notes)",
            differing.join(", ")
        ));
    }
    let total: u64 = steps.iter().map(|s| s.rows).sum();
    if args.dry_run {
        stdout_line(&format!(
            "run {} of {}: {total} row(s) to delete; nothing deleted (--dry-run)",
            args.run, pipeline.name
        ));
    } else {
        stdout_line(&format!(
            "run {} of {} rolled back: {total} row(s) deleted; its steps run again on the next `barge run`",
            args.run, pipeline.name
        ));
    }
    Ok(())
}
