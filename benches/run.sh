#!/usr/bin/env bash
# The benchmark in one command: starts the servers, installs the peers, makes
# and loads TPC-H lineitem at the scale factor asked, times barge against the
# peers and writes benches/RESULTS.md. Arguments go to benches/run.py:
#
#   bash benches/run.sh --sf 1                       # all paths and tools, 3 runs
#   bash benches/run.sh --sf 0.1 --runs 1 --paths sqlite-duckdb,pg-pg --tools barge,duckdb
#   BARGE=/path/to/barge bash benches/run.sh --sf 5
#   bash benches/run.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/servers.sh >&2
bash benches/setup.sh
exec "${BARGE_BENCH_VENV:-$HOME/.cache/barge-bench-venv}/bin/python" benches/run.py "$@"
