//! `barge plan PIPELINE`.

use super::PlanArgs;
use crate::config::load_pipeline;
use crate::error::Error;

pub async fn plan(args: PlanArgs) -> Result<(), Error> {
    let pipeline = load_pipeline(&args.pipeline, &args.params.load_options())?;
    print!("{}", crate::plan::explain::explain(&pipeline).await?);
    Ok(())
}
