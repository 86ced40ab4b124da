//! Loading a pipeline file: parse (unknown keys rejected), interpolate
//! `${VAR}`, resolve SQL files and mappings, validate references. Every error
//! names the file, line and column.

mod subset;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use barge_udfs::{SqlMacro, SqlMacros};
use toml::Spanned;

use super::interpolate::{interpolate, InterpolationError, Vars};
use super::model::{PipelineFile, StepFile};
use super::size::{parse_memory_limit, DEFAULT_MEMORY_LIMIT, MIN_MEMORY_LIMIT};
use super::{
    ConnectionConfig, Mapping, MappingValue, Pipeline, RetryPolicy, StepConfig, TargetRef,
};
use crate::error::ConfigError;
use crate::model::{TableName, WriteMode};

/// Overrides from the command line and the environment.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// `--set name=value` pairs; they win over everything else.
    pub sets: Vec<(String, String)>,
    /// Environment to use instead of the process environment (tests).
    pub env: Option<HashMap<String, String>>,
}

/// Reads, interpolates and validates the pipeline at `path`.
pub fn load_pipeline(path: &Path, options: &LoadOptions) -> Result<Pipeline, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(path, format!("cannot read the pipeline file: {e}"))
            .with_hint("check the path; relative paths start from the working directory")
    })?;
    let file: PipelineFile = toml::from_str(&text).map_err(|e| {
        let message = e.message().trim().to_string();
        let hint = hint_for_parse_error(&message);
        let err = match e.span() {
            Some(span) => ConfigError::at(path, &text, span.start, message),
            None => ConfigError::new(path, message),
        };
        match hint {
            Some(h) => err.with_hint(h),
            None => err,
        }
    })?;
    Loader {
        path,
        dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        text: &text,
        vars: Vars::default(),
    }
    .resolve(file, options)
}

fn hint_for_parse_error(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some("remove or fix the key; the README's \"Pipeline file\" section lists every key".into())
    } else if message.contains("unknown variant") {
        Some("modes are append, replace, truncate, error_if_exists, insert_ignore, upsert".into())
    } else if message.contains("missing field") {
        Some("add the missing key".into())
    } else {
        Some("the file must be valid TOML (https://toml.io)".into())
    }
}

struct Loader<'a> {
    path: &'a Path,
    dir: PathBuf,
    text: &'a str,
    vars: Vars,
}

impl Loader<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path, self.text, span.start, message)
    }

    /// Interpolates a spanned string; an unset variable is reported at its `${`.
    fn interpolate(&self, value: &Spanned<String>, what: &str) -> Result<String, ConfigError> {
        interpolate(value.get_ref(), |name| self.vars.get(name)).map_err(|e| {
            let span = value.span();
            let raw = &self.text[span.clone()];
            match e {
                InterpolationError::Unset { name, .. } => {
                    let at = raw
                        .find(&format!("${{{name}}}"))
                        .map_or(span.start, |i| span.start + i);
                    ConfigError::at(
                        self.path,
                        self.text,
                        at,
                        format!("{what} uses ${{{name}}}, which is not set"),
                    )
                    .with_hint(format!(
                        "set {name} in the environment or a .env file, add it to [params], or pass --set {name}=VALUE"
                    ))
                }
                InterpolationError::Unclosed { .. } => {
                    let at = raw.find("${").map_or(span.start, |i| span.start + i);
                    ConfigError::at(self.path, self.text, at, format!("{what} has a `${{` without its closing `}}`"))
                        .with_hint("write ${NAME}, or $${ for a literal ${")
                }
            }
        })
    }

    fn resolve(
        mut self,
        file: PipelineFile,
        options: &LoadOptions,
    ) -> Result<Pipeline, ConfigError> {
        self.vars.env = match &options.env {
            Some(env) => env.clone(),
            None => process_env_with_dotenv(&self.dir),
        };
        self.vars.cli = options.sets.iter().cloned().collect();
        if let Some(salt) = self.vars.env.get(barge_udfs::SALT_VAR) {
            crate::redact::register(salt);
        }

        // Params: file values (themselves interpolated from the environment),
        // overridden by the environment and --set.
        let mut params = BTreeMap::new();
        for (name, value) in &file.params {
            let raw = match value.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                _ => {
                    return Err(self
                        .err(
                            value.span(),
                            format!("param '{name}' must be a string, number, boolean or array"),
                        )
                        .with_hint("write name = \"value\""))
                }
            };
            let spanned = Spanned::new(value.span(), raw);
            let resolved = self.interpolate(&spanned, &format!("param '{name}'"))?;
            params.insert(name.clone(), resolved);
        }
        for (name, value) in &params {
            self.vars.params.insert(name.clone(), value.clone());
        }
        let effective_params = params
            .keys()
            .map(|k| (k.clone(), self.vars.get(k).unwrap_or_default().to_string()))
            .chain(options.sets.iter().cloned())
            .collect::<BTreeMap<_, _>>();

        let mut connections = Vec::new();
        for (name, conn) in &file.connections {
            let url = self.interpolate(&conn.url, &format!("connection '{name}' url"))?;
            crate::redact::register_url(&url);
            connections.push(ConnectionConfig {
                name: name.clone(),
                url: url.into(),
                read_only: conn.read_only,
                snapshot: conn.snapshot,
            });
        }

        let mappings = file
            .mappings
            .iter()
            .map(|(name, table)| Ok((name.clone(), self.mapping(name, table)?)))
            .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;

        let macros = self.macros(&file)?;

        let default_mode = file.defaults.mode.unwrap_or_default();
        let stage = match &file.defaults.stage {
            Some(dir) => {
                let resolved = self.interpolate(dir, "[defaults].stage")?;
                if resolved.trim().is_empty() {
                    return Err(self
                        .err(dir.span(), "[defaults].stage is empty")
                        .with_hint("give a directory: stage = \"staging\" (runs go in staging/<run_id>/), or remove the key"));
                }
                Some(resolved)
            }
            None => None,
        };
        let default_retry = self.retry_policy(
            RetryPolicy::default(),
            file.defaults.retries,
            file.defaults.retry_max_seconds.as_ref(),
        )?;
        let default_chunk_rows = file.defaults.chunk_rows.as_ref().map(|n| *n.get_ref());
        let memory_limit = match &file.defaults.memory_limit {
            Some(limit) => self.memory_limit(limit)?,
            None => DEFAULT_MEMORY_LIMIT,
        };
        let mut steps = Vec::new();
        let mut names = HashSet::new();
        for step in &file.steps {
            let mut resolved = self.step(
                step,
                &connections,
                default_mode,
                default_retry,
                default_chunk_rows,
            )?;
            resolved.max_rejects = step.max_rejects.or(file.defaults.max_rejects).unwrap_or(0);
            self.expand_macros(&macros, &mut resolved, step)?;
            if !names.insert(resolved.name.clone()) {
                let span = step.name.as_ref().map_or(step.target.span(), |n| n.span());
                return Err(self
                    .err(span, format!("two steps are named '{}'", resolved.name))
                    .with_hint("give each step a distinct `name`"));
            }
            steps.push(resolved);
        }
        for (step, file_step) in steps.iter().zip(&file.steps) {
            for dep in &step.depends_on {
                if !names.contains(dep) {
                    return Err(self
                        .err(
                            file_step.target.span(),
                            format!("step '{}' depends on unknown step '{dep}'", step.name),
                        )
                        .with_hint(format!("steps are: {}", join_sorted(&names))));
                }
            }
        }
        let subset = match &file.subset {
            Some(subset) => {
                Some(self.subset(subset, &connections, file.defaults.mode, default_retry)?)
            }
            None => None,
        };
        if steps.is_empty() && subset.is_none() {
            return Err(
                ConfigError::new(self.path, "the pipeline has no [[step]]").with_hint(
                    "add a [[step]] with `target` and `sql`, or a [subset] with `root` and `where`",
                ),
            );
        }

        let name = file.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pipeline".into())
        });
        let pipeline = Pipeline {
            name,
            file: Some(self.path.to_path_buf()),
            connections,
            params: effective_params,
            steps,
            mappings,
            stage,
            subset,
            salt: self
                .vars
                .env
                .get(barge_udfs::SALT_VAR)
                .map(|s| s.clone().into()),
            memory_limit,
        };
        // Params named like secrets were registered as they were read (see
        // `Vars::get`); --set ones and those holding a password are here.
        let passwords = pipeline.passwords();
        for (name, value) in &pipeline.params {
            if crate::redact::is_secret_param(name, value, &passwords) {
                crate::redact::register(value);
            }
        }
        Ok(pipeline)
    }

    /// `[defaults].memory_limit`: bytes, or text with a unit.
    fn memory_limit(&self, value: &Spanned<toml::Value>) -> Result<u64, ConfigError> {
        let parsed = match value.get_ref() {
            toml::Value::Integer(bytes) => u64::try_from(*bytes)
                .map_err(|_| format!("memory_limit = {bytes} is not a size"))
                .and_then(|bytes| parse_memory_limit(&bytes.to_string())),
            toml::Value::String(text) => parse_memory_limit(
                &self.interpolate(&Spanned::new(value.span(), text.clone()), "memory_limit")?,
            ),
            other => Err(format!("memory_limit is {}, not a size", other.type_str())),
        };
        parsed.map_err(|message| {
            self.err(value.span(), message).with_hint(format!(
                "write memory_limit = \"512MiB\" (or GiB, MB, GB, bytes), at least {} MiB",
                MIN_MEMORY_LIMIT >> 20
            ))
        })
    }

    /// `[functions]`: the pipeline's SQL macros, checked.
    fn macros(&self, file: &PipelineFile) -> Result<SqlMacros, ConfigError> {
        let mut defs = Vec::new();
        let mut spans = HashMap::new();
        for (name, value) in &file.functions {
            let span = value.span();
            let fix = format!(
                "write {name} = \"expression\" (no parameters: the expression uses the row's columns), \
                 or [functions.{name}] with args = [\"a\", \"b\"] and sql = \"expression over a and b\""
            );
            let (params, body) = match value.get_ref() {
                toml::Value::String(body) => (Vec::new(), body.clone()),
                toml::Value::Table(table) => {
                    if let Some(key) = table.keys().find(|k| *k != "args" && *k != "sql") {
                        return Err(self
                            .err(span, format!("function '{name}' has unknown key '{key}'"))
                            .with_hint(fix));
                    }
                    let Some(toml::Value::String(body)) = table.get("sql") else {
                        return Err(self
                            .err(
                                span,
                                format!(
                                    "function '{name}' needs `sql`, the expression as a string"
                                ),
                            )
                            .with_hint(fix));
                    };
                    let params = match table.get("args") {
                        None => Vec::new(),
                        Some(toml::Value::Array(items)) => {
                            let mut params = Vec::new();
                            for item in items {
                                let toml::Value::String(p) = item else {
                                    return Err(self
                                        .err(span, format!("function '{name}': `args` must be a list of parameter names"))
                                        .with_hint(fix));
                                };
                                params.push(p.clone());
                            }
                            params
                        }
                        Some(_) => {
                            return Err(self
                                .err(
                                    span,
                                    format!(
                                    "function '{name}': `args` must be a list of parameter names"
                                ),
                                )
                                .with_hint(fix))
                        }
                    };
                    (params, body.clone())
                }
                other => {
                    return Err(self
                        .err(
                            span,
                            format!(
                                "function '{name}' is {}, not an expression",
                                other.type_str()
                            ),
                        )
                        .with_hint(fix))
                }
            };
            let body = self.interpolate(
                &Spanned::new(span.clone(), body),
                &format!("function '{name}'"),
            )?;
            spans.insert(name.clone(), span);
            defs.push(SqlMacro {
                name: name.clone(),
                params,
                body,
            });
        }
        SqlMacros::new(defs).map_err(|e| {
            let span = spans.get(&e.name).cloned().unwrap_or(0..0);
            self.err(span, e.message).with_hint(
                "[functions] in the README's \"Pipeline file\" section says how macros are written",
            )
        })
    }

    /// Replaces the macro calls in `step`'s SQL by the macros' expressions.
    fn expand_macros(
        &self,
        macros: &SqlMacros,
        step: &mut StepConfig,
        file_step: &StepFile,
    ) -> Result<(), ConfigError> {
        let what = format!("step '{}'", step.name);
        match macros.expand(&step.sql, &what) {
            Ok(Some(sql)) => step.sql = sql,
            Ok(None) => {}
            Err(e) => {
                let span = file_step
                    .sql
                    .as_ref()
                    .map_or(file_step.target.span(), |s| s.span());
                return Err(self
                    .err(span, e.message)
                    .with_hint(format!("see [functions] {} in this pipeline", e.name)));
            }
        }
        Ok(())
    }

    fn step(
        &self,
        step: &StepFile,
        connections: &[ConnectionConfig],
        default_mode: WriteMode,
        default_retry: RetryPolicy,
        default_chunk_rows: Option<u64>,
    ) -> Result<StepConfig, ConfigError> {
        let target_text = self.interpolate(&step.target, "target")?;
        let target = parse_target(&target_text).ok_or_else(|| {
            self.err(
                step.target.span(),
                format!("target '{target_text}' is not `connection.table`"),
            )
            .with_hint("write target = \"dst.orders\" or \"dst.schema.orders\"")
        })?;
        if !connections.iter().any(|c| c.name == target.connection) {
            let known: HashSet<String> = connections.iter().map(|c| c.name.clone()).collect();
            return Err(self
                .err(
                    step.target.span(),
                    format!(
                        "target '{target_text}' names unknown connection '{}'",
                        target.connection
                    ),
                )
                .with_hint(format!(
                    "define [connections.{}] with a url, or use one of: {}",
                    target.connection,
                    join_sorted(&known)
                )));
        }
        let name = match &step.name {
            Some(n) => n.get_ref().clone(),
            None => target.table.name.clone(),
        };
        let sql = match (&step.sql, &step.sql_file) {
            (Some(sql), None) => self.interpolate(sql, &format!("step '{name}' sql"))?,
            (None, Some(file)) => {
                let rel = self.interpolate(file, "sql_file")?;
                let path = self.dir.join(&rel);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    self.err(
                        file.span(),
                        format!("cannot read sql_file '{}': {e}", path.display()),
                    )
                    .with_hint("sql_file paths are relative to the pipeline file")
                })?;
                interpolate(&text, |n| self.vars.get(n)).map_err(|e| {
                    let (offset, message) = match e {
                        InterpolationError::Unset { offset, name } => {
                            (offset, format!("${{{name}}} is not set"))
                        }
                        InterpolationError::Unclosed { offset } => {
                            (offset, "`${` without its closing `}`".into())
                        }
                    };
                    ConfigError::at(&path, &text, offset, message).with_hint(
                        "set it in the environment, a .env file, [params], or with --set",
                    )
                })?
            }
            (Some(sql), Some(_)) => {
                return Err(self
                    .err(
                        sql.span(),
                        format!("step '{name}' has both `sql` and `sql_file`"),
                    )
                    .with_hint("keep one of them"))
            }
            (None, None) => {
                return Err(self
                    .err(step.target.span(), format!("step '{name}' has no `sql`"))
                    .with_hint("add sql = \"SELECT ...\" or sql_file = \"path.sql\""))
            }
        };
        if sql.trim().is_empty() {
            let span = step.sql.as_ref().map_or(step.target.span(), |s| s.span());
            return Err(self
                .err(span, format!("step '{name}' has empty sql"))
                .with_hint("write the SELECT whose rows go into the target"));
        }
        let mode = step.mode.unwrap_or(default_mode);
        let key = step
            .key
            .as_ref()
            .map(|k| k.get_ref().columns())
            .unwrap_or_default();
        if mode.needs_key() && key.is_empty() {
            return Err(self
                .err(
                    step.target.span(),
                    format!("step '{name}' has mode {mode}, which needs a key"),
                )
                .with_hint("add key = [\"id\"] (the columns that identify a row)"));
        }
        if let Some(partitions) = &step.partitions {
            if *partitions.get_ref() == 0 {
                return Err(self
                    .err(
                        partitions.span(),
                        format!("step '{name}' has partitions = 0"),
                    )
                    .with_hint("use 1 for one read per table, or more for parallel range reads"));
            }
        }
        let (line, _) = ConfigError::at(self.path, self.text, step.target.span().start, "")
            .position
            .unwrap_or((0, 0));
        Ok(StepConfig {
            name,
            target,
            sql,
            key,
            mode,
            depends_on: step.depends_on.clone(),
            disable_fk_checks: step.disable_fk_checks,
            partition_on: step.partition_on.clone(),
            partitions: step.partitions.as_ref().map(|p| *p.get_ref()),
            retry: self.retry_policy(
                default_retry,
                step.retries,
                step.retry_max_seconds.as_ref(),
            )?,
            chunk_rows: step
                .chunk_rows
                .as_ref()
                .map(|n| *n.get_ref())
                .or(default_chunk_rows)
                .filter(|&n| n > 0),
            max_rejects: 0,
            origin: format!("{}:{line}", self.path.display()),
        })
    }

    /// `base` with the `retries` and `retry_max_seconds` that are set.
    fn retry_policy(
        &self,
        base: RetryPolicy,
        retries: Option<u32>,
        max_seconds: Option<&Spanned<f64>>,
    ) -> Result<RetryPolicy, ConfigError> {
        let mut policy = base;
        if let Some(n) = retries {
            policy.retries = n;
        }
        if let Some(seconds) = max_seconds {
            let value = *seconds.get_ref();
            if !(value.is_finite() && value >= 0.0) {
                return Err(self
                    .err(
                        seconds.span(),
                        format!("retry_max_seconds = {value} is not a number of seconds"),
                    )
                    .with_hint("use a number of seconds such as 30 (0 retries without waiting)"));
            }
            policy.max_seconds = value;
        }
        Ok(policy)
    }

    fn mapping(
        &self,
        name: &str,
        table: &Spanned<BTreeMap<String, toml::Value>>,
    ) -> Result<Mapping, ConfigError> {
        let entries: Vec<(String, toml::Value)> = match table.get_ref().get("file") {
            Some(toml::Value::String(file)) if table.get_ref().len() == 1 => {
                let path = self.dir.join(file);
                read_mapping_csv(&path).map_err(|message| {
                    self.err(table.span(), format!("mapping '{name}': {message}"))
                        .with_hint("the file is a CSV with a header and two columns: from,to (relative to the pipeline file)")
                })?
            }
            _ => table
                .get_ref()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let value = match value {
                toml::Value::Integer(i) => MappingValue::Int(i),
                toml::Value::Float(f) => MappingValue::Float(f),
                toml::Value::String(s) => MappingValue::Text(s),
                toml::Value::Boolean(b) => MappingValue::Bool(b),
                other => {
                    return Err(self
                        .err(
                            table.span(),
                            format!(
                                "mapping '{name}': value of '{key}' is {}, not a scalar",
                                other.type_str()
                            ),
                        )
                        .with_hint("map each key to a number, string or boolean"))
                }
            };
            out.push((key, value));
        }
        let kinds: HashSet<_> = out.iter().map(|(_, v)| std::mem::discriminant(v)).collect();
        let numeric = out
            .iter()
            .all(|(_, v)| matches!(v, MappingValue::Int(_) | MappingValue::Float(_)));
        if kinds.len() > 1 && !numeric {
            return Err(self
                .err(table.span(), format!("mapping '{name}' mixes value types"))
                .with_hint("map every key to values of one type (all numbers, all strings or all booleans)"));
        }
        Ok(Mapping { entries: out })
    }
}

/// Reads `from,to` rows (with a header) of a mapping file; numbers become numbers.
fn read_mapping_csv(path: &Path) -> Result<Vec<(String, toml::Value)>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        if record.len() != 2 {
            return Err(format!(
                "{} line {}: expected 2 columns, found {}",
                path.display(),
                i + 2,
                record.len()
            ));
        }
        let value = &record[1];
        let parsed = if let Ok(n) = value.parse::<i64>() {
            toml::Value::Integer(n)
        } else if let Ok(f) = value.parse::<f64>() {
            toml::Value::Float(f)
        } else {
            toml::Value::String(value.to_string())
        };
        out.push((record[0].to_string(), parsed));
    }
    Ok(out)
}

/// `conn.table` or `conn.schema.table`.
fn parse_target(text: &str) -> Option<TargetRef> {
    let parts: Vec<&str> = text.split('.').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    match parts.as_slice() {
        [conn, table] => Some(TargetRef {
            connection: conn.to_string(),
            table: TableName::new(None, table),
        }),
        [conn, schema, table] => Some(TargetRef {
            connection: conn.to_string(),
            table: TableName::new(Some(schema), table),
        }),
        _ => None,
    }
}

/// The process environment plus `.env` files next to the pipeline and in the
/// working directory (the process environment wins, then the pipeline's `.env`).
fn process_env_with_dotenv(pipeline_dir: &Path) -> HashMap<String, String> {
    let mut env = HashMap::new();
    let mut dirs = vec![PathBuf::from(".")];
    dirs.insert(0, pipeline_dir.to_path_buf());
    for dir in dirs.iter().rev() {
        if let Ok(iter) = dotenvy::from_path_iter(dir.join(".env")) {
            for (k, v) in iter.flatten() {
                env.insert(k, v);
            }
        }
    }
    env.extend(std::env::vars());
    env
}

fn join_sorted(names: &HashSet<String>) -> String {
    let mut v: Vec<&String> = names.iter().collect();
    v.sort();
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::scrub;

    #[test]
    fn loading_registers_every_secret_it_meets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            r#"
[params]
db_password = "Ld/Param#1"
copied = "prefix-Ld%Url@Pw-suffix"
plain = "Ld-Not-Secret"

[connections.src]
url = "postgres://u:Ld%25Url%40Pw@h/db?sslpassword=Ld-Ssl-Pw"

[[step]]
target = "src.t"
sql = "SELECT '${API_TOKEN}' AS a, '${db_password}' AS b"
"#,
        )
        .unwrap();
        let env = [
            ("API_TOKEN", "Ld-Env-Token"),
            (barge_udfs::SALT_VAR, "Ld-Salt-Value"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let options = LoadOptions {
            sets: vec![("my_secret".into(), "Ld-Set-Secret".into())],
            env: Some(env),
        };
        let pipeline = load_pipeline(&path, &options).unwrap();
        assert!(pipeline.steps[0].sql.contains("Ld-Env-Token"));
        for secret in [
            "Ld/Param#1",
            "prefix-Ld%Url@Pw-suffix",
            "Ld%Url@Pw",
            "Ld%25Url%40Pw",
            "Ld-Ssl-Pw",
            "Ld-Env-Token",
            "Ld-Salt-Value",
            "Ld-Set-Secret",
        ] {
            assert_eq!(scrub(&format!("[{secret}]")), "[***]", "{secret}");
        }
        assert_eq!(scrub("Ld-Not-Secret"), "Ld-Not-Secret");
    }

    /// Loads a pipeline of one step with `defaults` as its `[defaults]`.
    fn load_with_defaults(defaults: &str) -> Result<Pipeline, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            format!(
                "[connections.src]\nurl = \"sqlite://a.db\"\n\n[defaults]\n{defaults}\n\n[[step]]\ntarget = \"src.t\"\nsql = \"SELECT 1 AS x\"\n"
            ),
        )
        .expect("write pipeline");
        load_pipeline(
            &path,
            &LoadOptions {
                sets: vec![],
                env: Some(HashMap::from([("LIMIT".to_string(), "2GiB".to_string())])),
            },
        )
    }

    #[test]
    fn memory_limit_takes_sizes_and_defaults_to_one_gib() {
        for (defaults, bytes) in [
            ("", DEFAULT_MEMORY_LIMIT),
            ("memory_limit = \"512MiB\"", 512 << 20),
            ("memory_limit = \"512MB\"", 512_000_000),
            ("memory_limit = 33554432", 32 << 20),
            ("memory_limit = \"${LIMIT}\"", 2 << 30),
        ] {
            let pipeline = load_with_defaults(defaults).expect(defaults);
            assert_eq!(pipeline.memory_limit, bytes, "{defaults}");
        }
    }

    #[test]
    fn a_bad_memory_limit_is_an_error_at_its_line() {
        for (defaults, needle) in [
            ("memory_limit = \"12 parsecs\"", "unknown unit 'parsecs'"),
            ("memory_limit = \"1MiB\"", "below"),
            ("memory_limit = -5", "not a size"),
            ("memory_limit = true", "not a size"),
        ] {
            let err = load_with_defaults(defaults)
                .expect_err(defaults)
                .to_string();
            assert!(err.contains("p.toml:5"), "{defaults}: {err}");
            assert!(err.contains(needle), "{defaults}: {err}");
            assert!(
                err.contains("hint: write memory_limit"),
                "{defaults}: {err}"
            );
        }
    }

    #[test]
    fn snapshot_is_on_unless_a_connection_turns_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let text = |off: &str| {
            format!(
                "[connections.src]\nurl = \"sqlite://a.db\"\n\n[connections.dst]\nurl = \"sqlite://b.db\"\n{off}\n\n[[step]]\ntarget = \"dst.t\"\nsql = \"SELECT 1 AS a\"\n"
            )
        };
        std::fs::write(&path, text("snapshot = false")).unwrap();
        let pipeline = load_pipeline(&path, &LoadOptions::default()).unwrap();
        let snapshot = |name: &str| pipeline.connection(name).map(|c| c.snapshot);
        assert_eq!(snapshot("src"), Some(true));
        assert_eq!(snapshot("dst"), Some(false));
        std::fs::write(&path, text("snapshot = \"no\"")).unwrap();
        let err = load_pipeline(&path, &LoadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("snapshot"), "{err}");
    }
}
