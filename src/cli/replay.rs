//! `barge replay DIR/<run_id> --to URL`.

use super::{finish_report, ReplayArgs};
use crate::error::Error;
use crate::run::{run_pipeline, RunOptions};
use crate::stage::replay::replay_pipeline;

pub async fn replay(args: ReplayArgs) -> Result<(), Error> {
    crate::redact::register_url(&args.to);
    let pipeline = replay_pipeline(
        &args.run_dir,
        &args.to,
        args.steps.as_deref(),
        args.mode.map(Into::into),
    )?;
    let options = RunOptions {
        jobs: args.jobs,
        quiet: args.quiet,
        ..RunOptions::default()
    };
    let report = run_pipeline(&pipeline, &options).await?;
    finish_report(&report, args.report.as_deref(), args.quiet)
}
