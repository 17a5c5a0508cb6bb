#!/usr/bin/env python3
"""A realistic enterprise snapshot for benchmarks, and a flow trace over it.

    enterprise_gen.py OUT_DIR FLOWS SEED

writes OUT_DIR/snapshot/*.json (ARM resources: 1 management group, 2 subscriptions, a hub and
49 spoke VNets peered hub-and-spoke, 100 NSGs of 200 rules on subnets and NICs, 20 ASGs,
5,000 NICs, one network manager with 20 security admin rules in two collections) and
OUT_DIR/flows.csv (FLOWS flows between NICs, and between NICs and the Internet).
Deterministic for a given seed.
"""
import json
import os
import random
import sys

SUB = ["11111111-0000-4000-8000-00000000000a", "11111111-0000-4000-8000-00000000000b"]
PORTS = [22, 53, 80, 123, 443, 445, 1433, 3306, 3389, 5432, 6379, 8080, 8443, 9200]


def net_id(sub, rg, kind, name):
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}"


def nsg_rule(rng, nsg, i, direction, asgs):
    src = rng.choice(["*", "Internet", "VirtualNetwork", f"10.{rng.randrange(50)}.0.0/16",
                      f"10.{rng.randrange(50)}.{rng.randrange(4)}.0/24", f"{rng.randrange(1, 224)}.{rng.randrange(256)}.0.0/16"])
    dst = rng.choice(["*", "VirtualNetwork", f"10.{rng.randrange(50)}.{rng.randrange(4)}.0/24", f"10.{rng.randrange(50)}.{rng.randrange(4)}.{rng.randrange(4, 250)}"])
    p = {"protocol": rng.choice(["Tcp", "Tcp", "Udp", "*", "Icmp"]), "sourcePortRange": "*",
         "access": rng.choice(["Allow", "Allow", "Deny"]), "priority": 100 + i * 10, "direction": direction}
    if rng.random() < 0.1:
        p["destinationApplicationSecurityGroups"] = [{"id": rng.choice(asgs)}]
    else:
        p["destinationAddressPrefix"] = dst
    p["sourceAddressPrefix"] = src
    p["destinationPortRange"] = rng.choice([str(rng.choice(PORTS)), "*", f"{rng.randrange(1024, 30000)}-{rng.randrange(30000, 65536)}"])
    return {"name": f"r{i}-{direction[:2]}", "id": f"{nsg}/securityRules/r{i}-{direction[:2]}", "properties": p}


def main():
    out, flows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    os.makedirs(f"{out}/snapshot", exist_ok=True)
    mg = [{"id": "/providers/Microsoft.Management/managementGroups/ent-root", "type": "Microsoft.Management/managementGroups",
           "name": "ent-root", "properties": {"details": {"parent": None}}}]
    mg += [{"id": f"/subscriptions/{s}", "type": "Microsoft.Resources/subscriptions", "name": f"sub-{i}", "subscriptionId": s,
            "tags": {"env": "prod"}, "properties": {"managementGroupAncestorsChain": [{"name": "ent-root"}]}} for i, s in enumerate(SUB)]
    asgs = [net_id(SUB[1], "rg-app", "applicationSecurityGroups", f"asg-{i}") for i in range(20)]
    resources = [{"id": a, "type": "Microsoft.Network/applicationSecurityGroups", "name": a.rsplit("/", 1)[1]} for a in asgs]
    nsgs = []
    for n in range(100):
        nid = net_id(SUB[1], "rg-app", "networkSecurityGroups", f"nsg-{n}")
        rules = [nsg_rule(rng, nid, i, d, asgs) for d in ("Inbound", "Outbound") for i in range(100)]
        nsgs.append(nid)
        resources.append({"id": nid, "type": "Microsoft.Network/networkSecurityGroups", "name": f"nsg-{n}", "properties": {"securityRules": rules}})
    vnets, subnets = [], []
    for v in range(50):
        sub = SUB[0] if v == 0 else SUB[1]
        vid = net_id(sub, "rg-net", "virtualNetworks", "vnet-hub" if v == 0 else f"vnet-spoke-{v}")
        snets = []
        for s in range(4):
            sid = f"{vid}/subnets/snet-{s}"
            p = {"addressPrefix": f"10.{v}.{s}.0/24"}
            if rng.random() < 0.8:
                p["networkSecurityGroup"] = {"id": rng.choice(nsgs)}
            snets.append({"id": sid, "name": f"snet-{s}", "properties": p})
            subnets.append((sid, v, s))
        peers = [net_id(SUB[1], "rg-net", "virtualNetworks", f"vnet-spoke-{u}") for u in range(1, 50)] if v == 0 else [net_id(SUB[0], "rg-net", "virtualNetworks", "vnet-hub")]
        peerings = [{"id": f"{vid}/virtualNetworkPeerings/p{i}", "name": f"p{i}", "properties": {"remoteVirtualNetwork": {"id": p}, "peeringState": "Connected"}} for i, p in enumerate(peers)]
        vnets.append(vid)
        resources.append({"id": vid, "type": "Microsoft.Network/virtualNetworks", "name": vid.rsplit("/", 1)[1], "location": "westeurope",
                          "tags": {"role": "hub" if v == 0 else "spoke"},
                          "properties": {"addressSpace": {"addressPrefixes": [f"10.{v}.0.0/16"]}, "subnets": snets, "virtualNetworkPeerings": peerings}})
    ips = []
    for n in range(5000):
        sid, v, s = subnets[n % len(subnets)]
        ip = f"10.{v}.{s}.{4 + n // len(subnets)}"
        ips.append(ip)
        cfg = {"privateIPAddress": ip, "subnet": {"id": sid}}
        if rng.random() < 0.3:
            cfg["applicationSecurityGroups"] = [{"id": rng.choice(asgs)}]
        p = {"ipConfigurations": [{"name": "ipconfig1", "properties": cfg}]}
        if rng.random() < 0.3:
            p["networkSecurityGroup"] = {"id": rng.choice(nsgs)}
        resources.append({"id": net_id(SUB[1], "rg-app", "networkInterfaces", f"nic-{n}"), "type": "Microsoft.Network/networkInterfaces", "name": f"nic-{n}", "properties": p})
    mgr = net_id(SUB[0], "rg-avnm", "networkManagers", "avnm")
    admin = []
    for i in range(20):
        admin.append({"id": f"{mgr}/securityAdminConfigurations/sac/ruleCollections/rc-{i % 2}/rules/a{i}", "name": f"a{i}", "kind": "Custom",
                      "type": "Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections/rules",
                      "properties": {"protocol": rng.choice(["Tcp", "Udp", "Any"]), "access": rng.choice(["Deny", "Allow", "AlwaysAllow", "Deny"]),
                                     "priority": 10 + i * 5, "direction": rng.choice(["Inbound", "Outbound"]),
                                     "sources": [{"addressPrefixType": "ServiceTag" if i % 3 == 0 else "IPPrefix", "addressPrefix": "Internet" if i % 3 == 0 else f"10.{rng.randrange(50)}.0.0/16"}],
                                     "destinations": [{"addressPrefixType": "IPPrefix", "addressPrefix": "*"}],
                                     "sourcePortRanges": ["0-65535"], "destinationPortRanges": [str(rng.choice(PORTS))]}})
    avnm = [{"id": mgr, "type": "Microsoft.Network/networkManagers", "name": "avnm",
             "properties": {"networkManagerScopes": {"managementGroups": ["/providers/Microsoft.Management/managementGroups/ent-root"], "subscriptions": []},
                            "networkManagerScopeAccesses": ["SecurityAdmin"],
                            "networkGroups": [{"id": f"{mgr}/networkGroups/ng-all", "name": "ng-all", "properties": {"memberType": "VirtualNetwork",
                                               "staticMembers": [{"id": f"{mgr}/networkGroups/ng-all/staticMembers/m{i}", "name": f"m{i}", "properties": {"resourceId": v}} for i, v in enumerate(vnets)]}}],
                            "securityAdminConfigurations": [{"id": f"{mgr}/securityAdminConfigurations/sac", "name": "sac", "properties": {"ruleCollections": [
                                {"id": f"{mgr}/securityAdminConfigurations/sac/ruleCollections/rc-{c}", "name": f"rc-{c}", "properties": {"appliesToGroups": [{"networkGroupId": f"{mgr}/networkGroups/ng-all"}]}} for c in range(2)]}}]}}]
    for name, content in [("management", mg), ("network", resources), ("avnm", avnm + admin)]:
        with open(f"{out}/snapshot/{name}.json", "w") as f:
            json.dump({"value": content}, f)
    with open(f"{out}/flows.csv", "w") as f:
        f.write("protocol,src,src_port,dst,dst_port\n")
        for _ in range(flows):
            proto = rng.choice(["tcp", "tcp", "tcp", "udp", "icmp"])
            src = rng.choice(ips) if rng.random() < 0.7 else f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            dst = rng.choice(ips) if rng.random() < 0.85 else f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            if proto == "icmp":
                f.write(f"icmp,{src},,{dst},\n")
            else:
                f.write(f"{proto},{src},{rng.randrange(1024, 65536)},{dst},{rng.choice(PORTS) if rng.random() < 0.7 else rng.randrange(65536)}\n")


if __name__ == "__main__":
    main()
