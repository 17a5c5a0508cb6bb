//! What is deployed where: the goal state per manager, region and configuration type
//! (SEMANTICS §2.4, decision D2).

use crate::model::{DeploymentStatus, NetworkManager, ResourceId, Snapshot};

/// The configurations in force for one manager, region and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deployed {
    /// No deployment status at all in the snapshot and D2 says assume everything.
    Everything,
    /// Exactly these configurations (possibly none).
    Only(Vec<ResourceId>),
}

impl Deployed {
    /// True when `config` is in force.
    pub fn includes(&self, config: &ResourceId) -> bool {
        match self {
            Deployed::Everything => true,
            Deployed::Only(ids) => ids.contains(config),
        }
    }
}

/// The goal state of `manager` in `region` for `kind` (`securityadmin` or `connectivity`):
/// the configurations of the latest `Deployed` status, later commits replacing earlier ones.
pub fn deployed(
    snapshot: &Snapshot,
    manager: &NetworkManager,
    region: &str,
    kind: &str,
    assume_deployed: bool,
) -> Deployed {
    if snapshot.deployments.is_empty() {
        return if assume_deployed {
            Deployed::Everything
        } else {
            Deployed::Only(Vec::new())
        };
    }
    let latest = snapshot
        .deployments
        .iter()
        .filter(|d| d.deployed && d.kind == kind && d.region == region && belongs_to(d, manager))
        .max_by(|a, b| (&a.commit_time, a.order).cmp(&(&b.commit_time, b.order)));
    Deployed::Only(latest.map_or_else(Vec::new, |d| d.configuration_ids.clone()))
}

/// A status belongs to the manager whose configurations it names.
fn belongs_to(status: &DeploymentStatus, manager: &NetworkManager) -> bool {
    status
        .configuration_ids
        .iter()
        .any(|c| c.is_within(&manager.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NetworkManager;

    fn manager() -> NetworkManager {
        NetworkManager {
            id: ResourceId::new(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkManagers/nm",
            ),
            scopes: Vec::new(),
            security_admin: true,
            groups: Vec::new(),
            scope_connections: Vec::new(),
            security_configs: Vec::new(),
            connectivity_configs: Vec::new(),
        }
    }

    fn status(
        region: &str,
        deployed: bool,
        configs: &[&str],
        time: &str,
        order: usize,
    ) -> DeploymentStatus {
        let base = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkManagers/nm/securityAdminConfigurations/";
        DeploymentStatus {
            region: region.to_string(),
            kind: "securityadmin".to_string(),
            deployed,
            configuration_ids: configs
                .iter()
                .map(|c| ResourceId::new(&format!("{base}{c}")))
                .collect(),
            commit_time: time.to_string(),
            order,
        }
    }

    #[test]
    fn no_status_follows_d2() {
        let s = Snapshot::default();
        assert_eq!(
            deployed(&s, &manager(), "westeurope", "securityadmin", true),
            Deployed::Everything
        );
        assert_eq!(
            deployed(&s, &manager(), "westeurope", "securityadmin", false),
            Deployed::Only(vec![])
        );
    }

    #[test]
    fn latest_deployed_commit_per_region_wins() {
        let s = Snapshot {
            deployments: vec![
                status("westeurope", true, &["a"], "2026-01-01T00:00:00Z", 0),
                status("westeurope", true, &["b"], "2026-02-01T00:00:00Z", 1),
                status("westeurope", false, &["c"], "2026-03-01T00:00:00Z", 2),
                status("northeurope", true, &["c"], "2026-03-01T00:00:00Z", 3),
            ],
            ..Snapshot::default()
        };
        let m = manager();
        let we = deployed(&s, &m, "westeurope", "securityadmin", true);
        assert!(
            we.includes(&s.deployments[1].configuration_ids[0]),
            "b replaced a"
        );
        assert!(!we.includes(&s.deployments[0].configuration_ids[0]));
        assert!(
            !we.includes(&s.deployments[2].configuration_ids[0]),
            "a failed commit is not the goal state"
        );
        assert_eq!(
            deployed(&s, &m, "eastus", "securityadmin", true),
            Deployed::Only(vec![])
        );
        assert_eq!(
            deployed(&s, &m, "westeurope", "connectivity", true),
            Deployed::Only(vec![])
        );
    }
}
