//! MySQL engine tests against the real MariaDB (tests/servers.sh): Arrow
//! batches written by both write paths (LOAD DATA and the INSERT fallback)
//! and read back by the reader, value for value.

use std::sync::Arc;

use datafusion::arrow::array::*;
use datafusion::arrow::datatypes::*;
use datafusion::arrow::record_batch::RecordBatch;
use mysql_async::prelude::Queryable;

use super::MySqlConnection;
use crate::engines::sql::SqlSource;
use crate::engines::{BatchIter, Connection, OpenOptions};
use crate::error::{EngineResult, ErrorCode};
use crate::model::{TableName, TargetSpec, WriteMode};

const SERVER: &str = "mysql://root@127.0.0.1:3306";

/// Creates the empty database `barge_ut_<name>`; returns its URL.
pub(super) async fn database(name: &str) -> String {
    let db = format!("barge_ut_{name}");
    let mut admin =
        mysql_async::Conn::new(mysql_async::Opts::from_url(SERVER).expect("server url"))
            .await
            .unwrap_or_else(|e| panic!("MariaDB at {SERVER}: {e}\n  run tests/servers.sh"));
    admin
        .query_drop(format!(
            "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db} CHARACTER SET utf8mb4"
        ))
        .await
        .expect("create database");
    admin.disconnect().await.ok();
    format!("{SERVER}/{db}")
}

fn col<A: Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}

/// Every type the reader produces, with edge values and a row of NULLs.
fn every_type_batch() -> RecordBatch {
    let utc: Arc<str> = Arc::from("UTC");
    let max65 = i256::from_string(&"9".repeat(65)).expect("i256");
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", col(Int32Array::from(vec![1, 2, 3]))),
        (
            "b",
            col(BooleanArray::from(vec![Some(true), Some(false), None])),
        ),
        (
            "i8",
            col(Int8Array::from(vec![Some(i8::MIN), Some(i8::MAX), None])),
        ),
        (
            "u8",
            col(UInt8Array::from(vec![Some(0), Some(u8::MAX), None])),
        ),
        (
            "i16",
            col(Int16Array::from(vec![Some(i16::MIN), Some(i16::MAX), None])),
        ),
        (
            "u16",
            col(UInt16Array::from(vec![Some(0), Some(u16::MAX), None])),
        ),
        (
            "i32",
            col(Int32Array::from(vec![Some(i32::MIN), Some(i32::MAX), None])),
        ),
        (
            "u32",
            col(UInt32Array::from(vec![Some(0), Some(u32::MAX), None])),
        ),
        (
            "i64",
            col(Int64Array::from(vec![Some(i64::MIN), Some(i64::MAX), None])),
        ),
        (
            "u64",
            col(UInt64Array::from(vec![Some(0), Some(u64::MAX), None])),
        ),
        (
            "d38",
            col(Decimal128Array::from(vec![
                Some(-99_999_999_999_999_999_999_999_999_999_999_999_999),
                Some(1),
                None,
            ])
            .with_precision_and_scale(38, 10)
            .expect("decimal")),
        ),
        (
            "d65",
            col(
                Decimal256Array::from(vec![Some(max65), Some(max65.wrapping_neg()), None])
                    .with_precision_and_scale(65, 30)
                    .expect("decimal"),
            ),
        ),
        (
            "f32",
            col(Float32Array::from(vec![
                Some(f32::MAX),
                Some(-1.5e-30),
                None,
            ])),
        ),
        (
            "f64",
            col(Float64Array::from(vec![
                Some(f64::MAX),
                Some(f64::MIN_POSITIVE),
                None,
            ])),
        ),
        (
            "s",
            col(StringArray::from(vec![
                Some("tab\there\nnl\r\\ 'q' \"dq\" \\N 😀 李"),
                Some(""),
                None,
            ])),
        ),
        (
            "bin",
            col(BinaryArray::from(vec![
                Some(&[0u8, 0xff, b'\'', b'\\', b'\t'][..]),
                Some(&[][..]),
                None,
            ])),
        ),
        (
            "dt",
            col(Date32Array::from(vec![
                Some(-354_285),
                Some(2_932_896),
                None,
            ])),
        ),
        (
            "dtm",
            col(TimestampMicrosecondArray::from(vec![
                Some(-30_610_224_000_000_000),
                Some(253_402_300_799_999_999),
                None,
            ])),
        ),
        (
            "ts",
            col(TimestampMicrosecondArray::from(vec![
                Some(1_000_000),
                Some(2_147_483_647_999_999),
                None,
            ])
            .with_timezone(utc)),
        ),
        (
            "tm",
            col(DurationMicrosecondArray::from(vec![
                Some(-3_020_399_000_000),
                Some(3_020_399_000_000),
                None,
            ])),
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), *name != "id"))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("batch")
}

fn writable() -> OpenOptions {
    OpenOptions {
        read_only: false,
        create: true,
        ..Default::default()
    }
}

/// Writes `batch` into `table` with `mode` on a blocking thread, like the sink.
async fn write(
    mysql: &Arc<MySqlConnection>,
    table: &str,
    mode: WriteMode,
    key: &[&str],
    batch: RecordBatch,
) -> EngineResult<u64> {
    let target = TargetSpec {
        table: TableName::new(None, table),
        mode,
        key: key.iter().map(|k| k.to_string()).collect(),
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    };
    let connection: Arc<dyn Connection> = mysql.clone();
    crate::engines::load::load_batches(&connection, &target, vec![batch]).await
}

/// Reads `sql` with the engine's reader on a blocking thread.
async fn read(mysql: &Arc<MySqlConnection>, sql: &str, schema: SchemaRef) -> Vec<RecordBatch> {
    let mysql = mysql.clone();
    let sql = sql.to_string();
    tokio::task::spawn_blocking(move || {
        let batches: BatchIter = mysql.query(&sql, schema).expect("query");
        batches.collect::<EngineResult<Vec<_>>>().expect("batches")
    })
    .await
    .expect("reader thread")
}

async fn round_trip(name: &str, load_data: bool) {
    let url = database(name).await;
    let mut mysql = MySqlConnection::connect("dst", &url, &writable())
        .await
        .expect("connect");
    assert!(
        mysql.uses_load_data(),
        "the test server has local_infile on"
    );
    mysql.local_infile = load_data;
    let mysql = Arc::new(mysql);
    let batch = every_type_batch();
    let written = write(
        &mysql,
        "every",
        WriteMode::ErrorIfExists,
        &["id"],
        batch.clone(),
    )
    .await
    .expect("write");
    assert_eq!(written, 3);

    let schema = mysql
        .table_schema(&TableName::new(None, "every"))
        .await
        .expect("schema")
        .expect("table exists");
    for (read_field, written_field) in schema.fields().iter().zip(batch.schema().fields()) {
        assert_eq!(
            read_field.data_type(),
            written_field.data_type(),
            "{}",
            written_field.name()
        );
    }
    let select = format!(
        "SELECT {} FROM `every` ORDER BY `id`",
        schema
            .fields()
            .iter()
            .map(|f| mysql.quote_ident(f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let batches = read(&mysql, &select, schema.clone()).await;
    assert_eq!(batches.len(), 1);
    for (i, field) in schema.fields().iter().enumerate() {
        assert_eq!(
            batches[0].column(i).as_ref(),
            batch.column(i).as_ref(),
            "column {}",
            field.name()
        );
    }

    // Upsert and insert_ignore on the same table.
    let ids = Int32Array::from(vec![2, 4]);
    let text = StringArray::from(vec![Some("two"), Some("four")]);
    let small = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("s", DataType::Utf8, true),
        ])),
        vec![col(ids), col(text)],
    )
    .expect("batch");
    let n = write(
        &mysql,
        "every",
        WriteMode::InsertIgnore,
        &["id"],
        small.clone(),
    )
    .await
    .expect("insert_ignore");
    assert_eq!(n, 1, "only id 4 is new");
    let n = write(&mysql, "every", WriteMode::Upsert, &["id"], small)
        .await
        .expect("upsert");
    assert_eq!(n, 2);
    let s_schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
    let batches = read(&mysql, "SELECT `s` FROM `every` ORDER BY `id`", s_schema).await;
    let got: Vec<Option<&str>> = batches[0].column(0).as_string::<i32>().iter().collect();
    assert_eq!(
        got,
        vec![
            Some("tab\there\nnl\r\\ 'q' \"dq\" \\N 😀 李"),
            Some("two"),
            None,
            Some("four")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_load_data_round_trip() {
    round_trip("load_data", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_insert_fallback_round_trip() {
    round_trip("insert_fallback", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dropped_writer_rolls_back() {
    let url = database("dropped").await;
    let mysql = Arc::new(
        MySqlConnection::connect("dst", &url, &writable())
            .await
            .expect("connect"),
    );
    let batch = every_type_batch();
    let target = TargetSpec {
        table: TableName::new(None, "every"),
        mode: WriteMode::Append,
        key: vec![],
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    };
    let plan = mysql
        .prepare_target(&target, &batch.schema(), false, false)
        .await
        .expect("create");
    let target = plan.writer_target(&target);
    let writer_mysql = mysql.clone();
    tokio::task::spawn_blocking(move || {
        let mut writer = writer_mysql
            .open_writer(&target, batch.schema())
            .expect("writer");
        writer.write(&batch).expect("write");
        drop(writer);
    })
    .await
    .expect("writer thread");
    // The rollback runs in the load task: wait for it.
    let mut count = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // The rows went into the shadow the table is made in.
        let n = mysql
            .row_count(&TableName::new(None, "every__barge_new"))
            .await
            .expect("count");
        count = n;
        let mut conn = mysql.conn().await.expect("conn");
        let open: Option<u64> = conn
            .query_first("SELECT COUNT(*) FROM information_schema.INNODB_TRX")
            .await
            .expect("trx");
        if open == Some(0) {
            break;
        }
    }
    assert_eq!(count, Some(0));
    // The table itself was never made.
    assert_eq!(
        mysql
            .row_count(&TableName::new(None, "every"))
            .await
            .expect("count"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_read_only_session() {
    let url = database("read_only").await;
    let options = OpenOptions {
        read_only: true,
        create: false,
        ..Default::default()
    };
    let mysql = Arc::new(
        MySqlConnection::connect("src", &url, &options)
            .await
            .expect("connect"),
    );
    let target = TargetSpec {
        table: TableName::new(None, "t"),
        mode: WriteMode::Append,
        key: vec![],
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    };
    let schema = every_type_batch().schema();
    let err = mysql
        .prepare_target(&target, &schema, true, false)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("read_only"), "{err}");
    // The session itself is read-only too.
    let mut conn = mysql.conn().await.expect("conn");
    let read_only: Option<i64> = conn
        .query_first("SELECT @@session.tx_read_only")
        .await
        .expect("tx_read_only");
    assert_eq!(read_only, Some(1));
}

/// Server errors carry their error number, whatever their text says; a
/// refused connection carries its I/O error's kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_errors_carry_the_servers_code() {
    let url = database("error_codes").await;
    let mysql = MySqlConnection::connect("src", &url, &OpenOptions::default())
        .await
        .expect("connect");
    let deadlock = mysql
        .exec("SIGNAL SQLSTATE '40001' SET MESSAGE_TEXT = 'Deadlock found', MYSQL_ERRNO = 1213")
        .await
        .expect_err("signalled");
    assert_eq!(deadlock.code(), Some(ErrorCode::MySql(1213)), "{deadlock}");
    let worded = mysql
        .exec("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'timed out (ERROR 1213 )', MYSQL_ERRNO = 1644")
        .await
        .expect_err("signalled");
    assert_eq!(worded.code(), Some(ErrorCode::MySql(1644)), "{worded}");
    let refused =
        MySqlConnection::connect("src", "mysql://root@127.0.0.1:1/d", &OpenOptions::default())
            .await
            .expect_err("nothing listens on port 1");
    assert_eq!(
        refused.code(),
        Some(ErrorCode::Io(std::io::ErrorKind::ConnectionRefused)),
        "{refused}"
    );
}

/// An isolating writer undoes a refused batch alone and keeps the others,
/// through both write paths and the staged `insert_ignore` path.
async fn isolated_writes(name: &str, load_data: bool, mode: WriteMode) {
    let url = database(name).await;
    let mut mysql = MySqlConnection::connect("dst", &url, &writable())
        .await
        .expect("connect");
    mysql.local_infile = load_data;
    let mysql = Arc::new(mysql);
    let mut admin = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).expect("url"))
        .await
        .expect("admin");
    admin
        .query_drop(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(5) NOT NULL);
             INSERT INTO t VALUES (2, 'old')",
        )
        .await
        .expect("create");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = |ids: &[i64], names: &[Option<&str>]| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                col(Int64Array::from(ids.to_vec())),
                col(StringArray::from(names.to_vec())),
            ],
        )
        .expect("batch")
    };
    let target = TargetSpec {
        table: TableName::new(None, "t"),
        mode,
        key: vec!["id".to_string()],
        disable_fk_checks: false,
        setup: vec![],
        finish: vec![],
    };
    let batches = [
        // append: 2 is a duplicate; insert_ignore: 2 is skipped, 7 too long.
        batch(&[1, 2, 7], &[Some("a"), Some("b"), Some("toolong")]),
        batch(&[1, 3], &[Some("a"), Some("c")]),
        batch(&[4], &[None]),
    ];
    let outcomes = tokio::task::spawn_blocking(move || {
        let mut writer = mysql.open_isolating_writer(&target, schema.clone())?;
        let outcomes = batches
            .iter()
            .map(|b| writer.write_isolated(b))
            .collect::<EngineResult<Vec<_>>>()?;
        writer.finish(&crate::engines::hooks::Unobserved)?;
        EngineResult::Ok(outcomes)
    })
    .await
    .expect("writer thread")
    .expect("writes");
    let refused = |i: usize| outcomes[i].clone().expect_err("refused");
    assert!(
        refused(0).contains("'name'") || refused(0).contains("Duplicate"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Ok(2));
    assert!(refused(2).contains("'name'"), "{outcomes:?}");
    let rows: Vec<(i64, String)> = admin
        .query("SELECT id, name FROM t ORDER BY id")
        .await
        .expect("rows");
    assert_eq!(
        rows,
        [
            (1, "a".to_string()),
            (2, "old".to_string()),
            (3, "c".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_writes_undo_a_refused_batch_alone_load_data() {
    isolated_writes("isolated_load", true, WriteMode::Append).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_writes_undo_a_refused_batch_alone_insert() {
    isolated_writes("isolated_insert", false, WriteMode::Append).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_writes_undo_a_refused_batch_alone_staged() {
    isolated_writes("isolated_staged_load", true, WriteMode::InsertIgnore).await;
    isolated_writes("isolated_staged_insert", false, WriteMode::InsertIgnore).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_text_filters_go_down_on_nopad_bin_with_backslashes_escaped() {
    use datafusion::logical_expr::TableProviderFilterPushDown::{Exact, Unsupported};
    use datafusion::prelude::{col, lit, SessionContext};

    let url = database("pushdown_text").await;
    let mut admin = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).expect("url"))
        .await
        .expect("connect");
    // `C:\temp`, `C:\\temp`, `C:<tab>emp` (what 'C:\temp' means to MySQL).
    admin
        .query_drop(
            "CREATE TABLE files (id BIGINT PRIMARY KEY, \
               path VARCHAR(50) COLLATE utf8mb4_nopad_bin, \
               folded VARCHAR(50) COLLATE utf8mb4_general_ci, \
               padded VARCHAR(50) COLLATE utf8mb4_bin); \
             INSERT INTO files VALUES \
               (1, CONCAT('C:', CHAR(92), 'temp'), 'abc', 'a'), \
               (2, CONCAT('C:', CHAR(92), CHAR(92), 'temp'), 'ABC', 'a '), \
               (3, CONCAT('C:', CHAR(9), 'emp'), 'x', 'b')",
        )
        .await
        .expect("create");
    // A server-wide NO_BACKSLASH_ESCAPES is taken out, the rest kept.
    admin
        .query_drop("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'")
        .await
        .expect("sql_mode");
    admin
        .query_drop(super::connect::BACKSLASH_ESCAPES)
        .await
        .expect("backslash escapes");
    let mode: Option<String> = admin
        .query_first("SELECT @@SESSION.sql_mode")
        .await
        .unwrap();
    assert_eq!(mode.as_deref(), Some("ANSI_QUOTES"));
    admin.disconnect().await.ok();

    let options = OpenOptions {
        read_only: true,
        create: false,
        ..OpenOptions::default()
    };
    let mysql = Arc::new(
        MySqlConnection::connect("src", &url, &options)
            .await
            .expect("connect"),
    );
    let provider = mysql
        .clone()
        .table_provider(&TableName::new(None, "files"))
        .await
        .expect("provider")
        .expect("table");
    let filters = [
        col("path").eq(lit(r"C:\temp")),
        col("folded").eq(lit("abc")),
        col("padded").eq(lit("a")),
    ];
    assert_eq!(
        provider
            .supports_filters_pushdown(&filters.iter().collect::<Vec<_>>())
            .unwrap(),
        [Exact, Unsupported, Unsupported]
    );
    let ctx = SessionContext::new();
    ctx.register_table("files", provider).unwrap();
    for (sql, want) in [
        (r"SELECT id FROM files WHERE path = 'C:\temp'", 1),
        (r"SELECT id FROM files WHERE path = 'C:\\temp'", 2),
        ("SELECT id FROM files WHERE folded = 'abc'", 1),
        ("SELECT id FROM files WHERE padded = 'a'", 1),
    ] {
        let rows = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let ids: Vec<i64> = rows
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(ids, [want], "{sql}");
    }
}
