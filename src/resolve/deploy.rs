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
