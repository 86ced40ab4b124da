//! The example pipelines of `pipelines/` (the README's "Recipes"), each run
//! against the real servers with its data set from `data/`. Every target
//! table is read back and compared, row by row, with what hand-written SQL
//! over the source says it must hold (never with barge's own output). Each
//! test runs a copy of the repository's pipeline file in a temp dir, so the
//! run's state (`.barge/`) and output files stay out of the checkout.

use std::path::Path;

use crate::common::{
    barge, barge_with_env, batch_rows, duckdb_rows, read_parquet, repo, sqlite_rows, Outcome,
};
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
    ); // Validation: steps with map_value and lookups are summed in barge,
       // the plain orders copy inside both PostgreSQL databases.
    let validated = run(dir.path(), &["validate", &pipeline], &env);
    validated.assert_ok();
    assert!(validated.stdout.contains("v1 / v2"), "{}", validated.stdout);
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

    // Validation along the chain: every step matches, the checksums of
    // DuckDB and PostgreSQL sides computed by those engines, SQLite and
    // Parquet sides by barge, all the same way.
    run(
        dir.path(),
        &["validate", &pipeline, "--json", "v.json"],
        &env,
    )
    .assert_ok();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("v.json")).unwrap()).unwrap();
    let computed: Vec<(String, String, String)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["result"], "match", "{s:#}");
            let at = |side: &str| s[side]["computed_in"].as_str().unwrap_or("").to_string();
            (
                s["step"].as_str().unwrap().to_string(),
                at("source"),
                at("target"),
            )
        })
        .collect();
    let expect = |step: &str, source: &str, target: &str| {
        assert!(
            computed.contains(&(step.into(), source.into(), target.into())),
            "{computed:?}"
        )
    };
    expect("customers_to_duckdb", "barge", "lake");
    expect("customers_to_postgres", "lake", "prod");
    expect("revenue_export", "barge", "barge");
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
    // `barge status` tells what the interrupted run finished.
    let status = run(dir.path(), &["status", &pipeline], &env);
    status.assert_ok();
    assert!(status.stdout.contains("not complete"), "{}", status.stdout);
    assert_eq!(
        status.stdout.matches("completed").count(),
        2,
        "{}",
        status.stdout
    );

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

// --- stable_ids: PostgreSQL dev -> prod, keys remapped -----------------------------

/// barge's documented id derivation written again in PostgreSQL (uuid-ossp's
/// UUID v5, pgcrypto's SHA-1), so the tests check the ids barge issued
/// against values computed without barge. A NULL part gives NULL.
const STABLE_ID_SQL: &str = r#"
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE FUNCTION sid_name(parts text[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(octet_length(p) || ':' || p, '' ORDER BY i)
    FROM unnest(parts) WITH ORDINALITY AS t (p, i) $$;
CREATE FUNCTION sid(VARIADIC parts text[]) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN array_position(parts, NULL) IS NULL
        THEN uuid_generate_v5('d249d559-2b09-46c7-b9b2-2595c61f70cc', sid_name(parts)) END $$;
CREATE FUNCTION sid_int(VARIADIC parts text[]) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN array_position(parts, NULL) IS NULL THEN greatest(1,
        ('x' || encode(substring(digest(decode('d249d5592b0946c7b9b22595c61f70cc', 'hex')
            || convert_to(sid_name(parts), 'UTF8'), 'sha1') FROM 1 FOR 8), 'hex'))::bit(64)::bigint
        & 9223372036854775807) END $$;
"#;

/// The dev source (with the functions above) and the empty prod target.
fn stable_id_databases(name: &str) -> (String, String) {
    let dev = pg_db(&format!("recipes_{name}_dev"));
    pg_exec(&dev, &data("stable_ids/dev.sql"));
    pg_exec(&dev, STABLE_ID_SQL);
    let prod = pg_db(&format!("recipes_{name}_prod"));
    pg_exec(&prod, &data("stable_ids/prod.sql"));
    (dev, prod)
}

/// Per prod table: its columns, and what they must hold computed in dev.
const STABLE_TABLES: &[(&str, &str, &str)] = &[
    (
        "contacts",
        "id, name, email",
        "SELECT sid('prod', 'contacts', id), name, email FROM contacts",
    ),
    (
        "properties",
        "id, address, city",
        "SELECT sid('prod', 'properties', id), address, city FROM properties",
    ),
    (
        "requests",
        "id, agent_contact_id, homeowner_contact_id, property_id, message",
        "SELECT sid('prod', 'requests', id::text), sid('prod', 'contacts', agent_contact_id),
                sid('prod', 'contacts', homeowner_contact_id), sid('prod', 'properties', property_id),
                message
         FROM requests",
    ),
    (
        "projects",
        "id, request_id, agent_contact_id, homeowner_contact_id, homeowner2_contact_id, property_id, title",
        "SELECT sid_int('prod', 'projects', id::text), sid('prod', 'requests', request_id::text),
                sid('prod', 'contacts', agent_contact_id), sid('prod', 'contacts', homeowner_contact_id),
                sid('prod', 'contacts', homeowner2_contact_id), sid('prod', 'properties', property_id),
                title
         FROM projects",
    ),
    (
        "quotes",
        "id, project_id, agent_contact_id, amount",
        "SELECT sid_int('prod', 'quotes', id::text), sid_int('prod', 'projects', project_id::text),
                sid('prod', 'contacts', agent_contact_id), amount
         FROM quotes",
    ),
    (
        "quote_items",
        "id, quote_id, project_id, line_no, description, qty",
        "SELECT sid('prod', 'quote_items', quote_id::text, line_no::text),
                sid_int('prod', 'quotes', quote_id::text), sid_int('prod', 'projects', project_id::text),
                line_no, description, qty
         FROM quote_items",
    ),
];

fn prod_rows(prod: &str, table: &str, columns: &str) -> Vec<Row> {
    pg_rows(prod, &format!("SELECT {columns} FROM {table} ORDER BY 1"))
}

#[test]
fn recipes_stable_ids_remaps_every_key_the_same_way_on_every_run() {
    let (dev, prod) = stable_id_databases("ids");
    let (dir, pipeline) = workdir("stable_ids", &[]);
    let env = [("DEV_DB_URL", dev.as_str()), ("PROD_DB_URL", prod.as_str())];
    // The derivation written in SQL agrees with the README's example.
    assert_eq!(
        pg_rows(&dev, "SELECT sid_name(ARRAY['prod', 'users', '42'])"),
        vec![vec![s("4:prod5:users2:42")]]
    );

    // Dry run: counts, nothing written.
    run(dir.path(), &["run", &pipeline, "--dry-run"], &env).assert_ok();
    assert_eq!(
        pg_rows(&prod, "SELECT count(*) FROM contacts"),
        vec![vec![s("0")]]
    );

    // Single-record test: one contact and one property, with their final ids.
    run(
        dir.path(),
        &[
            "run",
            &pipeline,
            "--quiet",
            "--limit",
            "1",
            "--steps",
            "contacts,properties",
        ],
        &env,
    )
    .assert_ok();
    for (table, columns, expected) in &STABLE_TABLES[..2] {
        let one = prod_rows(&prod, table, columns);
        assert_eq!(one.len(), 1, "{table}");
        let all = pg_rows(&dev, expected);
        assert!(
            all.contains(&one[0]),
            "{table}: {one:?} is no dev row remapped"
        );
    }
    assert_eq!(
        pg_rows(&prod, "SELECT count(*) FROM projects"),
        vec![vec![s("0")]]
    );

    // The full run, in dependency order into enforced foreign keys.
    run(dir.path(), &["run", &pipeline, "--quiet"], &env).assert_ok();
    let mut first = Vec::new();
    for (table, columns, expected) in STABLE_TABLES {
        let actual = prod_rows(&prod, table, columns);
        let expected = pg_rows(&dev, &format!("{expected} ORDER BY 1"));
        assert!(!expected.is_empty(), "{table}");
        assert_eq!(actual, expected, "table {table}");
        first.push(actual);
    }
    assert_eq!(first[5].len(), 300, "quote items");
    // NULL foreign keys stayed NULL, the others point at remapped rows.
    assert_eq!(
        pg_rows(
            &prod,
            "SELECT count(*) FILTER (WHERE homeowner2_contact_id IS NULL),
                    count(*) FILTER (WHERE request_id IS NULL) FROM projects"
        ),
        vec![vec![s("35"), s("23")]]
    );
    assert_eq!(
        pg_rows(
            &prod,
            "SELECT count(*) FROM quote_items i JOIN quotes q ON q.id = i.quote_id
             JOIN projects p ON p.id = q.project_id JOIN contacts c ON c.id = p.agent_contact_id"
        ),
        vec![vec![s("300")]]
    );

    // Rerun: the same ids, so nothing is added and nothing changes.
    run(dir.path(), &["run", &pipeline, "--quiet"], &env).assert_ok();
    for ((table, columns, _), before) in STABLE_TABLES.iter().zip(&first) {
        assert_eq!(
            &prod_rows(&prod, table, columns),
            before,
            "{table} after a rerun"
        );
    }
    // Every remapped table validates against the step's SQL run again.
    run(dir.path(), &["validate", &pipeline], &env).assert_ok();
}

// --- v1_to_v2_users: teachers, parents, students -> users + roles -------------------

/// The V1 source (with the id functions) and the V2 target with its roles.
fn users_databases(name: &str) -> (String, String) {
    let v1 = pg_db(&format!("recipes_{name}_v1"));
    pg_exec(&v1, &data("v1_to_v2_users/v1.sql"));
    pg_exec(&v1, STABLE_ID_SQL);
    let v2 = pg_db(&format!("recipes_{name}_v2"));
    pg_exec(&v2, &data("v1_to_v2_users/v2.sql"));
    (v1, v2)
}

/// Every V2 user computed in V1 by hand: ids, unique emails (first owner by
/// teachers, parents, students and id keeps it, the others get +2, +3),
/// names (the awkward ones spelled out, the rest "First Last"), phones in
/// E.164 (+1 and the digits; the text that is no number gives NULL).
const EXPECTED_USERS: &str = r#"
WITH people AS (
    SELECT 'teachers' AS v1_table, 1 AS precedence, id AS v1_id, full_name, lower(email) AS address, phone FROM teachers
    UNION ALL SELECT 'parents', 2, id, full_name, lower(email), phone FROM parents
    UNION ALL SELECT 'students', 3, id, full_name,
                     COALESCE(lower(email), 'student' || id || '@students.noemail.example'), NULL FROM students
),
numbered AS (
    SELECT *, row_number() OVER (PARTITION BY address ORDER BY precedence, v1_id) AS n FROM people
),
awkward (v1_table, v1_id, first_name, middle_name, last_name) AS (VALUES
    ('teachers', 1, 'Ada', NULL, 'Lovelace'),
    ('teachers', 2, 'Grace', 'Brewster', 'Lee'),
    ('teachers', 3, 'Martin', 'Luther', 'King Jr.'),
    ('teachers', 4, 'Ludwig', NULL, 'van Beethoven'),
    ('parents', 1, 'Ada', NULL, 'Lovelace'),
    ('parents', 2, 'Grace', NULL, 'Lee'),
    ('parents', 3, 'Cher', NULL, NULL),
    ('students', 1, 'Byron', NULL, 'Lovelace'),
    ('students', 2, 'Chastity', NULL, 'Bono'),
    ('students', 3, 'Mary', 'Ann', 'Evans'))
SELECT sid_int('v2', p.v1_table, p.v1_id::text),
       CASE WHEN n = 1 THEN address
            ELSE split_part(address, '@', 1) || '+' || n || '@' || split_part(address, '@', 2) END,
       CASE WHEN a.v1_id IS NULL THEN split_part(full_name, ' ', 1) ELSE a.first_name END,
       a.middle_name,
       CASE WHEN a.v1_id IS NULL THEN split_part(full_name, ' ', 2) ELSE a.last_name END,
       CASE WHEN phone ~ '[0-9]' THEN '+1' || regexp_replace(regexp_replace(phone, '^\+1', ''), '[^0-9]', '', 'g') END,
       p.v1_table, p.v1_id
FROM numbered p LEFT JOIN awkward a ON a.v1_table = p.v1_table AND a.v1_id = p.v1_id
ORDER BY 1
"#;

#[test]
fn recipes_v1_to_v2_users_makes_one_user_per_person_with_roles() {
    let (v1, v2) = users_databases("users");
    let (dir, pipeline) = workdir("v1_to_v2_users", &[]);
    let env = [("V1_DB_URL", v1.as_str()), ("V2_DB_URL", v2.as_str())];
    run(dir.path(), &["run", &pipeline, "--quiet"], &env).assert_ok();

    let users_sql = "SELECT id, email, first_name, middle_name, last_name, phone, v1_table, v1_id
        FROM users ORDER BY id";
    let users = pg_rows(&v2, users_sql);
    assert_eq!(users.len(), 34 + 63 + 93);
    assert_eq!(users, pg_rows(&v1, EXPECTED_USERS));
    // The duplicates, spelled out.
    assert_eq!(
        pg_rows(
            &v2,
            "SELECT v1_table, v1_id, email FROM users
             WHERE email LIKE 'ada%' OR email LIKE 'grace%' OR email LIKE 'teacher11%'
             ORDER BY email COLLATE \"C\""
        ),
        [
            ["parents", "1", "ada+2@school.example"],
            ["students", "1", "ada+3@school.example"],
            ["teachers", "1", "ada@school.example"],
            ["parents", "2", "grace+2@school.example"],
            ["teachers", "2", "grace@school.example"],
            ["parents", "10", "teacher11+2@school.example"],
            ["teachers", "11", "teacher11@school.example"],
        ]
        .map(|r| r.map(s).to_vec())
        .to_vec()
    );
    assert_eq!(
        pg_rows(&v2, "SELECT phone FROM users WHERE v1_table = 'teachers' AND v1_id IN (1, 4) ORDER BY v1_id"),
        vec![vec![s("+12127365000")], vec![None]]
    );

    // Passwords: Argon2id PHC strings, each user its own.
    assert_eq!(
        pg_rows(
            &v2,
            "SELECT count(*), count(DISTINCT password_hash),
                    count(*) FILTER (WHERE password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%')
             FROM users"
        ),
        vec![vec![s("190"), s("190"), s("190")]]
    );

    // Roles, against V2's roles table, and the students' parents.
    assert_eq!(
        pg_rows(
            &v2,
            "SELECT user_id, role_id, school_id FROM user_roles ORDER BY 1, 2"
        ),
        pg_rows(
            &v1,
            "SELECT sid_int('v2', 'teachers', id::text), 1, school_id FROM teachers
             UNION ALL SELECT sid_int('v2', 'parents', id::text), 2, NULL FROM parents
             UNION ALL SELECT sid_int('v2', 'students', id::text), 3, school_id FROM students
             ORDER BY 1, 2"
        )
    );
    assert_eq!(
        pg_rows(
            &v2,
            "SELECT student_user_id, parent_user_id FROM student_parents ORDER BY 1, 2"
        ),
        pg_rows(
            &v1,
            "SELECT sid_int('v2', 'students', id::text), sid_int('v2', 'parents', parent_id::text)
             FROM students WHERE parent_id IS NOT NULL ORDER BY 1, 2"
        )
    );
    assert_eq!(
        pg_rows(&v2, "SELECT count(*) FROM student_parents"),
        vec![vec![s("92")]]
    );

    // A rerun adds nobody and keeps every password.
    let before = pg_rows(&v2, "SELECT id, password_hash FROM users ORDER BY id");
    run(dir.path(), &["run", &pipeline, "--quiet"], &env).assert_ok();
    assert_eq!(
        pg_rows(&v2, "SELECT id, password_hash FROM users ORDER BY id"),
        before
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
    assert!(names.len() >= 6, "{names:?}");
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
            "stable_ids" => {
                let (dev, prod) = stable_id_databases("plan_ids");
                vec![("DEV_DB_URL".into(), dev), ("PROD_DB_URL".into(), prod)]
            }
            "v1_to_v2_users" => {
                let (v1, v2) = users_databases("plan_users");
                vec![("V1_DB_URL".into(), v1), ("V2_DB_URL".into(), v2)]
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
