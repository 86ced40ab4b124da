#!/usr/bin/env bash
# Runs barge's whole test suite: unit tests, the integration tests in
# tests/it (one binary, with the PostgreSQL and MariaDB server tests), and
# the example pipelines on the embedded engines.
# Builds where `cargo run` does (./target, or CARGO_TARGET_DIR when set), so
# the demo and the tests share one build.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The server tests need PostgreSQL and MariaDB on 127.0.0.1: install and start
# them when missing (a failure here fails the run; server tests never skip).
bash tests/servers.sh

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  echo "cargo-nextest not found; using cargo test" >&2
  cargo test --workspace --no-fail-fast "$@"
fi
