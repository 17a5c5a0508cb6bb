//! The compiled engine: every rule table of a [`Policy`] turned into lookup tables, and the
//! walk of [`eval::explain`](crate::eval::explain) redone without traces or allocation.
//!
//! Why two engines: the reference evaluator in [`eval`](crate::eval) is a linear scan that
//! can be read against SEMANTICS.md line by line and explains every rule it consulted; it
//! costs time proportional to the number of rules on the path. Replaying flow logs or
//! auditing millions of flows needs a cost that does not grow with the rule count, so
//! [`CompiledPolicy::new`] builds, once, a [`CompiledTable`] per enforcement point and
//! direction (see [`table`] for its decision-tree and field-decomposition designs) plus
//! indexes to place endpoints, and [`CompiledPolicy::decide`] answers with the same
//! [`Decided`] as [`eval::decide`](crate::eval::decide) — verdict, layer, side and deciding
//! rule — for every flow and pin, errors included. `tests/differential.rs` holds the two to that.
//!
//! A `CompiledPolicy` borrows its `Policy` and is immutable after construction, so it is
//! `Sync`: share one `&CompiledPolicy` across threads ([`CompiledPolicy::decide_par`]).
//! Compiling cannot fail: a `Policy` that was built is valid input.

mod bits;
mod place;
pub mod table;
mod tree;

use crate::error::Result;
use crate::eval::locate::EndpointKind;
use crate::eval::matching::EndpointAsgs;
use crate::eval::{Decided, Layer, Pins, Side, Verdict};
use crate::flow::Flow;
use crate::model::{Access, Direction, ResourceId};
use crate::options::{AlwaysAllowScope, NoNsg};
use crate::resolve::{AdminPoint, Policy, ResolvedRule, RuleSource};
use place::{Locator, Place};
use rayon::prelude::*;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::time::{Duration, Instant};
pub use table::CompiledTable;

/// Flows per task in [`CompiledPolicy::decide_par`]: large enough to amortise scheduling.
const PAR_CHUNK: usize = 1024;

/// One direction of one enforcement point: its rules in evaluation order and their table.
#[derive(Debug)]
struct Directed<'p> {
    rules: Vec<&'p ResolvedRule>,
    /// What each rule does, beside the table: the walk reads it for every match, and
    /// reading it through the rule cost a cache miss a match (the rule's struct is large
    /// and cold).
    outcomes: Vec<Outcome>,
    table: CompiledTable,
}

/// What the walk needs of a matched rule, copied out of it.
#[derive(Clone, Debug)]
struct Outcome {
    access: Access,
    /// Admin or NSG, from the rule's source.
    layer: Layer,
    /// The rule's id, for a decision it denies.
    id: ResourceId,
}

impl<'p> Directed<'p> {
    fn new(policy: &Policy, rules: &'p [ResolvedRule], direction: Direction) -> Directed<'p> {
        let rules: Vec<&ResolvedRule> = rules
            .iter()
            .filter(|r| r.rule.direction == direction)
            .collect();
        let outcomes = rules
            .iter()
            .map(|r| Outcome {
                access: r.rule.access,
                layer: match r.source {
                    RuleSource::Admin { .. } => Layer::Admin,
                    RuleSource::Nsg { .. } => Layer::Nsg,
                },
                id: r.rule.id.clone(),
            })
            .collect();
        let table = CompiledTable::build(&rules, policy.options.any_protocol);
        Directed {
            rules,
            outcomes,
            table,
        }
    }

    /// The first matching rule and what it does (the rule itself is not read).
    fn first_match(&self, flow: &Flow, asgs: EndpointAsgs) -> Option<(&'p ResolvedRule, &Outcome)> {
        let at = self.table.first_match(flow, asgs)?;
        Some((*self.rules.get(at)?, self.outcomes.get(at)?))
    }
}

/// Both directions of one rule list.
#[derive(Debug)]
struct Directions<'p> {
    outbound: Directed<'p>,
    inbound: Directed<'p>,
}

impl<'p> Directions<'p> {
    fn new(policy: &Policy, rules: &'p [ResolvedRule]) -> Directions<'p> {
        Directions {
            outbound: Directed::new(policy, rules, Direction::Outbound),
            inbound: Directed::new(policy, rules, Direction::Inbound),
        }
    }

    /// The source side filters outbound, the destination side inbound.
    fn of(&self, side: Side) -> &Directed<'p> {
        match side {
            Side::Source => &self.outbound,
            Side::Destination => &self.inbound,
        }
    }

    fn each(&self) -> [&Directed<'p>; 2] {
        [&self.outbound, &self.inbound]
    }
}

/// A compiled admin point.
#[derive(Debug)]
struct Admin<'p> {
    rules: Directions<'p>,
    /// §2.5: admin rules don't apply here.
    exempt: bool,
}

impl<'p> Admin<'p> {
    fn new(policy: &Policy, point: &'p AdminPoint) -> Admin<'p> {
        Admin {
            rules: Directions::new(policy, &point.rules),
            exempt: point.exempt.is_some(),
        }
    }
}

/// What compiling produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Rules over all tables (a rule enforced at several points counts at each).
    pub rules: usize,
    /// Tables (one per enforcement point and direction).
    pub tables: usize,
    /// Distinct rule bit-vectors over all tables.
    pub vectors: usize,
    /// Bytes of the tables and endpoint indexes.
    pub bytes: usize,
    /// Wall-clock time [`CompiledPolicy::new`] took.
    pub compile_time: Duration,
}

/// A [`Policy`] compiled for fast, allocation-free decisions; see the module documentation.
#[derive(Debug)]
pub struct CompiledPolicy<'p> {
    policy: &'p Policy,
    locator: Locator<'p>,
    /// Per subnet (same index as `Snapshot::subnets`).
    subnet_admin: Vec<Admin<'p>>,
    /// Per VNet, for its addresses in no subnet.
    vnet_admin: Vec<Admin<'p>>,
    /// One per `Policy::nsg_rules` entry.
    nsgs: Vec<Directions<'p>>,
    /// Per subnet (same index as `Snapshot::subnets`).
    subnets: Vec<SubnetPoint>,
    /// Per NIC (same index as `Snapshot::nics`).
    nics: Vec<NicPoint>,
    stats: CompileStats,
}

/// What the walk reads of a subnet: a few bytes instead of the snapshot's record, whose
/// fields lie on cache lines a decision otherwise touches for nothing else.
#[derive(Debug)]
struct SubnetPoint {
    /// An NSG is attached (`Subnet::nsg` is set).
    has_nsg: bool,
    /// Its NSG's entry in `nsgs`.
    nsg: Option<usize>,
}

/// What the walk reads of a NIC (see [`SubnetPoint`] for why it is copied out).
#[derive(Debug)]
struct NicPoint {
    /// An NSG is attached (`NetworkInterface::nsg` is set).
    has_nsg: bool,
    /// `NetworkInterface::private_endpoint`.
    private_endpoint: bool,
    /// `NetworkInterface::standard_public_ip`.
    standard_public_ip: bool,
    /// `(VNet, its NSG's entry in nsgs for that VNet)`.
    nsgs: SmallVec<[(usize, usize); 1]>,
}

impl<'p> CompiledPolicy<'p> {
    /// Compiles every admin point and every NSG of `policy`, per direction, in parallel.
    pub fn new(policy: &'p Policy) -> CompiledPolicy<'p> {
        let started = Instant::now();
        let s = &policy.snapshot;
        let subnet_admin: Vec<Admin> = policy
            .subnet_admin
            .par_iter()
            .map(|point| Admin::new(policy, point))
            .collect();
        let vnet_admin: Vec<Admin> = policy
            .vnets
            .par_iter()
            .map(|v| Admin::new(policy, &v.admin))
            .collect();
        let mut keys: Vec<&(usize, usize)> = policy.nsg_rules.keys().collect();
        keys.sort_unstable();
        let nsgs: Vec<Directions> = keys
            .par_iter()
            .map(|key| {
                Directions::new(policy, policy.nsg_rules.get(key).map_or(&[], Vec::as_slice))
            })
            .collect();
        let at: HashMap<(usize, usize), usize> =
            keys.iter().enumerate().map(|(i, &&k)| (k, i)).collect();
        let subnets = s
            .subnets
            .iter()
            .map(|sub| SubnetPoint {
                has_nsg: sub.nsg.is_some(),
                nsg: sub.nsg.and_then(|n| at.get(&(n, sub.vnet)).copied()),
            })
            .collect();
        let nics = s
            .nics
            .iter()
            .map(|nic| {
                let mut nsgs: SmallVec<[(usize, usize); 1]> = SmallVec::new();
                let vnets = nic
                    .ip_configs
                    .iter()
                    .filter_map(|c| s.subnets.get(c.subnet));
                for v in vnets.map(|x| x.vnet).filter(|_| nic.nsg.is_some()) {
                    if let Some(&i) = nic.nsg.and_then(|n| at.get(&(n, v))) {
                        if !nsgs.iter().any(|o| o.0 == v) {
                            nsgs.push((v, i));
                        }
                    }
                }
                NicPoint {
                    has_nsg: nic.nsg.is_some(),
                    private_endpoint: nic.private_endpoint,
                    standard_public_ip: nic.standard_public_ip,
                    nsgs,
                }
            })
            .collect();
        let locator = Locator::new(s);
        let mut compiled = CompiledPolicy {
            policy,
            locator,
            subnet_admin,
            vnet_admin,
            nsgs,
            subnets,
            nics,
            stats: CompileStats::default(),
        };
        compiled.stats = compiled.measure(started.elapsed());
        compiled
    }

    fn measure(&self, compile_time: Duration) -> CompileStats {
        let admin = self
            .subnet_admin
            .iter()
            .chain(&self.vnet_admin)
            .map(|a| &a.rules);
        let tables: Vec<&Directed> = admin.chain(&self.nsgs).flat_map(Directions::each).collect();
        CompileStats {
            rules: tables.iter().map(|t| t.rules.len()).sum(),
            tables: tables.len(),
            vectors: tables.iter().map(|t| t.table.distinct_vectors()).sum(),
            bytes: tables
                .iter()
                .map(|t| {
                    t.table.bytes()
                        + t.rules.capacity() * std::mem::size_of::<usize>()
                        + t.outcomes.capacity() * std::mem::size_of::<Outcome>()
                })
                .sum::<usize>()
                + self.locator.bytes(),
            compile_time,
        }
    }

    /// The policy compiled.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// What compiling produced.
    pub fn stats(&self) -> &CompileStats {
        &self.stats
    }

    /// The same answer as [`eval::decide`](crate::eval::decide)`(policy, flow, pins)`.
    /// Allocates only for a denying rule's id in the answer and for errors.
    pub fn decide(&self, flow: &Flow, pins: &Pins) -> Result<Decided> {
        self.decide_recording(flow, pins, &mut ())
    }

    /// [`decide`](Self::decide), also handing `hits` every rule that matched on the walk, in
    /// walk order: the admin and NSG rules that admitted the flow, then the one that denied
    /// it (the rules `explain` lists as `allowed_by` and `decided_by`). Replay counts them.
    pub fn decide_recording(
        &self,
        flow: &Flow,
        pins: &Pins,
        hits: &mut impl RuleSink<'p>,
    ) -> Result<Decided> {
        let src = self
            .locator
            .locate(flow.src, pins.from.as_ref(), "source")?;
        let dst = self
            .locator
            .locate(flow.dst, pins.to.as_ref(), "destination")?;
        let mut walk = Walk {
            compiled: self,
            flow,
            src,
            dst,
            hits,
        };
        Ok(walk.run())
    }

    /// Decides each flow (unpinned) into `out`, which is cleared first; `out[i]` answers
    /// `flows[i]`.
    pub fn decide_batch(&self, flows: &[Flow], out: &mut Vec<Result<Decided>>) {
        let none = Pins::default();
        out.clear();
        out.reserve(flows.len());
        out.extend(flows.iter().map(|f| self.decide(f, &none)));
    }

    /// [`decide_batch`](Self::decide_batch) on rayon's thread pool, in chunks of flows;
    /// `out[i]` still answers `flows[i]`.
    pub fn decide_par(&self, flows: &[Flow], out: &mut Vec<Result<Decided>>) {
        let none = Pins::default();
        out.clear();
        out.par_extend(
            flows
                .par_chunks(PAR_CHUNK)
                .flat_map_iter(|chunk| chunk.iter().map(|f| self.decide(f, &none))),
        );
    }
}

/// Where [`CompiledPolicy::decide_recording`] puts the rules that matched. `()` discards
/// them, so plain [`CompiledPolicy::decide`] pays nothing for the option.
pub trait RuleSink<'p> {
    /// A rule matched at a point on the walk and acted (admitted or denied).
    fn matched(&mut self, rule: &'p ResolvedRule);
}

impl<'p> RuleSink<'p> for () {
    #[inline(always)]
    fn matched(&mut self, _: &'p ResolvedRule) {}
}

impl<'p, A: smallvec::Array<Item = &'p ResolvedRule>> RuleSink<'p> for SmallVec<A> {
    fn matched(&mut self, rule: &'p ResolvedRule) {
        self.push(rule);
    }
}

/// What one side did.
enum SideResult<'c> {
    Pass,
    AlwaysAllow,
    Deny(Denial<'c>),
}

/// Why a flow was denied.
enum Denial<'c> {
    /// A rule, on a side.
    Rule(&'c Outcome, Side),
    /// D7 `--no-nsg=deny`: this NIC's Standard public IP is closed without an NSG.
    ClosedPublicIp(usize),
}

/// One flow's walk, mirroring `eval`'s `Walk::run` step for step.
struct Walk<'c, 'p, H> {
    compiled: &'c CompiledPolicy<'p>,
    flow: &'c Flow,
    src: Place<'p>,
    dst: Place<'p>,
    hits: &'c mut H,
}

impl<'c, 'p, H: RuleSink<'p>> Walk<'c, 'p, H> {
    /// Source outbound, path, destination inbound; the first deny ends the walk.
    fn run(&mut self) -> Decided {
        let mut source_always_allow = false;
        if self.src.vnet.is_some() {
            match self.side(Side::Source, false) {
                SideResult::Deny(d) => return self.denied(d),
                SideResult::AlwaysAllow => source_always_allow = true,
                SideResult::Pass => {}
            }
        }
        if !self.path() {
            return Decided {
                verdict: Verdict::NoPath,
                layer: Some(Layer::Path),
                side: None,
                resource: None,
            };
        }
        if self.dst.vnet.is_some() {
            let skip = source_always_allow
                && self.compiled.policy.options.always_allow_scope == AlwaysAllowScope::Path;
            if let SideResult::Deny(d) = self.side(Side::Destination, skip) {
                return self.denied(d);
            }
        }
        Decided {
            verdict: Verdict::Allow,
            layer: None,
            side: None,
            resource: None,
        }
    }

    fn denied(&self, denial: Denial<'c>) -> Decided {
        let (layer, side, resource) = match denial {
            Denial::Rule(outcome, side) => (outcome.layer, side, Some(outcome.id.clone())),
            Denial::ClosedPublicIp(nic) => (
                Layer::Nsg,
                Side::Destination,
                self.compiled
                    .policy
                    .snapshot
                    .nics
                    .get(nic)
                    .map(|n| n.id.clone()),
            ),
        };
        Decided {
            verdict: Verdict::Deny,
            layer: Some(layer),
            side: Some(side),
            resource,
        }
    }

    fn place(&self, side: Side) -> &Place<'p> {
        match side {
            Side::Source => &self.src,
            Side::Destination => &self.dst,
        }
    }

    fn asgs(&self) -> EndpointAsgs<'p> {
        EndpointAsgs {
            src: self.src.asgs,
            dst: self.dst.asgs,
        }
    }

    /// One side: admin rules, then the NSGs in this side's order unless skipped.
    fn side(&mut self, side: Side, skip_nsgs_by_source: bool) -> SideResult<'c> {
        match self.admin(side) {
            SideResult::Pass if !skip_nsgs_by_source => {}
            decided => return decided,
        }
        let c = self.compiled;
        let place = self.place(side);
        let nic = place.nic.and_then(|n| c.nics.get(n));
        let subnet = place.subnet.and_then(|x| c.subnets.get(x));
        let nic_has_nsg = nic.is_some_and(|n| n.has_nsg);
        let subnet_has_nsg = subnet.is_some_and(|x| x.has_nsg);
        if side == Side::Destination
            && c.policy.options.no_nsg == NoNsg::Deny
            && self.src.kind == EndpointKind::Internet
            && nic.is_some_and(|n| n.standard_public_ip)
            && !nic_has_nsg
            && !subnet_has_nsg
        {
            if let Some(n) = place.nic {
                return SideResult::Deny(Denial::ClosedPublicIp(n));
            }
        }
        let nic_level = nic.filter(|n| n.has_nsg).and_then(|n| {
            let v = place.vnet?;
            n.nsgs.iter().find(|e| e.0 == v).map(|e| e.1)
        });
        let subnet_level = subnet.filter(|x| x.has_nsg).and_then(|x| x.nsg);
        let levels = match side {
            Side::Source => [nic_level, subnet_level],
            Side::Destination => [subnet_level, nic_level],
        };
        for nsg in levels.into_iter().flatten() {
            let hit = c
                .nsgs
                .get(nsg)
                .and_then(|t| t.of(side).first_match(self.flow, self.asgs()));
            if let Some((rule, outcome)) = hit {
                self.hits.matched(rule);
                if outcome.access == Access::Deny {
                    return SideResult::Deny(Denial::Rule(outcome, side));
                }
            }
        }
        SideResult::Pass
    }

    /// The admin rules of this side's VNet (or subnet) in this side's direction.
    fn admin(&mut self, side: Side) -> SideResult<'c> {
        let place = self.place(side);
        let c = self.compiled;
        let point = match (place.subnet, place.vnet) {
            (Some(s), _) => c.subnet_admin.get(s),
            (None, Some(v)) => c.vnet_admin.get(v),
            (None, None) => None,
        };
        let Some(point) = point else {
            return SideResult::Pass;
        };
        let private_endpoint = place
            .nic
            .and_then(|n| c.nics.get(n))
            .is_some_and(|n| n.private_endpoint);
        if point.exempt || private_endpoint {
            return SideResult::Pass;
        }
        let Some((rule, outcome)) = point.rules.of(side).first_match(self.flow, self.asgs()) else {
            return SideResult::Pass;
        };
        self.hits.matched(rule);
        match outcome.access {
            Access::Deny => SideResult::Deny(Denial::Rule(outcome, side)),
            Access::AlwaysAllow => SideResult::AlwaysAllow,
            Access::Allow => SideResult::Pass,
        }
    }

    /// Can the packet get from the source's network to the destination's?
    fn path(&self) -> bool {
        match (self.src.vnet, self.dst.vnet) {
            (None, None) => false,
            (Some(_), None) | (None, Some(_)) => true,
            (Some(a), Some(b)) => {
                a == b
                    || self
                        .compiled
                        .policy
                        .vnets
                        .get(a)
                        .is_some_and(|v| v.links.contains(&b))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_policy_is_shareable() {
        fn sync<T: Sync + Send>() {}
        sync::<CompiledPolicy<'static>>();
    }
}
