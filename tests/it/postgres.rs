//! PostgreSQL engine against the real server (tests/servers.sh): every type
//! read and written back, the write modes, staging for casts, TLS, errors.

use crate::common::{barge, read_parquet, write_file};
use crate::servers::{pg_db, pg_exec, pg_rows};

/// A table with every type the engine reads natively or as text, with edge
/// values, a row of NULLs, and the empty string beside NULL.
const ALL_TYPES: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE t (
    id integer PRIMARY KEY,
    b boolean,
    i2 smallint,
    i4 integer,
    i8 bigint,
    f4 real,
    f8 double precision,
    n152 numeric(15,2),
    n3810 numeric(38,10),
    n7630 numeric(76,30),
    n_free numeric,
    txt text,
    vc varchar(20),
    ch char(5),
    by bytea,
    d date,
    tm time,
    ts timestamp,
    tstz timestamptz,
    u uuid,
    j json,
    jb jsonb,
    m mood,
    iv interval,
    arr integer[],
    tarr text[]
);
INSERT INTO t VALUES
 (1, true, -32768, -2147483648, -9223372036854775808, 1.5, -2.25,
  -9999999999999.99, 1234567890123456789012345678.0123456789,
  123456789012345678901234567890123456789012345.123456789012345678901234567890,
  3.14159265358979323846264338327950288419716939937510582097494459,
  'tab	here
new line \ back ''quote'' "dq" 😀 ünïcode 李', 'varchar', 'ab', '\x00ff10'::bytea,
  '0001-01-01', '00:00:00', '0001-01-01 00:00:00', '2024-03-10 01:59:59.999999+00',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, null]}', '{"b": {"c": "d"}, "a": 1}',
  'happy', '838:59:59', '{1,NULL,3}', '{"x y","q\"uote"}'),
 (2, false, 32767, 2147483647, 9223372036854775807, 'NaN', 'Infinity',
  9999999999999.99, -0.0000000001, 0, 'NaN',
  '', '', '', ''::bytea,
  '9999-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:00+00',
  '00000000-0000-0000-0000-000000000000', '[]', '[]', 'sad', '-1 day -00:00:01', '{}', '{}'),
 (3, NULL, NULL, NULL, NULL, '-Infinity', '-Infinity', NULL, NULL, NULL, '-12345678901234567890.000000000000000000001',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, NULL, 0, 0, 0, 0, 5e-324, 0.01, 0.5, -1, 0,
  NULL, NULL, NULL, NULL, '2000-01-01', '12:00:00', '2000-01-01 00:00:00', '2000-01-01 00:00:00+00',
  NULL, 'null', 'null', NULL, '0', NULL, NULL);
"#;

/// `SELECT * FROM t ORDER BY id` as PostgreSQL's text, in UTC.
fn all_rows(url: &str, table: &str) -> Vec<Vec<Option<String>>> {
    pg_rows(
        url,
        &format!("SET TimeZone = 'UTC'; SELECT * FROM {table} ORDER BY 1"),
    )
}

/// The source's rows as they arrive in a created table: `char(n)` is read
/// the way PostgreSQL casts it to text, without its trailing pad spaces
/// (insignificant in `char(n)`; a `char(n)` target pads them again).
fn unpadded(mut rows: Vec<Vec<Option<String>>>) -> Vec<Vec<Option<String>>> {
    const CH: usize = 13;
    for row in &mut rows {
        if let Some(v) = row[CH].as_mut() {
            *v = v.trim_end_matches(' ').to_string();
        }
    }
    rows
}

/// Column names and types of a table, as `format_type` spells them.
fn column_types(url: &str, table: &str) -> Vec<Vec<Option<String>>> {
    pg_rows(
        url,
        &format!(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = '{table}'::regclass AND attnum > 0 ORDER BY attnum"
        ),
    )
}

#[test]
fn postgres_to_postgres_keeps_every_value() {
    let src = pg_db("pg_pg_values_src");
    let dst = pg_db("pg_pg_values_dst");
    pg_exec(&src, ALL_TYPES);
    let dir = tempfile::tempdir().unwrap();
    barge(dir.path(), &["copy", &src, &dst, "--tables", "t", "-q"]).assert_ok();
    let want = all_rows(&src, "t");
    assert_eq!(want.len(), 4);
    assert_eq!(all_rows(&dst, "t"), want);
    // A same-engine copy creates every column with its declared type, but
    // for the enum, whose type the target does not have: it lands as text.
    let mut types = column_types(&src, "t");
    for row in &mut types {
        if row[0].as_deref() == Some("m") {
            row[1] = Some("text".into());
        }
    }
    assert_eq!(column_types(&dst, "t"), types);
}

#[test]
fn postgres_into_an_existing_table_of_the_same_types_is_identical() {
    let src = pg_db("pg_pg_same_src");
    let dst = pg_db("pg_pg_same_dst");
    pg_exec(&src, ALL_TYPES);
    // The same DDL, no rows: uuid, jsonb, enum, interval, arrays and free
    // numeric columns are reached through the staging table's casts.
    let ddl = ALL_TYPES.split("INSERT INTO").next().unwrap();
    pg_exec(&dst, ddl);
    let dir = tempfile::tempdir().unwrap();
    barge(
        dir.path(),
        &[
            "copy", &src, &dst, "--tables", "t", "--mode", "append", "-q",
        ],
    )
    .assert_ok();
    assert_eq!(all_rows(&dst, "t"), all_rows(&src, "t"));
    assert_eq!(column_types(&dst, "t"), column_types(&src, "t"));
}

#[test]
fn postgres_to_parquet_to_postgres_is_identical() {
    let src = pg_db("pg_parquet_src");
    let dst = pg_db("pg_parquet_dst");
    pg_exec(&src, ALL_TYPES);
    let dir = tempfile::tempdir().unwrap();
    barge(
        dir.path(),
        &["copy", &src, "t.parquet", "--tables", "t", "-q"],
    )
    .assert_ok();
    let batch = read_parquet(&dir.path().join("t.parquet"));
    assert_eq!(batch.num_rows(), 4);
    assert_eq!(
        batch.schema().field_with_name("n3810").unwrap().data_type(),
        &datafusion::arrow::datatypes::DataType::Decimal128(38, 10)
    );
    barge(dir.path(), &["copy", "t.parquet", &dst, "-q"]).assert_ok();
    assert_eq!(all_rows(&dst, "t"), unpadded(all_rows(&src, "t")));
}

#[test]
fn postgres_to_duckdb_and_sqlite_and_back() {
    let src = pg_db("pg_embedded_src");
    let dst = pg_db("pg_embedded_dst");
    pg_exec(
        &src,
        "CREATE TABLE t (id bigint PRIMARY KEY, name text, price numeric(12,3), at timestamptz, day date);
         INSERT INTO t SELECT g, 'name ' || g, g * 1.125, '2024-01-01'::timestamptz + g * interval '1 hour',
                              '2024-01-01'::date + g FROM generate_series(1, 5000) g;
         INSERT INTO t VALUES (0, NULL, NULL, NULL, NULL);",
    );
    let dir = tempfile::tempdir().unwrap();
    barge(dir.path(), &["copy", &src, "duckdb://e.duckdb", "-q"]).assert_ok();
    barge(
        dir.path(),
        &["copy", "duckdb://e.duckdb", "sqlite://e.sqlite", "-q"],
    )
    .assert_ok();
    barge(dir.path(), &["copy", "sqlite://e.sqlite", &dst, "-q"]).assert_ok();
    assert_eq!(all_rows(&dst, "t"), all_rows(&src, "t"));
    assert_eq!(all_rows(&dst, "t").len(), 5001);
}

/// A pipeline from `src` (PostgreSQL) into `dst` (PostgreSQL) in `mode`.
fn mode_pipeline(dir: &std::path::Path, src: &str, dst: &str, mode: &str) -> String {
    write_file(
        dir,
        &format!("{mode}.toml"),
        &format!(
            r#"
[connections.src]
url = "{src}"
read_only = true

[connections.dst]
url = "{dst}"

[[step]]
target = "dst.items"
mode = "{mode}"
key = ["id"]
sql = "SELECT id, name, qty FROM src.items"
"#
        ),
    )
}

#[test]
fn write_modes_on_postgres() {
    let src = pg_db("pg_modes_src");
    let dst = pg_db("pg_modes_dst");
    pg_exec(
        &src,
        "CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
         INSERT INTO items VALUES (1, 'one', 10), (2, 'two', 20), (3, 'three', 30);",
    );
    pg_exec(
        &dst,
        "CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
         INSERT INTO items VALUES (1, 'old one', 1), (9, 'nine', 9);",
    );
    let dir = tempfile::tempdir().unwrap();
    let rows = |sql: &str| pg_rows(&dst, sql);
    let run = |mode: &str| {
        barge(
            dir.path(),
            &["run", &mode_pipeline(dir.path(), &src, &dst, mode), "-q"],
        )
    };

    run("insert_ignore").assert_ok();
    assert_eq!(
        rows("SELECT id::text || ':' || name FROM items ORDER BY id"),
        [["1:old one"], ["2:two"], ["3:three"], ["9:nine"]]
            .map(|r| r.map(|s| Some(s.to_string())).to_vec())
    );
    pg_exec(&dst, "UPDATE items SET qty = 0");
    run("upsert").assert_ok();
    assert_eq!(
        rows("SELECT id::text || ':' || name || ':' || qty FROM items ORDER BY id"),
        [["1:one:10"], ["2:two:20"], ["3:three:30"], ["9:nine:0"]]
            .map(|r| r.map(|s| Some(s.to_string())).to_vec())
    );
    run("truncate").assert_ok();
    assert_eq!(
        rows("SELECT count(*) FROM items"),
        [[Some("3".to_string())]]
    );
    run("append").assert_fails(1, &["dst", "duplicate key"]);
    assert_eq!(
        rows("SELECT count(*) FROM items"),
        [[Some("3".to_string())]]
    );
    run("error_if_exists").assert_fails(1, &["already exists"]);
    run("replace").assert_ok();
    assert_eq!(
        rows("SELECT count(*) FROM items"),
        [[Some("3".to_string())]]
    );
}

#[test]
fn a_read_only_connection_refuses_writes() {
    let db = pg_db("pg_read_only");
    pg_exec(
        &db,
        "CREATE TABLE items (id int PRIMARY KEY, name text, qty int)",
    );
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_file(
        dir.path(),
        "ro.toml",
        &format!(
            r#"
[connections.src]
url = "{db}"
read_only = true

[[step]]
target = "src.copy"
sql = "SELECT * FROM src.items"
"#
        ),
    );
    barge(dir.path(), &["run", &pipeline, "-q"]).assert_fails(1, &["read_only"]);
    assert_eq!(
        pg_rows(
            &db,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'copy'"
        ),
        [[Some("0".to_string())]]
    );
}

#[test]
fn connection_errors_name_the_server_and_hide_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = barge(
        dir.path(),
        &[
            "copy",
            "postgres://postgres:Sup3rSecret@127.0.0.1:1/nowhere",
            "x.parquet",
        ],
    );
    out.assert_fails(1, &["127.0.0.1:1", "database 'nowhere'", "hint"]);
    assert!(!out.stderr.contains("Sup3rSecret"), "{}", out.stderr);
    let out = barge(
        dir.path(),
        &[
            "copy",
            "postgres://postgres:Sup3rSecret@127.0.0.1:5432/barge_no_such_db",
            "x.parquet",
        ],
    );
    out.assert_fails(1, &["barge_no_such_db", "does not exist"]);
    assert!(!out.stderr.contains("Sup3rSecret"), "{}", out.stderr);
}

#[test]
fn tls_is_used_when_sslmode_requires_it() {
    let db = pg_db("pg_tls");
    pg_exec(&db, "CREATE TABLE t (id int); INSERT INTO t VALUES (42)");
    let dir = tempfile::tempdir().unwrap();
    barge(
        dir.path(),
        &["copy", &format!("{db}?sslmode=require"), "t.parquet", "-q"],
    )
    .assert_ok();
    let batch = read_parquet(&dir.path().join("t.parquet"));
    assert_eq!(batch.num_rows(), 1);
    // sslmode=require refuses a plain connection, so the copy above went over
    // TLS as long as the server offers it (Debian's packages turn it on).
    let ssl_on = pg_rows(&db, "SHOW ssl");
    assert_eq!(
        ssl_on,
        [[Some("on".to_string())]],
        "the test server has TLS on"
    );
}

#[test]
fn float_nan_and_infinity_survive_postgres() {
    let src = pg_db("pg_floats_src");
    pg_exec(
        &src,
        "CREATE TABLE f (id int, x float8); INSERT INTO f VALUES (1, 'NaN'), (2, 'Infinity'), (3, '-Infinity'), (4, -0.0)",
    );
    let dir = tempfile::tempdir().unwrap();
    barge(dir.path(), &["copy", &src, "f.parquet", "-q"]).assert_ok();
    let batch = read_parquet(&dir.path().join("f.parquet"));
    let x = batch
        .column(1)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Float64Array>()
        .unwrap();
    assert!(x.value(0).is_nan());
    assert_eq!(x.value(1), f64::INFINITY);
    assert_eq!(x.value(2), f64::NEG_INFINITY);
    // SQLite cannot store NaN: an error naming the column, not a silent NULL.
    barge(dir.path(), &["copy", &src, "sqlite://f.sqlite", "-q"])
        .assert_fails(1, &["column 'x'", "NaN"]);
}

#[test]
fn disable_fk_checks_loads_children_before_their_parents() {
    let src = pg_db("pg_fk_src");
    let dst = pg_db("pg_fk_dst");
    pg_exec(
        &src,
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int); INSERT INTO child VALUES (1, 10), (2, 20)",
    );
    let ddl = "CREATE TABLE parent (id int PRIMARY KEY);
               CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id))";
    pg_exec(&dst, ddl);
    let dir = tempfile::tempdir().unwrap();
    let copy = |extra: &[&str]| {
        let mut args = vec![
            "copy", &src, &dst, "--tables", "child", "--mode", "append", "-q",
        ];
        args.extend_from_slice(extra);
        barge(dir.path(), &args)
    };
    copy(&[]).assert_fails(1, &["child", "foreign key"]);
    assert_eq!(
        pg_rows(&dst, "SELECT count(*) FROM child"),
        [[Some("0".to_string())]]
    );
    copy(&["--disable-fk-checks"]).assert_ok();
    assert_eq!(
        pg_rows(&dst, "SELECT count(*) FROM child"),
        [[Some("2".to_string())]]
    );
    // Checks are back on for the next session.
    pg_exec(&dst, "INSERT INTO parent VALUES (10)");
    let err = std::panic::catch_unwind(|| pg_exec(&dst, "INSERT INTO child VALUES (3, 99)"));
    assert!(err.is_err(), "the foreign key is enforced again");
}

#[test]
fn pass_through_and_arrow_paths_give_identical_tables() {
    let src = pg_db("pg_through_src");
    let bytes = pg_db("pg_through_bytes");
    let arrow = pg_db("pg_through_arrow");
    // The types whose natural form every PostgreSQL column takes as is.
    pg_exec(
        &src,
        "CREATE TABLE t (id bigint PRIMARY KEY, b boolean, i2 smallint, n numeric(20,4), f float8,
                         txt text, vc varchar(9), by bytea, d date, tm time, ts timestamp, tstz timestamptz);
         INSERT INTO t SELECT g, g % 2 = 0, (g % 30000)::smallint, g * 1.0001, g / 7.0,
                              'row ' || g || E'\\t\\n\\\\', 'v' || (g % 1000), int8send(g),
                              '2000-01-01'::date + (g % 3000), '00:00:01'::time * (g % 80000),
                              '2000-01-01'::timestamp + g * interval '1 second',
                              '2000-01-01 00:00:00+00'::timestamptz + g * interval '1 minute'
                       FROM generate_series(1, 30000) g;
         INSERT INTO t (id) VALUES (0);",
    );
    let dir = tempfile::tempdir().unwrap();
    let through =
        crate::common::barge_with_env(dir.path(), &["copy", &src, &bytes, "-v", "--quiet"], &[]);
    through.assert_ok();
    assert!(
        through.stderr.contains("without decoding"),
        "the pass-through was taken:\n{}",
        through.stderr
    );
    let decoded = crate::common::barge_with_env(
        dir.path(),
        &["copy", &src, &arrow, "-v", "--quiet"],
        &[("BARGE_PASSTHROUGH", "0")],
    );
    decoded.assert_ok();
    assert!(
        !decoded.stderr.contains("without decoding"),
        "{}",
        decoded.stderr
    );
    let want = all_rows(&src, "t");
    assert_eq!(want.len(), 30001);
    assert_eq!(all_rows(&bytes, "t"), want);
    assert_eq!(all_rows(&arrow, "t"), want);
    assert_eq!(column_types(&bytes, "t"), column_types(&arrow, "t"));
}

#[test]
fn staging_and_the_journal_keep_the_pass_through() {
    let src = pg_db("pg_through_tee_src");
    let dst = pg_db("pg_through_tee_dst");
    let ddl = "CREATE TABLE t (id bigint PRIMARY KEY, n numeric(20,4), txt text, ts timestamptz);";
    pg_exec(
        &src,
        &format!(
            "{ddl} INSERT INTO t SELECT g, g * 1.0001, 'row ' || g,
                          '2000-01-01 00:00:00+00'::timestamptz + g * interval '1 minute'
                   FROM generate_series(1, 50000) g;
             INSERT INTO t VALUES (0, NULL, NULL, NULL);"
        ),
    );
    pg_exec(
        &dst,
        &format!("{ddl} INSERT INTO t VALUES (-1, 0, 'there before', NULL);"),
    );
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"

[connections.dst]
url = "{dst}"

[[step]]
target = "dst.t"
mode = "append"
key = ["id"]
sql = "SELECT id, n, txt, ts FROM src.t"
"#
        ),
    );
    let run = barge(dir.path(), &["run", &pipeline, "--stage", "staged", "-v"]);
    run.assert_ok();
    assert!(
        run.stderr.contains("without decoding"),
        "the pass-through was taken:\n{}",
        run.stderr
    );
    // The staged rows are the source's, value for value (the target also
    // holds the row that was there before, so only the stage is compared).
    barge(
        dir.path(),
        &[
            "validate", &pipeline, "--stage", "staged", "--json", "v.json",
        ],
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("v.json")).unwrap()).unwrap();
    let step = &report["steps"][0];
    assert_eq!(step["stage"]["rows"], 50001, "{step:#}");
    assert!(step["source"]["checksum"].is_string(), "{step:#}");
    assert_eq!(
        step["stage"]["checksum"], step["source"]["checksum"],
        "{step:#}"
    );
    // The journal holds every key sent: the rollback deletes the run's rows
    // and keeps the one that was there before.
    let start = run.stdout.find("(run ").expect("run id in the summary") + 5;
    let id = run.stdout[start..].split(')').next().unwrap().to_string();
    barge(dir.path(), &["rollback", &pipeline, "--run", &id]).assert_ok();
    assert_eq!(
        pg_rows(&dst, "SELECT id, txt FROM t"),
        [[Some("-1".to_string()), Some("there before".to_string())]]
    );
}

#[test]
fn partitions_and_partition_on_split_the_reads_of_a_step() {
    let src = pg_db("pg_partition_src");
    pg_exec(
        &src,
        "CREATE TABLE events (id bigint PRIMARY KEY, day int, what text);
         INSERT INTO events SELECT g, g % 100, 'e' || g FROM generate_series(1, 3000) g;
         INSERT INTO events VALUES (3001, NULL, 'no day'), (3002, NULL, 'no day either');",
    );
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"

[connections.out]
url = "parquet://out"

[[step]]
target = "out.events"
mode = "replace"
partitions = 3
partition_on = "day"
sql = "SELECT * FROM src.events"
"#
        ),
    );
    let plan = barge(dir.path(), &["plan", &pipeline]);
    plan.assert_ok();
    for range in [
        "(\"day\" < 33 OR \"day\" IS NULL)",
        "\"day\" >= 33 AND \"day\" < 66",
        "\"day\" >= 66",
    ] {
        assert!(plan.stdout.contains(range), "{range}:\n{}", plan.stdout);
    }
    barge(dir.path(), &["run", &pipeline, "-q"]).assert_ok();
    // Rows whose partition column is NULL are read too (by the first range).
    let batch = read_parquet(&dir.path().join("out/events.parquet"));
    assert_eq!(batch.num_rows(), 3002);
    let bad = write_file(
        dir.path(),
        "bad.toml",
        &std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("partitions = 3", "partitions = 0"),
    );
    barge(dir.path(), &["run", &bad]).assert_fails(2, &["bad.toml:", "partitions = 0"]);
    let text = write_file(
        dir.path(),
        "text.toml",
        &std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("partition_on = \"day\"", "partition_on = \"what\""),
    );
    barge(dir.path(), &["run", &text, "-q"]).assert_fails(1, &["partition_on", "not an integer"]);
}
