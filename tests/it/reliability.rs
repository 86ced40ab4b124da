//! Reliability against the real servers: steps that fail for a passing
//! reason are retried, other failures are not.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{barge, read_parquet, write_file};
use crate::servers::{pg_db, pg_exec, pg_rows, PG};

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
             CREATE ROLE {role} LOGIN CONNECTION LIMIT 2;
             GRANT SELECT ON t TO {role};"
        ),
    );
    let limited = src.replace("postgres@", &format!("{role}@"));
    // Another client holds one of the role's two connections for a while:
    // barge's session takes the other, so its first read is refused with
    // "too many connections for role" until the holder leaves.
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
