//! The shared snapshot against the real PostgreSQL (tests/servers.sh): reads
//! after the first see the data as it was then; without a shared snapshot
//! they see the latest.

use super::*;
use crate::engines::postgres::connect::PostgresConnection;
use crate::engines::{Connection, OpenOptions};

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// Creates database `barge_ut_<name>` holding `t(id, v)` = (1, 10); returns its URL.
async fn database(name: &str) -> String {
    let db = format!("barge_ut_{name}");
    let (admin, connection) =
        tokio_postgres::connect(&format!("{SERVER}/postgres"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {SERVER}: {e}\n  run tests/servers.sh"));
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let url = format!("{SERVER}/{db}");
    let client = client(&url).await;
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 10)")
        .await
        .unwrap();
    url
}

async fn client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

async fn open(url: &str, snapshot: SnapshotMode) -> PostgresConnection {
    let options = OpenOptions {
        read_only: true,
        create: false,
        snapshot,
    };
    PostgresConnection::connect("src", url, &options)
        .await
        .unwrap()
}

async fn value(client: &Client) -> i32 {
    client
        .query_one("SELECT v FROM t WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn every_read_sees_the_snapshot_of_the_first() {
    let url = database("snapshot_shared").await;
    let src = open(&url, SnapshotMode::Shared { readers: 2 }).await;
    assert!(matches!(
        src.snapshot_description().await,
        ReadSnapshot::One(what) if what.contains("not taken yet")
    ));
    let first = src.connector().reader().await.unwrap();
    assert_eq!(value(&first).await, 10);
    // A write committed after the first read...
    client(&url)
        .await
        .batch_execute("UPDATE t SET v = 20")
        .await
        .unwrap();
    // ...is not seen by a later read, though a session of its own sees it.
    let later = src.connector().reader().await.unwrap();
    assert_eq!(value(&later).await, 10);
    assert_eq!(value(&src.connector().connect().await.unwrap()).await, 20);
    let ReadSnapshot::One(what) = src.snapshot_description().await else {
        panic!("not one snapshot");
    };
    assert!(
        what.starts_with("PostgreSQL exported snapshot ") && what.len() > 30,
        "{what}"
    );
    // A reader's transaction is read-only.
    let err = later
        .batch_execute("UPDATE t SET v = 30")
        .await
        .unwrap_err();
    assert!(describe(&err).contains("read-only"), "{}", describe(&err));
}

#[tokio::test]
async fn without_a_shared_snapshot_every_read_sees_the_latest_data() {
    let url = database("snapshot_off").await;
    for mode in [SnapshotMode::Off, SnapshotMode::Written] {
        client(&url)
            .await
            .batch_execute("UPDATE t SET v = 10")
            .await
            .unwrap();
        let src = open(&url, mode).await;
        let first = src.connector().reader().await.unwrap();
        assert_eq!(value(&first).await, 10);
        client(&url)
            .await
            .batch_execute("UPDATE t SET v = 20")
            .await
            .unwrap();
        let later = src.connector().reader().await.unwrap();
        assert_eq!(value(&later).await, 20, "{mode:?}");
        let ReadSnapshot::NotOne(why) = src.snapshot_description().await else {
            panic!("{mode:?} says one snapshot");
        };
        let expected = if mode == SnapshotMode::Off {
            "snapshot = false"
        } else {
            "write to this connection"
        };
        assert!(why.contains(expected), "{why}");
    }
}

#[test]
fn the_import_quotes_the_id() {
    assert_eq!(
        import_sql("00000003-0000001B-1"),
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '00000003-0000001B-1'"
    );
    assert!(import_sql("a'b").ends_with("'a''b'"));
}
