//! Typed, validated Azure resources: the snapshot secpath reasons about.
//!
//! This module holds data and no logic (SEMANTICS §1.1). The loader (`crate::load`) builds a
//! [`Snapshot`] and links references into indices, so a `Snapshot` that exists has no
//! dangling subnet, NSG or ASG reference and every rule value is in range.

pub mod addr;
pub mod id;
pub mod rule;

use crate::error::Location;
use crate::resolve::condition::Condition;
pub use addr::AddrSet;
pub use id::ResourceId;
use ipnet::IpNet;
pub use rule::{
    Access, AddressItem, Direction, PortRange, Protocol, Rule, RuleFields, UNKNOWN_PRIORITY,
};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Tags of a resource, keys as written.
pub type Tags = BTreeMap<String, String>;

/// A management group and its parent (by name; `None` for the tenant root).
#[derive(Clone, Debug)]
pub struct ManagementGroup {
    /// The group's name (last id segment).
    pub name: String,
    /// Parent group name.
    pub parent: Option<String>,
}

/// A subscription.
#[derive(Clone, Debug)]
pub struct Subscription {
    /// `/subscriptions/{guid}`.
    pub id: ResourceId,
    /// The GUID.
    pub subscription_id: String,
    /// Display name (`[subscription().Name]`).
    pub name: String,
    /// Its tenant, when known.
    pub tenant: Option<String>,
    /// Tags.
    pub tags: Tags,
    /// The management group it sits in (by name), when known.
    pub parent: Option<String>,
}

/// A resource group.
#[derive(Clone, Debug)]
pub struct ResourceGroup {
    /// `/subscriptions/{s}/resourceGroups/{name}`.
    pub id: ResourceId,
    /// Name.
    pub name: String,
    /// Tags.
    pub tags: Tags,
}

/// A virtual network.
#[derive(Clone, Debug)]
pub struct VirtualNetwork {
    /// ARM id.
    pub id: ResourceId,
    /// Name.
    pub name: String,
    /// Region, lower-case without spaces (`westeurope`).
    pub location: String,
    /// Tags.
    pub tags: Tags,
    /// `addressSpace.addressPrefixes`.
    pub address_space: Vec<IpNet>,
    /// Indices into [`Snapshot::subnets`].
    pub subnets: Vec<usize>,
    /// Peerings this VNet lists.
    pub peerings: Vec<Peering>,
    /// On-premises prefixes reached through this VNet's gateway.
    pub on_premises: AddrSet,
}

/// One side of a VNet peering.
#[derive(Clone, Debug)]
pub struct Peering {
    /// The remote VNet.
    pub remote: ResourceId,
    /// `peeringState == Connected`.
    pub connected: bool,
}

/// A subnet.
#[derive(Clone, Debug)]
pub struct Subnet {
    /// ARM id.
    pub id: ResourceId,
    /// Name (`GatewaySubnet` etc. matter, SEMANTICS §2.5).
    pub name: String,
    /// Index of its VNet.
    pub vnet: usize,
    /// Address prefixes.
    pub prefixes: Vec<IpNet>,
    /// Index of its NSG.
    pub nsg: Option<usize>,
    /// `delegations[].properties.serviceName`.
    pub delegations: Vec<String>,
}

/// A network interface.
#[derive(Clone, Debug)]
pub struct NetworkInterface {
    /// ARM id.
    pub id: ResourceId,
    /// Name.
    pub name: String,
    /// IP configurations.
    pub ip_configs: Vec<IpConfig>,
    /// Index of its NSG.
    pub nsg: Option<usize>,
    /// True for a private endpoint's NIC (admin rules don't apply, §2.5).
    pub private_endpoint: bool,
    /// True when an IP configuration holds a Standard-SKU public IP (D7).
    pub standard_public_ip: bool,
}

/// One IP configuration of a NIC.
#[derive(Clone, Debug)]
pub struct IpConfig {
    /// Private address.
    pub address: IpAddr,
    /// Index of its subnet.
    pub subnet: usize,
    /// Indices into [`Snapshot::asgs`].
    pub asgs: Vec<usize>,
}

/// A network security group with its custom and default rules, ordered by priority.
#[derive(Clone, Debug)]
pub struct NetworkSecurityGroup {
    /// ARM id.
    pub id: ResourceId,
    /// Name.
    pub name: String,
    /// Custom rules then default rules, each with its origin in the input.
    pub rules: Vec<(Rule, Location)>,
}

/// Membership kind of a network group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberType {
    /// Members are VNets.
    VirtualNetwork,
    /// Members are subnets; rules apply to those subnets only.
    Subnet,
}

/// A network group of a manager.
#[derive(Clone, Debug)]
pub struct NetworkGroup {
    /// ARM id.
    pub id: ResourceId,
    /// VNets or subnets.
    pub member_type: MemberType,
    /// Static members' `resourceId`s.
    pub static_members: Vec<ResourceId>,
}

/// A scope connection on a manager (cross-tenant, manager side).
#[derive(Clone, Debug)]
pub struct ScopeConnection {
    /// ARM id.
    pub id: ResourceId,
    /// The subscription or management group it names.
    pub target: ScopeRef,
    /// `connectionState` as reported, if any.
    pub state: Option<String>,
}

/// A subscription or management group named in a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeRef {
    /// By subscription GUID (lower-case).
    Subscription(String),
    /// By management group name (lower-case).
    ManagementGroup(String),
}

impl ScopeRef {
    /// Reads `/subscriptions/{id}` or any spelling of a management-group id.
    pub fn parse(text: &str) -> Option<ScopeRef> {
        let id = ResourceId::new(text);
        if let Some(mg) = id.management_group() {
            return Some(ScopeRef::ManagementGroup(mg.to_ascii_lowercase()));
        }
        if let Some(s) = id.subscription() {
            return Some(ScopeRef::Subscription(s.to_ascii_lowercase()));
        }
        // The REST example spells a management group `/Microsoft.Management/testmg`.
        let lower = text.to_ascii_lowercase();
        if lower.contains("microsoft.management") {
            return Some(ScopeRef::ManagementGroup(id.name().to_ascii_lowercase()));
        }
        None
    }
}

/// How a security admin configuration treats VNets hosting network-intent-policy services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntentPolicySetting {
    /// Admin rules don't apply there (the default).
    None,
    /// Everything applies.
    All,
    /// Only Allow and AlwaysAllow apply.
    AllowRulesOnly,
}

/// A security admin configuration.
#[derive(Clone, Debug)]
pub struct SecurityAdminConfig {
    /// ARM id.
    pub id: ResourceId,
    /// `applyOnNetworkIntentPolicyBasedServices`.
    pub intent_policy: IntentPolicySetting,
    /// Rule collections.
    pub collections: Vec<RuleCollection>,
}

/// A rule collection: rules plus the groups they apply to.
#[derive(Clone, Debug)]
pub struct RuleCollection {
    /// ARM id.
    pub id: ResourceId,
    /// `appliesToGroups[].networkGroupId`.
    pub applies_to: Vec<ResourceId>,
    /// Custom rules with their origin.
    pub rules: Vec<(Rule, Location)>,
}

/// A connectivity configuration (only its reachability matters here).
#[derive(Clone, Debug)]
pub struct ConnectivityConfig {
    /// ARM id.
    pub id: ResourceId,
    /// True for hub-and-spoke, false for mesh.
    pub hub_and_spoke: bool,
    /// Hub VNets.
    pub hubs: Vec<ResourceId>,
    /// Global mesh for the whole configuration.
    pub is_global: bool,
    /// Groups it applies to.
    pub groups: Vec<ConnectivityGroup>,
}

/// One `appliesToGroups` entry of a connectivity configuration.
#[derive(Clone, Debug)]
pub struct ConnectivityGroup {
    /// The group.
    pub group: ResourceId,
    /// `groupConnectivity == DirectlyConnected`.
    pub directly_connected: bool,
    /// Global for this group.
    pub is_global: bool,
}

/// A network manager with its children.
#[derive(Clone, Debug)]
pub struct NetworkManager {
    /// ARM id.
    pub id: ResourceId,
    /// `networkManagerScopes.subscriptions` and `.managementGroups`.
    pub scopes: Vec<ScopeRef>,
    /// `SecurityAdmin` is in `networkManagerScopeAccesses`.
    pub security_admin: bool,
    /// Network groups.
    pub groups: Vec<NetworkGroup>,
    /// Cross-tenant scope connections.
    pub scope_connections: Vec<ScopeConnection>,
    /// Security admin configurations.
    pub security_configs: Vec<SecurityAdminConfig>,
    /// Connectivity configurations.
    pub connectivity_configs: Vec<ConnectivityConfig>,
}

/// The managed side of a cross-tenant connection.
#[derive(Clone, Debug)]
pub struct ManagerConnection {
    /// ARM id (its scope is the subscription or management group in it).
    pub id: ResourceId,
    /// The scope it grants.
    pub scope: ScopeRef,
    /// `networkManagerId`.
    pub manager: ResourceId,
    /// `connectionState` as reported, if any.
    pub state: Option<String>,
}

/// An Azure Policy definition that adds VNets to a network group.
#[derive(Clone, Debug)]
pub struct PolicyDefinition {
    /// ARM id.
    pub id: ResourceId,
    /// The `if` condition.
    pub condition: Condition,
    /// `then.details.networkGroupId`.
    pub network_group: ResourceId,
    /// Declared parameters, with their `defaultValue` where they have one.
    pub parameters: BTreeMap<String, Option<serde_json::Value>>,
    /// The parameter `then.effect` names (`[parameters('effect')]`), whose value an
    /// assignment may set; `None` for a literal `addToNetworkGroup`.
    pub effect_parameter: Option<String>,
}

/// An assignment of a policy definition to a scope.
#[derive(Clone, Debug)]
pub struct PolicyAssignment {
    /// ARM id.
    pub id: ResourceId,
    /// `policyDefinitionId`.
    pub definition: ResourceId,
    /// `scope`: a management group, subscription or resource group.
    pub scope: ResourceId,
    /// `notScopes`.
    pub not_scopes: Vec<ResourceId>,
    /// Parameter values.
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// `enforcementMode` is not `DoNotEnforce`: AVNM adds no members through an assignment
    /// whose enforcement is disabled.
    pub enforced: bool,
    /// Where it was read, for errors found when it meets its definition.
    pub location: Location,
}

/// `text` as one of `allowed`, matched case-insensitively as ARM matches enum values, in
/// `allowed`'s spelling.
pub fn enum_value(allowed: &[&'static str], text: &str) -> Option<&'static str> {
    allowed
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(text))
}

/// AVNM's configuration types (`ConfigurationType` in the REST specification): the values of
/// a manager's `networkManagerScopeAccesses` and of a deployment's `deploymentType`.
pub const CONFIGURATION_TYPES: &[&str] =
    &["SecurityAdmin", "Connectivity", "SecurityUser", "Routing"];

/// A VNet peering's `peeringState` values (`VirtualNetworkPeeringState` in the REST
/// specification).
pub const PEERING_STATES: &[&str] = &["Initiated", "Connected", "Disconnected"];

/// A scope connection's or network manager connection's `connectionState` values
/// (`ScopeConnectionState` in the REST specification).
pub const CONNECTION_STATES: &[&str] = &["Connected", "Pending", "Conflict", "Revoked", "Rejected"];

/// A public IP's `sku.name` values (`PublicIPAddressSkuName` in the REST specification).
pub const PUBLIC_IP_SKUS: &[&str] = &["Basic", "Standard"];

/// A deployment status item's `deploymentStatus` values (`DeploymentStatus` in the REST
/// specification).
pub const DEPLOYMENT_STATES: &[&str] = &["NotStarted", "Deploying", "Deployed", "Failed"];

/// One deployment status item (`az network manager list-deploy-status`).
#[derive(Clone, Debug)]
pub struct DeploymentStatus {
    /// Region, normalised like [`VirtualNetwork::location`].
    pub region: String,
    /// `SecurityAdmin` or `Connectivity` (lower-case).
    pub kind: String,
    /// True when `deploymentStatus == Deployed`.
    pub deployed: bool,
    /// The configurations in the goal state.
    pub configuration_ids: Vec<ResourceId>,
    /// `commitTime` as written (ISO 8601 sorts as text within one offset).
    pub commit_time: String,
    /// Position in the input, to order items without a commit time.
    pub order: usize,
}

/// Everything read from the inputs, linked and validated.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Management groups.
    pub management_groups: Vec<ManagementGroup>,
    /// Subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// Resource groups.
    pub resource_groups: Vec<ResourceGroup>,
    /// Virtual networks.
    pub vnets: Vec<VirtualNetwork>,
    /// Subnets of all VNets.
    pub subnets: Vec<Subnet>,
    /// Network interfaces.
    pub nics: Vec<NetworkInterface>,
    /// NSGs.
    pub nsgs: Vec<NetworkSecurityGroup>,
    /// Application security groups.
    pub asgs: Vec<ResourceId>,
    /// Network managers.
    pub managers: Vec<NetworkManager>,
    /// Network manager connections (managed side).
    pub manager_connections: Vec<ManagerConnection>,
    /// Dynamic-membership policy definitions.
    pub policy_definitions: Vec<PolicyDefinition>,
    /// Policy assignments.
    pub policy_assignments: Vec<PolicyAssignment>,
    /// Deployment status items.
    pub deployments: Vec<DeploymentStatus>,
    /// Things read but not used, and why.
    pub warnings: Vec<String>,
    /// Rules a Terraform plan does not know in full: rule id → the names of the unknown attributes, as the plan spells them (`source_address_prefix`,
    /// `security_rule` for a whole unknown rule list). Their unknown fields were read as
    /// "anything", so a flow the known fields match may meet them (docs/plans.md).
    pub unknowns: BTreeMap<ResourceId, Vec<String>>,
}

impl Snapshot {
    /// The VNet with this id.
    pub fn vnet_index(&self, id: &ResourceId) -> Option<usize> {
        self.vnets.iter().position(|v| &v.id == id)
    }

    /// The subnet with this id.
    pub fn subnet_index(&self, id: &ResourceId) -> Option<usize> {
        self.subnets.iter().position(|s| &s.id == id)
    }

    /// The NIC with this id.
    pub fn nic_index(&self, id: &ResourceId) -> Option<usize> {
        self.nics.iter().position(|n| &n.id == id)
    }

    /// `id` names a NIC, subnet or VNet: something an endpoint can be pinned to.
    pub fn holds_place(&self, id: &ResourceId) -> bool {
        self.nic_index(id).is_some()
            || self.subnet_index(id).is_some()
            || self.vnet_index(id).is_some()
    }

    /// The unknown attributes of a rule, when a plan left some unknown.
    pub fn unknown(&self, rule: &ResourceId) -> Option<&[String]> {
        if self.unknowns.is_empty() {
            return None;
        }
        self.unknowns.get(rule).map(Vec::as_slice)
    }

    /// The subscription a resource id lives in.
    pub fn subscription_of(&self, id: &ResourceId) -> Option<&Subscription> {
        let sub = id.subscription()?;
        self.subscriptions
            .iter()
            .find(|s| s.subscription_id.eq_ignore_ascii_case(sub))
    }
}

/// Normalises a region name the way ARM does (`West Europe` → `westeurope`).
pub fn normalise_region(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}
