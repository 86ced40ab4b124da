//! A step joining tables of three engines (SQLite, MariaDB, PostgreSQL), so
//! DataFusion runs the join, the grouping with `count(DISTINCT ...)` and a
//! decimal `sum`, and a window function; its batches reach every target
//! engine in the types the plan gave the target (a decimal sum's physical
//! precision differs from its planned one). The values read back from each
//! target equal the ones computed here from the same rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::{barge, batch_rows, duckdb_rows, read_parquet, sqlite_rows, write_file};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

type Rows = Vec<Vec<Option<String>>>;

/// SQLite: customer id and region.
const CUSTOMERS: &[(i64, &str)] = &[
    (1, "north"),
    (2, "north"),
    (3, "south"),
    (4, "south"),
    (5, "west"),
];

/// MariaDB: order id, customer id (99 has no customer), channel.
const ORDERS: &[(i64, i64, &str)] = &[
    (10, 1, "web"),
    (11, 1, "shop"),
    (12, 2, "web"),
    (13, 3, "web"),
    (14, 4, "shop"),
    (15, 4, "shop"),
    (16, 5, "web"),
    (17, 99, "web"),
    (18, 3, "phone"),
];

/// PostgreSQL: order id and quantity in hundredths (NUMERIC(12,2)).
const LINES: &[(i64, i64)] = &[
    (10, 150),
    (10, 225),
    (11, 1000),
    (12, 75),
    (12, 10001),
    (13, 310),
    (14, 400),
    (15, 400),
    (16, 777),
    (17, 100),
    (18, 99999999),
];

/// The step: per region and channel, the distinct buyers, the lines, the
/// summed quantity, and the channel's rank in its region by quantity.
const STEP_SQL: &str = "SELECT c.region, o.channel, count(DISTINCT o.customer_id) AS buyers, \
    count(*) AS line_count, sum(l.qty) AS qty, \
    row_number() OVER (PARTITION BY c.region ORDER BY sum(l.qty) DESC, o.channel) AS rank_in_region \
    FROM pg.order_lines l JOIN my.orders o ON o.id = l.order_id JOIN lite.customers c ON c.id = o.customer_id \
    GROUP BY c.region, o.channel";

/// The columns every target is read back in.
const COLUMNS: &str = "region, channel, buyers, line_count, qty, rank_in_region";

/// Hundredths as a decimal with two places.
fn hundredths(v: i64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

/// The step's rows, computed from the constants, sorted; numbers as
/// [`normalized`] writes them.
fn expected() -> Rows {
    let region: BTreeMap<i64, &str> = CUSTOMERS.iter().copied().collect();
    // (region, channel) -> (buyers, lines, hundredths)
    let mut groups: BTreeMap<(&str, &str), (BTreeSet<i64>, i64, i64)> = BTreeMap::new();
    for &(order, qty) in LINES {
        let Some(&(_, customer, channel)) = ORDERS.iter().find(|o| o.0 == order) else {
            continue;
        };
        let Some(&r) = region.get(&customer) else {
            continue;
        };
        let g = groups.entry((r, channel)).or_default();
        g.0.insert(customer);
        g.1 += 1;
        g.2 += qty;
    }
    let mut rows = Vec::new();
    for (&(r, channel), (buyers, lines, qty)) in &groups {
        let rank = groups
            .iter()
            .filter(|((r2, c2), (_, _, q2))| {
                *r2 == r && (*q2 > *qty || (*q2 == *qty && *c2 < channel))
            })
            .count()
            + 1;
        rows.push(vec![
            Some(r.to_string()),
            Some(channel.to_string()),
            Some(format!("{}.00", buyers.len())),
            Some(format!("{lines}.00")),
            Some(hundredths(*qty)),
            Some(format!("{rank}.00")),
        ]);
    }
    rows.sort();
    rows
}

/// `rows` with every number written with two decimal places, sorted.
fn normalized(rows: Rows) -> Rows {
    let mut rows: Rows = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| {
                    v.map(|s| {
                        let t = s.trim();
                        let numeric = t
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
                        match t.parse::<f64>().ok().filter(|_| numeric) {
                            Some(n) => format!("{n:.2}"),
                            None => s,
                        }
                    })
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// The rows of a CSV file with a header (empty fields as NULL).
fn csv_rows(path: &Path) -> Rows {
    let mut reader = csv::Reader::from_path(path).expect("open csv");
    let header: Vec<String> = reader
        .headers()
        .expect("csv header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header.join(", "), COLUMNS, "csv header");
    reader
        .records()
        .map(|r| {
            r.expect("csv record")
                .iter()
                .map(|v| (!v.is_empty()).then(|| v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn cross_source_aggregate_and_window_reach_every_target_in_planned_types() {
    let dir = tempfile::tempdir().unwrap();
    let values = |rows: Vec<String>| rows.join(", ");

    let lite = dir.path().join("lite.sqlite");
    rusqlite::Connection::open(&lite)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, region TEXT NOT NULL);
             INSERT INTO customers VALUES {};",
            values(
                CUSTOMERS
                    .iter()
                    .map(|(id, r)| format!("({id}, '{r}')"))
                    .collect()
            )
        ))
        .unwrap();
    let my = mysql_db("planned_types_src");
    mysql_exec(
        &my,
        &format!(
            "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, channel VARCHAR(10) NOT NULL);
             INSERT INTO orders VALUES {};",
            values(
                ORDERS
                    .iter()
                    .map(|(id, c, ch)| format!("({id}, {c}, '{ch}')"))
                    .collect()
            )
        ),
    );
    let pg = pg_db("planned_types_src");
    pg_exec(
        &pg,
        &format!(
            "CREATE TABLE order_lines (order_id INT NOT NULL, qty NUMERIC(12,2) NOT NULL);
             INSERT INTO order_lines VALUES {};",
            values(
                LINES
                    .iter()
                    .map(|(o, q)| format!("({o}, {})", hundredths(*q)))
                    .collect()
            )
        ),
    );
    let to_pg = pg_db("planned_types_dst");
    let to_my = mysql_db("planned_types_dst");

    let mut text = format!(
        "[connections.lite]\nurl = \"sqlite://lite.sqlite\"\nread_only = true\n\n\
         [connections.my]\nurl = \"{my}\"\nread_only = true\n\n\
         [connections.pg]\nurl = \"{pg}\"\nread_only = true\n\n\
         [connections.to_pg]\nurl = \"{to_pg}\"\n\n\
         [connections.to_my]\nurl = \"{to_my}\"\n\n\
         [connections.to_lite]\nurl = \"sqlite://out.sqlite\"\n\n\
         [connections.to_duck]\nurl = \"duckdb://out.duckdb\"\n\n\
         [connections.to_parquet]\nurl = \"parquet://pq\"\n\n\
         [connections.to_csv]\nurl = \"csv://csv\"\n"
    );
    for target in [
        "to_pg.totals_pg",
        "to_my.totals_my",
        "to_lite.totals_lite",
        "to_duck.totals_duck",
        "to_parquet.totals_parquet",
        "to_csv.totals_csv",
    ] {
        text.push_str(&format!(
            "\n[[step]]\ntarget = \"{target}\"\nsql = \"{STEP_SQL}\"\n"
        ));
    }
    let file = write_file(dir.path(), "p.toml", &text);
    barge(dir.path(), &["run", &file, "-q"]).assert_ok();

    let want = expected();
    // The data has what the step is about: several channels per region,
    // a customer with two orders in one group, a dangling order.
    assert_eq!(want.len(), 6, "{want:?}");
    let select = |table: &str| format!("SELECT {COLUMNS} FROM {table}");
    let got: Vec<(&str, Rows)> = vec![
        ("postgres", pg_rows(&to_pg, &select("totals_pg"))),
        ("mariadb", mysql_rows(&to_my, &select("totals_my"))),
        (
            "sqlite",
            sqlite_rows(&dir.path().join("out.sqlite"), &select("totals_lite")),
        ),
        (
            "duckdb",
            duckdb_rows(
                &dir.path().join("out.duckdb"),
                "SELECT region, channel, CAST(buyers AS VARCHAR), CAST(line_count AS VARCHAR), \
                 CAST(qty AS VARCHAR), CAST(rank_in_region AS VARCHAR) FROM totals_duck",
            ),
        ),
        (
            "parquet",
            batch_rows(&read_parquet(&dir.path().join("pq/totals_parquet.parquet"))),
        ),
        ("csv", csv_rows(&dir.path().join("csv/totals_csv.csv"))),
    ];
    for (engine, rows) in got {
        assert_eq!(normalized(rows), want, "target {engine}");
    }
    // The sum keeps its two decimal places in a typed target.
    let qty = pg_rows(
        &to_pg,
        "SELECT qty::text FROM totals_pg WHERE channel = 'phone'",
    );
    assert_eq!(qty, [[Some("999999.99".to_string())]]);
}
