//! The reference evaluator: one flow walked through the whole path, every rule it meets
//! recorded (SEMANTICS §4–§5).
//!
//! This is deliberately a linear scan over the resolved rules, in the order §2.3 and §3
//! define, so it can be read against SEMANTICS.md line by line. Faster engines must agree
//! with it on every flow.

pub mod locate;
pub mod matching;
mod trace;

use crate::error::Result;
use crate::flow::Flow;
use crate::model::{Access, Direction, ResourceId};
use crate::options::{AlwaysAllowScope, NoNsg};
use crate::resolve::{AdminPoint, Policy, ResolvedRule, RuleSource};
use locate::{locate, Endpoint};
use matching::{match_rule, EndpointAsgs};
pub use trace::*;

/// Pins for ambiguous endpoints: the ARM id of a NIC, subnet or VNet.
#[derive(Clone, Debug, Default)]
pub struct Pins {
    /// `--from`.
    pub from: Option<ResourceId>,
    /// `--to`.
    pub to: Option<ResourceId>,
}

/// Walks `flow` through `policy` and explains the verdict.
pub fn explain(policy: &Policy, flow: &Flow, pins: &Pins) -> Result<Explanation> {
    let (src, dst) = endpoints(policy, flow, pins)?;
    let mut walk = Walk::new(policy, flow, &src, &dst);
    let verdict = walk.run();
    Ok(Explanation::new(
        policy,
        flow,
        &src,
        &dst,
        walk.stages,
        verdict,
    ))
}

/// The verdict and the deciding rule, without the trace: what engines are compared on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    /// The verdict.
    pub verdict: Verdict,
    /// The deny rule's layer and side (`None` for allow; `Layer::Path` for no-path).
    pub layer: Option<Layer>,
    /// The side of the deciding rule.
    pub side: Option<Side>,
    /// The ARM id of the deciding rule (for the D7 deny: the NIC's id); `None` for allow
    /// and no-path.
    pub resource: Option<ResourceId>,
}

impl Decided {
    /// The deciding rule's name, as the logs spell the ARM name (`DenyAllInBound`).
    pub fn rule_name(&self) -> Option<&str> {
        self.resource.as_ref().map(decider_name)
    }
}

/// Why admin rules don't apply to an endpoint at `point` (on NIC `nic`, if any), if they
/// don't (SEMANTICS §2.5): a private endpoint, or the point's own exemption.
pub fn admin_exemption(policy: &Policy, nic: Option<usize>, point: &AdminPoint) -> Option<String> {
    let private_endpoint = nic
        .and_then(|n| policy.snapshot.nics.get(n))
        .is_some_and(|n| n.private_endpoint);
    if private_endpoint {
        return Some("admin rules don't apply to private endpoints (SEMANTICS §2.5)".to_string());
    }
    point.exempt.clone()
}

/// The name every report gives the deciding `resource`: its ARM name, or for D7's closed
/// public IP (whose resource is the NIC) [`trace::CLOSED_PUBLIC_IP_RULE`].
pub fn decider_name(resource: &ResourceId) -> &str {
    if closes_public_ip(resource) {
        trace::CLOSED_PUBLIC_IP_RULE
    } else {
        resource.name()
    }
}

/// A deciding `resource` that is a NIC, not a rule: D7's closed Standard public IP, which
/// every report names [`trace::CLOSED_PUBLIC_IP_RULE`].
pub fn closes_public_ip(resource: &ResourceId) -> bool {
    // The type segment, next to last: scanning the whole id cost `eval` 2% of its time.
    resource.key().rsplit('/').nth(1) == Some("networkinterfaces")
}

impl From<&Explanation> for Decided {
    fn from(e: &Explanation) -> Decided {
        let d = e.decided_by.as_ref();
        Decided {
            verdict: e.verdict,
            layer: d.map(|d| d.layer),
            side: d.and_then(|d| d.side),
            resource: d.and_then(|d| d.resource.as_deref()).map(ResourceId::new),
        }
    }
}

/// The reference engine's decision for one flow (the full walk, trace discarded).
pub fn decide(policy: &Policy, flow: &Flow, pins: &Pins) -> Result<Decided> {
    explain(policy, flow, pins).map(|e| Decided::from(&e))
}

/// Walks one side only: the stages a log written at that side's enforcement point saw
/// (VNet flow logs record the inbound side at the destination, the outbound side at the
/// source). Empty when that endpoint is not in a VNet.
pub fn explain_side(policy: &Policy, flow: &Flow, side: Side, pins: &Pins) -> Result<Vec<Stage>> {
    let (src, dst) = endpoints(policy, flow, pins)?;
    let mut walk = Walk::new(policy, flow, &src, &dst);
    if walk.endpoint(side).vnet.is_some() {
        walk.side(side, false);
    }
    Ok(walk.stages)
}

/// The admin rules' decision alone, both sides (D6 `--admin-stateless`: a reply is judged by
/// the admin rules again even though the NSGs let it through as part of its connection).
/// `Some` with the deny when an admin rule denies.
pub fn admin_deny(policy: &Policy, flow: &Flow, pins: &Pins) -> Result<Option<Decision>> {
    let (src, dst) = endpoints(policy, flow, pins)?;
    let mut walk = Walk::new(policy, flow, &src, &dst);
    for side in [Side::Source, Side::Destination] {
        if walk.endpoint(side).vnet.is_some() && walk.admin_stage(side) == SideResult::Deny {
            return Ok(walk.stages.pop().and_then(|stage| stage.decided_by));
        }
    }
    Ok(None)
}

/// Both ends of `flow`, located (pins honoured).
fn endpoints(policy: &Policy, flow: &Flow, pins: &Pins) -> Result<(Endpoint, Endpoint)> {
    let s = &policy.snapshot;
    let src = locate(s, flow.src, pins.from.as_ref(), "source")?;
    let dst = locate(s, flow.dst, pins.to.as_ref(), "destination")?;
    Ok((src, dst))
}

/// The state of one walk.
struct Walk<'a> {
    policy: &'a Policy,
    flow: &'a Flow,
    src: &'a Endpoint,
    dst: &'a Endpoint,
    stages: Vec<Stage>,
}

impl<'a> Walk<'a> {
    fn new(policy: &'a Policy, flow: &'a Flow, src: &'a Endpoint, dst: &'a Endpoint) -> Walk<'a> {
        Walk {
            policy,
            flow,
            src,
            dst,
            stages: Vec::new(),
        }
    }

    /// Source outbound, path, destination inbound; the first deny ends the walk.
    fn run(&mut self) -> Verdict {
        let mut source_always_allow = false;
        if self.src.vnet.is_some() {
            match self.side(Side::Source, false) {
                SideResult::Deny => return Verdict::Deny,
                SideResult::Unknown => return Verdict::Unknown,
                SideResult::AlwaysAllow => source_always_allow = true,
                SideResult::Pass => {}
            }
        }
        if !self.path() {
            return Verdict::NoPath;
        }
        if self.dst.vnet.is_some() {
            let skip = source_always_allow
                && self.policy.options.always_allow_scope == AlwaysAllowScope::Path;
            match self.side(Side::Destination, skip) {
                SideResult::Deny => return Verdict::Deny,
                SideResult::Unknown => return Verdict::Unknown,
                _ => {}
            }
        }
        Verdict::Allow
    }

    /// One side: admin rules, then the NSGs in this side's order unless skipped.
    fn side(&mut self, side: Side, skip_nsgs_by_source: bool) -> SideResult {
        let admin = self.admin_stage(side);
        if matches!(admin, SideResult::Deny | SideResult::Unknown) {
            return admin;
        }
        let reason = if admin == SideResult::AlwaysAllow {
            Some(
                "skipped: an admin AlwaysAllow rule on this side admitted the flow (D5)"
                    .to_string(),
            )
        } else if skip_nsgs_by_source {
            Some("skipped: a source-side admin AlwaysAllow admitted the flow (--always-allow-scope=path, D5)".to_string())
        } else {
            None
        };
        let endpoint = self.endpoint(side);
        let nic_nsg = endpoint.nic.and_then(|n| self.policy.snapshot.nics[n].nsg);
        let subnet_nsg = endpoint
            .subnet
            .and_then(|s| self.policy.snapshot.subnets[s].nsg);
        let levels = match side {
            Side::Source => [(Level::Nic, nic_nsg), (Level::Subnet, subnet_nsg)],
            Side::Destination => [(Level::Subnet, subnet_nsg), (Level::Nic, nic_nsg)],
        };
        if let Some(reason) = reason {
            // Named as in an evaluated stage, so a skipped NSG is not taken for a missing one.
            for (level, nsg) in levels {
                let mut stage = Stage::skipped(side, Layer::Nsg, level, reason.clone());
                stage.resource = nsg.map(|n| self.policy.snapshot.nsgs[n].id.to_string());
                stage.applied_to = self.applied_to(side, level);
                self.stages.push(stage);
            }
            return admin;
        }
        if side == Side::Destination && self.standard_ip_closed(nic_nsg, subnet_nsg) {
            // The subnet level (without an NSG) is walked first, as on any inbound path; the
            // closed IP is the NIC level's answer.
            let nic = endpoint.nic.unwrap_or(0);
            self.nsg_stage(side, Level::Subnet, subnet_nsg);
            self.stages
                .push(Stage::closed_public_ip(&self.policy.snapshot.nics[nic].id));
            return SideResult::Deny;
        }
        for (level, nsg) in levels {
            let result = self.nsg_stage(side, level, nsg);
            if result != SideResult::Pass {
                return result;
            }
        }
        SideResult::Pass
    }

    fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Source => self.src,
            Side::Destination => self.dst,
        }
    }

    fn direction(side: Side) -> Direction {
        match side {
            Side::Source => Direction::Outbound,
            Side::Destination => Direction::Inbound,
        }
    }

    /// D7: traffic from outside Azure to a NIC with a Standard public IP and no NSG at
    /// either level.
    fn standard_ip_closed(&self, nic_nsg: Option<usize>, subnet_nsg: Option<usize>) -> bool {
        let nic = self.dst.nic.map(|n| &self.policy.snapshot.nics[n]);
        self.policy.options.no_nsg == NoNsg::Deny
            && self.src.kind.outside_azure()
            && nic.is_some_and(|n| n.standard_public_ip)
            && nic_nsg.is_none()
            && subnet_nsg.is_none()
    }

    /// The admin rules of this side's VNet (or subnet) in this side's direction.
    fn admin_stage(&mut self, side: Side) -> SideResult {
        let endpoint = self.endpoint(side);
        let vnet = endpoint
            .vnet
            .expect("sides are walked only for VNet endpoints");
        let point: &AdminPoint = match endpoint.subnet {
            Some(s) => &self.policy.subnet_admin[s],
            None => &self.policy.vnets[vnet].admin,
        };
        let vnet_id = &self.policy.snapshot.vnets[vnet].id;
        if let Some(reason) = admin_exemption(self.policy, endpoint.nic, point) {
            let mut stage = Stage::skipped(side, Layer::Admin, Level::Vnet, reason);
            stage.resource = Some(vnet_id.to_string());
            stage.applied_to = endpoint
                .subnet
                .map(|s| self.policy.snapshot.subnets[s].id.to_string());
            self.stages.push(stage);
            return SideResult::Pass;
        }
        let direction = Self::direction(side);
        let rules = point.rules.iter().filter(|r| r.rule.direction == direction);
        let (traces, hit) = self.scan(rules);
        let outcome = match hit.map(|r| (r.rule.access, self.unknown(r).is_some())) {
            Some((_, true)) => Outcome::Unknown,
            Some((Access::Deny, _)) => Outcome::Deny,
            Some((Access::AlwaysAllow, _)) => Outcome::AlwaysAllow,
            Some((Access::Allow, _)) => Outcome::Allow,
            None => Outcome::NoMatch,
        };
        self.stages.push(Stage {
            side: Some(side),
            layer: Layer::Admin,
            level: Level::Vnet,
            direction: Some(direction),
            resource: Some(vnet_id.to_string()),
            applied_to: endpoint
                .subnet
                .map(|s| self.policy.snapshot.subnets[s].id.to_string()),
            outcome,
            reason: None,
            decided_by: hit.map(|r| self.decision(r, side)),
            rules: traces,
        });
        SideResult::of(outcome)
    }

    /// The subnet or NIC of this side's endpoint where `level`'s NSG is enforced.
    fn applied_to(&self, side: Side, level: Level) -> Option<String> {
        let endpoint = self.endpoint(side);
        let s = &self.policy.snapshot;
        match level {
            Level::Nic => endpoint.nic.map(|n| s.nics[n].id.to_string()),
            _ => endpoint.subnet.map(|x| s.subnets[x].id.to_string()),
        }
    }

    /// One NSG level: first match by priority; no NSG passes (D7 default).
    fn nsg_stage(&mut self, side: Side, level: Level, nsg: Option<usize>) -> SideResult {
        let applied_to = self.applied_to(side, level);
        let endpoint = self.endpoint(side);
        let s = &self.policy.snapshot;
        let Some(nsg) = nsg else {
            let what = if applied_to.is_some() {
                "no NSG is associated"
            } else {
                "the endpoint has no such level"
            };
            let mut stage = Stage::skipped(
                side,
                Layer::Nsg,
                level,
                format!("{what}: the level passes traffic (D7)"),
            );
            stage.applied_to = applied_to;
            self.stages.push(stage);
            return SideResult::Pass;
        };
        let vnet = endpoint
            .vnet
            .expect("sides are walked only for VNet endpoints");
        let direction = Self::direction(side);
        let rules = self.policy.nsg_rules[&(nsg, vnet)]
            .iter()
            .filter(|r| r.rule.direction == direction);
        let (traces, hit) = self.scan(rules);
        let outcome = match hit.map(|r| (r.rule.access, self.unknown(r).is_some())) {
            Some((_, true)) => Outcome::Unknown,
            Some((Access::Deny, _)) => Outcome::Deny,
            Some(_) => Outcome::Allow,
            None => Outcome::NoMatch,
        };
        self.stages.push(Stage {
            side: Some(side),
            layer: Layer::Nsg,
            level,
            direction: Some(direction),
            resource: Some(s.nsgs[nsg].id.to_string()),
            applied_to,
            outcome,
            reason: None,
            decided_by: hit.map(|r| self.decision(r, side)),
            rules: traces,
        });
        SideResult::of(outcome)
    }

    /// Scans rules in order until the first full match; returns every rule consulted.
    fn scan<'r>(
        &self,
        rules: impl Iterator<Item = &'r ResolvedRule>,
    ) -> (Vec<RuleTrace>, Option<&'r ResolvedRule>) {
        let asgs = EndpointAsgs {
            src: &self.src.asgs,
            dst: &self.dst.asgs,
        };
        let mut traces = Vec::new();
        for rule in rules {
            let m = match_rule(rule, self.flow, asgs, self.policy.options.any_protocol);
            traces.push(RuleTrace::new(
                rule,
                m,
                self.unknown(rule).unwrap_or_default(),
            ));
            if m.all() {
                return (traces, Some(rule));
            }
        }
        (traces, None)
    }

    /// The attributes of `rule` a plan does not know: a rule that has some decides
    /// nothing, so a flow its known fields match is `unknown` (docs/plans.md).
    fn unknown(&self, rule: &ResolvedRule) -> Option<&'a [String]> {
        self.policy.snapshot.unknown(&rule.rule.id)
    }

    fn decision(&self, rule: &ResolvedRule, side: Side) -> Decision {
        Decision {
            layer: match rule.source {
                RuleSource::Admin { .. } => Layer::Admin,
                RuleSource::Nsg { .. } => Layer::Nsg,
            },
            side: Some(side),
            resource: Some(rule.rule.id.to_string()),
            rule: Some(rule.rule.name.clone()),
            priority: Some(rule.rule.priority),
            access: Some(rule.rule.access),
            reason: None,
            unknown: self.unknown(rule).unwrap_or_default().to_vec(),
        }
    }

    /// Step 2: can the packet get from the source's network to the destination's?
    fn path(&mut self) -> bool {
        let s = &self.policy.snapshot;
        let (reachable, reason) = match (self.src.vnet, self.dst.vnet) {
            (None, None) => (
                false,
                "neither endpoint is in a VNet of the snapshot: no Azure path to evaluate"
                    .to_string(),
            ),
            (Some(a), None) => (
                true,
                format!("from VNet {} to an address outside Azure", s.vnets[a].name),
            ),
            (None, Some(b)) => (
                true,
                format!(
                    "from outside Azure into VNet {} (NSGs see private addresses after NAT)",
                    s.vnets[b].name
                ),
            ),
            (Some(a), Some(b)) if a == b => (true, format!("within VNet {}", s.vnets[a].name)),
            (Some(a), Some(b)) if self.policy.vnets[a].links.contains(&b) => (
                true,
                format!(
                    "VNet {} and VNet {} are peered or connected",
                    s.vnets[a].name, s.vnets[b].name
                ),
            ),
            (Some(a), Some(b)) => (false, unlinked(&s.vnets[a], &s.vnets[b])),
        };
        self.stages.push(Stage::path(reachable, reason));
        reachable
    }
}

/// Why two VNets have no path. In two regions, a connectivity configuration that holds
/// both may exist but be regional (SEMANTICS §4.2: "regional unless global"), which the
/// reason must not deny.
fn unlinked(a: &crate::model::VirtualNetwork, b: &crate::model::VirtualNetwork) -> String {
    let regions = if a.location.eq_ignore_ascii_case(&b.location) {
        String::new()
    } else {
        format!(
            " (they are in {} and {}: a configuration joins them only if it is global)",
            a.location, b.location
        )
    };
    format!(
        "VNet {} and VNet {} are neither peered (Connected on both sides) nor in a deployed connected group or hub-and-spoke{regions}; peering is not transitive",
        a.name, b.name
    )
}

/// What one side did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SideResult {
    Deny,
    AlwaysAllow,
    Pass,
    Unknown,
}

impl SideResult {
    /// What a stage's outcome means for the rest of its side.
    fn of(outcome: Outcome) -> SideResult {
        match outcome {
            Outcome::Deny => SideResult::Deny,
            Outcome::AlwaysAllow => SideResult::AlwaysAllow,
            Outcome::Unknown => SideResult::Unknown,
            _ => SideResult::Pass,
        }
    }
}
