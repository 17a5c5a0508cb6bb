//! A resolved rule's match set as cubes and as a [`FlowSet`].
//!
//! The fields follow `eval::matching` exactly: the protocol per D3
//! ([`crate::eval::matching::protocol_matches`]), addresses as resolved (tags expanded),
//! ports only for TCP and UDP. One approximation is made, and only for analysis: an
//! application security group stands for the private addresses of its member NICs'
//! IP configurations ([`asg_addresses`]). `eval` matches an ASG by the NIC holding the
//! address, which differs only when two NICs in different VNets share an address.

use super::bdd::{split_families, FlowSet};
use super::cube::{ported_protocols, Cube, Family, Ranges, PORT_MAX, PROTOCOL_MAX};
use crate::eval::matching::protocol_matches;
use crate::model::{AddrSet, PortRange, Snapshot};
use crate::options::AnyProtocol;
use crate::resolve::{AddrMatch, ResolvedRule};
use smallvec::SmallVec;

/// A rule's match set: at most four cubes (two families × ported or not) and their union.
#[derive(Clone, Debug)]
pub struct RuleSpace {
    /// Disjoint cubes whose union is the match set.
    pub cubes: SmallVec<[Cube; 2]>,
    /// The match set.
    pub set: FlowSet,
}

impl RuleSpace {
    /// The match set of `rule`; `asgs[a]` is the address set of ASG `a`.
    pub fn new(rule: &ResolvedRule, asgs: &[AddrSet], any: AnyProtocol) -> RuleSpace {
        let protocols = Ranges::from_intervals(
            (0..=PROTOCOL_MAX)
                .filter(|&p| protocol_matches(rule.rule.fields.protocol, p as u8, any))
                .map(|p| (p, p)),
        );
        let (src4, src6) = split_families(&addresses(&rule.sources, asgs));
        let (dst4, dst6) = split_families(&addresses(&rule.destinations, asgs));
        let ported = protocols.intersect(&ported_protocols());
        let others = protocols.intersect(&Ranges::from_intervals([
            (0, 5),
            (7, 16),
            (18, PROTOCOL_MAX),
        ]));
        let mut cubes = SmallVec::new();
        for (family, src, dst) in [(Family::Ipv4, src4, dst4), (Family::Ipv6, src6, dst6)] {
            let base = Cube {
                family,
                protocols: ported.clone(),
                src,
                src_ports: ports(&rule.source_ports),
                dst,
                dst_ports: ports(&rule.destination_ports),
            };
            let unported = Cube {
                protocols: others.clone(),
                src_ports: Ranges::full(PORT_MAX),
                dst_ports: Ranges::full(PORT_MAX),
                ..base.clone()
            };
            cubes.extend([base, unported].into_iter().filter(|c| !c.is_empty()));
        }
        let set = cubes
            .iter()
            .fold(FlowSet::empty(), |acc, c| acc.union(&FlowSet::from_cube(c)));
        RuleSpace { cubes, set }
    }

    /// True when the two rules' cubes share a flow: a necessary condition for their sets
    /// to overlap, decided without the diagram.
    pub fn may_overlap(&self, other: &RuleSpace) -> bool {
        self.cubes
            .iter()
            .any(|a| other.cubes.iter().any(|b| a.overlaps(b)))
    }
}

/// The address set of each ASG of the snapshot: its member IP configurations' addresses.
pub fn asg_addresses(snapshot: &Snapshot) -> Vec<AddrSet> {
    let mut out = vec![AddrSet::new(); snapshot.asgs.len()];
    for config in snapshot.nics.iter().flat_map(|n| &n.ip_configs) {
        for &a in &config.asgs {
            if let Some(set) = out.get_mut(a) {
                set.insert_net(ipnet::IpNet::from(config.address));
            }
        }
    }
    out
}

fn addresses(m: &AddrMatch, asgs: &[AddrSet]) -> AddrSet {
    let mut set = m.set.clone();
    for a in m.asgs.iter().filter_map(|&a| asgs.get(a)) {
        set.extend(a);
    }
    set
}

fn ports(list: &[PortRange]) -> Ranges {
    Ranges::from_intervals(list.iter().map(|r| (u128::from(r.lo), u128::from(r.hi))))
}
