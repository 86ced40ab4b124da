use super::*;

#[test]
fn read_mapping() {
    let cases: &[(&str, DataType)] = &[
        ("", DataType::Utf8),
        ("INTEGER", DataType::Int64),
        ("bigint", DataType::Int64),
        ("UNSIGNED BIG INT", DataType::Int64),
        ("TINYINT", DataType::Int64),
        ("bool", DataType::Boolean),
        ("BOOLEAN", DataType::Boolean),
        ("REAL", DataType::Float64),
        ("double precision", DataType::Float64),
        ("FLOAT", DataType::Float64),
        ("DECIMAL(10,2)", DataType::Decimal128(10, 2)),
        ("numeric( 12 , 4 )", DataType::Decimal128(12, 4)),
        ("NUMERIC(7)", DataType::Decimal128(7, 0)),
        ("DECIMAL_TEXT(38,10)", DataType::Decimal128(38, 10)),
        ("DECIMAL(50,5)", DataType::Decimal256(50, 5)),
        ("DECIMAL(2,5)", DataType::Utf8),
        ("NUMERIC", DataType::Decimal128(38, 9)),
        ("DATE", DataType::Date32),
        ("datetime", DataType::Timestamp(TimeUnit::Microsecond, None)),
        (
            "TIMESTAMP",
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        (
            "timestamp with  time zone",
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        ),
        (
            "TIMESTAMPTZ",
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        ),
        ("TIME", DataType::Time64(TimeUnit::Microsecond)),
        ("BLOB", DataType::Binary),
        ("VARCHAR(255)", DataType::Utf8),
        ("NVARCHAR", DataType::Utf8),
        ("CLOB", DataType::Utf8),
        ("TEXT", DataType::Utf8),
        ("UUID", DataType::Utf8),
        ("JSON", DataType::Utf8),
    ];
    for (decl, expected) in cases {
        assert_eq!(&arrow_type(decl), expected, "declared type {decl:?}");
    }
}

#[test]
fn write_mapping_reads_back() {
    let cases: &[(DataType, &str, DataType)] = &[
        (DataType::Boolean, "BOOLEAN", DataType::Boolean),
        (DataType::Int8, "INTEGER", DataType::Int64),
        (DataType::UInt32, "INTEGER", DataType::Int64),
        (DataType::UInt64, "UNSIGNED BIGINT", DataType::Int64),
        (DataType::Float32, "REAL", DataType::Float64),
        (
            DataType::Decimal128(10, 2),
            "DECIMAL(10,2)",
            DataType::Decimal128(10, 2),
        ),
        (
            DataType::Decimal128(38, 10),
            "DECIMAL_TEXT(38,10)",
            DataType::Decimal128(38, 10),
        ),
        (
            DataType::Decimal256(60, 3),
            "DECIMAL_TEXT(60,3)",
            DataType::Decimal256(60, 3),
        ),
        (DataType::LargeUtf8, "TEXT", DataType::Utf8),
        (DataType::FixedSizeBinary(16), "BLOB", DataType::Binary),
        (DataType::Date64, "DATE", DataType::Date32),
        (
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            "TIMESTAMP",
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        (
            DataType::Timestamp(TimeUnit::Second, Some("Europe/Paris".into())),
            "TIMESTAMPTZ",
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        ),
        (
            DataType::Time32(TimeUnit::Millisecond),
            "TIME",
            DataType::Time64(TimeUnit::Microsecond),
        ),
    ];
    for (arrow, decl, back) in cases {
        let declared = declared_type(arrow);
        assert_eq!(declared.as_deref(), Some(*decl), "{arrow}");
        assert_eq!(&arrow_type(decl), back, "{arrow}");
    }
    assert_eq!(
        declared_type(&DataType::Interval(
            datafusion::arrow::datatypes::IntervalUnit::DayTime
        )),
        None
    );
}

fn dec(text: &str, p: u8, s: i8) -> Result<(i128, bool), String> {
    parse_decimal(text.as_bytes(), p, s).map(|d| (d.unscaled.as_i128(), d.exact))
}

#[test]
fn decimal_parsing() {
    assert_eq!(dec("12", 10, 2), Ok((1200, true)));
    assert_eq!(dec("12.5", 10, 2), Ok((1250, true)));
    assert_eq!(dec(" -12.50 ", 10, 2), Ok((-1250, true)));
    assert_eq!(dec("0.005", 10, 2), Ok((1, false)));
    assert_eq!(dec("-0.005", 10, 2), Ok((-1, false)));
    assert_eq!(dec("0.004", 10, 2), Ok((0, false)));
    assert_eq!(dec("74.13", 10, 2), Ok((7413, true)));
    assert_eq!(dec("1.5e3", 10, 2), Ok((150000, true)));
    assert_eq!(dec("15e-1", 10, 0), Ok((2, false)));
    assert_eq!(dec(".5", 10, 1), Ok((5, true)));
    assert_eq!(dec("5.", 10, 1), Ok((50, true)));
    assert_eq!(dec("0e999999999", 10, 2), Ok((0, true)));
    assert_eq!(dec("1250", 10, -2), Ok((13, false)));
    assert_eq!(dec("99999999.99", 10, 2), Ok((9999999999, true)));
    assert!(dec("99999999.995", 10, 2).is_err());
    assert!(dec("100000000", 10, 2).is_err());
    assert!(dec("1e999999999", 10, 2).is_err());
    for bad in [
        "", "-", ".", "abc", "1.2.3", "1e", "12a", "inf", "NaN", "1 2",
    ] {
        assert!(dec(bad, 10, 2).is_err(), "{bad:?}");
    }
    let max = "99999999999999999999999999999999999999";
    assert_eq!(
        dec(max, 38, 0).map(|d| d.0.to_string()),
        Ok(max.to_string())
    );
    let wide = parse_decimal(b"-1234567890123456789012345678901234567890.5", 76, 1)
        .map(|d| d.unscaled.to_string());
    assert_eq!(
        wide,
        Ok("-12345678901234567890123456789012345678905".to_string())
    );
}

#[test]
fn decimal_formatting() {
    let mut out = String::new();
    let cases: &[(i128, i8, &str)] = &[
        (1250, 2, "12.50"),
        (-5, 2, "-0.05"),
        (0, 2, "0.00"),
        (5, 0, "5"),
        (13, -2, "1300"),
        (0, -2, "0"),
        (
            -99999999999999999999999999999999999999,
            10,
            "-9999999999999999999999999999.9999999999",
        ),
    ];
    for (v, s, expected) in cases {
        format_decimal(&mut out, v, *s);
        assert_eq!(out, *expected);
        let back = parse_decimal(out.as_bytes(), 38, *s).map(|d| d.unscaled.as_i128());
        assert_eq!(back, Ok(*v));
    }
}

#[test]
fn civil_dates() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2024, 2, 29), 19782);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    for days in [-1_000_000, -719_468, -1, 0, 1, 19782, 2_932_896, 10_000_000] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
        let mut out = String::new();
        write_date(&mut out, days);
        assert_eq!(
            parse_datetime(&out).map(|p| p.days),
            Ok(Some(days)),
            "{out}"
        );
    }
}

#[test]
fn datetime_parsing() {
    let p = parse_datetime("2024-01-31").unwrap();
    assert_eq!(p.days, Some(days_from_civil(2024, 1, 31)));
    assert_eq!(p.nanos_of_day, None);
    let p = parse_datetime("2024-01-31 10:00:00").unwrap();
    assert_eq!(p.nanos_of_day, Some(10 * 3600 * NANOS_PER_SEC));
    let p = parse_datetime("2024-01-31T10:00:00.123456").unwrap();
    assert_eq!(
        p.nanos_of_day,
        Some(10 * 3600 * NANOS_PER_SEC + 123_456_000)
    );
    assert_eq!(p.offset_secs, None);
    assert_eq!(
        parse_datetime("2024-01-31T10:00Z").unwrap().offset_secs,
        Some(0)
    );
    assert_eq!(
        parse_datetime("2024-01-31 10:00:00+02:00")
            .unwrap()
            .offset_secs,
        Some(7200)
    );
    assert_eq!(
        parse_datetime("2024-01-31 10:00:00 -0530")
            .unwrap()
            .offset_secs,
        Some(-19800)
    );
    assert_eq!(
        parse_datetime("2024-01-31 10:00:00-03")
            .unwrap()
            .offset_secs,
        Some(-10800)
    );
    let t = parse_datetime("23:59:59.5").unwrap();
    assert_eq!(t.days, None);
    assert_eq!(t.nanos_of_day, Some(86_399 * NANOS_PER_SEC + 500_000_000));
    for bad in [
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "24-01-01",
        "2024-01-31 25:00:00",
        "2024-01-31 10:00:00.",
        "2024-01-31 10:00:00.1234567890",
        "2024-01-31x",
        "2024/01/31",
        "10:00:00 +2",
        "hello",
        "",
    ] {
        assert!(parse_datetime(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn timestamp_text() {
    let mut out = String::new();
    let (s, n) = split_epoch(-1, TimeUnit::Microsecond);
    write_timestamp(&mut out, s, n);
    assert_eq!(out, "1969-12-31 23:59:59.999999");
    out.clear();
    let (s, n) = split_epoch(1_706_695_200_000_000_001, TimeUnit::Nanosecond);
    write_timestamp(&mut out, s, n);
    assert_eq!(out, "2024-01-31 10:00:00.000000001");
    assert!(join_epoch(s, n, TimeUnit::Microsecond).is_err());
    assert_eq!(
        join_epoch(s, n, TimeUnit::Nanosecond),
        Ok(1_706_695_200_000_000_001)
    );
    out.clear();
    write_time(&mut out, 3_723 * NANOS_PER_SEC);
    assert_eq!(out, "01:02:03");
}
