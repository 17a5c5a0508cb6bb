//! What a DSL file describes: ARM resources with exactly the fields secpath reads.
//!
//! Both directions meet here. The parser builds [`Item`]s from text; the reader builds them
//! from ARM JSON; [`Item::to_arm`] writes the ARM resources the loader reads, and the
//! printer writes canonical text. Texts are kept as written (prefixes, ports, ids), so what
//! the loader makes of them is the same on both sides.

use crate::model::{Access, Direction, IntentPolicySetting, Protocol};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Tags, keys as written.
pub type Tags = BTreeMap<String, String>;

/// The ARM type of each resource kind secpath reads (as the DSL writes them).
pub mod types {
    /// Management groups.
    pub const MANAGEMENT_GROUP: &str = "Microsoft.Management/managementGroups";
    /// Subscriptions.
    pub const SUBSCRIPTION: &str = "Microsoft.Resources/subscriptions";
    /// Resource groups.
    pub const RESOURCE_GROUP: &str = "Microsoft.Resources/resourceGroups";
    /// Virtual networks.
    pub const VNET: &str = "Microsoft.Network/virtualNetworks";
    /// Network interfaces.
    pub const NIC: &str = "Microsoft.Network/networkInterfaces";
    /// Public IP addresses.
    pub const PUBLIC_IP: &str = "Microsoft.Network/publicIPAddresses";
    /// Network security groups.
    pub const NSG: &str = "Microsoft.Network/networkSecurityGroups";
    /// Application security groups.
    pub const ASG: &str = "Microsoft.Network/applicationSecurityGroups";
    /// Virtual network gateways.
    pub const VNET_GATEWAY: &str = "Microsoft.Network/virtualNetworkGateways";
    /// Local network gateways.
    pub const LOCAL_GATEWAY: &str = "Microsoft.Network/localNetworkGateways";
    /// Gateway connections.
    pub const CONNECTION: &str = "Microsoft.Network/connections";
    /// Network managers.
    pub const MANAGER: &str = "Microsoft.Network/networkManagers";
    /// Network manager connections.
    pub const MANAGER_CONNECTION: &str = "Microsoft.Network/networkManagerConnections";
    /// Policy definitions.
    pub const POLICY_DEFINITION: &str = "Microsoft.Authorization/policyDefinitions";
    /// Policy assignments.
    pub const POLICY_ASSIGNMENT: &str = "Microsoft.Authorization/policyAssignments";
}

/// Where a parsed reference sits in the text, what it may name, and the containers it is
/// resolved from (innermost first: enclosing resources, then the context prefixes, then `""`).
#[derive(Clone, Debug)]
pub struct Site {
    /// What kinds of resource it may name.
    pub kinds: &'static [DeclKind],
    /// Position for messages.
    pub at: At,
    /// Resolution containers.
    pub containers: Vec<String>,
}

/// A position in a source: source index, 0-based line, byte range in the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// Index of the source file.
    pub source: usize,
    /// 0-based line.
    pub line: usize,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the text.
    pub end: usize,
}

/// A reference to another resource: the text as written in the DSL (a name path or an id,
/// with the [`Site`] to resolve it from), or an ARM id as read from JSON (no site).
#[derive(Clone, Debug)]
pub struct Ref {
    /// Written text, or the id.
    pub text: String,
    /// Present for references parsed from DSL text.
    pub site: Option<Box<Site>>,
}

impl Ref {
    /// A reference read from JSON: the id itself.
    pub fn id(text: &str) -> Ref {
        Ref {
            text: text.to_string(),
            site: None,
        }
    }
}

/// Kinds of named resource that references can name (and that must have unique ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclKind {
    /// `vnet`
    Vnet,
    /// `subnet` (path `vnet/subnet`)
    Subnet,
    /// `nsg`
    Nsg,
    /// `asg`
    Asg,
    /// `public-ip`
    PublicIp,
    /// `nic`
    Nic,
    /// `vnet-gateway`
    VnetGateway,
    /// `local-gateway`
    LocalGateway,
    /// `network-manager`
    Manager,
    /// `group` (path `manager/group`)
    Group,
    /// `security-admin-config` (path `manager/config`)
    SecurityConfig,
    /// `connectivity` (path `manager/config`)
    ConnectivityConfig,
    /// `policy-definition`
    PolicyDefinition,
}

impl DeclKind {
    /// The word the DSL uses for it, for messages.
    pub fn word(self) -> &'static str {
        match self {
            DeclKind::Vnet => "vnet",
            DeclKind::Subnet => "subnet",
            DeclKind::Nsg => "nsg",
            DeclKind::Asg => "asg",
            DeclKind::PublicIp => "public-ip",
            DeclKind::Nic => "nic",
            DeclKind::VnetGateway => "vnet-gateway",
            DeclKind::LocalGateway => "local-gateway",
            DeclKind::Manager => "network-manager",
            DeclKind::Group => "group",
            DeclKind::SecurityConfig => "security-admin-config",
            DeclKind::ConnectivityConfig => "connectivity",
            DeclKind::PolicyDefinition => "policy-definition",
        }
    }
}

/// Reference kinds, as slices a [`Site`] can point to.
pub mod refs {
    use super::DeclKind;
    /// A VNet.
    pub const VNET: &[DeclKind] = &[DeclKind::Vnet];
    /// A subnet.
    pub const SUBNET: &[DeclKind] = &[DeclKind::Subnet];
    /// An NSG.
    pub const NSG: &[DeclKind] = &[DeclKind::Nsg];
    /// An ASG.
    pub const ASG: &[DeclKind] = &[DeclKind::Asg];
    /// A public IP.
    pub const PUBLIC_IP: &[DeclKind] = &[DeclKind::PublicIp];
    /// A virtual network gateway.
    pub const VNET_GATEWAY: &[DeclKind] = &[DeclKind::VnetGateway];
    /// A local network gateway.
    pub const LOCAL_GATEWAY: &[DeclKind] = &[DeclKind::LocalGateway];
    /// A network manager.
    pub const MANAGER: &[DeclKind] = &[DeclKind::Manager];
    /// A network group.
    pub const GROUP: &[DeclKind] = &[DeclKind::Group];
    /// A security admin or connectivity configuration.
    pub const CONFIG: &[DeclKind] = &[DeclKind::SecurityConfig, DeclKind::ConnectivityConfig];
    /// A policy definition.
    pub const POLICY_DEFINITION: &[DeclKind] = &[DeclKind::PolicyDefinition];
}

/// A management group.
#[derive(Clone, Debug)]
pub struct ManagementGroup {
    /// Name (the last id segment).
    pub name: String,
    /// Parent group name; `None` for the tenant root.
    pub parent: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
}

/// A subscription.
#[derive(Clone, Debug)]
pub struct Subscription {
    /// The GUID.
    pub subscription_id: String,
    /// Display name.
    pub name: String,
    /// Tenant.
    pub tenant: Option<String>,
    /// Management-group ancestors, nearest first.
    pub ancestors: Vec<String>,
    /// Tags.
    pub tags: Tags,
}

/// A resource group.
#[derive(Clone, Debug)]
pub struct ResourceGroup {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Tags.
    pub tags: Tags,
}

/// A virtual network with its subnets and peerings.
#[derive(Clone, Debug)]
pub struct Vnet {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Region, normalised (`westeurope`); empty when unknown.
    pub location: String,
    /// Tags.
    pub tags: Tags,
    /// Address prefixes as written.
    pub address_space: Vec<String>,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Peerings.
    pub peerings: Vec<Peering>,
}

/// A subnet.
#[derive(Clone, Debug)]
pub struct Subnet {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Prefixes as written.
    pub prefixes: Vec<String>,
    /// Its NSG.
    pub nsg: Option<Ref>,
    /// Delegations' service names.
    pub delegations: Vec<String>,
}

/// One side of a peering.
#[derive(Clone, Debug)]
pub struct Peering {
    /// The remote VNet.
    pub remote: Ref,
    /// `peeringState` as written (`Connected` when the DSL gives none).
    pub state: String,
}

/// A network interface.
#[derive(Clone, Debug)]
pub struct Nic {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Its NSG.
    pub nsg: Option<Ref>,
    /// A private endpoint's NIC.
    pub private_endpoint: bool,
    /// IP configurations.
    pub ip_configs: Vec<IpConfig>,
}

/// A NIC IP configuration.
#[derive(Clone, Debug)]
pub struct IpConfig {
    /// Private address as written.
    pub address: String,
    /// Its subnet.
    pub subnet: Ref,
    /// Application security groups.
    pub asgs: Vec<Ref>,
    /// Public IP.
    pub public_ip: Option<Ref>,
}

/// A public IP address.
#[derive(Clone, Debug)]
pub struct PublicIp {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `sku.name`.
    pub sku: Option<String>,
}

/// A network security group.
#[derive(Clone, Debug)]
pub struct Nsg {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Custom rules.
    pub rules: Vec<Rule>,
    /// Default rules as given (empty: the loader adds the six of SEMANTICS §3.2).
    pub defaults: Vec<Rule>,
}

/// An NSG or admin rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Direction.
    pub direction: Direction,
    /// Priority.
    pub priority: u32,
    /// Access.
    pub access: Access,
    /// Protocol.
    pub protocol: Protocol,
    /// Sources.
    pub sources: Vec<Address>,
    /// Source ports as written, one range each.
    pub source_ports: Vec<String>,
    /// Destinations.
    pub destinations: Vec<Address>,
    /// Destination ports as written.
    pub destination_ports: Vec<String>,
}

/// One source or destination entry of a rule.
#[derive(Clone, Debug)]
pub enum Address {
    /// `*`, a CIDR, an address or a range (admin `IPPrefix`); for NSGs also a service tag.
    Prefix(String),
    /// A service tag (admin `ServiceTag`; NSGs write it as a prefix).
    Tag(String),
    /// An application security group (NSG rules).
    Asg(Ref),
    /// A network group (admin rules).
    Group(Ref),
}

/// An application security group, or anything else that is just an id and a name.
#[derive(Clone, Debug)]
pub struct Named {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A virtual network gateway: the subnets it sits in.
#[derive(Clone, Debug)]
pub struct VnetGateway {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Subnets of its IP configurations.
    pub subnets: Vec<Ref>,
}

/// A local network gateway: on-premises prefixes.
#[derive(Clone, Debug)]
pub struct LocalGateway {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Prefixes as written.
    pub prefixes: Vec<String>,
}

/// A connection from a virtual network gateway to a local one.
#[derive(Clone, Debug)]
pub struct Connection {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `virtualNetworkGateway1`.
    pub gateway: Ref,
    /// `localNetworkGateway2`.
    pub local_gateway: Ref,
}

/// A subscription or management group in a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// By subscription GUID.
    Subscription(String),
    /// By management group name.
    ManagementGroup(String),
}

impl Scope {
    /// The canonical ARM id.
    pub fn id(&self) -> String {
        match self {
            Scope::Subscription(s) => format!("/subscriptions/{s}"),
            Scope::ManagementGroup(m) => management_group_id(m),
        }
    }
}

/// `/providers/Microsoft.Management/managementGroups/{name}`.
pub fn management_group_id(name: &str) -> String {
    format!("/providers/{}/{name}", types::MANAGEMENT_GROUP)
}

/// A network manager and its children.
#[derive(Clone, Debug)]
pub struct Manager {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Scope.
    pub scopes: Vec<Scope>,
    /// `networkManagerScopeAccesses` as written.
    pub accesses: Vec<String>,
    /// Network groups.
    pub groups: Vec<Group>,
    /// Scope connections.
    pub scope_connections: Vec<ScopeConnection>,
    /// Security admin configurations.
    pub configs: Vec<SecurityConfig>,
    /// Connectivity configurations.
    pub connectivity: Vec<Connectivity>,
}

/// A network group.
#[derive(Clone, Debug)]
pub struct Group {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `memberType` is `Subnet`.
    pub subnet_members: bool,
    /// Static members.
    pub static_members: Vec<Ref>,
    /// Dynamic membership written on the group: the policy `if` condition, expanded into a
    /// policy definition and one assignment per scope of the manager.
    pub dynamic: Option<Value>,
}

/// A scope connection.
#[derive(Clone, Debug)]
pub struct ScopeConnection {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The subscription or management group.
    pub target: Scope,
    /// Tenant.
    pub tenant: Option<String>,
    /// `connectionState` as written.
    pub state: Option<String>,
}

/// A security admin configuration.
#[derive(Clone, Debug)]
pub struct SecurityConfig {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `applyOnNetworkIntentPolicyBasedServices`.
    pub intent: IntentPolicySetting,
    /// Rule collections.
    pub collections: Vec<Collection>,
}

/// A rule collection.
#[derive(Clone, Debug)]
pub struct Collection {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `appliesToGroups`.
    pub applies_to: Vec<Ref>,
    /// Rules.
    pub rules: Vec<Rule>,
}

/// A connectivity configuration.
#[derive(Clone, Debug)]
pub struct Connectivity {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Hub and spoke (else mesh).
    pub hub_and_spoke: bool,
    /// Hub VNets.
    pub hubs: Vec<Ref>,
    /// `isGlobal`.
    pub global: bool,
    /// `appliesToGroups`.
    pub groups: Vec<ConnectivityGroup>,
}

/// One `appliesToGroups` entry of a connectivity configuration.
#[derive(Clone, Debug)]
pub struct ConnectivityGroup {
    /// The group.
    pub group: Ref,
    /// `groupConnectivity` is `DirectlyConnected`.
    pub direct: bool,
    /// `isGlobal`.
    pub global: bool,
}

/// A network manager connection (the managed side of a cross-tenant scope).
#[derive(Clone, Debug)]
pub struct ManagerConnection {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `networkManagerId`.
    pub manager: Ref,
    /// `connectionState` as written.
    pub state: Option<String>,
}

/// An AVNM membership policy definition.
#[derive(Clone, Debug)]
pub struct PolicyDefinition {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `then.details.networkGroupId`.
    pub group: Ref,
    /// `policyRule.if`.
    pub condition: Value,
    /// Parameter default values.
    pub defaults: Vec<(String, Value)>,
}

/// A policy assignment.
#[derive(Clone, Debug)]
pub struct PolicyAssignment {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `policyDefinitionId`.
    pub definition: Ref,
    /// `scope` (the id's own scope when the input gave none).
    pub scope: String,
    /// `notScopes`.
    pub not_scopes: Vec<String>,
    /// Parameter values.
    pub parameters: Vec<(String, Value)>,
}

/// One deployment status item.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Region, normalised.
    pub region: String,
    /// `deploymentType` as written.
    pub kind: Option<String>,
    /// `deploymentStatus` as written.
    pub status: String,
    /// `configurationIds`.
    pub configs: Vec<Ref>,
    /// `commitTime`.
    pub commit_time: Option<String>,
}

/// One top-level statement's resource(s).
#[derive(Clone, Debug)]
pub enum Item {
    /// `management-group`
    ManagementGroup(ManagementGroup),
    /// `subscription`
    Subscription(Subscription),
    /// `resource-group`
    ResourceGroup(ResourceGroup),
    /// `vnet`
    Vnet(Vnet),
    /// `nic`
    Nic(Nic),
    /// `public-ip`
    PublicIp(PublicIp),
    /// `nsg`
    Nsg(Nsg),
    /// `asg`
    Asg(Named),
    /// `vnet-gateway`
    VnetGateway(VnetGateway),
    /// `local-gateway`
    LocalGateway(LocalGateway),
    /// `connection`
    Connection(Connection),
    /// `network-manager`
    Manager(Manager),
    /// `manager-connection`
    ManagerConnection(ManagerConnection),
    /// `policy-definition`
    PolicyDefinition(PolicyDefinition),
    /// `policy-assignment`
    PolicyAssignment(PolicyAssignment),
    /// `deployment`
    Deployment(Deployment),
    /// `arm {...}`: a resource kept as JSON.
    Arm(Value),
}

/// Turns a reference into the id to write.
pub type Resolve<'r> = dyn FnMut(&Ref) -> String + 'r;

/// Name of the policy definition and assignments a dynamic group expands to.
pub fn dynamic_policy_name(manager: &str, group: &str) -> String {
    format!("{manager}-{group}")
}

/// `{scope}/providers/Microsoft.Authorization/policyDefinitions/{name}`.
pub fn policy_definition_id(scope: &str, name: &str) -> String {
    format!("{scope}/providers/{}/{name}", types::POLICY_DEFINITION)
}

/// `{scope}/providers/Microsoft.Authorization/policyAssignments/{name}`.
pub fn policy_assignment_id(scope: &str, name: &str) -> String {
    format!("{scope}/providers/{}/{name}", types::POLICY_ASSIGNMENT)
}

fn ids(refs: &[Ref], r: &mut Resolve) -> Vec<String> {
    refs.iter().map(r).collect()
}

fn id_obj(id: String) -> Value {
    json!({ "id": id })
}

fn put(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.insert(key.to_string(), value);
}

fn tags_value(tags: &Tags) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn resource(id: &str, ty: &str, name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "id", Value::String(id.to_string()));
    put(&mut m, "name", Value::String(name.to_string()));
    put(&mut m, "type", Value::String(ty.to_string()));
    m
}

fn with_props(mut m: Map<String, Value>, props: Map<String, Value>) -> Value {
    put(&mut m, "properties", Value::Object(props));
    Value::Object(m)
}

fn strings(list: &[String]) -> Value {
    Value::Array(list.iter().cloned().map(Value::String).collect())
}

/// A JSON boolean spelled the way AVNM returns it.
fn avnm_bool(b: bool) -> Value {
    Value::String(if b { "True" } else { "False" }.to_string())
}

impl Item {
    /// The ARM resources this item stands for, in the shapes the loader reads.
    pub fn to_arm(&self, r: &mut Resolve) -> Vec<Value> {
        match self {
            Item::ManagementGroup(g) => {
                let mut props = Map::new();
                if let Some(t) = &g.tenant {
                    put(&mut props, "tenantId", Value::String(t.clone()));
                }
                let parent = g
                    .parent
                    .as_ref()
                    .map_or(Value::Null, |p| id_obj(management_group_id(p)));
                put(&mut props, "details", json!({ "parent": parent }));
                vec![with_props(
                    resource(
                        &management_group_id(&g.name),
                        types::MANAGEMENT_GROUP,
                        &g.name,
                    ),
                    props,
                )]
            }
            Item::Subscription(s) => {
                let mut m = resource(
                    &format!("/subscriptions/{}", s.subscription_id),
                    types::SUBSCRIPTION,
                    &s.name,
                );
                put(
                    &mut m,
                    "subscriptionId",
                    Value::String(s.subscription_id.clone()),
                );
                if let Some(t) = &s.tenant {
                    put(&mut m, "tenantId", Value::String(t.clone()));
                }
                if !s.tags.is_empty() {
                    put(&mut m, "tags", tags_value(&s.tags));
                }
                let mut props = Map::new();
                if !s.ancestors.is_empty() {
                    let chain = s.ancestors.iter().map(|a| json!({ "name": a })).collect();
                    put(
                        &mut props,
                        "managementGroupAncestorsChain",
                        Value::Array(chain),
                    );
                }
                vec![with_props(m, props)]
            }
            Item::ResourceGroup(g) => {
                let mut m = resource(&g.id, types::RESOURCE_GROUP, &g.name);
                if !g.tags.is_empty() {
                    put(&mut m, "tags", tags_value(&g.tags));
                }
                vec![Value::Object(m)]
            }
            Item::Vnet(v) => vec![vnet(v, r)],
            Item::Nic(n) => vec![nic(n, r)],
            Item::PublicIp(p) => {
                let mut m = resource(&p.id, types::PUBLIC_IP, &p.name);
                if let Some(sku) = &p.sku {
                    put(&mut m, "sku", json!({ "name": sku }));
                }
                vec![Value::Object(m)]
            }
            Item::Nsg(n) => {
                let mut props = Map::new();
                let rules = |list: &[Rule], default: bool, r: &mut Resolve| {
                    Value::Array(list.iter().map(|x| nsg_rule(x, default, r)).collect())
                };
                put(&mut props, "securityRules", rules(&n.rules, false, r));
                if !n.defaults.is_empty() {
                    put(
                        &mut props,
                        "defaultSecurityRules",
                        rules(&n.defaults, true, r),
                    );
                }
                vec![with_props(resource(&n.id, types::NSG, &n.name), props)]
            }
            Item::Asg(a) => vec![Value::Object(resource(&a.id, types::ASG, &a.name))],
            Item::VnetGateway(g) => {
                let configs = g
                    .subnets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        json!({
                            "name": format!("ipconfig{}", i + 1),
                            "properties": { "subnet": id_obj(r(s)) }
                        })
                    })
                    .collect();
                let mut props = Map::new();
                put(&mut props, "ipConfigurations", Value::Array(configs));
                vec![with_props(
                    resource(&g.id, types::VNET_GATEWAY, &g.name),
                    props,
                )]
            }
            Item::LocalGateway(g) => {
                let mut props = Map::new();
                put(
                    &mut props,
                    "localNetworkAddressSpace",
                    json!({ "addressPrefixes": strings(&g.prefixes) }),
                );
                vec![with_props(
                    resource(&g.id, types::LOCAL_GATEWAY, &g.name),
                    props,
                )]
            }
            Item::Connection(c) => {
                let mut props = Map::new();
                put(&mut props, "connectionType", json!("IPsec"));
                put(&mut props, "virtualNetworkGateway1", id_obj(r(&c.gateway)));
                put(
                    &mut props,
                    "localNetworkGateway2",
                    id_obj(r(&c.local_gateway)),
                );
                vec![with_props(
                    resource(&c.id, types::CONNECTION, &c.name),
                    props,
                )]
            }
            Item::Manager(m) => manager(m, r),
            Item::ManagerConnection(c) => {
                let mut props = Map::new();
                put(&mut props, "networkManagerId", Value::String(r(&c.manager)));
                if let Some(s) = &c.state {
                    put(&mut props, "connectionState", Value::String(s.clone()));
                }
                vec![with_props(
                    resource(&c.id, types::MANAGER_CONNECTION, &c.name),
                    props,
                )]
            }
            Item::PolicyDefinition(d) => vec![policy_definition(
                &d.id,
                &d.name,
                &r(&d.group),
                &d.condition,
                &d.defaults,
            )],
            Item::PolicyAssignment(a) => vec![policy_assignment(
                &a.id,
                &a.name,
                &r(&a.definition),
                &a.scope,
                &a.not_scopes,
                &a.parameters,
            )],
            Item::Deployment(d) => {
                let mut m = Map::new();
                put(&mut m, "region", Value::String(d.region.clone()));
                if let Some(k) = &d.kind {
                    put(&mut m, "deploymentType", Value::String(k.clone()));
                }
                put(&mut m, "deploymentStatus", Value::String(d.status.clone()));
                put(&mut m, "configurationIds", strings(&ids(&d.configs, r)));
                if let Some(t) = &d.commit_time {
                    put(&mut m, "commitTime", Value::String(t.clone()));
                }
                vec![Value::Object(m)]
            }
            Item::Arm(v) => vec![v.clone()],
        }
    }
}

fn vnet(v: &Vnet, r: &mut Resolve) -> Value {
    let mut m = resource(&v.id, types::VNET, &v.name);
    if !v.location.is_empty() {
        put(&mut m, "location", Value::String(v.location.clone()));
    }
    if !v.tags.is_empty() {
        put(&mut m, "tags", tags_value(&v.tags));
    }
    let subnets = v
        .subnets
        .iter()
        .map(|s| {
            let mut p = Map::new();
            match s.prefixes.as_slice() {
                [] => {}
                [one] => put(&mut p, "addressPrefix", Value::String(one.clone())),
                many => put(&mut p, "addressPrefixes", strings(many)),
            }
            if let Some(nsg) = &s.nsg {
                put(&mut p, "networkSecurityGroup", id_obj(r(nsg)));
            }
            if !s.delegations.is_empty() {
                let list = s
                    .delegations
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        json!({ "name": format!("delegation{}", i + 1), "properties": { "serviceName": d } })
                    })
                    .collect();
                put(&mut p, "delegations", Value::Array(list));
            }
            with_props(
                resource(&s.id, &format!("{}/subnets", types::VNET), &s.name),
                p,
            )
        })
        .collect();
    let peerings = v
        .peerings
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut props = Map::new();
            put(&mut props, "remoteVirtualNetwork", id_obj(r(&p.remote)));
            if !p.state.is_empty() {
                put(&mut props, "peeringState", Value::String(p.state.clone()));
            }
            let mut m = Map::new();
            put(&mut m, "name", Value::String(format!("peering{}", i + 1)));
            with_props(m, props)
        })
        .collect();
    let mut props = Map::new();
    put(
        &mut props,
        "addressSpace",
        json!({ "addressPrefixes": strings(&v.address_space) }),
    );
    put(&mut props, "subnets", Value::Array(subnets));
    put(&mut props, "virtualNetworkPeerings", Value::Array(peerings));
    with_props(m, props)
}

fn nic(n: &Nic, r: &mut Resolve) -> Value {
    let configs = n
        .ip_configs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut p = Map::new();
            put(&mut p, "privateIPAddress", Value::String(c.address.clone()));
            put(&mut p, "subnet", id_obj(r(&c.subnet)));
            if !c.asgs.is_empty() {
                let list = c.asgs.iter().map(|a| id_obj(r(a))).collect();
                put(&mut p, "applicationSecurityGroups", Value::Array(list));
            }
            if let Some(pip) = &c.public_ip {
                put(&mut p, "publicIPAddress", id_obj(r(pip)));
            }
            json!({ "name": format!("ipconfig{}", i + 1), "properties": Value::Object(p) })
        })
        .collect();
    let mut props = Map::new();
    put(&mut props, "ipConfigurations", Value::Array(configs));
    if let Some(nsg) = &n.nsg {
        put(&mut props, "networkSecurityGroup", id_obj(r(nsg)));
    }
    if n.private_endpoint {
        let endpoint = n.id.replacen(
            "/providers/Microsoft.Network/networkInterfaces/",
            "/providers/Microsoft.Network/privateEndpoints/",
            1,
        );
        put(&mut props, "privateEndpoint", id_obj(endpoint));
    }
    with_props(resource(&n.id, types::NIC, &n.name), props)
}

fn protocol_text(p: Protocol, admin: bool) -> String {
    match (p, admin) {
        (Protocol::Any, false) => "*".to_string(),
        (p, _) => p.to_string(),
    }
}

/// An NSG address or port list: absent when empty, the singular key for one entry.
fn nsg_list(p: &mut Map<String, Value>, singular: &str, values: Vec<String>) {
    match values.as_slice() {
        [] => {}
        [one] => put(p, singular, Value::String(one.clone())),
        _ => put(p, &format!("{singular}es"), strings(&values)),
    }
}

fn nsg_rule(rule: &Rule, default: bool, r: &mut Resolve) -> Value {
    let mut p = Map::new();
    put(
        &mut p,
        "protocol",
        Value::String(protocol_text(rule.protocol, false)),
    );
    for (side, addresses, ports) in [
        ("source", &rule.sources, &rule.source_ports),
        ("destination", &rule.destinations, &rule.destination_ports),
    ] {
        let mut prefixes = Vec::new();
        let mut asgs = Vec::new();
        for a in addresses {
            match a {
                Address::Prefix(t) | Address::Tag(t) => prefixes.push(t.clone()),
                Address::Asg(x) | Address::Group(x) => asgs.push(id_obj(r(x))),
            }
        }
        nsg_list(&mut p, &format!("{side}AddressPrefix"), prefixes);
        if !asgs.is_empty() {
            put(
                &mut p,
                &format!("{side}ApplicationSecurityGroups"),
                Value::Array(asgs),
            );
        }
        // `sourcePortRange` / `sourcePortRanges`.
        match ports.as_slice() {
            [] => {}
            [one] => put(
                &mut p,
                &format!("{side}PortRange"),
                Value::String(one.clone()),
            ),
            many => put(&mut p, &format!("{side}PortRanges"), strings(many)),
        }
    }
    put(&mut p, "access", Value::String(rule.access.to_string()));
    put(&mut p, "priority", json!(rule.priority));
    put(
        &mut p,
        "direction",
        Value::String(rule.direction.to_string()),
    );
    let ty = if default {
        "defaultSecurityRules"
    } else {
        "securityRules"
    };
    with_props(
        resource(&rule.id, &format!("{}/{ty}", types::NSG), &rule.name),
        p,
    )
}

fn admin_rule(rule: &Rule, r: &mut Resolve) -> Value {
    let mut p = Map::new();
    put(
        &mut p,
        "protocol",
        Value::String(protocol_text(rule.protocol, true)),
    );
    for (key, addresses) in [
        ("sources", &rule.sources),
        ("destinations", &rule.destinations),
    ] {
        if addresses.is_empty() {
            continue;
        }
        let list = addresses
            .iter()
            .map(|a| {
                let (prefix, kind) = match a {
                    Address::Prefix(t) => (t.clone(), "IPPrefix"),
                    Address::Tag(t) => (t.clone(), "ServiceTag"),
                    Address::Group(x) | Address::Asg(x) => (r(x), "NetworkGroup"),
                };
                json!({ "addressPrefix": prefix, "addressPrefixType": kind })
            })
            .collect();
        put(&mut p, key, Value::Array(list));
    }
    for (key, ports) in [
        ("sourcePortRanges", &rule.source_ports),
        ("destinationPortRanges", &rule.destination_ports),
    ] {
        if !ports.is_empty() {
            put(&mut p, key, strings(ports));
        }
    }
    put(&mut p, "access", Value::String(rule.access.to_string()));
    put(&mut p, "priority", json!(rule.priority));
    put(
        &mut p,
        "direction",
        Value::String(rule.direction.to_string()),
    );
    let mut m = resource(
        &rule.id,
        &format!(
            "{}/securityAdminConfigurations/ruleCollections/rules",
            types::MANAGER
        ),
        &rule.name,
    );
    put(&mut m, "kind", json!("Custom"));
    with_props(m, p)
}

fn manager(m: &Manager, r: &mut Resolve) -> Vec<Value> {
    let child = |id: &str, ty: &str, name: &str, props: Map<String, Value>| {
        with_props(
            resource(id, &format!("{}/{ty}", types::MANAGER), name),
            props,
        )
    };
    let mut out = Vec::new();
    let (subs, mgs): (Vec<&Scope>, Vec<&Scope>) = m
        .scopes
        .iter()
        .partition(|s| matches!(s, Scope::Subscription(_)));
    let scope_ids =
        |list: Vec<&Scope>| Value::Array(list.iter().map(|s| Value::String(s.id())).collect());
    let mut props = Map::new();
    put(
        &mut props,
        "networkManagerScopes",
        json!({ "subscriptions": scope_ids(subs), "managementGroups": scope_ids(mgs) }),
    );
    put(
        &mut props,
        "networkManagerScopeAccesses",
        strings(&m.accesses),
    );
    out.push(with_props(resource(&m.id, types::MANAGER, &m.name), props));
    let mut policies = Vec::new();
    for g in &m.groups {
        let mut p = Map::new();
        let member_type = if g.subnet_members {
            "Subnet"
        } else {
            "VirtualNetwork"
        };
        put(&mut p, "memberType", json!(member_type));
        out.push(child(&g.id, "networkGroups", &g.name, p));
        let mut used: Vec<String> = Vec::new();
        for member in &g.static_members {
            let target = r(member);
            let base = crate::model::ResourceId::new(&target).name().to_string();
            let mut name = if base.is_empty() {
                "member".to_string()
            } else {
                base
            };
            let mut n = 1;
            while used.iter().any(|u| u.eq_ignore_ascii_case(&name)) {
                n += 1;
                name = format!("{}-{n}", crate::model::ResourceId::new(&target).name());
            }
            used.push(name.clone());
            let mut p = Map::new();
            put(&mut p, "resourceId", Value::String(target));
            out.push(child(
                &format!("{}/staticMembers/{name}", g.id),
                "networkGroups/staticMembers",
                &name,
                p,
            ));
        }
        if let Some(condition) = &g.dynamic {
            policies.extend(dynamic_policies(m, g, condition));
        }
    }
    for c in &m.scope_connections {
        let mut p = Map::new();
        put(&mut p, "resourceId", Value::String(c.target.id()));
        if let Some(t) = &c.tenant {
            put(&mut p, "tenantId", Value::String(t.clone()));
        }
        if let Some(s) = &c.state {
            put(&mut p, "connectionState", Value::String(s.clone()));
        }
        out.push(child(&c.id, "scopeConnections", &c.name, p));
    }
    for c in &m.configs {
        let mut p = Map::new();
        let intent = match c.intent {
            IntentPolicySetting::None => "None",
            IntentPolicySetting::All => "All",
            IntentPolicySetting::AllowRulesOnly => "AllowRulesOnly",
        };
        put(
            &mut p,
            "applyOnNetworkIntentPolicyBasedServices",
            json!([intent]),
        );
        out.push(child(&c.id, "securityAdminConfigurations", &c.name, p));
        for col in &c.collections {
            let groups = col
                .applies_to
                .iter()
                .map(|g| json!({ "networkGroupId": r(g) }))
                .collect();
            let mut p = Map::new();
            put(&mut p, "appliesToGroups", Value::Array(groups));
            out.push(child(
                &col.id,
                "securityAdminConfigurations/ruleCollections",
                &col.name,
                p,
            ));
            out.extend(col.rules.iter().map(|rule| admin_rule(rule, r)));
        }
    }
    for c in &m.connectivity {
        let mut p = Map::new();
        let topology = if c.hub_and_spoke {
            "HubAndSpoke"
        } else {
            "Mesh"
        };
        put(&mut p, "connectivityTopology", json!(topology));
        let hubs = c
            .hubs
            .iter()
            .map(|h| json!({ "resourceId": r(h), "resourceType": types::VNET }))
            .collect();
        put(&mut p, "hubs", Value::Array(hubs));
        put(&mut p, "isGlobal", avnm_bool(c.global));
        let groups = c
            .groups
            .iter()
            .map(|g| {
                let connectivity = if g.direct {
                    "DirectlyConnected"
                } else {
                    "None"
                };
                json!({
                    "networkGroupId": r(&g.group),
                    "groupConnectivity": connectivity,
                    "isGlobal": avnm_bool(g.global),
                })
            })
            .collect();
        put(&mut p, "appliesToGroups", Value::Array(groups));
        out.push(child(&c.id, "connectivityConfigurations", &c.name, p));
    }
    out.extend(policies);
    out
}

/// The policy definition (at the manager's first scope) and assignments (one per scope)
/// that a `dynamic` group stands for.
fn dynamic_policies(m: &Manager, g: &Group, condition: &Value) -> Vec<Value> {
    let Some(first) = m.scopes.first() else {
        return Vec::new();
    };
    let name = dynamic_policy_name(&m.name, &g.name);
    let definition = policy_definition_id(&first.id(), &name);
    let mut out = vec![policy_definition(&definition, &name, &g.id, condition, &[])];
    for scope in &m.scopes {
        let scope = scope.id();
        out.push(policy_assignment(
            &policy_assignment_id(&scope, &name),
            &name,
            &definition,
            &scope,
            &[],
            &[],
        ));
    }
    out
}

/// The ARM type name of a parameter value.
fn parameter_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) | Value::Null => "String",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_f64() => "Float",
        Value::Number(_) => "Integer",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

fn policy_definition(
    id: &str,
    name: &str,
    group: &str,
    condition: &Value,
    defaults: &[(String, Value)],
) -> Value {
    let mut parameters: Map<String, Value> = defaults
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!({ "type": parameter_type(v), "defaultValue": v }),
            )
        })
        .collect();
    // A parameter without a default is declared too: Azure Policy requires every parameter
    // the rule names to be, and the assignments give its value.
    let named = crate::resolve::condition::parse_condition(condition, "")
        .map(|c| c.parameters().into_iter().map(str::to_string).collect())
        .unwrap_or_else(|_| Vec::new());
    for name in named {
        if !defaults.iter().any(|(k, _)| k.eq_ignore_ascii_case(&name)) {
            parameters
                .entry(name)
                .or_insert_with(|| json!({ "type": "String" }));
        }
    }
    let mut p = Map::new();
    put(&mut p, "policyType", json!("Custom"));
    put(&mut p, "mode", json!("Microsoft.Network.Data"));
    put(&mut p, "parameters", Value::Object(parameters));
    put(
        &mut p,
        "policyRule",
        json!({
            "if": condition,
            "then": { "effect": "addToNetworkGroup", "details": { "networkGroupId": group } }
        }),
    );
    with_props(resource(id, types::POLICY_DEFINITION, name), p)
}

fn policy_assignment(
    id: &str,
    name: &str,
    definition: &str,
    scope: &str,
    not_scopes: &[String],
    parameters: &[(String, Value)],
) -> Value {
    let mut p = Map::new();
    put(&mut p, "policyDefinitionId", json!(definition));
    put(&mut p, "scope", json!(scope));
    if !not_scopes.is_empty() {
        put(&mut p, "notScopes", strings(not_scopes));
    }
    let params: Map<String, Value> = parameters
        .iter()
        .map(|(k, v)| (k.clone(), json!({ "value": v })))
        .collect();
    put(&mut p, "parameters", Value::Object(params));
    with_props(resource(id, types::POLICY_ASSIGNMENT, name), p)
}
