#!/usr/bin/env bash
# Peak RSS and time of a SQLite -> DuckDB copy at 1M and 10M rows: memory must
# not grow with the table (the two peaks stay within 25% of each other).
#
#   bash benches/memory.sh            # 1M and 10M rows
#   ROWS="100000 1000000" bash benches/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/barge-target}"
profile="${PROFILE:-release}"   # PROFILE=dev measures the test build
cargo build --profile "$profile" --quiet
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
barge="$CARGO_TARGET_DIR/$dir/barge"
work="${WORK:-$(mktemp -d)}"
printf '| rows | seconds | rows/s | peak RSS (MiB) |\n| ---: | ---: | ---: | ---: |\n'
for rows in ${ROWS:-1000000 10000000}; do
  src="$work/lineitem_$rows.sqlite"
  [ -f "$src" ] || python3 benches/make_sqlite.py --rows "$rows" --out "$src" >/dev/null
  rm -f "$work/out_$rows.duckdb"
  /usr/bin/time -f '%e %M' -o "$work/time_$rows" \
    "$barge" copy "sqlite://$src" "duckdb://$work/out_$rows.duckdb" --quiet
  read -r secs kib < "$work/time_$rows"
  awk -v r="$rows" -v s="$secs" -v k="$kib" 'BEGIN { printf "| %d | %.1f | %.0f | %.0f |\n", r, s, r / s, k / 1024 }'
done
