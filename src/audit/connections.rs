//! Findings about scope and deployment: cross-tenant connections that are not Connected,
//! static group members outside their manager's scope, and security admin configurations
//! not deployed to the region of a VNet they target (SEMANTICS §2.1, §2.4).

use super::findings::{Finding, FindingKind};
use crate::model::{MemberType, NetworkManager, Snapshot};
use crate::resolve::groups::{self, Member};
use crate::resolve::scope::{self, Reach};
use crate::resolve::{deployed, Policy};
use std::collections::BTreeSet;

/// Every scope and deployment finding of the policy.
pub(crate) fn connection_findings(policy: &Policy) -> Vec<Finding> {
    let s = &policy.snapshot;
    let mut out = not_connected(policy);
    for m in &s.managers {
        let reach = reach_of(s, m);
        out.extend(out_of_scope(s, m, &reach));
        // Without any status, D2 decides: everything deployed (nothing to report) or nothing.
        if m.security_admin {
            out.extend(not_deployed(s, m, &reach, policy.options.assume_deployed));
        }
    }
    out
}

fn not_connected(policy: &Policy) -> Vec<Finding> {
    let reports = policy.connections.iter().filter(|c| c.state != "Connected");
    reports
        .map(|c| {
            let message = format!(
                "the connection of manager {} to {} is {}: {}; the manager's rules do not reach that scope",
                crate::model::ResourceId::new(&c.manager).name(),
                c.scope,
                c.state,
                c.detail
            );
            Finding::new(FindingKind::Connection, c.scope.clone(), message).with_related("manager", [c.manager.clone()])
        })
        .collect()
}

/// `reach[v]`: how manager `m` reaches each VNet.
fn reach_of(s: &Snapshot, m: &NetworkManager) -> Vec<Option<Reach>> {
    s.vnets
        .iter()
        .map(|v| v.id.subscription().and_then(|sub| scope::reach(s, m, sub)))
        .collect()
}

fn out_of_scope(s: &Snapshot, m: &NetworkManager, reach: &[Option<Reach>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for g in &m.groups {
        for id in &g.static_members {
            let vnet = match g.member_type {
                MemberType::VirtualNetwork => s.vnet_index(id),
                MemberType::Subnet => s.subnet_index(id).map(|x| s.subnets[x].vnet),
            };
            if vnet.is_some_and(|v| reach[v].is_none()) {
                let message = format!(
                    "static member {} of network group {} is outside the scope of manager {} and receives none of its configurations",
                    id.name(),
                    g.id.name(),
                    m.id.name()
                );
                out.push(
                    Finding::new(FindingKind::OutOfScopeMember, id.to_string(), message)
                        .with_related("group", [g.id.to_string()])
                        .with_related("manager", [m.id.to_string()]),
                );
            }
        }
    }
    out
}

fn not_deployed(
    s: &Snapshot,
    m: &NetworkManager,
    reach: &[Option<Reach>],
    assume_deployed: bool,
) -> Vec<Finding> {
    let mut quiet = Vec::new();
    let mut out = Vec::new();
    for config in &m.security_configs {
        let mut regions = BTreeSet::new();
        for collection in &config.collections {
            for g in m
                .groups
                .iter()
                .filter(|g| collection.applies_to.contains(&g.id))
            {
                for member in groups::members(s, g, reach, &mut quiet) {
                    let v = match member {
                        Member::Vnet(v) => v,
                        Member::Subnet(x) => s.subnets[x].vnet,
                    };
                    regions.insert((s.vnets[v].location.clone(), v));
                }
            }
        }
        let mut reported = BTreeSet::new();
        for (region, v) in regions {
            if deployed(s, m, &region, "securityadmin", assume_deployed).includes(&config.id)
                || !reported.insert(region.clone())
            {
                continue;
            }
            let message = format!(
                "security admin configuration {} targets VNet {} in {region}, but its latest deployment there does not include it: its rules do not apply in {region}",
                config.id.name(),
                s.vnets[v].name
            );
            out.push(
                Finding::new(FindingKind::NotDeployed, config.id.to_string(), message)
                    .with_related("vnet", [s.vnets[v].id.to_string()]),
            );
        }
    }
    out
}
