#!/usr/bin/env bash
# The Python package's tests (pytest, the Spark ones in local[2]) against the CLI `cargo test`
# built: sets up target/pyenv first (python/setup.sh; Java 17 installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
python/setup.sh
cargo build --quiet --bin secpath
SECPATH_BIN="$PWD/target/debug/secpath" target/pyenv/bin/python -m pytest -q python/tests
