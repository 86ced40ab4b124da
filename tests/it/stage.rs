//! Staging, replay and validation against the real PostgreSQL server: a
//! staged run's manifest and files, `barge validate` passing on a good run
//! and failing, naming the table, on each kind of corruption, and replays
//! into a fresh PostgreSQL and into DuckDB equal to the original target.

use std::path::Path;

use crate::common::{barge, read_parquet, write_file, Outcome};
use crate::servers::{pg_db, pg_exec, pg_rows};

const SOURCE: &str = r#"
CREATE TABLE t (
    id integer PRIMARY KEY,
    name text NOT NULL,
    amount numeric(12,2),
    ts timestamptz,
    note text
);
INSERT INTO t VALUES
 (1, 'Ada Lovelace', 1.50, '2024-03-10 01:59:59.5+00', 'first'),
 (2, 'Grace Hopper', -20.00, '1999-12-31 23:00:00+00', NULL),
 (3, 'Edsger Dijkstra', NULL, NULL, ''),
 (4, 'tab	and
newline ünïcode 😀', 0.01, '2038-01-19 03:14:07+00', 'last');
"#;

/// The target table exists with wider types than the source (numeric(20,4)),
/// so 1.50 arrives as 1.5000 and must still validate.
const TARGET: &str = r#"
CREATE TABLE t (
    id integer PRIMARY KEY,
    name text NOT NULL,
    amount numeric(20,4),
    ts timestamptz,
    note text
);
"#;

/// id, name, amount, ts in epoch milliseconds, note.
type DuckRow = (i32, String, Option<f64>, Option<i64>, Option<String>);

fn pipeline(dir: &Path, src: &str, dst: &str) -> String {
    write_file(
        dir,
        "p.toml",
        &format!(
            r#"
name = "audit"

[connections.src]
url = "{src}"
read_only = true

[connections.dst]
url = "{dst}"

[params]
db_password = "hunter2"

[defaults]
stage = "staging"

[[step]]
name = "people"
target = "dst.t"
key = ["id"]
mode = "truncate"
sql = "SELECT id, name, amount, ts, note FROM src.t"
"#
        ),
    )
}

fn validate(dir: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec!["validate", "p.toml"];
    args.extend_from_slice(extra);
    barge(dir, &args)
}

/// The run directory of the only staged run.
fn run_dir(dir: &Path) -> std::path::PathBuf {
    let runs: Vec<_> = std::fs::read_dir(dir.join("staging"))
        .expect("staging dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 1, "one staged run: {runs:?}");
    runs[0].clone()
}

#[test]
fn stage_validate_passes_then_catches_every_corruption() {
    let src = pg_db("stage_v_src");
    let dst = pg_db("stage_v_dst");
    pg_exec(&src, SOURCE);
    pg_exec(&dst, TARGET);
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &src, &dst);

    let run = barge(dir.path(), &["run", "p.toml", "--validate"]);
    run.assert_ok();
    assert!(run.stdout.contains("match"), "{}", run.stdout);

    // The manifest: the step's SQL sent to the source, schema, rows,
    // checksum, files; params without their secrets.
    let run_dir = run_dir(dir.path());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["pipeline"], "audit");
    assert_eq!(manifest["params"]["db_password"], "***");
    assert!(manifest["finished_at"].is_string());
    let step = &manifest["steps"][0];
    assert_eq!(step["name"], "people");
    assert_eq!(step["rows"], 4);
    assert_eq!(step["status"], "staged");
    assert_eq!(step["checksum"].as_str().unwrap().len(), 16);
    assert!(step["source_queries"][0]["sql"]
        .as_str()
        .unwrap()
        .contains("\"t\""));
    let columns: Vec<&str> = step["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["id", "name", "amount", "ts", "note"]);
    let staged = read_parquet(&run_dir.join(step["files"][0].as_str().unwrap()));
    assert_eq!(staged.num_rows(), 4);
    assert!(!std::fs::read_to_string(run_dir.join("manifest.json"))
        .unwrap()
        .contains("hunter2"));

    let good = validate(dir.path(), &[]);
    good.assert_ok();
    assert!(good.stdout.contains("match"), "{}", good.stdout);
    assert!(!good.stdout.contains("mismatch"), "{}", good.stdout);

    pg_exec(&dst, "CREATE TABLE t_good AS SELECT * FROM t");
    let restore = "TRUNCATE t; INSERT INTO t SELECT * FROM t_good";
    let cases: [(&str, &str, &str); 6] = [
        (
            "a missing row",
            "DELETE FROM t WHERE id = 3",
            "missing in target id=3",
        ),
        (
            "an extra row",
            "INSERT INTO t VALUES (5, 'Nobody', 1, NULL, NULL)",
            "extra in target id=5",
        ),
        (
            "a changed value",
            "UPDATE t SET amount = amount + 0.01 WHERE id = 2",
            "differs id=2",
        ),
        (
            "a truncated string",
            "UPDATE t SET name = left(name, 10) WHERE id = 3",
            "target: id=3, name=\"Edsger Dij\"",
        ),
        (
            "a time-zone shift",
            "UPDATE t SET ts = ts + interval '1 hour' WHERE id = 1",
            "differs id=1",
        ),
        (
            "a NULL turned into an empty string",
            "UPDATE t SET note = '' WHERE note IS NULL",
            "note=\"\"",
        ),
    ];
    for (what, corrupt, sample) in cases {
        pg_exec(&dst, corrupt);
        let bad = validate(dir.path(), &["--sample", "5"]);
        bad.assert_fails(1, &["validation failed", "dst.t", "people"]);
        assert!(bad.stdout.contains("mismatch"), "{what}: {}", bad.stdout);
        assert!(
            bad.stdout.contains(sample),
            "{what}: sample lacks {sample:?}:\n{}",
            bad.stdout
        );
        pg_exec(&dst, restore);
        validate(dir.path(), &[]).assert_ok();
    }

    // The JSON report says the same.
    pg_exec(&dst, "DELETE FROM t WHERE id = 4");
    validate(dir.path(), &["--json", "v.json"]).assert_fails(1, &["dst.t"]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("v.json")).unwrap()).unwrap();
    assert_eq!(report["steps"][0]["result"], "mismatch");
    assert_eq!(report["steps"][0]["source"]["rows"], 4);
    assert_eq!(report["steps"][0]["stage"]["rows"], 4);
    assert_eq!(report["steps"][0]["target"]["rows"], 3);
    // Both checksums ran inside PostgreSQL (every column is a type it
    // writes canonically), and the mismatch was still found.
    assert_eq!(report["steps"][0]["source"]["computed_in"], "src");
    assert_eq!(report["steps"][0]["target"]["computed_in"], "dst");

    // A staged file changed after the run is caught: validate reads the
    // files again, not only the manifest's figures.
    pg_exec(&dst, restore);
    validate(dir.path(), &[]).assert_ok();
    let file = run_dir.join(step["files"][0].as_str().unwrap());
    let shortened = staged.slice(0, 3);
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        shortened.schema(),
        None,
    )
    .unwrap();
    writer.write(&shortened).unwrap();
    writer.close().unwrap();
    let tampered = validate(dir.path(), &[]);
    tampered.assert_fails(1, &["validation failed", "dst.t"]);
    assert!(
        tampered.stdout.contains("staged files hold 3 rows")
            && tampered.stdout.contains("changed after the run"),
        "{}",
        tampered.stdout
    );

    // A run staged by an earlier barge (manifest format 1, other checksums)
    // is read, but not compared as if its checksums were today's.
    let manifest_path = run_dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        text.replace("\"format\": 2", "\"format\": 1"),
    )
    .unwrap();
    let old = validate(dir.path(), &[]);
    old.assert_fails(1, &["dst.t"]);
    assert!(
        old.stdout
            .contains("staged by an earlier barge (manifest format 1)"),
        "{}",
        old.stdout
    );
}

#[test]
fn stage_replay_into_fresh_postgres_and_duckdb_equals_the_original() {
    let src = pg_db("stage_r_src");
    let dst = pg_db("stage_r_dst");
    let fresh = pg_db("stage_r_fresh");
    pg_exec(&src, SOURCE);
    pg_exec(&dst, TARGET);
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), &src, &dst);
    barge(dir.path(), &["run", "p.toml", "-q"]).assert_ok();
    let run_dir = run_dir(dir.path());
    let run_dir = run_dir.to_str().unwrap();

    // The source is dropped: replay reads the stage alone.
    pg_exec(&src, "DROP TABLE t");
    barge(dir.path(), &["replay", run_dir, "--to", &fresh, "-q"]).assert_ok();
    let rows = |url: &str| {
        pg_rows(
            url,
            "SET TimeZone = 'UTC'; SELECT id, name, amount::float8::text, ts, note FROM t ORDER BY id",
        )
    };
    assert_eq!(rows(&fresh), rows(&dst));
    assert_eq!(rows(&fresh).len(), 4);
    // Modes still apply: replaying again into the truncate-mode step leaves 4 rows.
    barge(dir.path(), &["replay", run_dir, "--to", &fresh, "-q"]).assert_ok();
    assert_eq!(rows(&fresh), rows(&dst));
    // --mode append overrides the step's mode: the rows collide with the
    // primary key and the step fails, naming itself.
    barge(
        dir.path(),
        &[
            "replay", run_dir, "--to", &fresh, "-q", "--mode", "append", "--steps", "people",
        ],
    )
    .assert_fails(1, &["people"]);

    barge(
        dir.path(),
        &["replay", run_dir, "--to", "duckdb://replayed.duckdb", "-q"],
    )
    .assert_ok();
    let duck = duckdb::Connection::open(dir.path().join("replayed.duckdb")).unwrap();
    let mut statement = duck
        .prepare("SELECT id, name, CAST(amount AS DOUBLE), epoch_ms(ts), note FROM t ORDER BY id")
        .unwrap();
    let duck_rows: Vec<DuckRow> = statement
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let pg = pg_rows(
        &dst,
        "SELECT id, name, amount::float8, (extract(epoch from ts) * 1000)::bigint, note FROM t ORDER BY id",
    );
    let as_text: Vec<Vec<Option<String>>> = duck_rows
        .iter()
        .map(|(id, name, amount, ms, note)| {
            vec![
                Some(id.to_string()),
                Some(name.clone()),
                amount.map(|a| a.to_string()),
                ms.map(|m| m.to_string()),
                note.clone(),
            ]
        })
        .collect();
    assert_eq!(as_text, pg);
    drop(statement);
    drop(duck);

    // And by content checksum: the DuckDB replay validates against the
    // original target.
    write_file(
        dir.path(),
        "same.toml",
        &format!(
            r#"
[connections.orig]
url = "{dst}"
[connections.duck]
url = "duckdb://replayed.duckdb"
[[step]]
target = "duck.t"
key = ["id"]
sql = "SELECT * FROM orig.t"
"#
        ),
    );
    barge(dir.path(), &["validate", "same.toml"]).assert_ok();
}

#[test]
fn stage_copy_stages_every_table_and_replays_without_the_source() {
    let dir = crate::common::workdir_with_shop();
    barge(
        dir.path(),
        &[
            "copy",
            "sqlite://data/shop.sqlite",
            "duckdb://out/shop.duckdb",
            "--stage",
            "st",
            "-q",
        ],
    )
    .assert_ok();
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("st"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 1);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs[0].join("manifest.json")).unwrap())
            .unwrap();
    let mut staged: Vec<(String, u64)> = manifest["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    staged.sort();
    let count = |table: &str| -> u64 {
        let conn = rusqlite::Connection::open(dir.path().join("data/shop.sqlite")).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let names: Vec<&str> = staged.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "categories",
            "customers",
            "order_lines",
            "orders",
            "products"
        ]
    );
    for (name, rows) in &staged {
        assert_eq!(*rows, count(name), "{name}");
    }

    // Without the source, the staged run loads a Parquet directory.
    std::fs::remove_file(dir.path().join("data/shop.sqlite")).unwrap();
    let run = runs[0].to_str().unwrap();
    barge(
        dir.path(),
        &["replay", run, "--to", "parquet://replayed", "-q"],
    )
    .assert_ok();
    for (name, rows) in &staged {
        let batch = read_parquet(&dir.path().join(format!("replayed/{name}.parquet")));
        assert_eq!(batch.num_rows() as u64, *rows, "{name}");
    }
    // Unknown steps are refused with the list of staged ones.
    barge(
        dir.path(),
        &["replay", run, "--to", "parquet://x", "--steps", "nope"],
    )
    .assert_fails(2, &["nope", "categories"]);
}

#[test]
fn stage_empty_directory_in_the_pipeline_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "p.toml",
        "[connections.a]\nurl = \"sqlite://a.db\"\n[defaults]\nstage = \"\"\n[[step]]\ntarget = \"a.t\"\nsql = \"SELECT 1 AS x\"\n",
    );
    barge(dir.path(), &["run", "p.toml"])
        .assert_fails(2, &["p.toml:4", "[defaults].stage is empty"]);
}

#[test]
fn stage_chunked_step_resumed_after_a_crash_validates_and_replays_whole() {
    let src = pg_db("stage_c_src");
    let dst = pg_db("stage_c_dst");
    let fresh = pg_db("stage_c_fresh");
    pg_exec(
        &src,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text, amount numeric(10,2));
         INSERT INTO t SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'v' || g END, g / 100.0
         FROM generate_series(1, 5000) g;",
    );
    // The target holds rows the truncate replaces.
    pg_exec(
        &dst,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text, amount numeric(10,2));
         INSERT INTO t VALUES (1, 'old', 0);",
    );
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
name = "chunked_audit"
[connections.src]
url = "{src}"
[connections.dst]
url = "{dst}"
[defaults]
stage = "staging"
[[step]]
name = "people"
target = "dst.t"
key = ["id"]
mode = "truncate"
chunk_rows = 1000
sql = "SELECT id, v, amount FROM src.t"
"#
        ),
    );
    // The first run dies after two chunks are committed and checkpointed.
    let crashed = crate::common::barge_with_env(
        dir.path(),
        &["run", "p.toml"],
        &[("BARGE_FAILPOINT", "chunk_saved:2")],
    );
    assert_ne!(crashed.code, 0, "{}", crashed.stderr);
    let partial = barge(dir.path(), &["validate", "p.toml"]);
    partial.assert_fails(1, &["dst.t"]);
    assert!(
        partial
            .stdout
            .contains("not every chunk of the step is staged"),
        "{}",
        partial.stdout
    );
    let resumed = barge(dir.path(), &["run", "p.toml"]);
    resumed.assert_ok();
    assert!(resumed.stdout.contains("resumed:"), "{}", resumed.stdout);

    // The resumed run's manifest lists the two chunks the first run staged
    // (in its directory) and the three it staged itself.
    let mut manifests: Vec<serde_json::Value> = std::fs::read_dir(dir.path().join("staging"))
        .unwrap()
        .flatten()
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.path().join("manifest.json")).unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(manifests.len(), 2);
    manifests.sort_by_key(|m| m["started_at"].as_str().unwrap().to_string());
    assert_eq!(manifests[0]["steps"][0]["status"], "incomplete");
    let step = &manifests[1]["steps"][0];
    assert_eq!(step["status"], "staged", "{step:#}");
    assert_eq!(step["rows"], 5000);
    let files: Vec<&str> = step["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 5, "{files:?}");
    assert_eq!(files.iter().filter(|f| f.starts_with("../")).count(), 2);

    let good = barge(dir.path(), &["validate", "p.toml", "--json", "v.json"]);
    good.assert_ok();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("v.json")).unwrap()).unwrap();
    assert_eq!(report["steps"][0]["result"], "match", "{report:#}");
    assert_eq!(report["steps"][0]["stage"]["rows"], 5000);

    // Replay reads every chunk's file, wherever it was staged.
    let run_dir = dir
        .path()
        .join("staging")
        .join(manifests[1]["run_id"].as_str().unwrap());
    barge(
        dir.path(),
        &["replay", run_dir.to_str().unwrap(), "--to", &fresh, "-q"],
    )
    .assert_ok();
    let content = |url: &str| {
        pg_rows(
            url,
            "SELECT count(*), md5(string_agg(id || ':' || coalesce(v, '-') || ':' || amount, ',' ORDER BY id)) FROM t",
        )
    };
    assert_eq!(content(&fresh), content(&src));
}
