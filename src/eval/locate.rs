//! Placing a flow's endpoints: a NIC, a VNet address, on-premises, or the Internet
//! (SEMANTICS §4).

use crate::error::{Error, Result};
use crate::model::{ResourceId, Snapshot};
use serde::Serialize;
use std::net::IpAddr;

/// What an endpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointKind {
    /// A NIC's private address.
    Nic,
    /// An address of a VNet that no NIC in the snapshot holds.
    VnetAddress,
    /// A declared on-premises prefix.
    OnPremises,
    /// Anywhere else.
    Internet,
}

impl EndpointKind {
    /// The kind of an address in no VNet: on-premises where a VNet declares it so.
    pub fn outside(on_premises: bool) -> EndpointKind {
        if on_premises {
            EndpointKind::OnPremises
        } else {
            EndpointKind::Internet
        }
    }

    /// Outside Azure: the Internet or on-premises (SEMANTICS §4), where D7's closed
    /// Standard public IP applies.
    pub fn outside_azure(self) -> bool {
        matches!(self, EndpointKind::OnPremises | EndpointKind::Internet)
    }
}

/// A located endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The address.
    pub address: IpAddr,
    /// What it is.
    pub kind: EndpointKind,
    /// Its VNet.
    pub vnet: Option<usize>,
    /// Its subnet.
    pub subnet: Option<usize>,
    /// Its NIC.
    pub nic: Option<usize>,
    /// The ASGs of the NIC's IP configuration holding the address.
    pub asgs: Vec<usize>,
}

impl Endpoint {
    /// An address in no VNet of the snapshot: on-premises or the Internet.
    pub fn outside(snapshot: &Snapshot, address: IpAddr) -> Endpoint {
        let on_prem = snapshot
            .vnets
            .iter()
            .any(|v| v.on_premises.contains(address));
        Endpoint {
            address,
            kind: EndpointKind::outside(on_prem),
            vnet: None,
            subnet: None,
            nic: None,
            asgs: Vec::new(),
        }
    }
}

/// Locates `address`, honouring a pin (the ARM id of a NIC, subnet or VNet).
pub fn locate(
    snapshot: &Snapshot,
    address: IpAddr,
    pin: Option<&ResourceId>,
    which: &str,
) -> Result<Endpoint> {
    if let Some(pin) = pin {
        return locate_pinned(snapshot, address, pin, which);
    }
    let mut vnets: Vec<usize> = (0..snapshot.vnets.len())
        .filter(|&v| {
            snapshot.vnets[v]
                .address_space
                .iter()
                .any(|n| n.contains(&address))
        })
        .collect();
    for (nic, _) in nics_holding(snapshot, address) {
        let v = snapshot.subnets[nic_subnet(snapshot, nic, address)].vnet;
        if !vnets.contains(&v) {
            vnets.push(v);
        }
    }
    match vnets.as_slice() {
        [] => Ok(Endpoint::outside(snapshot, address)),
        [v] => in_vnet(snapshot, address, *v, None),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|&v| snapshot.vnets[v].id.to_string())
                .collect();
            Err(Error::Endpoint(format!(
                "the {which} address {address} is ambiguous: it lies in {} VNets; pin it with --{} ID, one of:\n  {}",
                many.len(),
                if which == "source" { "from" } else { "to" },
                names.join("\n  ")
            )))
        }
    }
}

fn nics_holding(snapshot: &Snapshot, address: IpAddr) -> impl Iterator<Item = (usize, usize)> + '_ {
    snapshot.nics.iter().enumerate().flat_map(move |(n, nic)| {
        nic.ip_configs
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.address == address)
            .map(move |(i, _)| (n, i))
    })
}

fn nic_subnet(snapshot: &Snapshot, nic: usize, address: IpAddr) -> usize {
    snapshot.nics[nic]
        .ip_configs
        .iter()
        .find(|c| c.address == address)
        .map_or(0, |c| c.subnet)
}

/// The endpoint for `address` inside VNet `v`, restricted to `subnet` when given.
fn in_vnet(
    snapshot: &Snapshot,
    address: IpAddr,
    v: usize,
    subnet: Option<usize>,
) -> Result<Endpoint> {
    let nic = nics_holding(snapshot, address).find(|&(n, i)| {
        let s = snapshot.nics[n].ip_configs[i].subnet;
        snapshot.subnets[s].vnet == v && subnet.is_none_or(|want| want == s)
    });
    if let Some((n, i)) = nic {
        let cfg = &snapshot.nics[n].ip_configs[i];
        return Ok(Endpoint {
            address,
            kind: EndpointKind::Nic,
            vnet: Some(v),
            subnet: Some(cfg.subnet),
            nic: Some(n),
            asgs: cfg.asgs.clone(),
        });
    }
    let subnet = subnet.or_else(|| {
        snapshot.vnets[v].subnets.iter().copied().find(|&s| {
            snapshot.subnets[s]
                .prefixes
                .iter()
                .any(|p| p.contains(&address))
        })
    });
    Ok(Endpoint {
        address,
        kind: EndpointKind::VnetAddress,
        vnet: Some(v),
        subnet,
        nic: None,
        asgs: Vec::new(),
    })
}

fn locate_pinned(
    snapshot: &Snapshot,
    address: IpAddr,
    pin: &ResourceId,
    which: &str,
) -> Result<Endpoint> {
    let refuse = |what: &str| Error::Endpoint(format!("the {which} pin `{pin}` {what} {address}"));
    // A NIC pin names the endpoint itself (even if another NIC shares its address).
    if let Some(n) = snapshot.nic_index(pin) {
        let cfg = snapshot.nics[n]
            .ip_configs
            .iter()
            .find(|c| c.address == address)
            .ok_or_else(|| refuse("is a NIC that does not hold"))?;
        return Ok(Endpoint {
            address,
            kind: EndpointKind::Nic,
            vnet: Some(snapshot.subnets[cfg.subnet].vnet),
            subnet: Some(cfg.subnet),
            nic: Some(n),
            asgs: cfg.asgs.clone(),
        });
    }
    if let Some(s) = snapshot.subnet_index(pin) {
        let subnet = &snapshot.subnets[s];
        let held = nics_holding(snapshot, address)
            .any(|(n, i)| snapshot.nics[n].ip_configs[i].subnet == s);
        if !held && !subnet.prefixes.iter().any(|p| p.contains(&address)) {
            return Err(refuse("is a subnet that does not contain"));
        }
        return in_vnet(snapshot, address, subnet.vnet, Some(s));
    }
    if let Some(v) = snapshot.vnet_index(pin) {
        let vnet = &snapshot.vnets[v];
        let held = nics_holding(snapshot, address)
            .any(|(n, i)| snapshot.subnets[snapshot.nics[n].ip_configs[i].subnet].vnet == v);
        if !held && !vnet.address_space.iter().any(|p| p.contains(&address)) {
            return Err(refuse("is a VNet whose address space does not contain"));
        }
        return in_vnet(snapshot, address, v, None);
    }
    Err(Error::Usage(format!(
        "the {which} pin `{pin}` is not a NIC, subnet or VNet in the snapshot"
    )))
}
