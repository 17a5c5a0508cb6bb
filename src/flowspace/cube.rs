//! Cubes: products of one value set per header field, the readable face of a flow set.
//!
//! A [`Cube`] is what a person reads (`tcp 0.0.0.0/0:* -> 10.1.0.0/24:22`) and what a rule
//! is made of; [`super::FlowSet`] is the exact algebra. Every field is a [`Ranges`] of
//! inclusive intervals, so a cube is also a cheap overlap filter: two rules whose cubes are
//! disjoint in one field cannot share a flow, and no BDD operation is needed to know it.

use crate::flow::{proto, Flow};
use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The largest protocol number.
pub const PROTOCOL_MAX: u128 = 255;
/// The largest port.
pub const PORT_MAX: u128 = 65535;

/// A set of field values as sorted, disjoint, non-adjacent inclusive intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ranges(Vec<(u128, u128)>);

impl Ranges {
    /// The empty set.
    pub fn empty() -> Ranges {
        Ranges(Vec::new())
    }

    /// Every value from 0 to `max`.
    pub fn full(max: u128) -> Ranges {
        Ranges(vec![(0, max)])
    }

    /// One value.
    pub fn single(value: u128) -> Ranges {
        Ranges(vec![(value, value)])
    }

    /// The union of intervals given in any order (reversed ones are ignored).
    pub fn from_intervals(intervals: impl IntoIterator<Item = (u128, u128)>) -> Ranges {
        let mut v: Vec<(u128, u128)> = intervals.into_iter().filter(|(a, b)| a <= b).collect();
        v.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ranges(out)
    }

    /// The intervals, in order.
    pub fn intervals(&self) -> &[(u128, u128)] {
        &self.0
    }

    /// True when no value is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when the set is exactly `0..=max`.
    pub fn is_full(&self, max: u128) -> bool {
        self.0 == [(0, max)]
    }

    /// Membership.
    pub fn contains(&self, value: u128) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < value);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= value)
    }

    /// True when the two sets share a value (a merge walk, no allocation).
    pub fn overlaps(&self, other: &Ranges) -> bool {
        let (mut i, mut j) = (0, 0);
        while let (Some(a), Some(b)) = (self.0.get(i), other.0.get(j)) {
            if a.1 < b.0 {
                i += 1;
            } else if b.1 < a.0 {
                j += 1;
            } else {
                return true;
            }
        }
        false
    }

    /// The union.
    pub fn union(&self, other: &Ranges) -> Ranges {
        Ranges::from_intervals(self.0.iter().chain(&other.0).copied())
    }

    /// The intersection.
    pub fn intersect(&self, other: &Ranges) -> Ranges {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while let (Some(a), Some(b)) = (self.0.get(i), other.0.get(j)) {
            let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ranges(out)
    }

    /// The smallest value.
    pub fn first(&self) -> Option<u128> {
        self.0.first().map(|r| r.0)
    }

    /// The smallest and largest value, if any.
    pub fn bounds(&self) -> Option<(u128, u128)> {
        Some((self.0.first()?.0, self.0.last()?.1))
    }
}

/// The address family of a cube: a flow's two addresses are of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// 32-bit addresses.
    Ipv4,
    /// 128-bit addresses.
    Ipv6,
}

impl Family {
    /// The largest address of the family, as a number.
    pub fn max(self) -> u128 {
        match self {
            Family::Ipv4 => u128::from(u32::MAX),
            Family::Ipv6 => u128::MAX,
        }
    }

    /// Address width in bits.
    pub fn bits(self) -> u32 {
        match self {
            Family::Ipv4 => 32,
            Family::Ipv6 => 128,
        }
    }

    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// The address with this number (truncated to the family's width).
    pub fn address(self, value: u128) -> IpAddr {
        match self {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }
}

/// An address as a number of its family.
pub fn address_value(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// True for the protocols whose flows carry ports (TCP, UDP).
pub fn has_ports(protocol: u128) -> bool {
    protocol == u128::from(proto::TCP) || protocol == u128::from(proto::UDP)
}

/// The protocols with ports, as a set.
pub fn ported_protocols() -> Ranges {
    Ranges::from_intervals([(6, 6), (17, 17)])
}

/// A product of field sets: every flow whose protocol, addresses and ports each lie in
/// the cube's set for that field. Ports mean something only for TCP and UDP: a cube that
/// holds any other protocol has full port sets (SEMANTICS §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cube {
    /// Address family of both addresses.
    pub family: Family,
    /// IP protocol numbers.
    pub protocols: Ranges,
    /// Destination addresses (numbers of `family`).
    pub dst: Ranges,
    /// Destination ports.
    pub dst_ports: Ranges,
    /// Source addresses.
    pub src: Ranges,
    /// Source ports.
    pub src_ports: Ranges,
}

impl Cube {
    /// True when the cube holds no flow.
    pub fn is_empty(&self) -> bool {
        self.protocols.is_empty()
            || self.src.is_empty()
            || self.dst.is_empty()
            || self.src_ports.is_empty()
            || self.dst_ports.is_empty()
    }

    /// True when `flow` lies in the cube (ports count only for TCP and UDP).
    pub fn contains(&self, flow: &Flow) -> bool {
        let port = |r: &Ranges, p: Option<u16>| p.is_none_or(|p| r.contains(u128::from(p)));
        self.family == Family::of(flow.src)
            && Family::of(flow.dst) == self.family
            && self.protocols.contains(u128::from(flow.protocol))
            && self.src.contains(address_value(flow.src))
            && self.dst.contains(address_value(flow.dst))
            && (!has_ports(u128::from(flow.protocol))
                || (port(&self.src_ports, flow.src_port) && port(&self.dst_ports, flow.dst_port)))
    }

    /// True when the two cubes share a flow.
    pub fn overlaps(&self, other: &Cube) -> bool {
        self.family == other.family
            && self.protocols.overlaps(&other.protocols)
            && self.dst.overlaps(&other.dst)
            && self.src.overlaps(&other.src)
            && self.dst_ports.overlaps(&other.dst_ports)
            && self.src_ports.overlaps(&other.src_ports)
    }

    /// A concrete flow in the cube, chosen to read well: TCP, then UDP, then ICMP of the
    /// family, then the first protocol; a source port of 50000 when allowed; the second
    /// address of a block larger than two (not its network address).
    pub fn witness(&self) -> Option<Flow> {
        let protocol = self.witness_protocol()?;
        let ported = has_ports(u128::from(protocol));
        let port = |r: &Ranges, preferred: u128| {
            if r.contains(preferred) {
                Some(preferred as u16)
            } else {
                r.first().map(|p| p as u16)
            }
        };
        let address = |r: &Ranges| {
            let &(lo, hi) = r.intervals().first()?;
            let v = if hi - lo >= 2 { lo + 1 } else { lo };
            Some(self.family.address(v))
        };
        let (src_port, dst_port) = if ported {
            let dst_first = self.dst_ports.first()?;
            (
                port(&self.src_ports, 50000),
                port(&self.dst_ports, dst_first),
            )
        } else {
            (None, None)
        };
        Some(Flow {
            protocol,
            src: address(&self.src)?,
            src_port,
            dst: address(&self.dst)?,
            dst_port,
        })
    }

    fn witness_protocol(&self) -> Option<u8> {
        let icmp = match self.family {
            Family::Ipv4 => proto::ICMP,
            Family::Ipv6 => proto::ICMPV6,
        };
        [proto::TCP, proto::UDP, icmp]
            .into_iter()
            .find(|p| self.protocols.contains(u128::from(*p)))
            .or_else(|| self.protocols.first().map(|p| p as u8))
    }

    /// True when the cube holds a protocol with ports.
    pub fn has_ported_protocol(&self) -> bool {
        self.protocols.overlaps(&ported_protocols())
    }

    /// The cube as text, with address lists cut after `max_blocks` CIDR blocks.
    pub fn render(&self, max_blocks: usize) -> String {
        let protocols = protocols_text(&self.protocols);
        let src = addresses_text(self.family, &self.src, max_blocks);
        let dst = addresses_text(self.family, &self.dst, max_blocks);
        if !self.has_ported_protocol() {
            return format!("{protocols} {src} -> {dst}");
        }
        let wrap = |a: String| match self.family {
            Family::Ipv6 => format!("[{a}]"),
            Family::Ipv4 => a,
        };
        format!(
            "{protocols} {}:{} -> {}:{}",
            wrap(src),
            ports_text(&self.src_ports),
            wrap(dst),
            ports_text(&self.dst_ports)
        )
    }
}

impl fmt::Display for Cube {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(usize::MAX))
    }
}

/// The CIDR blocks of an address set of one family, in order.
pub fn cidrs(family: Family, set: &Ranges) -> Vec<IpNet> {
    let mut out = Vec::new();
    for &(lo, hi) in set.intervals() {
        match family {
            Family::Ipv4 => out.extend(
                Ipv4Subnets::new(Ipv4Addr::from(lo as u32), Ipv4Addr::from(hi as u32), 0)
                    .map(IpNet::V4),
            ),
            Family::Ipv6 => out
                .extend(Ipv6Subnets::new(Ipv6Addr::from(lo), Ipv6Addr::from(hi), 0).map(IpNet::V6)),
        }
    }
    out
}

/// `10.0.0.0/24,10.0.2.4/32`, cut after `max` blocks with a count of the rest.
pub fn addresses_text(family: Family, set: &Ranges, max: usize) -> String {
    let blocks = cidrs(family, set);
    let shown: Vec<String> = blocks
        .iter()
        .take(max)
        .map(|n| match n {
            IpNet::V4(n) if n.prefix_len() == 32 => n.addr().to_string(),
            IpNet::V6(n) if n.prefix_len() == 128 => n.addr().to_string(),
            n => n.to_string(),
        })
        .collect();
    let mut text = shown.join(",");
    if blocks.len() > max {
        text.push_str(&format!(",…(+{} more)", blocks.len() - max));
    }
    text
}

/// `*`, `22`, `80,443`, `1000-2000`.
pub fn ports_text(set: &Ranges) -> String {
    if set.is_full(PORT_MAX) {
        return "*".to_string();
    }
    let parts: Vec<String> = set
        .intervals()
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect();
    parts.join(",")
}

/// `any`, `non-tcp/udp`, `tcp,udp`, `icmp,icmpv6`, `47`, `100-200`.
pub fn protocols_text(set: &Ranges) -> String {
    if set.is_full(PROTOCOL_MAX) {
        return "any".to_string();
    }
    let others = Ranges::from_intervals([(0, 5), (7, 16), (18, PROTOCOL_MAX)]);
    if *set == others {
        return "non-tcp/udp".to_string();
    }
    let name = |p: u128| {
        Flow {
            protocol: p as u8,
            ..placeholder_flow()
        }
        .protocol_name()
        .into_owned()
    };
    let parts: Vec<String> = set
        .intervals()
        .iter()
        .map(|&(lo, hi)| match hi - lo {
            0 => name(lo),
            1 => format!("{},{}", name(lo), name(hi)),
            _ => format!("{lo}-{hi}"),
        })
        .collect();
    parts.join(",")
}

fn placeholder_flow() -> Flow {
    Flow {
        protocol: 0,
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        src_port: None,
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst_port: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> u128 {
        address_value(text.parse().unwrap())
    }

    #[test]
    fn ranges_normalise_and_compare() {
        let r = Ranges::from_intervals([(5, 9), (1, 3), (4, 4), (20, 30)]);
        assert_eq!(r.intervals(), &[(1, 9), (20, 30)]);
        assert!(r.contains(4) && !r.contains(10) && r.contains(30));
        assert!(r.overlaps(&Ranges::single(25)));
        assert!(!r.overlaps(&Ranges::from_intervals([(10, 19), (31, 40)])));
        assert_eq!(
            r.intersect(&Ranges::from_intervals([(8, 22)])).intervals(),
            &[(8, 9), (20, 22)]
        );
        assert!(Ranges::full(PORT_MAX).is_full(PORT_MAX));
        assert_eq!(
            Ranges::from_intervals([(0, u128::MAX), (7, 8)]).bounds(),
            Some((0, u128::MAX))
        );
    }

    #[test]
    fn cubes_render_and_witness() {
        let cube = Cube {
            family: Family::Ipv4,
            protocols: Ranges::single(6),
            src: Ranges::full(Family::Ipv4.max()),
            src_ports: Ranges::full(PORT_MAX),
            dst: Ranges::from_intervals([(v4("10.1.0.0"), v4("10.1.0.255"))]),
            dst_ports: Ranges::single(22),
        };
        assert_eq!(cube.to_string(), "tcp 0.0.0.0/0:* -> 10.1.0.0/24:22");
        let w = cube.witness().unwrap();
        assert_eq!(w.to_string(), "tcp 0.0.0.1:50000 -> 10.1.0.1:22");
        let icmp = Cube {
            protocols: Ranges::from_intervals([(0, 5), (7, 16), (18, 255)]),
            dst_ports: Ranges::full(PORT_MAX),
            ..cube
        };
        assert_eq!(icmp.to_string(), "non-tcp/udp 0.0.0.0/0 -> 10.1.0.0/24");
        assert_eq!(
            icmp.witness().unwrap().to_string(),
            "icmp 0.0.0.1 -> 10.1.0.1"
        );
    }

    #[test]
    fn long_address_lists_are_cut() {
        let set = Ranges::from_intervals([(1, 1), (3, 3), (5, 5)]);
        assert_eq!(
            addresses_text(Family::Ipv4, &set, 2),
            "0.0.0.1,0.0.0.3,…(+1 more)"
        );
        assert_eq!(
            protocols_text(&Ranges::from_intervals([(6, 6), (17, 17)])),
            "tcp,udp"
        );
        assert_eq!(
            ports_text(&Ranges::from_intervals([(80, 80), (1000, 2000)])),
            "80,1000-2000"
        );
    }
}
