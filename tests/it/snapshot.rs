//! One snapshot per source per run: a table copied three times while a
//! concurrent writer moves money between accounts of different partitions
//! (by step `first` with 4 parallel range reads, by step `second` after it,
//! and by step `chunked`, whose 5 chunks are read and committed one after
//! another) arrives as of one moment: every copy holds the known total and
//! the three copies are equal row for row.
//!
//! Without the snapshot (`snapshot = false`) these checks fail: `second`
//! starts its reads only after `first` has loaded its 200,000 rows, and the
//! writer commits transfers all the while (the test asserts it committed
//! during the run), so the copies differ in the accounts those transfers
//! touched; a transfer committed between the reads of two chunks, or
//! between the starts of two range reads, is seen by one side only, so a
//! copy's total is off. (A probe of this very pipeline with `snapshot =
//! false`, on both engines, found the first two copies differing in 3,000
//! to 6,000 accounts and the chunked total off by more than 1,000; the
//! four range reads of one step start within milliseconds of each other,
//! and their total was off by 2 to 13, not every time.)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{barge, barge_with_env, write_file};
use crate::servers::{mysql_db, mysql_exec, pg_db, pg_exec, pg_rows};

const ROWS: i64 = 200_000;
const BALANCE: i64 = 1_000;

/// A thread running transfers of 1 from an account in the first half of
/// the ids (partitions 1 and 2 of 4) to one in the second half (3 and 4),
/// each in a transaction of its own, until stopped.
struct Transfers {
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Transfers {
    /// Starts `run(stop, committed)` on a thread with a runtime of its own.
    fn start<F, Fut>(run: F) -> Self
    where
        F: FnOnce(Arc<AtomicBool>, Arc<AtomicU64>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicU64::new(0));
        let (s, c) = (stop.clone(), committed.clone());
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("writer runtime")
                .block_on(run(s, c));
        });
        let transfers = Self {
            stop,
            committed,
            thread: Some(thread),
        };
        // The copies must start after transfers were committed, so that a
        // copy of the untouched table cannot pass for a snapshot.
        transfers.wait_for(100);
        transfers
    }

    fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Waits until `n` transfers were committed (the writer fails the test
    /// when it cannot commit).
    fn wait_for(&self, n: u64) {
        let started = Instant::now();
        while self.committed() < n {
            let finished = self.thread.as_ref().is_some_and(|t| t.is_finished());
            assert!(
                !finished && started.elapsed() < Duration::from_secs(60),
                "the writer committed {} transfers, not {n}",
                self.committed()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the writer; panics when it failed.
    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the writer ran without failing");
        }
    }
}

impl Drop for Transfers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The `n`th transfer's accounts: `(from, to)`, `from` in the first half of
/// the ids, `to` in the second (a fixed pseudo-random sequence).
fn accounts(n: u64) -> (i64, i64) {
    let mix = |x: u64| {
        x.wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 33
    };
    let half = (ROWS / 2) as u64;
    let from = 1 + mix(2 * n) % half;
    let to = half + 1 + mix(2 * n + 1) % half;
    (from as i64, to as i64)
}

fn transfer_sql(n: u64, begin: &str) -> String {
    let (from, to) = accounts(n);
    format!(
        "{begin}; UPDATE accounts SET balance = balance - 1 WHERE id = {from}; \
         UPDATE accounts SET balance = balance + 1 WHERE id = {to}; COMMIT"
    )
}

fn pg_transfers(url: &str) -> Transfers {
    let url = url.to_string();
    Transfers::start(move |stop, committed| async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the writer connects");
        tokio::spawn(connection);
        client
            .batch_execute("SET synchronous_commit = off")
            .await
            .expect("synchronous_commit");
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            client
                .batch_execute(&transfer_sql(n, "BEGIN"))
                .await
                .expect("a transfer commits");
            n += 1;
            committed.store(n, Ordering::Relaxed);
        }
    })
}

fn mysql_transfers(url: &str) -> Transfers {
    use mysql_async::prelude::Queryable;
    let url = url.to_string();
    Transfers::start(move |stop, committed| async move {
        let opts = mysql_async::Opts::from_url(&url).expect("mysql url");
        let mut conn = mysql_async::Conn::new(opts)
            .await
            .expect("the writer connects");
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            conn.query_drop(transfer_sql(n, "START TRANSACTION"))
                .await
                .expect("a transfer commits");
            n += 1;
            committed.store(n, Ordering::Relaxed);
        }
        conn.disconnect().await.ok();
    })
}

/// A pipeline copying `src.accounts` into PostgreSQL `dst` three times: by
/// step `first`, then step `second` (4 parallel range reads each), and by
/// step `chunked` (5 chunks); `src_extra` goes into `[connections.src]`.
fn pipeline(src: &str, dst: &str, src_extra: &str) -> String {
    format!(
        r#"
[connections.src]
url = "{src}"
read_only = true
{src_extra}

[connections.dst]
url = "{dst}"

[[step]]
name = "first"
target = "dst.accounts_first"
mode = "replace"
partitions = 4
partition_on = "id"
sql = "SELECT id, balance FROM src.accounts"

[[step]]
name = "second"
target = "dst.accounts_second"
mode = "replace"
partitions = 4
partition_on = "id"
depends_on = ["first"]
sql = "SELECT id, balance FROM src.accounts"

[[step]]
name = "chunked"
target = "dst.accounts_chunked"
mode = "replace"
key = ["id"]
chunk_rows = 40000
sql = "SELECT id, balance FROM src.accounts"
"#
    )
}

/// The one value `sql` returns, as PostgreSQL's text.
fn pg_value(url: &str, sql: &str) -> String {
    let rows = pg_rows(url, sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone().unwrap_or_default()
}

/// The copies in `dst` hold every account, the known total, some of the
/// writer's transfers, and equal rows.
#[track_caller]
fn assert_one_moment(dst: &str) {
    for table in ["accounts_first", "accounts_second", "accounts_chunked"] {
        assert_eq!(
            pg_value(dst, &format!("SELECT count(*) FROM {table}")),
            ROWS.to_string(),
            "{table}"
        );
        assert_eq!(
            pg_value(dst, &format!("SELECT sum(balance) FROM {table}")),
            (ROWS * BALANCE).to_string(),
            "{table}: the total of a torn copy"
        );
        let moved = pg_value(
            dst,
            &format!("SELECT count(*) FROM {table} WHERE balance <> {BALANCE}"),
        );
        assert_ne!(moved, "0", "{table} saw none of the transfers");
    }
    for other in ["accounts_second", "accounts_chunked"] {
        assert_eq!(
            pg_value(
                dst,
                &format!(
                    "SELECT count(*) FROM accounts_first f FULL JOIN {other} o USING (id) \
                     WHERE f.balance IS DISTINCT FROM o.balance"
                )
            ),
            "0",
            "accounts_first and {other} read different moments"
        );
    }
}

/// Runs pipeline `file` with `env` while the writer runs, asserting the
/// writer committed transfers during the run.
fn run_during_transfers(dir: &std::path::Path, file: &str, env: &[(&str, &str)], w: &Transfers) {
    let before = w.committed();
    barge_with_env(dir, &["run", file, "-q"], env).assert_ok();
    let during = w.committed() - before;
    assert!(during >= 10, "only {during} transfers ran during the copy");
}

#[test]
fn a_postgres_source_changing_during_a_run_is_copied_as_of_one_moment() {
    let src = pg_db("snapshot_pg_src");
    pg_exec(
        &src,
        &format!(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
             INSERT INTO accounts SELECT g, {BALANCE} FROM generate_series(1, {ROWS}) g;"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let writer = pg_transfers(&src);
    // The binary pass-through (PostgreSQL to PostgreSQL) and the Arrow path.
    for (i, passthrough) in ["1", "0"].into_iter().enumerate() {
        let dst = pg_db(&format!("snapshot_pg_dst{i}"));
        let file = write_file(dir.path(), &format!("p{i}.toml"), &pipeline(&src, &dst, ""));
        run_during_transfers(
            dir.path(),
            &file,
            &[("BARGE_PASSTHROUGH", passthrough)],
            &writer,
        );
        assert_one_moment(&dst);
    }
    writer.stop();
    // The source itself never lost a cent.
    assert_eq!(
        pg_value(&src, "SELECT sum(balance) FROM accounts"),
        (ROWS * BALANCE).to_string()
    );
}

#[test]
fn a_mariadb_source_changing_during_a_run_is_copied_as_of_one_moment() {
    let src = mysql_db("snapshot_my_src");
    mysql_exec(
        &src,
        &format!(
            "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE = InnoDB;
             INSERT INTO accounts SELECT seq, {BALANCE} FROM seq_1_to_{ROWS};"
        ),
    );
    let dst = pg_db("snapshot_my_dst");
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "p.toml", &pipeline(&src, &dst, ""));
    let writer = mysql_transfers(&src);
    run_during_transfers(dir.path(), &file, &[], &writer);
    writer.stop();
    assert_one_moment(&dst);
}

#[test]
fn a_mariadb_copy_within_one_server_takes_its_snapshot_without_waiting_for_its_own_load() {
    // FLUSH TABLES WITH READ LOCK waits for statements in progress: taken at
    // the first read, it waited for the load into the same server, which
    // waited for the rows, until the lock's 10 s ran out.
    let src = mysql_db("snapshot_same_src");
    let dst = mysql_db("snapshot_same_dst");
    let ddl = "CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR(20)) ENGINE = InnoDB;";
    mysql_exec(
        &src,
        &format!("{ddl} INSERT INTO t SELECT seq, concat('v', seq) FROM seq_1_to_5000;"),
    );
    mysql_exec(&dst, ddl);
    let dir = tempfile::tempdir().unwrap();
    let copy = crate::common::barge(
        dir.path(),
        &[
            "copy", &src, &dst, "--tables", "t", "--mode", "replace", "-q",
        ],
    );
    copy.assert_ok();
    assert!(
        !copy.stderr.contains("not one snapshot"),
        "the snapshot was taken:\n{}",
        copy.stderr
    );
    assert_eq!(
        crate::servers::mysql_rows(&dst, "SELECT count(*), max(v) FROM t"),
        [[Some("5000".to_string()), Some("v999".to_string())]]
    );
}

#[test]
fn validate_says_which_snapshot_it_compared_with() {
    let src = pg_db("snapshot_validate_src");
    pg_exec(
        &src,
        "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);
         INSERT INTO accounts SELECT g, 10 FROM generate_series(1, 1000) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    let shared = write_file(
        dir.path(),
        "shared.toml",
        &pipeline(&src, &pg_db("snapshot_validate_dst"), ""),
    );
    barge(dir.path(), &["run", &shared, "-q"]).assert_ok();
    let validated = barge(dir.path(), &["validate", &shared]);
    validated.assert_ok();
    assert!(
        validated
            .stdout
            .contains("source src read in one snapshot (PostgreSQL exported snapshot "),
        "{}",
        validated.stdout
    );
    // The target is read as it is: it is no source of the report.
    assert!(
        !validated.stdout.contains("source dst"),
        "{}",
        validated.stdout
    );
    let off = write_file(
        dir.path(),
        "off.toml",
        &pipeline(&src, &pg_db("snapshot_validate_off"), "snapshot = false"),
    );
    barge(dir.path(), &["run", &off, "-q"]).assert_ok();
    let validated = barge(dir.path(), &["validate", &off]);
    validated.assert_ok();
    assert!(
        validated
            .stdout
            .contains("source src not one snapshot: snapshot = false"),
        "{}",
        validated.stdout
    );
    // A setting that is not a boolean is an error naming it.
    let bad = write_file(
        dir.path(),
        "bad.toml",
        &pipeline(&src, &pg_db("snapshot_validate_bad"), "snapshot = \"no\""),
    );
    barge(dir.path(), &["run", &bad]).assert_fails(2, &["bad.toml:", "snapshot"]);
}
