//! `secpath effective`: the ordered admin and NSG rules at every enforcement point, tags
//! expanded — what `listNetworkManagerEffectiveSecurityAdminRules` and a NIC's
//! `effectiveNetworkSecurityGroups` return \[S16\]\[S23\].

use crate::eval::admin_exemption;
use crate::model::{Access, Direction, ResourceId};
use crate::resolve::{AddrMatch, AdminPoint, Policy, ResolvedRule, RuleSource};
use serde::Serialize;

/// One rule as it applies at one point, addresses expanded to CIDRs.
#[derive(Clone, Debug, Serialize)]
pub struct EffectiveRule {
    /// ARM name.
    pub name: String,
    /// ARM id.
    pub id: String,
    /// Priority.
    pub priority: u32,
    /// Direction.
    pub direction: Direction,
    /// Access.
    pub access: Access,
    /// Protocol as written.
    pub protocol: String,
    /// Source CIDRs (`*` for everything) and ASG names (`asg:NAME`).
    pub source: Vec<String>,
    /// Source ports.
    pub source_ports: Vec<String>,
    /// Destination CIDRs and ASGs.
    pub destination: Vec<String>,
    /// Destination ports.
    pub destination_ports: Vec<String>,
    /// For admin rules: the manager.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// For admin rules: the rule collection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// The attributes a Terraform plan does not know (their fields read as `*`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// The rules of one NSG at one level.
#[derive(Clone, Debug, Serialize)]
pub struct EffectiveNsg {
    /// `subnet` or `nic`.
    pub level: &'static str,
    /// The NSG's id.
    pub nsg: String,
    /// Its rules by priority.
    pub rules: Vec<EffectiveRule>,
}

/// One subnet: the admin rules its VNet receives there, and its NSG.
#[derive(Clone, Debug, Serialize)]
pub struct EffectiveSubnet {
    /// Subnet id.
    pub id: String,
    /// Why admin rules don't apply, if they don't.
    pub admin_exempt: Option<String>,
    /// Admin rules in evaluation order.
    pub admin_rules: Vec<EffectiveRule>,
    /// The subnet's NSG.
    pub nsg: Option<EffectiveNsg>,
}

/// One VNet.
#[derive(Clone, Debug, Serialize)]
pub struct EffectiveVnet {
    /// VNet id.
    pub id: String,
    /// Region.
    pub location: String,
    /// The `VirtualNetwork` tag here.
    pub virtual_network_tag: Vec<String>,
    /// Subnets.
    pub subnets: Vec<EffectiveSubnet>,
}

/// One NIC: the NSGs that filter it, in inbound order (subnet, then NIC).
#[derive(Clone, Debug, Serialize)]
pub struct EffectiveNic {
    /// NIC id.
    pub id: String,
    /// Private addresses.
    pub addresses: Vec<String>,
    /// Subnet id of the first IP configuration.
    pub subnet: String,
    /// Why admin rules don't apply to this NIC, if they don't (a private endpoint, or its
    /// subnet's exemption).
    pub admin_exempt: Option<String>,
    /// The admin rules that filter it (its subnet's), in evaluation order.
    pub admin_rules: Vec<EffectiveRule>,
    /// NSGs, subnet level first.
    pub nsgs: Vec<EffectiveNsg>,
}

/// The whole report (`secpath.effective/v1`).
#[derive(Clone, Debug, Serialize)]
pub struct EffectiveReport {
    /// Always `secpath.effective/v1`.
    pub schema: &'static str,
    /// VNets with their subnets.
    pub vnets: Vec<EffectiveVnet>,
    /// NICs.
    pub nics: Vec<EffectiveNic>,
    /// What was read but not used, and why (as `explain` reports them): without them an
    /// ignored resource would vanish from `effective` without a trace.
    pub warnings: Vec<String>,
}

/// What to report on.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only this VNet (and its NICs).
    pub vnet: Option<ResourceId>,
    /// Only this NIC.
    pub nic: Option<ResourceId>,
}

/// Builds the report; `None` when the selection names nothing in the snapshot.
pub fn effective(policy: &Policy, selection: &Selection) -> Option<EffectiveReport> {
    let s = &policy.snapshot;
    let nic_only = selection
        .nic
        .as_ref()
        .map(|id| s.nic_index(id))
        .map(|n| n.ok_or(()));
    let vnet_only = selection
        .vnet
        .as_ref()
        .map(|id| s.vnet_index(id))
        .map(|v| v.ok_or(()));
    let (nic_only, vnet_only) = (nic_only.transpose().ok()?, vnet_only.transpose().ok()?);
    let vnet_of_nic = |n: usize| {
        s.nics[n]
            .ip_configs
            .first()
            .map(|c| s.subnets[c.subnet].vnet)
    };
    let vnets = (0..s.vnets.len())
        .filter(|&v| nic_only.is_none() && vnet_only.is_none_or(|x| x == v))
        .map(|v| vnet_report(policy, v))
        .collect();
    let nics = (0..s.nics.len())
        .filter(|&n| nic_only.is_none_or(|x| x == n))
        .filter(|&n| vnet_only.is_none_or(|x| vnet_of_nic(n) == Some(x)))
        .map(|n| nic_report(policy, n))
        .collect();
    Some(EffectiveReport {
        schema: "secpath.effective/v1",
        vnets,
        nics,
        warnings: policy.warnings.clone(),
    })
}

fn vnet_report(policy: &Policy, v: usize) -> EffectiveVnet {
    let s = &policy.snapshot;
    let vnet = &s.vnets[v];
    let subnets = vnet
        .subnets
        .iter()
        .map(|&x| {
            let point = &policy.subnet_admin[x];
            let admin_exempt = admin_exemption(policy, None, point);
            EffectiveSubnet {
                id: s.subnets[x].id.to_string(),
                admin_rules: admin_rules_report(policy, Some(point), &admin_exempt),
                admin_exempt,
                nsg: s.subnets[x].nsg.map(|n| nsg_report(policy, "subnet", n, v)),
            }
        })
        .collect();
    EffectiveVnet {
        id: vnet.id.to_string(),
        location: vnet.location.clone(),
        virtual_network_tag: policy.vnets[v]
            .virtual_network
            .to_cidrs()
            .iter()
            .map(ToString::to_string)
            .collect(),
        subnets,
    }
}

fn nic_report(policy: &Policy, n: usize) -> EffectiveNic {
    let s = &policy.snapshot;
    let nic = &s.nics[n];
    let subnet = nic.ip_configs.first().map(|c| c.subnet);
    let vnet = subnet.map(|x| s.subnets[x].vnet);
    let mut nsgs = Vec::new();
    if let (Some(x), Some(v)) = (subnet, vnet) {
        if let Some(nsg) = s.subnets[x].nsg {
            nsgs.push(nsg_report(policy, "subnet", nsg, v));
        }
        if let Some(nsg) = nic.nsg {
            nsgs.push(nsg_report(policy, "nic", nsg, v));
        }
    }
    let point = subnet.and_then(|x| policy.subnet_admin.get(x));
    let admin_exempt = point.and_then(|p| admin_exemption(policy, Some(n), p));
    let admin_rules = admin_rules_report(policy, point, &admin_exempt);
    EffectiveNic {
        id: nic.id.to_string(),
        addresses: nic
            .ip_configs
            .iter()
            .map(|c| c.address.to_string())
            .collect(),
        subnet: subnet.map_or_else(String::new, |x| s.subnets[x].id.to_string()),
        admin_exempt,
        admin_rules,
        nsgs,
    }
}

/// The admin rules that filter a subnet or NIC: none where an exemption holds, so the JSON
/// says what the text says and what `explain` does (an exempt point consults no admin rule).
fn admin_rules_report(
    policy: &Policy,
    point: Option<&AdminPoint>,
    exempt: &Option<String>,
) -> Vec<EffectiveRule> {
    match point {
        Some(p) if exempt.is_none() => p.rules.iter().map(|r| rule_report(policy, r)).collect(),
        _ => Vec::new(),
    }
}

fn nsg_report(policy: &Policy, level: &'static str, nsg: usize, vnet: usize) -> EffectiveNsg {
    EffectiveNsg {
        level,
        nsg: policy.snapshot.nsgs[nsg].id.to_string(),
        rules: policy.nsg_rules[&(nsg, vnet)]
            .iter()
            .map(|r| rule_report(policy, r))
            .collect(),
    }
}

fn rule_report(policy: &Policy, r: &ResolvedRule) -> EffectiveRule {
    let (manager, collection) = match &r.source {
        RuleSource::Admin {
            manager,
            collection,
            ..
        } => (
            Some(policy.snapshot.managers[*manager].id.to_string()),
            Some(collection.to_string()),
        ),
        RuleSource::Nsg { .. } => (None, None),
    };
    let ports = |p: &[crate::model::PortRange]| p.iter().map(ToString::to_string).collect();
    EffectiveRule {
        name: r.rule.name.clone(),
        id: r.rule.id.to_string(),
        priority: r.rule.priority,
        direction: r.rule.direction,
        access: r.rule.access,
        protocol: r.rule.fields.protocol.to_string(),
        source: addresses(policy, &r.sources),
        source_ports: ports(&r.source_ports),
        destination: addresses(policy, &r.destinations),
        destination_ports: ports(&r.destination_ports),
        manager,
        collection,
        unknown: policy
            .snapshot
            .unknown(&r.rule.id)
            .unwrap_or_default()
            .to_vec(),
    }
}

fn addresses(policy: &Policy, m: &AddrMatch) -> Vec<String> {
    let mut out: Vec<String> = if m.set.is_all() {
        vec!["*".to_string()]
    } else {
        m.set.to_cidrs().iter().map(ToString::to_string).collect()
    };
    out.extend(
        m.asgs
            .iter()
            .map(|&a| format!("asg:{}", policy.snapshot.asgs[a].name())),
    );
    out
}
