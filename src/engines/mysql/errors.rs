//! MySQL/MariaDB driver errors as barge's: their codes (for retries) and
//! the hint of a failed connection.

use super::tls::SslMode;

use crate::error::ErrorCode;

/// The code of a mysql_async error: the server's error number, else the
/// kind of the I/O error under it, else `ConnectionAborted` for a session
/// the driver found closed.
pub(crate) fn error_code(e: &mysql_async::Error) -> Option<ErrorCode> {
    match e {
        mysql_async::Error::Server(server) => Some(ErrorCode::MySql(server.code)),
        mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => {
            Some(ErrorCode::Io(std::io::ErrorKind::ConnectionAborted))
        }
        other => ErrorCode::io_in(other),
    }
}

/// A hint for a failed connection.
pub(super) fn connect_hint(e: &mysql_async::Error, ssl_mode: SslMode) -> String {
    let text = e.to_string();
    if text.contains("Access denied") {
        "check the user name and password in the URL (and that the user may connect from this host)"
            .to_string()
    } else if text.contains("Unknown database") {
        "create the database first, or fix its name in the URL".to_string()
    } else if matches!(
        e,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    ) {
        format!(
            "the server does not offer TLS but ssl-mode is {ssl_mode:?}; enable TLS on the server or use ssl-mode=PREFERRED"
        )
    } else if matches!(e, mysql_async::Error::Io(_)) {
        "check the host and port, and that the server is running and reachable (and its TLS settings match ssl-mode)".to_string()
    } else {
        "check the URL: mysql://USER:PASSWORD@HOST:PORT/DATABASE".to_string()
    }
}
