//! The compiled engine against the reference evaluator (STYLE.md practice 3): at table level
//! on random rule tables and flows biased to rule boundaries, and at policy level on every
//! snapshot of the fixture suite and the Contoso ruleset, under several option sets.

use proptest::prelude::*;
use proptest::sample::Index;
use secpath::compile::{CompiledPolicy, CompiledTable};
use secpath::error::Location;
use secpath::eval::matching::{self, EndpointAsgs};
use secpath::eval::{self, Decided, Pins};
use secpath::flow::Flow;
use secpath::load::load_snapshot;
use secpath::model::{
    Access, AddrSet, AddressItem, Direction, IntentPolicySetting, IpConfig, MemberType,
    NetworkGroup, NetworkInterface, NetworkManager, NetworkSecurityGroup, Peering, PortRange,
    Protocol, ResourceId, Rule, RuleCollection, RuleFields, ScopeRef, SecurityAdminConfig,
    Snapshot, Subnet, VirtualNetwork,
};
use secpath::options::{
    AlwaysAllowScope, AnyProtocol, EmptyMatch, ManagerPrecedence, NoNsg, Options,
};
use secpath::resolve::tags::ServiceTags;
use secpath::resolve::{AddrMatch, Policy, ResolvedRule, RuleSource};
use smallvec::SmallVec;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------
// Table level
// ---------------------------------------------------------------------------------------

/// IPv4 bases that rules and flows share, so prefixes overlap and nest.
const V4_BASES: [u32; 6] = [
    0,
    0x0A00_0000,
    0x0A00_0100,
    0xC0A8_0000,
    0xA83F_8110,
    u32::MAX,
];
/// IPv6 bases likewise.
const V6_BASES: [u128; 5] = [
    0,
    0x2001_0db8 << 96,
    (0x2001_0db8 << 96) | (1 << 64),
    0xfe80 << 112 | 0x1234_5678_9abc,
    u128::MAX,
];

/// One address item of a generated rule.
#[derive(Clone, Debug)]
enum AddrItem {
    Any,
    V4Net(u32, u8),
    V6Net(u128, u8),
    V4Range(u32, u32),
    V6Range(u128, u128),
}

fn v4() -> impl Strategy<Value = u32> {
    prop_oneof![
        (prop::sample::select(&V4_BASES[..]), 0u32..600).prop_map(|(b, d)| b.wrapping_add(d)),
        any::<u32>(),
    ]
}

fn v6() -> impl Strategy<Value = u128> {
    prop_oneof![
        (prop::sample::select(&V6_BASES[..]), 0u128..600).prop_map(|(b, d)| b.wrapping_add(d)),
        any::<u128>(),
    ]
}

fn addr_item() -> impl Strategy<Value = AddrItem> {
    prop_oneof![
        1 => Just(AddrItem::Any),
        4 => (v4(), prop_oneof![Just(0u8), Just(8), Just(16), Just(23), Just(24), Just(31), Just(32), 0u8..=32])
            .prop_map(|(a, l)| AddrItem::V4Net(a, l)),
        3 => (v6(), prop_oneof![Just(0u8), Just(32), Just(64), Just(120), Just(127), Just(128), 0u8..=128])
            .prop_map(|(a, l)| AddrItem::V6Net(a, l)),
        1 => (v4(), v4()).prop_map(|(a, b)| AddrItem::V4Range(a.min(b), a.max(b))),
        1 => (v6(), v6()).prop_map(|(a, b)| AddrItem::V6Range(a.min(b), a.max(b))),
    ]
}

fn addr_match() -> impl Strategy<Value = AddrMatch> {
    (
        prop::collection::vec(addr_item(), 0..4),
        prop::collection::vec(0usize..4, 0..3),
    )
        .prop_map(|(items, asgs)| {
            let mut set = AddrSet::new();
            for item in items {
                match item {
                    AddrItem::Any => set = AddrSet::all(),
                    AddrItem::V4Net(a, l) => {
                        set.insert_net(ipnet::Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().into())
                    }
                    AddrItem::V6Net(a, l) => {
                        set.insert_net(ipnet::Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().into())
                    }
                    AddrItem::V4Range(a, b) => {
                        set.insert_range(Ipv4Addr::from(a).into(), Ipv4Addr::from(b).into())
                            .unwrap();
                    }
                    AddrItem::V6Range(a, b) => {
                        set.insert_range(Ipv6Addr::from(a).into(), Ipv6Addr::from(b).into())
                            .unwrap();
                    }
                }
            }
            AddrMatch {
                set,
                asgs: asgs.into_iter().collect(),
            }
        })
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(&[0u16, 1, 22, 80, 443, 1024, 3389, 65534, 65535][..]),
        any::<u16>(),
    ]
}

fn port_list() -> impl Strategy<Value = SmallVec<[PortRange; 2]>> {
    let range = prop_oneof![
        1 => Just(PortRange::ALL),
        3 => port().prop_map(|p| PortRange { lo: p, hi: p }),
        3 => (port(), port()).prop_map(|(a, b)| PortRange { lo: a.min(b), hi: a.max(b) }),
    ];
    prop::collection::vec(range, 0..4).prop_map(|v| v.into_iter().collect())
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop::sample::select(
        &[
            Protocol::Any,
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::Icmp,
            Protocol::Esp,
            Protocol::Ah,
        ][..],
    )
}

/// A resolved rule built directly, the way `resolve` builds one.
fn resolved(
    i: usize,
    protocol: Protocol,
    sources: AddrMatch,
    source_ports: SmallVec<[PortRange; 2]>,
    destinations: AddrMatch,
    destination_ports: SmallVec<[PortRange; 2]>,
) -> ResolvedRule {
    ResolvedRule {
        rule: std::sync::Arc::new(Rule {
            id: ResourceId::new(&format!("/subscriptions/s/nsg/n/securityRules/r{i}")),
            name: format!("r{i}"),
            priority: 100 + i as u32,
            access: Access::Allow,
            direction: Direction::Inbound,
            fields: RuleFields {
                protocol,
                sources: SmallVec::new(),
                source_ports: source_ports.clone(),
                destinations: SmallVec::new(),
                destination_ports: destination_ports.clone(),
            },
            is_default: false,
        }),
        source: RuleSource::Nsg { nsg: 0 },
        sources,
        source_ports,
        destinations,
        destination_ports,
    }
}

fn rules() -> impl Strategy<Value = Vec<ResolvedRule>> {
    let rule = (
        protocol(),
        addr_match(),
        port_list(),
        addr_match(),
        port_list(),
    );
    prop::collection::vec(rule, 1..=60).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (p, s, sp, d, dp))| resolved(i, p, s, sp, d, dp))
            .collect()
    })
}

/// Where a flow's address comes from.
#[derive(Clone, Debug)]
enum AddrPick {
    /// A rule boundary, moved by -1, 0 or +1.
    Boundary(Index, i8),
    V4(u32),
    V6(u128),
}

/// Where a flow's port comes from.
#[derive(Clone, Debug)]
enum PortPick {
    None,
    Boundary(Index, i8),
    Value(u16),
}

#[derive(Clone, Debug)]
struct FlowSeed {
    protocol: u8,
    src: AddrPick,
    src_port: PortPick,
    dst: AddrPick,
    dst_port: PortPick,
    src_asgs: Vec<usize>,
    dst_asgs: Vec<usize>,
}

fn addr_pick() -> impl Strategy<Value = AddrPick> {
    prop_oneof![
        6 => (any::<Index>(), -1i8..=1).prop_map(|(i, d)| AddrPick::Boundary(i, d)),
        1 => v4().prop_map(AddrPick::V4),
        1 => v6().prop_map(AddrPick::V6),
    ]
}

fn port_pick() -> impl Strategy<Value = PortPick> {
    prop_oneof![
        2 => Just(PortPick::None),
        5 => (any::<Index>(), -1i8..=1).prop_map(|(i, d)| PortPick::Boundary(i, d)),
        2 => port().prop_map(PortPick::Value),
    ]
}

fn flow_seeds() -> impl Strategy<Value = Vec<FlowSeed>> {
    let protocol = prop_oneof![
        prop::sample::select(&[0u8, 1, 6, 17, 47, 50, 51, 58, 255][..]),
        any::<u8>(),
    ];
    let seed = (
        protocol,
        addr_pick(),
        port_pick(),
        addr_pick(),
        port_pick(),
        prop::collection::vec(0usize..5, 0..7),
        prop::collection::vec(0usize..5, 0..7),
    )
        .prop_map(
            |(protocol, src, src_port, dst, dst_port, src_asgs, dst_asgs)| FlowSeed {
                protocol,
                src,
                src_port,
                dst,
                dst_port,
                src_asgs,
                dst_asgs,
            },
        );
    prop::collection::vec(seed, 1..48)
}

/// Every boundary of the rules' address sets and port lists.
fn boundaries(rules: &[ResolvedRule]) -> (Vec<IpAddr>, Vec<u16>) {
    let mut addrs = BTreeSet::new();
    let mut ports = BTreeSet::new();
    for r in rules {
        for m in [&r.sources, &r.destinations] {
            for net in m.set.to_cidrs() {
                addrs.insert(net.network());
                addrs.insert(net.broadcast());
            }
        }
        for p in r.source_ports.iter().chain(&r.destination_ports) {
            ports.insert(p.lo);
            ports.insert(p.hi);
        }
    }
    addrs.insert(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    addrs.insert(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    ports.insert(0);
    (addrs.into_iter().collect(), ports.into_iter().collect())
}

fn nudge_addr(a: IpAddr, d: i8) -> IpAddr {
    match a {
        IpAddr::V4(x) => IpAddr::V4(u32::from(x).wrapping_add_signed(i32::from(d)).into()),
        IpAddr::V6(x) => {
            let x = u128::from(x);
            IpAddr::V6(
                match d {
                    -1 => x.wrapping_sub(1),
                    1 => x.wrapping_add(1),
                    _ => x,
                }
                .into(),
            )
        }
    }
}

fn flow_of(seed: &FlowSeed, addrs: &[IpAddr], ports: &[u16]) -> Flow {
    let addr = |p: &AddrPick| match p {
        AddrPick::Boundary(i, d) => nudge_addr(*i.get(addrs), *d),
        AddrPick::V4(a) => IpAddr::V4((*a).into()),
        AddrPick::V6(a) => IpAddr::V6((*a).into()),
    };
    let port = |p: &PortPick| match p {
        PortPick::None => None,
        PortPick::Boundary(i, d) => Some(i.get(ports).wrapping_add_signed(i16::from(*d))),
        PortPick::Value(v) => Some(*v),
    };
    Flow {
        protocol: seed.protocol,
        src: addr(&seed.src),
        src_port: port(&seed.src_port),
        dst: addr(&seed.dst),
        dst_port: port(&seed.dst_port),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn table_first_match_equals_the_linear_scan(
        rules in rules(),
        seeds in flow_seeds(),
        all in any::<bool>(),
    ) {
        let any = if all { AnyProtocol::All } else { AnyProtocol::TcpUdpIcmp };
        let table = CompiledTable::new(&rules, any);
        let (addrs, ports) = boundaries(&rules);
        for seed in &seeds {
            let flow = flow_of(seed, &addrs, &ports);
            let asgs = EndpointAsgs { src: &seed.src_asgs, dst: &seed.dst_asgs };
            prop_assert_eq!(
                table.first_match(&flow, asgs),
                matching::first_match(&rules, &flow, asgs, any),
                "flow {} asgs {:?} / {:?}", flow, seed.src_asgs, seed.dst_asgs
            );
        }
    }

    /// Tables naming no ASG are looked up by a decision tree (IPv4 flows) and the
    /// bit-vectors of their IPv6 rules (other flows); one at a time and in batches.
    #[test]
    fn tree_table_first_match_equals_the_linear_scan(
        mut rules in rules(),
        seeds in flow_seeds(),
        all in any::<bool>(),
    ) {
        for rule in &mut rules {
            rule.sources.asgs.clear();
            rule.destinations.asgs.clear();
        }
        let any = if all { AnyProtocol::All } else { AnyProtocol::TcpUdpIcmp };
        let table = CompiledTable::new(&rules, any);
        let (addrs, ports) = boundaries(&rules);
        let flows: Vec<Flow> = seeds.iter().map(|s| flow_of(s, &addrs, &ports)).collect();
        let none = EndpointAsgs::default();
        let mut batch = vec![None; flows.len()];
        table.first_match_batch(&flows, none, &mut batch);
        for (flow, batched) in flows.iter().zip(batch) {
            let want = matching::first_match(&rules, flow, none, any);
            prop_assert_eq!(table.first_match(flow, none), want, "flow {}", flow);
            prop_assert_eq!(batched, want, "batched flow {}", flow);
        }
    }
}

#[test]
fn table_extremes_and_empty_lists() {
    let all = AddrMatch {
        set: AddrSet::all(),
        asgs: SmallVec::new(),
    };
    let none = AddrMatch::default();
    let top = AddrMatch {
        set: AddrSet::from_net("255.255.255.255/32".parse().unwrap()),
        asgs: SmallVec::new(),
    };
    let asg = AddrMatch {
        set: AddrSet::new(),
        asgs: SmallVec::from_elem(3, 1),
    };
    let ports = |lo, hi| SmallVec::from_elem(PortRange { lo, hi }, 1);
    let rules = vec![
        resolved(
            0,
            Protocol::Tcp,
            all.clone(),
            SmallVec::new(),
            all.clone(),
            ports(0, 65535),
        ),
        resolved(
            1,
            Protocol::Any,
            none,
            ports(0, 65535),
            all.clone(),
            ports(0, 65535),
        ),
        resolved(
            2,
            Protocol::Udp,
            top,
            ports(65535, 65535),
            all.clone(),
            ports(0, 0),
        ),
        resolved(
            3,
            Protocol::Icmp,
            all.clone(),
            SmallVec::new(),
            asg,
            SmallVec::new(),
        ),
        resolved(
            4,
            Protocol::Any,
            all.clone(),
            ports(0, 65535),
            all,
            ports(0, 65535),
        ),
    ];
    let table = CompiledTable::new(&rules, AnyProtocol::TcpUdpIcmp);
    let case = |text: &str, dst_asgs: &[usize]| {
        let flow = Flow::parse(text).unwrap();
        let asgs = EndpointAsgs {
            src: &[],
            dst: dst_asgs,
        };
        let want = matching::first_match(&rules, &flow, asgs, AnyProtocol::TcpUdpIcmp);
        assert_eq!(table.first_match(&flow, asgs), want, "{text}");
        want
    };
    assert_eq!(
        case("tcp 1.2.3.4:1 -> 5.6.7.8:2", &[]),
        Some(4),
        "rule 0's empty source ports match nothing"
    );
    assert_eq!(case("udp 255.255.255.255:65535 -> 1.1.1.1:0", &[]), Some(2));
    assert_eq!(case("udp 255.255.255.255:65534 -> 1.1.1.1:0", &[]), Some(4));
    assert_eq!(
        case("icmp 10.0.0.1 -> 10.0.0.2", &[3]),
        Some(3),
        "ports are ignored without ports"
    );
    assert_eq!(case("icmpv6 ::1 -> ::2", &[]), Some(4));
    assert_eq!(
        case("47 10.0.0.1 -> 10.0.0.2", &[]),
        None,
        "D3 tcp-udp-icmp"
    );
    assert_eq!(
        CompiledTable::new(&[], AnyProtocol::All).first_match(
            &Flow::parse("47 10.0.0.1 -> 10.0.0.2").unwrap(),
            EndpointAsgs::default()
        ),
        None
    );
}

// ---------------------------------------------------------------------------------------
// Policy level
// ---------------------------------------------------------------------------------------

/// splitmix64: a deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Every snapshot the suite knows.
fn snapshot_dirs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/cases"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path().join("snapshot")))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.push(root.join("rulesets/contoso"));
    dirs
}

/// The option sets each snapshot runs under: the defaults, then every switch flipped.
fn option_sets() -> Vec<Options> {
    let defaults = Options::new();
    vec![
        defaults.clone(),
        Options {
            any_protocol: AnyProtocol::TcpUdpIcmp,
            empty_match: EmptyMatch::None,
            no_nsg: NoNsg::Deny,
            ..defaults.clone()
        },
        Options {
            always_allow_scope: AlwaysAllowScope::Path,
            manager_precedence: ManagerPrecedence::Merged,
            no_nsg: NoNsg::Deny,
            ..defaults.clone()
        },
        Options {
            assume_deployed: false,
            lenient: true,
            ..defaults
        },
    ]
}

/// Builds the policy, with the sample service-tag file when the snapshot needs one.
fn build(snapshot: &Snapshot, options: &Options) -> Option<Policy> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Policy::build(snapshot.clone(), options.clone(), &ServiceTags::none())
        .or_else(|_| {
            let tags = ServiceTags::load(&root.join("fixtures/service-tags/sample.json"))?;
            Policy::build(snapshot.clone(), options.clone(), &tags)
        })
        .ok()
}

/// Addresses worth trying: NICs, VNet and subnet edges, on-premises, rule edges, the
/// Internet.
fn address_pool(policy: &Policy, rng: &mut Rng) -> Vec<IpAddr> {
    let s = &policy.snapshot;
    let mut pool = BTreeSet::new();
    for nic in &s.nics {
        pool.extend(nic.ip_configs.iter().map(|c| c.address));
    }
    let mut edges = |net: ipnet::IpNet, rng: &mut Rng| {
        let (lo, hi) = (net.network(), net.broadcast());
        pool.insert(lo);
        pool.insert(hi);
        pool.insert(nudge_addr(lo, -1));
        pool.insert(nudge_addr(hi, 1));
        pool.insert(nudge_addr(lo, 1));
        let inside = match (lo, hi) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let (a, b) = (u32::from(a) as u64, u32::from(b) as u64);
                IpAddr::V4(Ipv4Addr::from((a + rng.next() % (b - a + 1)) as u32))
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let (a, span) = (u128::from(a), u128::from(b) - u128::from(a));
                let r = (u128::from(rng.next()) << 64) | u128::from(rng.next());
                IpAddr::V6(Ipv6Addr::from(match span.checked_add(1) {
                    Some(n) => a + r % n,
                    None => r,
                }))
            }
            _ => lo,
        };
        pool.insert(inside);
    };
    for v in &s.vnets {
        for net in v.address_space.iter().chain(&v.on_premises.to_cidrs()) {
            edges(*net, rng);
        }
    }
    for sub in &s.subnets {
        for net in &sub.prefixes {
            edges(*net, rng);
        }
    }
    let rules = policy
        .nsg_rules
        .values()
        .flatten()
        .chain(policy.subnet_admin.iter().flat_map(|p| &p.rules))
        .chain(policy.vnets.iter().flat_map(|v| &v.admin.rules));
    for r in rules {
        for m in [&r.sources, &r.destinations] {
            for net in m.set.to_cidrs().into_iter().take(16) {
                edges(net, rng);
            }
        }
    }
    for text in [
        "8.8.8.8",
        "203.0.113.5",
        "20.38.5.5",
        "168.63.129.16",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "2001:db8::1",
        "fe80::1234:5678:9abc",
    ] {
        pool.insert(text.parse().unwrap());
    }
    for _ in 0..8 {
        pool.insert(IpAddr::V4(Ipv4Addr::from(rng.next() as u32)));
        pool.insert(IpAddr::V6(Ipv6Addr::from(u128::from(rng.next()) << 64)));
    }
    pool.into_iter().collect()
}

/// Ports worth trying: the usual ones and every rule port boundary with its neighbours.
fn port_pool(policy: &Policy) -> Vec<u16> {
    let mut pool: BTreeSet<u16> = [0, 1, 22, 80, 443, 1433, 3389, 50000, 65535].into();
    let rules = policy
        .nsg_rules
        .values()
        .flatten()
        .chain(policy.subnet_admin.iter().flat_map(|p| &p.rules));
    for r in rules {
        for p in r.source_ports.iter().chain(&r.destination_ports) {
            pool.extend([p.lo.saturating_sub(1), p.lo, p.hi, p.hi.saturating_add(1)]);
        }
    }
    pool.into_iter().collect()
}

/// A pin for `address`: mostly something holding it, sometimes anything, sometimes bogus.
fn pin_for(s: &Snapshot, address: IpAddr, rng: &mut Rng) -> Option<ResourceId> {
    if !rng.chance(12) {
        return None;
    }
    let mut related = Vec::new();
    for nic in &s.nics {
        for cfg in nic.ip_configs.iter().filter(|c| c.address == address) {
            related.push(nic.id.clone());
            related.push(s.subnets[cfg.subnet].id.clone());
            related.push(s.vnets[s.subnets[cfg.subnet].vnet].id.clone());
        }
    }
    for sub in &s.subnets {
        if sub.prefixes.iter().any(|p| p.contains(&address)) {
            related.push(sub.id.clone());
        }
    }
    for v in &s.vnets {
        if v.address_space.iter().any(|p| p.contains(&address)) {
            related.push(v.id.clone());
        }
    }
    if !related.is_empty() && rng.chance(70) {
        return Some(rng.pick(&related).clone());
    }
    let any: Vec<&ResourceId> = s
        .nics
        .iter()
        .map(|n| &n.id)
        .chain(s.subnets.iter().map(|x| &x.id))
        .chain(s.vnets.iter().map(|v| &v.id))
        .collect();
    if any.is_empty() || rng.chance(15) {
        return Some(ResourceId::new("/subscriptions/none/resourceGroups/none"));
    }
    Some((*rng.pick(&any)).clone())
}

fn flows(policy: &Policy, count: usize, rng: &mut Rng) -> Vec<(Flow, Pins)> {
    let addrs = address_pool(policy, rng);
    let nics: Vec<IpAddr> = policy
        .snapshot
        .nics
        .iter()
        .flat_map(|n| n.ip_configs.iter().map(|c| c.address))
        .collect();
    // NIC addresses often, so that NIC-to-NIC flows (ASGs, both NSG levels) are common.
    let address = |rng: &mut Rng| {
        if !nics.is_empty() && rng.chance(45) {
            *rng.pick(&nics)
        } else {
            *rng.pick(&addrs)
        }
    };
    let ports = port_pool(policy);
    let protocols = [6u8, 6, 6, 17, 17, 1, 58, 50, 51, 47, 0, 255];
    (0..count)
        .map(|_| {
            let src = address(rng);
            let mut dst = address(rng);
            for _ in 0..4 {
                if dst.is_ipv4() == src.is_ipv4() || rng.chance(3) {
                    break;
                }
                dst = address(rng);
            }
            let protocol = *rng.pick(&protocols);
            let ported = Flow::has_ports(protocol) != rng.chance(3);
            let port = |rng: &mut Rng| ported.then(|| *rng.pick(&ports));
            let flow = Flow {
                protocol,
                src,
                src_port: port(rng),
                dst,
                dst_port: port(rng),
            };
            let pins = Pins {
                from: pin_for(&policy.snapshot, src, rng),
                to: pin_for(&policy.snapshot, dst, rng),
            };
            (flow, pins)
        })
        .collect()
}

/// The flows (with their pins) of the fixture cases run against `snapshot`.
fn case_flows(snapshot: &std::path::Path) -> Vec<(Flow, Pins)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("fixtures/cases")).unwrap() {
        let file = entry.unwrap().path().join("cases.json");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let suite: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mine = suite["snapshot"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p.as_str().is_some_and(|p| root.join(p) == snapshot));
        if !mine {
            continue;
        }
        for case in suite["cases"].as_array().into_iter().flatten() {
            let Some(Ok(flow)) = case["flow"].as_str().map(Flow::parse) else {
                continue;
            };
            let args: Vec<&str> = case["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str())
                .collect();
            let pin = |flag: &str| {
                args.windows(2)
                    .find(|w| w[0] == flag)
                    .map(|w| ResourceId::new(w[1]))
            };
            out.push((
                flow,
                Pins {
                    from: pin("--from"),
                    to: pin("--to"),
                },
            ));
        }
    }
    out
}

fn same(a: &secpath::Result<Decided>, b: &secpath::Result<Decided>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(x), Err(y)) => x.to_string() == y.to_string(),
        _ => false,
    }
}

#[test]
fn policy_decide_equals_the_reference_walk() {
    let mut rng = Rng(0x5EC_9A7B);
    let mut built = 0;
    let mut checked = 0;
    let mut verdicts = BTreeSet::new();
    let mut problems = Vec::new();
    for dir in snapshot_dirs() {
        let snapshot = load_snapshot(std::slice::from_ref(&dir)).unwrap();
        for (k, options) in option_sets().iter().enumerate() {
            let Some(policy) = build(&snapshot, options) else {
                continue;
            };
            built += 1;
            let compiled = CompiledPolicy::new(&policy);
            assert!(compiled.stats().tables >= 2 * policy.subnet_admin.len());
            let count = if k == 0 { 1500 } else { 400 };
            let mut cases = case_flows(&dir);
            cases.extend(flows(&policy, count, &mut rng));
            for (flow, pins) in &cases {
                let want = eval::decide(&policy, flow, pins);
                let got = compiled.decide(flow, pins);
                checked += 1;
                match &want {
                    Ok(d) => verdicts.insert(format!("{:?}/{:?}/{:?}", d.verdict, d.layer, d.side)),
                    Err(_) => verdicts.insert("error".to_string()),
                };
                if !same(&want, &got) && problems.len() < 10 {
                    problems.push(format!(
                        "{} options #{k}: {flow} pins {pins:?}\n  reference {want:?}\n  compiled  {got:?}",
                        dir.display()
                    ));
                }
            }
            let unpinned: Vec<Flow> = cases.iter().map(|c| c.0).collect();
            let (mut batch, mut par) = (Vec::new(), Vec::new());
            compiled.decide_batch(&unpinned, &mut batch);
            compiled.decide_par(&unpinned, &mut par);
            assert_eq!(batch.len(), unpinned.len());
            assert_eq!(par.len(), unpinned.len());
            for ((flow, b), p) in unpinned.iter().zip(&batch).zip(&par) {
                let one = compiled.decide(flow, &Pins::default());
                assert!(
                    same(&one, b) && same(&one, p),
                    "{flow}: batch/par differ from decide"
                );
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(built >= 80, "only {built} policies built");
    // The flows must reach every kind of decision, or the comparison proves little.
    for want in [
        "Allow/None/None",
        "NoPath/Some(Path)/None",
        "Deny/Some(Admin)/Some(Source)",
        "Deny/Some(Admin)/Some(Destination)",
        "Deny/Some(Nsg)/Some(Source)",
        "Deny/Some(Nsg)/Some(Destination)",
        "error",
    ] {
        assert!(
            verdicts.contains(want),
            "no flow decided {want}: {verdicts:?}"
        );
    }
    assert!(checked > 40_000, "{checked}");
}

// ---------------------------------------------------------------------------------------
// Policy level, random estates: what the fixtures are too tidy to hold
// ---------------------------------------------------------------------------------------

const SUB: &str = "/subscriptions/00000000-0000-4000-8000-0000000000e5/resourceGroups/rg/providers/Microsoft.Network";

/// VNet address spaces, overlapping on purpose (10/8 holds the others).
const SPACES: [&str; 7] = [
    "10.0.0.0/16",
    "10.1.0.0/16",
    "10.0.0.0/8",
    "10.0.128.0/17",
    "192.168.0.0/24",
    "fd00::/48",
    "fd00:1::/48",
];

fn net(text: &str) -> ipnet::IpNet {
    text.parse().unwrap()
}

/// The `k`-th /24 (IPv4) or /64 (IPv6) block of `space`.
fn block(space: ipnet::IpNet, k: u8) -> ipnet::IpNet {
    match space {
        ipnet::IpNet::V4(n) => {
            let base = u32::from(n.network()) | (u32::from(k) << 8);
            ipnet::IpNet::V4(ipnet::Ipv4Net::new(base.into(), 24.max(n.prefix_len())).unwrap())
        }
        ipnet::IpNet::V6(n) => {
            let base = u128::from(n.network()) | (u128::from(k) << 64);
            ipnet::IpNet::V6(ipnet::Ipv6Net::new(base.into(), 64).unwrap().trunc())
        }
    }
}

fn host(prefix: ipnet::IpNet, h: u8) -> IpAddr {
    match prefix.network() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) | u32::from(h)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) | u128::from(h)).into()),
    }
}

fn random_address_item(
    rng: &mut Rng,
    prefixes: &[ipnet::IpNet],
    admin: bool,
    asgs: usize,
    groups: &[ResourceId],
) -> AddressItem {
    match rng.below(12) {
        0 => AddressItem::Any,
        1 => AddressItem::Tag("VirtualNetwork".into()),
        2 => AddressItem::Tag("Internet".into()),
        3 => AddressItem::Tag("AzureLoadBalancer".into()),
        4 if !admin && asgs > 0 => AddressItem::Asg(ResourceId::new(&format!(
            "{SUB}/applicationSecurityGroups/asg{}",
            rng.below(asgs)
        ))),
        4 | 5 if admin && !groups.is_empty() => AddressItem::NetworkGroup(rng.pick(groups).clone()),
        6 => AddressItem::Range(host(*rng.pick(prefixes), 4), host(*rng.pick(prefixes), 9)),
        7 => AddressItem::Net(net(rng.pick::<&str>(&[
            "0.0.0.0/0",
            "203.0.113.0/24",
            "8.8.8.8/32",
            "::/0",
            "192.168.0.0/16",
        ]))),
        _ => AddressItem::Net(*rng.pick(prefixes)),
    }
}

fn random_ports(rng: &mut Rng) -> SmallVec<[PortRange; 2]> {
    let ports = [0u16, 22, 80, 443, 1000, 3389, 65535];
    (0..rng.below(3))
        .map(|_| {
            let (a, b) = (*rng.pick(&ports), *rng.pick(&ports));
            if rng.chance(30) {
                PortRange::ALL
            } else {
                PortRange {
                    lo: a.min(b),
                    hi: a.max(b),
                }
            }
        })
        .collect()
}

fn random_rule(
    rng: &mut Rng,
    id: String,
    priority: u32,
    admin: bool,
    prefixes: &[ipnet::IpNet],
    asgs: usize,
    groups: &[ResourceId],
) -> Rule {
    let accesses: &[Access] = if admin {
        &[Access::Deny, Access::Allow, Access::AlwaysAllow]
    } else {
        &[Access::Deny, Access::Allow]
    };
    let items = |rng: &mut Rng| -> SmallVec<[AddressItem; 2]> {
        (0..rng.below(3) + usize::from(rng.chance(80)))
            .map(|_| random_address_item(rng, prefixes, admin, asgs, groups))
            .collect()
    };
    Rule {
        name: ResourceId::new(&id).name().to_string(),
        id: ResourceId::new(&id),
        priority,
        access: *rng.pick(accesses),
        direction: if rng.chance(50) {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        fields: RuleFields {
            protocol: *rng.pick(&[
                Protocol::Any,
                Protocol::Any,
                Protocol::Tcp,
                Protocol::Udp,
                Protocol::Icmp,
                Protocol::Esp,
                Protocol::Ah,
            ]),
            sources: items(rng),
            source_ports: random_ports(rng),
            destinations: items(rng),
            destination_ports: random_ports(rng),
        },
        is_default: false,
    }
}

fn location() -> Location {
    Location {
        file: PathBuf::from("random-estate"),
        path: String::new(),
    }
}

/// A small estate with overlapping VNets, NICs holding the same address, NICs outside their
/// subnet's prefixes, on-premises prefixes, Standard public IPs, private endpoints, exempt
/// subnets, intent-policy delegations, ASGs, NSGs at both levels and one network manager.
fn random_estate(rng: &mut Rng) -> Snapshot {
    let mut s = Snapshot::default();
    let vnets = 1 + rng.below(4);
    let asgs = rng.below(4);
    s.asgs = (0..asgs)
        .map(|a| ResourceId::new(&format!("{SUB}/applicationSecurityGroups/asg{a}")))
        .collect();
    let mut prefixes = Vec::new();
    for v in 0..vnets {
        let space: Vec<ipnet::IpNet> = (0..1 + rng.below(2))
            .map(|_| net(rng.pick::<&str>(&SPACES)))
            .collect();
        let mut on_premises = AddrSet::new();
        if rng.chance(30) {
            on_premises.insert_net(net(rng.pick::<&str>(&[
                "172.16.0.0/12",
                "198.51.100.0/24",
                "fd10::/48",
            ])));
        }
        s.vnets.push(VirtualNetwork {
            id: ResourceId::new(&format!("{SUB}/virtualNetworks/vnet{v}")),
            name: format!("vnet{v}"),
            location: if rng.chance(70) {
                "westeurope".into()
            } else {
                "northeurope".into()
            },
            tags: Default::default(),
            address_space: space.clone(),
            subnets: Vec::new(),
            peerings: Vec::new(),
            on_premises,
        });
        for sn in 0..1 + rng.below(3) {
            let within = *rng.pick(&space);
            let prefix = if rng.chance(90) {
                block(within, rng.next() as u8 % 3)
            } else {
                net("203.0.113.0/24")
            };
            prefixes.push(prefix);
            let name = match rng.below(10) {
                0 => "GatewaySubnet".to_string(),
                1 => "azurebastionsubnet".to_string(),
                _ => format!("snet{sn}"),
            };
            let index = s.subnets.len();
            s.subnets.push(Subnet {
                id: ResourceId::new(&format!("{SUB}/virtualNetworks/vnet{v}/subnets/{name}")),
                name,
                vnet: v,
                prefixes: vec![prefix],
                nsg: None,
                delegations: if rng.chance(10) {
                    vec!["Microsoft.Sql/managedInstances".into()]
                } else {
                    Vec::new()
                },
            });
            s.vnets[v].subnets.push(index);
        }
    }
    for a in 0..vnets {
        for b in 0..vnets {
            if a != b && rng.chance(40) {
                let remote = s.vnets[b].id.clone();
                s.vnets[a].peerings.push(Peering {
                    remote,
                    connected: rng.chance(85),
                });
            }
        }
    }
    let nsgs = rng.below(4);
    for n in 0..nsgs {
        let id = format!("{SUB}/networkSecurityGroups/nsg{n}");
        let rules = (0..rng.below(12))
            .map(|r| {
                let rule = random_rule(
                    rng,
                    format!("{id}/securityRules/r{r}"),
                    100 + 10 * r as u32,
                    false,
                    &prefixes,
                    asgs,
                    &[],
                );
                (rule, location())
            })
            .collect();
        s.nsgs.push(NetworkSecurityGroup {
            id: ResourceId::new(&id),
            name: format!("nsg{n}"),
            rules,
        });
    }
    let maybe_nsg = |rng: &mut Rng| (nsgs > 0 && rng.chance(60)).then(|| rng.below(nsgs));
    for sub in 0..s.subnets.len() {
        s.subnets[sub].nsg = maybe_nsg(rng);
    }
    let mut held: Vec<IpAddr> = Vec::new();
    for n in 0..rng.below(7) {
        let ip_configs = (0..1 + usize::from(rng.chance(25)))
            .map(|_| {
                let subnet = rng.below(s.subnets.len());
                let address = if !held.is_empty() && rng.chance(20) {
                    *rng.pick(&held)
                } else if rng.chance(8) {
                    host(*rng.pick(&prefixes), 200)
                } else {
                    host(s.subnets[subnet].prefixes[0], 4 + rng.below(3) as u8)
                };
                held.push(address);
                IpConfig {
                    address,
                    subnet,
                    asgs: (0..asgs).filter(|_| rng.chance(40)).collect(),
                }
            })
            .collect();
        s.nics.push(NetworkInterface {
            id: ResourceId::new(&format!("{SUB}/networkInterfaces/nic{n}")),
            name: format!("nic{n}"),
            ip_configs,
            nsg: maybe_nsg(rng),
            private_endpoint: rng.chance(10),
            standard_public_ip: rng.chance(40),
        });
    }
    if rng.chance(75) {
        let manager = format!("{SUB}/networkManagers/nm");
        let vnet_group = ResourceId::new(&format!("{manager}/networkGroups/g-vnets"));
        let subnet_group = ResourceId::new(&format!("{manager}/networkGroups/g-subnets"));
        let groups = vec![
            NetworkGroup {
                id: vnet_group.clone(),
                member_type: MemberType::VirtualNetwork,
                static_members: s
                    .vnets
                    .iter()
                    .filter(|_| rng.chance(70))
                    .map(|v| v.id.clone())
                    .collect(),
            },
            NetworkGroup {
                id: subnet_group.clone(),
                member_type: MemberType::Subnet,
                static_members: s
                    .subnets
                    .iter()
                    .filter(|_| rng.chance(40))
                    .map(|x| x.id.clone())
                    .collect(),
            },
        ];
        let group_ids = [vnet_group, subnet_group];
        let config = format!("{manager}/securityAdminConfigurations/sac");
        let collections = (0..1 + rng.below(2))
            .map(|c| {
                let id = format!("{config}/ruleCollections/rc{c}");
                RuleCollection {
                    id: ResourceId::new(&id),
                    applies_to: group_ids
                        .iter()
                        .filter(|_| rng.chance(70))
                        .cloned()
                        .collect(),
                    rules: (0..rng.below(8))
                        .map(|r| {
                            let priority = 1 + rng.below(6) as u32;
                            (
                                random_rule(
                                    rng,
                                    format!("{id}/rules/a{r}"),
                                    priority,
                                    true,
                                    &prefixes,
                                    0,
                                    &group_ids,
                                ),
                                location(),
                            )
                        })
                        .collect(),
                }
            })
            .collect();
        s.managers.push(NetworkManager {
            id: ResourceId::new(&manager),
            scopes: vec![ScopeRef::Subscription(
                "00000000-0000-4000-8000-0000000000e5".into(),
            )],
            security_admin: true,
            groups,
            scope_connections: Vec::new(),
            security_configs: vec![SecurityAdminConfig {
                id: ResourceId::new(&config),
                intent_policy: *rng.pick(&[
                    IntentPolicySetting::None,
                    IntentPolicySetting::All,
                    IntentPolicySetting::AllowRulesOnly,
                ]),
                collections,
            }],
            connectivity_configs: Vec::new(),
        });
    }
    s
}

#[test]
fn random_estates_decide_like_the_reference_walk() {
    let mut rng = Rng(0xE57A7E);
    let sets = option_sets();
    let mut closed = 0;
    let mut verdicts = BTreeSet::new();
    let mut problems = Vec::new();
    for estate in 0..150 {
        let snapshot = random_estate(&mut rng);
        let options = &sets[estate % sets.len()];
        let policy = Policy::build(snapshot, options.clone(), &ServiceTags::none()).unwrap();
        let compiled = CompiledPolicy::new(&policy);
        for (flow, pins) in flows(&policy, 250, &mut rng) {
            let want = eval::decide(&policy, &flow, &pins);
            let got = compiled.decide(&flow, &pins);
            match &want {
                Ok(d) => verdicts.insert(format!("{:?}/{:?}/{:?}", d.verdict, d.layer, d.side)),
                Err(_) => verdicts.insert("error".to_string()),
            };
            let nic_denied = |d: &Decided| {
                d.resource
                    .as_ref()
                    .is_some_and(|r| r.as_str().contains("/networkInterfaces/"))
            };
            closed += usize::from(want.as_ref().is_ok_and(nic_denied));
            if !same(&want, &got) && problems.len() < 10 {
                problems.push(format!(
                    "estate #{estate}: {flow} pins {pins:?}\n  reference {want:?}\n  compiled  {got:?}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(verdicts.len(), 7, "every kind of decision: {verdicts:?}");
    assert!(
        closed > 0,
        "no flow met a Standard public IP closed without an NSG (D7)"
    );
}
