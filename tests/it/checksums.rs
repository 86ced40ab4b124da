//! Content checksums computed inside PostgreSQL, MariaDB and DuckDB equal
//! the ones barge computes over the same rows: each source table (every
//! type the engine computes itself, with edge values) is copied to Parquet,
//! whose checksum barge computes, and `barge validate` must find them equal
//! while saying the source side ran in the engine. Then engine against
//! engine (MariaDB → PostgreSQL, both computed by the servers), where one
//! changed value must still be caught.

use std::path::Path;

use crate::common::{barge, src_dst_pipeline};
use crate::servers::{mysql_db, mysql_exec, pg_db, pg_exec};

/// `p.toml`: one `replace` step per `(table, sql)`, from `src` into table
/// `table` of `dst`.
fn pipeline(dir: &Path, src: &str, dst: &str, steps: &[(&str, &str)]) {
    let steps: String = steps
        .iter()
        .map(|(table, sql)| {
            format!("\n[[step]]\nname = \"{table}\"\ntarget = \"dst.{table}\"\nmode = \"replace\"\nsql = \"{sql}\"\n")
        })
        .collect();
    src_dst_pipeline(dir, "p.toml", src, dst, &steps);
}

/// `barge validate --json`: the report.
fn validate(dir: &Path) -> (crate::common::Outcome, serde_json::Value) {
    let outcome = barge(dir, &["validate", "p.toml", "--json", "v.json"]);
    let report = std::fs::read_to_string(dir.join("v.json"))
        .map(|t| serde_json::from_str(&t).expect("validation JSON"))
        .unwrap_or(serde_json::Value::Null);
    (outcome, report)
}

/// Step `i` matched, its sides computed where expected.
#[track_caller]
fn assert_step(report: &serde_json::Value, i: usize, source_in: &str, target_in: &str) {
    let step = &report["steps"][i];
    assert_eq!(step["result"], "match", "{step:#}");
    assert_eq!(step["source"]["computed_in"], source_in, "{step:#}");
    assert_eq!(step["target"]["computed_in"], target_in, "{step:#}");
    assert_eq!(step["source"]["checksum"], step["target"]["checksum"]);
}

#[test]
fn checksums_computed_by_postgres_equal_barges() {
    let src = pg_db("ck_pg_src");
    pg_exec(
        &src,
        r#"
CREATE TABLE t (
    id bigint PRIMARY KEY, b boolean, i2 smallint, i4 integer,
    n numeric(38,10), n0 numeric(12,0), free numeric(20,6), txt text, vc varchar(20), ch char(5),
    by bytea, d date, ts timestamp(6), tstz timestamptz, u uuid, jb jsonb
);
INSERT INTO t VALUES
 (1, true, -32768, -2147483648, -1234567890123456789012345678.0123456789, 0, 1.500000,
  'tab	here
new line \ ''q'' 😀 李', 'x', 'ab', '\x00ff10'::bytea, '0001-01-01', '1000-01-01 00:00:00',
  '1970-01-01 00:00:01+00', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"b": {"c": "d"}, "a": 1}'),
 (2, false, 32767, 2147483647, 0.0000000001, -100, -0.5, '', '', '', ''::bytea, '9999-12-31',
  '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999+05', '00000000-0000-0000-0000-000000000000', '[]'),
 (3, NULL, NULL, NULL, NULL, NULL, 100, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, true, 0, 0, 100.0000000000, 10, 0.000001, 'N', 'N', 'N', '\x4e'::bytea, '1970-01-01',
  '1969-12-31 23:59:59.000001', '1969-12-31 23:59:59.999999+00', NULL, 'null');
CREATE TABLE f (id integer, x double precision);
INSERT INTO f VALUES (1, 0.1), (2, -0.0), (3, NULL), (4, 1e300);
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    pipeline(
        dir.path(),
        &src,
        "parquet://out",
        &[
            ("t", "SELECT * FROM src.t"),
            // A filter and a projection are pushed with the checksum.
            ("filtered", "SELECT id, txt, n FROM src.t WHERE id >= 2"),
            // Floats PostgreSQL writes unlike barge: computed in barge.
            ("f", "SELECT * FROM src.f"),
        ],
    );
    barge(dir.path(), &["run", "p.toml", "-q"]).assert_ok();
    let (outcome, report) = validate(dir.path());
    outcome.assert_ok();
    assert_step(&report, 0, "src", "barge");
    assert_step(&report, 1, "src", "barge");
    assert_step(&report, 2, "barge", "barge");
    assert_eq!(report["steps"][0]["source"]["rows"], 4);
    assert_eq!(report["steps"][1]["source"]["rows"], 3);
    assert!(outcome.stdout.contains("src / barge"), "{}", outcome.stdout);
}

#[test]
fn checksums_computed_by_mariadb_equal_barges() {
    let src = mysql_db("ck_my_src");
    mysql_exec(
        &src,
        "
CREATE TABLE t (
  id INT PRIMARY KEY, b TINYINT(1), i8 TINYINT, u8 TINYINT UNSIGNED, i64 BIGINT, u64 BIGINT UNSIGNED,
  d DECIMAL(18,4), d0 DECIMAL(10,0), big DECIMAL(65,30), s VARCHAR(100), tx TEXT, e ENUM('a','b'),
  j JSON, dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, y YEAR
) CHARACTER SET utf8mb4;
SET time_zone = '+00:00';
INSERT INTO t VALUES
 (1, 1, -128, 255, -9223372036854775808, 18446744073709551615, '-12345678901234.5678', 0,
  '-12345678901234567890123456789012345.123456789012345678901234567890',
  'tab\\t é 😀 \\\\', 'line\\nbreak', 'a', '{\"k\": [1, 2]}', '1000-01-01', '2024-01-31 10:00:00.123456',
  '2024-01-31 10:00:00', 1901),
 (2, 0, 127, 0, 9223372036854775807, 0, '0.0001', -10, '0.000000000000000000000000000001', '', '', 'b',
  '[]', '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', 2155),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 1, 0, 1, 0, 1, '100.0000', 100, '1.500000000000000000000000000000', 'N', 'N', NULL,
  'null', '1970-01-01', '1970-01-01 00:00:00.000001', '1970-01-01 00:00:01', 2000);
",
    );
    let dir = tempfile::tempdir().unwrap();
    pipeline(
        dir.path(),
        &src,
        "parquet://out",
        &[
            ("t", "SELECT * FROM src.t"),
            ("filtered", "SELECT id, s, d FROM src.t WHERE id >= 2"),
        ],
    );
    barge(dir.path(), &["run", "p.toml", "-q"]).assert_ok();
    let (outcome, report) = validate(dir.path());
    outcome.assert_ok();
    assert_step(&report, 0, "src", "barge");
    assert_step(&report, 1, "src", "barge");
    assert_eq!(report["steps"][0]["source"]["rows"], 4);
}

#[test]
fn checksums_computed_by_duckdb_equal_barges() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("src.duckdb");
    let conn = duckdb::Connection::open(&db).unwrap();
    conn.execute_batch(
        "
CREATE TABLE t (
  id INTEGER PRIMARY KEY, b BOOLEAN, i16 SMALLINT, i64 BIGINT, u32 UINTEGER, d DECIMAL(18,4),
  d38 DECIMAL(38,10), s VARCHAR, bl BLOB, dt DATE, ts TIMESTAMP, tz TIMESTAMPTZ
);
INSERT INTO t VALUES
 (1, true, -32768, -9223372036854775808, 4294967295, -12345678901234.5678,
  -1234567890123456789012345678.0123456789, 'tab	é 😀 ''q''', '\\x00\\xFF'::BLOB, DATE '0001-01-01',
  TIMESTAMP '1000-01-01 00:00:00', TIMESTAMPTZ '2024-03-10 01:59:59.5+05'),
 (2, false, 32767, 9223372036854775807, 0, 0.0001, 0.0000000001, '', ''::BLOB, DATE '9999-12-31',
  TIMESTAMP '9999-12-31 23:59:59.999999', TIMESTAMPTZ '1969-12-31 23:59:59.999999+00'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, true, 0, 0, 1, 100.0000, 100, 'N', 'N'::BLOB, DATE '1970-01-01', TIMESTAMP '1969-12-31 23:59:59.000001',
  TIMESTAMPTZ '2038-01-19 03:14:07.999999-08');
",
    )
    .unwrap();
    drop(conn);
    pipeline(
        dir.path(),
        "duckdb://src.duckdb",
        "parquet://out",
        &[("t", "SELECT * FROM src.t")],
    );
    barge(dir.path(), &["run", "p.toml", "-q"]).assert_ok();
    let (outcome, report) = validate(dir.path());
    outcome.assert_ok();
    assert_step(&report, 0, "src", "barge");
    assert_eq!(report["steps"][0]["source"]["rows"], 4);
}

#[test]
fn checksums_computed_by_two_servers_agree_and_still_catch_a_change() {
    let src = mysql_db("ck_x_src");
    let dst = pg_db("ck_x_dst");
    mysql_exec(
        &src,
        "
CREATE TABLE t (id INT PRIMARY KEY, b TINYINT(1), n DECIMAL(12,3), s VARCHAR(50), dt DATE, dtm DATETIME(6));
INSERT INTO t VALUES
 (1, 1, '1.500', 'é 😀', '2024-02-29', '2024-02-29 12:00:00.5'),
 (2, 0, '-0.250', '', '1000-01-01', '1000-01-01 00:00:00'),
 (3, NULL, NULL, NULL, NULL, NULL);
",
    );
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &src, &dst, &[("t", "SELECT * FROM src.t")]);
    barge(dir.path(), &["run", "p.toml", "-q"]).assert_ok();
    let (outcome, report) = validate(dir.path());
    outcome.assert_ok();
    assert_step(&report, 0, "src", "dst");

    pg_exec(&dst, "UPDATE t SET n = 1.501 WHERE id = 1");
    let (outcome, report) = validate(dir.path());
    outcome.assert_fails(1, &["validation failed", "dst.t"]);
    assert_eq!(report["steps"][0]["result"], "mismatch");
    assert_eq!(report["steps"][0]["target"]["computed_in"], "dst");
}

#[test]
fn checksums_computed_by_postgres_and_duckdb_agree() {
    let src = pg_db("ck_pd_src");
    pg_exec(
        &src,
        r#"
CREATE TABLE t (id bigint PRIMARY KEY, b boolean, n numeric(12,3), s text, by bytea, d date, ts timestamp(6));
INSERT INTO t VALUES
 (1, true, 1.500, 'é 😀', '\x00ff'::bytea, '2024-02-29', '2024-02-29 12:00:00.5'),
 (2, false, -0.250, '', ''::bytea, '1000-01-01', '1000-01-01 00:00:00'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL);
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    pipeline(
        dir.path(),
        &src,
        "duckdb://out/t.duckdb",
        &[("t", "SELECT * FROM src.t")],
    );
    barge(dir.path(), &["run", "p.toml", "-q"]).assert_ok();
    let (outcome, report) = validate(dir.path());
    outcome.assert_ok();
    assert_step(&report, 0, "src", "dst");

    let conn = duckdb::Connection::open(dir.path().join("out/t.duckdb")).unwrap();
    conn.execute_batch("UPDATE t SET s = 'e' WHERE id = 1")
        .unwrap();
    drop(conn);
    let (outcome, report) = validate(dir.path());
    outcome.assert_fails(1, &["validation failed", "dst.t"]);
    assert_eq!(report["steps"][0]["result"], "mismatch");
    assert_eq!(report["steps"][0]["target"]["computed_in"], "dst");
}
