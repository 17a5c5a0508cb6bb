//! Which managers reach which VNets: the management-group tree, subscription scopes and
//! cross-tenant connections (SEMANTICS §2.1).

use crate::model::{NetworkManager, ScopeRef, Snapshot};
use serde::Serialize;

/// How a manager's scope reaches a VNet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    /// D1 tier: 0 for the tenant root MG, one more per MG level, `u32::MAX` for a
    /// subscription.
    pub tier: u32,
    /// Reached only through a cross-tenant connection (then only static membership counts).
    pub cross_tenant: bool,
}

/// The state of one cross-tenant connection, for `explain` and `audit`.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionReport {
    /// The manager.
    pub manager: String,
    /// The subscription or management group.
    pub scope: String,
    /// `Connected`, `Pending`, `Revoked`, `Conflict` or `Rejected`.
    pub state: String,
    /// Why, in words.
    pub detail: String,
}

/// The management groups above a subscription, nearest first.
pub fn ancestors(snapshot: &Snapshot, subscription: &str) -> Vec<String> {
    let sub = snapshot
        .subscriptions
        .iter()
        .find(|s| s.subscription_id.eq_ignore_ascii_case(subscription));
    mg_chain(snapshot, sub.and_then(|s| s.parent.clone()))
}

/// The management groups above management group `mg`, nearest first.
fn mg_ancestors(snapshot: &Snapshot, mg: &str) -> Vec<String> {
    let parent = snapshot
        .management_groups
        .iter()
        .find(|g| g.name == mg)
        .and_then(|g| g.parent.clone());
    mg_chain(snapshot, parent)
}

/// `first` and the management groups above it, nearest first.
fn mg_chain(snapshot: &Snapshot, first: Option<String>) -> Vec<String> {
    let mut chain = Vec::new();
    let mut next = first;
    while let Some(name) = next {
        if chain.contains(&name) {
            break; // a cycle in bad input: stop rather than loop
        }
        next = snapshot
            .management_groups
            .iter()
            .find(|g| g.name == name)
            .and_then(|g| g.parent.clone());
        chain.push(name);
    }
    chain
}

/// The tier a scope element gives a subscription with this ancestor chain, if it covers it.
fn tier_of(scope: &ScopeRef, subscription: &str, chain: &[String]) -> Option<u32> {
    match scope {
        ScopeRef::Subscription(s) => s.eq_ignore_ascii_case(subscription).then_some(u32::MAX),
        ScopeRef::ManagementGroup(g) => {
            let pos = chain.iter().position(|a| a == g)?;
            Some((chain.len() - 1 - pos) as u32)
        }
    }
}

/// How `manager` reaches a VNet in `subscription`, if it does; the highest element wins.
pub fn reach(snapshot: &Snapshot, manager: &NetworkManager, subscription: &str) -> Option<Reach> {
    let chain = ancestors(snapshot, subscription);
    let own = manager
        .scopes
        .iter()
        .filter_map(|s| tier_of(s, subscription, &chain))
        .min()
        .map(|tier| Reach {
            tier,
            cross_tenant: false,
        });
    let cross = manager
        .scope_connections
        .iter()
        .filter(|c| {
            connection_state(snapshot, manager, &c.target, c.state.as_deref()).0 == "Connected"
        })
        .filter_map(|c| tier_of(&c.target, subscription, &chain))
        .min()
        .map(|tier| Reach {
            tier,
            cross_tenant: true,
        });
    // A VNet the manager's own scope reaches is not a cross-tenant VNet (dynamic membership
    // still counts), even where a connection reaches it through a higher element.
    match (own, cross) {
        (Some(a), Some(b)) => Some(Reach {
            tier: a.tier.min(b.tier),
            cross_tenant: false,
        }),
        (a, b) => a.or(b),
    }
}

/// The state of a scope connection: Connected only when the managed side has a network
/// manager connection to this manager at the target or an ancestor MG, and neither side
/// reports another state.
fn connection_state(
    snapshot: &Snapshot,
    manager: &NetworkManager,
    target: &ScopeRef,
    reported: Option<&str>,
) -> (String, String) {
    let mut managed: Vec<_> = snapshot
        .manager_connections
        .iter()
        .filter(|c| c.manager == manager.id && covers(snapshot, &c.scope, target))
        .collect();
    // Several connections may cover the target (its own and an ancestor MG's): one that
    // is connected is enough.
    managed.sort_by_key(|c| {
        c.state
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case("connected"))
    });
    let managed = managed.first();
    let Some(managed) = managed else {
        return (
            "Pending".to_string(),
            "the managed side has no network manager connection to this manager".to_string(),
        );
    };
    for state in [reported, managed.state.as_deref()].into_iter().flatten() {
        if !state.eq_ignore_ascii_case("connected") {
            return (state.to_string(), format!("a side reports `{state}`"));
        }
    }
    ("Connected".to_string(), "both sides exist".to_string())
}

/// True when `outer` is `inner` or a management group above it (a network manager
/// connection there connects every scope below it, SEMANTICS §2.1).
fn covers(snapshot: &Snapshot, outer: &ScopeRef, inner: &ScopeRef) -> bool {
    let ScopeRef::ManagementGroup(g) = outer else {
        return outer == inner;
    };
    match inner {
        ScopeRef::Subscription(s) => ancestors(snapshot, s).contains(g),
        ScopeRef::ManagementGroup(m) => m == g || mg_ancestors(snapshot, m).contains(g),
    }
}

/// Every cross-tenant connection with its state (both halves, either side missing).
pub fn connection_reports(snapshot: &Snapshot) -> Vec<ConnectionReport> {
    let scope_text = |s: &ScopeRef| match s {
        ScopeRef::Subscription(id) => format!("/subscriptions/{id}"),
        ScopeRef::ManagementGroup(g) => {
            format!("/providers/Microsoft.Management/managementGroups/{g}")
        }
    };
    let mut out = Vec::new();
    for m in &snapshot.managers {
        for c in &m.scope_connections {
            let (state, detail) = connection_state(snapshot, m, &c.target, c.state.as_deref());
            out.push(ConnectionReport {
                manager: m.id.to_string(),
                scope: scope_text(&c.target),
                state,
                detail,
            });
        }
    }
    for mc in &snapshot.manager_connections {
        let has_scope_connection = snapshot.managers.iter().any(|m| {
            m.id == mc.manager
                && m.scope_connections
                    .iter()
                    .any(|c| covers(snapshot, &mc.scope, &c.target))
        });
        if !has_scope_connection {
            out.push(ConnectionReport {
                manager: mc.manager.to_string(),
                scope: scope_text(&mc.scope),
                state: "Pending".to_string(),
                detail: "the manager has no scope connection for this scope (or the manager is not in the snapshot)".to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ManagementGroup, ResourceId, Subscription};

    fn snapshot() -> Snapshot {
        let mg = |name: &str, parent: Option<&str>| ManagementGroup {
            name: name.into(),
            parent: parent.map(Into::into),
        };
        Snapshot {
            management_groups: vec![
                mg("root", None),
                mg("platform", Some("root")),
                mg("corp", Some("platform")),
            ],
            subscriptions: vec![Subscription {
                id: ResourceId::new("/subscriptions/s1"),
                subscription_id: "s1".into(),
                name: "s1".into(),
                tenant: None,
                tags: Default::default(),
                parent: Some("corp".into()),
            }],
            ..Snapshot::default()
        }
    }

    fn manager(scopes: Vec<ScopeRef>) -> NetworkManager {
        NetworkManager {
            id: ResourceId::new("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkManagers/nm"),
            scopes,
            security_admin: true,
            groups: Vec::new(),
            scope_connections: Vec::new(),
            security_configs: Vec::new(),
            connectivity_configs: Vec::new(),
        }
    }

    #[test]
    fn tiers_count_management_group_levels_from_the_root() {
        let s = snapshot();
        assert_eq!(ancestors(&s, "S1"), vec!["corp", "platform", "root"]);
        let tier = |scopes| reach(&s, &manager(scopes), "s1").map(|r| r.tier);
        assert_eq!(
            tier(vec![ScopeRef::ManagementGroup("root".into())]),
            Some(0)
        );
        assert_eq!(
            tier(vec![ScopeRef::ManagementGroup("corp".into())]),
            Some(2)
        );
        assert_eq!(
            tier(vec![ScopeRef::Subscription("s1".into())]),
            Some(u32::MAX)
        );
        assert_eq!(
            tier(vec![
                ScopeRef::Subscription("s1".into()),
                ScopeRef::ManagementGroup("platform".into())
            ]),
            Some(1),
            "the highest element reaching the VNet sets the tier"
        );
        assert_eq!(tier(vec![ScopeRef::Subscription("s2".into())]), None);
    }

    #[test]
    fn a_scope_connection_alone_is_pending() {
        let s = snapshot();
        let mut m = manager(vec![]);
        m.scope_connections.push(crate::model::ScopeConnection {
            id: ResourceId::new("/x/scopeConnections/c"),
            target: ScopeRef::Subscription("s1".into()),
            state: None,
        });
        assert_eq!(reach(&s, &m, "s1"), None);
        let mut s = s;
        s.managers.push(m.clone());
        assert_eq!(connection_reports(&s)[0].state, "Pending");
        s.manager_connections.push(crate::model::ManagerConnection {
            id: ResourceId::new(
                "/subscriptions/s1/providers/Microsoft.Network/networkManagerConnections/c",
            ),
            scope: ScopeRef::Subscription("s1".into()),
            manager: m.id.clone(),
            state: Some("Connected".into()),
        });
        assert_eq!(
            reach(&s, &m, "s1"),
            Some(Reach {
                tier: u32::MAX,
                cross_tenant: true
            })
        );
        s.manager_connections[0].state = Some("Revoked".into());
        assert_eq!(
            connection_state(&s, &m, &ScopeRef::Subscription("s1".into()), None).0,
            "Revoked"
        );
    }

    fn connected_at(scope: ScopeRef, m: &NetworkManager) -> crate::model::ManagerConnection {
        crate::model::ManagerConnection {
            id: ResourceId::new("/x/networkManagerConnections/c"),
            scope,
            manager: m.id.clone(),
            state: None,
        }
    }

    #[test]
    fn a_manager_connection_on_an_ancestor_mg_connects_a_management_group_target() {
        let mut s = snapshot();
        let mut m = manager(vec![]);
        m.scope_connections.push(crate::model::ScopeConnection {
            id: ResourceId::new("/x/scopeConnections/c"),
            target: ScopeRef::ManagementGroup("corp".into()),
            state: None,
        });
        s.manager_connections
            .push(connected_at(ScopeRef::ManagementGroup("root".into()), &m));
        assert_eq!(
            reach(&s, &m, "s1"),
            Some(Reach {
                tier: 2,
                cross_tenant: true
            })
        );
        s.managers.push(m);
        let states: Vec<_> = connection_reports(&s)
            .into_iter()
            .map(|r| r.state)
            .collect();
        assert_eq!(
            states,
            vec!["Connected"],
            "the root's connection serves the corp scope connection; it is not a Pending half"
        );
    }

    #[test]
    fn a_vnet_in_the_managers_own_scope_is_not_cross_tenant() {
        let mut s = snapshot();
        let mut m = manager(vec![ScopeRef::Subscription("s1".into())]);
        m.scope_connections.push(crate::model::ScopeConnection {
            id: ResourceId::new("/x/scopeConnections/c"),
            target: ScopeRef::ManagementGroup("platform".into()),
            state: None,
        });
        s.manager_connections.push(connected_at(
            ScopeRef::ManagementGroup("platform".into()),
            &m,
        ));
        assert_eq!(
            reach(&s, &m, "s1"),
            Some(Reach {
                tier: 1,
                cross_tenant: false
            }),
            "the connection's higher element sets the tier; own scope keeps dynamic membership"
        );
    }
}
