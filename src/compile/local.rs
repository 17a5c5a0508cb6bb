//! The VNet-dependent tags `VirtualNetwork` and `Internet` matched apart from the tables.
//!
//! An NSG attached in many VNets differs between them only by what those two tags hold
//! there (SEMANTICS §3.1), so its tables are compiled once from its
//! [`NsgTemplate`](crate::resolve::NsgTemplate): a rule naming a tag names a pseudo-ASG
//! instead ([`VIRTUAL_NETWORK`], [`INTERNET`]), and at lookup an endpoint is in the
//! pseudo-ASG when the point's VNet's tag holds its address. A field matches when its
//! addresses hold the endpoint or the endpoint is in one of its ASGs, so this is the
//! union the per-VNet resolution makes, exactly. On the enterprise snapshot, 1,600 NSG
//! tables (50 MB, a cache miss per field lookup) become 200.

use super::bits::Inline;
use super::table::{Ends, IntervalMap};
use crate::eval::matching::EndpointAsgs;
use crate::flow::Flow;
use crate::resolve::{LocalTags, VnetPolicy};
use smallvec::SmallVec;
use std::net::IpAddr;

/// The pseudo-ASG an endpoint is in when the point's `VirtualNetwork` holds its address.
const VIRTUAL_NETWORK: usize = usize::MAX - 1;
/// The pseudo-ASG an endpoint is in when the point's `Internet` holds its address.
const INTERNET: usize = usize::MAX;

/// Adds to a template rule field's ASGs the pseudo-ASGs of the tags it names.
pub(crate) fn mark(asgs: &mut SmallVec<[usize; 1]>, tags: LocalTags) {
    asgs.extend(tags.virtual_network.then_some(VIRTUAL_NETWORK));
    asgs.extend(tags.internet.then_some(INTERNET));
}

/// One VNet's two tags as interval maps, bit 0 of an interval's value set where
/// `VirtualNetwork` holds it and bit 1 where `Internet` does (the two are disjoint): the
/// maps' top-bits index finds an interval in a step or two, where a binary search over the
/// ~40 intervals of `Internet` cost ~75 instructions a lookup (callgrind, enterprise).
#[derive(Debug)]
pub(crate) struct LocalTagMap {
    v4: IntervalMap<u32, u128>,
    v6: IntervalMap<u128, u128>,
}

impl LocalTagMap {
    /// The map of `here`'s tags.
    pub(crate) fn new(here: &VnetPolicy) -> LocalTagMap {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (item, set) in [&here.virtual_network, &here.internet]
            .into_iter()
            .enumerate()
        {
            v4.extend(set.v4_ranges().map(|(lo, hi)| (lo, hi, item)));
            v6.extend(set.v6_ranges().map(|(lo, hi)| (lo, hi, item)));
        }
        let mut store = Inline::default();
        LocalTagMap {
            v4: IntervalMap::build(&v4, &mut store),
            v6: IntervalMap::build(&v6, &mut store),
        }
    }

    /// The pseudo-ASGs `flow`'s endpoints are in here.
    pub(crate) fn tagged(&self, flow: &Flow) -> Tagged<'_> {
        Tagged {
            map: self,
            local: [self.local(flow.src), self.local(flow.dst)],
        }
    }

    /// The pseudo-ASG `ip` is in here, if any.
    #[inline]
    fn local(&self, ip: IpAddr) -> Option<usize> {
        let tags = match ip {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => self.v6.get(u128::from(a)),
        };
        match tags {
            0 => None,
            1 => Some(VIRTUAL_NETWORK),
            _ => Some(INTERNET),
        }
    }
}

/// The pseudo-ASGs of a flow's endpoints at one VNet: worked out once a side of a walk, for
/// both the NIC's and the subnet's NSG.
#[derive(Clone, Copy)]
pub(crate) struct Tagged<'m> {
    map: &'m LocalTagMap,
    local: [Option<usize>; 2],
}

impl Tagged<'_> {
    /// True when worked out with `map`.
    pub(crate) fn at(&self, map: &LocalTagMap) -> bool {
        std::ptr::eq(self.map, map)
    }

    /// What to look tables up with: the endpoints' NIC ASGs and these.
    pub(crate) fn ends<'a>(&self, asgs: EndpointAsgs<'a>) -> Ends<'a> {
        Ends {
            asgs,
            local: self.local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::addr::set_of;
    use crate::resolve::tags::public_unicast;

    #[test]
    fn the_map_agrees_with_the_tag_sets_at_every_boundary() {
        let virtual_network = set_of(&[
            "10.1.0.0/16",
            "168.63.129.16/32",
            "0.0.0.0/32",
            "2001:db8::/32",
        ]);
        let mut internet = public_unicast();
        internet.subtract(&virtual_network);
        let here = VnetPolicy {
            virtual_network,
            internet,
            ..VnetPolicy::default()
        };
        let map = LocalTagMap::new(&here);
        let sets = [&here.virtual_network, &here.internet];
        let v4 = sets
            .iter()
            .flat_map(|s| s.v4_ranges())
            .flat_map(|(lo, hi)| {
                [lo.wrapping_sub(1), lo, hi, hi.wrapping_add(1)]
                    .map(|a| IpAddr::from(a.to_be_bytes()))
            });
        let v6 = sets
            .iter()
            .flat_map(|s| s.v6_ranges())
            .flat_map(|(lo, hi)| {
                [lo.wrapping_sub(1), lo, hi, hi.wrapping_add(1)]
                    .map(|a| IpAddr::from(a.to_be_bytes()))
            });
        for ip in v4.chain(v6) {
            let want: Vec<usize> = [
                (here.virtual_network.contains(ip), VIRTUAL_NETWORK),
                (here.internet.contains(ip), INTERNET),
            ]
            .into_iter()
            .filter_map(|(held, tag)| held.then_some(tag))
            .collect();
            assert_eq!(map.local(ip).into_iter().collect::<Vec<_>>(), want, "{ip}");
        }
    }
}
