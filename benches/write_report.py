#!/usr/bin/env python3
"""Renders BENCHMARKS.md from the JSON lines benches/run.sh measured (one run, one machine)."""
import json
import os
import subprocess
import sys


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def fmt_rate(x):
    return "—" if x is None else f"{x / 1e6:.2f} M/s"


def replay_section(w, by):
    """`secpath replay` per core, against tcpdump decoding the same capture."""
    runs = [(n, by[n]) for n in ("replay-nsg", "replay-p64", "replay-imix") if n in by]
    if not runs:
        return
    w("")
    w("## Replay (one core, from the page cache)")
    w("")
    w("`secpath replay --threads 1` against the bundled Contoso snapshot on inputs from")
    w("`benches/replay_gen.py`: an NSG flow log (version 2, 1,000 tuples a record), a capture of")
    w("64-byte Ethernet/IPv4/TCP frames over 4,096 connections, and an IMIX capture (64/576/1500")
    w("bytes, 7:4:1) of the same connections. Times are CPU (user + system) of the whole command:")
    w("load, compile, read, decode, track connections, judge, tally. The baseline is Debian's")
    w("`tcpdump -r FILE -nn` (decoding and printing every packet, output to /dev/null) on the same")
    w("capture in the same run.")
    w("")
    w("| input | records | size | secpath | records/s | bytes/s | tcpdump -nn | secpath / tcpdump |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in runs:
        secs = r["cpu_ms"] / 1000
        td = r.get("tcpdump_ms")
        ratio = "—" if not td else f"{td / r['cpu_ms']:.0f}× faster"
        tds = "—" if not td else f"{td / 1000:.2f} s"
        w(f"| {name[len('replay-'):]} | {r['records']:,} | {r['bytes'] / 2**20:.0f} MiB | {secs:.2f} s "
          f"| {fmt_rate(r['records'] / secs)} | {r['bytes'] / secs / 1e9:.2f} GB/s | {tds} | {ratio} |")
    files = sorted((r["threads"], r) for n, r in by.items() if n.startswith("replay-files-threads-"))
    if len(files) > 1:
        one = files[0][1]["ms"]
        w("")
        w("Parallel across files (the same number of tuples as four flow-log blobs, wall time):")
        w("")
        w("| threads | time | speedup |")
        w("|---:|---:|---:|")
        for t, r in files:
            w(f"| {t} | {r['ms'] / 1000:.2f} s | {one / r['ms']:.2f}× |")


def classbench_row(w, name, r):
    """One row of a ClassBench table: secpath against rte_acl and the linear scan."""
    c, small, ref, acl = r["compiled"], r["compiled_small"], r["reference"], r["rte_acl"]
    vs_acl = "—" if not acl else f"{c['lookups_per_sec'] / acl:.2f}×"
    vs_scan = small["lookups_per_sec"] / ref["lookups_per_sec"]
    agree = "yes" if small["checksum"] == ref["checksum"] else "**NO**"
    w(f"| {name} | {c['rules']} | {fmt_rate(c['lookups_per_sec'])} | {c['ns_per_lookup']:.0f} | {fmt_rate(acl)} | {vs_acl} "
      f"| {fmt_rate(ref['lookups_per_sec'])} | {vs_scan:.0f}× | {c['compile_ms']:.1f} ms | {c['table_bytes'] / 2**20:.2f} MiB | {agree} |")


def targets_section(w, by):
    """Each target of the compiled-tables issue against what this run measured."""

    def mark(figure, ok):
        return figure if ok else f"**{figure}** (missed)"

    rows = []
    for name, r in sorted(by.items()):
        if "rte_acl" not in r:
            continue
        c, small, ref, acl = r["compiled"], r["compiled_small"], r["reference"], r["rte_acl"]
        big = c["rules"] >= 5000
        label = name[len("published-"):] if name.startswith("published-") else name
        need = 2 if big and any(s in label for s in ("fw", "ipc")) else 1
        cells = ["—"] * 4
        if acl:
            ratio = c["lookups_per_sec"] / acl
            cells[0] = mark(f"{ratio:.2f}× (≥ {need}×)", ratio >= need)
        scan, scan_need = small["lookups_per_sec"] / ref["lookups_per_sec"], 50 if big else 10
        cells[1] = mark(f"{scan:.0f}× (≥ {scan_need}×)", scan >= scan_need)
        ms, limit = c["compile_ms"], 1000 if big else 100
        cells[2] = mark(f"{ms:.0f} ms (≤ {limit})", ms <= limit)
        if big:
            mib = c["table_bytes"] / 2**20
            cells[3] = mark(f"{mib:.2f} MiB (≤ 4)", mib <= 4)
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    other = []
    e = by.get("enterprise")
    if e:
        rate = e["compiled"]["lookups_per_sec"]
        other.append(f"- Enterprise snapshot, one core: {mark(fmt_rate(rate), rate >= 10e6)} decisions (≥ 10 M/s).")
    ev = by.get("eval-contoso")
    if ev:
        secs = ev["ms"] / 1000
        other.append(f"- `secpath eval`, a million flows on Contoso: {mark(f'{secs:.2f} s', secs < 1)} (under a second).")
    threads = sorted((int(n.split("-")[1]), r) for n, r in by.items() if n.startswith("threads-"))
    if len(threads) > 1:
        t, r = threads[-1]
        copies = by.get(f"copies-{t}")
        alone = r["lookups_per_sec"] / threads[0][1]["lookups_per_sec"] / t
        if copies:
            share = r["lookups_per_sec"] / copies["lookups_per_sec"]
            other.append(f"- {t} threads: {mark(f'{100 * share:.0f} %', share >= 0.8)} of linear scaling, "
                         f"{t} one-thread copies run together (≥ 80 %); {100 * alone:.0f} % of {t}× one thread run alone.")
        else:
            other.append(f"- {t} threads: {mark(f'{100 * alone:.0f} %', alone >= 0.8)} of linear scaling (≥ 80 %).")
    if not rows and not other:
        return
    w("")
    w("## Targets")
    w("")
    w("The compiled-tables issue's targets against this run's figures: ratios against baselines")
    w("of the same run (absolute rates depend on the machine and its load); at ~10K rules (5,000")
    w("or more) ≥ 2× `rte_acl` on the fw and ipc shapes and tables ≤ 4 MiB, elsewhere at least")
    w("`rte_acl`'s rate.")
    w("")
    if rows:
        w("| set | secpath / rte_acl | secpath / scan | compile | tables |")
        w("|---|---:|---:|---:|---:|")
        for row in rows:
            w(row)
        w("")
    for line in other:
        w(line)


def main():
    rows = [json.loads(line) for line in open(sys.argv[1])]
    by = {r["name"]: r for r in rows}
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Written by `benches/run.sh` from what it measured in one run (the ClassBench, enterprise and")
    w("thread rates each the fastest of three timed runs, secpath's and rte_acl's taking turns);")
    w("rerun it to reproduce")
    w("(`QUICK=1 benches/run.sh` for a smoke test; `CLASSBENCH_DIR=DIR` adds the published ClassBench")
    w("sets in DIR). Every figure is set against baselines measured")
    w("in the same run on the same machine, because these machines are noisy: read the ratios.")
    w("")
    w(f"Machine: {os.cpu_count()} cores, {cpu}. Commit `{sh('git rev-parse --short HEAD')}`.")
    targets_section(w, by)
    w("")
    w("## Classification of ClassBench-shaped sets (one core)")
    w("")
    w("Sets and traces from `benches/classbench_gen.py` (acl, fw and ipc shapes, modelled on")
    w("db_generator / trace_generator, filters most specific first as db_generator writes them).")
    w("`secpath` is `secpath bench --classbench` (compiled tables);")
    w("`rte_acl` is DPDK's `dpdk-test-acl` on the same files; the linear scan is `--engine reference`,")
    w("timed on the first trace lines with the compiled engine timed on the same lines for the ratio;")
    w("`agree` compares the two engines' decision checksums on those lines.")
    w("")
    w("| set | rules | secpath | ns/lookup | rte_acl | secpath / rte_acl | linear scan | secpath / scan | compile | tables | agree |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for shape in ("acl", "fw", "ipc"):
        for k in ("1k", "10k"):
            if f"{shape}{k}" in by:
                classbench_row(w, f"{shape}{k}", by[f"{shape}{k}"])
    published = sorted(n for n in by if n.startswith("published-"))
    if published:
        w("")
        w("Published sets (`CLASSBENCH_DIR`: made by ClassBench's own db_generator from its acl1, fw1")
        w("and ipc1 seeds, with trace_generator's traces, by `benches/classbench_published.sh`; at")
        w("least a million lookups each):")
        w("")
        w("| set | rules | secpath | ns/lookup | rte_acl | secpath / rte_acl | linear scan | secpath / scan | compile | tables | agree |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for name in published:
            classbench_row(w, name[len("published-"):], by[name])
    e = by.get("enterprise")
    if e:
        c, small, ref = e["compiled"], e["compiled_small"], e["reference"]
        w("")
        w("## Whole-path decisions on an enterprise snapshot")
        w("")
        w("`benches/enterprise_gen.py`: 20 admin rules, 100 NSGs of 200 rules, 5,000 NICs in 50 VNets;")
        w("flows between NICs and the Internet. `secpath bench --snapshot` (locate both ends, source")
        w("side, path, destination side), one core, against the reference walk on the same flows.")
        w("")
        w("| engine | decisions/s | ns/decision | compile | tables |")
        w("|---|---:|---:|---:|---:|")
        w(f"| compiled | {fmt_rate(c['lookups_per_sec'])} | {c['ns_per_lookup']:.0f} | {c['compile_ms']:.0f} ms | {c['table_bytes'] / 2**20:.1f} MiB |")
        w(f"| reference | {fmt_rate(ref['lookups_per_sec'])} | {ref['ns_per_lookup']:.0f} | — | — |")
        w("")
        w(f"Compiled / reference on the same {ref['lookups']} flows: **{small['lookups_per_sec'] / ref['lookups_per_sec']:.0f}×**, "
          f"checksums {'equal' if small['checksum'] == ref['checksum'] else '**DIFFERENT**'}.")
        w(f"`secpath eval` end to end (load, compile, read CSV, decide, write CSV) on {e['eval_flows']:,} flows: "
          f"{e['eval_ms'] / 1000:.2f} s.")
    ev = by.get("eval-contoso")
    if ev:
        w("")
        w("## `secpath eval` on the bundled example")
        w("")
        w(f"`secpath eval --snapshot rulesets/contoso --format csv` on {ev['flows']:,} flows from")
        w("`benches/flows_gen.py` (NIC and Internet sources, NIC destinations, CSV in, CSV out), end to")
        w(f"end (load, compile, read, decide, write), one thread: **{ev['ms'] / 1000:.2f} s** wall, best of 3;")
        w(f"{ev['cpu_ms'] / 1000:.2f} s of CPU.")
    audits = [r for n, r in by.items() if n.startswith("audit-")]
    if audits:
        w("")
        w("## Audit")
        w("")
        w("`secpath audit` (every finding kind, exact over the whole flow space, BDDs), wall time including load:")
        w("")
        w("| snapshot | findings | time |")
        w("|---|---:|---:|")
        for r in audits:
            if r["ms"] is None:
                w(f"| {r['snapshot']} | — | not measured |")
            elif r["findings"] is None:
                w(f"| {r['snapshot']} | — | did not finish in {r['ms'] / 1000:.0f} s |")
            else:
                w(f"| {r['snapshot']} | {r['findings']} | {r['ms'] / 1000:.2f} s |")
    replay_section(w, by)
    threads = sorted((int(n.split("-")[1]), r) for n, r in by.items() if n.startswith("threads-"))
    if threads:
        base = threads[0][1]["lookups_per_sec"]
        w("")
        w("## Threads (fw10k, `--threads K`)")
        w("")
        w("Linear scaling is what the cores give K copies of the one-thread run started together,")
        w("their rates summed (`copies`): one core of these virtual machines runs the same loop up")
        w("to twice as fast at one moment as at another, as the host's other tenants come and go,")
        w("so K times a one-thread rate measured alone overstates what K cores deliver. Both are shown.")
        w("")
        w("| threads | lookups/s | speedup | K copies | of linear (copies) | of K× one thread |")
        w("|---:|---:|---:|---:|---:|---:|")
        for t, r in threads:
            s = r["lookups_per_sec"] / base
            c = by.get(f"copies-{t}")
            of_copies = f"{100 * r['lookups_per_sec'] / c['lookups_per_sec']:.0f} %" if c else "—"
            rate = fmt_rate(c["lookups_per_sec"]) if c else "—"
            w(f"| {t} | {fmt_rate(r['lookups_per_sec'])} | {s:.2f}× | {rate} | {of_copies} | {100 * s / t:.0f} % |")
    spark = sys.argv[2] if len(sys.argv) > 2 else None
    if spark and os.path.exists(spark):
        w("")
        w(open(spark).read().strip())
    print("\n".join(out))


if __name__ == "__main__":
    main()
