//! The rule tables of a policy and what first-match order does to each rule in them:
//! shadowed (no flow reaches it) and redundant (removing it changes no verdict).
//!
//! A table is one enforcement point's rules in one direction, in evaluation order: an
//! NSG as resolved in one VNet (tags differ per VNet), or the admin rules of a subnet or
//! of a VNet's addresses outside subnets. Rule `i`'s *decided set* is its match set minus
//! the match sets of the rules before it; it is computed by subtracting, one at a time,
//! only the earlier rules whose cubes overlap rule `i`'s (most pairs of rules are disjoint
//! in some field, and the cube test costs no diagram operation). An empty decided set
//! means shadowed. Otherwise the decided set is walked down the later rules: if every
//! flow of it meets a later rule with the same effect (or falls off the end where that
//! has the same effect), the rule is redundant. Later rules of its effect that are
//! themselves shadowed do not count: of two rules alike, the later is the finding.

use super::spaces::Spaces;
use crate::flow::Flow;
use crate::flowspace::{FlowSet, RuleSpace};
use crate::model::{Access, AddrSet, Direction, ResourceId, Snapshot};
use crate::resolve::ResolvedRule;
use std::cell::OnceCell;
use std::collections::hash_map::{Entry, HashMap};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::OnceLock;

/// Where a table is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Point {
    /// An NSG, as resolved in a VNet.
    Nsg { nsg: usize, vnet: usize },
    /// The admin rules of a subnet.
    SubnetAdmin(usize),
    /// The admin rules of a VNet's addresses outside its subnets.
    VnetAdmin(usize),
}

/// One table: rules in evaluation order and their match sets.
pub(crate) struct Table<'p> {
    /// The first point enforcing it, which names it.
    pub point: Point,
    /// Every point of its VNet enforcing the same rules (the subnets of a VNet mostly
    /// share their admin rules): what the table sees is what they all guard.
    pub points: Vec<Point>,
    pub vnet: usize,
    pub direction: Direction,
    pub rules: Vec<&'p ResolvedRule>,
    pub spaces: Vec<Rc<RuleSpace>>,
    /// [`seen`](Self::seen), worked out on first use: each witness of the table's
    /// findings asks for it, and it costs a pass over every NIC.
    seen: OnceCell<FlowSet>,
}

/// What one rule's position in its table comes to.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    /// No flow reaches it; `covering` are the earlier rules (table indices) that decide
    /// its flows; `same_effect` is true when the rules that decide them first all have its
    /// effect (it is dead weight, not a rule that fails to do what it says); `witness` is
    /// a flow it matches.
    Shadowed {
        covering: Vec<usize>,
        same_effect: bool,
        witness: FlowSet,
    },
    /// Removing it changes nothing; `deciders` are the later rules that would then decide
    /// its flows, in order, each taking a part; `passes` is true when some of them would
    /// meet no rule (the stage passes them on); `decided` is the set it decides now.
    Redundant {
        deciders: Vec<usize>,
        passes: bool,
        decided: FlowSet,
    },
    /// Neither.
    Live { decided: FlowSet },
}

/// What a rule does to the flows it decides, as far as the verdict is concerned: an
/// admin Allow and no match both hand the flow on, as does an NSG Allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Deny,
    AlwaysAllow,
    Pass,
}

impl Effect {
    pub fn of(access: Access) -> Effect {
        match access {
            Access::Deny => Effect::Deny,
            Access::AlwaysAllow => Effect::AlwaysAllow,
            Access::Allow => Effect::Pass,
        }
    }
}

impl<'p> Table<'p> {
    /// The table's rules' effects.
    fn effects(&self) -> Vec<Effect> {
        self.rules
            .iter()
            .map(|r| Effect::of(r.rule.access))
            .collect()
    }

    /// Outcomes for the rules `wanted` says to analyse (others get `None`), over the flows
    /// the table sees: an inbound NSG on a subnet meets only flows to that subnet, so a
    /// rule for `*` after one for the subnet's prefix is never reached there.
    pub fn outcomes(
        &self,
        s: &Snapshot,
        wanted: impl Fn(&ResolvedRule) -> bool,
    ) -> Vec<Option<Outcome>> {
        use rayon::prelude::*;
        let effects = self.effects();
        let spaces: Vec<&RuleSpace> = self.spaces.iter().map(|s| s.as_ref()).collect();
        let seen = self.seen(s);
        let sets: Vec<FlowSet> = spaces.iter().map(|r| r.set.intersect(seen)).collect();
        let wanted: Vec<bool> = self.rules.iter().map(|r| wanted(r)).collect();
        let overlaps = crate::flowspace::rule::overlaps(&spaces);
        let table = Ordered::new(&sets, &effects, &overlaps, &wanted);
        (0..self.rules.len())
            .into_par_iter()
            .map(|i| wanted[i].then(|| outcome(&table, i)))
            .collect()
    }

    /// `NSG nsg-web in VNet vnet-spoke, inbound`.
    pub fn label(&self, s: &Snapshot) -> String {
        let dir = self.direction.to_string().to_ascii_lowercase();
        match self.point {
            Point::Nsg { nsg, vnet } => {
                format!(
                    "NSG {} in VNet {}, {dir}",
                    s.nsgs[nsg].name, s.vnets[vnet].name
                )
            }
            Point::SubnetAdmin(x) => format!(
                "admin rules at subnet {} of VNet {}, {dir}",
                s.subnets[x].name, s.vnets[s.subnets[x].vnet].name
            ),
            Point::VnetAdmin(v) => format!(
                "admin rules of VNet {} outside its subnets, {dir}",
                s.vnets[v].name
            ),
        }
    }

    /// The addresses this table guards: where its side of a flow can be.
    pub fn reach(&self, s: &Snapshot) -> AddrSet {
        let mut set = AddrSet::new();
        for point in &self.points {
            set.extend(&point_reach(*point, s));
        }
        set
    }

    /// The flows this table sees: its reach on its own side.
    pub fn seen(&self, s: &Snapshot) -> &FlowSet {
        self.seen.get_or_init(|| {
            let reach = self.reach(s);
            match self.direction {
                Direction::Inbound => FlowSet::dst_in(&reach),
                Direction::Outbound => FlowSet::src_in(&reach),
            }
        })
    }

    /// A witness flow from `set`, preferably one this table really sees, with the pin
    /// for its guarded end.
    pub fn witness(&self, s: &Snapshot, set: &FlowSet) -> Option<(Flow, Option<ResourceId>)> {
        let flow = set
            .intersect(self.seen(s))
            .witness()
            .or_else(|| set.witness())?;
        let ip = match self.direction {
            Direction::Inbound => flow.dst,
            Direction::Outbound => flow.src,
        };
        Some((flow, pin_for(s, self.vnet, ip)))
    }
}

/// The NIC, subnet or VNet id that places `ip` in VNet `vnet`.
pub(crate) fn pin_for(s: &Snapshot, vnet: usize, ip: IpAddr) -> Option<ResourceId> {
    let nic = s.nics.iter().find(|n| {
        n.ip_configs
            .iter()
            .any(|c| c.address == ip && s.subnets[c.subnet].vnet == vnet)
    });
    if let Some(n) = nic {
        return Some(n.id.clone());
    }
    let subnet = s.vnets[vnet]
        .subnets
        .iter()
        .find(|&&x| s.subnets[x].prefixes.iter().any(|p| p.contains(&ip)));
    match subnet {
        Some(&x) => Some(s.subnets[x].id.clone()),
        None => s.vnets[vnet]
            .address_space
            .iter()
            .any(|p| p.contains(&ip))
            .then(|| s.vnets[vnet].id.clone()),
    }
}

/// The addresses one point guards: where its side of a flow can be.
fn point_reach(point: Point, s: &Snapshot) -> AddrSet {
    let mut set = AddrSet::new();
    let nic_ips = |filter: &dyn Fn(usize, usize) -> bool, set: &mut AddrSet| {
        for (n, nic) in s.nics.iter().enumerate() {
            for c in nic.ip_configs.iter().filter(|c| filter(n, c.subnet)) {
                set.insert_net(ipnet::IpNet::from(c.address));
            }
        }
    };
    match point {
        Point::Nsg { nsg, vnet } => {
            for sub in s.vnets[vnet]
                .subnets
                .iter()
                .filter(|&&x| s.subnets[x].nsg == Some(nsg))
            {
                s.subnets[*sub]
                    .prefixes
                    .iter()
                    .for_each(|p| set.insert_net(*p));
                nic_ips(&|_, c| c == *sub, &mut set);
            }
            nic_ips(
                &|n, c| s.nics[n].nsg == Some(nsg) && s.subnets[c].vnet == vnet,
                &mut set,
            );
        }
        Point::SubnetAdmin(x) => {
            s.subnets[x]
                .prefixes
                .iter()
                .for_each(|p| set.insert_net(*p));
            nic_ips(&|_, c| c == x, &mut set);
        }
        Point::VnetAdmin(v) => s.vnets[v]
            .address_space
            .iter()
            .for_each(|p| set.insert_net(*p)),
    }
    set
}

/// A table reduced to what the analysis needs: match sets, effects, and which rules
/// overlap which.
pub(crate) struct Ordered<'a> {
    /// Each rule's match set within what the table sees.
    sets: &'a [FlowSet],
    effects: &'a [Effect],
    /// Per rule, the rules it overlaps, in order.
    overlaps: &'a [Vec<usize>],
    /// Per rule, whether it is reported (the default rules are not): a rule that is not
    /// stays whatever else is removed.
    reported: &'a [bool],
    /// Per rule, whether no flow reaches it, worked out when first asked.
    shadowed: Vec<OnceLock<bool>>,
}

impl<'a> Ordered<'a> {
    pub(crate) fn new(
        sets: &'a [FlowSet],
        effects: &'a [Effect],
        overlaps: &'a [Vec<usize>],
        reported: &'a [bool],
    ) -> Ordered<'a> {
        Ordered {
            sets,
            effects,
            overlaps,
            reported,
            shadowed: sets.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// True when the earlier rules cover rule `j`'s match set.
    fn is_shadowed(&self, j: usize) -> bool {
        *self.shadowed[j].get_or_init(|| {
            let earlier = FlowSet::union_all(self.earlier(j).map(|k| self.set(k)));
            self.set(j).is_subset(&earlier)
        })
    }

    fn earlier(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.overlaps[i].iter().copied().take_while(move |&j| j < i)
    }

    fn later(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.overlaps[i].iter().copied().skip_while(move |&j| j < i)
    }

    fn set(&self, j: usize) -> &FlowSet {
        &self.sets[j]
    }
}

/// Rule `i`'s outcome in its table.
pub(crate) fn outcome(t: &Ordered, i: usize) -> Outcome {
    let decided = t
        .set(i)
        .minus(&FlowSet::union_all(t.earlier(i).map(|j| t.set(j))));
    if decided.is_empty() {
        return shadowed(t, i);
    }
    let later: Vec<usize> = t.later(i).collect();
    if !later_agrees(t, i, &later, &decided) {
        return Outcome::Live { decided };
    }
    // Later rules of rule i's effect that no flow reaches are left out: where rule i is what
    // hides such a rule (a duplicate after it), that rule is the finding, shadowed, and rule
    // i the one to keep, rather than each being reported as removable because of the other.
    // A rule that is not reported (a default rule, which cannot be removed) stays: beside
    // it, rule i is the finding. Leaving out rules of the same effect can only turn a
    // redundant outcome live, so the first pass above keeps the diagram work of asking
    // which are shadowed for candidates.
    let later: Vec<usize> = later
        .into_iter()
        .filter(|&j| t.effects[j] != t.effects[i] || !t.reported[j] || !t.is_shadowed(j))
        .collect();
    if !later_agrees(t, i, &later, &decided) {
        return Outcome::Live { decided };
    }
    let mut rest = decided.clone();
    let mut deciders = Vec::new();
    for &j in &later {
        if rest.is_empty() {
            break;
        }
        if rest.overlaps(t.set(j)) {
            rest = rest.minus(t.set(j));
            deciders.push(j);
        }
    }
    Outcome::Redundant {
        deciders,
        passes: !rest.is_empty(),
        decided,
    }
}

/// The shadowed outcome, naming the earlier rules that cover rule `i`: one that covers it
/// alone if there is one, else each earlier rule that takes a part of it, in order. The
/// effects compared are those of the rules that take a part first (a rule covering it
/// alone may come after one that takes a part with another effect).
fn shadowed(t: &Ordered, i: usize) -> Outcome {
    let me = t.set(i);
    // Nothing the table sees: covered by no rule (an empty set is a subset of every one).
    if me.is_empty() {
        return Outcome::Shadowed {
            covering: Vec::new(),
            same_effect: true,
            witness: me.clone(),
        };
    }
    let mut rest = me.clone();
    let mut parts = Vec::new();
    for j in t.earlier(i) {
        if rest.is_empty() {
            break;
        }
        if rest.overlaps(t.set(j)) {
            rest = rest.minus(t.set(j));
            parts.push(j);
        }
    }
    let same_effect = parts.iter().all(|&j| t.effects[j] == t.effects[i]);
    let single = t.earlier(i).find(|&j| me.is_subset(t.set(j)));
    Outcome::Shadowed {
        covering: single.map_or(parts, |j| vec![j]),
        same_effect,
        witness: me.clone(),
    }
}

/// True when every flow of `decided` gets rule `i`'s effect from the rules `later`, after it
/// (or from falling off the end, which passes). The later rules overlapping rule `i` are taken
/// in runs of one effect: a run with rule `i`'s effect removes its flows from the rest at
/// once; a run with another effect that still meets the rest means some verdict changes.
fn later_agrees(t: &Ordered, i: usize, later: &[usize], decided: &FlowSet) -> bool {
    let mut rest = decided.clone();
    for run in later.chunk_by(|&a, &b| t.effects[a] == t.effects[b]) {
        let union = FlowSet::union_all(run.iter().map(|&j| t.set(j)));
        if t.effects[run[0]] == t.effects[i] {
            rest = rest.minus(&union);
            if rest.is_empty() {
                return true;
            }
        } else if rest.overlaps(&union) {
            return false;
        }
    }
    t.effects[i] == Effect::Pass
}

/// Every table of the policy: each NSG per VNet where it is attached and direction, and
/// each distinct admin rule list per VNet and direction (subnets usually share theirs).
pub(crate) fn tables<'p>(spaces: &Spaces<'p>) -> Vec<Table<'p>> {
    let p = spaces.policy;
    let mut points: Vec<(Point, usize, &'p [ResolvedRule])> = Vec::new();
    let mut nsg_keys: Vec<&(usize, usize)> = p.nsg_rules.keys().collect();
    nsg_keys.sort();
    for key in nsg_keys {
        let (nsg, vnet) = *key;
        points.push((Point::Nsg { nsg, vnet }, vnet, &p.nsg_rules[key]));
    }
    for (x, point) in p.subnet_admin.iter().enumerate() {
        if point.exempt.is_none() {
            points.push((
                Point::SubnetAdmin(x),
                p.snapshot.subnets[x].vnet,
                &point.rules,
            ));
        }
    }
    for (v, vnet) in p.vnets.iter().enumerate() {
        if vnet.admin.exempt.is_none() {
            points.push((Point::VnetAdmin(v), v, &vnet.admin.rules));
        }
    }
    // A table per distinct rule list of a VNet and direction, with every point enforcing it.
    let mut at: HashMap<(usize, Direction, Vec<String>), usize> = HashMap::new();
    let mut out: Vec<Table> = Vec::new();
    for (point, vnet, rules) in points {
        for direction in [Direction::Inbound, Direction::Outbound] {
            let rules: Vec<&ResolvedRule> = rules
                .iter()
                .filter(|r| r.rule.direction == direction)
                .collect();
            if rules.is_empty() {
                continue;
            }
            let ids: Vec<String> = rules.iter().map(|r| r.rule.id.key().to_string()).collect();
            match at.entry((vnet, direction, ids)) {
                Entry::Occupied(t) => {
                    out[*t.get()].points.push(point);
                    continue;
                }
                Entry::Vacant(t) => {
                    t.insert(out.len());
                }
            }
            let table_spaces = rules.iter().map(|r| spaces.rule(vnet, r)).collect();
            out.push(Table {
                point,
                points: vec![point],
                vnet,
                direction,
                rules,
                spaces: table_spaces,
                seen: OnceCell::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowspace::cube::{Cube, Family, Ranges, PORT_MAX};
    use smallvec::smallvec;

    /// Every rule of a test table reported (none is a default rule).
    const REPORTED: [bool; 4] = [true; 4];

    fn rule(dst_port: (u128, u128)) -> RuleSpace {
        RuleSpace::of_cubes(smallvec![Cube {
            family: Family::Ipv4,
            protocols: Ranges::single(6),
            src: Ranges::full(Family::Ipv4.max()),
            src_ports: Ranges::full(PORT_MAX),
            dst: Ranges::full(Family::Ipv4.max()),
            dst_ports: Ranges::from_intervals([dst_port]),
        }])
    }

    #[test]
    fn shadowed_redundant_and_live() {
        let rules = [
            rule((20, 30)),
            rule((22, 22)),
            rule((25, 40)),
            rule((0, 65535)),
        ];
        let spaces: Vec<&RuleSpace> = rules.iter().collect();
        let sets: Vec<FlowSet> = rules.iter().map(|r| r.set.clone()).collect();
        let overlaps = crate::flowspace::rule::overlaps(&spaces);
        let effects = [Effect::Deny, Effect::Pass, Effect::Deny, Effect::Deny];
        let t = Ordered::new(&sets, &effects, &overlaps, &REPORTED[..rules.len()]);
        assert!(
            matches!(outcome(&t, 1), Outcome::Shadowed { ref covering, .. } if covering == &[0])
        );
        assert!(
            matches!(outcome(&t, 2), Outcome::Redundant { ref deciders, passes: false, .. } if deciders == &[3])
        );
        assert!(
            matches!(outcome(&t, 0), Outcome::Live { .. }),
            "without rule 0, the shadowed Pass rule 1 would admit port 22"
        );
        let effects = [Effect::Pass, Effect::Pass, Effect::Deny, Effect::Deny];
        let t = Ordered::new(&sets, &effects, &overlaps, &REPORTED[..rules.len()]);
        assert!(matches!(outcome(&t, 0), Outcome::Live { .. }));
    }

    #[test]
    fn a_redundant_rule_names_every_later_rule_that_takes_a_part() {
        let rules = [rule((20, 30)), rule((15, 25)), rule((0, 65535))];
        let spaces: Vec<&RuleSpace> = rules.iter().collect();
        let sets: Vec<FlowSet> = rules.iter().map(|r| r.set.clone()).collect();
        let overlaps = crate::flowspace::rule::overlaps(&spaces);
        let effects = [Effect::Deny, Effect::Deny, Effect::Deny];
        let t = Ordered::new(&sets, &effects, &overlaps, &REPORTED[..rules.len()]);
        assert!(
            matches!(outcome(&t, 0), Outcome::Redundant { ref deciders, passes: false, .. } if deciders == &[1, 2]),
            "rule 1 takes ports 20-25 only; rule 2 takes the rest"
        );
    }

    #[test]
    fn of_two_alike_rules_the_later_is_shadowed_and_the_earlier_kept() {
        let rules = [rule((22, 22)), rule((22, 22)), rule((20, 30))];
        let spaces: Vec<&RuleSpace> = rules.iter().collect();
        let sets: Vec<FlowSet> = rules.iter().map(|r| r.set.clone()).collect();
        let overlaps = crate::flowspace::rule::overlaps(&spaces);
        let effects = [Effect::Pass, Effect::Pass, Effect::Deny];
        let t = Ordered::new(&sets, &effects, &overlaps, &REPORTED[..rules.len()]);
        assert!(
            matches!(outcome(&t, 1), Outcome::Shadowed { ref covering, same_effect: true, .. } if covering == &[0])
        );
        assert!(
            matches!(outcome(&t, 0), Outcome::Live { .. }),
            "removing both would let rule 2 deny port 22"
        );
        // A later rule of the same effect that is reached still makes the earlier redundant.
        let effects = [Effect::Pass, Effect::Pass, Effect::Pass];
        let t = Ordered::new(&sets, &effects, &overlaps, &REPORTED[..rules.len()]);
        assert!(
            matches!(outcome(&t, 0), Outcome::Redundant { ref deciders, passes: false, .. } if deciders == &[2])
        );
        // A shadowed later rule of another effect is not left out: without rule 0 it denies.
        let effects = [Effect::Pass, Effect::Deny, Effect::Pass];
        let t = Ordered::new(&sets, &effects, &overlaps, &REPORTED[..rules.len()]);
        assert!(matches!(outcome(&t, 0), Outcome::Live { .. }));
        // A later rule alike that is not reported (a default rule) stays: the earlier is
        // the redundant one.
        let effects = [Effect::Pass, Effect::Pass, Effect::Deny];
        let t = Ordered::new(&sets, &effects, &overlaps, &[true, false, true]);
        assert!(
            matches!(outcome(&t, 0), Outcome::Redundant { ref deciders, passes: false, .. } if deciders == &[1])
        );
    }

    #[test]
    fn pass_rules_falling_off_the_end_are_redundant() {
        let rules = [rule((22, 22)), rule((80, 80))];
        let spaces: Vec<&RuleSpace> = rules.iter().collect();
        let sets: Vec<FlowSet> = rules.iter().map(|r| r.set.clone()).collect();
        let overlaps = crate::flowspace::rule::overlaps(&spaces);
        let effects = [Effect::Pass, Effect::Deny];
        let t = Ordered::new(&sets, &effects, &overlaps, &REPORTED[..rules.len()]);
        assert!(matches!(
            outcome(&t, 0),
            Outcome::Redundant { ref deciders, passes: true, .. } if deciders.is_empty()
        ));
        assert!(matches!(outcome(&t, 1), Outcome::Live { .. }));
    }
}
