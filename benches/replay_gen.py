#!/usr/bin/env python3
"""Generates replay benchmark inputs for the bundled Contoso estate (rulesets/contoso).

    replay_gen.py nsg   TUPLES OUT.json   NSG flow log v2: records of 1,000 tuples at nsg-snet-web
    replay_gen.py pcap  PACKETS OUT.pcap  64-byte Ethernet/IPv4/TCP frames, 4,096 connections
    replay_gen.py imix  PACKETS OUT.pcap  IMIX frames (64/576/1500 bytes, 7:4:1), same flows

Flows go from public addresses to the web tier (10.1.1.4, 10.1.1.5) on 443 (allowed), 8080
and 22 (denied), and back, so replay exercises allows, denies, connection tracking and replies.
Deterministic: the same arguments give the same bytes.
"""
import json
import random
import struct
import sys

NSG = ("/SUBSCRIPTIONS/8D2E4B7A-5C3F-4E19-A7D6-1F2E3D4C5B02/RESOURCEGROUPS/RG-WEB-WEU/"
       "PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-SNET-WEB")
TARGETS = ["10.1.1.4", "10.1.1.5"]
PORTS = [(443, "UserRule_Allow-HTTPS-Internet", "A"),
         (8080, "UserRule_Deny-8080", "D"),
         (22, "DefaultRule_DenyAllInBound", "D")]


def nsg_log(tuples, out):
    rng = random.Random(1)
    records, t = [], 1764500000
    for start in range(0, tuples, 1000):
        by_rule = {}
        for _ in range(min(1000, tuples - start)):
            port, rule, decision = PORTS[rng.randrange(3) if rng.random() < 0.3 else 0]
            src = f"203.0.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            state = rng.choice("BCE") if decision == "A" else "B"
            counters = ",,," if state == "B" else f"{rng.randrange(1, 99)},{rng.randrange(99, 9999)},{rng.randrange(1, 99)},{rng.randrange(99, 9999)}"
            by_rule.setdefault(rule, []).append(
                f"{t},{src},{rng.choice(TARGETS)},{rng.randrange(1024, 65535)},{port},T,I,{decision},{state},{counters}")
            t += 1
        records.append({
            "time": "2025-11-30T10:00:00.0000000Z", "macAddress": "000D3A000001",
            "category": "NetworkSecurityGroupFlowEvent", "resourceId": NSG,
            "operationName": "NetworkSecurityGroupFlowEvents",
            "properties": {"Version": 2, "flows": [
                {"rule": rule, "flows": [{"mac": "000D3A000001", "flowTuples": tl}]}
                for rule, tl in by_rule.items()]}})
    with open(out, "w") as f:
        json.dump({"records": records}, f)


def frame(src, dst, sport, dport, flags, size):
    """An Ethernet/IPv4/TCP frame of `size` bytes (payload zero-filled)."""
    ip_len = size - 14
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 65535, 0, 0)
    return b"\x00\x0d\x3a\x00\x00\x01\x12\x34\x56\x78\x9a\xbc\x08\x00" + ip + tcp + bytes(ip_len - 40)


def capture(packets, out, sizes):
    rng = random.Random(2)
    flows = []
    for i in range(4096):
        port = PORTS[0][0] if i % 10 < 7 else PORTS[1 + i % 2][0]
        client = bytes([203, 0, (i >> 8) & 255, (i & 255) or 1])
        server = bytes([10, 1, 1, 4 + (i & 1)])
        flows.append((client, server, 1024 + i, port))
    cache = {}
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n in range(packets):
            i = n % len(flows)
            rnd = n // len(flows)
            client, server, sport, dport = flows[i]
            size = sizes[rng.randrange(len(sizes))]
            if rnd == 0:
                key = (i, 0x02, size, 0)                     # SYN
            elif rnd % 2:
                key = (i, 0x12 if rnd == 1 else 0x10, size, 1)  # reply
            else:
                key = (i, 0x10, size, 0)
            data = cache.get(key)
            if data is None:
                flags, reply = key[1], key[3]
                data = (frame(server, client, dport, sport, flags, size) if reply
                        else frame(client, server, sport, dport, flags, size))
                if len(cache) < 200_000:
                    cache[key] = data
            f.write(struct.pack("<IIII", 1764500000 + n // 100000, n % 1000000, len(data), len(data)))
            f.write(data)


def main():
    kind, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if kind == "nsg":
        nsg_log(count, out)
    elif kind == "pcap":
        capture(count, out, [64])
    elif kind == "imix":
        capture(count, out, [64] * 7 + [576] * 4 + [1500])
    else:
        sys.exit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
