//! One rule table of ~1,000 rules, 100,000 flows: `CompiledTable::first_match` against the
//! reference linear scan `eval::matching::first_match`, measured in the same run so the
//! ratio survives a noisy machine (STYLE.md practice 13).
//!
//! The table looks like a large NSG: prefixes inside a few /16s of 10.0.0.0/8 (lengths
//! /16–/32, some IPv6), single ports, port ranges and `*`, every protocol, a few ASG rules,
//! and a final deny-all so every flow is decided. Flows are drawn mostly from the rules'
//! own prefixes, so they meet the table's boundaries rather than empty space.
//!
//! `cargo bench --bench classify`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secpath::compile::CompiledTable;
use secpath::eval::matching::{first_match, EndpointAsgs};
use secpath::flow::Flow;
use secpath::model::{
    Access, AddrSet, Direction, PortRange, Protocol, ResourceId, Rule, RuleFields,
};
use secpath::options::AnyProtocol;
use secpath::resolve::{AddrMatch, ResolvedRule, RuleSource};
use smallvec::SmallVec;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

const RULES: usize = 1_000;
const FLOWS: usize = 100_000;

/// splitmix64, so every run measures the same table and flows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A prefix inside one of eight /16s of 10.0.0.0/8 (or, 10% of the time, an IPv6 /48–/128).
fn prefix(rng: &mut Rng) -> ipnet::IpNet {
    if rng.chance(10) {
        let addr = (0x2001_0db8u128 << 96) | (u128::from(rng.next()) << 32);
        let len = 48 + rng.below(81) as u8;
        return ipnet::Ipv6Net::new(Ipv6Addr::from(addr), len)
            .map(|n| n.trunc().into())
            .unwrap_or_else(|_| "::/0".parse().unwrap());
    }
    let addr = 0x0A00_0000 | ((rng.below(8) as u32) << 16) | (rng.next() as u32 & 0xFFFF);
    let len = 16 + rng.below(17) as u8;
    ipnet::Ipv4Net::new(Ipv4Addr::from(addr), len)
        .map(|n| n.trunc().into())
        .unwrap_or_else(|_| "0.0.0.0/0".parse().unwrap())
}

fn addresses(rng: &mut Rng) -> AddrMatch {
    let mut m = AddrMatch::default();
    if rng.chance(8) {
        m.set = AddrSet::all();
    } else {
        for _ in 0..1 + rng.below(3) {
            m.set.insert_net(prefix(rng));
        }
    }
    if rng.chance(5) {
        m.asgs.push(rng.below(6) as usize);
    }
    m
}

fn ports(rng: &mut Rng) -> SmallVec<[PortRange; 2]> {
    let well_known = [22, 53, 80, 443, 1433, 3389, 5432, 8080, 8443];
    match rng.below(10) {
        0..=2 => SmallVec::from_elem(PortRange::ALL, 1),
        3..=6 => (0..1 + rng.below(3))
            .map(|_| {
                let p = well_known[rng.below(well_known.len() as u64) as usize];
                PortRange { lo: p, hi: p }
            })
            .collect(),
        _ => {
            let lo = rng.below(60_000) as u16;
            SmallVec::from_elem(
                PortRange {
                    lo,
                    hi: lo + rng.below(5_000) as u16,
                },
                1,
            )
        }
    }
}

fn rule(
    i: usize,
    protocol: Protocol,
    sources: AddrMatch,
    destinations: AddrMatch,
    rng: &mut Rng,
) -> ResolvedRule {
    let (source_ports, destination_ports) = if rng.chance(80) {
        (SmallVec::from_elem(PortRange::ALL, 1), ports(rng))
    } else {
        (ports(rng), ports(rng))
    };
    ResolvedRule {
        rule: std::sync::Arc::new(Rule {
            id: ResourceId::new(&format!("/subscriptions/s/nsg/n/securityRules/r{i}")),
            name: format!("r{i}"),
            priority: 100 + i as u32,
            access: if rng.chance(50) {
                Access::Allow
            } else {
                Access::Deny
            },
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

fn table(rng: &mut Rng) -> Vec<ResolvedRule> {
    let protocols = [
        Protocol::Tcp,
        Protocol::Tcp,
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Any,
        Protocol::Icmp,
        Protocol::Esp,
        Protocol::Ah,
    ];
    let mut rules: Vec<ResolvedRule> = (0..RULES - 1)
        .map(|i| {
            let p = protocols[rng.below(protocols.len() as u64) as usize];
            let (s, d) = (addresses(rng), addresses(rng));
            rule(i, p, s, d, rng)
        })
        .collect();
    let all = AddrMatch {
        set: AddrSet::all(),
        asgs: SmallVec::new(),
    };
    let mut deny_all = rule(RULES - 1, Protocol::Any, all.clone(), all, rng);
    deny_all.source_ports = SmallVec::from_elem(PortRange::ALL, 1);
    deny_all.destination_ports = SmallVec::from_elem(PortRange::ALL, 1);
    rules.push(deny_all);
    rules
}

/// An address inside a random rule's prefix (or anywhere, 10% of the time).
fn address(rules: &[ResolvedRule], v6: bool, rng: &mut Rng) -> IpAddr {
    let any = if v6 {
        IpAddr::V6(Ipv6Addr::from(
            (0x2001_0db8u128 << 96) | u128::from(rng.next()),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | (rng.next() as u32 & 0x7_FFFF)))
    };
    if rng.chance(10) {
        return any;
    }
    let r = &rules[rng.below(rules.len() as u64) as usize];
    let field = if rng.chance(50) {
        &r.sources
    } else {
        &r.destinations
    };
    let nets: Vec<ipnet::IpNet> = field
        .set
        .to_cidrs()
        .into_iter()
        .filter(|n| n.addr().is_ipv6() == v6 && n.prefix_len() > 0)
        .collect();
    let Some(net) = nets.first() else { return any };
    match net {
        ipnet::IpNet::V4(n) => {
            let host = !u32::from(n.netmask()) & rng.next() as u32;
            IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | host))
        }
        ipnet::IpNet::V6(n) => {
            let host = !u128::from(n.netmask()) & u128::from(rng.next());
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | host))
        }
    }
}

fn flows(rules: &[ResolvedRule], rng: &mut Rng) -> Vec<Flow> {
    let protocols = [6u8, 6, 6, 6, 17, 17, 1, 58, 50, 47];
    (0..FLOWS)
        .map(|_| {
            let v6 = rng.chance(10);
            let protocol = protocols[rng.below(protocols.len() as u64) as usize];
            let ported = Flow::has_ports(protocol);
            let well_known = [22u16, 53, 80, 443, 1433, 3389, 8080];
            Flow {
                protocol,
                src: address(rules, v6, rng),
                src_port: ported.then(|| 1024 + rng.below(64_000) as u16),
                dst: address(rules, v6, rng),
                dst_port: ported.then(|| {
                    if rng.chance(70) {
                        well_known[rng.below(well_known.len() as u64) as usize]
                    } else {
                        rng.below(65_536) as u16
                    }
                }),
            }
        })
        .collect()
}

fn classify(c: &mut Criterion) {
    let mut rng = Rng(0xC1A5_51F1);
    let rules = table(&mut rng);
    let flows = flows(&rules, &mut rng);
    let any = AnyProtocol::All;
    let asgs = EndpointAsgs {
        src: &[1],
        dst: &[],
    };

    let started = Instant::now();
    let compiled = CompiledTable::new(&rules, any);
    let compile_time = started.elapsed();

    // Same-run ratio, and a check that the two engines agree on what is measured.
    let started = Instant::now();
    let fast: Vec<Option<usize>> = flows
        .iter()
        .map(|f| compiled.first_match(f, asgs))
        .collect();
    let fast_ns = started.elapsed().as_nanos() as f64 / flows.len() as f64;
    let sample = &flows[..2_000];
    let started = Instant::now();
    let slow: Vec<Option<usize>> = sample
        .iter()
        .map(|f| first_match(&rules, f, asgs, any))
        .collect();
    let slow_ns = started.elapsed().as_nanos() as f64 / sample.len() as f64;
    assert_eq!(&fast[..sample.len()], &slow[..], "the engines disagree");
    let mean_hit =
        fast.iter().map(|h| h.unwrap_or(RULES)).sum::<usize>() as f64 / fast.len() as f64;
    eprintln!(
        "{RULES} rules, {FLOWS} flows (mean first match at rule {mean_hit:.0}): compiled in {compile_time:?}, {} bytes; \
         compiled {fast_ns:.1} ns/lookup, linear {slow_ns:.0} ns/lookup, speedup {:.0}x",
        compiled.bytes(),
        slow_ns / fast_ns
    );

    let mut group = c.benchmark_group("first_match_1k_rules");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("compiled", |b| {
        b.iter(|| {
            i = (i + 1) % flows.len();
            black_box(compiled.first_match(black_box(&flows[i]), asgs))
        })
    });
    let mut i = 0;
    group.bench_function("linear", |b| {
        b.iter(|| {
            i = (i + 1) % flows.len();
            black_box(first_match(&rules, black_box(&flows[i]), asgs, any))
        })
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
