//! Schema introspection, type plan, `barge schema copy` (two passes),
//! `barge copy` into keyed targets in foreign-key order, `--naming`, and
//! `barge schema diff`, on the real servers and temp files.

use crate::common::{barge, src_dst_pipeline};
use crate::servers::{mysql_db, mysql_exec, mysql_rows, pg_db, pg_exec, pg_rows};

/// A PascalCase MySQL schema with every constraint kind: auto-increment,
/// unique, index, defaults, a composite FK, a self-reference and a cycle
/// (Department <-> Employee; the data leaves Department.ManagerId NULL).
const MYSQL_SCHEMA: &str = "
CREATE TABLE Artist (ArtistId INT NOT NULL AUTO_INCREMENT PRIMARY KEY, Name VARCHAR(120) NOT NULL,
  UNIQUE KEY UQ_ArtistName (Name));
CREATE TABLE Album (AlbumId INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  Title VARCHAR(160) NOT NULL DEFAULT 'untitled', ArtistId INT NOT NULL, Price DECIMAL(10,2) DEFAULT 9.99,
  IsLive TINYINT(1) NOT NULL DEFAULT 0, Plays BIGINT UNSIGNED,
  CONSTRAINT FK_AlbumArtistId FOREIGN KEY (ArtistId) REFERENCES Artist(ArtistId) ON DELETE CASCADE,
  KEY IX_AlbumTitle (Title));
CREATE TABLE Employee (EmployeeId INT NOT NULL PRIMARY KEY, LastName VARCHAR(20) NOT NULL,
  ReportsTo INT NULL, DepartmentId INT NULL,
  CONSTRAINT FK_EmployeeReportsTo FOREIGN KEY (ReportsTo) REFERENCES Employee(EmployeeId));
CREATE TABLE Department (DepartmentId INT NOT NULL PRIMARY KEY, ManagerId INT NULL,
  CONSTRAINT FK_DepartmentManager FOREIGN KEY (ManagerId) REFERENCES Employee(EmployeeId));
ALTER TABLE Employee ADD CONSTRAINT FK_EmployeeDepartment FOREIGN KEY (DepartmentId) REFERENCES Department(DepartmentId);
CREATE TABLE PlaylistTrack (PlaylistId INT NOT NULL, TrackId INT NOT NULL, PRIMARY KEY (PlaylistId, TrackId));
CREATE TABLE PlaylistTrackNote (NoteId INT NOT NULL PRIMARY KEY, PlaylistId INT NOT NULL, TrackId INT NOT NULL,
  Note TEXT,
  CONSTRAINT FK_NoteTrack FOREIGN KEY (PlaylistId, TrackId) REFERENCES PlaylistTrack(PlaylistId, TrackId));
INSERT INTO Artist (Name) VALUES ('AC/DC'), ('Accept');
INSERT INTO Album (Title, ArtistId, Price, IsLive, Plays)
  VALUES ('For Those About To Rock', 1, 10.50, 1, 18446744073709551615), ('Balls to the Wall', 2, NULL, 0, 3);
INSERT INTO Department VALUES (10, NULL);
INSERT INTO Employee VALUES (1, 'Adams', NULL, 10), (2, 'Edwards', 1, 10);
INSERT INTO PlaylistTrack VALUES (1, 1), (1, 2);
INSERT INTO PlaylistTrackNote VALUES (1, 1, 2, 'great');
CREATE VIEW AlbumView AS SELECT * FROM Album;
";

fn rows(v: &[&[&str]]) -> Vec<Vec<Option<String>>> {
    v.iter()
        .map(|r| r.iter().map(|c| Some(c.to_string())).collect())
        .collect()
}

/// Foreign keys of a PostgreSQL database as `table(cols) -> table(cols) on delete`.
fn pg_foreign_keys(url: &str) -> Vec<String> {
    pg_rows(
        url,
        "SELECT c.conrelid::regclass::text || '(' || \
           (SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) || ') -> ' || \
           c.confrelid::regclass::text || '(' || \
           (SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY k(n, i) \
            JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) || ') ' || c.confdeltype::text \
         FROM pg_constraint c WHERE c.contype = 'f' ORDER BY 1",
    )
    .into_iter()
    .map(|r| r[0].clone().unwrap_or_default())
    .collect()
}

#[test]
fn schema_introspection_reads_mysql_keys_fks_identity_and_views() {
    let url = mysql_db("schema_introspect");
    mysql_exec(&url, MYSQL_SCHEMA);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let catalog = runtime.block_on(async {
        let conn = barge::engines::open("src", &url, &Default::default())
            .await
            .unwrap();
        conn.introspect().await.unwrap()
    });
    assert_eq!(
        catalog
            .views
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>(),
        ["AlbumView"]
    );
    let names: Vec<&str> = catalog
        .tables
        .iter()
        .map(|t| t.name.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Album",
            "Artist",
            "Department",
            "Employee",
            "PlaylistTrack",
            "PlaylistTrackNote"
        ]
    );
    let album = &catalog.tables[0];
    let id = album.column("AlbumId").unwrap();
    assert!(id.identity && !id.nullable);
    let title = album.column("Title").unwrap();
    assert_eq!(title.length, Some(160));
    assert_eq!(
        title.default,
        Some(barge::model::catalog::DefaultValue::Text("untitled".into()))
    );
    assert_eq!(album.column("Price").unwrap().declared, "decimal(10,2)");
    assert_eq!(
        album
            .indexes
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["IX_AlbumTitle"]
    );
    let fk = &album.foreign_keys[0];
    assert_eq!(
        (
            fk.columns.clone(),
            fk.referenced.name.as_str(),
            fk.on_delete.as_deref()
        ),
        (vec!["ArtistId".to_string()], "Artist", Some("CASCADE"))
    );
    let artist = catalog
        .table(&barge::model::TableName::new(None, "Artist"))
        .unwrap();
    assert_eq!(artist.uniques[0].columns, ["Name"]);
    let note = &catalog.tables[5];
    assert_eq!(note.foreign_keys[0].columns, ["PlaylistId", "TrackId"]);
    assert_eq!(
        note.foreign_keys[0].referenced_columns,
        ["PlaylistId", "TrackId"]
    );
    let track = &catalog.tables[4];
    assert_eq!(
        track.primary_key.as_ref().unwrap().columns,
        ["PlaylistId", "TrackId"]
    );
    let employee = &catalog.tables[3];
    let mut refs: Vec<&str> = employee
        .foreign_keys
        .iter()
        .map(|f| f.referenced.name.as_str())
        .collect();
    refs.sort();
    assert_eq!(refs, ["Department", "Employee"]);
    assert!(employee.row_estimate.is_some());
}

#[test]
fn schema_copy_mysql_pascal_case_into_postgres_snake_case() {
    let src = mysql_db("schema_snake_src");
    mysql_exec(&src, MYSQL_SCHEMA);
    let dst = pg_db("schema_snake_dst");
    let dir = tempfile::tempdir().unwrap();
    let out = barge(
        dir.path(),
        &["copy", &src, &dst, "--naming", "snake_case", "--quiet"],
    );
    out.assert_ok();

    // Besides barge's commit records, the copied tables.
    let tables = pg_rows(
        &dst,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'barge_commits' ORDER BY 1",
    );
    assert_eq!(
        tables,
        rows(&[
            &["album"],
            &["artist"],
            &["department"],
            &["employee"],
            &["playlist_track"],
            &["playlist_track_note"]
        ])
    );
    let columns = pg_rows(
        &dst,
        "SELECT column_name, data_type, coalesce(character_maximum_length::text, ''), is_nullable, \
           coalesce(column_default, ''), is_identity \
         FROM information_schema.columns WHERE table_name = 'album' ORDER BY ordinal_position",
    );
    assert_eq!(
        columns,
        rows(&[
            &["album_id", "integer", "", "NO", "", "YES"],
            &[
                "title",
                "character varying",
                "160",
                "NO",
                "'untitled'::character varying",
                "NO"
            ],
            &["artist_id", "integer", "", "NO", "", "NO"],
            &["price", "numeric", "", "YES", "9.99", "NO"],
            &["is_live", "boolean", "", "NO", "false", "NO"],
            &["plays", "numeric", "", "YES", "", "NO"],
        ])
    );
    assert_eq!(
        pg_foreign_keys(&dst),
        [
            "album(artist_id) -> artist(artist_id) c",
            "department(manager_id) -> employee(employee_id) a",
            "employee(department_id) -> department(department_id) a",
            "employee(reports_to) -> employee(employee_id) a",
            "playlist_track_note(playlist_id,track_id) -> playlist_track(playlist_id,track_id) a",
        ]
    );
    let keys = pg_rows(
        &dst,
        "SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u') ORDER BY 1",
    );
    assert!(
        keys.contains(&vec![Some("artist_name_key".to_string())]),
        "{keys:?}"
    );
    assert!(
        keys.contains(&vec![Some("playlist_track_pkey".to_string())]),
        "{keys:?}"
    );
    let indexes = pg_rows(
        &dst,
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'album_title_idx'",
    );
    assert_eq!(
        indexes,
        rows(&[&["CREATE INDEX album_title_idx ON public.album USING btree (title)"]])
    );
    // The values, exactly.
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT album_id, title, price, is_live, plays FROM album ORDER BY 1"
        )[0],
        rows(&[&[
            "1",
            "For Those About To Rock",
            "10.50",
            "t",
            "18446744073709551615"
        ]])[0]
    );
    // The identity counter moved past the copied maximum.
    assert_eq!(
        pg_rows(
            &dst,
            "INSERT INTO artist (name) VALUES ('new') RETURNING artist_id"
        ),
        rows(&[&["3"]])
    );
}

const PG_SCHEMA: &str = "
CREATE TABLE customer (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE,
  name varchar(80), created timestamp NOT NULL DEFAULT now(), active boolean NOT NULL DEFAULT true);
CREATE TABLE invoice (customer_id integer NOT NULL REFERENCES customer(id), invoice_no integer NOT NULL,
  total numeric(12,2) NOT NULL DEFAULT 0, PRIMARY KEY (customer_id, invoice_no));
CREATE TABLE invoice_line (id serial PRIMARY KEY, customer_id integer NOT NULL, invoice_no integer NOT NULL,
  parent_id integer REFERENCES invoice_line(id), qty smallint NOT NULL,
  FOREIGN KEY (customer_id, invoice_no) REFERENCES invoice(customer_id, invoice_no) ON DELETE CASCADE);
CREATE INDEX invoice_line_qty_idx ON invoice_line (qty);
INSERT INTO customer (email, name) VALUES ('a@x', 'Ann'), ('b@x', 'Bob');
INSERT INTO invoice VALUES (1, 100, 12.50), (2, 200, 7.00);
INSERT INTO invoice_line (customer_id, invoice_no, parent_id, qty) VALUES (1, 100, NULL, 2), (1, 100, 1, 3), (2, 200, NULL, 1);
";

#[test]
fn schema_copy_postgres_into_mysql_then_loads_into_enforced_fks() {
    let src = pg_db("schema_pg_src");
    pg_exec(&src, PG_SCHEMA);
    let dst = mysql_db("schema_pg_dst");
    let dir = tempfile::tempdir().unwrap();
    // Both passes first: the target has every key and FK before the data.
    barge(dir.path(), &["schema", "copy", &src, &dst]).assert_ok();
    let fks = mysql_rows(
        &dst,
        "SELECT TABLE_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION), REFERENCED_TABLE_NAME \
         FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() \
           AND REFERENCED_TABLE_NAME IS NOT NULL GROUP BY CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME ORDER BY 1, 2",
    );
    assert_eq!(
        fks,
        rows(&[
            &["invoice", "customer_id", "customer"],
            &["invoice_line", "customer_id,invoice_no", "invoice"],
            &["invoice_line", "parent_id", "invoice_line"],
        ])
    );
    let columns = mysql_rows(
        &dst,
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, EXTRA FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'customer' ORDER BY ORDINAL_POSITION",
    );
    assert_eq!(
        columns,
        rows(&[
            &["id", "int(11)", "NO", "auto_increment"],
            &["email", "varchar(255)", "NO", ""],
            &["name", "varchar(80)", "YES", ""],
            &["created", "datetime(6)", "NO", ""],
            &["active", "tinyint(1)", "NO", ""],
        ])
    );
    let uniques = mysql_rows(
        &dst,
        "SELECT INDEX_NAME, NON_UNIQUE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME IN ('customer', 'invoice_line') AND INDEX_NAME <> 'PRIMARY' AND INDEX_NAME NOT LIKE '%fkey' ORDER BY 1",
    );
    assert_eq!(
        uniques,
        rows(&[&["customer_email_key", "0"], &["invoice_line_qty_idx", "1"]])
    );
    // The load succeeds into enforced foreign keys: tables in FK order.
    let out = barge(
        dir.path(),
        &[
            "copy", &src, &dst, "--mode", "append", "--quiet", "--jobs", "4",
        ],
    );
    out.assert_ok();
    assert_eq!(
        mysql_rows(
            &dst,
            "SELECT id, customer_id, invoice_no, parent_id, qty FROM invoice_line ORDER BY id"
        )
        .len(),
        3
    );
    assert_eq!(
        mysql_rows(&dst, "SELECT total FROM invoice ORDER BY customer_id"),
        rows(&[&["12.50"], &["7.00"]])
    );
    // AUTO_INCREMENT continues after the copied rows.
    mysql_exec(
        &dst,
        "INSERT INTO customer (email, created) VALUES ('c@x', NOW())",
    );
    assert_eq!(
        mysql_rows(&dst, "SELECT id FROM customer WHERE email = 'c@x'"),
        rows(&[&["3"]])
    );
}

#[test]
fn schema_copy_postgres_into_sqlite_and_duckdb_keeps_keys() {
    let src = pg_db("schema_files_src");
    pg_exec(&src, PG_SCHEMA);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("t.sqlite");
    let duck = dir.path().join("t.duckdb");
    let sqlite_url = format!("sqlite://{}", sqlite.display());
    let duck_url = format!("duckdb://{}", duck.display());
    barge(dir.path(), &["copy", &src, &sqlite_url, "--quiet"]).assert_ok();
    barge(dir.path(), &["copy", &src, &duck_url, "--quiet"]).assert_ok();

    let conn = rusqlite::Connection::open(&sqlite).unwrap();
    let fks: Vec<(String, String, String)> = conn
        .prepare("SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list('invoice_line') ORDER BY id DESC, seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(fks.len(), 3, "{fks:?}");
    assert!(fks.contains(&("invoice_line".into(), "parent_id".into(), "id".into())));
    let pk: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('invoice') WHERE pk > 0 ORDER BY pk")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pk, ["customer_id", "invoice_no"]);
    let unique: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_index_list('customer') WHERE \"unique\" = 1 AND origin = 'c'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unique, 1);
    let lines: i64 = conn
        .query_row("SELECT count(*) FROM invoice_line", [], |r| r.get(0))
        .unwrap();
    assert_eq!(lines, 3);

    let duck = duckdb::Connection::open(&duck).unwrap();
    let constraints: Vec<(String, String)> = duck
        .prepare(
            "SELECT table_name, constraint_type FROM duckdb_constraints() \
             WHERE constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') ORDER BY 1, 2",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        constraints.contains(&("invoice".into(), "FOREIGN KEY".into())),
        "{constraints:?}"
    );
    assert!(
        constraints.contains(&("invoice_line".into(), "PRIMARY KEY".into())),
        "{constraints:?}"
    );
    let total: String = duck
        .query_row("SELECT CAST(sum(total) AS VARCHAR) FROM invoice", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(total, "19.50");
}

#[test]
fn schema_copy_fail_on_lossy_refuses_before_any_change() {
    let src = pg_db("schema_lossy_src");
    pg_exec(
        &src,
        "CREATE TABLE event (id bigint PRIMARY KEY, at timestamptz NOT NULL);
         INSERT INTO event VALUES (1, '2030-01-01 00:00:00+00');",
    );
    let dst = mysql_db("schema_lossy_dst");
    let dir = tempfile::tempdir().unwrap();
    let dry = barge(dir.path(), &["schema", "copy", &src, &dst, "--dry-run"]);
    dry.assert_ok();
    assert!(
        dry.stdout.contains("event.at") && dry.stdout.contains("lossy (time zone"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("CREATE TABLE `event`"),
        "{}",
        dry.stdout
    );
    barge(dir.path(), &["copy", &src, &dst, "--fail-on-lossy"])
        .assert_fails(2, &["event.at", "--fail-on-lossy", "nothing was written"]);
    assert!(mysql_rows(&dst, "SHOW TABLES").is_empty());
    // --script writes both passes without touching the target.
    let script = dir.path().join("schema.sql");
    barge(
        dir.path(),
        &[
            "schema",
            "copy",
            &src,
            &dst,
            "--script",
            script.to_str().unwrap(),
        ],
    )
    .assert_ok();
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("PRIMARY KEY (`id`)"), "{text}");
    assert!(mysql_rows(&dst, "SHOW TABLES").is_empty());
}

#[test]
fn schema_diff_classifies_every_change_and_writes_a_guarded_pipeline() {
    let old = pg_db("schema_diff_v1");
    pg_exec(
        &old,
        "CREATE TABLE customer (id integer PRIMARY KEY, full_name varchar(80), email varchar(100),
           age integer, zip integer, note text, legacy_flag boolean);
         CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer, amount numeric(10,2));
         CREATE TABLE audit_log (id integer PRIMARY KEY, msg text);",
    );
    let new = pg_db("schema_diff_v2");
    pg_exec(
        &new,
        "CREATE TABLE customer (id bigint PRIMARY KEY, fullname varchar(80), email varchar(50),
           age text, zip date, note text NOT NULL, status integer NOT NULL, created timestamp DEFAULT now());
         CREATE TABLE customer_order (id integer PRIMARY KEY, customer_id integer, amount numeric(12,2));
         CREATE TABLE product (id integer PRIMARY KEY);",
    );
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("diff.json");
    let pipeline = dir.path().join("migrate.toml");
    let out = barge(
        dir.path(),
        &[
            "schema",
            "diff",
            &old,
            &new,
            "--json",
            json.to_str().unwrap(),
            "--write-pipeline",
            pipeline.to_str().unwrap(),
        ],
    );
    out.assert_ok();
    let line = |needle: &str| -> String {
        out.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", out.stdout))
            .to_string()
    };
    let class = |needle: &str| line(needle).split_whitespace().next().unwrap().to_string();
    assert_eq!(class("customer.id: integer -> bigint"), "safe");
    assert_eq!(
        class("column renamed  customer.fullname: full_name -> fullname"),
        "safe"
    );
    assert_eq!(class("customer.email: character varying(100)"), "breaking");
    assert_eq!(class("customer.age: integer -> text"), "transformable");
    assert_eq!(class("customer.zip: integer -> date"), "breaking");
    assert_eq!(class("nullability     customer.note"), "breaking");
    assert_eq!(class("column added    customer.status"), "breaking");
    assert_eq!(class("column added    customer.created"), "safe");
    assert_eq!(class("column removed  customer.legacy_flag"), "breaking");
    assert_eq!(
        class("table renamed   customer_order: orders -> customer_order"),
        "safe"
    );
    assert_eq!(
        class("customer_order.amount: numeric(10,2) -> numeric(12,2)"),
        "safe"
    );
    assert_eq!(class("table added     product"), "safe");
    assert_eq!(class("table removed   audit_log"), "breaking");
    assert!(
        line("change(s):").contains("6 safe, 1 transformable, 6 breaking"),
        "{}",
        out.stdout
    );

    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let changes = data["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["kind"] == "column_renamed"
        && c["from"] == "full_name"
        && c["to"] == "fullname"
        && c["class"] == "safe"));

    let text = std::fs::read_to_string(&pipeline).unwrap();
    assert!(text.contains("\"full_name\" AS \"fullname\""), "{text}");
    assert!(
        text.contains("CAST(\"age\" AS VARCHAR) AS \"age\""),
        "{text}"
    );
    assert!(
        text.contains("FROM \"from\".\"public\".\"orders\""),
        "{text}"
    );
    assert!(text.contains("url = \"${FROM_URL}\""), "{text}");
    assert_eq!(text.matches("TODO(barge)").count(), 6, "{text}");
    barge(dir.path(), &["run", pipeline.to_str().unwrap()])
        .assert_fails(2, &["unresolved TODO(barge)", "integer -> date", "hint:"]);
}

#[test]
fn schema_pipeline_steps_load_parents_before_children_of_enforced_fks() {
    let src = pg_db("schema_fk_steps_src");
    let dst = pg_db("schema_fk_steps_dst");
    pg_exec(
        &src,
        "CREATE TABLE authors (id int PRIMARY KEY, name text);
         CREATE TABLE books (id int PRIMARY KEY, author_id int, title text);
         INSERT INTO authors SELECT g, 'a' || g FROM generate_series(1, 50) g;
         INSERT INTO books SELECT g, 1 + g % 50, 'b' || g FROM generate_series(1, 500) g;",
    );
    pg_exec(
        &dst,
        "CREATE TABLE authors (id int PRIMARY KEY, name text);
         CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors, title text);",
    );
    let dir = tempfile::tempdir().unwrap();
    // The child's step comes first in the file and reads nothing the
    // parent's step writes: only the target's foreign key orders them.
    let pipeline = src_dst_pipeline(
        dir.path(),
        "p.toml",
        &src,
        &dst,
        r#"
[defaults]
mode = "append"

[[step]]
target = "dst.books"
sql = "SELECT id, author_id, title FROM src.books"

[[step]]
target = "dst.authors"
sql = "SELECT id, name FROM src.authors"
"#,
    );
    let plan = barge(dir.path(), &["plan", &pipeline]);
    plan.assert_ok();
    assert!(plan.stdout.contains("in 2 level(s)"), "{}", plan.stdout);
    barge(dir.path(), &["run", &pipeline, "-q", "--jobs", "2"]).assert_ok();
    assert_eq!(
        pg_rows(
            &dst,
            "SELECT count(*) FROM books b JOIN authors a ON a.id = b.author_id"
        ),
        [[Some("500".to_string())]]
    );
}

#[test]
fn schema_plan_prints_the_type_plan_of_each_step() {
    let src = pg_db("schema_plan_types_src");
    let dst = mysql_db("schema_plan_types_dst");
    pg_exec(
        &src,
        "CREATE TABLE events (id bigint PRIMARY KEY, amount numeric(12,2), at timestamptz);",
    );
    mysql_exec(&dst, "CREATE TABLE small (id INT PRIMARY KEY)");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = src_dst_pipeline(
        dir.path(),
        "p.toml",
        &src,
        &dst,
        r#"
[[step]]
target = "dst.events"
sql = "SELECT id, amount, at FROM src.events"

[[step]]
target = "dst.small"
sql = "SELECT id FROM src.events"
"#,
    );
    let plan = barge(dir.path(), &["plan", &pipeline]);
    plan.assert_ok();
    let line = |start: &str| {
        plan.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line {start}:\n{}", plan.stdout))
            .to_string()
    };
    assert!(plan.stdout.contains("type plan:"), "{}", plan.stdout);
    assert!(line("amount Decimal128(12, 2) ->").contains("(exact"));
    assert!(line("at Timestamp(µs, \"UTC\") ->").contains("(lossy: time zone"));
    // Into the existing INT column, a bigint may not fit.
    assert!(line("id Int64 -> existing column (Int32)").contains("(lossy"));
}

#[test]
fn schema_copy_routines_between_databases_of_one_engine() {
    let dir = tempfile::tempdir().unwrap();
    let pg_src = pg_db("schema_routines_pg_src");
    let pg_dst = pg_db("schema_routines_pg_dst");
    pg_exec(
        &pg_src,
        "CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL);
         CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
         CREATE PROCEDURE bump(i int) LANGUAGE sql AS 'UPDATE counters SET n = n + 1 WHERE id = i';",
    );
    let out = barge(
        dir.path(),
        &["schema", "copy", &pg_src, &pg_dst, "--routines"],
    );
    out.assert_ok();
    assert!(out.stdout.contains("copied 2 routine(s)"), "{}", out.stdout);
    pg_exec(&pg_dst, "INSERT INTO counters VALUES (1, 0); CALL bump(1);");
    assert_eq!(
        pg_rows(
            &pg_dst,
            "SELECT add_one(41), (SELECT n FROM counters WHERE id = 1)"
        ),
        [[Some("42".to_string()), Some("1".to_string())]]
    );

    let my_src = mysql_db("schema_routines_my_src");
    let my_dst = mysql_db("schema_routines_my_dst");
    mysql_exec(
        &my_src,
        "CREATE TABLE counters (id INT PRIMARY KEY, n INT NOT NULL)",
    );
    mysql_exec(
        &my_src,
        "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    );
    mysql_exec(
        &my_src,
        "CREATE PROCEDURE bump(i INT) BEGIN UPDATE counters SET n = n + 1 WHERE id = i; UPDATE counters SET n = n * 10 WHERE id = i; END",
    );
    let out = barge(
        dir.path(),
        &["schema", "copy", &my_src, &my_dst, "--routines"],
    );
    out.assert_ok();
    assert!(out.stdout.contains("copied 2 routine(s)"), "{}", out.stdout);
    mysql_exec(&my_dst, "INSERT INTO counters VALUES (1, 0)");
    mysql_exec(&my_dst, "CALL bump(1)");
    assert_eq!(
        mysql_rows(
            &my_dst,
            "SELECT twice(21), (SELECT n FROM counters WHERE id = 1)"
        ),
        [[Some("42".to_string()), Some("10".to_string())]]
    );

    // Between engines, routines are refused before anything is created.
    let other = pg_db("schema_routines_cross_dst");
    barge(
        dir.path(),
        &["schema", "copy", &my_src, &other, "--routines"],
    )
    .assert_fails(2, &["--routines", "mysql -> postgres"]);
    assert_eq!(
        pg_rows(
            &other,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ),
        [[Some("0".to_string())]]
    );
}
