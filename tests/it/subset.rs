//! `[subset]` end to end on the real servers: a pipeline with only
//! `[connections]` and `[subset]` moves a referentially complete subset.
//! The schema has a diamond (orders reach a customer directly and through
//! the address they ship to), self-references (customer.referred_by,
//! employee.manager_id), a many-to-many join table (order_tag), tables
//! reachable only upward (region, employee, product, tag) and a cycle
//! (customer.primary_address_id <-> address.customer_id). Each target table
//! must hold exactly the rows hand-written SQL computes on the source, and
//! every foreign key of the target must resolve.

use crate::common::{barge, batch_rows, read_parquet, src_dst_pipeline, write_file};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

/// The source schema; the same text runs on PostgreSQL and MariaDB.
const SCHEMA: &str = "
CREATE TABLE region (id int PRIMARY KEY, name varchar(20) NOT NULL);
CREATE TABLE employee (id int PRIMARY KEY, name varchar(20), manager_id int REFERENCES employee (id));
CREATE TABLE customer (id int PRIMARY KEY, name varchar(20), region_id int REFERENCES region (id),
  referred_by int REFERENCES customer (id), rep_id int REFERENCES employee (id), primary_address_id int);
CREATE TABLE address (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customer (id), city varchar(20));
ALTER TABLE customer ADD CONSTRAINT customer_primary_address_fk FOREIGN KEY (primary_address_id) REFERENCES address (id);
CREATE TABLE product (id int PRIMARY KEY, name varchar(20));
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customer (id),
  ship_address_id int REFERENCES address (id), note varchar(20));
CREATE TABLE order_item (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders (id),
  product_id int NOT NULL REFERENCES product (id), qty int);
CREATE TABLE tag (id int PRIMARY KEY, label varchar(20));
CREATE TABLE order_tag (order_id int NOT NULL REFERENCES orders (id), tag_id int NOT NULL REFERENCES tag (id),
  PRIMARY KEY (order_id, tag_id));
CREATE TABLE setting (k varchar(20) PRIMARY KEY, v varchar(20));
CREATE TABLE audit_log (id int PRIMARY KEY, customer_id int REFERENCES customer (id), msg varchar(20));
";

/// The rows: customers 1 and 2 are the subset's roots. Order 103 belongs to
/// customer 3 but ships to customer 1's address (the diamond); order 106
/// ships to customer 7's address; customer 2 was referred by 4, referred by
/// 5, whose primary address belongs to customer 6 (the cycle); customer 8
/// and its rows are outside the subset.
const DATA: &str = "
INSERT INTO region VALUES (1, 'north'), (2, 'south'), (3, 'east'), (4, 'west'), (5, 'far');
INSERT INTO employee VALUES (1, 'ceo', NULL), (2, 'vp', 1), (3, 'rep a', 2), (4, 'rep b', 1),
  (5, 'boss', NULL), (6, 'rep c', 5), (7, 'other', 1), (8, 'rep d', 7);
INSERT INTO customer VALUES (1, 'c1', 1, NULL, 3, NULL), (2, 'c2', 1, NULL, 4, NULL),
  (3, 'c3', 2, NULL, 6, NULL), (4, 'c4', 3, NULL, NULL, NULL), (5, 'c5', NULL, NULL, NULL, NULL),
  (6, 'c6', 4, NULL, NULL, NULL), (7, 'c7', 2, NULL, 5, NULL), (8, 'c8', 5, NULL, 8, NULL);
INSERT INTO address VALUES (10, 1, 'a'), (11, 1, 'b'), (20, 2, 'c'), (30, 3, 'd'), (40, 4, 'e'),
  (60, 6, 'f'), (70, 7, 'g'), (80, 8, 'h');
UPDATE customer SET referred_by = 4 WHERE id = 2;
UPDATE customer SET referred_by = 5 WHERE id = 4;
UPDATE customer SET primary_address_id = 10 WHERE id = 1;
UPDATE customer SET primary_address_id = 20 WHERE id = 2;
UPDATE customer SET primary_address_id = 30 WHERE id = 3;
UPDATE customer SET primary_address_id = 40 WHERE id = 4;
UPDATE customer SET primary_address_id = 60 WHERE id = 5;
UPDATE customer SET primary_address_id = 60 WHERE id = 6;
UPDATE customer SET primary_address_id = 70 WHERE id = 7;
UPDATE customer SET primary_address_id = 80 WHERE id = 8;
INSERT INTO product VALUES (1, 'p1'), (2, 'p2'), (3, 'p3'), (4, 'p4'), (5, 'p5'), (6, 'p6');
INSERT INTO orders VALUES (100, 1, 10, 'x'), (101, 1, NULL, 'x'), (102, 2, 20, 'x'), (103, 3, 11, 'diamond'),
  (104, 3, 30, 'not'), (105, 7, 70, 'not'), (106, 2, 70, 'x'), (107, 8, 80, 'not');
INSERT INTO order_item VALUES (1000, 100, 1, 1), (1001, 100, 2, 1), (1002, 103, 3, 1), (1003, 104, 4, 1),
  (1004, 105, 5, 1), (1005, 106, 1, 2), (1006, 107, 5, 1);
INSERT INTO tag VALUES (1, 't1'), (2, 't2'), (3, 't3'), (4, 't4');
INSERT INTO order_tag VALUES (100, 1), (100, 2), (103, 2), (104, 3), (107, 4), (102, 1);
INSERT INTO setting VALUES ('a', 'one'), ('b', 'two');
INSERT INTO audit_log VALUES (1, 1, 'x'), (2, 7, 'y');
";

/// Hand-written SQL (PostgreSQL and MariaDB) for the keys each table of the
/// subset of customers 1 and 2 must hold: orders selected via the root
/// (directly or through their shipping address), then the parents of every
/// copied row, transitively.
fn expected_sql(table: &str) -> String {
    let with = "WITH RECURSIVE \
        d_orders AS (SELECT id FROM orders WHERE customer_id IN (1, 2) \
            OR ship_address_id IN (SELECT id FROM address WHERE customer_id IN (1, 2))), \
        cust (id) AS ( \
            SELECT id FROM customer WHERE id IN (1, 2) \
            UNION SELECT customer_id FROM orders WHERE id IN (SELECT id FROM d_orders) \
            UNION SELECT a.customer_id FROM address a WHERE a.id IN \
                (SELECT ship_address_id FROM orders WHERE id IN (SELECT id FROM d_orders)) \
            UNION SELECT c2.id FROM cust JOIN customer c ON c.id = cust.id \
                JOIN customer c2 ON c2.id = c.referred_by \
                OR c2.id IN (SELECT a.customer_id FROM address a WHERE a.id = c.primary_address_id)), \
        emp (id) AS ( \
            SELECT rep_id FROM customer WHERE id IN (SELECT id FROM cust) AND rep_id IS NOT NULL \
            UNION SELECT e.manager_id FROM emp JOIN employee e ON e.id = emp.id \
                WHERE e.manager_id IS NOT NULL)";
    let select = match table {
        "customer" => "SELECT id AS x FROM cust",
        "address" => {
            "SELECT id AS x FROM address WHERE customer_id IN (1, 2) \
             OR id IN (SELECT primary_address_id FROM customer WHERE id IN (SELECT id FROM cust)) \
             OR id IN (SELECT ship_address_id FROM orders WHERE id IN (SELECT id FROM d_orders))"
        }
        "employee" => "SELECT id AS x FROM emp",
        "region" => {
            "SELECT region_id AS x FROM customer WHERE id IN (SELECT id FROM cust) AND region_id IS NOT NULL"
        }
        "orders" => "SELECT id AS x FROM d_orders",
        "order_item" => "SELECT id AS x FROM order_item WHERE order_id IN (SELECT id FROM d_orders)",
        "order_tag" => {
            "SELECT CONCAT(order_id, '/', tag_id) AS x FROM order_tag WHERE order_id IN (SELECT id FROM d_orders)"
        }
        "product" => {
            "SELECT product_id AS x FROM order_item WHERE order_id IN (SELECT id FROM d_orders)"
        }
        "tag" => "SELECT tag_id AS x FROM order_tag WHERE order_id IN (SELECT id FROM d_orders)",
        other => panic!("no expected SQL for {other}"),
    };
    format!("{with} SELECT DISTINCT x FROM ({select}) AS k")
}

/// The key column of each table as text (order_tag's two columns joined).
fn key_sql(table: &str) -> String {
    match table {
        "order_tag" => "SELECT CONCAT(order_id, '/', tag_id) FROM order_tag".into(),
        "setting" => "SELECT k FROM setting".into(),
        t => format!("SELECT id FROM {t}"),
    }
}

/// Every foreign key of the schema: (table, column, referenced table).
const FKS: &[(&str, &str, &str)] = &[
    ("employee", "manager_id", "employee"),
    ("customer", "region_id", "region"),
    ("customer", "referred_by", "customer"),
    ("customer", "rep_id", "employee"),
    ("customer", "primary_address_id", "address"),
    ("address", "customer_id", "customer"),
    ("orders", "customer_id", "customer"),
    ("orders", "ship_address_id", "address"),
    ("order_item", "order_id", "orders"),
    ("order_item", "product_id", "product"),
    ("order_tag", "order_id", "orders"),
    ("order_tag", "tag_id", "tag"),
    ("audit_log", "customer_id", "customer"),
];

/// Rows of `table` whose foreign keys reference no row.
fn dangling_sql(table: &str, column: &str, parent: &str) -> String {
    format!(
        "SELECT count(*) FROM {table} c WHERE c.{column} IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
    )
}

fn sorted_keys(rows: Vec<Vec<Option<String>>>) -> Vec<String> {
    let mut keys: Vec<String> = rows
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
    keys.sort_by_key(|k| (k.len(), k.clone()));
    keys.dedup();
    keys
}

/// Tables whose rows follow from the subset in every test.
const FILTERED: &[&str] = &["customer", "address", "orders", "order_item", "order_tag"];

fn pg_source(name: &str) -> String {
    let url = pg_db(name);
    pg_exec(&url, SCHEMA);
    pg_exec(&url, DATA);
    url
}

#[test]
fn mysql_to_postgres_subset_is_exact_and_complete_with_only_referenced_parents() {
    let src = mysql_db("subset_my_src");
    mysql_exec(&src, SCHEMA);
    mysql_exec(&src, DATA);
    let dst = pg_db("subset_pg_dst");
    let dir = tempfile::tempdir().expect("temp dir");
    // The target schema first, with its foreign keys enforced.
    barge(dir.path(), &["schema", "copy", &src, &dst]).assert_ok();
    let pipeline = write_file(
        dir.path(),
        "subset.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"
read_only = true

[connections.dst]
url = "{dst}"

[params]
customer_ids = "1,2"

[subset]
root = "src.customer"
where = "id IN (${{customer_ids}})"
reference = "needed"
skip = ["*.audit_log"]
"#
        ),
    );
    let run = barge(dir.path(), &["run", &pipeline]);
    run.assert_ok();

    for table in FILTERED
        .iter()
        .chain(&["employee", "region", "product", "tag"])
    {
        let expected = sorted_keys(mysql_rows(&src, &expected_sql(table)));
        let actual = sorted_keys(pg_rows(&dst, &key_sql(table)));
        assert_eq!(actual, expected, "table {table}");
    }
    // The hand-computed sets, for the reader (and against a wrong oracle).
    assert_eq!(
        sorted_keys(pg_rows(&dst, "SELECT id FROM customer")),
        ["1", "2", "3", "4", "5", "6", "7"]
    );
    assert_eq!(
        sorted_keys(pg_rows(&dst, "SELECT id FROM orders")),
        ["100", "101", "102", "103", "106"]
    );
    assert_eq!(
        sorted_keys(pg_rows(&dst, "SELECT id FROM employee")),
        ["1", "2", "3", "4", "5", "6"]
    );
    // Nothing references them: not copied; skipped: not copied.
    assert!(pg_rows(&dst, "SELECT k FROM setting").is_empty());
    assert!(pg_rows(&dst, "SELECT id FROM audit_log").is_empty());
    for (table, column, parent) in FKS {
        let dangling = pg_rows(&dst, &dangling_sql(table, column, parent));
        assert_eq!(
            dangling[0][0].as_deref(),
            Some("0"),
            "{table}.{column} -> {parent}"
        );
    }
    // Whole rows, not only keys.
    assert_eq!(
        pg_rows(&dst, "SELECT name, region_id, referred_by, rep_id, primary_address_id FROM customer WHERE id = 2"),
        vec![vec![
            Some("c2".into()),
            Some("1".into()),
            Some("4".into()),
            Some("4".into()),
            Some("20".into())
        ]]
    );

    // A second run changes nothing (insert_ignore, the derived steps' mode),
    // and validation finds the target equal to the derived steps' rows.
    let rerun = barge(dir.path(), &["run", &pipeline, "--validate"]);
    rerun.assert_ok();
    assert!(!rerun.stdout.contains("mismatch"), "{}", rerun.stdout);
    assert_eq!(
        pg_rows(&dst, "SELECT count(*) FROM order_item")[0][0].as_deref(),
        Some("4")
    );
}

#[test]
fn postgres_to_sqlite_subset_copies_reference_tables_whole_when_confirmed() {
    let src = pg_source("subset_pg_sqlite");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("dst.sqlite");
    let dst = format!("sqlite://{}", db.display());
    barge(dir.path(), &["schema", "copy", &src, &dst]).assert_ok();
    let pipeline = src_dst_pipeline(
        dir.path(),
        "subset.toml",
        &src,
        &dst,
        r#"
[subset]
root = "src.customer"
where = "id IN (${customer_ids})"
confirm_rows = 5
skip = ["public.audit_log", "tag"]

[[step]]
target = "dst.setting"
key = "k"
mode = "insert_ignore"
sql = "SELECT k, upper(v) AS v FROM src.setting"
"#,
    );
    let set = "--set=customer_ids=1,2";

    // No terminal and no --yes: the large reference tables are refused by name.
    barge(dir.path(), &["run", &pipeline, set]).assert_fails(
        2,
        &[
            "reference table 'employee' holds about 8 rows",
            "confirm_rows = 5",
            "--yes",
            "skip_large = true",
        ],
    );
    assert!(sqlite_keys(&db, "SELECT id FROM customer").is_empty());

    // The plan: every table with its category, the derived SQL run by the source.
    let plan = barge(dir.path(), &["plan", &pipeline, set, "--force-tables=tag"]);
    plan.assert_ok();
    for needle in [
        "customer [root",
        "address [via root",
        "orders [via root",
        "order_tag [via root",
        "region [reference, 5 rows]",
        "employee [reference, 8 rows]",
        "the run asks before copying it whole",
        "audit_log [skipped]",
        "tag [forced",
        "matches skip, but --force-tables wins",
        "setting [step",
        "WHERE t.\"customer_id\" IN (1, 2) OR t.\"ship_address_id\" IN (10, 11, 20)",
        "pushed to src:",
    ] {
        assert!(
            plan.stdout.contains(needle),
            "plan lacks {needle:?}:\n{}",
            plan.stdout
        );
    }
    // The orders step's filter runs inside PostgreSQL.
    let orders = plan
        .stdout
        .split("\nstep ")
        .find(|s| s.contains("orders -> dst.orders"))
        .expect("orders step in the plan");
    let pushed = orders.split("pushed to src:").nth(1).expect("pushed query");
    assert!(
        pushed.contains("FROM \"public\".\"orders\" WHERE")
            && pushed.contains("\"ship_address_id\" = 10"),
        "{orders}"
    );

    barge(
        dir.path(),
        &["run", &pipeline, set, "--yes", "--force-tables=tag"],
    )
    .assert_ok();
    for table in FILTERED {
        let expected = sorted_keys(pg_rows(&src, &expected_sql(table)));
        assert_eq!(sqlite_keys(&db, &key_sql(table)), expected, "table {table}");
    }
    // Reference tables whole (tag forced over skip), audit_log skipped, and
    // the explicit step in place of the derived one.
    for table in ["region", "employee", "product", "tag"] {
        assert_eq!(
            sqlite_keys(&db, &key_sql(table)),
            sorted_keys(pg_rows(&src, &key_sql(table))),
            "table {table}"
        );
    }
    assert!(sqlite_keys(&db, "SELECT id FROM audit_log").is_empty());
    assert_eq!(sqlite_keys(&db, "SELECT v FROM setting"), ["ONE", "TWO"]);
    for (table, column, parent) in FKS {
        assert_eq!(
            sqlite_keys(&db, &dangling_sql(table, column, parent)),
            ["0"],
            "{table}.{column} -> {parent}"
        );
    }
}

#[test]
fn skip_large_copies_only_the_referenced_rows_of_large_reference_tables() {
    let src = pg_source("subset_pg_large");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("dst.sqlite");
    let dst = format!("sqlite://{}", db.display());
    let pipeline = src_dst_pipeline(
        dir.path(),
        "subset.toml",
        &src,
        &dst,
        r#"
[subset]
root = "src.customer"
where = "id IN (1, 2)"
confirm_rows = 6
skip_large = true
"#,
    );
    barge(dir.path(), &["run", &pipeline]).assert_ok();
    // employee (8 rows) and order_item's product... only what is referenced;
    // region (5 rows) is small: whole.
    assert_eq!(
        sqlite_keys(&db, "SELECT id FROM employee"),
        sorted_keys(pg_rows(&src, &expected_sql("employee")))
    );
    assert_eq!(
        sqlite_keys(&db, "SELECT id FROM region"),
        ["1", "2", "3", "4", "5"]
    );
}

#[test]
fn postgres_to_parquet_subset_writes_the_same_rows() {
    let src = pg_source("subset_pg_parquet");
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = write_file(
        dir.path(),
        "subset.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"

[connections.out]
url = "parquet://out"

[subset]
root = "src.customer"
where = "id IN (1, 2)"
reference = "needed"
"#
        ),
    );
    barge(dir.path(), &["run", &pipeline]).assert_ok();
    for table in FILTERED.iter().chain(&["employee", "region"]) {
        if *table == "order_tag" {
            continue;
        }
        let batch = read_parquet(&dir.path().join(format!("out/{table}.parquet")));
        let column = batch.schema().index_of("id").expect("id column");
        let ids = sorted_keys(batch_rows(&batch.project(&[column]).expect("project")));
        assert_eq!(
            ids,
            sorted_keys(pg_rows(&src, &expected_sql(table))),
            "{table}"
        );
    }
    // Unreferenced under reference = "needed": no file.
    assert!(!dir.path().join("out/setting.parquet").exists());
}

#[test]
fn subset_errors_name_the_table_and_the_fix() {
    let src = pg_source("subset_pg_errors");
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = write_file(
        dir.path(),
        "subset.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"

[connections.dst]
url = "sqlite://dst.sqlite"

[subset]
root = "src.client"
where = "id = 1"
"#
        ),
    );
    barge(dir.path(), &["plan", &pipeline]).assert_fails(
        2,
        &["[subset] root 'src.client' is not a table", "customer"],
    );
}

fn sqlite_keys(path: &std::path::Path, sql: &str) -> Vec<String> {
    if !path.exists() {
        return vec![];
    }
    let conn = rusqlite::Connection::open(path).expect("open sqlite");
    let Ok(mut stmt) = conn.prepare(sql) else {
        return vec![];
    };
    let rows: Vec<Vec<Option<String>>> = stmt
        .query_map([], |r| {
            Ok(vec![Some(match r.get_ref(0)? {
                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            })])
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    sorted_keys(rows)
}

#[test]
fn further_roots_pipeline_fks_and_inferred_fks_are_followed() {
    // No declared foreign key from ticket or login: one comes from
    // [[subset.fk]], the other from the name `user_id` (infer_fks).
    let src = pg_db("subset_pg_roots");
    pg_exec(
        &src,
        "CREATE TABLE account (id int PRIMARY KEY, name text);
         CREATE TABLE users (id bigint PRIMARY KEY, account_id int NOT NULL REFERENCES account (id), name text);
         CREATE TABLE ticket (id int PRIMARY KEY, opened_by bigint, subject text);
         CREATE TABLE login (id int PRIMARY KEY, user_id bigint, at text);
         INSERT INTO account VALUES (1, 'one'), (2, 'two'), (3, 'three');
         INSERT INTO users VALUES (10, 1, 'a'), (11, 1, 'b'), (20, 2, 'seed'), (21, 2, 'other'), (30, 3, 'x');
         INSERT INTO ticket VALUES (1, 10, 's'), (2, 20, 's'), (3, 21, 's'), (4, 30, 's'), (5, NULL, 's');
         INSERT INTO login VALUES (1, 11, 't'), (2, 20, 't'), (3, 30, 't'), (4, 21, 't');",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("dst.sqlite");
    let pipeline = write_file(
        dir.path(),
        "subset.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"

[connections.dst]
url = "sqlite://{}"

[params]
seed_user_ids = [20]

[subset]
root = "src.account"
where = "id = 1"
infer_fks = true

[[subset.roots]]
root = "src.users"
where = "id IN (${{seed_user_ids}})"

[[subset.fk]]
table = "ticket"
columns = "opened_by"
references = "users"
"#,
            db.display()
        ),
    );
    let plan = barge(dir.path(), &["plan", &pipeline]);
    plan.assert_ok();
    for needle in [
        "foreign key ticket(opened_by) -> users(id) ([[subset.fk]])",
        "foreign key login(user_id) -> users(id) (inferred from the name)",
        "users [root",
        "ticket [via root",
    ] {
        assert!(
            plan.stdout.contains(needle),
            "plan lacks {needle:?}:\n{}",
            plan.stdout
        );
    }
    barge(dir.path(), &["run", &pipeline]).assert_ok();
    // Account 1's users and the seed user 20; account 2 only as the seed's parent
    // (its other user 21 is not pulled in).
    assert_eq!(sqlite_keys(&db, "SELECT id FROM account"), ["1", "2"]);
    assert_eq!(sqlite_keys(&db, "SELECT id FROM users"), ["10", "11", "20"]);
    assert_eq!(sqlite_keys(&db, "SELECT id FROM ticket"), ["1", "2"]);
    assert_eq!(sqlite_keys(&db, "SELECT id FROM login"), ["1", "2"]);
}

#[test]
fn the_example_subset_pipeline_parses() {
    let env = [
        ("READ_DB_URL", "mysql://reader@db:3306/starfox"),
        ("WRITE_DB_URL", "mysql://writer@db2:3306/starfox"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let pipeline = barge::config::load_pipeline(
        &crate::common::repo().join("pipelines/customer_subset.toml"),
        &barge::config::LoadOptions {
            sets: vec![("customer_ids".into(), "4,5".into())],
            env: Some(env),
        },
    )
    .expect("the example pipeline loads");
    let subset = pipeline.subset.expect("[subset]");
    assert_eq!(subset.roots[0].where_sql, "id IN (4,5)");
    assert_eq!(subset.roots[1].where_sql, "id IN (1,2)");
    assert!(pipeline.steps.is_empty());
}

#[test]
fn postgres_to_mysql_subset_loads_into_enforced_foreign_keys() {
    // MariaDB checks foreign keys row by row: self-references and the
    // cycle's first table load with its checks off, the rest with them on.
    let src = pg_source("subset_pg_my");
    let dst = mysql_db("subset_my_dst");
    let dir = tempfile::tempdir().expect("temp dir");
    barge(dir.path(), &["schema", "copy", &src, &dst]).assert_ok();
    let pipeline = src_dst_pipeline(
        dir.path(),
        "subset.toml",
        &src,
        &dst,
        r#"
[subset]
root = "src.customer"
where = "id IN (1, 2)"
reference = "needed"
skip = ["audit_log"]
"#,
    );
    barge(dir.path(), &["run", &pipeline]).assert_ok();
    for table in FILTERED
        .iter()
        .chain(&["employee", "region", "product", "tag"])
    {
        assert_eq!(
            sorted_keys(mysql_rows(&dst, &key_sql(table))),
            sorted_keys(pg_rows(&src, &expected_sql(table))),
            "table {table}"
        );
    }
    for (table, column, parent) in FKS {
        assert_eq!(
            mysql_rows(&dst, &dangling_sql(table, column, parent))[0][0].as_deref(),
            Some("0"),
            "{table}.{column} -> {parent}"
        );
    }
}

#[test]
fn many_keys_on_one_path_become_semi_joins_run_by_the_source() {
    let src = pg_db("subset_pg_many");
    pg_exec(
        &src,
        "CREATE TABLE account (id int PRIMARY KEY, name text);
         CREATE TABLE invoice (id int PRIMARY KEY, account_id int NOT NULL REFERENCES account (id));
         CREATE TABLE invoice_line (id int PRIMARY KEY, invoice_id int NOT NULL REFERENCES invoice (id));
         INSERT INTO account VALUES (1, 'big'), (2, 'small');
         INSERT INTO invoice SELECT g, CASE WHEN g <= 12000 THEN 1 ELSE 2 END FROM generate_series(1, 12010) g;
         INSERT INTO invoice_line SELECT g, g FROM generate_series(1, 12010) g;",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("dst.sqlite");
    let pipeline = write_file(
        dir.path(),
        "subset.toml",
        &format!(
            r#"
[connections.src]
url = "{src}"

[connections.dst]
url = "sqlite://{}"

[subset]
root = "src.account"
where = "id = 1"
"#,
            db.display()
        ),
    );
    let plan = barge(dir.path(), &["plan", &pipeline]);
    plan.assert_ok();
    assert!(
        plan.stdout.contains("12000 keys are too many to list")
            && plan.stdout.contains(
                "WHERE t.\"invoice_id\" IN (SELECT s1.\"id\" FROM \"src\".\"public\".\"invoice\" s1 WHERE s1.\"account_id\" IN"
            ),
        "{}",
        plan.stdout
    );
    let line = plan
        .stdout
        .split("\nstep ")
        .find(|s| s.contains("invoice_line -> dst.invoice_line"))
        .expect("invoice_line step");
    let pushed = line.split("pushed to src:").nth(1).expect("pushed query");
    assert!(
        pushed.contains("\"account\""),
        "one query joins all three tables:\n{line}"
    );
    barge(dir.path(), &["run", &pipeline]).assert_ok();
    assert_eq!(
        sqlite_keys(&db, "SELECT count(*) FROM invoice_line"),
        ["12000"]
    );
    assert_eq!(
        sqlite_keys(&db, "SELECT count(*) FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id WHERE i.account_id = 1"),
        ["12000"]
    );
}
