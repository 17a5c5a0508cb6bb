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


def main():
    rows = [json.loads(line) for line in open(sys.argv[1])]
    by = {r["name"]: r for r in rows}
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Written by `benches/run.sh` from what it measured in one run; rerun it to reproduce")
    w("(`QUICK=1 benches/run.sh` for a smoke test). Every figure is set against baselines measured")
    w("in the same run on the same machine, because these machines are noisy: read the ratios.")
    w("")
    w(f"Machine: {os.cpu_count()} cores, {cpu}. Commit `{sh('git rev-parse --short HEAD')}`.")
    w("")
    w("## Classification of ClassBench-shaped sets (one core)")
    w("")
    w("Sets and traces from `benches/classbench_gen.py` (acl, fw and ipc shapes, modelled on")
    w("db_generator / trace_generator). `secpath` is `secpath bench --classbench` (compiled tables);")
    w("`rte_acl` is DPDK's `dpdk-test-acl` on the same files; the linear scan is `--engine reference`,")
    w("timed on the first trace lines with the compiled engine timed on the same lines for the ratio;")
    w("`agree` compares the two engines' decision checksums on those lines.")
    w("")
    w("| set | rules | secpath | ns/lookup | rte_acl | secpath / rte_acl | linear scan | secpath / scan | compile | tables | agree |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for shape in ("acl", "fw", "ipc"):
        for k in ("1k", "10k"):
            r = by.get(f"{shape}{k}")
            if not r:
                continue
            c, small, ref, acl = r["compiled"], r["compiled_small"], r["reference"], r["rte_acl"]
            vs_acl = "—" if not acl else f"{c['lookups_per_sec'] / acl:.2f}×"
            vs_scan = small["lookups_per_sec"] / ref["lookups_per_sec"]
            agree = "yes" if small["checksum"] == ref["checksum"] else "**NO**"
            w(f"| {shape}{k} | {c['rules']} | {fmt_rate(c['lookups_per_sec'])} | {c['ns_per_lookup']:.0f} | {fmt_rate(acl)} | {vs_acl} "
              f"| {fmt_rate(ref['lookups_per_sec'])} | {vs_scan:.0f}× | {c['compile_ms']:.1f} ms | {c['table_bytes'] / 2**20:.2f} MiB | {agree} |")
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
    threads = sorted((int(n.split("-")[1]), r) for n, r in by.items() if n.startswith("threads-"))
    if threads:
        base = threads[0][1]["lookups_per_sec"]
        w("")
        w("## Threads (fw10k, `--threads K`)")
        w("")
        w("| threads | lookups/s | speedup | of linear |")
        w("|---:|---:|---:|---:|")
        for t, r in threads:
            s = r["lookups_per_sec"] / base
            w(f"| {t} | {fmt_rate(r['lookups_per_sec'])} | {s:.2f}× | {100 * s / t:.0f} % |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
