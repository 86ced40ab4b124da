//! PostgreSQL ⇄ MySQL/MariaDB: values read back on the other server, and
//! round trips that must come home unchanged.

use crate::common::barge;
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

type Rows = Vec<Vec<Option<String>>>;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

const PG_TABLE: &str = r#"
CREATE TABLE t (
    id bigint PRIMARY KEY,
    b boolean,
    i2 smallint,
    i4 integer,
    i8 bigint,
    n numeric(38,10),
    f8 double precision,
    txt text,
    by bytea,
    d date,
    ts timestamp(6),
    tstz timestamptz,
    u uuid,
    jb jsonb
);
INSERT INTO t VALUES
 (1, true, -32768, -2147483648, -9223372036854775808, -1234567890123456789012345678.0123456789,
  -1.7976931348623157e308,
  'tab	here
new line \ back ''quote'' "dq" 😀 ünïcode 李', '\x00ff10'::bytea,
  '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01+00',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": {"c": "d"}, "a": 1}'),
 (2, false, 32767, 2147483647, 9223372036854775807, 0.0000000001, 5e-324,
  '', ''::bytea, '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999+00',
  '00000000-0000-0000-0000-000000000000', '[]'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"#;

fn pg_all(url: &str) -> Rows {
    pg_rows(url, "SET TimeZone = 'UTC'; SELECT * FROM t ORDER BY id")
}

#[test]
fn postgres_to_mysql_and_back_is_identical() {
    let pg_src = pg_db("x_pg_my_src");
    let my = mysql_db("x_pg_my_mid");
    let pg_dst = pg_db("x_pg_my_dst");
    pg_exec(&pg_src, PG_TABLE);
    let dir = tempfile::tempdir().unwrap();
    barge(dir.path(), &["copy", &pg_src, &my, "-q"]).assert_ok();
    // On MariaDB: exact decimals, the same instants, bytes and text.
    let mid = mysql_rows(
        &my,
        "SELECT id, b, n, HEX(`by`), d, ts, UNIX_TIMESTAMP(tstz), u FROM t ORDER BY id",
    );
    assert_eq!(
        mid[0],
        [
            s("1"),
            s("1"),
            s("-1234567890123456789012345678.0123456789"),
            s("00FF10"),
            s("1000-01-01"),
            s("1000-01-01 00:00:00.000000"),
            s("1.000000"),
            s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ]
    );
    assert_eq!(mid[2][1..], [None, None, None, None, None, None, None]);
    barge(dir.path(), &["copy", &my, &pg_dst, "-q"]).assert_ok();
    assert_eq!(pg_all(&pg_dst), pg_all(&pg_src));
}

#[test]
fn mysql_types_arrive_in_postgres_exactly() {
    let my = mysql_db("x_my_pg_src");
    let pg = pg_db("x_my_pg_dst");
    mysql_exec(
        &my,
        "CREATE TABLE m (
           id INT PRIMARY KEY, flag TINYINT(1), u64 BIGINT UNSIGNED, u32 INT UNSIGNED,
           d65 DECIMAL(65,30), tm TIME(6), dt DATE, e ENUM('small','large'), y YEAR,
           j JSON, f FLOAT
         );
         SET SESSION sql_mode = '';
         INSERT INTO m VALUES
          (1, 1, 18446744073709551615, 4294967295,
           '-99999999999999999999999999999999999.999999999999999999999999999999',
           '-838:59:59', '0000-00-00', 'large', 2155, '{\"k\": [1, 2]}', 3.5),
          (2, 0, 0, 0, '0.000000000000000000000000000001', '838:59:59.000001', '2024-02-29',
           'small', 1901, 'null', -0.25),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
    );
    let dir = tempfile::tempdir().unwrap();
    barge(dir.path(), &["copy", &my, &pg, "-q"]).assert_ok();
    let rows = pg_rows(
        &pg,
        "SELECT id, flag, u64, u32, d65, tm = '-838:59:59' OR tm = '838:59:59.000001', dt, e, y, j, f \
         FROM m ORDER BY id",
    );
    assert_eq!(
        rows,
        [
            [
                s("1"),
                s("t"),
                s("18446744073709551615"),
                s("4294967295"),
                s("-99999999999999999999999999999999999.999999999999999999999999999999"),
                s("t"), // the same duration (PostgreSQL shows it as -34 days -22:59:59)
                None,   // MySQL's zero date arrives as NULL
                s("large"),
                s("2155"),
                s("{\"k\": [1, 2]}"),
                s("3.5"),
            ],
            [
                s("2"),
                s("f"),
                s("0"),
                s("0"),
                s("0.000000000000000000000000000001"),
                s("t"),
                s("2024-02-29"),
                s("small"),
                s("1901"),
                s("null"),
                s("-0.25"),
            ],
            [
                s("3"),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None
            ],
        ]
    );
    let types = pg_rows(
        &pg,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = 'm'::regclass AND attname IN ('u64', 'd65', 'tm') ORDER BY attname",
    );
    assert_eq!(
        types,
        [[s("numeric(65,30)")], [s("interval")], [s("numeric(20,0)")]]
    );
}

#[test]
fn nan_into_mysql_is_an_error_naming_the_column() {
    let pg = pg_db("x_nan_src");
    let my = mysql_db("x_nan_dst");
    pg_exec(
        &pg,
        "CREATE TABLE f (id int PRIMARY KEY, x float8); INSERT INTO f VALUES (1, 1.5), (2, 'NaN')",
    );
    let dir = tempfile::tempdir().unwrap();
    barge(dir.path(), &["copy", &pg, &my, "-q"]).assert_fails(1, &["column 'x'", "NaN"]);
    assert_eq!(
        mysql_rows(&my, "SELECT count(*) FROM f"),
        [[s("0")]],
        "nothing is committed"
    );
}
