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
        .filter(|d| {
            d.deployed && d.kind == kind && d.region == region && belongs_to(d, manager, snapshot)
        })
        .max_by_key(|d| commit_order(d));
    Deployed::Only(latest.map_or_else(Vec::new, |d| d.configuration_ids.clone()))
}

/// Which of two statuses was committed later: by commit time, then by place in the input.
fn commit_order(d: &DeploymentStatus) -> (Option<(i64, u32)>, usize) {
    (instant(&d.commit_time), d.order)
}

/// A commit time as (seconds since 1970, nanoseconds), so that `…:38.25Z` is later than
/// `…:38.2Z` and `+01:00` offsets count (no zone is UTC); `None` (absent or not RFC 3339)
/// is earliest. Text comparison got both wrong.
fn instant(text: &str) -> Option<(i64, u32)> {
    let num = |s: &str| s.parse::<i64>().ok();
    let (date, time) = text.trim().split_once(['T', 't', ' '])?;
    let mut ymd = date.splitn(3, '-').map(num);
    let (y, mo, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let zone_at = time.rfind(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let offset = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let (h, m) = zone[1..].split_once(':')?;
            let secs = num(h)? * 3600 + num(m)? * 60;
            if zone.starts_with('-') {
                -secs
            } else {
                secs
            }
        }
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.splitn(3, ':').map(num);
    let (h, mi, sec) = (parts.next()??, parts.next()??, parts.next()??);
    let nanos = format!("{frac:0<9}").get(..9)?.parse::<u32>().ok()?;
    let days = days_from_civil(y, mo, d);
    Some((days * 86400 + h * 3600 + mi * 60 + sec - offset, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// A status belongs to the manager whose configurations it names. One that names none (a
/// "None" commit, which removes every configuration of its type from its region [S06])
/// belongs to the snapshot's only manager; with several it names no owner and is ignored
/// (with a warning, [`orphan_commits`]).
fn belongs_to(status: &DeploymentStatus, manager: &NetworkManager, snapshot: &Snapshot) -> bool {
    if status.configuration_ids.is_empty() {
        return snapshot.managers.len() == 1;
    }
    status
        .configuration_ids
        .iter()
        .any(|c| c.is_within(&manager.id))
}

/// A warning per deployed "None" commit that no manager can own, because the snapshot holds
/// several and the commit names no configuration to tell them apart.
pub fn orphan_commits(snapshot: &Snapshot, warnings: &mut Vec<String>) {
    if snapshot.managers.len() < 2 {
        return;
    }
    let latest = |d: &DeploymentStatus| {
        !snapshot.deployments.iter().any(|o| {
            o.deployed
                && o.kind == d.kind
                && o.region == d.region
                && commit_order(o) > commit_order(d)
        })
    };
    for d in snapshot
        .deployments
        .iter()
        .filter(|d| d.deployed && d.configuration_ids.is_empty() && latest(d))
    {
        warnings.push(format!(
            "a {} deployment status in {} with no configuration ids (a None commit) cannot be told apart between the snapshot's {} network managers: it is ignored, and each manager's earlier commit there, if any, stays in force",
            d.kind,
            d.region,
            snapshot.managers.len()
        ));
    }
}

/// A warning per deployment status whose `commitTime` is written but is not an RFC 3339
/// time: it counts as committed before every readable one, which may not be what happened.
pub fn unreadable_commit_times(snapshot: &Snapshot, warnings: &mut Vec<String>) {
    let unreadable = snapshot
        .deployments
        .iter()
        .filter(|d| !d.commit_time.trim().is_empty() && instant(&d.commit_time).is_none());
    for d in unreadable {
        warnings.push(format!(
            "a {} deployment status in {} has commitTime `{}`, which is not an RFC 3339 time (2024-05-01T10:00:00Z): it counts as committed before every status with a readable time",
            d.kind, d.region, d.commit_time
        ));
    }
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

    /// A None commit clears the region for the snapshot's only manager; with two managers
    /// it cannot be attributed and the earlier commit stays, with a warning.
    #[test]
    fn a_none_commit_clears_the_region_of_the_only_manager() {
        let mut s = Snapshot {
            deployments: vec![
                status("westeurope", true, &["a"], "2026-01-01T00:00:00Z", 0),
                status("westeurope", true, &[], "2026-02-01T00:00:00Z", 1),
            ],
            managers: vec![manager()],
            ..Snapshot::default()
        };
        let m = manager();
        assert_eq!(
            deployed(&s, &m, "westeurope", "securityadmin", true),
            Deployed::Only(vec![])
        );
        let mut warnings = Vec::new();
        orphan_commits(&s, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut other = manager();
        other.id = ResourceId::new(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkManagers/nm2",
        );
        s.managers.push(other);
        let we = deployed(&s, &m, "westeurope", "securityadmin", true);
        assert!(we.includes(&s.deployments[0].configuration_ids[0]));
        orphan_commits(&s, &mut warnings);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("None commit"), "{warnings:?}");
        // A later commit supersedes the None commit: nothing to warn about.
        s.deployments.push(status(
            "westeurope",
            true,
            &["a"],
            "2026-03-01T00:00:00Z",
            2,
        ));
        warnings.clear();
        orphan_commits(&s, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn commit_times_compare_as_instants() {
        assert_eq!(instant("1970-01-02T00:00:01Z"), Some((86401, 0)));
        assert!(instant("2025-03-14T09:12:44.25Z") > instant("2025-03-14T09:12:44.2Z"));
        assert!(instant("2025-03-14T09:12:44.5Z") > instant("2025-03-14T09:12:44Z"));
        assert!(instant("2025-03-14T09:30:00Z") > instant("2025-03-14T10:00:00+01:00"));
        assert!(instant("2024-02-29T00:00:00Z") > instant("2024-02-28T23:59:59-00:00"));
        assert_eq!(
            instant("2025-03-14T09:12:44"),
            instant("2025-03-14T09:12:44Z")
        );
        assert_eq!(instant(""), None);
        let s = Snapshot {
            deployments: vec![
                status("westeurope", true, &["b"], "2026-02-01T00:00:00.5Z", 0),
                status("westeurope", true, &["a"], "2026-02-01T00:00:00Z", 1),
            ],
            ..Snapshot::default()
        };
        let we = deployed(&s, &manager(), "westeurope", "securityadmin", true);
        assert!(
            we.includes(&s.deployments[0].configuration_ids[0]),
            "half a second later, though it sorts first as text"
        );
        let mut warnings = Vec::new();
        unreadable_commit_times(&s, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        let s = Snapshot {
            deployments: vec![
                status("westeurope", true, &["a"], "yesterday", 0),
                status("westeurope", true, &["b"], "", 1),
            ],
            ..Snapshot::default()
        };
        unreadable_commit_times(&s, &mut warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("commitTime `yesterday`"),
            "{warnings:?}"
        );
    }
}
