//! Network group membership: static members and Azure Policy dynamic membership
//! (SEMANTICS §2.2), limited to the VNets the manager's scope reaches (§2.1).

use super::condition::{lookup, ConditionContext, ContainerFields};
use super::scope::Reach;
use crate::model::{MemberType, NetworkGroup, ResourceId, Snapshot, Tags};
use std::collections::BTreeMap;

/// A member of a network group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    /// A VNet (index into `Snapshot::vnets`).
    Vnet(usize),
    /// A subnet (index into `Snapshot::subnets`).
    Subnet(usize),
}

/// The members of `group` that the manager's scope reaches (`reach[v]` per VNet).
/// Members outside the scope, and static members not in the snapshot, are reported in
/// `warnings`: they receive nothing (SEMANTICS §2.1, \[S05\]).
pub fn members(
    snapshot: &Snapshot,
    group: &NetworkGroup,
    reach: &[Option<Reach>],
    warnings: &mut Vec<String>,
) -> Vec<Member> {
    let mut out = Vec::new();
    for id in &group.static_members {
        let member = match group.member_type {
            MemberType::VirtualNetwork => snapshot.vnet_index(id).map(Member::Vnet),
            MemberType::Subnet => snapshot.subnet_index(id).map(Member::Subnet),
        };
        match member {
            Some(m) if reach[vnet_of(snapshot, m)].is_some() => out.push(m),
            Some(_) => warnings.push(format!(
                "static member `{id}` of group `{}` of network manager `{}` is outside that manager's scope and receives nothing from it",
                group.id.name(),
                group.id.parent().as_ref().map_or("", |m| m.name())
            )),
            None => warnings.push(not_a_member(snapshot, group, id)),
        }
    }
    if group.member_type == MemberType::VirtualNetwork {
        out.extend(dynamic_members(snapshot, &group.id, reach).map(Member::Vnet));
    }
    out.sort();
    out.dedup();
    out
}

/// Why static member `id` is not one of `group`'s kind: the other kind, or nowhere.
fn not_a_member(snapshot: &Snapshot, group: &NetworkGroup, id: &ResourceId) -> String {
    let other = match group.member_type {
        MemberType::VirtualNetwork => snapshot.subnet_index(id).map(|_| ("a subnet", "VNets")),
        MemberType::Subnet => snapshot.vnet_index(id).map(|_| ("a VNet", "subnets")),
    };
    match other {
        Some((is, wants)) => format!(
            "static member `{id}` of group `{}` is {is}, but the group's members are {wants} (its memberType): it is ignored",
            group.id.name()
        ),
        None => format!(
            "static member `{id}` of group `{}` is not in the snapshot",
            group.id.name()
        ),
    }
}

fn vnet_of(snapshot: &Snapshot, m: Member) -> usize {
    match m {
        Member::Vnet(v) => v,
        Member::Subnet(s) => snapshot.subnets[s].vnet,
    }
}

/// VNets added by policy: in both the assignment's scope and the manager's own (not
/// cross-tenant) scope, and satisfying the definition's condition.
fn dynamic_members<'a>(
    snapshot: &'a Snapshot,
    group: &'a ResourceId,
    reach: &'a [Option<Reach>],
) -> impl Iterator<Item = usize> + 'a {
    let definitions = snapshot
        .policy_definitions
        .iter()
        .filter(move |d| &d.network_group == group);
    definitions.flat_map(move |def| {
        let assignments = snapshot
            .policy_assignments
            .iter()
            .filter(move |a| a.definition == def.id);
        let assignments = assignments.filter(|a| a.enforced);
        assignments.flat_map(move |a| {
            let mut params: BTreeMap<String, serde_json::Value> = def
                .parameters
                .iter()
                .filter_map(|(k, d)| Some((k.clone(), d.clone()?)))
                .collect();
            params.extend(a.parameters.clone());
            // A parameterised effect may be set to something else (`Disabled`) here.
            let adds = def.effect_parameter.as_deref().is_none_or(|p| {
                lookup(&params, p)
                    .and_then(|v| v.as_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("addToNetworkGroup"))
            });
            (0..snapshot.vnets.len()).filter(move |&v| {
                let in_scope = reach[v].is_some_and(|r| !r.cross_tenant);
                adds && in_scope
                    && within_assignment(snapshot, v, &a.scope, &a.not_scopes)
                    && def.condition.evaluate(&context(snapshot, v, &params))
            })
        })
    })
}

/// True when VNet `v` lies under `scope` (an MG, subscription or resource group) and under
/// none of `not_scopes`.
fn within_assignment(
    snapshot: &Snapshot,
    v: usize,
    scope: &ResourceId,
    not_scopes: &[ResourceId],
) -> bool {
    let covers = |s: &ResourceId| {
        let vnet = &snapshot.vnets[v].id;
        match s.management_group() {
            Some(mg) => vnet.subscription().is_some_and(|sub| {
                super::scope::ancestors(snapshot, sub)
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(mg))
            }),
            None => vnet.is_within(s),
        }
    };
    covers(scope) && !not_scopes.iter().any(covers)
}

/// The start of `id` up to the segment after `word` (`/subscriptions/S` of a VNet's id): the
/// id of a container the snapshot does not declare, which Azure Policy still knows.
fn id_through<'i>(id: &'i str, word: &str) -> &'i str {
    let mut end = 0;
    let mut segments = id.split('/');
    let mut found = false;
    for segment in segments.by_ref() {
        end += segment.len() + 1;
        if found {
            return &id[..end - 1];
        }
        found = !segment.is_empty() && segment.eq_ignore_ascii_case(word);
    }
    ""
}

fn context<'a>(
    snapshot: &'a Snapshot,
    v: usize,
    parameters: &'a BTreeMap<String, serde_json::Value>,
) -> ConditionContext<'a> {
    static EMPTY: std::sync::OnceLock<Tags> = std::sync::OnceLock::new();
    let empty = EMPTY.get_or_init(Tags::new);
    let vnet = &snapshot.vnets[v];
    let sub = snapshot.subscription_of(&vnet.id);
    let rg_name = vnet.id.resource_group().unwrap_or("");
    let rg = snapshot.resource_groups.iter().find(|g| {
        g.name.eq_ignore_ascii_case(rg_name) && g.id.subscription() == vnet.id.subscription()
    });
    ConditionContext {
        name: &vnet.name,
        id: vnet.id.as_str(),
        location: &vnet.location,
        resource_type: "Microsoft.Network/virtualNetworks",
        tags: &vnet.tags,
        subscription: ContainerFields {
            name: sub.map_or(vnet.id.subscription().unwrap_or(""), |s| s.name.as_str()),
            id: sub.map_or(id_through(vnet.id.as_str(), "subscriptions"), |s| {
                s.id.as_str()
            }),
            tags: sub.map_or(empty, |s| &s.tags),
        },
        resource_group: ContainerFields {
            name: rg.map_or(rg_name, |g| g.name.as_str()),
            id: rg.map_or(id_through(vnet.id.as_str(), "resourceGroups"), |g| {
                g.id.as_str()
            }),
            tags: rg.map_or(empty, |g| &g.tags),
        },
        parameters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_containers_take_their_ids_from_the_vnets() {
        let vnet =
            "/subscriptions/S1/resourceGroups/rg-Net/providers/Microsoft.Network/virtualNetworks/v";
        assert_eq!(id_through(vnet, "subscriptions"), "/subscriptions/S1");
        assert_eq!(
            id_through(vnet, "resourcegroups"),
            "/subscriptions/S1/resourceGroups/rg-Net"
        );
        assert_eq!(
            id_through("subscriptions/S1/x", "subscriptions"),
            "subscriptions/S1"
        );
        assert_eq!(id_through("/subscriptions", "subscriptions"), "");
    }
}
