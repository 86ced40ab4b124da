//! Retries of steps that failed for a passing reason: a dropped or refused
//! connection, a server restarting, a deadlock, a serialization failure, too
//! many connections, a lock timeout. A step's load is one transaction (or a
//! temp file renamed at the end), so a failed attempt leaves nothing behind
//! and running it again cannot duplicate rows. Other errors fail the step at
//! once.

use std::time::Duration;

use crate::config::RetryPolicy;

/// First wait; each next one doubles, up to the policy's longest.
const FIRST_WAIT_SECONDS: f64 = 1.0;

/// The wait before retry number `retry` (1-based): exponential, capped at
/// the policy's `max_seconds`, with jitter (between half and all of it) so
/// clients that failed together do not come back together.
pub fn wait(policy: &RetryPolicy, retry: u32) -> Duration {
    let full = (FIRST_WAIT_SECONDS * 2f64.powi(retry.saturating_sub(1).min(30) as i32))
        .min(policy.max_seconds.max(0.0));
    Duration::from_secs_f64(full * (0.5 + fastrand::f64() / 2.0))
}

/// SQLSTATEs of passing failures: connection exceptions (class 08),
/// serialization failure, deadlock, too many connections, server shutting
/// down or starting, lock not available (lock_timeout).
const TRANSIENT_SQLSTATES: &[&str] = &[
    "40001", "40P01", "53300", "57P01", "57P02", "57P03", "55P03",
];

/// MySQL/MariaDB error numbers of passing failures: deadlock, lock wait
/// timeout, too many connections (server-wide and per user), server gone
/// away, connection lost, cannot connect.
const TRANSIENT_MYSQL_ERRORS: &[&str] = &[
    "ERROR 1213 ",
    "ERROR 1205 ",
    "ERROR 1040 ",
    "ERROR 1203 ",
    "ERROR 1226 ",
    "ERROR 2002 ",
    "ERROR 2003 ",
    "ERROR 2006 ",
    "ERROR 2013 ",
];

/// Words of the operating system's and drivers' messages for a connection
/// that dropped or was refused.
const TRANSIENT_WORDS: &[&str] = &[
    "connection reset",
    "connection refused",
    "connection aborted",
    "broken pipe",
    "connection closed",
    "error communicating with the server",
    "server closed the connection unexpectedly",
    "unexpected eof",
    "timed out",
];

/// Whether an error message says the failure may pass on its own.
pub fn is_transient(message: &str) -> bool {
    if message.contains("(SQLSTATE 08")
        || TRANSIENT_SQLSTATES
            .iter()
            .any(|code| message.contains(&format!("SQLSTATE {code}")))
    {
        return true;
    }
    if TRANSIENT_MYSQL_ERRORS.iter().any(|e| message.contains(e)) {
        return true;
    }
    let lower = message.to_lowercase();
    TRANSIENT_WORDS.iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryPolicy;

    #[test]
    fn passing_failures_are_told_from_permanent_ones() {
        for transient in [
            "connection 'src': FATAL: too many connections for role \"r\" (SQLSTATE 53300) (PostgreSQL at 127.0.0.1:5432, database 'd')",
            "ERROR: deadlock detected (SQLSTATE 40P01)",
            "ERROR: could not serialize access due to concurrent update (SQLSTATE 40001)",
            "FATAL: terminating connection due to administrator command (SQLSTATE 57P01)",
            "connection failure (SQLSTATE 08006)",
            "ERROR 1213 (40001): Deadlock found when trying to get lock; try restarting transaction",
            "ERROR 1205 (HY000): Lock wait timeout exceeded; try restarting transaction",
            "ERROR 1226 (42000): User 'u' has exceeded the 'max_user_connections' resource",
            "Input/output error: Connection reset by peer (os error 104)",
            "error connecting to server: Connection refused (os error 111)",
        ] {
            assert!(is_transient(transient), "{transient}");
        }
        for permanent in [
            "ERROR: relation \"nope\" does not exist (SQLSTATE 42P01)",
            "ERROR: duplicate key value violates unique constraint (SQLSTATE 23505)",
            "FATAL: password authentication failed for user \"u\" (SQLSTATE 28P01)",
            "ERROR 1146 (42S02): Table 'd.nope' doesn't exist",
            "ERROR 1062 (23000): Duplicate entry '1' for key 'PRIMARY'",
            "column 'ratio': NaN cannot be stored",
        ] {
            assert!(!is_transient(permanent), "{permanent}");
        }
    }

    #[test]
    fn waits_grow_are_capped_and_jittered() {
        let policy = RetryPolicy {
            retries: 10,
            max_seconds: 5.0,
        };
        for (retry, full) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)] {
            let wait = wait(&policy, retry).as_secs_f64();
            assert!(wait >= full / 2.0 && wait <= full, "retry {retry}: {wait}");
        }
    }
}
