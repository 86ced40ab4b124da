#!/usr/bin/env python3
"""Generates TPC-H lineitem at a scale factor and loads it everywhere the
benchmark reads it from:

    DATA/lineitem.tbl       tpchgen-cli's pipe-delimited output (the one truth)
    DATA/lineitem.duckdb    DuckDB file, table lineitem
    DATA/lineitem.parquet   Parquet file (written by DuckDB, zstd)
    DATA/lineitem.sqlite    SQLite file, table lineitem
    PostgreSQL  barge_bench.public.lineitem   (127.0.0.1:5432, user postgres)
    MariaDB     barge_bench.lineitem          (127.0.0.1:3306, user root)

and creates the empty target databases barge_bench_dst on both servers.
DATA defaults to ~/.cache/barge-bench/sf<SF>/.

    python3 benches/tpch.py --sf 0.1

Idempotent: a copy whose row count already equals the .tbl's is left alone;
anything else is (re)built. Needs the venv made by benches/setup.sh (duckdb,
tpchgen-cli) and the psql / mariadb clients. Column types are TPC-H's:
INTEGER keys, DECIMAL(15,2) quantities and prices, CHAR(1) flags, DATE
dates, CHAR(25)/CHAR(10)/VARCHAR(44) text, PRIMARY KEY (l_orderkey,
l_linenumber).
"""

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb

COLUMNS = [
    ("l_orderkey", "INTEGER"),
    ("l_partkey", "INTEGER"),
    ("l_suppkey", "INTEGER"),
    ("l_linenumber", "INTEGER"),
    ("l_quantity", "DECIMAL(15,2)"),
    ("l_extendedprice", "DECIMAL(15,2)"),
    ("l_discount", "DECIMAL(15,2)"),
    ("l_tax", "DECIMAL(15,2)"),
    ("l_returnflag", "CHAR(1)"),
    ("l_linestatus", "CHAR(1)"),
    ("l_shipdate", "DATE"),
    ("l_commitdate", "DATE"),
    ("l_receiptdate", "DATE"),
    ("l_shipinstruct", "CHAR(25)"),
    ("l_shipmode", "CHAR(10)"),
    ("l_comment", "VARCHAR(44)"),
]
PK = "PRIMARY KEY (l_orderkey, l_linenumber)"

PG_HOST = dict(host="127.0.0.1", port="5432", user="postgres")
MY_HOST = dict(host="127.0.0.1", port="3306", user="root")
SRC_DB = "barge_bench"
DST_DB = "barge_bench_dst"


def ddl(table: str = "lineitem", with_pk: bool = True, not_null: bool = True) -> str:
    cols = [f"{n} {t}{' NOT NULL' if not_null else ''}" for n, t in COLUMNS]
    if with_pk:
        cols.append(PK)
    return f"CREATE TABLE {table} (\n  " + ",\n  ".join(cols) + "\n)"


def sf_name(sf: float) -> str:
    return f"sf{sf:g}"


def default_data_dir(sf: float) -> Path:
    return Path(os.environ.get("BARGE_BENCH_DATA", Path.home() / ".cache" / "barge-bench")) / sf_name(sf)


def venv_bin() -> Path:
    return Path(sys.executable).parent


def log(msg: str) -> None:
    print(f"[tpch] {msg}", file=sys.stderr, flush=True)


# --- server helpers (used by run.py too) -------------------------------------

def psql_argv(db: str) -> list:
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG_HOST["host"], "-p", PG_HOST["port"],
            "-U", PG_HOST["user"], "-d", db]


def mariadb_argv(db: str = "", local_infile: bool = False) -> list:
    argv = ["mariadb", "-h", MY_HOST["host"], "-P", MY_HOST["port"], "-u", MY_HOST["user"]]
    if local_infile:
        argv.append("--local-infile=1")
    if db:
        argv.append(db)
    return argv


def psql(db: str, sql: str) -> str:
    out = subprocess.run(psql_argv(db) + ["-tA", "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def mysql(db: str, sql: str) -> str:
    out = subprocess.run(mariadb_argv(db) + ["-N", "-B", "-e", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def pg_count(db: str, table: str = "lineitem") -> int | None:
    try:
        return int(psql(db, f"SELECT count(*) FROM {table}"))
    except (subprocess.CalledProcessError, ValueError):
        return None


def my_count(db: str, table: str = "lineitem") -> int | None:
    try:
        return int(mysql(db, f"SELECT count(*) FROM {table}"))
    except (subprocess.CalledProcessError, ValueError):
        return None


def file_count(path: Path, kind: str, table: str = "lineitem") -> int | None:
    """Row count of a parquet, duckdb or sqlite file (None when unreadable)."""
    if not path.exists():
        return None
    try:
        if kind == "parquet":
            return duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()[0]
        if kind == "duckdb":
            con = duckdb.connect(str(path), read_only=True)
            try:
                return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            finally:
                con.close()
        if kind == "sqlite":
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            finally:
                con.close()
    except Exception:  # noqa: BLE001 - any failure means "not a valid copy"
        return None
    raise ValueError(kind)


def ensure_databases() -> None:
    for db in (SRC_DB, DST_DB):
        if psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'") != "1":
            psql("postgres", f"CREATE DATABASE {db}")
        mysql("", f"CREATE DATABASE IF NOT EXISTS {db}")


# --- the generator ------------------------------------------------------------

def read_tbl_sql(tbl: Path) -> str:
    cols = ", ".join(f"'{n}': '{t}'" for n, t in COLUMNS) + ", 'trailing': 'VARCHAR'"
    names = ", ".join(n for n, _ in COLUMNS)
    return (f"SELECT {names} FROM read_csv('{tbl}', delim='|', header=false, auto_detect=false, "
            f"quote='', escape='', columns={{{cols}}})")


def make_tbl(sf: float, data: Path) -> None:
    tbl = data / "lineitem.tbl"
    if tbl.exists() and (data / "lineitem.tbl.done").exists():
        return
    log(f"generating lineitem at SF {sf:g} with tpchgen-cli")
    tmp = data / "tbl.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    subprocess.run([str(venv_bin() / "tpchgen-cli"), "tbl", "-s", f"{sf:g}", "-T", "lineitem",
                    "-o", str(tmp), "--quiet"], check=True)
    os.replace(tmp / "lineitem.tbl", tbl)
    tmp.rmdir()
    (data / "lineitem.tbl.done").touch()


def tbl_rows(data: Path) -> int:
    cache = data / "lineitem.tbl.rows"
    if cache.exists() and cache.stat().st_mtime >= (data / "lineitem.tbl").stat().st_mtime:
        return int(cache.read_text())
    with open(data / "lineitem.tbl", "rb") as f:
        rows = sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 24), b""))
    cache.write_text(str(rows))
    return rows


def make_duckdb(data: Path, rows: int) -> None:
    path = data / "lineitem.duckdb"
    if file_count(path, "duckdb") == rows:
        return
    log(f"loading {path}")
    tmp = data / "lineitem.duckdb.tmp"
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    con.execute(ddl())
    con.execute(f"INSERT INTO lineitem {read_tbl_sql(data / 'lineitem.tbl')}")
    con.execute("CHECKPOINT")
    con.close()
    os.replace(tmp, path)


def make_parquet(data: Path, rows: int) -> None:
    path = data / "lineitem.parquet"
    if file_count(path, "parquet") == rows:
        return
    log(f"writing {path}")
    tmp = data / "lineitem.parquet.tmp"
    con = duckdb.connect(str(data / "lineitem.duckdb"), read_only=True)
    con.execute(f"COPY lineitem TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
    con.close()
    os.replace(tmp, path)


def make_sqlite(data: Path, rows: int) -> None:
    path = data / "lineitem.sqlite"
    if file_count(path, "sqlite") == rows:
        return
    log(f"loading {path}")
    tmp = data / "lineitem.sqlite.tmp"
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
    con.execute(ddl())
    with open(data / "lineitem.tbl", newline="") as f:
        reader = csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE)
        con.executemany("INSERT INTO lineitem VALUES (" + ",".join("?" * len(COLUMNS)) + ")",
                        (r[: len(COLUMNS)] for r in reader))
    con.commit()
    con.close()
    os.replace(tmp, path)


def tbl_stream(data: Path) -> subprocess.Popen:
    """The .tbl without its trailing '|' on every line, on a pipe."""
    return subprocess.Popen(["sed", "s/|$//", str(data / "lineitem.tbl")], stdout=subprocess.PIPE)


def make_postgres(data: Path, rows: int) -> None:
    if pg_count(SRC_DB) == rows:
        return
    log(f"loading PostgreSQL {SRC_DB}.public.lineitem")
    psql(SRC_DB, "DROP TABLE IF EXISTS lineitem")
    psql(SRC_DB, ddl(with_pk=False))
    sed = tbl_stream(data)
    subprocess.run(psql_argv(SRC_DB) + ["-c", "\\copy lineitem from stdin (delimiter '|')"],
                   stdin=sed.stdout, check=True)
    sed.stdout.close()
    if sed.wait() != 0:
        raise RuntimeError("sed failed")
    psql(SRC_DB, "ALTER TABLE lineitem ADD " + PK)
    psql(SRC_DB, "VACUUM ANALYZE lineitem")


def make_mysql(data: Path, rows: int) -> None:
    if my_count(SRC_DB) == rows:
        return
    log(f"loading MariaDB {SRC_DB}.lineitem")
    mysql(SRC_DB, "DROP TABLE IF EXISTS lineitem")
    mysql(SRC_DB, ddl())
    subprocess.run(mariadb_argv(SRC_DB, local_infile=True) + [
        "-e", f"LOAD DATA LOCAL INFILE '{data / 'lineitem.tbl'}' INTO TABLE lineitem "
              "FIELDS TERMINATED BY '|' LINES TERMINATED BY '|\\n'"], check=True)
    mysql(SRC_DB, "ANALYZE TABLE lineitem")


def ensure(sf: float, data: Path | None = None, targets: set | None = None) -> tuple[Path, int]:
    """Builds whatever is missing; returns (data dir, lineitem row count)."""
    data = data or default_data_dir(sf)
    data.mkdir(parents=True, exist_ok=True)
    targets = targets or {"duckdb", "parquet", "sqlite", "postgres", "mysql"}
    t0 = time.time()
    make_tbl(sf, data)
    rows = tbl_rows(data)
    make_duckdb(data, rows)  # parquet is written from it
    if "parquet" in targets:
        make_parquet(data, rows)
    if "sqlite" in targets:
        make_sqlite(data, rows)
    if targets & {"postgres", "mysql"}:
        ensure_databases()
    if "postgres" in targets:
        make_postgres(data, rows)
    if "mysql" in targets:
        make_mysql(data, rows)
    for kind in ("duckdb", "parquet", "sqlite"):
        if kind in targets or kind == "duckdb":
            got = file_count(data / f"lineitem.{kind}", kind)
            if got != rows:
                raise RuntimeError(f"lineitem.{kind} has {got} rows, expected {rows}")
    if "postgres" in targets and pg_count(SRC_DB) != rows:
        raise RuntimeError("PostgreSQL lineitem row count mismatch")
    if "mysql" in targets and my_count(SRC_DB) != rows:
        raise RuntimeError("MariaDB lineitem row count mismatch")
    log(f"SF {sf:g}: {rows:,} rows ready in {data} ({time.time() - t0:.0f}s)")
    return data, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor (0.1, 1, 5, ...)")
    parser.add_argument("--data-dir", type=Path, help="default ~/.cache/barge-bench/sf<SF>/")
    args = parser.parse_args()
    ensure(args.sf, args.data_dir)


if __name__ == "__main__":
    main()
