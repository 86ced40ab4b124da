//! Access to the real PostgreSQL and MariaDB servers the server tests use
//! (started by tests/servers.sh, which tests/run.sh runs first). Every test
//! works in a database of its own, created empty. No server means a failed
//! test, never a skipped one.

use std::sync::OnceLock;

/// PostgreSQL superuser URL without a database.
pub const PG: &str = "postgres://postgres@127.0.0.1:5432";
/// MariaDB root URL without a database.
pub const MYSQL: &str = "mysql://root@127.0.0.1:3306";

/// One runtime for the helpers' client calls (tests themselves are sync).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Database names are `barge_it_<name>`; `name` is the test's own.
/// `BARGE_IT_DB_PREFIX` (letters, digits, `_`) goes between the two, so two
/// checkouts can run the suite against the same servers at once.
fn db_name(name: &str) -> String {
    let prefix: String = std::env::var("BARGE_IT_DB_PREFIX")
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    format!("barge_it_{prefix}{name}")
}

// --- PostgreSQL -------------------------------------------------------------

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {url}: {e}\n  run tests/servers.sh (tests/run.sh does) to start it"
            )
        });
    tokio::spawn(connection);
    client
}

/// Creates the empty PostgreSQL database for test `name`; returns its URL.
pub fn pg_db(name: &str) -> String {
    let db = db_name(name);
    runtime().block_on(async {
        let admin = pg_client(&format!("{PG}/postgres")).await;
        // CREATE DATABASE copies template1 and fails while another test's
        // CREATE DATABASE is copying it: retry.
        for sql in [
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            format!("CREATE DATABASE {db}"),
        ] {
            let mut attempt = 0;
            while let Err(e) = admin.batch_execute(&sql).await {
                attempt += 1;
                if attempt == 50 {
                    panic!("{sql}: {e:?}");
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    });
    format!("{PG}/{db}")
}

/// Runs `sql` (one or more statements) in the PostgreSQL database at `url`.
#[track_caller]
pub fn pg_exec(url: &str, sql: &str) {
    runtime().block_on(async {
        let client = pg_client(url).await;
        if let Err(e) = client.batch_execute(sql).await {
            panic!("{sql}: {e:?}");
        }
    })
}

/// Rows of `sql` as PostgreSQL's text output (NULL as `None`).
#[track_caller]
pub fn pg_rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    runtime().block_on(async {
        let client = pg_client(url).await;
        let messages = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    })
}

// --- MySQL / MariaDB ----------------------------------------------------------

async fn mysql_conn(url: &str) -> mysql_async::Conn {
    let opts = mysql_async::Opts::from_url(url).expect("mysql url");
    mysql_async::Conn::new(opts).await.unwrap_or_else(|e| {
        panic!("MariaDB at {url}: {e}\n  run tests/servers.sh (tests/run.sh does) to start it")
    })
}

/// Creates the empty MariaDB database for test `name`; returns its URL.
pub fn mysql_db(name: &str) -> String {
    use mysql_async::prelude::Queryable;
    let db = db_name(name);
    runtime().block_on(async {
        let mut admin = mysql_conn(MYSQL).await;
        admin
            .query_drop(format!(
                "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db} CHARACTER SET utf8mb4"
            ))
            .await
            .unwrap_or_else(|e| panic!("create database {db}: {e}"));
        admin.disconnect().await.ok();
    });
    format!("{MYSQL}/{db}")
}

/// Runs `sql` (one or more statements) in the MariaDB database at `url`.
#[track_caller]
pub fn mysql_exec(url: &str, sql: &str) {
    use mysql_async::prelude::Queryable;
    runtime().block_on(async {
        let mut conn = mysql_conn(url).await;
        if let Err(e) = conn.query_drop(sql).await {
            panic!("{sql}: {e}");
        }
        conn.disconnect().await.ok();
    })
}

/// Rows of `sql` as text, the way the server's text protocol sends them
/// (NULL as `None`; binary values as lossy UTF-8).
#[track_caller]
pub fn mysql_rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    use mysql_async::prelude::Queryable;
    runtime().block_on(async {
        let mut conn = mysql_conn(url).await;
        let rows: Vec<mysql_async::Row> = conn
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.disconnect().await.ok();
        rows.into_iter()
            .map(|row| {
                row.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql_async::Value::NULL => None,
                        mysql_async::Value::Bytes(b) => {
                            Some(String::from_utf8_lossy(&b).into_owned())
                        }
                        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
                    })
                    .collect()
            })
            .collect()
    })
}
