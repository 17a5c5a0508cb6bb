#!/usr/bin/env bash
# Sets up the Python side on a fresh clone: Java 17 for Spark (Debian's
# openjdk-17-jre-headless, when `java` is missing), a virtual environment at target/pyenv with
# maturin, pyarrow, pandas, pyspark and pytest, and the `secpath` package built from ./python
# into it (maturin as the PEP 517 backend; cargo's target directory is the repository's).
# Re-running it rebuilds the package and leaves the rest as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v java >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openjdk-17-jre-headless
fi
venv=target/pyenv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import maturin, pyarrow, pandas, pyspark, pytest" 2>/dev/null; then
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "maturin>=1.5,<2" "pyarrow>=14" "pandas>=1.5,<3" "pyspark>=3.5" "pytest>=7"
fi
PATH="$PWD/$venv/bin:$PATH" CARGO_TARGET_DIR="$PWD/target" "$venv/bin/pip" install -q --no-build-isolation --force-reinstall --no-deps ./python
"$venv/bin/python" -c "import secpath; print('secpath', secpath.__version__, 'installed in $venv')"
