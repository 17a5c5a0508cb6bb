//! Audit and diff reports as text for people.

use super::diff::{Change, Decision, DiffReport};
use super::findings::{AuditReport, Finding};
use crate::eval::Verdict;
use crate::model::ResourceId;
use std::fmt::Write;

/// Regions listed per finding or change in text (JSON has them all).
const TEXT_REGIONS: usize = 8;

/// The audit report: one block per finding, most severe first, then the totals.
pub fn audit_text(report: &AuditReport) -> String {
    let mut out = String::new();
    for f in &report.findings {
        finding(&mut out, f);
    }
    let c = &report.counts;
    let _ = writeln!(
        out,
        "{} error{}, {} warning{}, {} note{} ({} rules in {} tables)",
        c.error,
        plural(c.error),
        c.warning,
        plural(c.warning),
        c.note,
        plural(c.note),
        report.rules,
        report.tables
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn finding(out: &mut String, f: &Finding) {
    let _ = writeln!(out, "{:<7} {}: {}", f.severity.as_str(), f.kind, f.message);
    if let Some(point) = &f.point {
        let _ = writeln!(out, "        at {point}");
    }
    if !f.resource.is_empty() {
        let _ = writeln!(out, "        resource {}", f.resource);
    }
    for r in &f.related {
        let _ = writeln!(out, "        {} {}", r.role, r.id);
    }
    if let Some(w) = &f.witness {
        let mut pins = String::new();
        if let Some(from) = &w.from {
            let _ = write!(pins, " --from {from}");
        }
        if let Some(to) = &w.to {
            let _ = write!(pins, " --to {to}");
        }
        let _ = writeln!(out, "        witness: secpath explain{pins} \"{}\"", w.flow);
    }
    let label = if f.kind == super::FindingKind::CannotDecide {
        "undecided"
    } else {
        "reachable"
    };
    for r in f.regions.iter().take(TEXT_REGIONS) {
        let _ = writeln!(out, "        {label}: {}", r.text);
    }
    if f.regions.len() > TEXT_REGIONS || f.regions_truncated {
        let _ = writeln!(out, "        … more regions in --format json");
    }
}

/// The diff report: changes grouped by destination, then the totals.
pub fn diff_text(report: &DiffReport) -> String {
    let mut out = String::new();
    let mut last: Option<&str> = None;
    for c in &report.changes {
        if last != Some(c.destination.name.as_str()) {
            let _ = writeln!(out, "to {}", c.destination.name);
            last = Some(&c.destination.name);
        }
        change(&mut out, c);
    }
    let _ = writeln!(
        out,
        "{} change{} ({} opened, {} closed{}) over {} address pairs",
        report.changes.len(),
        plural(report.changes.len()),
        report.opened,
        report.closed,
        if report.may_change > 0 {
            format!(", {} may change: the plan does not know", report.may_change)
        } else {
            String::new()
        },
        report.pairs_compared
    );
    if report.unverified {
        let _ = writeln!(out, "warning: some witnesses did not check out with `explain` (marked ✗): please report this");
    }
    out
}

fn change(out: &mut String, c: &Change) {
    let _ = writeln!(
        out,
        "  from {}: {} → {}",
        c.source.name,
        decision(&c.before),
        decision(&c.after)
    );
    for r in c.regions.iter().take(TEXT_REGIONS) {
        let mark = if r.verified { "✓" } else { "✗" };
        let witness = r.region.witness.as_deref().unwrap_or("");
        let _ = writeln!(out, "    {}   e.g. {witness} {mark}", r.region.text);
    }
    if c.regions.len() > TEXT_REGIONS || c.regions_truncated {
        let _ = writeln!(out, "    … more regions in --format json");
    }
}

fn decision(d: &Decision) -> String {
    let name = |id: &String| format!("`{}`", crate::eval::decider_name(&ResourceId::new(id)));
    match d.verdict {
        Verdict::Allow if d.allowed_by.is_empty() => "allow".to_string(),
        Verdict::Allow => {
            // The rules that admitted the first region's witness: other flows of the change
            // may be admitted by other rules (see each region's witness with `explain`).
            let names: Vec<String> = d.allowed_by.iter().map(name).collect();
            format!("allow (e.g. by {})", names.join(", "))
        }
        Verdict::NoPath => "no-path".to_string(),
        Verdict::Unknown => match &d.rule {
            Some(rule) => format!("unknown (the plan does not know rule {})", name(rule)),
            None => "unknown".to_string(),
        },
        Verdict::Deny => match &d.rule {
            Some(rule) => format!("deny (by {})", name(rule)),
            None => "deny".to_string(),
        },
    }
}
