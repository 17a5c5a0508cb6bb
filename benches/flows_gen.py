#!/usr/bin/env python3
"""A flow trace over any snapshot, for timing `secpath eval` end to end.

    flows_gen.py SNAPSHOT_DIR FLOWS SEED OUT.csv

reads every NIC address (`privateIPAddress`) in SNAPSHOT_DIR's JSON files and writes FLOWS
flows as CSV (protocol, src, src_port, dst, dst_port): half from a NIC, half from a random
Internet address, each to a NIC, on common service ports; one in five is ICMP, without
ports. Deterministic for a given seed.
"""
import json
import pathlib
import random
import sys

PORTS = [22, 53, 80, 443, 1433, 3389, 5432, 8080]


def addresses(node, found):
    """Every `privateIPAddress` value under `node`, into `found`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "privateIPAddress" and isinstance(value, str):
                found.add(value)
            else:
                addresses(value, found)
    elif isinstance(node, list):
        for item in node:
            addresses(item, found)


def main():
    snapshot, count, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    found = set()
    for path in sorted(pathlib.Path(snapshot).glob("*.json")):
        addresses(json.loads(path.read_text()), found)
    nics = sorted(found)
    if not nics:
        sys.exit(f"flows_gen.py: no privateIPAddress in {snapshot}/*.json")
    rng = random.Random(seed)
    with open(out, "w") as f:
        f.write("protocol,src,src_port,dst,dst_port\n")
        for _ in range(count):
            if rng.random() < 0.5:
                src = rng.choice(nics)
            else:
                src = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            dst = rng.choice(nics)
            protocol = rng.choice(["tcp", "tcp", "tcp", "udp", "icmp"])
            if protocol == "icmp":
                f.write(f"icmp,{src},,{dst},\n")
            else:
                f.write(f"{protocol},{src},{rng.randrange(1024, 65536)},{dst},{rng.choice(PORTS)}\n")


if __name__ == "__main__":
    main()
