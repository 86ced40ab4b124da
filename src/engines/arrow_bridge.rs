//! Zero-copy bridge between the arrow 60 that `duckdb` is built on
//! (`duckdb::arrow`) and the arrow 59 of DataFusion (`datafusion::arrow`).
//!
//! A batch crosses as one struct array through the Arrow C Data Interface:
//! the sending side exports it with `to_ffi` into an `FFI_ArrowArray` +
//! `FFI_ArrowSchema` pair, the pair is moved into the other version's structs
//! (both are `#[repr(C)]` mirrors of the C ABI's `ArrowArray` / `ArrowSchema`),
//! and the receiving side imports it with `from_ffi`. Buffers are never
//! copied: the imported arrays keep the exporter's buffers alive through the
//! C interface's `release` callback. Field names, nullability, field and
//! schema metadata, and the row count (also of zero-column batches) are kept.

use std::sync::Arc;

use datafusion::arrow;
use duckdb::arrow as arrow60;

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// Generates the conversion functions of one direction, `$from` → `$to`
/// (each a path to an `arrow` crate of one version).
macro_rules! bridge_direction {
    ($from:ident => $to:ident, $schema_fn:ident, $batch_fn:ident, $err:ty, $from_doc:literal, $to_doc:literal) => {
        #[doc = concat!("Converts a schema of ", $from_doc, " into one of ", $to_doc, ".")]
        pub fn $schema_fn(schema: &$from::datatypes::Schema) -> Result<$to::datatypes::Schema, $err> {
            let exported = $from::ffi::FFI_ArrowSchema::try_from(schema).map_err(|e| <$err>::CDataInterface(e.to_string()))?;
            let imported = move_schema!(exported, $from => $to);
            $to::datatypes::Schema::try_from(&imported)
        }

        #[doc = concat!("Converts a record batch of ", $from_doc, " into one of ", $to_doc, " without copying its buffers.")]
        pub fn $batch_fn(
            batch: &$from::record_batch::RecordBatch,
        ) -> Result<$to::record_batch::RecordBatch, $err> {
            let num_rows = batch.num_rows();
            let schema = $schema_fn(batch.schema_ref())?;
            let data = $from::array::Array::into_data(
                $from::array::StructArray::from(batch.clone()),
            );
            let (array, exported_type) = $from::ffi::to_ffi(&data).map_err(|e| <$err>::CDataInterface(e.to_string()))?;
            // The schema's own FFI export carries the schema metadata; the
            // struct type of the data is what the array is decoded against.
            let data_type = move_schema!(exported_type, $from => $to);
            let array = move_array!(array, $from => $to);
            // SAFETY: `array` and `data_type` were exported together by
            // `to_ffi` from valid arrow data, so they agree with the C Data
            // Interface and with each other.
            let data = unsafe { $to::ffi::from_ffi(array, &data_type)? };
            if !matches!(data.data_type(), $to::datatypes::DataType::Struct(_)) {
                return Err(<$err>::CDataInterface(format!(
                    "expected a struct array, got {}",
                    data.data_type()
                )));
            }
            let columns = $to::array::StructArray::from(data).into_parts().1;
            $to::record_batch::RecordBatch::try_new_with_options(
                Arc::new(schema),
                columns,
                &$to::record_batch::RecordBatchOptions::new().with_row_count(Some(num_rows)),
            )
        }
    };
}

/// Moves an `FFI_ArrowSchema` of one arrow version into the other's type.
macro_rules! move_schema {
    ($value:expr, $from:ident => $to:ident) => {{
        let mut exported: $from::ffi::FFI_ArrowSchema = $value;
        const _: () = assert!(
            std::mem::size_of::<$from::ffi::FFI_ArrowSchema>()
                == std::mem::size_of::<$to::ffi::FFI_ArrowSchema>()
                && std::mem::align_of::<$from::ffi::FFI_ArrowSchema>()
                    == std::mem::align_of::<$to::ffi::FFI_ArrowSchema>()
        );
        // SAFETY: both types are `#[repr(C)]` definitions of the C Data
        // Interface's `struct ArrowSchema` (same fields, order and sizes; the
        // assertion above checks size and alignment), so the bytes of one are
        // a valid value of the other. `from_raw` moves the value out and leaves
        // an empty (released) struct behind whose drop does nothing, so the
        // release callback runs exactly once, from the new owner.
        unsafe {
            $to::ffi::FFI_ArrowSchema::from_raw(
                (&mut exported as *mut $from::ffi::FFI_ArrowSchema)
                    .cast::<$to::ffi::FFI_ArrowSchema>(),
            )
        }
    }};
}

/// Moves an `FFI_ArrowArray` of one arrow version into the other's type.
macro_rules! move_array {
    ($value:expr, $from:ident => $to:ident) => {{
        let mut exported: $from::ffi::FFI_ArrowArray = $value;
        const _: () = assert!(
            std::mem::size_of::<$from::ffi::FFI_ArrowArray>()
                == std::mem::size_of::<$to::ffi::FFI_ArrowArray>()
                && std::mem::align_of::<$from::ffi::FFI_ArrowArray>()
                    == std::mem::align_of::<$to::ffi::FFI_ArrowArray>()
        );
        // SAFETY: both types are `#[repr(C)]` definitions of the C Data
        // Interface's `struct ArrowArray` (same fields, order and sizes; the
        // assertion above checks size and alignment). `from_raw` moves the
        // value out and leaves an empty (released) struct behind, so the
        // buffers are released exactly once, by the importing side.
        unsafe {
            $to::ffi::FFI_ArrowArray::from_raw(
                (&mut exported as *mut $from::ffi::FFI_ArrowArray)
                    .cast::<$to::ffi::FFI_ArrowArray>(),
            )
        }
    }};
}

mod from_duckdb_impl {
    use super::*;
    bridge_direction!(
        arrow60 => arrow,
        schema_from_duckdb,
        batch_from_duckdb_ref,
        ArrowError,
        "`duckdb::arrow` (arrow 60)",
        "`datafusion::arrow` (arrow 59)"
    );
}

mod to_duckdb_impl {
    use super::*;
    bridge_direction!(
        arrow => arrow60,
        schema_to_duckdb,
        batch_to_duckdb,
        arrow60::error::ArrowError,
        "`datafusion::arrow` (arrow 59)",
        "`duckdb::arrow` (arrow 60)"
    );
}

pub use from_duckdb_impl::schema_from_duckdb;
pub use to_duckdb_impl::{batch_to_duckdb, schema_to_duckdb};

/// Converts a record batch from `duckdb::arrow` (arrow 60) into
/// `datafusion::arrow` (arrow 59) without copying its buffers.
pub fn batch_from_duckdb(
    batch: arrow60::record_batch::RecordBatch,
) -> Result<RecordBatch, ArrowError> {
    from_duckdb_impl::batch_from_duckdb_ref(&batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the same batch with the arrow crate `$arrow` of either version:
    /// every type barge moves, each column with NULLs.
    macro_rules! sample_batch {
        ($arrow:ident) => {{
            use std::collections::HashMap;
            use $arrow::array::*;
            use $arrow::buffer::NullBuffer;
            use $arrow::datatypes::*;

            fn col<A: Array + 'static>(a: A) -> ArrayRef {
                Arc::new(a)
            }
            let struct_fields = Fields::from(vec![
                Field::new("a", DataType::Int32, true),
                Field::new("b", DataType::Utf8, true),
            ]);
            let columns: Vec<(Field, ArrayRef)> = vec![
                (
                    Field::new("i8", DataType::Int8, true),
                    col(Int8Array::from(vec![Some(i8::MIN), None, Some(i8::MAX)])),
                ),
                (
                    Field::new("i16", DataType::Int16, true),
                    col(Int16Array::from(vec![Some(i16::MIN), None, Some(i16::MAX)])),
                ),
                (
                    Field::new("i32", DataType::Int32, false),
                    col(Int32Array::from(vec![i32::MIN, 0, i32::MAX])),
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
                    Field::new("bool", DataType::Boolean, true),
                    col(BooleanArray::from(vec![Some(true), None, Some(false)])),
                ),
                (
                    Field::new("utf8", DataType::Utf8, true),
                    col(StringArray::from(vec![Some("héllo\t\n\\"), None, Some("")])),
                ),
                (
                    Field::new("large_utf8", DataType::LargeUtf8, true),
                    col(LargeStringArray::from(vec![Some("x"), None, Some("日本")])),
                ),
                (
                    Field::new("utf8_view", DataType::Utf8View, true),
                    col(StringViewArray::from(vec![
                        Some("a string longer than twelve bytes"),
                        None,
                        Some("s"),
                    ])),
                ),
                (
                    Field::new("binary", DataType::Binary, true),
                    col(BinaryArray::from(vec![
                        Some(&b"\x00\xff"[..]),
                        None,
                        Some(&b""[..]),
                    ])),
                ),
                (
                    Field::new("large_binary", DataType::LargeBinary, true),
                    col(LargeBinaryArray::from(vec![
                        Some(&b"ab"[..]),
                        None,
                        Some(&b"c"[..]),
                    ])),
                ),
                (
                    Field::new("dec", DataType::Decimal128(38, 10), true),
                    col(Decimal128Array::from(vec![
                        Some(i128::MAX / 10),
                        None,
                        Some(-12_345_678_901_234_567_890i128),
                    ])
                    .with_precision_and_scale(38, 10)
                    .unwrap()),
                ),
                (
                    Field::new("date", DataType::Date32, true),
                    col(Date32Array::from(vec![
                        Some(-719_162),
                        None,
                        Some(2_932_896),
                    ])),
                ),
                (
                    Field::new("time", DataType::Time64(TimeUnit::Microsecond), true),
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
                    col(TimestampMicrosecondArray::from(vec![
                        Some(0),
                        None,
                        Some(1_700_000_000_000_001),
                    ])
                    .with_timezone("UTC")),
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
                    Field::new(
                        "interval",
                        DataType::Interval(IntervalUnit::MonthDayNano),
                        true,
                    ),
                    col(IntervalMonthDayNanoArray::from(vec![
                        Some(IntervalMonthDayNanoType::make_value(1, 2, 3_000)),
                        None,
                        Some(IntervalMonthDayNanoType::make_value(-1, 0, 0)),
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
                    Field::new("struct", DataType::Struct(struct_fields.clone()), true),
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
                    )
                    .with_metadata(HashMap::from([("origin".to_string(), "test".to_string())])),
                    col(vec![Some("a"), None, Some("a")]
                        .into_iter()
                        .collect::<DictionaryArray<Int32Type>>()),
                ),
            ];
            let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
            let schema = Schema::new(fields)
                .with_metadata(HashMap::from([("barge".to_string(), "bridge".to_string())]));
            $arrow::record_batch::RecordBatch::try_new(Arc::new(schema), arrays).unwrap()
        }};
    }

    fn native59() -> RecordBatch {
        sample_batch!(arrow)
    }

    fn native60() -> arrow60::record_batch::RecordBatch {
        sample_batch!(arrow60)
    }

    #[test]
    fn every_type_crosses_to_duckdb() {
        let bridged = batch_to_duckdb(&native59()).unwrap();
        let expected = native60();
        assert_eq!(bridged.schema(), expected.schema());
        for (i, field) in expected.schema().fields().iter().enumerate() {
            assert_eq!(
                bridged.column(i),
                expected.column(i),
                "column {}",
                field.name()
            );
        }
        assert_eq!(bridged, expected);
    }

    #[test]
    fn every_type_crosses_from_duckdb() {
        let bridged = batch_from_duckdb(native60()).unwrap();
        let expected = native59();
        assert_eq!(bridged.schema(), expected.schema());
        for (i, field) in expected.schema().fields().iter().enumerate() {
            assert_eq!(
                bridged.column(i),
                expected.column(i),
                "column {}",
                field.name()
            );
        }
        assert_eq!(bridged, expected);
    }

    #[test]
    fn round_trip_keeps_the_batch() {
        let original = native59();
        let back = batch_from_duckdb(batch_to_duckdb(&original).unwrap()).unwrap();
        assert_eq!(back, original);
        let original = native60();
        let back = batch_to_duckdb(&batch_from_duckdb(original.clone()).unwrap()).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn sliced_and_empty_batches() {
        let original = native59();
        let sliced = original.slice(1, 2);
        let back = batch_from_duckdb(batch_to_duckdb(&sliced).unwrap()).unwrap();
        assert_eq!(back, sliced);
        let empty = original.slice(0, 0);
        let back = batch_from_duckdb(batch_to_duckdb(&empty).unwrap()).unwrap();
        assert_eq!(back.num_rows(), 0);
        assert_eq!(back.schema(), original.schema());
    }

    #[test]
    fn zero_column_batch_keeps_its_row_count() {
        use arrow::datatypes::Schema;
        use arrow::record_batch::RecordBatchOptions;
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(7)),
        )
        .unwrap();
        let there = batch_to_duckdb(&batch).unwrap();
        assert_eq!((there.num_columns(), there.num_rows()), (0, 7));
        let back = batch_from_duckdb(there).unwrap();
        assert_eq!((back.num_columns(), back.num_rows()), (0, 7));
    }

    #[test]
    fn schemas_cross_both_ways() {
        let s59 = native59().schema();
        let s60 = native60().schema();
        assert_eq!(&schema_to_duckdb(&s59).unwrap(), s60.as_ref());
        assert_eq!(&schema_from_duckdb(&s60).unwrap(), s59.as_ref());
    }
}
