//! Resume against the real servers: a run killed at any point (crash points
//! and SIGKILL), stopped by SIGINT, or failed, then rerun with the same
//! command, leaves the target equal to a clean run; completed steps are not
//! run again.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{barge, barge_with_env, src_dst_pipeline, write_file};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

/// Count and an order-independent digest of `t` (id, v) in PostgreSQL.
fn pg_content(url: &str, table: &str) -> Vec<Vec<Option<String>>> {
    pg_rows(
        url,
        &format!(
            "SELECT count(*), count(DISTINCT id), md5(string_agg(id || ':' || coalesce(v, 'NULL'), ',' ORDER BY id)) FROM {table}"
        ),
    )
}

fn chunked_pipeline(dir: &Path, src: &str, dst: &str, mode: &str, chunk_rows: u64) -> String {
    write_file(
        dir,
        "p.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"
read_only = true

[connections.dst]
url = "{dst}"

[[step]]
name = "copy_t"
target = "dst.t"
mode = "{mode}"
key = "id"
chunk_rows = {chunk_rows}
sql = "SELECT id, v FROM src.t"
"#
        ),
    )
}

/// The state file of the pipeline in `dir` (there is one per params).
fn state_file(dir: &Path) -> std::path::PathBuf {
    let states: Vec<_> = std::fs::read_dir(dir.join(".barge/state"))
        .expect("state dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    states[0].clone()
}

fn chunks_done(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir.join(".barge/state")) else {
        return 0;
    };
    for entry in entries.flatten() {
        if entry.path().extension().is_some_and(|e| e == "json") {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
                    return json["steps"]["copy_t"]["chunks"]["chunks"]
                        .as_array()
                        .map_or(0, |c| c.iter().filter(|c| c["done"] == true).count());
                }
            }
        }
    }
    0
}

fn spawn_barge(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_barge"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("barge runs")
}

/// Waits until the running step has committed `n` chunks.
fn wait_for_chunks(dir: &Path, child: &mut Child, n: usize) {
    let started = Instant::now();
    while chunks_done(dir) < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "barge ended before {n} chunks were committed"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until barge's COPY into database `dst_db` is active, then runs
/// `aggregate` (over `pid`) on those server backends; false when barge ended
/// first.
fn on_active_copy(server: &str, dst_db: &str, child: &mut Child, aggregate: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let found = pg_rows(
            server,
            &format!(
                "SELECT {aggregate} FROM pg_stat_activity
                 WHERE datname = '{dst_db}' AND query ILIKE 'COPY%' AND state = 'active'"
            ),
        );
        if found[0][0].as_deref() != Some("0") {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Sends SIGINT (Ctrl+C) to barge.
fn send_sigint(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn resume_after_a_crash_at_each_point_of_a_chunk_equals_a_clean_run_postgres() {
    let src = pg_db("resume_crash_src");
    pg_exec(
        &src,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text);
         INSERT INTO t SELECT g, CASE WHEN g % 97 = 0 THEN NULL ELSE 'v' || g END FROM generate_series(1, 20000) g;",
    );
    let expected = pg_content(&src, "t");
    for (mode, point) in [
        ("replace", "before_commit:3"),
        ("replace", "chunk_committed:3"),
        ("truncate", "chunk_committed:1"),
        ("truncate", "chunk_saved:2"),
        ("append", "chunk_committed:4"),
        ("insert_ignore", "chunk_committed:2"),
    ] {
        let dst = pg_db("resume_crash_dst");
        // An old table the replace must keep until its new one is complete.
        pg_exec(
            &dst,
            "CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t VALUES (-1, 'old');",
        );
        if mode != "replace" {
            pg_exec(&dst, "DELETE FROM t");
        }
        let dir = tempfile::tempdir().unwrap();
        let pipeline = chunked_pipeline(dir.path(), &src, &dst, mode, 3000);
        let crashed = barge_with_env(
            dir.path(),
            &["run", &pipeline],
            &[("BARGE_FAILPOINT", point)],
        );
        assert_ne!(crashed.code, 0, "{mode} {point}: {}", crashed.stderr);
        assert!(
            crashed.stderr.contains("BARGE_FAILPOINT"),
            "{}",
            crashed.stderr
        );
        if mode == "replace" {
            // Readers still see the old table.
            assert_eq!(
                pg_rows(&dst, "SELECT id, v FROM t"),
                vec![vec![Some("-1".into()), Some("old".into())]],
                "{point}"
            );
        }
        let resumed = barge(dir.path(), &["run", &pipeline]);
        resumed.assert_ok();
        assert!(
            resumed.stdout.contains("resumed:"),
            "{mode} {point}: {}",
            resumed.stdout
        );
        assert_eq!(pg_content(&dst, "t"), expected, "{mode} {point}");
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(state_file(dir.path())).unwrap())
                .unwrap();
        assert_eq!(state["complete"], true, "{state}");
        assert_eq!(state["steps"]["copy_t"]["status"], "completed");
        assert_eq!(
            state["steps"]["copy_t"]["chunks"]["chunks"]
                .as_array()
                .unwrap()
                .len(),
            7,
            "20000 ids in chunks of about 3000 rows, and no NULL id: {state}"
        );
    }
}

#[test]
fn resume_after_sigkill_mid_step_equals_a_clean_run_mysql() {
    let src = mysql_db("resume_kill_src");
    mysql_exec(
        &src,
        "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(20));
         INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_60000;",
    );
    let dst = pg_db("resume_kill_dst");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = chunked_pipeline(dir.path(), &src, &dst, "replace", 500);
    let mut child = spawn_barge(dir.path(), &["run", "-q", &pipeline]);
    wait_for_chunks(dir.path(), &mut child, 20);
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert!(!status.success());
    let done = chunks_done(dir.path());
    assert!((20..120).contains(&done), "{done} chunks done when killed");

    let resumed = barge(dir.path(), &["run", &pipeline]);
    resumed.assert_ok();
    assert!(resumed.stdout.contains("resumed:"), "{}", resumed.stdout);
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT count(*), count(DISTINCT id), min(id), max(id), sum(length(v)) FROM t"
        ),
        vec![vec![
            Some("60000".into()),
            Some("60000".into()),
            Some("1".into()),
            Some("60000".into()),
            Some(
                mysql_rows(&src, "SELECT sum(length(v)) FROM t")[0][0]
                    .clone()
                    .unwrap()
            ),
        ]]
    );
}

#[test]
fn resume_after_sigint_saves_state_and_the_rerun_completes() {
    let src = pg_db("resume_sigint_src");
    pg_exec(
        &src,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 60000) g;",
    );
    let dst = mysql_db("resume_sigint_dst");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = chunked_pipeline(dir.path(), &src, &dst, "append", 500);
    let mut child = spawn_barge(dir.path(), &["run", "-q", &pipeline]);
    wait_for_chunks(dir.path(), &mut child, 5);
    send_sigint(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("rerun the same command to resume"),
        "{stderr}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state_file(dir.path())).unwrap()).unwrap();
    assert_eq!(state["steps"]["copy_t"]["status"], "interrupted", "{state}");
    let done = chunks_done(dir.path());
    assert!(done < 120, "{done}");
    // What the interrupted run committed is exactly its done chunks, in
    // the shadow the new table is made in: the table itself does not exist
    // until every chunk is in.
    let rows: u64 = state["steps"]["copy_t"]["chunks"]["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM t__barge_new"),
        vec![vec![Some(rows.to_string())]]
    );
    assert_eq!(
        mysql_rows(
            &dst,
            "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't'"
        ),
        vec![vec![Some("0".to_string())]]
    );

    let status = barge(dir.path(), &["status", &pipeline]);
    status.assert_ok();
    assert!(
        status.stdout.contains("interrupted") && status.stdout.contains(&format!("{done}/120")),
        "{}",
        status.stdout
    );

    barge(dir.path(), &["run", &pipeline]).assert_ok();
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*), count(DISTINCT id), sum(id) FROM t"),
        vec![vec![
            Some("60000".into()),
            Some("60000".into()),
            Some((60000u64 * 60001 / 2).to_string())
        ]]
    );
}

#[test]
fn resume_skips_completed_steps_and_force_reruns_them() {
    let src = pg_db("resume_steps_src");
    pg_exec(
        &src,
        "CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a VALUES (1, 'x'), (2, 'y');
         CREATE TABLE b (id int, v text); INSERT INTO b VALUES (3, 'z');",
    );
    let dir = tempfile::tempdir().unwrap();
    let sqlite = rusqlite::Connection::open(dir.path().join("dst.db")).unwrap();
    // A target table that refuses the row of `second`.
    let refuse = "CREATE TABLE b (id int, v text CHECK (v <> 'z'))";
    sqlite.execute_batch(refuse).unwrap();
    let pipeline = write_file(
        dir.path(),
        "steps.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"

[connections.dst]
url = "sqlite://dst.db"

[[step]]
name = "first"
target = "dst.a"
mode = "append"
sql = "SELECT id, v FROM src.a"

[[step]]
name = "second"
target = "dst.b"
mode = "append"
sql = "SELECT id, v FROM src.b"
"#
        ),
    );
    barge(dir.path(), &["run", &pipeline]).assert_fails(1, &["CHECK constraint"]);
    let status = barge(dir.path(), &["status", &pipeline]);
    status.assert_ok();
    assert!(status.stdout.contains("completed"), "{}", status.stdout);
    assert!(status.stdout.contains("not complete"), "{}", status.stdout);

    sqlite.execute_batch("DROP TABLE b").unwrap();
    let resumed = barge(dir.path(), &["run", &pipeline]);
    resumed.assert_ok();
    assert!(resumed.stdout.contains("done before"), "{}", resumed.stdout);
    let count = |table: &str| -> i64 {
        sqlite
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    // `first` appended once, not twice.
    assert_eq!((count("a"), count("b")), (2, 1));

    // The last run completed: the next one starts afresh (appends again).
    barge(dir.path(), &["run", &pipeline]).assert_ok();
    assert_eq!((count("a"), count("b")), (4, 2));

    // A failed run, then --force-steps first: `first` runs again although done.
    sqlite
        .execute_batch(&format!("DROP TABLE b; {refuse}"))
        .unwrap();
    barge(dir.path(), &["run", &pipeline]).assert_fails(1, &["CHECK constraint"]);
    assert_eq!((count("a"), count("b")), (6, 0));
    sqlite.execute_batch("DROP TABLE b").unwrap();
    barge(dir.path(), &["run", &pipeline, "--force-steps", "first"]).assert_ok();
    assert_eq!((count("a"), count("b")), (8, 1));
    barge(dir.path(), &["run", &pipeline, "--force-steps", "nope"])
        .assert_fails(2, &["--force-steps names unknown step 'nope'"]);
}

#[test]
fn resume_chunked_sqlite_and_duckdb_targets_after_a_crash() {
    let src = pg_db("resume_embedded_src");
    pg_exec(
        &src,
        "CREATE TABLE t (id bigint, v text);
         INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 5000) g;
         INSERT INTO t VALUES (NULL, 'no id'), (NULL, 'no id either');",
    );
    for target in ["sqlite://out.db", "duckdb://out.duckdb"] {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = write_file(
            dir.path(),
            "p.toml",
            &format!(
                r#"
[connections.src]
url = "{src}"

[connections.dst]
url = "{target}"

[[step]]
name = "copy_t"
target = "dst.t"
mode = "replace"
partition_on = "id"
chunk_rows = 1000
sql = "SELECT id, v FROM src.t"
"#
            ),
        );
        let crashed = barge_with_env(
            dir.path(),
            &["run", &pipeline],
            &[("BARGE_FAILPOINT", "chunk_committed:6")],
        );
        assert_ne!(crashed.code, 0, "{target}");
        assert_eq!(chunks_done(dir.path()), 5, "{target}");
        let resumed = barge(dir.path(), &["run", &pipeline]);
        resumed.assert_ok();
        let rows: (i64, i64, i64) = if target.starts_with("sqlite") {
            let db = rusqlite::Connection::open(dir.path().join("out.db")).unwrap();
            db.query_row(
                "SELECT count(*), count(id), sum(coalesce(id, 0)) FROM t",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        } else {
            let db = duckdb::Connection::open(dir.path().join("out.duckdb")).unwrap();
            db.query_row(
                "SELECT count(*), count(id), CAST(sum(coalesce(id, 0)) AS BIGINT) FROM t",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        assert_eq!(rows, (5002, 5000, 5000 * 5001 / 2), "{target}");
    }
}

#[test]
fn resume_chunk_rows_refused_with_a_reason_where_it_cannot_work() {
    let dir = crate::common::workdir_with_shop();
    let pipeline = write_file(
        dir.path(),
        "p.toml",
        r#"
[connections.src]
url = "sqlite://data/shop.sqlite"

[connections.out]
url = "parquet://out"

[connections.db]
url = "sqlite://out.db"

[[step]]
target = "out.customers"
mode = "replace"
key = "id"
chunk_rows = 10
sql = "SELECT * FROM src.customers"

[[step]]
target = "db.names"
mode = "replace"
chunk_rows = 10
sql = "SELECT first_name FROM src.customers"
"#,
    );
    barge(dir.path(), &["run", &pipeline]).assert_fails(
        1,
        &[
            "chunk_rows needs a database target",
            "chunk_rows needs one integer column",
            "partition_on",
        ],
    );
}

#[test]
fn resume_a_server_connection_killed_mid_chunk_is_retried_and_the_run_completes() {
    let src = pg_db("resume_terminated_src");
    pg_exec(
        &src,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text);
         INSERT INTO t SELECT g, repeat('x', 50) || g FROM generate_series(1, 200000) g;",
    );
    let dst = pg_db("resume_terminated_dst");
    let dst_db = dst.rsplit('/').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = src_dst_pipeline(
        dir.path(),
        "p.toml",
        &src,
        &dst,
        r#"
[defaults]
retry_max_seconds = 1

[[step]]
name = "copy_t"
target = "dst.t"
mode = "replace"
key = "id"
chunk_rows = 40000
sql = "SELECT id, upper(v) AS v FROM src.t"
"#,
    );
    let mut child = spawn_barge(dir.path(), &["run", &pipeline]);
    // The server ends barge's load connection (as a restart would) once
    // the second chunk is being written.
    wait_for_chunks(dir.path(), &mut child, 1);
    let terminated = on_active_copy(
        &src,
        &dst_db,
        &mut child,
        "count(pg_terminate_backend(pid))",
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(terminated, "no load connection to end: {stderr}");
    assert!(out.status.success(), "{stderr}");
    // The writer sees the server's FATAL, or the connection it closed.
    assert!(
        (stderr.contains("terminating connection") || stderr.contains("connection closed"))
            && stderr.contains("retry 1 of 3"),
        "{stderr}"
    );
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT count(*), count(DISTINCT id), sum(id), sum(length(v)) FROM t"
        ),
        pg_rows(
            &src,
            "SELECT count(*), count(DISTINCT id), sum(id), sum(length(v)) FROM t"
        )
    );
}

#[test]
fn resume_sigint_during_a_replace_keeps_the_old_table_and_drops_the_shadow() {
    let src = pg_db("resume_sigint_replace_src");
    pg_exec(
        &src,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text);
         INSERT INTO t SELECT g, repeat('y', 80) || g FROM generate_series(1, 400000) g;",
    );
    let dst = pg_db("resume_sigint_replace_dst");
    pg_exec(
        &dst,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t VALUES (-1, 'old');",
    );
    let dst_db = dst.rsplit('/').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = src_dst_pipeline(
        dir.path(),
        "p.toml",
        &src,
        &dst,
        r#"
[[step]]
name = "copy_t"
target = "dst.t"
mode = "replace"
key = "id"
sql = "SELECT id, upper(v) AS v FROM src.t"
"#,
    );
    let mut child = spawn_barge(dir.path(), &["run", "-q", &pipeline]);
    // Interrupt once rows are flowing into the shadow table.
    assert!(
        on_active_copy(&src, &dst_db, &mut child, "count(*)"),
        "the load ended before it could be interrupted"
    );
    send_sigint(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_eq!(
        pg_rows(&dst, "SELECT id, v FROM t"),
        vec![vec![Some("-1".into()), Some("old".into())]]
    );
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%barge_new%'"
        ),
        vec![vec![Some("0".into())]],
        "the shadow table is gone"
    );
    // The rerun loads the whole table.
    barge(dir.path(), &["run", "-q", &pipeline]).assert_ok();
    assert_eq!(
        pg_rows(&dst, "SELECT count(*), min(id) FROM t"),
        vec![vec![Some("400000".into()), Some("1".into())]]
    );
}
