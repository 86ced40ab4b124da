//! The type plan: for every source column, the column type the target
//! engine gets and how faithfully it holds the source's values.
//!
//! The target type starts from the target engine's own Arrow → type table
//! (`src/engines/<engine>/types.rs`, the one barge creates step targets
//! with), refined where the source says more than its Arrow type: text
//! lengths (`varchar(n)`), `json` and `uuid`. A same-engine copy declares
//! built-in types verbatim. The class compares the Arrow type the source
//! is read as with the one the target column reads back as:
//!
//! - **exact**: every value round-trips and the type means the same;
//! - **widening**: every value fits, in a larger type (`int unsigned` →
//!   `bigint`, `varchar(20)` → `text`, a number kept as text);
//! - **lossy**: some values may not fit or lose something: decimal scale or
//!   precision, time zone, unsigned range, text length, sub-second precision.

use std::fmt;

use datafusion::arrow::datatypes::{DataType, TimeUnit};

use crate::engines::{self, dialect::Dialect};
use crate::model::catalog::{Column, Table};
use crate::model::EngineKind;

/// How faithfully a target column holds the source column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    Exact,
    Widening,
    Lossy,
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fidelity::Exact => "exact",
            Fidelity::Widening => "widening",
            Fidelity::Lossy => "lossy",
        })
    }
}

/// The plan of one column.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    /// The source column's name.
    pub column: String,
    /// The source's declared type.
    pub source_type: String,
    /// The target column's type (without NOT NULL, default or identity).
    pub target_type: String,
    /// The target column is an identity / auto-increment column.
    pub identity: bool,
    pub fidelity: Fidelity,
    /// What widens or what may be lost.
    pub note: Option<String>,
}

/// The plan of one table's columns.
#[derive(Debug, Clone)]
pub struct TablePlan {
    pub table: String,
    pub columns: Vec<ColumnPlan>,
}

impl TablePlan {
    /// Plans every column of `table` for `target`.
    pub fn new(source: EngineKind, table: &Table, target: EngineKind) -> Self {
        Self {
            table: table.name.name.clone(),
            columns: table
                .columns
                .iter()
                .map(|c| plan_column(Some(source), c, target, table.is_indexed(&c.name)))
                .collect(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&ColumnPlan> {
        self.columns.iter().find(|c| c.column == name)
    }
}

/// Lines `table.column  source -> target  class (note)` for `plans`.
pub fn render(plans: &[TablePlan]) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for plan in plans {
        for c in &plan.columns {
            let identity = if c.identity { " identity" } else { "" };
            rows.push([
                format!("{}.{}", plan.table, c.column),
                c.source_type.clone(),
                format!("{}{identity}", c.target_type),
                match &c.note {
                    Some(note) => format!("{} ({note})", c.fidelity),
                    None => c.fidelity.to_string(),
                },
            ]);
        }
    }
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    rows.iter()
        .map(|r| format!("  {:w0$}  {:w1$} -> {:w2$}  {}\n", r[0], r[1], r[2], r[3]))
        .collect()
}

/// Every lossy column of `plans` as `table.column (note)`.
pub fn lossy(plans: &[TablePlan]) -> Vec<String> {
    plans
        .iter()
        .flat_map(|p| {
            p.columns
                .iter()
                .filter(|c| c.fidelity == Fidelity::Lossy)
                .map(move |c| {
                    format!(
                        "{}.{}: {} -> {} ({})",
                        p.table,
                        c.column,
                        c.source_type,
                        c.target_type,
                        c.note.as_deref().unwrap_or("lossy")
                    )
                })
        })
        .collect()
}

/// Plans one column. `source` is the column's engine (`None` for a step's
/// output, known by its Arrow type only); `indexed` columns get indexable
/// types (MySQL cannot index an unbounded TEXT).
pub fn plan_column(
    source: Option<EngineKind>,
    column: &Column,
    target: EngineKind,
    indexed: bool,
) -> ColumnPlan {
    let dialect = engines::dialect(target);
    let plan = |target_type: String, fidelity: Fidelity, note: Option<String>| ColumnPlan {
        column: column.name.clone(),
        source_type: column.declared.clone(),
        target_type,
        identity: column.identity && dialect.keeps_identity(&column.data_type),
        fidelity,
        note,
    };
    if source == Some(target) && column.builtin && target.is_database() {
        return plan(column.declared.clone(), Fidelity::Exact, None);
    }
    if let Some(ty) = semantic_type(column, dialect, indexed) {
        return plan(ty, Fidelity::Exact, None);
    }
    let Some(base) = dialect.declared_type(&column.data_type, indexed) else {
        return plan(
            dialect.text_type(indexed).to_string(),
            Fidelity::Lossy,
            Some(format!(
                "{target} has no type for {}: stored as text",
                column.data_type
            )),
        );
    };
    // Text lengths: varchar(n) stays varchar(n) where the target enforces it.
    let is_text = matches!(
        column.data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let (target_type, target_length) = match (is_text, column.length) {
        (true, Some(n)) => dialect.sized_text(n, column.fixed_length, indexed),
        (true, None) => (base.clone(), dialect.enforced_length(&base)),
        _ => (base.clone(), None),
    };
    let stored = dialect.stored_type(&column.data_type, &target_type);
    let (mut fidelity, mut note) = classify(&column.data_type, &stored);
    if is_text && stored == DataType::Utf8 {
        (fidelity, note) = match (column.length, target_length) {
            (None, Some(m)) => (
                Fidelity::Lossy,
                Some(format!("text length: unbounded text into {m} characters")),
            ),
            (Some(n), Some(m)) if n > m => (
                Fidelity::Lossy,
                Some(format!("text length: {n} characters into {m}")),
            ),
            (Some(n), Some(m)) if n < m => (Fidelity::Widening, None),
            (Some(_), None) => (
                Fidelity::Widening,
                Some("text length not enforced".to_string()),
            ),
            _ => (fidelity, note),
        };
    }
    if let Some(why) = dialect.lossy_note(&column.data_type) {
        fidelity = Fidelity::Lossy;
        note = Some(why);
    }
    if column.identity && !dialect.keeps_identity(&column.data_type) && fidelity == Fidelity::Exact
    {
        note = Some(format!("{target} gets no identity counter"));
    }
    plan(target_type, fidelity, note)
}

/// `json` and `uuid` keep their meaning across the engines that have them.
fn semantic_type(column: &Column, target: &dyn Dialect, indexed: bool) -> Option<String> {
    if column.data_type != DataType::Utf8 {
        return None;
    }
    target
        .semantic_type(&column.base_type(), indexed)
        .map(str::to_string)
}

/// Integer range as (min, max) in i128.
fn int_range(t: &DataType) -> Option<(i128, i128)> {
    Some(match t {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        DataType::UInt8 => (0, u8::MAX.into()),
        DataType::UInt16 => (0, u16::MAX.into()),
        DataType::UInt32 => (0, u32::MAX.into()),
        DataType::UInt64 => (0, u64::MAX.into()),
        _ => return None,
    })
}

/// Decimal digits an integer type needs.
fn int_digits(t: &DataType) -> Option<i16> {
    let (min, max) = int_range(t)?;
    Some(min.unsigned_abs().max(max.unsigned_abs()).to_string().len() as i16)
}

fn unit_rank(unit: &TimeUnit) -> u8 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

fn by_unit(source: &TimeUnit, target: &TimeUnit) -> (Fidelity, Option<String>) {
    match unit_rank(source).cmp(&unit_rank(target)) {
        std::cmp::Ordering::Equal => (Fidelity::Exact, None),
        std::cmp::Ordering::Less => (Fidelity::Widening, None),
        std::cmp::Ordering::Greater => (
            Fidelity::Lossy,
            Some(format!("sub-second precision: {source:?} into {target:?}")),
        ),
    }
}

/// Compares the Arrow type a column is read as (`source`) with the one the
/// target column reads back as.
pub fn classify(source: &DataType, target: &DataType) -> (Fidelity, Option<String>) {
    use DataType::*;
    let lossy = |why: String| (Fidelity::Lossy, Some(why));
    if source == target {
        return (Fidelity::Exact, None);
    }
    match (source, target) {
        (Dictionary(_, values), _) => classify(values, target),
        (Null, _) => (Fidelity::Exact, None),
        (LargeUtf8 | Utf8View, Utf8) | (LargeBinary | BinaryView, Binary) => {
            (Fidelity::Exact, None)
        }
        (FixedSizeBinary(_), Binary) => (Fidelity::Widening, None),
        (s, t) if s.is_integer() && t.is_integer() => {
            let (Some((smin, smax)), Some((tmin, tmax))) = (int_range(s), int_range(t)) else {
                return lossy(format!("{s} into {t}"));
            };
            if tmin <= smin && smax <= tmax {
                (Fidelity::Widening, None)
            } else if s.is_unsigned_integer() {
                lossy(format!("unsigned range: {s} into {t}"))
            } else {
                lossy(format!("integer range: {s} into {t}"))
            }
        }
        (s, Decimal128(p, sc) | Decimal256(p, sc)) if s.is_integer() => {
            if int_digits(s).unwrap_or(i16::MAX) <= i16::from(*p) - i16::from(*sc) {
                (Fidelity::Widening, None)
            } else if s.is_unsigned_integer() {
                lossy(format!("unsigned range: {s} into decimal({p},{sc})"))
            } else {
                lossy(format!("integer range: {s} into decimal({p},{sc})"))
            }
        }
        (
            Decimal32(p1, s1) | Decimal64(p1, s1) | Decimal128(p1, s1) | Decimal256(p1, s1),
            Decimal128(p2, s2) | Decimal256(p2, s2),
        ) => {
            if s2 < s1 {
                lossy(format!("decimal scale: {s1} digits into {s2}"))
            } else if i16::from(*p2) - i16::from(*s2) < i16::from(*p1) - i16::from(*s1) {
                lossy(format!("decimal precision: ({p1},{s1}) into ({p2},{s2})"))
            } else if p1 == p2 && s1 == s2 {
                (Fidelity::Exact, None)
            } else {
                (Fidelity::Widening, None)
            }
        }
        (Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..), Float32 | Float64) => {
            lossy("precision: decimal into floating point".to_string())
        }
        (Boolean, t) if t.is_integer() => (Fidelity::Widening, None),
        (Float16, Float32 | Float64) | (Float32, Float64) => (Fidelity::Widening, None),
        (Float64, Float32) => lossy("precision: double into single-precision float".to_string()),
        (s, Float64) if s.is_integer() => {
            if int_digits(s).unwrap_or(i16::MAX) <= 15 {
                (Fidelity::Widening, None)
            } else {
                lossy(format!("precision: {s} into double"))
            }
        }
        (Float16 | Float32 | Float64, Decimal128(..) | Decimal256(..)) => {
            lossy("precision: floating point into decimal".to_string())
        }
        (Date32 | Date64, Date32) => (Fidelity::Exact, None),
        (Date32 | Date64, Timestamp(_, None)) => (Fidelity::Widening, None),
        (Timestamp(u1, z1), Timestamp(u2, z2)) => {
            if z1.is_some() && z2.is_none() {
                lossy("time zone: an instant into a timestamp without time zone".to_string())
            } else if z1.is_none() && z2.is_some() {
                lossy("time zone: a local timestamp read as UTC".to_string())
            } else {
                by_unit(u1, u2)
            }
        }
        (Time32(u1) | Time64(u1), Time32(u2) | Time64(u2)) => by_unit(u1, u2),
        (Time32(_) | Time64(_), Duration(_) | Interval(_)) => (Fidelity::Widening, None),
        (Duration(u1), Duration(u2)) => by_unit(u1, u2),
        (Duration(_), Interval(_)) => (Fidelity::Widening, None),
        (Duration(_), Time32(_) | Time64(_)) => {
            lossy("range: durations outside 00:00-24:00".to_string())
        }
        (_, Utf8) => (
            Fidelity::Widening,
            Some(format!("{source} kept as its text form")),
        ),
        (Utf8 | LargeUtf8 | Utf8View, t) => lossy(format!("text parsed as {t}")),
        (s, t) => lossy(format!("{s} into {t}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(declared: &str, data_type: DataType) -> Column {
        let mut c = Column::from_arrow("c", &data_type, true);
        c.declared = declared.to_string();
        c.builtin = true;
        c
    }

    fn check(source: EngineKind, c: &Column, target: EngineKind) -> (String, Fidelity) {
        let p = plan_column(Some(source), c, target, false);
        (p.target_type, p.fidelity)
    }

    #[test]
    fn same_engine_keeps_declared_types() {
        let c = col("character varying(20)", DataType::Utf8);
        assert_eq!(
            check(EngineKind::Postgres, &c, EngineKind::Postgres),
            ("character varying(20)".into(), Fidelity::Exact)
        );
    }

    #[test]
    fn cross_engine_types_are_classified() {
        use EngineKind::*;
        let unsigned = col("int(10) unsigned", DataType::UInt32);
        assert_eq!(
            check(MySql, &unsigned, Postgres),
            ("bigint".into(), Fidelity::Widening)
        );
        let big = col("bigint(20) unsigned", DataType::UInt64);
        assert_eq!(
            check(MySql, &big, Postgres),
            ("numeric(20,0)".into(), Fidelity::Widening)
        );
        assert_eq!(check(MySql, &big, Sqlite).1, Fidelity::Lossy);
        let mut name = col("varchar(40)", DataType::Utf8);
        name.length = Some(40);
        assert_eq!(
            check(MySql, &name, Postgres),
            ("varchar(40)".into(), Fidelity::Exact)
        );
        assert_eq!(check(MySql, &name, DuckDb).1, Fidelity::Widening);
        let text = col("text", DataType::Utf8);
        let p = plan_column(Some(Postgres), &text, MySql, true);
        assert_eq!(
            (p.target_type.as_str(), p.fidelity),
            ("VARCHAR(255)", Fidelity::Lossy)
        );
        assert!(p.note.unwrap().contains("text length"));
        let money = col("numeric(12,4)", DataType::Decimal128(12, 4));
        assert_eq!(
            check(Postgres, &money, MySql),
            ("DECIMAL(12,4)".into(), Fidelity::Exact)
        );
        let wide = col("numeric(50,10)", DataType::Decimal256(50, 10));
        assert_eq!(check(Postgres, &wide, DuckDb).1, Fidelity::Lossy);
        let zoned = col(
            "timestamp with time zone",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        );
        assert_eq!(check(Postgres, &zoned, Sqlite).1, Fidelity::Exact);
        let p = plan_column(Some(Postgres), &zoned, MySql, false);
        assert_eq!(p.fidelity, Fidelity::Lossy);
        assert!(p.note.unwrap().contains("time zone"));
        let json = col("jsonb", DataType::Utf8);
        assert_eq!(check(Postgres, &json, MySql).0, "JSON");
        let flag = col("tinyint(1)", DataType::Boolean);
        assert_eq!(
            check(MySql, &flag, Postgres),
            ("boolean".into(), Fidelity::Exact)
        );
    }

    #[test]
    fn classes_follow_value_ranges() {
        use DataType::*;
        assert_eq!(classify(&Int32, &Int64).0, Fidelity::Widening);
        assert_eq!(classify(&Int64, &Int32).0, Fidelity::Lossy);
        assert_eq!(classify(&UInt64, &Int64).0, Fidelity::Lossy);
        assert_eq!(
            classify(&Decimal128(10, 2), &Decimal128(10, 1)).1.unwrap(),
            "decimal scale: 2 digits into 1"
        );
        assert_eq!(
            classify(&Decimal128(10, 2), &Decimal128(12, 2)).0,
            Fidelity::Widening
        );
        assert_eq!(
            classify(
                &Timestamp(TimeUnit::Nanosecond, None),
                &Timestamp(TimeUnit::Microsecond, None)
            )
            .0,
            Fidelity::Lossy
        );
    }
}
