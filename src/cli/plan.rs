//! `barge plan PIPELINE`.

use super::output::{stdout_line, stdout_text};
use super::PlanArgs;
use crate::config::load_pipeline;
use crate::error::Error;

pub async fn plan(args: PlanArgs) -> Result<(), Error> {
    let mut pipeline = load_pipeline(&args.pipeline, &args.params.load_options())?;
    args.memory.apply(&mut pipeline);
    if let Some(subset) =
        crate::subset::expand_subset(&mut pipeline, &args.subset.options(true)).await?
    {
        stdout_line(&subset.to_string());
    }
    stdout_text(&crate::plan::explain::explain(&pipeline).await?);
    Ok(())
}
