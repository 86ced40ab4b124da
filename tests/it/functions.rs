//! The transform functions and `[functions]` macros in real pipelines:
//! SQLite shop -> DuckDB and SQLite targets, rows read back.

use crate::common::{barge, barge_with_env, duckdb_rows, workdir_with_shop, write_file};

const SALT: &str = "test-salt-3f9c";

const PIPELINE: &str = r#"
[connections.src]
url = "sqlite://data/shop.sqlite"
read_only = true

[connections.dst]
url = "duckdb://out/people.duckdb"

[connections.lite]
url = "sqlite://out/orders.sqlite"

[defaults]
mode = "replace"

[functions]
full_name = "concat(first_name, ' ', last_name)"

[functions.customer_key]
args = ["id"]
sql = "stable_id('test', 'customers', id)"

[functions.shout]
args = ["s"]
sql = "upper(concat(s, '!'))"

[mappings.status]
file = "mappings/status.csv"

[[step]]
target = "dst.customers"
key = ["customer_id"]
sql = """
SELECT customer_key(id) AS customer_id,
       full_name() AS name,
       split_name(full_name())['first'] AS first,
       split_name(full_name())['last'] AS last,
       normalize_email(email) AS email,
       hash_text(normalize_email(email)) AS email_hash,
       mask(email, 'email') AS masked_email,
       hash_password(random_password()) AS password_hash,
       shout(first_name) AS loud
FROM src.customers
WHERE id <= 20
"""

[[step]]
target = "lite.orders"
sql = """
SELECT stable_id_int('test', 'orders', o.id) AS order_id,
       customer_key(o.customer_id) AS customer_id,
       map_value('status', o.status) AS status
FROM src.orders o
WHERE o.customer_id <= 20
"""

[[step]]
target = "dst.phones"
sql = """
SELECT 1 AS n, normalize_phone('(415) 555-2671', 'US') AS e164
UNION ALL SELECT 2, normalize_phone('020 7946 0958', c.country) FROM src.customers c WHERE c.id = 2
UNION ALL SELECT 3, normalize_phone('12', 'US')
"""
"#;

const STATUS_CSV: &str = "from,to\nNEW,1\nPAID,2\nSHIPPED,3\nDELIVERED,4\nCANCELLED,9\n";

#[test]
fn functions_and_macros_move_rows_with_their_relationships() {
    let dir = workdir_with_shop();
    write_file(dir.path(), "mappings/status.csv", STATUS_CSV);
    let p = write_file(dir.path(), "p.toml", PIPELINE);
    barge_with_env(dir.path(), &["run", &p, "--quiet"], &[("BARGE_SALT", SALT)]).assert_ok();

    let people = dir.path().join("out/people.duckdb");
    let rows = duckdb_rows(
        &people,
        "SELECT customer_id, name, first, last, email, email_hash, masked_email, password_hash, loud \
         FROM customers ORDER BY name",
    );
    assert_eq!(rows.len(), 20);
    let src = rusqlite::Connection::open(dir.path().join("data/shop.sqlite")).unwrap();
    for row in &rows {
        let name = row[1].clone().unwrap();
        let (id, first, last, email): (i64, String, String, Option<String>) = src
            .query_row(
                "SELECT id, first_name, last_name, email FROM customers \
                 WHERE first_name || ' ' || last_name = ?1 AND id <= 20",
                [&name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        let expected_id =
            barge_udfs::stable_id::stable_uuid(&["test", "customers", &id.to_string()]);
        assert_eq!(row[0].as_deref(), Some(expected_id.to_string().as_str()));
        assert_eq!(row[2].as_deref(), Some(first.as_str()));
        assert_eq!(row[3].as_deref(), Some(last.as_str()));
        let normalized = email.as_deref().map(|e| e.trim().to_lowercase());
        assert_eq!(row[4], normalized);
        assert_eq!(
            row[5],
            normalized
                .as_deref()
                .map(|e| barge_udfs::anonymize::hash_text(SALT.as_bytes(), e))
        );
        if email.is_some() {
            let masked = row[6].as_deref().unwrap();
            assert!(masked.starts_with("user-") && masked.ends_with("@example.com"));
        }
        assert!(row[7].as_deref().unwrap().starts_with("$argon2id$v=19$"));
        assert_eq!(row[8], Some(format!("{}!", first.to_uppercase())));
    }

    // Every order's customer key points at a migrated customer.
    let lite = rusqlite::Connection::open(dir.path().join("out/orders.sqlite")).unwrap();
    let orders: Vec<(i64, String, i64)> = lite
        .prepare("SELECT order_id, customer_id, status FROM orders")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(orders.len(), 65);
    let customers: std::collections::HashSet<String> =
        rows.iter().map(|r| r[0].clone().unwrap()).collect();
    for (order_id, customer_id, status) in &orders {
        assert!(*order_id > 0);
        assert!(customers.contains(customer_id), "{customer_id}");
        assert!([1, 2, 3, 4, 9].contains(status));
    }

    let phones = duckdb_rows(&people, "SELECT e164 FROM phones ORDER BY n");
    assert_eq!(
        phones,
        vec![
            vec![Some("+14155552671".to_string())],
            vec![Some("+442079460958".to_string())],
            vec![None]
        ]
    );

    // A rerun gives the same keys (and, under the same salt, the same hashes).
    barge_with_env(dir.path(), &["run", &p, "--quiet"], &[("BARGE_SALT", SALT)]).assert_ok();
    let again = duckdb_rows(
        &people,
        "SELECT customer_id, email_hash, masked_email FROM customers ORDER BY name",
    );
    let before: Vec<_> = rows
        .iter()
        .map(|r| vec![r[0].clone(), r[5].clone(), r[6].clone()])
        .collect();
    assert_eq!(again, before);
}

#[test]
fn a_missing_salt_fails_naming_the_variable() {
    let dir = workdir_with_shop();
    let p = write_file(
        dir.path(),
        "p.toml",
        r#"
[connections.src]
url = "sqlite://data/shop.sqlite"
[connections.dst]
url = "duckdb://out/t.duckdb"
[[step]]
target = "dst.t"
sql = "SELECT hash_text(email) AS h FROM src.customers"
"#,
    );
    barge_with_env(dir.path(), &["run", &p], &[("BARGE_SALT", "")])
        .assert_fails(1, &["step 't'", "hash_text: BARGE_SALT is empty"]);
}

#[test]
fn unmapped_values_fail_the_step_with_their_counts() {
    let dir = workdir_with_shop();
    let p = write_file(
        dir.path(),
        "p.toml",
        r#"
[connections.src]
url = "sqlite://data/shop.sqlite"
[connections.dst]
url = "duckdb://out/t.duckdb"
[mappings.status]
NEW = 1
PAID = 2
[[step]]
target = "dst.t"
sql = "SELECT map_value('status', status) AS s FROM src.orders WHERE customer_id <= 20"
"#,
    );
    barge(dir.path(), &["run", &p]).assert_fails(
        1,
        &[
            "step 't'",
            "map_value('status')",
            "'DELIVERED' (",
            "[mappings.status]",
        ],
    );
}

#[test]
fn macro_mistakes_name_the_macro_and_the_pipeline_line() {
    let dir = workdir_with_shop();
    let header = r#"
[connections.src]
url = "sqlite://data/shop.sqlite"
[connections.dst]
url = "duckdb://out/t.duckdb"
"#;
    let p = write_file(
        dir.path(),
        "p.toml",
        &format!(
            "{header}\n[functions.twice]\nargs = [\"x\"]\nsql = \"x * 2\"\n\n[[step]]\ntarget = \"dst.t\"\nsql = \"SELECT twice(id, 3) AS n FROM src.orders\"\n"
        ),
    );
    barge(dir.path(), &["run", &p]).assert_fails(
        2,
        &[
            "p.toml:13:",
            "step 't': macro 'twice' takes 1 argument, got 2",
            "twice(x)",
        ],
    );

    let p = write_file(
        dir.path(),
        "p.toml",
        &format!(
            "{header}\n[functions]\na = \"b() + 1\"\nb = \"a()\"\n\n[[step]]\ntarget = \"dst.t\"\nsql = \"SELECT a() AS n\"\n"
        ),
    );
    barge(dir.path(), &["run", &p])
        .assert_fails(2, &["p.toml:", "macro 'a' calls itself (a -> b -> a)"]);
}
