//! Rollback and secrets against the real servers: `barge rollback` deletes
//! exactly the rows a run inserted, children first; a password in a URL
//! appears in nothing barge prints or writes.

use std::path::Path;

use crate::common::{barge, barge_with_env, src_dst_pipeline, write_file};
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

/// Every file under `dir`, as bytes.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

#[test]
fn secrets_a_password_appears_in_nothing_printed_or_written() {
    let secret = "Pa55-w0rd-8c1f";
    let src = pg_db("secrets_src");
    pg_exec(
        &src,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    // The loopback server trusts the connection: the password is carried,
    // never checked, which is all this test needs.
    let with_password = src.replace("postgres@", &format!("postgres:{secret}@"));
    assert_ne!(with_password, src);
    let dst = mysql_db("secrets_dst");
    let dst_with_password = dst.replace("root@", &format!("root:{secret}@"));
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
[params]
db_password = "{secret}"

[connections.src]
url = "{with_password}"

[connections.out]
url = "parquet://out"

[[step]]
name = "good"
target = "out.t"
mode = "replace"
sql = "SELECT id, v FROM src.t"

[[step]]
name = "again"
target = "out.t2"
mode = "replace"
sql = "SELECT id, v FROM src.t"
"#
        ),
    );
    let mut printed = Vec::new();
    for args in [
        vec!["plan", pipeline.as_str()],
        vec![
            "run",
            pipeline.as_str(),
            "--stage",
            "staged",
            "--report",
            "report.json",
            "-vv",
        ],
        vec!["status", pipeline.as_str()],
        vec!["validate", pipeline.as_str(), "--json", "validate.json"],
    ] {
        let out = barge_with_env(dir.path(), &args, &[("RUST_LOG", "debug")]);
        out.assert_ok();
        printed.push(out);
    }
    // A failing run: a bad step, then a bad target connection.
    let failing = write_file(
        dir.path(),
        "bad.toml",
        &format!(
            r#"
[connections.src]
url = "{with_password}"

[connections.dst]
url = "{dst_with_password}"

[[step]]
target = "dst.t"
mode = "replace"
sql = "SELECT id, nope FROM src.t"
"#
        ),
    );
    let bad = barge(
        dir.path(),
        &["run", &failing, "--report", "bad.json", "-vv"],
    );
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    printed.push(bad);
    let unreachable = barge(
        dir.path(),
        &[
            "copy",
            &format!("postgres://postgres:{secret}@127.0.0.1:1/nowhere"),
            "x.parquet",
        ],
    );
    assert_eq!(unreachable.code, 1);
    printed.push(unreachable);

    for out in &printed {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "printed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    let written = files_under(dir.path());
    assert!(
        written
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains(".barge/state")),
        "the run kept state"
    );
    assert!(written.iter().any(|(p, _)| p.ends_with("manifest.json")));
    for (path, bytes) in written {
        if path.ends_with("p.toml") || path.ends_with("bad.toml") {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(secret),
            "{} holds the password",
            path.display()
        );
    }
}
