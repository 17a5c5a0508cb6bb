//! `secpath audit` and `secpath diff` at library level: fixtures where each finding must
//! and must not appear, witnesses checked with `explain`, and property tests.

use secpath::audit::{self, AuditOptions, AuditReport, DiffOptions, FindingKind};
use secpath::load::load_snapshot;
use secpath::options::Options;
use secpath::resolve::tags::ServiceTags;
use secpath::resolve::Policy;
use std::path::PathBuf;
use std::time::Instant;

fn policy(paths: &[&str]) -> Policy {
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| super::support::root().join(p))
        .collect();
    let snapshot = load_snapshot(&paths).expect("fixture loads");
    Policy::build(snapshot, Options::new(), &ServiceTags::none()).expect("fixture resolves")
}

#[test]
fn contoso_audit() {
    let p = policy(&["rulesets/contoso"]);
    let t = Instant::now();
    let report: AuditReport = audit::audit(&p, &AuditOptions::default());
    eprintln!("contoso audit: {:?}", t.elapsed());
    eprintln!("{}", audit::text::audit_text(&report));
    assert!(report
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Exposure));
}

#[test]
fn contoso_diff_with_itself_is_empty() {
    let p = policy(&["rulesets/contoso"]);
    let t = Instant::now();
    let report = audit::diff(&p, &p, &DiffOptions::default());
    eprintln!(
        "contoso diff: {:?} over {} pairs",
        t.elapsed(),
        report.pairs_compared
    );
    assert!(report.changes.is_empty());
}

mod scale {
    //! A generated NSG of 10,000 rules: the audit must finish (timings are reported in
    //! BENCHMARKS.md from `--release --ignored`).

    use secpath::audit::{self, AuditOptions};
    use secpath::error::Location;
    use secpath::model::{
        Access, AddressItem, Direction, IpConfig, NetworkInterface, NetworkSecurityGroup,
        PortRange, Protocol, ResourceId, Rule, RuleFields, Snapshot, Subnet, VirtualNetwork,
    };
    use secpath::options::Options;
    use secpath::resolve::tags::ServiceTags;
    use secpath::resolve::Policy;
    use smallvec::smallvec;
    use std::time::Instant;

    const SUB: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network";

    /// xorshift: deterministic and dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random prefix of length `min_len..=32` inside `base/fixed`.
    fn prefix(rng: &mut Rng, (base, fixed): (u32, u32), min_len: u8) -> AddressItem {
        let len = min_len + rng.below(u64::from(33 - min_len)) as u8;
        let addr = base | (rng.next() as u32).checked_shr(fixed).unwrap_or(0);
        AddressItem::Net(ipnet::IpNet::V4(
            ipnet::Ipv4Net::new(addr.into(), len).unwrap().trunc(),
        ))
    }

    fn ports(rng: &mut Rng) -> PortRange {
        match rng.below(20) {
            0..=13 => {
                let p = [22u16, 80, 443, 3389, 1433, 8080, 53][rng.below(7) as usize];
                PortRange { lo: p, hi: p }
            }
            14..=18 => {
                let lo = rng.below(60000) as u16;
                PortRange {
                    lo,
                    hi: lo + rng.below(1000) as u16,
                }
            }
            _ => PortRange::ALL,
        }
    }

    fn rule(rng: &mut Rng, i: u32) -> Rule {
        let name = format!("r{i}");
        let src = if rng.below(100) == 0 {
            AddressItem::Any
        } else {
            prefix(rng, (0, 0), 12)
        };
        let dst = if rng.below(50) == 0 {
            AddressItem::Any
        } else {
            prefix(rng, (0x0A00_0000, 16), 16)
        };
        Rule {
            id: ResourceId::new(&format!(
                "{SUB}/networkSecurityGroups/big/securityRules/{name}"
            )),
            name,
            priority: 100 + i,
            access: if rng.below(3) == 0 {
                Access::Deny
            } else {
                Access::Allow
            },
            direction: Direction::Inbound,
            fields: RuleFields {
                protocol: [
                    Protocol::Tcp,
                    Protocol::Tcp,
                    Protocol::Udp,
                    Protocol::Tcp,
                    Protocol::Any,
                ][rng.below(5) as usize],
                sources: smallvec![src],
                source_ports: smallvec![PortRange::ALL],
                destinations: smallvec![dst],
                destination_ports: smallvec![ports(rng)],
            },
            is_default: false,
        }
    }

    fn default_rule(name: &str, priority: u32, access: Access, addresses: &str) -> Rule {
        let item = AddressItem::parse_prefix_or_tag(addresses).unwrap();
        Rule {
            id: ResourceId::new(&format!(
                "{SUB}/networkSecurityGroups/big/defaultSecurityRules/{name}"
            )),
            name: name.into(),
            priority,
            access,
            direction: Direction::Inbound,
            fields: RuleFields {
                protocol: Protocol::Any,
                sources: smallvec![item.clone()],
                source_ports: smallvec![PortRange::ALL],
                destinations: smallvec![item],
                destination_ports: smallvec![PortRange::ALL],
            },
            is_default: true,
        }
    }

    /// One VNet, one subnet, one NIC; the subnet's NSG has `n` random inbound rules.
    pub fn big_nsg(n: u32) -> Policy {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let at = Location {
            file: "generated".into(),
            path: String::new(),
        };
        let mut rules: Vec<(Rule, Location)> =
            (0..n).map(|i| (rule(&mut rng, i), at.clone())).collect();
        rules.push((
            default_rule("AllowVnetInBound", 65000, Access::Allow, "VirtualNetwork"),
            at.clone(),
        ));
        rules.push((
            default_rule("DenyAllInBound", 65500, Access::Deny, "*"),
            at.clone(),
        ));
        let snapshot = Snapshot {
            vnets: vec![VirtualNetwork {
                id: ResourceId::new(&format!("{SUB}/virtualNetworks/v")),
                name: "v".into(),
                location: "westeurope".into(),
                tags: Default::default(),
                address_space: vec!["10.0.0.0/16".parse().unwrap()],
                subnets: vec![0],
                peerings: Vec::new(),
                on_premises: Default::default(),
            }],
            subnets: vec![Subnet {
                id: ResourceId::new(&format!("{SUB}/virtualNetworks/v/subnets/s")),
                name: "s".into(),
                vnet: 0,
                prefixes: vec!["10.0.0.0/16".parse().unwrap()],
                nsg: Some(0),
                delegations: Vec::new(),
            }],
            nics: vec![NetworkInterface {
                id: ResourceId::new(&format!("{SUB}/networkInterfaces/n")),
                name: "n".into(),
                ip_configs: vec![IpConfig {
                    address: "10.0.0.4".parse().unwrap(),
                    subnet: 0,
                    asgs: Vec::new(),
                }],
                nsg: None,
                private_endpoint: false,
                standard_public_ip: false,
            }],
            nsgs: vec![NetworkSecurityGroup {
                id: ResourceId::new(&format!("{SUB}/networkSecurityGroups/big")),
                name: "big".into(),
                rules,
            }],
            ..Snapshot::default()
        };
        Policy::build(snapshot, Options::new(), &ServiceTags::none()).unwrap()
    }

    #[test]
    fn a_thousand_rules() {
        let p = big_nsg(1000);
        let t = Instant::now();
        let report = audit::audit(&p, &AuditOptions::default());
        eprintln!(
            "1,000-rule NSG: {:?}, {} findings",
            t.elapsed(),
            report.findings.len()
        );
        for kind in secpath::audit::FindingKind::ALL {
            eprintln!(
                "  {kind}: {}",
                report.findings.iter().filter(|f| f.kind == kind).count()
            );
        }
        eprintln!(
            "{}",
            report
                .findings
                .iter()
                .take(3)
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(report.rules, 1002);
    }

    #[test]
    #[ignore = "seconds in release, minutes in debug: run with --release --ignored"]
    fn ten_thousand_rules() {
        let p = big_nsg(10_000);
        let t = Instant::now();
        let report = audit::audit(&p, &AuditOptions::default());
        eprintln!(
            "10,000-rule NSG: {:?}, {} findings",
            t.elapsed(),
            report.findings.len()
        );
        assert_eq!(report.rules, 10_002);
    }
}
