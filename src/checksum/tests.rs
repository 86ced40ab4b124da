use super::*;
use std::sync::Arc;

use datafusion::arrow::array::{
    BinaryArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array, Int64Array,
    StringArray, StringViewArray, TimestampMicrosecondArray, TimestampNanosecondArray,
};

/// A column as one array.
fn one(array: impl Array + 'static) -> Vec<ArrayRef> {
    vec![Arc::new(array) as ArrayRef]
}

fn hashes(columns: Vec<ArrayRef>) -> Vec<u64> {
    RowHasher::default().hash_rows(&columns).unwrap()
}

fn texts(columns: Vec<ArrayRef>) -> Vec<String> {
    RowHasher::default()
        .row_texts(&columns)
        .unwrap()
        .iter()
        .map(|b| String::from_utf8(b.clone()).unwrap())
        .collect()
}

#[test]
fn canonical_texts() {
    let numeric = Decimal128Array::from(vec![150, 200, -10, 0, 5, -123_456])
        .with_precision_and_scale(10, 2)
        .unwrap();
    assert_eq!(
        texts(one(numeric)),
        ["3:1.5", "1:2", "4:-0.1", "1:0", "4:0.05", "8:-1234.56"]
    );
    let wide = Decimal128Array::from(vec![i128::MAX])
        .with_precision_and_scale(38, 0)
        .unwrap();
    assert_eq!(texts(one(wide)), [format!("39:{}", i128::MAX)]);
    assert_eq!(
        texts(one(Int64Array::from(vec![Some(-7), None]))),
        ["2:-7", "N"]
    );
    assert_eq!(
        texts(one(StringArray::from(vec![Some(""), Some("é"), None]))),
        ["0:", "2:é", "N"]
    );
    assert_eq!(
        texts(one(BinaryArray::from(vec![&[0u8, 0xab][..]]))),
        ["4:00ab"]
    );
    assert_eq!(
        texts(one(Date32Array::from(vec![0, -1, 19_723, -719_162]))),
        [
            "10:1970-01-01",
            "10:1969-12-31",
            "10:2024-01-01",
            "10:0001-01-01"
        ]
    );
    assert_eq!(
        texts(one(TimestampMicrosecondArray::from(vec![
            1_700_000_000_123_456,
            -1
        ])
        .with_timezone("UTC"))),
        [
            "26:2023-11-14 22:13:20.123456",
            "26:1969-12-31 23:59:59.999999"
        ]
    );
    assert_eq!(
        texts(one(TimestampNanosecondArray::from(vec![1]))),
        ["29:1970-01-01 00:00:00.000000001"]
    );
    assert_eq!(
        texts(one(Float64Array::from(vec![-0.0, 0.1, 1e300, f64::NAN]))),
        [
            "1:0".to_string(),
            "3:0.1".to_string(),
            format!("301:1{}", "0".repeat(300)),
            "3:NaN".to_string()
        ]
    );
    assert_eq!(
        texts(one(Float32Array::from(vec![0.5]))),
        texts(one(Float64Array::from(vec![0.5])))
    );
    assert_eq!(
        texts(vec![
            Arc::new(Int32Array::from(vec![1])) as ArrayRef,
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(StringArray::from(vec!["a:b"])),
        ]),
        ["1:1N3:a:b"]
    );
}

#[test]
fn small_decimals_match_the_general_path() {
    let mantissas = [
        0i64,
        1,
        -1,
        5,
        10,
        -100,
        12_345,
        1_000_000_007,
        -98_765_432_100,
        i64::MAX,
        i64::MIN + 1,
    ];
    for m in mantissas {
        for scale in 0..=18usize {
            let mut fast = Vec::new();
            put_small_decimal(&mut fast, m, scale);
            let mut general = String::new();
            decimal_text(
                &mut general,
                m < 0,
                &m.unsigned_abs().to_string(),
                scale as i32,
            );
            let mut expected = Vec::new();
            put_text(&mut expected, general.as_bytes());
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{m} scale {scale}"
            );
        }
    }
}

#[test]
fn row_hash_is_the_first_half_of_md5() {
    // md5('') = d41d8cd98f00b204e9800998ecf8427e (RFC 1321).
    assert_eq!(row_hash(b""), 0xd41d_8cd9_8f00_b204);
}

#[test]
fn engine_results_are_taken_modulo_2_64() {
    let c = Checksum::parse_engine_result("3:-1").unwrap();
    assert_eq!((c.rows, c.sum), (3, u64::MAX));
    let c = Checksum::parse_engine_result("2:18446744073709551617").unwrap();
    assert_eq!((c.rows, c.sum), (2, 1));
    assert!(Checksum::parse_engine_result("x").is_none());
}

#[test]
fn equal_values_across_types_hash_alike() {
    let numeric = Decimal128Array::from(vec![150, 200, -10])
        .with_precision_and_scale(10, 2)
        .unwrap();
    let decimal = Decimal128Array::from(vec![15, 20, -1])
        .with_precision_and_scale(5, 1)
        .unwrap();
    assert_eq!(hashes(one(numeric)), hashes(one(decimal)));
    let ints = Int32Array::from(vec![2, 0]);
    let decimals = Decimal128Array::from(vec![200, 0])
        .with_precision_and_scale(12, 2)
        .unwrap();
    assert_eq!(hashes(one(ints)), hashes(one(decimals)));
    assert_eq!(
        hashes(one(StringArray::from(vec!["a", "é"]))),
        hashes(one(StringViewArray::from(vec!["a", "é"])))
    );
    let micros = TimestampMicrosecondArray::from(vec![1_700_000_000_000_000]).with_timezone("UTC");
    let nanos =
        TimestampNanosecondArray::from(vec![1_700_000_000_000_000_000]).with_timezone("+02:00");
    assert_eq!(hashes(one(micros)), hashes(one(nanos)));
}

#[test]
fn differences_change_the_hash() {
    let a = hashes(one(StringArray::from(vec![Some(""), None, Some("abc")])));
    let b = hashes(one(StringArray::from(vec![None, Some(""), Some("ab")])));
    assert_ne!(a[0], b[0], "empty string and NULL differ");
    assert_ne!(a[1], b[1]);
    assert_ne!(a[2], b[2], "a truncated string differs");
    let t = hashes(one(TimestampMicrosecondArray::from(vec![0])));
    let shifted = hashes(one(TimestampMicrosecondArray::from(vec![3_600_000_000])));
    assert_ne!(t, shifted);
    assert_eq!(
        hashes(one(Float64Array::from(vec![-0.0, f64::NAN]))),
        hashes(one(Float64Array::from(vec![0.0, -f64::NAN])))
    );
}

#[test]
fn column_boundaries_matter() {
    let ab = hashes(vec![
        Arc::new(StringArray::from(vec!["ab"])) as ArrayRef,
        Arc::new(StringArray::from(vec!["c"])),
    ]);
    let a_bc = hashes(vec![
        Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
        Arc::new(StringArray::from(vec!["bc"])),
    ]);
    assert_ne!(ab, a_bc);
}

#[test]
fn checksum_ignores_order_but_counts_duplicates() {
    let batch = |v: Vec<i64>| {
        RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(v)) as ArrayRef)]).unwrap()
    };
    let a = checksum_batches(&[batch(vec![1, 2, 3])]).unwrap();
    let b = checksum_batches(&[batch(vec![3]), batch(vec![2, 1])]).unwrap();
    assert_eq!(a, b);
    let c = checksum_batches(&[batch(vec![1, 1, 2, 3])]).unwrap();
    assert_ne!(a.sum, c.sum);
    let d = checksum_batches(&[batch(vec![1, 2, 2, 3, 3])]).unwrap();
    assert_ne!(c.sum, d.sum);
}
