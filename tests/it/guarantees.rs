//! The guarantee of an unchunked load, on every engine and in every mode: a
//! load that fails, is killed, or loses its connection around its COMMIT
//! leaves the target as it was before or complete, never in between; and
//! the same command run again finishes the job exactly (no row twice, none
//! missing). Plus the locks that keep two runs of one pipeline apart.

use std::path::{Path, PathBuf};

use crate::common::{barge, barge_with_env, duckdb_rows, sqlite_rows, write_file};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

/// Rows in the source; the failing row of a bad source sits past the first
/// batch, so rows are already in the target's transaction when it fails.
const ROWS: i64 = 20_000;
const BAD_ID: i64 = 15_000;

type Rows = Vec<Vec<Option<String>>>;

/// A target database the matrix runs against.
enum Target {
    Postgres(String),
    MariaDb(String),
    Sqlite(PathBuf),
    DuckDb(PathBuf),
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::Postgres(url) | Target::MariaDb(url) => url.clone(),
            Target::Sqlite(path) => format!("sqlite://{}", path.display()),
            Target::DuckDb(path) => format!("duckdb://{}", path.display()),
        }
    }

    fn exec(&self, sql: &str) {
        match self {
            Target::Postgres(url) => pg_exec(url, sql),
            Target::MariaDb(url) => mysql_exec(url, sql),
            Target::Sqlite(path) => rusqlite::Connection::open(path)
                .and_then(|c| c.execute_batch(sql))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Target::DuckDb(path) => duckdb::Connection::open(path)
                .and_then(|c| c.execute_batch(sql))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Rows of `sql`, whose columns are all text (cast where needed).
    fn rows(&self, sql: &str) -> Rows {
        match self {
            Target::Postgres(url) => pg_rows(url, sql),
            Target::MariaDb(url) => mysql_rows(url, sql),
            Target::Sqlite(path) => sqlite_rows(path, sql),
            Target::DuckDb(path) => duckdb_rows(path, sql),
        }
    }

    /// The table `t` as (id, v, n) rows by id, or `None` when it does not
    /// exist.
    fn content(&self) -> Option<Rows> {
        let exists = match self {
            Target::Postgres(_) => {
                "SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public' AND tablename = 't'"
            }
            Target::MariaDb(_) => {
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = database() AND table_name = 't'"
            }
            Target::Sqlite(_) => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 't'",
            Target::DuckDb(_) => {
                "SELECT count(*)::VARCHAR FROM duckdb_tables() WHERE table_name = 't'"
            }
        };
        if self.rows(exists)[0][0].as_deref() == Some("0") {
            return None;
        }
        let cast = |c: &str| match self {
            Target::Postgres(_) => format!("{c}::text"),
            Target::DuckDb(_) => format!("{c}::VARCHAR"),
            _ => c.to_string(),
        };
        Some(self.rows(&format!(
            "SELECT {}, v, {} FROM t ORDER BY t.id",
            cast("id"),
            cast("n")
        )))
    }

    /// Drops what an earlier case left, then creates `t` holding `rows`
    /// with a CHECK that refuses `BAD_ID` when `refuse_bad_id`.
    fn reset(&self, rows: &Rows, refuse_bad_id: bool) {
        self.exec("DROP TABLE IF EXISTS t");
        let check = match (refuse_bad_id, self) {
            (false, _) => String::new(),
            // Unnamed where the table is rebuilt to drop it.
            (true, Target::Sqlite(_) | Target::DuckDb(_)) => format!(", CHECK (id <> {BAD_ID})"),
            (true, _) => format!(", CONSTRAINT no_bad_id CHECK (id <> {BAD_ID})"),
        };
        let text = match self {
            Target::MariaDb(_) => "varchar(40)",
            _ => "text",
        };
        self.exec(&format!(
            "CREATE TABLE t (id bigint PRIMARY KEY, v {text}, n bigint{check})"
        ));
        for row in rows {
            let value = |v: &Option<String>| v.as_ref().map_or("NULL".into(), |v| format!("'{v}'"));
            self.exec(&format!(
                "INSERT INTO t VALUES ({}, {}, {})",
                value(&row[0]),
                value(&row[1]),
                value(&row[2])
            ));
        }
    }

    /// Removes the CHECK that refused `BAD_ID`.
    fn allow_bad_id(&self) {
        match self {
            // SQLite and DuckDB cannot drop a CHECK: the table is rebuilt.
            Target::Sqlite(_) | Target::DuckDb(_) => self.exec(
                "CREATE TABLE t_new (id bigint PRIMARY KEY, v text, n bigint);
                 INSERT INTO t_new SELECT * FROM t; DROP TABLE t; ALTER TABLE t_new RENAME TO t;",
            ),
            Target::MariaDb(_) | Target::Postgres(_) => {
                self.exec("ALTER TABLE t DROP CONSTRAINT no_bad_id")
            }
        }
    }
}

/// Where `got` and `want` part: row counts and the first differing row.
fn diff(got: &Option<Rows>, want: &Option<Rows>) -> String {
    match (got, want) {
        (None, None) => "equal".into(),
        (None, Some(_)) => "the table is missing".into(),
        (Some(_), None) => "the table exists".into(),
        (Some(got), Some(want)) => {
            let first = got.iter().zip(want).find(|(g, w)| g != w);
            format!(
                "{} rows, want {}; first difference: {first:?}",
                got.len(),
                want.len()
            )
        }
    }
}

fn row(id: i64, v: Option<&str>, n: i64) -> Vec<Option<String>> {
    vec![
        Some(id.to_string()),
        v.map(str::to_string),
        Some(n.to_string()),
    ]
}

/// The source's rows: every 97th `v` is NULL, `n` = id.
fn source_rows() -> Rows {
    (1..=ROWS)
        .map(|id| row(id, (id % 97 != 0).then(|| format!("v{id}")).as_deref(), id))
        .collect()
}

/// A SQLite source `t(id, v, n)`; `n` is text, and with `bad` the row
/// `BAD_ID` holds one that does not cast to a number.
fn write_source(path: &Path, bad: bool) {
    let _ = std::fs::remove_file(path);
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n TEXT);
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {ROWS})
         INSERT INTO t SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE 'v' || i END, CAST(i AS TEXT) FROM g;"
    ))
    .unwrap();
    if bad {
        conn.execute_batch(&format!("UPDATE t SET n = 'x{BAD_ID}' WHERE id = {BAD_ID}"))
            .unwrap();
    }
}

/// How a case's first run goes wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// A source value fails to cast part-way through the load.
    BadSource,
    /// The target's CHECK refuses a row part-way through the load.
    TargetRefuses,
    /// The process is killed with every row in the load's transaction.
    KilledBeforeCommit,
    /// The process is killed right after the COMMIT returned.
    KilledAfterCommit,
    /// The connection drops before the COMMIT reaches the server.
    ConnectionLost,
    /// The connection drops before the COMMIT's answer comes back.
    CommitLost,
}

impl Fault {
    const ALL: [Fault; 6] = [
        Fault::BadSource,
        Fault::TargetRefuses,
        Fault::KilledBeforeCommit,
        Fault::KilledAfterCommit,
        Fault::ConnectionLost,
        Fault::CommitLost,
    ];

    fn failpoint(self) -> Option<&'static str> {
        match self {
            Fault::KilledBeforeCommit => Some("before_commit:1"),
            Fault::KilledAfterCommit => Some("after_commit:1"),
            Fault::ConnectionLost => Some("connection_lost:1"),
            Fault::CommitLost => Some("commit_lost:1"),
            Fault::BadSource | Fault::TargetRefuses => None,
        }
    }

    /// Whether the first run's load landed (the fault came after COMMIT).
    fn landed(self) -> bool {
        matches!(self, Fault::KilledAfterCommit | Fault::CommitLost)
    }
}

const MODES: [&str; 6] = [
    "append",
    "truncate",
    "replace",
    "insert_ignore",
    "upsert",
    "error_if_exists",
];

/// The target's rows before the run: keys 1 and 2 overlap the source where
/// the mode merges by key; 100001 and 100002 never do.
fn rows_before(mode: &str) -> Option<Rows> {
    let mut rows = vec![row(100_001, Some("old"), 0), row(100_002, None, 0)];
    match mode {
        "error_if_exists" => return None,
        "insert_ignore" | "upsert" => {
            rows.insert(0, row(2, Some("old"), 0));
            rows.insert(0, row(1, Some("old"), 0));
        }
        _ => {}
    }
    Some(rows)
}

/// The target's rows after a complete run of `mode` from `before`.
fn rows_after(mode: &str, before: &Option<Rows>) -> Rows {
    let source = source_rows();
    let before = before.clone().unwrap_or_default();
    let mut rows: Rows = match mode {
        "truncate" | "replace" | "error_if_exists" => source,
        "append" | "upsert" => {
            let keys: Vec<_> = source.iter().map(|r| r[0].clone()).collect();
            before
                .into_iter()
                .filter(|r| !keys.contains(&r[0]))
                .chain(source)
                .collect()
        }
        "insert_ignore" => {
            let keys: Vec<_> = before.iter().map(|r| r[0].clone()).collect();
            source
                .into_iter()
                .filter(|r| !keys.contains(&r[0]))
                .chain(before)
                .collect()
        }
        other => panic!("mode {other}"),
    };
    rows.sort_by_key(|r| r[0].as_deref().and_then(|id| id.parse::<i64>().ok()));
    rows
}

fn pipeline(dir: &Path, target: &Target, mode: &str) -> String {
    write_file(
        dir,
        "load.toml",
        &format!(
            r#"
[connections.src]
url = "sqlite://{}"
read_only = true

[connections.dst]
url = "{}"

[[step]]
name = "load_t"
target = "dst.t"
mode = "{mode}"
key = "id"
retries = 0
sql = "SELECT id, v, CAST(n AS BIGINT) AS n FROM src.t"
"#,
            dir.join("src.sqlite").display(),
            target.url()
        ),
    )
}

/// Every mode × every fault against `target`: the first run fails and the
/// target is as before (or complete, when the load landed); the rerun
/// succeeds and the target is complete.
fn fault_matrix(target: &Target) {
    for mode in MODES {
        for fault in Fault::ALL {
            let before = rows_before(mode);
            if fault == Fault::TargetRefuses && before.is_none() {
                // No table to hold a CHECK before an error_if_exists load.
                continue;
            }
            let case = format!("{mode} / {fault:?}");
            match &before {
                Some(rows) => target.reset(rows, fault == Fault::TargetRefuses),
                None => target.exec("DROP TABLE IF EXISTS t"),
            }
            let dir = tempfile::tempdir().unwrap();
            write_source(&dir.path().join("src.sqlite"), fault == Fault::BadSource);
            let pipeline = pipeline(dir.path(), target, mode);
            let env: Vec<_> = fault
                .failpoint()
                .map(|point| ("BARGE_FAILPOINT", point))
                .into_iter()
                .collect();
            let first = barge_with_env(dir.path(), &["run", "-q", &pipeline], &env);
            assert_ne!(first.code, 0, "{case}: the first run must fail");
            let expected_after = rows_after(mode, &before);
            // A load killed after its COMMIT landed; where the shadow of a
            // replace or a new table is renamed in after the COMMIT
            // (MariaDB, whose DDL commits on its own), the target may still
            // be as before. Never in between.
            let got = target.content();
            let swap_after_commit = matches!(target, Target::MariaDb(_))
                && matches!(mode, "replace" | "error_if_exists");
            let wanted = if fault.landed() && !(swap_after_commit && got == before) {
                Some(expected_after.clone())
            } else {
                before.clone()
            };
            assert!(
                got == wanted,
                "{case}: after the failed run the target is neither as before nor complete ({})\nstderr: {}",
                diff(&got, &wanted),
                first.stderr
            );
            match fault {
                Fault::BadSource => {
                    assert!(
                        first.stderr.contains(&format!("x{BAD_ID}")),
                        "{case}: {}",
                        first.stderr
                    );
                    write_source(&dir.path().join("src.sqlite"), false);
                }
                Fault::TargetRefuses => target.allow_bad_id(),
                _ => assert!(
                    first.stderr.contains("BARGE_FAILPOINT"),
                    "{case}: {}",
                    first.stderr
                ),
            }
            let rerun = barge(dir.path(), &["run", "-q", &pipeline]);
            assert_eq!(rerun.code, 0, "{case}: the rerun fails: {}", rerun.stderr);
            let got = target.content();
            let want = Some(expected_after);
            assert!(
                got == want,
                "{case}: the rerun does not leave exactly the complete table ({})\nrerun: {}{}",
                diff(&got, &want),
                rerun.stdout,
                rerun.stderr
            );
        }
    }
}

#[test]
fn guarantees_every_mode_and_fault_into_postgres() {
    fault_matrix(&Target::Postgres(pg_db("guarantees_pg")));
}

#[test]
fn guarantees_every_mode_and_fault_into_mariadb() {
    fault_matrix(&Target::MariaDb(mysql_db("guarantees_my")));
}

#[test]
fn guarantees_every_mode_and_fault_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    fault_matrix(&Target::Sqlite(dir.path().join("dst.sqlite")));
}

#[test]
fn guarantees_every_mode_and_fault_into_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    fault_matrix(&Target::DuckDb(dir.path().join("dst.duckdb")));
}

/// With retries on, a connection lost around the COMMIT is retried within
/// the run: the load lands once.
#[test]
fn guarantees_a_lost_commit_is_retried_without_loading_twice() {
    let target = Target::Postgres(pg_db("guarantees_retry"));
    for point in ["connection_lost:1", "commit_lost:1"] {
        let before = rows_before("append");
        target.reset(before.as_ref().unwrap(), false);
        let dir = tempfile::tempdir().unwrap();
        write_source(&dir.path().join("src.sqlite"), false);
        let text = std::fs::read_to_string(pipeline(dir.path(), &target, "append")).unwrap();
        let path = write_file(
            dir.path(),
            "load.toml",
            &text.replace("retries = 0", "retries = 2\nretry_max_seconds = 0.1"),
        );
        let run = barge_with_env(dir.path(), &["run", &path], &[("BARGE_FAILPOINT", point)]);
        assert_eq!(run.code, 0, "{point}: {}", run.stderr);
        let (got, want) = (target.content(), Some(rows_after("append", &before)));
        assert!(
            got == want,
            "{point}: the retried append is not exactly once ({})\n{}{}",
            diff(&got, &want),
            run.stdout,
            run.stderr
        );
    }
}

/// The one state file of the pipeline run in `dir`.
fn state_path(dir: &Path) -> PathBuf {
    let states: Vec<_> = std::fs::read_dir(dir.join(".barge/state"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    states[0].clone()
}

/// A second run of a pipeline while the first holds its state, or holds the
/// target, is refused and changes nothing; once the first is gone it runs.
#[test]
fn guarantees_two_runs_of_one_pipeline_do_not_overlap() {
    let target = Target::Postgres(pg_db("guarantees_lock"));
    target.reset(&rows_before("append").unwrap(), false);
    let dir = tempfile::tempdir().unwrap();
    write_source(&dir.path().join("src.sqlite"), false);
    let pipeline = pipeline(dir.path(), &target, "append");
    // A first run that fails leaves its state (and lock file) behind.
    barge_with_env(
        dir.path(),
        &["run", "-q", &pipeline],
        &[("BARGE_FAILPOINT", "before_commit:1")],
    );
    let state = state_path(dir.path());
    let before = target.content();

    // Another process holds the state: the run is refused.
    let lock = std::fs::File::open(state.with_extension("lock")).unwrap();
    lock.try_lock().unwrap();
    barge(dir.path(), &["run", "-q", &pipeline]).assert_fails(2, &["another run of load"]);
    assert!(
        target.content() == before,
        "a refused run changed the target"
    );
    drop(lock);

    // A run of the same pipeline elsewhere holds the target: refused too.
    let key = state.file_stem().unwrap().to_string_lossy().into_owned();
    let digest = blake3::hash(format!("barge:{key}").as_bytes());
    let id = i64::from_le_bytes(digest.as_bytes()[..8].try_into().unwrap());
    let Target::Postgres(url) = &target else {
        unreachable!()
    };
    let refused = std::thread::scope(|scope| {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let url = url.clone();
        let holder = scope.spawn(move || {
            let mut client = postgres_client(&url);
            client
                .execute("SELECT pg_advisory_lock($1)", &[&id])
                .unwrap();
            held_tx.send(()).unwrap();
            done_rx.recv().ok();
        });
        held_rx.recv().unwrap();
        let refused = barge(dir.path(), &["run", "-q", &pipeline]);
        done_tx.send(()).unwrap();
        holder.join().unwrap();
        refused
    });
    refused.assert_fails(2, &["another run of load", "connection 'dst'"]);
    assert!(
        target.content() == before,
        "a refused run changed the target"
    );

    barge(dir.path(), &["run", "-q", &pipeline]).assert_ok();
    assert!(target.content() == Some(rows_after("append", &rows_before("append"))));
}

/// A blocking PostgreSQL client on its own runtime (the session holds the
/// advisory lock until it is dropped).
fn postgres_client(url: &str) -> SyncClient {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (client, connection) = runtime
        .block_on(tokio_postgres::connect(url, tokio_postgres::NoTls))
        .unwrap();
    let driver = runtime.spawn(connection);
    SyncClient {
        runtime,
        client,
        _driver: driver,
    }
}

struct SyncClient {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    _driver: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl SyncClient {
    fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.runtime.block_on(self.client.execute(sql, params))
    }
}

/// A SQLite source `parent(id, name)` with ids `1..=n` and no id `skip`.
fn parent_source(dir: &Path, n: i64, skip: i64) -> String {
    let path = dir.join("parents.sqlite");
    let _ = std::fs::remove_file(&path);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n})
             INSERT INTO parent SELECT i, 'p' || i FROM g WHERE i <> {skip};"
        ))
        .unwrap();
    format!("sqlite://{}", path.display())
}

fn replace_parent_pipeline(dir: &Path, src: &str, dst: &str) -> String {
    crate::common::src_dst_pipeline(
        dir,
        "replace_parent.toml",
        src,
        dst,
        r#"
[[step]]
target = "dst.parent"
mode = "replace"
key = "id"
retries = 0
sql = "SELECT id, name FROM src.parent"
"#,
    )
}

/// `replace` swaps in new rows and keeps the table: declared types,
/// defaults, indexes, triggers, grants and the foreign keys of other tables
/// pointing at it; rows that would break such a foreign key fail the load
/// and leave the old table.
#[test]
fn guarantees_replace_keeps_the_table_postgres() {
    let dst = pg_db("guarantees_keep_pg");
    pg_exec(
        &dst,
        "DO $$ BEGIN CREATE ROLE barge_keep_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         CREATE TABLE parent (id bigint PRIMARY KEY, name varchar(20) NOT NULL, note text DEFAULT 'kept default');
         CREATE INDEX parent_name_idx ON parent (name);
         CREATE TABLE child (id int PRIMARY KEY, parent_id bigint REFERENCES parent (id));
         CREATE TABLE audit (n bigint);
         CREATE FUNCTION note_insert() RETURNS trigger LANGUAGE plpgsql AS
           $f$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $f$;
         CREATE TRIGGER parent_audit AFTER INSERT ON parent FOR EACH ROW EXECUTE FUNCTION note_insert();
         GRANT SELECT ON parent TO barge_keep_reader;
         INSERT INTO parent VALUES (1, 'old', 'old note'), (2, 'old', 'old note');
         INSERT INTO child VALUES (10, 1);
         DELETE FROM audit;",
    );
    let dir = tempfile::tempdir().unwrap();
    let pipeline = replace_parent_pipeline(dir.path(), &parent_source(dir.path(), 100, 0), &dst);
    barge(dir.path(), &["run", "-q", &pipeline]).assert_ok();
    let definition = |sql: &str| pg_rows(&dst, sql);
    assert_eq!(
        definition("SELECT count(*)::text, min(name), count(*) FILTER (WHERE note = 'kept default')::text FROM parent"),
        [[Some("100".into()), Some("p1".into()), Some("100".into())]]
    );
    assert_eq!(
        definition("SELECT data_type || '(' || character_maximum_length || ')' FROM information_schema.columns WHERE table_name = 'parent' AND column_name = 'name'"),
        [[Some("character varying(20)".into())]]
    );
    assert_eq!(
        definition(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'parent' ORDER BY indexname"
        ),
        [
            [Some("parent_name_idx".into())],
            [Some("parent_pkey".into())]
        ]
    );
    assert_eq!(
        definition("SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND confrelid = 'parent'::regclass"),
        [[Some("child_parent_id_fkey".into()), Some("child".into())]]
    );
    assert_eq!(
        definition(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'parent'::regclass AND NOT tgisinternal"
        ),
        [[Some("parent_audit".into())]]
    );
    assert_eq!(
        definition("SELECT has_table_privilege('barge_keep_reader', 'parent', 'SELECT')::text"),
        [[Some("true".into())]]
    );
    // Kept, not fired: the new rows arrive as a restore's do (the trigger
    // is put back on the loaded table).
    assert_eq!(
        definition("SELECT count(*)::text FROM audit"),
        [[Some("0".into())]]
    );

    // Rows without the parent a child points at: refused, the table kept.
    let pipeline = replace_parent_pipeline(dir.path(), &parent_source(dir.path(), 50, 1), &dst);
    barge(dir.path(), &["run", "-q", &pipeline]).assert_fails(1, &["child_parent_id_fkey"]);
    assert_eq!(
        definition("SELECT count(*)::text, min(id)::text FROM parent"),
        [[Some("100".into()), Some("1".into())]]
    );
}

/// On MariaDB `replace` keeps declared types, defaults and indexes; a
/// table other tables' foreign keys point at is refused before any row
/// moves (MariaDB would move those references with the renamed table).
#[test]
fn guarantees_replace_keeps_the_table_mariadb() {
    let dst = mysql_db("guarantees_keep_my");
    mysql_exec(
        &dst,
        "CREATE TABLE parent (id bigint PRIMARY KEY, name varchar(20) NOT NULL, note varchar(20) DEFAULT 'kept default', KEY parent_name_idx (name));
         INSERT INTO parent VALUES (1, 'old', 'old note');",
    );
    let dir = tempfile::tempdir().unwrap();
    let pipeline = replace_parent_pipeline(dir.path(), &parent_source(dir.path(), 100, 0), &dst);
    barge(dir.path(), &["run", "-q", &pipeline]).assert_ok();
    assert_eq!(
        mysql_rows(
            &dst,
            "SELECT count(*), min(name), sum(note = 'kept default') FROM parent"
        ),
        [[Some("100".into()), Some("p1".into()), Some("100".into())]]
    );
    assert_eq!(
        mysql_rows(&dst, "SELECT column_type FROM information_schema.columns WHERE table_schema = database() AND table_name = 'parent' AND column_name = 'name'"),
        [[Some("varchar(20)".into())]]
    );
    assert_eq!(
        mysql_rows(&dst, "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = database() AND table_name = 'parent' ORDER BY BINARY index_name"),
        [[Some("PRIMARY".into())], [Some("parent_name_idx".into())]]
    );

    mysql_exec(
        &dst,
        "CREATE TABLE child (id int PRIMARY KEY, parent_id bigint, FOREIGN KEY (parent_id) REFERENCES parent (id));
         INSERT INTO child VALUES (10, 1);",
    );
    barge(dir.path(), &["run", "-q", &pipeline])
        .assert_fails(1, &["referenced by foreign keys of", "mode = \"truncate\""]);
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM parent"),
        [[Some("100".into())]]
    );
}

/// The definition and content of database `url` as text: constraints,
/// indexes, identity counters and every table's rows.
fn pg_definition(url: &str) -> Rows {
    let mut rows = pg_rows(
        url,
        "SELECT conrelid::regclass::text || ' ' || contype::text || ' ' || pg_get_constraintdef(oid)
           FROM pg_constraint
          WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'barge_commits'
         UNION ALL
         SELECT tablename || ' ' || regexp_replace(indexdef, '^.* USING ', '')
           FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'barge_commits'
         UNION ALL
         SELECT 'next id ' || nextval(pg_get_serial_sequence('parent', 'id'))
         ORDER BY 1",
    );
    for table in ["parent", "child"] {
        rows.extend(pg_rows(
            url,
            &format!("SELECT '{table}', count(*)::text, md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t"),
        ));
    }
    rows
}

/// A `barge copy` killed part-way and run again ends with the same tables,
/// rows, constraints, indexes and counters as a copy that never failed.
#[test]
fn guarantees_a_killed_copy_rerun_equals_a_clean_copy() {
    let src = pg_db("guarantees_copy_src");
    pg_exec(
        &src,
        "CREATE TABLE parent (id serial PRIMARY KEY, code text UNIQUE NOT NULL, name text);
         CREATE INDEX parent_name ON parent (name);
         CREATE TABLE child (id bigint PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id), qty int CHECK (qty > 0));
         CREATE INDEX child_parent ON child (parent_id);
         INSERT INTO parent (code, name) SELECT 'c' || g, 'n' || (g % 7) FROM generate_series(1, 3000) g;
         INSERT INTO child SELECT g, 1 + g % 3000, 1 + g % 5 FROM generate_series(1, 9000) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    let clean = pg_db("guarantees_copy_clean");
    barge(dir.path(), &["copy", &src, &clean, "-q"]).assert_ok();
    let expected = pg_definition(&clean);
    assert!(
        expected
            .iter()
            .any(|r| r[0].as_deref()
                == Some("child f FOREIGN KEY (parent_id) REFERENCES parent(id)")),
        "{expected:?}"
    );

    for point in ["before_commit:2", "after_commit:2", "after_commit:1"] {
        let dst = pg_db("guarantees_copy_dst");
        let killed = barge_with_env(
            dir.path(),
            &["copy", &src, &dst, "-q"],
            &[("BARGE_FAILPOINT", point)],
        );
        assert_ne!(killed.code, 0, "{point}: {}", killed.stderr);
        assert!(
            killed.stderr.contains("BARGE_FAILPOINT"),
            "{point}: {}",
            killed.stderr
        );
        barge(dir.path(), &["copy", &src, &dst, "-q"]).assert_ok();
        assert_eq!(pg_definition(&dst), expected, "{point}");
    }
}
