//! `barge run PIPELINE`.

use super::{finish_run, RunArgs};
use crate::config::load_pipeline;
use crate::error::Error;
use crate::run::{run_pipeline, RunOptions};

pub async fn run(args: RunArgs) -> Result<(), Error> {
    // A skeleton from `barge schema diff` runs once its TODOs are resolved.
    if let Ok(text) = std::fs::read_to_string(&args.pipeline) {
        let todo = crate::schema::diff::unresolved(&text);
        if !todo.is_empty() {
            return Err(Error::Usage(format!(
                "{}: {} unresolved {} line(s); nothing was run:\n  {}\n  hint: resolve each with a CAST, map_value, a lookup or a default, or delete the line to ignore the change",
                args.pipeline.display(),
                todo.len(),
                crate::schema::diff::TODO_MARKER,
                todo.join("\n  ")
            )));
        }
    }
    let pipeline = load_pipeline(&args.pipeline, &args.params.load_options())?;
    let options = RunOptions {
        dry_run: args.exec.dry_run,
        limit: args.exec.limit,
        steps: args.steps.clone(),
        jobs: args.exec.jobs,
        quiet: args.exec.quiet,
    };
    let report = run_pipeline(&pipeline, &options).await?;
    finish_run(&report, &args.exec)
}
