//! The properties the fuzz targets check (`fuzz/fuzz_targets/*`), as plain functions, so the
//! regression test (`tests/fuzz.rs`) replays every input a fuzzer ever found through exactly
//! the same code. Each function panics when its property fails — that is what the fuzzer
//! looks for — and must return normally on any input that is merely bad.

use crate::compile::CompiledTable;
use crate::eval::matching::{first_match, EndpointAsgs};
use crate::flow::Flow;
use crate::model::{
    Access, AddrSet, AddressItem, Direction, PortRange, Protocol, ResourceId, Rule, RuleFields,
};
use crate::options::AnyProtocol;
use crate::replay::input::{read_stream, InputFormat};
use crate::resolve::{AddrMatch, ResolvedRule, RuleSource};
use ipnet::IpNet;
use smallvec::smallvec;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// A flow spec that parses prints back to itself.
pub fn flow_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(flow) = Flow::parse(text) {
        let again = Flow::parse(&flow.to_string());
        assert_eq!(again.ok(), Some(flow), "`{text}` does not round-trip");
    }
}

/// A replay input in `format` reads to the end without panicking, and every record it yields
/// is a well-formed flow (ports exactly for TCP and UDP).
pub fn replay_input(data: &[u8], format: InputFormat) {
    let reader = Box::new(Cursor::new(data.to_vec()));
    for record in read_stream(Path::new("fuzz").into(), reader, format).flatten() {
        let f = record.flow;
        assert_eq!(f.src_port.is_some(), Flow::has_ports(f.protocol), "{f:?}");
        assert_eq!(f.src.is_ipv4(), f.dst.is_ipv4(), "{f:?}");
    }
}

/// A snapshot text (ARM JSON) loads, or fails with an error, without panicking; one that loads
/// resolves (leniently) and explains a flow between two of its own addresses.
pub fn snapshot_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(snapshot) =
        crate::load::load_texts(&[(Path::new("fuzz.json").to_path_buf(), text.to_string())])
    else {
        return;
    };
    let options = crate::options::Options {
        lenient: true,
        ..crate::options::Options::new()
    };
    let Ok(policy) = crate::resolve::Policy::build(
        snapshot,
        options,
        &crate::resolve::tags::ServiceTags::none(),
    ) else {
        return;
    };
    let nics = policy
        .snapshot
        .nics
        .iter()
        .flat_map(|n| &n.ip_configs)
        .map(|c| c.address);
    let addresses: Vec<IpAddr> = nics
        .chain([IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5))])
        .take(4)
        .collect();
    for &src in &addresses {
        for &dst in addresses.iter().filter(|d| d.is_ipv4() == src.is_ipv4()) {
            let flow = Flow {
                protocol: 6,
                src,
                src_port: Some(50000),
                dst,
                dst_port: Some(443),
            };
            let _ = crate::eval::explain(&policy, &flow, &crate::eval::Pins::default());
        }
    }
}

/// A DSL text parses or fails with located errors, without panicking; what parses prints
/// canonically, and the canonical text parses back to the same resources.
pub fn dsl(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz.secpath");
    let Ok(values) = crate::dsl::parse(text, file) else {
        return;
    };
    let canonical = crate::dsl::to_dsl(&values);
    let again = crate::dsl::parse(&canonical, file);
    assert!(again.is_ok(), "canonical text does not parse:\n{canonical}");
    assert_eq!(
        crate::dsl::to_dsl(&again.unwrap_or_default()),
        canonical,
        "printing is not idempotent"
    );
}

/// Reads bytes as a stream of small numbers, zero once exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn addr(&mut self, v6: bool) -> IpAddr {
        if v6 {
            let mut b = [0u8; 16];
            b.iter_mut().step_by(4).for_each(|x| *x = self.u8());
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            IpAddr::V4(Ipv4Addr::new(
                self.u8() % 4 + 10,
                0,
                self.u8() % 4,
                self.u8(),
            ))
        }
    }
}

fn protocol(n: u8) -> Protocol {
    [
        Protocol::Any,
        Protocol::Tcp,
        Protocol::Udp,
        Protocol::Icmp,
        Protocol::Esp,
        Protocol::Ah,
        Protocol::Number(47),
    ][usize::from(n % 7)]
}

fn ports(b: &mut Bytes) -> smallvec::SmallVec<[PortRange; 2]> {
    match b.u8() % 4 {
        0 => smallvec![PortRange::ALL],
        1 => smallvec![],
        _ => {
            let (x, y) = (b.u16() % 2048, b.u16() % 2048);
            smallvec![PortRange {
                lo: x.min(y),
                hi: x.max(y)
            }]
        }
    }
}

fn addresses(b: &mut Bytes, v6: bool) -> AddrMatch {
    let mut m = AddrMatch::default();
    match b.u8() % 5 {
        0 => m.set = AddrSet::all(),
        1 => {}
        2 => m.asgs.push(usize::from(b.u8() % 3)),
        _ => {
            let len = b.u8() % if v6 { 129 } else { 33 };
            if let Ok(net) = IpNet::new(b.addr(v6), len) {
                m.set.insert_net(net);
            }
        }
    }
    m
}

fn rule(b: &mut Bytes, i: usize) -> ResolvedRule {
    let v6 = b.u8() % 4 == 0;
    let protocol = protocol(b.u8());
    let (sources, source_ports, destinations, destination_ports) =
        (addresses(b, v6), ports(b), addresses(b, v6), ports(b));
    let rule = Rule {
        id: ResourceId::new(&format!("/fuzz/securityRules/r{i}")),
        name: format!("r{i}"),
        priority: 100 + i as u32,
        access: if b.u8() % 2 == 0 {
            Access::Allow
        } else {
            Access::Deny
        },
        direction: Direction::Inbound,
        fields: RuleFields {
            protocol,
            sources: smallvec![AddressItem::Any],
            source_ports: source_ports.clone(),
            destinations: smallvec![AddressItem::Any],
            destination_ports: destination_ports.clone(),
        },
        is_default: false,
    };
    ResolvedRule {
        rule: std::sync::Arc::new(rule),
        source: RuleSource::Nsg { nsg: 0 },
        sources,
        source_ports,
        destinations,
        destination_ports,
    }
}

fn flow(b: &mut Bytes) -> Flow {
    let v6 = b.u8() % 4 == 0;
    let protocol = [6, 17, 1, 58, 50, 51, 47, 0][usize::from(b.u8() % 8)];
    let ported = Flow::has_ports(protocol);
    let (src, dst) = (b.addr(v6), b.addr(v6));
    let (sp, dp) = (b.u16() % 2048, b.u16() % 2048);
    Flow {
        protocol,
        src,
        src_port: ported.then_some(sp),
        dst,
        dst_port: ported.then_some(dp),
    }
}

/// A rule table and flows decoded from the bytes: the compiled table and the linear scan pick
/// the same rule for every flow, under both D3 settings.
pub fn differential(data: &[u8]) {
    let mut b = Bytes(data);
    let rules: Vec<ResolvedRule> = (0..usize::from(b.u8() % 40))
        .map(|i| rule(&mut b, i))
        .collect();
    let asgs = [usize::from(b.u8() % 3)];
    for any in [AnyProtocol::All, AnyProtocol::TcpUdpIcmp] {
        let table = CompiledTable::new(&rules, any);
        let mut flows = Bytes(data);
        for _ in 0..64 {
            let f = flow(&mut flows);
            let ends = EndpointAsgs {
                src: &asgs,
                dst: &asgs,
            };
            assert_eq!(
                table.first_match(&f, ends),
                first_match(&rules, &f, ends, any),
                "{f:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_hold_on_simple_inputs() {
        flow_spec(b"tcp 10.0.0.1:1 -> [::1]:2");
        flow_spec(b"udp [2001:db8::1]:53 -> [2001:db8::2]:53");
        replay_input(b"{\"records\": []}", InputFormat::Auto);
        replay_input(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0], InputFormat::Pcap);
        differential(&[]);
        snapshot_json(br#"{"value": [{"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/networkSecurityGroups/n", "type": "Microsoft.Network/networkSecurityGroups"}]}"#);
        dsl(b"# nothing but a comment\n");
        differential(&(0..=255u8).cycle().take(4000).collect::<Vec<_>>());
    }
}
