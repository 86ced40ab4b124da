//! `barge copy FROM TO`: the flags mapped onto a [`CopyRequest`], the type
//! plan and warnings printed, the copy run (see [`crate::copy`]).

use super::output::{stderr_line, stdout_line, stdout_text};
use super::{finish_run, CopyArgs};
use crate::copy::{self, CopyRequest};
use crate::error::Error;

pub async fn copy(args: CopyArgs) -> Result<(), Error> {
    crate::redact::register_url(&args.from);
    crate::redact::register_url(&args.to);
    let request = CopyRequest {
        from: args.from.clone(),
        to: args.to.clone(),
        tables: args.tables.clone(),
        mode: args.mode.into(),
        key: args.key.clone(),
        disable_fk_checks: args.disable_fk_checks,
        naming: args.naming,
        fail_on_lossy: args.fail_on_lossy,
        dry_run: args.exec.dry_run,
        force: args.exec.force,
    };
    let mut job = copy::prepare(&request).await?;
    args.exec.memory.apply(&mut job.pipeline);
    let plan = &job.plan;
    if args.exec.dry_run && !args.exec.quiet {
        stdout_line(&format!("type plan ({} -> {}):", plan.source, plan.target));
        stdout_text(&plan.type_plan_text());
        if plan.target.is_database() {
            stdout_line(&format!("\n{}", plan.script()));
        }
    } else if !args.exec.quiet {
        for line in plan.lossy() {
            stderr_line(&format!("warning: lossy type plan: {line}"));
        }
    }
    let outcome = job.run(&args.exec.run_options(None)).await?;
    if outcome.finished_tables > 0 && !args.exec.quiet {
        stdout_line(&format!(
            "pass two: unique constraints, indexes and foreign keys added to {} table(s)",
            outcome.finished_tables
        ));
    }
    finish_run(&outcome.report, &args.exec)
}
