//! `barge schema diff FROM TO`: how the new schema (`TO`) differs from the
//! current one (`FROM`): tables and columns added, removed and renamed
//! (renames found by name similarity plus type compatibility), type and
//! nullability changes, each classified:
//!
//! - **safe**: nothing to do (a widening, a new nullable column);
//! - **transformable**: a cast moves the data (`integer` → `text`);
//! - **breaking**: needs a decision (narrowing, incompatible types, a new
//!   NOT NULL column without default, dropped data).
//!
//! [`SchemaDiff::pipeline`] writes a pipeline skeleton: renames as aliases,
//! casts as CASTs, every breaking change a `TODO(barge)` that `barge run`
//! refuses until it is resolved.

use std::fmt::Write as _;

use datafusion::arrow::datatypes::DataType;

use super::type_plan::{classify, Fidelity};
use crate::model::catalog::{Catalog, Column, Table};

/// The marker `barge run` refuses to run.
pub const TODO_MARKER: &str = "TODO(barge)";

/// How much a change demands of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Safe,
    Transformable,
    Breaking,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Safe => "safe",
            Class::Transformable => "transformable",
            Class::Breaking => "breaking",
        }
    }
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    TableAdded,
    TableRemoved,
    TableRenamed,
    ColumnAdded,
    ColumnRemoved,
    ColumnRenamed,
    TypeChanged,
    NullabilityChanged,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TableAdded => "table added",
            Kind::TableRemoved => "table removed",
            Kind::TableRenamed => "table renamed",
            Kind::ColumnAdded => "column added",
            Kind::ColumnRemoved => "column removed",
            Kind::ColumnRenamed => "column renamed",
            Kind::TypeChanged => "type changed",
            Kind::NullabilityChanged => "nullability",
        }
    }
}

/// One change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    pub class: Class,
    pub kind: Kind,
    /// The table in the new schema (the old one for a removed table).
    pub table: String,
    /// The column in the new schema (the old one for a removed column).
    pub column: Option<String>,
    /// The old name, type or nullability.
    pub from: Option<String>,
    /// The new name, type or nullability.
    pub to: Option<String>,
    /// Why it has its class.
    pub detail: String,
}

/// The changes from one catalog to another.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchemaDiff {
    pub changes: Vec<Change>,
    /// `(old table, new table)` pairs, with `(old column, new column)` pairs.
    #[serde(skip)]
    pairs: Vec<TablePair>,
    #[serde(skip)]
    removed_tables: Vec<String>,
}

#[derive(Debug, Clone)]
struct TablePair {
    old: Table,
    new: Table,
    columns: Vec<(Option<Column>, Column)>,
    removed: Vec<Column>,
}

/// Similarity of two names, ignoring case and `_`.
fn similarity(a: &str, b: &str) -> f64 {
    let norm = |s: &str| s.to_lowercase().replace('_', "");
    strsim::jaro_winkler(&norm(a), &norm(b))
}

/// Names at least this similar may be a rename.
const RENAME_SIMILARITY: f64 = 0.8;

fn family(t: &DataType) -> u8 {
    match t {
        t if t.is_integer() || t.is_floating() => 0,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => 0,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 1,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => 2,
        DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(..)
        | DataType::Time32(_)
        | DataType::Time64(_) => 3,
        DataType::Boolean => 4,
        DataType::Duration(_) | DataType::Interval(_) => 5,
        _ => 6,
    }
}

/// Classifies a type change from `old` to `new` with its reason.
pub fn classify_type(old: &Column, new: &Column) -> (Class, String) {
    let (fidelity, note) = classify(&old.data_type, &new.data_type);
    let text = |c: &Column| matches!(c.data_type, DataType::Utf8);
    if text(old) && text(new) {
        return match (old.length, new.length) {
            (Some(a), Some(b)) if b < a => (
                Class::Breaking,
                format!("narrowing: text length {a} into {b}"),
            ),
            (None, Some(b)) => (
                Class::Breaking,
                format!("narrowing: unbounded text into {b} characters"),
            ),
            _ => (Class::Safe, "widening".to_string()),
        };
    }
    let cross_family = family(&old.data_type) != family(&new.data_type);
    match fidelity {
        Fidelity::Exact => (Class::Safe, "same values".to_string()),
        Fidelity::Widening if cross_family => (
            Class::Transformable,
            note.unwrap_or_else(|| format!("a cast to {} holds every value", new.declared)),
        ),
        Fidelity::Widening => (Class::Safe, "widening".to_string()),
        Fidelity::Lossy if cross_family => (
            Class::Breaking,
            format!(
                "incompatible type: {}",
                note.unwrap_or_else(|| "values may not convert".into())
            ),
        ),
        Fidelity::Lossy => (
            Class::Breaking,
            format!(
                "narrowing: {}",
                note.unwrap_or_else(|| "values may not fit".into())
            ),
        ),
    }
}

/// Pairs old and new items by exact name, then by similarity (when `fits`).
fn pair<'a, T>(
    old: &'a [T],
    new: &'a [T],
    name: impl Fn(&T) -> &str,
    fits: impl Fn(&T, &T) -> f64,
) -> (Vec<(Option<usize>, usize)>, Vec<usize>) {
    let mut used = vec![false; old.len()];
    let mut pairs: Vec<(Option<usize>, usize)> = Vec::new();
    for (j, n) in new.iter().enumerate() {
        let exact = old
            .iter()
            .position(|o| name(o) == name(n))
            .or_else(|| {
                old.iter()
                    .position(|o| name(o).eq_ignore_ascii_case(name(n)))
            })
            .filter(|&i| !used[i]);
        if let Some(i) = exact {
            used[i] = true;
        }
        pairs.push((exact, j));
    }
    // Renames: best remaining match above the threshold, greedily.
    let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
    for &(o, j) in &pairs {
        if o.is_some() {
            continue;
        }
        for (i, old_item) in old.iter().enumerate() {
            if !used[i] {
                let score = fits(old_item, &new[j]);
                if score >= RENAME_SIMILARITY {
                    candidates.push((score, i, j));
                }
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, i, j) in candidates {
        if used[i] || pairs[j].0.is_some() {
            continue;
        }
        used[i] = true;
        pairs[j].0 = Some(i);
    }
    let removed = (0..old.len()).filter(|&i| !used[i]).collect();
    (pairs, removed)
}

/// The changes from `old` (the current schema) to `new`.
pub fn diff(old: &Catalog, new: &Catalog) -> SchemaDiff {
    let mut changes = Vec::new();
    let column_fits = |o: &Column, n: &Column| {
        let compatible = classify(&o.data_type, &n.data_type).0 != Fidelity::Lossy
            || family(&o.data_type) == family(&n.data_type);
        if compatible {
            similarity(&o.name, &n.name)
        } else {
            0.0
        }
    };
    let table_fits = |o: &Table, n: &Table| {
        let shared = n
            .columns
            .iter()
            .filter(|c| {
                o.columns
                    .iter()
                    .any(|oc| oc.name.eq_ignore_ascii_case(&c.name))
            })
            .count();
        let overlap = shared as f64 / o.columns.len().max(n.columns.len()).max(1) as f64;
        similarity(&o.name.name, &n.name.name).max(overlap)
    };
    let (table_pairs, removed) = pair(
        &old.tables,
        &new.tables,
        |t| t.name.name.as_str(),
        table_fits,
    );
    let mut pairs = Vec::new();
    for (o, j) in table_pairs {
        let new_table = &new.tables[j];
        let table = new_table.name.name.clone();
        let Some(i) = o else {
            changes.push(Change {
                class: Class::Safe,
                kind: Kind::TableAdded,
                table,
                column: None,
                from: None,
                to: None,
                detail: "new table".into(),
            });
            continue;
        };
        let old_table = &old.tables[i];
        if old_table.name.name != new_table.name.name {
            changes.push(Change {
                class: Class::Safe,
                kind: Kind::TableRenamed,
                table: table.clone(),
                column: None,
                from: Some(old_table.name.name.clone()),
                to: Some(table.clone()),
                detail: "renamed".into(),
            });
        }
        let (column_pairs, removed_columns) = pair(
            &old_table.columns,
            &new_table.columns,
            |c| c.name.as_str(),
            column_fits,
        );
        let mut columns = Vec::new();
        for (o, j) in column_pairs {
            let n = &new_table.columns[j];
            let Some(i) = o else {
                let needs_value = !n.nullable && n.default.is_none() && !n.identity;
                changes.push(Change {
                    class: if needs_value {
                        Class::Breaking
                    } else {
                        Class::Safe
                    },
                    kind: Kind::ColumnAdded,
                    table: table.clone(),
                    column: Some(n.name.clone()),
                    from: None,
                    to: Some(n.declared.clone()),
                    detail: if needs_value {
                        "new NOT NULL column without default".into()
                    } else {
                        "new column, NULL or its default".into()
                    },
                });
                columns.push((None, n.clone()));
                continue;
            };
            let oc = &old_table.columns[i];
            if oc.name != n.name {
                changes.push(Change {
                    class: Class::Safe,
                    kind: Kind::ColumnRenamed,
                    table: table.clone(),
                    column: Some(n.name.clone()),
                    from: Some(oc.name.clone()),
                    to: Some(n.name.clone()),
                    detail: "renamed".into(),
                });
            }
            if !oc.declared.eq_ignore_ascii_case(&n.declared) {
                let (class, detail) = classify_type(oc, n);
                changes.push(Change {
                    class,
                    kind: Kind::TypeChanged,
                    table: table.clone(),
                    column: Some(n.name.clone()),
                    from: Some(oc.declared.clone()),
                    to: Some(n.declared.clone()),
                    detail,
                });
            }
            if oc.nullable && !n.nullable {
                let class = if n.default.is_some() {
                    Class::Transformable
                } else {
                    Class::Breaking
                };
                changes.push(Change {
                    class,
                    kind: Kind::NullabilityChanged,
                    table: table.clone(),
                    column: Some(n.name.clone()),
                    from: Some("NULL".into()),
                    to: Some("NOT NULL".into()),
                    detail: "existing NULLs need a value".into(),
                });
            }
            columns.push((Some(oc.clone()), n.clone()));
        }
        let removed: Vec<Column> = removed_columns
            .iter()
            .map(|&i| old_table.columns[i].clone())
            .collect();
        for c in &removed {
            changes.push(Change {
                class: Class::Breaking,
                kind: Kind::ColumnRemoved,
                table: table.clone(),
                column: Some(c.name.clone()),
                from: Some(c.declared.clone()),
                to: None,
                detail: "its values are dropped".into(),
            });
        }
        pairs.push(TablePair {
            old: old_table.clone(),
            new: new_table.clone(),
            columns,
            removed,
        });
    }
    let mut removed_tables = Vec::new();
    for i in removed {
        let t = &old.tables[i];
        removed_tables.push(t.name.name.clone());
        changes.push(Change {
            class: Class::Breaking,
            kind: Kind::TableRemoved,
            table: t.name.name.clone(),
            column: None,
            from: None,
            to: None,
            detail: "its rows are dropped".into(),
        });
    }
    SchemaDiff {
        changes,
        pairs,
        removed_tables,
    }
}

impl SchemaDiff {
    /// One change per line: class, what, where, old -> new, why.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            let place = match &c.column {
                Some(col) => format!("{}.{col}", c.table),
                None => c.table.clone(),
            };
            let change = match (&c.from, &c.to) {
                (Some(f), Some(t)) => format!(": {f} -> {t}"),
                (None, Some(t)) => format!(": {t}"),
                (Some(f), None) => format!(": {f}"),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<13} {:<15} {place}{change} ({})",
                c.class.as_str(),
                c.kind.as_str(),
                c.detail
            );
        }
        let count = |class| self.changes.iter().filter(|c| c.class == class).count();
        let _ = writeln!(
            out,
            "{} change(s): {} safe, {} transformable, {} breaking",
            self.changes.len(),
            count(Class::Safe),
            count(Class::Transformable),
            count(Class::Breaking)
        );
        out
    }

    /// A pipeline moving the data of `FROM` into `TO`'s tables; the URLs
    /// come from `FROM_URL` and `TO_URL` (no secret is written).
    pub fn pipeline(&self, from_url: &str, to_url: &str) -> String {
        let q = crate::ident::quote;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Written by barge schema diff: moves the data of the current schema into the new one.\n\
             # Resolve every line marked TODO (a CAST, map_value, a lookup, a default, or delete\n\
             # the line to ignore the change explicitly): barge run refuses this file until none\n\
             # is left. Set FROM_URL and TO_URL in the environment or a .env file.\n\
             # from: {}\n# to:   {}\n\
             name = \"schema_diff\"\n\n[connections.from]\nurl = \"${{FROM_URL}}\"\nread_only = true\n\n\
             [connections.to]\nurl = \"${{TO_URL}}\"\n",
            crate::redact::redact_url(from_url),
            crate::redact::redact_url(to_url)
        );
        for t in &self.removed_tables {
            let _ = writeln!(
                out,
                "# {TODO_MARKER}: table {t} is removed: its rows are not moved"
            );
        }
        for p in &self.pairs {
            let source = match &p.old.name.schema {
                Some(s) => format!("{}.{}.{}", q("from"), q(s), q(&p.old.name.name)),
                None => format!("{}.{}", q("from"), q(&p.old.name.name)),
            };
            let mut lines: Vec<String> = Vec::new();
            for (old, new) in &p.columns {
                let target = q(&new.name);
                let Some(old) = old else {
                    if !new.nullable && new.default.is_none() && !new.identity {
                        lines.push(format!(
                            "NULL AS {target} -- {TODO_MARKER}: new NOT NULL column without default: give it a value"
                        ));
                    }
                    continue;
                };
                let column = q(&old.name);
                let changed = !old.declared.eq_ignore_ascii_case(&new.declared);
                let (class, detail) = if changed {
                    classify_type(old, new)
                } else {
                    (Class::Safe, String::new())
                };
                let mut line = match class {
                    Class::Transformable => match sql_type(&new.data_type) {
                        Some(ty) => format!("CAST({column} AS {ty}) AS {target}"),
                        None => format!("{column} AS {target}"),
                    },
                    _ if old.name != new.name => format!("{column} AS {target}"),
                    _ => column,
                };
                if class == Class::Breaking {
                    line.push_str(&format!(
                        " -- {TODO_MARKER}: {} -> {}: {detail}",
                        old.declared, new.declared
                    ));
                } else if old.nullable && !new.nullable && new.default.is_none() {
                    line.push_str(&format!(
                        " -- {TODO_MARKER}: now NOT NULL: COALESCE the NULLs"
                    ));
                }
                lines.push(line);
            }
            for c in &p.removed {
                lines.push(format!(
                    "-- {TODO_MARKER}: column {} is removed: its values are not moved",
                    q(&c.name)
                ));
            }
            // Commas go before comments.
            let count = lines.iter().filter(|l| !l.starts_with("--")).count();
            let mut seen = 0;
            let body: Vec<String> = lines
                .into_iter()
                .map(|l| {
                    if l.starts_with("--") {
                        return format!("  {l}");
                    }
                    seen += 1;
                    let comma = if seen < count { "," } else { "" };
                    match l.split_once(" -- ") {
                        Some((sql, comment)) => format!("  {sql}{comma} -- {comment}"),
                        None => format!("  {l}{comma}"),
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "\n[[step]]\nname = \"{}\"\ntarget = \"to.{}\"\nmode = \"append\"\nsql = \"\"\"\nSELECT\n{}\nFROM {source}\n\"\"\"",
                p.new.name.name,
                p.new.name.name,
                body.join("\n")
            );
        }
        out
    }
}

/// The SQL type DataFusion casts to for an Arrow type.
fn sql_type(t: &DataType) -> Option<String> {
    Some(match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INT UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Utf8 => "VARCHAR".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        _ => return None,
    })
}

/// Lines of a pipeline file that still hold a [`TODO_MARKER`], as `line: text`.
pub fn unresolved(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(TODO_MARKER))
        .map(|(i, l)| format!("{}: {}", i + 1, l.trim()))
        .collect()
}
