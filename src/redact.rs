//! Keeps secrets out of everything barge prints or writes.

/// Replaces the password of a URL (`scheme://user:password@host`) with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let host = &authority[at + 1..];
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

/// The password of a URL (`scheme://user:password@host`), when it has one.
pub fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let at = authority.rfind('@')?;
    let (_, password) = authority[..at].split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// Words in a param's name that mark its value as a secret.
const SECRET_WORDS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "api_key",
    "private_key",
];

/// Params fit to print or store: the value of a param whose name says it is a
/// secret (password, secret, token, ...), or that equals the password of a
/// connection URL, is `***`; URLs keep everything but their password.
pub fn redact_params(
    params: &std::collections::BTreeMap<String, String>,
    connections: &[crate::config::ConnectionConfig],
) -> std::collections::BTreeMap<String, String> {
    use secrecy::ExposeSecret;
    let passwords: Vec<&str> = connections
        .iter()
        .filter_map(|c| url_password(c.url.expose_secret()))
        .collect();
    params
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            let secret = SECRET_WORDS.iter().any(|w| lower.contains(w))
                || passwords.iter().any(|p| value.contains(p));
            let shown = if secret {
                "***".to_string()
            } else {
                redact_url(value)
            };
            (name.clone(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{redact_params, redact_url, url_password};

    #[test]
    fn params_lose_their_secrets() {
        let connections = vec![crate::config::ConnectionConfig {
            name: "src".into(),
            url: "postgres://bob:hunter2@db/x".to_string().into(),
            read_only: true,
        }];
        let params = [
            ("customer_ids", "1,2"),
            ("db_password", "anything"),
            ("API_TOKEN", "t0k"),
            ("copied", "hunter2"),
            ("other_db", "mysql://al:pw@h/db"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let shown = redact_params(&params, &connections);
        assert_eq!(shown["customer_ids"], "1,2");
        assert_eq!(shown["db_password"], "***");
        assert_eq!(shown["API_TOKEN"], "***");
        assert_eq!(shown["copied"], "***");
        assert_eq!(shown["other_db"], "mysql://al:***@h/db");
        assert_eq!(url_password("postgres://bob:hunter2@db/x"), Some("hunter2"));
        assert_eq!(url_password("postgres://bob@db/x"), None);
    }

    #[test]
    fn hides_password_keeps_the_rest() {
        assert_eq!(
            redact_url("postgres://bob:s3cr3t@db:5432/shop?sslmode=require"),
            "postgres://bob:***@db:5432/shop?sslmode=require"
        );
        assert_eq!(
            redact_url("sqlite://data/shop.sqlite"),
            "sqlite://data/shop.sqlite"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/x"),
            "mysql://root@127.0.0.1/x"
        );
    }
}
