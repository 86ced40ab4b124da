//! Crash points for the crash tests: with `BARGE_FAILPOINT=NAME:N` the
//! N-th time the run reaches the point `NAME`, it fails there as that
//! point says:
//!
//! - `before_commit`: aborts (no cleanup, as a killed process) once a
//!   load's rows are all in its transaction, before its COMMIT;
//! - `after_commit`: aborts right after a load's COMMIT returned (the load
//!   landed; the run's state does not know yet);
//! - `connection_lost`: the load fails at its COMMIT as when the connection
//!   drops before the COMMIT reaches the server (nothing landed);
//! - `commit_lost`: the load fails after its COMMIT, as when the connection
//!   drops before the COMMIT's answer comes back (the load landed);
//! - `chunk_committed`: aborts after a chunk committed, before the state
//!   file records it; `chunk_saved`: after it does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::error::{EngineError, EngineResult, ErrorCode};

/// Whether this is the armed point's N-th hit.
fn armed(point: &str) -> bool {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let armed = ARMED.get_or_init(|| {
        let value = std::env::var("BARGE_FAILPOINT").ok()?;
        let (name, n) = value.split_once(':')?;
        Some((name.to_string(), n.parse().ok()?))
    });
    let Some((name, n)) = armed else {
        return false;
    };
    // Only the armed point is counted.
    name == point && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n
}

/// Aborts the process when `BARGE_FAILPOINT` names this point and this is
/// its N-th hit.
pub fn hit(point: &str) {
    if armed(point) {
        eprintln!("BARGE_FAILPOINT {point}: aborting");
        std::process::abort();
    }
}

/// The points of a load's COMMIT: `before_commit` and `connection_lost`
/// before it, reached by the load's observer.
pub fn before_commit() -> EngineResult<()> {
    hit("before_commit");
    if armed("connection_lost") {
        return Err(lost("the connection was lost before the COMMIT"));
    }
    Ok(())
}

/// The points right after a load's COMMIT: `after_commit` and `commit_lost`.
pub fn after_commit() -> EngineResult<()> {
    hit("after_commit");
    if armed("commit_lost") {
        return Err(lost("the connection was lost after the COMMIT"));
    }
    Ok(())
}

/// A connection failure, as a driver reports one.
fn lost(what: &str) -> EngineError {
    EngineError::query(
        "failpoint",
        None,
        None,
        format!("{what}: connection reset by peer (BARGE_FAILPOINT)"),
    )
    .with_code(Some(ErrorCode::Io(std::io::ErrorKind::ConnectionReset)))
}
