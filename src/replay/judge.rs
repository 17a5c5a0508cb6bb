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

use super::flowlog::{LogFormat, LoggedDecision};
use crate::eval::locate::locate;
use crate::eval::matching::{match_rule, EndpointAsgs};
use crate::eval::{explain, explain_side, Decision, Layer, Outcome, Pins, Side, Stage, Verdict};
use crate::flow::Flow;
use crate::model::{Access, Direction, ResourceId};
use crate::resolve::{Policy, ResolvedRule, RuleSource};

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
    pub hits: Vec<RuleHit>,
}

/// Judges a whole-path record (a packet opening a connection, a plain tuple).
pub fn whole_path(policy: &Policy, flow: &Flow, pins: &Pins) -> Result<Judgement, String> {
    let e = explain(policy, flow, pins).map_err(|e| e.to_string())?;
    let hits: Vec<RuleHit> = e
        .allowed_by
        .iter()
        .chain(&e.decided_by)
        .filter_map(RuleHit::of_decision)
        .collect();
    let rule = match e.verdict {
        Verdict::Allow => hits.last().cloned(),
        _ => e.decided_by.as_ref().and_then(RuleHit::of_decision),
    };
    Ok(Judgement {
        verdict: e.verdict,
        rule,
        hits,
    })
}

/// Judges a flow-log tuple at the point that logged it.
pub fn at_logging_point(
    policy: &Policy,
    flow: &Flow,
    logged: &LoggedDecision,
) -> Result<Judgement, String> {
    match logged.format {
        LogFormat::NsgV1 | LogFormat::NsgV2 => at_nsg(policy, flow, logged),
        LogFormat::VnetV4 => at_vnet_point(policy, flow, logged),
    }
}

fn at_nsg(policy: &Policy, flow: &Flow, logged: &LoggedDecision) -> Result<Judgement, String> {
    let s = &policy.snapshot;
    let id = logged
        .resource_id
        .as_deref()
        .ok_or("the record names no NSG")?;
    let id = ResourceId::new(id);
    let nsg = s
        .nsgs
        .iter()
        .position(|n| n.id == id)
        .ok_or_else(|| format!("the logging NSG `{}` is not in the snapshot", id.name()))?;
    let (local, remote) = match logged.direction {
        Direction::Inbound => (flow.dst, flow.src),
        Direction::Outbound => (flow.src, flow.dst),
    };
    let here = locate(s, local, None, "local").ok();
    let there = locate(s, remote, None, "remote").ok();
    // The VNet whose `VirtualNetwork` applies: where the local endpoint is, else anywhere
    // the NSG is attached.
    let vnet = here
        .as_ref()
        .and_then(|e| e.vnet)
        .filter(|v| policy.nsg_rules.contains_key(&(nsg, *v)))
        .or_else(|| {
            policy
                .nsg_rules
                .keys()
                .filter(|(n, _)| *n == nsg)
                .map(|(_, v)| *v)
                .min()
        })
        .ok_or_else(|| {
            format!(
                "the logging NSG `{}` is attached to nothing in the snapshot",
                id.name()
            )
        })?;
    let no_asgs: &[usize] = &[];
    let asgs_of = |e: &Option<crate::eval::locate::Endpoint>| {
        e.as_ref().map_or(no_asgs, |e| e.asgs.as_slice()).to_vec()
    };
    let (local_asgs, remote_asgs) = (asgs_of(&here), asgs_of(&there));
    let asgs = match logged.direction {
        Direction::Inbound => EndpointAsgs {
            src: &remote_asgs,
            dst: &local_asgs,
        },
        Direction::Outbound => EndpointAsgs {
            src: &local_asgs,
            dst: &remote_asgs,
        },
    };
    let hit = policy.nsg_rules[&(nsg, vnet)]
        .iter()
        .filter(|r| r.rule.direction == logged.direction)
        .find(|r| match_rule(r, flow, asgs, policy.options.any_protocol).all());
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

fn at_vnet_point(
    policy: &Policy,
    flow: &Flow,
    logged: &LoggedDecision,
) -> Result<Judgement, String> {
    if logged
        .encryption
        .as_deref()
        .is_some_and(super::flowlog::is_encryption_drop)
    {
        return Err("dropped for encryption, which secpath does not model".to_string());
    }
    let target = logged
        .resource_id
        .as_deref()
        .map(ResourceId::new)
        .ok_or("the record names no target resource")?;
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
    let stages = explain_side(policy, flow, side, &pins).map_err(|e| e.to_string())?;
    Ok(side_judgement(&stages))
}

/// The verdict of one side's stages, the rule Azure would log for it, and every hit.
fn side_judgement(stages: &[Stage]) -> Judgement {
    let decisive = |s: &&Stage| {
        matches!(
            s.outcome,
            Outcome::Deny | Outcome::Allow | Outcome::AlwaysAllow
        )
    };
    let hits: Vec<RuleHit> = stages
        .iter()
        .filter(decisive)
        .filter_map(|s| s.decided_by.as_ref().and_then(RuleHit::of_decision))
        .collect();
    let denied = stages.iter().any(|s| s.outcome == Outcome::Deny);
    Judgement {
        verdict: if denied {
            Verdict::Deny
        } else {
            Verdict::Allow
        },
        rule: hits.last().cloned(),
        hits,
    }
}

/// Normalises a logged rule name for comparison: case-insensitive, without the NSG
/// `UserRule_` / `DefaultRule_` prefixes (VNet flow logs write bare names).
pub fn comparable(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    for prefix in ["userrule_", "defaultrule_"] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    lower
}

/// True when the logged decision and rule agree with secpath's judgement. A missing logged
/// rule compares as agreeing on the rule.
pub fn agrees(logged: &LoggedDecision, judged: &Judgement) -> bool {
    let decision = logged.allowed == (judged.verdict == Verdict::Allow);
    let rule = logged.rule.is_empty()
        || logged.rule.eq_ignore_ascii_case("unspecified")
        || judged
            .rule
            .as_ref()
            .is_some_and(|r| comparable(&r.log_name()) == comparable(&logged.rule));
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
        assert_eq!(
            comparable("DefaultRule_DenyAllInbound"),
            comparable(&hit.log_name())
        );
        assert_eq!(comparable("UserRule_Allow-Web"), "allow-web");
        assert_eq!(comparable("BlockHighRisk"), "blockhighrisk");
    }
}
