//! Bad input gives a clear error naming the culprit, a non-zero exit, and no panic.

use crate::common::{barge, workdir_with_shop, write_file};

const HEADER: &str = r#"
[connections.src]
url = "sqlite://data/shop.sqlite"

[connections.dst]
url = "duckdb://out/t.duckdb"
"#;

fn pipeline(dir: &std::path::Path, body: &str) -> String {
    write_file(dir, "p.toml", &format!("{HEADER}{body}"))
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let dir = workdir_with_shop();
    let p = pipeline(
        dir.path(),
        "\n[[step]]\ntarget = \"dst.x\nsql = \"SELECT 1\"\n",
    );
    barge(dir.path(), &["run", &p]).assert_fails(2, &["p.toml:9:", "hint:"]);
}

#[test]
fn unknown_key_is_rejected_with_its_line() {
    let dir = workdir_with_shop();
    let p = pipeline(
        dir.path(),
        "\n[[step]]\ntarget = \"dst.x\"\nsql = \"SELECT 1 AS a\"\nmodde = \"append\"\n",
    );
    barge(dir.path(), &["run", &p])
        .assert_fails(2, &["p.toml:11:", "unknown field `modde`", "hint:"]);
}

#[test]
fn unknown_connection_in_target_and_in_sql() {
    let dir = workdir_with_shop();
    let p = pipeline(
        dir.path(),
        "\n[[step]]\ntarget = \"warehouse.x\"\nsql = \"SELECT 1 AS a\"\n",
    );
    barge(dir.path(), &["run", &p]).assert_fails(
        2,
        &["p.toml:9:", "unknown connection 'warehouse'", "dst, src"],
    );

    let p = pipeline(
        dir.path(),
        "\n[[step]]\ntarget = \"dst.x\"\nsql = \"SELECT * FROM legacy.orders\"\n",
    );
    barge(dir.path(), &["run", &p])
        .assert_fails(1, &["step 'x'", "unknown connection 'legacy'", "p.toml:9"]);
}

#[test]
fn unknown_table_lists_the_connections_tables() {
    let dir = workdir_with_shop();
    let p = pipeline(
        dir.path(),
        "\n[[step]]\ntarget = \"dst.x\"\nsql = \"SELECT * FROM src.ordrs\"\n",
    );
    barge(dir.path(), &["run", &p]).assert_fails(
        1,
        &["table 'ordrs' not found in connection 'src'", "orders"],
    );
}

#[test]
fn unset_env_var_names_the_variable_and_its_place() {
    let dir = workdir_with_shop();
    let p = write_file(
        dir.path(),
        "p.toml",
        "[connections.src]\nurl = \"${BARGE_TEST_UNSET_URL}\"\n\n[[step]]\ntarget = \"src.x\"\nsql = \"SELECT 1 AS a\"\n",
    );
    barge(dir.path(), &["run", &p]).assert_fails(
        2,
        &["p.toml:2:8", "${BARGE_TEST_UNSET_URL}", "not set", "--set"],
    );
}

#[test]
fn env_and_dotenv_and_set_follow_their_precedence() {
    let dir = workdir_with_shop();
    write_file(
        dir.path(),
        ".env",
        "SHOP_DB=sqlite://data/shop.sqlite\nLAST=2\n",
    );
    let p = write_file(
        dir.path(),
        "p.toml",
        "[connections.src]\nurl = \"${SHOP_DB}\"\n[connections.dst]\nurl = \"duckdb://out/t.duckdb\"\n[params]\nLAST = 1\n\n[[step]]\ntarget = \"dst.c\"\nsql = \"SELECT id FROM src.customers WHERE id <= ${LAST}\"\n",
    );
    // .env (2) wins over the file (1) ...
    let out = barge(dir.path(), &["run", &p, "--report", "r.json", "-q"]);
    out.assert_ok();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(r["steps"][0]["rows_written"], 2);
    // ... and --set (4) wins over .env.
    barge(
        dir.path(),
        &["run", &p, "--report", "r.json", "-q", "--set", "LAST=4"],
    )
    .assert_ok();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(r["steps"][0]["rows_written"], 4);
}

#[test]
fn unsupported_url_scheme() {
    let dir = workdir_with_shop();
    let p = write_file(
        dir.path(),
        "p.toml",
        "[connections.src]\nurl = \"oracle://scott:tiger@db/orcl\"\n\n[[step]]\ntarget = \"src.x\"\nsql = \"SELECT 1 AS a\"\n",
    );
    let out = barge(dir.path(), &["run", &p]);
    out.assert_fails(1, &["connection 'src'", "unsupported URL", "hint:"]);
    assert!(
        !out.stderr.contains("tiger"),
        "the password is never printed: {}",
        out.stderr
    );
}

#[test]
fn missing_database_file() {
    let dir = workdir_with_shop();
    let p = write_file(
        dir.path(),
        "p.toml",
        "[connections.src]\nurl = \"sqlite://data/nope.sqlite\"\n[connections.dst]\nurl = \"duckdb://out/t.duckdb\"\n\n[[step]]\ntarget = \"dst.x\"\nsql = \"SELECT * FROM src.orders\"\n",
    );
    barge(dir.path(), &["run", &p]).assert_fails(
        1,
        &["connection 'src'", "data/nope.sqlite", "does not exist"],
    );
    assert!(
        !dir.path().join("data/nope.sqlite").exists(),
        "a missing source is not created"
    );
}

#[test]
fn sql_error_names_the_step() {
    let dir = workdir_with_shop();
    let p = pipeline(dir.path(), "\n[[step]]\nname = \"broken\"\ntarget = \"dst.x\"\nsql = \"SELECT no_such_column FROM src.orders\"\n");
    barge(dir.path(), &["run", &p])
        .assert_fails(1, &["step 'broken'", "no_such_column", "p.toml:10"]);
}

#[test]
fn value_overflowing_its_target_type_fails_the_step() {
    let dir = workdir_with_shop();
    // The target column is a TINYINT; order ids go past 127.
    let p = pipeline(
        dir.path(),
        "\n[[step]]\nname = \"small\"\ntarget = \"dst.small\"\nmode = \"replace\"\nsql = \"SELECT arrow_cast(1, 'Int8') AS id\"\n\n[[step]]\nname = \"overflow\"\ntarget = \"dst.small\"\nmode = \"append\"\nsql = \"SELECT id FROM src.orders\"\n",
    );
    let out = barge(dir.path(), &["run", &p, "-q"]);
    out.assert_fails(1, &["step 'overflow'", "Int8"]);
    // Nothing of the failed step landed.
    let conn = duckdb::Connection::open(dir.path().join("out/t.duckdb")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM small", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn unmapped_values_are_listed_with_counts() {
    let dir = workdir_with_shop();
    let p = pipeline(
        dir.path(),
        "\n[mappings.status]\nNEW = 1\nPAID = 2\n\n[[step]]\ntarget = \"dst.o\"\nsql = \"SELECT id, map_value('status', status) AS status_id FROM src.orders\"\n",
    );
    barge(dir.path(), &["run", &p, "-q"]).assert_fails(
        1,
        &["map_value('status')", "'DELIVERED' (", "[mappings.status]"],
    );
}

#[test]
fn a_null_for_a_not_null_column_names_the_column_and_the_fix() {
    let dir = workdir_with_shop();
    let db = rusqlite::Connection::open(dir.path().join("out.db")).unwrap();
    db.execute_batch("CREATE TABLE people (id INTEGER PRIMARY KEY, nick TEXT NOT NULL)")
        .unwrap();
    let pipeline = write_file(
        dir.path(),
        "p.toml",
        r#"
[connections.src]
url = "sqlite://data/shop.sqlite"

[connections.dst]
url = "sqlite://out.db"

[[step]]
target = "dst.people"
mode = "append"
sql = "SELECT id, CASE WHEN id = 2 THEN NULL ELSE first_name END AS nick FROM src.customers"
"#,
    );
    barge(dir.path(), &["run", &pipeline]).assert_fails(
        1,
        &[
            "a NULL in column 'nick', which dst.people declares NOT NULL",
            "COALESCE",
            "max_rejects",
        ],
    );
    let rows: i64 = db
        .query_row("SELECT count(*) FROM people", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "nothing landed");
}
