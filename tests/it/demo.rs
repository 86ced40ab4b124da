//! The demo pipeline end to end: SQLite shop -> DuckDB in a new shape, plus a
//! Parquet export. Every target table is read back and compared with the
//! source, row by row.

use crate::common::{
    barge, batch_rows, duckdb_rows, read_parquet, repo, sqlite_rows, workdir_with_shop,
};

type Row = Vec<Option<String>>;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn demo_moves_the_shop_into_duckdb_in_its_new_shape() {
    let dir = workdir_with_shop();
    let pipeline = repo().join("pipelines/demo.toml");
    let out = barge(
        dir.path(),
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--quiet",
            "--report",
            "report.json",
        ],
    );
    out.assert_ok();
    let src = dir.path().join("data/shop.sqlite");
    let dst = dir.path().join("out/demo/shop.duckdb");

    // A rename: categories.id -> category_id.
    assert_eq!(
        duckdb_rows(
            &dst,
            "SELECT category_id::VARCHAR, name FROM categories ORDER BY category_id"
        ),
        sqlite_rows(&src, "SELECT id, name FROM categories ORDER BY id"),
    );

    // Category names looked up to ids through the target's categories; prices exact.
    let products = duckdb_rows(
        &dst,
        "SELECT product_id::VARCHAR, sku, name, category_id::VARCHAR, price::VARCHAR,
                weight_kg::VARCHAR, discontinued::VARCHAR FROM products ORDER BY product_id",
    );
    let expected: Vec<Row> = sqlite_rows(
        &src,
        "SELECT p.id, p.sku, p.title, c.id, printf('%.2f', p.price), p.weight_kg,
                CASE p.discontinued WHEN 1 THEN 'true' ELSE 'false' END
         FROM products p JOIN categories c ON c.name = p.category_name ORDER BY p.id",
    );
    assert_eq!(products.len(), 200);
    assert_eq!(products, expected);

    // Customers filtered by the params (1..=250), timestamps kept.
    assert_eq!(
        duckdb_rows(
            &dst,
            "SELECT customer_id::VARCHAR, first_name, last_name, email, country,
                    strftime(created_at, '%Y-%m-%d %H:%M:%S') FROM customers ORDER BY customer_id",
        ),
        sqlite_rows(
            &src,
            "SELECT id, first_name, last_name, email, country, created_at
             FROM customers WHERE id BETWEEN 1 AND 250 ORDER BY id",
        ),
    );

    // Orders: status strings mapped to ids, notes (tabs, newlines, emoji) intact.
    let orders = duckdb_rows(
        &dst,
        "SELECT order_id::VARCHAR, customer_id::VARCHAR, status_id::VARCHAR,
                strftime(ordered_at, '%Y-%m-%d %H:%M:%S'), ship_date::VARCHAR, note
         FROM orders ORDER BY order_id",
    );
    let status_id = |s: &str| match s {
        "NEW" => "1",
        "PAID" => "2",
        "SHIPPED" => "3",
        "DELIVERED" => "4",
        "CANCELLED" => "5",
        other => panic!("unexpected status {other}"),
    };
    let expected: Vec<Row> = sqlite_rows(
        &src,
        "SELECT id, customer_id, status, ordered_at, ship_date, note
         FROM orders WHERE customer_id BETWEEN 1 AND 250 ORDER BY id",
    )
    .into_iter()
    .map(|mut r| {
        r[2] = r[2].as_deref().map(|v| status_id(v).to_string());
        r
    })
    .collect();
    assert!(expected.len() > 500, "the demo moves a few hundred orders");
    assert_eq!(orders, expected);

    // Order lines of those orders, with a computed total.
    assert_eq!(
        duckdb_rows(
            &dst,
            "SELECT order_id::VARCHAR, line_no::VARCHAR, product_id::VARCHAR, quantity::VARCHAR,
                    unit_price::VARCHAR, line_total::VARCHAR FROM order_lines ORDER BY order_id, line_no",
        ),
        sqlite_rows(
            &src,
            "SELECT l.order_id, l.line_no, l.product_id, l.quantity, printf('%.2f', l.unit_price),
                    printf('%.2f', l.quantity * l.unit_price)
             FROM order_lines l JOIN orders o ON o.id = l.order_id
             WHERE o.customer_id BETWEEN 1 AND 250 ORDER BY l.order_id, l.line_no",
        ),
    );

    // The Parquet export equals the same aggregate computed by DuckDB itself.
    let export = dir.path().join("out/demo/export/order_totals.parquet");
    assert!(export.exists(), "export written to {}", export.display());
    let exported = batch_rows(&read_parquet(&export));
    let recomputed = duckdb_rows(
        &dst,
        "SELECT o.order_id::VARCHAR, o.customer_id::VARCHAR, o.status_id::VARCHAR, count(*)::VARCHAR,
                sum(l.line_total)::VARCHAR
         FROM orders o JOIN order_lines l ON l.order_id = o.order_id
         GROUP BY o.order_id, o.customer_id, o.status_id ORDER BY o.order_id",
    );
    assert_eq!(exported, recomputed);

    // The report counts what landed.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    let written = |name: &str| {
        steps.iter().find(|s| s["name"] == name).unwrap()["rows_written"]
            .as_u64()
            .unwrap()
    };
    assert!(steps.iter().all(|s| s["status"] == "succeeded"));
    assert_eq!(written("products"), 200);
    assert_eq!(written("orders"), expected.len() as u64);
    assert_eq!(written("order_totals_export"), expected.len() as u64);
}

#[test]
fn demo_params_from_the_command_line_and_rerun_replaces() {
    let dir = workdir_with_shop();
    let pipeline = repo().join("pipelines/demo.toml");
    let pipeline = pipeline.to_str().unwrap();
    barge(dir.path(), &["run", pipeline, "--quiet"]).assert_ok();
    barge(
        dir.path(),
        &["run", pipeline, "--quiet", "--set", "last_customer=5"],
    )
    .assert_ok();
    let dst = dir.path().join("out/demo/shop.duckdb");
    assert_eq!(
        duckdb_rows(
            &dst,
            "SELECT count(*)::VARCHAR, max(customer_id)::VARCHAR FROM orders"
        ),
        vec![vec![s("13"), s("5")]]
    );
    assert_eq!(
        duckdb_rows(&dst, "SELECT count(*)::VARCHAR FROM order_lines"),
        vec![vec![s("36")]]
    );
}

#[test]
fn dry_run_counts_source_rows_and_writes_nothing() {
    let dir = workdir_with_shop();
    let pipeline = repo().join("pipelines/demo.toml");
    let out = barge(
        dir.path(),
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--dry-run",
            "--report",
            "plan.json",
            "--set",
            "last_customer=5",
        ],
    );
    out.assert_ok();
    assert!(!dir
        .path()
        .join("out/demo/export/order_totals.parquet")
        .exists());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    let orders = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "orders")
        .unwrap()
        .clone();
    assert_eq!(orders["status"], "planned");
    assert_eq!(orders["rows_read"], 13);
    assert!(orders["target_statements"][0]
        .as_str()
        .unwrap()
        .starts_with("CREATE TABLE"));
    assert!(
        !dir.path().join("out").exists(),
        "a dry run creates no file"
    );
}

#[test]
fn limit_moves_n_rows_per_step() {
    let dir = workdir_with_shop();
    let pipeline = repo().join("pipelines/demo.toml");
    barge(
        dir.path(),
        &["run", pipeline.to_str().unwrap(), "--quiet", "--limit", "3"],
    )
    .assert_ok();
    let dst = dir.path().join("out/demo/shop.duckdb");
    for table in ["categories", "customers", "orders", "order_lines"] {
        assert_eq!(
            duckdb_rows(&dst, &format!("SELECT count(*)::VARCHAR FROM {table}")),
            vec![vec![s("3")]],
            "{table}"
        );
    }
}

#[test]
fn plan_shows_order_pushdown_and_ddl() {
    let dir = workdir_with_shop();
    let pipeline = repo().join("pipelines/demo.toml");
    let out = barge(dir.path(), &["plan", pipeline.to_str().unwrap()]);
    out.assert_ok();
    let text = &out.stdout;
    // products waits for categories, whose target it reads.
    assert!(text.contains("products -> dst.products"), "{text}");
    assert!(text.contains("after categories"), "{text}");
    // The customer filter runs inside SQLite.
    assert!(text.contains("pushed to src:"), "{text}");
    assert!(
        text.contains("WHERE (\"id\" >= 1 AND \"id\" <= 250)") || text.contains("\"id\" >= 1"),
        "{text}"
    );
    assert!(text.contains("CREATE TABLE"), "{text}");
    // Nothing was written.
    assert!(!dir.path().join("out").exists(), "plan creates no file");
}
