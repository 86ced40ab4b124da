//! Progress of running steps: row counters shared with the writers, drawn as
//! one bar per running step.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::ProgressBar;

/// Counters of one step, updated by its writer thread.
#[derive(Debug)]
pub struct StepProgress {
    read: AtomicU64,
    written: AtomicU64,
    rejected: AtomicU64,
    bar: ProgressBar,
}

impl StepProgress {
    /// Counters drawn on `bar` (use `ProgressBar::hidden()` for none).
    pub fn new(bar: ProgressBar) -> Self {
        Self {
            read: AtomicU64::new(0),
            written: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            bar,
        }
    }

    /// Rows handed to the writer so far.
    pub fn add_read(&self, rows: u64) {
        self.read.fetch_add(rows, Ordering::Relaxed);
        self.bar.inc(rows);
    }

    /// Rows the target reports written, set once the load is committed.
    pub fn set_written(&self, rows: u64) {
        self.written.store(rows, Ordering::Relaxed);
    }

    /// Starts the counts again, for another attempt of the step.
    pub fn restart(&self) {
        self.read.store(0, Ordering::Relaxed);
        self.written.store(0, Ordering::Relaxed);
        self.rejected.store(0, Ordering::Relaxed);
        self.bar.set_position(0);
    }

    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Rows the target refused, set aside in the step's rejects file.
    pub fn add_rejected(&self, rows: u64) {
        self.rejected.fetch_add(rows, Ordering::Relaxed);
    }

    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }
}
