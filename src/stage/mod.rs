//! Staging: every step's batches teed to Parquet under `DIR/<run_id>/<step>/`
//! as they stream to the target (no second read of the source), and
//! `DIR/<run_id>/manifest.json` describing the run ([`manifest`]). A staged
//! run can be replayed into another target ([`replay`]) and checked by
//! `barge validate`.

pub mod replay;
pub mod tee;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::records::manifest::{self, Manifest, StagedStep};
use crate::records::step_dir_name;
pub use tee::StepTee;

use crate::config::Pipeline;
use crate::error::Error;

/// The staging of one run: its directory and its manifest.
#[derive(Debug)]
pub struct Stage {
    run_dir: PathBuf,
    manifest: Mutex<Manifest>,
}

impl Stage {
    /// Creates `dir/<run_id>/` and writes a first manifest (no steps yet).
    pub fn create(
        dir: &Path,
        run_id: &str,
        pipeline: &Pipeline,
        started_at: &str,
    ) -> Result<Stage, Error> {
        let run_dir = dir.join(run_id);
        std::fs::create_dir_all(&run_dir).map_err(|source| Error::Io {
            context: format!("cannot create the stage directory {}", run_dir.display()),
            source,
        })?;
        let manifest = Manifest {
            format: manifest::MANIFEST_FORMAT,
            pipeline: pipeline.name.clone(),
            run_id: run_id.to_string(),
            started_at: started_at.to_string(),
            finished_at: None,
            params: crate::redact::redact_params(&pipeline.params, &pipeline.passwords()),
            connections: pipeline
                .connections
                .iter()
                .map(|c| (c.name.clone(), c.display_url()))
                .collect(),
            steps: Vec::new(),
        };
        manifest.write(&run_dir)?;
        Ok(Stage {
            run_dir,
            manifest: Mutex::new(manifest),
        })
    }

    /// `DIR/<run_id>`.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The directory a step's files go in: `DIR/<run_id>/<step>`.
    pub fn step_dir(&self, step: &str) -> PathBuf {
        self.run_dir.join(step_dir_name(step))
    }

    /// Records a finished step and rewrites the manifest.
    pub fn record(&self, step: StagedStep) -> Result<(), Error> {
        self.update(|manifest| {
            manifest.steps.retain(|s| s.name != step.name);
            manifest.steps.push(step);
        })
    }

    /// Records one more chunk of a chunked step (its entry stays
    /// `incomplete` until [`Stage::complete`]) and rewrites the manifest.
    pub fn record_chunk(&self, mut chunk: StagedStep) -> Result<(), Error> {
        self.update(
            |manifest| match manifest.steps.iter_mut().find(|s| s.name == chunk.name) {
                Some(entry) => entry.absorb(chunk),
                None => {
                    chunk.status = manifest::INCOMPLETE.to_string();
                    manifest.steps.push(chunk);
                }
            },
        )
    }

    /// Marks a chunked step wholly staged, unless `missing` chunks (loaded
    /// by an earlier run that did not stage) are not.
    pub fn complete(&self, step: &str, missing: usize) -> Result<(), Error> {
        self.update(|manifest| {
            if let Some(entry) = manifest.steps.iter_mut().find(|s| s.name == step) {
                if missing == 0 {
                    entry.status = manifest::STAGED.to_string();
                }
            }
        })
    }

    fn update(&self, change: impl FnOnce(&mut Manifest)) -> Result<(), Error> {
        let mut manifest = self
            .manifest
            .lock()
            .map_err(|_| Error::Usage("the stage manifest lock is poisoned".into()))?;
        change(&mut manifest);
        manifest.write(&self.run_dir)
    }

    /// Marks the run finished, orders the steps as `order` lists them, and
    /// rewrites the manifest.
    pub fn finish(&self, finished_at: &str, order: &[String]) -> Result<(), Error> {
        self.update(|manifest| {
            manifest.finished_at = Some(finished_at.to_string());
            manifest.steps.sort_by_key(|s| {
                order
                    .iter()
                    .position(|o| *o == s.name)
                    .unwrap_or(usize::MAX)
            });
        })
    }
}
