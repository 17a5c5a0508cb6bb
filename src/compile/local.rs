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

use super::table::Ends;
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

/// One VNet's two tags as sorted interval starts, each with the pseudo-ASG its interval is
/// in: a binary search per lookup, where the tags' B-tree sets cost a tenth of a decision.
#[derive(Debug, Default)]
pub(crate) struct LocalTagMap {
    v4: Vec<(u32, Option<usize>)>,
    v6: Vec<(u128, Option<usize>)>,
}

impl LocalTagMap {
    /// The map of `here`'s tags.
    pub(crate) fn new(here: &VnetPolicy) -> LocalTagMap {
        let tagged = |vn: Vec<(u128, u128)>, internet: Vec<(u128, u128)>| {
            let vn = vn.into_iter().map(|r| (r, VIRTUAL_NETWORK));
            let internet = internet.into_iter().map(|r| (r, INTERNET));
            starts(vn.chain(internet).collect())
        };
        let wide = |ranges: Vec<(u32, u32)>| -> Vec<(u128, u128)> {
            ranges
                .into_iter()
                .map(|(lo, hi)| (u128::from(lo), u128::from(hi)))
                .collect()
        };
        let v4 = tagged(
            wide(here.virtual_network.v4_ranges().collect()),
            wide(here.internet.v4_ranges().collect()),
        );
        let v6 = tagged(
            here.virtual_network.v6_ranges().collect(),
            here.internet.v6_ranges().collect(),
        );
        LocalTagMap {
            v4: v4
                .into_iter()
                .filter_map(|(s, t)| Some((u32::try_from(s).ok()?, t)))
                .collect(),
            v6,
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
        match ip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => find(&self.v6, u128::from(a)),
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

/// Disjoint tagged ranges as interval starts from 0, untagged gaps included.
fn starts(mut ranges: Vec<((u128, u128), usize)>) -> Vec<(u128, Option<usize>)> {
    ranges.sort_unstable();
    let mut out = vec![(0, None)];
    for ((lo, hi), tag) in ranges {
        out.push((lo, Some(tag)));
        if let Some(next) = hi.checked_add(1) {
            out.push((next, None));
        }
    }
    // A range starting where the last ended replaces its gap.
    out.reverse();
    out.dedup_by_key(|s| s.0);
    out.reverse();
    out
}

/// The tag of the interval holding `key`.
#[inline]
fn find<K: Copy + Ord>(starts: &[(K, Option<usize>)], key: K) -> Option<usize> {
    let at = starts.partition_point(|s| s.0 <= key);
    starts.get(at.checked_sub(1)?).and_then(|s| s.1)
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
