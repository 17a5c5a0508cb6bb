//! Placing a flow's endpoints without scanning the snapshot: the same answers as
//! [`eval::locate::locate`](crate::eval::locate::locate), errors included, from indexes
//! built once.
//!
//! The reference walks every VNet's address space and every NIC for each endpoint. Here a
//! hash map from private IP to the NIC configurations holding it replaces the NIC walk, and
//! an interval map over VNet address spaces and subnet prefixes (the same elementary
//! intervals as the rule tables) gives, per address, the VNets containing it and, per VNet,
//! its first subnet containing it. Orders are kept exactly (VNets by index, then NICs by
//! index), because the reference's choices and its ambiguity message depend on them.
//!
//! Without a pin, where an address is placed depends on the address alone: on the NIC
//! configurations holding it, else on its elementary interval. So each held address and
//! each interval keeps its answer, worked out when the index is built, and a lookup is one
//! hash probe, plus one interval lookup for an address no NIC holds. Measured (callgrind,
//! 100,000 enterprise decisions): placing both ends was 28% of a decision's instructions.

use super::bits::{self, Interner, Intersect, Store};
use super::table::IntervalMap;
use crate::error::{Error, Result};
use crate::eval::locate::EndpointKind;
use crate::model::{ResourceId, Snapshot};
use ipnet::IpNet;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::net::IpAddr;

/// A located endpoint, borrowing its ASGs from the snapshot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place<'p> {
    /// What it is.
    pub(crate) kind: EndpointKind,
    /// Its VNet.
    pub(crate) vnet: Option<usize>,
    /// Its subnet.
    pub(crate) subnet: Option<usize>,
    /// Its NIC.
    pub(crate) nic: Option<usize>,
    /// The ASGs of the NIC configuration holding the address.
    pub(crate) asgs: &'p [usize],
}

/// One NIC IP configuration holding an address.
#[derive(Clone, Copy, Debug)]
struct Holder<'p> {
    nic: usize,
    /// The configuration's subnet and that subnet's VNet.
    subnet: usize,
    vnet: usize,
    /// The VNet of the NIC's *first* configuration with this address (what the
    /// reference's candidate list uses).
    first_vnet: usize,
    asgs: &'p [usize],
}

/// What an elementary address interval lies in.
#[derive(Clone, Debug, Default)]
struct Cell<'p> {
    /// VNets whose address space holds it, ascending.
    vnets: SmallVec<[usize; 2]>,
    /// `(vnet, first subnet of that VNet's list whose prefixes hold it)`, by VNet.
    subnets: SmallVec<[(usize, usize); 2]>,
    /// A VNet declares it on-premises.
    on_premises: bool,
    /// Where an address here that no NIC holds is placed without a pin; `None` when that
    /// is ambiguous.
    unpinned: Option<Place<'p>>,
}

/// The NIC configurations holding one address, and where it is placed without a pin.
#[derive(Clone, Debug, Default)]
struct Held<'p> {
    holders: SmallVec<[Holder<'p>; 1]>,
    /// `None` when ambiguous.
    unpinned: Option<Place<'p>>,
}

impl Cell<'_> {
    fn first_subnet(&self, vnet: usize) -> Option<usize> {
        self.subnets.iter().find(|s| s.0 == vnet).map(|s| s.1)
    }
}

/// The indexes for placing endpoints.
#[derive(Debug)]
pub(crate) struct Locator<'p> {
    snapshot: &'p Snapshot,
    /// NIC configurations by private address, in NIC then configuration order. Fx rather
    /// than SipHash: two lookups a decision, on keys from our own snapshot.
    held: FxHashMap<IpAddr, Held<'p>>,
    v4: IntervalMap<u32, usize>,
    v6: IntervalMap<u128, usize>,
    cells: Vec<Cell<'p>>,
    /// First index of each id, for pins.
    nic_ids: HashMap<&'p ResourceId, usize>,
    subnet_ids: HashMap<&'p ResourceId, usize>,
    vnet_ids: HashMap<&'p ResourceId, usize>,
}

/// First index of every id.
fn first_index<'p>(ids: impl Iterator<Item = &'p ResourceId>) -> HashMap<&'p ResourceId, usize> {
    let mut out = HashMap::new();
    for (i, id) in ids.enumerate() {
        out.entry(id).or_insert(i);
    }
    out
}

impl<'p> Locator<'p> {
    /// Indexes `snapshot`.
    pub(crate) fn new(snapshot: &'p Snapshot) -> Locator<'p> {
        let mut held: FxHashMap<IpAddr, Held<'p>> = FxHashMap::default();
        let vnet_of = |subnet: usize| snapshot.subnets.get(subnet).map_or(0, |s| s.vnet);
        for (n, nic) in snapshot.nics.iter().enumerate() {
            for cfg in &nic.ip_configs {
                let first = nic
                    .ip_configs
                    .iter()
                    .find(|c| c.address == cfg.address)
                    .map_or(0, |c| c.subnet);
                held.entry(cfg.address).or_default().holders.push(Holder {
                    nic: n,
                    subnet: cfg.subnet,
                    vnet: vnet_of(cfg.subnet),
                    first_vnet: vnet_of(first),
                    asgs: &cfg.asgs,
                });
            }
        }
        // Items 0..V are VNet address spaces, V + s is subnet s's prefixes, V + S the
        // declared on-premises prefixes.
        let vnets = snapshot.vnets.len();
        let on_premises = vnets + snapshot.subnets.len();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let nets = snapshot
            .vnets
            .iter()
            .enumerate()
            .flat_map(|(v, vnet)| vnet.address_space.iter().map(move |n| (n, v)));
        let prefixes = snapshot
            .subnets
            .iter()
            .enumerate()
            .flat_map(|(s, subnet)| subnet.prefixes.iter().map(move |n| (n, vnets + s)));
        for (net, item) in nets.chain(prefixes) {
            match net.trunc() {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()), item)),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()), item)),
            }
        }
        for declared in snapshot.vnets.iter().map(|v| &v.on_premises) {
            v4.extend(declared.v4_ranges().map(|(lo, hi)| (lo, hi, on_premises)));
            v6.extend(declared.v6_ranges().map(|(lo, hi)| (lo, hi, on_premises)));
        }
        let mut interner = Interner::new(on_premises + 1);
        let v4 = IntervalMap::build(&v4, &mut interner);
        let v6 = IntervalMap::build(&v6, &mut interner);
        let arena = interner.finish();
        // Where each subnet sits in VNet lists: (vnet, position).
        let mut listed: Vec<SmallVec<[(usize, usize); 1]>> =
            vec![SmallVec::new(); snapshot.subnets.len()];
        for (v, vnet) in snapshot.vnets.iter().enumerate() {
            for (at, &s) in vnet.subnets.iter().enumerate() {
                if let Some(l) = listed.get_mut(s) {
                    l.push((v, at));
                }
            }
        }
        let cells = (0..arena.len())
            .map(|id| {
                let mut cell = Cell::default();
                // (vnet, position, subnet), keeping the earliest position per VNet.
                let mut firsts: SmallVec<[(usize, usize, usize); 2]> = SmallVec::new();
                for item in bits::ones(arena.get(id)) {
                    if item == on_premises {
                        cell.on_premises = true;
                        continue;
                    }
                    if item < vnets {
                        cell.vnets.push(item);
                        continue;
                    }
                    let s = item - vnets;
                    for &(v, at) in listed.get(s).into_iter().flatten() {
                        match firsts.iter_mut().find(|f| f.0 == v) {
                            Some(f) if f.1 > at => *f = (v, at, s),
                            Some(_) => {}
                            None => firsts.push((v, at, s)),
                        }
                    }
                }
                firsts.sort_unstable();
                cell.subnets = firsts.iter().map(|f| (f.0, f.2)).collect();
                cell.unpinned = unpinned(&[], &cell);
                cell
            })
            .collect();
        let mut locator = Locator {
            snapshot,
            held: FxHashMap::default(),
            v4,
            v6,
            cells,
            nic_ids: first_index(snapshot.nics.iter().map(|n| &n.id)),
            subnet_ids: first_index(snapshot.subnets.iter().map(|s| &s.id)),
            vnet_ids: first_index(snapshot.vnets.iter().map(|v| &v.id)),
        };
        for (&address, h) in &mut held {
            let cell = locator.cell(address).cloned().unwrap_or_default();
            h.unpinned = unpinned(&h.holders, &cell);
        }
        locator.held = held;
        locator
    }

    /// Heap bytes of the indexes (approximate for the hash maps).
    pub(crate) fn bytes(&self) -> usize {
        self.held.capacity() * (std::mem::size_of::<IpAddr>() + std::mem::size_of::<Held>())
            + self.v4.bytes()
            + self.v6.bytes()
            + self.cells.capacity() * std::mem::size_of::<Cell>()
    }

    fn cell(&self, address: IpAddr) -> Option<&Cell<'p>> {
        let id = match address {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => self.v6.get(u128::from(a)),
        };
        self.cells.get(id)
    }

    /// Locates `address`, honouring a pin; `which` is `source` or `destination`.
    #[inline]
    pub(crate) fn locate(
        &self,
        address: IpAddr,
        pin: Option<&ResourceId>,
        which: &str,
    ) -> Result<Place<'p>> {
        let held = self.held.get(&address);
        let holders = held.map_or(&[][..], |h| h.holders.as_slice());
        if let Some(pin) = pin {
            return self.pinned(address, holders, self.cell(address), pin, which);
        }
        let unpinned = match held {
            Some(h) => h.unpinned,
            None => self.cell(address).and_then(|c| c.unpinned),
        };
        unpinned.ok_or_else(|| self.ambiguous(address, holders, which))
    }

    /// The error for an address that lies in several VNets, naming them in the
    /// reference's order.
    #[cold]
    fn ambiguous(&self, address: IpAddr, holders: &[Holder], which: &str) -> Error {
        let cell = self.cell(address).cloned().unwrap_or_default();
        let names: Vec<String> = candidates(holders, &cell)
            .filter_map(|v| self.snapshot.vnets.get(v))
            .map(|v| v.id.to_string())
            .collect();
        Error::Endpoint(format!(
            "the {which} address {address} is ambiguous: it lies in {} VNets; pin it with --{} ID, one of:\n  {}",
            names.len(),
            if which == "source" { "from" } else { "to" },
            names.join("\n  ")
        ))
    }

    fn pinned(
        &self,
        address: IpAddr,
        holders: &[Holder<'p>],
        cell: Option<&Cell>,
        pin: &ResourceId,
        which: &str,
    ) -> Result<Place<'p>> {
        let s = self.snapshot;
        let refuse =
            |what: &str| Error::Endpoint(format!("the {which} pin `{pin}` {what} {address}"));
        // A NIC pin names the endpoint itself (even if another NIC shares its address).
        if let Some(&n) = self.nic_ids.get(pin) {
            let h = holders
                .iter()
                .find(|h| h.nic == n)
                .ok_or_else(|| refuse("is a NIC that does not hold"))?;
            return Ok(Place {
                kind: EndpointKind::Nic,
                vnet: Some(h.vnet),
                subnet: Some(h.subnet),
                nic: Some(n),
                asgs: h.asgs,
            });
        }
        if let Some((at, subnet)) = self
            .subnet_ids
            .get(pin)
            .and_then(|&at| Some((at, s.subnets.get(at)?)))
        {
            let held = holders.iter().any(|h| h.subnet == at);
            if !held && !subnet.prefixes.iter().any(|p| p.contains(&address)) {
                return Err(refuse("is a subnet that does not contain"));
            }
            return Ok(in_vnet(holders, cell, subnet.vnet, Some(at)));
        }
        if let Some((at, vnet)) = self
            .vnet_ids
            .get(pin)
            .and_then(|&at| Some((at, s.vnets.get(at)?)))
        {
            let held = holders.iter().any(|h| h.vnet == at);
            if !held && !vnet.address_space.iter().any(|p| p.contains(&address)) {
                return Err(refuse("is a VNet whose address space does not contain"));
            }
            return Ok(in_vnet(holders, cell, at, None));
        }
        Err(Error::Usage(format!(
            "the {which} pin `{pin}` is not a NIC, subnet or VNet in the snapshot"
        )))
    }
}

/// The candidate VNets of an address held by `holders` in `cell`, in the reference's order:
/// address spaces holding the address, then the VNets of NICs holding it, each once.
fn candidates<'a>(
    holders: &'a [Holder],
    cell: &'a Cell,
) -> impl Iterator<Item = usize> + Clone + 'a {
    let in_space = cell.vnets.as_slice();
    let from_nics = holders.iter().enumerate().filter(move |&(i, h)| {
        !in_space.contains(&h.first_vnet)
            && !holders[..i].iter().any(|g| g.first_vnet == h.first_vnet)
    });
    in_space
        .iter()
        .copied()
        .chain(from_nics.map(|(_, h)| h.first_vnet))
}

/// Where an address held by `holders` in `cell` is placed without a pin; `None` when it
/// lies in several VNets.
fn unpinned<'p>(holders: &[Holder<'p>], cell: &Cell) -> Option<Place<'p>> {
    let mut first_two = candidates(holders, cell);
    match (first_two.next(), first_two.next()) {
        (None, _) => Some(Place {
            kind: EndpointKind::outside(cell.on_premises),
            vnet: None,
            subnet: None,
            nic: None,
            asgs: &[],
        }),
        (Some(v), None) => Some(in_vnet(holders, Some(cell), v, None)),
        _ => None,
    }
}

/// The endpoint inside VNet `vnet`, restricted to `subnet` when given: the first NIC
/// configuration there holding the address, else a VNet address in the VNet's first subnet
/// holding it.
fn in_vnet<'p>(
    holders: &[Holder<'p>],
    cell: Option<&Cell>,
    vnet: usize,
    subnet: Option<usize>,
) -> Place<'p> {
    let nic = holders
        .iter()
        .find(|h| h.vnet == vnet && subnet.is_none_or(|want| want == h.subnet));
    if let Some(h) = nic {
        return Place {
            kind: EndpointKind::Nic,
            vnet: Some(vnet),
            subnet: Some(h.subnet),
            nic: Some(h.nic),
            asgs: h.asgs,
        };
    }
    Place {
        kind: EndpointKind::VnetAddress,
        vnet: Some(vnet),
        subnet: subnet.or_else(|| cell.and_then(|c| c.first_subnet(vnet))),
        nic: None,
        asgs: &[],
    }
}
