#!/usr/bin/env python3
"""Times barge against the tools people would use instead, on TPC-H lineitem.

    benches/run.sh --sf 1                       # everything, 3 runs each
    benches/run.sh --sf 0.1 --runs 1 --paths pg-pg,sqlite-duckdb --tools barge,duckdb

For every path (pg-pg, mysql-pg, ...) every tool runs once per round, in the
same order, round after round (A B C A B C A B C), so slow drift of the machine
hits every tool alike. Before each run the target is dropped (and, for the raw
pipe, created again empty with lineitem's DDL), PostgreSQL is CHECKPOINTed and
the file system synced; after it the target's rows are counted: a run whose
count differs from the source's is a failure, not a time.

Measured per run: wall seconds (start of the first process to exit of the
last), rows/s, peak RSS and CPU seconds (user+sys) of the client processes, each
read by GNU time (wait4 of the process: ru_maxrss, ru_utime + ru_stime). A shell
pipe's RSS is the SUM of its processes' peaks (they run at the same time); a
tool that forks helpers (Sling starts a DuckDB process) is reported as the
kernel reports it, the largest peak in its process tree, while its CPU is the
tree's total. The servers' own memory and CPU (postgres backends, mariadbd) are
not counted for anyone.

Writes RESULTS.md (default benches/RESULTS.md) and the raw runs as JSON next to
the data (DATA/results-<time>.json). Run it through benches/run.sh, which starts
the servers, installs the peers and loads the data first.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tpch  # noqa: E402
from tpch import DST_DB, SRC_DB  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV = Path(sys.executable).parent.parent
SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
DUCKDB_CLI = SITE / "duckdb_cli" / "duckdb"
SLING = SITE / "sling_linux_amd64" / "bin" / "sling-linux-amd64"
BENCH_ROOT = Path(os.environ.get("BARGE_BENCH_DATA", Path.home() / ".cache" / "barge-bench"))
TIME = "/usr/bin/time"  # GNU time (Debian package time)
BENCH_HOME = BENCH_ROOT / "home"  # HOME for DuckDB and Sling: holds .duckdb/extensions

PG_URL = "postgres://postgres@127.0.0.1:5432/{db}"
MY_URL = "mysql://root@127.0.0.1:3306/{db}"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname={db}"
MY_DSN = "host=127.0.0.1 port=3306 user=root database={db}"

# path name -> (source kind, target kind)
PATHS = {
    "pg-pg": ("postgres", "postgres"),
    "mysql-pg": ("mysql", "postgres"),
    "pg-mysql": ("postgres", "mysql"),
    "mysql-mysql": ("mysql", "mysql"),
    "pg-parquet": ("postgres", "parquet"),
    "parquet-pg": ("parquet", "postgres"),
    "sqlite-duckdb": ("sqlite", "duckdb"),
    "mysql-duckdb": ("mysql", "duckdb"),
}
BARGE_TOOLS = ["barge", "barge-run", "barge-append", "barge-stage"]
TOOLS = BARGE_TOOLS + ["pipe", "duckdb", "sling", "pgloader"]
# Tools that load into the table the harness pre-creates before every run with
# lineitem's DDL (types and primary key as in the source). Sling and pgloader
# create their own: the report lists what each created.
PRECREATED = set(BARGE_TOOLS) | {"pipe", "duckdb"}
TOOL_NOTES = {
    "barge": "`barge copy SRC DST --tables lineitem --mode replace --quiet` into the pre-created table",
    "barge-run": "`barge run` of a one-step pipeline (`SELECT * FROM src.lineitem`, `mode = \"replace\"`) "
                 "into the pre-created table",
    "barge-append": "the same pipeline with `mode = \"append\"` into the pre-created, empty table: the "
                    "rollback journal records the key (`key = [\"l_orderkey\", \"l_linenumber\"]`, in every "
                    "barge-run pipeline) of every row sent",
    "barge-stage": "`barge-run` with `--stage DIR`: every row also staged to Parquet",
    "pipe": "the physical limit: the servers' own bulk paths joined by a shell pipe (psql `\\copy`, "
            "`mariadb --quick -B`, `LOAD DATA LOCAL INFILE '/dev/stdin'`) into the pre-created table",
    "duckdb": "DuckDB CLI: ATTACH source and target, `INSERT INTO dst.lineitem SELECT * FROM src.lineitem` "
              "into the pre-created table, or `COPY ... TO (FORMAT parquet, COMPRESSION zstd)`; default "
              "settings (all cores, memory limit 80% of RAM)",
    "sling": "`sling run --src-conn ... --tgt-conn ... --mode full-refresh` (parquet: `compression: zstd`); "
             "creates its own table; starts a DuckDB process for files and DuckDB targets",
    "pgloader": "`pgloader` with a LOAD DATABASE command file (include drop, create tables, create indexes); "
                "creates the table and its primary key",
}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- what each tool runs --------------------------------------------------------

@dataclass
class Job:
    """One tool on one path: the processes of a pipe (one for most tools)."""
    procs: list
    env: dict = field(default_factory=dict)
    setup: object = None  # callable run before timing (after the target is reset)
    cwd: Path | None = None  # where the processes run (barge keeps its .barge/ state there)


def src_file(data: Path, kind: str) -> Path:
    return data / f"lineitem.{kind}"


def dst_file(out: Path, kind: str, tool: str) -> Path:
    if kind == "parquet" and tool in BARGE_TOOLS[1:]:
        return out / tool / "lineitem.parquet"  # a parquet:// folder holds one file per table
    return out / f"{tool}.{kind}"


def barge_job(tool: str, barge: str, src: str, dst: str, data: Path, out: Path) -> Job | None:
    s = {"postgres": PG_URL.format(db=SRC_DB), "mysql": MY_URL.format(db=SRC_DB),
         "sqlite": f"sqlite://{src_file(data, 'sqlite')}", "parquet": str(src_file(data, "parquet"))}[src]
    target = dst_file(out, dst, tool)
    d = {"postgres": PG_URL.format(db=DST_DB), "mysql": MY_URL.format(db=DST_DB),
         "duckdb": f"duckdb://{target}", "parquet": str(target)}[dst]
    home = out / "barge" / tool  # state, journal and stage of this tool's runs

    def clean() -> None:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        if dst == "parquet":
            target.parent.mkdir(parents=True, exist_ok=True)

    if tool == "barge":
        def setup() -> None:
            clean()
        return Job([[barge, "copy", s, d, "--tables", "lineitem", "--mode", "replace", "--quiet"]],
                   setup=setup, cwd=home)
    if tool == "barge-append" and dst == "parquet":
        return None  # a Parquet file is written whole
    mode = "append" if tool == "barge-append" else "replace"
    pipeline = home / "lineitem.toml"
    if dst == "parquet":
        d = f"parquet://{target.parent}"
    body = (f'[connections.src]\nurl = "{s}"\nread_only = true\n\n'
            f'[connections.dst]\nurl = "{d}"\n\n'
            f'[[step]]\nname = "lineitem"\ntarget = "dst.lineitem"\nmode = "{mode}"\n'
            # The key makes the journal of an append record every row's key.
            'key = ["l_orderkey", "l_linenumber"]\n'
            'sql = "SELECT * FROM src.lineitem"\n')
    argv = [barge, "run", str(pipeline), "--quiet"]
    if tool == "barge-stage":
        argv += ["--stage", str(home / "stage")]

    def setup() -> None:
        clean()
        pipeline.write_text(body)

    return Job([argv], setup=setup, cwd=home)


def pipe_job(src: str, dst: str, data: Path, out: Path) -> Job | None:
    pg_out = tpch.psql_argv(SRC_DB)
    my_out = tpch.mariadb_argv(SRC_DB) + ["--quick", "-B", "--skip-column-names", "-e", "SELECT * FROM lineitem"]
    my_in = tpch.mariadb_argv(DST_DB, local_infile=True) + ["-e", "LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE lineitem"]
    pg_in = tpch.psql_argv(DST_DB)
    if (src, dst) == ("postgres", "postgres"):
        return Job([pg_out + ["-c", "\\copy lineitem to stdout (format binary)"],
                    pg_in + ["-c", "\\copy lineitem from stdin (format binary)"]])
    if (src, dst) == ("mysql", "postgres"):
        return Job([my_out, pg_in + ["-c", "\\copy lineitem from stdin"]])
    if (src, dst) == ("postgres", "mysql"):
        return Job([pg_out + ["-c", "\\copy lineitem to stdout"], my_in])
    if (src, dst) == ("mysql", "mysql"):
        return Job([my_out, my_in])
    return None


def duckdb_job(src: str, dst: str, data: Path, out: Path) -> Job:
    ext = {"postgres": "postgres_scanner", "mysql": "mysql_scanner", "sqlite": "sqlite_scanner"}
    sql = ["SET autoinstall_known_extensions = false;"]
    sql += [f"LOAD {ext[k]};" for k in dict.fromkeys((src, dst)) if k in ext]
    if src == "postgres":
        sql.append(f"ATTACH '{PG_DSN.format(db=SRC_DB)}' AS src (TYPE postgres, READ_ONLY);")
        src_table = "src.public.lineitem"
    elif src == "mysql":
        sql.append(f"ATTACH '{MY_DSN.format(db=SRC_DB)}' AS src (TYPE mysql, READ_ONLY);")
        src_table = f"src.{SRC_DB}.lineitem"
    elif src == "sqlite":
        sql.append(f"ATTACH '{src_file(data, 'sqlite')}' AS src (TYPE sqlite, READ_ONLY);")
        src_table = "src.lineitem"
    else:
        src_table = f"read_parquet('{src_file(data, 'parquet')}')"
    if dst == "parquet":
        sql.append(f"COPY (SELECT * FROM {src_table}) TO '{dst_file(out, 'parquet', 'duckdb')}' "
                   "(FORMAT parquet, COMPRESSION zstd);")
    else:
        if dst == "postgres":
            sql.append(f"ATTACH '{PG_DSN.format(db=DST_DB)}' AS dst (TYPE postgres);")
            dst_table = "dst.public.lineitem"
        elif dst == "mysql":
            sql.append(f"ATTACH '{MY_DSN.format(db=DST_DB)}' AS dst (TYPE mysql);")
            dst_table = f"dst.{DST_DB}.lineitem"
        else:
            sql.append(f"ATTACH '{dst_file(out, 'duckdb', 'duckdb')}' AS dst;")
            dst_table = "dst.main.lineitem"
        sql.append(f"INSERT INTO {dst_table} SELECT * FROM {src_table};")
    return Job([[str(DUCKDB_CLI), "-batch", "-bail", "-c", " ".join(sql)]], env={"HOME": str(BENCH_HOME)})


def sling_job(src: str, dst: str, data: Path, out: Path) -> Job:
    env = {
        "HOME": str(BENCH_HOME), "SLING_HOME_DIR": str(BENCH_HOME / ".sling"),
        "SLING_DISABLE_TELEMETRY": "true", "DUCKDB_PATH": str(DUCKDB_CLI),
        "DUCKDB_VERSION": DUCKDB_CLI_VERSION,
        "BENCH_PG_SRC": f"postgresql://postgres@127.0.0.1:5432/{SRC_DB}?sslmode=disable",
        "BENCH_PG_DST": f"postgresql://postgres@127.0.0.1:5432/{DST_DB}?sslmode=disable",
        "BENCH_MY_SRC": f"mysql://root@127.0.0.1:3306/{SRC_DB}",
        "BENCH_MY_DST": f"mysql://root@127.0.0.1:3306/{DST_DB}",
        "BENCH_SQLITE_SRC": f"sqlite://{src_file(data, 'sqlite')}",
        "BENCH_DUCKDB_DST": f"duckdb://{dst_file(out, 'duckdb', 'sling')}",
    }
    argv = [str(SLING), "run"]
    argv += {"postgres": ["--src-conn", "BENCH_PG_SRC", "--src-stream", "public.lineitem"],
             "mysql": ["--src-conn", "BENCH_MY_SRC", "--src-stream", f"{SRC_DB}.lineitem"],
             "sqlite": ["--src-conn", "BENCH_SQLITE_SRC", "--src-stream", "main.lineitem"],
             "parquet": ["--src-stream", f"file://{src_file(data, 'parquet')}"]}[src]
    argv += {"postgres": ["--tgt-conn", "BENCH_PG_DST", "--tgt-object", "public.lineitem", "--mode", "full-refresh"],
             "mysql": ["--tgt-conn", "BENCH_MY_DST", "--tgt-object", f"{DST_DB}.lineitem", "--mode", "full-refresh"],
             "duckdb": ["--tgt-conn", "BENCH_DUCKDB_DST", "--tgt-object", "main.lineitem", "--mode", "full-refresh"],
             "parquet": ["--tgt-object", f"file://{dst_file(out, 'parquet', 'sling')}",
                         "--tgt-options", "{format: parquet, compression: zstd}"]}[dst]
    return Job([argv], env=env)


def pgloader_job(src: str, dst: str, data: Path, out: Path) -> Job | None:
    if dst != "postgres" or src not in ("postgres", "mysql"):
        return None
    cmd = out / f"pgloader-{src}.load"
    target = f"postgresql://postgres@127.0.0.1:5432/{DST_DB}"
    if src == "mysql":
        body = (f"LOAD DATABASE\n  FROM mysql://root@127.0.0.1:3306/{SRC_DB}\n  INTO {target}\n"
                "  WITH include drop, create tables, create indexes, reset sequences\n"
                "  INCLUDING ONLY TABLE NAMES MATCHING 'lineitem'\n"
                f"  ALTER SCHEMA '{SRC_DB}' RENAME TO 'public';\n")
    else:
        body = (f"LOAD DATABASE\n  FROM postgresql://postgres@127.0.0.1:5432/{SRC_DB}\n  INTO {target}\n"
                "  WITH include drop, create tables, create indexes, reset sequences\n"
                "  INCLUDING ONLY TABLE NAMES MATCHING 'lineitem' IN SCHEMA 'public';\n")

    def setup() -> None:
        cmd.write_text(body)

    return Job([["pgloader", "--no-ssl-cert-verification", "--root-dir", str(out / "pgloader"), str(cmd)]],
               setup=setup)


def make_job(tool: str, path: str, barge: str, data: Path, out: Path) -> Job | None:
    src, dst = PATHS[path]
    if tool in BARGE_TOOLS:
        return barge_job(tool, barge, src, dst, data, out)
    if tool == "pipe":
        return pipe_job(src, dst, data, out)
    if tool == "duckdb":
        return duckdb_job(src, dst, data, out)
    if tool == "sling":
        return sling_job(src, dst, data, out)
    if tool == "pgloader":
        return pgloader_job(src, dst, data, out)
    raise ValueError(tool)


# --- targets ---------------------------------------------------------------------

def reset_target(kind: str, tool: str, out: Path, precreate: bool = True) -> None:
    """Drops the target, then (for the tools in PRECREATED) creates it empty
    with lineitem's DDL: the same table, primary key included, for all of them."""
    create = precreate and tool in PRECREATED
    if kind == "postgres":
        tpch.psql(DST_DB, f"DROP TABLE IF EXISTS lineitem CASCADE; DROP SCHEMA IF EXISTS {SRC_DB} CASCADE")
        if create:
            tpch.psql(DST_DB, tpch.ddl())
    elif kind == "mysql":
        tpch.mysql(DST_DB, "DROP TABLE IF EXISTS lineitem")
        if create:
            tpch.mysql(DST_DB, tpch.ddl())
    else:
        f = dst_file(out, kind, tool)
        for p in (f, Path(f"{f}.wal"), Path(f"{f}.tmp")):
            p.unlink(missing_ok=True)
        if kind == "duckdb" and create:
            # Made by the DuckDB peer's own CLI (1.5), whose files every tool here opens.
            subprocess.run([str(DUCKDB_CLI), str(f), "-batch", "-bail", "-c", tpch.ddl() + ";"], check=True,
                           capture_output=True, env={**os.environ, "HOME": str(BENCH_HOME)})


def count_target(kind: str, tool: str, out: Path) -> int | None:
    if kind == "postgres":
        return tpch.pg_count(DST_DB)
    if kind == "mysql":
        return tpch.my_count(DST_DB)
    return tpch.file_count(dst_file(out, kind, tool), kind)


def ncols(types: str) -> str:
    """'' for lineitem's 16 columns, else a warning that names the count."""
    n = len(re.split(r",\s*(?![^()]*\))", types)) if types else 0
    return "" if n == len(tpch.COLUMNS) else f"**{n} columns**: "


def describe_target(kind: str, tool: str, out: Path) -> str:
    """Column types and primary key of what a tool created (for the report)."""
    try:
        if kind == "postgres":
            types = tpch.psql(DST_DB, "SELECT string_agg(format_type(atttypid, atttypmod), ', ' ORDER BY attnum) "
                                      "FROM pg_attribute WHERE attrelid = 'lineitem'::regclass AND attnum > 0 "
                                      "AND NOT attisdropped")
            pk = tpch.psql(DST_DB, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'lineitem'::regclass "
                                   "AND contype = 'p'")
            return f"{'PK' if pk == '1' else 'no PK'}; {ncols(types)}{types}"
        if kind == "mysql":
            types = tpch.mysql(DST_DB, "SELECT group_concat(column_type ORDER BY ordinal_position SEPARATOR ', ') "
                                       f"FROM information_schema.columns WHERE table_schema = '{DST_DB}' "
                                       "AND table_name = 'lineitem'")
            pk = tpch.mysql(DST_DB, "SELECT count(*) FROM information_schema.table_constraints WHERE "
                                    f"table_schema = '{DST_DB}' AND table_name = 'lineitem' "
                                    "AND constraint_type = 'PRIMARY KEY'")
            return f"{'PK' if pk == '1' else 'no PK'}; {ncols(types)}{types}"
        import duckdb
        f = dst_file(out, kind, tool)
        size = f"{f.stat().st_size / 2**20:.1f} MiB"
        if kind == "parquet":
            con = duckdb.connect()
            types = ", ".join(t for _, t, *_ in con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                                             [str(f)]).fetchall())
            comp = con.execute("SELECT string_agg(DISTINCT compression, '/') FROM parquet_metadata(?)",
                               [str(f)]).fetchone()[0]
            return f"{size}, {comp}; {ncols(types)}{types}"
        con = duckdb.connect(str(f), read_only=True)
        types = ", ".join(t for (t,) in con.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'lineitem' "
            "ORDER BY ordinal_position").fetchall())
        pk = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'lineitem' "
                         "AND constraint_type = 'PRIMARY KEY'").fetchone()[0]
        con.close()
        return f"{size}, {'PK' if pk else 'no PK'}; {ncols(types)}{types}"
    except Exception as e:  # noqa: BLE001 - a description, never a verdict
        return f"(could not describe: {e})"


# --- one timed run --------------------------------------------------------------

@dataclass
class Run:
    path: str
    tool: str
    round: int
    ok: bool = False
    seconds: float | None = None
    rows: int | None = None
    rss_kib: list = field(default_factory=list)  # per process
    cpu_s: float | None = None
    exit_codes: list = field(default_factory=list)
    error: str = ""
    load1: float | None = None  # 1-minute load average when the run started
    busy: float | None = None  # cores busy in the second before the run started

    @property
    def loaded(self) -> bool:
        return self.load1 is not None and self.load1 > 0.5

    @property
    def rss_mib(self) -> float | None:
        return sum(self.rss_kib) / 1024 if self.rss_kib else None


def execute(job: Job, log_file: Path, timeout: float) -> tuple[float, list, list, float, bool]:
    """Runs the job's processes as one pipe; returns (seconds, exit codes,
    per-process peak RSS in KiB, user+sys CPU seconds, timed out).

    Each process runs under GNU time, which reports its child's peak RSS and
    CPU. They cannot come from wait4 here: a process forked from this Python
    (tens of MiB, with duckdb loaded) keeps the parent's RSS as its own peak
    across exec, while GNU time is a ~2 MiB parent."""
    env = {**os.environ, **job.env}
    procs, stats = [], []
    with open(log_file, "wb") as logf:
        t0 = time.perf_counter()
        prev = subprocess.DEVNULL
        for i, argv in enumerate(job.procs):
            last = i == len(job.procs) - 1
            stat = log_file.with_suffix(f".time{i}")
            stat.unlink(missing_ok=True)
            stats.append(stat)
            p = subprocess.Popen([TIME, "-f", "%M %U %S", "-o", str(stat)] + argv, stdin=prev,
                                 stdout=logf if last else subprocess.PIPE, stderr=logf, env=env,
                                 start_new_session=True, cwd=job.cwd)
            if prev is not subprocess.DEVNULL:
                prev.close()  # the child holds it now
            prev = p.stdout
            procs.append(p)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            for p in procs:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        codes = []
        for p in procs:
            codes.append(p.wait())
        seconds = time.perf_counter() - t0
        timer.cancel()
    rss, cpu = [], 0.0
    for stat in stats:
        try:
            kib, user, system = stat.read_text().strip().splitlines()[-1].split()
            rss.append(int(kib))
            cpu += float(user) + float(system)
        except (OSError, ValueError, IndexError):
            pass
    return seconds, codes, rss, cpu, timed_out.is_set()


def tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Sling colours its log
    keep = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(keep[-lines:])[-600:]


def run_once(path: str, tool: str, rnd: int, job: Job, rows: int, out: Path, timeout: float,
             settle_seconds: float) -> Run:
    src, dst = PATHS[path]
    run = Run(path, tool, rnd)
    try:
        reset_target(dst, tool, out)
        if job.setup:
            job.setup()
        if "postgres" in (src, dst):
            tpch.psql("postgres", "CHECKPOINT")
        os.sync()
    except Exception as e:  # noqa: BLE001
        run.error = f"could not prepare the target: {e}"
        return run
    run.load1, run.busy = settle(settle_seconds)
    log_file = out / "logs" / f"{path}.{tool}.{rnd}.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    seconds, codes, rss, cpu, timed_out = execute(job, log_file, timeout)
    run.exit_codes, run.rss_kib, run.cpu_s = codes, rss, cpu
    if timed_out:
        run.error = f"timed out after {timeout:.0f}s: {tail(log_file)}"
        return run
    if any(codes):
        run.error = f"exit {'/'.join(map(str, codes))} after {seconds:.1f}s: {tail(log_file)}"
        return run
    run.rows = count_target(dst, tool, out)
    if run.rows != rows:
        run.error = f"moved {run.rows} rows, expected {rows} ({seconds:.1f}s): {tail(log_file)}"
        return run
    run.ok, run.seconds = True, seconds
    return run


# --- facts about the machine and the tools ---------------------------------------

def cmd_out(argv: list, env: dict | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
        return re.sub(r"\x1b\[[0-9;]*m", "", (out.stdout or out.stderr)).strip()
    except Exception as e:  # noqa: BLE001
        return f"unavailable ({e})"


def first_line(s: str) -> str:
    return s.splitlines()[0] if s else s


def barge_build(barge: str) -> str:
    p = Path(barge).resolve()
    kind = "release" if "/release/" in str(p) else "dev (debug profile)" if "/debug/" in str(p) else "custom"
    built = dt.datetime.fromtimestamp(p.stat().st_mtime).strftime("%Y-%m-%d %H:%M") if p.exists() else "?"
    head = cmd_out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = cmd_out(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])
    tree = f"tree at {head}{' plus uncommitted changes in src/' if dirty else ''}"
    return f"{kind} build, `{p}`, built {built}, {tree}"


def loadavg() -> str:
    """1/5/15-minute load average: above ~0 something else competed for the cores."""
    return " / ".join(open("/proc/loadavg").read().split()[:3])


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def settle(seconds: float) -> tuple[float, float]:
    """Waits (up to `seconds`) for the 1-minute load average to fall to 0.5,
    then returns it with the cores busy over the next second. The load
    average trails the previous run for a minute or two; the busy figure says
    whether anything was actually running when this run started."""
    deadline = time.monotonic() + seconds
    while float(open("/proc/loadavg").read().split()[0]) > 0.5 and time.monotonic() < deadline:
        time.sleep(2)
    load1 = float(open("/proc/loadavg").read().split()[0])
    b0, t0 = cpu_times()
    time.sleep(1)
    b1, t1 = cpu_times()
    return load1, (b1 - b0) / max(t1 - t0, 1) * (os.cpu_count() or 1)


def warm(path: str, data: Path) -> None:
    """Reads the path's source once, untimed, so that every run (the first
    included) reads it from memory: caches are never dropped."""
    src = PATHS[path][0]
    scan = "SELECT count(*), sum(length(l_comment)) FROM lineitem"
    if src == "postgres":
        tpch.psql(SRC_DB, scan)
    elif src == "mysql":
        tpch.mysql(SRC_DB, scan)
    else:
        with open(src_file(data, src), "rb") as f:
            while f.read(1 << 24):
                pass


def snapshot_barge(barge: str) -> tuple[str, str]:
    """Copies the binary under test aside, so a rebuild during the run (others
    compile in the same target dir) cannot change what is measured. Returns
    (the copy's path, a description of the build)."""
    src = Path(barge).resolve()
    built = barge_build(str(src))
    snap = BENCH_ROOT / "barge-under-test"
    BENCH_ROOT.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, snap)
    digest = hashlib.sha256(snap.read_bytes()).hexdigest()[:12]
    return str(snap), f"{built}, sha256 {digest} (run from a copy)"


def facts(barge: str, build: str, tools: list) -> dict:
    mem = next((ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), "0")
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    osname = next((ln.split("=", 1)[1].strip().strip('"') for ln in open("/etc/os-release")
                   if ln.startswith("PRETTY_NAME")), platform.system())
    f = {
        "machine": f"{os.cpu_count()} cores ({cpu}), {int(mem) / 2**20:.1f} GiB RAM, {osname}, "
                   f"Linux {platform.release()}",
        "load average at start": loadavg(),
        "barge": f"{first_line(cmd_out([barge, '--version']))}; {build}",
        "PostgreSQL server": first_line(tpch.psql("postgres", "SHOW server_version")),
        "MariaDB server": tpch.mysql("", "SELECT version()"),
        "psql": first_line(cmd_out(["psql", "--version"])),
        "mariadb client": first_line(cmd_out(["mariadb", "--version"])),
        "tpchgen-cli": first_line(cmd_out([str(VENV / "bin" / "tpchgen-cli"), "--version"])),
    }
    if "duckdb" in tools or "sling" in tools:
        f["DuckDB"] = (f"{first_line(cmd_out([str(DUCKDB_CLI), '--version']))} CLI (PyPI duckdb-cli), extensions "
                       "postgres_scanner/mysql_scanner/sqlite_scanner from PyPI duckdb-extension-*")
    if "sling" in tools:
        f["Sling"] = first_line(cmd_out([str(SLING), "--version"], {"SLING_DISABLE_TELEMETRY": "true",
                                                                      "HOME": str(BENCH_HOME)})) \
            + " (PyPI sling-linux-amd64)"
    if "pgloader" in tools:
        f["pgloader"] = (first_line(cmd_out(["pgloader", "--version"])) + ", Debian package "
                         + cmd_out(["dpkg-query", "-W", "-f", "${Version}", "pgloader"]))
    return f


DUCKDB_CLI_VERSION = ""


# --- the report --------------------------------------------------------------------

def fmt_s(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def summarize(runs: list) -> dict:
    ok = [r for r in runs if r.ok]
    if not ok:
        return {"ok": 0, "n": len(runs)}
    secs = [r.seconds for r in ok]
    return {"ok": len(ok), "n": len(runs), "median": statistics.median(secs), "min": min(secs),
            "rss": max(r.rss_mib for r in ok), "cpu": statistics.median(r.cpu_s for r in ok),
            "procs": len(ok[0].rss_kib)}


# The targets: (barge tool, paths, peer, most barge ÷ peer may be).
TARGETS = [
    (["barge-run", "barge-append"], ["pg-pg"], "pipe", 1.10),
    (["barge", "barge-run", "barge-append"], ["mysql-pg", "pg-mysql", "mysql-mysql"], "pipe", 1.20),
    (["barge", "barge-run"], ["pg-parquet", "parquet-pg", "sqlite-duckdb", "mysql-duckdb"], "duckdb", 1.00),
    (["barge-stage"], list(PATHS), "barge-run", 1.15),
]
RSS_TARGET_MIB = 256


def targets_report(args, results: dict) -> list:
    """The targets, each with its ratio in this run: met, missed, or not measured."""
    L = ["## Targets\n", "| path | barge | against | ratio | target | |", "| --- | --- | --- | ---: | ---: | --- |"]
    for tools, paths, peer, most in TARGETS:
        for p in paths:
            for t in tools:
                if p not in args.paths or (p, t) not in results or (p, peer) not in results:
                    continue
                b, s = summarize(results[(p, t)]), summarize(results[(p, peer)])
                if not b["ok"] or not s["ok"]:
                    L.append(f"| {p} | {t} | {peer} | | ≤ {most:.2f} | not measured (a failure) |")
                    continue
                r = b["median"] / s["median"]
                L.append(f"| {p} | {t} | {peer} | {r:.2f} | ≤ {most:.2f} | {'met' if r <= most else '**missed**'} |")
    L.append(f"\nPeak RSS (target ≤ {RSS_TARGET_MIB} MiB for every barge run):\n")
    for t in BARGE_TOOLS:
        peaks = [(p, summarize(results[(p, t)])) for p in args.paths if (p, t) in results]
        peaks = [(p, s["rss"]) for p, s in peaks if s["ok"]]
        if peaks:
            worst = max(peaks, key=lambda x: x[1])
            verdict = "met" if worst[1] <= RSS_TARGET_MIB else "**missed**"
            L.append(f"- {t}: at most {worst[1]:.0f} MiB ({worst[0]}): {verdict}")
    L.append("")
    return L


def short_error(err: str) -> str:
    return err.replace("|", "\\|").replace("\n", " ")[:400]


def write_report(args, rows: int, fx: dict, results: dict, described: dict, started: str, finished: str,
                 json_path: Path) -> str:
    L = []
    L.append("# barge benchmark results\n")
    L.append(f"TPC-H **lineitem at SF {args.sf:g}: {rows:,} rows**, 16 columns. "
             f"{args.runs} run{'s' if args.runs != 1 else ''} per tool and path, alternating "
             f"(every tool once per round). Started {started}, finished {finished} (UTC).\n")
    L.append(f"Command: `{args.command}`\n")
    load = float(fx.get("load average at start", "0").split()[0] or 0)
    if load > 0.5 * (os.cpu_count() or 1):
        L.append(f"> **The machine was busy when this run started** (1-minute load {load:.1f} on "
                 f"{os.cpu_count()} cores): other processes competed for the cores, so these times are "
                 "noisy and slower than on an idle machine; compare tools within this run only.\n")
    L.append("| what | version |\n| --- | --- |")
    for k, v in fx.items():
        L.append(f"| {k} | {v} |")
    L.append("")
    L.append("**How to read it.** seconds = wall time of the whole copy, median of the successful runs "
             "(min beside it); rows/s = rows / median; peak RSS = the client processes' peak (a pipe: the sum "
             "of its processes' peaks; servers not counted); CPU = user+sys seconds of the client processes. "
             "**barge ÷ tool** = barge's median seconds over the tool's: below 1 barge is faster, above 1 it is "
             "slower. A run that failed, timed out or left a row count other than the source's is a failure and "
             "is never timed. † after a run's time: it started with the 1-minute load average above 0.5 "
             "(the average trails the previous run for a minute or two; the raw runs also hold the cores "
             "actually busy in the second before each start).\n")
    # summary grid
    tools = [t for t in args.tools if any((p, t) in results for p in args.paths)]
    L.append("## Summary: median seconds (barge ÷ tool)\n")
    L.append("| path | " + " | ".join(tools) + " |")
    L.append("| --- | " + " | ".join("---:" for _ in tools) + " |")
    for p in args.paths:
        b = summarize(results.get((p, "barge"), []))
        cells = []
        for t in tools:
            if (p, t) not in results:
                cells.append("n/a")
                continue
            s = summarize(results[(p, t)])
            if not s["ok"]:
                cells.append("failed")
                continue
            cell = fmt_s(s["median"])
            if t != "barge" and b.get("ok"):
                cell += f" ({b['median'] / s['median']:.2f})"
            cells.append(cell)
        L.append(f"| {p} | " + " | ".join(cells) + " |")
    L.append("\nn/a: the tool has no such path (the raw pipe has no Parquet/SQLite/DuckDB leg; pgloader "
             "only loads into PostgreSQL; a Parquet file is not appended to), or was not run here"
             + (f" (`--skip`: {', '.join(sorted(f'{p}:{t}' for p, t in args.skip))})" if args.skip else "")
             + ".\n")
    L.extend(targets_report(args, results))
    # per path
    for p in args.paths:
        entries = [(t, results[(p, t)]) for t in args.tools if (p, t) in results]
        if not entries:
            continue
        src, dst = PATHS[p]
        L.append(f"## {p} ({src} → {dst})\n")
        L.append("| tool | ok runs | median s | min s | rows/s | peak RSS MiB | CPU s | barge ÷ tool | every run (s) |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        b = summarize(results.get((p, "barge"), []))
        errors = []
        for t, runs in entries:
            s = summarize(runs)
            each = ", ".join((fmt_s(r.seconds) if r.ok else "✗") + ("†" if r.loaded else "") for r in runs)
            if not s["ok"]:
                L.append(f"| {t} | 0/{s['n']} | failed | | | | | | {each} |")
            else:
                ratio = f"{b['median'] / s['median']:.2f}" if b.get("ok") and t != "barge" else ""
                rss = f"{s['rss']:.0f}" + (f" (sum of {s['procs']})" if s["procs"] > 1 else "")
                L.append(f"| {t} | {s['ok']}/{s['n']} | {fmt_s(s['median'])} | {fmt_s(s['min'])} | "
                         f"{rows / s['median']:,.0f} | {rss} | {s['cpu']:.1f} | {ratio} | {each} |")
            for r in runs:
                if not r.ok:
                    errors.append(f"- {t}, round {r.round}: {short_error(r.error)}")
        if errors:
            L.append("\nFailures:\n")
            L.extend(errors)
        targets = [(t, described[(p, t)]) for t, _ in entries if (p, t) in described]
        if targets:
            L.append("\nWhat each tool created:\n")
            L.extend(f"- {t}: {d}" for t, d in targets)
        L.append("")
    L.append("## The tools\n")
    for t in args.tools:
        L.append(f"- **{t}**: {TOOL_NOTES[t]}")
    L.append("\nThe servers: PostgreSQL and MariaDB as `tests/servers.sh` sets them up (packaged defaults), "
             "on the same machine as the clients, so every tool shares the 2 cores with the server it talks "
             "to. Sources: `barge_bench.lineitem` on both servers (TPC-H types, primary key), "
             "`lineitem.sqlite`, `lineitem.parquet` (zstd); targets: `barge_bench_dst` on both servers, "
             "or files. Before each run: target dropped and, for the tools that load into a given table, "
             "created again empty with lineitem's DDL (not timed), PostgreSQL CHECKPOINT, sync. Caches "
             "are not dropped: each path's source is read once, untimed, before its first round, so every "
             "run reads it warm.\n")
    L.append(f"Raw runs: `{json_path}`; each run's output: `{json_path.parent / 'out' / 'logs'}/`.\n")
    return "\n".join(L)


# --- main ------------------------------------------------------------------------------

def default_barge() -> str:
    if os.environ.get("BARGE"):
        return os.environ["BARGE"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "barge-target"))
    rel = target / "release" / "barge"
    return str(rel if rel.exists() else target / "debug" / "barge")


def skip_list(s: str) -> set:
    pairs = set()
    for item in (x.strip() for x in s.split(",") if x.strip()):
        path, _, tool = item.partition(":")
        if path not in PATHS or tool not in TOOLS:
            raise argparse.ArgumentTypeError(f"'{item}' is not PATH:TOOL ({','.join(PATHS)} : {','.join(TOOLS)})")
        pairs.add((path, tool))
    return pairs


def csv_list(allowed: list):
    def parse(s: str) -> list:
        items = [x.strip() for x in s.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {','.join(allowed)}")
        return items
    return parse


def main() -> None:
    global DUCKDB_CLI_VERSION
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool and path (default 3)")
    parser.add_argument("--paths", type=csv_list(list(PATHS)), default=list(PATHS),
                        help=f"comma-separated, default all: {','.join(PATHS)}")
    parser.add_argument("--tools", type=csv_list(TOOLS), default=TOOLS,
                        help=f"comma-separated, default all: {','.join(TOOLS)}")
    parser.add_argument("--barge", default=default_barge(),
                        help="barge binary (default $BARGE, else the release build if built, else the dev build)")
    parser.add_argument("--data-dir", type=Path, help="default ~/.cache/barge-bench/sf<SF>/")
    parser.add_argument("--build-note", default="",
                        help="what the report says of the barge build beside its path (how it was built)")
    parser.add_argument("--out", type=Path, default=REPO / "benches" / "RESULTS.md", help="the report")
    parser.add_argument("--timeout", type=float,
                        help="seconds before a run is killed and reported failed (default max(900, 1500 x SF))")
    parser.add_argument("--retry-failed", action="store_true",
                        help="keep running a tool on a path after it failed once (default: skip it after)")
    parser.add_argument("--keep", action="store_true", help="leave the last targets in place (default: drop)")
    parser.add_argument("--skip", type=skip_list, default=set(),
                        help="path:tool pairs not to run, comma-separated (e.g. pg-mysql:duckdb); "
                             "the report says they were skipped")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="before each run, wait up to this many seconds for the 1-minute load average "
                             "to fall to 0.5 (default 0: do not wait, only record it)")
    args = parser.parse_args()
    args.timeout = args.timeout or max(900.0, 1500.0 * args.sf)
    args.command = "benches/run.sh " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if not Path(args.barge).exists():
        parser.error(f"no barge binary at {args.barge} (build it, or pass --barge / BARGE)")
    DUCKDB_CLI_VERSION = cmd_out([str(DUCKDB_CLI), "--version"]).split()[0].lstrip("v") if DUCKDB_CLI.exists() else ""

    kinds = {k for p in args.paths for k in PATHS[p]}
    data, rows = tpch.ensure(args.sf, args.data_dir, {PATHS[p][0] for p in args.paths})
    if kinds & {"postgres", "mysql"}:
        tpch.ensure_databases()
    out = data / "out"
    (out / "logs").mkdir(parents=True, exist_ok=True)

    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    if "barge" in args.tools:
        args.barge, build = snapshot_barge(args.barge)
        if args.build_note:
            build = f"{build}; {args.build_note}"
    else:
        build = "not run"
    fx = facts(args.barge, build, args.tools)
    fx = {"scale factor": f"{args.sf:g} ({rows:,} rows, data in `{data}`)", **fx}
    results: dict = {}
    described: dict = {}
    skip: set = set()
    for p in args.paths:
        src, dst = PATHS[p]
        jobs = {t: make_job(t, p, args.barge, data, out) for t in args.tools}
        jobs = {t: j for t, j in jobs.items() if j is not None and (p, t) not in args.skip}
        for t in jobs:
            results[(p, t)] = []
        warm(p, data)
        for rnd in range(1, args.runs + 1):
            for t, job in jobs.items():
                if (p, t) in skip:
                    continue
                log(f"{p} {t} round {rnd}/{args.runs} ...")
                r = run_once(p, t, rnd, job, rows, out, args.timeout, args.settle)
                results[(p, t)].append(r)
                if r.ok:
                    log(f"  {r.seconds:.2f}s, {rows / r.seconds:,.0f} rows/s, {r.rss_mib:.0f} MiB, "
                        f"cpu {r.cpu_s:.1f}s, load {r.load1:.2f}, busy {r.busy:.2f}")
                    if (p, t) not in described:
                        described[(p, t)] = describe_target(dst, t, out)
                else:
                    log(f"  FAILED: {r.error[:300]}")
                    if not args.retry_failed:
                        skip.add((p, t))
        if not args.keep:  # free the disk: drop what the last run left
            for t in jobs if dst in ("parquet", "duckdb") else ["cleanup"]:
                try:
                    reset_target(dst, t, out, precreate=False)
                except Exception:  # noqa: BLE001
                    pass
    finished = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    fx["load average at end"] = loadavg() + " (includes the benchmark itself)"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path = data / f"results-{stamp}.json"
    json_path.write_text(json.dumps({
        "sf": args.sf, "rows": rows, "command": args.command, "facts": fx, "started": started, "finished": finished,
        "runs": [r.__dict__ for rs in results.values() for r in rs],
        "targets": {f"{p} {t}": d for (p, t), d in described.items()},
    }, indent=1))
    report = write_report(args, rows, fx, results, described, started, finished, json_path)
    args.out.write_text(report)
    log(f"wrote {args.out} and {json_path}")
    print(report)


if __name__ == "__main__":
    main()
