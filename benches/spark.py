#!/usr/bin/env python3
"""Spark replay throughput against `secpath replay`, in one run on the same files.

    python/setup.sh && cargo build --release --bin secpath
    target/pyenv/bin/python benches/spark.py [--sizes 1000000:8,4000000:32] [--cores 1,2] \
        [--out FILE.md]

Generates NSG flow logs (python/tests/flowlogs.py) into a temporary directory, one set of
blobs per size (tuples:blobs), times
`target/release/secpath replay --threads 1` on them (one core),
then `secpath.spark.replay` in local mode with each core count, after a warm-up run so that
Spark's start-up and the workers' first imports are not counted. Reports tuples per second per
core and the ratio CLI / Spark per core (the issue's bar: at most 2). Also reports the
package's own replay (`Policy.replay_totals` in this process, no Spark) to separate the
binding's cost from Spark's. Noisy machines: the ratio is what to compare across runs.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))

from flowlogs import write_logs  # noqa: E402

CONTOSO = str(REPO / "rulesets" / "contoso")


def best(n, fn):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure_cli_and_package(cli: str, logs: str, repeat: int):
    """(records, CLI seconds, package seconds) on the blobs under `logs`."""
    import json

    import pyarrow as pa
    import secpath

    run = lambda: subprocess.run(  # noqa: E731
        [cli, "replay", "--quiet", "--threads", "1", "--format", "json", logs, "--snapshot", CONTOSO],
        check=True, capture_output=True,
    )
    records = json.loads(run().stdout)["records_read"]
    cli_s = best(repeat + 1, run)
    policy = secpath.Policy.load(CONTOSO)
    paths = sorted(glob.glob(os.path.join(logs, "**", "PT1H.json"), recursive=True))
    batch = pa.record_batch({
        "path": paths,
        "content": pa.array([open(p, "rb").read() for p in paths], pa.binary()),
    })
    # As an executor calls it in the job (summary only: the first 1000 disagreements of
    # each file, denied flows packed).
    package_s = best(repeat, lambda: policy.replay_totals(
        batch, disagreements_per_file=1000, denied_buckets=4))
    return records, cli_s, package_s


def _marginal(sets, spark_s) -> list:
    """Cost per extra tuple, from the smallest and largest sets: what each run pays beyond
    its fixed cost (for Spark, a job's listing, planning and scheduling)."""
    if len(sets) < 2:
        return []
    # Each set is (logs, blobs, records, CLI seconds, package seconds).
    small, _, small_records, small_cli, _ = sets[0]
    large, _, large_records, large_cli, _ = sets[-1]
    extra = large_records - small_records
    cli = (large_cli - small_cli) / extra
    out = ["", f"Per extra tuple, from {small_records:,} to {large_records:,} tuples "
           f"(the fixed cost of a run left out): `secpath replay` {cli * 1e9:,.0f} ns."]
    for k in sorted({k for (_, k) in spark_s}):
        spark = (spark_s[(large, k)] - spark_s[(small, k)]) * k / extra
        out[-1] += (f" `secpath-spark replay` local[{k}] {spark * 1e9:,.0f} core-ns, "
                    f"{spark / cli:.2f}× the CLI's.")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000:8,4000000:32",
                    help="TUPLES:FILES pairs, comma-separated: one set of blobs each")
    ap.add_argument("--sources", type=int, default=None,
                    help="remote addresses drawn from this many (default: all random)")
    ap.add_argument("--cores", default="1,2", help="local[k] core counts, comma-separated")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", help="write the markdown section here too")
    args = ap.parse_args()
    sizes = [tuple(int(x) for x in size.split(":")) for size in args.sizes.split(",")]
    cli = os.environ.get("SECPATH_BIN", str(REPO / "target" / "release" / "secpath"))
    if not os.path.exists(cli):
        subprocess.run(["cargo", "build", "--release", "--bin", "secpath"], cwd=REPO, check=True)

    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from secpath.spark import replay

    with tempfile.TemporaryDirectory(prefix="secpath-spark-bench-") as tmp:
        sets = []
        for tuples, files in sizes:
            logs = os.path.join(tmp, f"{tuples}", "insights-logs-networksecuritygroupflowevent")
            write_logs(logs, tuples, files=files, sources=args.sources)
            sets.append((logs, files, *measure_cli_and_package(cli, logs, args.repeat)))

        spark_s = {}
        for k in [int(c) for c in args.cores.split(",")]:
            spark = (
                SparkSession.builder.master(f"local[{k}]")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", str(max(2, 2 * k)))
                .getOrCreate()
            )
            spark.sparkContext.setLogLevel("ERROR")
            for logs, _, records, _, _ in sets:
                report = replay(spark, [CONTOSO], [logs]).report  # warm-up: workers, imports
                assert report["records_read"] == records, (report["records_read"], records)
                spark_s[(logs, k)] = best(args.repeat, lambda: replay(spark, [CONTOSO], [logs]))
            spark.stop()

    lines = [
        "## Spark replay (`benches/spark.py`)",
        "",
        f"NSG flow-log tuples in PT1H.json blobs (generated, rulesets/contoso, remote addresses "
        f"{'from a pool of ' + format(args.sources, ',') if args.sources else 'all random'}, "
        f"so nearly every denied flow is distinct: the most work for the exact top denied flows), "
        f"one run; {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, PySpark "
        f"{__import__('pyspark').__version__}. Times are wall seconds, the best of "
        f"{args.repeat} after a warm-up (Spark started, workers up). Each Spark run pays a fixed "
        f"cost per job (listing, planning, scheduling), so larger inputs show the per-tuple cost.",
        "",
        "| tuples | blobs | what | cores | seconds | tuples/s | tuples/s per core "
        "| CLI per core / this per core |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for logs, files, records, cli_s, package_s in sets:
        cli_rate = records / cli_s
        head = f"| {records:,} | {files} "
        lines += [
            f"{head}| `secpath replay` (release) | 1 | {cli_s:.2f} | {cli_rate:,.0f} "
            f"| {cli_rate:,.0f} | 1.00 |",
            f"{head}| `Policy.replay_totals`, no Spark | 1 | {package_s:.2f} "
            f"| {records / package_s:,.0f} | {records / package_s:,.0f} | {package_s / cli_s:.2f} |",
        ]
        for (where, k), s in spark_s.items():
            if where != logs:
                continue
            per_core = records / s / k
            lines.append(
                f"{head}| `secpath-spark replay`, local[{k}] | {k} | {s:.2f} | {records / s:,.0f} "
                f"| {per_core:,.0f} | {cli_rate / per_core:.2f} |"
            )
    lines += _marginal(sets, spark_s)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
