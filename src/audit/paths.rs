//! The symbolic walk: SEMANTICS §4 applied to whole zones at once.
//!
//! For each zone, each side is evaluated once over every flow that starts (source side)
//! or ends (destination side) there: the admin rules first, then the NSGs in the side's
//! order, each a first-match partition of the flows still alive. The result is, per side,
//! the flows each rule denies and the flows an AlwaysAllow admits. A (source zone,
//! destination zone) pair then combines the two sides and the path exactly as
//! `eval::Walk::run` does: a source deny, else no path, else a destination deny (with
//! D5's `path` scope letting a source AlwaysAllow skip the destination NSGs), else allow.
//! The classes are keyed by [`Decided`], the key engines are compared on, so a witness's
//! class can be checked against `eval::decide` directly.
//!
//! A rule a plan does not know in full ends the walk like a deny, as in `eval`, but its
//! flows are `unknown`: they are kept apart in the `unknown` sets.

use super::spaces::Spaces;
use super::zones::{zones, Zone};
use crate::eval::{Decided, Layer, Side, Verdict};
use crate::flowspace::FlowSet;
use crate::model::{Access, AddrSet, Direction, ResourceId};
use crate::options::{AlwaysAllowScope, NoNsg};
use crate::resolve::{Policy, ResolvedRule};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// What one side does to the flows of one zone.
#[derive(Clone, Debug)]
pub(crate) struct SideSets {
    /// Flows denied or left unknown, by deciding rule.
    pub denies: Vec<(Decided, FlowSet)>,
    /// Their union.
    pub deny_all: FlowSet,
    /// The part of `deny_all` that is unknown.
    pub unknown_all: FlowSet,
    /// Flows the admin rules alone deny or leave unknown (the destination side when D5
    /// `path` skips its NSGs).
    pub admin_denies: Vec<(Decided, FlowSet)>,
    /// Their union.
    pub admin_deny_all: FlowSet,
    /// The part of `admin_deny_all` that is unknown.
    pub admin_unknown_all: FlowSet,
    /// Flows an admin AlwaysAllow admits.
    pub always_allow: FlowSet,
}

/// The verdict sets of a zone pair.
#[derive(Clone, Debug)]
pub(crate) struct Verdicts {
    pub allow: FlowSet,
    pub deny: FlowSet,
    pub no_path: FlowSet,
    pub unknown: FlowSet,
}

/// A policy ready for symbolic walks: its zones and each zone's sides, computed lazily.
pub(crate) struct Engine<'p> {
    pub spaces: Spaces<'p>,
    pub zones: Vec<Zone>,
    sources: RefCell<HashMap<usize, Rc<SideSets>>>,
    destinations: RefCell<HashMap<usize, Rc<SideSets>>>,
}

impl<'p> Engine<'p> {
    pub fn new(policy: &'p Policy) -> Engine<'p> {
        Engine {
            spaces: Spaces::new(policy),
            zones: zones(&policy.snapshot),
            sources: RefCell::new(HashMap::new()),
            destinations: RefCell::new(HashMap::new()),
        }
    }

    fn policy(&self) -> &'p Policy {
        self.spaces.policy
    }

    /// The addresses `locate` places outside Azure, Internet or on-premises (for D7).
    fn outside_azure(&self) -> AddrSet {
        self.zones
            .iter()
            .filter(|z| z.kind.outside_azure())
            .fold(AddrSet::new(), |mut acc, z| {
                acc.extend(&z.addrs);
                acc
            })
    }

    /// Zone `z`'s side `side`, when it is in a VNet.
    pub fn side(&self, z: usize, side: Side) -> Option<Rc<SideSets>> {
        self.zones[z].vnet?;
        let cache = match side {
            Side::Source => &self.sources,
            Side::Destination => &self.destinations,
        };
        if let Some(sets) = cache.borrow().get(&z) {
            return Some(Rc::clone(sets));
        }
        let sets = Rc::new(self.walk_side(&self.zones[z], side));
        cache.borrow_mut().insert(z, Rc::clone(&sets));
        Some(sets)
    }

    fn walk_side(&self, zone: &Zone, side: Side) -> SideSets {
        let (space, direction) = match side {
            Side::Source => (FlowSet::src_in(&zone.addrs), Direction::Outbound),
            Side::Destination => (FlowSet::dst_in(&zone.addrs), Direction::Inbound),
        };
        let mut w = SideWalk::new(self, zone, side, direction, space);
        w.admin();
        w.admin_denies = w.denies.clone();
        w.admin_deny_all = w.deny_all.clone();
        w.admin_unknown_all = w.unknown_all.clone();
        if side == Side::Destination {
            w.closed_public_ip(&self.outside_azure());
        }
        w.nsgs();
        w.finish()
    }

    /// True when `eval`'s path stage lets zone `a` reach zone `b`.
    pub fn reachable(&self, a: usize, b: usize) -> bool {
        match (self.zones[a].vnet, self.zones[b].vnet) {
            (Some(x), Some(y)) => x == y || self.policy().vnets[x].links.contains(&y),
            (None, None) => false,
            _ => true,
        }
    }

    fn path_scope(&self) -> bool {
        self.policy().options.always_allow_scope == AlwaysAllowScope::Path
    }

    /// The flows of `space` (from zone `s` to zone `d`) by verdict and deciding rule.
    pub fn classes(&self, s: usize, d: usize, space: &FlowSet) -> Vec<(Decided, FlowSet)> {
        let mut out = Vec::new();
        let mut alive = space.clone();
        let src = self.side(s, Side::Source);
        if let Some(src) = &src {
            push_parts(&mut out, &src.denies, space);
            alive = alive.minus(&src.deny_all);
        }
        if !self.reachable(s, d) {
            out.push((no_path(), alive));
            return merged(out);
        }
        let Some(dst) = self.side(d, Side::Destination) else {
            out.push((allow(), alive));
            return merged(out);
        };
        let (skip, normal) = self.split_skip(src.as_deref(), &alive);
        push_parts(&mut out, &dst.denies, &normal);
        push_parts(&mut out, &dst.admin_denies, &skip);
        let allowed = normal
            .minus(&dst.deny_all)
            .union(&skip.minus(&dst.admin_deny_all));
        out.push((allow(), allowed));
        merged(out)
    }

    /// The flows of `space` (from zone `s` to zone `d`) by verdict only: cheaper.
    pub fn verdicts(&self, s: usize, d: usize, space: &FlowSet) -> Verdicts {
        let src = self.side(s, Side::Source);
        let (src_deny, src_unknown) = src.as_ref().map_or_else(
            || (FlowSet::empty(), FlowSet::empty()),
            |x| (x.deny_all.intersect(space), x.unknown_all.intersect(space)),
        );
        let alive = space.minus(&src_deny);
        if !self.reachable(s, d) {
            return Verdicts {
                allow: FlowSet::empty(),
                deny: src_deny.minus(&src_unknown),
                no_path: alive,
                unknown: src_unknown,
            };
        }
        let (dst_deny, dst_unknown) = match self.side(d, Side::Destination) {
            None => (FlowSet::empty(), FlowSet::empty()),
            Some(dst) => {
                let (skip, normal) = self.split_skip(src.as_deref(), &alive);
                let ended = |all: &FlowSet, admin: &FlowSet| {
                    all.intersect(&normal).union(&admin.intersect(&skip))
                };
                (
                    ended(&dst.deny_all, &dst.admin_deny_all),
                    ended(&dst.unknown_all, &dst.admin_unknown_all),
                )
            }
        };
        let unknown = src_unknown.union(&dst_unknown);
        Verdicts {
            allow: alive.minus(&dst_deny),
            deny: src_deny.union(&dst_deny).minus(&unknown),
            no_path: FlowSet::empty(),
            unknown,
        }
    }

    /// D5: the flows whose destination NSGs a source AlwaysAllow skips, and the rest.
    fn split_skip(&self, src: Option<&SideSets>, alive: &FlowSet) -> (FlowSet, FlowSet) {
        match src {
            Some(src) if self.path_scope() => {
                let skip = alive.intersect(&src.always_allow);
                let normal = alive.minus(&skip);
                (skip, normal)
            }
            _ => (FlowSet::empty(), alive.clone()),
        }
    }
}

fn push_parts(out: &mut Vec<(Decided, FlowSet)>, parts: &[(Decided, FlowSet)], within: &FlowSet) {
    for (d, set) in parts {
        let part = set.intersect(within);
        if !part.is_empty() {
            out.push((d.clone(), part));
        }
    }
}

/// Joins the parts of one class and drops empty ones.
fn merged(parts: Vec<(Decided, FlowSet)>) -> Vec<(Decided, FlowSet)> {
    let mut out: Vec<(Decided, FlowSet)> = Vec::new();
    for (d, set) in parts.into_iter().filter(|(_, s)| !s.is_empty()) {
        match out.iter_mut().find(|(k, _)| *k == d) {
            Some((_, acc)) => *acc = acc.union(&set),
            None => out.push((d, set)),
        }
    }
    out
}

fn allow() -> Decided {
    Decided {
        verdict: Verdict::Allow,
        layer: None,
        side: None,
        resource: None,
    }
}

fn no_path() -> Decided {
    Decided {
        verdict: Verdict::NoPath,
        layer: Some(Layer::Path),
        side: None,
        resource: None,
    }
}

fn deny(layer: Layer, side: Side, resource: &ResourceId) -> Decided {
    decided(Verdict::Deny, layer, side, resource)
}

fn decided(verdict: Verdict, layer: Layer, side: Side, resource: &ResourceId) -> Decided {
    Decided {
        verdict,
        layer: Some(layer),
        side: Some(side),
        resource: Some(resource.clone()),
    }
}

/// One side of one zone, being walked.
struct SideWalk<'e, 'p> {
    engine: &'e Engine<'p>,
    zone: &'e Zone,
    side: Side,
    direction: Direction,
    alive: FlowSet,
    denies: Vec<(Decided, FlowSet)>,
    deny_all: FlowSet,
    unknown_all: FlowSet,
    admin_denies: Vec<(Decided, FlowSet)>,
    admin_deny_all: FlowSet,
    admin_unknown_all: FlowSet,
    always_allow: FlowSet,
}

impl<'e, 'p> SideWalk<'e, 'p> {
    fn new(
        engine: &'e Engine<'p>,
        zone: &'e Zone,
        side: Side,
        direction: Direction,
        space: FlowSet,
    ) -> Self {
        SideWalk {
            engine,
            zone,
            side,
            direction,
            alive: space,
            denies: Vec::new(),
            deny_all: FlowSet::empty(),
            unknown_all: FlowSet::empty(),
            admin_denies: Vec::new(),
            admin_deny_all: FlowSet::empty(),
            admin_unknown_all: FlowSet::empty(),
            always_allow: FlowSet::empty(),
        }
    }

    fn finish(self) -> SideSets {
        SideSets {
            denies: self.denies,
            deny_all: self.deny_all,
            unknown_all: self.unknown_all,
            admin_denies: self.admin_denies,
            admin_deny_all: self.admin_deny_all,
            admin_unknown_all: self.admin_unknown_all,
            always_allow: self.always_allow,
        }
    }

    fn deny(&mut self, decided: Decided, set: FlowSet) {
        self.alive = self.alive.minus(&set);
        self.deny_all = self.deny_all.union(&set);
        if decided.verdict == Verdict::Unknown {
            self.unknown_all = self.unknown_all.union(&set);
        }
        self.denies.push((decided, set));
    }

    /// A rule a plan does not know in full ends the walk for its flows, as `unknown`.
    fn stopped_unknown(&mut self, layer: Layer, rule: &ResolvedRule, hit: &FlowSet) -> bool {
        let p = self.engine.policy();
        if p.snapshot.unknown(&rule.rule.id).is_none() {
            return false;
        }
        let d = decided(Verdict::Unknown, layer, self.side, &rule.rule.id);
        self.deny(d, hit.clone());
        true
    }

    /// The admin stage, unless admin rules don't apply here (§2.5).
    fn admin(&mut self) {
        let p = self.engine.policy();
        let Some(v) = self.zone.vnet else { return };
        let point = match self.zone.subnet {
            Some(x) => &p.subnet_admin[x],
            None => &p.vnets[v].admin,
        };
        let private_endpoint = self
            .zone
            .nic
            .is_some_and(|n| p.snapshot.nics[n].private_endpoint);
        if point.exempt.is_some() || private_endpoint {
            return;
        }
        for (rule, hit) in self.first_match(v, &point.rules) {
            if self.stopped_unknown(Layer::Admin, rule, &hit) {
                continue;
            }
            match rule.rule.access {
                Access::Deny => self.deny(deny(Layer::Admin, self.side, &rule.rule.id), hit),
                Access::AlwaysAllow => {
                    self.alive = self.alive.minus(&hit);
                    self.always_allow = self.always_allow.union(&hit);
                }
                Access::Allow => {}
            }
        }
    }

    /// D7: the destination NIC's Standard public IP is closed to sources outside Azure
    /// without an NSG.
    fn closed_public_ip(&mut self, outside: &AddrSet) {
        let p = self.engine.policy();
        let Some(n) = self.zone.nic else { return };
        let nic = &p.snapshot.nics[n];
        let subnet_nsg = self.zone.subnet.and_then(|x| p.snapshot.subnets[x].nsg);
        if p.options.no_nsg == NoNsg::Deny
            && nic.standard_public_ip
            && nic.nsg.is_none()
            && subnet_nsg.is_none()
        {
            let closed = self.alive.intersect(&FlowSet::src_in(outside));
            self.deny(deny(Layer::Nsg, Side::Destination, &nic.id), closed);
        }
    }

    /// The NSG levels in this side's order, first match in each.
    fn nsgs(&mut self) {
        let p = self.engine.policy();
        let Some(v) = self.zone.vnet else { return };
        let nic_nsg = self.zone.nic.and_then(|n| p.snapshot.nics[n].nsg);
        let subnet_nsg = self.zone.subnet.and_then(|x| p.snapshot.subnets[x].nsg);
        let levels = match self.side {
            Side::Source => [nic_nsg, subnet_nsg],
            Side::Destination => [subnet_nsg, nic_nsg],
        };
        for nsg in levels.into_iter().flatten() {
            let Some(rules) = p.nsg_rules.get(&(nsg, v)) else {
                continue;
            };
            for (rule, hit) in self.first_match(v, rules) {
                if self.stopped_unknown(Layer::Nsg, rule, &hit) {
                    continue;
                }
                if rule.rule.access == Access::Deny {
                    self.deny(deny(Layer::Nsg, self.side, &rule.rule.id), hit);
                }
            }
        }
    }

    /// The first-match partition of the alive flows by `rules` of this side's direction.
    fn first_match(&self, v: usize, rules: &'p [ResolvedRule]) -> Vec<(&'p ResolvedRule, FlowSet)> {
        let mut rest = self.alive.clone();
        let mut out = Vec::new();
        for rule in rules.iter().filter(|r| r.rule.direction == self.direction) {
            if rest.is_empty() {
                break;
            }
            let hit = rest.intersect(&self.engine.spaces.rule(v, rule).set);
            if !hit.is_empty() {
                rest = rest.minus(&hit);
                out.push((rule, hit));
            }
        }
        out
    }
}
