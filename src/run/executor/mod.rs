//! The executor: every step is one DataFusion plan, `INSERT INTO target
//! SELECT ...`, streamed batch by batch into the target's writer. Steps run in
//! dependency levels; independent steps of a level run concurrently.

mod chunks;
mod hints;
mod load;
mod step;

use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressDrawTarget};

use super::interrupt::Interrupt;
use super::journal::Journal;
use super::rejects;
use super::report::{RunReport, StepReport, StepStatus};
use crate::config::{Pipeline, StepConfig};
use crate::error::Error;
use crate::plan::order::{add_edges_without_cycles, dependencies, levels};
use crate::records::rejects::run_dir as rejects_dir;
use crate::records::stage_dir;
use crate::records::state::StateFile;
use crate::session::Session;
use crate::stage::Stage;

/// Options of `barge run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Plan and count source rows; write nothing.
    pub dry_run: bool,
    /// Rows per step (a test run).
    pub limit: Option<usize>,
    /// Run only these steps.
    pub steps: Option<Vec<String>>,
    /// Steps run at once.
    pub jobs: usize,
    /// No progress bars.
    pub quiet: bool,
    /// Stage every step's rows to Parquet under `DIR/<run_id>/` (overrides
    /// the pipeline's `[defaults].stage`).
    pub stage: Option<PathBuf>,
    /// Start afresh: ignore the state of an unfinished earlier run.
    pub force: bool,
    /// Run these steps from the start even when the state says they are done.
    pub force_steps: Vec<String>,
    /// Stop on Ctrl+C and SIGTERM (the CLI); a library caller stops the run
    /// by dropping its future.
    pub listen_for_signals: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            limit: None,
            steps: None,
            jobs: 2,
            quiet: true,
            stage: None,
            force: false,
            force_steps: vec![],
            listen_for_signals: false,
        }
    }
}

/// Runs `pipeline`. Returns the report; steps that failed are in it with
/// their errors (the caller decides the exit code).
///
/// Unless it is a dry run or limited (`--limit`), the run keeps its state
/// in `.barge/state/` (see [`StateFile`]): a rerun after a failure or an
/// interrupt skips the steps that completed and continues chunked steps
/// after their last committed chunk.
pub async fn run_pipeline(pipeline: &Pipeline, options: &RunOptions) -> Result<RunReport, Error> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let state = if options.dry_run || options.limit.is_some() {
        None
    } else {
        let state = StateFile::open(pipeline, &run_id, options.force)?;
        for name in &options.force_steps {
            if !pipeline.steps.iter().any(|s| &s.name == name) {
                return Err(unknown_step(pipeline, "--force-steps", name));
            }
            state.forget(name);
        }
        Some(state)
    };
    let journal = state.as_ref().map(|_| Journal::new(pipeline, &run_id));
    let interrupt = Interrupt::new();
    if options.listen_for_signals {
        interrupt.listen();
    }
    let session = Session::open_for_jobs(pipeline, options.jobs).await?;
    if state.is_some() {
        lock_targets(pipeline, &session).await?;
    }
    session.take_snapshots().await?;
    let stage = match stage_dir(options.stage.as_deref(), pipeline) {
        Some(dir) if !options.dry_run => Some(Stage::create(
            &dir,
            &run_id,
            pipeline,
            &started_at.to_rfc3339(),
        )?),
        _ => None,
    };
    let result = run_steps(
        pipeline,
        &session,
        StepContext {
            session: &session,
            options,
            stage: stage.as_ref(),
            state: state.as_ref(),
            journal: journal.as_ref(),
            rejects_dir: rejects_dir(pipeline, &run_id),
            pipeline: &pipeline.name,
            commit_tables: Default::default(),
            run_id: &run_id,
            interrupt: &interrupt,
            multi: &if options.quiet {
                MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
            } else {
                MultiProgress::new()
            },
        },
        RunStart {
            run_id: run_id.clone(),
            started_at,
            clock,
        },
    )
    .await;
    if options.dry_run {
        session.discard_created();
    }
    if let Some(state) = &state {
        state.finish(pipeline)?;
    }
    if let (Some(stage), Ok(report)) = (&stage, &result) {
        let order: Vec<String> = pipeline.steps.iter().map(|s| s.name.clone()).collect();
        stage.finish(&report.finished_at, &order)?;
    }
    result
}

/// Takes the run's lock in every target (see `Connection::lock_run`), keyed
/// like its state file, so that overlapping runs from other places refuse.
async fn lock_targets(pipeline: &Pipeline, session: &Session) -> Result<(), Error> {
    let key = StateFile::path_for(pipeline)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| pipeline.name.clone());
    let targets: std::collections::BTreeSet<&str> = pipeline
        .steps
        .iter()
        .map(|s| s.target.connection.as_str())
        .collect();
    for name in targets {
        let Some(connection) = session.connection(name) else {
            continue;
        };
        if !connection.lock_run(&key).await? {
            return Err(Error::Usage(format!(
                "another run of {} is loading connection '{name}' (it holds the run lock '{key}' there)\n  hint: wait for it to end and run again (it resumes what is left)",
                pipeline.name
            )));
        }
    }
    Ok(())
}

/// When and as what a run started.
struct RunStart {
    run_id: String,
    started_at: chrono::DateTime<chrono::Utc>,
    clock: Instant,
}

async fn run_steps(
    pipeline: &Pipeline,
    session: &Session,
    ctx: StepContext<'_>,
    start: RunStart,
) -> Result<RunReport, Error> {
    let steps = &pipeline.steps;
    let options = ctx.options;

    let selected = select_steps(pipeline, options.steps.as_deref())?;
    let reads = steps
        .iter()
        .map(|s| session.table_reads(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut deps = dependencies(steps, &reads, &session.single_writer_connections());
    add_edges_without_cycles(&mut deps, &session.target_foreign_key_edges(steps).await?);
    let levels = levels(steps, &deps)?;

    // Sources must exist, unless an earlier step creates them.
    for &i in &selected {
        for read in &reads[i] {
            let written_by_a_step = steps.iter().any(|s| {
                s.target.connection == read.0 && s.target.table.name.eq_ignore_ascii_case(&read.1)
            });
            if !written_by_a_step {
                session.check_table_exists(&steps[i], read).await?;
            }
        }
    }

    // max_rejects on a target that cannot set rows aside fails before any step runs.
    let chosen: Vec<&StepConfig> = selected.iter().map(|&i| &steps[i]).collect();
    rejects::check_targets(&chosen, |name| session.connection(name).cloned())?;

    let mut reports: Vec<Option<StepReport>> = vec![None; steps.len()];
    for level in levels {
        let mut runnable = Vec::new();
        for i in level.into_iter().filter(|i| selected.contains(i)) {
            let blocked = deps[i].iter().find(|&&d| {
                reports[d]
                    .as_ref()
                    .is_some_and(|r| !r.status.lets_dependents_run())
            });
            match blocked {
                _ if ctx.interrupt.is_set() => {
                    reports[i] = Some(skipped(&steps[i], "the run was interrupted"));
                }
                Some(&d) => {
                    let because =
                        format!("step '{}' it depends on did not complete", steps[d].name);
                    reports[i] = Some(skipped(&steps[i], &because));
                }
                None => runnable.push(i),
            }
        }
        let results: Vec<(usize, StepReport)> = futures::stream::iter(runnable)
            .map(|i| {
                let ctx = &ctx;
                async move {
                    if ctx.interrupt.is_set() {
                        return (i, skipped(&steps[i], "the run was interrupted"));
                    }
                    (i, step::run_step(ctx, &steps[i]).await)
                }
            })
            .buffer_unordered(options.jobs.max(1))
            .collect()
            .await;
        for (i, report) in results {
            reports[i] = Some(report);
        }
    }
    let _ = ctx.multi.clear();

    let finished_at = chrono::Utc::now();
    Ok(RunReport {
        pipeline: pipeline.name.clone(),
        run_id: start.run_id,
        started_at: start.started_at.to_rfc3339(),
        finished_at: finished_at.to_rfc3339(),
        seconds: start.clock.elapsed().as_secs_f64(),
        staged_in: ctx.stage.map(|s| s.run_dir().display().to_string()),
        dry_run: options.dry_run,
        steps: reports.into_iter().flatten().collect(),
        interrupted: ctx.interrupt.is_set(),
        state_file: ctx.state.map(|s| s.path().display().to_string()),
        zero_dates_as_null: session
            .connections()
            .map(|c| (c.name().to_string(), c.zero_dates_read()))
            .filter(|(_, n)| *n > 0)
            .collect(),
    })
}

fn unknown_step(pipeline: &Pipeline, flag: &str, name: &str) -> Error {
    let known: Vec<&str> = pipeline.steps.iter().map(|s| s.name.as_str()).collect();
    Error::Usage(format!(
        "{flag} names unknown step '{name}'\n  hint: steps of {} are: {}",
        pipeline.name,
        known.join(", ")
    ))
}

fn select_steps(pipeline: &Pipeline, names: Option<&[String]>) -> Result<Vec<usize>, Error> {
    let Some(names) = names else {
        return Ok((0..pipeline.steps.len()).collect());
    };
    names
        .iter()
        .map(|name| {
            pipeline
                .steps
                .iter()
                .position(|s| &s.name == name)
                .ok_or_else(|| unknown_step(pipeline, "--steps", name))
        })
        .collect()
}

fn skipped(step: &StepConfig, because: &str) -> StepReport {
    StepReport {
        error: Some(format!("not run: {because}")),
        ..StepReport::new(step, StepStatus::Skipped)
    }
}

/// What the steps of a run share.
struct StepContext<'a> {
    session: &'a Session,
    options: &'a RunOptions,
    stage: Option<&'a Stage>,
    /// `None` for a dry run or `--limit` (they keep no state).
    state: Option<&'a StateFile>,
    /// What the run inserted, for `barge rollback` (kept with the state).
    journal: Option<&'a Journal>,
    /// Where steps set refused rows aside (`rejects/<run_id>/`).
    rejects_dir: std::path::PathBuf,
    /// The pipeline's name and the run's id, for commit records.
    pipeline: &'a str,
    /// Connections whose table of commit records is known to exist (made
    /// one at a time: concurrent `CREATE TABLE IF NOT EXISTS` can collide).
    commit_tables: tokio::sync::Mutex<std::collections::HashSet<String>>,
    run_id: &'a str,
    interrupt: &'a Interrupt,
    multi: &'a MultiProgress,
}
