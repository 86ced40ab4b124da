//! `barge run PIPELINE`.

use super::{finish_run, RunArgs};
use crate::config::load_pipeline;
use crate::error::Error;
use crate::run::{run_pipeline, RunOptions};

pub async fn run(args: RunArgs) -> Result<(), Error> {
    let pipeline = load_pipeline(&args.pipeline, &args.params.load_options())?;
    let options = RunOptions {
        dry_run: args.exec.dry_run,
        limit: args.exec.limit,
        steps: args.steps.clone(),
        jobs: args.exec.jobs,
        quiet: args.exec.quiet,
        stage: args.exec.stage.clone(),
    };
    let report = run_pipeline(&pipeline, &options).await?;
    finish_run(&report, &args.exec)
}
