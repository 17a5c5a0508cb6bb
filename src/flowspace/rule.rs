//! A resolved rule's match set as cubes and as a [`FlowSet`].
//!
//! The fields follow `eval::matching` exactly: the protocol per D3
//! ([`crate::eval::matching::protocol_matches`]), addresses as resolved (tags expanded),
//! ports only for TCP and UDP. One approximation is made, and only for analysis: an
//! application security group stands for the private addresses of its member NICs'
//! IP configurations ([`asg_addresses`]). `eval` matches an ASG by the NIC holding the
//! address, which differs only when two NICs in different VNets share an address.

use super::bdd::{split_families, FieldCache, FlowSet};
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
    /// Each cube's bounding box, for the quick overlap test.
    boxes: SmallVec<[BoundingBox; 2]>,
}

/// The smallest and largest value of each field of a cube (family as 0 or 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BoundingBox {
    lo: [u128; 6],
    hi: [u128; 6],
}

impl BoundingBox {
    fn of(c: &Cube) -> BoundingBox {
        let family = u128::from(c.family == Family::Ipv6);
        let fields = [&c.protocols, &c.dst, &c.dst_ports, &c.src, &c.src_ports];
        let mut b = BoundingBox {
            lo: [family; 6],
            hi: [family; 6],
        };
        for (k, r) in fields.iter().enumerate() {
            let (lo, hi) = r.bounds().unwrap_or((1, 0));
            b.lo[k + 1] = lo;
            b.hi[k + 1] = hi;
        }
        b
    }

    fn overlaps(&self, other: &BoundingBox) -> bool {
        (0..6).all(|k| self.lo[k] <= other.hi[k] && other.lo[k] <= self.hi[k])
    }
}

impl RuleSpace {
    /// The cubes of `rule`'s match set; `asgs[a]` is the address set of ASG `a`. Rules
    /// with equal cubes have equal match sets, whatever their ids.
    pub fn cubes_of(
        rule: &ResolvedRule,
        asgs: &[AddrSet],
        any: AnyProtocol,
    ) -> SmallVec<[Cube; 2]> {
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
        cubes
    }

    /// The set of a union of disjoint cubes.
    pub fn of_cubes(cubes: SmallVec<[Cube; 2]>) -> RuleSpace {
        RuleSpace::of_cubes_in(cubes, &mut FieldCache::default())
    }

    /// [`of_cubes`](Self::of_cubes), the fields' diagrams taken from `cache` where built.
    pub fn of_cubes_in(cubes: SmallVec<[Cube; 2]>, cache: &mut FieldCache) -> RuleSpace {
        let set = cubes.iter().fold(FlowSet::empty(), |acc, c| {
            acc.union(&FlowSet::from_cube_in(c, cache))
        });
        let boxes = cubes.iter().map(BoundingBox::of).collect();
        RuleSpace { cubes, set, boxes }
    }

    /// True when the two rules' cubes share a flow — exactly when their sets overlap,
    /// decided without the diagram (bounding boxes first, then the intervals).
    pub fn may_overlap(&self, other: &RuleSpace) -> bool {
        self.boxes.iter().zip(&self.cubes).any(|(ba, a)| {
            other
                .boxes
                .iter()
                .zip(&other.cubes)
                .any(|(bb, b)| ba.overlaps(bb) && a.overlaps(b))
        })
    }
}

/// For each rule, the other rules its match set overlaps, in table order: one sweep over
/// the cubes sorted by their lowest destination address, so a table of rules with narrow
/// destinations costs far less than comparing every pair.
pub fn overlaps(spaces: &[&RuleSpace]) -> Vec<Vec<usize>> {
    const DST: usize = 2;
    let mut entries: Vec<(BoundingBox, usize, usize)> = Vec::new();
    for (r, space) in spaces.iter().enumerate() {
        entries.extend(space.boxes.iter().enumerate().map(|(c, b)| (*b, r, c)));
    }
    entries.sort_by_key(|e| e.0.lo[DST]);
    let mut out = vec![Vec::new(); spaces.len()];
    for (p, (a, ra, ca)) in entries.iter().enumerate() {
        for (b, rb, cb) in entries[p + 1..]
            .iter()
            .take_while(|e| e.0.lo[DST] <= a.hi[DST])
        {
            let cubes = (&spaces[*ra].cubes[*ca], &spaces[*rb].cubes[*cb]);
            if ra != rb && a.overlaps(b) && cubes.0.overlaps(cubes.1) {
                out[*ra].push(*rb);
                out[*rb].push(*ra);
            }
        }
    }
    for list in &mut out {
        list.sort_unstable();
        list.dedup();
    }
    out
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
