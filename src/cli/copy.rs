//! `barge copy FROM TO`: the flags mapped onto a [`CopyRequest`], the type
//! plan and warnings printed, the copy run (see [`crate::copy`]).

use super::{finish_run, CopyArgs};
use crate::copy::{self, CopyRequest};
use crate::error::Error;

pub async fn copy(args: CopyArgs) -> Result<(), Error> {
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
    };
    let mut job = copy::prepare(&request).await?;
    args.exec.memory.apply(&mut job.pipeline);
    let plan = &job.plan;
    if args.exec.dry_run && !args.exec.quiet {
        println!("type plan ({} -> {}):", plan.source, plan.target);
        print!("{}", plan.type_plan_text());
        if plan.target.is_database() {
            println!("\n{}", plan.script());
        }
    } else if !args.exec.quiet {
        for line in plan.lossy() {
            eprintln!("warning: lossy type plan: {line}");
        }
    }
    let outcome = job.run(&args.exec.run_options(None)).await?;
    if outcome.finished_tables > 0 && !args.exec.quiet {
        println!(
            "pass two: unique constraints, indexes and foreign keys added to {} table(s)",
            outcome.finished_tables
        );
    }
    finish_run(&outcome.report, &args.exec)
}
