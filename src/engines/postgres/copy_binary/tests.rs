use std::sync::Arc;

use datafusion::arrow::array::{
    BinaryArray, BinaryViewArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
    Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, LargeBinaryArray,
    LargeStringArray, StringArray, StringViewArray, Time32MillisecondArray, Time32SecondArray,
    Time64MicrosecondArray, Time64NanosecondArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt16Array,
    UInt32Array, UInt64Array, UInt8Array,
};
use datafusion::arrow::datatypes::{Field, Schema};

use super::*;

fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ndigits.to_be_bytes());
    v.extend_from_slice(&weight.to_be_bytes());
    v.extend_from_slice(&sign.to_be_bytes());
    v.extend_from_slice(&dscale.to_be_bytes());
    for d in digits {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

fn num128(value: i128, scale: i8) -> Vec<u8> {
    let mut out = Vec::new();
    push_numeric_u128(
        &mut out,
        &mut Vec::new(),
        value < 0,
        value.unsigned_abs(),
        scale,
    );
    out
}

fn encoder(fields: Vec<Field>) -> CopyBinaryEncoder {
    CopyBinaryEncoder::new("dst", "t", Arc::new(Schema::new(fields))).unwrap()
}

fn encode_columns(columns: Vec<(&str, ArrayRef)>) -> EngineResult<Vec<u8>> {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut enc = CopyBinaryEncoder::new("dst", "t", batch.schema())?;
    let mut out = Vec::new();
    enc.encode(&batch, &mut out)?;
    Ok(out)
}

/// Bytes of a one-column batch minus the 2-byte field count of each row.
fn single(array: ArrayRef) -> Vec<u8> {
    let out = encode_columns(vec![("c", array)]).unwrap();
    assert_eq!(&out[..2], &[0, 1]);
    out
}

fn field(len: i32, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 1];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(bytes);
    v
}

#[test]
fn header_and_trailer() {
    let enc = encoder(vec![Field::new("a", DataType::Int32, true)]);
    assert_eq!(
        enc.header(),
        b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".as_slice()
    );
    assert_eq!(enc.header().len(), 19);
    assert_eq!(CopyBinaryEncoder::trailer(), [0xFF, 0xFF]);
}

#[test]
fn numeric_encodings() {
    assert_eq!(num128(0, 0), numeric(0, 0, 0, 0, &[]));
    assert_eq!(num128(0, 2), numeric(0, 0, 0, 2, &[]));
    assert_eq!(num128(1, 0), numeric(1, 0, 0, 0, &[1]));
    assert_eq!(num128(-1, 0), numeric(1, 0, 0x4000, 0, &[1]));
    assert_eq!(num128(1250, 2), numeric(2, 0, 0, 2, &[12, 5000]));
    assert_eq!(num128(1, 4), numeric(1, -1, 0, 4, &[1]));
    assert_eq!(num128(1, 5), numeric(1, -2, 0, 5, &[1000]));
    assert_eq!(num128(-5, 1), numeric(1, -1, 0x4000, 1, &[5000]));
    assert_eq!(num128(10_000, 0), numeric(1, 1, 0, 0, &[1]));
    assert_eq!(
        num128(123_456_789, 0),
        numeric(3, 2, 0, 0, &[1, 2345, 6789])
    );
    assert_eq!(num128(5, -4), numeric(1, 1, 0, 0, &[5]));
    let nines: i128 = "99999999999999999999999999999999999999".parse().unwrap();
    let mut digits = vec![99];
    digits.extend([9999; 9]);
    assert_eq!(num128(nines, 0), numeric(10, 9, 0, 0, &digits));
    assert_eq!(num128(-nines, 0), numeric(10, 9, 0x4000, 0, &digits));
    let big: i128 = "-123456789012345678901234567890123456789".parse().unwrap();
    let expected = numeric(
        11,
        7,
        0x4000,
        10,
        &[1, 2345, 6789, 123, 4567, 8901, 2345, 6789, 123, 4567, 8900],
    );
    assert_eq!(num128(big, 10), expected);
    assert_eq!(
        num128(i128::from(u64::MAX), 0),
        numeric(5, 4, 0, 0, &[1844, 6744, 737, 955, 1615])
    );
}

#[test]
fn numeric_columns() {
    let big: i128 = "-123456789012345678901234567890123456789".parse().unwrap();
    let expected = numeric(
        11,
        7,
        0x4000,
        10,
        &[1, 2345, 6789, 123, 4567, 8901, 2345, 6789, 123, 4567, 8900],
    );
    let d256 = Decimal256Array::from(vec![Some(i256::from_i128(big))])
        .with_precision_and_scale(40, 10)
        .unwrap();
    assert_eq!(
        single(Arc::new(d256)),
        field(expected.len() as i32, &expected)
    );
    let d128 = Decimal128Array::from(vec![Some(1250), None])
        .with_precision_and_scale(10, 2)
        .unwrap();
    let n = numeric(2, 0, 0, 2, &[12, 5000]);
    let mut want = field(n.len() as i32, &n);
    want.extend(field(-1, &[]));
    assert_eq!(single(Arc::new(d128)), want);
    let u = numeric(5, 4, 0, 0, &[1844, 6744, 737, 955, 1615]);
    assert_eq!(
        single(Arc::new(UInt64Array::from(vec![u64::MAX]))),
        field(u.len() as i32, &u)
    );
}

#[test]
fn dates_and_timestamps() {
    let d = single(Arc::new(Date32Array::from(vec![10_957, 0, 10_958])));
    let mut want = field(4, &0i32.to_be_bytes());
    want.extend(field(4, &(-10_957i32).to_be_bytes()));
    want.extend(field(4, &1i32.to_be_bytes()));
    assert_eq!(d, want);

    let pg0 = field(8, &0i64.to_be_bytes());
    let unix0 = field(8, &(-946_684_800_000_000i64).to_be_bytes());
    let cases: Vec<ArrayRef> = vec![
        Arc::new(TimestampSecondArray::from(vec![946_684_800, 0])),
        Arc::new(TimestampMillisecondArray::from(vec![946_684_800_000, 0])),
        Arc::new(TimestampMicrosecondArray::from(vec![
            946_684_800_000_000,
            0,
        ])),
        Arc::new(
            TimestampNanosecondArray::from(vec![946_684_800_000_000_000, 0]).with_timezone("UTC"),
        ),
    ];
    for array in cases {
        let mut want = pg0.clone();
        want.extend(unix0.clone());
        assert_eq!(single(array), want);
    }
    let ts = single(Arc::new(TimestampMicrosecondArray::from(vec![
        946_684_800_000_001,
    ])));
    assert_eq!(ts, field(8, &1i64.to_be_bytes()));
}

#[test]
fn times() {
    let micros = 3_723_000_000i64; // 01:02:03
    let want = field(8, &micros.to_be_bytes());
    let cases: Vec<ArrayRef> = vec![
        Arc::new(Time32SecondArray::from(vec![3_723])),
        Arc::new(Time32MillisecondArray::from(vec![3_723_000])),
        Arc::new(Time64MicrosecondArray::from(vec![micros])),
        Arc::new(Time64NanosecondArray::from(vec![micros * 1_000])),
    ];
    for array in cases {
        assert_eq!(single(array), want);
    }
    let err = encode_columns(vec![(
        "t",
        Arc::new(Time64NanosecondArray::from(vec![1_500])) as ArrayRef,
    )])
    .unwrap_err()
    .to_string();
    assert!(err.contains("column 't'") && err.contains("row 0"), "{err}");
}

#[test]
fn scalars() {
    assert_eq!(
        single(Arc::new(BooleanArray::from(vec![true, false]))),
        [field(1, &[1]), field(1, &[0])].concat()
    );
    assert_eq!(
        single(Arc::new(Int8Array::from(vec![-2]))),
        field(2, &[0xFF, 0xFE])
    );
    assert_eq!(
        single(Arc::new(Int16Array::from(vec![258]))),
        field(2, &[1, 2])
    );
    assert_eq!(
        single(Arc::new(Int32Array::from(vec![-1]))),
        field(4, &[0xFF; 4])
    );
    assert_eq!(
        single(Arc::new(Int64Array::from(vec![1]))),
        field(8, &[0, 0, 0, 0, 0, 0, 0, 1])
    );
    assert_eq!(
        single(Arc::new(UInt8Array::from(vec![255]))),
        field(2, &[0, 255])
    );
    assert_eq!(
        single(Arc::new(UInt16Array::from(vec![65_535]))),
        field(4, &[0, 0, 255, 255])
    );
    assert_eq!(
        single(Arc::new(UInt32Array::from(vec![u32::MAX]))),
        field(8, &[0, 0, 0, 0, 255, 255, 255, 255])
    );
    assert_eq!(
        single(Arc::new(Float32Array::from(vec![1.5]))),
        field(4, &1.5f32.to_be_bytes())
    );
    assert_eq!(
        single(Arc::new(Float64Array::from(vec![f64::NAN, f64::INFINITY]))),
        [
            field(8, &f64::NAN.to_be_bytes()),
            field(8, &f64::INFINITY.to_be_bytes())
        ]
        .concat()
    );
    for array in [
        Arc::new(StringArray::from(vec!["héllo"])) as ArrayRef,
        Arc::new(LargeStringArray::from(vec!["héllo"])),
        Arc::new(StringViewArray::from(vec!["héllo"])),
        Arc::new(BinaryArray::from(vec!["héllo".as_bytes()])),
        Arc::new(LargeBinaryArray::from(vec!["héllo".as_bytes()])),
        Arc::new(BinaryViewArray::from(vec!["héllo".as_bytes()])),
    ] {
        assert_eq!(single(array), field(6, "héllo".as_bytes()));
    }
    assert_eq!(single(Arc::new(StringArray::from(vec![""]))), field(0, &[]));
}

#[test]
fn nulls_in_every_type() {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(vec![None])),
        Arc::new(Int8Array::from(vec![None])),
        Arc::new(Int16Array::from(vec![None])),
        Arc::new(Int32Array::from(vec![None])),
        Arc::new(Int64Array::from(vec![None])),
        Arc::new(UInt8Array::from(vec![None])),
        Arc::new(UInt16Array::from(vec![None])),
        Arc::new(UInt32Array::from(vec![None])),
        Arc::new(UInt64Array::from(vec![None])),
        Arc::new(Float32Array::from(vec![None])),
        Arc::new(Float64Array::from(vec![None])),
        Arc::new(StringArray::from(vec![None::<&str>])),
        Arc::new(LargeStringArray::from(vec![None::<&str>])),
        Arc::new(StringViewArray::from(vec![None::<&str>])),
        Arc::new(BinaryArray::from(vec![None::<&[u8]>])),
        Arc::new(LargeBinaryArray::from(vec![None::<&[u8]>])),
        Arc::new(BinaryViewArray::from(vec![None::<&[u8]>])),
        Arc::new(Date32Array::from(vec![None])),
        Arc::new(TimestampSecondArray::from(vec![None])),
        Arc::new(TimestampMillisecondArray::from(vec![None])),
        Arc::new(TimestampMicrosecondArray::from(vec![None]).with_timezone("UTC")),
        Arc::new(TimestampNanosecondArray::from(vec![None])),
        Arc::new(Time32SecondArray::from(vec![None])),
        Arc::new(Time32MillisecondArray::from(vec![None])),
        Arc::new(Time64MicrosecondArray::from(vec![None])),
        Arc::new(Time64NanosecondArray::from(vec![None])),
        Arc::new(Decimal128Array::from(vec![None])),
        Arc::new(Decimal256Array::from(vec![None])),
    ];
    let n = columns.len();
    let named: Vec<(String, ArrayRef)> = columns
        .into_iter()
        .enumerate()
        .map(|(i, a)| (format!("c{i}"), a))
        .collect();
    let out = encode_columns(named.iter().map(|(k, a)| (k.as_str(), a.clone())).collect()).unwrap();
    let mut want = (n as i16).to_be_bytes().to_vec();
    for _ in 0..n {
        want.extend_from_slice(&[0xFF; 4]);
    }
    assert_eq!(out, want);
}

#[test]
fn three_column_tuples_across_batches() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int32Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec![Some("ab"), None])),
            Arc::new(Float64Array::from(vec![None, Some(2.0)])),
        ],
    )
    .unwrap();
    let mut enc = CopyBinaryEncoder::new("dst", "t", schema).unwrap();
    let mut out = vec![9];
    enc.encode(&batch, &mut out).unwrap();
    let tuples: Vec<u8> = [
        &[0, 3][..],
        &[0, 0, 0, 4, 0, 0, 0, 1],
        &[0, 0, 0, 2, b'a', b'b'],
        &[0xFF; 4],
        &[0, 3],
        &[0, 0, 0, 4, 0, 0, 0, 2],
        &[0xFF; 4],
        &[0, 0, 0, 8, 0x40, 0, 0, 0, 0, 0, 0, 0],
    ]
    .concat();
    assert_eq!(out, [&[9][..], &tuples].concat());
    enc.encode(&batch, &mut out).unwrap();
    assert_eq!(out, [&[9][..], &tuples, &tuples].concat());
}

#[test]
fn nul_in_text_rejected() {
    let batch = RecordBatch::try_from_iter(vec![(
        "note",
        Arc::new(StringArray::from(vec!["ok", "a\0b"])) as ArrayRef,
    )])
    .unwrap();
    let mut enc = CopyBinaryEncoder::new("dst", "t", batch.schema()).unwrap();
    let mut out = vec![1, 2];
    let err = enc.encode(&batch, &mut out).unwrap_err().to_string();
    assert!(
        err.contains("column 'note'") && err.contains("row 1") && err.contains("NUL"),
        "{err}"
    );
    assert_eq!(out, [1, 2]);
    // Bytea may hold NUL bytes.
    assert_eq!(
        single(Arc::new(BinaryArray::from(vec![&b"\0"[..]]))),
        field(1, &[0])
    );
}

#[test]
fn sub_microsecond_timestamp_rejected() {
    let batch = RecordBatch::try_from_iter(vec![(
        "at",
        Arc::new(TimestampNanosecondArray::from(vec![1_000, 1_001])) as ArrayRef,
    )])
    .unwrap();
    let mut enc = CopyBinaryEncoder::new("dst", "t", batch.schema()).unwrap();
    let mut out = Vec::new();
    let err = enc.encode(&batch, &mut out).unwrap_err().to_string();
    assert!(
        err.contains("column 'at'") && err.contains("row 1"),
        "{err}"
    );
    assert!(out.is_empty());
}

#[test]
fn unsupported_type_names_column() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("when", DataType::Date64, true),
    ]));
    let err = CopyBinaryEncoder::new("dst", "t", schema)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column 'when'") && err.contains("Date64") && err.contains("CAST"),
        "{err}"
    );
}
