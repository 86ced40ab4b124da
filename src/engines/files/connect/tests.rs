use std::sync::Arc;

use datafusion::arrow::array::{BinaryArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::super::test_support::{open_target, read, write};
use super::*;

fn ids(values: Vec<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap()
}

fn target(table: &str, mode: WriteMode) -> TargetSpec {
    TargetSpec {
        table: TableName::new(None, table),
        mode,
        key: vec!["id".to_string()],
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    }
}

fn read_options() -> OpenOptions {
    OpenOptions::default()
}

#[tokio::test]
async fn directory_target_holds_a_table_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("out/export");
    let url = export.to_str().unwrap().to_string();
    let conn = open_target(&url, EngineKind::Parquet);
    assert!(export.is_dir(), "the directory is created");
    assert!(conn.list_tables().await.unwrap().is_empty());

    let schema = ids(vec![]).schema();
    let sql = conn
        .create_table_sql(&TableName::new(None, "orders"), &schema, &[])
        .unwrap();
    assert!(
        sql.contains("orders.parquet") && sql.contains("id Int64"),
        "{sql}"
    );

    write(&conn, "orders", WriteMode::Append, &[ids(vec![1, 2])])
        .await
        .unwrap();
    write(&conn, "users", WriteMode::ErrorIfExists, &[ids(vec![3])])
        .await
        .unwrap();
    assert!(export.join("orders.parquet").is_file());
    assert!(export.join("users.parquet").is_file());
    std::fs::write(export.join("notes.txt"), "not a table").unwrap();

    let reopened = FileConnection::open("src", &url, EngineKind::Parquet, &read_options()).unwrap();
    let tables = reopened.list_tables().await.unwrap();
    assert_eq!(
        tables,
        [
            TableName::new(Some("main"), "orders"),
            TableName::new(Some("main"), "users")
        ]
    );
    assert_eq!(read(&reopened, "orders").await.num_rows(), 2);
    assert_eq!(read(&reopened, "users").await.num_rows(), 1);
    assert_eq!(
        reopened
            .row_count(&TableName::new(Some("main"), "orders"))
            .await
            .unwrap(),
        Some(2)
    );
    assert!(reopened
        .table_schema(&TableName::new(None, "missing"))
        .await
        .unwrap()
        .is_none());
    assert!(reopened
        .table_schema(&TableName::new(Some("other"), "orders"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn glob_source_reads_each_matching_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let conn = open_target(data.to_str().unwrap(), EngineKind::Parquet);
    write(&conn, "x1", WriteMode::Replace, &[ids(vec![1])])
        .await
        .unwrap();
    write(&conn, "x2", WriteMode::Replace, &[ids(vec![2, 3])])
        .await
        .unwrap();
    write(&conn, "other", WriteMode::Replace, &[ids(vec![4])])
        .await
        .unwrap();

    let pattern = format!("{}/x*.parquet", data.display());
    let glob = FileConnection::open("src", &pattern, EngineKind::Parquet, &read_options()).unwrap();
    let tables = glob.list_tables().await.unwrap();
    assert_eq!(
        tables,
        [
            TableName::new(Some("main"), "x1"),
            TableName::new(Some("main"), "x2")
        ]
    );
    assert_eq!(read(&glob, "x2").await.num_rows(), 2);
    assert!(glob
        .table_schema(&TableName::new(None, "other"))
        .await
        .unwrap()
        .is_none());

    let err = glob
        .prepare_target(
            &target("x1", WriteMode::Replace),
            &ids(vec![]).schema(),
            true,
            false,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("glob") && err.contains("hint:"), "{err}");

    let none = format!("{}/y*.parquet", data.display());
    let err = FileConnection::open("src", &none, EngineKind::Parquet, &read_options())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no file matches") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn missing_file_or_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for (path, kind) in [
        (dir.path().join("missing.parquet"), EngineKind::Parquet),
        (dir.path().join("missing.csv"), EngineKind::Csv),
        (dir.path().join("missing_dir"), EngineKind::Parquet),
    ] {
        let err = FileConnection::open("src", path.to_str().unwrap(), kind, &read_options())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'src'"), "{err}");
        assert!(err.contains("no such file or directory"), "{err}");
        assert!(err.contains("hint:"), "{err}");
        assert!(!path.exists());
    }
    // A target creates only the parent directory of a file.
    let file = dir.path().join("new/sub/t.csv");
    let conn = open_target(file.to_str().unwrap(), EngineKind::Csv);
    assert!(file.parent().unwrap().is_dir() && !file.exists());
    assert_eq!(conn.default_schema(), "main");

    let err = FileConnection::open(
        "src",
        file.to_str().unwrap(),
        EngineKind::Parquet,
        &read_options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("csv://"), "{err}");
}

#[tokio::test]
async fn existing_files_refuse_append_and_keyed_modes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.parquet");
    let conn = open_target(path.to_str().unwrap(), EngineKind::Parquet);
    let schema = ids(vec![]).schema();
    write(&conn, "orders", WriteMode::Append, &[ids(vec![1])])
        .await
        .unwrap();

    let err = conn
        .prepare_target(&target("orders", WriteMode::Append), &schema, false, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot be appended") && err.contains("mode = \"replace\""),
        "{err}"
    );
    assert!(conn
        .open_writer(&target("orders", WriteMode::Append), schema.clone())
        .is_err());

    let err = conn
        .prepare_target(
            &target("orders", WriteMode::ErrorIfExists),
            &schema,
            true,
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::TargetExists { .. }), "{err}");

    for mode in [WriteMode::Upsert, WriteMode::InsertIgnore] {
        let err = conn
            .prepare_target(&target("orders", mode), &schema, true, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'dst'") && err.contains(mode.as_str()) && err.contains("hint:"),
            "{err}"
        );
    }

    // A single-file connection holds only its own table.
    let err = conn
        .prepare_target(&target("users", WriteMode::Replace), &schema, true, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("'orders'") && err.contains("hint:"), "{err}");

    // Truncate rewrites; the old rows are gone.
    write(&conn, "orders", WriteMode::Truncate, &[ids(vec![5, 6])])
        .await
        .unwrap();
    assert_eq!(read(&conn, "orders").await.num_rows(), 2);
    // The table name matches case-insensitively (SQL folds unquoted names).
    assert!(conn
        .table_schema(&TableName::new(None, "ORDERS"))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn csv_refuses_binary_columns_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_target(dir.path().to_str().unwrap(), EngineKind::Csv);
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("photo", DataType::Binary, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(BinaryArray::from(vec![&b"\x00"[..]])),
        ],
    )
    .unwrap();
    let err = write(&conn, "people", WriteMode::Replace, &[batch])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'people'") && err.contains("'photo'") && err.contains("hint:"),
        "{err}"
    );
    assert!(conn
        .create_table_sql(&TableName::new(None, "people"), &schema, &[])
        .is_err());
    assert!(!dir.path().join("people.csv").exists());
}

#[tokio::test]
async fn read_only_connections_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions {
        read_only: true,
        create: false,
        ..Default::default()
    };
    let conn = FileConnection::open(
        "src",
        dir.path().to_str().unwrap(),
        EngineKind::Parquet,
        &options,
    )
    .unwrap();
    let err = conn
        .prepare_target(
            &target("t", WriteMode::Replace),
            &ids(vec![]).schema(),
            true,
            false,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read_only"), "{err}");
}
