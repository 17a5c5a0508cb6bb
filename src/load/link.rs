//! Second pass: attach children to parents, turn references into indices, and reject
//! dangling references and duplicate priorities.

use super::arm::{Child, Records};
use crate::error::{Error, Location, Result};
use crate::model::*;
use smallvec::smallvec;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Builds the linked snapshot from everything read.
pub fn link(mut r: Records) -> Result<Snapshot> {
    let mut s = Snapshot {
        management_groups: dedup_groups(std::mem::take(&mut r.management_groups)),
        subscriptions: std::mem::take(&mut r.subscriptions),
        resource_groups: std::mem::take(&mut r.resource_groups),
        manager_connections: std::mem::take(&mut r.manager_connections),
        policy_definitions: std::mem::take(&mut r.policy_definitions),
        policy_assignments: std::mem::take(&mut r.policy_assignments),
        deployments: std::mem::take(&mut r.deployments),
        ..Snapshot::default()
    };
    link_nsgs(&mut r, &mut s)?;
    link_vnets(&mut r, &mut s)?;
    link_nics(&mut r, &mut s)?;
    check_nsg_asgs(&s)?;
    link_managers(&mut r, &mut s)?;
    check_policy_assignments(&s)?;
    if let Some(cycle) = group_cycle(&s.management_groups) {
        r.warnings.push(format!(
            "management groups form a cycle ({}): Azure's hierarchy is a tree; scopes and tiers follow the parents up to the repeat",
            cycle.join(" -> ")
        ));
    }
    s.warnings = r.warnings;
    s.unknowns = r.unknowns;
    Ok(s)
}

/// Every parameter without a `defaultValue` needs a value in each assignment of its
/// definition (Azure Policy refuses the assignment otherwise).
fn check_policy_assignments(s: &Snapshot) -> Result<()> {
    for a in &s.policy_assignments {
        let definitions = s.policy_definitions.iter().filter(|d| d.id == a.definition);
        for d in definitions {
            let required = d.parameters.iter().filter(|(_, default)| default.is_none());
            for (name, _) in required {
                if crate::resolve::condition::lookup(&a.parameters, name).is_none() {
                    return Err(Error::invalid(
                        a.location.clone(),
                        format!(
                            "policy assignment `{}` gives no value for parameter `{name}` of definition `{}`, which has no defaultValue",
                            a.id.name(),
                            d.id.name()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The names along the first cycle of parents among `groups`, the repeated one at both ends.
fn group_cycle(groups: &[ManagementGroup]) -> Option<Vec<String>> {
    let parent = |name: &str| {
        groups
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(name))
            .and_then(|g| g.parent.as_deref())
    };
    groups.iter().find_map(|g| {
        let mut path = vec![g.name.clone()];
        let mut at = g.name.as_str();
        while let Some(up) = parent(at) {
            if let Some(first) = path.iter().position(|p| p.eq_ignore_ascii_case(up)) {
                let mut cycle = path.split_off(first);
                cycle.push(up.to_string());
                return Some(cycle);
            }
            path.push(up.to_string());
            at = up;
        }
        None
    })
}

/// The same management group can be named by several subscriptions' ancestor chains and by
/// its own resource; keep one entry, preferring one that knows its parent.
fn dedup_groups(groups: Vec<ManagementGroup>) -> Vec<ManagementGroup> {
    let mut out: Vec<ManagementGroup> = Vec::new();
    for g in groups {
        match out.iter_mut().find(|o| o.name == g.name) {
            Some(existing) if existing.parent.is_none() => existing.parent = g.parent,
            Some(_) => {}
            None => out.push(g),
        }
    }
    out
}

/// Drains the children of `parent` from `children`.
fn take_children<T>(children: &mut Vec<Child<T>>, parent: &ResourceId) -> Vec<Child<T>> {
    let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(children)
        .into_iter()
        .partition(|c| &c.parent == parent);
    *children = rest;
    mine
}

/// Children left over have no parent in the snapshot: report them, don't guess.
fn warn_orphans<T>(warnings: &mut Vec<String>, children: &[Child<T>], what: &str) {
    for c in children {
        warnings.push(format!(
            "{}: {what} whose parent `{}` is not in the snapshot was ignored",
            c.location, c.parent
        ));
    }
}

fn dangling(location: &Location, what: &str, id: &ResourceId) -> Error {
    Error::invalid(
        location.clone(),
        format!("dangling reference: {what} `{id}` is not in the snapshot"),
    )
}

fn link_nsgs(r: &mut Records, s: &mut Snapshot) -> Result<()> {
    for (id, name) in std::mem::take(&mut r.nsgs) {
        let children = take_children(&mut r.nsg_rules, &id);
        let (defaults, custom): (Vec<_>, Vec<_>) =
            children.into_iter().partition(|c| c.item.is_default);
        // A plan's rule of unknown direction sits in both directions (docs/plans.md), but
        // Azure will put it in one, beside no rule of its priority there: no clash is known.
        let known = |rule: &Rule| !direction_unknown(&r.unknowns, rule);
        check_unique_priorities(
            &custom,
            |a, b| a.direction == b.direction && known(a) && known(b),
            "in the same direction of this NSG",
        )?;
        let mut rules: Vec<(Rule, Location)> =
            custom.into_iter().map(|c| (c.item, c.location)).collect();
        if defaults.is_empty() {
            let location = Location {
                file: Default::default(),
                path: format!("default rules of {name}"),
            };
            rules.extend(
                default_rules(&id)
                    .into_iter()
                    .map(|d| (d, location.clone())),
            );
        } else {
            warn_missing_defaults(&mut r.warnings, &id, &name, &defaults);
            rules.extend(defaults.into_iter().map(|c| (c.item, c.location)));
        }
        s.nsgs.push(NetworkSecurityGroup { id, name, rules });
    }
    warn_orphans(&mut r.warnings, &r.nsg_rules, "a security rule");
    Ok(())
}

/// Explicit default rules are used as given (SEMANTICS §1.1), but Azure lists all six: where
/// some are missing, the NSG ends differently from every real one (no `DenyAllInBound`
/// lets everything else through), which deserves a word.
fn warn_missing_defaults(
    warnings: &mut Vec<String>,
    nsg: &ResourceId,
    name: &str,
    given: &[Child<Rule>],
) {
    let missing: Vec<String> = default_rules(nsg)
        .into_iter()
        .map(|d| d.name)
        .filter(|d| !given.iter().any(|g| g.item.name.eq_ignore_ascii_case(d)))
        .collect();
    if !missing.is_empty() {
        warnings.push(format!(
            "NSG `{name}` lists default rules without {} (Azure gives every NSG all six); they are used as given",
            missing.join(", ")
        ));
    }
}

/// Whether a plan left `rule`'s direction unknown, so that it was read once per direction.
fn direction_unknown(unknowns: &BTreeMap<ResourceId, Vec<String>>, rule: &Rule) -> bool {
    unknowns
        .get(&rule.id)
        .is_some_and(|u| u.iter().any(|a| a == "direction"))
}

/// Rejects two rules with the same priority where `clash` says they may not share one. A
/// rule never clashes with itself: one of unknown direction is read once per direction.
fn check_unique_priorities(
    rules: &[Child<Rule>],
    clash: impl Fn(&Rule, &Rule) -> bool,
    scope: &str,
) -> Result<()> {
    for (i, later) in rules.iter().enumerate() {
        if later.item.priority == UNKNOWN_PRIORITY {
            continue;
        }
        if let Some(first) = rules[..i].iter().find(|e| {
            e.item.priority == later.item.priority
                && e.item.id != later.item.id
                && clash(&e.item, &later.item)
        }) {
            return Err(Error::invalid(
                later.location.clone(),
                format!(
                    "duplicate priority {}: rules `{}` and `{}` both use it {scope}",
                    later.item.priority, first.item.name, later.item.name
                ),
            ));
        }
    }
    Ok(())
}

/// The six default rules every NSG ends with (SEMANTICS §3.2).
pub fn default_rules(nsg: &ResourceId) -> Vec<Rule> {
    use AddressItem::{Any, Tag};
    let rule = |name: &str, direction, priority, src: AddressItem, dst: AddressItem, access| Rule {
        id: nsg.child("defaultSecurityRules", name),
        name: name.to_string(),
        priority,
        access,
        direction,
        fields: RuleFields {
            protocol: Protocol::Any,
            sources: smallvec![src],
            source_ports: smallvec![PortRange::ALL],
            destinations: smallvec![dst],
            destination_ports: smallvec![PortRange::ALL],
        },
        is_default: true,
    };
    let vnet = || Tag("VirtualNetwork".to_string());
    vec![
        rule(
            "AllowVnetInBound",
            Direction::Inbound,
            65000,
            vnet(),
            vnet(),
            Access::Allow,
        ),
        rule(
            "AllowAzureLoadBalancerInBound",
            Direction::Inbound,
            65001,
            Tag("AzureLoadBalancer".into()),
            Any,
            Access::Allow,
        ),
        rule(
            "DenyAllInBound",
            Direction::Inbound,
            65500,
            Any,
            Any,
            Access::Deny,
        ),
        rule(
            "AllowVnetOutBound",
            Direction::Outbound,
            65000,
            vnet(),
            vnet(),
            Access::Allow,
        ),
        rule(
            "AllowInternetOutBound",
            Direction::Outbound,
            65001,
            Any,
            Tag("Internet".into()),
            Access::Allow,
        ),
        rule(
            "DenyAllOutBound",
            Direction::Outbound,
            65500,
            Any,
            Any,
            Access::Deny,
        ),
    ]
}

fn nsg_index(s: &Snapshot, nsg: &Option<(ResourceId, Location)>) -> Result<Option<usize>> {
    match nsg {
        None => Ok(None),
        Some((id, loc)) => s
            .nsgs
            .iter()
            .position(|n| &n.id == id)
            .map(Some)
            .ok_or_else(|| dangling(loc, "network security group", id)),
    }
}

fn link_vnets(r: &mut Records, s: &mut Snapshot) -> Result<()> {
    for raw in std::mem::take(&mut r.vnets) {
        let vnet_index = s.vnets.len();
        let mut subnets = Vec::new();
        for c in take_children(&mut r.subnets, &raw.id) {
            subnets.push(s.subnets.len());
            let nsg = nsg_index(s, &c.item.nsg)?;
            if c.item.prefixes.is_empty() {
                r.warnings.push(format!(
                    "{}: subnet `{}` of VNet `{}` has no address prefix: no address is placed in it, so its NSG and admin rules apply to nothing",
                    c.location, c.item.name, raw.name
                ));
            }
            // Azure refuses such a subnet; placing follows the VNet's address space, so its
            // addresses outside it are taken as outside Azure. Say so.
            let outside = c.item.prefixes.iter().filter(|p| {
                !raw.address_space.is_empty()
                    && !raw.address_space.iter().any(|space| space.contains(*p))
            });
            for prefix in outside {
                r.warnings.push(format!(
                    "{}: subnet `{}` has prefix {prefix}, outside the address space of VNet `{}`: Azure refuses that, and secpath places addresses by the address space, so the subnet's addresses there are taken as outside Azure",
                    c.location, c.item.name, raw.name
                ));
            }
            s.subnets.push(Subnet {
                id: c.item.id,
                name: c.item.name,
                vnet: vnet_index,
                prefixes: c.item.prefixes,
                nsg,
                delegations: c.item.delegations,
            });
        }
        let peerings = take_children(&mut r.peerings, &raw.id)
            .into_iter()
            .map(|c| c.item)
            .collect();
        if raw.address_space.is_empty() {
            r.warnings.push(format!(
                "VNet `{}` has no address space: no address is placed in it, so flows to and from it find no Azure path",
                raw.name
            ));
        }
        s.vnets.push(VirtualNetwork {
            id: raw.id,
            name: raw.name,
            location: raw.location,
            tags: raw.tags,
            address_space: raw.address_space,
            subnets,
            peerings,
            on_premises: AddrSet::new(),
        });
    }
    warn_orphans(&mut r.warnings, &r.subnets, "a subnet");
    warn_orphans(&mut r.warnings, &r.peerings, "a peering");
    link_on_premises(r, s);
    Ok(())
}

/// On-premises prefixes: local network gateway → connection → virtual network gateway →
/// the VNet whose `GatewaySubnet` holds it.
fn link_on_premises(r: &mut Records, s: &mut Snapshot) {
    for (vgw, lgw) in &r.connections {
        let prefixes = r.local_gateways.iter().find(|(id, _)| id == lgw);
        let vnet = r
            .gateways
            .iter()
            .find(|(id, _)| id == vgw)
            .and_then(|(_, subnet)| subnet.parent())
            .and_then(|vnet| s.vnet_index(&vnet));
        match (prefixes, vnet) {
            (Some((_, prefixes)), Some(v)) => {
                for p in prefixes {
                    s.vnets[v].on_premises.insert_net(*p);
                }
            }
            _ => r.warnings.push(format!(
                "connection from `{vgw}` to `{lgw}` was ignored: its gateways or VNet are not in the snapshot"
            )),
        }
    }
}

fn link_nics(r: &mut Records, s: &mut Snapshot) -> Result<()> {
    s.asgs = std::mem::take(&mut r.asgs);
    // Azure keeps a private address unique within a VNet; a snapshot where two IP
    // configurations share one would place the endpoint by file order.
    let mut holders: HashMap<(usize, IpAddr), String> = HashMap::new();
    for raw in std::mem::take(&mut r.nics) {
        let mut ip_configs = Vec::new();
        let mut standard_public_ip = false;
        for cfg in raw.ip_configs {
            let (subnet_id, loc) = &cfg.subnet;
            let subnet = s
                .subnet_index(subnet_id)
                .ok_or_else(|| dangling(loc, "subnet", subnet_id))?;
            let vnet = s.subnets[subnet].vnet;
            if let Some(other) = holders.insert((vnet, cfg.address), raw.name.clone()) {
                return Err(Error::invalid(
                    loc.clone(),
                    format!(
                        "NIC `{}` holds {}, which NIC `{other}` also holds in VNet `{}`: a private address is unique within a VNet",
                        raw.name, cfg.address, s.vnets[vnet].name
                    ),
                ));
            }
            let asgs = cfg.asgs.iter().map(|a| asg_index(&mut s.asgs, a)).collect();
            let prefixes = &s.subnets[subnet].prefixes;
            if !prefixes.iter().any(|p| p.contains(&cfg.address)) {
                // Azure allocates a NIC's address from its subnet; secpath still places
                // the NIC where the snapshot says, but says so.
                r.warnings.push(format!(
                    "{loc}: NIC `{}` has address {} outside its subnet `{}` ({})",
                    raw.name,
                    cfg.address,
                    s.subnets[subnet].name,
                    prefixes
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if let Some(pip) = &cfg.public_ip {
                if r.standard_public_ips.contains(pip) {
                    standard_public_ip = true;
                } else if !r.public_ips.contains(pip) {
                    r.warnings.push(format!(
                        "public IP `{pip}` of NIC `{}` is not in the snapshot; its SKU is unknown (taken as Basic)",
                        raw.name
                    ));
                }
            }
            ip_configs.push(IpConfig {
                address: cfg.address,
                subnet,
                asgs,
            });
        }
        same_asgs_on_every_config(&mut ip_configs, &raw.name, &mut r.warnings);
        let nsg = nsg_index(s, &raw.nsg)?;
        s.nics.push(NetworkInterface {
            id: raw.id,
            name: raw.name,
            ip_configs,
            nsg,
            private_endpoint: raw.private_endpoint,
            standard_public_ip,
        });
    }
    Ok(())
}

/// SEMANTICS §3.1: an ASG matches the private IPs of the NICs that are its members, so a
/// NIC whose IP configurations name different ASGs (which Azure refuses:
/// `AllIpConfigurationsOnANicMustBelongToTheSameApplicationSecurityGroups`) is a member of
/// each of them at every one of its addresses, with a warning.
fn same_asgs_on_every_config(configs: &mut [IpConfig], nic: &str, warnings: &mut Vec<String>) {
    let mut all: Vec<usize> = configs
        .iter()
        .flat_map(|c| c.asgs.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    let differ = configs.iter().any(|c| {
        let mut own = c.asgs.clone();
        own.sort_unstable();
        own.dedup();
        own != all
    });
    if differ {
        warnings.push(format!(
            "NIC `{nic}`: its IP configurations name different application security groups (Azure requires the same on all); each address is taken as a member of all of them"
        ));
        for c in configs.iter_mut() {
            c.asgs.clone_from(&all);
        }
    }
}

/// The index of an ASG; a NIC's membership is proof enough that the ASG exists.
fn asg_index(asgs: &mut Vec<ResourceId>, id: &ResourceId) -> usize {
    asgs.iter().position(|a| a == id).unwrap_or_else(|| {
        asgs.push(id.clone());
        asgs.len() - 1
    })
}

fn check_nsg_asgs(s: &Snapshot) -> Result<()> {
    for nsg in &s.nsgs {
        for (rule, loc) in &nsg.rules {
            let items = rule.fields.sources.iter().chain(&rule.fields.destinations);
            for item in items {
                if let AddressItem::Asg(id) = item {
                    if !s.asgs.contains(id) {
                        return Err(dangling(loc, "application security group", id));
                    }
                }
            }
        }
    }
    Ok(())
}

fn link_managers(r: &mut Records, s: &mut Snapshot) -> Result<()> {
    for raw in std::mem::take(&mut r.managers) {
        let mut groups: Vec<NetworkGroup> = Vec::new();
        for c in take_children(&mut r.groups, &raw.id) {
            let mut g = c.item;
            g.static_members = take_children(&mut r.static_members, &g.id)
                .into_iter()
                .map(|m| m.item)
                .collect();
            groups.push(g);
        }
        let mut security_configs = Vec::new();
        for c in take_children(&mut r.configs, &raw.id) {
            let mut config = c.item;
            for cc in take_children(&mut r.collections, &config.id) {
                let mut collection = cc.item;
                let applies_to = &collection.applies_to;
                check_group_ids(&groups, applies_to, "`appliesToGroups`", &cc.location)?;
                let rules = take_children(&mut r.admin_rules, &collection.id);
                check_unique_priorities(&rules, |_, _| true, "in this rule collection")?;
                for rule in &rules {
                    let addresses = network_groups_of(&rule.item);
                    check_group_ids(
                        &groups,
                        addresses,
                        "a source or destination",
                        &rule.location,
                    )?;
                }
                collection.rules = rules.into_iter().map(|c| (c.item, c.location)).collect();
                config.collections.push(collection);
            }
            security_configs.push(config);
        }
        s.managers.push(NetworkManager {
            scope_connections: take_children(&mut r.scope_connections, &raw.id)
                .into_iter()
                .map(|c| c.item)
                .collect(),
            connectivity_configs: take_children(&mut r.connectivity, &raw.id)
                .into_iter()
                .map(|c| c.item)
                .collect(),
            id: raw.id,
            scopes: raw.scopes,
            security_admin: raw.security_admin,
            groups,
            security_configs,
        });
    }
    warn_orphans(&mut r.warnings, &r.groups, "a network group");
    warn_orphans(&mut r.warnings, &r.static_members, "a static member");
    warn_orphans(&mut r.warnings, &r.scope_connections, "a scope connection");
    warn_orphans(
        &mut r.warnings,
        &r.configs,
        "a security admin configuration",
    );
    warn_orphans(&mut r.warnings, &r.collections, "a rule collection");
    warn_orphans(&mut r.warnings, &r.admin_rules, "an admin rule");
    warn_orphans(
        &mut r.warnings,
        &r.connectivity,
        "a connectivity configuration",
    );
    Ok(())
}

/// The network groups an admin rule names as addresses.
fn network_groups_of(rule: &Rule) -> impl Iterator<Item = &ResourceId> {
    let items = rule.fields.sources.iter().chain(&rule.fields.destinations);
    items.filter_map(|item| match item {
        AddressItem::NetworkGroup(g) => Some(g),
        _ => None,
    })
}

/// A rule collection's `appliesToGroups` and an admin rule's `NetworkGroup` addresses must
/// name groups of the same manager (the API allows nothing else). The error names the field
/// (`field`), since the location is the whole resource.
fn check_group_ids<'a>(
    groups: &[NetworkGroup],
    ids: impl IntoIterator<Item = &'a ResourceId>,
    field: &str,
    location: &Location,
) -> Result<()> {
    for id in ids {
        if !groups.iter().any(|g| &g.id == id) {
            return Err(Error::invalid(
                location.clone(),
                format!(
                    "dangling reference: {field} names network group `{id}`, which is not a group of this manager in the snapshot"
                ),
            ));
        }
    }
    Ok(())
}
