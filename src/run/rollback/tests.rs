//! Rollback by typed keys on SQLite and DuckDB files: NULL key parts,
//! quotes and backslashes, non-UTF-8 bytes and microsecond instants match
//! their rows; the count check reports rows already gone.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryArray, Int64Array, StringArray};
use datafusion::arrow::array::{RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;

use super::*;
use crate::engines::OpenOptions;

const KEY: [&str; 3] = ["tag", "blob", "at"];

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("tag", DataType::Utf8, true),
        Field::new("blob", DataType::Binary, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

/// One row: `(id, tag, blob, at in µs)`.
type Row<'a> = (i64, Option<&'a str>, &'a [u8], Option<i64>);

/// Rows `(id, tag, blob, at in µs)`.
fn rows(rows: &[Row<'_>]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
        Arc::new(BinaryArray::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(
            TimestampMicrosecondArray::from_iter(rows.iter().map(|r| r.3)).with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

/// The key columns of `batch`, as the journal records them.
fn keys_of(batch: &RecordBatch) -> RecordBatch {
    batch.project(&[1, 2, 3]).unwrap()
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        datafusion::parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

async fn append(connection: &Arc<dyn Connection>, target: &TargetSpec, batch: RecordBatch) {
    let (connection, target) = (connection.clone(), target.clone());
    tokio::task::spawn_blocking(move || {
        let mut writer = connection.open_writer(&target, batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        writer.finish(&crate::engines::hooks::Unobserved).unwrap();
    })
    .await
    .unwrap();
}

/// Every row of `table`, by id, as a printed table.
async fn read_back(connection: &Arc<dyn Connection>, table: &TableName) -> String {
    let provider = connection
        .clone()
        .table_provider(table)
        .await
        .unwrap()
        .unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("t", provider).unwrap();
    let batches = ctx
        .sql("SELECT * FROM t ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// A table keyed by `(tag, blob, at)` holds rows before a run; the run
/// appends rows whose keys have NULL parts, `'` and `\`, non-UTF-8 bytes
/// and microseconds; one of them is deleted before the rollback. The
/// rollback leaves exactly the rows that were there before and reports
/// the one it could not find.
async fn rollback_leaves_the_rows_held_before(url: &str, dir: &Path) {
    let options = OpenOptions {
        read_only: false,
        create: true,
        ..Default::default()
    };
    let connection = crate::engines::open("dst", url, &options).await.unwrap();
    let table = TableName::new(None, "t");
    let target = TargetSpec::new(table.clone(), WriteMode::Append, vec![]);
    let create = connection.create_table_sql(&table, &schema(), &[]).unwrap();
    connection.execute_statement(&create).await.unwrap();
    let instant = 1_700_000_000_123_456;
    let before = rows(&[
        (1, Some("it's a \\ path"), &[0xff, 0x00], Some(instant)),
        (2, None, &[0x01], Some(instant + 1)),
        (3, Some(""), &[], None),
    ]);
    append(&connection, &target, before.clone()).await;
    let held_before = read_back(&connection, &table).await;

    // The run: keys differing from those held before in one part each.
    let run = rows(&[
        (10, Some("it's a \\ path"), &[0xff, 0x01], Some(instant)),
        (11, None, &[0x01], Some(instant + 2)),
        (12, None, &[0xfe, 0x80, 0x00], None),
        (13, Some("it's a \\\\ path"), &[0xff, 0x00], Some(instant)),
        (14, Some("gone"), &[0x02], Some(instant)),
    ]);
    append(&connection, &target, run.clone()).await;
    let journal_dir = dir.join("journal");
    write_parquet(&journal_dir.join("s/before.parquet"), &keys_of(&before));
    // The run sent one key twice.
    write_parquet(&journal_dir.join("s/load-1.parquet"), &keys_of(&run));
    write_parquet(
        &journal_dir.join("s/load-2.parquet"),
        &keys_of(&run).slice(0, 1),
    );
    let step = JournalStep {
        step: "s".into(),
        connection: "dst".into(),
        schema: None,
        table: "t".into(),
        mode: "append".into(),
        key: KEY.map(String::from).to_vec(),
        whole_table: false,
        files: vec!["s/load-1.parquet".into(), "s/load-2.parquet".into()],
        before: Some("s/before.parquet".into()),
        unsupported: None,
    };
    let keys = key_table(&table, "20250101T000000Z-abc123", 0, connection.kind());

    let dry = delete_keys(&connection, &table, &keys, &step, &journal_dir, true)
        .await
        .unwrap();
    assert_eq!((dry.keys, dry.deleted), (5, 5));
    assert_eq!(
        connection.row_count(&table).await.unwrap(),
        Some(8),
        "a dry run deletes nothing"
    );

    // Someone deleted one of the run's rows since; a killed rollback left
    // its key table.
    connection
        .execute_statement("DELETE FROM t WHERE id = 14")
        .await
        .unwrap();
    connection
        .execute_statement(&format!(
            "CREATE TABLE {} (leftover INTEGER)",
            connection.sql_table(&keys)
        ))
        .await
        .unwrap();

    let done = delete_keys(&connection, &table, &keys, &step, &journal_dir, false)
        .await
        .unwrap();
    assert_eq!(
        done,
        KeyCounts {
            keys: 5,
            deleted: 4,
            left_behind: None
        }
    );
    assert_eq!(read_back(&connection, &table).await, held_before);
    let tables = connection.list_tables().await.unwrap();
    assert!(
        !tables.iter().any(|t| t.name.starts_with(KEY_TABLE)),
        "{tables:?}"
    );
}

#[tokio::test]
async fn sqlite_rollback_deletes_by_typed_null_safe_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.sqlite").display());
    rollback_leaves_the_rows_held_before(&url, dir.path()).await;
}

#[tokio::test]
async fn duckdb_rollback_deletes_by_typed_null_safe_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("duckdb://{}", dir.path().join("t.duckdb").display());
    rollback_leaves_the_rows_held_before(&url, dir.path()).await;
}

#[test]
fn delete_matches_null_safely_only_where_keys_hold_null() {
    let expected = [
        (
            EngineKind::Postgres,
            r#"DELETE FROM "s"."t" WHERE EXISTS (SELECT 1 FROM "s"."k" WHERE "t"."a" IS NOT DISTINCT FROM "k"."a" AND "t"."b" = "k"."b")"#,
        ),
        (
            EngineKind::DuckDb,
            r#"DELETE FROM "s"."t" WHERE EXISTS (SELECT 1 FROM "s"."k" WHERE "t"."a" IS NOT DISTINCT FROM "k"."a" AND "t"."b" = "k"."b")"#,
        ),
        (
            EngineKind::MySql,
            "DELETE FROM `s`.`t` WHERE EXISTS (SELECT 1 FROM `s`.`k` WHERE \
             `t`.`a` <=> `k`.`a` AND CAST(`t`.`a` AS BINARY) <=> CAST(`k`.`a` AS BINARY) AND \
             `t`.`b` = `k`.`b` AND CAST(`t`.`b` AS BINARY) <=> CAST(`k`.`b` AS BINARY))",
        ),
        (
            EngineKind::Sqlite,
            r#"DELETE FROM "s"."t" WHERE EXISTS (SELECT 1 FROM "s"."k" WHERE "t"."a" IS "k"."a" AND "t"."b" = "k"."b")"#,
        ),
    ];
    for (kind, sql) in expected {
        let dialect = crate::engines::dialect(kind);
        let columns = [dialect.quote_ident("a"), dialect.quote_ident("b")];
        assert_eq!(
            delete_sql(
                dialect,
                &TableName::new(Some("s"), "t"),
                &TableName::new(Some("s"), "k"),
                &columns,
                &[true, false],
            ),
            sql,
            "{kind}"
        );
    }
}

#[test]
fn key_tables_are_named_by_step_and_run_and_fit_the_engine() {
    let table = TableName::new(Some("sales"), "orders");
    let keys = key_table(&table, "20250101T000000Z-Ab/c", 3, EngineKind::MySql);
    assert_eq!(keys.schema.as_deref(), Some("sales"));
    assert_eq!(keys.name, "barge_rollback_keys_3_20250101t000000z_ab_c");
    let long = key_table(&table, &"x".repeat(100), 12, EngineKind::Postgres);
    assert_eq!(long.name.len() + INDEX_SUFFIX.len(), 63);
    assert!(long.name.starts_with("barge_rollback_keys_12_x"));
}

#[test]
fn counts_that_differ_say_why() {
    assert_eq!(count_note(10, 10), None);
    assert_eq!(
        count_note(10, 8).as_deref(),
        Some("deleted 8 of the 10 rows the run inserted: 2 were already gone or changed key")
    );
    assert_eq!(
        count_note(10, 9).as_deref(),
        Some("deleted 9 of the 10 rows the run inserted: 1 was already gone or changed key")
    );
    let more = count_note(2, 5).unwrap();
    assert!(
        more.starts_with(
            "deleted 5 rows for the 2 keys the run inserted: 3 more rows had those keys too"
        ),
        "{more}"
    );
}
