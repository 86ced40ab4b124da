//! The hooks a load is driven through. A sink knows its table and its
//! writer; what the program running the step sees of a load, and adds to
//! it, reaches the sink through these traits, which the engine core owns
//! and the layers above implement (`run`'s progress and rejects,
//! `stage`'s Parquet tee, the rollback journal):
//!
//! - [`LoadObserver`]: rows read, written and refused as they happen, and
//!   the moment before the commit;
//! - [`BatchTee`]: a copy of every batch, written beside the load and
//!   complete before it commits;
//! - [`RejectPolicy`]: what happens to rows the target refuses
//!   (`max_rejects` > 0).
//!
//! A hook's own failure reaches the sink as an
//! [`EngineError::Driver`](crate::error::EngineError::Driver), and the load
//! is rolled back.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::BatchWriter;
use crate::error::EngineResult;

/// What the driver of a load sees of it: counts as they happen, and the
/// moment before the commit. Called from the writer's thread.
pub trait LoadObserver: Send + Sync + fmt::Debug {
    /// `rows` more were handed to the target's writer.
    fn rows_read(&self, rows: u64);
    /// `rows` more are reported written by the target (once a load committed).
    fn rows_written(&self, rows: u64);
    /// `rows` more were refused by the target and set aside.
    fn rows_rejected(&self, rows: u64);
    /// Every row is in the load's transaction and the target wrote
    /// `written` of them (its own count where it reports one); the load
    /// commits next. An error (a count that does not add up) rolls the load
    /// back; the statements returned (the load's commit record) run in its
    /// transaction before the COMMIT.
    fn before_commit(&self, written: u64) -> EngineResult<Vec<String>> {
        let _ = written;
        Ok(vec![])
    }
    /// The COMMIT returned. An error here is the load's error, though the
    /// load landed (the crash tests lose the COMMIT's answer this way).
    fn after_commit(&self) -> EngineResult<()> {
        Ok(())
    }
}

/// An observer that keeps no count and checks nothing (a load its caller
/// watches otherwise, such as [`super::load::load_batches`]).
#[derive(Debug, Default)]
pub struct Unobserved;

impl LoadObserver for Unobserved {
    fn rows_read(&self, _rows: u64) {}
    fn rows_written(&self, _rows: u64) {}
    fn rows_rejected(&self, _rows: u64) {}
}

/// A copy of every batch a load writes, made on a thread of its own beside
/// the load. The copy is complete before the load commits: a load whose
/// copy failed is rolled back.
pub trait BatchTee: Send + Sync + fmt::Debug {
    /// Starts a copy of batches of `sink_schema`. Called on the tee's thread.
    fn open(self: Arc<Self>, sink_schema: &SchemaRef) -> EngineResult<Box<dyn TeeWriter>>;
    /// The sink's columns the copy keeps, by name; `None`: all of them. A
    /// load that does not decode every column (the PostgreSQL pass-through)
    /// decodes these and hands the tee batches of them only.
    fn columns(&self) -> Option<Vec<String>> {
        None
    }
}

/// Batches in flight between a load and its tees' thread.
const TEE_BATCHES: usize = 2;

/// The tees of one load, fed on a blocking thread of their own over a
/// bounded channel (a slow copy slows the load).
pub struct TeeThread {
    tx: tokio::sync::mpsc::Sender<Option<RecordBatch>>,
    thread: tokio::task::JoinHandle<EngineResult<()>>,
}

impl TeeThread {
    /// Opens every tee for batches of `schema` on a new thread; `None`
    /// when there are no tees.
    pub fn spawn(tees: &[Arc<dyn BatchTee>], schema: &SchemaRef) -> Option<Self> {
        if tees.is_empty() {
            return None;
        }
        // `None` ends the copies; a channel closed without it discards them.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<RecordBatch>>(TEE_BATCHES);
        let tees = tees.to_vec();
        let schema = schema.clone();
        let thread = tokio::task::spawn_blocking(move || -> EngineResult<()> {
            let mut writers = tees
                .into_iter()
                .map(|tee| tee.open(&schema))
                .collect::<EngineResult<Vec<_>>>()?;
            while let Some(message) = rx.blocking_recv() {
                match message {
                    Some(batch) => {
                        for writer in &mut writers {
                            writer.write(&batch)?;
                        }
                    }
                    None => {
                        for writer in writers {
                            writer.finish()?;
                        }
                        return Ok(());
                    }
                }
            }
            Err(crate::error::EngineError::driver(std::io::Error::other(
                "the load failed; its staged copy is discarded",
            )))
        });
        Some(Self { tx, thread })
    }

    /// Hands `batch` to every tee; `false` when they stopped (their error
    /// comes from [`TeeThread::finish`]).
    pub async fn send(&self, batch: RecordBatch) -> bool {
        self.tx.send(Some(batch)).await.is_ok()
    }

    /// Completes the copies (`complete`: every batch was sent) or discards
    /// them, and returns how the tees ended.
    pub async fn finish(self, complete: bool) -> EngineResult<()> {
        if complete {
            let _ = self.tx.send(None).await;
        }
        drop(self.tx);
        self.thread
            .await
            .map_err(crate::error::EngineError::driver)?
    }
}

/// One load's copy, opened by [`BatchTee::open`].
pub trait TeeWriter: Send {
    /// Copies one batch (of the sink's schema).
    fn write(&mut self, batch: &RecordBatch) -> EngineResult<()>;
    /// Completes the copy; called once every batch is written, before the
    /// load commits. A writer dropped without it discards its copy.
    fn finish(self: Box<Self>) -> EngineResult<()>;
}

/// What happens to rows the target refuses: the sink then opens its writer
/// with [`super::Connection::open_isolating_writer`] and writes every batch
/// through the policy's [`RejectWriter`].
pub trait RejectPolicy: Send + Sync + fmt::Debug {
    /// Starts a load of batches of `sink_schema`; refused rows are counted
    /// to `observer`. Called on the writer's thread.
    fn open(
        self: Arc<Self>,
        sink_schema: &SchemaRef,
        observer: Arc<dyn LoadObserver>,
    ) -> EngineResult<Box<dyn RejectWriter>>;
}

/// One load under a [`RejectPolicy`].
pub trait RejectWriter: Send {
    /// Writes `batch` through `writer` (with [`BatchWriter::write_isolated`]);
    /// returns the rows written. Refused rows are set aside, or fail the load.
    fn write(&mut self, writer: &mut dyn BatchWriter, batch: &RecordBatch) -> EngineResult<u64>;
    /// Completes what was set aside, before the load commits.
    fn finish(self: Box<Self>) -> EngineResult<()>;
}

/// Everything a load is driven through.
#[derive(Debug, Clone)]
pub struct LoadHooks {
    pub observer: Arc<dyn LoadObserver>,
    /// Copies of the batches (staging, the rollback journal).
    pub tees: Vec<Arc<dyn BatchTee>>,
    /// Refused rows set aside (`max_rejects` > 0); `None`: the first
    /// refused row fails the load.
    pub rejects: Option<Arc<dyn RejectPolicy>>,
}

impl LoadHooks {
    /// Hooks that only observe.
    pub fn observed(observer: Arc<dyn LoadObserver>) -> Self {
        Self {
            observer,
            tees: vec![],
            rejects: None,
        }
    }
}
