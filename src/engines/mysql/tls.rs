//! The URL of a MySQL/MariaDB connection: `ssl-mode` (and `ssl-ca`) split
//! off into the driver's TLS options, `mariadb://` read as `mysql://`.

use mysql_async::SslOpts;

/// `ssl-mode=` of the URL, as the MySQL clients spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disabled,
    /// TLS when the server offers it (certificate not checked), else plain.
    Preferred,
    /// TLS, certificate not checked.
    Required,
    /// TLS, certificate chain checked, host name not.
    VerifyCa,
    /// TLS, certificate chain and host name checked.
    VerifyIdentity,
}

impl SslMode {
    fn parse(value: &str) -> Option<Self> {
        Some(
            match value.to_ascii_uppercase().replace('-', "_").as_str() {
                "DISABLED" | "DISABLE" | "FALSE" | "0" => SslMode::Disabled,
                "PREFERRED" | "PREFER" => SslMode::Preferred,
                "REQUIRED" | "REQUIRE" | "TRUE" | "1" => SslMode::Required,
                "VERIFY_CA" => SslMode::VerifyCa,
                "VERIFY_IDENTITY" | "VERIFY_FULL" => SslMode::VerifyIdentity,
                _ => return None,
            },
        )
    }

    /// The `mysql_async` TLS options of this mode (`None`: no TLS).
    pub(super) fn ssl_opts(self, ca: Option<&str>) -> Option<SslOpts> {
        let opts = SslOpts::default();
        let opts = match ca {
            Some(path) => opts.with_root_certs(vec![std::path::PathBuf::from(path).into()]),
            None => opts,
        };
        match self {
            SslMode::Disabled => None,
            SslMode::Preferred | SslMode::Required => Some(
                opts.with_danger_accept_invalid_certs(true)
                    .with_danger_skip_domain_validation(true),
            ),
            SslMode::VerifyCa => Some(opts.with_danger_skip_domain_validation(true)),
            SslMode::VerifyIdentity => Some(opts),
        }
    }
}

/// A URL split into what `mysql_async` reads and barge's own parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// `mysql://...` without `ssl-mode` / `ssl-ca`.
    pub driver_url: String,
    pub ssl_mode: SslMode,
    pub ssl_ca: Option<String>,
}

/// Splits `ssl-mode=` (also `ssl_mode`, `sslmode`) and `ssl-ca=` out of the
/// URL's query; `mariadb://` becomes `mysql://`. Errors name the bad value.
pub fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("mysql") || scheme.eq_ignore_ascii_case("mariadb") =>
        {
            rest
        }
        _ => return Err("the URL must start with mysql:// or mariadb://".to_string()),
    };
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let mut ssl_mode = SslMode::Preferred;
    let mut ssl_ca = None;
    let mut kept = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let normalized = key.to_ascii_lowercase().replace('_', "-");
        match normalized.as_str() {
            "ssl-mode" | "sslmode" => {
                ssl_mode = SslMode::parse(value).ok_or_else(|| {
                    format!(
                        "ssl-mode={value} is not a TLS mode\n  hint: use ssl-mode=DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                    )
                })?;
            }
            "ssl-ca" | "sslrootcert" => ssl_ca = Some(value.to_string()),
            _ => kept.push(pair),
        }
    }
    let mut driver_url = format!("mysql://{base}");
    if !kept.is_empty() {
        driver_url.push('?');
        driver_url.push_str(&kept.join("&"));
    }
    Ok(ParsedUrl {
        driver_url,
        ssl_mode,
        ssl_ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_ssl_mode_is_split_off() {
        let p = parse_url("mysql://u:p@h:3307/db?ssl-mode=REQUIRED&prefer_socket=false").unwrap();
        assert_eq!(p.driver_url, "mysql://u:p@h:3307/db?prefer_socket=false");
        assert_eq!(p.ssl_mode, SslMode::Required);
        let p = parse_url("mariadb://u@h/db").unwrap();
        assert_eq!(p.driver_url, "mysql://u@h/db");
        assert_eq!(p.ssl_mode, SslMode::Preferred);
        let p = parse_url("mysql://u@h/db?ssl_mode=verify_identity&ssl-ca=/etc/ca.pem").unwrap();
        assert_eq!(p.driver_url, "mysql://u@h/db");
        assert_eq!(p.ssl_mode, SslMode::VerifyIdentity);
        assert_eq!(p.ssl_ca.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            parse_url("mysql://u@h/db?sslmode=disabled")
                .unwrap()
                .ssl_mode,
            SslMode::Disabled
        );
        assert_eq!(
            parse_url("mysql://u@h/db?ssl-mode=VERIFY_CA")
                .unwrap()
                .ssl_mode,
            SslMode::VerifyCa
        );
        let err = parse_url("mysql://u@h/db?ssl-mode=sometimes").unwrap_err();
        assert!(err.contains("ssl-mode=sometimes"), "{err}");
        assert!(err.contains("VERIFY_IDENTITY"), "{err}");
    }

    #[test]
    fn ssl_modes_map_to_driver_options() {
        assert!(SslMode::Disabled.ssl_opts(None).is_none());
        let required = SslMode::Required.ssl_opts(None).unwrap();
        assert!(required.accept_invalid_certs() && required.skip_domain_validation());
        let ca = SslMode::VerifyCa.ssl_opts(None).unwrap();
        assert!(!ca.accept_invalid_certs() && ca.skip_domain_validation());
        let full = SslMode::VerifyIdentity.ssl_opts(Some("/ca.pem")).unwrap();
        assert!(!full.accept_invalid_certs() && !full.skip_domain_validation());
        assert_eq!(full.root_certs().len(), 1);
    }
}
