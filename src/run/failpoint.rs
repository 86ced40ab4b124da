//! Crash points for the crash tests: with `BARGE_FAILPOINT=NAME:N` the
//! process aborts (no cleanup, as a killed process) the N-th time it
//! reaches the point `NAME`. Points: `before_commit` (a load's rows are
//! all sent, its transaction not committed), `chunk_committed` (committed, not
//! yet in the state file), `chunk_saved` (in the state file).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Aborts the process when `BARGE_FAILPOINT` names this point and this is
/// its N-th hit.
pub fn hit(point: &str) {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let armed = ARMED.get_or_init(|| {
        let value = std::env::var("BARGE_FAILPOINT").ok()?;
        let (name, n) = value.split_once(':')?;
        Some((name.to_string(), n.parse().ok()?))
    });
    let Some((name, n)) = armed else { return };
    // Only the armed point is counted.
    if name == point && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        eprintln!("BARGE_FAILPOINT {point}:{n}: aborting");
        std::process::abort();
    }
}
