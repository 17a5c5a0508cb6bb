//! Exposure: what sources outside Azure can reach at each NIC, and at each subnet without
//! NICs, through the whole path (destination admin rules, then the subnet's and the NIC's
//! NSGs, with D5 and D7 as `eval` applies them).
//!
//! The sources are the public unicast addresses that `locate` places outside every VNet
//! and on-premises prefix (or a given set). Exposure is semantic: an NSG Allow that an
//! admin Deny overrides exposes nothing, and an admin AlwaysAllow from the Internet
//! exposes even when the NSGs would deny. The high-risk ports are those Checkov,
//! tfsec/Trivy, KICS and the Azure Security Benchmark check; reaching one of them, or
//! every TCP or UDP port, is an error; any other exposure is a note. Flows from outside
//! whose verdict a plan's unknown values leave open are a `cannot-decide` finding of their
//! own, naming the rules: they are neither exposed nor safe.

use super::admin::pinned;
use super::findings::{Finding, FindingKind, Region, Severity};
use super::paths::Engine;
use super::zones::ZoneKind;
use crate::eval::{self, Pins, Verdict};
use crate::flow::proto;
use crate::flowspace::{FlowSet, Ranges};
use crate::model::{AddrSet, Direction};

/// A high-risk service: name, protocol, first and last port.
type RiskyPort = (&'static str, u8, u16, u16);

/// The high-risk ports the issue lists (SSH, RDP, SMB, databases, remote management...).
pub const HIGH_RISK_PORTS: [RiskyPort; 19] = [
    ("FTP", proto::TCP, 21, 21),
    ("SSH", proto::TCP, 22, 22),
    ("Telnet", proto::TCP, 23, 23),
    ("NetBIOS", proto::TCP, 137, 139),
    ("NetBIOS", proto::UDP, 137, 139),
    ("LDAP", proto::TCP, 389, 389),
    ("LDAP", proto::UDP, 389, 389),
    ("SMB", proto::TCP, 445, 445),
    ("SQL Server", proto::TCP, 1433, 1433),
    ("Docker", proto::TCP, 2375, 2376),
    ("MySQL", proto::TCP, 3306, 3306),
    ("RDP", proto::TCP, 3389, 3389),
    ("RDP", proto::UDP, 3389, 3389),
    ("PostgreSQL", proto::TCP, 5432, 5432),
    ("WinRM", proto::TCP, 5985, 5986),
    ("Redis", proto::TCP, 6379, 6379),
    ("Kubernetes API", proto::TCP, 6443, 6443),
    ("Elasticsearch", proto::TCP, 9200, 9200),
    ("MongoDB", proto::TCP, 27017, 27017),
];

/// Exposure findings for every NIC and every subnet without NICs.
pub(crate) fn exposure(
    engine: &Engine,
    sources: Option<&AddrSet>,
    max_regions: usize,
) -> Vec<Finding> {
    let outside: Vec<usize> = (0..engine.zones.len())
        .filter(|&z| engine.zones[z].kind.outside_azure())
        .collect();
    let mut out = Vec::new();
    for d in (0..engine.zones.len()).filter(|&d| exposed_kind(engine, d)) {
        let mut allowed = FlowSet::empty();
        let mut unknown = FlowSet::empty();
        let mut rules = Vec::new();
        for &s in &outside {
            let from = source_set(engine, s, d, sources);
            if from.is_empty() {
                continue;
            }
            let space = FlowSet::src_in(&from).intersect(&FlowSet::dst_in(&engine.zones[d].addrs));
            let verdicts = engine.verdicts(s, d, &space);
            allowed = allowed.union(&verdicts.allow);
            if !verdicts.unknown.is_empty() {
                rules.extend(
                    engine
                        .classes(s, d, &verdicts.unknown)
                        .into_iter()
                        .filter(|(c, _)| c.verdict == Verdict::Unknown)
                        .filter_map(|(c, _)| c.resource.map(|r| r.to_string())),
                );
                unknown = unknown.union(&verdicts.unknown);
            }
        }
        if !allowed.is_empty() {
            out.push(finding(engine, d, &allowed, max_regions));
        }
        if !unknown.is_empty() {
            rules.sort();
            rules.dedup();
            out.push(undecided(engine, d, &unknown, rules, max_regions));
        }
    }
    out
}

/// Flows from outside to zone `d` that rules a plan does not know in full leave open.
fn undecided(
    engine: &Engine,
    d: usize,
    unknown: &FlowSet,
    rules: Vec<String>,
    max_regions: usize,
) -> Finding {
    let zone = &engine.zones[d];
    let names: Vec<String> = rules
        .iter()
        .map(|r| crate::model::ResourceId::new(r).name().to_string())
        .collect();
    let id = zone
        .id
        .as_ref()
        .map_or_else(String::new, ToString::to_string);
    let message = format!(
        "whether {} is reachable from outside Azure cannot be decided for some flows: the plan does not know all of rule {}",
        zone.name,
        names.join(", ")
    );
    let decomposition = unknown.cubes(max_regions);
    let mut f =
        Finding::new(FindingKind::CannotDecide, id, message).with_related("unknown-rule", rules);
    f.address = nic_address(engine, d);
    f.regions = decomposition.cubes.iter().map(Region::of).collect();
    f.regions_truncated = !decomposition.complete;
    if let (Some(flow), Some(pin)) = (unknown.witness(), zone.id.clone()) {
        f.witness = Some(pinned(flow, pin, Direction::Inbound));
    }
    f
}

/// The address of zone `d` when it is one address of a NIC.
fn nic_address(engine: &Engine, d: usize) -> Option<String> {
    let zone = &engine.zones[d];
    (zone.kind == ZoneKind::Nic)
        .then(|| zone.addrs.to_cidrs().first().map(|n| n.addr().to_string()))
        .flatten()
}

/// NICs, and subnets that hold no NIC.
fn exposed_kind(engine: &Engine, d: usize) -> bool {
    let z = &engine.zones[d];
    match z.kind {
        ZoneKind::Nic => true,
        ZoneKind::Subnet => !engine
            .zones
            .iter()
            .any(|o| o.kind == ZoneKind::Nic && o.subnet == z.subnet),
        _ => false,
    }
}

/// Subnets Azure reserves for its own services (gateways, Bastion, Firewall, Route
/// Server): what reaches them is the service's concern, so their exposure is a note.
const MANAGED_SUBNETS: [&str; 4] = [
    "GatewaySubnet",
    "AzureBastionSubnet",
    "AzureFirewallSubnet",
    "RouteServerSubnet",
];

fn managed_subnet(engine: &Engine, d: usize) -> Option<&'static str> {
    let x = engine.zones[d]
        .subnet
        .filter(|_| engine.zones[d].kind == ZoneKind::Subnet)?;
    let name = &engine.spaces.policy.snapshot.subnets[x].name;
    MANAGED_SUBNETS
        .into_iter()
        .find(|m| m.eq_ignore_ascii_case(name))
}

/// The sources in outside zone `s` for destination zone `d`: the given set, or else what
/// the `Internet` service tag means at `d`'s VNet (public unicast space that is not
/// `VirtualNetwork` there: not the VNet, its peers, on-premises or Azure's host address).
fn source_set(engine: &Engine, s: usize, d: usize, given: Option<&AddrSet>) -> AddrSet {
    let zone = &engine.zones[s];
    let keep = match (given, engine.zones[d].vnet) {
        (Some(g), _) => g.clone(),
        (None, Some(v)) if zone.kind == ZoneKind::Internet => {
            engine.spaces.policy.vnets[v].internet.clone()
        }
        (None, _) => return AddrSet::new(),
    };
    let mut drop = AddrSet::all();
    drop.subtract(&keep);
    let mut set = zone.addrs.clone();
    set.subtract(&drop);
    set
}

/// The high-risk services reachable in `allowed`, and whether every TCP or UDP port is.
fn risks(allowed: &FlowSet) -> (Vec<(String, FlowSet)>, Option<FlowSet>) {
    let mut hits: Vec<(String, FlowSet)> = Vec::new();
    for (name, p, lo, hi) in HIGH_RISK_PORTS {
        let ports = Ranges::from_intervals([(u128::from(lo), u128::from(hi))]);
        let set = allowed.intersect(&FlowSet::dst_ports(&Ranges::single(u128::from(p)), &ports));
        if !set.is_empty() {
            let port = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            };
            let which = if p == proto::TCP { "tcp" } else { "udp" };
            hits.push((format!("{name} ({port}/{which})"), set));
        }
    }
    let every = allowed
        .intersect(&FlowSet::ported())
        .with_every_dst_port()
        .intersect(&FlowSet::ported());
    (hits, (!every.is_empty()).then_some(every))
}

fn finding(engine: &Engine, d: usize, allowed: &FlowSet, max_regions: usize) -> Finding {
    let zone = &engine.zones[d];
    let (hits, every) = risks(allowed);
    let decomposition = allowed.cubes(max_regions);
    let mut what: Vec<String> = hits.iter().map(|(n, _)| n.clone()).collect();
    if every.is_some() {
        what.insert(0, "every port of TCP or UDP".to_string());
    }
    let risky = !what.is_empty();
    let message = if risky {
        format!(
            "{} is reachable from outside Azure on {}",
            zone.name,
            what.join(", ")
        )
    } else {
        let shown: Vec<String> = decomposition
            .cubes
            .iter()
            .take(3)
            .map(|c| c.render(2))
            .collect();
        format!(
            "{} is reachable from outside Azure: {}",
            zone.name,
            shown.join("; ")
        )
    };
    let id = zone
        .id
        .as_ref()
        .map_or_else(String::new, ToString::to_string);
    let managed = managed_subnet(engine, d);
    let message = match managed {
        Some(name) => format!("{message} ({name} hosts an Azure-managed service, which guards it)"),
        None => message,
    };
    let mut f = Finding::new(FindingKind::Exposure, id, message);
    f.address = nic_address(engine, d);
    f.severity = if risky && managed.is_none() {
        Severity::Error
    } else {
        Severity::Note
    };
    f.regions = decomposition.cubes.iter().map(Region::of).collect();
    f.regions_truncated = !decomposition.complete;
    // One sample flow per risky service (or the whole allowed set): the first is the
    // witness, and the rules admitting each are named, so that every rule opening a
    // management port appears, not only the witness's.
    let mut samples: Vec<FlowSet> = hits.into_iter().map(|(_, s)| s).chain(every).collect();
    if samples.is_empty() {
        samples.push(allowed.clone());
    }
    let Some(pin) = zone.id.clone() else {
        return f;
    };
    let pins = Pins {
        from: None,
        to: Some(pin.clone()),
    };
    let mut admitting: Vec<String> = Vec::new();
    for flow in samples.iter().filter_map(FlowSet::witness) {
        let explained = eval::explain(engine.spaces.policy, &flow, &pins);
        let allowed_by = explained
            .iter()
            .filter(|e| e.verdict == Verdict::Allow)
            .flat_map(|e| e.allowed_by.iter().filter_map(|a| a.resource.clone()));
        for rule in allowed_by {
            if !admitting.contains(&rule) {
                admitting.push(rule);
            }
        }
        f.witness
            .get_or_insert_with(|| pinned(flow, pin.clone(), Direction::Inbound));
    }
    f.with_related("allowed-by", admitting)
}
