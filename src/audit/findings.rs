//! What an audit reports: findings with a kind, a severity, the resources involved, one
//! line of explanation and, where a flow shows the problem, a witness flow
//! (`secpath.audit/v1`).

use crate::flowspace::Cube;
use serde::Serialize;
use std::fmt;

/// How bad a finding is. Ordered: `Note < Warning < Error`, so `--fail-on warning`
/// fails on warnings and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing is wrong.
    Note,
    /// Probably a mistake, or a rule that does not do what it says.
    Warning,
    /// Risky as it stands (high-risk exposure to the Internet).
    Error,
}

impl Severity {
    /// `note`, `warning` or `error` (SARIF's level names too).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of finding (SARIF rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A rule no flow reaches: earlier rules decide all its flows.
    Shadowed,
    /// A rule whose removal changes no verdict.
    Redundant,
    /// An NSG rule whose flows admin rules decide first (Deny or AlwaysAllow).
    Overridden,
    /// Two admin rules of equal priority in different collections or managers that both
    /// match some flow (SEMANTICS §2.3).
    Tie,
    /// What the Internet can reach at a NIC or subnet, through the whole path.
    Exposure,
    /// A rule with no hits in a replay hits file.
    Unused,
    /// A cross-tenant connection that is not Connected.
    Connection,
    /// A static group member outside its manager's scope (it receives nothing).
    OutOfScopeMember,
    /// A security admin configuration not deployed to the region of a VNet it targets.
    NotDeployed,
    /// A rule a Terraform plan does not know in full, or flows whose fate depends on one:
    /// the audit cannot decide them and says so instead of calling them safe.
    CannotDecide,
}

impl FindingKind {
    /// Every kind, in report order.
    pub const ALL: [FindingKind; 10] = [
        FindingKind::CannotDecide,
        FindingKind::Exposure,
        FindingKind::Shadowed,
        FindingKind::Redundant,
        FindingKind::Overridden,
        FindingKind::Tie,
        FindingKind::Unused,
        FindingKind::Connection,
        FindingKind::OutOfScopeMember,
        FindingKind::NotDeployed,
    ];

    /// The kebab-case id (`shadowed`, `out-of-scope-member`).
    pub fn id(self) -> &'static str {
        match self {
            FindingKind::Shadowed => "shadowed",
            FindingKind::Redundant => "redundant",
            FindingKind::Overridden => "overridden",
            FindingKind::Tie => "tie",
            FindingKind::Exposure => "exposure",
            FindingKind::Unused => "unused",
            FindingKind::Connection => "connection",
            FindingKind::OutOfScopeMember => "out-of-scope-member",
            FindingKind::NotDeployed => "not-deployed",
            FindingKind::CannotDecide => "cannot-decide",
        }
    }

    /// One sentence: what the kind means.
    pub fn description(self) -> &'static str {
        match self {
            FindingKind::Shadowed => "A rule that no flow can reach: the rules before it decide every flow it matches (a note when they all have its effect, a warning when the rule does not do what it says).",
            FindingKind::Redundant => "A rule whose removal changes no verdict: the rules after it would decide its flows the same way.",
            FindingKind::Overridden => "An NSG rule whose flows are all decided first by a security admin rule (Deny or AlwaysAllow), so the NSG rule never takes effect.",
            FindingKind::Tie => "Two security admin rules with the same priority in different rule collections or managers that both match some flow; Azure does not document which wins (SEMANTICS §2.3).",
            FindingKind::Exposure => "Flows from the Internet that reach a NIC or subnet through admin rules and NSGs; high-risk ports and any-port exposure are errors.",
            FindingKind::Unused => "A rule that matched nothing in the replayed traffic (secpath replay --hits).",
            FindingKind::Connection => "A cross-tenant network manager connection that is not Connected: the manager's rules do not reach that scope.",
            FindingKind::OutOfScopeMember => "A static network group member outside the manager's scope: it receives none of the manager's configurations.",
            FindingKind::NotDeployed => "A security admin configuration that targets a VNet but is not deployed to the VNet's region: its rules do not apply there.",
            FindingKind::CannotDecide => "A rule whose match fields a Terraform plan does not know yet, or flows from outside Azure whose verdict depends on such a rule: secpath cannot decide them, so it does not call them safe.",
        }
    }

    /// The default severity of the kind (a finding may raise it).
    pub fn default_severity(self) -> Severity {
        match self {
            FindingKind::Redundant | FindingKind::Unused => Severity::Note,
            FindingKind::Exposure => Severity::Error,
            _ => Severity::Warning,
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Another resource a finding names, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Related {
    /// `covered-by`, `decided-by`, `overridden-by`, `tied-with`, `scope`, ...
    pub role: &'static str,
    /// ARM id.
    pub id: String,
}

/// A flow that shows the finding, with the pins that place its endpoints, ready for
/// `secpath explain [--from FROM] [--to TO] FLOW`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Witness {
    /// `tcp 203.0.113.1:50000 -> 10.1.1.4:22`.
    pub flow: String,
    /// Source pin (NIC, subnet or VNet id), when needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Destination pin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A region of flow space, for people and programs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Region {
    /// `tcp 0.0.0.0/0:* -> 10.1.0.0/24:22` (long address lists cut).
    pub text: String,
    /// `ipv4` or `ipv6`.
    pub family: crate::flowspace::Family,
    /// Protocols (`tcp`, `any`, `non-tcp/udp`, `47`).
    pub protocols: String,
    /// Source CIDR blocks, all of them.
    pub src: Vec<String>,
    /// Source ports (`*`, `1024-65535`).
    pub src_ports: String,
    /// Destination CIDR blocks, all of them.
    pub dst: Vec<String>,
    /// Destination ports.
    pub dst_ports: String,
    /// A flow of the region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
    /// The region itself, for programs that test flows against it.
    #[serde(skip)]
    pub cube: Cube,
}

/// How many CIDR blocks a region's text shows before cutting.
const TEXT_BLOCKS: usize = 4;

impl Region {
    /// The region of one cube.
    pub fn of(cube: &Cube) -> Region {
        use crate::flowspace::cube::{cidrs, ports_text, protocols_text};
        let blocks = |r| {
            cidrs(cube.family, r)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        Region {
            text: cube.render(TEXT_BLOCKS),
            family: cube.family,
            protocols: protocols_text(&cube.protocols),
            src: blocks(&cube.src),
            src_ports: ports_text(&cube.src_ports),
            dst: blocks(&cube.dst),
            dst_ports: ports_text(&cube.dst_ports),
            witness: cube.witness().map(|f| f.to_string()),
            cube: cube.clone(),
        }
    }
}

/// Where in the input a resource was read (for SARIF's physical locations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    /// The file as given.
    pub file: String,
    /// The JSON path inside it, or in a secpath DSL file the statement's line (see
    /// [`crate::error::Location::path`]).
    pub json_path: String,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// The resource the finding is about (a rule, NIC, subnet, connection, member): ARM id.
    pub resource: String,
    /// Where: the enforcement point and direction in words (`NSG nsg-web in vnet-spoke,
    /// inbound`), when the finding is about a rule table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// The private address, when the finding is about one address of a NIC (a NIC may
    /// hold several, each with its own exposure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// One line for people.
    pub message: String,
    /// Other resources involved.
    pub related: Vec<Related>,
    /// A flow that shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
    /// Regions of flow space (exposure: what is reachable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<Region>,
    /// True when `regions` had to be cut short.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub regions_truncated: bool,
    /// Where the resource was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

impl Finding {
    /// A finding of `kind` at its default severity, with nothing but the message.
    pub fn new(
        kind: FindingKind,
        resource: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            severity: kind.default_severity(),
            resource: resource.into(),
            point: None,
            address: None,
            message: message.into(),
            related: Vec::new(),
            witness: None,
            regions: Vec::new(),
            regions_truncated: false,
            location: None,
        }
    }

    /// Adds related resources.
    pub fn with_related(
        mut self,
        role: &'static str,
        ids: impl IntoIterator<Item = String>,
    ) -> Finding {
        self.related
            .extend(ids.into_iter().map(|id| Related { role, id }));
        self
    }
}

/// Findings per severity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Errors.
    pub error: usize,
    /// Warnings.
    pub warning: usize,
    /// Notes.
    pub note: usize,
}

/// What `secpath audit` reports (`secpath.audit/v1`).
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// Always `secpath.audit/v1`.
    pub schema: &'static str,
    /// Findings per severity.
    pub counts: Counts,
    /// Rule tables analysed (NSG per VNet and direction, admin point per direction).
    pub tables: usize,
    /// Rules analysed (counting a rule once per table).
    pub rules: usize,
    /// Every finding, most severe first.
    pub findings: Vec<Finding>,
    /// Warnings from loading and resolving the snapshot.
    pub warnings: Vec<String>,
}

impl AuditReport {
    /// A report of `findings`, sorted (severity, kind, resource) and counted.
    pub fn new(
        mut findings: Vec<Finding>,
        tables: usize,
        rules: usize,
        warnings: Vec<String>,
    ) -> AuditReport {
        findings.sort_by(|a, b| {
            (b.severity, a.kind, &a.resource, &a.message).cmp(&(
                a.severity,
                b.kind,
                &b.resource,
                &b.message,
            ))
        });
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        AuditReport {
            schema: "secpath.audit/v1",
            counts: Counts {
                error: count(Severity::Error),
                warning: count(Severity::Warning),
                note: count(Severity::Note),
            },
            tables,
            rules,
            findings,
            warnings,
        }
    }

    /// The most severe finding's severity; `None` when there is no finding.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// True when a finding is at least as severe as `level` (`--fail-on LEVEL`).
    pub fn fails_at(&self, level: Severity) -> bool {
        self.max_severity().is_some_and(|s| s >= level)
    }
}
