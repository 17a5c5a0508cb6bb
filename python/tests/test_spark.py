"""secpath-spark replay in local mode (local[2]) against `secpath replay` on the same files:
the bundled samples and a generated multi-file set of over a million tuples. Counts, hits,
never-fired rules, top denied flows and disagreements must be equal, and so must the text."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, run_cli
from flowlogs import write_logs

pytest.importorskip("pyspark")

import secpath.spark  # noqa: E402
from secpath.spark import replay  # noqa: E402

CONTOSO = "rulesets/contoso"


def cli_report(secpath_bin, logs, fmt="json", extra=()):
    out = run_cli(secpath_bin, "replay", "--quiet", "--format", fmt, *extra, *logs,
                  "--snapshot", CONTOSO).stdout
    return json.loads(out) if fmt == "json" else out


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


def test_bundled_samples_equal_the_cli(spark, secpath_bin, tmp_path):
    logs = ["fixtures/replay-contoso"]
    result = replay(spark, [CONTOSO], logs, out=str(tmp_path / "out"))
    assert result.report == cli_report(secpath_bin, logs)
    assert result.text == cli_report(secpath_bin, logs, fmt="text")
    tables = {name: spark.read.parquet(path) for name, path in result.tables.items()}
    assert set(tables) == {"summary", "skipped", "hits", "disagreements", "top_denied"}
    assert tables["disagreements"].count() == result.report["disagreements_total"] == 2
    hits = {r["id"]: r["hits"] for r in tables["hits"].collect()}
    assert sum(hits.values()) == sum(h["hits"] for h in result.report["hits"])
    assert len(hits) == len(result.report["hits"]) + len(result.report["never_fired"])
    summary = tables["summary"].first()
    assert summary["records_read"] == summary["evaluated"] + summary["skipped"]
    assert json.loads(summary["report_json"]) == result.report


@pytest.mark.parametrize("route", ["workers read file: paths", "bytes through Spark"])
def test_unreadable_files_and_several_inputs(spark, secpath_bin, monkeypatch, route):
    if route == "bytes through Spark":  # as for abfss:// and the other remote schemes
        monkeypatch.setattr(secpath.spark, "_read_by_workers", lambda qualified: False)
    logs = ["fixtures/replay/appended-PT1H.json", "fixtures/replay/truncated.pcap",
            "fixtures/replay-contoso/nsg-v2.json"]
    result = replay(spark, [CONTOSO], logs)
    assert result.report == cli_report(secpath_bin, logs)
    assert result.report["skipped"] > 0


def test_captures_are_tracked_per_file(spark, secpath_bin):
    """The one documented difference: the CLI tracks connections across the captures of a
    run, the Spark job within each file. Everything else is equal, and the connections are
    those of the CLI run on each capture alone."""
    logs = ["fixtures/replay"]
    result = replay(spark, [CONTOSO], logs).report
    expected = cli_report(secpath_bin, logs)
    assert {k: v for k, v in result.items() if k != "connections"} == {
        k: v for k, v in expected.items() if k != "connections"
    }
    captures = sorted(p for p in os.listdir(REPO / "fixtures/replay") if "pcap" in p)
    per_file = sum(cli_report(secpath_bin, [f"fixtures/replay/{p}"])["connections"] for p in captures)
    assert result["connections"] == per_file


def test_switches_reach_the_executors(spark, secpath_bin):
    logs = ["fixtures/replay-contoso/capture.pcap"]
    result = replay(spark, [CONTOSO], logs, stateless=True, admin_stateless=True)
    assert result.report == cli_report(secpath_bin, logs, extra=("--stateless", "--admin-stateless"))
    assert result.report["connections"] == 0


def test_tuples_table_equals_the_cli_out_lines(spark, secpath_bin, tmp_path):
    log = "fixtures/replay-contoso/nsg-v2.json"
    jsonl = tmp_path / "cli.jsonl"
    run_cli(secpath_bin, "replay", "--quiet", "--out", str(jsonl), log, "--snapshot", CONTOSO)
    expected = [json.loads(line) for line in jsonl.read_text().splitlines()]
    result = replay(spark, [CONTOSO], [log], out=str(tmp_path / "out"), tuples=True)
    rows = spark.read.parquet(result.tables["tuples"]).orderBy("file", "index").collect()
    got = [
        {
            "source": r["source"], "flow": r["flow"], "verdict": r["verdict"], "rule": r["rule"],
            "rule_id": r["rule_id"],
            "logged": {"decision": r["logged_decision"], "rule": r["logged_rule"], "at": r["logged_at"]},
            "agrees": r["agrees"],
        }
        for r in rows
    ]
    assert got == expected


def test_a_million_generated_tuples_in_many_files(spark, secpath_bin, tmp_path):
    root = tmp_path / "insights-logs-networksecuritygroupflowevent"
    paths = write_logs(str(root), 1_000_000, files=8)
    assert len(paths) == 8
    logs = [str(root)]
    expected = cli_report(secpath_bin, logs)
    assert expected["records_read"] >= 1_000_000
    result = replay(spark, [CONTOSO], logs, out=str(tmp_path / "out"), glob="PT1H.json")
    assert result.report == expected
    assert result.report["records_read"] == result.report["evaluated"] + result.report["skipped"]
    disagreements = spark.read.parquet(result.tables["disagreements"])
    assert disagreements.count() == expected["disagreements_total"] > 1000
    skipped = {r["reason"]: r["count"] for r in spark.read.parquet(result.tables["skipped"]).collect()}
    assert skipped == expected["skipped_by_reason"]


def test_first_disagreements_in_the_cli_order_across_inputs(spark, secpath_bin, tmp_path):
    """Without `out`, each batch hands on only its first disagreements in the CLI's order
    (input as given, then path, then record): the summary lists the CLI's first 1000, here
    all of the first input's (given first, named last) and then the second's."""
    logs = []
    for name, tuples, seed in (("b", 4_000, 1), ("a", 12_000, 2)):
        write_logs(str(tmp_path / name), tuples, files=3, seed=seed)
        logs.append(str(tmp_path / name))
    expected = cli_report(secpath_bin, logs)
    first_input = sum(d["source"].startswith(logs[0]) for d in expected["disagreements"])
    assert 0 < first_input < 1000 < expected["disagreements_total"]
    assert replay(spark, [CONTOSO], logs).report == expected


def test_console_script_prints_the_cli_summary(secpath_bin):
    """What a new user runs: the same summary as `secpath replay` on the bundled samples."""
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    script = os.path.join(os.path.dirname(sys.executable), "secpath-spark")
    done = subprocess.run(
        [script, "replay", "--master", "local[2]", "--snapshot", CONTOSO,
         "--logs", "fixtures/replay-contoso"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == cli_report(secpath_bin, ["fixtures/replay-contoso"], fmt="text")
    bad = subprocess.run(
        [script, "replay", "--snapshot", "fixtures/errors/bad-cidr.json", "--logs", "x"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    cli = run_cli(secpath_bin, "replay", "x", "--snapshot", "fixtures/errors/bad-cidr.json", check=False)
    assert bad.returncode == cli.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == cli.stderr.strip().splitlines()[-1]


def test_console_script_loads_the_snapshot_once_on_the_driver(spark, secpath_bin, monkeypatch,
                                                               capsys):
    """It checks the snapshot before starting Spark, and the job uses that load."""
    loads = []

    class Counting:
        @staticmethod
        def load(*args, **kwargs):
            loads.append(args)
            return secpath.Policy.load(*args, **kwargs)

    monkeypatch.setattr(secpath.spark, "Policy", Counting)
    logs = ["fixtures/replay-contoso"]
    assert secpath.spark.main(["replay", "--snapshot", CONTOSO, "--logs", *logs]) == 0
    assert capsys.readouterr().out == cli_report(secpath_bin, logs, fmt="text")
    assert len(loads) == 1


def test_console_script_exits_2_when_no_record_could_be_evaluated(spark, secpath_bin, capsys):
    """A log whose NSG is not in the snapshot: every record skipped, bad input as in the CLI."""
    logs = ["fixtures/replay/nsg-v2-foreign.json"]
    assert secpath.spark.main(["replay", "--snapshot", CONTOSO, "--logs", *logs]) == 2
    captured = capsys.readouterr()
    cli = run_cli(secpath_bin, "replay", *logs, "--snapshot", CONTOSO, check=False)
    assert cli.returncode == 2
    assert captured.out == cli.stdout
    assert captured.err.strip().splitlines()[-1] == cli.stderr.strip().splitlines()[-1]
