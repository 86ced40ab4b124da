//! Whole sub-queries over one connection (joins, aggregates, semi and anti
//! joins) run inside the source engine: `barge plan` shows the SQL, and the
//! target holds exactly what the same query gives when run in the source.
//! Parts the engine would evaluate differently (text under a collation that
//! does not compare bytes: MySQL's `_ci`, SQLite's NOCASE and RTRIM,
//! DuckDB's nocase; FULL JOIN on MySQL; functions) stay in DataFusion, and
//! literals keep their backslashes.

use crate::common::{barge, write_file};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

/// Two tables every engine creates alike; codes differ from each other only
/// in case, and some keys are NULL or dangle.
const SHOP: &str = "
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, region INT, code VARCHAR(5), active BOOLEAN);
CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT, qty INT, code VARCHAR(5));
INSERT INTO customers VALUES (1, 'ann', 1, 'A', TRUE), (2, 'bob', 2, 'b', FALSE), (3, 'cy', 1, NULL, FALSE), (4, 'dee', NULL, 'D', NULL);
INSERT INTO orders VALUES (10, 1, 5, 'a'), (11, 1, 7, 'A'), (12, 2, 1, 'B'), (13, 2, NULL, 'b'),
  (14, 3, 4, NULL), (15, NULL, 9, 'd'), (16, 9, 2, 'x');
";

/// Steps whose whole query runs in the source, with the SQL each must show.
const PUSHED: &[(&str, &str, &str)] = &[
    (
        "joined",
        "SELECT o.id, c.name, o.qty FROM src.orders o JOIN src.customers c ON c.id = o.customer_id WHERE c.region = 1",
        "INNER JOIN",
    ),
    (
        "totals",
        "SELECT c.region, count(*) AS n, count(o.qty) AS nq, sum(o.qty) AS q, min(o.id) AS lo, max(o.id) AS hi FROM src.orders o JOIN src.customers c ON c.id = o.customer_id GROUP BY c.region",
        "GROUP BY",
    ),
    (
        "buyers",
        "SELECT c.id FROM src.customers c WHERE c.id IN (SELECT customer_id FROM src.orders WHERE qty > 4)",
        "WHERE EXISTS",
    ),
    (
        "idle",
        "SELECT c.id FROM src.customers c WHERE NOT EXISTS (SELECT 1 FROM src.orders o WHERE o.customer_id = c.id)",
        "WHERE NOT EXISTS",
    ),
    (
        "every_order",
        "SELECT o.id, c.name FROM src.orders o LEFT JOIN src.customers c ON c.id = o.customer_id",
        "LEFT JOIN",
    ),
    (
        "regions",
        "SELECT count(DISTINCT region) AS n FROM src.customers",
        "GROUP BY",
    ),
];

fn pipeline(src: &str, dst: &str, steps: &[(&str, &str)]) -> String {
    let mut text = format!(
        "[connections.src]\nurl = \"{src}\"\nread_only = true\n\n[connections.dst]\nurl = \"{dst}\"\n\n[defaults]\nmode = \"replace\"\n"
    );
    for (name, sql) in steps {
        text.push_str(&format!(
            "\n[[step]]\ntarget = \"dst.{name}\"\nsql = \"{sql}\"\n"
        ));
    }
    text
}

/// The SQL `barge plan` says step `name` sends to its source.
fn plan_of<'a>(plan: &'a str, name: &str) -> &'a str {
    let start = plan
        .find(&format!(": {name} -> "))
        .unwrap_or_else(|| panic!("no step {name} in plan:\n{plan}"));
    let step = &plan[start..];
    let pushed = step
        .find("pushed to src:")
        .unwrap_or_else(|| panic!("step {name} sends no SQL:\n{step}"));
    let step = &step[pushed..];
    &step[..step.find("output columns:").unwrap_or(step.len())]
}

fn sorted(mut rows: Vec<Vec<Option<String>>>) -> Vec<Vec<Option<String>>> {
    rows.sort();
    rows
}

#[test]
fn pushdown_postgres_runs_joins_and_aggregates_in_the_source() {
    let src = pg_db("pushdown_pg_src");
    let dst = pg_db("pushdown_pg_dst");
    pg_exec(&src, SHOP);
    let dir = tempfile::tempdir().unwrap();
    let mut steps: Vec<(&str, &str)> = PUSHED.iter().map(|(n, s, _)| (*n, *s)).collect();
    let all_pairs = "SELECT c.id AS cid, o.id AS oid FROM src.customers c FULL JOIN src.orders o ON o.customer_id = c.id";
    let shout = "SELECT upper(c.name) AS n, o.id FROM src.orders o JOIN src.customers c ON c.id = o.customer_id";
    // PostgreSQL has no max(boolean): that aggregate runs in DataFusion.
    let flags = "SELECT region, max(active) AS any_active FROM src.customers GROUP BY region";
    steps.push(("all_pairs", all_pairs));
    steps.push(("shout", shout));
    steps.push(("flags", flags));
    let file = write_file(dir.path(), "p.toml", &pipeline(&src, &dst, &steps));

    let plan = barge(dir.path(), &["plan", &file]);
    plan.assert_ok();
    for (name, _, shows) in PUSHED {
        let step = plan_of(&plan.stdout, name);
        assert!(step.contains(shows), "{name} should push {shows}:\n{step}");
    }
    assert!(plan_of(&plan.stdout, "all_pairs").contains("FULL JOIN"));
    let shout_plan = plan_of(&plan.stdout, "shout");
    assert!(shout_plan.contains("INNER JOIN"), "{shout_plan}");
    assert!(
        !shout_plan.to_lowercase().contains("upper("),
        "{shout_plan}"
    );

    barge(dir.path(), &["run", &file, "-q"]).assert_ok();
    for (name, sql) in &steps[..PUSHED.len() + 1] {
        let want = sorted(pg_rows(&src, &sql.replace("src.", "")));
        let got = sorted(pg_rows(&dst, &format!("SELECT * FROM {name}")));
        assert_eq!(got, want, "step {name}");
    }
    assert_eq!(
        pg_rows(&dst, "SELECT count(*) FROM all_pairs"),
        [[Some("8".into())]]
    );
    assert_eq!(
        sorted(pg_rows(&dst, "SELECT n, id FROM shout")),
        sorted(pg_rows(
            &src,
            "SELECT upper(c.name), o.id FROM orders o JOIN customers c ON c.id = o.customer_id"
        ))
    );
}

#[test]
fn pushdown_mysql_runs_joins_and_aggregates_in_the_source() {
    let src = mysql_db("pushdown_my_src");
    let dst = mysql_db("pushdown_my_dst");
    mysql_exec(&src, SHOP);
    let dir = tempfile::tempdir().unwrap();
    let steps: Vec<(&str, &str)> = PUSHED.iter().map(|(n, s, _)| (*n, *s)).collect();
    let file = write_file(dir.path(), "p.toml", &pipeline(&src, &dst, &steps));

    let plan = barge(dir.path(), &["plan", &file]);
    plan.assert_ok();
    for (name, _, shows) in PUSHED {
        let step = plan_of(&plan.stdout, name);
        assert!(step.contains(shows), "{name} should push {shows}:\n{step}");
    }
    barge(dir.path(), &["run", &file, "-q"]).assert_ok();
    for (name, sql) in &steps {
        let want = sorted(mysql_rows(&src, &sql.replace("src.", "")));
        let got = sorted(mysql_rows(&dst, &format!("SELECT * FROM {name}")));
        assert_eq!(got, want, "step {name}");
    }
}

#[test]
fn pushdown_keeps_in_datafusion_what_mysql_would_evaluate_differently() {
    let src = mysql_db("pushdown_my_exact_src");
    let dst = mysql_db("pushdown_my_exact_dst");
    mysql_exec(&src, SHOP);
    let dir = tempfile::tempdir().unwrap();
    // MySQL's default collation matches 'a' to 'A'; barge compares text
    // byte for byte, so only identical codes join.
    let by_code =
        "SELECT o.id, c.id AS cid FROM src.orders o JOIN src.customers c ON c.code = o.code";
    // MySQL has no FULL JOIN.
    let all_pairs = "SELECT c.id AS cid, o.id AS oid FROM src.customers c FULL JOIN src.orders o ON o.customer_id = c.id";
    let file = write_file(
        dir.path(),
        "p.toml",
        &pipeline(
            &src,
            &dst,
            &[("by_code", by_code), ("all_pairs", all_pairs)],
        ),
    );
    let plan = barge(dir.path(), &["plan", &file]);
    plan.assert_ok();
    for name in ["by_code", "all_pairs"] {
        let step = plan_of(&plan.stdout, name);
        assert!(
            !step.contains("JOIN ("),
            "{name} must join in DataFusion:\n{step}"
        );
    }
    barge(dir.path(), &["run", &file, "-q"]).assert_ok();
    assert_eq!(
        sorted(mysql_rows(&dst, "SELECT id, cid FROM by_code")),
        [
            [Some("11".to_string()), Some("1".to_string())],
            [Some("13".to_string()), Some("2".to_string())]
        ]
    );
    // The same join run by MySQL itself would match five rows.
    assert_eq!(
        mysql_rows(
            &src,
            "SELECT count(*) FROM orders o JOIN customers c ON c.code = o.code"
        ),
        [[Some("5".to_string())]]
    );
    assert_eq!(
        mysql_rows(
            &dst,
            "SELECT count(*), count(cid), count(oid) FROM all_pairs"
        ),
        [[
            Some("8".to_string()),
            Some("6".to_string()),
            Some("7".to_string())
        ]]
    );
}

#[test]
fn pushdown_sqlite_joins_on_text_it_compares_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.sqlite");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(SHOP)
        .unwrap();
    // SQLite compares text byte for byte (BINARY collation), like barge:
    // the join on text runs in SQLite and matches only identical codes.
    let by_code =
        "SELECT o.id, c.id AS cid FROM src.orders o JOIN src.customers c ON c.code = o.code";
    let totals = "SELECT c.code, count(*) AS n, sum(o.qty) AS q FROM src.orders o JOIN src.customers c ON c.id = o.customer_id GROUP BY c.code";
    let file = write_file(
        dir.path(),
        "p.toml",
        &pipeline(
            &format!("sqlite://{}", db.display()),
            "parquet://out",
            &[("by_code", by_code), ("totals", totals)],
        ),
    );
    let plan = barge(dir.path(), &["plan", &file]);
    plan.assert_ok();
    assert!(plan_of(&plan.stdout, "by_code").contains("INNER JOIN"));
    assert!(plan_of(&plan.stdout, "totals").contains("GROUP BY"));
    barge(dir.path(), &["run", &file, "-q"]).assert_ok();
    let by_code = crate::common::read_parquet(&dir.path().join("out/by_code.parquet"));
    assert_eq!(
        sorted(crate::common::batch_rows(&by_code)),
        [
            [Some("11".to_string()), Some("1".to_string())],
            [Some("13".to_string()), Some("2".to_string())]
        ]
    );
    let totals = crate::common::read_parquet(&dir.path().join("out/totals.parquet"));
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        sorted(crate::common::batch_rows(&totals)),
        [
            [None, some("1"), some("4")],
            [some("A"), some("2"), some("12")],
            [some("b"), some("2"), some("1")]
        ]
    );
}

/// Steps over `people`, whose rows 'abc' (id 1) and 'ABC' (id 2) differ
/// only in case, 'abc ' (id 4) by a trailing space, 'abd' is id 3: `name`
/// compares under a case-insensitive collation, `code` byte for byte.
fn collated_steps() -> Vec<(&'static str, &'static str)> {
    vec![
        ("by_name", "SELECT id FROM src.people WHERE name = 'abc'"),
        (
            "by_name_in",
            "SELECT id FROM src.people WHERE name IN ('abc', 'zzz')",
        ),
        ("name_below", "SELECT id FROM src.people WHERE name < 'abc'"),
        ("by_code", "SELECT id FROM src.people WHERE code = 'abc'"),
        (
            "names",
            "SELECT name, count(*) AS n FROM src.people GROUP BY name",
        ),
        (
            "codes",
            "SELECT code, count(*) AS n FROM src.people GROUP BY code",
        ),
    ]
}

/// Checks what `barge plan` pushed and what the steps of
/// [`collated_steps`] wrote to `parquet://out`, against DataFusion's byte
/// comparison. `name` is the collated column.
fn assert_collated_results(dir: &std::path::Path, plan: &str) {
    for step in ["by_name", "by_name_in", "name_below"] {
        let sql = plan_of(plan, step);
        assert!(
            !sql.contains("'abc'"),
            "{step}: a filter on a collated column must stay in DataFusion:\n{sql}"
        );
    }
    let by_code = plan_of(plan, "by_code");
    assert!(
        by_code.contains("\"code\" = 'abc'"),
        "by_code: a filter on a byte-compared column is pushed:\n{by_code}"
    );
    assert!(
        !plan_of(plan, "names").contains("GROUP BY"),
        "names: grouping a collated column stays in DataFusion:\n{plan}"
    );
    assert!(
        plan_of(plan, "codes").contains("GROUP BY"),
        "codes: grouping a byte-compared column is pushed:\n{plan}"
    );

    let rows = |step: &str| {
        let batch = crate::common::read_parquet(&dir.join(format!("out/{step}.parquet")));
        sorted(crate::common::batch_rows(&batch))
    };
    let ids = |ids: &[&str]| -> Vec<Vec<Option<String>>> {
        ids.iter().map(|i| vec![Some(i.to_string())]).collect()
    };
    let some = |s: &str| Some(s.to_string());
    assert_eq!(rows("by_name"), ids(&["1"]));
    assert_eq!(rows("by_name_in"), ids(&["1"]));
    // Bytes: 'ABC' < 'abc' (case-insensitively, nothing is below 'abc').
    assert_eq!(rows("name_below"), ids(&["2"]));
    assert_eq!(rows("by_code"), ids(&["1"]));
    let groups = [
        vec![some("ABC"), some("1")],
        vec![some("abc"), some("1")],
        vec![some("abc "), some("1")],
        vec![some("abd"), some("1")],
    ];
    assert_eq!(rows("names"), groups);
    assert_eq!(rows("codes"), groups);
}

#[test]
fn pushdown_sqlite_keeps_text_of_nocase_and_rtrim_columns_in_datafusion() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("people.sqlite");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE, code TEXT, \
               label TEXT COLLATE RTRIM);
             INSERT INTO people VALUES (1, 'abc', 'abc', 'abc'), (2, 'ABC', 'ABC', 'ABC'),
               (3, 'abd', 'abd', 'abd'), (4, 'abc ', 'abc ', 'abc ');",
        )
        .unwrap();
    let mut steps = collated_steps();
    steps.push(("by_label", "SELECT id FROM src.people WHERE label = 'abc'"));
    let file = write_file(
        dir.path(),
        "p.toml",
        &pipeline(
            &format!("sqlite://{}", db.display()),
            "parquet://out",
            &steps,
        ),
    );
    let plan = barge(dir.path(), &["plan", &file]);
    plan.assert_ok();
    let by_label = plan_of(&plan.stdout, "by_label");
    assert!(
        !by_label.contains("'abc'"),
        "RTRIM stays in DataFusion:\n{by_label}"
    );
    barge(dir.path(), &["run", &file, "-q"]).assert_ok();
    assert_collated_results(dir.path(), &plan.stdout);
    // RTRIM would match 'abc ' too.
    let batch = crate::common::read_parquet(&dir.path().join("out/by_label.parquet"));
    assert_eq!(crate::common::batch_rows(&batch), [[Some("1".to_string())]]);
}

#[test]
fn pushdown_duckdb_keeps_text_of_collated_columns_in_datafusion() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("people.duckdb");
    let conn = duckdb::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR COLLATE nocase, code VARCHAR);
         INSERT INTO people VALUES (1, 'abc', 'abc'), (2, 'ABC', 'ABC'), (3, 'abd', 'abd'),
           (4, 'abc ', 'abc ');",
    )
    .unwrap();
    drop(conn);
    let file = write_file(
        dir.path(),
        "p.toml",
        &pipeline(
            &format!("duckdb://{}", db.display()),
            "parquet://out",
            &collated_steps(),
        ),
    );
    let plan = barge(dir.path(), &["plan", &file]);
    plan.assert_ok();
    barge(dir.path(), &["run", &file, "-q"]).assert_ok();
    assert_collated_results(dir.path(), &plan.stdout);
}

#[test]
fn pushdown_mysql_sends_backslashes_in_literals_escaped() {
    let src = mysql_db("pushdown_my_backslash_src");
    // Built with CHAR() so the rows do not depend on how this session reads
    // backslashes: `C:\temp`, `C:\\temp`, `C:<tab>emp` (what `'C:\temp'`
    // means to MySQL), `C:temp`; and a column compared by case.
    mysql_exec(
        &src,
        "CREATE TABLE files (id INT PRIMARY KEY, path VARCHAR(50) COLLATE utf8mb4_nopad_bin,
           folded VARCHAR(50) COLLATE utf8mb4_general_ci);
         INSERT INTO files VALUES
           (1, CONCAT('C:', CHAR(92), 'temp'), 'abc'),
           (2, CONCAT('C:', CHAR(92), CHAR(92), 'temp'), 'ABC'),
           (3, CONCAT('C:', CHAR(9), 'emp'), 'x'),
           (4, 'C:temp', 'y');",
    );
    let dir = tempfile::tempdir().unwrap();
    // TOML literal strings: the step SQL holds the backslashes as written,
    // and DataFusion reads no escapes in '...'.
    let text = format!(
        "[connections.src]\nurl = \"{src}\"\nread_only = true\n\n\
         [connections.dst]\nurl = \"parquet://out\"\n\n\
         [[step]]\ntarget = \"dst.one\"\nsql = '''SELECT id FROM src.files WHERE path = 'C:\\temp' '''\n\n\
         [[step]]\ntarget = \"dst.two\"\nsql = '''SELECT id FROM src.files WHERE path = 'C:\\\\temp' '''\n\n\
         [[step]]\ntarget = \"dst.folded\"\nsql = '''SELECT id FROM src.files WHERE folded = 'abc' '''\n"
    );
    let file = write_file(dir.path(), "p.toml", &text);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains(r"path = 'C:\temp' '''"),
        "the step SQL holds one backslash"
    );
    let plan = barge(dir.path(), &["plan", &file]);
    plan.assert_ok();
    let one = plan_of(&plan.stdout, "one");
    assert!(one.contains(r"`path` = 'C:\\temp'"), "{one}");
    let two = plan_of(&plan.stdout, "two");
    assert!(two.contains(r"`path` = 'C:\\\\temp'"), "{two}");
    let folded = plan_of(&plan.stdout, "folded");
    assert!(!folded.contains("'abc'"), "{folded}");

    barge(dir.path(), &["run", &file, "-q"]).assert_ok();
    for (step, id) in [("one", "1"), ("two", "2"), ("folded", "1")] {
        let batch = crate::common::read_parquet(&dir.path().join(format!("out/{step}.parquet")));
        assert_eq!(
            crate::common::batch_rows(&batch),
            [[Some(id.to_string())]],
            "step {step}"
        );
    }
}
