"""``secpath-spark replay``: replay flow logs where they live, on Spark.

The job lists the flow-log blobs through Spark's ``binaryFile`` source (any path Spark reads:
local, ``abfss://``, ``wasbs://``, ``dbfs:/``), parses and judges each file on the executors
with secpath's own readers and judge (:meth:`secpath.Policy.replay_totals` inside
``mapInArrow``; the snapshot is broadcast once and compiled once per Python worker; ``file:``
paths are read by the workers themselves), adds up in one more stage (counts, hits, the
denied flows packed by bucket, the first disagreements), writes Parquet tables, and prints
the summary ``secpath replay`` prints, built by the same code from the totals. Counts equal the CLI's on the same files: records read =
evaluated + skipped by reason; hits per rule; every disagreement with the logged decision.

From a notebook::

    from secpath.spark import replay
    result = replay(spark, ["/dbfs/secpath/snapshot"],
                    ["abfss://insights-logs-flowlogflowevent@acct.dfs.core.windows.net/"],
                    out="abfss://secpath@acct.dfs.core.windows.net/replay/2026-q3")
    print(result.text)

Tables (``docs/spark.md`` has their schemas): ``summary``, ``skipped``, ``hits``,
``disagreements``, ``top_denied`` and, with ``tuples=True``, ``tuples`` (every record read).

One difference from the CLI: connections of packet captures are tracked within one file.
Flow logs carry no state between records, so for them every count is the CLI's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute as pc

from . import Policy, SecpathError, replay_schema, top_denied, totals_schema

__all__ = ["ReplayResult", "replay", "main", "SWITCH_DEFAULTS"]

#: The switches of ``Policy.load`` (D1-D7, leniency, replay's connection tracking), with
#: the CLI's defaults.
SWITCH_DEFAULTS: Dict[str, Any] = {
    "manager_precedence": "tiered",
    "assume_deployed": True,
    "any_protocol": "all",
    "empty_match": "any",
    "always_allow_scope": "side",
    "admin_stateless": False,
    "no_nsg": "pass",
    "lenient": False,
    "stateless": False,
    "idle_timeout": 240,
}

#: Disagreements kept for the summary, as ``secpath replay``.
KEEP_DISAGREEMENTS = 1000
#: Denied flows listed in the summary, as ``secpath replay``.
TOP_DENIED = 10
#: Rows per Arrow batch handed back to Spark.
BATCH_ROWS = 1 << 16


@dataclass
class ReplayResult:
    """What :func:`replay` returns."""

    #: The summary, exactly as ``secpath replay`` prints it.
    text: str
    #: The ``secpath.replay/v1`` report, as ``secpath replay --format json`` writes it.
    report: Dict[str, Any]
    #: Where each table was written (empty without ``out``).
    tables: Dict[str, str] = field(default_factory=dict)


# --- the snapshot, shipped to executors ------------------------------------------------------


def _snapshot_files(path: str) -> List[Tuple[str, str]]:
    """(file, name under the bundle) of what ``--snapshot PATH`` reads: a file as given, a
    directory's ``*.json`` and ``*.secpath`` files (the DSL's ``include`` targets among
    them)."""
    base = os.path.basename(os.path.normpath(path)) or "snapshot"
    if not os.path.isdir(path):
        return [(path, base)]
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith((".json", ".secpath")):
                full = os.path.join(root, name)
                found.append((full, os.path.join(base, os.path.relpath(full, path))))
    return found


@dataclass(frozen=True)
class _Bundle:
    """The snapshot's files as bytes, to rebuild on an executor; `key` names the contents."""

    key: str
    files: Tuple[Tuple[str, bytes], ...]
    paths: Tuple[str, ...]
    service_tags: Optional[str]


def _bundle(snapshot: Sequence[str], service_tags: Optional[str]) -> _Bundle:
    files: List[Tuple[str, bytes]] = []
    paths: List[str] = []
    for i, path in enumerate(snapshot):
        listed = _snapshot_files(path)
        for full, name in listed:
            with open(full, "rb") as f:
                files.append((os.path.join(str(i), name), f.read()))
        top = os.path.basename(os.path.normpath(path)) or "snapshot"
        paths.append(os.path.join(str(i), top))
    tags = None
    if service_tags:
        with open(service_tags, "rb") as f:
            files.append((os.path.join("tags", os.path.basename(service_tags)), f.read()))
        tags = os.path.join("tags", os.path.basename(service_tags))
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return _Bundle(digest.hexdigest(), tuple(files), tuple(paths), tags)


def _ship(spark: Any, bundle: _Bundle) -> Any:
    """The snapshot as a broadcast variable; with Spark Connect (no SparkContext), the bundle
    itself, which then travels inside each task's closure."""
    try:
        return spark.sparkContext.broadcast(bundle)
    except Exception:
        return bundle


def _shipped(shipped: Any) -> _Bundle:
    return shipped if isinstance(shipped, _Bundle) else shipped.value


#: Policies built in this Python worker, by bundle key and switches: compiled once per worker.
_POLICIES: Dict[str, Policy] = {}


def _worker_policy(bundle: _Bundle, switches: Dict[str, Any]) -> Policy:
    key = bundle.key + json.dumps(switches, sort_keys=True)
    policy = _POLICIES.get(key)
    if policy is None:
        root = tempfile.mkdtemp(prefix="secpath-snapshot-")
        for name, data in bundle.files:
            target = os.path.join(root, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
        tags = os.path.join(root, bundle.service_tags) if bundle.service_tags else None
        policy = Policy.load(
            [os.path.join(root, p) for p in bundle.paths], service_tags=tags, **switches
        )
        _POLICIES[key] = policy
    return policy


# --- file names: what Spark lists, called what the user typed --------------------------------


def _qualified(spark: Any, path: str) -> str:
    """`path` as Spark's file listing spells it (`file:/abs/dir`, `abfss://...`)."""
    try:
        jvm = spark._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        fs = hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration())
        return str(fs.makeQualified(hadoop_path).toString())
    except Exception:  # Spark Connect has no JVM gateway: qualify local paths ourselves.
        if "://" in path or path.startswith(("file:", "dbfs:")):
            return path
        return "file:" + os.path.abspath(path)


def _renamer(prefixes: Sequence[Tuple[str, str]]):
    """A function from a listed path to the name the CLI would print for it."""

    def rename(listed: str) -> str:
        for prefix, given in prefixes:
            p = prefix.rstrip("/")
            if listed == prefix or listed == p:
                return given
            if listed.startswith(p + "/"):
                return given.rstrip("/") + listed[len(p) :]
        return listed

    return rename


# --- the executor side ------------------------------------------------------------------------


def _local_path(listed: str) -> str:
    """The file system path of a `file:` URI as Spark lists it (not percent-encoded)."""
    rest = listed[len("file:"):]
    return rest[2:] if rest.startswith("//") else rest


def _replay_batches(
    batches: Iterable[pa.RecordBatch],
    bundle: _Bundle,
    switches: Dict[str, Any],
    prefixes: Sequence[Tuple[str, str]],
    input_format: str,
    per_record: bool,
    disagreements_kept: Optional[int] = None,
    denied_buckets: int = 1,
) -> Iterator[pa.RecordBatch]:
    """mapInArrow's function: files in (`path`, and `content` unless they are `file:` paths
    the worker reads itself); out, the batch's totals (`Policy.replay_totals`, with the
    `input` each disagreement's file came from; only the batch's first `disagreements_kept`
    disagreements in the CLI's order when given) or, with `per_record`, every judged
    record."""
    policy = _worker_policy(bundle, switches)
    rename = _renamer(prefixes)
    input_of = _input_of([given for _, given in prefixes])
    for batch in batches:
        if batch.num_rows == 0:
            continue
        listed = batch.column("path").to_pylist()
        names = pa.array([rename(p) for p in listed], pa.string())
        if "content" in batch.schema.names:
            files = pa.RecordBatch.from_arrays(
                [names, batch.column("content")], ["name", "content"]
            )
        else:
            local = pa.array([_local_path(p) for p in listed], pa.string())
            files = pa.RecordBatch.from_arrays([names, local], ["name", "local_path"])
        if per_record:
            out = [policy.replay_files(files, input_format=input_format)]
        else:
            out = _first_disagreements(
                policy.replay_totals(
                    files,
                    input_format=input_format,
                    disagreements_per_file=disagreements_kept,
                    denied_buckets=denied_buckets,
                ),
                input_of,
                disagreements_kept,
            )
        for rows in out:
            for start in range(0, rows.num_rows, BATCH_ROWS):
                yield rows.slice(start, BATCH_ROWS)


def _input_of(logs: Sequence[str]):
    """A function from a file's name (as the CLI prints it) to the index of the input it
    came from: the CLI reads inputs in command-line order."""

    def input_of(file: str) -> int:
        for i, given in enumerate(logs):
            if file == given or file.startswith(given.rstrip("/") + "/"):
                return i
        return len(logs)

    return input_of


def _totals_schema() -> pa.Schema:
    """The schema of :func:`_first_disagreements`' rows."""
    return totals_schema().append(pa.field("input", pa.int32()))


def _first_disagreements(
    rows: pa.RecordBatch, input_of, keep: Optional[int]
) -> List[pa.RecordBatch]:
    """A batch's totals with each disagreement's `input`, and only the first `keep`
    disagreements in the CLI's order (all without `keep`): the first of the whole run are
    among each batch's first, and these are far fewer rows to move than each file's first.
    `replay_totals` puts the disagreements last, each file's together in record order, so
    this orders files, not rows, and slices (the denied flows' packs are not copied)."""
    first = pc.index(rows.column("kind"), "disagreement").as_py()
    first = rows.num_rows if first < 0 else first
    others, kept = rows.slice(0, first), rows.slice(first)
    files = kept.column("file").to_pylist()
    starts = [i for i in range(len(files)) if i == 0 or files[i] != files[i - 1]]
    runs = sorted(zip(starts, starts[1:] + [len(files)]),
                  key=lambda run: _disagreement_order(input_of(files[run[0]]), files[run[0]], 0))
    schema = _totals_schema()

    def with_input(batch: pa.RecordBatch, inputs: pa.Array) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays(batch.columns + [inputs], schema=schema)

    out = [with_input(others, pa.nulls(others.num_rows, pa.int32()))]
    left = kept.num_rows if keep is None else keep
    for start, end in runs:
        piece = kept.slice(start, min(end - start, left))
        out.append(with_input(piece, pa.array([input_of(files[start])] * piece.num_rows,
                                              pa.int32())))
        left -= piece.num_rows
        if left == 0:
            break
    return out


def _denied_buckets(spark: Any) -> int:
    """How many buckets denied flows are hashed into: one per shuffle partition, so that
    adding them up spreads over the cluster as Spark's own aggregations do."""
    try:
        return max(1, min(4096, int(spark.conf.get("spark.sql.shuffle.partitions"))))
    except Exception:
        return 200


def _spark_schema(arrow_schema: pa.Schema):
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


# --- the job ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loaded:
    """A snapshot loaded on the driver (for the summary), and what rebuilds it on the
    executors."""

    policy: Policy
    snapshot: List[str]
    service_tags: Optional[str]
    switches: Dict[str, Any]


def _load(
    snapshot: Sequence[str], service_tags: Optional[str], switches: Dict[str, Any]
) -> _Loaded:
    """Loads the snapshot once on the driver; raises for a bad one or an unknown switch."""
    unknown = set(switches) - set(SWITCH_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown switches: {', '.join(sorted(unknown))}")
    switches = {**SWITCH_DEFAULTS, **switches}
    snapshot = [snapshot] if isinstance(snapshot, str) else list(snapshot)
    policy = Policy.load(snapshot, service_tags=service_tags, **switches)
    return _Loaded(policy, snapshot, service_tags, switches)


def replay(
    spark: Any,
    snapshot: Sequence[str],
    logs: Sequence[str],
    out: Optional[str] = None,
    *,
    input_format: str = "auto",
    glob: Optional[str] = None,
    tuples: bool = False,
    service_tags: Optional[str] = None,
    **switches: Any,
) -> ReplayResult:
    """Replays the flow logs under ``logs`` (files or directories, any URI Spark reads)
    against the snapshot at ``snapshot`` (local paths on the driver) and returns the
    summary. With ``out``, writes the tables there as Parquet (overwriting). ``glob`` keeps
    only file names matching it (``PT1H.json``); ``tuples`` also writes every record read.
    ``switches`` are :data:`SWITCH_DEFAULTS`' names. Raises :class:`secpath.SecpathError`
    for a bad snapshot, with the CLI's message."""
    loaded = _load(snapshot, service_tags, switches)
    return _replay_loaded(spark, loaded, logs, out, input_format=input_format, glob=glob,
                          tuples=tuples)


def _replay_loaded(
    spark: Any,
    loaded: _Loaded,
    logs: Sequence[str],
    out: Optional[str],
    *,
    input_format: str,
    glob: Optional[str],
    tuples: bool,
) -> ReplayResult:
    """:func:`replay` with the snapshot already loaded."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if isinstance(logs, str):
        logs = [logs]
    switches = loaded.switches
    bundle = _ship(spark, _bundle(loaded.snapshot, loaded.service_tags))
    prefixes = [(_qualified(spark, log), log) for log in logs]

    files = _listed_files(spark, logs, prefixes, glob)

    # Without `out` only the summary's first disagreements are needed: the first of each
    # file are enough, and far less to move than all of them.
    keep = None if out else KEEP_DISAGREEMENTS
    buckets = _denied_buckets(spark)

    def totals(batches):
        return _replay_batches(
            batches, _shipped(bundle), switches, prefixes, input_format, False, keep, buckets
        )

    def records(batches):
        return _replay_batches(batches, _shipped(bundle), switches, prefixes, input_format, True)

    parts = _map_files(files, totals, _totals_schema())
    if out:
        # Read twice: by the summary and by the `disagreements` table.
        parts = parts.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        result = _summarise(spark, loaded.policy, parts, buckets, out, F)
    finally:
        if out:
            parts.unpersist()
    if out and tuples:
        # A second pass over the files: one row per record is far more data than the totals.
        result.tables["tuples"] = f"{out.rstrip('/')}/tuples"
        rows = _map_files(files, records, replay_schema())
        rows.write.mode("overwrite").parquet(result.tables["tuples"])
    return result


def _listed_files(spark: Any, logs: Sequence[str], prefixes, glob: Optional[str]) -> List[Any]:
    """The files under `logs`, listed by Spark's `binaryFile` source: one frame of `path`
    for the inputs on a file system the workers open themselves (`file:`), which they read
    without the bytes passing through the JVM; one of `path` and `content` for the rest
    (`abfss://`, `wasbs://`, `dbfs:/`, ...)."""
    reader = spark.read.format("binaryFile").option("recursiveFileLookup", "true")
    if glob:
        reader = reader.option("pathGlobFilter", glob)
    local = [given for (qualified, given) in prefixes if _read_by_workers(qualified)]
    remote = [given for given in logs if given not in local]
    frames = []
    if local:
        frames.append(reader.load(local).select("path"))
    if remote:
        frames.append(reader.load(remote).select("path", "content"))
    return frames


def _read_by_workers(qualified: str) -> bool:
    """Whether the workers open the files under this (qualified) input themselves."""
    return qualified.startswith("file:")


def _map_files(frames: List[Any], fn: Any, schema: pa.Schema) -> Any:
    """`fn` over every frame of :func:`_listed_files` with mapInArrow, as one frame."""
    mapped = [frame.mapInArrow(fn, _spark_schema(schema)) for frame in frames]
    out = mapped[0]
    for more in mapped[1:]:
        out = out.unionByName(more)
    return out


#: What the groups of :func:`_reduce_group` hand back to the driver.
SUMMARY_SCHEMA = (
    "kind string, key string, layer string, is_default boolean, count long, input int, "
    "file string, index long, source string, flow string, logged_decision string, "
    "logged_rule string, secpath_decision string, secpath_rule string"
)
SUMMARY_COLUMNS = [c.split()[0] for c in SUMMARY_SCHEMA.split(", ")]


def _reduce_group(rows: Any) -> Any:
    """applyInPandas' function: adds up one group of the batches' totals (a few rows per
    task, so Python costs nothing here; values are taken out of pandas, whose column types
    vary with Spark's version). Counts, skips and hits are summed by key; a bucket of denied
    flows gives its most frequent flows, exact since every task puts a flow in the same
    bucket; a group of disagreements gives its first in the CLI's order (input, path,
    record), among which are the first of all."""
    import pandas as pd

    kind = rows["kind"].iloc[0]
    if kind == "denied":
        blobs = pa.table({"blob": pa.array(list(rows["blob"]), pa.binary())})
        out = [{**r, "kind": "denied"} for r in top_denied(blobs, TOP_DENIED).to_pylist()]
    elif kind == "disagreement":
        keys = zip(rows["input"], rows["file"], rows["index"])
        order = sorted(range(len(rows)),
                       key=lambda i, k=list(keys): _disagreement_order(*k[i]))
        records = rows.iloc[order[:KEEP_DISAGREEMENTS]].to_dict("records")
        out = [{**r, "source": f"{r['file']}: {r['position']}"} for r in map(_plain, records)]
    else:
        sums: Dict[Tuple[Any, ...], int] = {}
        for r in map(_plain, rows.to_dict("records")):
            key = (r["kind"], r["key"], r["layer"], r["is_default"])
            sums[key] = sums.get(key, 0) + int(r["count"])
        out = [dict(zip(("kind", "key", "layer", "is_default"), key), count=n)
               for key, n in sums.items()]
    return pd.DataFrame([[r.get(c) for c in SUMMARY_COLUMNS] for r in out],
                        columns=SUMMARY_COLUMNS, dtype=object)


def _plain(record: Dict[str, Any]) -> Dict[str, Any]:
    """A pandas record with its missing values (None, NaN, NA) as None."""
    import pandas as pd

    return {k: None if not isinstance(v, (bytes, list)) and pd.isna(v) else v
            for k, v in record.items()}


def _disagreement_order(input: int, file: str, index: int) -> Tuple[Any, ...]:
    """The CLI's order of disagreements: input as given, path (Spark and Python both order
    its parts as lists of strings), record in the file."""
    return (int(input), file.split("/"), int(index))


def _summarise(spark, policy, parts, buckets, out, F) -> ReplayResult:
    """Adds up the batches' totals with Spark and builds the CLI's summary from them. One
    job: every row goes to a group (counts, skips and hits; each bucket of denied flows;
    disagreements by a hash of the file) that secpath adds up on an executor, and the
    groups' results come back together. Each Spark job costs a fixed overhead larger than
    this work, so there is one. `buckets`: the denied flows' (as the batches packed them)."""
    group = (
        F.when(F.col("kind") == "denied", 1 + F.col("bucket"))
        .when(F.col("kind") == "disagreement", 1 + buckets + F.pmod(F.hash("file"), F.lit(buckets)))
        .otherwise(0)
    )
    rows = (
        parts.withColumn("group", group)
        .groupBy("group")
        .applyInPandas(_reduce_group, SUMMARY_SCHEMA)
        .collect()
    )
    sums = [r for r in rows if r["kind"] in ("count", "skipped", "hit")]
    denied = [r for r in rows if r["kind"] == "denied"]
    # The groups' first disagreements; the first of all.
    first = sorted(
        (r.asDict() for r in rows if r["kind"] == "disagreement"),
        key=lambda r: _disagreement_order(r["input"], r["file"], r["index"]),
    )[:KEEP_DISAGREEMENTS]
    counts = {r["key"]: int(r["count"]) for r in sums if r["kind"] == "count"}
    totals = {
        **counts,
        "skipped_by_reason": {r["key"]: int(r["count"]) for r in sums if r["kind"] == "skipped"},
        "hits": [
            {"id": r["key"], "layer": r["layer"], "is_default": bool(r["is_default"]),
             "hits": int(r["count"])}
            for r in sums
            if r["kind"] == "hit"
        ],
        "denied_flows": [{"key": r["key"], "count": int(r["count"])} for r in denied],
        "disagreements": [
            {k: r[k] for k in ("source", "flow", "logged_decision", "logged_rule",
                               "secpath_decision", "secpath_rule")}
            for r in first
        ],
    }
    text, report = policy.replay_report(json.dumps(totals))
    tables: Dict[str, str] = {}
    if out:
        disagreements = parts.where(F.col("kind") == "disagreement").select(
            "file", "index", F.concat_ws(": ", "file", "position").alias("source"), "flow",
            "logged_decision", "logged_rule", "logged_at", "secpath_decision", "secpath_rule",
            "secpath_rule_id",
        )
        tables = _write_tables(spark, disagreements, report, out)
    return ReplayResult(text=text, report=report, tables=tables)


def _write_tables(spark, disagreements, report, out) -> Dict[str, str]:
    from pyspark.sql.types import (
        LongType,
        StringType,
        StructField,
        StructType,
    )

    out = out.rstrip("/")
    tables = {name: f"{out}/{name}" for name in
              ("summary", "skipped", "hits", "disagreements", "top_denied")}
    # `unknown` (verdicts a Terraform plan leaves open) is left out of the report when zero.
    counts = ["records_read", "evaluated", "skipped", "allowed", "denied", "no_path",
              "unknown", "connections", "compared", "disagreements_total"]
    summary_schema = StructType(
        [StructField("schema", StringType(), False)]
        + [StructField(c, LongType(), False) for c in counts]
        + [StructField("report_json", StringType(), False)]
    )
    summary = [tuple([report["schema"]] + [int(report.get(c, 0)) for c in counts]
                     + [json.dumps(report)])]
    spark.createDataFrame(summary, summary_schema).coalesce(1).write.mode("overwrite").parquet(
        tables["summary"])
    skipped_schema = StructType([StructField("reason", StringType(), False),
                                 StructField("count", LongType(), False)])
    spark.createDataFrame(
        [(k, int(v)) for k, v in report["skipped_by_reason"].items()], skipped_schema
    ).coalesce(1).write.mode("overwrite").parquet(tables["skipped"])
    hit_schema = StructType([
        StructField("id", StringType(), False),
        StructField("name", StringType(), False),
        StructField("owner", StringType(), False),
        StructField("layer", StringType(), False),
        StructField("hits", LongType(), False),
    ])
    hit_rows = [(h["id"], h["name"], h["owner"], h["layer"], int(h["hits"]))
                for h in report["hits"] + report["never_fired"]]
    spark.createDataFrame(hit_rows, hit_schema).coalesce(1).write.mode("overwrite").parquet(
        tables["hits"])
    denied_schema = StructType([StructField("flow", StringType(), False),
                                StructField("count", LongType(), False)])
    spark.createDataFrame(
        [(d["flow"], int(d["count"])) for d in report["top_denied"]], denied_schema
    ).coalesce(1).write.mode("overwrite").parquet(tables["top_denied"])
    disagreements.write.mode("overwrite").parquet(tables["disagreements"])
    return tables


# --- the console script -----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="secpath-spark",
        description="secpath on Spark: replay flow logs where they live.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "replay",
        help="judge flow-log tuples at their logging points and compare with the logs",
        description="Replays flow logs (NSG v1/v2, VNet v4; also captures and tuple files) "
        "on Spark with secpath's readers and judge; prints `secpath replay`'s summary.",
    )
    r.add_argument("--snapshot", nargs="+", required=True, metavar="PATH",
                   help="snapshot files or directories (ARM JSON, DSL), local to the driver")
    r.add_argument("--logs", nargs="+", required=True, metavar="URI",
                   help="flow-log files or directories: any path Spark reads")
    r.add_argument("--out", metavar="URI", help="write the tables here as Parquet")
    r.add_argument("--tuples", action="store_true",
                   help="also write every record read (table `tuples`)")
    r.add_argument("--glob", metavar="PATTERN",
                   help="only files whose name matches (Spark's pathGlobFilter), e.g. PT1H.json")
    r.add_argument("--input-format", default="auto",
                   help="auto, nsg, vnet, pcap, pcapng or flows (as secpath replay)")
    r.add_argument("--format", choices=["text", "json"], default="text",
                   help="output format of the summary")
    r.add_argument("--hits", metavar="FILE.json",
                   help="write per-rule hit counts for `secpath audit --hits` (driver-local)")
    r.add_argument("--master", help="Spark master when no session exists (e.g. local[4])")
    r.add_argument("--service-tags", metavar="FILE")
    r.add_argument("--manager-precedence", choices=["tiered", "merged"], default="tiered")
    r.add_argument("--assume-deployed", choices=["true", "false"], default="true")
    r.add_argument("--any-protocol", choices=["all", "tcp-udp-icmp"], default="all")
    r.add_argument("--empty-match", choices=["any", "none"], default="any")
    r.add_argument("--always-allow-scope", choices=["side", "path"], default="side")
    r.add_argument("--admin-stateless", action="store_true")
    r.add_argument("--no-nsg", choices=["pass", "deny"], default="pass")
    r.add_argument("--lenient", action="store_true")
    r.add_argument("--stateless", action="store_true")
    r.add_argument("--idle-timeout", type=int, default=240, metavar="SECONDS")
    return p


def _session(master: Optional[str]):
    from pyspark.sql import SparkSession

    # Local workers must run the interpreter that has this package, pyarrow and pandas.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("secpath-spark replay").config(
        "spark.ui.showConsoleProgress", "false"
    )
    if master:
        builder = builder.master(master)
    elif not os.environ.get("SPARK_HOME") and "spark.master" not in os.environ.get(
        "PYSPARK_SUBMIT_ARGS", ""
    ):
        builder = builder.master("local[*]")
    return builder.getOrCreate()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``secpath-spark`` console script. Exit 0 when done, 2 for bad input (as the CLI)."""
    args = _parser().parse_args(argv)
    switches = {
        "manager_precedence": args.manager_precedence,
        "assume_deployed": args.assume_deployed == "true",
        "any_protocol": args.any_protocol,
        "empty_match": args.empty_match,
        "always_allow_scope": args.always_allow_scope,
        "admin_stateless": args.admin_stateless,
        "no_nsg": args.no_nsg,
        "lenient": args.lenient,
        "stateless": args.stateless,
        "idle_timeout": args.idle_timeout,
    }
    try:
        # Before starting Spark, so that a bad snapshot is reported at once.
        loaded = _load(args.snapshot, args.service_tags, switches)
    except (SecpathError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spark = _session(args.master)
    try:
        result = _replay_loaded(spark, loaded, args.logs, args.out, input_format=args.input_format,
                                glob=args.glob, tuples=args.tuples)
    except (SecpathError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.hits:
        rules = {h["id"]: h["hits"] for h in result.report["hits"]}
        body = {"schema": "secpath.hits/v1", "records": result.report["evaluated"],
                "rules": rules}
        with open(args.hits, "w", encoding="utf-8") as f:
            f.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    if args.format == "json":
        sys.stdout.write(json.dumps(result.report, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(result.text)
    sys.stdout.flush()
    report = result.report
    if report["evaluated"] == 0 and report["skipped"] > 0:
        # As the CLI: input of which nothing could be used is bad input.
        print(f"error: no record could be evaluated: all {report['skipped']} read were skipped, "
              "for the reasons in the report", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
