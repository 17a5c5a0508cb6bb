//! [`FlowSet`]: an exact set of flows as a binary decision diagram over the header bits.
//!
//! Variable order, top to bottom: protocol (8 bits), family (1 bit: 0 IPv4, 1 IPv6),
//! destination address (128), destination port (16), source address (128), source port
//! (16); every field most significant bit first, so a CIDR block is a path and a port
//! range a handful of paths. An IPv4 address uses the first 32 of its field's 128 bits
//! and never constrains the other 96; ports are never constrained for a protocol other
//! than TCP or UDP. Both invariants hold for every set built here and survive union,
//! intersection and complement, so "every flow" is simply `true`.

use super::cube::{address_value, has_ports, Cube, Family, Ranges};
use crate::flow::Flow;
use crate::model::AddrSet;
use biodivine_lib_bdd::{Bdd, BddPartialValuation, BddValuation, BddVariable, BddVariableSet};
use std::collections::HashMap;
use std::sync::OnceLock;

/// One header field's place among the BDD variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    /// First variable.
    pub start: u16,
    /// Number of variables.
    pub width: u16,
}

impl FieldSpan {
    pub(crate) const fn end(self) -> u16 {
        self.start + self.width
    }
}

/// Protocol number.
pub(crate) const PROTOCOL: FieldSpan = FieldSpan { start: 0, width: 8 };
/// Address family.
pub(crate) const FAMILY: FieldSpan = FieldSpan { start: 8, width: 1 };
/// Destination address.
pub(crate) const DST: FieldSpan = FieldSpan {
    start: 9,
    width: 128,
};
/// Destination port.
pub(crate) const DST_PORT: FieldSpan = FieldSpan {
    start: 137,
    width: 16,
};
/// Source address.
pub(crate) const SRC: FieldSpan = FieldSpan {
    start: 153,
    width: 128,
};
/// Source port.
pub(crate) const SRC_PORT: FieldSpan = FieldSpan {
    start: 281,
    width: 16,
};
/// All variables.
const VARIABLES: u16 = 297;

fn vars() -> &'static BddVariableSet {
    static VARS: OnceLock<BddVariableSet> = OnceLock::new();
    VARS.get_or_init(|| BddVariableSet::new_anonymous(VARIABLES))
}

fn var(index: u16) -> BddVariable {
    BddVariable::from_index(usize::from(index))
}

/// An exact set of flows (see the module documentation for the encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSet(pub(crate) Bdd);

impl FlowSet {
    /// No flow.
    pub fn empty() -> FlowSet {
        FlowSet(vars().mk_false())
    }

    /// Every flow.
    pub fn all() -> FlowSet {
        FlowSet(vars().mk_true())
    }

    /// The flows of one cube.
    pub fn from_cube(cube: &Cube) -> FlowSet {
        FlowSet::from_cube_in(cube, &mut FieldCache::default())
    }

    /// [`from_cube`](Self::from_cube), taking each field's diagram from `cache` where it
    /// was built before.
    pub fn from_cube_in(cube: &Cube, cache: &mut FieldCache) -> FlowSet {
        let (address_bits, port_ok) = (cube.family.bits() as u16, cube.has_ported_protocol());
        let fields = [
            cache.field(PROTOCOL, 8, &cube.protocols),
            FlowSet::family(cube.family).0,
            cache.field(DST, address_bits, &cube.dst),
            cache.field(SRC, address_bits, &cube.src),
        ];
        let mut set = fields.iter().fold(vars().mk_true(), |acc, f| acc.and(f));
        if port_ok {
            let ports = cache.field(DST_PORT, 16, &cube.dst_ports).and(&cache.field(
                SRC_PORT,
                16,
                &cube.src_ports,
            ));
            set = set.and(&FlowSet::ported().0.imp(&ports));
        }
        FlowSet(set)
    }

    /// Flows of one address family.
    pub fn family(family: Family) -> FlowSet {
        FlowSet(vars().mk_literal(var(FAMILY.start), family == Family::Ipv6))
    }

    /// Flows whose protocol is TCP or UDP.
    pub fn ported() -> FlowSet {
        FlowSet::protocols(&super::cube::ported_protocols())
    }

    /// Flows whose protocol is in `protocols`.
    pub fn protocols(protocols: &Ranges) -> FlowSet {
        FlowSet(field(PROTOCOL, 8, protocols))
    }

    /// TCP or UDP flows (as `protocols` says) whose destination port is in `ports`.
    pub fn dst_ports(protocols: &Ranges, ports: &Ranges) -> FlowSet {
        FlowSet(field(PROTOCOL, 8, protocols).and(&field(DST_PORT, 16, ports)))
    }

    /// Flows whose source address is in `set`.
    pub fn src_in(set: &AddrSet) -> FlowSet {
        FlowSet::address_in(SRC, set)
    }

    /// Flows whose destination address is in `set`.
    pub fn dst_in(set: &AddrSet) -> FlowSet {
        FlowSet::address_in(DST, set)
    }

    fn address_in(span: FieldSpan, set: &AddrSet) -> FlowSet {
        let (v4, v6) = split_families(set);
        let part = |family: Family, r: &Ranges| {
            FlowSet::family(family)
                .0
                .and(&field(span, family.bits() as u16, r))
        };
        FlowSet(part(Family::Ipv4, &v4).or(&part(Family::Ipv6, &v6)))
    }

    /// Union.
    pub fn union(&self, other: &FlowSet) -> FlowSet {
        FlowSet(self.0.or(&other.0))
    }

    /// The union of many sets, joined pairwise in a balanced tree: k sets of n nodes cost
    /// about k·n·log k node visits, where joining them one by one costs about k²·n.
    pub fn union_all<'a>(sets: impl IntoIterator<Item = &'a FlowSet>) -> FlowSet {
        let mut level: Vec<FlowSet> = sets.into_iter().cloned().collect();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => a.union(b),
                    [a] => a.clone(),
                    _ => FlowSet::empty(),
                })
                .collect();
        }
        level.pop().unwrap_or_else(FlowSet::empty)
    }

    /// Intersection.
    pub fn intersect(&self, other: &FlowSet) -> FlowSet {
        FlowSet(self.0.and(&other.0))
    }

    /// Difference: the flows of `self` not in `other`.
    pub fn minus(&self, other: &FlowSet) -> FlowSet {
        FlowSet(self.0.and_not(&other.0))
    }

    /// Complement.
    pub fn complement(&self) -> FlowSet {
        FlowSet(self.0.not())
    }

    /// True when the set holds no flow.
    pub fn is_empty(&self) -> bool {
        self.0.is_false()
    }

    /// True when the set holds every flow.
    pub fn is_all(&self) -> bool {
        self.0.is_true()
    }

    /// True when every flow of `self` is in `other`.
    pub fn is_subset(&self, other: &FlowSet) -> bool {
        self.minus(other).is_empty()
    }

    /// True when the two sets share a flow.
    pub fn overlaps(&self, other: &FlowSet) -> bool {
        !self.intersect(other).is_empty()
    }

    /// The flows whose (protocol, addresses, source port) appear with *every* destination
    /// port: for TCP/UDP, "all ports open"; other protocols, which carry no ports, pass
    /// through unchanged.
    pub fn with_every_dst_port(&self) -> FlowSet {
        let ports: Vec<BddVariable> = (DST_PORT.start..DST_PORT.end()).map(var).collect();
        FlowSet(self.0.for_all(&ports))
    }

    /// Membership of one flow.
    pub fn contains(&self, flow: &Flow) -> bool {
        let mut v = BddValuation::all_false(VARIABLES);
        let family = Family::of(flow.src);
        set_bits(&mut v, PROTOCOL, 8, u128::from(flow.protocol));
        v.set_value(var(FAMILY.start), family == Family::Ipv6);
        set_bits(&mut v, DST, family.bits() as u16, address_value(flow.dst));
        set_bits(&mut v, SRC, family.bits() as u16, address_value(flow.src));
        if has_ports(u128::from(flow.protocol)) {
            set_bits(&mut v, DST_PORT, 16, u128::from(flow.dst_port.unwrap_or(0)));
            set_bits(&mut v, SRC_PORT, 16, u128::from(flow.src_port.unwrap_or(0)));
        }
        self.0.eval_in(&v)
    }

    /// Nodes in the diagram (a measure of its cost).
    pub fn node_count(&self) -> usize {
        self.0.size()
    }
}

/// Sets the top `bits` variables of `span` to `value`'s bits.
fn set_bits(v: &mut BddValuation, span: FieldSpan, bits: u16, value: u128) {
    for i in 0..bits {
        let bit = (value >> (bits - 1 - i)) & 1 == 1;
        v.set_value(var(span.start + i), bit);
    }
}

/// An address set as IPv4 and IPv6 interval sets (numbers of each family).
pub fn split_families(set: &AddrSet) -> (Ranges, Ranges) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for net in set.to_cidrs() {
        let (lo, hi) = (address_value(net.network()), address_value(net.broadcast()));
        match net {
            ipnet::IpNet::V4(_) => v4.push((lo, hi)),
            ipnet::IpNet::V6(_) => v6.push((lo, hi)),
        }
    }
    (Ranges::from_intervals(v4), Ranges::from_intervals(v6))
}

/// Field diagrams already built, by field and value set. The rules of a policy name the
/// same sets over and over (a service tag as resolved in one VNet, `*`, a few ports), and
/// building a field's diagram from its aligned blocks was nearly all of building a rule's
/// match set: on the enterprise snapshot of `benches/enterprise_gen.py`, whose NSGs are
/// each enforced in many VNets, `secpath audit` spent over a minute there.
#[derive(Debug, Default)]
pub struct FieldCache {
    /// By (first variable, bits used), then by value set.
    fields: HashMap<(u16, u16), HashMap<Ranges, Bdd>>,
}

impl FieldCache {
    /// The diagram of [`field`]`(span, bits, ranges)`, built once.
    fn field(&mut self, span: FieldSpan, bits: u16, ranges: &Ranges) -> Bdd {
        let built = self.fields.entry((span.start, bits)).or_default();
        if let Some(bdd) = built.get(ranges) {
            return bdd.clone();
        }
        let bdd = field(span, bits, ranges);
        built.insert(ranges.clone(), bdd.clone());
        bdd
    }
}

/// The set of values of the top `bits` variables of `span` lying in `ranges`: one clause
/// per aligned block, joined by biodivine's DNF builder.
fn field(span: FieldSpan, bits: u16, ranges: &Ranges) -> Bdd {
    let mut clauses = Vec::new();
    for &(lo, hi) in ranges.intervals() {
        for (value, len) in blocks(lo, hi, u32::from(bits)) {
            let fixed: Vec<(BddVariable, bool)> = (0..len)
                .map(|i| {
                    let bit = (value >> (u32::from(bits) - 1 - i)) & 1 == 1;
                    (var(span.start + i as u16), bit)
                })
                .collect();
            clauses.push(BddPartialValuation::from_values(&fixed));
        }
    }
    vars().mk_dnf(&clauses)
}

/// The aligned blocks (value, prefix length) covering `lo..=hi` in a `bits`-wide field.
pub(crate) fn blocks(lo: u128, hi: u128, bits: u32) -> Vec<(u128, u32)> {
    let span = |k: u32| {
        if k >= 128 {
            u128::MAX
        } else {
            (1u128 << k) - 1
        }
    };
    let mut out = Vec::new();
    let mut at = lo;
    loop {
        let mut k = if at == 0 {
            bits
        } else {
            at.trailing_zeros().min(bits)
        };
        while k > 0 && span(k) > hi - at {
            k -= 1;
        }
        out.push((at, bits - k));
        if hi - at <= span(k) {
            return out;
        }
        at += span(k) + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowspace::cube::PORT_MAX;

    fn flow(text: &str) -> Flow {
        Flow::parse(text).unwrap()
    }

    #[test]
    fn blocks_cover_ranges_exactly() {
        assert_eq!(blocks(0, 255, 8), vec![(0, 0)]);
        assert_eq!(blocks(1, 6, 8), vec![(1, 8), (2, 7), (4, 7), (6, 8)]);
        assert_eq!(blocks(0, u128::MAX, 128), vec![(0, 0)]);
        assert_eq!(blocks(u128::MAX, u128::MAX, 128), vec![(u128::MAX, 128)]);
    }

    #[test]
    fn cached_fields_build_the_same_sets_once() {
        let cube = |dst: &str, port| Cube {
            family: Family::Ipv4,
            protocols: Ranges::single(6),
            src: Ranges::full(Family::Ipv4.max()),
            src_ports: Ranges::full(PORT_MAX),
            dst: Ranges::single(address_value(dst.parse().unwrap())),
            dst_ports: Ranges::single(port),
        };
        let mut cache = FieldCache::default();
        let cubes = [
            cube("10.0.0.5", 22),
            cube("10.0.0.6", 22),
            cube("10.0.0.5", 80),
        ];
        for c in &cubes {
            assert_eq!(FlowSet::from_cube_in(c, &mut cache), FlowSet::from_cube(c));
        }
        let built: Vec<usize> = [PROTOCOL, DST, SRC, DST_PORT, SRC_PORT]
            .iter()
            .map(|span| {
                cache
                    .fields
                    .iter()
                    .filter(|(k, _)| k.0 == span.start)
                    .map(|(_, v)| v.len())
                    .sum()
            })
            .collect();
        // One protocol, two destinations, one source, two destination ports, one source port.
        assert_eq!(built, [1, 2, 1, 2, 1]);
    }

    #[test]
    fn cubes_become_sets_with_ports_only_for_tcp_and_udp() {
        let cube = Cube {
            family: Family::Ipv4,
            protocols: Ranges::full(255),
            src: Ranges::full(Family::Ipv4.max()),
            src_ports: Ranges::full(PORT_MAX),
            dst: Ranges::single(address_value("10.0.0.5".parse().unwrap())),
            dst_ports: Ranges::single(22),
        };
        let set = FlowSet::from_cube(&cube);
        assert!(set.contains(&flow("tcp 1.2.3.4:1 -> 10.0.0.5:22")));
        assert!(!set.contains(&flow("tcp 1.2.3.4:1 -> 10.0.0.5:23")));
        assert!(set.contains(&flow("icmp 1.2.3.4 -> 10.0.0.5")));
        assert!(!set.contains(&flow("icmp 1.2.3.4 -> 10.0.0.6")));
        assert!(!set.contains(&flow("icmpv6 ::1 -> ::2")));
        let all_ports = set.with_every_dst_port();
        assert!(!all_ports.contains(&flow("tcp 1.2.3.4:1 -> 10.0.0.5:22")));
        assert!(all_ports.contains(&flow("icmp 1.2.3.4 -> 10.0.0.5")));
    }

    #[test]
    fn algebra_and_address_sets() {
        let mut a = AddrSet::new();
        a.insert_net("10.0.0.0/8".parse().unwrap());
        a.insert_net("2001:db8::/32".parse().unwrap());
        let s = FlowSet::src_in(&a);
        assert!(s.contains(&flow("udp 10.9.9.9:1 -> 8.8.8.8:53")));
        assert!(s.contains(&flow("udp [2001:db8::1]:1 -> [::1]:53")));
        assert!(!s.contains(&flow("udp 11.0.0.1:1 -> 8.8.8.8:53")));
        let d = FlowSet::dst_in(&a);
        let both = s.intersect(&d);
        assert!(both.is_subset(&s) && !s.is_subset(&both));
        assert!(s.union(&s.complement()).is_all());
        assert!(s.minus(&s).is_empty());
        assert!(FlowSet::ported().overlaps(&s));
    }
}
