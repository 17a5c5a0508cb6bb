//! `secpath audit` and `secpath diff`: exact answers over the whole flow space.
//!
//! [`audit`] examines a [`Policy`] table by table and end to end and returns an
//! [`AuditReport`] of [`Finding`]s:
//!
//! - per rule table (each NSG per VNet and direction, each admin rule list per VNet and
//!   direction): **shadowed** rules (no flow reaches them; the covering rules are named; a
//!   note when those rules give their flows the same effect, a warning when not),
//!   **redundant** rules (the rules after them would decide their flows the same way),
//!   **overridden** NSG rules (admin Deny/AlwaysAllow decides their flows first) and
//!   admin priority **ties** across collections or managers (SEMANTICS §2.3);
//! - end to end, per NIC and per subnet without NICs: **exposure** to sources outside
//!   Azure, with high-risk ports and any-port exposure as errors;
//! - from a replay's hits file: **unused** rules;
//! - from scope and deployment: **connection** problems, **out-of-scope members**, and
//!   configurations **not deployed** where they are targeted;
//! - from a Terraform plan's unknown values: **cannot-decide**, once per rule the plan does
//!   not know in full, and per NIC or subnet where flows from outside Azure depend on one.
//!   A table holding such a rule gets no shadowed, redundant, overridden or tie findings:
//!   each of them would be a claim about what the unknown rule does.
//!
//! Every finding about flows carries a witness flow; `secpath explain` on it shows the
//! claim. All set computations are exact ([`crate::flowspace`]); only the list of regions
//! printed for an exposure may be cut short, and says so.
//!
//! [`diff()`] compares two policies (before and after a change) and returns every region of
//! flow space whose end-to-end verdict changes ([`DiffReport`]).
//!
//! Reports render as text ([`text::audit_text`], [`text::diff_text`]), JSON (serde, schemas
//! `secpath.audit/v1` and `secpath.diff/v1`) and SARIF 2.1.0 ([`sarif::sarif`]).

mod admin;
mod connections;
pub mod diff;
pub mod exposure;
pub mod findings;
pub mod hits;
mod paths;
pub mod sarif;
mod spaces;
mod tables;
pub mod text;
mod zones;

pub use diff::{diff, DiffOptions, DiffReport, Selector};
pub use findings::{AuditReport, Finding, FindingKind, Severity};
pub use hits::Hits;
pub use zones::ZoneKind;

use crate::model::AddrSet;
use crate::resolve::{Policy, ResolvedRule};
use findings::{SourceLocation, Witness};
use std::collections::{HashMap, HashSet};
use tables::{Outcome, Table};

/// What an audit looks at beyond the policy.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// Hits from `secpath replay --hits`: rules without hits are reported unused.
    pub hits: Option<Hits>,
    /// Sources for exposure instead of the Internet (addresses outside every VNet).
    pub exposure_sources: Option<AddrSet>,
    /// The most regions listed per exposure finding.
    pub max_regions: usize,
}

impl Default for AuditOptions {
    fn default() -> AuditOptions {
        AuditOptions {
            hits: None,
            exposure_sources: None,
            max_regions: 32,
        }
    }
}

/// Audits `policy` (see the module documentation for what is reported).
pub fn audit(policy: &Policy, options: &AuditOptions) -> AuditReport {
    let engine = paths::Engine::new(policy);
    let tables = tables::tables(&engine.spaces);
    let mut findings = Vec::new();
    let mut ballot = Ballot::default();
    let mut decisive = HashMap::new();
    for table in &tables {
        if table
            .rules
            .iter()
            .any(|r| policy.snapshot.unknown(&r.rule.id).is_some())
        {
            continue;
        }
        let outcomes = table.outcomes(&policy.snapshot, |r| !r.rule.is_default);
        for (i, kind, vote) in table_votes(table, &outcomes, policy) {
            ballot.cast(kind, table.rules[i], vote);
        }
        for (i, vote) in admin::overridden(table, &outcomes, &mut decisive, &engine.spaces) {
            ballot.cast(FindingKind::Overridden, table.rules[i], vote);
        }
        findings.extend(admin::ties(table, policy));
    }
    findings.extend(ballot.results());
    findings.extend(unknown_rules(policy));
    findings.extend(exposure::exposure(
        &engine,
        options.exposure_sources.as_ref(),
        options.max_regions,
    ));
    if let Some(hits) = &options.hits {
        findings.extend(hits::unused(policy, hits));
    }
    findings.extend(connections::connection_findings(policy));
    let findings = locate(dedupe(findings), policy);
    let rules = tables.iter().map(|t| t.rules.len()).sum();
    let mut warnings = policy.warnings.clone();
    warnings.extend(
        options
            .exposure_sources
            .as_ref()
            .and_then(|sources| sources_inside_vnets(policy, sources)),
    );
    warnings.extend(options.hits.as_ref().and_then(|h| hits::foreign(policy, h)));
    AuditReport::new(findings, tables.len(), rules, warnings)
}

/// A warning when some `--exposure-from` sources lie in VNets: exposure is what sources
/// outside Azure reach, so those addresses are left out, and the user should know.
fn sources_inside_vnets(policy: &Policy, sources: &AddrSet) -> Option<String> {
    let mut outside = sources.clone();
    for vnet in &policy.snapshot.vnets {
        for net in &vnet.address_space {
            outside.subtract(&AddrSet::from_net(*net));
        }
    }
    let mut inside = sources.clone();
    inside.subtract(&outside);
    (!inside.is_empty()).then(|| {
        format!(
            "--exposure-from: {} lie in VNets and were left out: exposure is what sources outside Azure reach (use `secpath diff --from` or `explain` for flows from inside)",
            inside.describe()
        )
    })
}

/// One cannot-decide finding per rule a plan does not know in full.
fn unknown_rules(policy: &Policy) -> Vec<Finding> {
    policy
        .snapshot
        .unknowns
        .iter()
        .map(|(id, attributes)| {
            let names: Vec<String> = attributes.iter().map(|a| format!("`{a}`")).collect();
            let what = match id.parent() {
                Some(nsg) if attributes.iter().any(|a| a == "security_rule") => {
                    format!("the whole `security_rule` list of NSG {}", nsg.name())
                }
                _ => format!("{} of rule {}", names.join(", "), id.name()),
            };
            let message = format!(
                "the plan does not know {what}: every flow it may match cannot be decided until the plan is applied"
            );
            Finding::new(FindingKind::CannotDecide, id.to_string(), message)
        })
        .collect()
}

/// What one table says about one rule for one kind of finding.
#[derive(Clone, Debug)]
pub(crate) enum Vote {
    /// The finding holds here.
    Yes(Box<Finding>),
    /// It does not.
    No,
    /// This table has nothing to say (the rule is shadowed here, or guards nothing).
    Neutral,
}

/// Votes per (kind, rule): a rule listed in several tables (an NSG in two VNets, admin
/// rules at several subnets) gets a finding only when no table contradicts it.
#[derive(Default)]
struct Ballot {
    votes: HashMap<(FindingKind, String), (bool, Option<Finding>)>,
    order: Vec<(FindingKind, String)>,
}

impl Ballot {
    fn cast(&mut self, kind: FindingKind, rule: &ResolvedRule, vote: Vote) {
        let key = (kind, rule.rule.id.key().to_string());
        let entry = self.votes.entry(key.clone()).or_insert_with(|| {
            self.order.push(key);
            (false, None)
        });
        match vote {
            Vote::Yes(f) => {
                entry.1.get_or_insert(*f);
            }
            Vote::No => entry.0 = true,
            Vote::Neutral => {}
        }
    }

    fn results(mut self) -> Vec<Finding> {
        let votes = &mut self.votes;
        self.order
            .iter()
            .filter_map(|key| match votes.remove(key) {
                Some((false, Some(f))) => Some(f),
                _ => None,
            })
            .collect()
    }
}

/// Shadowed and redundant votes of one table, by rule index.
fn table_votes(
    table: &Table,
    outcomes: &[Option<Outcome>],
    policy: &Policy,
) -> Vec<(usize, FindingKind, Vote)> {
    let s = &policy.snapshot;
    let mut out = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        let rule = table.rules[i];
        match outcome {
            Some(Outcome::Live { .. }) => {
                out.push((i, FindingKind::Shadowed, Vote::No));
                out.push((i, FindingKind::Redundant, Vote::No));
                continue;
            }
            Some(Outcome::Shadowed { .. }) => out.push((i, FindingKind::Redundant, Vote::Neutral)),
            Some(Outcome::Redundant { .. }) => out.push((i, FindingKind::Shadowed, Vote::No)),
            None => continue,
        }
        let outside = outside_reach(table, i, outcome);
        let (kind, message, related, witness_set) = match outcome {
            Some(Outcome::Shadowed {
                covering,
                same_effect,
                witness,
            }) => {
                let names: Vec<String> = covering
                    .iter()
                    .map(|&j| admin::describe(table.rules[j]))
                    .collect();
                // Only a rule that matches nothing the table sees is covered by no earlier
                // rule: nothing at all, or nothing at the addresses the table guards.
                let message = if outside {
                    let end = match table.direction {
                        crate::model::Direction::Inbound => "destinations",
                        crate::model::Direction::Outbound => "sources",
                    };
                    format!(
                        "rule {} matches no flow that reaches it: its {end} lie outside the addresses this table guards, so it never takes effect here (unless a NIC forwards traffic, which secpath does not model)",
                        admin::describe(rule)
                    )
                } else if names.is_empty() {
                    format!(
                        "rule {} matches no flow (an empty address or port list, an application security group without members, or a service tag that resolves to no address), so it never takes effect",
                        admin::describe(rule)
                    )
                } else {
                    format!(
                        "rule {} is never reached: {} decide{} every flow it matches first, {}",
                        admin::describe(rule),
                        names.join(", "),
                        if names.len() == 1 { "s" } else { "" },
                        if *same_effect {
                            "with its effect (it is dead weight: removing it changes nothing)"
                        } else {
                            "not all with its effect (it does not do what it says)"
                        }
                    )
                };
                let ids = covering
                    .iter()
                    .map(|&j| table.rules[j].rule.id.to_string())
                    .collect::<Vec<_>>();
                // Out of reach, the witness is a flow the rule matches elsewhere.
                let witness = if outside {
                    &table.spaces[i].set
                } else {
                    witness
                };
                (FindingKind::Shadowed, message, ("covered-by", ids), witness)
            }
            Some(Outcome::Redundant {
                deciders,
                passes,
                decided,
            }) => {
                let mut then: Vec<String> = deciders
                    .iter()
                    .map(|&j| admin::describe(table.rules[j]))
                    .collect();
                if *passes {
                    then.push("no rule (the stage passes them on)".to_string());
                }
                let message = format!(
                    "rule {} is redundant: without it, {} would give every flow it decides the same verdict",
                    admin::describe(rule),
                    then.join(", ")
                );
                let ids = deciders
                    .iter()
                    .map(|&j| table.rules[j].rule.id.to_string())
                    .collect::<Vec<_>>();
                (
                    FindingKind::Redundant,
                    message,
                    ("decided-then-by", ids),
                    decided,
                )
            }
            _ => continue,
        };
        let mut f = Finding::new(kind, rule.rule.id.to_string(), message)
            .with_related(related.0, related.1);
        if let Some(Outcome::Shadowed {
            covering,
            same_effect: true,
            ..
        }) = outcome
        {
            // Dead weight: covered by rules with its effect, or aimed where the table
            // never looks.
            if !covering.is_empty() || outside {
                f.severity = Severity::Note;
            }
        }
        f.point = Some(table.label(s));
        f.witness = table.witness(s, witness_set).map(|(flow, pin)| match pin {
            Some(pin) => admin::pinned(flow, pin, table.direction),
            None => Witness {
                flow: flow.to_string(),
                from: None,
                to: None,
            },
        });
        out.push((i, kind, Vote::Yes(Box::new(f))));
    }
    out
}

/// True when rule `i` of `table` is shadowed by no earlier rule although it matches
/// flows: the flows it matches are not among those the table sees.
fn outside_reach(table: &Table, i: usize, outcome: &Option<Outcome>) -> bool {
    matches!(outcome, Some(Outcome::Shadowed { covering, .. }) if covering.is_empty())
        && !table.spaces[i].set.is_empty()
}

/// One finding per (kind, resource, related, message): the same NSG in two VNets, or the
/// same admin rules at two points, say the same thing twice. The message keeps apart what
/// differs only there: the exposure of each private address of one NIC.
fn dedupe(findings: Vec<Finding>) -> Vec<Finding> {
    let mut seen = HashSet::new();
    findings
        .into_iter()
        .filter(|f| {
            let related: Vec<&str> = f.related.iter().map(|r| r.id.as_str()).collect();
            seen.insert((
                f.kind,
                f.resource.to_ascii_lowercase(),
                related.join("|").to_ascii_lowercase(),
                f.message.clone(),
            ))
        })
        .collect()
}

/// Adds where each finding's resource was read, when it is a rule.
fn locate(mut findings: Vec<Finding>, policy: &Policy) -> Vec<Finding> {
    let s = &policy.snapshot;
    let mut places: HashMap<String, SourceLocation> = HashMap::new();
    let nsg_rules = s.nsgs.iter().flat_map(|n| &n.rules);
    let admin_rules = s
        .managers
        .iter()
        .flat_map(|m| &m.security_configs)
        .flat_map(|c| &c.collections)
        .flat_map(|c| &c.rules);
    for (rule, at) in nsg_rules.chain(admin_rules) {
        let place = SourceLocation {
            file: at.file.display().to_string(),
            json_path: at.path.clone(),
        };
        places.entry(rule.id.key().to_string()).or_insert(place);
    }
    for f in &mut findings {
        f.location = places
            .get(crate::model::ResourceId::new(&f.resource).key())
            .cloned();
    }
    findings
}
