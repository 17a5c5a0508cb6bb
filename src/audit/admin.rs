//! Findings where admin rules meet: NSG rules that admin rules override, and priority
//! ties between admin rules of different collections or managers.
//!
//! An NSG rule is *overridden* when, at every subnet or NIC the NSG guards, every flow the
//! rule decides (within that subnet's or NIC's addresses) is decided first by an admin
//! Deny or AlwaysAllow on the same side. Only the same side is considered: with D5's
//! `path` scope a source AlwaysAllow can also skip destination NSGs, which this finding
//! does not claim.

use super::findings::{Finding, FindingKind, Severity, Witness};
use super::tables::{Outcome, Point, Table};
use super::Vote;
use crate::flowspace::FlowSet;
use crate::model::{Access, Direction, Snapshot};
use crate::options::ManagerPrecedence;
use crate::resolve::{Policy, ResolvedRule, RuleSource};
use std::collections::HashMap;

/// The admin rules that decide first at one admin point and direction: the flows each
/// Deny or AlwaysAllow rule decides, and their union.
pub(crate) struct Decisive<'p> {
    parts: Vec<(&'p ResolvedRule, FlowSet)>,
    all: FlowSet,
}

/// A subnet or NIC an NSG guards in one VNet: its addresses and its admin rules.
struct Attachment {
    seen: FlowSet,
    subnet: usize,
    exempt: bool,
    pin: crate::model::ResourceId,
}

/// For each rule of an NSG table with flows of its own (by index): whether it is
/// overridden here (`Yes` with the finding), not (`No`), or has no flow at any subnet or
/// NIC the NSG guards (`Neutral`).
pub(crate) fn overridden<'p>(
    table: &Table<'p>,
    outcomes: &[Option<Outcome>],
    decisive: &mut HashMap<(usize, Direction), Decisive<'p>>,
    spaces: &super::spaces::Spaces<'p>,
) -> Vec<(usize, Vote)> {
    let Point::Nsg { nsg, vnet } = table.point else {
        return Vec::new();
    };
    let policy = spaces.policy;
    let attachments = attachments(policy, nsg, vnet, table.direction);
    let mut out = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        let decided = match outcome {
            Some(Outcome::Live { decided } | Outcome::Redundant { decided, .. }) => decided,
            _ => continue,
        };
        let mut overriders: Vec<&ResolvedRule> = Vec::new();
        let mut witness = None;
        let mut vote = Vote::Neutral;
        for a in &attachments {
            let relevant = decided.intersect(&a.seen);
            if relevant.is_empty() {
                continue;
            }
            let d = decisive
                .entry((a.subnet, table.direction))
                .or_insert_with(|| decisive_at(policy, spaces, a.subnet, table.direction));
            if a.exempt || !relevant.is_subset(&d.all) {
                vote = Vote::No;
                break;
            }
            vote = Vote::Yes(Box::new(Finding::new(
                FindingKind::Overridden,
                String::new(),
                String::new(),
            )));
            for (rule, part) in &d.parts {
                if part.overlaps(&relevant) && !overriders.iter().any(|r| r.rule.id == rule.rule.id)
                {
                    overriders.push(*rule);
                }
            }
            witness = witness.or_else(|| relevant.witness().map(|f| (f, a.pin.clone())));
        }
        if let Vote::Yes(_) = vote {
            let f = overridden_finding(
                table,
                table.rules[i],
                &overriders,
                witness,
                &policy.snapshot,
            );
            vote = Vote::Yes(Box::new(f));
        }
        out.push((i, vote));
    }
    out
}

fn overridden_finding(
    table: &Table,
    rule: &ResolvedRule,
    overriders: &[&ResolvedRule],
    witness: Option<(crate::flow::Flow, crate::model::ResourceId)>,
    s: &Snapshot,
) -> Finding {
    let names: Vec<String> = overriders.iter().map(|r| describe(r)).collect();
    let message = format!(
        "NSG rule {} never takes effect: admin rule{} {} decide{} all its flows first",
        describe(rule),
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        if names.len() == 1 { "s" } else { "" },
    );
    let mut f = Finding::new(FindingKind::Overridden, rule.rule.id.to_string(), message)
        .with_related(
            "overridden-by",
            overriders.iter().map(|r| r.rule.id.to_string()),
        );
    f.point = Some(table.label(s));
    f.witness = witness.map(|(flow, pin)| pinned(flow, pin, table.direction));
    f
}

/// A witness pinned at its guarded end.
pub(crate) fn pinned(
    flow: crate::flow::Flow,
    pin: crate::model::ResourceId,
    direction: Direction,
) -> Witness {
    let pin = Some(pin.to_string());
    let (from, to) = match direction {
        Direction::Inbound => (None, pin),
        Direction::Outbound => (pin, None),
    };
    Witness {
        flow: flow.to_string(),
        from,
        to,
    }
}

/// `` `DenySsh` (priority 100, Deny) ``.
pub(crate) fn describe(rule: &ResolvedRule) -> String {
    format!(
        "`{}` (priority {}, {})",
        rule.rule.name, rule.rule.priority, rule.rule.access
    )
}

/// Where NSG `nsg` is enforced in VNet `vnet`: its subnets and NICs there.
fn attachments(policy: &Policy, nsg: usize, vnet: usize, direction: Direction) -> Vec<Attachment> {
    let s = &policy.snapshot;
    let seen = |addrs: &crate::model::AddrSet| match direction {
        Direction::Inbound => FlowSet::dst_in(addrs),
        Direction::Outbound => FlowSet::src_in(addrs),
    };
    let mut out = Vec::new();
    for &x in s.vnets[vnet]
        .subnets
        .iter()
        .filter(|&&x| s.subnets[x].nsg == Some(nsg))
    {
        let mut addrs = crate::model::AddrSet::new();
        s.subnets[x]
            .prefixes
            .iter()
            .for_each(|p| addrs.insert_net(*p));
        let exempt = policy.subnet_admin[x].exempt.is_some();
        for nic in &s.nics {
            for c in nic.ip_configs.iter().filter(|c| c.subnet == x) {
                let ip = crate::model::AddrSet::from_net(ipnet::IpNet::from(c.address));
                if nic.private_endpoint {
                    // Admin rules skip a private endpoint (SEMANTICS §2.5): the subnet's
                    // NSG decides its flows whatever they say.
                    addrs.subtract(&ip);
                    out.push(Attachment {
                        seen: seen(&ip),
                        subnet: x,
                        exempt: true,
                        pin: nic.id.clone(),
                    });
                } else {
                    addrs.extend(&ip);
                }
            }
        }
        out.push(Attachment {
            seen: seen(&addrs),
            subnet: x,
            exempt,
            pin: s.subnets[x].id.clone(),
        });
    }
    for nic in s.nics.iter().filter(|n| n.nsg == Some(nsg)) {
        for c in nic
            .ip_configs
            .iter()
            .filter(|c| s.subnets[c.subnet].vnet == vnet)
        {
            let addrs = crate::model::AddrSet::from_net(ipnet::IpNet::from(c.address));
            let exempt = nic.private_endpoint || policy.subnet_admin[c.subnet].exempt.is_some();
            out.push(Attachment {
                seen: seen(&addrs),
                subnet: c.subnet,
                exempt,
                pin: nic.id.clone(),
            });
        }
    }
    out
}

/// The first-match partition of every flow by subnet `x`'s admin rules in `direction`,
/// keeping the Deny and AlwaysAllow parts. A rule a plan does not know in full ends the
/// walk for its flows with an unknown verdict (as in `eval`): they are decided by no rule
/// we can name, so they never make an NSG rule overridden.
fn decisive_at<'p>(
    policy: &'p Policy,
    spaces: &super::spaces::Spaces<'p>,
    x: usize,
    direction: Direction,
) -> Decisive<'p> {
    let vnet = policy.snapshot.subnets[x].vnet;
    let mut rest = FlowSet::all();
    let mut parts = Vec::new();
    let mut all = FlowSet::empty();
    for rule in policy.subnet_admin[x]
        .rules
        .iter()
        .filter(|r| r.rule.direction == direction)
    {
        let hit = rest.intersect(&spaces.rule(vnet, rule).set);
        if hit.is_empty() {
            continue;
        }
        rest = rest.minus(&hit);
        if rule.rule.access != Access::Allow && policy.snapshot.unknown(&rule.rule.id).is_none() {
            all = all.union(&hit);
            parts.push((rule, hit));
        }
    }
    Decisive { parts, all }
}

/// Priority ties in one admin table: equal (tier, priority) across collections, with a
/// flow both rules match that no earlier rule decides and that the table sees (SEMANTICS
/// §2.3 breaks ties "between rules that both match": elsewhere the order decides nothing).
pub(crate) fn ties(table: &Table, policy: &Policy) -> Vec<Finding> {
    if matches!(table.point, Point::Nsg { .. }) {
        return Vec::new();
    }
    let tiered = policy.options.manager_precedence == ManagerPrecedence::Tiered;
    let key = |r: &ResolvedRule| match &r.source {
        RuleSource::Admin {
            tier, collection, ..
        } => Some((
            if tiered { *tier } else { 0 },
            r.rule.priority,
            collection.clone(),
        )),
        RuleSource::Nsg { .. } => None,
    };
    let mut out = Vec::new();
    // Worked out only for a candidate pair (ties are rare): what the table sees, and the
    // flows rules before the pair's first decide.
    for i in 0..table.rules.len() {
        let mut earlier: Option<FlowSet> = None;
        for j in i + 1..table.rules.len() {
            let (Some(a), Some(b)) = (key(table.rules[i]), key(table.rules[j])) else {
                continue;
            };
            if (a.0, a.1) != (b.0, b.1)
                || a.2 == b.2
                || !table.spaces[i].may_overlap(&table.spaces[j])
            {
                continue;
            }
            let earlier = earlier.get_or_insert_with(|| {
                table.spaces[..i]
                    .iter()
                    .fold(FlowSet::empty(), |all, space| all.union(&space.set))
            });
            let seen = table.seen(&policy.snapshot);
            let both = table.spaces[i]
                .set
                .intersect(&table.spaces[j].set)
                .minus(earlier)
                .intersect(seen);
            if !both.is_empty() {
                out.push(tie_finding(table, i, j, &both, &policy.snapshot));
            }
        }
    }
    out
}

fn tie_finding(table: &Table, i: usize, j: usize, both: &FlowSet, s: &Snapshot) -> Finding {
    let (a, b) = (table.rules[i], table.rules[j]);
    let differ = a.rule.access != b.rule.access;
    let message = format!(
        "admin rules {} and {} in different rule collections share priority {} and both match some flows; secpath lets {} win{}",
        describe(a),
        describe(b),
        a.rule.priority,
        describe(a),
        if differ { " (Deny > AlwaysAllow > Allow), but Azure documents no order" } else { ", with the same effect" },
    );
    let mut f = Finding::new(FindingKind::Tie, a.rule.id.to_string(), message)
        .with_related("tied-with", [b.rule.id.to_string()]);
    if !differ {
        f.severity = Severity::Note;
    }
    f.point = Some(table.label(s));
    f.witness = table.witness(s, both).map(|(flow, pin)| match pin {
        Some(pin) => pinned(flow, pin, table.direction),
        None => Witness {
            flow: flow.to_string(),
            from: None,
            to: None,
        },
    });
    f
}
