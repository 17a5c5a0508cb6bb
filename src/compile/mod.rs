//! The compiled engine: every rule table of a [`Policy`] turned into lookup tables, and the
//! walk of [`eval::explain`](crate::eval::explain) redone without traces or allocation.
//!
//! Why two engines: the reference evaluator in [`eval`](crate::eval) is a linear scan that
//! can be read against SEMANTICS.md line by line and explains every rule it consulted; it
//! costs time proportional to the number of rules on the path. Replaying flow logs or
//! auditing millions of flows needs a cost that does not grow with the rule count, so
//! [`CompiledPolicy::new`] builds, once, a [`CompiledTable`] per enforcement point and
//! direction (see [`table`] for its decision-tree and field-decomposition designs) — one
//! per NSG, shared by the VNets it is enforced in (module `local`), and one per distinct
//! admin rule list (`admin_points`) — plus indexes to place endpoints, and [`CompiledPolicy::decide`] answers with the same
//! [`Decided`] as [`eval::decide`](crate::eval::decide) — verdict, layer, side and deciding
//! rule — for every flow and pin, errors included. `tests/differential.rs` holds the two to that.
//!
//! Where a decision's time goes, on the enterprise snapshot of `benches/enterprise_gen.py`
//! (callgrind, 100,000 decisions): 1,290 instructions each, of which placing both ends ~200,
//! 1.9 table lookups ~560 (an admin tree ~160, an NSG's bit-vectors ~400: its templates name
//! the pseudo-ASGs, see module `local`), and the walk between them the rest. With one flow
//! repeated the rate is 7.3 M/s; over the trace's random flows 4 M/s, the NSG tables' 6.6 MiB
//! being more than a core's cache (a third of the bit-vector lookup's samples are its loads
//! of interval vectors). Measured and lost: placing a batch's eight flows first and
//! prefetching their NIC, subnet and admin records before walking them (3.9 → 3.5 M/s), and
//! trees keyed by ASG membership for the NSG tables (module `table`).
//!
//! A `CompiledPolicy` borrows its `Policy` and is immutable after construction, so it is
//! `Sync`: share one `&CompiledPolicy` across threads ([`CompiledPolicy::decide_par`]).
//! Compiling cannot fail: a `Policy` that was built is valid input.

mod bits;
mod forest;
mod local;
mod place;
pub mod table;
mod tree;

use crate::error::Result;
use crate::eval::matching::EndpointAsgs;
use crate::eval::{Decided, Layer, Pins, Side, Verdict};
use crate::flow::Flow;
use crate::model::{Access, Direction, ResourceId};
use crate::options::{AlwaysAllowScope, NoNsg};
use crate::resolve::{AdminPoint, NsgTemplate, Policy, ResolvedRule, RuleSource};
use local::{mark, LocalTagMap, Tagged};
use place::{Locator, Place};
use rayon::prelude::*;
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use table::CompiledTable;

/// Flows per task in [`CompiledPolicy::decide_par`]: large enough to amortise scheduling.
const PAR_CHUNK: usize = 1024;

/// One direction of one enforcement point: its rules in evaluation order and their
/// classifier, which NSG points share (see [`Classifier::local`]).
#[derive(Debug)]
struct Directed<'p> {
    rules: Vec<&'p ResolvedRule>,
    classifier: Arc<Classifier>,
    /// The tags of the VNet where a local classifier is enforced.
    here: Option<Arc<LocalTagMap>>,
}

/// A rule list compiled: what each rule does and the table.
#[derive(Debug)]
struct Classifier {
    /// What each rule does, beside the table: the walk reads it for every match, and
    /// reading it through the rule cost a cache miss a match (the rule's struct is large
    /// and cold).
    outcomes: Vec<Outcome>,
    table: CompiledTable,
    /// The table was built from an [`NsgTemplate`], its VNet-dependent tags left to the
    /// lookup (module [`local`]), and is shared by every VNet the NSG is enforced in.
    local: bool,
}

/// What the walk needs of a matched rule, copied out of it.
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    access: Access,
    /// Admin or NSG, from the rule's source.
    layer: Layer,
    /// The rule's id, for a decision it denies.
    id: ResourceId,
}

impl Outcome {
    fn of(rule: &ResolvedRule) -> Outcome {
        Outcome {
            access: rule.rule.access,
            layer: match rule.source {
                RuleSource::Admin { .. } => Layer::Admin,
                RuleSource::Nsg { .. } => Layer::Nsg,
            },
            id: rule.rule.id.clone(),
        }
    }
}

impl Classifier {
    /// Compiles `rules`, in evaluation order.
    fn new(policy: &Policy, rules: &[&ResolvedRule], local: bool) -> Classifier {
        let outcomes = rules.iter().map(|r| Outcome::of(r)).collect();
        Classifier {
            outcomes,
            table: CompiledTable::build(rules, policy.options.any_protocol),
            local,
        }
    }

    /// Compiles one direction of an NSG's template, its local tags as pseudo-ASGs.
    fn template(policy: &Policy, template: &NsgTemplate, direction: Direction) -> Classifier {
        let rules: Vec<ResolvedRule> = template
            .rules
            .iter()
            .zip(&template.local)
            .filter(|(r, _)| r.rule.direction == direction)
            .map(|(r, &[source, destination])| {
                let mut r = r.clone();
                mark(&mut r.sources.asgs, source);
                mark(&mut r.destinations.asgs, destination);
                r
            })
            .collect();
        Classifier::new(policy, &rules.iter().collect::<Vec<_>>(), true)
    }
}

/// The rules of `rules` in `direction`, in order.
fn directed(rules: &[ResolvedRule], direction: Direction) -> Vec<&ResolvedRule> {
    rules
        .iter()
        .filter(|r| r.rule.direction == direction)
        .collect()
}

impl<'p> Directed<'p> {
    /// The first matching rule and what it does (the rule itself is not read). A local
    /// classifier reads the endpoints' pseudo-ASGs from `tagged`, worked out there first
    /// unless they were for this VNet.
    fn first_match<'c>(
        &'c self,
        flow: &Flow,
        asgs: EndpointAsgs,
        tagged: &mut Option<Tagged<'c>>,
    ) -> Option<(&'p ResolvedRule, &'c Outcome)> {
        let c = &*self.classifier;
        let ends = match self.here.as_deref().filter(|_| c.local) {
            Some(here) => {
                let t = match *tagged {
                    Some(t) if t.at(here) => t,
                    _ => *tagged.insert(here.tagged(flow)),
                };
                t.ends(asgs)
            }
            None => asgs.into(),
        };
        let at = c.table.first_match_at(flow, ends)?;
        Some((*self.rules.get(at)?, c.outcomes.get(at)?))
    }
}

/// Both directions of one rule list.
#[derive(Debug)]
struct Directions<'p> {
    outbound: Directed<'p>,
    inbound: Directed<'p>,
}

impl<'p> Directions<'p> {
    /// An NSG's rules in VNet `here`, classified by the NSG's shared `[outbound, inbound]`.
    fn shared(
        rules: &'p [ResolvedRule],
        shared: &[Arc<Classifier>; 2],
        here: &Arc<LocalTagMap>,
    ) -> Directions<'p> {
        let [outbound, inbound] = shared;
        let one = |direction, classifier: &Arc<Classifier>| Directed {
            rules: directed(rules, direction),
            classifier: Arc::clone(classifier),
            here: Some(Arc::clone(here)),
        };
        Directions {
            outbound: one(Direction::Outbound, outbound),
            inbound: one(Direction::Inbound, inbound),
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

/// Compiles `points`, each distinct rule list once (see [`Distinct`]): the subnets of a
/// VNet mostly enforce the same admin rules, and where `VirtualNetwork` is not named and
/// `Internet` is the same, so do VNets (on the enterprise snapshot, 500 tables become 2).
fn admin_points<'p>(policy: &Policy, points: &[&'p AdminPoint]) -> Vec<Admin<'p>> {
    let mut distinct = Distinct::default();
    let lists: Vec<[(Vec<&ResolvedRule>, usize); 2]> = points
        .iter()
        .map(|p| {
            [Direction::Outbound, Direction::Inbound].map(|d| {
                let rules = directed(&p.rules, d);
                let at = distinct.intern(&rules);
                (rules, at)
            })
        })
        .collect();
    let classifiers: Vec<Arc<Classifier>> = distinct
        .lists
        .par_iter()
        .map(|rules| Arc::new(Classifier::new(policy, rules, false)))
        .collect();
    let directed = |(rules, at): (Vec<&'p ResolvedRule>, usize)| Directed {
        rules,
        // `at` indexes `distinct.lists`, which `classifiers` follows.
        classifier: Arc::clone(&classifiers[at]),
        here: None,
    };
    lists
        .into_iter()
        .zip(points)
        .map(|([outbound, inbound], point)| Admin {
            rules: Directions {
                outbound: directed(outbound),
                inbound: directed(inbound),
            },
            exempt: point.exempt.is_some(),
        })
        .collect()
}

/// Rule lists that compile to the same classifier, kept once.
#[derive(Default)]
struct Distinct<'p> {
    lists: Vec<Vec<&'p ResolvedRule>>,
    /// Indexes in `lists` by the lists' rule ids (lists alike in ids may still differ in
    /// what their tags expanded to).
    by_ids: HashMap<Vec<&'p ResourceId>, SmallVec<[usize; 1]>>,
}

impl<'p> Distinct<'p> {
    /// The index of the list that compiles like `rules`, added when there is none.
    fn intern(&mut self, rules: &[&'p ResolvedRule]) -> usize {
        let ids = rules.iter().map(|r| &r.rule.id).collect();
        let same = self.by_ids.entry(ids).or_default();
        let found = same.iter().copied().find(|&at| {
            self.lists.get(at).is_some_and(|list| {
                list.len() == rules.len() && list.iter().zip(rules).all(|(a, b)| same_match(a, b))
            })
        });
        found.unwrap_or_else(|| {
            self.lists.push(rules.to_vec());
            same.push(self.lists.len() - 1);
            self.lists.len() - 1
        })
    }
}

/// `a` and `b` match the same flows and do the same to them: all a [`Classifier`] reads.
fn same_match(a: &ResolvedRule, b: &ResolvedRule) -> bool {
    Outcome::of(a) == Outcome::of(b)
        && a.rule.fields.protocol == b.rule.fields.protocol
        && a.sources.set == b.sources.set
        && a.sources.asgs == b.sources.asgs
        && a.source_ports == b.source_ports
        && a.destinations.set == b.destinations.set
        && a.destinations.asgs == b.destinations.asgs
        && a.destination_ports == b.destination_ports
}

/// What compiling produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Rules over all tables (a rule enforced at several points counts at each).
    pub rules: usize,
    /// Tables (one per enforcement point and direction).
    pub tables: usize,
    /// Tables compiled: points and directions whose rules match alike share one (an NSG's
    /// in every VNet it is enforced in, admin points with the same rules).
    pub distinct_tables: usize,
    /// Distinct rule bit-vectors over the distinct tables.
    pub vectors: usize,
    /// Bytes of the distinct tables, each point's rule references and the endpoint indexes.
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
        let points: Vec<&AdminPoint> = policy
            .subnet_admin
            .iter()
            .chain(policy.vnets.iter().map(|v| &v.admin))
            .collect();
        let mut subnet_admin = admin_points(policy, &points);
        let vnet_admin = subnet_admin.split_off(policy.subnet_admin.len());
        let shared = shared_nsgs(policy);
        let here: Vec<Arc<LocalTagMap>> = policy
            .vnets
            .iter()
            .map(|v| Arc::new(LocalTagMap::new(v)))
            .collect();
        let mut points: Vec<((usize, usize), Directions)> = policy
            .nsg_rules
            .iter()
            .filter_map(|(&(nsg, v), rules)| {
                let here = here.get(v)?;
                Some(((nsg, v), Directions::shared(rules, shared.get(&nsg)?, here)))
            })
            .collect();
        points.sort_unstable_by_key(|p| p.0);
        let at: HashMap<(usize, usize), usize> =
            points.iter().enumerate().map(|(i, p)| (p.0, i)).collect();
        let nsgs: Vec<Directions> = points.into_iter().map(|p| p.1).collect();
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
        let points: Vec<&Directed> = admin.chain(&self.nsgs).flat_map(Directions::each).collect();
        let mut seen = HashSet::new();
        let classifiers: Vec<&Classifier> = points
            .iter()
            .map(|p| &*p.classifier)
            .filter(|&c| seen.insert(std::ptr::from_ref(c)))
            .collect();
        let references: usize = points
            .iter()
            .map(|p| p.rules.capacity() * std::mem::size_of::<usize>())
            .sum();
        CompileStats {
            rules: points.iter().map(|p| p.rules.len()).sum(),
            tables: points.len(),
            distinct_tables: classifiers.len(),
            vectors: classifiers.iter().map(|c| c.table.distinct_vectors()).sum(),
            bytes: classifiers
                .iter()
                .map(|c| c.table.bytes() + c.outcomes.capacity() * std::mem::size_of::<Outcome>())
                .sum::<usize>()
                + references
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

/// Per NSG enforced somewhere, its `[outbound, inbound]` classifiers, compiled in parallel
/// from its template.
fn shared_nsgs(policy: &Policy) -> HashMap<usize, [Arc<Classifier>; 2]> {
    let templates: Vec<(&usize, &NsgTemplate)> = policy.nsg_templates.iter().collect();
    templates
        .par_iter()
        .map(|&(&nsg, template)| {
            let one = |d| Arc::new(Classifier::template(policy, template, d));
            (nsg, [one(Direction::Outbound), one(Direction::Inbound)])
        })
        .collect()
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
            && self.src.kind.outside_azure()
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
        let mut tagged = None;
        for nsg in levels.into_iter().flatten() {
            let hit = c
                .nsgs
                .get(nsg)
                .and_then(|t| t.of(side).first_match(self.flow, self.asgs(), &mut tagged));
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
        let hit = point
            .rules
            .of(side)
            .first_match(self.flow, self.asgs(), &mut None);
        let Some((rule, outcome)) = hit else {
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

    /// Two peered VNets, one NSG on a subnet of each, naming both VNet-dependent tags.
    const SHARED_NSG: &str = "
subscription 00000000-0000-0000-0000-000000000001 name sub tenant 00000000-0000-0000-0000-0000000000aa {
  resource-group rg {
    vnet vnet-a region westeurope {
      address-space 10.1.0.0/16
      subnet snet-a prefix 10.1.0.0/24 nsg nsg-shared
      peering to vnet-b
    }
    vnet vnet-b region westeurope {
      address-space 10.2.0.0/16
      subnet snet-b prefix 10.2.0.0/24 nsg nsg-shared
      peering to vnet-a
    }
    vnet vnet-c region westeurope {
      address-space 10.3.0.0/16
      subnet snet-c prefix 10.3.0.0/24 nsg nsg-shared
    }
    nsg nsg-shared {
      inbound 100 allow tcp from VirtualNetwork to * ports 22 name Allow-Ssh-VNet
      inbound 110 deny tcp from Internet to * ports 22 name Deny-Ssh-Internet
      inbound 120 allow tcp from * to * ports 22 name Allow-Ssh-Other
      outbound 100 deny tcp to Internet ports 25 name Deny-Smtp-Out
    }
    nic nic-a ip 10.1.0.4 subnet snet-a
    nic nic-b ip 10.2.0.4 subnet snet-b
    nic nic-c ip 10.3.0.4 subnet snet-c
  }
}
";

    #[test]
    fn an_nsg_in_several_vnets_is_one_table_and_decides_as_the_reference() {
        let texts = [(
            std::path::PathBuf::from("shared.secpath"),
            SHARED_NSG.to_string(),
        )];
        let snapshot = crate::load::load_texts(&texts).unwrap();
        let tags = crate::resolve::tags::ServiceTags::none();
        let policy = Policy::build(snapshot, crate::options::Options::default(), &tags).unwrap();
        let compiled = CompiledPolicy::new(&policy);
        assert_eq!(compiled.nsgs.len(), 3);
        for pair in compiled.nsgs.windows(2) {
            if let [a, b] = pair {
                assert!(Arc::ptr_eq(&a.inbound.classifier, &b.inbound.classifier));
                assert!(Arc::ptr_eq(&a.outbound.classifier, &b.outbound.classifier));
            }
        }
        let stats = compiled.stats();
        assert_eq!(stats.tables, 2 * (3 + 3 + 3));
        assert_eq!(stats.rules, policy.enforced_rules());
        assert!(stats.distinct_tables < stats.tables);
        let cases = [
            ("tcp 10.1.0.4:5000 -> 10.2.0.4:22", Verdict::Allow),
            ("tcp 10.2.0.4:5000 -> 10.1.0.4:22", Verdict::Allow),
            ("tcp 203.0.113.5:5000 -> 10.1.0.4:22", Verdict::Deny),
            ("tcp 203.0.113.5:5000 -> 10.3.0.4:22", Verdict::Deny),
            ("tcp 192.168.1.1:5000 -> 10.2.0.4:22", Verdict::Allow),
            ("tcp 10.3.0.4:5000 -> 10.3.0.5:22", Verdict::Allow),
            ("tcp 10.1.0.4:5000 -> 198.51.100.1:25", Verdict::Deny),
            ("tcp 10.1.0.4:5000 -> 10.2.0.4:25", Verdict::Allow),
            // Outside `VirtualNetwork` at vnet-a: the default DenyAllOutBound.
            ("tcp 10.1.0.4:5000 -> 10.3.0.4:22", Verdict::Deny),
        ];
        let none = Pins::default();
        for (text, verdict) in cases {
            let flow = Flow::parse(text).unwrap();
            let want = crate::eval::decide(&policy, &flow, &none).unwrap();
            assert_eq!(want.verdict, verdict, "{text}");
            assert_eq!(compiled.decide(&flow, &none).unwrap(), want, "{text}");
        }
    }
}
