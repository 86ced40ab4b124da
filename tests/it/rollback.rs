//! Rollback against the real servers: `barge rollback` deletes exactly the
//! rows a run inserted, children first.

use crate::common::{barge, src_dst_pipeline};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec};

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
