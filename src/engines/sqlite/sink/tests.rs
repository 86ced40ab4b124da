use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, BooleanArray, Date32Array, Date64Array,
    Decimal128Array, Decimal256Array, Decimal32Array, DictionaryArray, FixedSizeBinaryArray,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, LargeBinaryArray,
    LargeStringArray, NullArray, StringArray, StringViewArray, Time32MillisecondArray,
    Time32SecondArray, Time64MicrosecondArray, Time64NanosecondArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt16Array,
    UInt32Array, UInt64Array, UInt8Array,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{i256, DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use super::super::connect::SqliteConnection;
use super::super::types;
use crate::engines::sql::SqlSource;
use crate::engines::{Connection, OpenOptions};
use crate::error::{EngineError, EngineResult};
use crate::model::{TableName, TargetSpec, WriteMode};

fn temp_db(dir: &tempfile::TempDir) -> Arc<SqliteConnection> {
    let path = dir.path().join("t.sqlite");
    let options = OpenOptions {
        read_only: false,
        create: true,
        ..Default::default()
    };
    Arc::new(SqliteConnection::new("dst", path.to_str().unwrap(), &options).unwrap())
}

fn target(table: &str, mode: WriteMode, key: &[&str]) -> TargetSpec {
    TargetSpec {
        table: TableName::new(None, table),
        mode,
        key: key.iter().map(|k| k.to_string()).collect(),
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    }
}

/// Prepares the target, writes the batches, commits; returns rows written.
async fn load(
    conn: &SqliteConnection,
    target: &TargetSpec,
    batches: &[RecordBatch],
) -> EngineResult<u64> {
    let schema = batches[0].schema();
    let plan = conn.prepare_target(target, &schema, false, false).await?;
    let mut writer = conn.open_writer(&plan.writer_target(target), schema)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.finish(&crate::engines::hooks::Unobserved)
}

/// Reads the whole table with the schema `table_schema` reports.
async fn read_table(conn: &SqliteConnection, table: &str, order_by: &str) -> RecordBatch {
    let name = TableName::new(None, table);
    let schema: SchemaRef = conn.table_schema(&name).await.unwrap().unwrap();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| conn.quote_ident(f.name()))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {order_by}",
        columns.join(", "),
        conn.quote_ident(table)
    );
    let batches = conn
        .query(&sql, schema.clone())
        .unwrap()
        .collect::<EngineResult<Vec<_>>>()
        .unwrap();
    concat_batches(&schema, &batches).unwrap()
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

fn decimal128(values: &[Option<i128>], p: u8, s: i8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(values.to_vec())
            .with_precision_and_scale(p, s)
            .unwrap(),
    )
}

#[tokio::test]
async fn round_trip_of_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    let n = 4;
    let texts = [
        Some("héllo wörld 李 😀🚀"),
        Some("tab\there\nnew line\r\nquote ' \" back\\slash"),
        Some(""),
        None,
    ];
    let base_us = 1_706_695_200_123_456i64;
    let dict: DictionaryArray<Int32Type> = vec![Some("a"), None, Some("b"), Some("a")]
        .into_iter()
        .collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4]))),
        (
            "b",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
        (
            "i8",
            Arc::new(Int8Array::from(vec![
                Some(i8::MIN),
                Some(i8::MAX),
                None,
                Some(0),
            ])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                Some(i16::MAX),
                None,
                Some(0),
            ])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                Some(i32::MAX),
                None,
                Some(0),
            ])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                Some(i64::MAX),
                None,
                Some(0),
            ])),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![
                Some(u8::MAX),
                Some(0),
                None,
                Some(1),
            ])),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![
                Some(u16::MAX),
                Some(0),
                None,
                Some(1),
            ])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![
                Some(u32::MAX),
                Some(0),
                None,
                Some(1),
            ])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![
                Some(i64::MAX as u64),
                Some(0),
                None,
                Some(1),
            ])),
        ),
        (
            "f16",
            cast(
                &Float64Array::from(vec![Some(1.5), Some(f64::INFINITY), None, Some(-2.0)]),
                &DataType::Float16,
            )
            .unwrap(),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(0.1),
                Some(f32::NEG_INFINITY),
                None,
                Some(3.0),
            ])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                Some(f64::INFINITY),
                None,
                Some(-1e-300),
            ])),
        ),
        (
            "d32",
            Arc::new(
                Decimal32Array::from(vec![Some(1234), Some(-5), None, Some(0)])
                    .with_precision_and_scale(9, 2)
                    .unwrap(),
            ),
        ),
        (
            "d10_2",
            decimal128(&[Some(1250), Some(-5), None, Some(9_999_999_999)], 10, 2),
        ),
        (
            "d15_0",
            decimal128(
                &[
                    Some(999_999_999_999_999),
                    Some(-999_999_999_999_999),
                    None,
                    Some(0),
                ],
                15,
                0,
            ),
        ),
        (
            "d38_10",
            decimal128(
                &[
                    Some(99_999_999_999_999_999_999_999_999_999_999_999_999),
                    Some(-12_345_678_901_234_567_890_123_456_789_012_345_678),
                    None,
                    Some(1),
                ],
                38,
                10,
            ),
        ),
        (
            "d60_5",
            Arc::new(
                Decimal256Array::from(vec![
                    Some(
                        i256::from_string(
                            "-123456789012345678901234567890123456789012345678901234567890",
                        )
                        .unwrap(),
                    ),
                    Some(i256::from_i128(5)),
                    None,
                    Some(i256::ZERO),
                ])
                .with_precision_and_scale(60, 5)
                .unwrap(),
            ),
        ),
        ("utf8", Arc::new(StringArray::from(texts.to_vec()))),
        (
            "large_utf8",
            Arc::new(LargeStringArray::from(texts.to_vec())),
        ),
        (
            "utf8_view",
            Arc::new(StringViewArray::from(vec![
                Some("0012"),
                Some("1e5"),
                Some("  padded  "),
                None,
            ])),
        ),
        ("dict", Arc::new(dict)),
        (
            "bin",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\xff\x01"[..]),
                Some(&b""[..]),
                None,
                Some(&b"x"[..]),
            ])),
        ),
        (
            "large_bin",
            Arc::new(LargeBinaryArray::from(vec![
                Some(&b"\x00"[..]),
                Some(&b""[..]),
                None,
                Some(&b"y"[..]),
            ])),
        ),
        (
            "bin_view",
            Arc::new(BinaryViewArray::from(vec![
                Some(&b"\xfe"[..]),
                Some(&b""[..]),
                None,
                Some(&b"z"[..]),
            ])),
        ),
        (
            "fixed",
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    vec![
                        Some(vec![1u8, 2, 3, 4]),
                        Some(vec![0, 0, 0, 0]),
                        None,
                        Some(vec![255, 255, 255, 255]),
                    ]
                    .into_iter(),
                    4,
                )
                .unwrap(),
            ),
        ),
        (
            "date32",
            Arc::new(Date32Array::from(vec![
                Some(0),
                Some(19_782),
                None,
                Some(-719_528),
            ])),
        ),
        (
            "date64",
            Arc::new(Date64Array::from(vec![
                Some(0),
                Some(19_782 * 86_400_000),
                None,
                Some(-86_400_000),
            ])),
        ),
        (
            "ts_s",
            Arc::new(TimestampSecondArray::from(vec![
                Some(0),
                Some(1_706_695_200),
                None,
                Some(-1),
            ])),
        ),
        (
            "ts_ms",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(0),
                Some(1_706_695_200_123),
                None,
                Some(-1),
            ])),
        ),
        (
            "ts_us",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(0),
                Some(base_us),
                None,
                Some(-1),
            ])),
        ),
        (
            "ts_ns",
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(0),
                Some(base_us * 1000),
                None,
                Some(-1000),
            ])),
        ),
        (
            "ts_tz",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(0), Some(base_us), None, Some(-1)])
                    .with_timezone("Europe/Paris"),
            ),
        ),
        (
            "ts_utc_s",
            Arc::new(
                TimestampSecondArray::from(vec![Some(0), Some(1_706_695_200), None, Some(-1)])
                    .with_timezone("+00:00"),
            ),
        ),
        (
            "t32_s",
            Arc::new(Time32SecondArray::from(vec![
                Some(0),
                Some(86_399),
                None,
                Some(3_723),
            ])),
        ),
        (
            "t32_ms",
            Arc::new(Time32MillisecondArray::from(vec![
                Some(0),
                Some(86_399_999),
                None,
                Some(1),
            ])),
        ),
        (
            "t64_us",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(0),
                Some(86_399_999_999),
                None,
                Some(1),
            ])),
        ),
        (
            "t64_ns",
            Arc::new(Time64NanosecondArray::from(vec![
                Some(0),
                Some(86_399_999_999_000),
                None,
                Some(1000),
            ])),
        ),
        ("null", Arc::new(NullArray::new(n))),
    ];
    let input = batch(columns);
    let written = load(
        &conn,
        &target("all_types", WriteMode::Append, &["id"]),
        std::slice::from_ref(&input),
    )
    .await
    .unwrap();
    assert_eq!(written, n as u64);

    let output = read_table(&conn, "all_types", "id").await;
    assert_eq!(output.num_rows(), n);
    for (field, column) in input.schema().fields().iter().zip(input.columns()) {
        let read_type = types::arrow_type(&types::declared_type(field.data_type()).unwrap());
        let got = output.column_by_name(field.name()).unwrap();
        assert_eq!(got.data_type(), &read_type, "column {}", field.name());
        let expected = cast(column, &read_type).unwrap();
        assert_eq!(
            got.as_ref(),
            expected.as_ref(),
            "column {} ({})",
            field.name(),
            field.data_type()
        );
    }

    // Wide decimals are stored as text with every digit; narrow ones as numbers.
    let raw = rusqlite::Connection::open(conn.path()).unwrap();
    let (d38, class38, class10): (String, String, String) = raw
        .query_row(
            "SELECT d38_10, typeof(d38_10), typeof(d10_2) FROM all_types WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(d38, "9999999999999999999999999999.9999999999");
    assert_eq!(class38, "text");
    assert_eq!(class10, "real");
    let classes: (String, String) = raw
        .query_row(
            "SELECT (SELECT typeof(utf8) FROM all_types WHERE id = 3), (SELECT typeof(bin) FROM all_types WHERE id = 2)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        classes,
        ("text".to_string(), "blob".to_string()),
        "empty string and empty blob are not NULL"
    );
    let tz: String = raw
        .query_row("SELECT ts_tz FROM all_types WHERE id = 2", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tz, "2024-01-31 10:00:00.123456+00:00");
}

#[tokio::test]
async fn uint64_above_i64_max_is_an_error_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    let input = batch(vec![(
        "big",
        Arc::new(UInt64Array::from(vec![1, u64::MAX])) as ArrayRef,
    )]);
    let err = load(&conn, &target("t", WriteMode::Append, &[]), &[input])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EngineError::Column { .. }), "{text}");
    assert!(text.contains("column 'big'"), "{text}");
    assert!(text.contains("row 2"), "{text}");
    assert!(text.contains(&u64::MAX.to_string()), "{text}");
    // The failed load was rolled back, its CREATE with it.
    assert_eq!(
        conn.row_count(&TableName::new(None, "t")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn nan_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    let input = batch(vec![(
        "x",
        Arc::new(Float64Array::from(vec![1.0, f64::NAN])) as ArrayRef,
    )]);
    let err = load(&conn, &target("t", WriteMode::Append, &[]), &[input])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("column 'x'") && text.contains("row 2") && text.contains("NaN"),
        "{text}"
    );
}

#[tokio::test]
async fn unsupported_type_is_an_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "tags",
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        true,
    )]));
    let err = conn
        .create_table_sql(&TableName::new(None, "t"), &schema, &[])
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("column 'tags'")
            && text.contains("cannot be stored in SQLite")
            && text.contains("CAST"),
        "{text}"
    );
}

fn people(ids: &[i64], names: &[&str]) -> RecordBatch {
    batch(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(names.to_vec())) as ArrayRef,
        ),
    ])
}

async fn names(conn: &SqliteConnection, table: &str) -> Vec<(i64, String)> {
    let out = read_table(conn, table, "id").await;
    let ids = out.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    let names = out
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..out.num_rows())
        .map(|i| (ids.value(i), names.value(i).to_string()))
        .collect()
}

#[tokio::test]
async fn insert_ignore_and_upsert() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    let t = target("people", WriteMode::InsertIgnore, &["id"]);
    assert_eq!(
        load(&conn, &t, &[people(&[1, 2], &["a", "b"])])
            .await
            .unwrap(),
        2
    );
    // Key 2 is present: skipped and not counted.
    assert_eq!(
        load(&conn, &t, &[people(&[2, 3], &["B", "c"])])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        names(&conn, "people").await,
        vec![(1, "a".into()), (2, "b".into()), (3, "c".into())]
    );

    let t = target("people", WriteMode::Upsert, &["id"]);
    assert_eq!(
        load(&conn, &t, &[people(&[2, 4], &["B", "d"])])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        names(&conn, "people").await,
        vec![
            (1, "a".into()),
            (2, "B".into()),
            (3, "c".into()),
            (4, "d".into())
        ]
    );

    // Upsert where every column is a key: existing rows stay, new ones land.
    let keys_only = batch(vec![(
        "id",
        Arc::new(Int64Array::from(vec![4, 5])) as ArrayRef,
    )]);
    let t = target("ids", WriteMode::Upsert, &["id"]);
    assert_eq!(
        load(&conn, &t, std::slice::from_ref(&keys_only))
            .await
            .unwrap(),
        2
    );
    assert_eq!(load(&conn, &t, &[keys_only]).await.unwrap(), 0);

    // Upsert without a key is refused.
    let err = load(
        &conn,
        &target("people", WriteMode::Upsert, &[]),
        &[people(&[9], &["z"])],
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("key"), "{err}");
}

#[tokio::test]
async fn insert_ignore_still_fails_on_not_null() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    conn.execute("CREATE TABLE strict_people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .unwrap();
    let input = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef,
        ),
    ]);
    let t = target("strict_people", WriteMode::InsertIgnore, &["id"]);
    let err = load(&conn, &t, &[input]).await.unwrap_err();
    assert!(err.to_string().contains("NOT NULL"), "{err}");
    assert_eq!(
        conn.row_count(&TableName::new(None, "strict_people"))
            .await
            .unwrap(),
        Some(0)
    );
}

#[tokio::test]
async fn modes_and_chunking() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    let ids: Vec<i64> = (0..1000).collect();
    let labels: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let big = people(&ids, &labels);
    let t = target("many", WriteMode::Append, &[]);
    // Two batches: full statements of 256 rows, then a shorter tail each time.
    assert_eq!(
        load(&conn, &t, &[big.clone(), big.slice(0, 10)])
            .await
            .unwrap(),
        1010
    );
    let name = TableName::new(None, "many");
    assert_eq!(conn.row_count(&name).await.unwrap(), Some(1010));

    let t = target("many", WriteMode::Truncate, &[]);
    assert_eq!(load(&conn, &t, &[big.slice(0, 5)]).await.unwrap(), 5);
    assert_eq!(conn.row_count(&name).await.unwrap(), Some(5));

    let t = target("many", WriteMode::Replace, &[]);
    let other = batch(vec![("z", Arc::new(Int64Array::from(vec![7])) as ArrayRef)]);
    let statements = conn
        .prepare_target(&t, &other.schema(), true, false)
        .await
        .unwrap()
        .statements();
    assert_eq!(
        statements,
        [
            r#"DROP TABLE IF EXISTS "main"."many__barge_new""#,
            r#"CREATE TABLE "main"."many__barge_new" ("z" INTEGER NOT NULL)"#,
            "PRAGMA legacy_alter_table = ON",
            r#"DROP TABLE "main"."many""#,
            r#"ALTER TABLE "main"."many__barge_new" RENAME TO "many""#,
            "PRAGMA legacy_alter_table = OFF",
        ]
    );
    assert_eq!(load(&conn, &t, &[other]).await.unwrap(), 1);
    let schema = conn.table_schema(&name).await.unwrap().unwrap();
    assert_eq!(schema.fields().len(), 1);

    let t = target("many", WriteMode::ErrorIfExists, &[]);
    assert!(conn
        .prepare_target(&t, &big.schema(), false, false)
        .await
        .is_err());
    // A wide table binds fewer rows per statement.
    let wide: Vec<(String, ArrayRef)> = (0..300)
        .map(|i| {
            (
                format!("c{i}"),
                Arc::new(Int32Array::from(vec![i; 500])) as ArrayRef,
            )
        })
        .collect();
    let wide = RecordBatch::try_from_iter(wide).unwrap();
    let t = target("wide", WriteMode::Append, &[]);
    assert_eq!(load(&conn, &t, &[wide]).await.unwrap(), 500);
}

#[tokio::test]
async fn dropping_an_unfinished_writer_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    let t = target("people", WriteMode::Append, &["id"]);
    let input = people(&[1, 2], &["a", "b"]);
    let plan = conn
        .prepare_target(&t, &input.schema(), false, false)
        .await
        .unwrap();
    let mut writer = conn
        .open_writer(&plan.writer_target(&t), input.schema())
        .unwrap();
    assert_eq!(writer.write(&input).unwrap(), 2);
    drop(writer);
    // The CREATE was in the load's transaction: no table is left behind.
    assert_eq!(
        conn.row_count(&TableName::new(None, "people"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn sub_microsecond_timestamps_do_not_read_back_silently() {
    let dir = tempfile::tempdir().unwrap();
    let conn = temp_db(&dir);
    let input = batch(vec![(
        "ts",
        Arc::new(TimestampNanosecondArray::from(vec![
            1_706_695_200_000_000_001,
        ])) as ArrayRef,
    )]);
    load(&conn, &target("t", WriteMode::Append, &[]), &[input])
        .await
        .unwrap();
    let schema = conn
        .table_schema(&TableName::new(None, "t"))
        .await
        .unwrap()
        .unwrap();
    let err = conn
        .query(r#"SELECT "ts" FROM "main"."t""#, schema)
        .unwrap()
        .find_map(Result::err)
        .unwrap();
    assert!(
        err.to_string().contains("2024-01-31 10:00:00.000000001"),
        "{err}"
    );
}
