//! Crash points for the crash tests: with `BARGE_FAILPOINT=NAME:N` the
//! process aborts (no cleanup, as a killed process) the N-th time it
//! reaches the point `NAME`. Points: `before_commit` (a load's rows are
//! all sent, its transaction not committed), `chunk_committed` (committed, not
//! yet in the state file), `chunk_saved` (in the state file).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Aborts the process when `BARGE_FAILPOINT` names this point and this is
/// its N-th hit.
pub fn hit(point: &str) {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
    let armed = ARMED.get_or_init(|| {
        let value = std::env::var("BARGE_FAILPOINT").ok()?;
        let (name, n) = value.split_once(':')?;
        Some((name.to_string(), n.parse().ok()?))
    });
    let Some((name, n)) = armed else { return };
    if name != point {
        return;
    }
    let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
    let count = hits
        .get_or_insert_with(HashMap::new)
        .entry(point.to_string())
        .or_insert(0);
    *count += 1;
    if *count == *n {
        eprintln!("BARGE_FAILPOINT {point}:{n}: aborting");
        std::process::abort();
    }
}
