//! Rejects: rows the target refuses are set aside with the target's reason,
//! up to `max_rejects`, and every other row lands (PostgreSQL, MariaDB,
//! SQLite); DuckDB targets refuse `max_rejects`.

use std::path::Path;

use crate::common::{barge, batch_rows, read_parquet, sqlite_rows, write_file};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

/// Rows of the `items` step: 1..=ROWS, three batches' worth.
const ROWS: u64 = 20_000;

/// The step SQL for `items`: ids 1..=ROWS, with these refused by the target:
/// 42 (its key is already in the table), 1007 (NULL name), 12500 (negative
/// qty, a CHECK constraint) and, where `with_fk`, 19001 (a parent that does
/// not exist).
fn items_sql(with_fk: bool) -> String {
    let parent = if with_fk {
        "CASE WHEN value = 19001 THEN 999 ELSE 1 END"
    } else {
        "1"
    };
    format!(
        "SELECT value AS id, \
         CASE WHEN value = 1007 THEN NULL ELSE label END AS name, \
         CASE WHEN value = 12500 THEN -1 ELSE value END AS qty, \
         {parent} AS parent_id \
         FROM src.nums"
    )
}

/// Writes the pipeline `p.toml` into `dir`, with a SQLite source `src`
/// whose table `nums` holds `value` 1..=ROWS, `label` 'n1'.. and `uid`
/// (a UUID spelling the value).
fn pipeline(dir: &Path, dst: &str, steps: &str) -> String {
    sqlite_exec(
        &dir.join("src.sqlite"),
        &format!(
            "CREATE TABLE nums (value INTEGER, label TEXT, uid TEXT);
             INSERT INTO nums WITH RECURSIVE c(value) AS
               (SELECT 1 UNION ALL SELECT value + 1 FROM c WHERE value < {ROWS})
             SELECT value, 'n' || value, printf('00000000-0000-0000-0000-%012d', value) FROM c;"
        ),
    );
    write_file(
        dir,
        "p.toml",
        &format!(
            r#"
[connections.src]
url = "sqlite://src.sqlite"
read_only = true

[connections.dst]
url = "{dst}"

[defaults]
max_rejects = 10
retries = 0

{steps}
"#
        ),
    )
}

/// The report's steps, by name: (read, written, rejected, rejects file).
fn report_steps(dir: &Path) -> Vec<(String, u64, u64, u64, Option<String>)> {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report");
    let report: serde_json::Value = serde_json::from_str(&text).expect("json");
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["rows_read"].as_u64().unwrap_or(0),
                s["rows_written"].as_u64().unwrap_or(0),
                s["rows_rejected"].as_u64().unwrap_or(0),
                s["rejects_file"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// The refused rows of a rejects file, by their first column (an id): (the
/// row's columns as text, the reason).
fn rejected(path: &Path, columns: &[&str]) -> Vec<(Vec<Option<String>>, String)> {
    let batch = read_parquet(path);
    let schema = batch.schema();
    assert_eq!(schema.field(0).name(), "barge_error");
    assert_eq!(schema.field(1).name(), "barge_row");
    let mut indices = vec![0, 1];
    indices.extend(columns.iter().map(|c| schema.index_of(c).expect("column")));
    let mut rows: Vec<Vec<Option<String>>> = batch_rows(&batch.project(&indices).unwrap());
    // By the first column (the id): barge_row is the row's place in the
    // step's output, whose order a parallel read does not fix.
    rows.sort_by_key(|r| r[2].as_deref().unwrap_or("0").parse::<i64>().unwrap_or(0));
    rows.into_iter()
        .map(|mut r| {
            let reason = r.remove(0).unwrap_or_default();
            r.remove(0);
            (r, reason)
        })
        .collect()
}

#[track_caller]
fn assert_reasons(rows: &[(Vec<Option<String>>, String)], expected: &[(&str, &str)]) {
    assert_eq!(rows.len(), expected.len(), "{rows:#?}");
    for ((row, reason), (id, needle)) in rows.iter().zip(expected) {
        assert_eq!(row[0].as_deref(), Some(*id), "{rows:#?}");
        assert!(
            reason.contains(needle),
            "row {id}: reason {reason:?} lacks {needle:?}"
        );
    }
}

/// Runs the pipeline and checks the `items` step's report and rejects.
fn run_and_check_items(
    dir: &Path,
    pipeline: &str,
    items_expected: &[(&str, &str)],
) -> Vec<(String, u64, u64, u64, Option<String>)> {
    let run = barge(dir, &["run", pipeline, "--report", "report.json"]);
    run.assert_ok();
    let steps = report_steps(dir);
    let (_, read, written, rejected_n, file) = steps
        .iter()
        .find(|s| s.0 == "items")
        .cloned()
        .expect("items step");
    assert_eq!(read, ROWS);
    assert_eq!(rejected_n, items_expected.len() as u64);
    assert_eq!(written + rejected_n, read);
    let file = file.expect("a rejects file");
    assert!(
        file.contains("rejects/") && file.ends_with("/items.parquet"),
        "{file}"
    );
    assert!(run.stdout.contains("rows rejected"), "{}", run.stdout);
    let rows = rejected(&dir.join(&file), &["id", "name", "qty", "parent_id"]);
    assert_reasons(&rows, items_expected);
    // The refused row is kept as it was sent.
    let null_name = rows.iter().find(|r| r.0[0].as_deref() == Some("1007"));
    assert_eq!(
        null_name.map(|r| r.0.clone()),
        Some(vec![
            Some("1007".to_string()),
            None,
            Some("1007".to_string()),
            Some("1".to_string())
        ])
    );
    steps
}

/// The `items` step (see [`items_sql`]) and an `upsert` step into `table`
/// over ids 1..=9 whose `column` is `bad` for id 3 (a value the target
/// refuses), NULL for id 5, and `good` for the rest.
fn items_and_upsert_steps(
    with_fk: bool,
    table: &str,
    column: &str,
    bad: &str,
    good: &str,
) -> String {
    format!(
        r#"
[[step]]
target = "dst.items"
sql = "{items}"

[[step]]
target = "dst.{table}"
mode = "upsert"
key = ["id"]
sql = """
SELECT value AS id,
       CASE WHEN value = 3 THEN {bad} WHEN value = 5 THEN NULL
            ELSE {good} END AS {column}
FROM src.nums WHERE value <= 9
"""
"#,
        items = items_sql(with_fk)
    )
}

/// What the `items` table should hold after the load: the rows that were
/// not refused, plus the row 42 that was there before.
fn expected_items(refused: &[u64]) -> (u64, u64) {
    let ids: Vec<u64> = (1..=ROWS)
        .filter(|i| !refused.contains(i) || *i == 42)
        .collect();
    (ids.len() as u64, ids.iter().sum())
}

#[test]
fn rejects_postgres_sets_refused_rows_aside_with_reasons_and_lands_the_rest() {
    let dst = pg_db("rejects_pg");
    pg_exec(
        &dst,
        "CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent VALUES (1), (2);
         CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL,
                             qty bigint CHECK (qty >= 0), parent_id bigint REFERENCES parent (id));
         INSERT INTO items VALUES (42, 'old', 0, 1);
         CREATE TABLE tags (id bigint PRIMARY KEY, tag uuid NOT NULL);
         INSERT INTO tags VALUES (1, '00000000-0000-0000-0000-000000000000');",
    );
    let dir = tempfile::tempdir().unwrap();
    let steps = items_and_upsert_steps(true, "tags", "tag", "'not-a-uuid'", "uid");
    let pipeline = pipeline(dir.path(), &dst, &steps);
    let steps = run_and_check_items(
        dir.path(),
        &pipeline,
        &[
            ("42", "duplicate key value violates unique constraint"),
            ("1007", "null value in column \"name\""),
            ("12500", "violates check constraint"),
            ("19001", "violates foreign key constraint"),
        ],
    );
    let (count, sum) = expected_items(&[42, 1007, 12500, 19001]);
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT count(*), sum(id), max(name) FILTER (WHERE id = 42) FROM items"
        ),
        [[
            Some(count.to_string()),
            Some(sum.to_string()),
            Some("old".to_string())
        ]]
    );
    // The staged upsert path: a value that does not convert, a NULL.
    let tags = steps.iter().find(|s| s.0 == "tags").cloned().unwrap();
    assert_eq!((tags.1, tags.2, tags.3), (9, 7, 2));
    let rows = rejected(&dir.path().join(tags.4.unwrap()), &["id", "tag"]);
    assert_reasons(
        &rows,
        &[
            ("3", "invalid input syntax for type uuid"),
            ("5", "null value in column \"tag\""),
        ],
    );
    assert_eq!(rows[0].0[1].as_deref(), Some("not-a-uuid"));
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT string_agg(id::text, ',' ORDER BY id), count(DISTINCT tag) FROM tags"
        ),
        [[Some("1,2,4,6,7,8,9".to_string()), Some("7".to_string())]]
    );
}

#[test]
fn rejects_mariadb_sets_refused_rows_aside_with_reasons_and_lands_the_rest() {
    let dst = mysql_db("rejects_my");
    mysql_exec(
        &dst,
        "CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB;
         INSERT INTO parent VALUES (1), (2);
         CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL,
                             qty BIGINT CHECK (qty >= 0), parent_id INT,
                             FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB;
         INSERT INTO items VALUES (42, 'old', 0, 1);
         CREATE TABLE tags (id BIGINT PRIMARY KEY, tag VARCHAR(5) NOT NULL) ENGINE=InnoDB;
         INSERT INTO tags VALUES (1, 'x');",
    );
    let dir = tempfile::tempdir().unwrap();
    let steps = items_and_upsert_steps(true, "tags", "tag", "'much-too-long'", "label");
    let pipeline = pipeline(dir.path(), &dst, &steps);
    let steps = run_and_check_items(
        dir.path(),
        &pipeline,
        &[
            ("42", "Duplicate entry '42'"),
            ("1007", "NOT NULL column 'name'"),
            ("12500", "CONSTRAINT"),
            ("19001", "foreign key constraint fails"),
        ],
    );
    let (count, sum) = expected_items(&[42, 1007, 12500, 19001]);
    assert_eq!(
        mysql_rows(
            &dst,
            "SELECT count(*), sum(id), max(CASE WHEN id = 42 THEN name END) FROM items"
        ),
        [[
            Some(count.to_string()),
            Some(sum.to_string()),
            Some("old".to_string())
        ]]
    );
    let tags = steps.iter().find(|s| s.0 == "tags").cloned().unwrap();
    assert_eq!((tags.1, tags.2, tags.3), (9, 7, 2));
    let rows = rejected(&dir.path().join(tags.4.unwrap()), &["id", "tag"]);
    assert_reasons(
        &rows,
        &[
            ("3", "Data truncated for column 'tag'"),
            ("5", "NOT NULL column 'tag'"),
        ],
    );
    assert_eq!(rows[0].0[1].as_deref(), Some("much-too-long"));
    assert_eq!(
        mysql_rows(
            &dst,
            "SELECT group_concat(id ORDER BY id), group_concat(tag ORDER BY id) FROM tags"
        ),
        [[
            Some("1,2,4,6,7,8,9".to_string()),
            Some("n1,n2,n4,n6,n7,n8,n9".to_string())
        ]]
    );
}

fn sqlite_exec(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).expect("open sqlite");
    conn.execute_batch(sql).expect("sqlite sql");
}

#[test]
fn rejects_sqlite_sets_refused_rows_aside_with_reasons_and_lands_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dst.sqlite");
    sqlite_exec(
        &db,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                             qty INTEGER CHECK (qty >= 0), parent_id INTEGER);
         INSERT INTO items VALUES (42, 'old', 0, 1);
         CREATE TABLE scores (id INTEGER PRIMARY KEY, score REAL NOT NULL);
         INSERT INTO scores VALUES (1, 0.5);",
    );
    let steps = items_and_upsert_steps(
        false,
        "scores",
        "score",
        "CAST('NaN' AS DOUBLE)",
        "CAST(value AS DOUBLE) / 2",
    );
    let pipeline = pipeline(dir.path(), &format!("sqlite://{}", db.display()), &steps);
    let steps = run_and_check_items(
        dir.path(),
        &pipeline,
        &[
            ("42", "UNIQUE constraint failed: items.id"),
            ("1007", "NOT NULL constraint failed: items.name"),
            ("12500", "CHECK constraint failed"),
        ],
    );
    let (count, sum) = expected_items(&[42, 1007, 12500]);
    assert_eq!(
        sqlite_rows(
            &db,
            "SELECT count(*), sum(id), max(CASE WHEN id = 42 THEN name END) FROM items"
        ),
        [[
            Some(count.to_string()),
            Some(sum.to_string()),
            Some("old".to_string())
        ]]
    );
    let scores = steps.iter().find(|s| s.0 == "scores").cloned().unwrap();
    assert_eq!((scores.1, scores.2, scores.3), (9, 7, 2));
    let rows = rejected(&dir.path().join(scores.4.unwrap()), &["id", "score"]);
    assert_reasons(
        &rows,
        &[
            ("3", "column 'score': SQLite cannot store NaN"),
            ("5", "NOT NULL constraint failed: scores.score"),
        ],
    );
    assert_eq!(
        sqlite_rows(&db, "SELECT group_concat(id, ','), sum(score) FROM scores"),
        [[Some("1,2,4,6,7,8,9".to_string()), Some("18.5".to_string())]]
    );
}

#[test]
fn rejects_more_than_max_rejects_fail_the_step_and_land_nothing() {
    let dst = pg_db("rejects_pg_max");
    pg_exec(
        &dst,
        "CREATE TABLE parent (id int PRIMARY KEY); INSERT INTO parent VALUES (1);
         CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL,
                             qty bigint CHECK (qty >= 0), parent_id bigint REFERENCES parent (id));
         INSERT INTO items VALUES (42, 'old', 0, 1);",
    );
    let dir = tempfile::tempdir().unwrap();
    let steps = format!(
        "[[step]]\ntarget = \"dst.items\"\nmax_rejects = 3\nsql = \"{}\"\n",
        items_sql(true)
    );
    let pipeline = pipeline(dir.path(), &dst, &steps);
    barge(dir.path(), &["run", &pipeline, "-q"]).assert_fails(
        1,
        &[
            "step 'items'",
            "dst.items",
            "more than max_rejects = 3",
            "duplicate key value",
            "raise max_rejects",
        ],
    );
    assert_eq!(
        pg_rows(&dst, "SELECT count(*) FROM items"),
        [[Some("1".to_string())]]
    );
    assert!(
        !dir.path().join("rejects").exists()
            || std::fs::read_dir(dir.path().join("rejects"))
                .unwrap()
                .all(|run| std::fs::read_dir(run.unwrap().path())
                    .unwrap()
                    .next()
                    .is_none())
    );

    // The default (0): the first refused row fails the step, as without rejects.
    let strict = write_file(
        dir.path(),
        "strict.toml",
        &std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("max_rejects = 10", "")
            .replace("max_rejects = 3", ""),
    );
    barge(dir.path(), &["run", &strict, "-q"]).assert_fails(1, &["step 'items'"]);
    assert_eq!(
        pg_rows(&dst, "SELECT count(*) FROM items"),
        [[Some("1".to_string())]]
    );
}

#[test]
fn rejects_duckdb_targets_refuse_max_rejects_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let steps = "[[step]]\nname = \"load_t\"\ntarget = \"dst.t\"\nsql = \"SELECT value AS id FROM src.nums WHERE value <= 3\"\n";
    let pipeline = pipeline(dir.path(), "duckdb://dst.duckdb", steps);
    barge(dir.path(), &["run", &pipeline, "-q"]).assert_fails(
        1,
        &["load_t", "max_rejects = 10", "DuckDB", "no savepoints"],
    );
    // Files refuse nothing: max_rejects changes nothing there.
    let files = write_file(
        dir.path(),
        "files.toml",
        &std::fs::read_to_string(&pipeline)
            .unwrap()
            .replace("duckdb://dst.duckdb", "parquet://out"),
    );
    barge(dir.path(), &["run", &files, "-q"]).assert_ok();
    assert_eq!(
        read_parquet(&dir.path().join("out/t.parquet")).num_rows(),
        3
    );
}

#[test]
fn rejects_validate_expects_the_source_less_the_rejected_rows() {
    let dst = pg_db("rejects_validate");
    pg_exec(
        &dst,
        "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL,
                             qty bigint CHECK (qty >= 0), parent_id bigint);",
    );
    let dir = tempfile::tempdir().unwrap();
    let steps = format!(
        "[[step]]\nname = \"items\"\ntarget = \"dst.items\"\nsql = \"{}\"\n",
        items_sql(false)
    );
    let pipeline = pipeline(dir.path(), &dst, &steps);
    // --validate right after the load: the two refused rows are accounted for.
    let run = barge(
        dir.path(),
        &["run", &pipeline, "--validate", "--stage", "st"],
    );
    run.assert_ok();
    assert!(run.stdout.contains("(2 rejected)"), "{}", run.stdout);

    // The stage holds what the source gave, refused rows included; a replay
    // into a database with the same constraints sets them aside again, as
    // the run did (its max_rejects is in the manifest).
    let fresh = pg_db("rejects_validate_replay");
    pg_exec(
        &fresh,
        "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL,
                             qty bigint CHECK (qty >= 0), parent_id bigint);",
    );
    let run_dir = std::fs::read_dir(dir.path().join("st"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let replay = barge(
        dir.path(),
        &["replay", run_dir.to_str().unwrap(), "--to", &fresh],
    );
    replay.assert_ok();
    assert!(replay.stdout.contains("rows rejected"), "{}", replay.stdout);
    let content = "SELECT count(*), sum(id), sum(qty) FROM items";
    assert_eq!(pg_rows(&fresh, content), pg_rows(&dst, content));

    let validate = || barge(dir.path(), &["validate", &pipeline, "--json", "v.json"]);
    let report = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("v.json")).unwrap()).unwrap()
    };
    validate().assert_ok();
    let step = &report()["steps"][0];
    assert_eq!(step["result"], "match", "{step:#}");
    assert_eq!(step["source"]["rows"], ROWS);
    assert_eq!(step["rejected"]["rows"], 2);
    assert!(
        step["rejects_file"]
            .as_str()
            .is_some_and(|f| f.ends_with("/items.parquet")),
        "{step:#}"
    );
    assert_eq!(step["target"]["rows"], ROWS - 2);

    // One more row missing, or a changed value, is still a mismatch.
    pg_exec(&dst, "DELETE FROM items WHERE id = 7");
    validate().assert_fails(1, &["dst.items", "less 2 rejected"]);
    pg_exec(
        &dst,
        "INSERT INTO items VALUES (7, 'n7', 7, 1); UPDATE items SET qty = 0 WHERE id = 8",
    );
    validate().assert_fails(1, &["dst.items", "checksums differ"]);
    pg_exec(&dst, "UPDATE items SET qty = 8 WHERE id = 8");
    validate().assert_ok();
}
