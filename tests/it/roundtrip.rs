//! Round trips of every Arrow type the embedded engines store, NULLs
//! included, through `barge copy`: Parquet -> DuckDB -> Parquet must be
//! identical; through SQLite, integers and floats widen to 64 bits (SQLite's
//! storage classes) and every value must survive.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::*;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

use crate::common::{barge, read_parquet};

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Four rows per type: typical values, edge values, and a row of NULLs.
fn all_types(with_nan_and_u64_max: bool) -> RecordBatch {
    let text = StringArray::from(vec![
        Some("plain"),
        Some("tab\there\nnew line \\ back 'quote' \"dq\" 😀 ünïcode 李"),
        None,
        Some(""),
    ]);
    let (f64s, u64_max) = if with_nan_and_u64_max {
        (
            vec![Some(1.5), Some(f64::INFINITY), None, Some(f64::NAN)],
            u64::MAX,
        )
    } else {
        (
            vec![
                Some(1.5),
                Some(f64::INFINITY),
                None,
                Some(f64::NEG_INFINITY),
            ],
            i64::MAX as u64,
        )
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "i8",
            Arc::new(Int8Array::from(vec![
                Some(1),
                Some(i8::MIN),
                None,
                Some(i8::MAX),
            ])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![
                Some(2),
                Some(i16::MIN),
                None,
                Some(i16::MAX),
            ])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(3),
                Some(i32::MIN),
                None,
                Some(i32::MAX),
            ])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![
                Some(4),
                Some(i64::MIN),
                None,
                Some(i64::MAX),
            ])),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![
                Some(5),
                Some(0),
                None,
                Some(u8::MAX),
            ])),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![
                Some(6),
                Some(0),
                None,
                Some(u16::MAX),
            ])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![
                Some(7),
                Some(0),
                None,
                Some(u32::MAX),
            ])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![
                Some(8),
                Some(0),
                None,
                Some(u64_max),
            ])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(0.25),
                Some(-1e30),
                None,
                Some(f32::NEG_INFINITY),
            ])),
        ),
        ("f64", Arc::new(Float64Array::from(f64s))),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
        ("text", Arc::new(text)),
        (
            "bytes",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\x01\xff"[..]),
                Some(&b""[..]),
                None,
                Some(&b"abc"[..]),
            ])),
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![
                    Some(1_5000000000),
                    Some(99999999999999999999999999999999999999),
                    None,
                    Some(-12345678901234567890123456789),
                ])
                .with_precision_and_scale(38, 10)
                .unwrap(),
            ),
        ),
        // 0001-01-01, 9999-12-31, NULL, 2024-02-29
        (
            "day",
            Arc::new(Date32Array::from(vec![
                Some(-719162),
                Some(2932896),
                None,
                Some(19782),
            ])),
        ),
        (
            "clock",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(0),
                Some(86_399_999_999),
                None,
                Some(45_296_000_001),
            ])),
        ),
        (
            "naive",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_700_000_000_123_456),
                Some(-62_135_596_800_000_000),
                None,
                Some(0),
            ])),
        ),
        (
            "instant",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_700_000_000_000_001),
                    Some(0),
                    None,
                    Some(-1),
                ])
                .with_timezone("UTC"),
            ),
        ),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

/// Compares column by column after casting `got` to `want`'s types, so a
/// failure names the column; NaN equals NaN.
fn assert_same_values(want: &RecordBatch, got: &RecordBatch) {
    assert_eq!(want.num_rows(), got.num_rows(), "row count");
    for (i, field) in want.schema().fields().iter().enumerate() {
        let got_col = got
            .column_by_name(field.name())
            .unwrap_or_else(|| panic!("column {} missing from {:?}", field.name(), got.schema()));
        let got_cast = cast(got_col, field.data_type()).unwrap_or_else(|e| {
            panic!(
                "column {}: cannot cast {} back: {e}",
                field.name(),
                got_col.data_type()
            )
        });
        let want_col = want.column(i);
        let render = |a: &ArrayRef| -> Vec<String> {
            let fmt = datafusion::arrow::util::display::ArrayFormatter::try_new(
                a.as_ref(),
                &Default::default(),
            )
            .unwrap();
            (0..a.len())
                .map(|r| {
                    if a.is_null(r) {
                        "NULL".into()
                    } else {
                        fmt.value(r).to_string()
                    }
                })
                .collect()
        };
        assert_eq!(
            render(want_col),
            render(&got_cast),
            "column {} ({})",
            field.name(),
            field.data_type()
        );
    }
}

#[test]
fn parquet_duckdb_parquet_is_identical_for_every_type_in_every_storage_version() {
    let dir = tempfile::tempdir().unwrap();
    let original = all_types(true);
    write_parquet(&dir.path().join("types.parquet"), &original);
    // The default (v0.9.0, which DuckDB 1.x opens), a later one, and the
    // bundled DuckDB's own.
    for (i, query) in ["", "?storage_version=v1.4.0", "?storage_version=latest"]
        .into_iter()
        .enumerate()
    {
        let file = format!("duckdb://rt{i}.duckdb{query}");
        let back_file = format!("back{i}.parquet");
        barge(dir.path(), &["copy", "types.parquet", &file, "-q"]).assert_ok();
        barge(
            dir.path(),
            &["copy", &format!("duckdb://rt{i}.duckdb"), &back_file, "-q"],
        )
        .assert_ok();
        let back = read_parquet(&dir.path().join(&back_file));
        for (want, got) in original
            .schema()
            .fields()
            .iter()
            .zip(back.schema().fields())
        {
            assert_eq!(
                want.data_type(),
                got.data_type(),
                "type of {} after DuckDB {query}",
                want.name()
            );
        }
        assert_same_values(&original, &back);
    }
}

#[test]
fn parquet_sqlite_parquet_keeps_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let original = all_types(false);
    write_parquet(&dir.path().join("types.parquet"), &original);
    barge(
        dir.path(),
        &["copy", "types.parquet", "sqlite://rt.sqlite", "-q"],
    )
    .assert_ok();
    barge(
        dir.path(),
        &["copy", "sqlite://rt.sqlite", "back.parquet", "-q"],
    )
    .assert_ok();
    let back = read_parquet(&dir.path().join("back.parquet"));
    // Types that SQLite keeps exactly (the rest widen, see the SQLite types table).
    for name in [
        "flag", "text", "bytes", "amount", "day", "clock", "naive", "instant", "i64", "f64",
    ] {
        let want = original
            .schema()
            .field_with_name(name)
            .unwrap()
            .data_type()
            .clone();
        let got = back
            .schema()
            .field_with_name(name)
            .unwrap()
            .data_type()
            .clone();
        assert_eq!(want, got, "type of {name} after SQLite");
    }
    assert_same_values(&original, &back);
}

#[test]
fn sqlite_refuses_values_it_cannot_store() {
    let dir = tempfile::tempdir().unwrap();
    let batch = |name: &str, array: ArrayRef| {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                name,
                array.data_type().clone(),
                true,
            )])),
            vec![array],
        )
        .unwrap()
    };
    write_parquet(
        &dir.path().join("big.parquet"),
        &batch("big", Arc::new(UInt64Array::from(vec![1, u64::MAX]))),
    );
    barge(
        dir.path(),
        &["copy", "big.parquet", "sqlite://t.sqlite", "-q"],
    )
    .assert_fails(1, &["big (UInt64 -> Int64)", "18446744073709551615"]);
    write_parquet(
        &dir.path().join("nan.parquet"),
        &batch("ratio", Arc::new(Float64Array::from(vec![1.0, f64::NAN]))),
    );
    barge(
        dir.path(),
        &["copy", "nan.parquet", "sqlite://t.sqlite", "-q"],
    )
    .assert_fails(1, &["column 'ratio'", "NaN"]);
}

#[test]
fn copy_sqlite_to_duckdb_to_csv_keeps_every_row() {
    let dir = crate::common::workdir_with_shop();
    barge(
        dir.path(),
        &[
            "copy",
            "sqlite://data/shop.sqlite",
            "duckdb://shop.duckdb",
            "-q",
        ],
    )
    .assert_ok();
    let src = rusqlite::Connection::open(dir.path().join("data/shop.sqlite")).unwrap();
    let dst = duckdb::Connection::open(dir.path().join("shop.duckdb")).unwrap();
    for table in [
        "categories",
        "products",
        "customers",
        "orders",
        "order_lines",
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        let want: i64 = src.query_row(&sql, [], |r| r.get(0)).unwrap();
        let got: i64 = dst.query_row(&sql, [], |r| r.get(0)).unwrap();
        assert_eq!(want, got, "{table}");
    }
    drop(dst);
    // Copying again into the same tables is refused by the default mode ...
    barge(
        dir.path(),
        &[
            "copy",
            "sqlite://data/shop.sqlite",
            "duckdb://shop.duckdb",
            "-q",
            "--tables",
            "orders",
        ],
    )
    .assert_fails(1, &["already exists", "error_if_exists"]);
    // ... and replaces with --mode replace; one table into a CSV file.
    barge(
        dir.path(),
        &[
            "copy",
            "duckdb://shop.duckdb",
            "orders.csv",
            "--tables",
            "orders",
            "-q",
        ],
    )
    .assert_ok();
    let csv = std::fs::read_to_string(dir.path().join("orders.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "id,customer_id,status,ordered_at,ship_date,note"
    );
    let mut reader = csv::Reader::from_path(dir.path().join("orders.csv")).unwrap();
    assert_eq!(reader.records().count(), 2000);
}

#[test]
fn parquet_nan_beside_one_value_is_kept() {
    // Parquet statistics leave NaN out (min = max = 1.0 here); the values must
    // still be read, not the statistics.
    let dir = tempfile::tempdir().unwrap();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "ratio",
            datafusion::arrow::datatypes::DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![1.0, f64::NAN, 1.0]))],
    )
    .unwrap();
    write_parquet(&dir.path().join("ratios.parquet"), &batch);
    barge(dir.path(), &["copy", "ratios.parquet", "back.csv", "-q"]).assert_ok();
    let csv = std::fs::read_to_string(dir.path().join("back.csv")).unwrap();
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        vec!["ratio", "1.0", "NaN", "1.0"]
    );
}

#[test]
fn parquet_filter_keeps_nan_rows_the_statistics_leave_out() {
    // min = max = 1.0 in the statistics; NaN sorts above every number, so
    // `ratio > 2` must still return it.
    let dir = tempfile::tempdir().unwrap();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "ratio",
            datafusion::arrow::datatypes::DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![1.0, f64::NAN]))],
    )
    .unwrap();
    write_parquet(&dir.path().join("ratios.parquet"), &batch);
    crate::common::write_file(
        dir.path(),
        "p.toml",
        "[connections.src]\nurl = \"ratios.parquet\"\n[connections.dst]\nurl = \"out.csv\"\n\n[[step]]\ntarget = \"dst.out\"\nsql = \"SELECT ratio FROM src.ratios WHERE ratio > 2\"\n",
    );
    barge(dir.path(), &["run", "p.toml", "-q"]).assert_ok();
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert_eq!(csv.lines().collect::<Vec<_>>(), vec!["ratio", "NaN"]);
}
