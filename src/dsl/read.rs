//! ARM JSON to items: the reading half of [`super::to_dsl`].
//!
//! This mirrors the loader (`crate::load`) field for field: the same container shapes,
//! nesting, `properties` or top-level fields, case-insensitive keys, ids built for nested
//! children, duplicates skipped, children joined to parents by id in input order. Anything
//! the DSL cannot say, or that the loader would only warn about or reject (an unknown type,
//! a duplicate id, a `Default` admin rule, a malformed value, an orphaned child), is kept
//! whole as an `arm {...}` item, so converting never loses or changes what the loader sees.

use super::cond;
use super::item::*;
use super::parse::scope_of_id;
use crate::load::json::Node;
use crate::model::{
    addr::parse_net, normalise_region, Access, AddressItem, Direction, IntentPolicySetting,
    PortRange, Protocol, ResourceId,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The DSL cannot say this resource the way the loader reads it: keep it as JSON.
struct Unwritable;

impl From<crate::Error> for Unwritable {
    fn from(_: crate::Error) -> Unwritable {
        Unwritable
    }
}

type R<T> = Result<T, Unwritable>;

/// A child resource waiting for its parent, with its JSON in case it has none.
struct Child<T> {
    parent: ResourceId,
    item: T,
    json: Value,
    seq: usize,
}

#[derive(Default)]
struct Reader {
    /// Top-level items with their input position.
    top: Vec<(usize, Item)>,
    seq: usize,
    subnets: Vec<Child<Subnet>>,
    peerings: Vec<Child<Peering>>,
    nsg_rules: Vec<Child<(Rule, bool)>>,
    groups: Vec<Child<Group>>,
    static_members: Vec<Child<Ref>>,
    scope_connections: Vec<Child<ScopeConnection>>,
    configs: Vec<Child<SecurityConfig>>,
    collections: Vec<Child<Collection>>,
    admin_rules: Vec<Child<Rule>>,
    connectivity: Vec<Child<Connectivity>>,
    seen: HashSet<ResourceId>,
    /// Ids recorded in `seen` while reading, so a failed resource can take them back.
    inserted: Vec<ResourceId>,
}

/// Reads ARM values (each a resource or any container shape the loader accepts) into items.
pub fn read(values: &[Value]) -> Vec<Item> {
    let mut r = Reader::default();
    let file = Path::new("");
    for v in values {
        match container_items(Node::root(v, file)) {
            Ok(nodes) => {
                for node in nodes {
                    r.item_or_arm(&node, None, None);
                }
            }
            Err(Unwritable) => {
                let seq = r.next_seq();
                r.top.push((seq, Item::Arm(v.clone())));
            }
        }
    }
    let mut items = r.assemble();
    fold_dynamic(&mut items);
    items
}

/// The resources of ARM values in one flat list, whatever their container shapes (a value
/// the loader could not read is kept as it is).
pub fn resources(values: &[Value]) -> Vec<Value> {
    let file = Path::new("");
    values
        .iter()
        .flat_map(|v| match container_items(Node::root(v, file)) {
            Ok(nodes) => nodes.into_iter().map(|n| n.value.clone()).collect(),
            Err(Unwritable) => vec![v.clone()],
        })
        .collect()
}

/// The resources a file holds, whatever its container shape (as the loader reads them).
fn container_items(node: Node) -> R<Vec<Node>> {
    if node.value.is_array() {
        return Ok(node.elements()?);
    }
    if node.value.get("type").is_none() {
        for key in ["value", "data"] {
            if let Some(list) = node.get(key).filter(|n| n.value.is_array()) {
                return Ok(list.elements()?);
            }
        }
        if let Some(responses) = node.get("responses") {
            let obj = responses.value.as_object().ok_or(Unwritable)?;
            let mut codes: Vec<&String> = obj.keys().filter(|k| k.starts_with('2')).collect();
            codes.sort();
            for code in codes {
                if let Some(body) = responses.get(code).and_then(|r| r.get("body")) {
                    return container_items(body);
                }
            }
            return Ok(Vec::new());
        }
    }
    Ok(vec![node])
}

fn props<'a>(node: &Node<'a>) -> Node<'a> {
    node.get("properties").unwrap_or_else(|| node.clone())
}

/// An id as the model keeps it (trimmed).
fn id_text(text: &str) -> String {
    ResourceId::new(text).as_str().to_string()
}

fn id_of(node: &Node, parent: Option<&ResourceId>, segment: &str) -> R<String> {
    if let Some(id) = node.opt_str("id")? {
        return Ok(id_text(id));
    }
    match (parent, node.opt_str("name")?) {
        (Some(p), Some(name)) => Ok(id_text(&format!("{p}/{segment}/{name}"))),
        _ => Err(Unwritable),
    }
}

fn name_of(node: &Node, id: &str) -> R<String> {
    Ok(node
        .opt_str("name")?
        .map_or_else(|| ResourceId::new(id).name().to_string(), str::to_string))
}

fn parent_of(id: &str, hint: Option<&ResourceId>) -> R<ResourceId> {
    hint.cloned()
        .or_else(|| ResourceId::new(id).parent())
        .ok_or(Unwritable)
}

fn nets(node: &Node, dotted: &str) -> R<Vec<String>> {
    node.array(dotted)?
        .iter()
        .map(|n| {
            let text = n.as_str()?;
            parse_net(text).map(|_| text.to_string()).ok_or(Unwritable)
        })
        .collect()
}

fn reference(node: &Node, key: &str) -> R<Option<Ref>> {
    Ok(match node.get(key) {
        Some(r) => r.opt_str("id")?.map(|id| Ref::id(&id_text(id))),
        None => None,
    })
}

impl Reader {
    fn next_seq(&mut self) -> usize {
        self.seq += 1;
        self.seq
    }

    /// Reads one resource; when the DSL cannot say it, keeps it whole as JSON.
    fn item_or_arm(&mut self, node: &Node, hint: Option<&str>, parent: Option<&ResourceId>) {
        let marks = (
            self.top.len(),
            self.inserted.len(),
            [
                self.subnets.len(),
                self.peerings.len(),
                self.nsg_rules.len(),
                self.groups.len(),
                self.static_members.len(),
                self.scope_connections.len(),
                self.configs.len(),
                self.collections.len(),
                self.admin_rules.len(),
                self.connectivity.len(),
            ],
        );
        if self.read_item(node, hint, parent).is_ok() {
            return;
        }
        // Take back what the failed resource recorded, children included.
        self.top.truncate(marks.0);
        for id in self.inserted.drain(marks.1..) {
            self.seen.remove(&id);
        }
        let [a, b, c, d, e, f, g, h, i, j] = marks.2;
        self.subnets.truncate(a);
        self.peerings.truncate(b);
        self.nsg_rules.truncate(c);
        self.groups.truncate(d);
        self.static_members.truncate(e);
        self.scope_connections.truncate(f);
        self.configs.truncate(g);
        self.collections.truncate(h);
        self.admin_rules.truncate(i);
        self.connectivity.truncate(j);
        let json = standalone(node, hint, parent);
        let seq = self.next_seq();
        self.top.push((seq, Item::Arm(json)));
    }

    fn push(&mut self, item: Item) {
        let seq = self.next_seq();
        self.top.push((seq, item));
    }

    fn child<T>(
        &mut self,
        id: &str,
        hint: Option<&ResourceId>,
        node: &Node,
        hint_type: Option<&str>,
        item: T,
    ) -> R<Child<T>> {
        Ok(Child {
            parent: parent_of(id, hint)?,
            item,
            json: standalone(node, hint_type, hint),
            seq: self.next_seq(),
        })
    }

    fn nested(&mut self, node: &Node, key: &str, ty: &str, parent: &str) -> R<()> {
        let p = props(node);
        let list = match p.get(key).or_else(|| node.get(key)) {
            Some(list) => list.elements()?,
            None => return Ok(()),
        };
        let parent = ResourceId::new(parent);
        for child in list {
            self.item_or_arm(&child, Some(ty), Some(&parent));
        }
        Ok(())
    }

    fn read_item(&mut self, node: &Node, hint: Option<&str>, parent: Option<&ResourceId>) -> R<()> {
        if !node.value.is_object() {
            return Err(Unwritable);
        }
        let declared = node.opt_str("type")?;
        let Some(ty) = declared.or(hint) else {
            if node.get("deploymentStatus").is_some() {
                return self.deployment(node);
            }
            return Err(Unwritable);
        };
        let ty = ty.to_ascii_lowercase();
        if let Some(id) = node.opt_str("id")? {
            let id = ResourceId::new(id);
            if !self.seen.insert(id.clone()) {
                return Err(Unwritable);
            }
            self.inserted.push(id);
        }
        let hint_type = Some(ty.as_str());
        let t = ty.strip_prefix("microsoft.network/").unwrap_or(&ty);
        match t {
            "microsoft.management/managementgroups" => {
                let id = id_of(node, None, "")?;
                let parent = props(node)
                    .ref_id("details.parent")?
                    .map(|p| ResourceId::new(p).name().to_string());
                let name = ResourceId::new(&id).name().to_string();
                let tenant = props(node).opt_str("tenantId")?.map(str::to_string);
                self.push(Item::ManagementGroup(ManagementGroup {
                    name,
                    parent,
                    tenant,
                }));
            }
            "microsoft.resources/subscriptions" => {
                let id = id_of(node, None, "")?;
                let p = props(node);
                let subscription_id = match node
                    .opt_str("subscriptionId")?
                    .or(p.opt_str("subscriptionId")?)
                {
                    Some(s) => s.to_string(),
                    None => ResourceId::new(&id)
                        .subscription()
                        .ok_or(Unwritable)?
                        .to_string(),
                };
                let tenant = node
                    .opt_str("tenantId")?
                    .or(p.opt_str("tenantId")?)
                    .map(str::to_string);
                let ancestors = p
                    .array("managementGroupAncestorsChain")?
                    .iter()
                    .map(|a| Ok(a.req_str("name")?.to_string()))
                    .collect::<R<_>>()?;
                self.push(Item::Subscription(Subscription {
                    name: name_of(node, &id)?,
                    subscription_id,
                    tenant,
                    ancestors,
                    tags: node.tags("tags")?,
                }));
            }
            "microsoft.resources/subscriptions/resourcegroups"
            | "microsoft.resources/resourcegroups" => {
                let id = id_of(node, None, "")?;
                self.push(Item::ResourceGroup(ResourceGroup {
                    name: name_of(node, &id)?,
                    tags: node.tags("tags")?,
                    id,
                }));
            }
            "virtualnetworks" => {
                let id = id_of(node, None, "")?;
                let p = props(node);
                self.push(Item::Vnet(Vnet {
                    name: name_of(node, &id)?,
                    location: normalise_region(node.opt_str("location")?.unwrap_or("")),
                    tags: node.tags("tags")?,
                    address_space: nets(&p, "addressSpace.addressPrefixes")?,
                    subnets: Vec::new(),
                    peerings: Vec::new(),
                    id: id.clone(),
                }));
                self.nested(node, "subnets", "virtualNetworks/subnets", &id)?;
                self.nested(
                    node,
                    "virtualNetworkPeerings",
                    "virtualNetworks/virtualNetworkPeerings",
                    &id,
                )?;
            }
            "virtualnetworks/subnets" => {
                let id = id_of(node, parent, "subnets")?;
                let p = props(node);
                let mut prefixes = nets(&p, "addressPrefixes")?;
                if let Some(n) = p.get("addressPrefix") {
                    let text = n.as_str()?;
                    parse_net(text).ok_or(Unwritable)?;
                    prefixes.push(text.to_string());
                }
                let delegations = p
                    .array("delegations")?
                    .iter()
                    .map(|d| Ok(props(d).opt_str("serviceName")?.unwrap_or("").to_string()))
                    .collect::<R<_>>()?;
                let item = Subnet {
                    name: name_of(node, &id)?,
                    prefixes,
                    nsg: reference(&p, "networkSecurityGroup")?,
                    delegations,
                    id: id.clone(),
                };
                let c = self.child(&id, parent, node, hint_type, item)?;
                self.subnets.push(c);
            }
            "virtualnetworks/virtualnetworkpeerings" => {
                let id = id_of(node, parent, "virtualNetworkPeerings")?;
                let p = props(node);
                let remote = p.ref_id("remoteVirtualNetwork")?.ok_or(Unwritable)?;
                let item = Peering {
                    remote: Ref::id(&id_text(remote)),
                    state: p.opt_str("peeringState")?.unwrap_or("").to_string(),
                };
                let c = self.child(&id, parent, node, hint_type, item)?;
                self.peerings.push(c);
            }
            "networkinterfaces" => {
                let id = id_of(node, None, "")?;
                let p = props(node);
                let mut ip_configs = Vec::new();
                for cfg in p.array("ipConfigurations")? {
                    let c = props(&cfg);
                    let text = c.req_str("privateIPAddress")?;
                    text.parse::<std::net::IpAddr>().map_err(|_| Unwritable)?;
                    let asgs = c
                        .array("applicationSecurityGroups")?
                        .iter()
                        .map(|a| Ok(Ref::id(&id_text(a.req_str("id")?))))
                        .collect::<R<_>>()?;
                    ip_configs.push(IpConfig {
                        address: text.to_string(),
                        subnet: reference(&c, "subnet")?.ok_or(Unwritable)?,
                        asgs,
                        public_ip: c.ref_id("publicIPAddress")?.map(|x| Ref::id(&id_text(x))),
                    });
                }
                self.push(Item::Nic(Nic {
                    name: name_of(node, &id)?,
                    nsg: reference(&p, "networkSecurityGroup")?,
                    private_endpoint: p.ref_id("privateEndpoint")?.is_some(),
                    ip_configs,
                    id,
                }));
            }
            "publicipaddresses" => {
                let id = id_of(node, None, "")?;
                self.push(Item::PublicIp(PublicIp {
                    name: name_of(node, &id)?,
                    sku: node.opt_str("sku.name")?.map(str::to_string),
                    id,
                }));
            }
            "networksecuritygroups" => {
                let id = id_of(node, None, "")?;
                self.push(Item::Nsg(Nsg {
                    name: name_of(node, &id)?,
                    rules: Vec::new(),
                    defaults: Vec::new(),
                    id: id.clone(),
                }));
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
                )?;
            }
            "networksecuritygroups/securityrules"
            | "networksecuritygroups/defaultsecurityrules" => {
                let default = t.ends_with("defaultsecurityrules");
                let segment = if default {
                    "defaultSecurityRules"
                } else {
                    "securityRules"
                };
                let id = id_of(node, parent, segment)?;
                let rule = nsg_rule(node, &id, default)?;
                let c = self.child(&id, parent, node, hint_type, (rule, default))?;
                self.nsg_rules.push(c);
            }
            "applicationsecuritygroups" => {
                let id = id_of(node, None, "")?;
                self.push(Item::Asg(Named {
                    name: name_of(node, &id)?,
                    id,
                }));
            }
            "virtualnetworkgateways" => {
                let id = id_of(node, None, "")?;
                let mut subnets = Vec::new();
                for cfg in props(node).array("ipConfigurations")? {
                    if let Some(subnet) = props(&cfg).ref_id("subnet")? {
                        subnets.push(Ref::id(&id_text(subnet)));
                    }
                }
                self.push(Item::VnetGateway(VnetGateway {
                    name: name_of(node, &id)?,
                    subnets,
                    id,
                }));
            }
            "localnetworkgateways" => {
                let id = id_of(node, None, "")?;
                self.push(Item::LocalGateway(LocalGateway {
                    name: name_of(node, &id)?,
                    prefixes: nets(&props(node), "localNetworkAddressSpace.addressPrefixes")?,
                    id,
                }));
            }
            "connections" => {
                let id = id_of(node, None, "")?;
                let p = props(node);
                let gateway = p.ref_id("virtualNetworkGateway1")?.ok_or(Unwritable)?;
                let local = p.ref_id("localNetworkGateway2")?.ok_or(Unwritable)?;
                self.push(Item::Connection(Connection {
                    name: name_of(node, &id)?,
                    gateway: Ref::id(&id_text(gateway)),
                    local_gateway: Ref::id(&id_text(local)),
                    id,
                }));
            }
            "networkmanagers" => {
                let id = id_of(node, None, "")?;
                let p = props(node);
                let mut scopes = Vec::new();
                for key in [
                    "networkManagerScopes.subscriptions",
                    "networkManagerScopes.managementGroups",
                ] {
                    for n in p.array(key)? {
                        scopes.push(scope_of_id(n.as_str()?).ok_or(Unwritable)?);
                    }
                }
                let accesses = p
                    .str_list("networkManagerScopeAccesses")?
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                self.push(Item::Manager(Manager {
                    name: name_of(node, &id)?,
                    scopes,
                    accesses,
                    groups: Vec::new(),
                    scope_connections: Vec::new(),
                    configs: Vec::new(),
                    connectivity: Vec::new(),
                    id: id.clone(),
                }));
                for (key, ty) in [
                    ("networkGroups", "networkManagers/networkGroups"),
                    ("scopeConnections", "networkManagers/scopeConnections"),
                    (
                        "securityAdminConfigurations",
                        "networkManagers/securityAdminConfigurations",
                    ),
                    (
                        "connectivityConfigurations",
                        "networkManagers/connectivityConfigurations",
                    ),
                ] {
                    self.nested(node, key, ty, &id)?;
                }
            }
            "networkmanagers/networkgroups" => {
                let id = id_of(node, parent, "networkGroups")?;
                let subnet_members = props(node)
                    .opt_str("memberType")?
                    .is_some_and(|t| t.eq_ignore_ascii_case("subnet"));
                let item = Group {
                    name: name_of(node, &id)?,
                    subnet_members,
                    static_members: Vec::new(),
                    dynamic: None,
                    id: id.clone(),
                };
                let c = self.child(&id, parent, node, hint_type, item)?;
                self.groups.push(c);
                self.nested(
                    node,
                    "staticMembers",
                    "networkManagers/networkGroups/staticMembers",
                    &id,
                )?;
            }
            "networkmanagers/networkgroups/staticmembers" => {
                let id = id_of(node, parent, "staticMembers")?;
                let item = Ref::id(&id_text(props(node).req_str("resourceId")?));
                let c = self.child(&id, parent, node, hint_type, item)?;
                self.static_members.push(c);
            }
            "networkmanagers/scopeconnections" => {
                let id = id_of(node, parent, "scopeConnections")?;
                let p = props(node);
                let item = ScopeConnection {
                    name: name_of(node, &id)?,
                    target: scope_of_id(p.req_str("resourceId")?).ok_or(Unwritable)?,
                    tenant: p.opt_str("tenantId")?.map(str::to_string),
                    state: p.opt_str("connectionState")?.map(str::to_string),
                    id: id.clone(),
                };
                let c = self.child(&id, parent, node, hint_type, item)?;
                self.scope_connections.push(c);
            }
            "networkmanagers/securityadminconfigurations" => {
                let id = id_of(node, parent, "securityAdminConfigurations")?;
                let settings = props(node).str_list("applyOnNetworkIntentPolicyBasedServices")?;
                let intent = if settings.iter().any(|s| s.eq_ignore_ascii_case("all")) {
                    IntentPolicySetting::All
                } else if settings
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case("allowrulesonly"))
                {
                    IntentPolicySetting::AllowRulesOnly
                } else {
                    IntentPolicySetting::None
                };
                let item = SecurityConfig {
                    name: name_of(node, &id)?,
                    intent,
                    collections: Vec::new(),
                    id: id.clone(),
                };
                let c = self.child(&id, parent, node, hint_type, item)?;
                self.configs.push(c);
                self.nested(
                    node,
                    "ruleCollections",
                    "networkManagers/securityAdminConfigurations/ruleCollections",
                    &id,
                )?;
            }
            "networkmanagers/securityadminconfigurations/rulecollections" => {
                let id = id_of(node, parent, "ruleCollections")?;
                let applies_to = props(node)
                    .array("appliesToGroups")?
                    .iter()
                    .map(|g| Ok(Ref::id(&id_text(g.req_str("networkGroupId")?))))
                    .collect::<R<_>>()?;
                let item = Collection {
                    name: name_of(node, &id)?,
                    applies_to,
                    rules: Vec::new(),
                    id: id.clone(),
                };
                let c = self.child(&id, parent, node, hint_type, item)?;
                self.collections.push(c);
                self.nested(
                    node,
                    "rules",
                    "networkManagers/securityAdminConfigurations/ruleCollections/rules",
                    &id,
                )?;
            }
            "networkmanagers/securityadminconfigurations/rulecollections/rules" => {
                let id = id_of(node, parent, "rules")?;
                if node
                    .opt_str("kind")?
                    .is_some_and(|k| k.eq_ignore_ascii_case("default"))
                {
                    return Err(Unwritable);
                }
                let rule = admin_rule(node, &id)?;
                let c = self.child(&id, parent, node, hint_type, rule)?;
                self.admin_rules.push(c);
            }
            "networkmanagers/connectivityconfigurations" => {
                let id = id_of(node, parent, "connectivityConfigurations")?;
                let p = props(node);
                let hubs = p
                    .array("hubs")?
                    .iter()
                    .map(|h| Ok(Ref::id(&id_text(h.req_str("resourceId")?))))
                    .collect::<R<_>>()?;
                let groups = p
                    .array("appliesToGroups")?
                    .iter()
                    .map(|g| {
                        Ok(ConnectivityGroup {
                            group: Ref::id(&id_text(g.req_str("networkGroupId")?)),
                            direct: g
                                .opt_str("groupConnectivity")?
                                .is_some_and(|c| c.eq_ignore_ascii_case("DirectlyConnected")),
                            global: g.flag("isGlobal")?,
                        })
                    })
                    .collect::<R<_>>()?;
                let item = Connectivity {
                    name: name_of(node, &id)?,
                    hub_and_spoke: p
                        .opt_str("connectivityTopology")?
                        .is_some_and(|t| t.eq_ignore_ascii_case("HubAndSpoke")),
                    hubs,
                    global: p.flag("isGlobal")?,
                    groups,
                    id: id.clone(),
                };
                let c = self.child(&id, parent, node, hint_type, item)?;
                self.connectivity.push(c);
            }
            "networkmanagerconnections" => {
                let id = id_of(node, None, "")?;
                let p = props(node);
                crate::model::ScopeRef::parse(&id).ok_or(Unwritable)?;
                self.push(Item::ManagerConnection(ManagerConnection {
                    name: name_of(node, &id)?,
                    manager: Ref::id(&id_text(p.req_str("networkManagerId")?)),
                    state: p.opt_str("connectionState")?.map(str::to_string),
                    id,
                }));
            }
            "microsoft.authorization/policydefinitions" => self.policy_definition(node)?,
            "microsoft.authorization/policyassignments" => self.policy_assignment(node)?,
            _ => return Err(Unwritable),
        }
        Ok(())
    }

    fn policy_definition(&mut self, node: &Node) -> R<()> {
        let id = id_of(node, None, "")?;
        let p = props(node);
        let mode = p.opt_str("mode")?.unwrap_or("");
        let effect = p.opt_str("policyRule.then.effect")?.unwrap_or("");
        if !mode.eq_ignore_ascii_case("Microsoft.Network.Data")
            || !effect.eq_ignore_ascii_case("addToNetworkGroup")
        {
            return Err(Unwritable);
        }
        let cond_node = p.at("policyRule.if").ok_or(Unwritable)?;
        let condition = crate::resolve::condition::parse_condition(cond_node.value, "")
            .map_err(|_| Unwritable)?;
        if !cond::writable(cond_node.value) {
            return Err(Unwritable);
        }
        let mut defaults = Vec::new();
        if let Some(params) = p
            .get("parameters")
            .and_then(|n| n.value.as_object().cloned())
        {
            for (k, v) in params {
                match v.get("defaultValue") {
                    Some(d) if cond::writable_value(d) => defaults.push((k, d.clone())),
                    // The DSL declares a parameter without a default where the rule names it.
                    None if condition
                        .parameters()
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&k)) => {}
                    _ => return Err(Unwritable),
                }
            }
        }
        self.push(Item::PolicyDefinition(PolicyDefinition {
            name: name_of(node, &id)?,
            group: Ref::id(&id_text(
                p.req_str("policyRule.then.details.networkGroupId")?,
            )),
            condition: cond_node.value.clone(),
            defaults,
            id,
        }));
        Ok(())
    }

    fn policy_assignment(&mut self, node: &Node) -> R<()> {
        let id = id_of(node, None, "")?;
        let p = props(node);
        if p.opt_str("enforcementMode")?
            .is_some_and(|m| !m.eq_ignore_ascii_case("Default"))
        {
            return Err(Unwritable);
        }
        let mut parameters = Vec::new();
        if let Some(params) = p
            .get("parameters")
            .and_then(|n| n.value.as_object().cloned())
        {
            for (k, v) in params {
                let value = v.get("value").cloned().unwrap_or(Value::Null);
                if !cond::writable_value(&value) {
                    return Err(Unwritable);
                }
                parameters.push((k, value));
            }
        }
        let scope = match p.opt_str("scope")? {
            Some(s) => id_text(s),
            None => id_text(super::parse::assignment_scope_of(&id)),
        };
        self.push(Item::PolicyAssignment(PolicyAssignment {
            name: name_of(node, &id)?,
            definition: Ref::id(&id_text(p.req_str("policyDefinitionId")?)),
            scope,
            not_scopes: p.str_list("notScopes")?.into_iter().map(id_text).collect(),
            parameters,
            id,
        }));
        Ok(())
    }

    fn deployment(&mut self, node: &Node) -> R<()> {
        let item = Deployment {
            region: normalise_region(node.req_str("region")?),
            kind: node.opt_str("deploymentType")?.map(str::to_string),
            status: node.req_str("deploymentStatus")?.to_string(),
            configs: node
                .str_list("configurationIds")?
                .into_iter()
                .map(|c| Ref::id(&id_text(c)))
                .collect(),
            commit_time: node.opt_str("commitTime")?.map(str::to_string),
        };
        self.push(Item::Deployment(item));
        Ok(())
    }

    /// Joins children to parents, in input order; orphans stay as JSON where they were.
    fn assemble(mut self) -> Vec<Item> {
        let mut out: Vec<(usize, Item)> = std::mem::take(&mut self.top);
        let mut orphans: Vec<(usize, Value)> = Vec::new();
        let index = |out: &[(usize, Item)],
                     pick: fn(&Item) -> Option<&str>|
         -> HashMap<ResourceId, usize> {
            let mut map = HashMap::new();
            for (i, (_, item)) in out.iter().enumerate() {
                if let Some(id) = pick(item) {
                    map.entry(ResourceId::new(id)).or_insert(i);
                }
            }
            map
        };
        let vnets = index(&out, |i| match i {
            Item::Vnet(v) => Some(&v.id),
            _ => None,
        });
        let nsgs = index(&out, |i| match i {
            Item::Nsg(n) => Some(&n.id),
            _ => None,
        });
        let managers = index(&out, |i| match i {
            Item::Manager(m) => Some(&m.id),
            _ => None,
        });
        fn attach<T>(
            children: Vec<Child<T>>,
            parents: &HashMap<ResourceId, usize>,
            orphans: &mut Vec<(usize, Value)>,
            mut put: impl FnMut(usize, T),
        ) {
            for c in children {
                match parents.get(&c.parent) {
                    Some(&i) => put(i, c.item),
                    None => orphans.push((c.seq, c.json)),
                }
            }
        }
        fn vnet_mut(out: &mut [(usize, Item)], i: usize) -> Option<&mut Vnet> {
            match out.get_mut(i) {
                Some((_, Item::Vnet(v))) => Some(v),
                _ => None,
            }
        }
        attach(
            std::mem::take(&mut self.subnets),
            &vnets,
            &mut orphans,
            |i, s| {
                if let Some(v) = vnet_mut(&mut out, i) {
                    v.subnets.push(s);
                }
            },
        );
        attach(
            std::mem::take(&mut self.peerings),
            &vnets,
            &mut orphans,
            |i, p| {
                if let Some(v) = vnet_mut(&mut out, i) {
                    v.peerings.push(p);
                }
            },
        );
        attach(
            std::mem::take(&mut self.nsg_rules),
            &nsgs,
            &mut orphans,
            |i, (r, default)| {
                if let Some((_, Item::Nsg(n))) = out.get_mut(i) {
                    if default {
                        n.defaults.push(r);
                    } else {
                        n.rules.push(r);
                    }
                }
            },
        );
        // Manager children: (manager index, child index) by id.
        let mut group_at: HashMap<ResourceId, (usize, usize)> = HashMap::new();
        for c in std::mem::take(&mut self.groups) {
            match managers.get(&c.parent) {
                Some(&i) => {
                    if let Some((_, Item::Manager(m))) = out.get_mut(i) {
                        group_at
                            .entry(ResourceId::new(&c.item.id))
                            .or_insert((i, m.groups.len()));
                        m.groups.push(c.item);
                    }
                }
                None => orphans.push((c.seq, c.json)),
            }
        }
        for c in std::mem::take(&mut self.static_members) {
            match group_at.get(&c.parent) {
                Some(&(i, g)) => {
                    if let Some((_, Item::Manager(m))) = out.get_mut(i) {
                        if let Some(group) = m.groups.get_mut(g) {
                            group.static_members.push(c.item);
                        }
                    }
                }
                None => orphans.push((c.seq, c.json)),
            }
        }
        attach(
            std::mem::take(&mut self.scope_connections),
            &managers,
            &mut orphans,
            |i, s| {
                if let Some((_, Item::Manager(m))) = out.get_mut(i) {
                    m.scope_connections.push(s);
                }
            },
        );
        let mut config_at: HashMap<ResourceId, (usize, usize)> = HashMap::new();
        for c in std::mem::take(&mut self.configs) {
            match managers.get(&c.parent) {
                Some(&i) => {
                    if let Some((_, Item::Manager(m))) = out.get_mut(i) {
                        config_at
                            .entry(ResourceId::new(&c.item.id))
                            .or_insert((i, m.configs.len()));
                        m.configs.push(c.item);
                    }
                }
                None => orphans.push((c.seq, c.json)),
            }
        }
        let mut collection_at: HashMap<ResourceId, (usize, usize, usize)> = HashMap::new();
        for c in std::mem::take(&mut self.collections) {
            match config_at.get(&c.parent) {
                Some(&(i, k)) => {
                    if let Some((_, Item::Manager(m))) = out.get_mut(i) {
                        if let Some(cfg) = m.configs.get_mut(k) {
                            collection_at.entry(ResourceId::new(&c.item.id)).or_insert((
                                i,
                                k,
                                cfg.collections.len(),
                            ));
                            cfg.collections.push(c.item);
                        }
                    }
                }
                None => orphans.push((c.seq, c.json)),
            }
        }
        for c in std::mem::take(&mut self.admin_rules) {
            match collection_at.get(&c.parent) {
                Some(&(i, k, j)) => {
                    if let Some((_, Item::Manager(m))) = out.get_mut(i) {
                        if let Some(col) = m
                            .configs
                            .get_mut(k)
                            .and_then(|cfg| cfg.collections.get_mut(j))
                        {
                            col.rules.push(c.item);
                        }
                    }
                }
                None => orphans.push((c.seq, c.json)),
            }
        }
        attach(
            std::mem::take(&mut self.connectivity),
            &managers,
            &mut orphans,
            |i, c| {
                if let Some((_, Item::Manager(m))) = out.get_mut(i) {
                    m.connectivity.push(c);
                }
            },
        );
        out.extend(
            orphans
                .into_iter()
                .map(|(seq, json)| (seq, Item::Arm(json))),
        );
        out.sort_by_key(|(seq, _)| *seq);
        out.into_iter().map(|(_, item)| item).collect()
    }
}

/// A nested child as a top-level resource: its type and id made explicit.
fn standalone(node: &Node, hint: Option<&str>, parent: Option<&ResourceId>) -> Value {
    let mut value = node.value.clone();
    if let Value::Object(m) = &mut value {
        let has = |m: &serde_json::Map<String, Value>, k: &str| {
            m.iter()
                .any(|(key, v)| key.eq_ignore_ascii_case(k) && !v.is_null())
        };
        if let (false, Some(ty)) = (has(m, "type"), hint) {
            let full = if ty.contains('.') {
                ty.to_string()
            } else {
                format!("Microsoft.Network/{ty}")
            };
            m.insert("type".to_string(), Value::String(full));
        }
        if let (false, Some(p), Some(name), Some(ty)) = (
            has(m, "id"),
            parent,
            m.get("name").and_then(Value::as_str).map(str::to_string),
            hint,
        ) {
            let segment = ty.rsplit('/').next().unwrap_or(ty);
            m.insert(
                "id".to_string(),
                Value::String(format!("{p}/{segment}/{name}")),
            );
        }
    }
    value
}

fn port_pieces(n: &Node) -> R<Vec<String>> {
    let text = match n.value.as_str() {
        Some(s) => s.to_string(),
        None => n.value.as_u64().ok_or(Unwritable)?.to_string(),
    };
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            PortRange::parse(s).map_err(|_| Unwritable)?;
            Ok(s.trim().to_string())
        })
        .collect()
}

fn port_list(p: &Node, key: &str) -> R<Vec<String>> {
    let mut out = Vec::new();
    for n in p.array(key)? {
        out.extend(port_pieces(&n)?);
    }
    Ok(out)
}

fn priority(p: &Node, range: std::ops::RangeInclusive<u32>) -> R<u32> {
    let n = p.get("priority").ok_or(Unwritable)?;
    let value = n
        .value
        .as_u64()
        .or_else(|| n.value.as_str().and_then(|s| s.parse().ok()));
    match value.and_then(|v| u32::try_from(v).ok()) {
        Some(v) if range.contains(&v) => Ok(v),
        _ => Err(Unwritable),
    }
}

fn address_text(text: &str) -> R<Address> {
    match AddressItem::parse_prefix_or_tag(text).map_err(|_| Unwritable)? {
        AddressItem::Tag(_) => Ok(Address::Tag(text.to_string())),
        _ => Ok(Address::Prefix(text.to_string())),
    }
}

fn nsg_rule(node: &Node, id: &str, default: bool) -> R<Rule> {
    let p = props(node);
    // A property the loader does not read (misspelt?) draws its warning from the ARM form
    // only: the rule stays ARM, so the warning survives the conversion.
    if p.keys().any(|k| {
        !crate::load::NSG_RULE_KEYS
            .iter()
            .any(|r| r.eq_ignore_ascii_case(k))
    }) {
        return Err(Unwritable);
    }
    let access = match Access::parse(p.req_str("access")?) {
        Some(a @ (Access::Allow | Access::Deny)) => a,
        _ => return Err(Unwritable),
    };
    let mut sides = Vec::new();
    for side in ["source", "destination"] {
        let plural: Vec<Address> = p
            .array(&format!("{side}AddressPrefixes"))?
            .iter()
            .map(|n| address_text(n.as_str()?))
            .collect::<R<_>>()?;
        let single = match p.get(&format!("{side}AddressPrefix")) {
            Some(n) if n.as_str().is_ok_and(str::is_empty) => None,
            Some(n) => Some(address_text(n.as_str()?)?),
            None => None,
        };
        let mut addresses = match (plural.is_empty(), single) {
            (false, Some(_)) => return Err(Unwritable),
            (_, Some(one)) => vec![one],
            (_, None) => plural,
        };
        for asg in p.array(&format!("{side}ApplicationSecurityGroups"))? {
            addresses.push(Address::Asg(Ref::id(&id_text(asg.req_str("id")?))));
        }
        let plural_ports = port_list(&p, &format!("{side}PortRanges"))?;
        let single_ports = match p.get(&format!("{side}PortRange")) {
            Some(n) if n.as_str().is_ok_and(str::is_empty) => Vec::new(),
            Some(n) => port_pieces(&n)?,
            None => Vec::new(),
        };
        let ports = match (plural_ports.is_empty(), single_ports.is_empty()) {
            (false, false) => return Err(Unwritable),
            (true, _) => single_ports,
            (false, true) => plural_ports,
        };
        sides.push((addresses, ports));
    }
    let [(sources, source_ports), (destinations, destination_ports)]: [(Vec<Address>, Vec<String>);
        2] = sides.try_into().map_err(|_| Unwritable)?;
    Ok(Rule {
        name: name_of(node, id)?,
        direction: Direction::parse(p.req_str("direction")?).ok_or(Unwritable)?,
        priority: priority(&p, if default { 1..=u32::MAX } else { 100..=4096 })?,
        access,
        protocol: Protocol::parse(p.req_str("protocol")?).ok_or(Unwritable)?,
        sources,
        source_ports,
        destinations,
        destination_ports,
        id: id.to_string(),
    })
}

fn admin_addresses(p: &Node, key: &str) -> R<Vec<Address>> {
    let mut out = Vec::new();
    for item in p.array(key)? {
        let prefix = item.get("addressPrefix").ok_or(Unwritable)?.as_str()?;
        let kind = item.opt_str("addressPrefixType")?.unwrap_or("IPPrefix");
        match kind.to_ascii_lowercase().as_str() {
            "ipprefix" => {
                for part in prefix.split(',').filter(|s| !s.trim().is_empty()) {
                    AddressItem::parse_prefix(part).map_err(|_| Unwritable)?;
                    out.push(Address::Prefix(part.trim().to_string()));
                }
            }
            "servicetag" => out.push(Address::Tag(prefix.trim().to_string())),
            "networkgroup" => out.push(Address::Group(Ref::id(&id_text(prefix)))),
            _ => return Err(Unwritable),
        }
    }
    Ok(out)
}

fn admin_rule(node: &Node, id: &str) -> R<Rule> {
    let p = props(node);
    Ok(Rule {
        name: name_of(node, id)?,
        direction: Direction::parse(p.req_str("direction")?).ok_or(Unwritable)?,
        priority: priority(&p, 1..=4096)?,
        access: Access::parse(p.req_str("access")?).ok_or(Unwritable)?,
        protocol: Protocol::parse(p.req_str("protocol")?).ok_or(Unwritable)?,
        sources: admin_addresses(&p, "sources")?,
        source_ports: port_list(&p, "sourcePortRanges")?,
        destinations: admin_addresses(&p, "destinations")?,
        destination_ports: port_list(&p, "destinationPortRanges")?,
        id: id.to_string(),
    })
}

/// True when a condition uses no `[parameters('p')]`, as a group's `dynamic` one must.
fn names_no_parameters(condition: &Value) -> bool {
    crate::resolve::condition::parse_condition(condition, "")
        .is_ok_and(|c| c.parameters().is_empty())
}

/// Folds a policy definition and its assignments back into `dynamic` on the group they
/// were written for, when they are exactly what `dynamic` expands to.
fn fold_dynamic(items: &mut Vec<Item>) {
    let mut remove: HashSet<usize> = HashSet::new();
    let mut folds: Vec<(usize, usize, Value)> = Vec::new();
    for (mi, item) in items.iter().enumerate() {
        let Item::Manager(m) = item else {
            continue;
        };
        let Some(first) = m.scopes.first() else {
            continue;
        };
        for (gi, g) in m.groups.iter().enumerate() {
            let name = dynamic_policy_name(&m.name, &g.name);
            let def_id = policy_definition_id(&first.id(), &name);
            let Some((di, condition)) = items.iter().enumerate().find_map(|(i, it)| match it {
                Item::PolicyDefinition(d)
                    if d.id == def_id
                        && d.name == name
                        && d.group.text == g.id
                        && d.defaults.is_empty()
                        && names_no_parameters(&d.condition) =>
                {
                    Some((i, d.condition.clone()))
                }
                _ => None,
            }) else {
                continue;
            };
            let assignments: Vec<(usize, &PolicyAssignment)> = items
                .iter()
                .enumerate()
                .filter_map(|(i, it)| match it {
                    Item::PolicyAssignment(a)
                        if ResourceId::new(&a.definition.text) == ResourceId::new(&def_id) =>
                    {
                        Some((i, a))
                    }
                    _ => None,
                })
                .collect();
            let expected: Vec<(String, String)> = m
                .scopes
                .iter()
                .map(|s| (policy_assignment_id(&s.id(), &name), s.id()))
                .collect();
            let matches = assignments.len() == expected.len()
                && assignments
                    .iter()
                    .zip(&expected)
                    .all(|((_, a), (id, scope))| {
                        a.id == *id
                            && a.name == name
                            && a.scope == *scope
                            && a.definition.text == def_id
                            && a.not_scopes.is_empty()
                            && a.parameters.is_empty()
                    });
            let duplicate = items.iter().enumerate().any(|(i, it)| {
                i != di
                    && matches!(it, Item::PolicyDefinition(d) if ResourceId::new(&d.id) == ResourceId::new(&def_id))
            });
            if matches && !duplicate && g.dynamic.is_none() {
                remove.insert(di);
                remove.extend(assignments.iter().map(|(i, _)| *i));
                folds.push((mi, gi, condition));
            }
        }
    }
    for (mi, gi, condition) in folds {
        if let Some(Item::Manager(m)) = items.get_mut(mi) {
            if let Some(g) = m.groups.get_mut(gi) {
                g.dynamic = Some(condition);
            }
        }
    }
    let mut i = 0;
    items.retain(|_| {
        let keep = !remove.contains(&i);
        i += 1;
        keep
    });
}
