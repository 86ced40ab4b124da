#!/usr/bin/env bash
# Installs the peers that benches/run.py measures barge against. Debian, run as
# root, non-interactive, idempotent (a second run checks and returns in ~1 s).
#
#   Debian:  pgloader, postgresql-client (psql), mariadb-client, python3-venv, time
#   PyPI (venv ~/.cache/barge-bench-venv, pins in benches/requirements*.txt):
#            duckdb (module) + duckdb CLI + postgres/mysql/sqlite scanner
#            extensions, tpchgen-cli, sling (binary wheel)
#   ~/.cache/barge-bench/home/.duckdb/extensions/: the extension files, so
#            DuckDB (ours and the one Sling drives) never tries to download.
#
# The servers themselves come from tests/servers.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="${BARGE_BENCH_VENV:-$HOME/.cache/barge-bench-venv}"
bench_home="${BARGE_BENCH_DATA:-$HOME/.cache/barge-bench}/home"

# --- Debian packages -----------------------------------------------------------
missing=()
command -v pgloader >/dev/null || missing+=(pgloader)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v mariadb >/dev/null || missing+=(mariadb-client)
command -v sed >/dev/null || missing+=(sed)
[[ -x /usr/bin/time ]] || missing+=(time)   # GNU time: per-process peak RSS
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python venv -------------------------------------------------------------------
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
stamp="$venv/.barge-bench-requirements"
if ! cat "$here/requirements.txt" "$here/requirements-duckdb-ext.txt" | cmp -s - "$stamp"; then
  echo "setup.sh: pip install into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  rm -rf "$venv/duckdb-ext"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --target "$venv/duckdb-ext" \
    -r "$here/requirements-duckdb-ext.txt"
  cat "$here/requirements.txt" "$here/requirements-duckdb-ext.txt" >"$stamp"
fi

# --- DuckDB extensions, placed where DuckDB looks for installed ones -----------
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cli="$site/duckdb_cli/duckdb"
ver=$("$cli" --version | awk '{print $1}')   # e.g. v1.5.5
extdir="$bench_home/.duckdb/extensions/$ver/linux_amd64"
mkdir -p "$extdir"
for f in "$venv"/duckdb-ext/duckdb_extension_*/extensions/"$ver"/*.duckdb_extension; do
  [[ -e "$f" ]] || continue
  cmp -s "$f" "$extdir/$(basename "$f")" || cp "$f" "$extdir/"
done
for e in postgres_scanner mysql_scanner sqlite_scanner json httpfs; do
  [[ -f "$extdir/$e.duckdb_extension" ]] || { echo "setup.sh: DuckDB extension $e missing from $extdir" >&2; exit 1; }
done
echo "setup.sh: peers ready (venv $venv, DuckDB $ver extensions in $extdir)" >&2
