//! `${NAME}` interpolation. `$${` writes a literal `${`.

use std::collections::HashMap;

/// Variables visible to `${NAME}`, highest precedence first: `--set`, then the
/// environment (process, then `.env` files), then the file's `[params]`.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    pub cli: HashMap<String, String>,
    pub env: HashMap<String, String>,
    pub params: HashMap<String, String>,
}

impl Vars {
    /// The value of `name`. A variable whose name marks a secret
    /// (`db_password`, `API_TOKEN`: see [`crate::redact::is_secret_param`])
    /// is registered with [`crate::redact`] as it is read, so wherever it is
    /// interpolated, nothing barge prints or writes shows it.
    pub fn get(&self, name: &str) -> Option<&str> {
        let value = self
            .cli
            .get(name)
            .or_else(|| self.env.get(name))
            .or_else(|| self.params.get(name))
            .map(String::as_str)?;
        if crate::redact::is_secret_param(name, value, &[]) {
            crate::redact::register(value);
        }
        Some(value)
    }
}

/// A `${NAME}` that no variable defines, or a `${` never closed.
#[derive(Debug, PartialEq)]
pub enum InterpolationError {
    /// Byte offset of the `${` in the input, and the name.
    Unset {
        offset: usize,
        name: String,
    },
    Unclosed {
        offset: usize,
    },
}

/// Replaces every `${NAME}` in `input` using `lookup`.
pub fn interpolate<'a>(
    input: &str,
    lookup: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut consumed = 0;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            consumed += i + 3;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                return Err(InterpolationError::Unclosed {
                    offset: consumed + i,
                });
            };
            let name = body[..end].trim();
            match lookup(name) {
                Some(value) => out.push_str(value),
                None => {
                    return Err(InterpolationError::Unset {
                        offset: consumed + i,
                        name: name.to_string(),
                    })
                }
            }
            rest = &body[end + 1..];
            consumed += i + 2 + end + 1;
        } else {
            out.push('$');
            rest = &after[1..];
            consumed += i + 1;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_escapes_and_reports_unset() {
        let vars = |n: &str| match n {
            "a" => Some("1"),
            "b" => Some("x y"),
            _ => None,
        };
        assert_eq!(
            interpolate("id IN (${a}) $1 $${a}", vars).unwrap(),
            "id IN (1) $1 ${a}"
        );
        assert_eq!(interpolate("${ b }!", vars).unwrap(), "x y!");
        assert_eq!(
            interpolate("ok ${nope}", vars),
            Err(InterpolationError::Unset {
                offset: 3,
                name: "nope".into()
            })
        );
        assert_eq!(
            interpolate("${a", vars),
            Err(InterpolationError::Unclosed { offset: 0 })
        );
    }

    #[test]
    fn precedence_is_cli_then_env_then_params() {
        let mut v = Vars::default();
        v.params.insert("x".into(), "file".into());
        assert_eq!(v.get("x"), Some("file"));
        v.env.insert("x".into(), "env".into());
        assert_eq!(v.get("x"), Some("env"));
        v.cli.insert("x".into(), "cli".into());
        assert_eq!(v.get("x"), Some("cli"));
    }
}
