//! MySQL/MariaDB engine against the real server (tests/servers.sh): every
//! type with its edge values copied MySQL → MySQL, → Parquet and back, →
//! DuckDB and SQLite, SQLite → MySQL, every write mode, connection errors
//! and read-only connections. Each test works in a database of its own.

use std::path::Path;

use crate::common::{barge, batch_rows, read_parquet, workdir_with_shop, write_file};
use crate::servers::{mysql_db, mysql_exec, mysql_rows};

type Rows = Vec<Vec<Option<String>>>;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// A table with every MySQL type barge maps, rows of typical, minimum,
/// maximum, NULL and zero-date values.
const TYPES_DDL: &str = "
CREATE TABLE types (
  id INT PRIMARY KEY,
  b TINYINT(1), bit1 BIT(1),
  i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, u16 SMALLINT UNSIGNED,
  i24 MEDIUMINT, u24 MEDIUMINT UNSIGNED, i32 INT, u32 INT UNSIGNED,
  i64 BIGINT, u64 BIGINT UNSIGNED,
  d38 DECIMAL(38,10), d65 DECIMAL(65,30), f FLOAT, dbl DOUBLE,
  s VARCHAR(200), t TEXT, e ENUM('small','large'), st SET('a','b','c'), j JSON,
  bin VARBINARY(16), bl BLOB, bits BIT(12),
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR
) CHARACTER SET utf8mb4;
SET SESSION time_zone = '+00:00';
SET SESSION sql_mode = '';
INSERT INTO types VALUES
 (1, 1, b'1', 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
  '12.5', '0.000000000000000000000000000001', 1.5, 2.25,
  'plain', 'text', 'small', 'a,c', '{\"k\": [1, 2]}',
  X'0102', X'03', b'101010101010',
  '2024-02-29', '2024-01-31 10:00:00.123456', '2024-01-31 10:00:00.5', '12:34:56.789', 2024),
 (2, 0, b'0', -128, 0, -32768, 0, -8388608, 0, -2147483648, 0,
  -9223372036854775808, 0,
  '-9999999999999999999999999999.9999999999',
  '-99999999999999999999999999999999999.999999999999999999999999999999',
  -3.40282e38, -1.7976931348623157e308,
  '', '', 'large', '', '[]',
  X'', X'', b'0',
  '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '-838:59:59', 1901),
 (3, 1, b'1', 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
  9223372036854775807, 18446744073709551615,
  '9999999999999999999999999999.9999999999',
  '99999999999999999999999999999999999.999999999999999999999999999999',
  3.40282e38, 1.7976931348623157e308,
  'tab\\there\\nnew line \\\\ back ''quote'' \"dq\" 😀 ünïcode 李', 'x\\ry\\0z', NULL, 'a,b,c', '\"\\\\u00e9\"',
  X'00FF00', X'FF00FF', b'111111111111',
  '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59', 2155),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL),
 (5, 0, b'0', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '0', '0', 0, 0, 'zero dates', NULL, NULL, NULL, NULL,
  NULL, NULL, NULL,
  '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '00:00:00', 0);
";

/// Every column as text, the same on both sides whatever types barge
/// created (BIT columns as numbers or hex, binary as hex, timestamps as
/// unix time).
fn types_select() -> String {
    String::from(
        "SELECT id, b, CAST(bit1 AS UNSIGNED), i8, u8, i16, u16, i24, u24, i32, u32, i64, u64, \
         d38, d65, f, dbl, s, t, e, st, j, HEX(bin), HEX(bl), CONV(HEX(bits), 16, 16), \
         dt, dtm, NULLIF(UNIX_TIMESTAMP(ts), 0), tm, y + 0 FROM types ORDER BY id",
    )
}

/// Source rows with MySQL's zero dates as NULL: what barge copies.
fn zero_dates_as_null(rows: Rows) -> Rows {
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.filter(|v| !v.starts_with("0000-00-00")))
                .collect()
        })
        .collect()
}

fn types_source(name: &str) -> String {
    let url = mysql_db(name);
    mysql_exec(&url, TYPES_DDL);
    url
}

#[test]
fn mysql_every_type_copies_to_mysql_value_identical() {
    let src = types_source("types_src");
    let dst = mysql_db("types_dst");
    let dir = tempfile::tempdir().unwrap();
    let out = barge(dir.path(), &["copy", &src, &dst, "--tables", "types", "-q"]);
    out.assert_ok();
    // The three zero dates of row 5 are reported.
    assert!(out.stderr.contains("zero dates"), "{}", out.stderr);

    let expected = zero_dates_as_null(mysql_rows(&src, &types_select()));
    let got = mysql_rows(&dst, &types_select());
    assert_eq!(got.len(), 5);
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
    // Spot checks of the edge values themselves.
    assert_eq!(got[2][12], s("18446744073709551615"));
    assert_eq!(got[1][3], s("-128"));
    assert_eq!(
        got[2][14],
        s("99999999999999999999999999999999999.999999999999999999999999999999")
    );
    assert_eq!(
        got[2][17],
        s("tab\there\nnew line \\ back 'quote' \"dq\" 😀 ünïcode 李")
    );
    assert_eq!(got[1][17], s(""));
    assert_eq!(got[3][17], None);
    assert_eq!(got[2][22], s("00FF00"));
    assert_eq!(got[1][28], s("-838:59:59.000000"));
    assert_eq!(got[2][28], s("838:59:59.000000"));
    assert_eq!(got[2][27], s("2147483647.999999"));
    assert_eq!(got[4][25], None);

    // The created types keep width, sign and precision.
    let columns = mysql_rows(
        &dst,
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'types' ORDER BY ORDINAL_POSITION",
    );
    let types: Vec<(String, String)> = columns
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    let ty = |c: &str| {
        types
            .iter()
            .find(|t| t.0 == c)
            .map(|t| t.1.as_str())
            .unwrap()
    };
    assert!(ty("u64").starts_with("bigint") && ty("u64").ends_with("unsigned"));
    assert!(ty("b").starts_with("tinyint(1)"));
    assert_eq!(ty("d65"), "decimal(65,30)");
    assert_eq!(ty("ts"), "timestamp(6)");
    assert_eq!(ty("dtm"), "datetime(6)");
    assert_eq!(ty("tm"), "time(6)");
}

#[test]
fn mysql_to_parquet_and_back() {
    let src = types_source("pq_src");
    let dst = mysql_db("pq_dst");
    let dir = tempfile::tempdir().unwrap();
    barge(
        dir.path(),
        &["copy", &src, "parquet://out", "--tables", "types", "-q"],
    )
    .assert_ok();
    let batch = read_parquet(&dir.path().join("out/types.parquet"));
    let schema = batch.schema();
    let ty = |c: &str| schema.field_with_name(c).unwrap().data_type().to_string();
    assert_eq!(ty("u64"), "UInt64");
    assert_eq!(ty("b"), "Boolean");
    assert_eq!(ty("d65"), "Decimal256(65, 30)");
    assert_eq!(ty("ts"), "Timestamp(µs, \"UTC\")");
    assert_eq!(ty("dtm"), "Timestamp(µs)");
    assert_eq!(ty("tm"), "Duration(µs)");
    assert_eq!(ty("y"), "Int16");
    let rows = batch_rows(&batch);
    let col = |c: &str| schema.index_of(c).unwrap();
    assert_eq!(rows[2][col("u64")], s("18446744073709551615"));
    assert_eq!(rows[1][col("i8")], s("-128"));
    assert_eq!(rows[2][col("dt")], s("9999-12-31"));
    assert_eq!(rows[4][col("dt")], None);
    assert_eq!(rows[2][col("bl")], s("ff00ff"));

    barge(
        dir.path(),
        &["copy", "parquet://out", &dst, "--tables", "types", "-q"],
    )
    .assert_ok();
    let expected = zero_dates_as_null(mysql_rows(&src, &types_select()));
    let got = mysql_rows(&dst, &types_select());
    assert_eq!(got, expected);
}

/// Types DuckDB and SQLite hold too (no DECIMAL(65,30), no TIME).
const COMMON_DDL: &str = "
CREATE TABLE common (
  id INT PRIMARY KEY, b TINYINT(1), i64 BIGINT, u32 INT UNSIGNED, d DECIMAL(18,4), dbl DOUBLE,
  s VARCHAR(100), bl BLOB, dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL
);
SET time_zone = '+00:00';
INSERT INTO common VALUES
 (1, 1, -9223372036854775808, 4294967295, '-12345678901234.5678', 1.5, 'tab\\t é 😀 \\\\', X'00FF', '1000-01-01', '2024-01-31 10:00:00.123456', '2024-01-31 10:00:00'),
 (2, 0, 9223372036854775807, 0, '0.0001', -2.5e300, '', X'', '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
";

#[test]
fn mysql_to_duckdb_and_sqlite() {
    let src = mysql_db("common_src");
    mysql_exec(&src, COMMON_DDL);
    let dir = tempfile::tempdir().unwrap();
    barge(
        dir.path(),
        &[
            "copy",
            &src,
            "duckdb://c.duckdb",
            "--tables",
            "common",
            "-q",
        ],
    )
    .assert_ok();
    barge(
        dir.path(),
        &[
            "copy",
            &src,
            "sqlite://c.sqlite",
            "--tables",
            "common",
            "-q",
        ],
    )
    .assert_ok();

    let duck = duckdb::Connection::open(dir.path().join("c.duckdb")).unwrap();
    let mut stmt = duck
        .prepare(
            "SELECT b::VARCHAR, i64::VARCHAR, u32::VARCHAR, d::VARCHAR, dbl::VARCHAR, s, hex(bl), \
             dt::VARCHAR, dtm::VARCHAR, epoch_us(ts)::VARCHAR FROM common ORDER BY id",
        )
        .unwrap();
    let got: Rows = stmt
        .query_map([], |r| {
            (0..10)
                .map(|i| r.get::<_, Option<String>>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        got,
        vec![
            vec![
                s("true"),
                s("-9223372036854775808"),
                s("4294967295"),
                s("-12345678901234.5678"),
                s("1.5"),
                s("tab\t é 😀 \\"),
                s("00FF"),
                s("1000-01-01"),
                s("2024-01-31 10:00:00.123456"),
                s("1706695200000000"),
            ],
            vec![
                s("false"),
                s("9223372036854775807"),
                s("0"),
                s("0.0001"),
                s("-2.5e+300"),
                s(""),
                s(""),
                s("9999-12-31"),
                s("9999-12-31 23:59:59.999999"),
                s("2147483647000000"),
            ],
            vec![None; 10],
        ]
    );

    let lite = rusqlite::Connection::open(dir.path().join("c.sqlite")).unwrap();
    let row: (i64, String, f64, String, Vec<u8>, String) = lite
        .query_row(
            "SELECT i64, CAST(d AS TEXT), dbl, s, bl, dt FROM common WHERE id = 2",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            i64::MAX,
            "0.0001".to_string(),
            -2.5e300,
            String::new(),
            vec![],
            "9999-12-31".to_string()
        )
    );
    let count: i64 = lite
        .query_row("SELECT count(*) FROM common", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 3);
}

#[test]
fn sqlite_shop_copies_to_mysql() {
    let dir = workdir_with_shop();
    let dst = mysql_db("shop");
    barge(
        dir.path(),
        &["copy", "sqlite://data/shop.sqlite", &dst, "-q"],
    )
    .assert_ok();
    let lite = rusqlite::Connection::open(dir.path().join("data/shop.sqlite")).unwrap();
    for table in [
        "categories",
        "customers",
        "order_lines",
        "orders",
        "products",
    ] {
        let n: i64 = lite
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        let got = mysql_rows(&dst, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(got[0][0], Some(n.to_string()), "{table}");
    }
    // Prices are exact decimals (sum of cents from the SQLite engine's own test).
    let total = mysql_rows(
        &dst,
        "SELECT CAST(SUM(price * 100) AS SIGNED) FROM products",
    );
    assert_eq!(total[0][0], s("2276160"));
    // And back out again, through a pipeline with a pushed-down filter.
    let p = write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
[connections.my]
url = "{dst}"
read_only = true

[connections.out]
url = "parquet://out"

[[step]]
target = "out.cheap"
sql = "SELECT id, price FROM my.products WHERE id > 100 AND price < 20 ORDER BY id"
"#
        ),
    );
    barge(dir.path(), &["run", &p, "--quiet"]).assert_ok();
    let batch = read_parquet(&dir.path().join("out/cheap.parquet"));
    let expected: i64 = lite
        .query_row(
            "SELECT count(*) FROM products WHERE id > 100 AND CAST(price AS REAL) < 20",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(batch.num_rows() as i64, expected);
}

fn modes_source(name: &str) -> String {
    let url = mysql_db(name);
    mysql_exec(
        &url,
        "CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO m VALUES (1, 'one'), (2, 'two'), (3, 'three');",
    );
    url
}

fn copy_mode(dir: &Path, src: &str, dst: &str, mode: &str) -> crate::common::Outcome {
    barge(
        dir,
        &[
            "copy", src, dst, "--tables", "m", "--mode", mode, "--key", "id", "-q",
        ],
    )
}

fn m_rows(url: &str) -> Rows {
    mysql_rows(url, "SELECT id, v FROM m ORDER BY id")
}

fn rows(items: &[(i32, &str)]) -> Rows {
    items
        .iter()
        .map(|(i, v)| vec![Some(i.to_string()), s(v)])
        .collect()
}

#[test]
fn mysql_write_modes() {
    let src = modes_source("modes_src");
    let dst = mysql_db("modes_dst");
    let dir = tempfile::tempdir().unwrap();

    copy_mode(dir.path(), &src, &dst, "error-if-exists").assert_ok();
    assert_eq!(m_rows(&dst), rows(&[(1, "one"), (2, "two"), (3, "three")]));
    copy_mode(dir.path(), &src, &dst, "error-if-exists")
        .assert_fails(1, &["already exists", "error_if_exists"]);

    // The created table has the key and binary collation.
    let pk = mysql_rows(
        &dst,
        "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME = 'm' AND INDEX_NAME = 'PRIMARY'",
    );
    assert_eq!(pk, vec![vec![s("id")]]);

    // Change the target, then each mode against it.
    mysql_exec(
        &dst,
        "UPDATE m SET v = 'uno' WHERE id = 1; DELETE FROM m WHERE id = 3; INSERT INTO m VALUES (4, 'four');",
    );
    copy_mode(dir.path(), &src, &dst, "insert-ignore").assert_ok();
    assert_eq!(
        m_rows(&dst),
        rows(&[(1, "uno"), (2, "two"), (3, "three"), (4, "four")])
    );

    mysql_exec(
        &dst,
        "UPDATE m SET v = 'uno' WHERE id = 1; DELETE FROM m WHERE id = 3;",
    );
    copy_mode(dir.path(), &src, &dst, "upsert").assert_ok();
    assert_eq!(
        m_rows(&dst),
        rows(&[(1, "one"), (2, "two"), (3, "three"), (4, "four")])
    );

    // Append with keys that exist: the load fails and nothing changes.
    mysql_exec(&dst, "DELETE FROM m WHERE id = 2");
    copy_mode(dir.path(), &src, &dst, "append").assert_fails(1, &["Duplicate entry"]);
    assert_eq!(m_rows(&dst), rows(&[(1, "one"), (3, "three"), (4, "four")]));

    copy_mode(dir.path(), &src, &dst, "truncate").assert_ok();
    assert_eq!(m_rows(&dst), rows(&[(1, "one"), (2, "two"), (3, "three")]));

    mysql_exec(&dst, "ALTER TABLE m ADD COLUMN extra INT");
    copy_mode(dir.path(), &src, &dst, "replace").assert_ok();
    assert_eq!(m_rows(&dst), rows(&[(1, "one"), (2, "two"), (3, "three")]));
    let columns = mysql_rows(
        &dst,
        "SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'm'",
    );
    assert_eq!(columns[0][0], s("2"), "replace recreates the table");

    copy_mode(dir.path(), &src, &dst, "append").assert_fails(1, &["Duplicate entry"]);
    mysql_exec(&dst, "DELETE FROM m WHERE id > 1");
    copy_mode(dir.path(), &src, &dst, "insert-ignore").assert_ok();
    assert_eq!(m_rows(&dst), rows(&[(1, "one"), (2, "two"), (3, "three")]));
}

#[test]
fn mysql_upsert_needs_a_unique_key_on_the_target() {
    let src = modes_source("nokey_src");
    let dst = mysql_db("nokey_dst");
    mysql_exec(&dst, "CREATE TABLE m (id INT, v VARCHAR(20))");
    let dir = tempfile::tempdir().unwrap();
    copy_mode(dir.path(), &src, &dst, "upsert")
        .assert_fails(1, &["PRIMARY KEY or UNIQUE index on (id)", "hint:"]);
    assert!(m_rows(&dst).is_empty());
}

#[test]
fn mysql_value_that_does_not_fit_fails_and_rolls_back() {
    let src = mysql_db("narrow_src");
    mysql_exec(
        &src,
        "CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(50));
         INSERT INTO m VALUES (1, 'short'), (2, 'far too long for five');",
    );
    let dst = mysql_db("narrow_dst");
    mysql_exec(&dst, "CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(5))");
    let dir = tempfile::tempdir().unwrap();
    copy_mode(dir.path(), &src, &dst, "append").assert_fails(1, &["'v'", "row 2", "hint:"]);
    assert!(m_rows(&dst).is_empty(), "the load was rolled back");
}

#[test]
fn mysql_pipeline_joins_filters_and_writes_back() {
    let url = mysql_db("pipeline");
    mysql_exec(
        &url,
        "SET SESSION sql_mode = '';
         CREATE TABLE users (id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(50), score DOUBLE, born DATE);
         INSERT INTO users VALUES (1, 'Ann', 1.5, '1990-01-01'), (2, 'bob', 2.5, '0000-00-00'),
                                  (18446744073709551615, 'BOB', 3.5, NULL);",
    );
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
[connections.db]
url = "{url}"

[[step]]
target = "db.bobs"
key = ["id"]
mode = "replace"
sql = "SELECT id, upper(name) AS name, score * 2 AS score2, born FROM db.users WHERE name = 'bob' OR name = 'BOB' OR score < 2"
"#
        ),
    );
    barge(dir.path(), &["run", &p, "--quiet"]).assert_ok();
    let got = mysql_rows(&url, "SELECT id, name, score2, born FROM bobs ORDER BY id");
    assert_eq!(
        got,
        vec![
            vec![s("1"), s("ANN"), s("3"), s("1990-01-01")],
            vec![s("2"), s("BOB"), s("5"), None],
            vec![s("18446744073709551615"), s("BOB"), s("7"), None],
        ]
    );
}

#[test]
fn mysql_connection_errors_name_the_server_not_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = barge(
        dir.path(),
        &[
            "copy",
            "mysql://root:s3cretPW@127.0.0.1:3399/nowhere",
            "parquet://out",
        ],
    );
    out.assert_fails(1, &["127.0.0.1:3399", "nowhere", "hint:"]);
    assert!(!out.stderr.contains("s3cretPW"), "{}", out.stderr);

    let db = mysql_db("badpw");
    let bad = db.replace("mysql://root@", "mysql://root:s3cretPW@");
    let out = barge(dir.path(), &["copy", &bad, "parquet://out"]);
    let db_name = db.rsplit('/').next().unwrap();
    out.assert_fails(1, &["127.0.0.1:3306", db_name, "Access denied", "password"]);
    assert!(!out.stderr.contains("s3cretPW"), "{}", out.stderr);

    let out = barge(
        dir.path(),
        &[
            "copy",
            "mysql://root@127.0.0.1:3306/barge_it_no_such_db",
            "parquet://out",
        ],
    );
    out.assert_fails(1, &["barge_it_no_such_db", "Unknown database"]);
}

#[test]
fn mysql_read_only_connection_refuses_writes() {
    let url = modes_source("readonly");
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
[connections.db]
url = "{url}"
read_only = true

[[step]]
target = "db.m2"
sql = "SELECT * FROM db.m"
"#
        ),
    );
    barge(dir.path(), &["run", &p, "--quiet"]).assert_fails(1, &["read_only", "hint:"]);
    let tables = mysql_rows(
        &url,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
    );
    assert_eq!(tables, vec![vec![s("m")]]);
}

#[test]
fn mysql_ssl_mode_disabled_and_bad_values() {
    let url = modes_source("sslmode");
    let dir = tempfile::tempdir().unwrap();
    barge(
        dir.path(),
        &[
            "copy",
            &format!("{url}?ssl-mode=DISABLED"),
            "parquet://out",
            "-q",
        ],
    )
    .assert_ok();
    assert_eq!(
        read_parquet(&dir.path().join("out/m.parquet")).num_rows(),
        3
    );
    // The test server has no TLS: REQUIRED must fail, not fall back.
    barge(
        dir.path(),
        &[
            "copy",
            &format!("{url}?ssl-mode=REQUIRED"),
            "parquet://out2",
        ],
    )
    .assert_fails(1, &["TLS"]);
    barge(
        dir.path(),
        &[
            "copy",
            &format!("{url}?ssl-mode=sometimes"),
            "parquet://out3",
        ],
    )
    .assert_fails(1, &["ssl-mode=sometimes", "VERIFY_IDENTITY"]);
}

#[test]
fn mysql_many_rows_stream_in_batches() {
    let src = mysql_db("many_src");
    let dst = mysql_db("many_dst");
    mysql_exec(
        &src,
        "CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(12,2));
         INSERT INTO big
           SELECT seq, CONCAT('row ', seq), seq / 100 FROM seq_1_to_50000;",
    );
    let dir = tempfile::tempdir().unwrap();
    barge(dir.path(), &["copy", &src, &dst, "--tables", "big", "-q"]).assert_ok();
    let check = "SELECT count(*), SUM(id), SUM(d), MAX(v) FROM big";
    assert_eq!(mysql_rows(&dst, check), mysql_rows(&src, check));
    assert_eq!(mysql_rows(&dst, check)[0][0], s("50000"));
}

#[test]
fn mysql_disable_fk_checks_loads_children_before_their_parents() {
    let src = mysql_db("my_fk_src");
    let dst = mysql_db("my_fk_dst");
    mysql_exec(
        &src,
        "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT); INSERT INTO child VALUES (1, 10), (2, 20)",
    );
    mysql_exec(
        &dst,
        "CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB;
         CREATE TABLE child (id INT PRIMARY KEY, parent_id INT,
           FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB",
    );
    let dir = tempfile::tempdir().unwrap();
    let copy = |extra: &[&str]| {
        let mut args = vec![
            "copy", &src, &dst, "--tables", "child", "--mode", "append", "-q",
        ];
        args.extend_from_slice(extra);
        barge(dir.path(), &args)
    };
    copy(&[]).assert_fails(1, &["child", "foreign key"]);
    assert_eq!(mysql_rows(&dst, "SELECT count(*) FROM child"), [[s("0")]]);
    copy(&["--disable-fk-checks"]).assert_ok();
    assert_eq!(mysql_rows(&dst, "SELECT count(*) FROM child"), [[s("2")]]);
}

#[test]
fn mysql_zero_dates_are_counted_in_the_report() {
    let src = mysql_db("my_zero_report");
    mysql_exec(
        &src,
        "SET SESSION sql_mode = '';
         CREATE TABLE z (id INT PRIMARY KEY, d DATE, at DATETIME);
         INSERT INTO z VALUES (1, '0000-00-00', '2024-01-01 00:00:00'),
                              (2, '2024-02-29', '0000-00-00 00:00:00'),
                              (3, '0000-00-00', NULL)",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = barge(
        dir.path(),
        &["copy", &src, "z.parquet", "--report", "report.json"],
    );
    out.assert_ok();
    assert!(
        out.stdout.contains("3 MySQL zero date(s)"),
        "{}",
        out.stdout
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["zero_dates_as_null"]["src"], 3);
    let rows = batch_rows(&read_parquet(&dir.path().join("z.parquet")));
    assert_eq!(rows[0][1], None);
    assert_eq!(rows[1][2], None);
}

#[test]
fn mysql_text_read_from_parquet_loads_into_an_existing_table() {
    let dst = mysql_db("mysql_text_views");
    mysql_exec(
        &dst,
        "CREATE TABLE people (id int PRIMARY KEY, name varchar(100), code varchar(20))",
    );
    let dir = workdir_with_shop();
    // Text read from Parquet arrives as Utf8View; the table says Utf8
    // (DataFusion casts it on the way in).
    let pipeline = write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
[connections.src]
url = "sqlite://data/shop.sqlite"

[connections.files]
url = "parquet://out"

[connections.dst]
url = "{dst}"

[[step]]
target = "files.customers"
mode = "replace"
sql = "SELECT id, first_name, last_name FROM src.customers WHERE id <= 3"

[[step]]
target = "dst.people"
mode = "append"
sql = "SELECT id, concat(first_name, ' ', last_name) AS name, last_name AS code FROM files.customers"
"#
        ),
    );
    barge(dir.path(), &["run", &pipeline, "-q"]).assert_ok();
    let rows = mysql_rows(&dst, "SELECT id, name, code FROM people ORDER BY id");
    assert_eq!(rows.len(), 3);
    let db = rusqlite::Connection::open(dir.path().join("data/shop.sqlite")).unwrap();
    for row in rows {
        let id: i64 = row[0].as_deref().unwrap().parse().unwrap();
        let (name, last): (String, String) = db
            .query_row(
                "SELECT first_name || ' ' || last_name, last_name FROM customers WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(row[1].as_deref(), Some(name.as_str()));
        assert_eq!(row[2].as_deref(), Some(last.as_str()));
    }
}
