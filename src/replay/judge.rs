//! Judging one record where it was observed (issue: "a flow-log record is judged at the point
//! that logged it").
//!
//! - An NSG flow log tuple was written by one NSG: secpath evaluates that NSG's rules in the
//!   logged direction, at the VNet of the NIC or subnet it protects (which fixes what
//!   `VirtualNetwork` means), and compares the decision and the rule, spelt as the logs spell
//!   it (`UserRule_<name>`, `DefaultRule_<name>`).
//! - A VNet flow log tuple was written at a VNet, subnet or NIC: secpath walks that side of
//!   the path there (admin rules, then the NSGs) with the endpoint pinned to the logged
//!   resource, and compares with the rule that decided (or, when allowed, the last rule that
//!   admitted it — the one Azure logs).
//! - Packets and plain tuples have no logging point: the whole path decides.

use super::flowlog::{LogFormat, Logged};
use crate::compile::{CompiledPolicy, CompiledTable};
use crate::engine::Engine;
use crate::eval::locate::{locate, Endpoint};
use crate::eval::matching::{match_rule, EndpointAsgs};
use crate::eval::{
    admin_deny, closes_public_ip, decider_name, explain, explain_side, Decision, Layer, Outcome,
    Pins, Side, Stage, Verdict, CLOSED_PUBLIC_IP_RULE,
};
use crate::flow::Flow;
use crate::model::{Access, AddrSet, Direction, ResourceId};
use crate::options::{AlwaysAllowScope, AnyProtocol};
use crate::resolve::{Policy, ResolvedRule, RuleSource};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use smallvec::SmallVec;
use std::net::IpAddr;
use std::sync::Arc;

/// A rule that decided or admitted a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleHit {
    /// The rule's ARM id.
    pub id: ResourceId,
    /// Admin or NSG.
    pub layer: Layer,
    /// An NSG default rule.
    pub is_default: bool,
}

impl RuleHit {
    /// The rule's name as flow logs spell it: `UserRule_x` / `DefaultRule_x` for NSG rules,
    /// the bare name for admin rules (SEMANTICS §5).
    pub fn log_name(&self) -> String {
        if closes_public_ip(&self.id) {
            return CLOSED_PUBLIC_IP_RULE.to_string();
        }
        match (self.layer, self.is_default) {
            (Layer::Nsg, true) => format!("DefaultRule_{}", self.id.name()),
            (Layer::Nsg, false) => format!("UserRule_{}", self.id.name()),
            _ => self.id.name().to_string(),
        }
    }

    fn of(rule: &ResolvedRule) -> RuleHit {
        RuleHit {
            id: rule.rule.id.clone(),
            layer: match rule.source {
                RuleSource::Admin { .. } => Layer::Admin,
                RuleSource::Nsg { .. } => Layer::Nsg,
            },
            is_default: rule.rule.is_default,
        }
    }

    fn of_decision(d: &Decision) -> Option<RuleHit> {
        let id = ResourceId::new(d.resource.as_deref()?);
        let is_default = id.key().contains("/defaultsecurityrules/");
        Some(RuleHit {
            id,
            layer: d.layer,
            is_default,
        })
    }
}

/// What secpath decided for one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// Allow, deny or no-path.
    pub verdict: Verdict,
    /// The rule that decided (the deny, or the one Azure would log for an allow).
    pub rule: Option<RuleHit>,
    /// Every rule that matched on the way (for hit counts).
    pub hits: SmallVec<[RuleHit; 4]>,
}

/// Judges a whole-path record with the reference walk: `explain`'s `allowed_by`, then its
/// `decided_by` when denied, are the hits.
fn whole_path_reference(policy: &Policy, flow: &Flow, pins: &Pins) -> Result<Judgement, String> {
    let e = explain(policy, flow, pins).map_err(|e| e.to_string())?;
    let denied = e.decided_by.as_ref().filter(|_| e.verdict == Verdict::Deny);
    let hits: SmallVec<[RuleHit; 4]> = e
        .allowed_by
        .iter()
        .chain(denied)
        .filter_map(RuleHit::of_decision)
        .collect();
    Ok(Judgement::of_walk(e.verdict, hits))
}

/// Judges a whole-path record with the compiled engine, which reports the same rules.
fn whole_path_compiled(
    compiled: &CompiledPolicy,
    flow: &Flow,
    pins: &Pins,
) -> Result<Judgement, String> {
    let mut matched: SmallVec<[&ResolvedRule; 6]> = SmallVec::new();
    let d = compiled
        .decide_recording(flow, pins, &mut matched)
        .map_err(|e| e.to_string())?;
    let mut hits: SmallVec<[RuleHit; 4]> = matched.into_iter().map(RuleHit::of).collect();
    // D7's closed public IP denies with no rule: the NIC stands for it, as in `explain`.
    if d.verdict == Verdict::Deny && hits.last().map(|h| &h.id) != d.resource.as_ref() {
        hits.extend(d.resource.map(|id| RuleHit {
            id,
            layer: Layer::Nsg,
            is_default: false,
        }));
    }
    Ok(Judgement::of_walk(d.verdict, hits))
}

impl Judgement {
    /// A judgement from the rules that matched in walk order (the whole path, or one side of
    /// it): Azure logs the
    /// last rule that admitted an allowed flow, and the deny (the last hit) of a denied one;
    /// a flow with no path, or one a plan leaves unknown, has no deciding rule.
    fn of_walk(verdict: Verdict, hits: SmallVec<[RuleHit; 4]>) -> Judgement {
        let rule = match verdict {
            Verdict::NoPath | Verdict::Unknown => None,
            Verdict::Allow | Verdict::Deny => hits.last().cloned(),
        };
        Judgement {
            verdict,
            rule,
            hits,
        }
    }
}

/// Placements remembered at most, before the cache starts over (flow logs from the Internet
/// bring many distinct addresses).
const PLACES_CACHED: usize = 1 << 20;

/// Judges flow-log tuples at their logging points, remembering what repeats across millions
/// of tuples: NSG ids, endpoint placements, and each NSG's compiled table per direction.
pub struct Judge<'p> {
    policy: &'p Policy,
    /// Whole-path records go through this engine; flow-log tuples through one NSG's table.
    engine: Arc<Engine<'p>>,
    nsg_by_id: HashMap<String, usize>,
    /// For an NSG, a VNet where it is attached (the first), when the local endpoint's is not.
    attached: HashMap<usize, usize>,
    /// The (NSG, VNet) pairs of `policy.nsg_rules`, asked for every tuple (that map hashes
    /// with SipHash).
    enforced: HashSet<(usize, usize)>,
    places: HashMap<IpAddr, Option<Endpoint>>,
    tables: HashMap<(usize, usize, Direction), NsgTable<'p>>,
    /// Every VNet address and NIC address: anything else is placed without a search.
    azure: AddrSet,
    /// The last record's NSG: the tuples of one record share its id.
    last_nsg: Option<(Arc<str>, usize)>,
}

/// One direction of one NSG at one VNet: its rules, compiled unless the reference engine
/// was asked for.
struct NsgTable<'p> {
    rules: Vec<&'p ResolvedRule>,
    table: Option<CompiledTable>,
}

impl NsgTable<'_> {
    fn first_match(&self, flow: &Flow, asgs: EndpointAsgs, any: AnyProtocol) -> Option<usize> {
        match &self.table {
            Some(table) => table.first_match(flow, asgs),
            None => self
                .rules
                .iter()
                .position(|r| match_rule(r, flow, asgs, any).all()),
        }
    }
}

impl<'p> Judge<'p> {
    /// A judge that evaluates with `engine` (workers share one engine, each has a judge
    /// with its own caches).
    pub fn new(engine: Arc<Engine<'p>>) -> Judge<'p> {
        let policy = engine.policy();
        let s = &policy.snapshot;
        let nsg_by_id = s
            .nsgs
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.key().to_string(), i))
            .collect();
        let mut attached = HashMap::default();
        let enforced = policy.nsg_rules.keys().copied().collect();
        for &(nsg, vnet) in policy.nsg_rules.keys() {
            let v = attached.entry(nsg).or_insert(vnet);
            *v = (*v).min(vnet);
        }
        let mut azure = AddrSet::new();
        for net in s.vnets.iter().flat_map(|v| &v.address_space) {
            azure.insert_net(*net);
        }
        for ip in s.nics.iter().flat_map(|n| &n.ip_configs).map(|c| c.address) {
            azure.insert_net(ipnet::IpNet::from(ip));
        }
        Judge {
            policy,
            engine,
            nsg_by_id,
            azure,
            attached,
            enforced,
            places: HashMap::default(),
            tables: HashMap::default(),
            last_nsg: None,
        }
    }

    /// The policy judged against.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// Judges a whole-path record (a packet opening a connection, a plain tuple).
    pub fn whole_path(&self, flow: &Flow, pins: &Pins) -> Result<Judgement, String> {
        match &*self.engine {
            Engine::Reference(policy) => whole_path_reference(policy, flow, pins),
            Engine::Compiled(compiled) => whole_path_compiled(compiled, flow, pins),
        }
    }

    /// D6 `--admin-stateless`: the admin rules of both sides judge `reply`, a reply of an
    /// allowed connection that the NSGs let pass as state. `Some` when one denies it: the
    /// deny, with that rule as its rule and its one hit.
    pub fn admin_denial(&self, reply: &Flow) -> Option<Judgement> {
        let decision = admin_deny(self.policy, reply, &Pins::default()).ok()??;
        let rule = RuleHit::of_decision(&decision);
        Some(Judgement {
            verdict: Verdict::Deny,
            hits: rule.iter().cloned().collect(),
            rule,
        })
    }

    /// Judges a flow-log tuple at the point that logged it.
    pub fn at_logging_point(
        &mut self,
        flow: &Flow,
        logged: Logged<'_>,
    ) -> Result<Judgement, String> {
        match logged.format {
            LogFormat::NsgV1 | LogFormat::NsgV2 => self.at_nsg(flow, logged),
            LogFormat::VnetV4 => at_vnet_point(self.policy, flow, logged),
        }
    }

    /// Remembers where `address` is (unpinned), if it is in Azure, and says whether it is;
    /// [`placement`] then finds it. The caller makes room first ([`Judge::at_nsg`]), so that
    /// placing a tuple's second end never forgets its first.
    fn place(&mut self, address: IpAddr) -> bool {
        if !self.azure.contains(address) {
            return false;
        }
        if !self.places.contains_key(&address) {
            let place = locate(&self.policy.snapshot, address, None, "local").ok();
            self.places.insert(address, place);
        }
        true
    }

    fn at_nsg(&mut self, flow: &Flow, logged: Logged<'_>) -> Result<Judgement, String> {
        let id = logged.resource_id.ok_or("the record names no NSG")?;
        let nsg = match &self.last_nsg {
            Some((last, nsg)) if Arc::ptr_eq(last, id) => *nsg,
            _ => {
                let key = ResourceId::new(id);
                let nsg = *self
                    .nsg_by_id
                    .get(key.key())
                    .ok_or_else(|| format!("the logging NSG \"{id}\" is not in the snapshot"))?;
                self.last_nsg = Some((id.clone(), nsg));
                nsg
            }
        };
        let name = || self.policy.snapshot.nsgs[nsg].name.clone();
        let (local, remote) = match logged.direction {
            Direction::Inbound => (flow.dst, flow.src),
            Direction::Outbound => (flow.src, flow.dst),
        };
        if self.places.len() + 2 > PLACES_CACHED {
            self.places.clear();
        }
        let (local_in_azure, remote_in_azure) = (self.place(local), self.place(remote));
        let (here, there) = (
            placement(&self.places, local_in_azure, local),
            placement(&self.places, remote_in_azure, remote),
        );
        // The VNet whose `VirtualNetwork` applies: where the local endpoint is, else anywhere
        // the NSG is attached.
        let vnet = here
            .and_then(|e| e.vnet)
            .filter(|v| self.enforced.contains(&(nsg, *v)))
            .or_else(|| self.attached.get(&nsg).copied())
            .ok_or_else(|| {
                format!(
                    "the logging NSG \"{}\" is attached to nothing in the snapshot",
                    name()
                )
            })?;
        fn asgs_of(e: Option<&Endpoint>) -> &[usize] {
            e.map_or(&[], |e| e.asgs.as_slice())
        }
        let asgs = match logged.direction {
            Direction::Inbound => EndpointAsgs {
                src: asgs_of(there),
                dst: asgs_of(here),
            },
            Direction::Outbound => EndpointAsgs {
                src: asgs_of(here),
                dst: asgs_of(there),
            },
        };
        let (policy, any) = (self.policy, self.policy.options.any_protocol);
        let compile = matches!(*self.engine, Engine::Compiled(_));
        let t = self
            .tables
            .entry((nsg, vnet, logged.direction))
            .or_insert_with(|| {
                let rules: Vec<&ResolvedRule> = policy.nsg_rules[&(nsg, vnet)]
                    .iter()
                    .filter(|r| r.rule.direction == logged.direction)
                    .collect();
                NsgTable {
                    table: compile.then(|| CompiledTable::build(&rules, any)),
                    rules,
                }
            });
        let hit = t
            .first_match(flow, asgs, any)
            .and_then(|i| t.rules.get(i).copied());
        // A plan's rule with unknown attributes may or may not have matched: the NSG's
        // decision is unknown, as on the whole path, and no rule is known to have fired.
        if hit.is_some_and(|r| policy.snapshot.unknown(&r.rule.id).is_some()) {
            return Ok(Judgement::of_walk(Verdict::Unknown, SmallVec::new()));
        }
        let verdict = match hit.map(|r| r.rule.access) {
            Some(Access::Deny) => Verdict::Deny,
            _ => Verdict::Allow,
        };
        let rule = hit.map(RuleHit::of);
        Ok(Judgement {
            verdict,
            hits: rule.iter().cloned().collect(),
            rule,
        })
    }
}

/// Where an address [`Judge::place`] found in Azure (`in_azure`) is: `None` outside Azure
/// (no VNet, no ASGs) or where it cannot be placed.
fn placement(
    places: &HashMap<IpAddr, Option<Endpoint>>,
    in_azure: bool,
    address: IpAddr,
) -> Option<&Endpoint> {
    if !in_azure {
        return None;
    }
    places.get(&address)?.as_ref()
}

fn at_vnet_point(policy: &Policy, flow: &Flow, logged: Logged<'_>) -> Result<Judgement, String> {
    if logged
        .encryption
        .is_some_and(super::flowlog::is_encryption_drop)
    {
        return Err("dropped for encryption, which secpath does not model".to_string());
    }
    let target = logged
        .resource_id
        .map(|id| ResourceId::new(id))
        .ok_or("the record names no target resource")?;
    if !policy.snapshot.holds_place(&target) {
        return Err(format!(
            "the record's target \"{target}\" is not a NIC, subnet or VNet in the snapshot"
        ));
    }
    let (side, pins) = match logged.direction {
        Direction::Inbound => (
            Side::Destination,
            Pins {
                from: None,
                to: Some(target),
            },
        ),
        Direction::Outbound => (
            Side::Source,
            Pins {
                from: Some(target),
                to: None,
            },
        ),
    };
    let mut stages = explain_side(policy, flow, side, &pins).map_err(|e| e.to_string())?;
    // D5 `path`: the source side's AlwaysAllow skips this side's NSGs (never its admin rules)
    // and is the rule that admitted the flow here unless an admin rule of this side did. Its
    // hit belongs to the source side, which logs the flow outbound.
    let admitted_by_source = (side == Side::Destination
        && policy.options.always_allow_scope == AlwaysAllowScope::Path)
        .then(|| source_always_allow(policy, flow, &pins))
        .flatten();
    if admitted_by_source.is_some() {
        stages.retain(|s| s.layer != Layer::Nsg);
    }
    let mut judgement = side_judgement(&stages);
    if judgement.verdict == Verdict::Allow && judgement.rule.is_none() {
        judgement.rule = admitted_by_source;
    }
    Ok(judgement)
}

/// The admin AlwaysAllow rule that admits `flow` on its source side, if the source is in a
/// VNet and one does (`pins` place the destination).
fn source_always_allow(policy: &Policy, flow: &Flow, pins: &Pins) -> Option<RuleHit> {
    let stages = explain_side(policy, flow, Side::Source, pins).ok()?;
    let stage = stages
        .iter()
        .find(|s| s.layer == Layer::Admin && s.outcome == Outcome::AlwaysAllow)?;
    stage.decided_by.as_ref().and_then(RuleHit::of_decision)
}

/// The verdict of one side's stages, the rule Azure would log for it, and every hit. A walk
/// that met a plan's unknown rule stopped there: the side is unknown, with no deciding rule
/// (as on the whole path), and the rules that admitted the flow before it are its hits.
fn side_judgement(stages: &[Stage]) -> Judgement {
    let decisive = |s: &&Stage| {
        matches!(
            s.outcome,
            Outcome::Deny | Outcome::Allow | Outcome::AlwaysAllow
        )
    };
    let hits: SmallVec<[RuleHit; 4]> = stages
        .iter()
        .filter(decisive)
        .filter_map(|s| s.decided_by.as_ref().and_then(RuleHit::of_decision))
        .collect();
    let outcome = |o: Outcome| stages.iter().any(|s| s.outcome == o);
    let verdict = if outcome(Outcome::Deny) {
        Verdict::Deny
    } else if outcome(Outcome::Unknown) {
        Verdict::Unknown
    } else {
        Verdict::Allow
    };
    Judgement::of_walk(verdict, hits)
}

/// The NSG log prefix of a logged rule name, matched case-insensitively: `Some(true)` for
/// `DefaultRule_`, `Some(false)` for `UserRule_`, `None` for a bare name; and the name
/// behind it.
fn log_prefix(name: &str) -> (Option<bool>, &str) {
    for (prefix, default) in [("userrule_", false), ("defaultrule_", true)] {
        if let Some(head) = name.get(..prefix.len()) {
            if head.eq_ignore_ascii_case(prefix) {
                return (Some(default), &name[prefix.len()..]);
            }
        }
    }
    (None, name)
}

/// Logged rule names this long or longer may have been cut short: NSG flow logs truncate
/// names over 65 characters (azure-research.md §6.1 [S41]).
const TRUNCATED_AT: usize = 65;

/// True when a logged rule name names `hit`, whichever way the log spelt it, compared
/// case-insensitively: a prefixed name (`UserRule_x`, `DefaultRule_x`) names the NSG rule
/// `x` of that kind, so a custom rule called `DenyAllInBound` is not the default one; a bare
/// name names the rule of that name; an admin rule's log name is its bare name. A logged
/// name of [`TRUNCATED_AT`] characters or more also names a rule whose name it begins.
/// Called for every tuple, so it allocates nothing.
fn names(logged: &str, hit: &RuleHit) -> bool {
    let hit_name = decider_name(&hit.id);
    let logged_name = match (hit.layer, log_prefix(logged)) {
        (Layer::Nsg, (Some(default), rest)) if default == hit.is_default => rest,
        (Layer::Nsg, (Some(_), _)) => return false,
        _ => logged,
    };
    let truncated = logged.len() >= TRUNCATED_AT
        && hit_name
            .get(..logged_name.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(logged_name));
    logged_name.eq_ignore_ascii_case(hit_name) || truncated
}

/// True when the logged decision and rule agree with secpath's judgement. A missing logged
/// rule compares as agreeing on the rule.
pub fn agrees(logged: &Logged<'_>, judged: &Judgement) -> bool {
    let decision = logged.allowed == (judged.verdict == Verdict::Allow);
    let rule = logged.rule.is_empty()
        || logged.rule.eq_ignore_ascii_case("unspecified")
        || judged.rule.as_ref().is_some_and(|r| names(logged.rule, r));
    decision && rule
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_across_log_spellings() {
        let hit = RuleHit {
            id: ResourceId::new("/s/networkSecurityGroups/n/defaultSecurityRules/DenyAllInBound"),
            layer: Layer::Nsg,
            is_default: true,
        };
        assert_eq!(hit.log_name(), "DefaultRule_DenyAllInBound");
        assert!(names("DefaultRule_DenyAllInbound", &hit));
        assert!(
            names("DENYALLINBOUND", &hit),
            "VNet flow logs write bare names"
        );
        assert!(!names("DefaultRule_DenyAllInBoundX", &hit));
        let user = RuleHit {
            id: ResourceId::new("/s/networkSecurityGroups/n/securityRules/Allow-Web"),
            layer: Layer::Nsg,
            is_default: false,
        };
        assert!(names("UserRule_allow-web", &user));
        assert!(
            !names("DefaultRule_Allow-Web", &user),
            "the prefix tells a custom rule from a default one of the same name"
        );
        assert!(!names("UserRule_DenyAllInBound", &hit));
        let admin = RuleHit {
            id: ResourceId::new("/s/networkManagers/m/securityAdminConfigurations/c/ruleCollections/r/rules/BlockHighRisk"),
            layer: Layer::Admin,
            is_default: false,
        };
        assert!(names("blockhighrisk", &admin));
        assert!(!names("UserRule_", &admin));
        assert!(
            !names("UserRule_BlockHighRisk", &admin),
            "a prefixed name is an NSG rule's"
        );
    }

    #[test]
    fn a_closed_public_ip_and_a_truncated_name_are_named() {
        let closed = RuleHit {
            id: ResourceId::new("/s/providers/Microsoft.Network/networkInterfaces/nic-web"),
            layer: Layer::Nsg,
            is_default: false,
        };
        assert!(names(CLOSED_PUBLIC_IP_RULE, &closed));
        assert!(!names("nic-web", &closed));
        let long = "Allow-Https-From-Partner-Networks-To-Frontends-In-West-Europe-Region-01";
        let user = RuleHit {
            id: ResourceId::new(&format!("/s/networkSecurityGroups/n/securityRules/{long}")),
            layer: Layer::Nsg,
            is_default: false,
        };
        let cut = &format!("UserRule_{long}")[..TRUNCATED_AT];
        assert!(names(cut, &user), "a log cuts names over 65 characters");
        assert!(
            !names(&cut[..40], &user),
            "a short name is a whole name, not a cut one"
        );
    }

    #[test]
    fn a_full_placement_cache_keeps_both_ends_of_a_tuple() {
        // nsg-snet-app (rulesets/contoso) allows 8443 from asg-web (10.1.1.4) to asg-app
        // (10.1.2.4): only placements put the endpoints in their ASGs. When the cache fills up
        // between placing one end and the other, the first must not be forgotten.
        use crate::engine::EngineKind;
        use crate::options::Options;
        use crate::replay::flowlog::FlowState;
        use crate::resolve::tags::ServiceTags;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let snapshot = crate::load::load_snapshot(&[root.join("rulesets/contoso")]).unwrap();
        let policy = Policy::build(snapshot, Options::new(), &ServiceTags::none()).unwrap();
        let mut judge = Judge::new(Arc::new(Engine::new(&policy, EngineKind::Reference)));
        let nsg: Arc<str> = Arc::from("/subscriptions/8d2e4b7a-5c3f-4e19-a7d6-1f2e3d4c5b02/resourceGroups/rg-web-weu/providers/Microsoft.Network/networkSecurityGroups/nsg-snet-app");
        let rule: Arc<str> = Arc::from("UserRule_Allow-8443-From-AsgWeb");
        let logged = Logged {
            format: LogFormat::NsgV2,
            resource_id: Some(&nsg),
            acl_id: None,
            mac: None,
            rule: &rule,
            direction: Direction::Inbound,
            allowed: true,
            state: Some(FlowState::Begin),
            encryption: None,
            packets_bytes: None,
        };
        let flow = Flow::parse("tcp 10.1.1.4:50000 -> 10.1.2.4:8443").unwrap();
        let fresh = judge.at_logging_point(&flow, logged).unwrap();
        assert!(agrees(&logged, &fresh), "{fresh:?}");
        judge.places.clear();
        for i in 0..PLACES_CACHED - 1 {
            let filler = IpAddr::from(std::net::Ipv6Addr::from(i as u128));
            judge.places.insert(filler, None);
        }
        assert_eq!(judge.at_logging_point(&flow, logged).unwrap(), fresh);
    }
}
