"""Shared fixtures: the repository root, the `secpath` binary to compare with, and a local
Spark session (local[2]) running workers on this interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def secpath_bin() -> str:
    """The CLI to compare with: $SECPATH_BIN, else target/debug/secpath, built (or found up
    to date) by cargo so that it is never stale."""
    if os.environ.get("SECPATH_BIN"):
        return os.environ["SECPATH_BIN"]
    subprocess.run(["cargo", "build", "--quiet", "--bin", "secpath"], cwd=REPO, check=True)
    return str(REPO / "target" / "debug" / "secpath")


def run_cli(secpath_bin: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [secpath_bin, *args], cwd=REPO, capture_output=True, text=True, check=check
    )


@pytest.fixture(scope="session")
def spark():
    pyspark = pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    del pyspark
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("secpath tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
