//! First pass: every ARM resource into a flat record naming its parent by id.

use super::json::Node;
use crate::error::{Error, Location, Result};
use crate::model::*;
use crate::resolve::condition::{lookup, parameter_reference, parse_condition};
use ipnet::IpNet;
use serde_json::Value;
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// A record plus the id of the parent it belongs to.
pub struct Child<T> {
    pub parent: ResourceId,
    pub item: T,
    pub location: Location,
}

/// A VNet as read, before its subnets and peerings are attached.
pub struct RawVnet {
    pub id: ResourceId,
    pub name: String,
    pub location: String,
    pub tags: Tags,
    pub address_space: Vec<IpNet>,
}

/// A subnet as read.
pub struct RawSubnet {
    pub id: ResourceId,
    pub name: String,
    pub prefixes: Vec<IpNet>,
    pub nsg: Option<(ResourceId, Location)>,
    pub delegations: Vec<String>,
}

/// A NIC as read.
pub struct RawNic {
    pub id: ResourceId,
    pub name: String,
    pub ip_configs: Vec<RawIpConfig>,
    pub nsg: Option<(ResourceId, Location)>,
    pub private_endpoint: bool,
}

/// A NIC IP configuration as read.
pub struct RawIpConfig {
    pub address: std::net::IpAddr,
    pub subnet: (ResourceId, Location),
    pub asgs: Vec<ResourceId>,
    pub public_ip: Option<ResourceId>,
}

/// A network manager as read.
pub struct RawManager {
    pub id: ResourceId,
    pub scopes: Vec<ScopeRef>,
    pub security_admin: bool,
}

/// Everything read, flat.
#[derive(Default)]
pub struct Records {
    pub management_groups: Vec<ManagementGroup>,
    pub subscriptions: Vec<Subscription>,
    pub resource_groups: Vec<ResourceGroup>,
    pub vnets: Vec<RawVnet>,
    pub subnets: Vec<Child<RawSubnet>>,
    pub peerings: Vec<Child<Peering>>,
    pub nics: Vec<RawNic>,
    pub standard_public_ips: Vec<ResourceId>,
    pub public_ips: Vec<ResourceId>,
    pub nsgs: Vec<(ResourceId, String)>,
    pub nsg_rules: Vec<Child<Rule>>,
    pub asgs: Vec<ResourceId>,
    /// (gateway, subnet it sits in)
    pub gateways: Vec<(ResourceId, ResourceId)>,
    pub local_gateways: Vec<(ResourceId, Vec<IpNet>)>,
    /// (virtual network gateway, local network gateway)
    pub connections: Vec<(ResourceId, ResourceId)>,
    pub managers: Vec<RawManager>,
    pub groups: Vec<Child<NetworkGroup>>,
    pub static_members: Vec<Child<ResourceId>>,
    pub scope_connections: Vec<Child<ScopeConnection>>,
    pub configs: Vec<Child<SecurityAdminConfig>>,
    pub collections: Vec<Child<RuleCollection>>,
    pub admin_rules: Vec<Child<Rule>>,
    pub connectivity: Vec<Child<ConnectivityConfig>>,
    pub manager_connections: Vec<ManagerConnection>,
    pub policy_definitions: Vec<PolicyDefinition>,
    pub policy_assignments: Vec<PolicyAssignment>,
    pub deployments: Vec<DeploymentStatus>,
    /// Rules with attributes a plan does not know (see [`UNKNOWN_KEY`]).
    pub unknowns: BTreeMap<ResourceId, Vec<String>>,
    pub warnings: Vec<String>,
    /// Resources of types secpath does not use, by type, in the file being read: one
    /// warning per file counts them (an estate export holds thousands of VMs and disks).
    ignored: BTreeMap<String, usize>,
    /// Reading a plan: a resource replaces what earlier inputs gave under its id.
    pub replacing: bool,
    seen: std::collections::HashSet<ResourceId>,
    /// Ids read while `replacing` (a repeat inside the plans is a duplicate).
    replaced: std::collections::HashSet<ResourceId>,
}

/// The member of a translated rule listing the attributes a Terraform plan does not know
/// (Terraform's names). The translation writes "anything" for their fields and leaves out
/// an unknown priority; a rule with a direction it does not know comes once per direction.
pub const UNKNOWN_KEY: &str = "secpath:unknown";

/// Where a resource's fields live: under `properties` (ARM) or at the top level (the
/// flattened shape `az network ... show` prints). A `properties` that is not an object is an
/// error: read as a resource without fields, an NSG would silently lose its rules.
fn props<'a>(node: &Node<'a>) -> Result<Node<'a>> {
    match node.get("properties") {
        Some(p) if p.value.is_object() => Ok(p),
        Some(p) => Err(p.error("expected an object of resource properties")),
        None => Ok(node.clone()),
    }
}

/// The resource's id, or one built from its parent and name for nested children without one.
fn id_of(node: &Node, parent: Option<&ResourceId>, segment: &str) -> Result<ResourceId> {
    if let Some(id) = node.opt_str("id")? {
        return Ok(ResourceId::new(id));
    }
    match (parent, node.opt_str("name")?) {
        (Some(p), Some(name)) => Ok(p.child(segment, name)),
        _ => Err(node.error("missing required field `id`")),
    }
}

fn name_of(node: &Node, id: &ResourceId) -> Result<String> {
    Ok(node
        .opt_str("name")?
        .map_or_else(|| id.name().to_string(), str::to_string))
}

fn parent_of(node: &Node, id: &ResourceId, hint: Option<&ResourceId>) -> Result<ResourceId> {
    hint.cloned()
        .or_else(|| id.parent())
        .ok_or_else(|| node.error(format!("cannot tell the parent of `{id}`")))
}

fn nets(node: &Node, dotted: &str) -> Result<Vec<IpNet>> {
    node.array(dotted)?
        .iter()
        .map(|n| {
            let text = n.as_str()?;
            addr::parse_net(text).ok_or_else(|| {
                n.error(format!(
                    "`{text}` is not a valid CIDR prefix (e.g. 10.0.0.0/16)"
                ))
            })
        })
        .collect()
}

impl Records {
    /// Reads every resource in one file.
    pub fn read_file(&mut self, root: Node) -> Result<()> {
        let file = root.file;
        for item in container_items(root, &mut self.warnings)? {
            self.read_item(item, None, None)?;
        }
        let ignored = std::mem::take(&mut self.ignored);
        self.warnings.extend(super::ignored_types(file, &ignored));
        Ok(())
    }

    /// Drops what was read under `id`, with its children (and theirs): a plan's copy of a
    /// resource replaces the live one, and a plan that deletes it removes it.
    pub fn forget(&mut self, id: &ResourceId) {
        let mut gone = vec![id.clone()];
        let mut next = 0;
        while let Some(g) = gone.get(next).cloned() {
            next += 1;
            self.forget_one(&g, &mut gone);
        }
    }

    fn forget_one(&mut self, id: &ResourceId, gone: &mut Vec<ResourceId>) {
        self.resource_groups.retain(|g| &g.id != id);
        self.vnets.retain(|v| &v.id != id);
        self.nics.retain(|n| &n.id != id);
        self.nsgs.retain(|(n, _)| n != id);
        self.asgs.retain(|a| a != id);
        self.public_ips.retain(|a| a != id);
        self.standard_public_ips.retain(|a| a != id);
        self.managers.retain(|m| &m.id != id);
        self.manager_connections.retain(|c| &c.id != id);
        self.unknowns.remove(id);
        drop_child(&mut self.subnets, id, |s| Some(&s.id), gone);
        drop_child(&mut self.peerings, id, |_| None, gone);
        drop_child(&mut self.nsg_rules, id, |r| Some(&r.id), gone);
        drop_child(&mut self.groups, id, |g| Some(&g.id), gone);
        drop_child(&mut self.static_members, id, |_| None, gone);
        drop_child(&mut self.scope_connections, id, |c| Some(&c.id), gone);
        drop_child(&mut self.configs, id, |c| Some(&c.id), gone);
        drop_child(&mut self.collections, id, |c| Some(&c.id), gone);
        drop_child(&mut self.admin_rules, id, |r| Some(&r.id), gone);
        drop_child(&mut self.connectivity, id, |c| Some(&c.id), gone);
    }

    /// Applies a plan's association to a subnet or NIC read from any input so far.
    pub fn associate(&mut self, a: &super::Association) -> Result<()> {
        if a.detach {
            self.detach(a);
            return Ok(());
        }
        let link = || Some((a.linked.clone(), a.location.clone()));
        if let Some(nic) = self.nics.iter_mut().find(|n| n.id == a.target) {
            if a.asg {
                nic.ip_configs
                    .iter_mut()
                    .for_each(|c| c.asgs.push(a.linked.clone()));
            } else {
                nic.nsg = link();
            }
            return Ok(());
        }
        match self.subnets.iter_mut().find(|s| s.item.id == a.target) {
            Some(subnet) if !a.asg => {
                subnet.item.nsg = link();
                Ok(())
            }
            _ => Err(Error::invalid(
                a.location.clone(),
                format!(
                    "`{}` is in no input: an association needs its {} in the plan or in a snapshot given with it",
                    a.target,
                    if a.asg { "NIC" } else { "subnet or NIC" }
                ),
            )),
        }
    }

    /// Takes a deleted association's NSG or ASG off its subnet or NIC. One whose target no
    /// input defines, or that is no longer attached there, leaves nothing to take off.
    fn detach(&mut self, a: &super::Association) {
        let attached = |nsg: &mut Option<(ResourceId, Location)>| {
            if nsg.as_ref().is_some_and(|(id, _)| *id == a.linked) {
                *nsg = None;
            }
        };
        for nic in self.nics.iter_mut().filter(|n| n.id == a.target) {
            if a.asg {
                nic.ip_configs
                    .iter_mut()
                    .for_each(|c| c.asgs.retain(|asg| *asg != a.linked));
            } else {
                attached(&mut nic.nsg);
            }
        }
        if !a.asg {
            for subnet in self.subnets.iter_mut().filter(|s| s.item.id == a.target) {
                attached(&mut subnet.item.nsg);
            }
        }
    }

    /// Reads one resource; `hint` is the type implied by nesting, `parent` the parent's id.
    fn read_item(
        &mut self,
        node: Node,
        hint: Option<&str>,
        parent: Option<&ResourceId>,
    ) -> Result<()> {
        if !node.value.is_object() {
            return Err(node.error("expected a resource object"));
        }
        let declared = node.opt_str("type")?;
        let Some(ty) = declared.or(hint) else {
            if node.get("deploymentStatus").is_some() {
                return self.deployment(&node);
            }
            self.warnings.push(format!(
                "{}: an object without `type` was ignored",
                node.location()
            ));
            return Ok(());
        };
        let ty = ty.to_ascii_lowercase();
        if let Some(id) = node.opt_str("id")? {
            let rid = ResourceId::new(id);
            let fresh = if self.replacing {
                self.replaced.insert(rid.clone())
            } else {
                self.seen.insert(rid.clone())
            };
            if !fresh {
                self.warnings.push(format!(
                    "{}: `{id}` appears more than once; the first copy was used",
                    node.location()
                ));
                return Ok(());
            }
            if self.replacing && !self.seen.insert(rid.clone()) {
                self.forget(&rid);
            }
        }
        let t = ty.strip_prefix("microsoft.network/").unwrap_or(&ty);
        match t {
            "microsoft.management/managementgroups" => self.management_group(&node),
            "microsoft.resources/subscriptions" => self.subscription(&node),
            "microsoft.resources/subscriptions/resourcegroups"
            | "microsoft.resources/resourcegroups" => self.resource_group(&node),
            "virtualnetworks" => self.vnet(&node),
            "virtualnetworks/subnets" => self.subnet(&node, parent),
            "virtualnetworks/virtualnetworkpeerings" => self.peering(&node, parent),
            "networkinterfaces" => self.nic(&node),
            "publicipaddresses" => self.public_ip(&node),
            "networksecuritygroups" => self.nsg(&node),
            "networksecuritygroups/securityrules" => self.nsg_rule(&node, parent, false),
            "networksecuritygroups/defaultsecurityrules" => self.nsg_rule(&node, parent, true),
            "applicationsecuritygroups" => {
                let id = id_of(&node, None, "")?;
                self.asgs.push(id);
                Ok(())
            }
            "virtualnetworkgateways" => self.gateway(&node),
            "localnetworkgateways" => self.local_gateway(&node),
            "connections" => self.connection(&node),
            "networkmanagers" => self.manager(&node),
            "networkmanagers/networkgroups" => self.group(&node, parent),
            "networkmanagers/networkgroups/staticmembers" => self.static_member(&node, parent),
            "networkmanagers/scopeconnections" => self.scope_connection(&node, parent),
            "networkmanagers/securityadminconfigurations" => self.config(&node, parent),
            "networkmanagers/securityadminconfigurations/rulecollections" => {
                self.collection(&node, parent)
            }
            "networkmanagers/securityadminconfigurations/rulecollections/rules" => {
                self.admin_rule(&node, parent)
            }
            "networkmanagers/connectivityconfigurations" => self.connectivity(&node, parent),
            "networkmanagerconnections" => self.manager_connection(&node),
            "microsoft.authorization/policydefinitions" => self.policy_definition(&node),
            "microsoft.authorization/policyassignments" => self.policy_assignment(&node),
            _ => {
                *self
                    .ignored
                    .entry(declared.unwrap_or(&ty).to_string())
                    .or_default() += 1;
                Ok(())
            }
        }
    }

    /// Reads children nested under `key` (in `properties` or at the top level).
    fn nested(&mut self, node: &Node, key: &str, ty: &str, parent: &ResourceId) -> Result<()> {
        let p = props(node)?;
        let list = match p.get(key).or_else(|| node.get(key)) {
            Some(list) => list.elements()?,
            None => return Ok(()),
        };
        for child in list {
            self.read_item(child, Some(ty), Some(parent))?;
        }
        Ok(())
    }

    fn management_group(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let parent = props(node)?
            .ref_id("details.parent")?
            .map(|p| ResourceId::new(p).name().to_ascii_lowercase());
        self.management_groups.push(ManagementGroup {
            name: id.name().to_ascii_lowercase(),
            parent,
        });
        Ok(())
    }

    fn subscription(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let p = props(node)?;
        let subscription_id = match node
            .opt_str("subscriptionId")?
            .or(p.opt_str("subscriptionId")?)
        {
            Some(s) => s.to_string(),
            None => id
                .subscription()
                .ok_or_else(|| {
                    node.error("a subscription needs `subscriptionId` or an id /subscriptions/{id}")
                })?
                .to_string(),
        };
        let tenant = node.opt_str("tenantId")?.or(p.opt_str("tenantId")?);
        let chain = p.array("managementGroupAncestorsChain")?;
        let parent = match chain.first() {
            Some(first) => Some(first.req_str("name")?.to_ascii_lowercase()),
            None => None,
        };
        // The chain lists every ancestor, nearest first: it is also the MG tree.
        for pair in chain.windows(2) {
            self.management_groups.push(ManagementGroup {
                name: pair[0].req_str("name")?.to_ascii_lowercase(),
                parent: Some(pair[1].req_str("name")?.to_ascii_lowercase()),
            });
        }
        if let Some(last) = chain.last() {
            self.management_groups.push(ManagementGroup {
                name: last.req_str("name")?.to_ascii_lowercase(),
                parent: None,
            });
        }
        self.subscriptions.push(Subscription {
            name: name_of(node, &id)?,
            id: ResourceId::new(&format!("/subscriptions/{subscription_id}")),
            subscription_id,
            tenant: tenant.map(str::to_string),
            tags: node.tags("tags")?,
            parent,
        });
        Ok(())
    }

    fn resource_group(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        self.resource_groups.push(ResourceGroup {
            name: name_of(node, &id)?,
            tags: node.tags("tags")?,
            id,
        });
        Ok(())
    }

    fn vnet(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let p = props(node)?;
        self.vnets.push(RawVnet {
            name: name_of(node, &id)?,
            location: normalise_region(node.opt_str("location")?.unwrap_or("")),
            tags: node.tags("tags")?,
            address_space: nets(&p, "addressSpace.addressPrefixes")?,
            id: id.clone(),
        });
        self.nested(node, "subnets", "virtualNetworks/subnets", &id)?;
        self.nested(
            node,
            "virtualNetworkPeerings",
            "virtualNetworks/virtualNetworkPeerings",
            &id,
        )
    }

    fn subnet(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "subnets")?;
        let p = props(node)?;
        let mut prefixes = nets(&p, "addressPrefixes")?;
        if let Some(n) = p.get("addressPrefix") {
            let text = n.as_str()?;
            prefixes.push(addr::parse_net(text).ok_or_else(|| {
                n.error(format!(
                    "`{text}` is not a valid CIDR prefix (e.g. 10.0.1.0/24)"
                ))
            })?);
        }
        let nsg = reference(&p, "networkSecurityGroup")?;
        let delegations = p
            .array("delegations")?
            .iter()
            .map(|d| Ok(props(d)?.opt_str("serviceName")?.unwrap_or("").to_string()))
            .collect::<Result<_>>()?;
        let item = RawSubnet {
            name: name_of(node, &id)?,
            prefixes,
            nsg,
            delegations,
            id: id.clone(),
        };
        let parent = parent_of(node, &id, parent)?;
        self.subnets.push(Child {
            parent,
            item,
            location: node.location(),
        });
        Ok(())
    }

    fn peering(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "virtualNetworkPeerings")?;
        let p = props(node)?;
        let remote = p
            .ref_id("remoteVirtualNetwork")?
            .ok_or_else(|| node.error("missing required field `remoteVirtualNetwork.id`"))?;
        // A misspelt state must not quietly disconnect the VNets.
        let connected = match p.get("peeringState") {
            Some(n) => n.one_of(PEERING_STATES, "a peering state")? == "Connected",
            None => false,
        };
        let item = Peering {
            remote: ResourceId::new(remote),
            connected,
        };
        let parent = parent_of(node, &id, parent)?;
        self.peerings.push(Child {
            parent,
            item,
            location: node.location(),
        });
        Ok(())
    }

    fn nic(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let p = props(node)?;
        let mut ip_configs = Vec::new();
        for cfg in p.array("ipConfigurations")? {
            let c = props(&cfg)?;
            let Some(addr_node) = c.get("privateIPAddress") else {
                self.warnings.push(format!(
                    "{}: IP configuration without `privateIPAddress` was ignored",
                    cfg.location()
                ));
                continue;
            };
            let text = addr_node.as_str()?;
            let address = text
                .parse()
                .map_err(|_| addr_node.error(format!("`{text}` is not an IP address")))?;
            let subnet = reference(&c, "subnet")?
                .ok_or_else(|| cfg.error("missing required field `subnet.id`"))?;
            let asgs = c
                .array("applicationSecurityGroups")?
                .iter()
                .map(|a| Ok(ResourceId::new(a.req_str("id")?)))
                .collect::<Result<_>>()?;
            let public_ip = c.ref_id("publicIPAddress")?.map(ResourceId::new);
            ip_configs.push(RawIpConfig {
                address,
                subnet,
                asgs,
                public_ip,
            });
        }
        self.nics.push(RawNic {
            name: name_of(node, &id)?,
            ip_configs,
            nsg: reference(&p, "networkSecurityGroup")?,
            private_endpoint: p.ref_id("privateEndpoint")?.is_some(),
            id,
        });
        Ok(())
    }

    fn public_ip(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        if node
            .opt_str("sku.name")?
            .is_some_and(|s| s.eq_ignore_ascii_case("standard"))
        {
            self.standard_public_ips.push(id.clone());
        }
        self.public_ips.push(id);
        Ok(())
    }

    fn nsg(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        self.nsgs.push((id.clone(), name_of(node, &id)?));
        self.nested(
            node,
            "securityRules",
            "networkSecurityGroups/securityRules",
            &id,
        )?;
        self.nested(
            node,
            "defaultSecurityRules",
            "networkSecurityGroups/defaultSecurityRules",
            &id,
        )
    }

    fn nsg_rule(
        &mut self,
        node: &Node,
        parent: Option<&ResourceId>,
        is_default: bool,
    ) -> Result<()> {
        let segment = if is_default {
            "defaultSecurityRules"
        } else {
            "securityRules"
        };
        let id = id_of(node, parent, segment)?;
        let p = props(node)?;
        self.warn_unread_keys(node, &p, &id);
        let access = p.req_str("access")?;
        let access = match Access::parse(access) {
            Some(a @ (Access::Allow | Access::Deny)) => a,
            _ => {
                return Err(p.get("access").unwrap_or(p.clone()).error(format!(
                    "`{access}` is not an NSG access: expected Allow or Deny"
                )))
            }
        };
        let fields = RuleFields {
            protocol: protocol(&p)?,
            sources: nsg_addresses(&p, "source")?,
            source_ports: nsg_ports(&p, "source")?,
            destinations: nsg_addresses(&p, "destination")?,
            destination_ports: nsg_ports(&p, "destination")?,
        };
        let range = if is_default { 1..=u32::MAX } else { 100..=4096 };
        let (priority, directions) = self.unknowns_of(node, &id, &p, range)?;
        let parent = parent_of(node, &id, parent)?;
        for direction in directions {
            let item = Rule {
                name: name_of(node, &id)?,
                priority,
                access,
                direction,
                fields: fields.clone(),
                is_default,
                id: id.clone(),
            };
            self.nsg_rules.push(Child {
                parent: parent.clone(),
                item,
                location: node.location(),
            });
        }
        Ok(())
    }

    /// Warns of each property of an NSG rule that secpath does not read: a misspelt field
    /// (`sourceAddressPrefixs`) would otherwise be absent, and an absent field matches
    /// anything (D4), so the rule would be read wider than Azure, which rejects it, would.
    fn warn_unread_keys(&mut self, node: &Node, p: &Node, id: &ResourceId) {
        // az CLI output flattens `properties` into the rule beside its resource envelope.
        let flattened = node.get("properties").is_none();
        let envelope = |key: &str| {
            flattened
                && RESOURCE_ENVELOPE
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(key))
        };
        for key in p.keys() {
            if !NSG_RULE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) && !envelope(key) {
                self.warnings.push(format!(
                    "{}: security rule `{}` has a property `{key}` that secpath does not read (misspelt? an absent field matches anything, D4)",
                    p.location(),
                    id.name()
                ));
            }
        }
    }

    /// Reads a rule's priority and direction, and records the attributes a plan does not
    /// know of it. A rule that lists unknowns and leaves out its priority has
    /// [`UNKNOWN_PRIORITY`]; one that leaves out its direction comes once per direction.
    fn unknowns_of(
        &mut self,
        node: &Node,
        id: &ResourceId,
        p: &Node,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<(u32, Vec<Direction>)> {
        let unknown: Vec<String> = node
            .str_list(UNKNOWN_KEY)?
            .into_iter()
            .map(str::to_string)
            .collect();
        if unknown.is_empty() {
            return Ok((priority(p, range)?, vec![direction(p)?]));
        }
        self.unknowns.insert(id.clone(), unknown);
        let priority = match p.get("priority") {
            Some(_) => priority(p, range)?,
            None => UNKNOWN_PRIORITY,
        };
        let directions = match p.get("direction") {
            Some(_) => vec![direction(p)?],
            None => vec![Direction::Inbound, Direction::Outbound],
        };
        Ok((priority, directions))
    }

    fn gateway(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        for cfg in props(node)?.array("ipConfigurations")? {
            if let Some(subnet) = props(&cfg)?.ref_id("subnet")? {
                self.gateways.push((id.clone(), ResourceId::new(subnet)));
            }
        }
        Ok(())
    }

    fn local_gateway(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let prefixes = nets(&props(node)?, "localNetworkAddressSpace.addressPrefixes")?;
        self.local_gateways.push((id, prefixes));
        Ok(())
    }

    fn connection(&mut self, node: &Node) -> Result<()> {
        let p = props(node)?;
        if let (Some(vgw), Some(lgw)) = (
            p.ref_id("virtualNetworkGateway1")?,
            p.ref_id("localNetworkGateway2")?,
        ) {
            self.connections
                .push((ResourceId::new(vgw), ResourceId::new(lgw)));
        } else {
            // Read but not used: its remote prefixes are declared nowhere secpath reads.
            let id = id_of(node, None, "")?;
            self.warnings.push(format!(
                "{}: connection `{}` joins no local network gateway to a virtual network gateway (ExpressRoute, VNet-to-VNet): the prefixes behind it are not known as on-premises and it was ignored",
                node.location(),
                id.name()
            ));
        }
        Ok(())
    }

    fn manager(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let p = props(node)?;
        let mut scopes = Vec::new();
        for key in [
            "networkManagerScopes.subscriptions",
            "networkManagerScopes.managementGroups",
        ] {
            for n in p.array(key)? {
                let text = n.as_str()?;
                scopes.push(ScopeRef::parse(text).ok_or_else(|| {
                    n.error(format!(
                        "`{text}` is neither a subscription nor a management group id"
                    ))
                })?);
            }
        }
        let mut security_admin = false;
        for n in p.array("networkManagerScopeAccesses")? {
            security_admin |=
                n.one_of(CONFIGURATION_TYPES, "a network manager access")? == "SecurityAdmin";
        }
        self.managers.push(RawManager {
            security_admin,
            scopes,
            id: id.clone(),
        });
        self.nested(node, "networkGroups", "networkManagers/networkGroups", &id)?;
        self.nested(
            node,
            "scopeConnections",
            "networkManagers/scopeConnections",
            &id,
        )?;
        self.nested(
            node,
            "securityAdminConfigurations",
            "networkManagers/securityAdminConfigurations",
            &id,
        )?;
        self.nested(
            node,
            "connectivityConfigurations",
            "networkManagers/connectivityConfigurations",
            &id,
        )
    }

    fn group(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "networkGroups")?;
        let p = props(node)?;
        let member_type = match p.opt_str("memberType")? {
            None => MemberType::VirtualNetwork,
            Some(t) if t.eq_ignore_ascii_case("virtualnetwork") => MemberType::VirtualNetwork,
            Some(t) if t.eq_ignore_ascii_case("subnet") => MemberType::Subnet,
            // Read as the default, a misspelt `Subnet` group would take in whole VNets.
            Some(t) => {
                return Err(p.get("memberType").unwrap_or(p).error(format!(
                    "`{t}` is not a network group member type: expected VirtualNetwork or Subnet"
                )))
            }
        };
        let item = NetworkGroup {
            id: id.clone(),
            member_type,
            static_members: Vec::new(),
        };
        let parent = parent_of(node, &id, parent)?;
        self.groups.push(Child {
            parent,
            item,
            location: node.location(),
        });
        self.nested(
            node,
            "staticMembers",
            "networkManagers/networkGroups/staticMembers",
            &id,
        )
    }

    fn static_member(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "staticMembers")?;
        let item = ResourceId::new(props(node)?.req_str("resourceId")?);
        let parent = parent_of(node, &id, parent)?;
        self.static_members.push(Child {
            parent,
            item,
            location: node.location(),
        });
        Ok(())
    }

    fn scope_connection(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "scopeConnections")?;
        let p = props(node)?;
        let target_text = p.req_str("resourceId")?;
        let target = ScopeRef::parse(target_text).ok_or_else(|| {
            p.get("resourceId").unwrap_or(p.clone()).error(format!(
                "`{target_text}` is neither a subscription nor a management group id"
            ))
        })?;
        let item = ScopeConnection {
            id: id.clone(),
            target,
            state: p.opt_str("connectionState")?.map(str::to_string),
        };
        let parent = parent_of(node, &id, parent)?;
        self.scope_connections.push(Child {
            parent,
            item,
            location: node.location(),
        });
        Ok(())
    }

    fn config(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "securityAdminConfigurations")?;
        let key = "applyOnNetworkIntentPolicyBasedServices";
        for setting in props(node)?.array(key)? {
            let text = setting.as_str()?;
            if !["none", "all", "allowrulesonly"].contains(&text.to_ascii_lowercase().as_str()) {
                return Err(setting.error(format!(
                    "`{text}` is not a network intent policy setting: expected None, All or AllowRulesOnly"
                )));
            }
        }
        let settings = props(node)?.str_list(key)?;
        let intent_policy = if settings.iter().any(|s| s.eq_ignore_ascii_case("all")) {
            IntentPolicySetting::All
        } else if settings
            .iter()
            .any(|s| s.eq_ignore_ascii_case("allowrulesonly"))
        {
            IntentPolicySetting::AllowRulesOnly
        } else {
            IntentPolicySetting::None
        };
        let item = SecurityAdminConfig {
            id: id.clone(),
            intent_policy,
            collections: Vec::new(),
        };
        let parent = parent_of(node, &id, parent)?;
        self.configs.push(Child {
            parent,
            item,
            location: node.location(),
        });
        self.nested(
            node,
            "ruleCollections",
            "networkManagers/securityAdminConfigurations/ruleCollections",
            &id,
        )
    }

    fn collection(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "ruleCollections")?;
        let applies_to = props(node)?
            .array("appliesToGroups")?
            .iter()
            .map(|g| Ok(ResourceId::new(g.req_str("networkGroupId")?)))
            .collect::<Result<_>>()?;
        let item = RuleCollection {
            id: id.clone(),
            applies_to,
            rules: Vec::new(),
        };
        let parent = parent_of(node, &id, parent)?;
        self.collections.push(Child {
            parent,
            item,
            location: node.location(),
        });
        self.nested(
            node,
            "rules",
            "networkManagers/securityAdminConfigurations/ruleCollections/rules",
            &id,
        )
    }

    fn admin_rule(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "rules")?;
        let kind = node.opt_str("kind")?;
        if let Some(k) =
            kind.filter(|k| !k.eq_ignore_ascii_case("custom") && !k.eq_ignore_ascii_case("default"))
        {
            return Err(node.get("kind").unwrap_or(node.clone()).error(format!(
                "`{k}` is not an admin rule kind: expected Custom or Default"
            )));
        }
        if kind.is_some_and(|k| k.eq_ignore_ascii_case("default")) {
            self.warnings.push(format!(
                "{}: admin rule `{}` has kind Default, which secpath does not support; it was skipped",
                node.location(),
                id.name()
            ));
            return Ok(());
        }
        let p = props(node)?;
        let access_text = p.req_str("access")?;
        let access = Access::parse(access_text).ok_or_else(|| {
            p.get("access").unwrap_or(p.clone()).error(format!(
                "`{access_text}` is not an admin rule access: expected Allow, Deny or AlwaysAllow"
            ))
        })?;
        let fields = RuleFields {
            protocol: protocol(&p)?,
            sources: admin_addresses(&p, "sources")?,
            source_ports: port_list(&p, "sourcePortRanges")?,
            destinations: admin_addresses(&p, "destinations")?,
            destination_ports: port_list(&p, "destinationPortRanges")?,
        };
        let (priority, directions) = self.unknowns_of(node, &id, &p, 1..=4096)?;
        let parent = parent_of(node, &id, parent)?;
        for direction in directions {
            let item = Rule {
                name: name_of(node, &id)?,
                priority,
                access,
                direction,
                fields: fields.clone(),
                is_default: false,
                id: id.clone(),
            };
            self.admin_rules.push(Child {
                parent: parent.clone(),
                item,
                location: node.location(),
            });
        }
        Ok(())
    }

    fn connectivity(&mut self, node: &Node, parent: Option<&ResourceId>) -> Result<()> {
        let id = id_of(node, parent, "connectivityConfigurations")?;
        let p = props(node)?;
        let topology = p.opt_str("connectivityTopology")?.unwrap_or("");
        // Read as a mesh, a misspelt hub-and-spoke would connect every spoke to every other.
        if !["", "hubandspoke", "mesh"].contains(&topology.to_ascii_lowercase().as_str()) {
            return Err(p.get("connectivityTopology").unwrap_or(p).error(format!(
                "`{topology}` is not a connectivity topology: expected HubAndSpoke or Mesh"
            )));
        }
        let hubs = p
            .array("hubs")?
            .iter()
            .map(|h| Ok(ResourceId::new(h.req_str("resourceId")?)))
            .collect::<Result<_>>()?;
        let groups = p
            .array("appliesToGroups")?
            .iter()
            .map(|g| {
                Ok(ConnectivityGroup {
                    group: ResourceId::new(g.req_str("networkGroupId")?),
                    directly_connected: g
                        .opt_str("groupConnectivity")?
                        .is_some_and(|c| c.eq_ignore_ascii_case("DirectlyConnected")),
                    is_global: g.flag("isGlobal")?,
                })
            })
            .collect::<Result<_>>()?;
        let item = ConnectivityConfig {
            id: id.clone(),
            hub_and_spoke: topology.eq_ignore_ascii_case("HubAndSpoke"),
            hubs,
            is_global: p.flag("isGlobal")?,
            groups,
        };
        let parent = parent_of(node, &id, parent)?;
        self.connectivity.push(Child {
            parent,
            item,
            location: node.location(),
        });
        Ok(())
    }

    fn manager_connection(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let p = props(node)?;
        let scope = ScopeRef::parse(id.as_str()).ok_or_else(|| {
            node.error("a network manager connection's id must start with its subscription or management group")
        })?;
        self.manager_connections.push(ManagerConnection {
            manager: ResourceId::new(p.req_str("networkManagerId")?),
            state: p.opt_str("connectionState")?.map(str::to_string),
            scope,
            id,
        });
        Ok(())
    }

    fn policy_definition(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let p = props(node)?;
        let mode = p.opt_str("mode")?.unwrap_or("");
        let effect = p.opt_str("policyRule.then.effect")?.unwrap_or("");
        // `[parameters('effect')]` is decided per assignment (resolve::groups).
        let effect_parameter = parameter_reference(effect);
        if !mode.eq_ignore_ascii_case("Microsoft.Network.Data")
            || !(effect.eq_ignore_ascii_case("addToNetworkGroup") || effect_parameter.is_some())
        {
            self.warnings.push(format!(
                "{}: policy definition `{}` is not an AVNM membership policy (mode {mode:?}, effect {effect:?}) and was ignored",
                node.location(),
                id.name()
            ));
            return Ok(());
        }
        let cond = p
            .at("policyRule.if")
            .ok_or_else(|| p.error("missing required field `policyRule.if`"))?;
        let condition = parse_condition(cond.value, &cond.path).map_err(|e| {
            Error::invalid(
                Location {
                    file: node.file.to_path_buf(),
                    path: e.path,
                },
                e.message,
            )
        })?;
        let mut parameters = BTreeMap::new();
        if let Some(params) = p
            .get("parameters")
            .and_then(|n| n.value.as_object().cloned())
        {
            for (k, v) in params {
                parameters.insert(k, v.get("defaultValue").cloned());
            }
        }
        let named = condition.parameters().into_iter().map(|n| (n, &cond));
        let effect_node = p.at("policyRule.then.effect");
        let named = named.chain(effect_parameter.as_deref().zip(effect_node.as_ref()));
        for (name, at) in named {
            if lookup(&parameters, name).is_none() {
                return Err(at.error(format!(
                    "parameter `{name}` is not declared in the definition's `parameters`"
                )));
            }
        }
        self.policy_definitions.push(PolicyDefinition {
            network_group: ResourceId::new(p.req_str("policyRule.then.details.networkGroupId")?),
            condition,
            parameters,
            effect_parameter,
            id,
        });
        Ok(())
    }

    fn policy_assignment(&mut self, node: &Node) -> Result<()> {
        let id = id_of(node, None, "")?;
        let p = props(node)?;
        let mut parameters = BTreeMap::new();
        if let Some(params) = p
            .get("parameters")
            .and_then(|n| n.value.as_object().cloned())
        {
            for (k, v) in params {
                parameters.insert(k, v.get("value").cloned().unwrap_or(Value::Null));
            }
        }
        let scope = match p.opt_str("scope")? {
            Some(s) => ResourceId::new(s),
            // The assignment's own id starts with its scope (any case: Resource Graph
            // lower-cases the provider).
            None => {
                let text = id.as_str();
                let at = text
                    .to_ascii_lowercase()
                    .find("/providers/microsoft.authorization/")
                    .unwrap_or(text.len());
                ResourceId::new(&text[..at])
            }
        };
        let enforced = match p.opt_str("enforcementMode")? {
            Some(m) if m.eq_ignore_ascii_case("DoNotEnforce") => {
                self.warnings.push(format!(
                    "{}: policy assignment `{}` has enforcementMode DoNotEnforce: AVNM adds no network group members through it",
                    node.location(),
                    id.name()
                ));
                false
            }
            _ => true,
        };
        self.policy_assignments.push(PolicyAssignment {
            definition: ResourceId::new(p.req_str("policyDefinitionId")?),
            enforced,
            location: p.get("parameters").unwrap_or_else(|| p.clone()).location(),
            not_scopes: p
                .str_list("notScopes")?
                .into_iter()
                .map(ResourceId::new)
                .collect(),
            scope,
            parameters,
            id,
        });
        Ok(())
    }

    fn deployment(&mut self, node: &Node) -> Result<()> {
        let order = self.deployments.len();
        self.deployments.push(DeploymentStatus {
            region: normalise_region(node.req_str("region")?),
            kind: match node.get("deploymentType") {
                Some(t) => t.one_of(CONFIGURATION_TYPES, "a deployment type")?,
                None => "SecurityAdmin",
            }
            .to_ascii_lowercase(),
            deployed: match node.get("deploymentStatus") {
                Some(s) => s.one_of(DEPLOYMENT_STATES, "a deployment status")? == "Deployed",
                None => return Err(node.error("missing required field `deploymentStatus`")),
            },
            configuration_ids: node
                .str_list("configurationIds")?
                .into_iter()
                .map(ResourceId::new)
                .collect(),
            commit_time: node.opt_str("commitTime")?.unwrap_or("").to_string(),
            order,
        });
        Ok(())
    }
}

/// Drops the record `id` and the children of `id` from `list`; the children's own ids join
/// `gone`, so their children go too.
fn drop_child<T>(
    list: &mut Vec<Child<T>>,
    id: &ResourceId,
    own: impl Fn(&T) -> Option<&ResourceId>,
    gone: &mut Vec<ResourceId>,
) {
    list.retain(|c| {
        let itself = own(&c.item) == Some(id);
        let child = &c.parent == id;
        if child {
            gone.extend(own(&c.item).cloned());
        }
        !(itself || child)
    });
}

/// The keys under which a list says it continues on another page: ARM's `nextLink`, Resource
/// Graph's `$skipToken` (REST) or `skip_token` (az CLI), `skipToken` (`list-deploy-status`).
const MORE_PAGES: [&str; 4] = ["nextLink", "$skipToken", "skip_token", "skipToken"];

/// The properties of an NSG rule in ARM's `SecurityRulePropertiesFormat`: those secpath
/// reads, and `description` and `provisioningState`, which say nothing about traffic.
pub(crate) const NSG_RULE_KEYS: [&str; 16] = [
    "description",
    "protocol",
    "sourcePortRange",
    "sourcePortRanges",
    "destinationPortRange",
    "destinationPortRanges",
    "sourceAddressPrefix",
    "sourceAddressPrefixes",
    "sourceApplicationSecurityGroups",
    "destinationAddressPrefix",
    "destinationAddressPrefixes",
    "destinationApplicationSecurityGroups",
    "access",
    "priority",
    "direction",
    "provisioningState",
];

/// What every resource carries beside its properties (az CLI writes them next to the
/// flattened properties of a rule).
const RESOURCE_ENVELOPE: [&str; 5] = ["id", "name", "etag", "type", "resourceGroup"];

/// Checks that every item of a file is a resource object, as [`Records::read_file`] would:
/// `convert` writes files it does not link, and must not turn `[1, 2]` into DSL.
pub fn check_items(root: Node) -> Result<()> {
    let mut warnings = Vec::new();
    match container_items(root, &mut warnings)?
        .into_iter()
        .find(|n| !n.value.is_object())
    {
        Some(item) => Err(item.error("expected a resource object")),
        None => Ok(()),
    }
}

/// The resources a file holds, whatever its container shape. A list with more pages is only
/// part of the estate: `warnings` says so (its resources are read).
fn container_items<'a>(node: Node<'a>, warnings: &mut Vec<String>) -> Result<Vec<Node<'a>>> {
    if node.value.is_array() {
        return node.elements();
    }
    if node.value.get("type").is_none() {
        for key in ["value", "data"] {
            if let Some(list) = node.get(key).filter(|n| n.value.is_array()) {
                // The last page has no token, or an empty one.
                if let Some(more) = MORE_PAGES
                    .iter()
                    .filter_map(|k| node.get(k))
                    .find(|n| n.value.as_str() != Some(""))
                {
                    warnings.push(format!(
                        "{}: the list has more pages (`{}` is set): the resources on them are not in the snapshot; export every page",
                        more.location(),
                        more.path.rsplit('.').next().unwrap_or_default()
                    ));
                }
                return list.elements();
            }
        }
        if let Some(responses) = node.get("responses") {
            return rest_example_body(responses, warnings);
        }
    }
    Ok(vec![node])
}

/// The first 2xx response body of a REST API example file.
fn rest_example_body<'a>(responses: Node<'a>, warnings: &mut Vec<String>) -> Result<Vec<Node<'a>>> {
    let obj = responses
        .value
        .as_object()
        .ok_or_else(|| responses.error("expected an object of responses"))?;
    let mut codes: Vec<&String> = obj.keys().filter(|k| k.starts_with('2')).collect();
    codes.sort();
    for code in codes {
        if let Some(body) = responses.get(code).and_then(|r| r.get("body")) {
            return container_items(body, warnings);
        }
    }
    Ok(Vec::new())
}

fn reference(node: &Node, key: &str) -> Result<Option<(ResourceId, Location)>> {
    Ok(match node.get(key) {
        Some(r) => r
            .opt_str("id")?
            .map(|id| (ResourceId::new(id), r.location())),
        None => None,
    })
}

fn protocol(p: &Node) -> Result<Protocol> {
    let text = p.req_str("protocol")?;
    Protocol::parse(text).ok_or_else(|| {
        p.get("protocol").unwrap_or(p.clone()).error(format!(
            "`{text}` is not a protocol: expected Tcp, Udp, Icmp, Esp, Ah, Any or *"
        ))
    })
}

fn direction(p: &Node) -> Result<Direction> {
    let text = p.req_str("direction")?;
    Direction::parse(text).ok_or_else(|| {
        p.get("direction").unwrap_or(p.clone()).error(format!(
            "`{text}` is not a direction: expected Inbound or Outbound"
        ))
    })
}

fn priority(p: &Node, range: std::ops::RangeInclusive<u32>) -> Result<u32> {
    let n = p
        .get("priority")
        .ok_or_else(|| p.error("missing required field `priority`"))?;
    // ARM writes an integer; some exports quote it. A float or a word is not a priority.
    let integer = n
        .value
        .as_i64()
        .map(i128::from)
        .or_else(|| n.value.as_u64().map(i128::from))
        .or_else(|| n.value.as_str().and_then(|s| s.trim().parse::<i128>().ok()))
        // Beyond u64 JSON numbers read as floats; such a whole number is out of range, and
        // saying it is not an integer would mislead.
        .or_else(|| {
            n.value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() >= 2f64.powi(63))
                .map(|f| f as i128)
        });
    let expected = format!("expected an integer {}-{}", range.start(), range.end());
    match integer {
        Some(v) if u32::try_from(v).is_ok_and(|v| range.contains(&v)) => Ok(v as u32),
        Some(v) => Err(n.error(format!("priority {v} is out of range: {expected}"))),
        None => Err(n.error(format!(
            "priority `{}` is not an integer: {expected}",
            n.value
        ))),
    }
}

/// Ports from a list of texts; each text may itself be a comma-separated list.
fn port_list(p: &Node, key: &str) -> Result<SmallVec<[PortRange; 2]>> {
    let mut out = SmallVec::new();
    for n in p.array(key)? {
        out.extend(ports_of(&n)?);
    }
    Ok(out)
}

fn ports_of(n: &Node) -> Result<SmallVec<[PortRange; 2]>> {
    let text = n.as_str().map(str::to_string).or_else(|_| {
        n.value
            .as_u64()
            .map(|v| v.to_string())
            .ok_or_else(|| n.error("expected a port string"))
    })?;
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| PortRange::parse(s).map_err(|m| n.error(m)))
        .collect()
}

/// NSG ports: `{side}PortRanges` or the single `{side}PortRange`, never both.
fn nsg_ports(p: &Node, side: &str) -> Result<SmallVec<[PortRange; 2]>> {
    let plural = port_list(p, &format!("{side}PortRanges"))?;
    let single = match p.get(&format!("{side}PortRange")) {
        Some(n) if n.as_str().is_ok_and(|s| s.is_empty()) => SmallVec::new(),
        Some(n) => ports_of(&n)?,
        None => SmallVec::new(),
    };
    match (plural.is_empty(), single.is_empty()) {
        (false, false) => Err(p.error(format!(
            "both `{side}PortRange` and `{side}PortRanges` are set: Azure accepts one or the other"
        ))),
        (true, _) => Ok(single),
        (false, true) => Ok(plural),
    }
}

/// NSG addresses: prefixes (single or plural, never both) plus application security groups.
fn nsg_addresses(p: &Node, side: &str) -> Result<SmallVec<[AddressItem; 2]>> {
    let parse = |n: &Node| -> Result<AddressItem> {
        AddressItem::parse_prefix_or_tag(n.as_str()?).map_err(|m| n.error(m))
    };
    let plural: SmallVec<[AddressItem; 2]> = p
        .array(&format!("{side}AddressPrefixes"))?
        .iter()
        .map(parse)
        .collect::<Result<_>>()?;
    let single = match p.get(&format!("{side}AddressPrefix")) {
        Some(n) if n.as_str().is_ok_and(|s| s.is_empty()) => None,
        Some(n) => Some(parse(&n)?),
        None => None,
    };
    let mut out = match (plural.is_empty(), single) {
        (false, Some(_)) => {
            return Err(p.error(format!(
                "both `{side}AddressPrefix` and `{side}AddressPrefixes` are set: Azure accepts one or the other"
            )))
        }
        (_, Some(one)) => SmallVec::from_elem(one, 1),
        (_, None) => plural,
    };
    for asg in p.array(&format!("{side}ApplicationSecurityGroups"))? {
        out.push(AddressItem::Asg(ResourceId::new(asg.req_str("id")?)));
    }
    Ok(out)
}

/// Admin addresses: `[{addressPrefix, addressPrefixType}]`.
fn admin_addresses(p: &Node, key: &str) -> Result<SmallVec<[AddressItem; 2]>> {
    let mut out = SmallVec::new();
    for item in p.array(key)? {
        let prefix_node = item
            .get("addressPrefix")
            .ok_or_else(|| item.error("missing required field `addressPrefix`"))?;
        let prefix = prefix_node.as_str()?;
        let kind = item.opt_str("addressPrefixType")?.unwrap_or("IPPrefix");
        match kind.to_ascii_lowercase().as_str() {
            "ipprefix" => {
                for part in prefix.split(',').filter(|s| !s.trim().is_empty()) {
                    out.push(AddressItem::parse_prefix(part).map_err(|m| prefix_node.error(m))?);
                }
            }
            "servicetag" => out.push(AddressItem::Tag(prefix.trim().to_string())),
            "networkgroup" => out.push(AddressItem::NetworkGroup(ResourceId::new(prefix))),
            _ => {
                return Err(item.error(format!(
                    "`{kind}` is not an address prefix type: expected IPPrefix, ServiceTag or NetworkGroup"
                )))
            }
        }
    }
    Ok(out)
}
