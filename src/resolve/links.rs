//! Which VNets can reach which: peerings and AVNM connectivity (SEMANTICS §4 step 2).

use super::deploy::deployed;
use super::groups::Member;
use crate::model::{ConnectivityConfig, NetworkManager, Snapshot};
use std::collections::BTreeSet;

/// For each VNet, the other VNets it reaches directly (peering, connected group, hub↔spoke).
pub fn vnet_links(
    snapshot: &Snapshot,
    members_of: &dyn Fn(usize, &crate::model::ResourceId) -> Vec<Member>,
    assume_deployed: bool,
) -> Vec<BTreeSet<usize>> {
    let mut links = vec![BTreeSet::new(); snapshot.vnets.len()];
    let mut link = |a: usize, b: usize| {
        if a != b {
            links[a].insert(b);
            links[b].insert(a);
        }
    };
    for (a, vnet) in snapshot.vnets.iter().enumerate() {
        for p in vnet.peerings.iter().filter(|p| p.connected) {
            let Some(b) = snapshot.vnet_index(&p.remote) else {
                continue;
            };
            let back = snapshot.vnets[b]
                .peerings
                .iter()
                .any(|q| q.connected && q.remote == vnet.id);
            if back {
                link(a, b);
            }
        }
    }
    for (m_index, manager) in snapshot.managers.iter().enumerate() {
        for config in &manager.connectivity_configs {
            for (a, b) in connectivity_pairs(
                snapshot,
                m_index,
                manager,
                config,
                members_of,
                assume_deployed,
            ) {
                link(a, b);
            }
        }
    }
    links
}

/// The VNet pairs one connectivity configuration connects, where it is deployed in the
/// regions of both VNets.
fn connectivity_pairs(
    snapshot: &Snapshot,
    m_index: usize,
    manager: &NetworkManager,
    config: &ConnectivityConfig,
    members_of: &dyn Fn(usize, &crate::model::ResourceId) -> Vec<Member>,
    assume_deployed: bool,
) -> Vec<(usize, usize)> {
    let live = |v: usize| {
        deployed(
            snapshot,
            manager,
            &snapshot.vnets[v].location,
            "connectivity",
            assume_deployed,
        )
        .includes(&config.id)
    };
    let same_region = |a: usize, b: usize| snapshot.vnets[a].location == snapshot.vnets[b].location;
    let hubs: Vec<usize> = config
        .hubs
        .iter()
        .filter_map(|h| snapshot.vnet_index(h))
        .collect();
    let mut pairs = Vec::new();
    for item in &config.groups {
        let vnets: Vec<usize> = members_of(m_index, &item.group)
            .into_iter()
            .filter_map(|m| match m {
                Member::Vnet(v) => Some(v),
                Member::Subnet(_) => None,
            })
            .collect();
        let direct = !config.hub_and_spoke || item.directly_connected;
        let global = config.is_global || item.is_global;
        for (i, &a) in vnets.iter().enumerate() {
            if config.hub_and_spoke {
                pairs.extend(hubs.iter().map(|&h| (h, a)));
            }
            if direct {
                pairs.extend(
                    vnets[i + 1..]
                        .iter()
                        .filter(|&&b| global || same_region(a, b))
                        .map(|&b| (a, b)),
                );
            }
        }
    }
    pairs.retain(|&(a, b)| live(a) && live(b));
    pairs
}
