//! `[subset]` of a pipeline file: roots checked against the connections,
//! conditions interpolated, foreign keys and patterns read.

use toml::Spanned;

use super::{join_sorted, parse_target, Loader};
use crate::config::model::SubsetFile;
use crate::config::{
    ConnectionConfig, ReferenceMode, RetryPolicy, SubsetConfig, SubsetFk, SubsetRoot,
};
use crate::error::ConfigError;
use crate::model::WriteMode;

impl Loader<'_> {
    /// `[subset]`: roots checked against the connections, `where` interpolated.
    pub(super) fn subset(
        &self,
        subset: &Spanned<SubsetFile>,
        connections: &[ConnectionConfig],
        default_mode: Option<WriteMode>,
        retry: RetryPolicy,
    ) -> Result<SubsetConfig, ConfigError> {
        let file = subset.get_ref();
        let mut roots = Vec::new();
        let all_roots = std::iter::once((&file.root, &file.where_sql))
            .chain(file.roots.iter().map(|r| (&r.root, &r.where_sql)));
        for (root, where_sql) in all_roots {
            let text = self.interpolate(root, "[subset] root")?;
            let parsed = parse_target(&text).ok_or_else(|| {
                self.err(
                    root.span(),
                    format!("[subset] root '{text}' is not `connection.table`"),
                )
                .with_hint("write root = \"src.customer\" (the source connection, then the table)")
            })?;
            if !connections.iter().any(|c| c.name == parsed.connection) {
                return Err(self
                    .err(
                        root.span(),
                        format!(
                            "[subset] root '{text}' names unknown connection '{}'",
                            parsed.connection
                        ),
                    )
                    .with_hint(format!(
                        "define [connections.{}] with a url, or use one of: {}",
                        parsed.connection,
                        join_sorted(&connections.iter().map(|c| c.name.clone()).collect())
                    )));
            }
            if let Some(first) = roots.first().map(|r: &SubsetRoot| r.connection.clone()) {
                if first != parsed.connection {
                    return Err(self
                        .err(
                            root.span(),
                            format!(
                                "[subset] root '{text}' is on connection '{}', the first root on '{first}'",
                                parsed.connection
                            ),
                        )
                        .with_hint("every root of a subset reads the same source connection"));
                }
            }
            let where_text = self.interpolate(where_sql, "[subset] where")?;
            if where_text.trim().is_empty() {
                return Err(self
                    .err(where_sql.span(), "[subset] where is empty")
                    .with_hint("write the condition on the root's rows: where = \"customer_id IN (${customer_ids})\""));
            }
            roots.push(SubsetRoot {
                connection: parsed.connection,
                table: parsed.table,
                where_sql: where_text,
            });
        }
        let source = roots
            .first()
            .map(|r| r.connection.clone())
            .unwrap_or_default();
        let target = match &file.target {
            Some(t) => {
                let name = self.interpolate(t, "[subset] target")?;
                if !connections.iter().any(|c| c.name == name) || name == source {
                    return Err(self
                        .err(
                            t.span(),
                            format!("[subset] target '{name}' is not a connection other than the source '{source}'"),
                        )
                        .with_hint("name the connection the subset is written to, e.g. target = \"dst\""));
                }
                Some(name)
            }
            None => {
                let others: Vec<&str> = connections
                    .iter()
                    .map(|c| c.name.as_str())
                    .filter(|n| *n != source)
                    .collect();
                if others.len() != 1 {
                    return Err(self
                        .err(
                            subset.span(),
                            format!(
                                "[subset] does not say which connection it writes to ({})",
                                if others.is_empty() {
                                    "the pipeline has no connection besides the source".to_string()
                                } else {
                                    format!("candidates: {}", others.join(", "))
                                }
                            ),
                        )
                        .with_hint(
                            "add target = \"dst\" to [subset] (a connection other than the root's)",
                        ));
                }
                None
            }
        };
        let reference = match &file.reference {
            None => ReferenceMode::All,
            Some(r) => match r.get_ref().as_str() {
                "all" => ReferenceMode::All,
                "needed" => ReferenceMode::Needed,
                other => return Err(self
                    .err(
                        r.span(),
                        format!("[subset] reference = \"{other}\" is not a choice"),
                    )
                    .with_hint(
                        "use reference = \"all\" (copy whole) or \"needed\" (only referenced rows)",
                    )),
            },
        };
        let mode = file.mode.or(default_mode);
        let fks = file
            .fk
            .iter()
            .map(|fk| SubsetFk {
                table: fk.table.get_ref().clone(),
                columns: fk.columns.columns(),
                references: fk.references.get_ref().clone(),
                referenced_columns: fk
                    .referenced_columns
                    .as_ref()
                    .map(|k| k.columns())
                    .unwrap_or_default(),
            })
            .collect();
        let (line, _) = ConfigError::at(self.path, self.text, subset.span().start, "")
            .position
            .unwrap_or((0, 0));
        Ok(SubsetConfig {
            roots,
            target,
            fks,
            infer_fks: file.infer_fks,
            reference,
            confirm_rows: file.confirm_rows.unwrap_or(400),
            skip_large: file.skip_large,
            skip: file.skip.clone(),
            force: file.force.clone(),
            mode,
            retry,
            origin: format!("{}:{line}", self.path.display()),
        })
    }
}
