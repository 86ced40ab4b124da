use super::*;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{
    Date32Type, Decimal128Type, Decimal256Type, DurationMicrosecondType, TimestampMicrosecondType,
    UInt64Type,
};

fn decode(data_type: DataType, values: &[Value]) -> Result<(ArrayRef, usize), String> {
    let mut d = Decoder::new(&Field::new("c", data_type, true)).ok_or("unsupported")?;
    let mut zero = 0;
    for v in values {
        if let Appended::ZeroDate = d.append(v)? {
            zero += 1;
        }
    }
    Ok((d.finish(), zero))
}

#[test]
fn integers_keep_their_range() {
    let (a, _) = decode(DataType::UInt64, &[Value::UInt(u64::MAX), Value::Int(0)]).unwrap();
    let got: Vec<Option<u64>> = a.as_primitive::<UInt64Type>().iter().collect();
    assert_eq!(got, vec![Some(u64::MAX), Some(0)]);
    assert!(decode(DataType::Int8, &[Value::Int(-128)]).is_ok());
    assert!(decode(DataType::Int8, &[Value::Int(128)]).is_err());
    assert!(decode(DataType::Int64, &[Value::UInt(u64::MAX)]).is_err());
    assert!(decode(DataType::UInt8, &[Value::Int(-1)]).is_err());
    assert!(decode(DataType::Int32, &[Value::Bytes(b"12".to_vec())]).is_ok());
}

#[test]
fn booleans_are_zero_or_one() {
    let (a, _) = decode(
        DataType::Boolean,
        &[
            Value::Int(0),
            Value::Int(1),
            Value::Bytes(vec![1]),
            Value::Bytes(vec![0]),
            Value::NULL,
        ],
    )
    .unwrap();
    let got: Vec<Option<bool>> = a.as_boolean().iter().collect();
    assert_eq!(
        got,
        vec![Some(false), Some(true), Some(true), Some(false), None]
    );
    let err = decode(DataType::Boolean, &[Value::Int(2)]).err().unwrap();
    assert!(err.contains("TINYINT(1)"), "{err}");
}

#[test]
fn decimals_are_exact() {
    let (a, _) = decode(
        DataType::Decimal128(38, 10),
        &[
            Value::Bytes(b"-9999999999999999999999999999.9999999999".to_vec()),
            Value::Bytes(b"1.5".to_vec()),
            Value::Int(3),
        ],
    )
    .unwrap();
    let got: Vec<Option<i128>> = a.as_primitive::<Decimal128Type>().iter().collect();
    assert_eq!(
        got,
        vec![
            Some(-99_999_999_999_999_999_999_999_999_999_999_999_999),
            Some(15_000_000_000),
            Some(30_000_000_000)
        ]
    );
    let max65 = format!("{}.{}", "9".repeat(35), "9".repeat(30));
    let (a, _) = decode(
        DataType::Decimal256(65, 30),
        &[Value::Bytes(max65.into_bytes())],
    )
    .unwrap();
    let v = a.as_primitive::<Decimal256Type>().value(0);
    assert_eq!(v.to_string(), "9".repeat(65));
    assert!(decode(
        DataType::Decimal128(10, 2),
        &[Value::Bytes(b"1.005".to_vec())]
    )
    .is_err());
    assert!(decode(
        DataType::Decimal128(4, 2),
        &[Value::Bytes(b"100.00".to_vec())]
    )
    .is_err());
    assert_eq!(parse_decimal("-0.50", 2).map(|v| v.as_i128()), Ok(-50));
    assert!(parse_decimal("abc", 2).is_err());
    assert!(parse_decimal("", 2).is_err());
}

#[test]
fn dates_times_and_zero_dates() {
    let (a, zero) = decode(
        DataType::Date32,
        &[
            Value::Date(1970, 1, 2, 0, 0, 0, 0),
            Value::Date(1000, 1, 1, 0, 0, 0, 0),
            Value::Date(9999, 12, 31, 0, 0, 0, 0),
            Value::Date(0, 0, 0, 0, 0, 0, 0),
        ],
    )
    .unwrap();
    assert_eq!(zero, 1);
    let got: Vec<Option<i32>> = a.as_primitive::<Date32Type>().iter().collect();
    assert_eq!(got, vec![Some(1), Some(-354_285), Some(2_932_896), None]);
    assert!(decode(DataType::Date32, &[Value::Date(2020, 0, 1, 0, 0, 0, 0)]).is_err());
    assert!(decode(DataType::Date32, &[Value::Date(2023, 2, 29, 0, 0, 0, 0)]).is_err());

    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let (a, zero) = decode(
        ts.clone(),
        &[
            Value::Date(2024, 1, 31, 10, 0, 0, 123_456),
            Value::Date(0, 0, 0, 0, 0, 0, 0),
        ],
    )
    .unwrap();
    assert_eq!(zero, 1);
    assert_eq!(a.data_type(), &ts);
    let got: Vec<Option<i64>> = a
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect();
    assert_eq!(got, vec![Some(1_706_695_200_123_456), None]);

    let (a, _) = decode(
        DataType::Duration(TimeUnit::Microsecond),
        &[
            Value::Time(true, 34, 22, 59, 59, 0),
            Value::Time(false, 34, 22, 59, 59, 0),
            Value::Time(false, 0, 1, 2, 3, 4),
        ],
    )
    .unwrap();
    let got: Vec<Option<i64>> = a.as_primitive::<DurationMicrosecondType>().iter().collect();
    let max = (838 * 3600 + 59 * 60 + 59) * 1_000_000;
    assert_eq!(got, vec![Some(-max), Some(max), Some(3_723_000_004)]);
}

#[test]
fn text_and_bytes() {
    let (a, _) = decode(
        DataType::Utf8,
        &[
            Value::Bytes("é\t😀".as_bytes().to_vec()),
            Value::Bytes(vec![]),
        ],
    )
    .unwrap();
    let got: Vec<Option<&str>> = a.as_string::<i32>().iter().collect();
    assert_eq!(got, vec![Some("é\t😀"), Some("")]);
    assert!(decode(DataType::Utf8, &[Value::Bytes(vec![0xff])]).is_err());
    let (a, _) = decode(DataType::Binary, &[Value::Bytes(vec![0, 0xff])]).unwrap();
    assert_eq!(a.as_binary::<i32>().value(0), &[0, 0xff]);
}

#[test]
fn table_labels() {
    assert_eq!(table_label("SELECT `a` FROM `db`.`t` WHERE x"), "db.t");
    assert_eq!(table_label("SELECT 1 FROM `we``ird`"), "we`ird");
    assert_eq!(table_label("SELECT 1"), "query");
}

#[test]
fn values_in_messages_are_cut() {
    assert_eq!(show(&Value::Bytes(b"abc".to_vec())), "'abc'");
    assert_eq!(show(&Value::Bytes(vec![0xff, 0])), "0xff00");
    assert!(show(&Value::Bytes(vec![b'x'; 500])).ends_with("..."));
}
