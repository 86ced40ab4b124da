//! Progress of running steps: row counters shared with the writers, drawn as
//! one bar per running step.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

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

    /// Rows the target reports written, added once a load is committed
    /// (a chunked step commits several loads).
    pub fn add_written(&self, rows: u64) {
        self.written.fetch_add(rows, Ordering::Relaxed);
    }

    /// The counts now (read, written, rejected), to go back to with
    /// [`StepProgress::reset_to`].
    pub fn mark(&self) -> (u64, u64, u64) {
        (self.read(), self.written(), self.rejected())
    }

    /// Puts the counts back to `mark`, for another attempt of a load.
    pub fn reset_to(&self, (read, written, rejected): (u64, u64, u64)) {
        self.read.store(read, Ordering::Relaxed);
        self.written.store(written, Ordering::Relaxed);
        self.rejected.store(rejected, Ordering::Relaxed);
        self.bar.set_position(read);
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

/// The style of a running step's bar: with a length and an ETA when the
/// rows to move are known.
pub fn running_style(known_length: bool) -> ProgressStyle {
    let template = if known_length {
        "{spinner} {prefix:<20} [{bar:30}] {human_pos}/{human_len} rows  {rate}  eta {eta}"
    } else {
        "{spinner} {prefix:<20} {human_pos} rows  {rate}  {elapsed}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:>10.0} rows/s", state.per_sec());
            },
        )
        .progress_chars("=> ")
}
