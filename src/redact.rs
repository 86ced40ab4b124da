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

#[cfg(test)]
mod tests {
    use super::redact_url;

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
