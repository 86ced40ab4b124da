//! The example pipelines of `pipelines/` (the README's "Recipes"), each run
//! against the real servers with its data set from `data/`. Every target
//! table is read back and compared, row by row, with what hand-written SQL
//! over the source says it must hold (never with barge's own output). Each
//! test runs a copy of the repository's pipeline file in a temp dir, so the
//! run's state (`.barge/`) and output files stay out of the checkout.

use std::path::Path;

use crate::common::{barge, barge_with_env, batch_rows, read_parquet, repo, Outcome};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

type Row = Vec<Option<String>>;

fn data(path: &str) -> String {
    std::fs::read_to_string(repo().join("data").join(path))
        .unwrap_or_else(|e| panic!("data/{path}: {e}"))
}

/// A temp dir holding a copy of `pipelines/NAME.toml` (at the same relative
/// path) and of the `data/` files named; returns it and the pipeline's path.
fn workdir(name: &str, data_files: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (from, to) in std::iter::once((
        format!("pipelines/{name}.toml"),
        format!("pipelines/{name}.toml"),
    ))
    .chain(
        data_files
            .iter()
            .map(|f| (format!("data/{f}"), format!("data/{f}"))),
    ) {
        let to = dir.path().join(to);
        std::fs::create_dir_all(to.parent().unwrap()).expect("mkdir");
        std::fs::copy(repo().join(&from), &to).unwrap_or_else(|e| panic!("copy {from}: {e}"));
    }
    let pipeline = format!("pipelines/{name}.toml");
    (dir, pipeline)
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    barge_with_env(dir, args, env)
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn count(rows: &[Row]) -> usize {
    rows.len()
}

// --- schema_evolution: PostgreSQL v1 -> v2 ----------------------------------

/// The v1 source and the empty v2 target of `schema_evolution`.
fn evolution_databases(name: &str) -> (String, String) {
    let v1 = pg_db(&format!("recipes_{name}_v1"));
    pg_exec(&v1, &data("schema_evolution/v1.sql"));
    let v2 = pg_db(&format!("recipes_{name}_v2"));
    pg_exec(&v2, &data("schema_evolution/v2.sql"));
    (v1, v2)
}

/// What v2's tables must hold, computed in v1 by hand: the status mapping
/// and the category ids of v2.sql written out as CASEs.
const EVOLVED_USERS: &str = "SELECT id, user_name, email,
        CASE status WHEN 'ACTIVE' THEN 1 WHEN 'INACTIVE' THEN 2 WHEN 'PENDING' THEN 3 END,
        '2024-01-01 00:00:00'
    FROM users ORDER BY id";
const EVOLVED_PRODUCTS: &str = "SELECT id, name,
        CASE category_name WHEN 'Books' THEN 10 WHEN 'Garden' THEN 20 WHEN 'Kitchen' THEN 30
                           WHEN 'Toys' THEN 40 ELSE 99 END,
        price
    FROM products ORDER BY id";
const EVOLVED_ORDERS: &str =
    "SELECT id, user_id, product_id, qty, ordered_at FROM orders ORDER BY id";

#[test]
fn recipes_schema_evolution_moves_v1_rows_into_the_v2_schema() {
    let (v1, v2) = evolution_databases("evo");
    let (dir, pipeline) = workdir("schema_evolution", &[]);
    let env = [("FROM_URL", v1.as_str()), ("TO_URL", v2.as_str())];
    // The changes the pipeline resolves, as `barge schema diff` finds them.
    let diff = run(dir.path(), &["schema", "diff", &v1, &v2], &[]);
    diff.assert_ok();
    for change in [
        "users.username: user_name -> username",
        "users.email: character varying(50) -> character varying(255)",
        "users.status_id: smallint (new NOT NULL column without default)",
        "users.created_at: timestamp without time zone (new NOT NULL column without default)",
        "products.category_id: integer (new NOT NULL column without default)",
        "users.legacy_field: text (its values are dropped)",
        "8 breaking",
    ] {
        assert!(diff.stdout.contains(change), "{change}: {}", diff.stdout);
    }
    run(dir.path(), &["run", &pipeline, "--quiet"], &env).assert_ok();

    let users = pg_rows(
        &v2,
        "SELECT id, username, email, status_id, created_at FROM users ORDER BY id",
    );
    assert_eq!(count(&users), 600);
    assert_eq!(users, pg_rows(&v1, EVOLVED_USERS));
    // The awkward rows, spelled out (and against a wrong oracle).
    assert_eq!(
        users[1],
        vec![
            s("2"),
            s("José Ñúñez"),
            None,
            s("2"),
            s("2024-01-01 00:00:00")
        ]
    );
    assert_eq!(users[3][1], s("tab\tand\\backslash"));

    let products = pg_rows(
        &v2,
        "SELECT id, name, category_id, price FROM products ORDER BY id",
    );
    assert_eq!(count(&products), 80);
    assert_eq!(products, pg_rows(&v1, EVOLVED_PRODUCTS));
    assert_eq!(
        products[0],
        vec![s("1"), s("Atlas of Everything"), s("10"), s("999999.99")]
    );
    // No category and a category v2 does not know: Uncategorized.
    assert_eq!(products[4][2], s("99"));
    assert_eq!(products[5][2], s("99"));

    let orders = pg_rows(
        &v2,
        "SELECT id, user_id, product_id, quantity, ordered_at FROM orders ORDER BY id",
    );
    assert_eq!(count(&orders), 3000);
    assert_eq!(orders, pg_rows(&v1, EVOLVED_ORDERS));

    // The v2 tables kept their own definitions: barge loaded them, it did
    // not recreate them from the step output.
    assert_eq!(
        pg_rows(
            &v2,
            "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable
             FROM information_schema.columns
             WHERE table_name = 'users' ORDER BY ordinal_position"
        ),
        vec![
            vec![s("users"), s("id"), s("bigint"), None, s("NO")],
            vec![
                s("users"),
                s("username"),
                s("character varying"),
                s("30"),
                s("NO")
            ],
            vec![
                s("users"),
                s("email"),
                s("character varying"),
                s("255"),
                s("YES")
            ],
            vec![s("users"), s("status_id"), s("smallint"), None, s("NO")],
            vec![
                s("users"),
                s("created_at"),
                s("timestamp without time zone"),
                None,
                s("NO")
            ],
        ]
    );

    // Run it again (a changed v1 row included): upserts, no duplicates.
    pg_exec(&v1, "UPDATE users SET status = 'INACTIVE' WHERE id = 1");
    run(dir.path(), &["run", &pipeline, "--quiet"], &env).assert_ok();
    assert_eq!(
        pg_rows(
            &v2,
            "SELECT id, username, email, status_id, created_at FROM users ORDER BY id"
        ),
        pg_rows(&v1, EVOLVED_USERS)
    );
    assert_eq!(
        pg_rows(&v2, "SELECT status_id FROM users WHERE id = 1"),
        vec![vec![s("2")]]
    );
    assert_eq!(
        pg_rows(&v2, "SELECT count(*) FROM orders"),
        vec![vec![s("3000")]]
    );
}

#[test]
fn recipes_schema_evolution_refuses_an_unmapped_status_and_names_it() {
    let (v1, v2) = evolution_databases("evo_unmapped");
    pg_exec(&v1, "UPDATE users SET status = 'BANNED' WHERE id IN (7, 8)");
    let (dir, pipeline) = workdir("schema_evolution", &[]);
    let env = [("FROM_URL", v1.as_str()), ("TO_URL", v2.as_str())];
    run(dir.path(), &["run", &pipeline, "--quiet"], &env)
        .assert_fails(1, &["'BANNED' (2 rows)", "user_status"]);
    // The users step loaded nothing, so neither could its orders.
    assert_eq!(
        pg_rows(&v2, "SELECT count(*) FROM users"),
        vec![vec![s("0")]]
    );
    assert_eq!(
        pg_rows(&v2, "SELECT count(*) FROM orders"),
        vec![vec![s("0")]]
    );
}

// --- cross_engine: SQLite -> DuckDB -> PostgreSQL -> Parquet -----------------

fn sqlite_rows(path: &Path, sql: &str) -> Vec<Row> {
    let conn = rusqlite::Connection::open(path).expect("open sqlite");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => None,
                    rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                    rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                    rusqlite::types::ValueRef::Text(t) => {
                        Some(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(b) => Some(format!("{b:?}")),
                })
            })
            .collect()
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// Rows of a DuckDB query; every column must be cast to VARCHAR in `sql`.
fn duckdb_rows(path: &Path, sql: &str) -> Vec<Row> {
    let conn = duckdb::Connection::open(path).expect("open duckdb");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            let mut row = Vec::new();
            let mut i = 0;
            while let Ok(v) = r.get::<_, Option<String>>(i) {
                row.push(v);
                i += 1;
            }
            Ok(row)
        })
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    rows
}

/// Per-order totals computed in SQLite, in cents (SQLite stores the
/// DECIMAL(10,2) prices as REAL), printed with two decimals.
const SQLITE_ORDERS: &str = "SELECT o.id, o.customer_id, o.status, o.ordered_at, o.ship_date, o.note,
        count(*), printf('%.2f', sum(CAST(round(l.quantity * l.unit_price * 100) AS INTEGER)) / 100.0)
    FROM orders o JOIN order_lines l ON l.order_id = o.id
    GROUP BY o.id ORDER BY o.id";

#[test]
fn recipes_cross_engine_chains_sqlite_duckdb_postgres_and_parquet() {
    let pg = pg_db("recipes_cross");
    let (dir, pipeline) = workdir("cross_engine", &["shop.sqlite"]);
    let env = [("PG_URL", pg.as_str())];
    run(
        dir.path(),
        &["run", &pipeline, "--quiet", "--report", "report.json"],
        &env,
    )
    .assert_ok();
    let sqlite = dir.path().join("data/shop.sqlite");
    let lake = dir.path().join("out/cross_engine/lake.duckdb");

    let customers_sql = "SELECT id, first_name, last_name, email, phone, country, created_at
        FROM customers ORDER BY id";
    let expected_customers = sqlite_rows(&sqlite, customers_sql);
    assert_eq!(expected_customers.len(), 500);

    // Step 1: SQLite -> DuckDB, text timestamps now TIMESTAMPs, prices exact decimals.
    assert_eq!(
        duckdb_rows(
            &lake,
            "SELECT id::VARCHAR, first_name, last_name, email, phone, country,
                    strftime(created_at, '%Y-%m-%d %H:%M:%S') FROM customers ORDER BY id"
        ),
        expected_customers
    );
    assert_eq!(
        duckdb_rows(&lake, "SELECT typeof(created_at) FROM customers LIMIT 1"),
        vec![vec![s("TIMESTAMP")]]
    );
    assert_eq!(
        duckdb_rows(
            &lake,
            "SELECT order_id::VARCHAR, line_no::VARCHAR, product_id::VARCHAR, quantity::VARCHAR,
                    unit_price::VARCHAR FROM order_lines ORDER BY order_id, line_no"
        ),
        sqlite_rows(
            &sqlite,
            "SELECT order_id, line_no, product_id, quantity, printf('%.2f', unit_price)
             FROM order_lines ORDER BY order_id, line_no"
        )
    );

    // Step 2: DuckDB -> PostgreSQL.
    assert_eq!(pg_rows(&pg, customers_sql), expected_customers);
    let orders = pg_rows(
        &pg,
        "SELECT id, customer_id, status, ordered_at, ship_date, note, lines, total
         FROM orders ORDER BY id",
    );
    let expected_orders = sqlite_rows(&sqlite, SQLITE_ORDERS);
    assert_eq!(orders.len(), 2000);
    assert_eq!(orders, expected_orders);
    // Notes with tabs, newlines, quotes and emoji came through three engines.
    assert!(
        orders
            .iter()
            .any(|o| o[5].as_deref().is_some_and(|n| n.contains('\n'))),
        "a multi-line note"
    );

    // Step 3: PostgreSQL -> Parquet.
    let export = dir
        .path()
        .join("out/cross_engine/export/revenue_by_country.parquet");
    let exported = batch_rows(&read_parquet(&export));
    let expected_revenue = sqlite_rows(
        &sqlite,
        "SELECT c.country, count(DISTINCT o.customer_id), count(*),
                printf('%.2f', sum(t.cents) / 100.0)
         FROM orders o JOIN customers c ON c.id = o.customer_id
         JOIN (SELECT order_id, sum(CAST(round(quantity * unit_price * 100) AS INTEGER)) AS cents
               FROM order_lines GROUP BY order_id) t ON t.order_id = o.id
         WHERE o.status <> 'CANCELLED'
         GROUP BY c.country ORDER BY c.country",
    );
    assert_eq!(expected_revenue.len(), 14);
    assert_eq!(exported, expected_revenue);

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    assert!(steps.iter().all(|s| s["status"] == "succeeded"), "{report}");

    // A rerun replaces every target: the same rows, no duplicates.
    run(dir.path(), &["run", &pipeline, "--quiet"], &env).assert_ok();
    assert_eq!(
        pg_rows(&pg, "SELECT count(*) FROM orders"),
        vec![vec![s("2000")]]
    );
    assert_eq!(batch_rows(&read_parquet(&export)), expected_revenue);
}

// --- customer_subset: MariaDB -> MariaDB ---------------------------------------

/// The source and the target (its schema copied, foreign keys enforced).
fn subset_databases(dir: &Path, name: &str) -> (String, String) {
    let src = mysql_db(&format!("recipes_{name}_src"));
    mysql_exec(&src, &data("customer_subset/starfox.sql"));
    let dst = mysql_db(&format!("recipes_{name}_dst"));
    barge(dir, &["schema", "copy", &src, &dst]).assert_ok();
    (src, dst)
}

/// Per table: its columns in key order, and the rows the subset of
/// customers 1, 2, 3 and seed users 1, 2 must copy, as a WHERE over the
/// source written by hand (None: the whole table).
const SUBSET_TABLES: &[(&str, &str, Option<&str>)] = &[
    ("country", "id, code, name", None),
    ("currency", "code, name", None),
    ("access_right", "id, name", None),
    ("schema_version", "version, applied_at, description", None),
    (
        "customer",
        "id, name, country_id, currency_code",
        Some("id IN (1, 2, 3)"),
    ),
    (
        "users",
        "id, customer_id, email, full_name",
        Some("customer_id IN (1, 2, 3) OR id IN (1, 2)"),
    ),
    (
        "user_preferences",
        "user_id, theme, language",
        Some("user_id IN (SELECT id FROM users WHERE customer_id IN (1, 2, 3) OR id IN (1, 2))"),
    ),
    (
        "role",
        "id, customer_id, name",
        Some("customer_id IN (1, 2, 3)"),
    ),
    (
        "role_access_map",
        "role_id, access_right_id",
        Some("role_id IN (SELECT id FROM role WHERE customer_id IN (1, 2, 3))"),
    ),
    (
        "role_user",
        "role_id, user_id",
        Some("role_id IN (SELECT id FROM role WHERE customer_id IN (1, 2, 3))"),
    ),
    (
        "account",
        "id, customer_id, iban, balance",
        Some("customer_id IN (1, 2, 3)"),
    ),
    (
        "orders",
        "id, customer_id, account_id, created_by, status, total, created_at",
        Some("customer_id IN (1, 2, 3)"),
    ),
    (
        "order_line",
        "id, order_id, sku, qty, note",
        Some("order_id IN (SELECT id FROM orders WHERE customer_id IN (1, 2, 3))"),
    ),
];

fn subset_rows(url: &str, columns: &str, table: &str, filter: Option<&str>) -> Vec<Row> {
    // The key columns come first: ordering by every column orders by key.
    let filter = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default();
    mysql_rows(
        url,
        &format!("SELECT {columns} FROM {table}{filter} ORDER BY {columns}"),
    )
}

#[test]
fn recipes_customer_subset_moves_three_customers_and_resumes_after_a_crash() {
    let (dir, pipeline) = workdir("customer_subset", &[]);
    let (src, dst) = subset_databases(dir.path(), "subset");
    let env = [
        ("READ_DB_URL", src.as_str()),
        ("WRITE_DB_URL", dst.as_str()),
    ];

    // The process dies at the third load's commit (one step at a time, so
    // exactly two steps are complete and saved in the state file).
    let crashed = run(
        dir.path(),
        &["run", &pipeline, "--jobs", "1"],
        &[env[0], env[1], ("BARGE_FAILPOINT", "before_commit:3")],
    );
    assert_ne!(crashed.code, 0, "{}", crashed.stderr);
    assert!(
        crashed.stderr.contains("BARGE_FAILPOINT"),
        "{}",
        crashed.stderr
    );
    let loaded: usize = SUBSET_TABLES
        .iter()
        .map(|(t, _, _)| {
            mysql_rows(&dst, &format!("SELECT count(*) FROM {t}"))[0][0]
                .as_deref()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .filter(|n| *n > 0)
        .count();
    assert_eq!(loaded, 2, "two steps committed before the crash");

    // The same command again: the two finished steps are not run again.
    let resumed = run(dir.path(), &["run", &pipeline], &env);
    resumed.assert_ok();
    assert_eq!(
        resumed.stdout.matches("done before").count(),
        2,
        "{}",
        resumed.stdout
    );

    for (table, columns, filter) in SUBSET_TABLES {
        let expected = subset_rows(&src, columns, table, *filter);
        let actual = subset_rows(&dst, columns, table, None);
        assert!(!expected.is_empty(), "{table}");
        assert_eq!(actual, expected, "table {table}");
    }
    // The hand-written filters, spelled out for the reader.
    assert_eq!(
        mysql_rows(
            &dst,
            "SELECT count(*), min(id), max(id) FROM users WHERE customer_id IS NULL"
        ),
        vec![vec![s("2"), s("1"), s("2")]],
        "seed users 1 and 2, not the bot (3)"
    );
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM orders"),
        vec![vec![s("180")]],
        "60 orders per customer"
    );
    assert_eq!(
        mysql_rows(&dst, "SELECT name FROM customer WHERE id = 3"),
        vec![vec![s("O'Brien's \"Shop\"")]]
    );
    // Skipped: the audit log and the temp_* tables.
    for table in ["AUDIT_LOG", "temp_import"] {
        assert_eq!(
            mysql_rows(&dst, &format!("SELECT count(*) FROM {table}")),
            vec![vec![s("0")]],
            "{table}"
        );
    }

    // The run completed: the next one starts afresh and, insert_ignore,
    // adds nothing.
    let again = run(dir.path(), &["run", &pipeline], &env);
    again.assert_ok();
    assert!(!again.stdout.contains("done before"), "{}", again.stdout);
    assert_eq!(
        mysql_rows(&dst, "SELECT count(*) FROM order_line")[0],
        mysql_rows(
            &src,
            "SELECT count(*) FROM order_line WHERE order_id IN
               (SELECT id FROM orders WHERE customer_id IN (1, 2, 3))"
        )[0]
    );
}

// --- barge plan on every pipeline ---------------------------------------------------

#[test]
fn recipes_barge_plan_succeeds_on_every_pipeline_file() {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("pipelines"))
        .expect("pipelines/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for file in names {
        let name = file.trim_end_matches(".toml");
        let (dir, pipeline) = workdir(name, &["shop.sqlite"]);
        let env: Vec<(String, String)> = match name {
            "demo" => vec![],
            "cross_engine" => vec![("PG_URL".into(), pg_db("recipes_plan_cross"))],
            "schema_evolution" => {
                let (v1, v2) = evolution_databases("plan_evo");
                vec![("FROM_URL".into(), v1), ("TO_URL".into(), v2)]
            }
            "customer_subset" => {
                let (src, dst) = subset_databases(dir.path(), "plan_subset");
                vec![("READ_DB_URL".into(), src), ("WRITE_DB_URL".into(), dst)]
            }
            other => {
                panic!("pipelines/{other}.toml: add the databases and variables it needs here")
            }
        };
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = run(dir.path(), &["plan", &pipeline], &env);
        out.assert_ok();
        assert!(out.stdout.contains("->"), "{file}: {}", out.stdout);
    }
}
