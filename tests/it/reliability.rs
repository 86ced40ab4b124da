//! Reliability against the real servers: steps that fail for a passing
//! reason are retried, other failures are not.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{barge, read_parquet, src_dst_pipeline, write_file};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows, PG};

#[test]
fn reliability_a_step_refused_a_connection_is_retried_until_it_passes() {
    let src = pg_db("reliability_retry_src");
    let role = "barge_it_retry_role";
    pg_exec(
        &src,
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
             DO $$ BEGIN
               IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                 EXECUTE 'REASSIGN OWNED BY {role} TO postgres; DROP OWNED BY {role}; DROP ROLE {role}';
               END IF;
             END $$;
             CREATE ROLE {role} LOGIN CONNECTION LIMIT 3;
             GRANT SELECT ON t TO {role};"
        ),
    );
    let limited = src.replace("postgres@", &format!("{role}@"));
    // Another client holds one of the role's three connections for a
    // while: barge's session and its snapshot's session take the others, so
    // its first read is refused with "too many connections for role" until
    // the holder leaves.
    let db = src.rsplit('/').next().unwrap().to_string();
    let mut holder = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            role,
            "-d",
            &db,
            "-qAtc",
            "SELECT pg_sleep(3)",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("psql");
    let started = Instant::now();
    while pg_rows(
        &format!("{PG}/postgres"),
        &format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'"),
    ) != [[Some("1".to_string())]]
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the holder never connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
[connections.src]
url = "{limited}"
read_only = true

[connections.out]
url = "parquet://out"

[defaults]
retries = 5
retry_max_seconds = 2

[[step]]
target = "out.t"
mode = "replace"
sql = "SELECT id, v FROM src.t"
"#
        ),
    );
    let run = barge(dir.path(), &["run", &pipeline]);
    let _ = holder.wait();
    run.assert_ok();
    assert!(
        run.stderr.contains("too many connections") && run.stderr.contains("retry 1 of 5"),
        "{}",
        run.stderr
    );
    assert_eq!(
        read_parquet(&dir.path().join("out/t.parquet")).num_rows(),
        10
    );

    // A failure that will not pass (a missing column) is not retried.
    let bad = write_file(
        dir.path(),
        "bad.toml",
        &std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("SELECT id, v FROM src.t", "SELECT id, nope FROM src.t"),
    );
    let failed = barge(dir.path(), &["run", &bad]);
    failed.assert_fails(1, &["nope"]);
    assert!(!failed.stderr.contains("retry 1"), "{}", failed.stderr);

    let negative = write_file(
        dir.path(),
        "negative.toml",
        &std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("retry_max_seconds = 2", "retry_max_seconds = -2.0"),
    );
    barge(dir.path(), &["run", &negative])
        .assert_fails(2, &["negative.toml:11", "retry_max_seconds = -2"]);
}

/// A source database whose view `flaky` fails its reads with SQLSTATE
/// `code` and `message` (every read when `always`, else the first only).
/// Its check runs once per row of barge's reads (a failing read stops at
/// its first row), advancing the sequence `reads` each time.
fn failing_view_source(name: &str, code: &str, message: &str, always: bool) -> String {
    let src = pg_db(name);
    let condition = if always {
        "nextval('reads') > 0"
    } else {
        "nextval('reads') = 1"
    };
    pg_exec(
        &src,
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
             CREATE SEQUENCE reads;
             CREATE FUNCTION read_check() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
             BEGIN
               -- Only the reads (COPY ... TO STDOUT) fail, not the row count.
               IF current_query() LIKE 'COPY%' AND {condition} THEN
                 RAISE EXCEPTION '{message}' USING ERRCODE = '{code}';
               END IF;
               RETURN true;
             END $$;
             CREATE VIEW flaky AS SELECT id, v FROM t WHERE read_check();"
        ),
    );
    src
}

fn flaky_pipeline(dir: &std::path::Path, src: &str) -> String {
    write_file(
        dir,
        "flaky.toml",
        &format!(
            r#"
# The view counts its reads with a sequence: no read-only snapshot.
[connections.src]
url = "{src}"
snapshot = false

[connections.out]
url = "parquet://out"

[defaults]
retries = 3
retry_max_seconds = 1

[[step]]
target = "out.t"
mode = "replace"
sql = "SELECT id, v FROM src.flaky"
"#
        ),
    )
}

#[test]
fn reliability_retries_decide_on_the_servers_code_not_on_the_message() {
    // A serialization failure (40001) is passing, whatever its text says.
    let src = failing_view_source(
        "reliability_code_passing",
        "40001",
        "the first read is refused",
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    let run = barge(dir.path(), &["run", &flaky_pipeline(dir.path(), &src)]);
    run.assert_ok();
    assert!(
        run.stderr.contains("the first read is refused") && run.stderr.contains("retry 1 of 3"),
        "{}",
        run.stderr
    );
    assert_eq!(
        read_parquet(&dir.path().join("out/t.parquet")).num_rows(),
        10
    );

    // A division by zero (22012) is not, though its message reads like a
    // dropped connection and quotes a passing SQLSTATE: one attempt only.
    let src = failing_view_source(
        "reliability_code_permanent",
        "22012",
        "value ''x'' timed out: connection reset by peer (SQLSTATE 40001)",
        true,
    );
    let dir = tempfile::tempdir().unwrap();
    let failed = barge(dir.path(), &["run", &flaky_pipeline(dir.path(), &src)]);
    failed.assert_fails(
        1,
        &["timed out: connection reset by peer", "SQLSTATE 22012"],
    );
    assert!(
        !failed.stderr.contains("a passing failure"),
        "{}",
        failed.stderr
    );
    // The server saw one read of the view, not four.
    assert_eq!(
        pg_rows(&src, "SELECT last_value FROM reads"),
        [[Some("1".to_string())]]
    );
}

fn replace_pipeline(dir: &std::path::Path, src: &str, dst: &str) -> String {
    src_dst_pipeline(
        dir,
        "replace.toml",
        src,
        dst,
        r#"
[[step]]
target = "dst.t"
mode = "replace"
key = ["id"]
retries = 0
sql = "SELECT id, CAST(v AS INT) AS v FROM src.t"
"#,
    )
}

#[test]
fn reliability_replace_swaps_in_a_loaded_table_and_keeps_the_old_one_on_failure_postgres() {
    let src = pg_db("reliability_replace_pg_src");
    let dst = pg_db("reliability_replace_pg_dst");
    pg_exec(
        &src,
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, g::text FROM generate_series(1, 3000) g;",
    );
    pg_exec(
        &dst,
        "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 100), (2, 200);",
    );
    let dir = tempfile::tempdir().unwrap();
    let pipeline = replace_pipeline(dir.path(), &src, &dst);
    // Twice: the second swap must not trip over names the first one left.
    for _ in 0..2 {
        barge(dir.path(), &["run", &pipeline, "-q"]).assert_ok();
        assert_eq!(
            pg_rows(&dst, "SELECT count(*), sum(v) FROM t"),
            [[Some("3000".to_string()), Some("4501500".to_string())]]
        );
    }
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('t', 'barge_commits')"
        ),
        [[Some("0".to_string())]]
    );
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT conname FROM pg_constraint WHERE conrelid = 't'::regclass AND contype = 'p'"
        ),
        [[Some("t_pkey".to_string())]]
    );
    // A load that fails on its last row leaves the previous table whole.
    pg_exec(&src, "UPDATE t SET v = 'x' WHERE id = 3000");
    barge(dir.path(), &["run", &pipeline, "-q"]).assert_fails(1, &["x"]);
    assert_eq!(
        pg_rows(&dst, "SELECT count(*), sum(v) FROM t"),
        [[Some("3000".to_string()), Some("4501500".to_string())]]
    );
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
        ),
        [[Some("barge_commits,t".to_string())]]
    );
}

#[test]
fn reliability_replace_swaps_in_a_loaded_table_and_keeps_the_old_one_on_failure_mysql() {
    let src = mysql_db("reliability_replace_my_src");
    let dst = mysql_db("reliability_replace_my_dst");
    mysql_exec(&src, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))");
    mysql_exec(
        &src,
        "INSERT INTO t SELECT seq, CAST(seq AS CHAR) FROM seq_1_to_3000",
    );
    mysql_exec(&dst, "CREATE TABLE t (id INT PRIMARY KEY, v INT)");
    mysql_exec(&dst, "INSERT INTO t VALUES (1, 100), (2, 200)");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = replace_pipeline(dir.path(), &src, &dst);
    for _ in 0..2 {
        barge(dir.path(), &["run", &pipeline, "-q"]).assert_ok();
        assert_eq!(
            mysql_rows(&dst, "SELECT count(*), sum(v) FROM t"),
            [[Some("3000".to_string()), Some("4501500".to_string())]]
        );
    }
    let db = dst.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        mysql_rows(
            &dst,
            &format!("SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME NOT IN ('t', 'barge_commits')")
        ),
        [[Some("0".to_string())]]
    );
    mysql_exec(&src, "UPDATE t SET v = 'x' WHERE id = 3000");
    barge(dir.path(), &["run", &pipeline, "-q"]).assert_fails(1, &["x"]);
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*), sum(v) FROM t"),
        [[Some("3000".to_string()), Some("4501500".to_string())]]
    );
    assert_eq!(
        mysql_rows(
            &dst,
            &format!("SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'")
        ),
        [[Some("barge_commits,t".to_string())]]
    );
}

#[test]
fn reliability_replace_swaps_in_sqlite_and_duckdb_and_keeps_the_old_table_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let src_path = dir.path().join("src.sqlite");
    let src = rusqlite::Connection::open(&src_path).unwrap();
    src.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000)
         INSERT INTO t SELECT i, CAST(i AS TEXT) FROM g;",
    )
    .unwrap();
    for (dst, count) in [
        ("sqlite://dst.sqlite", "sqlite"),
        ("duckdb://dst.duckdb", "duckdb"),
    ] {
        let pipeline =
            replace_pipeline(dir.path(), &format!("sqlite://{}", src_path.display()), dst);
        src.execute("UPDATE t SET v = '3000' WHERE id = 3000", [])
            .unwrap();
        for _ in 0..2 {
            barge(dir.path(), &["run", &pipeline, "-q"]).assert_ok();
        }
        src.execute("UPDATE t SET v = 'x' WHERE id = 3000", [])
            .unwrap();
        barge(dir.path(), &["run", &pipeline, "-q"]).assert_fails(1, &["x"]);
        let (rows, sum, tables): (i64, i64, String) = if count == "sqlite" {
            let conn = rusqlite::Connection::open(dir.path().join("dst.sqlite")).unwrap();
            conn.query_row(
                "SELECT (SELECT count(*) FROM t), (SELECT sum(v) FROM t), \
                 (SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name))",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        } else {
            let conn = duckdb::Connection::open(dir.path().join("dst.duckdb")).unwrap();
            conn.query_row(
                "SELECT (SELECT count(*) FROM t), (SELECT sum(v)::BIGINT FROM t), \
                 (SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        assert_eq!(
            (rows, sum, tables.as_str()),
            (3000, 4501500, "barge_commits,t"),
            "{dst}"
        );
    }
}
