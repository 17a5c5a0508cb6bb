//! `secpath diff`: every region of flow space whose end-to-end verdict differs between two
//! policies, with the deciding rule before and after and a checked witness per region.
//!
//! The two snapshots may differ in topology as well as rules, so each is cut into its own
//! zones (see `audit::zones`) and the address space into *atoms*: the non-empty
//! intersections of a zone of the first with a zone of the second (zones of two different
//! VNets pair except on addresses that stay in the first VNet and were already in the
//! second, so overlapping address spaces don't mix, while addresses that leave a VNet, or
//! join one, are compared with where they were, or are, in the other snapshot). For every
//! (source atom, destination atom) pair
//! — skipping pairs outside Azure at both ends in both snapshots, where no path exists —
//! the verdict sets of both policies are compared; where they differ, both policies'
//! classes (verdict and deciding rule) are intersected, and each non-empty intersection
//! with different verdicts is one [`Change`], decomposed into cubes. Each cube's witness
//! is decided again by `eval` on both policies (`verified`).
//!
//! A region that a plan's unknown values leave undecided on either side is a change of
//! its own kind, `may_change`: its before or after verdict is `unknown` and its rule names
//! the unknown attributes (docs/plans.md). `opened` and `closed` count only exact changes.

use super::findings::Region;
use super::paths::Engine;
use super::zones::ZoneKind;
use crate::error::{Error, Result};
use crate::eval::{self, Decided, Layer, Pins, Side, Verdict};
use crate::flowspace::FlowSet;
use crate::model::addr::parse_net;
use crate::model::{AddrSet, ResourceId};
use crate::resolve::Policy;
use serde::Serialize;

/// Narrows a diff to some sources or destinations (`--from`, `--to`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Addresses (prefixes or single addresses).
    Addresses(AddrSet),
    /// A NIC, subnet or VNet by ARM id (in either snapshot).
    Resource(ResourceId),
    /// Addresses outside every VNet and on-premises prefix.
    Internet,
}

impl Selector {
    /// Parses `internet`, an ARM id (`/subscriptions/...`), or comma-separated prefixes
    /// and addresses (`10.1.0.0/16,192.0.2.7`).
    pub fn parse(text: &str) -> Result<Selector> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("internet") {
            return Ok(Selector::Internet);
        }
        if t.starts_with('/') {
            return Ok(Selector::Resource(ResourceId::new(t)));
        }
        let mut set = AddrSet::new();
        for part in t.split(',') {
            let net = parse_net(part).ok_or_else(|| {
                Error::Usage(format!(
                    "`{part}` is not a prefix, an address, an ARM id or `internet`"
                ))
            })?;
            set.insert_net(net);
        }
        Ok(Selector::Addresses(set))
    }

    /// An error when a resource selector names no NIC, subnet or VNet in either snapshot:
    /// a typo would otherwise compare nothing and pass `--fail-on-change`.
    pub fn check(&self, flag: &str, before: &Policy, after: &Policy) -> Result<()> {
        let Selector::Resource(id) = self else {
            return Ok(());
        };
        if before.snapshot.holds_place(id) || after.snapshot.holds_place(id) {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "{flag} `{id}` is not a NIC, subnet or VNet in either snapshot"
        )))
    }
}

/// What a diff looks at.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    /// Only flows from here.
    pub from: Option<Selector>,
    /// Only flows to here.
    pub to: Option<Selector>,
    /// The most regions listed per change.
    pub max_regions: usize,
}

impl Default for DiffOptions {
    fn default() -> DiffOptions {
        DiffOptions {
            from: None,
            to: None,
            max_regions: 32,
        }
    }
}

/// An end of a change: where its addresses sit in each snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// `NIC vm-web01 (10.1.1.4)`, `the Internet`, ... (as in the after snapshot; the
    /// before snapshot's name when the two differ is in `before`).
    pub name: String,
    /// `nic`, `subnet`, `vnet`, `on-premises` or `internet`.
    pub kind: ZoneKind,
    /// The NIC, subnet or VNet id (the pin for `explain` in the after snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name in the before snapshot, when different.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The pin in the before snapshot, when different.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_id: Option<String>,
}

/// A verdict and what decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// `allow`, `deny`, `no-path` or `unknown`.
    pub verdict: Verdict,
    /// The deny rule's ARM id (for D7: the NIC's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// `admin`, `nsg` or `path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Layer>,
    /// `source` or `destination`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// For an allow: the rules that admitted the first region's witness. The change's
    /// other flows may be admitted by other rules: a change is a region of one verdict
    /// before and one after, whichever rules allow it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_by: Vec<String>,
}

impl Decision {
    fn of(d: &Decided) -> Decision {
        Decision {
            verdict: d.verdict,
            rule: d.resource.as_ref().map(ToString::to_string),
            layer: d.layer,
            side: d.side,
            allowed_by: Vec::new(),
        }
    }
}

/// A region of a change, with its witness checked by `eval` on both policies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangedRegion {
    /// The cube.
    #[serde(flatten)]
    pub region: Region,
    /// True when `eval` gives the witness the claimed decision in both policies.
    pub verified: bool,
}

/// One region of flow space whose verdict changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Where the flows come from.
    pub source: Endpoint,
    /// Where they go.
    pub destination: Endpoint,
    /// The decision before.
    pub before: Decision,
    /// The decision after.
    pub after: Decision,
    /// The flows, as disjoint cubes.
    pub regions: Vec<ChangedRegion>,
    /// True when `regions` had to be cut short.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub regions_truncated: bool,
}

/// What `secpath diff` reports (`secpath.diff/v1`).
#[derive(Clone, Debug, Serialize)]
pub struct DiffReport {
    /// Always `secpath.diff/v1`.
    pub schema: &'static str,
    /// (source, destination) address pairs compared.
    pub pairs_compared: usize,
    /// Changes that admit flows denied before (deny or no-path → allow).
    pub opened: usize,
    /// Changes that stop flows allowed before.
    pub closed: usize,
    /// Changes whose before or after verdict a plan leaves `unknown`: these flows may
    /// change.
    pub may_change: usize,
    /// Every change, by destination then source.
    pub changes: Vec<Change>,
    /// True when some witness did not check out (a bug: please report it).
    pub unverified: bool,
}

/// An atom: the addresses a zone of each snapshot share.
struct Atom {
    before: usize,
    after: usize,
    addrs: AddrSet,
}

/// Compares `before` and `after` over every flow (or the flows `options` selects).
pub fn diff(before: &Policy, after: &Policy, options: &DiffOptions) -> DiffReport {
    let (eb, ea) = (Engine::new(before), Engine::new(after));
    let atoms = atoms(&eb, &ea);
    let mut changes = Vec::new();
    let mut pairs = 0;
    for s in atoms
        .iter()
        .filter(|a| selected(&eb, &ea, a, options.from.as_ref()))
    {
        for d in atoms
            .iter()
            .filter(|a| selected(&eb, &ea, a, options.to.as_ref()))
        {
            let outside =
                |a: &Atom| eb.zones[a.before].vnet.is_none() && ea.zones[a.after].vnet.is_none();
            if outside(s) && outside(d) {
                continue;
            }
            let Some(space) = pair_space(s, d, options) else {
                continue;
            };
            pairs += 1;
            changes.extend(pair_changes(&eb, &ea, (s, d), &space, options.max_regions));
        }
    }
    changes.sort_by(|a, b| {
        (&a.destination.name, &a.source.name).cmp(&(&b.destination.name, &b.source.name))
    });
    let exact =
        |c: &&Change| c.before.verdict != Verdict::Unknown && c.after.verdict != Verdict::Unknown;
    let opened = changes
        .iter()
        .filter(exact)
        .filter(|c| c.after.verdict == Verdict::Allow)
        .count();
    let closed = changes
        .iter()
        .filter(exact)
        .filter(|c| c.before.verdict == Verdict::Allow)
        .count();
    let may_change = changes.len() - changes.iter().filter(exact).count();
    let unverified = changes.iter().flat_map(|c| &c.regions).any(|r| !r.verified);
    DiffReport {
        schema: "secpath.diff/v1",
        pairs_compared: pairs,
        opened,
        closed,
        may_change,
        changes,
        unverified,
    }
}

fn intersect(a: &AddrSet, b: &AddrSet) -> AddrSet {
    let mut not_b = AddrSet::all();
    not_b.subtract(b);
    let mut out = a.clone();
    out.subtract(&not_b);
    out
}

fn atoms(eb: &Engine, ea: &Engine) -> Vec<Atom> {
    let (sb, sa) = (&eb.spaces.policy.snapshot, &ea.spaces.policy.snapshot);
    let mut out = Vec::new();
    let space = |s: &crate::model::Snapshot, v: usize| {
        let mut set = AddrSet::new();
        s.vnets[v]
            .address_space
            .iter()
            .for_each(|n| set.insert_net(*n));
        set
    };
    for (i, zb) in eb.zones.iter().enumerate() {
        for (j, za) in ea.zones.iter().enumerate() {
            let mut addrs = intersect(&zb.addrs, &za.addrs);
            if let (Some(x), Some(y)) = (zb.vnet_id(sb), za.vnet_id(sa)) {
                // An address in VNet x after and in VNet y before is compared in x and in
                // y, each with itself; any other address of x before and y after has no
                // better counterpart (it left x, or it joined y).
                if let (true, Some(xa), Some(yb)) = (x != y, sa.vnet_index(x), sb.vnet_index(y)) {
                    addrs.subtract(&intersect(&space(sa, xa), &space(sb, yb)));
                }
            }
            if !addrs.is_empty() {
                out.push(Atom {
                    before: i,
                    after: j,
                    addrs,
                });
            }
        }
    }
    out
}

fn selected(eb: &Engine, ea: &Engine, atom: &Atom, selector: Option<&Selector>) -> bool {
    let zones = [
        (&eb.zones[atom.before], &eb.spaces.policy.snapshot),
        (&ea.zones[atom.after], &ea.spaces.policy.snapshot),
    ];
    match selector {
        None | Some(Selector::Addresses(_)) => true,
        Some(Selector::Internet) => zones.iter().any(|(z, _)| z.kind == ZoneKind::Internet),
        Some(Selector::Resource(id)) => zones.iter().any(|(z, s)| {
            z.id.as_ref() == Some(id)
                || z.subnet.is_some_and(|x| &s.subnets[x].id == id)
                || z.vnet.is_some_and(|v| &s.vnets[v].id == id)
        }),
    }
}

/// The flows from atom `s` to atom `d` the selectors keep, if any.
fn pair_space(s: &Atom, d: &Atom, options: &DiffOptions) -> Option<FlowSet> {
    let narrow = |atom: &Atom, sel: Option<&Selector>| match sel {
        Some(Selector::Addresses(set)) => intersect(&atom.addrs, set),
        _ => atom.addrs.clone(),
    };
    let (src, dst) = (
        narrow(s, options.from.as_ref()),
        narrow(d, options.to.as_ref()),
    );
    if src.is_empty() || dst.is_empty() {
        return None;
    }
    let space = FlowSet::src_in(&src).intersect(&FlowSet::dst_in(&dst));
    (!space.is_empty()).then_some(space)
}

/// The changes between two atoms.
fn pair_changes(
    eb: &Engine,
    ea: &Engine,
    (s, d): (&Atom, &Atom),
    space: &FlowSet,
    max: usize,
) -> Vec<Change> {
    let (vb, va) = (
        eb.verdicts(s.before, d.before, space),
        ea.verdicts(s.after, d.after, space),
    );
    let changed = vb
        .allow
        .minus(&va.allow)
        .union(&vb.deny.minus(&va.deny))
        .union(&vb.no_path.minus(&va.no_path))
        .union(&vb.unknown.minus(&va.unknown));
    if changed.is_empty() {
        return Vec::new();
    }
    let pins_b = Pins {
        from: eb.zones[s.before].id.clone(),
        to: eb.zones[d.before].id.clone(),
    };
    let pins_a = Pins {
        from: ea.zones[s.after].id.clone(),
        to: ea.zones[d.after].id.clone(),
    };
    let mut out = Vec::new();
    for (cb, setb) in eb.classes(s.before, d.before, &changed) {
        for (ca, seta) in ea.classes(s.after, d.after, &setb) {
            if cb.verdict == ca.verdict {
                continue;
            }
            let ends = (endpoint(eb, ea, s), endpoint(eb, ea, d));
            let checks = Checks {
                before: (eb.spaces.policy, &pins_b, &cb),
                after: (ea.spaces.policy, &pins_a, &ca),
            };
            out.push(change(ends, &checks, &seta, max));
        }
    }
    out
}

/// What each witness is checked against: a policy, its pins and the claimed decision.
struct Checks<'a> {
    before: (&'a Policy, &'a Pins, &'a Decided),
    after: (&'a Policy, &'a Pins, &'a Decided),
}

fn change(ends: (Endpoint, Endpoint), checks: &Checks, set: &FlowSet, max: usize) -> Change {
    let decomposition = set.cubes(max);
    let check = |(policy, pins, claimed): (&Policy, &Pins, &Decided), flow: &crate::flow::Flow| {
        eval::decide(policy, flow, pins).is_ok_and(|d| d == *claimed)
    };
    let regions: Vec<ChangedRegion> = decomposition
        .cubes
        .iter()
        .map(|cube| {
            let verified = cube
                .witness()
                .is_some_and(|w| check(checks.before, &w) && check(checks.after, &w));
            ChangedRegion {
                region: Region::of(cube),
                verified,
            }
        })
        .collect();
    let first = decomposition.cubes.first().and_then(|c| c.witness());
    let decision = |(policy, pins, claimed): (&Policy, &Pins, &Decided)| {
        let mut d = Decision::of(claimed);
        if let (Verdict::Allow, Some(w)) = (claimed.verdict, first.as_ref()) {
            if let Ok(e) = eval::explain(policy, w, pins) {
                d.allowed_by = e
                    .allowed_by
                    .iter()
                    .filter_map(|a| a.resource.clone())
                    .collect();
            }
        }
        d
    };
    Change {
        source: ends.0,
        destination: ends.1,
        before: decision(checks.before),
        after: decision(checks.after),
        regions,
        regions_truncated: !decomposition.complete,
    }
}

fn endpoint(eb: &Engine, ea: &Engine, atom: &Atom) -> Endpoint {
    let (zb, za) = (&eb.zones[atom.before], &ea.zones[atom.after]);
    let id = |z: &super::zones::Zone| z.id.as_ref().map(ToString::to_string);
    let differs = zb.name != za.name || zb.id != za.id;
    Endpoint {
        name: za.name.clone(),
        kind: za.kind,
        id: id(za),
        before: differs.then(|| zb.name.clone()),
        before_id: if differs { id(zb) } else { None },
    }
}
