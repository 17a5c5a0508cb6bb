//! Pre-deployment inputs: Terraform plans (format 0.x and 1.x, state JSON), ARM templates
//! with parameters files, and `az network nic list-effective-nsg` output, read into the
//! same model as live snapshots; the `unknown` verdict end to end through `explain`,
//! `eval`, `audit` and `diff`.

use super::support::{json_of, root, secpath};
use secpath::load::{load_snapshot, load_snapshot_with, LoadOptions, PlanSide};
use secpath::model::{Access, AddressItem, Direction, ResourceId, Snapshot, UNKNOWN_PRIORITY};
use serde_json::Value;
use std::path::PathBuf;

const PLAN: &str = "fixtures/plans/network.tfplan.json";
const LIVE: &str = "fixtures/plans/live.json";
const SAMPLE: &str = "fixtures/plans/tfplan.azurerm_nsg.standalone-rules.tf1.3.checkov.json";
const PLAN_0_1: &str = "fixtures/plans/inline-rules.tf0.12.plan.json";
const STATE_0_1: &str = "fixtures/plans/inline-rules.tf0.12.state.json";
const TEMPLATE: &str = "fixtures/plans/network.template.json";
const PARAMETERS: &str = "fixtures/plans/network.template.parameters.json";
const SCOPE: &str =
    "--template-scope=/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-app";

fn load(path: &str, side: PlanSide) -> Snapshot {
    let options = LoadOptions {
        plan_side: side,
        ..LoadOptions::default()
    };
    load_snapshot_with(&[root().join(path)], &options).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An NSG's custom rules as (name, priority, access, direction).
fn rules(s: &Snapshot, nsg: &str) -> Vec<(String, u32, Access, Direction)> {
    let nsg = s
        .nsgs
        .iter()
        .find(|n| n.name == nsg)
        .expect("the NSG is read");
    nsg.rules
        .iter()
        .map(|(r, _)| r)
        .filter(|r| !r.is_default)
        .map(|r| (r.name.clone(), r.priority, r.access, r.direction))
        .collect()
}

fn unknowns(s: &Snapshot) -> Vec<(String, Vec<String>)> {
    s.unknowns
        .iter()
        .map(|(id, a)| (id.name().to_string(), a.clone()))
        .collect()
}

fn explain(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["explain", "--format", "json"];
    all.extend_from_slice(args);
    let out = secpath(all);
    (out.status.code(), json_of(&out))
}

#[test]
fn the_published_sample_reads_as_two_nsgs_whose_rule_lists_are_unknown() {
    let s = load(SAMPLE, PlanSide::After);
    let names: Vec<&str> = s.nsgs.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["fail", "pass"]);
    // `pass` also gets its standalone rule, joined by NSG name and resource group.
    let pass = rules(&s, "pass");
    assert!(
        pass.contains(&("pass".into(), 100, Access::Deny, Direction::Inbound)),
        "{pass:?}"
    );
    assert!(pass
        .iter()
        .any(|r| r.0 == "unknown-security-rules" && r.1 == UNKNOWN_PRIORITY));
    assert_eq!(
        unknowns(&s),
        vec![
            (
                "unknown-security-rules".to_string(),
                vec!["security_rule".to_string()]
            ),
            (
                "unknown-security-rules".to_string(),
                vec!["security_rule".to_string()]
            ),
        ]
    );
    // The rule list of an NSG being created is unknown in both directions.
    let fail = rules(&s, "fail");
    assert_eq!(fail.len(), 2);
    assert!(s.nsgs[0].id.as_str().starts_with(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/test/providers/Microsoft.Network/networkSecurityGroups/fail"
    ));
    // Before the plan nothing exists.
    assert!(load(SAMPLE, PlanSide::Before).nsgs.is_empty());
}

#[test]
fn a_plan_with_modules_avnm_and_unknowns_reads_into_the_model() {
    let s = load(PLAN, PlanSide::After);
    assert_eq!(s.vnets.len(), 1);
    assert_eq!(
        s.subnets.len(),
        1,
        "the VNet's inline copy of the subnet is not read twice"
    );
    let nsg = s.subnets[0].nsg.map(|n| s.nsgs[n].name.as_str());
    assert_eq!(nsg, Some("nsg-web"), "the association attaches the NSG");
    let nic = &s.nics[0];
    assert_eq!(nic.name, "nic-web");
    let asgs: Vec<&str> = nic.ip_configs[0]
        .asgs
        .iter()
        .map(|&a| s.asgs[a].name())
        .collect();
    assert_eq!(
        asgs,
        ["asg-web"],
        "the ASG association, its id followed through the configuration"
    );
    assert_eq!(
        rules(&s, "nsg-web"),
        [
            (
                "allow-https-in".to_string(),
                100,
                Access::Allow,
                Direction::Inbound
            ),
            (
                "allow-ssh-in".to_string(),
                110,
                Access::Allow,
                Direction::Inbound
            ),
            (
                "allow-rdp-admin".to_string(),
                120,
                Access::Allow,
                Direction::Inbound
            ),
        ]
    );
    let ssh = &s.nsgs[0]
        .rules
        .iter()
        .find(|(r, _)| r.name == "allow-ssh-in")
        .unwrap()
        .0;
    assert!(
        matches!(&ssh.fields.destinations[..], [AddressItem::Asg(id)] if id.name() == "asg-web")
    );
    assert_eq!(
        unknowns(&s),
        [(
            "allow-rdp-admin".to_string(),
            vec!["source_address_prefix".to_string()]
        )]
    );
    let m = &s.managers[0];
    assert_eq!(m.groups[0].id.name(), "ng-apps");
    assert_eq!(
        m.groups[0].static_members,
        [ResourceId::new(s.vnets[0].id.as_str())]
    );
    let collection = &m.security_configs[0].collections[0];
    assert_eq!(collection.applies_to, [m.groups[0].id.clone()]);
    let (rule, _) = &collection.rules[0];
    assert_eq!(
        (rule.name.as_str(), rule.priority, rule.access),
        ("deny-https-from-partner", 10, Access::Deny)
    );
    assert_eq!(s.deployments.len(), 1);
    assert_eq!(
        s.deployments[0].configuration_ids,
        [m.security_configs[0].id.clone()]
    );
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("azurerm_storage_account (1)")),
        "unsupported types are listed: {:?}",
        s.warnings
    );
}

#[test]
fn plan_side_before_reads_the_network_as_it_is() {
    let s = load(PLAN, PlanSide::Before);
    assert_eq!(
        rules(&s, "nsg-web"),
        [(
            "allow-https-in".to_string(),
            100,
            Access::Allow,
            Direction::Inbound
        )]
    );
    assert!(s.unknowns.is_empty());
    assert!(s.asgs.is_empty() && s.managers[0].groups.is_empty());
    let (code, e) = explain(&[
        "--plan-side",
        "before",
        "--snapshot",
        PLAN,
        "tcp 198.51.100.7:50000 -> 10.10.1.4:22",
    ]);
    assert_eq!(
        (code, e["decided_by"]["rule"].as_str()),
        (Some(1), Some("DenyAllInBound"))
    );
}

#[test]
fn explain_says_unknown_names_the_attribute_and_exits_3() {
    let (code, e) = explain(&[
        "--snapshot",
        PLAN,
        "tcp 198.51.100.7:50000 -> 10.10.1.4:3389",
    ]);
    assert_eq!(code, Some(3));
    assert_eq!(e["verdict"], "unknown");
    assert_eq!(e["decided_by"]["rule"], "allow-rdp-admin");
    assert_eq!(
        e["decided_by"]["unknown"],
        serde_json::json!(["source_address_prefix"])
    );
    let stage = e["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "unknown")
        .unwrap();
    assert_eq!(stage["layer"], "nsg");
    let last = stage["rules"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["matched"].as_bool(), &last["unknown"][0]),
        (Some(true), &Value::from("source_address_prefix"))
    );
    assert!(e["hints"][0]
        .as_str()
        .unwrap()
        .contains("does not know `source_address_prefix`"));
    let effective = json_of(&secpath([
        "effective",
        "--format",
        "json",
        "--snapshot",
        PLAN,
    ]));
    let rules = effective["nics"][0]["nsgs"][0]["rules"].as_array().unwrap();
    let rdp = rules
        .iter()
        .find(|r| r["name"] == "allow-rdp-admin")
        .unwrap();
    assert_eq!(rdp["unknown"], serde_json::json!(["source_address_prefix"]));
    let text = secpath([
        "explain",
        "--snapshot",
        PLAN,
        "tcp 198.51.100.7:50000 -> 10.10.1.4:3389",
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("UNKNOWN") && text.contains("the plan does not know: source_address_prefix"),
        "{text}"
    );
}

#[test]
fn rules_met_before_an_unknown_one_still_decide() {
    for (flow, code, verdict, rule) in [
        ("tcp 198.51.100.7:50000 -> 10.10.1.4:22", 0, "allow", None),
        ("tcp 198.51.100.7:50000 -> 10.10.1.4:443", 0, "allow", None),
        (
            "tcp 203.0.113.9:50000 -> 10.10.1.4:443",
            1,
            "deny",
            Some("deny-https-from-partner"),
        ),
        (
            "tcp 198.51.100.7:50000 -> 10.10.1.4:8080",
            1,
            "deny",
            Some("DenyAllInBound"),
        ),
    ] {
        let (c, e) = explain(&["--snapshot", PLAN, flow]);
        assert_eq!(
            (c, e["verdict"].as_str()),
            (Some(code), Some(verdict)),
            "{flow}"
        );
        assert_eq!(e["decided_by"]["rule"].as_str(), rule, "{flow}");
    }
    let (_, e) = explain(&["--snapshot", PLAN, "tcp 198.51.100.7:50000 -> 10.10.1.4:22"]);
    let allowed: Vec<&str> = e["allowed_by"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["rule"].as_str())
        .collect();
    assert_eq!(allowed, ["allow-ssh-in"]);
}

#[test]
fn both_engines_count_unknown_verdicts_in_eval() {
    let run = |engine: &str| {
        secpath([
            "eval",
            "--snapshot",
            PLAN,
            "--flows",
            "fixtures/plans/flows.csv",
            "--engine",
            engine,
        ])
    };
    let (compiled, reference) = (run("compiled"), run("reference"));
    assert_eq!(compiled.stdout, reference.stdout);
    let verdicts: Vec<String> = String::from_utf8_lossy(&compiled.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["verdict"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(verdicts, ["allow", "unknown", "deny", "deny"]);
    assert!(String::from_utf8_lossy(&compiled.stderr).contains("unknown 1"));
}

#[test]
fn audit_says_cannot_decide_where_the_plan_does_not_know() {
    let out = secpath(["audit", "--format", "json", "--snapshot", PLAN]);
    let report = json_of(&out);
    let findings = report["findings"].as_array().unwrap();
    let of =
        |kind: &str| -> Vec<&Value> { findings.iter().filter(|f| f["kind"] == kind).collect() };
    let undecided = of("cannot-decide");
    assert_eq!(undecided.len(), 2, "{undecided:#?}");
    assert!(undecided.iter().any(|f| f["resource"]
        .as_str()
        .unwrap()
        .ends_with("/securityRules/allow-rdp-admin")
        && f["message"]
            .as_str()
            .unwrap()
            .contains("`source_address_prefix`")));
    let nic = undecided
        .iter()
        .find(|f| f["resource"].as_str().unwrap().ends_with("/nic-web"))
        .unwrap();
    assert!(nic["related"][0]["id"]
        .as_str()
        .unwrap()
        .ends_with("/allow-rdp-admin"));
    assert!(nic["regions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["text"].as_str().unwrap().ends_with(":3389")));
    // What is known is still reported: SSH is open; 3389 is not called exposed (nor safe).
    let exposure = of("exposure");
    assert_eq!(exposure.len(), 1);
    assert!(exposure[0]["message"]
        .as_str()
        .unwrap()
        .contains("SSH (22/tcp)"));
    assert!(!exposure[0]["message"].as_str().unwrap().contains("3389"));
    // No table finding is claimed about a table holding an unknown rule.
    assert!(of("shadowed").is_empty() && of("redundant").is_empty());
    let sample = json_of(&secpath([
        "audit",
        "--format",
        "json",
        "--snapshot",
        SAMPLE,
    ]));
    let kinds: Vec<&str> = sample["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["cannot-decide", "cannot-decide"]);
}

/// The plan with rule `at`'s direction unknown, written to a scratch file.
fn direction_unknown(plan: &mut Value, at: usize, name: &str) -> PathBuf {
    let change = &mut plan["resource_changes"][at]["change"];
    change["after"].as_object_mut().unwrap().remove("direction");
    change["after_unknown"]["direction"] = Value::Bool(true);
    scratch(name, &plan.to_string())
}

/// A rule of unknown direction is read in both, and clashes with no rule of its priority:
/// not with its own copy in the other direction (an admin rule's priority is the
/// collection's), nor with a rule of the direction it will not be in.
#[test]
fn a_rule_of_unknown_direction_is_unknown_in_both_and_clashes_with_nothing() {
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(PLAN)).unwrap()).unwrap();
    // resource_changes[16]: the admin rule deny_partner (Inbound, priority 10).
    let admin = direction_unknown(&mut plan.clone(), 16, "admin-direction-unknown.json");
    let admin = admin.to_str().unwrap();
    let (code, e) = explain(&[
        "--snapshot",
        admin,
        "tcp 203.0.113.1:50000 -> 10.10.1.4:443",
    ]);
    assert_eq!(
        (code, &e["verdict"]),
        (Some(3), &Value::from("unknown")),
        "{e}"
    );
    // Outbound too: the source side of a flow leaving the VNet consults it.
    let (_, e) = explain(&[
        "--snapshot",
        admin,
        "tcp 10.10.1.4:50000 -> 203.0.113.1:443",
    ]);
    let stage = &e["stages"][0];
    assert_eq!(
        (&stage["layer"], &stage["direction"]),
        (&Value::from("admin"), &Value::from("outbound"))
    );
    assert_eq!(stage["rules"][0]["name"], "deny-https-from-partner");
    assert_eq!(
        stage["rules"][0]["unknown"],
        serde_json::json!(["direction"])
    );
    // resource_changes[8]: the NSG rule rdp (Inbound, priority 120), beside an outbound
    // rule of the same priority.
    let rdp = &mut plan["resource_changes"][8]["change"]["after"];
    let mut outbound = rdp.clone();
    outbound["name"] = Value::from("out-120");
    outbound["direction"] = Value::from("Outbound");
    outbound["source_address_prefix"] = Value::from("*");
    plan["resource_changes"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "address": "azurerm_network_security_rule.out", "mode": "managed",
            "type": "azurerm_network_security_rule", "name": "out", "provider_name": "registry.terraform.io/hashicorp/azurerm",
            "change": {"actions": ["create"], "before": null, "after": outbound, "after_unknown": {}}
        }));
    let nsg = direction_unknown(&mut plan, 8, "nsg-direction-unknown.json");
    let out = secpath([
        "audit",
        "--format",
        "json",
        "--snapshot",
        nsg.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings = json_of(&out)["findings"].clone();
    assert!(findings
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["kind"] == "cannot-decide"
            && f["message"].as_str().unwrap().contains("`direction`")));
}

/// A diff's changes as (destination, source, before, after, after's rule) rows.
fn change_rows(report: &Value) -> Vec<(String, String, String, String, String)> {
    let name = |v: &Value| {
        v.as_str()
            .map_or(String::new(), |s| ResourceId::new(s).name().to_string())
    };
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["destination"]["name"].as_str().unwrap().to_string(),
                c["source"]["name"].as_str().unwrap().to_string(),
                c["before"]["verdict"].as_str().unwrap().to_string(),
                c["after"]["verdict"].as_str().unwrap().to_string(),
                name(&c["after"]["rule"]),
            )
        })
        .collect()
}

#[test]
fn diff_from_the_live_network_to_the_plan_shows_exactly_what_changes() {
    let out = secpath([
        "diff", "--format", "json", "--before", LIVE, "--after", PLAN,
    ]);
    let report = json_of(&out);
    assert_eq!(
        (
            &report["opened"],
            &report["closed"],
            &report["may_change"],
            &report["unverified"]
        ),
        (
            &Value::from(1),
            &Value::from(3),
            &Value::from(10),
            &Value::from(false)
        )
    );
    let rows = change_rows(&report);
    let nic = "NIC nic-web (10.10.1.4)";
    let exact: Vec<_> = rows
        .iter()
        .filter(|r| r.2 != "unknown" && r.3 != "unknown")
        .collect();
    assert_eq!(
        exact
            .iter()
            .map(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str(), r.3.as_str()))
            .collect::<Vec<_>>(),
        [
            (nic, "the Internet", "deny", "allow"),
            (nic, "the Internet", "allow", "deny"),
            (
                "VNet vnet-app outside its subnets",
                "the Internet",
                "allow",
                "deny"
            ),
            (
                "subnet snet-web of VNet vnet-app",
                "the Internet",
                "allow",
                "deny"
            ),
        ]
    );
    let changes = report["changes"].as_array().unwrap();
    let regions = |i: usize| -> Vec<&str> {
        changes[i]["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["text"].as_str().unwrap())
            .collect()
    };
    let closed = rows
        .iter()
        .position(|r| r.0 == nic && r.3 == "deny")
        .unwrap();
    assert_eq!(regions(closed), ["tcp 203.0.113.0/24:* -> 10.10.1.4:443"]);
    assert_eq!(rows[closed].4, "deny-https-from-partner");
    // SSH opens to the NIC only: the new rule's destination is its ASG.
    let opened = rows
        .iter()
        .position(|r| r.0 == nic && r.3 == "allow")
        .unwrap();
    assert!(regions(opened)
        .iter()
        .all(|r| r.ends_with("-> 10.10.1.4:22")));
    assert_eq!(rows[opened].1, "the Internet");
    // Every region the plan leaves open is 3389 and names the rule it does not know.
    for r in rows.iter().filter(|r| r.3 == "unknown") {
        assert_eq!(r.4, "allow-rdp-admin");
    }
    for (i, _) in rows.iter().enumerate().filter(|(_, r)| r.3 == "unknown") {
        assert!(
            regions(i).iter().all(|t| t.ends_with(":3389")),
            "{:?}",
            regions(i)
        );
    }
    // The plan's own before side is the live network: the same diff.
    let own = json_of(&secpath([
        "diff",
        "--format",
        "json",
        "--before",
        PLAN,
        "--plan-side",
        "before",
        "--after",
        PLAN,
    ]));
    assert_eq!(
        own["changes"].as_array().map(Vec::len),
        Some(0),
        "--plan-side applies to both sides"
    );
    let text =
        String::from_utf8_lossy(&secpath(["diff", "--before", LIVE, "--after", PLAN]).stdout)
            .into_owned();
    assert!(
        text.contains("14 changes (1 opened, 3 closed, 10 may change: the plan does not know)"),
        "{text}"
    );
}

#[test]
fn a_live_snapshot_plus_the_plan_is_the_network_after_the_plan() {
    for flow in [
        "tcp 198.51.100.7:50000 -> 10.10.1.4:22",
        "tcp 198.51.100.7:50000 -> 10.10.1.4:3389",
        "tcp 203.0.113.9:50000 -> 10.10.1.4:443",
    ] {
        let (c1, alone) = explain(&["--snapshot", PLAN, flow]);
        let (c2, mixed) = explain(&["--snapshot", LIVE, PLAN, flow]);
        assert_eq!(c1, c2, "{flow}");
        assert_eq!(alone["stages"], mixed["stages"], "{flow}");
        assert_eq!(alone["decided_by"], mixed["decided_by"], "{flow}");
    }
    // Terraform sorts changes by address, so children often come before their parents
    // (`azurerm_subnet` < `azurerm_virtual_network`): the plan's children still survive
    // the replacement of their live parents.
    let mut reversed: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(PLAN)).unwrap()).unwrap();
    reversed["resource_changes"]
        .as_array_mut()
        .unwrap()
        .reverse();
    let reversed = scratch("reversed.tfplan.json", &reversed.to_string());
    let s = load_snapshot(&[root().join(LIVE), reversed.clone()]).unwrap();
    let replaced = load_snapshot(&[root().join(PLAN)]).unwrap();
    assert_eq!(
        (
            s.subnets.len(),
            s.nsgs[0].rules.len(),
            s.managers[0].security_configs[0].collections[0].rules.len()
        ),
        (
            replaced.subnets.len(),
            replaced.nsgs[0].rules.len(),
            replaced.managers[0].security_configs[0].collections[0]
                .rules
                .len()
        )
    );
    assert!(s.subnets[0].nsg.is_some());
    // The order of inputs does not matter: the plan still wins.
    let (_, reversed) = explain(&[
        "--snapshot",
        PLAN,
        LIVE,
        "tcp 198.51.100.7:50000 -> 10.10.1.4:22",
    ]);
    assert_eq!(reversed["verdict"], "allow");
    let s = load_snapshot(&[root().join(LIVE), root().join(PLAN)]).unwrap();
    assert_eq!(s.nsgs.len(), 1);
    assert!(
        !s.warnings.iter().any(|w| w.contains("more than once")),
        "replacing is not a duplicate: {:?}",
        s.warnings
    );
}

#[test]
fn format_0_1_plans_and_state_files_read_inline_rules_and_child_modules() {
    let plan = load(PLAN_0_1, PlanSide::After);
    assert_eq!(plan.nics[0].ip_configs[0].address.to_string(), "10.20.0.10");
    assert_eq!(
        rules(&plan, "nsg-b"),
        [
            (
                "allow-http".to_string(),
                100,
                Access::Allow,
                Direction::Inbound
            ),
            (
                "deny-partner".to_string(),
                UNKNOWN_PRIORITY,
                Access::Deny,
                Direction::Inbound
            ),
        ]
    );
    assert_eq!(
        unknowns(&plan),
        [(
            "deny-partner".to_string(),
            vec![
                "priority".to_string(),
                "source_address_prefixes".to_string()
            ]
        )]
    );
    let state = load(STATE_0_1, PlanSide::After);
    assert_eq!(rules(&state, "nsg-b").len(), 1);
    for (snapshot, flow, verdict) in [
        (PLAN_0_1, "tcp 10.1.1.1:5000 -> 10.20.0.10:80", "allow"),
        (PLAN_0_1, "tcp 10.1.1.1:5000 -> 10.20.0.10:8443", "unknown"),
        (STATE_0_1, "tcp 10.1.1.1:5000 -> 10.20.0.10:8443", "deny"),
    ] {
        let (_, e) = explain(&["--snapshot", snapshot, flow]);
        assert_eq!(e["verdict"], verdict, "{snapshot} {flow}");
        // nic-b's `public_ip_address_id` is "", azurerm's "not set": no public IP to miss.
        assert_eq!(e["warnings"], serde_json::json!([]), "{snapshot}");
    }
}

#[test]
fn an_arm_template_and_the_equivalent_snapshot_explain_identically() {
    for flow in [
        "tcp 198.51.100.7:50000 -> 10.10.1.4:443",
        "tcp 198.51.100.7:50000 -> 10.10.1.4:22",
        "tcp 10.10.1.4:50000 -> 8.8.8.8:53",
        "udp 10.10.1.4:5353 -> 10.10.7.7:53",
    ] {
        let from_template = secpath([
            "explain",
            "--format",
            "json",
            SCOPE,
            "--snapshot",
            TEMPLATE,
            PARAMETERS,
            flow,
        ]);
        let from_snapshot = secpath(["explain", "--format", "json", "--snapshot", LIVE, flow]);
        assert_eq!(
            String::from_utf8_lossy(&from_template.stdout),
            String::from_utf8_lossy(&from_snapshot.stdout),
            "{flow}: {}",
            String::from_utf8_lossy(&from_template.stderr)
        );
    }
    let s = load_snapshot(&[root().join(TEMPLATE), root().join(PARAMETERS)]).unwrap();
    assert_eq!(
        rules(&s, "nsg-web").len(),
        1,
        "the inline and child copies are one rule"
    );
    assert_eq!(
        s.subnets.len(),
        1,
        "the inline and child copies are one subnet"
    );
    assert!(s.vnets[0]
        .id
        .as_str()
        .starts_with(secpath::load::template::DEFAULT_SCOPE));
}

/// Writes `text` to a fresh temporary file named `name`.
fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("secpath-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn error_of(path: &std::path::Path) -> String {
    let out = secpath(["audit", "--snapshot", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_inputs_are_located_errors_in_the_file_as_written() {
    let template = scratch(
        "t.json",
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "resources": [{"type": "Microsoft.Network/networkSecurityGroups",
                           "name": "[concat('nsg-', uniqueString(resourceGroup().id))]"}]}"#,
    );
    let e = error_of(&template);
    assert!(
        e.contains("t.json: resources[0].name")
            && e.contains("function `uniqueString()` is not supported"),
        "{e}"
    );
    let udf = scratch(
        "udf.json",
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "resources": [{"type": "Microsoft.Network/networkSecurityGroups",
                           "name": "[corp.nsgName('web')]"}]}"#,
    );
    let e = error_of(&udf);
    assert!(
        e.contains("udf.json: resources[0].name")
            && e.contains("user-defined function `corp.nsgName()` is not supported"),
        "{e}"
    );
    let specifier = scratch(
        "format.json",
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "resources": [{"type": "Microsoft.Network/networkSecurityGroups",
                           "name": "[format('nsg-{0:F2}', 1)]"}]}"#,
    );
    let e = error_of(&specifier);
    assert!(
        e.contains("format.json: resources[0].name")
            && e.contains("format string `F2` is not supported"),
        "{e}"
    );
    let region = scratch(
        "region.json",
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "n",
                           "location": "[resourceGroup().location]"}]}"#,
    );
    let e = error_of(&region);
    assert!(
        e.contains("region.json: resources[0].location")
            && e.contains("give it with --template-scope ID@REGION"),
        "{e}"
    );
    let copy = scratch(
        "copy.json",
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "n", "copy": {"count": 2}}]}"#,
    );
    assert!(error_of(&copy).contains("copy loops are not supported"));
    let property_copy = scratch(
        "property-copy.json",
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "n",
              "properties": {"copy": [{"name": "securityRules", "count": 2, "input": {}}]}}]}"#,
    );
    let e = error_of(&property_copy);
    assert!(
        e.contains("resources[0].properties.copy") && e.contains("copy loops are not supported"),
        "{e}"
    );
    // A property loop may sit in any object of the properties: here it builds one rule's
    // ports, which read as absent would match every port (D4).
    let nested_copy = scratch(
        "nested-copy.json",
        r#"{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "name": "n",
              "properties": {"securityRules": [{"name": "ssh", "properties": {"protocol": "Tcp",
                "access": "Allow", "priority": 100, "direction": "Inbound",
                "copy": [{"name": "destinationPortRanges", "count": 1, "input": "22"}]}}]}}]}"#,
    );
    let e = error_of(&nested_copy);
    assert!(
        e.contains("resources[0].properties.securityRules[0].properties.copy")
            && e.contains("copy loops are not supported"),
        "{e}"
    );
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(PLAN_0_1)).unwrap()).unwrap();
    plan["resource_changes"][1]["change"]["after"]["security_rule"][0]["priority"] =
        Value::from(5000);
    let bad = scratch("bad-priority.json", &plan.to_string());
    let e = error_of(&bad);
    assert!(
        e.contains("resource_changes[1].change.after.security_rule[0].priority")
            && e.contains("out of range"),
        "{e}"
    );
    plan["resource_changes"][1]["change"]["after"]["security_rule"][0]["priority"] =
        Value::from(100);
    plan["resource_changes"][2]["change"]["after"]["ip_configuration"][0]
        .as_object_mut()
        .unwrap()
        .remove("subnet_id");
    plan["resource_changes"][2]["change"]["after_unknown"] =
        serde_json::json!({"ip_configuration": [{"subnet_id": true}]});
    let unresolved = scratch("unresolved.json", &plan.to_string());
    let e = error_of(&unresolved);
    assert!(
        e.contains("resource_changes[2].change.after.ip_configuration[0].subnet_id")
            && e.contains("does not guess"),
        "{e}"
    );
    // Errors the ARM reader finds are located at the plan's attribute, not the ARM field.
    plan["resource_changes"][2]["change"]["after_unknown"] = serde_json::json!({});
    plan["resource_changes"][2]["change"]["after"]["ip_configuration"][0]["subnet_id"] =
        Value::from("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/missing");
    let dangling = scratch("dangling.json", &plan.to_string());
    let e = error_of(&dangling);
    assert!(
        e.contains(
            "resource_changes[2].change.after.ip_configuration[0].subnet_id: dangling reference"
        ),
        "{e}"
    );
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(PLAN)).unwrap()).unwrap();
    let admin = &mut plan["resource_changes"][16]["change"];
    assert_eq!(
        admin["after"]["name"], "deny-https-from-partner",
        "the admin rule of {PLAN}"
    );
    admin["after"]["action"] = Value::from("Block");
    let action = scratch("bad-action.json", &plan.to_string());
    let e = error_of(&action);
    assert!(
        e.contains("resource_changes[16].change.after.action: `Block` is not an admin rule access"),
        "{e}"
    );
}

#[test]
fn effective_nsg_output_reads_as_its_nsg_with_expanded_tags() {
    let dir = "fixtures/plans/effective";
    for (flow, verdict, rule) in [
        ("tcp 198.51.100.7:50000 -> 10.10.1.4:443", "allow", None),
        ("tcp 10.10.1.4:50000 -> 20.60.1.1:443", "allow", None),
        (
            "tcp 10.10.1.4:50000 -> 20.38.1.1:443",
            "deny",
            Some("deny-storage-out"),
        ),
    ] {
        let (_, e) = explain(&["--snapshot", dir, flow]);
        assert_eq!(
            (e["verdict"].as_str(), e["decided_by"]["rule"].as_str()),
            (Some(verdict), rule),
            "{flow}"
        );
    }
    let s = load_snapshot(&[root().join(dir)]).unwrap();
    let storage = &s.nsgs[0]
        .rules
        .iter()
        .find(|(r, _)| r.name == "allow-storage-out")
        .unwrap()
        .0;
    assert_eq!(
        storage.fields.destinations.len(),
        2,
        "Storage.EastUS from the Python-repr tagMap"
    );
    assert_eq!(
        s.nsgs[0].rules.iter().filter(|(r, _)| r.is_default).count(),
        6
    );
}

#[test]
fn convert_translates_plans_and_refuses_what_it_cannot_say() {
    let refused = secpath(["convert", PLAN, "--to", "dsl"]);
    assert_eq!(refused.status.code(), Some(2));
    let e = String::from_utf8_lossy(&refused.stderr);
    // The standalone rule whose source is unknown, not the NSG it is translated into.
    assert!(
        e.contains("network.tfplan.json: resource_changes[8].change.after: the plan leaves rule attributes unknown"),
        "{e}"
    );
    let mixed = secpath([
        "convert",
        LIVE,
        PLAN,
        "--plan-side",
        "before",
        "--to",
        "dsl",
    ]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("on their own"));
    let before = secpath(["convert", PLAN, "--plan-side", "before", "--to", "dsl"]);
    assert_eq!(
        before.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
    let dsl = scratch("before.secpath", &String::from_utf8_lossy(&before.stdout));
    for flow in [
        "tcp 198.51.100.7:50000 -> 10.10.1.4:443",
        "tcp 198.51.100.7:50000 -> 10.10.1.4:22",
    ] {
        let (_, from_dsl) = explain(&["--snapshot", dsl.to_str().unwrap(), flow]);
        let (_, from_live) = explain(&["--snapshot", LIVE, flow]);
        assert_eq!(from_dsl["stages"], from_live["stages"], "{flow}");
    }
}

/// Every JSON pointer in `v` (objects' members and arrays' elements).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            out.push(p.clone());
            pointers(x, p, out);
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
            let p = format!("{at}/{i}");
            out.push(p.clone());
            pointers(x, p, out);
        }),
        _ => {}
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 128,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/plan.proptest-regressions"),
        )),
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Plans, templates and az outputs with values replaced anywhere load or fail with a
    /// located error on both plan sides; they never panic.
    #[test]
    fn mutated_inputs_load_or_fail_cleanly(
        which in 0usize..4,
        edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), 0usize..10), 1..4),
    ) {
        let files = [PLAN, PLAN_0_1, TEMPLATE, "fixtures/plans/effective/nic-web.effective-nsg.json"];
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(root().join(files[which])).unwrap()).unwrap();
        for (index, kind) in edits {
            let mut all = Vec::new();
            pointers(&v, String::new(), &mut all);
            if all.is_empty() {
                break;
            }
            let replacement = [
                Value::Null, Value::Bool(true), Value::from(0), Value::from(-1), Value::from(99999),
                Value::from("x"), Value::from("[concat("), Value::from("[parameters('nope')]"),
                serde_json::json!([]), serde_json::json!({}),
            ][kind].clone();
            if let Some(slot) = v.pointer_mut(&all[index.index(all.len())]) {
                *slot = replacement;
            }
        }
        let texts = vec![
            (PathBuf::from("mutated.json"), v.to_string()),
            (root().join(PARAMETERS), std::fs::read_to_string(root().join(PARAMETERS)).unwrap()),
        ];
        for side in [PlanSide::Before, PlanSide::After] {
            let options = LoadOptions { plan_side: side, ..LoadOptions::default() };
            if let Err(e) = secpath::load::load_texts_with(&texts, &options) {
                let message = e.to_string();
                proptest::prop_assert!(!message.is_empty());
            }
        }
    }
}

#[test]
fn a_plan_may_attach_an_nsg_to_a_nic_only_the_live_snapshot_has() {
    let nic = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-app/providers/Microsoft.Network/networkInterfaces/nic-web";
    let plan = serde_json::json!({
        "format_version": "1.2",
        "resource_changes": [
            {"address": "azurerm_network_security_group.new", "mode": "managed",
             "type": "azurerm_network_security_group", "name": "new",
             "change": {"actions": ["create"], "before": null,
                        "after": {"name": "nsg-new", "resource_group_name": "rg-app", "location": "eastus",
                                  "security_rule": [{"name": "deny-https", "priority": 100, "direction": "Inbound",
                                                     "access": "Deny", "protocol": "Tcp", "source_port_range": "*",
                                                     "destination_port_range": "443", "source_address_prefix": "*",
                                                     "destination_address_prefix": "*"}]},
                        "after_unknown": {"id": true}}},
            {"address": "azurerm_network_interface_security_group_association.new", "mode": "managed",
             "type": "azurerm_network_interface_security_group_association", "name": "new",
             "change": {"actions": ["create"], "before": null,
                        "after": {"network_interface_id": nic},
                        "after_unknown": {"id": true, "network_security_group_id": true}}}
        ],
        "configuration": {"root_module": {"resources": [
            {"address": "azurerm_network_interface_security_group_association.new",
             "expressions": {"network_security_group_id": {"references": [
                 "azurerm_network_security_group.new.id", "azurerm_network_security_group.new"]}}}
        ]}}
    });
    let plan = scratch("attach.tfplan.json", &plan.to_string());
    let plan = plan.to_str().unwrap();
    let (code, e) = explain(&[
        "--snapshot",
        LIVE,
        plan,
        "tcp 198.51.100.7:50000 -> 10.10.1.4:443",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(e["decided_by"]["rule"], "deny-https");
    assert!(e["decided_by"]["resource"]
        .as_str()
        .unwrap()
        .contains("/networkSecurityGroups/nsg-new/"));
    let alone = secpath(["audit", "--snapshot", plan]);
    assert_eq!(alone.status.code(), Some(2));
    let message = String::from_utf8_lossy(&alone.stderr);
    assert!(
        message.contains("resource_changes[1].change.after.network_interface_id")
            && message.contains("is in no input"),
        "{message}"
    );
}

/// A parameters file must take effect: one naming a parameter the template does not declare
/// (Azure refuses it), or one no template reads, is a located error, not a silent default.
#[test]
fn a_parameters_file_that_cannot_apply_is_an_error() {
    const SCHEMA: &str =
        "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#";
    let dir = std::env::temp_dir().join(format!("secpath-params-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let typo = dir.join("network.template.parameters.json");
    std::fs::write(
        &typo,
        format!(r#"{{"$schema": "{SCHEMA}", "parameters": {{"virtualNetworks_vnet_app_nam": {{"value": "vnet-app"}}}}}}"#),
    )
    .unwrap();
    let stray = dir.join("other.parameters.json");
    std::fs::write(
        &stray,
        format!(r#"{{"$schema": "{SCHEMA}", "parameters": {{}}}}"#),
    )
    .unwrap();
    let cases = [
        (
            vec![root().join(TEMPLATE), typo.clone()],
            "parameters.virtualNetworks_vnet_app_nam: the template does not declare parameter",
        ),
        (
            vec![
                root().join(TEMPLATE),
                root().join(PARAMETERS),
                stray.clone(),
            ],
            "other.parameters.json: parameters: this parameters file applies to no template",
        ),
    ];
    for (paths, message) in cases {
        let err = load_snapshot(&paths)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(message), "{paths:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// What a plan's translation leaves out (an address Azure allocates at apply, a type secpath
/// does not read) is said on stderr by `convert`, as loading says it in `warnings`.
#[test]
fn convert_says_what_the_plan_translation_left_out() {
    let sub = "/subscriptions/22222222-0000-4000-8000-000000000002/resourceGroups/rg-app";
    let subnet =
        format!("{sub}/providers/Microsoft.Network/virtualNetworks/vnet-app/subnets/snet-web");
    let vnet = serde_json::json!({"id": format!("{sub}/providers/Microsoft.Network/virtualNetworks/vnet-app"),
        "name": "vnet-app", "resource_group_name": "rg-app", "location": "westeurope",
        "address_space": ["10.10.0.0/16"], "subnet": [], "tags": {}});
    let plan = serde_json::json!({"format_version": "1.2", "resource_changes": [
        {"address": "azurerm_virtual_network.app", "mode": "managed", "type": "azurerm_virtual_network",
         "name": "app", "change": {"actions": ["no-op"], "before": vnet, "after": vnet, "after_unknown": {}}},
        {"address": "azurerm_network_interface.dyn", "mode": "managed", "type": "azurerm_network_interface",
         "name": "dyn", "change": {"actions": ["create"], "before": null,
           "after": {"name": "nic-dyn", "resource_group_name": "rg-app", "location": "westeurope",
             "ip_configuration": [{"name": "ipconfig1", "subnet_id": subnet,
               "private_ip_address_allocation": "Dynamic"}]},
           "after_unknown": {"id": true, "ip_configuration": [{"private_ip_address": true}]}}},
        {"address": "azurerm_storage_account.logs", "mode": "managed", "type": "azurerm_storage_account",
         "name": "logs", "change": {"actions": ["create"], "before": null, "after": {"name": "stlogs"},
           "after_unknown": {"id": true}}}
    ]});
    let path = scratch("dynamic-nic.plan.json", &plan.to_string());
    let out = secpath(["convert", path.to_str().unwrap(), "--to", "dsl"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("ip_configuration[0]: `private_ip_address` is unknown at plan time"),
        "{stderr}"
    );
    assert!(stderr.contains("azurerm_storage_account (1)"), "{stderr}");
}

/// A plan's NSG still lists its standalone rules as of the last refresh: a standalone rule
/// the plan deletes, or replaces under a new name, is gone all the same.
#[test]
fn a_deleted_or_renamed_standalone_rule_is_gone_from_its_nsg() {
    let (code, got) = explain(&[
        "--snapshot",
        "fixtures/plans/standalone-rule-deleted.tfplan.json",
        "tcp 198.51.100.7:5000 -> 10.0.1.4:22",
    ]);
    assert_eq!(code, Some(1), "{got}");
    assert_eq!(got["decided_by"]["rule"], "DenyAllInBound", "{got}");
    let renamed = load(
        "fixtures/plans/standalone-rule-renamed.tfplan.json",
        PlanSide::After,
    );
    assert_eq!(
        rules(&renamed, "nsg"),
        [("https".to_string(), 110, Access::Allow, Direction::Inbound)]
    );
}

/// Terraform lists `x["web"].id`, `x["web"]` and the bare `x` among a reference's
/// `references`, and writes `x[each.key]` as `x` and `each.key`: a reference names the
/// instance it names, in its own module instance, not every instance of `x`.
#[test]
fn references_name_one_instance_of_a_for_each_or_module() {
    let allowed_by = |plan: &str, flow: &str| {
        let (_, got) = explain(&["--snapshot", plan, flow]);
        let rules: Vec<String> = got["allowed_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["rule"].as_str().map(str::to_string))
            .collect();
        (
            got["verdict"].as_str().unwrap_or_default().to_string(),
            rules,
        )
    };
    let each_key = "fixtures/plans/for-each-associations.tfplan.json";
    let (verdict, rules) = allowed_by(each_key, "tcp 203.0.113.1:5000 -> 10.0.1.4:443");
    assert_eq!(verdict, "allow");
    assert!(rules.contains(&"https".to_string()), "{rules:?}");
    // `nsg[local.map[each.key]]` also lists `local.map`: which instance is not this one's
    // own key, and secpath does not guess it.
    let mut mapped: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(each_key)).unwrap()).unwrap();
    mapped["configuration"]["root_module"]["resources"][0]["expressions"]
        ["network_security_group_id"]["references"] = serde_json::json!([
        "azurerm_network_security_group.nsg",
        "local.map",
        "each.key"
    ]);
    let mapped = scratch("mapped-each-key.json", &mapped.to_string());
    assert!(
        error_of(&mapped).contains("network_security_group_id"),
        "{}",
        error_of(&mapped)
    );
    let module = "fixtures/plans/module-for-each.tfplan.json";
    let (verdict, rules) = allowed_by(module, "tcp 203.0.113.1:5000 -> 10.0.1.4:22");
    assert_eq!(
        (verdict.as_str(), rules),
        ("allow", vec!["allow".to_string()])
    );
    let asg = "fixtures/plans/asg-instance-reference.tfplan.json";
    let (verdict, _) = allowed_by(asg, "tcp 203.0.113.1:5000 -> 10.0.1.5:22");
    assert_eq!(
        verdict, "deny",
        "10.0.1.5 is in asg[\"db\"], the rule names asg[\"web\"]"
    );
    let groups = "fixtures/plans/network-group-instance-reference.tfplan.json";
    let (verdict, _) = allowed_by(groups, "tcp 203.0.113.1:5000 -> 10.2.1.4:22");
    assert_eq!(
        verdict, "allow",
        "vnet-test is in group g[\"test\"], not g[\"prod\"]"
    );
}

/// azurerm 1.x attached NSGs by the subnet's and NIC's own `network_security_group_id`,
/// and put NICs in ASGs by their IP configuration's `application_security_group_ids`.
#[test]
fn azurerm_1_attachments_on_the_subnet_and_nic_are_read() {
    let plan = "fixtures/plans/azurerm1-attachments.tfplan.json";
    let (code, got) = explain(&["--snapshot", plan, "tcp 203.0.113.1:5000 -> 10.0.1.4:22"]);
    assert_eq!(code, Some(1), "{got}");
    assert_eq!(got["decided_by"]["rule"], "deny-ssh", "{got}");
    let (code, got) = explain(&["--snapshot", plan, "tcp 203.0.113.1:5000 -> 10.0.1.4:443"]);
    assert_eq!(code, Some(0), "{got}");
    assert_eq!(
        got["allowed_by"][0]["rule"], "allow-web-https",
        "the NIC is in asg-web: {got}"
    );
}

/// A subnet created inline in a VNet has an id that is unknown at plan time; that does not
/// make the inline list unknown: its subnets and their NSGs are read (azurerm 3.x creating
/// the VNet, azurerm 4.x adding a second subnet to an existing one).
#[test]
fn an_inline_subnet_whose_id_is_unknown_is_still_read() {
    for (plan, flows) in [
        (
            "fixtures/plans/inline-subnet-created.tfplan.json",
            &["tcp 203.0.113.5:1 -> 10.30.1.4:22"][..],
        ),
        (
            "fixtures/plans/inline-subnet-added.azurerm4.tfplan.json",
            &[
                "tcp 203.0.113.5:1 -> 10.95.1.4:22",
                "tcp 203.0.113.5:1 -> 10.95.2.4:22",
            ][..],
        ),
    ] {
        for flow in flows {
            let (code, report) = explain(&["--snapshot", plan, flow]);
            assert_eq!(code, Some(1), "{plan} {flow}: {report}");
            assert_eq!(
                report["decided_by"]["rule"], "deny-22",
                "{plan} {flow}: {report}"
            );
            let warnings = report["warnings"].to_string();
            assert!(!warnings.contains("inline `subnet`"), "{warnings}");
        }
    }
}

/// Deleting an association detaches its NSG or ASG from a subnet or NIC of a live input. A
/// subnet association's id is the subnet's own, so it must not remove the subnet; a NIC
/// association's id names no resource, so it used to change nothing.
#[test]
fn a_deleted_association_detaches_from_a_live_subnet_or_nic() {
    let dir = "fixtures/plans/detach";
    let cases = [
        // nsg-web's DenyAllInBound, then no NSG on snet-web.
        (
            LIVE,
            "subnet-association-deleted",
            "tcp 203.0.113.5:1 -> 10.10.1.4:22",
            (Some(1), Some(0)),
        ),
        // Allow-Ssh-To-Asg, then Deny-Ssh once the NIC is out of asg-ssh.
        (
            "fixtures/plans/detach/live.secpath",
            "asg-association-deleted",
            "tcp 203.0.113.5:1 -> 10.20.1.4:22",
            (Some(0), Some(1)),
        ),
        // nsg-nic's DenyAllInBound, then no NSG on the NIC.
        (
            "fixtures/plans/detach/live.secpath",
            "nsg-association-deleted",
            "tcp 203.0.113.5:1 -> 10.20.1.4:23",
            (Some(1), Some(0)),
        ),
    ];
    for (live, plan, flow, (before, after)) in cases {
        let plan = format!("{dir}/{plan}.tfplan.json");
        let (code, report) = explain(&["--snapshot", live, flow]);
        assert_eq!(code, before, "{live} {flow}: {report}");
        let (code, report) = explain(&["--snapshot", live, &plan, flow]);
        assert_eq!(code, after, "{plan} {flow}: {report}");
        assert_eq!(report["destination"]["kind"], "nic", "{report}");
        let (code, _) = explain(&["--plan-side", "before", "--snapshot", live, &plan, flow]);
        assert_eq!(code, before, "{plan} --plan-side before");
    }
}
