//! From a snapshot to the effective policy at every enforcement point (SEMANTICS §2–§3).
//!
//! [`Policy::build`] decides, once, which admin rules apply to each VNet and subnet and in
//! what order, what each service tag means at each point, and which VNets reach which. The
//! result holds [`ResolvedRule`]s whose addresses are concrete sets, so evaluation is a
//! plain scan with no lookups into the model. Building fails on an unknown service tag
//! (unless `lenient`); everything else that is odd becomes a warning.

pub mod condition;
mod deploy;
pub mod groups;
mod links;
pub mod scope;
pub mod tags;

use crate::error::{Error, Result};
use crate::model::*;
use crate::options::{EmptyMatch, ManagerPrecedence, Options};
use groups::Member;
use scope::{ConnectionReport, Reach};
use smallvec::SmallVec;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use tags::{BuiltinTag, ServiceTags};

pub use deploy::{deployed, Deployed};

/// A resolved address field: concrete addresses plus application security groups.
#[derive(Clone, Debug, Default)]
pub struct AddrMatch {
    /// Addresses (tags and network groups expanded).
    pub set: AddrSet,
    /// ASGs (indices into `Snapshot::asgs`): a NIC in one of them matches.
    pub asgs: SmallVec<[usize; 1]>,
}

impl AddrMatch {
    /// True when `ip` (on a NIC in `nic_asgs`) matches.
    pub fn matches(&self, ip: IpAddr, nic_asgs: &[usize]) -> bool {
        self.set.contains(ip) || self.asgs.iter().any(|a| nic_asgs.contains(a))
    }
}

/// Where a resolved rule comes from.
#[derive(Clone, Debug)]
pub enum RuleSource {
    /// A security admin rule.
    Admin {
        /// Index of its manager.
        manager: usize,
        /// Its rule collection.
        collection: ResourceId,
        /// D1 tier of its manager for this VNet.
        tier: u32,
    },
    /// An NSG rule.
    Nsg {
        /// Index of its NSG.
        nsg: usize,
    },
}

/// A rule ready to evaluate: tags expanded for one enforcement point, D4 applied.
#[derive(Clone, Debug)]
pub struct ResolvedRule {
    /// The rule as written, shared: an NSG's rules are resolved once for every VNet it is
    /// enforced in, and copying each rule there made `explain` on the enterprise snapshot
    /// of `benches/enterprise_gen.py` (300,000 resolved rules) take 1.02 s, not 0.88 s.
    pub rule: Arc<Rule>,
    /// Where it comes from.
    pub source: RuleSource,
    /// Source addresses.
    pub sources: AddrMatch,
    /// Source ports (empty = none).
    pub source_ports: SmallVec<[PortRange; 2]>,
    /// Destination addresses.
    pub destinations: AddrMatch,
    /// Destination ports (empty = none).
    pub destination_ports: SmallVec<[PortRange; 2]>,
}

/// The VNet-dependent built-in tags one address field names: `VirtualNetwork` and
/// `Internet` mean something else in every VNet (SEMANTICS §3.1), every other item does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalTags {
    /// The field names `VirtualNetwork`.
    pub virtual_network: bool,
    /// The field names `Internet`.
    pub internet: bool,
}

/// One NSG's rules resolved once for every VNet it is enforced in, by priority: address sets
/// without the VNet-dependent tags, which `local` notes per rule as `[source, destination]`.
/// [`at`](Self::at) adds them back for one VNet (that is how `Policy::nsg_rules` is made, so
/// the two cannot disagree); the compiled engine matches them apart instead, so that one
/// table serves the NSG in every VNet.
#[derive(Clone, Debug, Default)]
pub struct NsgTemplate {
    /// The rules, their sets holding every item but `VirtualNetwork` and `Internet`.
    pub rules: Vec<ResolvedRule>,
    /// Per rule, the tags left out of its source and destination sets.
    pub local: Vec<[LocalTags; 2]>,
}

impl NsgTemplate {
    /// The rules as enforced in a VNet whose tags are `here`'s.
    pub fn at(&self, here: &VnetPolicy) -> Vec<ResolvedRule> {
        let add = |set: &mut AddrSet, tags: LocalTags| {
            if tags.virtual_network {
                set.extend(&here.virtual_network);
            }
            if tags.internet {
                set.extend(&here.internet);
            }
        };
        self.rules
            .iter()
            .zip(&self.local)
            .map(|(rule, &[source, destination])| {
                let mut rule = rule.clone();
                add(&mut rule.sources.set, source);
                add(&mut rule.destinations.set, destination);
                rule
            })
            .collect()
    }
}

/// The admin rules at one enforcement point (a subnet, or a VNet address outside subnets).
#[derive(Clone, Debug, Default)]
pub struct AdminPoint {
    /// Rules in evaluation order (§2.3), both directions.
    pub rules: Vec<ResolvedRule>,
    /// Why admin rules don't apply here at all (§2.5).
    pub exempt: Option<String>,
}

/// Per VNet: tags, reachability and the admin rules for addresses outside any subnet.
#[derive(Clone, Debug, Default)]
pub struct VnetPolicy {
    /// `VirtualNetwork` at this VNet.
    pub virtual_network: AddrSet,
    /// `Internet` at this VNet.
    pub internet: AddrSet,
    /// VNets reached directly (peering, connected group, hub↔spoke).
    pub links: BTreeSet<usize>,
    /// Admin rules for an address of the VNet that is in no subnet.
    pub admin: AdminPoint,
}

/// The effective policy of a snapshot.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The snapshot it was built from.
    pub snapshot: Snapshot,
    /// The switches it was built with.
    pub options: Options,
    /// Per VNet.
    pub vnets: Vec<VnetPolicy>,
    /// Admin rules per subnet (same index as `Snapshot::subnets`).
    pub subnet_admin: Vec<AdminPoint>,
    /// NSG rules resolved per (NSG, VNet where enforced), by priority.
    pub nsg_rules: HashMap<(usize, usize), Vec<ResolvedRule>>,
    /// Per NSG enforced somewhere, its rules for any VNet (`nsg_rules` made of them).
    pub nsg_templates: HashMap<usize, NsgTemplate>,
    /// Cross-tenant connection states.
    pub connections: Vec<ConnectionReport>,
    /// Things the user should know (ignored resources, out-of-scope members, ...).
    pub warnings: Vec<String>,
}

/// Subnets whose traffic admin rules never see (SEMANTICS §2.5).
const EXEMPT_SUBNETS: [&str; 4] = [
    "GatewaySubnet",
    "AzureBastionSubnet",
    "AzureFirewallSubnet",
    "RouteServerSubnet",
];

/// Delegations that mark a VNet as hosting network-intent-policy services.
const INTENT_POLICY_SERVICES: [&str; 2] = [
    "Microsoft.Sql/managedInstances",
    "Microsoft.Databricks/workspaces",
];

/// Everything computed once about managers: scope reach and group members.
struct ManagerFacts {
    /// `reach[m][v]`.
    reach: Vec<Vec<Option<Reach>>>,
    /// Members by (manager, group id).
    members: HashMap<(usize, ResourceId), Vec<Member>>,
}

impl Policy {
    /// Rules over all enforcement points (a rule enforced at several points counts at
    /// each): every subnet's and every VNet's admin rules, every NSG's rules per VNet where
    /// it is enforced. What `secpath bench` and `secpath compile` report as `rules`,
    /// whichever engine runs.
    pub fn enforced_rules(&self) -> usize {
        let admin = self
            .subnet_admin
            .iter()
            .chain(self.vnets.iter().map(|v| &v.admin));
        admin.map(|p| p.rules.len()).sum::<usize>()
            + self.nsg_rules.values().map(Vec::len).sum::<usize>()
    }

    /// Resolves `snapshot` under `options`, with extra service tags from `service_tags`.
    pub fn build(
        snapshot: Snapshot,
        options: Options,
        service_tags: &ServiceTags,
    ) -> Result<Policy> {
        let mut warnings = snapshot.warnings.clone();
        check_tags(&snapshot, service_tags, options.lenient, &mut warnings)?;
        if snapshot.deployments.is_empty() && !snapshot.managers.is_empty() {
            warnings.push(if options.assume_deployed {
                "the snapshot has no deployment status: every configuration is taken as deployed in every region (--assume-deployed=false to change)".to_string()
            } else {
                "the snapshot has no deployment status: no configuration is deployed (--assume-deployed=false)".to_string()
            });
        }
        deploy::orphan_commits(&snapshot, &mut warnings);
        deploy::unreadable_commit_times(&snapshot, &mut warnings);
        idle_admin_rules(&snapshot, &mut warnings);
        let facts = manager_facts(&snapshot, &mut warnings);
        let members_of = |m: usize, g: &ResourceId| {
            facts
                .members
                .get(&(m, g.clone()))
                .cloned()
                .unwrap_or_default()
        };
        let links = links::vnet_links(&snapshot, &members_of, options.assume_deployed);
        let mut vnets: Vec<VnetPolicy> = (0..snapshot.vnets.len())
            .map(|v| vnet_tags(&snapshot, v, &links[v]))
            .collect();
        let ctx = ResolveContext {
            snapshot: &snapshot,
            options: &options,
            service_tags,
            facts: &facts,
        };
        let mut subnet_admin = vec![AdminPoint::default(); snapshot.subnets.len()];
        for v in 0..snapshot.vnets.len() {
            let (vnet_point, subnet_points) = ctx.admin_points(v, &vnets[v]);
            vnets[v].admin = vnet_point;
            for (s, point) in subnet_points {
                subnet_admin[s] = point;
            }
            vnets[v].links = links[v].clone();
        }
        let (nsg_templates, nsg_rules) = ctx.all_nsg_rules(&vnets);
        Ok(Policy {
            connections: scope::connection_reports(&snapshot),
            snapshot,
            options,
            vnets,
            subnet_admin,
            nsg_rules,
            nsg_templates,
            warnings,
        })
    }
}

fn manager_facts(snapshot: &Snapshot, warnings: &mut Vec<String>) -> ManagerFacts {
    let reach: Vec<Vec<Option<Reach>>> = snapshot
        .managers
        .iter()
        .map(|m| {
            snapshot
                .vnets
                .iter()
                .map(|v| {
                    v.id.subscription()
                        .and_then(|s| scope::reach(snapshot, m, s))
                })
                .collect()
        })
        .collect();
    let mut members = HashMap::new();
    for (mi, m) in snapshot.managers.iter().enumerate() {
        for g in &m.groups {
            members.insert(
                (mi, g.id.clone()),
                groups::members(snapshot, g, &reach[mi], warnings),
            );
        }
    }
    ManagerFacts { reach, members }
}

/// Admin rules that can apply nowhere, whatever is deployed, said aloud: a manager without
/// `SecurityAdmin` access deploys no admin rule (SEMANTICS §2.1), and a collection that
/// applies to no group reaches no VNet. Both look, in the input, like rules in force.
fn idle_admin_rules(snapshot: &Snapshot, warnings: &mut Vec<String>) {
    for m in &snapshot.managers {
        let collections = m.security_configs.iter().flat_map(|c| &c.collections);
        let rules: usize = collections.clone().map(|c| c.rules.len()).sum();
        if !m.security_admin && rules > 0 {
            warnings.push(format!(
                "network manager `{}` holds {rules} security admin rule(s), but its scope accesses do not include SecurityAdmin: none of them applies",
                m.id.name()
            ));
            continue;
        }
        for c in collections.filter(|c| c.applies_to.is_empty() && !c.rules.is_empty()) {
            warnings.push(format!(
                "rule collection `{}` applies to no network group: its {} rule(s) apply nowhere",
                c.id.name(),
                c.rules.len()
            ));
        }
    }
}

/// What `ResolveContext::all_nsg_rules` makes: templates by NSG, rules by (NSG, VNet).
type NsgRules = (
    HashMap<usize, NsgTemplate>,
    HashMap<(usize, usize), Vec<ResolvedRule>>,
);

/// Which VNet-dependent tags `items` name.
fn local_tags(items: &[AddressItem]) -> LocalTags {
    let mut out = LocalTags::default();
    for item in items {
        let AddressItem::Tag(tag) = item else {
            continue;
        };
        match BuiltinTag::parse(tag) {
            Some(BuiltinTag::VirtualNetwork) => out.virtual_network = true,
            Some(BuiltinTag::Internet) => out.internet = true,
            Some(BuiltinTag::AzureLoadBalancer) | None => {}
        }
    }
    out
}

/// `VirtualNetwork` and `Internet` at VNet `v`.
fn vnet_tags(snapshot: &Snapshot, v: usize, links: &BTreeSet<usize>) -> VnetPolicy {
    let mut virtual_network = AddrSet::new();
    for &u in std::iter::once(&v).chain(links) {
        let vnet = &snapshot.vnets[u];
        for net in &vnet.address_space {
            virtual_network.insert_net(*net);
        }
        virtual_network.extend(&vnet.on_premises);
    }
    virtual_network.extend(&crate::model::addr::set_of(&[tags::AZURE_HOST]));
    let mut internet = tags::public_unicast();
    internet.subtract(&virtual_network);
    VnetPolicy {
        virtual_network,
        internet,
        ..VnetPolicy::default()
    }
}

/// Every service tag named by any rule must be known (SEMANTICS §3.1).
fn check_tags(
    snapshot: &Snapshot,
    file: &ServiceTags,
    lenient: bool,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let nsg_rules = snapshot.nsgs.iter().flat_map(|n| n.rules.iter());
    let admin_rules = snapshot
        .managers
        .iter()
        .flat_map(|m| &m.security_configs)
        .flat_map(|c| &c.collections)
        .flat_map(|c| c.rules.iter());
    for (rule, location) in nsg_rules.chain(admin_rules) {
        for item in rule.fields.sources.iter().chain(&rule.fields.destinations) {
            let AddressItem::Tag(tag) = item else {
                continue;
            };
            if BuiltinTag::parse(tag).is_some() || file.get(tag).is_some() {
                continue;
            }
            let remedy = if file.is_empty() {
                "give Azure's service-tag file with --service-tags"
            } else {
                "it is not in the --service-tags file given (a newer file may hold it)"
            };
            let message = format!(
                "rule `{}` names unknown service tag `{tag}`: {remedy}, or --lenient to let it match nothing",
                rule.name
            );
            if !lenient {
                return Err(Error::invalid(location.clone(), message));
            }
            warnings.push(format!(
                "{location}: {message} (matching nothing: --lenient)"
            ));
        }
    }
    Ok(())
}

struct ResolveContext<'a> {
    snapshot: &'a Snapshot,
    options: &'a Options,
    service_tags: &'a ServiceTags,
    facts: &'a ManagerFacts,
}

impl ResolveContext<'_> {
    /// Admin rules for VNet `v`: the point for addresses in no subnet, and one per subnet.
    fn admin_points(&self, v: usize, here: &VnetPolicy) -> (AdminPoint, Vec<(usize, AdminPoint)>) {
        let vnet = &self.snapshot.vnets[v];
        let mut vnet_rules = Vec::new();
        let mut subnet_rules: HashMap<usize, Vec<ResolvedRule>> = HashMap::new();
        let mut settings: Vec<(u32, IntentPolicySetting)> = Vec::new();
        for (mi, manager) in self.snapshot.managers.iter().enumerate() {
            let Some(reach) = self.facts.reach[mi][v] else {
                continue;
            };
            if !manager.security_admin {
                continue;
            }
            let live = deploy::deployed(
                self.snapshot,
                manager,
                &vnet.location,
                "securityadmin",
                self.options.assume_deployed,
            );
            for config in manager
                .security_configs
                .iter()
                .filter(|c| live.includes(&c.id))
            {
                let mut applied = false;
                for collection in &config.collections {
                    let targets = self.collection_targets(mi, collection, v);
                    for target in targets {
                        applied = true;
                        let list = match target {
                            Member::Vnet(_) => &mut vnet_rules,
                            Member::Subnet(s) => subnet_rules.entry(s).or_default(),
                        };
                        for (rule, _) in &collection.rules {
                            let source = RuleSource::Admin {
                                manager: mi,
                                collection: collection.id.clone(),
                                tier: reach.tier,
                            };
                            list.push(self.resolve_rule(rule, source, here));
                        }
                    }
                }
                if applied {
                    settings.push((reach.tier, config.intent_policy));
                }
            }
        }
        let vnet_exempt = self.intent_policy(v, &mut settings, &mut vnet_rules, &mut subnet_rules);
        self.order(&mut vnet_rules);
        let subnet_points = vnet
            .subnets
            .iter()
            .map(|&s| {
                let mut rules = vnet_rules.clone();
                rules.extend(subnet_rules.remove(&s).unwrap_or_default());
                self.order(&mut rules);
                let subnet = &self.snapshot.subnets[s];
                let exempt = EXEMPT_SUBNETS
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(&subnet.name))
                    .map(|n| format!("admin rules don't apply to {n} (SEMANTICS §2.5)"))
                    .or_else(|| vnet_exempt.clone());
                (s, AdminPoint { rules, exempt })
            })
            .collect();
        (
            AdminPoint {
                rules: vnet_rules,
                exempt: vnet_exempt,
            },
            subnet_points,
        )
    }

    /// The members of VNet `v` (the VNet itself or some of its subnets) that a rule
    /// collection targets, each once. A collection that targets the VNet (through any of
    /// its groups) targets none of its subnets besides: the VNet's rules already reach
    /// every subnet, and the list of rules a point gets is a union (SEMANTICS §2.3), so a
    /// rule must not be listed twice because a subnet group also names its subnet.
    fn collection_targets(
        &self,
        mi: usize,
        collection: &RuleCollection,
        v: usize,
    ) -> BTreeSet<Member> {
        let mut out = BTreeSet::new();
        for g in &collection.applies_to {
            for m in self
                .facts
                .members
                .get(&(mi, g.clone()))
                .into_iter()
                .flatten()
            {
                let in_vnet = match *m {
                    Member::Vnet(x) => x == v,
                    Member::Subnet(s) => self.snapshot.subnets[s].vnet == v,
                };
                if in_vnet {
                    out.insert(*m);
                }
            }
        }
        if out.contains(&Member::Vnet(v)) {
            out.retain(|m| *m == Member::Vnet(v));
        }
        out
    }

    /// Applies `applyOnNetworkIntentPolicyBasedServices` to a VNet hosting SQL MI or
    /// Databricks; returns the exemption reason when nothing applies.
    fn intent_policy(
        &self,
        v: usize,
        settings: &mut [(u32, IntentPolicySetting)],
        vnet_rules: &mut Vec<ResolvedRule>,
        subnet_rules: &mut HashMap<usize, Vec<ResolvedRule>>,
    ) -> Option<String> {
        let vnet = &self.snapshot.vnets[v];
        let service = vnet
            .subnets
            .iter()
            .flat_map(|&s| &self.snapshot.subnets[s].delegations)
            .find(|d| {
                INTENT_POLICY_SERVICES
                    .iter()
                    .any(|svc| svc.eq_ignore_ascii_case(d))
            })?;
        // The highest-scope manager's setting wins (lowest tier).
        settings.sort_by_key(|(tier, _)| *tier);
        match settings.first().map_or(IntentPolicySetting::None, |(_, s)| *s) {
            IntentPolicySetting::All => None,
            IntentPolicySetting::AllowRulesOnly => {
                let keep = |r: &ResolvedRule| r.rule.access != Access::Deny;
                vnet_rules.retain(keep);
                subnet_rules.values_mut().for_each(|rules| rules.retain(keep));
                None
            }
            IntentPolicySetting::None => Some(format!(
                "the VNet hosts a network-intent-policy service ({service}) and applyOnNetworkIntentPolicyBasedServices is None (SEMANTICS §2.5)"
            )),
        }
    }

    /// Orders admin rules (SEMANTICS §2.3, D1): tier, priority, the most restrictive action
    /// on a tie, then collection id and rule name so the order is deterministic.
    fn order(&self, rules: &mut [ResolvedRule]) {
        let tiered = self.options.manager_precedence == ManagerPrecedence::Tiered;
        rules.sort_by_cached_key(|r| {
            let (tier, collection) = match &r.source {
                RuleSource::Admin {
                    tier, collection, ..
                } => (*tier, collection.key().to_string()),
                RuleSource::Nsg { .. } => (0, String::new()),
            };
            (
                if tiered { tier } else { 0 },
                r.rule.priority,
                r.rule.access,
                collection,
                r.rule.name.to_ascii_lowercase(),
            )
        });
    }

    /// NSG rules resolved for every (NSG, VNet) pair where an NSG is attached, and the
    /// templates they are made from (one per NSG).
    fn all_nsg_rules(&self, vnets: &[VnetPolicy]) -> NsgRules {
        let s = self.snapshot;
        let subnet_pairs = s
            .subnets
            .iter()
            .filter_map(|sub| sub.nsg.map(|n| (n, sub.vnet)));
        let nic_pairs = s.nics.iter().flat_map(|nic| {
            let vnets = nic.ip_configs.iter().map(|c| s.subnets[c.subnet].vnet);
            vnets.filter_map(move |v| nic.nsg.map(|n| (n, v)))
        });
        let mut templates = HashMap::new();
        let mut rules = HashMap::new();
        for (nsg, v) in subnet_pairs.chain(nic_pairs) {
            rules.entry((nsg, v)).or_insert_with(|| {
                templates
                    .entry(nsg)
                    .or_insert_with(|| self.nsg_template(nsg))
                    .at(&vnets[v])
            });
        }
        (templates, rules)
    }

    /// NSG `nsg`'s rules by priority, resolved where `VirtualNetwork` and `Internet` are
    /// empty, with the fields that name them noted.
    fn nsg_template(&self, nsg: usize) -> NsgTemplate {
        let nowhere = VnetPolicy::default();
        let mut rules: Vec<(ResolvedRule, [LocalTags; 2])> = self.snapshot.nsgs[nsg]
            .rules
            .iter()
            .map(|(rule, _)| {
                let f = &rule.fields;
                let local = [local_tags(&f.sources), local_tags(&f.destinations)];
                (
                    self.resolve_rule(rule, RuleSource::Nsg { nsg }, &nowhere),
                    local,
                )
            })
            .collect();
        rules.sort_by_key(|r| r.0.rule.priority);
        let (rules, local) = rules.into_iter().unzip();
        NsgTemplate { rules, local }
    }

    fn resolve_rule(&self, rule: &Rule, source: RuleSource, here: &VnetPolicy) -> ResolvedRule {
        let manager = match source {
            RuleSource::Admin { manager, .. } => Some(manager),
            RuleSource::Nsg { .. } => None,
        };
        let f = &rule.fields;
        ResolvedRule {
            sources: self.addresses(&f.sources, here, manager),
            source_ports: self.ports(&f.source_ports),
            destinations: self.addresses(&f.destinations, here, manager),
            destination_ports: self.ports(&f.destination_ports),
            rule: Arc::new(rule.clone()),
            source,
        }
    }

    fn ports(&self, ports: &[PortRange]) -> SmallVec<[PortRange; 2]> {
        match (ports.is_empty(), self.options.empty_match) {
            (true, EmptyMatch::Any) => SmallVec::from_elem(PortRange::ALL, 1),
            _ => ports.iter().copied().collect(),
        }
    }

    fn addresses(
        &self,
        items: &[AddressItem],
        here: &VnetPolicy,
        manager: Option<usize>,
    ) -> AddrMatch {
        let mut out = AddrMatch::default();
        if items.is_empty() && self.options.empty_match == EmptyMatch::Any {
            out.set = AddrSet::all();
        }
        for item in items {
            match item {
                AddressItem::Any => out.set = AddrSet::all(),
                AddressItem::Net(net) => out.set.insert_net(*net),
                AddressItem::Range(lo, hi) => {
                    out.set.insert_range(*lo, *hi);
                }
                AddressItem::Tag(tag) => out.set.extend(&self.tag(tag, here)),
                AddressItem::Asg(id) => {
                    if let Some(a) = self.snapshot.asgs.iter().position(|x| x == id) {
                        out.asgs.push(a);
                    }
                }
                AddressItem::NetworkGroup(g) => out.set.extend(&self.group_prefixes(manager, g)),
            }
        }
        out
    }

    fn tag(&self, tag: &str, here: &VnetPolicy) -> AddrSet {
        match BuiltinTag::parse(tag) {
            Some(BuiltinTag::VirtualNetwork) => here.virtual_network.clone(),
            Some(BuiltinTag::Internet) => here.internet.clone(),
            Some(BuiltinTag::AzureLoadBalancer) => tags::azure_load_balancer(),
            None => self.service_tags.get(tag).cloned().unwrap_or_default(),
        }
    }

    /// A network group as an address: its members' prefixes, IPv4 only when it mixes
    /// families (\[S08\]).
    fn group_prefixes(&self, manager: Option<usize>, group: &ResourceId) -> AddrSet {
        let mut set = AddrSet::new();
        let members = manager.and_then(|m| self.facts.members.get(&(m, group.clone())));
        for m in members.into_iter().flatten() {
            let nets = match *m {
                Member::Vnet(v) => &self.snapshot.vnets[v].address_space,
                Member::Subnet(s) => &self.snapshot.subnets[s].prefixes,
            };
            for net in nets {
                set.insert_net(*net);
            }
        }
        if set.has_both_families() {
            set.ipv4_only()
        } else {
            set
        }
    }
}
