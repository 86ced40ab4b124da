use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, ListArray, StringArray,
    StructArray, Time64MicrosecondArray, TimestampMicrosecondArray, UInt16Array, UInt32Array,
    UInt64Array, UInt8Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::super::test_support::{open_target, read, write};
use super::*;
use crate::model::{EngineKind, WriteMode};

const TEXTS: [Option<&str>; 4] = [
    Some("žluťoučký kůň 🐴 中文"),
    Some("two\nlines\r\nand \"quotes\", commas"),
    Some("tab\there back\\slash"),
    None,
];

/// 2024-02-29T12:34:56.789012 in microseconds since the epoch.
const TS: i64 = 1_709_210_096_789_012;

fn all_types_batch() -> RecordBatch {
    let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), None, Some(3)]),
        Some(vec![]),
        None,
        Some(vec![Some(i32::MIN)]),
    ]);
    let structs = StructArray::from(vec![
        (
            Arc::new(Field::new("a", DataType::Int32, true)),
            Arc::new(Int32Array::from(vec![Some(1), None, Some(3), Some(4)])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("b", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![
                Some("x"),
                Some("y"),
                None,
                Some(""),
            ])) as ArrayRef,
        ),
    ]);
    let max38 = 10i128.pow(38) - 1;
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "i8",
            Arc::new(Int8Array::from(vec![
                Some(i8::MIN),
                Some(0),
                Some(i8::MAX),
                None,
            ])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                Some(-1),
                Some(i16::MAX),
                None,
            ])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                Some(1),
                Some(i32::MAX),
                None,
            ])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                Some(2),
                Some(i64::MAX),
                None,
            ])),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![
                Some(0),
                Some(1),
                Some(u8::MAX),
                None,
            ])),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![
                Some(0),
                Some(1),
                Some(u16::MAX),
                None,
            ])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![
                Some(0),
                Some(1),
                Some(u32::MAX),
                None,
            ])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![
                Some(0),
                Some(1),
                Some(u64::MAX),
                None,
            ])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(f32::NAN),
                Some(f32::INFINITY),
                Some(-1.5),
                None,
            ])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(f64::NAN),
                Some(f64::NEG_INFINITY),
                Some(f64::INFINITY),
                None,
            ])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                Some(true),
                None,
            ])),
        ),
        ("text", Arc::new(StringArray::from(TEXTS.to_vec()))),
        (
            "bytes",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\x01\xff"[..]),
                Some(&b""[..]),
                Some(&b"abc"[..]),
                None,
            ])),
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![Some(max38), Some(-max38), Some(12_345_000_000), None])
                    .with_precision_and_scale(38, 10)
                    .unwrap(),
            ),
        ),
        (
            "day",
            Arc::new(Date32Array::from(vec![
                Some(19_782),
                Some(0),
                Some(-719_162),
                None,
            ])),
        ),
        (
            "at",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(45_296_789_012),
                Some(0),
                Some(86_399_999_999),
                None,
            ])),
        ),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(TS),
                Some(0),
                Some(-1),
                None,
            ])),
        ),
        (
            "tstz",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(TS), Some(0), Some(-1), None])
                    .with_timezone("UTC"),
            ),
        ),
        (
            "tsoff",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(TS), None, Some(1), None])
                    .with_timezone("+02:00"),
            ),
        ),
        ("ints", Arc::new(list)),
        ("rec", Arc::new(structs)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn assert_same(got: &RecordBatch, want: &RecordBatch) {
    assert_eq!(got.num_rows(), want.num_rows());
    assert_eq!(got.num_columns(), want.num_columns());
    for (i, field) in want.schema().fields().iter().enumerate() {
        let got_field = got.schema().field(i).clone();
        assert_eq!(got_field.name(), field.name());
        assert_eq!(
            got_field.data_type(),
            field.data_type(),
            "column {}",
            field.name()
        );
        assert_eq!(
            got.column(i).as_ref(),
            want.column(i).as_ref(),
            "column {}",
            field.name()
        );
    }
}

#[test]
fn parquet_row_groups_split_batches_and_keep_every_value_in_order() {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("twice", DataType::Int64, true),
    ]));
    let batch = |from: i64, n: i64| {
        let ids: Vec<i64> = (from..from + n).collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(StringArray::from_iter(
                    ids.iter().map(|i| (i % 3 != 0).then(|| format!("row {i}"))),
                )),
                Arc::new(Int64Array::from_iter(
                    ids.iter().map(|i| (i % 5 != 0).then_some(i * 2)),
                )),
            ],
        )
        .unwrap()
    };
    let mut writer = Box::new(
        ParquetWriter::with_row_group_rows("c", "t", &path, schema.clone(), 1000).unwrap(),
    );
    // 700 + 700 + 1100 rows: batches split across three row groups.
    let written = [batch(0, 700), batch(700, 700), batch(1400, 1100)];
    for b in &written {
        writer.write(b).unwrap();
    }
    writer.finish(&crate::engines::hooks::Unobserved).unwrap();

    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    let groups: Vec<i64> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups, [1000, 1000, 500]);
    let got: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
    let got = datafusion::arrow::compute::concat_batches(&schema, &got).unwrap();
    let want = datafusion::arrow::compute::concat_batches(&schema, &written).unwrap();
    assert_eq!(got, want);
}

#[tokio::test]
async fn parquet_round_trips_every_type_with_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.parquet");
    let conn = open_target(path.to_str().unwrap(), EngineKind::Parquet);
    let batch = all_types_batch();
    // Two batches: the file holds both, in order.
    let rows = write(
        &conn,
        "all",
        WriteMode::Replace,
        &[batch.clone(), batch.clone()],
    )
    .await
    .unwrap();
    assert_eq!(rows, 8);
    let want = datafusion::arrow::compute::concat_batches(&batch.schema(), &[batch.clone(), batch])
        .unwrap();
    let got = read(&conn, "all").await;
    assert_same(&got, &want);
    let table = crate::model::TableName::new(Some("main"), "all");
    assert_eq!(conn.row_count(&table).await.unwrap(), Some(8));
    let file = File::open(&path).unwrap();
    let metadata = datafusion::parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .unwrap();
    assert!(matches!(
        metadata.row_group(0).column(0).compression(),
        Compression::ZSTD(_)
    ));
    assert_eq!(
        conn.table_schema(&table)
            .await
            .unwrap()
            .unwrap()
            .fields()
            .len(),
        21
    );
}

fn display(array: &dyn Array) -> Vec<String> {
    let options = FormatOptions::default();
    let formatter = ArrayFormatter::try_new(array, &options).unwrap();
    (0..array.len())
        .map(|i| {
            if array.is_null(i) {
                "NULL".to_string()
            } else {
                formatter.value(i).to_string()
            }
        })
        .collect()
}

#[tokio::test]
async fn csv_round_trips_scalar_values() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_target(
        dir.path().join("out.csv").to_str().unwrap(),
        EngineKind::Csv,
    );
    let batch = all_types_batch();
    let keep = [
        "i8", "i64", "u32", "f32", "f64", "flag", "text", "amount", "day", "at", "ts", "tstz",
    ];
    let indices: Vec<usize> = keep
        .iter()
        .map(|name| batch.schema().index_of(name).unwrap())
        .collect();
    let mut batch = batch.project(&indices).unwrap();
    // A value above i64::MAX would not read back as the inferred Int64.
    let amounts = Decimal128Array::from(vec![
        Some(15_000_000_000),
        Some(-22_500_000_000),
        Some(0),
        None,
    ])
    .with_precision_and_scale(38, 10)
    .unwrap();
    let mut columns = batch.columns().to_vec();
    columns[7] = Arc::new(amounts);
    batch = RecordBatch::try_new(batch.schema(), columns).unwrap();

    assert_eq!(
        write(&conn, "out", WriteMode::Replace, &[batch])
            .await
            .unwrap(),
        4
    );
    let got = read(&conn, "out").await;
    let column = |name: &str| display(got.column(got.schema().index_of(name).unwrap()).as_ref());
    assert_eq!(
        got.schema().field_with_name("i64").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(column("i8"), ["-128", "0", "127", "NULL"]);
    assert_eq!(
        column("i64"),
        [
            i64::MIN.to_string(),
            "2".into(),
            i64::MAX.to_string(),
            "NULL".into()
        ]
    );
    assert_eq!(column("u32"), ["0", "1", "4294967295", "NULL"]);
    let floats: Vec<Option<f64>> = column("f64").iter().map(|s| s.parse().ok()).collect();
    assert!(floats[0].is_some_and(f64::is_nan));
    assert_eq!(
        &floats[1..],
        [Some(f64::NEG_INFINITY), Some(f64::INFINITY), None]
    );
    let floats: Vec<Option<f64>> = column("f32").iter().map(|s| s.parse().ok()).collect();
    assert!(floats[0].is_some_and(f64::is_nan));
    assert_eq!(&floats[1..], [Some(f64::INFINITY), Some(-1.5), None]);
    assert_eq!(column("flag"), ["true", "false", "true", "NULL"]);
    let texts: Vec<String> = TEXTS
        .iter()
        .map(|t| t.unwrap_or("NULL").to_string())
        .collect();
    assert_eq!(column("text"), texts);
    let amounts: Vec<Option<f64>> = column("amount").iter().map(|s| s.parse().ok()).collect();
    assert_eq!(amounts, [Some(1.5), Some(-2.25), Some(0.0), None]);
    assert_eq!(
        column("day"),
        ["2024-02-29", "1970-01-01", "0001-01-01", "NULL"]
    );
    assert_eq!(
        column("at"),
        ["12:34:56.789012", "00:00:00", "23:59:59.999999", "NULL"]
    );
    let ts = column("ts");
    assert_eq!(ts[0], "2024-02-29T12:34:56.789012");
    assert_eq!(ts[3], "NULL");
    let tstz = column("tstz");
    assert!(
        tstz[0].starts_with("2024-02-29T12:34:56.789012"),
        "{tstz:?}"
    );
    assert_eq!(tstz[3], "NULL");
}

#[tokio::test]
async fn csv_with_no_rows_keeps_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.csv");
    let conn = open_target(path.to_str().unwrap(), EngineKind::Csv);
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    let target = crate::model::TargetSpec {
        table: crate::model::TableName::new(None, "empty"),
        mode: WriteMode::Replace,
        key: vec![],
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    };
    let writer = conn.open_writer(&target, schema).unwrap();
    assert_eq!(
        writer.finish(&crate::engines::hooks::Unobserved).unwrap(),
        0
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "id\n");
}

#[tokio::test]
async fn failed_load_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [EngineKind::Parquet, EngineKind::Csv] {
        let path = dir
            .path()
            .join(format!("t.{}", super::super::source::extension(kind)));
        let conn = open_target(path.to_str().unwrap(), kind);
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let old = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1]))])
            .unwrap();
        write(&conn, "t", WriteMode::Replace, std::slice::from_ref(&old))
            .await
            .unwrap();

        let target = crate::model::TargetSpec {
            table: crate::model::TableName::new(None, "t"),
            mode: WriteMode::Replace,
            key: vec![],
            disable_fk_checks: false,
            setup: vec![],
            finish: vec![],
        };
        let lines = conn
            .prepare_target(&target, &schema, false, false)
            .await
            .unwrap()
            .statements();
        assert!(lines[0].contains("replace"), "{lines:?}");
        let mut writer = conn.open_writer(&target, schema.clone()).unwrap();
        let new = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![7, 8, 9]))],
        )
        .unwrap();
        assert_eq!(writer.write(&new).unwrap(), 3);
        assert!(temp_path(&path).exists());
        drop(writer); // the read failed: no finish
        assert!(!temp_path(&path).exists(), "{kind}: temp file left behind");
        let got = read(&conn, "t").await;
        assert_eq!(display(got.column(0).as_ref()), ["1"], "{kind}");

        // A finished replace swaps the file.
        write(&conn, "t", WriteMode::Replace, &[new]).await.unwrap();
        let got = read(&conn, "t").await;
        assert_eq!(display(got.column(0).as_ref()), ["7", "8", "9"], "{kind}");
    }
}
