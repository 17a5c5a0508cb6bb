//! The replay summary: counts that add up (read = evaluated + skipped, by reason), hits per
//! rule, rules that never fired, the top denied flows, and every disagreement with a log.

use super::conntrack::{reverse, Connection};
use super::judge::{Judgement, RuleHit};
use crate::eval::{closes_public_ip, Layer, Verdict};
use crate::flow::Flow;
use crate::model::ResourceId;
use crate::resolve::Policy;
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::collections::BTreeMap;

/// Disagreements kept in memory for the summary (all of them go to `--out`).
pub const KEEP_DISAGREEMENTS: usize = 1000;
/// Denied flows listed in the summary.
pub const TOP_DENIED: usize = 10;

/// One rule's hits.
#[derive(Clone, Debug, Serialize)]
pub struct RuleCount {
    /// ARM id.
    pub id: String,
    /// Name as the logs spell it.
    pub name: String,
    /// The NSG or rule collection holding it (names repeat across NSGs: the defaults).
    pub owner: String,
    /// `admin` or `nsg`.
    pub layer: Layer,
    /// Records (tuples or connections) it decided or admitted.
    pub hits: u64,
}

impl RuleCount {
    /// `hits` of the rule `hit` names.
    pub(crate) fn of(hit: &RuleHit, hits: u64) -> RuleCount {
        RuleCount {
            id: hit.id.to_string(),
            name: hit.log_name(),
            // D7's closed public IP is the NIC's own doing.
            owner: if closes_public_ip(&hit.id) {
                hit.id.name().to_string()
            } else {
                hit.id
                    .parent()
                    .map(|p| p.name().to_string())
                    .unwrap_or_default()
            },
            layer: hit.layer,
            hits,
        }
    }
}

/// A record where the log and secpath differ.
#[derive(Clone, Debug, Serialize)]
pub struct Disagreement {
    /// Where the record was read.
    pub source: String,
    /// The flow.
    pub flow: String,
    /// `allow` or `deny`, as logged.
    pub logged_decision: &'static str,
    /// The rule as logged.
    pub logged_rule: String,
    /// secpath's verdict.
    pub secpath_decision: Verdict,
    /// secpath's rule, spelt as the logs spell it.
    pub secpath_rule: Option<String>,
}

/// A denied flow (source port dropped, so retries group) and how often it was seen.
#[derive(Clone, Debug, Serialize)]
pub struct DeniedFlow {
    /// `tcp 203.0.113.5 -> 10.1.1.4:22`.
    pub flow: String,
    /// Records.
    pub count: u64,
}

/// What `secpath replay` reports (`secpath.replay/v1`).
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// Always `secpath.replay/v1`.
    pub schema: &'static str,
    /// Records read: evaluated + skipped.
    pub records_read: u64,
    /// Records judged.
    pub evaluated: u64,
    /// Records skipped, all reasons.
    pub skipped: u64,
    /// Records skipped, by reason.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Records allowed.
    pub allowed: u64,
    /// Records denied.
    pub denied: u64,
    /// Records with no path.
    pub no_path: u64,
    /// Records a plan's unknown values leave undecided.
    #[serde(skip_serializing_if = "crate::evaluate::is_zero")]
    pub unknown: u64,
    /// Connections tracked (captures).
    pub connections: u64,
    /// Hits per rule, most first.
    pub hits: Vec<RuleCount>,
    /// Rules of the snapshot no record hit.
    pub never_fired: Vec<RuleCount>,
    /// The most frequent denied flows.
    pub top_denied: Vec<DeniedFlow>,
    /// Records compared with a logged decision.
    pub compared: u64,
    /// All disagreements.
    pub disagreements_total: u64,
    /// The first disagreements (all are in `--out`).
    pub disagreements: Vec<Disagreement>,
}

/// A denied flow as the summary names it, without its source port:
/// `tcp 203.0.113.5 -> 10.1.1.4:22`.
pub(crate) fn denied_text(f: &Flow) -> String {
    match f.dst_port {
        Some(p) => format!("{} {} -> {}:{p}", f.protocol_name(), f.src, f.dst),
        None => format!("{} {} -> {}", f.protocol_name(), f.src, f.dst),
    }
}

/// A denied flow without its source port, so that retries group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct DeniedKey(Flow);

impl DeniedKey {
    pub(super) fn of(flow: &Flow) -> DeniedKey {
        DeniedKey(Flow {
            src_port: None,
            ..*flow
        })
    }

    fn text(&self) -> String {
        denied_text(&self.0)
    }
}

/// Running totals: what the replay loop counts, for the report ([`Tally::report`]), or for
/// a batch engine to add up elsewhere (its accessors). What a batch engine added up comes
/// back as a tally too ([`super::batch::report`]), so that one report is built one way.
#[derive(Default)]
pub struct Tally {
    pub(super) read: u64,
    pub(super) evaluated: u64,
    pub(super) skipped: BTreeMap<String, u64>,
    pub(super) allowed: u64,
    pub(super) denied: u64,
    pub(super) no_path: u64,
    pub(super) unknown: u64,
    pub(super) connections: u64,
    pub(super) hits: HashMap<ResourceId, (RuleHit, u64)>,
    pub(super) denied_flows: HashMap<DeniedKey, u64>,
    pub(super) compared: u64,
    pub(super) disagreements_total: u64,
    pub(super) disagreements: Vec<Disagreement>,
}

impl Tally {
    /// A record that could not be judged.
    pub fn skip(&mut self, reason: &str) {
        self.read += 1;
        *self
            .skipped
            .entry(crate::evaluate::reason_kind(reason))
            .or_default() += 1;
    }

    /// A record judged; `hits` is `None` for records that continue a flow already counted
    /// (flow-log C/E tuples).
    pub fn judged(&mut self, flow: &Flow, verdict: Verdict, hits: Option<&Judgement>) {
        self.judged_in_connection(verdict, hits);
        if verdict == Verdict::Deny {
            self.denied_flow(flow, 1);
        }
    }

    /// A packet judged with its connection's verdict (`hits` only for the packet that opened
    /// it). Its denied flow is counted when the connection ends ([`Tally::connection_ended`]),
    /// so that a packet costs no hashing here.
    pub fn judged_in_connection(&mut self, verdict: Verdict, hits: Option<&Judgement>) {
        self.read += 1;
        self.evaluated += 1;
        match verdict {
            Verdict::Allow => self.allowed += 1,
            Verdict::Deny => self.denied += 1,
            Verdict::NoPath => self.no_path += 1,
            Verdict::Unknown => self.unknown += 1,
        }
        if let Some(j) = hits {
            self.hit(j);
        }
    }

    /// Adds a hit to each rule of `j`, without counting a record: for a connection whose
    /// first packet was judged otherwise (a reply the admin rules denied, D6).
    pub fn hit(&mut self, j: &Judgement) {
        for hit in &j.hits {
            // Look up before inserting: cloning the id for every record costs more than the
            // second lookup on a rule's first hit.
            match self.hits.get_mut(&hit.id) {
                Some((_, n)) => *n += 1,
                None => {
                    self.hits.insert(hit.id.clone(), (hit.clone(), 1));
                }
            }
        }
    }

    /// A connection ended: its packets, counted by [`Tally::judged_in_connection`], are
    /// denied flows in each direction when it was denied.
    pub fn connection_ended(&mut self, c: &Connection) {
        if c.judgement.verdict == Verdict::Deny {
            self.denied_flow(&c.forward, c.packets - c.replies);
            self.denied_flow(&reverse(&c.forward), c.replies);
        }
    }

    fn denied_flow(&mut self, flow: &Flow, packets: u64) {
        if packets > 0 {
            *self.denied_flows.entry(DeniedKey::of(flow)).or_default() += packets;
        }
    }

    /// A connection opened.
    pub fn connection(&mut self) {
        self.connections += 1;
    }

    /// A judged record compared with its log; `disagreement` describes it when they differ
    /// (built only while the summary still keeps them).
    pub fn compared(&mut self, agree: bool, disagreement: impl FnOnce() -> Disagreement) {
        self.compared += 1;
        if !agree {
            self.disagreements_total += 1;
            if self.disagreements.len() < KEEP_DISAGREEMENTS {
                self.disagreements.push(disagreement());
            }
        }
    }

    /// Adds another worker's totals (from a later unit: its disagreements come after ours).
    pub fn merge(&mut self, other: Tally) {
        self.read += other.read;
        self.evaluated += other.evaluated;
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.allowed += other.allowed;
        self.denied += other.denied;
        self.no_path += other.no_path;
        self.unknown += other.unknown;
        self.connections += other.connections;
        for (id, (hit, n)) in other.hits {
            self.hits.entry(id).or_insert((hit, 0)).1 += n;
        }
        for (key, n) in other.denied_flows {
            *self.denied_flows.entry(key).or_default() += n;
        }
        self.compared += other.compared;
        self.disagreements_total += other.disagreements_total;
        let room = KEEP_DISAGREEMENTS.saturating_sub(self.disagreements.len());
        self.disagreements
            .extend(other.disagreements.into_iter().take(room));
    }

    /// The counts, named as the report names them, in its order.
    pub fn counts(&self) -> [(&'static str, u64); 9] {
        [
            ("records_read", self.read),
            ("evaluated", self.evaluated),
            ("allowed", self.allowed),
            ("denied", self.denied),
            ("no_path", self.no_path),
            ("unknown", self.unknown),
            ("connections", self.connections),
            ("compared", self.compared),
            ("disagreements_total", self.disagreements_total),
        ]
    }

    /// Records skipped, by the kind of reason ([`crate::evaluate::reason_kind`]).
    pub fn skipped(&self) -> &BTreeMap<String, u64> {
        &self.skipped
    }

    /// The rules hit and how often, in no order.
    pub fn hits(&self) -> impl Iterator<Item = (&RuleHit, u64)> {
        self.hits.values().map(|(hit, n)| (hit, *n))
    }

    /// The denied flows (their source port absent) and how often each was seen, in no order.
    pub fn denied_flows(&self) -> impl Iterator<Item = (&Flow, u64)> {
        self.denied_flows.iter().map(|(key, n)| (&key.0, *n))
    }

    /// The report, with never-fired rules taken from `policy`.
    pub fn report(self, policy: &Policy) -> ReplayReport {
        let count = RuleCount::of;
        let mut hits: Vec<RuleCount> = self.hits.values().map(|(h, n)| count(h, *n)).collect();
        hits.sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.id.cmp(&b.id)));
        let never_fired = every_rule(policy)
            .into_iter()
            .filter(|h| !self.hits.contains_key(&h.id))
            .map(|h| count(&h, 0))
            .collect();
        let mut top: Vec<(DeniedKey, u64)> = self.denied_flows.into_iter().collect();
        // Flow logs from the Internet deny hundreds of thousands of distinct flows: pick the
        // first ten, then sort those, instead of sorting all of them.
        let order =
            |a: &(DeniedKey, u64), b: &(DeniedKey, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0));
        if top.len() > TOP_DENIED {
            top.select_nth_unstable_by(TOP_DENIED, order);
            top.truncate(TOP_DENIED);
        }
        top.sort_unstable_by(order);
        let top = top
            .into_iter()
            .map(|(key, count)| DeniedFlow {
                flow: key.text(),
                count,
            })
            .collect();
        ReplayReport {
            schema: "secpath.replay/v1",
            records_read: self.read,
            evaluated: self.evaluated,
            skipped: self.skipped.values().sum(),
            skipped_by_reason: self.skipped,
            allowed: self.allowed,
            denied: self.denied,
            no_path: self.no_path,
            unknown: self.unknown,
            connections: self.connections,
            hits,
            never_fired,
            top_denied: top,
            compared: self.compared,
            disagreements_total: self.disagreements_total,
            disagreements: self.disagreements,
        }
    }
}

/// Every rule that applies somewhere in the snapshot, each once.
pub(crate) fn every_rule(policy: &Policy) -> Vec<RuleHit> {
    let mut seen = std::collections::BTreeMap::new();
    let s = &policy.snapshot;
    for nsg in &s.nsgs {
        for (rule, _) in &nsg.rules {
            seen.entry(rule.id.clone()).or_insert(RuleHit {
                id: rule.id.clone(),
                layer: Layer::Nsg,
                is_default: rule.is_default,
            });
        }
    }
    let admin = policy
        .subnet_admin
        .iter()
        .chain(policy.vnets.iter().map(|v| &v.admin));
    for rule in admin.flat_map(|p| &p.rules) {
        seen.entry(rule.rule.id.clone()).or_insert(RuleHit {
            id: rule.rule.id.clone(),
            layer: Layer::Admin,
            is_default: false,
        });
    }
    seen.into_values().collect()
}
