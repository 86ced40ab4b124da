//! [`Connector`]: opens the clients of one PostgreSQL database (catalog,
//! scans, writers) with the URL's TLS mode and the pipeline's read-only
//! setting; its readers see the connection's one exported snapshot (see
//! [`super::snapshot`]). Errors of the driver as barge's.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::snapshot::{import_sql, SharedSnapshot};
use super::tls;
use crate::error::{EngineError, EngineResult, ErrorCode};
use crate::redact::redact_url;

/// How long opening a connection may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Opens clients to one database: configuration, TLS, and the names used in
/// messages. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(super) name: String,
    config: Config,
    tls: Option<MakeRustlsConnect>,
    /// `host:port, database 'db'`, for messages.
    location: String,
    /// The URL with its password hidden.
    url: String,
    /// The snapshot the connection's reads share.
    pub(super) snapshot: Arc<SharedSnapshot>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish()
    }
}

impl Connector {
    /// Parses `url`; `sslmode` and `sslrootcert` are handled here, every
    /// other parameter by tokio-postgres.
    pub(super) fn parse(name: &str, url: &str, read_only: bool) -> EngineResult<Self> {
        let redacted = redact_url(url);
        let bad_url = |message: String| EngineError::Open {
            connection: name.to_string(),
            url: redacted.clone(),
            message,
            hint: Some(
                "write postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=require]".to_string(),
            ),
            code: None,
        };
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut mode = tls::Mode::Prefer;
        let mut root_cert = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", value)) => mode = tls::Mode::parse(value).map_err(bad_url)?,
                Some(("sslrootcert", value)) => root_cert = Some(value.to_string()),
                _ => rest.push(pair),
            }
        }
        // tokio-postgres wants `postgresql://`.
        let base = match base.split_once("://") {
            Some((_, tail)) => format!("postgresql://{tail}"),
            None => base.to_string(),
        };
        let url_for_config = if rest.is_empty() {
            base
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config = Config::from_str(&url_for_config).map_err(|e| bad_url(e.to_string()))?;
        config.ssl_mode(mode.ssl_mode());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("barge");
        }
        if read_only {
            let options = config.get_options().unwrap_or_default().to_string();
            config.options(format!("{options} -c default_transaction_read_only=on").trim());
        }
        let tls = match mode {
            tls::Mode::Disable => None,
            _ => Some(tls::connector(mode, root_cert.as_deref()).map_err(bad_url)?),
        };
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres");
        Ok(Self {
            name: name.to_string(),
            location: format!("{host}:{port}, database '{database}'"),
            config,
            tls,
            url: redacted,
            snapshot: Arc::new(SharedSnapshot::new(Default::default())),
        })
    }

    /// The connection's name in the pipeline.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Opens a client; its connection task runs on the current runtime.
    pub(crate) async fn connect(&self) -> EngineResult<Client> {
        let result = match &self.tls {
            None => self.config.connect(NoTls).await.map(|(client, conn)| {
                tokio::spawn(conn);
                client
            }),
            Some(tls) => self
                .config
                .connect(tls.clone())
                .await
                .map(|(client, conn)| {
                    tokio::spawn(conn);
                    client
                }),
        };
        result.map_err(|e| EngineError::Open {
            connection: self.name.clone(),
            url: self.url.clone(),
            message: format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.location,
                describe(&e)
            ),
            hint: Some(
                "check that the server runs and accepts TCP connections, and the URL's host, port, user, password and database (sslmode=require if the server wants TLS)"
                    .to_string(),
            ),
            code: error_code(&e),
        })
    }

    /// Opens a client for a read: inside the connection's snapshot when its
    /// reads share one (see [`super::snapshot`]).
    pub(crate) async fn reader(&self) -> EngineResult<Client> {
        let snapshot = self.snapshot.id(self).await?;
        let client = self.connect().await?;
        if let Some(id) = snapshot {
            let sql = import_sql(&id);
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| self.error(None, e).with_sql(&sql))?;
        }
        Ok(client)
    }

    /// A query error on this connection, with the server's detail and hint
    /// and where the server is.
    pub(crate) fn error(&self, table: Option<&str>, e: tokio_postgres::Error) -> EngineError {
        EngineError::query(
            &self.name,
            table,
            None,
            format!("{} (PostgreSQL at {})", describe(&e), self.location),
        )
        .with_code(error_code(&e))
    }
}

/// The code of a tokio-postgres error: the server's SQLSTATE, else the kind
/// of the I/O error under it (a connection reset, refused, timed out), else
/// `ConnectionAborted` for a connection the client found closed.
fn error_code(e: &tokio_postgres::Error) -> Option<ErrorCode> {
    if let Some(state) = e.code() {
        return Some(ErrorCode::SqlState(state.code().into()));
    }
    ErrorCode::io_in(e).or_else(|| {
        e.is_closed()
            .then_some(ErrorCode::Io(std::io::ErrorKind::ConnectionAborted))
    })
}

/// A tokio-postgres error as one line: the server's message with its detail
/// and hint, or the client error with its cause.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("\n  hint: {hint}"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_tls_modes_and_hide_the_password() {
        let c = Connector::parse(
            "src",
            "postgres://bob:s3cret@db.example:6543/shop?sslmode=require&connect_timeout=3",
            true,
        )
        .unwrap();
        assert_eq!(c.location, "db.example:6543, database 'shop'");
        assert!(c.tls.is_some());
        assert_eq!(
            c.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert!(c
            .config
            .get_options()
            .unwrap()
            .contains("default_transaction_read_only=on"));
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = Connector::parse("src", "postgresql://u@h/d?sslmode=disable", false).unwrap();
        assert!(c.tls.is_none());
        let err = Connector::parse("src", "postgres://u:pw@h/d?sslmode=sometimes", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sslmode") && !err.contains(":pw@"), "{err}");
    }
}
