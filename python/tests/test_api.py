"""The Python API: Arrow in and out, every verdict kind, the switches, explain, the readers,
and bad input raising SecpathError with the CLI's located message."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pytest

import secpath
from conftest import REPO, run_cli
from flowlogs import write_logs

CONTOSO = str(REPO / "rulesets" / "contoso")


@pytest.fixture(scope="module")
def contoso():
    return secpath.Policy.load(CONTOSO)


def flows_batch(flows):
    """A batch from flow specs (`tcp 1.2.3.4:5 -> 6.7.8.9:10`), pins as (from, to)."""
    cols = {k: [] for k in ("protocol", "src", "src_port", "dst", "dst_port")}
    for spec in flows:
        proto, src, _, dst = spec.split(" ")
        cols["protocol"].append(proto)
        for side, end in (("src", src), ("dst", dst)):
            if ":" in end and not end.count(":") > 1:
                host, port = end.rsplit(":", 1)
                cols[side].append(host)
                cols[side + "_port"].append(int(port))
            else:
                cols[side].append(end)
                cols[side + "_port"].append(None)
    return pa.record_batch(
        {
            "protocol": pa.array(cols["protocol"], pa.string()),
            "src": pa.array(cols["src"], pa.string()),
            "src_port": pa.array(cols["src_port"], pa.int32()),
            "dst": pa.array(cols["dst"], pa.string()),
            "dst_port": pa.array(cols["dst_port"], pa.int32()),
        }
    )


def test_every_verdict_kind_in_and_out_as_arrow(contoso):
    batch = flows_batch(
        [
            "tcp 203.0.113.5:50000 -> 10.1.1.4:22",  # admin deny
            "tcp 203.0.113.5:50000 -> 10.1.1.4:443",  # allow
            "tcp 10.1.2.4:50000 -> 10.2.1.4:1433",  # no path
            "tcp 203.0.113.5:50001 -> 10.1.1.4:8080",  # NSG deny
        ]
    )
    out = contoso.evaluate(batch)
    assert isinstance(out, pa.RecordBatch)
    assert out.schema.names == ["verdict", "layer", "side", "rule", "resource", "priority", "error"]
    rows = out.to_pylist()
    assert [r["verdict"] for r in rows] == ["deny", "allow", "no-path", "deny"]
    assert rows[0]["layer"] == "admin" and rows[0]["side"] == "destination"
    assert rows[0]["rule"] == "DenyInternetSshRdp" and rows[0]["priority"] == 100
    assert rows[0]["resource"].endswith("/rules/DenyInternetSshRdp")
    assert rows[1]["layer"] is None and rows[1]["rule"] is None
    assert rows[2]["layer"] == "path"
    assert rows[3]["layer"] == "nsg" and rows[3]["rule"] == "Deny-8080"
    assert all(r["error"] is None for r in rows)


def test_evaluate_equals_the_cli_on_a_flow_file(contoso, secpath_bin):
    path = REPO / "fixtures" / "flows" / "contoso.csv"
    cli = run_cli(secpath_bin, "eval", "--snapshot", CONTOSO, "--flows", str(path)).stdout
    expected = [json.loads(line) for line in cli.splitlines()]
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(path)
    out = contoso.evaluate(table.to_batches()[0], errors="skip").to_pylist()
    assert len(out) == len(expected)
    for got, want in zip(out, expected):
        if "skipped" in want:
            assert got["verdict"] is None and got["error"], (got, want)
            continue
        for key in ("verdict", "layer", "side", "rule", "resource"):
            assert got[key] == want[key], (key, got, want)


def test_input_types_numbers_large_strings_and_pins(contoso):
    batch = pa.record_batch(
        {
            "protocol": pa.array([6, 6], pa.uint8()),
            "src": pa.array(["203.0.113.5", "203.0.113.5"], pa.large_string()),
            "src_port": pa.array([50000, 50000], pa.uint16()),
            "dst": pa.array(["10.1.1.4", "10.1.1.4"], pa.large_string()),
            "dst_port": pa.array([22, 443], pa.int64()),
            "to": pa.array([None, None], pa.string()),
        }
    )
    assert [r["verdict"] for r in contoso.evaluate(batch).to_pylist()] == ["deny", "allow"]


def test_bad_rows_raise_or_are_reported(contoso):
    batch = flows_batch(["tcp 203.0.113.5:50000 -> 10.1.1.4:22"])
    bad = pa.record_batch(
        {
            "protocol": ["tcp", "tcp"],
            "src": ["203.0.113.5", "not-an-ip"],
            "src_port": pa.array([1, 2], pa.int32()),
            "dst": ["10.1.1.4", "10.1.1.4"],
            "dst_port": pa.array([443, 443], pa.int32()),
        }
    )
    with pytest.raises(secpath.SecpathError, match=r"^row 1: flow `tcp not-an-ip:2 -> 10.1.1.4:443`"):
        contoso.evaluate(bad)
    rows = contoso.evaluate(bad, errors="skip").to_pylist()
    assert rows[0]["verdict"] == "allow" and rows[0]["error"] is None
    assert rows[1]["verdict"] is None and rows[1]["error"].startswith("flow `tcp not-an-ip:2")
    with pytest.raises(ValueError, match="no `dst` column"):
        contoso.evaluate(batch.drop_columns(["dst"]))
    with pytest.raises(ValueError, match="errors"):
        contoso.evaluate(batch, errors="ignore")


def _kwargs(args):
    """CLI arguments of a fixture case as Policy.load keywords and pins."""
    kw, pins, i = {}, {}, 0
    while i < len(args):
        flag = args[i]
        name = flag[2:].replace("-", "_")
        if flag in ("--admin-stateless", "--lenient"):
            kw[name] = True
            i += 1
            continue
        value = args[i + 1]
        i += 2
        if flag in ("--from", "--to"):
            pins[name] = value
        elif flag == "--assume-deployed":
            kw[name] = value == "true"
        elif flag == "--service-tags":
            kw[name] = str(REPO / value)
        else:
            kw[name] = value
    return kw, pins


def _cases():
    for path in sorted((REPO / "fixtures" / "cases").glob("*/cases.json")):
        spec = json.loads(path.read_text())
        snapshot = spec.get("snapshot", [f"fixtures/cases/{path.parent.name}/snapshot"])
        for case in spec["cases"]:
            yield pytest.param(snapshot, case, id=f"{path.parent.name}: {case['name'][:60]}")


@pytest.mark.parametrize("snapshot,case", list(_cases()))
def test_fixture_cases_through_evaluate(snapshot, case):
    """Every case of fixtures/cases (every switch D1-D7 both ways, every verdict) through
    Policy.load and evaluate, as tests/cases.rs runs them through the CLI."""
    kw, pins = _kwargs(case.get("args", []))
    try:
        policy = secpath.Policy.load([str(REPO / p) for p in snapshot], **kw)
        spec = case["flow"]
        explained = policy.explain(spec, from_=pins.get("from"), to=pins.get("to"))
    except secpath.SecpathError as e:
        assert case["verdict"] == "error", str(e)
        for part in case.get("error_contains", []):
            assert part in str(e)
        return
    assert case["verdict"] != "error", explained
    assert explained["verdict"] == case["verdict"]
    # The same flow through the Arrow path.
    batch = _spec_batch(case["flow"], pins)
    row = policy.evaluate(batch).to_pylist()[0]
    assert row["verdict"] == case["verdict"]
    decided = case.get("decided_by") or {}
    for key in ("layer", "side", "rule", "priority", "resource"):
        if key in decided:
            assert row[key] == decided[key], (key, row)


def _end(text):
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address -> (host, port)."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return host, int(port[1:]) if port else None
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, None


def _spec_batch(spec, pins):
    proto, rest = spec.split(" ", 1)
    (src, sport), (dst, dport) = (_end(e.strip()) for e in rest.split("->"))
    return pa.record_batch(
        {
            "protocol": [proto],
            "src": [src],
            "src_port": pa.array([sport], pa.int32()),
            "dst": [dst],
            "dst_port": pa.array([dport], pa.int32()),
            "from": pa.array([pins.get("from")], pa.string()),
            "to": pa.array([pins.get("to")], pa.string()),
        }
    )


def test_switches_change_verdicts_and_are_reported():
    d7 = REPO / "fixtures" / "cases" / "sem-4-d7-no-nsg"
    spec = json.loads((d7 / "cases.json").read_text())
    case = next(c for c in spec["cases"] if c.get("args") == ["--no-nsg", "deny"])
    snapshot = [str(REPO / p) for p in spec.get("snapshot", [str(d7 / "snapshot")])]
    default = secpath.Policy.load(snapshot)
    deny = secpath.Policy.load(snapshot, no_nsg="deny")
    assert default.switches["no_nsg"] == "pass" and deny.switches["no_nsg"] == "deny"
    assert deny.explain(case["flow"])["verdict"] == case["verdict"] == "deny"
    assert default.explain(case["flow"])["verdict"] == "allow"
    batch = _spec_batch(case["flow"], {})
    assert deny.evaluate(batch).column("verdict").to_pylist() == ["deny"]
    assert deny.evaluate(batch).column("rule").to_pylist() != [None]
    assert default.evaluate(batch).column("verdict").to_pylist() == ["allow"]
    with pytest.raises(ValueError, match="no_nsg: `maybe` is not one of pass, deny"):
        secpath.Policy.load(snapshot, no_nsg="maybe")


def test_explain_is_the_cli_json(contoso, secpath_bin):
    flow = "tcp 203.0.113.5:50000 -> 10.1.1.4:22"
    cli = run_cli(secpath_bin, "explain", "--snapshot", CONTOSO, "--format", "json", flow, check=False)
    assert contoso.explain(flow) == json.loads(cli.stdout)
    with pytest.raises(secpath.SecpathError, match="^flow `tcp nowhere -> 10.1.1.4:22`"):
        contoso.explain("tcp nowhere -> 10.1.1.4:22")


@pytest.mark.parametrize("name", sorted(os.listdir(REPO / "fixtures" / "errors")))
def test_bad_snapshots_raise_the_cli_message(name, secpath_bin):
    path = str(REPO / "fixtures" / "errors" / name)
    cli = run_cli(secpath_bin, "explain", "--snapshot", path, "tcp 1.2.3.4:1 -> 5.6.7.8:2", check=False)
    assert cli.returncode == 2
    message = cli.stderr.strip().splitlines()[-1]
    assert message.startswith("error: ")
    with pytest.raises(secpath.SecpathError) as e:
        secpath.Policy.load(path)
    assert str(e.value) == message[len("error: "):]


def test_missing_snapshot_is_an_error_not_a_crash():
    with pytest.raises(secpath.SecpathError, match="cannot read"):
        secpath.Policy.load("/nonexistent/snapshot")


def test_readers_give_rows_and_skip_counts():
    path = REPO / "fixtures" / "replay" / "appended-PT1H.json"
    batch, skips = secpath.read_records(path.read_bytes(), "appended-PT1H.json")
    assert isinstance(batch, pa.RecordBatch)
    assert batch.num_rows == 4
    kinds = batch.column("kind").to_pylist()
    assert kinds.count("flow-log") == 3
    assert skips == {"malformed JSON: EOF while parsing a list; the rest of the file is lost": 1}
    capture = (REPO / "fixtures" / "replay" / "mixed.pcap").read_bytes()
    batch, skips = secpath.read_records(capture, "mixed.pcap")
    assert batch.column("kind").to_pylist().count("packet") == 9
    assert sum(skips.values()) == 6
    batch, skips = secpath.read_records(b"\x1f\x8b garbage", "x.gz")
    assert batch.num_rows == 1 and sum(skips.values()) == 1
    assert secpath.read_records(b"", "empty")[0].num_rows == 0
    with pytest.raises(secpath.SecpathError, match="unknown input format"):
        secpath.read_records(b"", "x", input_format="xml")
    assert "nsg" in secpath.input_formats()


def _cli_lines(secpath_bin, path):
    out = REPO / "target" / f"secpath-pytest-{os.getpid()}.jsonl"
    try:
        done = run_cli(secpath_bin, "replay", "--quiet", "--out", str(out), str(path), "--snapshot",
                       CONTOSO, check=False)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        # Exit 2 when nothing could be evaluated (every line a skip), else 0.
        assert done.returncode == (2 if all("skipped" in x for x in lines) else 0), done.stderr
        return lines
    finally:
        out.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "name", ["replay-contoso/nsg-v2.json", "replay-contoso/vnet-v4.json", "replay/appended-PT1H.json"]
)
def test_replay_rows_equal_the_cli_out_lines(contoso, secpath_bin, name):
    rel = f"fixtures/{name}"
    expected = _cli_lines(secpath_bin, rel)
    files = pa.record_batch(
        {"path": [rel], "content": pa.array([(REPO / rel).read_bytes()], pa.binary())}
    )
    rows = contoso.replay_files(files).to_pylist()
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected):
        if "skipped" in want:
            assert {"source": row["source"], "skipped": row["skipped"]} == want
            continue
        got = {
            "source": row["source"],
            "flow": row["flow"],
            "verdict": row["verdict"],
            "rule": row["rule"],
            "rule_id": row["rule_id"],
            "logged": {"decision": row["logged_decision"], "rule": row["logged_rule"], "at": row["logged_at"]},
            "agrees": row["agrees"],
        }
        assert got == want
    assert contoso.replay_files(files).schema == secpath.replay_schema()
    totals = contoso.replay_totals(files)
    assert totals.schema == secpath.totals_schema()
    kinds = totals.column("kind").to_pylist()  # disagreements last (the Spark job slices)
    first = kinds.index("disagreement") if "disagreement" in kinds else len(kinds)
    assert set(kinds[first:]) <= {"disagreement"} and "count" in kinds[:first]


def test_files_by_local_path_read_as_by_content(contoso):
    rels = ["fixtures/replay-contoso/nsg-v2.json", "fixtures/replay/appended-PT1H.json",
            "fixtures/replay-contoso/capture.pcap"]
    content = pa.array([(REPO / r).read_bytes() for r in rels], pa.binary())
    by_content = pa.record_batch({"name": rels, "content": content})
    by_path = pa.record_batch({"name": rels, "local_path": [str(REPO / r) for r in rels]})
    assert contoso.replay_files(by_path).to_pylist() == contoso.replay_files(by_content).to_pylist()
    assert contoso.replay_totals(by_path).to_pylist() == contoso.replay_totals(by_content).to_pylist()
    gone = pa.record_batch({"name": ["gone.json"], "local_path": ["/nonexistent/gone.json"]})
    rows = contoso.replay_files(gone).to_pylist()
    assert len(rows) == 1 and rows[0]["source"] == "gone.json: whole file"
    assert rows[0]["skipped"].startswith("cannot read")
    with pytest.raises(ValueError, match="neither a `content` nor a `local_path`"):
        contoso.replay_files(pa.record_batch({"name": ["x"]}))


def test_denied_buckets_add_up_to_the_exact_top_denied_flows(contoso, tmp_path):
    """Batches pack their denied flows by bucket; each bucket's packs from every batch give
    the bucket's most frequent flows, and the most frequent of all are among them: the same
    as one batch holding every file, in one bucket."""
    paths = write_logs(str(tmp_path / "logs"), 40_000, files=4, sources=300)
    files = pa.record_batch({"name": paths, "local_path": paths})
    whole = contoso.replay_totals(files).to_pylist()
    expected = secpath.top_denied(pa.Table.from_pylist([r for r in whole if r["kind"] == "denied"]))
    packs = []
    for i in range(0, 4, 2):
        rows = contoso.replay_totals(files.slice(i, 2), denied_buckets=3).to_pylist()
        packs += [r for r in rows if r["kind"] == "denied"]
    assert {r["bucket"] for r in packs} == {0, 1, 2}
    got = []
    for bucket in range(3):
        table = pa.Table.from_pylist([r for r in packs if r["bucket"] == bucket])
        got += secpath.top_denied(table).to_pylist()
    got.sort(key=lambda r: (-r["count"], r["key"]))
    assert got[:10] == expected.to_pylist()
    assert expected.num_rows == 10 and expected.column("count")[0].as_py() > 1
    with pytest.raises(ValueError, match="denied pack 0: malformed at byte 0"):
        secpath.top_denied(pa.table({"blob": pa.array([b"\x09\x06"], pa.binary())}))
