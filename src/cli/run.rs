//! `barge run PIPELINE`.

use super::{finish_run, RunArgs};
use crate::config::load_pipeline;
use crate::error::Error;
use crate::run::run_pipeline;
use crate::validate::{validate_pipeline, ValidateOptions};

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
    let mut pipeline = load_pipeline(&args.pipeline, &args.params.load_options())?;
    args.exec.memory.apply(&mut pipeline);
    crate::subset::expand_subset(&mut pipeline, &args.subset.options(false)).await?;
    let options = args.exec.run_options(args.steps.clone());
    if args.validate && (args.exec.dry_run || args.exec.limit.is_some()) {
        return Err(Error::Usage(
            "--validate compares whole tables: it cannot go with --dry-run or --limit".into(),
        ));
    }
    let report = run_pipeline(&pipeline, &options).await?;
    finish_run(&report, &args.exec)?;
    if args.validate {
        let options = ValidateOptions {
            stage: report
                .staged_in
                .as_ref()
                .and_then(|d| std::path::Path::new(d).parent().map(|p| p.to_path_buf())),
            run: report.staged_in.as_ref().map(|_| report.run_id.clone()),
            sample: 5,
            steps: args.steps.clone(),
            quiet: args.exec.quiet,
        };
        let validation = validate_pipeline(&pipeline, &options).await?;
        super::validate::finish(&validation, None, args.exec.quiet)?;
    }
    Ok(())
}
