//! What `explain` reports: the verdict, the deciding rule, and every stage with the rules
//! it consulted (SEMANTICS §5). These types serialise to `secpath.explain/v1`
//! (docs/explain-json.md).

use super::locate::{Endpoint, EndpointKind};
use super::matching::MatchVector;
use crate::flow::Flow;
use crate::model::{Access, Direction, ResourceId};
use crate::resolve::{Policy, ResolvedRule};
use serde::Serialize;

/// The name `decided_by.rule` carries for the D7 deny, which has no rule of its own.
pub const CLOSED_PUBLIC_IP_RULE: &str = "StandardPublicIpClosedWithoutNsg";

/// The outcome of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Delivered.
    Allow,
    /// Dropped by a rule.
    Deny,
    /// No network path between the endpoints.
    NoPath,
    /// A rule that a Terraform plan does not know in full may decide: the walk stopped at
    /// it (`decided_by` names the rule and its unknown attributes).
    Unknown,
}

/// Which end of the flow a stage belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The source's outbound evaluation.
    Source,
    /// The destination's inbound evaluation.
    Destination,
}

/// Which layer decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Security admin rules.
    Admin,
    /// NSG rules.
    Nsg,
    /// Reachability.
    Path,
}

/// Where a stage's rules are enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The VNet (admin rules) — or the path stage.
    Vnet,
    /// The subnet's NSG.
    Subnet,
    /// The NIC's NSG.
    Nic,
}

/// What a stage did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A rule denied.
    Deny,
    /// A rule allowed (admin Allow hands on to the NSGs).
    Allow,
    /// An admin AlwaysAllow admitted and skipped this side's NSGs.
    AlwaysAllow,
    /// No rule matched: the stage passes.
    NoMatch,
    /// Not evaluated (the reason says why).
    Skipped,
    /// Path: reachable.
    Reachable,
    /// Path: not reachable.
    NoPath,
    /// A rule with unknown attributes (from a plan) may match: the stage cannot be decided.
    Unknown,
}

/// The rule (or path reason) behind a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// `admin`, `nsg` or `path`.
    pub layer: Layer,
    /// `source` or `destination` (absent for `path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// ARM id of the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// ARM name of the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The rule's priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// The rule's access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// Why, for path decisions and rule-less denies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For an `unknown` verdict: the rule's attributes the plan does not know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// One rule consulted, with its five match booleans.
#[derive(Clone, Debug, Serialize)]
pub struct RuleTrace {
    /// ARM name.
    pub name: String,
    /// ARM id.
    pub id: String,
    /// Priority.
    pub priority: u32,
    /// Access.
    pub access: Access,
    /// True for an NSG default rule.
    pub default: bool,
    /// True when every field matched (this rule decided the stage).
    pub matched: bool,
    /// The five fields.
    #[serde(flatten)]
    pub fields: MatchVector,
    /// The attributes a plan does not know (their fields were matched as "anything").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// The rule's fields as written, for people: `Tcp Internet:* -> *:22`.
    pub summary: String,
}

impl RuleTrace {
    /// A consulted rule and how it matched.
    pub fn new(rule: &ResolvedRule, m: MatchVector, unknown: &[String]) -> RuleTrace {
        let f = &rule.rule.fields;
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "(empty)".to_string()
            } else {
                items.join(",")
            }
        };
        let summary = format!(
            "{} {}:{} -> {}:{}",
            f.protocol,
            list(f.sources.iter().map(ToString::to_string).collect()),
            list(f.source_ports.iter().map(ToString::to_string).collect()),
            list(f.destinations.iter().map(ToString::to_string).collect()),
            list(
                f.destination_ports
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            ),
        );
        RuleTrace {
            name: rule.rule.name.clone(),
            id: rule.rule.id.to_string(),
            priority: rule.rule.priority,
            access: rule.rule.access,
            default: rule.rule.is_default,
            matched: m.all(),
            fields: m,
            unknown: unknown.to_vec(),
            summary,
        }
    }
}

/// One step of the walk.
#[derive(Clone, Debug, Serialize)]
pub struct Stage {
    /// `source` or `destination` (absent for the path stage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// `admin`, `nsg` or `path`.
    pub layer: Layer,
    /// `vnet`, `subnet` or `nic`.
    pub level: Level,
    /// `inbound` or `outbound`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The VNet (admin) or NSG (nsg) whose rules were consulted.
    pub resource: Option<String>,
    /// The subnet or NIC where they are enforced.
    pub applied_to: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// Why (skips, path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rule that decided this stage.
    pub decided_by: Option<Decision>,
    /// Every rule consulted, in order, up to and including the one that matched.
    pub rules: Vec<RuleTrace>,
}

impl Stage {
    /// A stage that was not evaluated.
    pub(super) fn skipped(side: Side, layer: Layer, level: Level, reason: String) -> Stage {
        Stage {
            side: Some(side),
            layer,
            level,
            direction: Some(match side {
                Side::Source => Direction::Outbound,
                Side::Destination => Direction::Inbound,
            }),
            resource: None,
            applied_to: None,
            outcome: Outcome::Skipped,
            reason: Some(reason),
            decided_by: None,
            rules: Vec::new(),
        }
    }

    /// The path stage.
    pub(super) fn path(reachable: bool, reason: String) -> Stage {
        Stage {
            side: None,
            layer: Layer::Path,
            level: Level::Vnet,
            direction: None,
            resource: None,
            applied_to: None,
            outcome: if reachable {
                Outcome::Reachable
            } else {
                Outcome::NoPath
            },
            decided_by: (!reachable).then(|| Decision {
                layer: Layer::Path,
                side: None,
                resource: None,
                rule: None,
                priority: None,
                access: None,
                reason: Some(reason.clone()),
                unknown: Vec::new(),
            }),
            reason: Some(reason),
            rules: Vec::new(),
        }
    }

    /// D7 `--no-nsg=deny`: a Standard public IP is closed without an NSG.
    pub(super) fn closed_public_ip(nic: &ResourceId) -> Stage {
        let reason = "the NIC has a Standard public IP and neither it nor its subnet has an NSG: closed to inbound traffic by default (--no-nsg=deny, D7)".to_string();
        let mut stage = Stage::skipped(Side::Destination, Layer::Nsg, Level::Nic, reason.clone());
        stage.outcome = Outcome::Deny;
        stage.applied_to = Some(nic.to_string());
        stage.decided_by = Some(Decision {
            layer: Layer::Nsg,
            side: Some(Side::Destination),
            resource: Some(nic.to_string()),
            rule: Some(CLOSED_PUBLIC_IP_RULE.to_string()),
            priority: None,
            access: Some(Access::Deny),
            reason: Some(reason),
            unknown: Vec::new(),
        });
        stage
    }
}

/// An endpoint as reported.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointView {
    /// The address.
    pub address: String,
    /// `nic`, `vnet-address`, `on-premises` or `internet`.
    pub kind: EndpointKind,
    /// VNet id.
    pub vnet: Option<String>,
    /// Subnet id.
    pub subnet: Option<String>,
    /// NIC id.
    pub nic: Option<String>,
}

/// The flow as reported.
#[derive(Clone, Debug, Serialize)]
pub struct FlowView {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `esp`, `ah` or the number.
    pub protocol: String,
    /// Source address.
    pub src: String,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination address.
    pub dst: String,
    /// Destination port.
    pub dst_port: Option<u16>,
}

/// The full answer of `explain` (`secpath.explain/v1`).
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    /// Always `secpath.explain/v1`.
    pub schema: &'static str,
    /// The flow.
    pub flow: FlowView,
    /// The verdict.
    pub verdict: Verdict,
    /// The deny rule, or the path reason; null when allowed.
    pub decided_by: Option<Decision>,
    /// Every rule that admitted the flow on its way (admin Allow/AlwaysAllow, NSG Allow).
    pub allowed_by: Vec<Decision>,
    /// The source endpoint.
    pub source: EndpointView,
    /// The destination endpoint.
    pub destination: EndpointView,
    /// Every stage, in the order walked.
    pub stages: Vec<Stage>,
    /// What would have to change for a different verdict.
    pub hints: Vec<String>,
    /// Cross-tenant connections that are not Connected.
    pub connections: Vec<crate::resolve::scope::ConnectionReport>,
    /// Warnings from loading and resolving.
    pub warnings: Vec<String>,
    /// The switches in force (D1–D7).
    pub options: crate::options::Options,
}

impl Explanation {
    pub(super) fn new(
        policy: &Policy,
        flow: &Flow,
        src: &Endpoint,
        dst: &Endpoint,
        stages: Vec<Stage>,
        verdict: Verdict,
    ) -> Explanation {
        let decided_by = match verdict {
            Verdict::Allow => None,
            _ => stages.iter().rev().find_map(|s| s.decided_by.clone()),
        };
        let allowed_by = stages
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Allow | Outcome::AlwaysAllow))
            .filter_map(|s| s.decided_by.clone())
            .collect();
        let outside = src.vnet.is_none() && dst.vnet.is_none();
        let hints = hints(verdict, decided_by.as_ref(), &stages, outside);
        Explanation {
            schema: "secpath.explain/v1",
            flow: FlowView {
                protocol: flow.protocol_name().into_owned(),
                src: flow.src.to_string(),
                src_port: flow.src_port,
                dst: flow.dst.to_string(),
                dst_port: flow.dst_port,
            },
            verdict,
            decided_by,
            allowed_by,
            source: view(policy, src),
            destination: view(policy, dst),
            stages,
            hints,
            connections: policy
                .connections
                .iter()
                .filter(|c| c.state != "Connected")
                .cloned()
                .collect(),
            warnings: policy.warnings.clone(),
            options: policy.options.clone(),
        }
    }
}

fn view(policy: &Policy, e: &Endpoint) -> EndpointView {
    let s = &policy.snapshot;
    EndpointView {
        address: e.address.to_string(),
        kind: e.kind,
        vnet: e.vnet.map(|v| s.vnets[v].id.to_string()),
        subnet: e.subnet.map(|x| s.subnets[x].id.to_string()),
        nic: e.nic.map(|n| s.nics[n].id.to_string()),
    }
}

/// What would have to change: one or two sentences naming the resource to edit.
/// `outside`: neither endpoint is in a VNet of the snapshot (no VNets to peer).
fn hints(
    verdict: Verdict,
    decided: Option<&Decision>,
    stages: &[Stage],
    outside: bool,
) -> Vec<String> {
    let Some(d) = decided else { return Vec::new() };
    let short = |id: &Option<String>| {
        id.as_deref()
            .map_or(String::new(), |i| ResourceId::new(i).name().to_string())
    };
    let stage = stages
        .iter()
        .rev()
        .find(|s| s.decided_by.as_ref() == Some(d));
    let mut out = Vec::new();
    match (verdict, d.layer) {
        (Verdict::Unknown, _) => out.push(format!(
            "the plan does not know {} of rule `{}`: apply the plan (or fill in those values) and ask again",
            d.unknown.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", "),
            d.rule.as_deref().unwrap_or("")
        )),
        (Verdict::NoPath, _) if outside => out.push(
            "neither address is in a VNet of the snapshot, so no Azure layer sees this flow: check the addresses, or add the VNets (and NICs) that hold them to the snapshot".to_string(),
        ),
        (Verdict::NoPath, _) => out.push(
            "peer the two VNets (both sides Connected), or put both in a deployed AVNM connectivity configuration (mesh, or hub-and-spoke with the hub; global where they are in different regions); peering is not transitive".to_string(),
        ),
        (_, Layer::Admin) => out.push(format!(
            "admin rule `{}` (priority {}) decides before any NSG, so no NSG change can admit this flow: the network manager's administrators must narrow or remove it, or add {} for this flow",
            d.rule.as_deref().unwrap_or(""),
            d.priority.unwrap_or(0),
            // No admin priority beats 1, and a tie goes to the Deny (SEMANTICS §2.3).
            if d.priority == Some(1) {
                "an AlwaysAllow rule in a manager of a higher scope tier (nothing in this one can come before priority 1)"
            } else {
                "a higher-precedence AlwaysAllow admin rule (an Allow only hands the flow to the NSGs)"
            }
        )),
        (_, Layer::Nsg) if d.priority.is_none() => out.push(
            "associate an NSG with the NIC or its subnet that allows this flow (a Standard public IP is closed without one)".to_string(),
        ),
        (_, Layer::Nsg) => {
            let nsg = short(&stage.and_then(|s| s.resource.clone()));
            let rule = d.rule.as_deref().unwrap_or("");
            let is_default = stage.and_then(|s| s.rules.last()).is_some_and(|r| r.default);
            let lowest = if is_default { Some(4096) } else { d.priority.and_then(|p| p.checked_sub(1)).filter(|&p| p >= 100) };
            out.push(match lowest {
                Some(lowest) => format!(
                    "add an Allow rule for this flow to NSG `{nsg}` with a priority of {lowest} or lower (a smaller number wins){}",
                    if is_default { String::new() } else { format!(", or narrow `{rule}`") }
                ),
                // Custom priorities start at 100: nothing can be placed before this deny.
                None => format!(
                    "narrow or remove `{rule}` in NSG `{nsg}`: at priority {}, no Allow rule can come before it (custom priorities are 100-4096)",
                    d.priority.unwrap_or(100)
                ),
            });
        }
        (_, Layer::Path) => {}
    }
    if d.side == Some(Side::Source) {
        out.push(
            "the destination side was not evaluated: the flow stopped at the source".to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deny by the NSG rule `name` at `priority`, the last rule of its stage.
    fn nsg_deny(name: &str, priority: u32) -> (Decision, Vec<Stage>) {
        let d = Decision {
            layer: Layer::Nsg,
            side: Some(Side::Destination),
            resource: Some(format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/nsg-app/securityRules/{name}")),
            rule: Some(name.to_string()),
            priority: Some(priority),
            access: Some(Access::Deny),
            reason: None,
            unknown: Vec::new(),
        };
        let mut stage = Stage::skipped(Side::Destination, Layer::Nsg, Level::Subnet, String::new());
        stage.outcome = Outcome::Deny;
        stage.reason = None;
        stage.resource = Some(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/nsg-app"
                .to_string(),
        );
        stage.decided_by = Some(d.clone());
        (d, vec![stage])
    }

    #[test]
    fn a_no_path_hint_asks_for_peering_only_between_two_vnets() {
        let stages = vec![Stage::path(false, "why".to_string())];
        let d = stages[0].decided_by.clone().unwrap();
        let between = hints(Verdict::NoPath, Some(&d), &stages, false);
        assert!(between[0].starts_with("peer the two VNets"), "{between:?}");
        let outside = hints(Verdict::NoPath, Some(&d), &stages, true);
        assert!(!outside[0].contains("peer"), "{outside:?}");
        assert!(
            outside[0].contains("neither address is in a VNet"),
            "{outside:?}"
        );
    }

    #[test]
    fn an_nsg_deny_hint_asks_for_an_allow_only_where_one_fits() {
        let (d, stages) = nsg_deny("Deny-Web", 300);
        let got = hints(Verdict::Deny, Some(&d), &stages, false);
        assert!(got[0].contains("priority of 299 or lower"), "{got:?}");
        // 100 is the first custom priority: no Allow can come before a Deny there.
        let (d, stages) = nsg_deny("Deny-All", 100);
        let got = hints(Verdict::Deny, Some(&d), &stages, false);
        assert!(!got[0].contains("priority of 100"), "{got:?}");
        assert!(got[0].contains("narrow or remove `Deny-All`"), "{got:?}");
        assert!(got[0].contains("nsg-app"), "{got:?}");
    }

    /// An admin Deny is beaten only by an AlwaysAllow before it; at priority 1 nothing in
    /// its own manager comes before it.
    #[test]
    fn an_admin_deny_hint_asks_for_an_always_allow_where_one_fits() {
        for (priority, wanted) in [
            (10, "a higher-precedence AlwaysAllow admin rule"),
            (1, "an AlwaysAllow rule in a manager of a higher scope tier"),
        ] {
            let (mut d, mut stages) = nsg_deny("Deny-Ssh", priority);
            d.layer = Layer::Admin;
            stages[0].decided_by = Some(d.clone());
            let got = hints(Verdict::Deny, Some(&d), &stages, false);
            assert!(got[0].contains(wanted), "{priority}: {got:?}");
        }
    }
}
