use super::*;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Decimal128Type, Int64Type, TimestampMicrosecondType};

fn read(dt: DataType, values: &[ValueRef<'_>]) -> Result<ArrayRef, String> {
    let field = Field::new("c", dt, true);
    let mut reader = ColumnReader::new(&field).ok_or("unsupported")?;
    for v in values {
        reader.append(*v)?;
    }
    Ok(reader.finish())
}

#[test]
fn table_labels() {
    assert_eq!(
        table_label(r#"SELECT "a" FROM "main"."t" WHERE x"#),
        "main.t"
    );
    assert_eq!(table_label(r#"SELECT 1 FROM "we""ird""#), "we\"ird");
    assert_eq!(table_label("SELECT 1 FROM t"), "query");
    assert_eq!(table_label("SELECT 1"), "query");
}

#[test]
fn decimals_from_every_storage_class() {
    let arr = read(
        DataType::Decimal128(10, 2),
        &[
            ValueRef::Integer(12),
            ValueRef::Real(12.5),
            ValueRef::Text(b"12.50"),
            ValueRef::Real(74.13),
            ValueRef::Real(0.125),
            ValueRef::Text(b"-0.125"),
            ValueRef::Null,
        ],
    )
    .unwrap();
    let arr = arr.as_primitive::<Decimal128Type>();
    let got: Vec<Option<i128>> = arr.iter().collect();
    assert_eq!(
        got,
        vec![
            Some(1200),
            Some(1250),
            Some(1250),
            Some(7413),
            Some(13),
            Some(-13),
            None
        ]
    );
    assert!(read(DataType::Decimal128(4, 2), &[ValueRef::Integer(100)]).is_err());
    assert!(read(DataType::Decimal128(10, 2), &[ValueRef::Text(b"abc")]).is_err());
    assert!(read(DataType::Decimal128(10, 2), &[ValueRef::Real(f64::NAN)]).is_err());
}

#[test]
fn integers_booleans_text() {
    let arr = read(
        DataType::Int64,
        &[
            ValueRef::Integer(5),
            ValueRef::Real(6.0),
            ValueRef::Text(b" 7 "),
            ValueRef::Text(b"8.00"),
        ],
    )
    .unwrap();
    let got: Vec<Option<i64>> = arr.as_primitive::<Int64Type>().iter().collect();
    assert_eq!(got, vec![Some(5), Some(6), Some(7), Some(8)]);
    for bad in [
        ValueRef::Real(6.5),
        ValueRef::Text(b"8.5"),
        ValueRef::Text(b"x"),
        ValueRef::Blob(b"1"),
    ] {
        assert!(read(DataType::Int64, &[bad]).is_err());
    }
    assert!(read(DataType::Int8, &[ValueRef::Integer(300)]).is_err());

    let arr = read(
        DataType::Boolean,
        &[
            ValueRef::Integer(0),
            ValueRef::Integer(1),
            ValueRef::Text(b"TRUE"),
            ValueRef::Text(b"f"),
        ],
    )
    .unwrap();
    let got: Vec<Option<bool>> = arr.as_boolean().iter().collect();
    assert_eq!(got, vec![Some(false), Some(true), Some(true), Some(false)]);
    assert!(read(DataType::Boolean, &[ValueRef::Integer(2)]).is_err());

    let arr = read(
        DataType::Utf8,
        &[
            ValueRef::Integer(5),
            ValueRef::Real(1.5),
            ValueRef::Text(b""),
            ValueRef::Blob(b"ok"),
        ],
    )
    .unwrap();
    let got: Vec<Option<&str>> = arr.as_string::<i32>().iter().collect();
    assert_eq!(got, vec![Some("5"), Some("1.5"), Some(""), Some("ok")]);
    assert!(read(DataType::Utf8, &[ValueRef::Blob(&[0xff, 0xfe])]).is_err());
}

#[test]
fn timestamps() {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let naive = DataType::Timestamp(TimeUnit::Microsecond, None);
    let base = 1_706_695_200_000_000i64; // 2024-01-31 10:00:00 UTC
    let arr = read(
        utc.clone(),
        &[
            ValueRef::Text(b"2024-01-31 10:00:00"),
            ValueRef::Text(b"2024-01-31T12:00:00+02:00"),
            ValueRef::Text(b"2024-01-31T10:00:00.123456Z"),
            ValueRef::Integer(1_706_695_200),
            ValueRef::Text(b"2024-01-31"),
        ],
    )
    .unwrap();
    let got: Vec<Option<i64>> = arr
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect();
    assert_eq!(
        got,
        vec![
            Some(base),
            Some(base),
            Some(base + 123_456),
            Some(base),
            Some(base - 36_000_000_000)
        ]
    );
    assert_eq!(arr.data_type(), &utc);
    assert!(read(
        naive.clone(),
        &[ValueRef::Text(b"2024-01-31T12:00:00+02:00")]
    )
    .is_err());
    assert!(read(naive.clone(), &[ValueRef::Text(b"2024-01-31T10:00:00Z")]).is_ok());
    assert!(read(
        naive.clone(),
        &[ValueRef::Text(b"2024-01-31 10:00:00.0000001")]
    )
    .is_err());
    assert!(read(naive, &[ValueRef::Real(2460341.5)]).is_err());
    assert!(read(DataType::Date32, &[ValueRef::Text(b"2024-01-31 10:00:00")]).is_err());
    assert!(read(DataType::Date32, &[ValueRef::Integer(86_400)]).is_ok());
    assert!(read(
        DataType::Time64(TimeUnit::Microsecond),
        &[ValueRef::Integer(86_400)]
    )
    .is_err());
}

#[test]
fn non_nullable_null_is_an_error() {
    let field = Field::new("c", DataType::Int64, false);
    let mut reader = ColumnReader::new(&field).unwrap();
    assert!(reader.append(ValueRef::Null).is_err());
}
