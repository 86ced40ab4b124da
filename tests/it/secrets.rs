//! Secrets against the real servers: a password in a URL, in whatever form
//! the URL holds it, and a secret param appear in nothing barge prints or
//! writes.

use std::path::Path;

use crate::common::{barge, barge_with_env, src_dst_pipeline, write_file, Outcome};
use crate::servers::{mysql_db, pg_db, pg_exec, pg_rows};

/// A password holding every character a URL gives a meaning to.
const PASSWORD: &str = "Zq/9@x?y#7%Kw";

/// [`PASSWORD`] percent-encoded, as a URL carries it.
const ENCODED: &str = "Zq%2F9%40x%3Fy%237%25Kw";

/// Every form of [`PASSWORD`] that must show nowhere: raw, percent-encoded
/// with upper- and lower-case hex digits, and the pieces a URL parser cuts
/// the raw one into.
const FORMS: [&str; 5] = [PASSWORD, ENCODED, "Zq%2f9%40x%3fy%237%25Kw", "Zq/9", "7%Kw"];

/// Fails naming `what` when `bytes` hold any form of the password.
#[track_caller]
fn assert_hidden(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for form in FORMS {
        assert!(!text.contains(form), "{what} shows {form:?}:\n{text}");
    }
}

/// Fails when the stdout or stderr of `out` hold any form of the password.
#[track_caller]
fn assert_printed_nothing(what: &str, out: &Outcome) {
    assert_hidden(&format!("{what} (stdout)"), out.stdout.as_bytes());
    assert_hidden(&format!("{what} (stderr)"), out.stderr.as_bytes());
}

/// Fails when a file under `dir` but the pipeline file `p.toml` holds any
/// form of the password; returns the paths checked.
#[track_caller]
fn assert_written_nothing(dir: &Path) -> Vec<std::path::PathBuf> {
    let written = files_under(dir);
    for (path, bytes) in &written {
        if !path.ends_with("p.toml") {
            assert_hidden(&path.display().to_string(), bytes);
        }
    }
    written.into_iter().map(|(path, _)| path).collect()
}

/// `src.sqlite` in `dir`: table `items` with three rows.
fn sqlite_source(dir: &Path) {
    let db = rusqlite::Connection::open(dir.join("src.sqlite")).unwrap();
    db.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO items VALUES (1, 'anvil'), (2, 'bolt'), (3, 'crate');",
    )
    .unwrap();
}

/// The pipeline `p.toml` in `dir`: `src.sqlite` into `dst` at `dst_url`,
/// with the password as a param used in the step's SQL.
fn pipeline(dir: &Path, dst_url: &str) -> String {
    src_dst_pipeline(
        dir,
        "p.toml",
        "sqlite://src.sqlite",
        dst_url,
        &format!(
            r#"
[params]
db_password = "{PASSWORD}"

[[step]]
name = "items"
target = "dst.items"
mode = "replace"
sql = "SELECT id, name, CASE WHEN '${{db_password}}' = '' THEN 'unset' ELSE 'set' END AS flag FROM src.items"
"#
        ),
    )
}

#[test]
fn a_raw_password_with_url_characters_shows_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_source(dir.path());
    let raw = format!("postgres://postgres:{PASSWORD}@127.0.0.1:5432/postgres");
    let p = pipeline(dir.path(), &raw);
    // Whatever barge makes of this URL, it fails opening it (a URL parser
    // cuts it at its first `@` or `?`), and says so without the password.
    let run = barge(
        dir.path(),
        &[
            "run",
            &p,
            "--stage",
            "staged",
            "--report",
            "report.json",
            "-vv",
        ],
    );
    assert_ne!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("connection 'dst'"), "{}", run.stderr);
    assert_printed_nothing("run", &run);
    let plan = barge(dir.path(), &["plan", &p, "-v"]);
    assert_printed_nothing("plan", &plan);
    // The same URL on the command line.
    for args in [
        vec![
            "copy",
            "sqlite://src.sqlite",
            raw.as_str(),
            "--tables",
            "items",
            "-v",
        ],
        vec!["schema", "diff", "sqlite://src.sqlite", raw.as_str()],
        // A bad command line: clap quotes the argument it refuses.
        vec!["copy", "sqlite://src.sqlite", "x.parquet", raw.as_str()],
    ] {
        let out = barge(dir.path(), &args);
        assert_ne!(out.code, 0, "{args:?}: {}\n{}", out.stdout, out.stderr);
        assert!(!out.stderr.trim().is_empty(), "{args:?} says why it failed");
        assert_printed_nothing(&args.join(" "), &out);
    }
    assert_written_nothing(dir.path());
}

/// Runs the pipeline into `dst` (the test database's URL, no password) at
/// `dst_url` (the same, with the password), then status, plan and
/// validate; checks the rows landed and that no output and no file shows
/// the password.
fn password_shows_nowhere(dst: &str, dst_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    sqlite_source(dir.path());
    let p = pipeline(dir.path(), dst_url);
    let mut printed = Vec::new();

    let run = barge_with_env(
        dir.path(),
        &[
            "run",
            &p,
            "--stage",
            "staged",
            "--report",
            "report.json",
            "-vv",
        ],
        &[("RUST_LOG", "debug")],
    );
    run.assert_ok();
    printed.push(("run", run));
    // The run did its work: the rows are in the target.
    assert_eq!(
        pg_rows(dst, "SELECT id, name, flag FROM items ORDER BY id"),
        [
            [Some("1".into()), Some("anvil".into()), Some("set".into())],
            [Some("2".into()), Some("bolt".into()), Some("set".into())],
            [Some("3".into()), Some("crate".into()), Some("set".into())],
        ]
    );

    let status = barge(dir.path(), &["status", &p, "--json", "-v"]);
    status.assert_ok();
    assert!(status.stdout.contains("completed"), "{}", status.stdout);
    printed.push(("status", status));

    let plan = barge(dir.path(), &["plan", &p, "-v"]);
    plan.assert_ok();
    // The step's SQL is shown, the param's value hidden in it.
    assert!(plan.stdout.contains("'***'"), "{}", plan.stdout);
    printed.push(("plan", plan));

    let validate = barge(
        dir.path(),
        &[
            "validate",
            &p,
            "--stage",
            "staged",
            "--json",
            "validate.json",
            "-v",
        ],
    );
    validate.assert_ok();
    assert!(validate.stdout.contains("match"), "{}", validate.stdout);
    printed.push(("validate", validate));

    for (what, out) in &printed {
        assert_printed_nothing(what, out);
    }
    let written = assert_written_nothing(dir.path());
    for needle in [
        ".barge/state",
        "manifest.json",
        "report.json",
        "validate.json",
    ] {
        assert!(
            written.iter().any(|p| p.to_string_lossy().contains(needle)),
            "barge wrote {needle}: {written:?}"
        );
    }
    // The manifest keeps the step's SQL, the param's value hidden in it.
    let manifest = written
        .iter()
        .find(|p| p.ends_with("manifest.json"))
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    assert_eq!(manifest["params"]["db_password"], "***");
    let sql = manifest["steps"][0]["sql"].as_str().unwrap();
    assert!(sql.contains("WHEN '***' = ''"), "{sql}");
}

#[test]
fn a_percent_encoded_password_shows_nowhere() {
    let dst = pg_db("secrets_encoded");
    // The loopback server trusts every password: this one is carried,
    // never checked.
    let with_password = dst.replace("postgres@", &format!("postgres:{ENCODED}@"));
    assert_ne!(with_password, dst);
    password_shows_nowhere(&dst, &with_password);
}

#[test]
fn a_password_parameter_shows_nowhere() {
    let dst = pg_db("secrets_query");
    password_shows_nowhere(&dst, &format!("{dst}?password={ENCODED}"));
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
fn a_password_appears_in_nothing_printed_or_written() {
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
