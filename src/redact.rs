//! Keeps secrets out of everything barge prints or writes. A leaf.
//!
//! Two layers:
//!
//! - **By form** ([`redact_url`], [`redact_text`]): the password of a URL
//!   whatever its characters (raw `/ @ ? # %` or percent-encoded: everything
//!   between `user:` and the last `@` is hidden), `password=` (and `pwd=`,
//!   `passwd=`, `pass=`, `secret=`, `token=`) parameters of URLs and
//!   keyword/value DSN strings (`host=db password='a b'`).
//! - **By value** ([`register`], [`scrub`]): every secret the process knows
//!   (the connections' passwords in their raw, percent-decoded and
//!   percent-encoded forms, secret params, the salt) is replaced by `***` in
//!   any text, wherever it appears: applied to every message, log line, state
//!   file, journal, manifest and report barge writes. Secrets shorter than
//!   [`MIN_SCRUBBED`] characters are hidden by form only (replacing a
//!   one-letter password everywhere would garble every message).

use std::collections::BTreeMap;
use std::sync::RwLock;

/// What a hidden secret is shown as.
pub const HIDDEN: &str = "***";

/// Shortest secret [`scrub`] replaces wherever it appears.
pub const MIN_SCRUBBED: usize = 4;

/// Names of URL and DSN parameters whose value is a secret.
const SECRET_KEYS: [&str; 7] = [
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "sslpassword",
];

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

/// The secrets [`scrub`] removes, longest first.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Replaces the password of a URL (`scheme://user:password@host...`) and
/// its secret parameters (`?password=...`) with `***`; a text without
/// `://` is read as a keyword/value DSN (`host=db password=x`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_keywords(url);
    };
    // The userinfo ends at the last `@`: a raw password may hold `/`, `?`,
    // `#` and `@` itself. A query holding `@` hides more than needed,
    // never less.
    let rest = match rest.rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _password)) => format!("{user}:{HIDDEN}@{}", &rest[at + 1..]),
            None => rest.to_string(),
        },
        None => rest.to_string(),
    };
    redact_keywords(&format!("{scheme}://{rest}"))
}

/// Hides the values of secret keywords (`password=...`) in URL queries and
/// DSN strings: up to the next `&`, `;`, `#` or blank, or the closing quote
/// of a quoted value.
fn redact_keywords(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find('=') {
        let eq = from + found;
        from = eq + 1;
        let name_start = lower[..eq]
            .trim_end()
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map_or(0, |i| i + 1);
        let name = lower[name_start..eq].trim();
        if !SECRET_KEYS.contains(&name) || eq < copied {
            continue;
        }
        let value_start = eq + 1 + (text[eq + 1..].len() - text[eq + 1..].trim_start().len());
        let value_end = match text[value_start..].chars().next() {
            Some(q @ ('\'' | '"')) => text[value_start + 1..]
                .find(q)
                .map_or(text.len(), |i| value_start + 1 + i + 1),
            _ => text[value_start..]
                .find(|c: char| matches!(c, '&' | ';' | '#') || c.is_whitespace())
                .map_or(text.len(), |i| value_start + i),
        };
        if value_end == value_start {
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(HIDDEN);
        copied = value_end;
        from = value_end;
    }
    out.push_str(&text[copied..]);
    out
}

/// The password of a URL (`scheme://user:password@host`), when it has one,
/// as written (maybe percent-encoded).
pub fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let at = rest.rfind('@')?;
    let (_, password) = rest[..at].split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// The secrets a URL holds: its password (as written and percent-decoded)
/// and the values of its secret parameters.
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some(password) = url_password(url) {
        secrets.push(password.to_string());
        secrets.push(percent_decode(password));
    }
    let query = url.split_once('?').map_or("", |(_, q)| q);
    for pair in query.split(['&', ';']) {
        if let Some((name, value)) = pair.split_once('=') {
            if SECRET_KEYS.contains(&name.trim().to_ascii_lowercase().as_str()) && !value.is_empty()
            {
                let value = value.split('#').next().unwrap_or(value);
                secrets.push(value.to_string());
                secrets.push(percent_decode(value));
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

/// `%XX` escapes decoded (invalid escapes kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every byte but unreserved characters as `%XX` (how a password is
/// written in a URL when encoded), with upper- or lower-case hex digits.
fn percent_encode(text: &str, lower_hex: bool) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else if lower_hex {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Makes [`scrub`] hide `secret` (and its percent-encoded, with upper- and
/// lower-case hex digits, and JSON-escaped forms) from now on.
pub fn register(secret: &str) {
    if secret.chars().count() < MIN_SCRUBBED {
        return;
    }
    let forms = [
        secret.to_string(),
        percent_encode(secret, false),
        percent_encode(secret, true),
        json_escaped(secret),
    ];
    let Ok(mut secrets) = SECRETS.write() else {
        return;
    };
    for form in forms {
        if form.chars().count() >= MIN_SCRUBBED && !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // Longest first, so a secret holding another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Registers the secrets of `url` (see [`url_secrets`]). A password
/// holding URL delimiters (`/ ? # @ : &`) written raw is cut there by URL
/// parsers, whose messages may quote the pieces: every part of it that
/// starts or ends at a delimiter is registered too (when long enough).
pub fn register_url(url: &str) {
    for secret in url_secrets(url) {
        register(&secret);
        for piece in delimited_pieces(&secret) {
            register(piece);
        }
    }
}

/// The parts of `secret` a URL parser may cut it into: everything before a
/// delimiter, everything after one, and what lies between two.
fn delimited_pieces(secret: &str) -> Vec<&str> {
    let cuts: Vec<usize> = secret
        .match_indices(['/', '?', '#', '@', ':', '&'])
        .map(|(i, _)| i)
        .collect();
    let starts = std::iter::once(0).chain(cuts.iter().map(|i| i + 1));
    let mut pieces = Vec::new();
    for start in starts {
        let ends = cuts
            .iter()
            .copied()
            .filter(|&end| end > start)
            .chain(std::iter::once(secret.len()));
        for end in ends {
            if (start, end) != (0, secret.len()) {
                pieces.push(&secret[start..end]);
            }
        }
    }
    pieces
}

/// `text` as a JSON string's content.
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

/// `text` fit to print or store: every registered secret replaced by `***`,
/// and every URL and DSN keyword in it redacted by form.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(secrets) = SECRETS.read() {
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), HIDDEN);
            }
        }
    }
    redact_text(&out)
}

/// Scrubs (see [`scrub`]) every string of a JSON value in place; object
/// keys are names (steps, params, connections) and are kept.
pub fn scrub_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            let scrubbed = scrub(text);
            if scrubbed != *text {
                *text = scrubbed;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(scrub_json),
        _ => {}
    }
}

/// Redacts by form every URL (`scheme://...` up to a blank or a quote) and
/// secret keyword (`password=...`) in free text.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let start = rest[..found]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
            .map_or(0, |i| i + 1);
        let end = rest[found..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '<' | '>'))
            .map_or(rest.len(), |i| found + i);
        out.push_str(&redact_keywords(&rest[..start]));
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(&redact_keywords(rest));
    out
}

/// Params fit to print or store: the value of a param whose name says it is a
/// secret (password, secret, token, ...), or that holds one of `passwords`
/// (the connections' passwords), is `***`; URLs keep everything but their
/// password.
pub fn redact_params(
    params: &BTreeMap<String, String>,
    passwords: &[&str],
) -> BTreeMap<String, String> {
    params
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret_param(name, value, passwords) {
                HIDDEN.to_string()
            } else {
                redact_url(value)
            };
            (name.clone(), shown)
        })
        .collect()
}

/// Whether a param is a secret: its name says so, or its value holds a
/// connection's password (as written in its URL, or percent-decoded).
pub fn is_secret_param(name: &str, value: &str, passwords: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
        || passwords
            .iter()
            .any(|p| !p.is_empty() && (value.contains(p) || value.contains(&percent_decode(p))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_lose_their_secrets() {
        let passwords = [url_password("postgres://bob:hunter2@db/x").unwrap_or_default()];
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
        let shown = redact_params(&params, &passwords);
        assert_eq!(shown["customer_ids"], "1,2");
        assert_eq!(shown["db_password"], "***");
        assert_eq!(shown["API_TOKEN"], "***");
        assert_eq!(shown["copied"], "***");
        assert_eq!(shown["other_db"], "mysql://al:***@h/db");
        assert_eq!(url_password("postgres://bob:hunter2@db/x"), Some("hunter2"));
        assert_eq!(url_password("postgres://bob@db/x"), None);
        assert!(is_secret_param("dsn", "pw=p/q@r", &["p%2Fq%40r"]));
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

    #[test]
    fn passwords_with_url_characters_are_hidden_whole() {
        let raw = "postgres://bob:p/a@s?s#w%rd@db:5432/shop";
        assert_eq!(redact_url(raw), "postgres://bob:***@db:5432/shop");
        assert_eq!(url_password(raw), Some("p/a@s?s#w%rd"));
        let encoded = "postgres://bob:p%2Fa%40s%3Fs%23w%25rd@db/shop";
        assert_eq!(redact_url(encoded), "postgres://bob:***@db/shop");
        assert!(url_secrets(encoded).contains(&"p/a@s?s#w%rd".to_string()));
        assert_eq!(
            redact_url("postgres://db/shop?user=bob&password=s3cret&sslmode=disable"),
            "postgres://db/shop?user=bob&password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("host=db user=bob password='a b c' dbname=shop"),
            "host=db user=bob password=*** dbname=shop"
        );
        assert_eq!(
            redact_text("cannot open postgres://bob:x/y@db/s: refused; dsn host=h pwd=zz"),
            "cannot open postgres://bob:***@db/s: refused; dsn host=h pwd=***"
        );
    }

    #[test]
    fn registered_secrets_leave_every_text() {
        register("Sup3r/S@cr#t%");
        let text = "a message naming Sup3r/S@cr#t% and Sup3r%2FS%40cr%23t%25 and \"Sup3r/S@cr#t%\"";
        assert_eq!(scrub(text), "a message naming *** and *** and \"***\"");
        // Short secrets are hidden by form only.
        register("ab");
        assert_eq!(scrub("tab"), "tab");
    }

    #[test]
    fn lower_case_percent_escapes_are_hidden_too() {
        register("Lc/Hex@Pw");
        assert_eq!(scrub("as Lc%2fHex%40Pw or Lc%2FHex%40Pw"), "as *** or ***");
    }

    #[test]
    fn pieces_of_a_raw_password_a_parser_cuts_are_hidden() {
        register_url("postgres://u:Pq/7@k?m#3%Xz@127.0.0.1/db");
        // As tokio-postgres cuts it: password `Pq/7`, host `k`, then a query.
        assert_eq!(
            scrub("password `Pq/7`; unknown option `m#3%Xz@127.0.0.1/db`"),
            "password `***`; unknown option `***@127.0.0.1/db`"
        );
        assert_eq!(scrub("Pq/7@k?m#3%Xz"), "***");
        assert_eq!(
            delimited_pieces("a/b@c"),
            ["a", "a/b", "b", "b@c", "c"].to_vec()
        );
    }

    #[test]
    fn json_strings_are_scrubbed_and_the_json_stays_whole() {
        register("Js0n/Pw#1");
        let mut value = serde_json::json!({
            "sql": "SELECT 'Js0n/Pw#1' AS x",
            "dsn": "host=db password=plain",
            "nested": [{"url": "mysql://root:Js0n%2FPw%231@h/db"}],
            "Js0n/Pw#1": 7,
        });
        scrub_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "sql": "SELECT '***' AS x",
                "dsn": "host=db password=***",
                "nested": [{"url": "mysql://root:***@h/db"}],
                "Js0n/Pw#1": 7,
            })
        );
    }
}
