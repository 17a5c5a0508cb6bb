//! Zones: the address sets that `eval::locate` places alike, one per NIC address,
//! subnet, VNet remainder, and outside Azure (on-premises, the Internet).
//!
//! Every address of a zone meets the same stages in the same way, so a whole zone can be
//! walked symbolically at once ([`super::paths`]). Within a VNet: a NIC's private address
//! is its own zone; a subnet's zone is its prefixes (inside the VNet's space) minus NIC
//! addresses and minus earlier subnets (locate takes the first subnet that matches); the
//! VNet's zone is the rest of its address space. Outside every VNet: declared on-premises
//! prefixes, then everything else is the Internet. Zones of two VNets with overlapping
//! spaces overlap; such addresses are ambiguous, and each zone carries the pin (its NIC,
//! subnet or VNet id) that `explain` needs to place them.

use crate::model::{AddrSet, ResourceId, Snapshot};
use serde::Serialize;

/// What a zone is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZoneKind {
    /// One private address of a NIC.
    Nic,
    /// A subnet's addresses that no NIC holds.
    Subnet,
    /// A VNet's addresses in no subnet.
    Vnet,
    /// Declared on-premises prefixes outside every VNet.
    OnPremises,
    /// Everything else.
    Internet,
}

impl ZoneKind {
    /// Outside Azure: the Internet or on-premises (SEMANTICS §4), as
    /// [`EndpointKind::outside_azure`](crate::eval::locate::EndpointKind::outside_azure).
    pub fn outside_azure(self) -> bool {
        matches!(self, ZoneKind::OnPremises | ZoneKind::Internet)
    }
}

/// A set of addresses placed alike.
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    pub kind: ZoneKind,
    pub addrs: AddrSet,
    pub vnet: Option<usize>,
    pub subnet: Option<usize>,
    pub nic: Option<usize>,
    /// The NIC, subnet or VNet id (the pin for `explain`); `None` outside Azure.
    pub id: Option<ResourceId>,
    /// `NIC vm-web01 (10.1.1.4)`, `subnet snet-web`, `the Internet`.
    pub name: String,
}

impl Zone {
    /// The VNet's id, if the zone is in one.
    pub fn vnet_id<'s>(&self, s: &'s Snapshot) -> Option<&'s ResourceId> {
        self.vnet.map(|v| &s.vnets[v].id)
    }
}

/// Every non-empty zone of the snapshot.
pub(crate) fn zones(s: &Snapshot) -> Vec<Zone> {
    let mut out = Vec::new();
    let mut inside = AddrSet::new();
    for (v, vnet) in s.vnets.iter().enumerate() {
        let mut space = AddrSet::new();
        vnet.address_space.iter().for_each(|n| space.insert_net(*n));
        inside.extend(&space);
        let nic_zones = nic_zones(s, v);
        let mut taken = AddrSet::new();
        for z in &nic_zones {
            taken.extend(&z.addrs);
            inside.extend(&z.addrs);
        }
        out.extend(nic_zones);
        for &x in &vnet.subnets {
            let mut addrs = AddrSet::new();
            s.subnets[x]
                .prefixes
                .iter()
                .for_each(|n| addrs.insert_net(*n));
            let mut outside = AddrSet::all();
            outside.subtract(&space);
            addrs.subtract(&outside);
            addrs.subtract(&taken);
            taken.extend(&addrs);
            let name = format!("subnet {} of VNet {}", s.subnets[x].name, vnet.name);
            out.push(zone(
                ZoneKind::Subnet,
                addrs,
                (Some(v), Some(x), None),
                Some(s.subnets[x].id.clone()),
                name,
            ));
        }
        space.subtract(&taken);
        let name = format!("VNet {} outside its subnets", vnet.name);
        out.push(zone(
            ZoneKind::Vnet,
            space,
            (Some(v), None, None),
            Some(vnet.id.clone()),
            name,
        ));
    }
    let mut on_prem = AddrSet::new();
    s.vnets.iter().for_each(|v| on_prem.extend(&v.on_premises));
    on_prem.subtract(&inside);
    let mut internet = AddrSet::all();
    internet.subtract(&inside);
    internet.subtract(&on_prem);
    out.push(zone(
        ZoneKind::OnPremises,
        on_prem,
        (None, None, None),
        None,
        "on-premises".into(),
    ));
    out.push(zone(
        ZoneKind::Internet,
        internet,
        (None, None, None),
        None,
        "the Internet".into(),
    ));
    out.retain(|z| !z.addrs.is_empty());
    out
}

fn nic_zones(s: &Snapshot, v: usize) -> Vec<Zone> {
    let mut out = Vec::new();
    for (n, nic) in s.nics.iter().enumerate() {
        for c in nic
            .ip_configs
            .iter()
            .filter(|c| s.subnets[c.subnet].vnet == v)
        {
            let addrs = AddrSet::from_net(ipnet::IpNet::from(c.address));
            let name = format!("NIC {} ({})", nic.name, c.address);
            out.push(zone(
                ZoneKind::Nic,
                addrs,
                (Some(v), Some(c.subnet), Some(n)),
                Some(nic.id.clone()),
                name,
            ));
        }
    }
    out
}

fn zone(
    kind: ZoneKind,
    addrs: AddrSet,
    (vnet, subnet, nic): (Option<usize>, Option<usize>, Option<usize>),
    id: Option<ResourceId>,
    name: String,
) -> Zone {
    Zone {
        kind,
        addrs,
        vnet,
        subnet,
        nic,
        id,
        name,
    }
}
