//! Sets of IP addresses (IPv4 and IPv6), as unions of inclusive ranges.
//!
//! Service tags, address spaces and rule prefixes all become an [`AddrSet`]. The set algebra
//! (union, difference, complement) is delegated to `rangemap`, which keeps ranges merged and
//! sorted, so membership is a logarithmic lookup and two sets built differently compare equal.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rangemap::RangeInclusiveSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A set of IPv4 and IPv6 addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrSet {
    v4: RangeInclusiveSet<u32>,
    v6: RangeInclusiveSet<u128>,
}

impl AddrSet {
    /// The empty set.
    pub fn new() -> AddrSet {
        AddrSet::default()
    }

    /// Every IPv4 and IPv6 address.
    pub fn all() -> AddrSet {
        let mut s = AddrSet::new();
        s.v4.insert(0..=u32::MAX);
        s.v6.insert(0..=u128::MAX);
        s
    }

    /// A set holding one network (host bits ignored).
    pub fn from_net(net: IpNet) -> AddrSet {
        let mut s = AddrSet::new();
        s.insert_net(net);
        s
    }

    /// Adds a network; host bits are ignored (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn insert_net(&mut self, net: IpNet) {
        match net.trunc() {
            IpNet::V4(n) => {
                self.v4
                    .insert(u32::from(n.network())..=u32::from(n.broadcast()));
            }
            IpNet::V6(n) => {
                self.v6
                    .insert(u128::from(n.network())..=u128::from(n.broadcast()));
            }
        }
    }

    /// Adds an inclusive range; `None` when the ends differ in family or are reversed.
    pub fn insert_range(&mut self, lo: IpAddr, hi: IpAddr) -> Option<()> {
        match (lo, hi) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => self.v4.insert(u32::from(a)..=u32::from(b)),
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => {
                self.v6.insert(u128::from(a)..=u128::from(b))
            }
            _ => return None,
        }
        Some(())
    }

    /// Adds every address of `other`.
    pub fn extend(&mut self, other: &AddrSet) {
        for r in other.v4.iter() {
            self.v4.insert(r.clone());
        }
        for r in other.v6.iter() {
            self.v6.insert(r.clone());
        }
    }

    /// Removes every address of `other`.
    pub fn subtract(&mut self, other: &AddrSet) {
        for r in other.v4.iter() {
            self.v4.remove(r.clone());
        }
        for r in other.v6.iter() {
            self.v6.remove(r.clone());
        }
    }

    /// Keeps only the IPv4 part (used for network groups mixing families, SEMANTICS §3.1).
    pub fn ipv4_only(&self) -> AddrSet {
        AddrSet {
            v4: self.v4.clone(),
            v6: RangeInclusiveSet::new(),
        }
    }

    /// True when the set holds an IPv4 address and an IPv6 address.
    pub fn has_both_families(&self) -> bool {
        !self.v4.is_empty() && !self.v6.is_empty()
    }

    /// Membership.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.contains(&u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(&u128::from(a)),
        }
    }

    /// True when the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// True when the set holds every address of both families.
    pub fn is_all(&self) -> bool {
        *self == AddrSet::all()
    }

    /// The IPv4 part as sorted, disjoint, inclusive ranges (what lookup tables are built
    /// from: going through CIDR blocks split them only to be joined again).
    pub fn v4_ranges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.v4.iter().map(|r| (*r.start(), *r.end()))
    }

    /// The IPv6 part as sorted, disjoint, inclusive ranges.
    pub fn v6_ranges(&self) -> impl Iterator<Item = (u128, u128)> + '_ {
        self.v6.iter().map(|r| (*r.start(), *r.end()))
    }

    /// The set as the fewest CIDR blocks, IPv4 first, in address order.
    pub fn to_cidrs(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for r in self.v4.iter() {
            let (lo, hi) = (Ipv4Addr::from(*r.start()), Ipv4Addr::from(*r.end()));
            out.extend(ipnet::Ipv4Subnets::new(lo, hi, 0).map(IpNet::V4));
        }
        for r in self.v6.iter() {
            let (lo, hi) = (Ipv6Addr::from(*r.start()), Ipv6Addr::from(*r.end()));
            out.extend(ipnet::Ipv6Subnets::new(lo, hi, 0).map(IpNet::V6));
        }
        out
    }

    /// The set written as CIDR blocks (`*` for everything, `(none)` for nothing).
    pub fn describe(&self) -> String {
        if self.is_all() {
            return "*".to_string();
        }
        if self.is_empty() {
            return "(none)".to_string();
        }
        let cidrs: Vec<String> = self.to_cidrs().iter().map(ToString::to_string).collect();
        cidrs.join(",")
    }
}

/// Builds a set from CIDR texts known to be valid (constants in this crate).
pub(crate) fn set_of(cidrs: &[&str]) -> AddrSet {
    let mut s = AddrSet::new();
    for c in cidrs {
        let net: IpNet = c.parse().expect("constant CIDR in the source is valid");
        s.insert_net(net);
    }
    s
}

/// Parses `10.0.0.0/8`, `10.0.0.1` (a host) or `2001:db8::/32` into a network.
pub fn parse_net(text: &str) -> Option<IpNet> {
    let t = text.trim();
    if let Ok(net) = t.parse::<IpNet>() {
        return Some(net);
    }
    match t.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(IpNet::V4(Ipv4Net::new(a, 32).ok()?)),
        IpAddr::V6(a) => Some(IpNet::V6(Ipv6Net::new(a, 128).ok()?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_difference_and_cidrs() {
        let mut s = set_of(&["10.0.0.0/16"]);
        s.subtract(&set_of(&["10.0.1.0/24"]));
        assert!(s.contains("10.0.0.5".parse().unwrap()));
        assert!(!s.contains("10.0.1.5".parse().unwrap()));
        assert_eq!(
            s.to_cidrs().len(),
            8,
            "10.0.0.0/24 + /23 + /22 ... up to /17"
        );
        s.extend(&set_of(&["10.0.1.0/24"]));
        assert_eq!(s.describe(), "10.0.0.0/16");
    }

    #[test]
    fn host_bits_are_ignored_and_ranges_checked() {
        assert_eq!(set_of(&["10.1.2.3/8"]), set_of(&["10.0.0.0/8"]));
        let mut s = AddrSet::new();
        assert!(s
            .insert_range("10.0.0.9".parse().unwrap(), "10.0.0.1".parse().unwrap())
            .is_none());
        assert!(s
            .insert_range("10.0.0.1".parse().unwrap(), "::1".parse().unwrap())
            .is_none());
        s.insert_range("10.0.0.1".parse().unwrap(), "10.0.0.3".parse().unwrap())
            .unwrap();
        assert_eq!(s.describe(), "10.0.0.1/32,10.0.0.2/31");
    }

    #[test]
    fn families_are_separate() {
        let s = set_of(&["10.0.0.0/8", "2001:db8::/32"]);
        assert!(s.has_both_families());
        assert!(!s.ipv4_only().contains("2001:db8::1".parse().unwrap()));
        assert!(AddrSet::all().is_all());
        assert_eq!(parse_net("10.0.0.1"), "10.0.0.1/32".parse().ok());
        assert_eq!(parse_net("nonsense"), None);
    }
}
