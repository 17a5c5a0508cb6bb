//! Text for people: aligned tables, short names with the full id where it matters, the
//! deciding rule highlighted (colour only when the caller says the output is a terminal).

use crate::effective::{EffectiveReport, EffectiveRule};
use crate::eval::{Explanation, Outcome, RuleTrace, Stage, Verdict};
use crate::model::ResourceId;
use std::fmt::Write;

/// ANSI styling, on or off.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Emit colour codes.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    fn red(&self, t: &str) -> String {
        self.paint("1;31", t)
    }
    fn green(&self, t: &str) -> String {
        self.paint("1;32", t)
    }
    fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
}

fn short(id: &Option<String>) -> String {
    id.as_deref().map_or_else(
        || "-".to_string(),
        |i| ResourceId::new(i).name().to_string(),
    )
}

/// `explain` as text.
pub fn explanation(e: &Explanation, style: Style) -> String {
    let mut out = String::new();
    let f = &e.flow;
    let end = |a: &str, p: Option<u16>| {
        p.map_or_else(
            || a.to_string(),
            |p| {
                if a.contains(':') {
                    format!("[{a}]:{p}")
                } else {
                    format!("{a}:{p}")
                }
            },
        )
    };
    let _ = writeln!(
        out,
        "flow         {} {} -> {}",
        f.protocol,
        end(&f.src, f.src_port),
        end(&f.dst, f.dst_port)
    );
    let verdict = match e.verdict {
        Verdict::Allow => style.green("ALLOW"),
        Verdict::Deny => style.red("DENY"),
        Verdict::NoPath => style.red("NO-PATH"),
        Verdict::Unknown => style.bold("UNKNOWN"),
    };
    let why = match &e.decided_by {
        None => "every stage passed".to_string(),
        Some(d) if d.rule.is_some() => format!(
            "by {} rule {} ({}) at the {}",
            match d.layer {
                crate::eval::Layer::Admin => "admin",
                _ => "NSG",
            },
            style.bold(d.rule.as_deref().unwrap_or("")),
            // The D7 deny has neither a priority nor a rule of its own.
            d.access
                .map(|a| a.to_string())
                .into_iter()
                .chain(d.priority.map(|p| format!("priority {p}")))
                .collect::<Vec<_>>()
                .join(", "),
            d.side
                .map_or("path", |s| if s == crate::eval::Side::Source {
                    "source"
                } else {
                    "destination"
                }),
        ),
        Some(d) => d.reason.clone().unwrap_or_default(),
    };
    let _ = writeln!(out, "verdict      {verdict}  {why}");
    if let Some(id) = e.decided_by.as_ref().and_then(|d| d.resource.as_ref()) {
        let _ = writeln!(out, "             {}", style.dim(id));
    }
    if let Some(d) = e.decided_by.as_ref().filter(|d| !d.unknown.is_empty()) {
        let _ = writeln!(
            out,
            "             the plan does not know: {}",
            d.unknown.join(", ")
        );
    }
    for (label, ep) in [("source", &e.source), ("destination", &e.destination)] {
        let place = match (&ep.nic, &ep.subnet, &ep.vnet) {
            (Some(_), _, _) => format!(
                "NIC {} in {}/{}",
                short(&ep.nic),
                short(&ep.vnet),
                short(&ep.subnet)
            ),
            (None, Some(_), _) => format!("subnet {}/{}", short(&ep.vnet), short(&ep.subnet)),
            (None, None, Some(_)) => format!("VNet {}", short(&ep.vnet)),
            _ => format!("{:?}", ep.kind)
                .to_lowercase()
                .replace("onpremises", "on-premises"),
        };
        let _ = writeln!(out, "{label:<12} {:<16} {place}", ep.address);
    }
    for (i, stage) in e.stages.iter().enumerate() {
        stage_text(&mut out, i + 1, stage, style);
    }
    if !e.hints.is_empty() {
        let _ = writeln!(out, "\nwhat would have to change");
        for h in &e.hints {
            let _ = writeln!(out, "  - {h}");
        }
    }
    for c in &e.connections {
        let _ = writeln!(
            out,
            "\nnote: cross-tenant connection {} -> {} is {}: {}",
            short(&Some(c.manager.clone())),
            c.scope,
            c.state,
            c.detail
        );
    }
    if !e.warnings.is_empty() {
        let _ = writeln!(out, "\n{} warning(s), on standard error", e.warnings.len());
    }
    out
}

fn stage_text(out: &mut String, n: usize, stage: &Stage, style: Style) {
    let side = stage.side.map_or("path", |s| {
        if s == crate::eval::Side::Source {
            "source"
        } else {
            "destination"
        }
    });
    let what = match stage.layer {
        crate::eval::Layer::Admin => format!("admin rules of VNet {}", short(&stage.resource)),
        crate::eval::Layer::Nsg => {
            let level = if stage.level == crate::eval::Level::Nic {
                "NIC"
            } else {
                "subnet"
            };
            let nsg = stage
                .resource
                .as_ref()
                .map_or_else(|| "(none)".to_string(), |_| short(&stage.resource));
            match &stage.applied_to {
                Some(at) => format!("{level} NSG {nsg} on {}", short(&Some(at.clone()))),
                None => format!("{level} NSG {nsg}"),
            }
        }
        crate::eval::Layer::Path => "reachability".to_string(),
    };
    let dir = stage
        .direction
        .map_or(String::new(), |d| format!(" {d}").to_lowercase());
    let name = outcome_name(stage.outcome);
    let outcome = match stage.outcome {
        Outcome::Deny | Outcome::NoPath => style.red(&name.to_uppercase()),
        Outcome::Allow | Outcome::AlwaysAllow | Outcome::Reachable => style.green(name),
        _ => name.to_string(),
    };
    let _ = writeln!(out, "\n{n}. {side}{dir}: {what} -> {outcome}");
    if let Some(r) = &stage.reason {
        let _ = writeln!(out, "   {}", style.dim(r));
    }
    if stage.rules.is_empty() {
        if stage.layer == crate::eval::Layer::Admin && stage.outcome == Outcome::NoMatch {
            let _ = writeln!(
                out,
                "   {}",
                style.dim("no admin rule applies here in this direction")
            );
        }
        return;
    }
    let width = stage
        .rules
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "     {:>5}  {:<width$}  {:<11}  P S SP D DP  rule",
        "prio", "name", "access"
    );
    for r in &stage.rules {
        rule_line(out, r, width, style);
    }
}

/// The JSON spelling of an outcome, reused in text.
fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Deny => "deny",
        Outcome::Allow => "allow",
        Outcome::AlwaysAllow => "always-allow",
        Outcome::NoMatch => "no-match",
        Outcome::Skipped => "skipped",
        Outcome::Reachable => "reachable",
        Outcome::NoPath => "no-path",
        Outcome::Unknown => "unknown",
    }
}

fn rule_line(out: &mut String, r: &RuleTrace, width: usize, style: Style) {
    let mark = |b: bool| if b { "✓" } else { "·" };
    let m = &r.fields;
    let line = format!(
        "{:>5}  {:<width$}  {:<11}  {} {} {}  {} {}   {}",
        r.priority,
        r.name,
        r.access.to_string(),
        mark(m.protocol),
        mark(m.source),
        mark(m.source_port),
        mark(m.destination),
        mark(m.destination_port),
        r.summary
    );
    let line = if r.unknown.is_empty() {
        line
    } else {
        format!("{line}  (unknown in the plan: {})", r.unknown.join(", "))
    };
    if r.matched {
        let _ = writeln!(out, "  >  {}", style.bold(&line));
    } else {
        let _ = writeln!(out, "     {line}");
    }
}

/// `replay`'s summary as text.
pub fn replay(r: &crate::replay::tally::ReplayReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "records read   {:>10}", r.records_read);
    let _ = writeln!(
        out,
        "  evaluated    {:>10}   (allowed {}, denied {}, no-path {}{})",
        r.evaluated,
        r.allowed,
        r.denied,
        r.no_path,
        if r.unknown > 0 {
            format!(", unknown {}", r.unknown)
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "  skipped      {:>10}", r.skipped);
    for (reason, n) in &r.skipped_by_reason {
        let _ = writeln!(out, "    {n:>10}  {reason}");
    }
    if r.connections > 0 {
        let _ = writeln!(out, "connections    {:>10}", r.connections);
    }
    if r.compared > 0 {
        let _ = writeln!(
            out,
            "compared with the log {:>6}, disagreements {}",
            r.compared, r.disagreements_total
        );
        for d in r.disagreements.iter().take(20) {
            let _ = writeln!(
                out,
                "  {}: {}\n      logged {} by {}, secpath {} by {}",
                d.source,
                d.flow,
                d.logged_decision,
                if d.logged_rule.is_empty() {
                    "(no rule)"
                } else {
                    &d.logged_rule
                },
                crate::evaluate::verdict_name(d.secpath_decision),
                d.secpath_rule
                    .as_deref()
                    .unwrap_or(match d.secpath_decision {
                        Verdict::Unknown => "(a rule the plan does not know)",
                        Verdict::NoPath => "(no path)",
                        Verdict::Allow | Verdict::Deny => "(no rule: the level passes)",
                    })
            );
        }
        if r.disagreements_total > 20 {
            let _ = writeln!(
                out,
                "  ... {} more (all in --out; --format json lists the first {})",
                r.disagreements_total - 20,
                crate::replay::tally::KEEP_DISAGREEMENTS
            );
        }
    }
    let _ = writeln!(out, "\nhits per rule");
    for h in r.hits.iter().take(25) {
        let _ = writeln!(
            out,
            "  {:>10}  {:<5}  {}/{}",
            h.hits,
            format!("{:?}", h.layer).to_lowercase(),
            h.owner,
            h.name
        );
    }
    if r.hits.len() > 25 {
        let _ = writeln!(
            out,
            "  ... {} more rules (--format json, --hits)",
            r.hits.len() - 25
        );
    }
    let _ = writeln!(out, "\nrules that never fired: {}", r.never_fired.len());
    for h in r.never_fired.iter().take(25) {
        let _ = writeln!(
            out,
            "  {:<5}  {}/{}",
            format!("{:?}", h.layer).to_lowercase(),
            h.owner,
            h.name
        );
    }
    if r.never_fired.len() > 25 {
        let _ = writeln!(
            out,
            "  ... {} more (--format json)",
            r.never_fired.len() - 25
        );
    }
    if !r.top_denied.is_empty() {
        let _ = writeln!(out, "\ntop denied flows");
        for d in &r.top_denied {
            let _ = writeln!(out, "  {:>10}  {}", d.count, d.flow);
        }
    }
    out
}

/// `effective` as text.
pub fn effective(report: &EffectiveReport) -> String {
    let mut out = String::new();
    for v in &report.vnets {
        let _ = writeln!(
            out,
            "VNet {} ({})\n  {}",
            ResourceId::new(&v.id).name(),
            v.location,
            v.id
        );
        let _ = writeln!(
            out,
            "  VirtualNetwork tag: {}",
            v.virtual_network_tag.join(", ")
        );
        for s in &v.subnets {
            let _ = writeln!(out, "\n  subnet {}", ResourceId::new(&s.id).name());
            admin_rules(&mut out, "    ", s.admin_exempt.as_deref(), &s.admin_rules);
            if let Some(nsg) = &s.nsg {
                let _ = writeln!(out, "    NSG {}:", ResourceId::new(&nsg.nsg).name());
                rules_table(&mut out, &nsg.rules);
            }
        }
        out.push('\n');
    }
    for n in &report.nics {
        let _ = writeln!(
            out,
            "NIC {} [{}]\n  {}",
            ResourceId::new(&n.id).name(),
            n.addresses.join(", "),
            n.id
        );
        admin_rules(&mut out, "  ", n.admin_exempt.as_deref(), &n.admin_rules);
        if n.nsgs.is_empty() {
            let _ = writeln!(out, "  no NSG at the subnet or the NIC");
        }
        if n.nsgs.len() > 1 {
            // Listed subnet first; the outbound walk meets them the other way round.
            let _ = writeln!(
                out,
                "  inbound meets the subnet NSG first, outbound the NIC NSG first; both must allow"
            );
        }
        for nsg in &n.nsgs {
            let _ = writeln!(
                out,
                "  {} NSG {}:",
                nsg.level,
                ResourceId::new(&nsg.nsg).name()
            );
            rules_table(&mut out, &nsg.rules);
        }
        out.push('\n');
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(
            out,
            "{} warning(s), on standard error",
            report.warnings.len()
        );
    }
    out
}

/// The admin rules at a subnet or NIC, or why there are none.
fn admin_rules(out: &mut String, indent: &str, exempt: Option<&str>, rules: &[EffectiveRule]) {
    match exempt {
        Some(why) => {
            let _ = writeln!(out, "{indent}admin rules: none ({why})");
        }
        None if rules.is_empty() => {
            let _ = writeln!(out, "{indent}admin rules: none");
        }
        None => {
            let _ = writeln!(out, "{indent}admin rules, in evaluation order:");
            rules_table(out, rules);
        }
    }
}

/// A rule's expanded addresses; none (a network group without members) says so rather
/// than printing nothing.
fn addresses(list: &[String]) -> String {
    if list.is_empty() {
        "(no address)".to_string()
    } else {
        list.join(",")
    }
}

fn rules_table(out: &mut String, rules: &[EffectiveRule]) {
    let width = rules.iter().map(|r| r.name.len()).max().unwrap_or(4);
    for r in rules {
        let _ = writeln!(
            out,
            "      {:>5}  {:<width$}  {:<8}  {:<11}  {:<4}  {}:{} -> {}:{}",
            r.priority,
            r.name,
            r.direction.to_string(),
            r.access.to_string(),
            r.protocol,
            addresses(&r.source),
            r.source_ports.join(","),
            addresses(&r.destination),
            r.destination_ports.join(","),
        );
        if !r.unknown.is_empty() {
            let _ = writeln!(
                out,
                "             (unknown in the plan: {})",
                r.unknown.join(", ")
            );
        }
    }
}
