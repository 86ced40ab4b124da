use std::sync::Arc;

use datafusion::arrow::array::{
    BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array, DictionaryArray,
    FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    Int8Array, LargeBinaryArray, LargeStringArray, NullArray, StringArray, StringViewArray,
    Time32MillisecondArray, Time32SecondArray, Time64MicrosecondArray, Time64NanosecondArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use datafusion::arrow::datatypes::{i256, Field, Int32Type, Schema};

use super::*;

fn encoder_for(columns: &[(&str, ArrayRef)]) -> (TsvEncoder, RecordBatch) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.iter().map(|(_, a)| a.clone()).collect(),
    )
    .unwrap();
    (TsvEncoder::new("dst", "t", schema).unwrap(), batch)
}

fn encode(columns: &[(&str, ArrayRef)]) -> String {
    let (mut enc, batch) = encoder_for(columns);
    let mut out = Vec::new();
    enc.encode(&batch, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Lines of a one-column encoding.
fn cells(array: ArrayRef) -> Vec<String> {
    encode(&[("c", array)])
        .lines()
        .map(str::to_string)
        .collect()
}

fn encode_err(array: ArrayRef) -> String {
    let (mut enc, batch) = encoder_for(&[("c", array)]);
    let mut out = Vec::new();
    let err = enc.encode(&batch, &mut out).unwrap_err().to_string();
    assert!(out.is_empty(), "nothing is written on error");
    err
}

#[test]
fn tsv_booleans_and_nulls() {
    let a = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]));
    assert_eq!(cells(a), ["1", "0", "\\N"]);
    assert_eq!(cells(Arc::new(NullArray::new(2))), ["\\N", "\\N"]);
}

#[test]
fn tsv_integers() {
    assert_eq!(
        cells(Arc::new(Int8Array::from(vec![
            Some(i8::MIN),
            None,
            Some(i8::MAX)
        ]))),
        ["-128", "\\N", "127"]
    );
    assert_eq!(
        cells(Arc::new(Int16Array::from(vec![i16::MIN, 0]))),
        ["-32768", "0"]
    );
    assert_eq!(
        cells(Arc::new(Int32Array::from(vec![i32::MIN, -7, i32::MAX]))),
        ["-2147483648", "-7", "2147483647"]
    );
    assert_eq!(
        cells(Arc::new(Int64Array::from(vec![
            Some(i64::MIN),
            None,
            Some(i64::MAX)
        ]))),
        ["-9223372036854775808", "\\N", "9223372036854775807"]
    );
    assert_eq!(
        cells(Arc::new(UInt8Array::from(vec![255u8, 0]))),
        ["255", "0"]
    );
    assert_eq!(
        cells(Arc::new(UInt16Array::from(vec![65535u16]))),
        ["65535"]
    );
    assert_eq!(
        cells(Arc::new(UInt32Array::from(vec![u32::MAX]))),
        ["4294967295"]
    );
    assert_eq!(
        cells(Arc::new(UInt64Array::from(vec![
            Some(u64::MAX),
            None,
            Some(10)
        ]))),
        ["18446744073709551615", "\\N", "10"]
    );
}

#[test]
fn tsv_floats_round_trip() {
    let a = Arc::new(Float64Array::from(vec![
        Some(1.5),
        Some(0.1),
        Some(-0.0),
        Some(1e300),
        Some(f64::MIN_POSITIVE),
        Some(1.0),
        None,
    ]));
    let c = cells(a);
    assert_eq!(c[..3], ["1.5", "0.1", "-0.0"]);
    assert_eq!(c[3].parse::<f64>().unwrap(), 1e300);
    assert_eq!(c[4].parse::<f64>().unwrap(), f64::MIN_POSITIVE);
    assert_eq!(c[5..], ["1.0", "\\N"]);
    let a = Arc::new(Float32Array::from(vec![
        Some(0.1f32),
        Some(3.4028235e38),
        None,
    ]));
    let c = cells(a);
    assert_eq!(c[0].parse::<f32>().unwrap(), 0.1);
    assert_eq!(c[1].parse::<f64>().unwrap(), f64::from(f32::MAX));
    assert_eq!(c[2], "\\N");
}

#[test]
fn tsv_nan_and_infinity_rejected_with_column_and_row() {
    let err = encode_err(Arc::new(Float64Array::from(vec![1.0, 2.0, f64::NAN])));
    assert!(err.contains("column 'c'"), "{err}");
    assert!(err.contains("row 3"), "{err}");
    assert!(err.contains("NaN"), "{err}");
    let err = encode_err(Arc::new(Float32Array::from(vec![f32::NEG_INFINITY])));
    assert!(err.contains("row 1") && err.contains("infinity"), "{err}");
}

#[test]
fn tsv_error_rows_count_across_batches() {
    let (mut enc, batch) = encoder_for(&[(
        "x",
        Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef,
    )]);
    let mut out = Vec::new();
    enc.encode(&batch, &mut out).unwrap();
    let bad = RecordBatch::try_new(
        batch.schema(),
        vec![Arc::new(Float64Array::from(vec![3.0, f64::INFINITY]))],
    )
    .unwrap();
    let err = enc.encode(&bad, &mut out).unwrap_err().to_string();
    assert!(err.contains("column 'x'") && err.contains("row 4"), "{err}");
    assert_eq!(out, b"1.0\n2.0\n");
}

#[test]
fn tsv_text_escaping() {
    let a = Arc::new(StringArray::from(vec![
        Some("a\tb"),
        Some("line1\nline2"),
        Some("cr\rlf"),
        Some("back\\slash"),
        Some("nul\0byte"),
        Some("quotes ' \" `"),
        Some("emoji 🦀 é"),
        Some(""),
        None,
        Some("\\N"),
    ]));
    assert_eq!(
        cells(a),
        [
            "a\\tb",
            "line1\\nline2",
            "cr\\rlf",
            "back\\\\slash",
            "nul\\0byte",
            "quotes ' \" `",
            "emoji 🦀 é",
            "",
            "\\N",
            "\\\\N",
        ]
    );
}

#[test]
fn tsv_empty_string_is_not_null() {
    let out = encode(&[
        (
            "a",
            Arc::new(StringArray::from(vec![Some(""), None])) as ArrayRef,
        ),
        ("b", Arc::new(Int32Array::from(vec![Some(1), Some(2)]))),
    ]);
    assert_eq!(out, "\t1\n\\N\t2\n");
}

#[test]
fn tsv_large_and_view_strings() {
    assert_eq!(
        cells(Arc::new(LargeStringArray::from(vec![Some("x\ty"), None]))),
        ["x\\ty", "\\N"]
    );
    assert_eq!(
        cells(Arc::new(StringViewArray::from(vec![
            Some("a string longer than twelve bytes\n"),
            None,
            Some("short"),
        ]))),
        ["a string longer than twelve bytes\\n", "\\N", "short"]
    );
}

#[test]
fn tsv_dictionary_values() {
    let dict: DictionaryArray<Int32Type> = vec![Some("red"), None, Some("tab\there"), Some("red")]
        .into_iter()
        .collect();
    assert_eq!(cells(Arc::new(dict)), ["red", "\\N", "tab\\there", "red"]);
}

#[test]
fn tsv_decimals() {
    let a = Decimal128Array::from(vec![
        Some(12345),
        Some(-12345),
        Some(5),
        Some(-5),
        Some(0),
        None,
    ])
    .with_precision_and_scale(10, 2)
    .unwrap();
    assert_eq!(
        cells(Arc::new(a)),
        ["123.45", "-123.45", "0.05", "-0.05", "0.00", "\\N"]
    );
    let max38 = 10i128.pow(38) - 1;
    let a = Decimal128Array::from(vec![max38, -max38])
        .with_precision_and_scale(38, 10)
        .unwrap();
    assert_eq!(
        cells(Arc::new(a)),
        [
            "9999999999999999999999999999.9999999999",
            "-9999999999999999999999999999.9999999999"
        ]
    );
    let a = Decimal128Array::from(vec![max38])
        .with_precision_and_scale(38, 0)
        .unwrap();
    assert_eq!(cells(Arc::new(a)), ["9".repeat(38)]);
    let a = Decimal128Array::from(vec![12, 0])
        .with_precision_and_scale(5, -3)
        .unwrap();
    assert_eq!(cells(Arc::new(a)), ["12000", "0"]);
    let a = Decimal256Array::from(vec![
        Some(i256::from_i128(-1)),
        Some(i256::from_i128(123456789)),
        None,
        Some(i256::from_i128(max38) * i256::from_i128(10)),
    ])
    .with_precision_and_scale(76, 4)
    .unwrap();
    assert_eq!(
        cells(Arc::new(a)),
        [
            "-0.0001",
            "12345.6789",
            "\\N",
            &format!("{}.9990", "9".repeat(35))
        ]
    );
}

#[test]
fn tsv_binary_as_hex() {
    let a = BinaryArray::from(vec![
        Some(&[0u8, 0xff, 0x09, 0x5c][..]),
        Some(&b""[..]),
        None,
    ]);
    assert_eq!(cells(Arc::new(a)), ["00ff095c", "", "\\N"]);
    let a = LargeBinaryArray::from(vec![Some(&b"AB"[..])]);
    assert_eq!(cells(Arc::new(a)), ["4142"]);
    let a = FixedSizeBinaryArray::try_from_iter(vec![vec![1u8, 2], vec![0xab, 0xcd]].into_iter())
        .unwrap();
    assert_eq!(cells(Arc::new(a)), ["0102", "abcd"]);
}

#[test]
fn tsv_dates() {
    // 0001-01-01 and 9999-12-31 as days since 1970-01-01.
    let a = Date32Array::from(vec![
        Some(-719_162),
        Some(2_932_896),
        Some(0),
        Some(19_782),
        None,
    ]);
    assert_eq!(
        cells(Arc::new(a)),
        [
            "0001-01-01",
            "9999-12-31",
            "1970-01-01",
            "2024-02-29",
            "\\N"
        ]
    );
    let err = encode_err(Arc::new(Date32Array::from(vec![-719_163])));
    assert!(err.contains("row 1") && err.contains("column 'c'"), "{err}");
}

#[test]
fn tsv_timestamps() {
    let a = TimestampMicrosecondArray::from(vec![
        Some(1_700_000_000_123_456),
        Some(1_700_000_000_000_000),
        Some(-1),
        None,
    ]);
    assert_eq!(
        cells(Arc::new(a)),
        [
            "2023-11-14 22:13:20.123456",
            "2023-11-14 22:13:20",
            "1969-12-31 23:59:59.999999",
            "\\N"
        ]
    );
    assert_eq!(
        cells(Arc::new(TimestampSecondArray::from(vec![253_402_300_799]))),
        ["9999-12-31 23:59:59"]
    );
    assert_eq!(
        cells(Arc::new(TimestampMillisecondArray::from(vec![1_500]))),
        ["1970-01-01 00:00:01.500000"]
    );
    assert_eq!(
        cells(Arc::new(TimestampNanosecondArray::from(vec![1_999]))),
        ["1970-01-01 00:00:00.000001"]
    );
}

#[test]
fn tsv_tz_timestamps_in_utc() {
    // Arrow stores the UTC instant; the zone only changes how it displays.
    let instant = 1_700_000_000_000_000i64; // 2023-11-14 22:13:20 UTC
    let a = TimestampMicrosecondArray::from(vec![Some(instant), None])
        .with_timezone("America/New_York");
    assert_eq!(cells(Arc::new(a)), ["2023-11-14 22:13:20", "\\N"]);
    let a = TimestampSecondArray::from(vec![instant / 1_000_000]).with_timezone("+09:00");
    assert_eq!(cells(Arc::new(a)), ["2023-11-14 22:13:20"]);
}

#[test]
fn tsv_times() {
    assert_eq!(
        cells(Arc::new(Time32SecondArray::from(vec![
            Some(0),
            Some(86_399),
            None
        ]))),
        ["00:00:00", "23:59:59", "\\N"]
    );
    assert_eq!(
        cells(Arc::new(Time32MillisecondArray::from(vec![3_723_004]))),
        ["01:02:03.004000"]
    );
    assert_eq!(
        cells(Arc::new(Time64MicrosecondArray::from(vec![45_296_000_001]))),
        ["12:34:56.000001"]
    );
    assert_eq!(
        cells(Arc::new(Time64NanosecondArray::from(vec![
            45_296_123_456_789
        ]))),
        ["12:34:56.123456"]
    );
}

#[test]
fn tsv_rows_interleave_and_buffers_are_reused() {
    let (mut enc, batch) = encoder_for(&[
        ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("name", Arc::new(StringArray::from(vec![Some("a"), None]))),
        ("ok", Arc::new(BooleanArray::from(vec![true, false]))),
    ]);
    let mut out = Vec::new();
    enc.encode(&batch, &mut out).unwrap();
    enc.encode(&batch.slice(1, 1), &mut out).unwrap();
    enc.encode(&batch.slice(0, 0), &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "1\ta\t1\n2\t\\N\t0\n2\t\\N\t0\n"
    );
}

#[test]
fn tsv_unsupported_types_name_the_column() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]));
    let err = TsvEncoder::new("dst", "t", schema).unwrap_err().to_string();
    assert!(err.contains("column 'tags'"), "{err}");
    assert!(err.contains("CAST"), "{err}");
}

#[test]
fn tsv_mismatched_batch_rejected() {
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
    let mut enc = TsvEncoder::new("dst", "t", schema).unwrap();
    let other =
        RecordBatch::try_from_iter(vec![("a", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
            .unwrap();
    let err = enc.encode(&other, &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains("column 'a'"), "{err}");
}

#[test]
fn tsv_load_data_sql() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let enc = TsvEncoder::new("dst", "t", schema).unwrap();
    let cols = ["`id`".to_string(), "`name`".to_string()];
    let base = "INTO TABLE `db`.`t` CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`id`, `name`)";
    assert_eq!(
        enc.load_data_sql("`db`.`t`", &cols, &[], None),
        format!("LOAD DATA LOCAL INFILE 'barge' {base}")
    );
    assert_eq!(
        enc.load_data_sql("`db`.`t`", &cols, &[], Some("IGNORE")),
        format!("LOAD DATA LOCAL INFILE 'barge' IGNORE {base}")
    );
    assert_eq!(
        enc.load_data_sql("`db`.`t`", &cols, &[], Some("REPLACE")),
        format!("LOAD DATA LOCAL INFILE 'barge' REPLACE {base}")
    );
}

#[test]
fn tsv_load_data_sql_bit_columns_take_numbers() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("flag", DataType::Boolean, true),
    ]));
    let enc = TsvEncoder::new("dst", "t", schema).unwrap();
    let cols = ["`id`".to_string(), "`flag`".to_string()];
    assert_eq!(
        enc.load_data_sql("`t`", &cols, &[false, true], None),
        "LOAD DATA LOCAL INFILE 'barge' INTO TABLE `t` CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' \
         (`id`, @barge_c1) SET `flag` = CAST(@barge_c1 AS UNSIGNED)"
    );
}

#[test]
fn tsv_load_data_sql_binary_columns_unhex() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("blob", DataType::Binary, true),
        Field::new("hash", DataType::FixedSizeBinary(4), true),
    ]));
    let enc = TsvEncoder::new("dst", "t", schema).unwrap();
    let cols = [
        "`id`".to_string(),
        "`blob`".to_string(),
        "`hash`".to_string(),
    ];
    assert_eq!(
        enc.load_data_sql("`t`", &cols, &[false, false, true], Some("IGNORE")),
        "LOAD DATA LOCAL INFILE 'barge' IGNORE INTO TABLE `t` CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' \
         (`id`, @barge_c1, @barge_c2) SET `blob` = UNHEX(@barge_c1), `hash` = UNHEX(@barge_c2)"
    );
}
