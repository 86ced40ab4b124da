//! Retries of steps that failed for a passing reason: a dropped or refused
//! connection, a server restarting, a deadlock, a serialization failure, too
//! many connections, a lock timeout. A step's load is one transaction (or a
//! temp file renamed at the end), so a failed attempt leaves nothing behind
//! and running it again cannot duplicate rows. Other errors fail the step at
//! once. What passes is told by the code the engine's driver gave (a
//! SQLSTATE, a MySQL error number, a SQLite result code, an I/O error kind),
//! never by the message's text.

use std::io::ErrorKind;
use std::time::Duration;

use crate::config::RetryPolicy;
use crate::error::{Error, ErrorCode};

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

/// SQLSTATEs of passing failures besides connection exceptions (class
/// 08): serialization failure, deadlock, too many connections, server
/// shutting down or starting, lock not available (lock_timeout).
const TRANSIENT_SQLSTATES: &[&str] = &[
    "40001", "40P01", "53300", "57P01", "57P02", "57P03", "55P03",
];

/// MySQL/MariaDB error numbers of passing failures: lock wait timeout,
/// deadlock, too many connections (server-wide and per user), server
/// shutting down, connection killed (MariaDB), and the client's cannot
/// connect, server gone away and connection lost.
const TRANSIENT_MYSQL_ERRORS: &[u16] = &[
    1205, 1213, 1040, 1203, 1226, 1053, 1927, 2002, 2003, 2006, 2013,
];

/// SQLite's `SQLITE_BUSY` and `SQLITE_LOCKED`: another connection holds
/// the database (after the busy timeout) or a table.
const TRANSIENT_SQLITE_CODES: &[i32] = &[5, 6];

/// Kinds of I/O errors of a connection that dropped, was refused or timed out.
const TRANSIENT_IO_KINDS: &[ErrorKind] = &[
    ErrorKind::ConnectionReset,
    ErrorKind::ConnectionRefused,
    ErrorKind::ConnectionAborted,
    ErrorKind::BrokenPipe,
    ErrorKind::TimedOut,
    ErrorKind::UnexpectedEof,
    ErrorKind::NotConnected,
];

/// Whether `error` may pass on its own: decided by the driver's code only
/// (see [`ErrorCode`]), never by the message, which may quote SQL and data.
/// An error without a code is not retried.
pub fn is_transient(error: &Error) -> bool {
    error.code().is_some_and(|code| is_transient_code(&code))
}

fn is_transient_code(code: &ErrorCode) -> bool {
    match code {
        ErrorCode::SqlState(state) => {
            state.starts_with("08") || TRANSIENT_SQLSTATES.contains(&&**state)
        }
        ErrorCode::MySql(number) => TRANSIENT_MYSQL_ERRORS.contains(number),
        ErrorCode::Sqlite(primary) => TRANSIENT_SQLITE_CODES.contains(primary),
        ErrorCode::Io(kind) => TRANSIENT_IO_KINDS.contains(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryPolicy;

    /// A step's error as the executor makes it: `message` and the code.
    fn step_failure(message: &str, code: Option<ErrorCode>) -> Error {
        Error::Step {
            step: "s".into(),
            message: message.into(),
            code,
        }
    }

    #[test]
    fn passing_failures_are_told_from_permanent_ones_by_code() {
        for code in [
            ErrorCode::SqlState("53300".into()),
            ErrorCode::SqlState("40P01".into()),
            ErrorCode::SqlState("40001".into()),
            ErrorCode::SqlState("57P01".into()),
            ErrorCode::SqlState("08006".into()),
            ErrorCode::SqlState("55P03".into()),
            ErrorCode::MySql(1213),
            ErrorCode::MySql(1205),
            ErrorCode::MySql(1226),
            ErrorCode::MySql(2013),
            ErrorCode::Sqlite(5),
            ErrorCode::Sqlite(6),
            ErrorCode::Io(ErrorKind::ConnectionReset),
            ErrorCode::Io(ErrorKind::ConnectionRefused),
            ErrorCode::Io(ErrorKind::TimedOut),
        ] {
            assert!(
                is_transient(&step_failure("failed", Some(code.clone()))),
                "{code:?}"
            );
        }
        for code in [
            ErrorCode::SqlState("42P01".into()),
            ErrorCode::SqlState("23505".into()),
            ErrorCode::SqlState("28P01".into()),
            ErrorCode::SqlState("22012".into()),
            ErrorCode::MySql(1146),
            ErrorCode::MySql(1062),
            ErrorCode::Sqlite(19),
            ErrorCode::Io(ErrorKind::NotFound),
            ErrorCode::Io(ErrorKind::PermissionDenied),
        ] {
            assert!(
                !is_transient(&step_failure("failed", Some(code.clone()))),
                "{code:?}"
            );
        }
    }

    #[test]
    fn text_in_sql_or_data_does_not_make_a_failure_passing() {
        // Messages that quote a statement or a value: without a code they
        // are not passing, whatever words they hold.
        for message in [
            "column 'note': value 'request timed out' is too long for varchar(10)",
            "ERROR: invalid input syntax for type integer: \"SQLSTATE 40001\" (SQLSTATE 22P02)",
            "ERROR 1366 (HY000): Incorrect integer value: 'ERROR 1213 ' for column 'n'",
            "connection 'dst', table 't': duplicate key\n  sql: INSERT INTO t SELECT 'connection reset by peer', 'broken pipe'",
            "a NULL in column 'v' (SQLSTATE 08006)",
        ] {
            assert!(!is_transient(&step_failure(message, None)), "{message}");
        }
        // The code decides, even when the text says otherwise.
        let coded = step_failure(
            "value 'timed out' (SQLSTATE 40001)",
            Some(ErrorCode::SqlState("23505".into())),
        );
        assert!(!is_transient(&coded));
        let coded = step_failure(
            "no telling words",
            Some(ErrorCode::SqlState("40001".into())),
        );
        assert!(is_transient(&coded));
    }

    #[test]
    fn engine_errors_keep_their_code_up_to_the_step() {
        use crate::error::EngineError;
        let engine = EngineError::query("src", None, None, "deadlock detected")
            .with_code(Some(ErrorCode::SqlState("40P01".into())));
        assert!(is_transient(&Error::from(engine)));
        let uncoded = EngineError::query("src", None, None, "SQLSTATE 40P01 timed out");
        assert!(!is_transient(&Error::from(uncoded)));
        // Errors that are not an engine's or a step's have no code.
        assert!(!is_transient(&Error::Usage("timed out".into())));
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
