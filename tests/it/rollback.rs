//! Rollback against the real servers: `barge rollback` deletes exactly the
//! rows a run inserted, children first.

use crate::common::{barge, src_dst_pipeline};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

fn run_id(stdout: &str) -> String {
    let start = stdout.find("(run ").expect("run id in the summary") + 5;
    stdout[start..]
        .split(')')
        .next()
        .expect("run id")
        .to_string()
}

#[test]
fn rollback_after_insert_ignore_removes_only_the_runs_rows_children_first() {
    let src = pg_db("rollback_src");
    pg_exec(
        &src,
        "CREATE TABLE customers (id int PRIMARY KEY, name text);
         INSERT INTO customers VALUES (1, 'Ann (source)'), (2, 'Bob'), (3, 'Cy');
         CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount int);
         INSERT INTO orders VALUES (100, 1, 5), (101, 2, 7), (102, 3, 9), (103, 1, 11);",
    );
    let dst = mysql_db("rollback_dst");
    let before = "INSERT INTO customers VALUES (1, 'Ann (target)'), (50, 'Zed');
                  INSERT INTO orders VALUES (100, 1, 500), (150, 50, 1);";
    mysql_exec(
        &dst,
        &format!(
            "CREATE TABLE customers (id int PRIMARY KEY, name varchar(40));
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount int,
               FOREIGN KEY (customer_id) REFERENCES customers (id));
             {before}"
        ),
    );
    let target_rows = |dst: &str| {
        (
            mysql_rows(dst, "SELECT id, name FROM customers ORDER BY id"),
            mysql_rows(
                dst,
                "SELECT id, customer_id, amount FROM orders ORDER BY id",
            ),
        )
    };
    let original = target_rows(&dst);
    let dir = tempfile::tempdir().unwrap();
    let pipeline = src_dst_pipeline(
        dir.path(),
        "p.toml",
        &src,
        &dst,
        r#"
[[step]]
name = "orders"
target = "dst.orders"
mode = "insert_ignore"
key = "id"
sql = "SELECT id, customer_id, amount FROM src.orders"

[[step]]
name = "customers"
target = "dst.customers"
mode = "insert_ignore"
key = "id"
sql = "SELECT id, name FROM src.customers"

[[step]]
name = "summary"
target = "dst.summary"
mode = "replace"
sql = "SELECT customer_id, sum(amount) AS total FROM src.orders GROUP BY customer_id"
"#,
    );
    let run = barge(dir.path(), &["run", &pipeline]);
    run.assert_ok();
    let id = run_id(&run.stdout);
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM customers"),
        [[Some("4".into())]]
    );
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM orders"),
        [[Some("5".into())]]
    );

    let dry = barge(
        dir.path(),
        &["rollback", &pipeline, "--run", &id, "--dry-run"],
    );
    dry.assert_ok();
    assert!(dry.stdout.contains("nothing deleted"), "{}", dry.stdout);
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM orders"),
        [[Some("5".into())]]
    );

    // Orders go before customers (a customer with orders cannot go first).
    let rolled = barge(dir.path(), &["rollback", &pipeline, "--run", &id]);
    rolled.assert_ok();
    assert!(rolled.stdout.contains("rolled back"), "{}", rolled.stdout);
    // The rows that were there before are untouched, with their values.
    assert_eq!(target_rows(&dst), original);
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM summary"),
        [[Some("0".into())]]
    );
    barge(dir.path(), &["rollback", &pipeline, "--run", &id])
        .assert_fails(2, &["rolled back already"]);
    barge(dir.path(), &["rollback", &pipeline, "--run", "nope"]).assert_fails(2, &["no journal"]);

    // The rolled-back steps run again on the next run.
    let again = barge(dir.path(), &["run", &pipeline]);
    again.assert_ok();
    assert!(!again.stdout.contains("done before"), "{}", again.stdout);
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM orders"),
        [[Some("5".into())]]
    );
}

/// The key table rollback loads the keys of step `index` of run `id` into.
fn key_table(index: usize, id: &str) -> String {
    format!(
        "barge_rollback_keys_{index}_{}",
        id.to_ascii_lowercase().replace('-', "_")
    )
}

#[test]
fn rollback_deletes_by_typed_keys_with_null_parts_on_postgres() {
    let src = pg_db("rollback_keys_src");
    let table = "CREATE TABLE events (id int PRIMARY KEY, tag text, blob bytea NOT NULL,
                   at timestamptz, note text);";
    // Each run row's key but the last differs from a key held before in
    // one part only: a blob byte, a microsecond, a NULL, a second
    // backslash; instants are written with non-UTC offsets.
    pg_exec(
        &src,
        &format!(
            r"{table}
            INSERT INTO events VALUES
             (10, 'it''s a \ path', '\xff01', '2024-03-01 10:00:00.123456+05:30', 'blob differs'),
             (11, NULL, '\x01', '2024-03-01 04:30:00.123458+00', 'at differs by 1us'),
             (12, NULL, '\xfe8000', NULL, 'NULL tag and at'),
             (13, 'it''s a \\ path', '\xff00', '2024-03-01 10:00:00.123456+05:30', 'two backslashes'),
             (14, '', '\x', '2024-02-29 15:00:00.000001-08:00', 'empty tag and blob'),
             (15, 'gone', '\x02', '2024-03-01 00:00:00+00', 'deleted before the rollback');"
        ),
    );
    let dst = pg_db("rollback_keys_dst");
    pg_exec(
        &dst,
        &format!(
            r"{table}
            INSERT INTO events VALUES
             (1, 'it''s a \ path', '\xff00', '2024-03-01 10:00:00.123456+05:30', 'before'),
             (2, NULL, '\x01', '2024-03-01 04:30:00.123457+00', 'before: NULL tag'),
             (3, '', '\x', NULL, 'before: empty tag and blob, NULL at'),
             (4, NULL, '\xfe8000', '2024-03-01 10:00:00+00', 'before: NULL tag');"
        ),
    );
    let every_row = |dst: &str| {
        pg_rows(
            dst,
            "SELECT id, tag, blob, at, note FROM events ORDER BY id",
        )
    };
    let original = every_row(&dst);
    assert_eq!(original[0][1].as_deref(), Some(r"it's a \ path"));
    let dir = tempfile::tempdir().unwrap();
    let pipeline = src_dst_pipeline(
        dir.path(),
        "p.toml",
        &src,
        &dst,
        r#"
[[step]]
name = "events"
target = "dst.events"
mode = "append"
key = ["tag", "blob", "at"]
sql = "SELECT id, tag, blob, at, note FROM src.events"
"#,
    );
    let run = barge(dir.path(), &["run", &pipeline]);
    run.assert_ok();
    let id = run_id(&run.stdout);
    // The run's rows arrived with their keys as the source holds them.
    let key_sql = "SELECT id, tag, blob, at FROM events WHERE id >= 10 ORDER BY id";
    assert_eq!(pg_rows(&dst, key_sql), pg_rows(&src, key_sql));

    let dry = barge(
        dir.path(),
        &["rollback", &pipeline, "--run", &id, "--dry-run"],
    );
    dry.assert_ok();
    assert!(
        dry.stdout.contains("6 row(s) to delete; nothing deleted"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        pg_rows(&dst, "SELECT count(*) FROM events"),
        [[Some("10".into())]]
    );

    // One of the run's rows is gone before the rollback, and a killed
    // rollback left its key table (of another shape) behind.
    pg_exec(&dst, "DELETE FROM events WHERE id = 15");
    pg_exec(
        &dst,
        &format!("CREATE TABLE {} (leftover int)", key_table(0, &id)),
    );
    let rolled = barge(dir.path(), &["rollback", &pipeline, "--run", &id]);
    rolled.assert_ok();
    assert_eq!(every_row(&dst), original);
    assert!(
        rolled.stdout.contains(
            "deleted 5 of the 6 rows the run inserted: 1 was already gone or changed key"
        ),
        "{}",
        rolled.stdout
    );
    assert!(
        rolled.stdout.contains("5 row(s) deleted"),
        "{}",
        rolled.stdout
    );
    assert!(
        rolled
            .stderr
            .contains("rows deleted differ from rows journalled in step(s) events"),
        "{}",
        rolled.stderr
    );
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'barge_rollback_keys%'"
        ),
        [[Some("0".into())]]
    );
}

#[test]
fn rollback_deletes_by_typed_keys_on_mariadb_byte_for_byte() {
    let src = mysql_db("rollback_keys_src");
    // The database's default collation (utf8mb4_general_ci) is
    // case-insensitive: it takes 'abc' for 'ABC'; the rollback must not.
    let table = "CREATE TABLE items (id int PRIMARY KEY, code varchar(40) NULL,
                   raw varbinary(16) NOT NULL, label varchar(40));";
    mysql_exec(
        &src,
        &format!(
            r"{table}
            INSERT INTO items VALUES
             (10, 'C:\\dir\\it''s', x'ff01', 'raw differs'),
             (11, 'C:\\\\dir\\it''s', x'ff00', 'two backslashes'),
             (12, NULL, x'fe80', 'NULL code'),
             (13, 'abc', x'02', 'lower case of a key held before'),
             (14, NULL, x'', 'NULL code, empty raw');"
        ),
    );
    let dst = mysql_db("rollback_keys_dst");
    mysql_exec(
        &dst,
        &format!(
            r"{table}
            INSERT INTO items VALUES
             (1, 'C:\\dir\\it''s', x'ff00', 'before'),
             (2, NULL, x'01', 'before: NULL code'),
             (3, 'ABC', x'02', 'before: upper case'),
             (4, '', x'', 'before: empty code and raw');"
        ),
    );
    let every_row = |dst: &str| {
        mysql_rows(
            dst,
            "SELECT id, code, HEX(raw), label FROM items ORDER BY id",
        )
    };
    let original = every_row(&dst);
    assert_eq!(original[0][1].as_deref(), Some(r"C:\dir\it's"));
    let dir = tempfile::tempdir().unwrap();
    let pipeline = src_dst_pipeline(
        dir.path(),
        "p.toml",
        &src,
        &dst,
        r#"
[[step]]
name = "items"
target = "dst.items"
mode = "append"
key = ["code", "raw"]
sql = "SELECT id, code, raw, label FROM src.items"
"#,
    );
    let run = barge(dir.path(), &["run", &pipeline]);
    run.assert_ok();
    let id = run_id(&run.stdout);
    let key_sql = "SELECT id, code, HEX(raw) FROM items WHERE id >= 10 ORDER BY id";
    assert_eq!(mysql_rows(&dst, key_sql), mysql_rows(&src, key_sql));
    assert_eq!(
        mysql_rows(&dst, "SELECT code FROM items WHERE id = 11"),
        [[Some(r"C:\\dir\it's".into())]]
    );

    let rolled = barge(dir.path(), &["rollback", &pipeline, "--run", &id]);
    rolled.assert_ok();
    assert_eq!(every_row(&dst), original);
    assert!(
        rolled.stdout.contains("5 row(s) deleted"),
        "{}",
        rolled.stdout
    );
    assert!(
        !rolled.stdout.contains("rows the run inserted") && !rolled.stderr.contains("differ"),
        "{}\n{}",
        rolled.stdout,
        rolled.stderr
    );
    assert_eq!(
        mysql_rows(
            &dst,
            r"SELECT count(*) FROM information_schema.tables
               WHERE table_schema = DATABASE() AND table_name LIKE 'barge\_rollback\_keys%'"
        ),
        [[Some("0".into())]]
    );
}
