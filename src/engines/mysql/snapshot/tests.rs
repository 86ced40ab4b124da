//! The snapshot sessions against the real MariaDB (tests/servers.sh): reads
//! on them see the moment of the first read; a read that finds none free,
//! or finds them all closed, reads outside the snapshot and says so.

use mysql_async::prelude::Queryable;

use super::*;
use crate::engines::mysql::tests::database;
use crate::engines::{Connection, OpenOptions};

/// Database `barge_ut_<name>` holding `t(id, v)` = (1, 10), opened as a
/// source with `snapshot`; returns its URL too.
async fn source(name: &str, snapshot: SnapshotMode) -> (String, MySqlConnection) {
    let url = database(name).await;
    set(
        &url,
        "CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 10)",
    )
    .await;
    let options = OpenOptions {
        read_only: true,
        create: false,
        snapshot,
    };
    let mysql = MySqlConnection::connect("src", &url, &options)
        .await
        .expect("connect");
    (url, mysql)
}

/// Runs `sql` on a session of its own (committed when it returns).
async fn set(url: &str, sql: &str) {
    let mut conn = Conn::new(Opts::from_url(url).expect("url"))
        .await
        .expect("connect");
    conn.query_drop(sql).await.expect("statement");
    conn.disconnect().await.ok();
}

async fn value(session: &mut ReadSession) -> i32 {
    session
        .conn()
        .query_first("SELECT v FROM t WHERE id = 1")
        .await
        .expect("select")
        .expect("a row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_sessions_see_the_moment_of_the_first_read() {
    let (url, src) = source("snapshot_shared", SnapshotMode::Shared { readers: 2 }).await;
    let mut first = src.read_session("t").await.expect("session");
    assert_eq!(value(&mut first).await, 10);
    set(&url, "UPDATE t SET v = 20").await;
    // The other snapshot session started with the first one.
    let mut second = src.read_session("t").await.expect("session");
    assert_eq!(value(&mut second).await, 10);
    first.release();
    second.release();
    // A session given back serves later reads, in the same snapshot.
    let mut third = src.read_session("t").await.expect("session");
    assert_eq!(value(&mut third).await, 10);
    third.release();
    // Outside the snapshot the write is seen.
    let latest: Option<i32> = src
        .conn()
        .await
        .expect("conn")
        .query_first("SELECT v FROM t WHERE id = 1")
        .await
        .expect("select");
    assert_eq!(latest, Some(20));
    let ReadSnapshot::One(what) = src.snapshot_description().await else {
        panic!("not one snapshot");
    };
    assert!(what.contains("FLUSH TABLES WITH READ LOCK"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_with_no_free_snapshot_session_reads_outside_it_and_says_so() {
    let (url, src) = source("snapshot_busy", SnapshotMode::Shared { readers: 1 }).await;
    let mut held = src.read_session("t").await.expect("session");
    assert_eq!(value(&mut held).await, 10);
    set(&url, "UPDATE t SET v = 20").await;
    // Waits FREE_SESSION_WAIT, then reads on a session of its own.
    let started = std::time::Instant::now();
    let mut outside = src.read_session("t").await.expect("session");
    assert!(started.elapsed() >= FREE_SESSION_WAIT);
    assert_eq!(value(&mut outside).await, 20);
    assert_eq!(value(&mut held).await, 10);
    let ReadSnapshot::NotOne(why) = src.snapshot_description().await else {
        panic!("one snapshot claimed");
    };
    assert!(
        why.contains("a read of t found none of the 1 snapshot sessions free"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_after_every_snapshot_session_closed_say_so() {
    let (url, src) = source("snapshot_lost", SnapshotMode::Shared { readers: 1 }).await;
    let first = src.read_session("t").await.expect("session");
    first.close().await;
    set(&url, "UPDATE t SET v = 20").await;
    let started = std::time::Instant::now();
    let mut outside = src.read_session("t").await.expect("session");
    // No wait: the closed session is known to be gone.
    assert!(started.elapsed() < FREE_SESSION_WAIT);
    assert_eq!(value(&mut outside).await, 20);
    let ReadSnapshot::NotOne(why) = src.snapshot_description().await else {
        panic!("one snapshot claimed");
    };
    assert!(why.contains("closed all 1 snapshot sessions"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_shared_snapshot_reads_see_the_latest_data() {
    let (url, src) = source("snapshot_off", SnapshotMode::Off).await;
    let mut first = src.read_session("t").await.expect("session");
    assert_eq!(value(&mut first).await, 10);
    set(&url, "UPDATE t SET v = 20").await;
    let mut later = src.read_session("t").await.expect("session");
    assert_eq!(value(&mut later).await, 20);
    let ReadSnapshot::NotOne(why) = src.snapshot_description().await else {
        panic!("one snapshot claimed");
    };
    assert!(why.contains("snapshot = false"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_reload_reads_in_sessions_of_their_own_moment_and_is_told() {
    let (url, _) = source("snapshot_no_reload", SnapshotMode::Off).await;
    set(
        &url,
        "CREATE USER IF NOT EXISTS 'barge_ut_no_reload'@'%'; \
         GRANT ALL ON barge_ut_snapshot_no_reload.* TO 'barge_ut_no_reload'@'%'",
    )
    .await;
    let user_url = url.replacen("root@", "barge_ut_no_reload@", 1);
    let options = OpenOptions {
        read_only: true,
        create: false,
        snapshot: SnapshotMode::Shared { readers: 2 },
    };
    let src = MySqlConnection::connect("src", &user_url, &options)
        .await
        .expect("connect");
    // The reads go on, each session in a snapshot of its own.
    let mut first = src.read_session("t").await.expect("session");
    assert_eq!(value(&mut first).await, 10);
    set(&url, "UPDATE t SET v = 20").await;
    assert_eq!(value(&mut first).await, 10);
    first.release();
    let ReadSnapshot::NotOne(why) = src.snapshot_description().await else {
        panic!("one snapshot claimed without the lock");
    };
    assert!(
        why.contains("FLUSH TABLES WITH READ LOCK was refused") && why.contains("RELOAD"),
        "{why}"
    );
}
