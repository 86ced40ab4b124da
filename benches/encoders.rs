//! Microbenchmarks of the two bulk-load encoders: PostgreSQL binary COPY and
//! MySQL LOAD DATA TSV, on lineitem-shaped batches (integers, decimals,
//! dates, short and long text). Prints rows/s and MB/s of output; asserts
//! nothing.
//!
//! ```sh
//! cargo bench --bench encoders            # release build
//! cargo bench --bench encoders -- 200000  # rows per batch (default 65536)
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use barge::engines::mysql::tsv::TsvEncoder;
use barge::engines::postgres::copy_binary::CopyBinaryEncoder;
use datafusion::arrow::array::{ArrayRef, Date32Array, Decimal128Array, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

/// How long each encoder runs.
const BUDGET: Duration = Duration::from_secs(3);

/// A batch shaped like TPC-H lineitem (its 16 columns).
fn lineitem(rows: usize) -> RecordBatch {
    let int = |f: fn(usize) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values((0..rows).map(f)))
    };
    let dec = |f: fn(usize) -> i128| -> ArrayRef {
        Arc::new(
            Decimal128Array::from_iter_values((0..rows).map(f))
                .with_precision_and_scale(15, 2)
                .unwrap(),
        )
    };
    let date = |f: fn(usize) -> i32| -> ArrayRef {
        Arc::new(Date32Array::from_iter_values((0..rows).map(f)))
    };
    let text = |f: fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..rows).map(f)))
    };
    let columns: Vec<(&str, DataType, ArrayRef)> = vec![
        ("l_orderkey", DataType::Int32, int(|i| (i / 4) as i32)),
        (
            "l_partkey",
            DataType::Int32,
            int(|i| (i * 7 % 200_000) as i32),
        ),
        (
            "l_suppkey",
            DataType::Int32,
            int(|i| (i * 13 % 10_000) as i32),
        ),
        ("l_linenumber", DataType::Int32, int(|i| (i % 7) as i32)),
        (
            "l_quantity",
            DataType::Decimal128(15, 2),
            dec(|i| (i % 50 * 100) as i128),
        ),
        (
            "l_extendedprice",
            DataType::Decimal128(15, 2),
            dec(|i| (i * 3_331 % 10_000_000) as i128),
        ),
        (
            "l_discount",
            DataType::Decimal128(15, 2),
            dec(|i| (i % 11) as i128),
        ),
        (
            "l_tax",
            DataType::Decimal128(15, 2),
            dec(|i| (i % 9) as i128),
        ),
        (
            "l_returnflag",
            DataType::Utf8,
            text(|i| ["A", "N", "R"][i % 3].to_string()),
        ),
        (
            "l_linestatus",
            DataType::Utf8,
            text(|i| ["F", "O"][i % 2].to_string()),
        ),
        (
            "l_shipdate",
            DataType::Date32,
            date(|i| 8_000 + (i % 2_500) as i32),
        ),
        (
            "l_commitdate",
            DataType::Date32,
            date(|i| 8_030 + (i % 2_500) as i32),
        ),
        (
            "l_receiptdate",
            DataType::Date32,
            date(|i| 8_010 + (i % 2_500) as i32),
        ),
        (
            "l_shipinstruct",
            DataType::Utf8,
            text(|i| {
                [
                    "DELIVER IN PERSON",
                    "COLLECT COD",
                    "NONE",
                    "TAKE BACK RETURN",
                ][i % 4]
                    .to_string()
            }),
        ),
        (
            "l_shipmode",
            DataType::Utf8,
            text(|i| ["AIR", "MAIL", "SHIP", "TRUCK", "RAIL"][i % 5].to_string()),
        ),
        (
            "l_comment",
            DataType::Utf8,
            text(|i| format!("carefully final deposits {i} sleep\tabout the\\ quick")),
        ),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, ty, _)| Field::new(*name, ty.clone(), false))
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, columns.into_iter().map(|(_, _, a)| a).collect()).unwrap()
}

/// Runs `encode` on `batch` for [`BUDGET`]; prints rows/s and MB/s.
fn measure(name: &str, batch: &RecordBatch, mut encode: impl FnMut(&RecordBatch, &mut Vec<u8>)) {
    let mut out = Vec::new();
    encode(batch, &mut out); // warm up, size the buffer
    let mut rows = 0usize;
    let mut bytes = 0usize;
    let start = Instant::now();
    while start.elapsed() < BUDGET {
        out.clear();
        encode(black_box(batch), &mut out);
        rows += batch.num_rows();
        bytes += out.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{name:<28} {:>12.0} rows/s {:>9.1} MB/s  ({} rows per batch)",
        rows as f64 / seconds,
        bytes as f64 / seconds / 1e6,
        batch.num_rows()
    );
}

fn main() {
    let rows = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(65_536);
    let batch = lineitem(rows);
    let schema = batch.schema();
    let mut copy = CopyBinaryEncoder::new("bench", "lineitem", schema.clone()).unwrap();
    measure("postgres binary COPY", &batch, |b, out| {
        copy.encode(b, out).unwrap()
    });
    let mut tsv = TsvEncoder::new("bench", "lineitem", schema).unwrap();
    measure("mysql LOAD DATA TSV", &batch, |b, out| {
        tsv.encode(b, out).unwrap()
    });
}
