"""Generated NSG flow logs (version 2) against rulesets/contoso, for the Spark tests and the
benchmark: several PT1H.json blobs in the storage-account layout, inbound and outbound
tuples with B, C and E states, logged decisions as Azure would write them (and some that
disagree), a few malformed tuples and a record from an NSG the snapshot does not have, so
that every part of the summary has something to count."""

from __future__ import annotations

import json
import os
import random
from typing import List, Optional

NSG = (
    "/SUBSCRIPTIONS/8D2E4B7A-5C3F-4E19-A7D6-1F2E3D4C5B02/RESOURCEGROUPS/RG-WEB-WEU"
    "/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-SNET-WEB"
)
UNKNOWN_NSG = NSG.replace("NSG-SNET-WEB", "NSG-GONE")
MAC = "000D3A000001"

#: Inbound destination port -> (decision, rule) as logged.
INBOUND = [
    (443, "A", "UserRule_Allow-HTTPS-Internet"),
    (80, "A", "UserRule_Allow-HTTP-Internet"),
    (8080, "D", "UserRule_Deny-8080"),
    (25, "D", "DefaultRule_DenyAllInBound"),
    (22, "D", "DefaultRule_DenyAllInBound"),
    (3389, "A", "UserRule_Allow-HTTPS-Internet"),  # disagrees
]


def _outside(rng: random.Random) -> str:
    return f"{rng.choice([203, 198, 192])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _tuple(rng: random.Random, t: int, inbound: bool, dport: int, decision: str, pool=None) -> str:
    state = rng.choice("BBBCE")
    counts = ",,,," if state == "B" else f",{rng.randint(1, 50)},{rng.randint(60, 90000)},{rng.randint(1, 50)},{rng.randint(60, 90000)}"
    outside = rng.choice(pool) if pool else _outside(rng)
    sport = rng.randint(1024, 65535)
    if inbound:
        return f"{t},{outside},10.1.1.4,{sport},{dport},T,I,{decision},{state}{counts}"
    return f"{t},10.1.1.4,{outside},{sport},{dport},T,O,{decision},{state}{counts}"


def write_logs(
    root: str, tuples: int, files: int = 8, seed: int = 12, sources: Optional[int] = None
) -> List[str]:
    """Writes `files` blobs holding `tuples` tuples in all under `root` (storage layout);
    returns their paths. Remote addresses are random (nearly every denied flow distinct, the
    worst case for adding up), or drawn from `sources` addresses (flows repeat, as scanners
    and clients do)."""
    rng = random.Random(seed)
    pool = [_outside(rng) for _ in range(sources)] if sources else None
    per_file = tuples // files
    paths = []
    for f in range(files):
        day = os.path.join(
            root,
            "resourceId=" + NSG,
            "y=2026", "m=11", "d=30", f"h={f:02d}", "m=00", f"macAddress={MAC}",
        )
        os.makedirs(day, exist_ok=True)
        records = []
        left = per_file if f < files - 1 else tuples - per_file * (files - 1)
        t = 1764460800 + f * 3600
        while left > 0:
            groups = []
            for dport, decision, rule in INBOUND:
                n = min(left, 250)
                if n <= 0:
                    break
                left -= n
                flow_tuples = [_tuple(rng, t + i, True, dport, decision, pool) for i in range(n)]
                groups.append({"rule": rule, "flows": [{"mac": MAC, "flowTuples": flow_tuples}]})
            if left > 0:
                n = min(left, 250)
                left -= n
                out = [_tuple(rng, t + i, False, 443, "A", pool) for i in range(n)]
                groups.append({"rule": "DefaultRule_AllowInternetOutBound",
                               "flows": [{"mac": MAC, "flowTuples": out}]})
            records.append({
                "time": "2026-11-30T%02d:00:00.0000000Z" % f,
                "systemId": "00000000-0000-0000-0000-000000000001",
                "macAddress": MAC,
                "category": "NetworkSecurityGroupFlowEvent",
                "resourceId": NSG,
                "operationName": "NetworkSecurityGroupFlowEvents",
                "properties": {"Version": 2, "flows": groups},
            })
            t += 60
        # Things to skip: malformed tuples, and a record from an NSG not in the snapshot.
        records[0]["properties"]["flows"][0]["flows"][0]["flowTuples"][:2] = [
            f"{t},203.0.113.9,10.1.1.4,99999,443,T,I,A,B,,,,",
            f"{t},not-an-ip,10.1.1.4,5000,443,T,I,A,B,,,,",
        ]
        gone = json.loads(json.dumps(records[-1]))
        gone["resourceId"] = UNKNOWN_NSG
        gone["properties"]["flows"] = gone["properties"]["flows"][:1]
        gone["properties"]["flows"][0]["flows"][0]["flowTuples"] = [
            f"{t},203.0.113.9,10.1.1.4,5000,443,T,I,A,B,,,,"
        ]
        records.append(gone)
        path = os.path.join(day, "PT1H.json")
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"records": records}, out, separators=(",", ":"))
        paths.append(path)
    return paths
