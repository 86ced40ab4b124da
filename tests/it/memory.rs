//! Bounded memory: a step that joins and aggregates two sources, each
//! larger than the memory limit, spills and completes with the right result;
//! a limit too small for it fails the step naming memory_limit.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{barge, batch_rows, read_parquet, write_file};

/// Rows of each side; its `pad` text is 50 characters a row, so 60 MB of
/// text per side, about twice the limit the pipeline sets.
const ROWS: i64 = 1_200_000;

/// `a.sqlite`: `a(id, pad)` for ids 1..=ROWS; `b.duckdb`: `b(id, v, pad)`
/// for the ids not divisible by 3, whose `pad` is shared by ids `2k` and
/// `2k + 1`.
fn write_sources(dir: &Path) {
    let a = rusqlite::Connection::open(dir.join("a.sqlite")).expect("open sqlite");
    a.execute_batch(&format!(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, pad TEXT);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {ROWS})
         INSERT INTO a SELECT i, printf('%050d', i) FROM s;"
    ))
    .expect("sqlite rows");
    let b = duckdb::Connection::open(dir.join("b.duckdb")).expect("open duckdb");
    b.execute_batch(&format!(
        "CREATE TABLE b AS
         SELECT i AS id, (i * 7) % 1000 AS v, lpad(CAST(i // 2 AS VARCHAR), 50, '0') AS pad
         FROM range(1, {ROWS} + 1) t(i) WHERE i % 3 <> 0;"
    ))
    .expect("duckdb rows");
}

/// The step's one row, computed here from how the sources were made:
/// pad length, groups (distinct `b.pad` among joined rows), joined rows,
/// and the sum of `a.id + b.v` over them.
fn expected() -> Vec<Vec<Option<String>>> {
    let mut groups = BTreeSet::new();
    let (mut joined, mut total) = (0i64, 0i64);
    for i in (1..=ROWS).filter(|i| i % 3 != 0) {
        groups.insert(i / 2);
        joined += 1;
        total += i + (i * 7) % 1000;
    }
    vec![vec![
        Some("50".to_string()),
        Some(groups.len().to_string()),
        Some(joined.to_string()),
        Some(total.to_string()),
    ]]
}

#[test]
fn memory_a_join_and_aggregate_larger_than_the_limit_spills_and_is_right() {
    let dir = tempfile::tempdir().unwrap();
    write_sources(dir.path());
    // Two partitions whatever the machine's cores: the plan (two sorts per
    // side, two aggregates) and so each operator's share stay the same.
    let pipeline = write_file(
        dir.path(),
        "p.toml",
        r#"
[connections.src]
url = "sqlite://a.sqlite"
read_only = true

[connections.db]
url = "duckdb://b.duckdb"
read_only = true

[connections.out]
url = "parquet://out"

[defaults]
memory_limit = "32MiB"

[[step]]
target = "out.summary"
mode = "replace"
partitions = 2
sql = """
SELECT length(g) AS len, count(*) AS groups, sum(n) AS joined, sum(total) AS total
FROM (SELECT b.pad AS g, count(*) AS n, sum(a.id + b.v) AS total
      FROM src.a JOIN db.b ON a.id = b.id
      GROUP BY b.pad) t
GROUP BY length(g)
"""
"#,
    );

    // The flag wins over the file: 4 MiB cannot hold the sorts' batches,
    // and the step says which setting to raise (a limit the run ignored
    // would let it pass). It is not a passing failure: no retry.
    let starved = barge(dir.path(), &["run", &pipeline, "--memory-limit", "4MiB"]);
    starved.assert_fails(1, &["Resources exhausted", "memory_limit"]);
    assert!(
        !starved.stderr.contains("a passing failure"),
        "{}",
        starved.stderr
    );
    assert!(!dir.path().join("out/summary.parquet").exists());

    // Under 32 MiB, each side twice that, the join and both aggregates
    // spill and finish.
    barge(dir.path(), &["run", &pipeline]).assert_ok();
    assert_eq!(
        batch_rows(&read_parquet(&dir.path().join("out/summary.parquet"))),
        expected()
    );

    // validate and plan run the step's SQL under the flag's limit too.
    barge(
        dir.path(),
        &["validate", &pipeline, "--memory-limit", "32MiB", "-q"],
    )
    .assert_ok();
    barge(dir.path(), &["plan", &pipeline, "--memory-limit", "64MiB"]).assert_ok();

    // A size that is not one is bad input.
    barge(
        dir.path(),
        &["run", &pipeline, "--memory-limit", "12parsecs"],
    )
    .assert_fails(2, &["unknown unit 'parsecs'"]);
}
