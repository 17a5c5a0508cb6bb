//! `secpath audit` and `secpath diff` at library level: fixtures where each finding must
//! and must not appear, every witness checked with `explain`, and property tests on
//! mutated copies of the Contoso rule set (diff regions exact, shadowed rules never decide).

use proptest::prelude::*;
use secpath::audit::{
    self, AuditOptions, AuditReport, DiffOptions, DiffReport, Finding, FindingKind, Hits, Selector,
    Severity,
};
use secpath::eval::{self, Pins, Verdict};
use secpath::flow::Flow;
use secpath::load::load_snapshot;
use secpath::model::{Access, PortRange, ResourceId, Snapshot};
use secpath::options::Options;
use secpath::resolve::tags::ServiceTags;
use secpath::resolve::Policy;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

fn snapshot(paths: &[&str]) -> Snapshot {
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| super::support::root().join(p))
        .collect();
    load_snapshot(&paths).expect("fixture loads")
}

fn build(snapshot: Snapshot) -> Policy {
    Policy::build(snapshot, Options::new(), &ServiceTags::none()).expect("fixture resolves")
}

fn policy(paths: &[&str]) -> Policy {
    build(snapshot(paths))
}

fn run(paths: &[&str]) -> AuditReport {
    audit::audit(&policy(paths), &AuditOptions::default())
}

/// The kinds reported about the resource named `name` (a rule, NIC, connection scope...).
fn kinds(report: &AuditReport, name: &str) -> Vec<FindingKind> {
    let is = |f: &&Finding| {
        ResourceId::new(&f.resource)
            .name()
            .eq_ignore_ascii_case(name)
    };
    report.findings.iter().filter(is).map(|f| f.kind).collect()
}

fn finding<'r>(report: &'r AuditReport, kind: FindingKind, name: &str) -> &'r Finding {
    let is = |f: &&Finding| {
        f.kind == kind
            && ResourceId::new(&f.resource)
                .name()
                .eq_ignore_ascii_case(name)
    };
    report.findings.iter().find(is).unwrap_or_else(|| {
        panic!(
            "no {kind} finding for {name}:\n{}",
            audit::text::audit_text(report)
        )
    })
}

fn pins(w: &audit::findings::Witness) -> Pins {
    Pins {
        from: w.from.as_deref().map(ResourceId::new),
        to: w.to.as_deref().map(ResourceId::new),
    }
}

/// What `explain` says about a finding's witness.
fn explain_witness(p: &Policy, f: &Finding) -> eval::Explanation {
    let w = f
        .witness
        .as_ref()
        .unwrap_or_else(|| panic!("{} has no witness", f.message));
    let flow = Flow::parse(&w.flow).expect("witnesses parse");
    eval::explain(p, &flow, &pins(w)).expect("witnesses locate")
}

/// Every rule id some stage decided with.
fn deciders(e: &eval::Explanation) -> Vec<String> {
    e.stages
        .iter()
        .filter_map(|s| s.decided_by.as_ref()?.resource.clone())
        .map(|r| r.to_ascii_lowercase())
        .collect()
}

/// Each witness shows its finding: shadowed and overridden rules don't decide it (the
/// covering or overriding rule does), exposure witnesses are allowed.
fn check_witnesses(p: &Policy, report: &AuditReport) {
    for f in report.findings.iter().filter(|f| f.witness.is_some()) {
        let e = explain_witness(p, f);
        let decided = deciders(&e);
        let rule = f.resource.to_ascii_lowercase();
        match f.kind {
            FindingKind::Exposure => assert_eq!(e.verdict, Verdict::Allow, "{}", f.message),
            FindingKind::Shadowed | FindingKind::Overridden => {
                assert!(
                    !decided.contains(&rule),
                    "{}: the rule decides its witness",
                    f.message
                );
                let by = f
                    .related
                    .iter()
                    .any(|r| decided.contains(&r.id.to_ascii_lowercase()));
                // These findings are made at the rule's enforcement point, whatever can
                // reach it: a witness from a source with no path there (a rule naming an
                // unpeered VNet's subnet) is dropped before the point, and shows nothing
                // more than that the rule does not decide it.
                assert!(
                    by || matches!(e.verdict, Verdict::Deny | Verdict::NoPath),
                    "{}: {:?} {decided:?}",
                    f.message,
                    e.verdict
                );
            }
            _ => {}
        }
    }
}

#[test]
fn nsg_tables_shadowed_and_redundant() {
    let p = policy(&["fixtures/audit/nsg-tables"]);
    let report = audit::audit(&p, &AuditOptions::default());
    assert_eq!(
        kinds(&report, "AllowSshFromOffice"),
        [FindingKind::Shadowed]
    );
    let f = finding(&report, FindingKind::Shadowed, "AllowSshFromOffice");
    assert!(
        f.related
            .iter()
            .any(|r| r.id.ends_with("/DenySshEverywhere")),
        "{f:?}"
    );
    assert_eq!(
        kinds(&report, "AllowHttpsFromPartner"),
        [FindingKind::Shadowed],
        "Internet covers the partner range"
    );
    assert_eq!(
        kinds(&report, "DenyTelnetFromPartner"),
        [FindingKind::Redundant]
    );
    let f = finding(&report, FindingKind::Redundant, "DenyTelnetFromPartner");
    assert!(
        f.related.iter().any(|r| r.id.ends_with("/DenyAllInBound")),
        "{f:?}"
    );
    assert!(f.location.is_some(), "rules carry where they were read");
    for live in [
        "DenySshEverywhere",
        "AllowHttpsFromInternet",
        "DenyHttpFromVnet",
    ] {
        assert!(
            !kinds(&report, live)
                .iter()
                .any(|k| matches!(k, FindingKind::Shadowed | FindingKind::Redundant)),
            "{live}"
        );
    }
    assert!(
        kinds(&report, "DenyAllInBound").is_empty(),
        "default rules are never reported"
    );
    check_witnesses(&p, &report);
}

/// A custom rule alike a default rule (docs/semantics.md: "an allow from `VirtualNetwork`
/// to `*` is redundant beside `AllowVnetInBound`"): the default cannot be removed, so the
/// custom rule is the redundant one, not left unreported because it hides the default.
#[test]
fn a_rule_alike_a_default_rule_is_the_redundant_one() {
    let path = super::support::scratch_file(
        "alike-default.secpath",
        "subscription 11111111-0000-4000-8000-000000000001 {
  resource-group rg {
    vnet vnet1 region westeurope {
      address-space 10.0.0.0/16
      subnet web prefix 10.0.1.0/24 nsg nsg-web
    }
    nsg nsg-web {
      inbound 100 allow any from VirtualNetwork to * name V
    }
    nic nic1 ip 10.0.1.4 subnet web
  }
}
",
    );
    let p = build(load_snapshot(std::slice::from_ref(&path)).expect("the snapshot loads"));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    let report = audit::audit(&p, &AuditOptions::default());
    assert_eq!(kinds(&report, "V"), [FindingKind::Redundant]);
    let f = finding(&report, FindingKind::Redundant, "V");
    assert!(
        f.related
            .iter()
            .any(|r| r.id.ends_with("/AllowVnetInBound")),
        "{f:?}"
    );
    check_witnesses(&p, &report);
}

#[test]
fn a_rule_that_matches_nothing_says_so_instead_of_naming_no_covering_rule() {
    let p = policy(&["fixtures/audit/unmatchable/network.secpath"]);
    let report = audit::audit(&p, &AuditOptions::default());
    assert_eq!(kinds(&report, "AllowEmptyAsg"), [FindingKind::Shadowed]);
    let f = finding(&report, FindingKind::Shadowed, "AllowEmptyAsg");
    assert!(f.related.is_empty(), "{f:?}");
    assert!(
        f.message.contains("matches no flow") && !f.message.contains("decide every"),
        "{}",
        f.message
    );
    assert!(
        kinds(&report, "DenyNone").is_empty(),
        "an empty list means any (D4 default)"
    );
}

#[test]
fn each_address_of_a_nic_has_its_exposure() {
    let p = policy(&["fixtures/audit/multi-ip/network.secpath"]);
    let report = audit::audit(&p, &AuditOptions::default());
    let text = audit::text::audit_text(&report);
    for ip in ["10.0.1.4", "10.0.1.5"] {
        let flow = Flow::parse(&format!("tcp 203.0.113.7:50000 -> {ip}:22")).unwrap();
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.kind == FindingKind::Exposure
                    && f.message.contains(&format!("({ip})"))
                    && f.regions.iter().any(|r| r.cube.contains(&flow))),
            "{ip}: {text}"
        );
    }
    check_witnesses(&p, &report);
    let addresses: Vec<Option<&str>> = report
        .findings
        .iter()
        .map(|f| f.address.as_deref())
        .collect();
    assert_eq!(addresses, [Some("10.0.1.4"), Some("10.0.1.5")]);
    assert_unique_fingerprints(&report);
}

/// SARIF consumers track alerts by fingerprint: two findings must never share one.
fn assert_unique_fingerprints(report: &AuditReport) {
    let log = audit::sarif::sarif(report);
    let mut prints: Vec<String> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["partialFingerprints"]["secpath/v1"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let n = prints.len();
    prints.sort();
    prints.dedup();
    assert_eq!(prints.len(), n, "{prints:#?}");
}

#[test]
fn shadowed_by_one_rule_or_several_with_the_same_effect_or_another() {
    let p = policy(&["fixtures/audit/shadowing/network.secpath"]);
    let report = audit::audit(&p, &AuditOptions::default());
    let text = audit::text::audit_text(&report);
    let shadowed = |name: &str| {
        assert_eq!(
            kinds(&report, name),
            [FindingKind::Shadowed],
            "{name}: {text}"
        );
        finding(&report, FindingKind::Shadowed, name)
    };
    let covered_by = |f: &Finding| -> Vec<String> {
        f.related
            .iter()
            .map(|r| ResourceId::new(&r.id).name().to_string())
            .collect()
    };
    let same = shadowed("DenyShadowedSame");
    assert_eq!(
        same.severity,
        Severity::Note,
        "dead weight: {}",
        same.message
    );
    assert!(same.message.contains("removing it changes nothing"));
    assert_eq!(covered_by(same), ["DenyLow"]);
    let opposite = shadowed("AllowShadowedOpp");
    assert_eq!(opposite.severity, Severity::Warning);
    assert_eq!(covered_by(opposite), ["DenyLow"]);
    let union = shadowed("DenyUnion");
    assert_eq!(union.severity, Severity::Warning);
    assert_eq!(covered_by(union), ["AllowA", "AllowB"]);
    let partial = shadowed("AllowSsh");
    assert_eq!(
        partial.severity,
        Severity::Warning,
        "DenySshFromOne decides part of it first: {}",
        partial.message
    );
    assert_eq!(covered_by(partial), ["AllowLow"]);
    check_witnesses(&p, &report);
}

#[test]
fn an_nsg_rule_guarding_a_private_endpoint_is_not_overridden() {
    let p = policy(&["fixtures/audit/private-endpoint/network.secpath"]);
    let report = audit::audit(&p, &AuditOptions::default());
    let text = audit::text::audit_text(&report);
    assert!(
        !kinds(&report, "AllowRdp").contains(&FindingKind::Overridden),
        "admin rules skip nic-pe, so AllowRdp admits RDP to it: {text}"
    );
    assert!(
        kinds(&report, "AllowRdpApp").contains(&FindingKind::Overridden),
        "{text}"
    );
    let exposure = finding(&report, FindingKind::Exposure, "nic-pe");
    assert!(
        exposure.related.iter().any(|r| r.id.ends_with("/AllowRdp")),
        "{exposure:?}"
    );
    check_witnesses(&p, &report);
}

/// `fixtures/plans/network.tfplan.json` with the NSG rules known and the admin Deny turned
/// to port 22 with an unknown source: it may or may not decide SSH before `allow-ssh-in`.
#[test]
fn an_admin_rule_the_plan_does_not_know_overrides_nothing() {
    let p = policy(&["fixtures/audit/unknown-admin/tfplan.json"]);
    let report = audit::audit(&p, &AuditOptions::default());
    let text = audit::text::audit_text(&report);
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::Overridden),
        "{text}"
    );
    assert!(
        kinds(&report, "deny-https-from-partner").contains(&FindingKind::CannotDecide),
        "{text}"
    );
}

#[test]
fn admin_overrides_ties_and_semantic_exposure() {
    let p = policy(&["fixtures/audit/admin"]);
    let report = audit::audit(&p, &AuditOptions::default());
    let text = audit::text::audit_text(&report);
    assert!(
        kinds(&report, "AllowRdpFromInternet").contains(&FindingKind::Overridden),
        "{text}"
    );
    assert!(
        kinds(&report, "DenyMonitoring").contains(&FindingKind::Overridden),
        "{text}"
    );
    for not in ["AllowSshFromInternet", "AllowHttps"] {
        assert!(
            !kinds(&report, not).contains(&FindingKind::Overridden),
            "{not}: {text}"
        );
    }
    let tie = finding(&report, FindingKind::Tie, "DenySmb");
    assert_eq!(tie.severity, Severity::Warning, "different access");
    assert!(tie
        .related
        .iter()
        .any(|r| r.id.ends_with("/AllowSmbFromBackup")));
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::Tie && f.message.contains("DenyFtp")),
        "disjoint: {text}"
    );
    let exposure = finding(&report, FindingKind::Exposure, "nic-vm-app");
    assert_eq!(exposure.severity, Severity::Error);
    assert!(
        exposure.message.contains("SSH (22/tcp)"),
        "{}",
        exposure.message
    );
    assert!(
        !exposure.message.contains("RDP"),
        "an admin Deny overrides the NSG allow: {}",
        exposure.message
    );
    let reachable = |port: u16| {
        let flow = Flow::parse(&format!("tcp 203.0.113.7:50000 -> 10.10.1.4:{port}")).unwrap();
        exposure.regions.iter().any(|r| r.cube.contains(&flow))
    };
    assert!(reachable(22) && reachable(443));
    assert!(
        reachable(8443),
        "an admin AlwaysAllow exposes what the NSG denies"
    );
    assert!(!reachable(3389) && !reachable(445));
    assert!(report.fails_at(Severity::Error) && report.max_severity() == Some(Severity::Error));
    check_witnesses(&p, &report);
}

#[test]
fn unused_rules_from_a_hits_file() {
    let p = policy(&["fixtures/audit/nsg-tables"]);
    let https = p.snapshot.nsgs[0]
        .rules
        .iter()
        .find(|(r, _)| r.name == "AllowHttpsFromInternet")
        .unwrap()
        .0
        .id
        .clone();
    let json = serde_json::json!({"schema": "secpath.hits/v1", "records": 10, "rules": {https.as_str().to_uppercase(): 10}});
    let hits = Hits::from_json(&json).unwrap();
    let report = audit::audit(
        &p,
        &AuditOptions {
            hits: Some(hits),
            ..AuditOptions::default()
        },
    );
    assert!(kinds(&report, "DenySshEverywhere").contains(&FindingKind::Unused));
    assert!(
        !kinds(&report, "AllowHttpsFromInternet").contains(&FindingKind::Unused),
        "ids compare case-insensitively"
    );
    assert!(!kinds(&report, "DenyAllInBound").contains(&FindingKind::Unused));
    assert!(
        !report.warnings.iter().any(|w| w.starts_with("--hits")),
        "{:?}",
        report.warnings
    );
    // Hits of another estate name none of these rules: every rule is unused, with a warning.
    let foreign = serde_json::json!({"schema": "secpath.hits/v1", "records": 10,
        "rules": {"/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/networkSecurityGroups/z/securityRules/r": 10}});
    let report = audit::audit(
        &p,
        &AuditOptions {
            hits: Some(Hits::from_json(&foreign).unwrap()),
            ..AuditOptions::default()
        },
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("--hits names 1 rule(s), none of them in this snapshot")),
        "{:?}",
        report.warnings
    );
    assert!(Hits::from_json(&serde_json::json!({"rules": {}})).is_err());
    let none = run(&["fixtures/audit/nsg-tables"]);
    assert!(
        !none.findings.iter().any(|f| f.kind == FindingKind::Unused),
        "no hits file, no unused findings"
    );
}

#[test]
fn connection_scope_and_deployment_findings() {
    let cross = run(&["fixtures/cases/sem-2.1-scope-cross-tenant/snapshot"]);
    let bad: Vec<&Finding> = cross
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Connection)
        .collect();
    assert!(!bad.is_empty(), "{}", audit::text::audit_text(&cross));
    assert!(bad.iter().all(|f| !f.message.contains(" is Connected")));
    let deployed = run(&["fixtures/cases/sem-2.4-deployment-status/snapshot"]);
    assert!(
        deployed
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::NotDeployed),
        "{}",
        audit::text::audit_text(&deployed)
    );
    let contoso = run(&["rulesets/contoso"]);
    for kind in [
        FindingKind::Connection,
        FindingKind::NotDeployed,
        FindingKind::OutOfScopeMember,
    ] {
        assert!(
            !contoso.findings.iter().any(|f| f.kind == kind),
            "contoso is fully connected and deployed: {kind}"
        );
    }
}

#[test]
fn sarif_has_one_run_with_rules_levels_and_logical_locations() {
    let report = run(&["fixtures/audit/admin"]);
    let log = audit::sarif::sarif(&report);
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), FindingKind::ALL.len());
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), report.findings.len());
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].is_string());
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["schema"], "secpath.audit/v1");
    assert_unique_fingerprints(&report);
    let cross = audit::audit(
        &policy(&["fixtures/cases/sem-2.1-scope-cross-tenant/snapshot"]),
        &AuditOptions::default(),
    );
    assert_unique_fingerprints(&cross);
}

#[test]
fn contoso_audit() {
    let p = policy(&["rulesets/contoso"]);
    let t = Instant::now();
    let report = audit::audit(&p, &AuditOptions::default());
    eprintln!("contoso audit: {:?}", t.elapsed());
    let web = finding(&report, FindingKind::Exposure, "nic-vm-web01");
    assert_eq!(
        web.severity,
        Severity::Note,
        "only HTTPS is open: {}",
        web.message
    );
    check_witnesses(&p, &report);
}

/// `nsg-tables` after a change: SSH from the office opened (the deny narrowed to
/// everything else is simulated by removing it), HTTPS closed.
fn nsg_tables_after() -> Policy {
    let mut s = snapshot(&["fixtures/audit/nsg-tables"]);
    s.nsgs[0]
        .rules
        .retain(|(r, _)| r.name != "DenySshEverywhere");
    for (r, _) in &mut s.nsgs[0].rules {
        if r.name == "AllowHttpsFromInternet" {
            r.access = Access::Deny;
        }
    }
    build(s)
}

#[test]
fn diff_reports_exactly_what_changes() {
    let before = policy(&["fixtures/audit/nsg-tables"]);
    let after = nsg_tables_after();
    let report = audit::diff(&before, &after, &DiffOptions::default());
    let text = audit::text::diff_text(&report);
    assert!(!report.unverified, "{text}");
    assert!(report.opened > 0 && report.closed > 0, "{text}");
    let change_of = |flow: &str| {
        let flow = Flow::parse(flow).unwrap();
        report
            .changes
            .iter()
            .find(|c| c.regions.iter().any(|r| r.region.cube.contains(&flow)))
    };
    let ssh =
        change_of("tcp 203.0.113.5:40000 -> 10.10.1.4:22").expect("SSH from the office opens");
    assert_eq!(
        (ssh.before.verdict, ssh.after.verdict),
        (Verdict::Deny, Verdict::Allow)
    );
    assert!(ssh
        .before
        .rule
        .as_deref()
        .is_some_and(|r| r.ends_with("/DenySshEverywhere")));
    let https = change_of("tcp 8.8.8.8:40000 -> 10.10.1.4:443").expect("HTTPS closes");
    assert_eq!(
        (https.before.verdict, https.after.verdict),
        (Verdict::Allow, Verdict::Deny)
    );
    assert!(
        change_of("tcp 8.8.8.8:40000 -> 10.10.1.4:80").is_none(),
        "HTTP unchanged"
    );
    let inside =
        change_of("tcp 10.10.1.9:40000 -> 10.10.1.4:22").expect("SSH inside the VNet opens too");
    assert!(
        inside
            .after
            .allowed_by
            .iter()
            .any(|r| r.ends_with("/AllowVnetInBound")),
        "{inside:?}"
    );
    assert!(
        change_of("udp 8.8.8.8:40000 -> 10.10.1.4:53").is_none(),
        "denied before and after"
    );
    let narrowed = audit::diff(
        &before,
        &after,
        &DiffOptions {
            from: Some(Selector::parse("203.0.113.0/24").unwrap()),
            ..DiffOptions::default()
        },
    );
    assert!(
        narrowed.changes.iter().all(|c| c.regions.iter().all(|r| r
            .region
            .src
            .iter()
            .all(|n| n.starts_with("203.0.113.")))),
        "{}",
        audit::text::diff_text(&narrowed)
    );
    let to_nic = Selector::parse(&before.snapshot.nics[0].id.to_string()).unwrap();
    let only = audit::diff(
        &before,
        &after,
        &DiffOptions {
            to: Some(to_nic),
            ..DiffOptions::default()
        },
    );
    assert!(
        !only.changes.is_empty()
            && only
                .changes
                .iter()
                .all(|c| c.destination.kind == audit::ZoneKind::Nic)
    );
    assert!(Selector::parse("nonsense").is_err());
}

#[test]
fn diff_follows_addresses_that_move_between_vnets() {
    let before = policy(&["fixtures/audit/renumbered/before.secpath"]);
    let after = policy(&["fixtures/audit/renumbered/after.secpath"]);
    let report = audit::diff(&before, &after, &DiffOptions::default());
    let text = audit::text::diff_text(&report);
    assert!(!report.unverified, "{text}");
    for flow in [
        "tcp 203.0.113.5:40000 -> 10.0.128.5:22",
        "tcp 203.0.113.5:40000 -> 10.0.128.5:443",
        "tcp 203.0.113.5:40000 -> 10.0.200.5:22",
        "tcp 10.0.200.5:40000 -> 10.0.0.5:80",
        "tcp 10.1.0.5:40000 -> 10.0.200.5:80",
        "tcp 10.0.128.5:40000 -> 10.0.0.5:80",
        "tcp 10.0.0.5:40000 -> 10.0.1.5:80",
        "udp 10.1.0.5:53 -> 10.1.1.5:53",
    ] {
        let f = Flow::parse(flow).unwrap();
        let b = eval::decide(&before, &f, &Pins::default()).unwrap();
        let a = eval::decide(&after, &f, &Pins::default()).unwrap();
        let inside = report
            .changes
            .iter()
            .flat_map(|c| &c.regions)
            .any(|r| r.region.cube.contains(&f));
        assert_eq!(
            inside,
            b.verdict != a.verdict,
            "{flow}: {b:?} -> {a:?}\n{text}"
        );
    }
}

#[test]
fn diff_compares_addresses_that_join_an_overlapping_vnet_with_where_they_were() {
    let before = policy(&["fixtures/audit/renumbered/before.secpath"]);
    let after = policy(&["fixtures/audit/renumbered/overlap.secpath"]);
    let report = audit::diff(&before, &after, &DiffOptions::default());
    let text = audit::text::diff_text(&report);
    assert!(!report.unverified, "{text}");
    let b1 = &after.snapshot.subnets[after
        .snapshot
        .subnets
        .iter()
        .position(|x| x.name == "b1")
        .unwrap()]
    .id;
    let ssh = Flow::parse("tcp 203.0.113.5:40000 -> 10.0.128.5:22").unwrap();
    let change = report
        .changes
        .iter()
        .find(|c| {
            c.destination.id.as_deref() == Some(&b1.to_string())
                && c.regions.iter().any(|r| r.region.cube.contains(&ssh))
        })
        .unwrap_or_else(|| panic!("SSH to 10.0.128.5 in vnet-b is new: {text}"));
    assert_eq!(
        (change.before.verdict, change.after.verdict),
        (Verdict::Allow, Verdict::Deny)
    );
    assert!(
        !report.changes.iter().any(|c| {
            c.destination.name.contains("a1")
                && c.regions.iter().any(|r| r.region.cube.contains(&ssh))
        }),
        "in vnet-a nothing changed: {text}"
    );
}

#[test]
fn contoso_diff_with_itself_is_empty() {
    let p = policy(&["rulesets/contoso"]);
    let t = Instant::now();
    let report: DiffReport = audit::diff(&p, &p, &DiffOptions::default());
    eprintln!(
        "contoso diff: {:?} over {} pairs",
        t.elapsed(),
        report.pairs_compared
    );
    assert!(report.changes.is_empty());
}

// ---------------------------------------------------------------------------------------
// Property tests on mutated copies of Contoso
// ---------------------------------------------------------------------------------------

fn contoso() -> &'static (Snapshot, Policy) {
    static CONTOSO: OnceLock<(Snapshot, Policy)> = OnceLock::new();
    CONTOSO.get_or_init(|| {
        let s = snapshot(&["rulesets/contoso"]);
        (s.clone(), build(s))
    })
}

/// One edit to a rule set: flip a rule's access or move its destination port.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize),
    Port(usize, u16),
}

const PORTS: [u16; 8] = [22, 80, 443, 1433, 3389, 5000, 8080, 50000];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Flip),
        (any::<usize>(), prop::sample::select(&PORTS[..])).prop_map(|(i, p)| Edit::Port(i, p)),
    ]
}

/// Applies edits to the custom NSG rules and the admin rules of a snapshot.
fn mutate(mut s: Snapshot, edits: &[Edit]) -> Snapshot {
    let mut rules: Vec<&mut secpath::model::Rule> = Vec::new();
    for nsg in &mut s.nsgs {
        rules.extend(
            nsg.rules
                .iter_mut()
                .filter(|(r, _)| !r.is_default)
                .map(|(r, _)| r),
        );
    }
    for m in &mut s.managers {
        let collections = m
            .security_configs
            .iter_mut()
            .flat_map(|c| &mut c.collections);
        rules.extend(collections.flat_map(|c| c.rules.iter_mut().map(|(r, _)| r)));
    }
    let n = rules.len();
    for e in edits {
        match *e {
            Edit::Flip(i) => {
                let r = &mut rules[i % n];
                r.access = if r.access == Access::Deny {
                    Access::Allow
                } else {
                    Access::Deny
                };
            }
            Edit::Port(i, p) => {
                rules[i % n].fields.destination_ports =
                    [PortRange { lo: p, hi: p }].into_iter().collect()
            }
        }
    }
    s
}

/// Addresses where things happen in Contoso: NICs, subnet and VNet addresses, on-premises,
/// the Internet, Azure's host.
const ADDRESSES: [&str; 14] = [
    "10.0.1.4",
    "10.0.2.4",
    "10.0.2.10",
    "10.1.1.4",
    "10.1.1.5",
    "10.1.2.4",
    "10.2.1.4",
    "10.3.1.4",
    "10.0.0.70",
    "10.1.9.9",
    "192.168.10.5",
    "203.0.113.50",
    "8.8.8.8",
    "168.63.129.16",
];

fn flow() -> impl Strategy<Value = Flow> {
    let addr = prop::sample::select(&ADDRESSES[..]);
    let port = prop_oneof![prop::sample::select(&PORTS[..]), any::<u16>()];
    let proto = prop::sample::select(&[6u8, 6, 17, 1, 47][..]);
    (proto, addr.clone(), port.clone(), addr, port).prop_map(|(protocol, s, sp, d, dp)| {
        let ported = Flow::has_ports(protocol);
        Flow {
            protocol,
            src: s.parse().unwrap(),
            src_port: ported.then_some(sp),
            dst: d.parse().unwrap(),
            dst_port: ported.then_some(dp),
        }
    })
}

proptest! {
    // Each case audits or diffs a whole estate: a few cases, many flows each.
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Every diff witness checks out with `explain` on both policies, and flows outside
    /// every reported region have the same verdict before and after.
    #[test]
    fn diff_regions_are_exact(edits in prop::collection::vec(edit(), 1..4), flows in prop::collection::vec(flow(), 40)) {
        let (s, before) = contoso();
        let after = build(mutate(s.clone(), &edits));
        let report = audit::diff(before, &after, &DiffOptions::default());
        prop_assert!(!report.unverified, "{}", audit::text::diff_text(&report));
        for f in &flows {
            let (Ok(b), Ok(a)) = (eval::decide(before, f, &Pins::default()), eval::decide(&after, f, &Pins::default())) else { continue };
            let inside = report.changes.iter().flat_map(|c| &c.regions).any(|r| r.region.cube.contains(f));
            prop_assert_eq!(inside, b.verdict != a.verdict, "{} before {:?} after {:?}", f, b, a);
        }
    }

    /// A rule reported shadowed never decides a flow, and every witness shows its finding.
    #[test]
    fn shadowed_rules_never_decide(edits in prop::collection::vec(edit(), 0..4), flows in prop::collection::vec(flow(), 40)) {
        let (s, _) = contoso();
        let p = build(mutate(s.clone(), &edits));
        let report = audit::audit(&p, &AuditOptions::default());
        check_witnesses(&p, &report);
        let shadowed: Vec<String> = report.findings.iter().filter(|f| f.kind == FindingKind::Shadowed).map(|f| f.resource.to_ascii_lowercase()).collect();
        for f in &flows {
            let Ok(e) = eval::explain(&p, f, &Pins::default()) else { continue };
            let decided = deciders(&e);
            prop_assert!(!shadowed.iter().any(|r| decided.contains(r)), "{} decided by a shadowed rule: {:?}", f, decided);
        }
    }
}

mod scale {
    //! A generated NSG of 10,000 rules: the audit must finish (timings are reported in
    //! BENCHMARKS.md from `--release --ignored`).

    use secpath::audit::{self, AuditOptions};
    use secpath::error::Location;
    use secpath::model::{
        Access, AddressItem, Direction, IpConfig, NetworkInterface, NetworkSecurityGroup,
        PortRange, Protocol, ResourceId, Rule, RuleFields, Snapshot, Subnet, VirtualNetwork,
    };
    use secpath::options::Options;
    use secpath::resolve::tags::ServiceTags;
    use secpath::resolve::Policy;
    use smallvec::smallvec;
    use std::time::Instant;

    const SUB: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network";

    /// xorshift: deterministic and dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random prefix of length `min_len..=32` inside `base/fixed`.
    fn prefix(rng: &mut Rng, (base, fixed): (u32, u32), min_len: u8) -> AddressItem {
        let len = min_len + rng.below(u64::from(33 - min_len)) as u8;
        let addr = base | (rng.next() as u32).checked_shr(fixed).unwrap_or(0);
        AddressItem::Net(ipnet::IpNet::V4(
            ipnet::Ipv4Net::new(addr.into(), len).unwrap().trunc(),
        ))
    }

    fn ports(rng: &mut Rng) -> PortRange {
        match rng.below(20) {
            0..=13 => {
                let p = [22u16, 80, 443, 3389, 1433, 8080, 53][rng.below(7) as usize];
                PortRange { lo: p, hi: p }
            }
            14..=18 => {
                let lo = rng.below(60000) as u16;
                PortRange {
                    lo,
                    hi: lo + rng.below(1000) as u16,
                }
            }
            _ => PortRange::ALL,
        }
    }

    fn rule(rng: &mut Rng, i: u32) -> Rule {
        let name = format!("r{i}");
        let src = if rng.below(100) == 0 {
            AddressItem::Any
        } else {
            prefix(rng, (0, 0), 12)
        };
        let dst = if rng.below(50) == 0 {
            AddressItem::Any
        } else {
            prefix(rng, (0x0A00_0000, 16), 16)
        };
        Rule {
            id: ResourceId::new(&format!(
                "{SUB}/networkSecurityGroups/big/securityRules/{name}"
            )),
            name,
            priority: 100 + i,
            access: if rng.below(3) == 0 {
                Access::Deny
            } else {
                Access::Allow
            },
            direction: Direction::Inbound,
            fields: RuleFields {
                protocol: [
                    Protocol::Tcp,
                    Protocol::Tcp,
                    Protocol::Udp,
                    Protocol::Tcp,
                    Protocol::Any,
                ][rng.below(5) as usize],
                sources: smallvec![src],
                source_ports: smallvec![PortRange::ALL],
                destinations: smallvec![dst],
                destination_ports: smallvec![ports(rng)],
            },
            is_default: false,
        }
    }

    fn default_rule(name: &str, priority: u32, access: Access, addresses: &str) -> Rule {
        let item = AddressItem::parse_prefix_or_tag(addresses).unwrap();
        Rule {
            id: ResourceId::new(&format!(
                "{SUB}/networkSecurityGroups/big/defaultSecurityRules/{name}"
            )),
            name: name.into(),
            priority,
            access,
            direction: Direction::Inbound,
            fields: RuleFields {
                protocol: Protocol::Any,
                sources: smallvec![item.clone()],
                source_ports: smallvec![PortRange::ALL],
                destinations: smallvec![item],
                destination_ports: smallvec![PortRange::ALL],
            },
            is_default: true,
        }
    }

    /// One VNet, one subnet, one NIC; the subnet's NSG has `n` random inbound rules.
    pub fn big_nsg(n: u32) -> Policy {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let at = Location {
            file: "generated".into(),
            path: String::new(),
        };
        let mut rules: Vec<(Rule, Location)> =
            (0..n).map(|i| (rule(&mut rng, i), at.clone())).collect();
        rules.push((
            default_rule("AllowVnetInBound", 65000, Access::Allow, "VirtualNetwork"),
            at.clone(),
        ));
        rules.push((
            default_rule("DenyAllInBound", 65500, Access::Deny, "*"),
            at.clone(),
        ));
        let snapshot = Snapshot {
            vnets: vec![VirtualNetwork {
                id: ResourceId::new(&format!("{SUB}/virtualNetworks/v")),
                name: "v".into(),
                location: "westeurope".into(),
                tags: Default::default(),
                address_space: vec!["10.0.0.0/16".parse().unwrap()],
                subnets: vec![0],
                peerings: Vec::new(),
                on_premises: Default::default(),
            }],
            subnets: vec![Subnet {
                id: ResourceId::new(&format!("{SUB}/virtualNetworks/v/subnets/s")),
                name: "s".into(),
                vnet: 0,
                prefixes: vec!["10.0.0.0/16".parse().unwrap()],
                nsg: Some(0),
                delegations: Vec::new(),
            }],
            nics: vec![NetworkInterface {
                id: ResourceId::new(&format!("{SUB}/networkInterfaces/n")),
                name: "n".into(),
                ip_configs: vec![IpConfig {
                    address: "10.0.0.4".parse().unwrap(),
                    subnet: 0,
                    asgs: Vec::new(),
                }],
                nsg: None,
                private_endpoint: false,
                standard_public_ip: false,
            }],
            nsgs: vec![NetworkSecurityGroup {
                id: ResourceId::new(&format!("{SUB}/networkSecurityGroups/big")),
                name: "big".into(),
                rules,
            }],
            ..Snapshot::default()
        };
        Policy::build(snapshot, Options::new(), &ServiceTags::none()).unwrap()
    }

    #[test]
    fn a_thousand_rules() {
        let p = big_nsg(1000);
        let t = Instant::now();
        let report = audit::audit(&p, &AuditOptions::default());
        eprintln!(
            "1,000-rule NSG: {:?}, {} findings",
            t.elapsed(),
            report.findings.len()
        );
        for kind in secpath::audit::FindingKind::ALL {
            eprintln!(
                "  {kind}: {}",
                report.findings.iter().filter(|f| f.kind == kind).count()
            );
        }
        eprintln!(
            "{}",
            report
                .findings
                .iter()
                .take(3)
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(report.rules, 1002);
    }

    #[test]
    #[ignore = "seconds in release, minutes in debug: run with --release --ignored"]
    fn ten_thousand_rules() {
        let p = big_nsg(10_000);
        let t = Instant::now();
        let report = audit::audit(&p, &AuditOptions::default());
        eprintln!(
            "10,000-rule NSG: {:?}, {} findings",
            t.elapsed(),
            report.findings.len()
        );
        assert_eq!(report.rules, 10_002);
    }
}

/// An admin Deny moved onto port 1433 overrides the data subnet's SQL rules, among them one
/// for an unpeered VNet's subnet, whose witness has no path (found by
/// `shadowed_rules_never_decide`).
#[test]
fn an_overridden_rule_for_an_unreachable_source_has_a_no_path_witness() {
    let (s, _) = contoso();
    let p = build(mutate(s.clone(), &[Edit::Port(17874977478657067723, 1433)]));
    let report = audit::audit(&p, &AuditOptions::default());
    check_witnesses(&p, &report);
    let f = finding(&report, FindingKind::Overridden, "Allow-SQL-From-AppSubnet");
    assert_eq!(explain_witness(&p, f).verdict, Verdict::NoPath);
}

/// Loads the DSL `text` (written to a scratch file named `name`) with `options`.
fn dsl_policy(name: &str, text: &str, options: Options) -> Policy {
    let dir = std::env::temp_dir().join(format!("secpath-audit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.secpath"));
    std::fs::write(&path, text).unwrap();
    let snapshot = load_snapshot(&[path]).expect("snapshot loads");
    std::fs::remove_dir_all(&dir).ok();
    Policy::build(snapshot, options, &ServiceTags::none()).expect("snapshot resolves")
}

/// One VNet with NIC 10.0.1.4 under manager `avnm`, whose configuration `cfg` holds the
/// collections `collections` for group `ng` (the VNet).
fn one_vnet_with_admin_rules(collections: &str) -> String {
    format!(
        "subscription 11111111-0000-4000-8000-000000000001 name sub1 {{
  resource-group rg {{
    vnet vnet1 region westeurope {{
      address-space 10.0.0.0/16
      subnet web prefix 10.0.1.0/24
    }}
    nic nic1 ip 10.0.1.4 subnet web
  }}
  resource-group rg-avnm {{
    network-manager avnm scope subscription 11111111-0000-4000-8000-000000000001 access SecurityAdmin {{
      group ng static vnet1
      security-admin-config cfg {{
{collections}
      }}
    }}
  }}
}}
"
    )
}

/// SEMANTICS §2.3 breaks a tie "between rules that both match": two tied rules whose common
/// flows an earlier rule decides, or that the table never sees, are no tie.
#[test]
fn a_tie_no_flow_reaches_is_not_reported() {
    let tied = "        collection c1 applies-to ng {
          inbound 100 deny tcp from * to * ports 22 name C1DenySsh
        }
        collection c2 applies-to ng {
          inbound 100 always-allow tcp from * to * ports 22 name C2AlwaysAllowSsh
        }";
    let ties = |collections: &str| {
        let p = dsl_policy(
            "tie",
            &one_vnet_with_admin_rules(collections),
            Options::new(),
        );
        let report = audit::audit(&p, &AuditOptions::default());
        check_witnesses(&p, &report);
        report
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::Tie)
            .count()
    };
    assert_eq!(ties(tied), 1, "a real tie");
    let first = "        collection first applies-to ng {
          inbound 50 allow tcp from * to * ports 22 name AllowSshFirst
        }\n";
    assert_eq!(ties(&format!("{first}{tied}")), 0, "decided earlier");
    let outside = tied.replace("deny tcp from * to *", "deny tcp from * to 10.9.0.0/16");
    assert_eq!(ties(&outside), 0, "overlapping only outside the VNet");
}

/// With D2 `--assume-deployed=false` and no deployment status, nothing is deployed, and the
/// configurations that target VNets say so.
#[test]
fn without_any_status_assume_deployed_false_reports_what_is_not_deployed() {
    let rules = "        collection c applies-to ng {
          inbound 10 deny tcp from Internet to * ports 22 name DenySsh
        }";
    let text = one_vnet_with_admin_rules(rules);
    let not_deployed = |assume_deployed: bool| {
        let mut options = Options::new();
        options.assume_deployed = assume_deployed;
        let report = audit::audit(&dsl_policy("d2", &text, options), &AuditOptions::default());
        report
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::NotDeployed)
            .count()
    };
    assert_eq!((not_deployed(true), not_deployed(false)), (0, 1));
}

/// Exposure is what sources outside Azure reach: `--exposure-from` addresses inside a VNet
/// are left out, with a warning that says so.
#[test]
fn exposure_sources_inside_a_vnet_are_left_out_with_a_warning() {
    let p = policy(&["rulesets/contoso"]);
    let sources = |text: &str| {
        let Ok(Selector::Addresses(set)) = Selector::parse(text) else {
            panic!("{text} parses as addresses");
        };
        AuditOptions {
            exposure_sources: Some(set),
            ..AuditOptions::default()
        }
    };
    let warned = |text: &str| {
        audit::audit(&p, &sources(text))
            .warnings
            .iter()
            .any(|w| w.starts_with("--exposure-from: 10.1.1.0/24 lie in VNets"))
    };
    assert!(warned("10.1.1.0/24,198.51.100.0/24"));
    assert!(!warned("198.51.100.0/24"));
}

/// An exposure on several management ports names every rule that opens one, not only the
/// rule behind its witness.
#[test]
fn an_exposure_names_every_rule_that_opens_a_management_port() {
    let text = "subscription 11111111-0000-4000-8000-000000000001 name sub1 {
  resource-group rg {
    vnet vnet1 region westeurope {
      address-space 10.0.0.0/16
      subnet web prefix 10.0.1.0/24 nsg nsg-web
    }
    nsg nsg-web {
      inbound 100 allow tcp from Internet to * ports 3389 name AllowRdpFromInternet
      inbound 110 allow tcp from Internet to * ports 22 name AllowSshFromInternet
    }
    nic nic1 ip 10.0.1.4 subnet web
  }
}
";
    let p = dsl_policy("two-rules", text, Options::new());
    let report = audit::audit(&p, &AuditOptions::default());
    let exposure = finding(&report, FindingKind::Exposure, "nic1");
    let mut admitting: Vec<&str> = exposure
        .related
        .iter()
        .filter(|r| r.role == "allowed-by")
        .filter_map(|r| r.id.rsplit('/').next())
        .collect();
    admitting.sort_unstable();
    assert_eq!(admitting, ["AllowRdpFromInternet", "AllowSshFromInternet"]);
    check_witnesses(&p, &report);
}

/// Shadowed and redundant are judged within the flows a table sees: nsg-web guards subnet
/// web only, so `*` there means the subnet (docs/semantics.md, "Auditing and diffing").
#[test]
fn rules_are_judged_within_the_flows_their_table_sees() {
    let p = policy(&["fixtures/audit/reach/network.secpath"]);
    let report = audit::audit(&p, &AuditOptions::default());
    let text = audit::text::audit_text(&report);
    for (name, kind) in [
        ("B", FindingKind::Shadowed),
        ("OB", FindingKind::Shadowed),
        ("Elsewhere", FindingKind::Shadowed),
        ("FromVnet", FindingKind::Redundant),
    ] {
        assert_eq!(kinds(&report, name), [kind], "{name}: {text}");
    }
    assert!(kinds(&report, "Https").is_empty(), "{text}");
    // Elsewhere overlaps B (`*`, port 80) outside the subnet: it is still out of reach, not
    // "covered" by a rule of the other effect, and its witness is a flow it matches there.
    let elsewhere = finding(&report, FindingKind::Shadowed, "Elsewhere");
    assert!(
        elsewhere
            .message
            .contains("its destinations lie outside the addresses this table guards"),
        "{}",
        elsewhere.message
    );
    assert!(elsewhere.related.is_empty(), "{:?}", elsewhere.related);
    assert_eq!(elsewhere.severity, Severity::Note);
    let witness = elsewhere.witness.as_ref().expect("a witness");
    assert!(witness.flow.contains("-> 10.9."), "{}", witness.flow);
    let b = finding(&report, FindingKind::Shadowed, "B");
    assert_eq!(b.severity, Severity::Note, "{}", b.message);
    check_witnesses(&p, &report);
}

/// Of two rules alike, the later is reported shadowed and the earlier kept: each alone is
/// removable, but the audit must not invite removing both (docs/semantics.md, "Auditing
/// and diffing").
#[test]
fn of_two_rules_alike_only_the_later_is_a_finding() {
    let p = policy(&["fixtures/audit/duplicate/network.secpath"]);
    let report = audit::audit(&p, &AuditOptions::default());
    let text = audit::text::audit_text(&report);
    assert_eq!(
        kinds(&report, "Allow-Https-Copy"),
        [FindingKind::Shadowed],
        "{text}"
    );
    assert!(kinds(&report, "Allow-Https").is_empty(), "{text}");
    check_witnesses(&p, &report);
}

/// D7's closed public IP is decided by a NIC, not a rule; `diff` names it as `explain`,
/// `replay` and docs/semantics.md do, not by the NIC's name.
#[test]
fn diff_names_the_closed_public_ip_as_every_report_does() {
    let out = crate::support::secpath([
        "diff",
        "--before",
        "fixtures/audit/d7-diff/before.secpath",
        "--after",
        "fixtures/audit/d7-diff/after.secpath",
        "--no-nsg",
        "deny",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("from the Internet: deny (by `StandardPublicIpClosedWithoutNsg`) → allow"),
        "{text}"
    );
    assert!(!text.contains("(by `nic-app`)"), "{text}");
}
