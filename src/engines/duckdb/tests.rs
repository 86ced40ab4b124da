//! DuckDB engine tests on temporary database files.

use std::sync::Arc;

use datafusion::arrow::array::*;
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::*;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::DuckDbConnection;
use crate::engines::sql::SqlSource;
use crate::engines::{Connection, OpenOptions};
use crate::error::EngineError;
use crate::model::{TableName, TargetSpec, WriteMode};

fn writable() -> OpenOptions {
    OpenOptions {
        read_only: false,
        create: true,
        ..Default::default()
    }
}

fn read_only() -> OpenOptions {
    OpenOptions {
        read_only: true,
        create: false,
        ..Default::default()
    }
}

fn open(name: &str, path: &std::path::Path, options: OpenOptions) -> Arc<DuckDbConnection> {
    Arc::new(DuckDbConnection::open_file(name, path.to_str().unwrap(), &options).unwrap())
}

fn col<A: Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}

/// Every type barge writes, each column with a NULL.
fn every_type_batch() -> RecordBatch {
    let struct_fields = Fields::from(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("b", DataType::Utf8, true),
    ]);
    let columns: Vec<(Field, ArrayRef)> = vec![
        (
            Field::new("id", DataType::Int32, false),
            col(Int32Array::from(vec![1, 2, 3])),
        ),
        (
            Field::new("i8", DataType::Int8, true),
            col(Int8Array::from(vec![Some(i8::MIN), None, Some(i8::MAX)])),
        ),
        (
            Field::new("i16", DataType::Int16, true),
            col(Int16Array::from(vec![Some(i16::MIN), None, Some(i16::MAX)])),
        ),
        (
            Field::new("i64", DataType::Int64, true),
            col(Int64Array::from(vec![Some(i64::MIN), None, Some(i64::MAX)])),
        ),
        (
            Field::new("u8", DataType::UInt8, true),
            col(UInt8Array::from(vec![Some(0), None, Some(u8::MAX)])),
        ),
        (
            Field::new("u16", DataType::UInt16, true),
            col(UInt16Array::from(vec![Some(0), None, Some(u16::MAX)])),
        ),
        (
            Field::new("u32", DataType::UInt32, true),
            col(UInt32Array::from(vec![Some(0), None, Some(u32::MAX)])),
        ),
        (
            Field::new("u64", DataType::UInt64, true),
            col(UInt64Array::from(vec![Some(0), None, Some(u64::MAX)])),
        ),
        (
            Field::new("f32", DataType::Float32, true),
            col(Float32Array::from(vec![
                Some(f32::NAN),
                None,
                Some(f32::NEG_INFINITY),
            ])),
        ),
        (
            Field::new("f64", DataType::Float64, true),
            col(Float64Array::from(vec![
                Some(f64::INFINITY),
                None,
                Some(f64::NAN),
            ])),
        ),
        (
            Field::new("flag", DataType::Boolean, true),
            col(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ),
        (
            Field::new("text", DataType::Utf8, true),
            col(StringArray::from(vec![
                Some("héllo\t\n\\ \"x\""),
                None,
                Some(""),
            ])),
        ),
        (
            Field::new("large_text", DataType::LargeUtf8, true),
            col(LargeStringArray::from(vec![Some("日本"), None, Some("z")])),
        ),
        (
            Field::new("view_text", DataType::Utf8View, true),
            col(StringViewArray::from(vec![
                Some("a string longer than twelve"),
                None,
                Some("s"),
            ])),
        ),
        (
            Field::new("bytes", DataType::Binary, true),
            col(BinaryArray::from(vec![
                Some(&b"\x00\xff"[..]),
                None,
                Some(&b""[..]),
            ])),
        ),
        (
            Field::new("large_bytes", DataType::LargeBinary, true),
            col(LargeBinaryArray::from(vec![
                Some(&b"ab"[..]),
                None,
                Some(&b"c"[..]),
            ])),
        ),
        (
            Field::new("dec", DataType::Decimal128(38, 10), true),
            col(Decimal128Array::from(vec![
                Some(99_999_999_999_999_999_999_999_999_999_999_999_999i128),
                None,
                Some(-12_345_678_901_234_567_890i128),
            ])
            .with_precision_and_scale(38, 10)
            .unwrap()),
        ),
        (
            Field::new("day", DataType::Date32, true),
            col(Date32Array::from(vec![
                Some(-719_162),
                None,
                Some(2_932_896),
            ])),
        ),
        (
            Field::new("clock", DataType::Time64(TimeUnit::Microsecond), true),
            col(Time64MicrosecondArray::from(vec![
                Some(0),
                None,
                Some(86_399_999_999),
            ])),
        ),
        (
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            col(TimestampMicrosecondArray::from(vec![
                Some(-1),
                None,
                Some(1_700_000_000_123_456),
            ])),
        ),
        (
            Field::new(
                "ts_utc",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            col(
                TimestampMicrosecondArray::from(vec![Some(0), None, Some(1_700_000_000_000_001)])
                    .with_timezone("UTC"),
            ),
        ),
        (
            Field::new(
                "ts_ns",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                true,
            ),
            col(TimestampNanosecondArray::from(vec![
                Some(1),
                None,
                Some(1_700_000_000_123_456_789),
            ])),
        ),
        (
            Field::new("span", DataType::Interval(IntervalUnit::MonthDayNano), true),
            col(IntervalMonthDayNanoArray::from(vec![
                Some(IntervalMonthDayNanoType::make_value(1, 2, 3_000)),
                None,
                Some(IntervalMonthDayNanoType::make_value(
                    -1,
                    0,
                    86_400_000_000_000,
                )),
            ])),
        ),
        (
            Field::new(
                "list",
                DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))),
                true,
            ),
            col(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), None, Some(3)]),
                None,
                Some(vec![]),
            ])),
        ),
        (
            Field::new("rec", DataType::Struct(struct_fields.clone()), true),
            col(StructArray::try_new(
                struct_fields,
                vec![
                    col(Int32Array::from(vec![Some(1), None, Some(3)])),
                    col(StringArray::from(vec![Some("one"), None, None])),
                ],
                Some(NullBuffer::from(vec![true, false, true])),
            )
            .unwrap()),
        ),
        (
            Field::new(
                "dict",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
            col(vec![Some("a"), None, Some("a")]
                .into_iter()
                .collect::<DictionaryArray<Int32Type>>()),
        ),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn target(name: &str, mode: WriteMode, key: &[&str]) -> TargetSpec {
    TargetSpec {
        table: TableName::new(None, name),
        mode,
        key: key.iter().map(|k| k.to_string()).collect(),
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    }
}

/// Prepares `target` and writes `batches` into it; returns the rows written.
async fn load(conn: &DuckDbConnection, target: &TargetSpec, batches: &[RecordBatch]) -> u64 {
    let schema = batches[0].schema();
    let plan = conn
        .prepare_target(target, &schema, false, false)
        .await
        .unwrap();
    let mut writer = conn
        .open_writer(&plan.writer_target(target), schema)
        .unwrap();
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.finish(&crate::engines::hooks::Unobserved).unwrap()
}

/// Reads the whole table through the engine's streaming query.
async fn read_all(
    conn: &DuckDbConnection,
    table: &str,
    order_by: &str,
) -> (SchemaRef, Vec<RecordBatch>) {
    let schema = conn
        .table_schema(&TableName::new(None, table))
        .await
        .unwrap()
        .unwrap();
    let sql = format!("SELECT * FROM \"main\".\"{table}\" ORDER BY {order_by}");
    let batches = conn
        .query(&sql, schema.clone())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (schema, batches)
}

fn int64_values(batches: &[RecordBatch], column: &str) -> Vec<Option<i64>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = cast(b.column_by_name(column).unwrap(), &DataType::Int64).unwrap();
            c.as_primitive::<Int64Type>().iter().collect::<Vec<_>>()
        })
        .collect()
}

fn string_values(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = cast(b.column_by_name(column).unwrap(), &DataType::Utf8).unwrap();
            c.as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn every_type_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/every.duckdb");
    let conn = open("dst", &path, writable());
    let batch = every_type_batch();
    let written = load(
        &conn,
        &target("every", WriteMode::Replace, &["id"]),
        std::slice::from_ref(&batch),
    )
    .await;
    assert_eq!(written, 3);

    let (schema, batches) = read_all(&conn, "every", "id").await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let back = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
    assert!(
        !schema.field_with_name("id").unwrap().is_nullable(),
        "the key is NOT NULL"
    );
    for field in batch.schema().fields() {
        let original = batch.column_by_name(field.name()).unwrap();
        let read = back.column_by_name(field.name()).unwrap();
        let read_type = read.data_type().clone();
        let read = cast(read, field.data_type()).unwrap();
        assert_eq!(
            &read,
            original,
            "column {} ({} read back as {read_type})",
            field.name(),
            field.data_type()
        );
    }
    // Types DuckDB reports back for what barge created.
    let ty = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    assert_eq!(ty("u64"), DataType::UInt64);
    assert_eq!(ty("dec"), DataType::Decimal128(38, 10));
    assert_eq!(ty("ts_ns"), DataType::Timestamp(TimeUnit::Nanosecond, None));
    assert!(matches!(
        ty("ts_utc"),
        DataType::Timestamp(TimeUnit::Microsecond, Some(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn datafusion_reads_through_the_table_provider() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("df.duckdb");
    let conn = open("src", &path, writable());
    let batch = RecordBatch::try_from_iter(vec![
        ("id", col(Int64Array::from(vec![1, 2, 3, 4]))),
        (
            "name",
            col(StringArray::from(vec![
                Some("a"),
                None,
                Some("c"),
                Some("d"),
            ])),
        ),
    ])
    .unwrap();
    load(&conn, &target("people", WriteMode::Append, &[]), &[batch]).await;

    let provider = conn
        .clone()
        .table_provider(&TableName::new(None, "people"))
        .await
        .unwrap()
        .unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("people", provider).unwrap();
    let rows = ctx
        .sql("SELECT name FROM people WHERE id > 1 AND name IS NOT NULL ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        string_values(&rows, "name"),
        vec![Some("c".into()), Some("d".into())]
    );
    let rows = ctx
        .sql("SELECT count(*) AS n FROM people")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(int64_values(&rows, "n"), vec![Some(4)]);
    assert_eq!(
        conn.row_count(&TableName::new(None, "people"))
            .await
            .unwrap(),
        Some(4)
    );
    assert!(conn
        .clone()
        .table_provider(&TableName::new(None, "missing"))
        .await
        .unwrap()
        .is_none());
    let tables = conn.list_tables().await.unwrap();
    assert_eq!(tables, vec![TableName::new(Some("main"), "people")]);
}

fn keyed(ids: &[i64], names: &[&str]) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        ("id", col(Int64Array::from(ids.to_vec()))),
        ("name", col(StringArray::from(names.to_vec()))),
    ])
    .unwrap()
}

#[tokio::test]
async fn insert_ignore_and_upsert_merge_on_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open("dst", &dir.path().join("merge.duckdb"), writable());

    let ignore = target("users", WriteMode::InsertIgnore, &["id"]);
    let n = load(
        &conn,
        &ignore,
        &[keyed(&[1, 2], &["a", "b"]), keyed(&[2], &["b2"])],
    )
    .await;
    assert_eq!(n, 2, "the repeated key is skipped");
    let n = load(&conn, &ignore, &[keyed(&[1, 3], &["x", "c"])]).await;
    assert_eq!(n, 1, "only the new key is inserted");
    let (_, rows) = read_all(&conn, "users", "id").await;
    assert_eq!(int64_values(&rows, "id"), vec![Some(1), Some(2), Some(3)]);
    assert_eq!(
        string_values(&rows, "name"),
        vec![Some("a".into()), Some("b".into()), Some("c".into())]
    );

    let upsert = target("users", WriteMode::Upsert, &["id"]);
    let n = load(
        &conn,
        &upsert,
        &[keyed(&[2, 4], &["B", "d"]), keyed(&[4], &["D"])],
    )
    .await;
    assert_eq!(n, 2, "one update and one insert");
    let (_, rows) = read_all(&conn, "users", "id").await;
    assert_eq!(
        int64_values(&rows, "id"),
        vec![Some(1), Some(2), Some(3), Some(4)]
    );
    assert_eq!(
        string_values(&rows, "name"),
        vec![
            Some("a".into()),
            Some("B".into()),
            Some("c".into()),
            Some("D".into())
        ]
    );
}

#[tokio::test]
async fn upsert_without_a_key_constraint_explains() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open("dst", &dir.path().join("nokey.duckdb"), writable());
    load(
        &conn,
        &target("t", WriteMode::Append, &[]),
        &[keyed(&[1], &["a"])],
    )
    .await;
    let upsert = target("t", WriteMode::Upsert, &["id"]);
    let schema = keyed(&[1], &["a"]).schema();
    conn.prepare_target(&upsert, &schema, false, false)
        .await
        .unwrap();
    let mut writer = conn.open_writer(&upsert, schema).unwrap();
    writer.write(&keyed(&[1], &["b"])).unwrap();
    let err = writer
        .finish(&crate::engines::hooks::Unobserved)
        .unwrap_err()
        .to_string();
    assert!(err.contains("hint") && err.contains("'dst'"), "{err}");
}

#[tokio::test]
async fn a_dropped_writer_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open("dst", &dir.path().join("rollback.duckdb"), writable());
    load(
        &conn,
        &target("t", WriteMode::Append, &[]),
        &[keyed(&[1], &["a"])],
    )
    .await;
    let append = target("t", WriteMode::Append, &[]);
    let mut writer = conn
        .open_writer(&append, keyed(&[1], &["a"]).schema())
        .unwrap();
    assert_eq!(writer.write(&keyed(&[2, 3], &["b", "c"])).unwrap(), 2);
    drop(writer);
    assert_eq!(
        conn.row_count(&TableName::new(None, "t")).await.unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn a_key_violation_fails_the_append() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open("dst", &dir.path().join("dup.duckdb"), writable());
    let append = target("t", WriteMode::Append, &["id"]);
    load(&conn, &append, &[keyed(&[1], &["a"])]).await;
    let mut writer = conn
        .open_writer(&append, keyed(&[1], &["a"]).schema())
        .unwrap();
    let result = writer
        .write(&keyed(&[1], &["again"]))
        .and_then(|_| writer.finish(&crate::engines::hooks::Unobserved));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("'dst'") && err.contains("main.t"), "{err}");
    assert_eq!(
        conn.row_count(&TableName::new(None, "t")).await.unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn a_missing_file_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.duckdb");
    for options in [read_only(), OpenOptions::default()] {
        let err = DuckDbConnection::open_file("src", path.to_str().unwrap(), &options).unwrap_err();
        assert!(matches!(err, EngineError::Open { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("'src'") && msg.contains("does not exist") && msg.contains("hint"),
            "{msg}"
        );
    }
    assert!(!path.exists());
    let err = crate::engines::open("src", "duckdb://", &OpenOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no database file"), "{err}");
}

#[tokio::test]
async fn a_file_is_shared_by_a_reader_and_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.duckdb");
    let dst = open("dst", &path, writable());
    let src = open("src", &path, read_only());
    load(
        &dst,
        &target("t", WriteMode::Append, &["id"]),
        &[keyed(&[1, 2], &["a", "b"])],
    )
    .await;
    let (_, rows) = read_all(&src, "t", "id").await;
    assert_eq!(int64_values(&rows, "id"), vec![Some(1), Some(2)]);

    // The reader refuses writes even though the file is open read-write.
    let t = target("t", WriteMode::Append, &[]);
    let err = src
        .prepare_target(&t, &keyed(&[1], &["a"]).schema(), false, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(src.open_writer(&t, keyed(&[1], &["a"]).schema()).is_err());
    assert!(src.execute("DELETE FROM t").is_err());

    // A read and a write of the same file can run at the same time.
    let mut reader = src
        .query(
            "SELECT id FROM t",
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)])),
        )
        .unwrap();
    let first = reader.next().unwrap().unwrap();
    assert_eq!(first.num_rows(), 2);
    assert_eq!(load(&dst, &t, &[keyed(&[3], &["c"])]).await, 1);
    assert!(reader.next().is_none());
    drop(reader);

    // Closing both closes the file; a read-only open comes first next time
    // and a writing connection then reopens it read-write.
    drop((src, dst));
    let src = open("src", &path, read_only());
    assert_eq!(
        src.row_count(&TableName::new(None, "t")).await.unwrap(),
        Some(3)
    );
    let dst = open("dst", &path, writable());
    assert_eq!(load(&dst, &t, &[keyed(&[4], &["d"])]).await, 1);
    assert_eq!(
        src.row_count(&TableName::new(None, "t")).await.unwrap(),
        Some(4)
    );
}

#[tokio::test]
async fn large_tables_stream_in_many_batches() {
    const ROWS: i64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let conn = open("dst", &dir.path().join("big.duckdb"), writable());
    let batches: Vec<RecordBatch> = (0..ROWS)
        .step_by(50_000)
        .map(|start| {
            let ids: Vec<i64> = (start..start + 50_000).collect();
            let names: Vec<String> = ids.iter().map(|i| format!("name {i}")).collect();
            RecordBatch::try_from_iter(vec![
                ("id", col(Int64Array::from(ids))),
                ("name", col(StringArray::from(names))),
            ])
            .unwrap()
        })
        .collect();
    let written = load(&conn, &target("big", WriteMode::Replace, &["id"]), &batches).await;
    assert_eq!(written, ROWS as u64);

    let schema = conn
        .table_schema(&TableName::new(None, "big"))
        .await
        .unwrap()
        .unwrap();
    let mut count = 0usize;
    let mut batches_read = 0usize;
    let mut sum = 0i64;
    for batch in conn.query("SELECT id, name FROM big", schema).unwrap() {
        let batch = batch.unwrap();
        batches_read += 1;
        count += batch.num_rows();
        sum += int64_values(&[batch], "id").iter().flatten().sum::<i64>();
    }
    assert_eq!(count, ROWS as usize);
    assert_eq!(sum, ROWS * (ROWS - 1) / 2);
    assert!(batches_read > 1, "streamed in {batches_read} batch(es)");

    // A scan that needs no column still counts rows.
    let empty = Arc::new(Schema::empty());
    let rows: usize = conn
        .query("SELECT 1 FROM big", empty)
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, ROWS as usize);
}

#[tokio::test]
async fn the_appender_gets_types_it_cannot_take_converted() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open("dst", &dir.path().join("casts.duckdb"), writable());
    conn.execute(
        "CREATE TABLE t (id INTEGER, ts TIMESTAMP, big DECIMAL(20,2), half FLOAT, \
         d INTERVAL, nothing VARCHAR, n BIGINT, tz TIMESTAMPTZ, t TIME)",
    )
    .unwrap();
    let decimals = Decimal256Array::from(vec![Some(i256::from_i128(12_345)), None])
        .with_precision_and_scale(20, 2)
        .unwrap();
    let batch = RecordBatch::try_from_iter(vec![
        ("id", col(Int64Array::from(vec![1, 2]))),
        (
            "ts",
            col(TimestampNanosecondArray::from(vec![
                Some(1_700_000_000_123_456_000),
                None,
            ])),
        ),
        ("big", col(decimals)),
        (
            "half",
            cast(
                &col(Float32Array::from(vec![Some(1.5), None])),
                &DataType::Float16,
            )
            .unwrap(),
        ),
        ("d", col(DurationSecondArray::from(vec![Some(90), None]))),
        ("nothing", col(NullArray::new(2))),
        (
            "n",
            col(vec![Some("7"), None]
                .into_iter()
                .collect::<DictionaryArray<Int8Type>>()),
        ),
        (
            "tz",
            col(
                TimestampNanosecondArray::from(vec![Some(1_000_000_000), None])
                    .with_timezone("+02:00"),
            ),
        ),
        ("t", col(Time32SecondArray::from(vec![Some(3_600), None]))),
    ])
    .unwrap();
    let written = load(&conn, &target("t", WriteMode::Append, &[]), &[batch]).await;
    assert_eq!(written, 2);
    let session = conn.session().unwrap();
    let row: (String, String, f32, String, Option<String>, i64, String) = session
        .query_row(
            "SELECT ts::VARCHAR, big::VARCHAR, half, d::VARCHAR, nothing, n, t::VARCHAR \
             FROM t WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "2023-11-14 22:13:20.123456".to_string(),
            "123.45".to_string(),
            1.5,
            "00:01:30".to_string(),
            None,
            7,
            "01:00:00".to_string()
        )
    );
    let tz_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let tz = conn
        .query(
            "SELECT tz FROM t ORDER BY id",
            Arc::new(Schema::new(vec![Field::new("tz", tz_type, true)])),
        )
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(int64_values(&tz, "tz"), vec![Some(1_000_000), None]);
    let nulls: i64 = session
        .query_row(
            "SELECT count(*) FROM t WHERE id = 2 AND ts IS NULL AND big IS NULL AND half IS NULL \
             AND d IS NULL AND nothing IS NULL AND n IS NULL AND tz IS NULL AND t IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(nulls, 1);
}

#[test]
fn read_only_connection_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.duckdb");
    {
        let conn = open("dst", &path, writable());
        conn.execute("CREATE TABLE a (x INTEGER NOT NULL, y VARCHAR)")
            .unwrap();
        conn.execute("CREATE VIEW v AS SELECT x FROM a").unwrap();
    }
    let src = open("src", &path, read_only());
    let tables = futures::executor::block_on(src.list_tables()).unwrap();
    assert_eq!(
        tables,
        vec![
            TableName::new(Some("main"), "a"),
            TableName::new(Some("main"), "v")
        ]
    );
    let schema = futures::executor::block_on(src.table_schema(&TableName::new(None, "A")))
        .unwrap()
        .unwrap();
    assert!(!schema.field(0).is_nullable() && schema.field(1).is_nullable());
    assert_eq!(
        futures::executor::block_on(src.row_count(&TableName::new(None, "v"))).unwrap(),
        None
    );
    assert!(
        futures::executor::block_on(src.table_schema(&TableName::new(None, "zz")))
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_target_in_another_schema_gets_its_schema_created() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open("dst", &dir.path().join("schemas.duckdb"), writable());
    let t = TargetSpec {
        table: TableName::new(Some("analytics"), "t"),
        mode: WriteMode::Replace,
        key: vec![],
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    };
    let dry = conn
        .prepare_target(&t, &keyed(&[1], &["a"]).schema(), true, false)
        .await
        .unwrap()
        .statements();
    assert_eq!(dry[0], "CREATE SCHEMA IF NOT EXISTS \"analytics\"");
    assert_eq!(load(&conn, &t, &[keyed(&[1, 2], &["a", "b"])]).await, 2);
    assert_eq!(conn.row_count(&t.table).await.unwrap(), Some(2));
    let again = conn
        .prepare_target(&t, &keyed(&[1], &["a"]).schema(), true, false)
        .await
        .unwrap()
        .statements();
    // A replace loads a shadow made from the table's own definition and
    // swaps it in, in the load's transaction.
    assert_eq!(
        again[0],
        "DROP TABLE IF EXISTS \"analytics\".\"t__barge_new\""
    );
    assert!(
        again[1].starts_with("CREATE TABLE \"analytics\".\"t__barge_new\""),
        "{again:?}"
    );
    assert_eq!(
        again[2..],
        [
            "DROP TABLE \"analytics\".\"t\"".to_string(),
            "ALTER TABLE \"analytics\".\"t__barge_new\" RENAME TO \"t\"".to_string()
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn text_filters_go_down_only_on_binary_columns() {
    use datafusion::logical_expr::TableProviderFilterPushDown::{Exact, Unsupported};
    use datafusion::prelude::{col, lit};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collated.duckdb");
    let db = duckdb::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE people (id BIGINT, name VARCHAR COLLATE nocase, code VARCHAR, \
           tag VARCHAR COLLATE \"binary\");
         INSERT INTO people VALUES (1, 'abc', 'abc', 'abc'), (2, 'ABC', 'ABC', 'ABC');",
    )
    .unwrap();
    drop(db);
    let conn = open("src", &path, read_only());
    let provider = conn
        .clone()
        .table_provider(&TableName::new(None, "people"))
        .await
        .unwrap()
        .unwrap();
    let filters = [
        col("name").eq(lit("abc")),
        col("code").eq(lit("abc")),
        col("tag").lt(lit("abc")),
        col("name").in_list(vec![lit("abc")], false),
        col("name").eq(col("code")),
        col("id").eq(lit(1i64)),
    ];
    let pushed = provider
        .supports_filters_pushdown(&filters.iter().collect::<Vec<_>>())
        .unwrap();
    assert_eq!(
        pushed,
        [Unsupported, Exact, Exact, Unsupported, Unsupported, Exact]
    );

    let ctx = SessionContext::new();
    ctx.register_table("people", provider).unwrap();
    let rows = ctx
        .sql("SELECT id FROM people WHERE name = 'abc'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(int64_values(&rows, "id"), vec![Some(1)]);
}

/// The storage version in a DuckDB file's header.
fn storage_header(path: &std::path::Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    u64::from_le_bytes(bytes[12..20].try_into().unwrap())
}

#[test]
fn new_files_are_written_in_the_storage_version_the_url_asks() {
    let dir = tempfile::tempdir().unwrap();
    // 64: read by DuckDB 0.9 and later; 67: 1.4 and later; 999: the
    // bundled DuckDB's own format, which no 1.x release reads.
    for (query, header) in [
        ("", 64),
        ("?storage_version=v1.4.0", 67),
        ("?storage_version=latest", 999),
    ] {
        let path = dir.path().join(format!("v{header}.duckdb"));
        let url_path = format!("{}{query}", path.display());
        drop(DuckDbConnection::open_file("dst", &url_path, &writable()).unwrap());
        assert_eq!(storage_header(&path), header, "{query}");
        // An existing file keeps its version, whatever the URL asks.
        drop(DuckDbConnection::open_file("dst", path.to_str().unwrap(), &writable()).unwrap());
        assert_eq!(storage_header(&path), header, "{query} reopened");
    }
    for (query, needle) in [
        ("?storage_version=bogus", "storage_compatibility_version"),
        ("?storage=v1.4.0", "unknown URL option 'storage=v1.4.0'"),
    ] {
        let url_path = format!("{}{query}", dir.path().join("bad.duckdb").display());
        let err = DuckDbConnection::open_file("dst", &url_path, &writable())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
        assert!(
            err.contains("hint: the one URL option is storage_version"),
            "{err}"
        );
    }
}
