#!/usr/bin/env python3
"""ClassBench-shaped filter sets and traces, modelled on db_generator / trace_generator.

    classbench_gen.py SHAPE RULES TRACE_LEN SEED OUT_PREFIX

writes OUT_PREFIX.rules (ClassBench filters, one per line, `@SRC/LEN DST/LEN LO : HI LO : HI
PROTO/MASK`) and OUT_PREFIX.trace (`SRC DST SPORT DPORT PROTO FILTER`, decimal addresses),
readable by both `secpath --classbench/--flows` and DPDK's `dpdk-test-acl`.

The three shapes follow the published seed families: `acl` (specific destinations, exact
well-known destination ports), `fw` (many wildcards and port ranges, mixed protocols) and
`ipc` (between the two). Prefixes are drawn below a small pool of networks so that filters
overlap the way real rule sets do. Like trace_generator, each trace header is drawn inside a
filter picked with a Pareto skew, so some filters are hot, plus a share of random headers.
Like db_generator, filters are written from the most specific to the least. Deterministic
for a given seed.
"""
import random
import sys

WELL_KNOWN = [20, 21, 22, 23, 25, 53, 80, 110, 123, 135, 139, 143, 161, 389, 443, 445, 993,
              1433, 1521, 3306, 3389, 5432, 6379, 8080, 8443, 9200, 27017]

SHAPES = {
    # (src prefix lengths & weights, dst ..., dport kinds & weights, protocols & weights)
    "acl": ([(0, 10), (8, 5), (16, 10), (24, 25), (28, 10), (32, 40)],
            [(0, 5), (16, 10), (24, 35), (28, 10), (32, 40)],
            [("exact", 65), ("any", 15), ("high", 15), ("range", 5)],
            [(6, 80), (17, 12), (0, 5), (1, 3)]),
    "fw": ([(0, 35), (8, 10), (16, 15), (24, 20), (32, 20)],
           [(0, 25), (8, 10), (16, 15), (24, 25), (32, 25)],
           [("exact", 35), ("any", 35), ("high", 15), ("range", 15)],
           [(6, 55), (17, 20), (0, 18), (1, 4), (50, 2), (47, 1)]),
    "ipc": ([(0, 20), (8, 10), (16, 15), (24, 25), (32, 30)],
            [(0, 15), (16, 15), (24, 30), (28, 10), (32, 30)],
            [("exact", 50), ("any", 25), ("high", 15), ("range", 10)],
            [(6, 70), (17, 15), (0, 10), (1, 5)]),
}


def pick(rng, weighted):
    total = sum(w for _, w in weighted)
    x = rng.uniform(0, total)
    for value, w in weighted:
        x -= w
        if x <= 0:
            return value
    return weighted[-1][0]


def prefix(rng, pool, length):
    if length == 0:
        return 0, 0
    base = rng.choice(pool)
    addr = (base | rng.getrandbits(24)) & (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
    return addr, length


def ports(rng, kind):
    if kind == "exact":
        p = rng.choice(WELL_KNOWN) if rng.random() < 0.8 else rng.randrange(1024, 65536)
        return p, p
    if kind == "high":
        return 1024, 65535
    if kind == "range":
        lo = rng.randrange(0, 65000)
        return lo, min(65535, lo + rng.choice([1, 7, 15, 255, 1023]))
    return 0, 65535


def specificity(filt):
    """Bits a filter pins: prefix lengths, each port range's log2(65536 / width), 8 for a
    protocol."""
    (_, sl), (_, dl), sp, dp, proto = filt
    pinned = lambda lo, hi: 16 - (hi - lo + 1).bit_length() + 1  # noqa: E731
    return sl + dl + pinned(*sp) + pinned(*dp) + (8 if proto else 0)


def dotted(a):
    return ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0))


def main():
    shape, n, trace_len, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    src_len, dst_len, dport_kind, protos = SHAPES[shape]
    rng = random.Random(seed)
    pool = [rng.randrange(1, 224) << 24 for _ in range(24)]
    filters = []
    for _ in range(n):
        s, d = prefix(rng, pool, pick(rng, src_len)), prefix(rng, pool, pick(rng, dst_len))
        sp = ports(rng, "any" if rng.random() < 0.9 else "high")
        dp = ports(rng, pick(rng, dport_kind))
        proto = pick(rng, protos)
        filters.append((s, d, sp, dp, proto))
    # db_generator writes filters from the most specific to the least, so wildcards come
    # last; drawn in random order, a wildcard early on would hide every later rule it covers.
    filters.sort(key=lambda f: -specificity(f))
    with open(out + ".rules", "w") as f:
        for (s, sl), (d, dl), sp, dp, proto in filters:
            mask = "0x00" if proto == 0 else "0xFF"
            f.write(f"@{dotted(s)}/{sl}\t{dotted(d)}/{dl}\t{sp[0]} : {sp[1]}\t{dp[0]} : {dp[1]}\t0x{proto:02X}/{mask}\n")
    with open(out + ".trace", "w") as f:
        for _ in range(trace_len):
            if rng.random() < 0.05:
                k = 0
                s, d = rng.getrandbits(32), rng.getrandbits(32)
                sp, dp, proto = rng.randrange(65536), rng.randrange(65536), rng.choice([6, 17])
            else:
                k = min(n - 1, int(rng.paretovariate(1.0)) - 1 + rng.randrange(n) * (rng.random() < 0.5))
                (s, sl), (d, dl), spr, dpr, proto = filters[k]
                s |= rng.getrandbits(32 - sl) if sl < 32 else 0
                d |= rng.getrandbits(32 - dl) if dl < 32 else 0
                sp, dp = rng.randint(*spr), rng.randint(*dpr)
                proto = proto or rng.choice([6, 17])
            f.write(f"{s}\t{d}\t{sp}\t{dp}\t{proto}\t{k + 1}\n")


if __name__ == "__main__":
    main()
