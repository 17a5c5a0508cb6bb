//! CLI behaviour: bad input (exit 2 with a located message), the JSON schema, text output,
//! `effective`, and loading every real Azure example.

use crate::support::{explain_one_file, json_of, scratch_file, secpath, D7_CLOSED, D7_FLOW};

const WEB_VM: &str = "tcp 203.0.113.5:50000 -> 10.1.1.4:22";

/// (fixture, substrings the one-line message must contain)
const BAD_INPUTS: &[(&str, &[&str])] = &[
    (
        "malformed.json",
        &["fixtures/errors/malformed.json:3:16", "malformed JSON"],
    ),
    (
        "port-out-of-range.json",
        &[
            "port-out-of-range.json",
            "securityRules[0].properties.destinationPortRange",
            "70000",
            "out of range",
        ],
    ),
    (
        "port-range-backwards.json",
        &[
            "securityRules[0].properties.destinationPortRange",
            "`80-20` runs backwards",
        ],
    ),
    (
        "bad-cidr.json",
        &[
            "securityRules[0].properties.sourceAddressPrefix",
            "`10.0.0.0/33` is not a valid address",
        ],
    ),
    (
        "duplicate-nsg-priority.json",
        &[
            "securityRules[1]",
            "duplicate priority 100",
            "AllowHttps",
            "AllowHttp",
        ],
    ),
    (
        "duplicate-admin-priority.json",
        &[
            "rules[1]",
            "duplicate priority 10",
            "DenySshIn",
            "DenySshOut",
        ],
    ),
    (
        "unknown-service-tag.json",
        &[
            "securityRules[0]",
            "AllowStorage",
            "unknown service tag `Storage.MarsNorth`",
        ],
    ),
    (
        "dangling-nsg.json",
        &[
            "subnets[0].properties.networkSecurityGroup",
            "dangling reference",
            "nsg-app",
        ],
    ),
    (
        "dangling-network-group.json",
        &[
            "ruleCollections[0]",
            "dangling reference: `appliesToGroups` names network group",
            "ng-missing",
        ],
    ),
    (
        "dangling-group-address.json",
        &[
            "rules[0]",
            "dangling reference: a source or destination names network group",
            "ng-elsewhere",
        ],
    ),
    (
        "truncated.json",
        &[
            "fixtures/errors/truncated.json:19:41",
            "malformed JSON",
            "EOF",
        ],
    ),
    (
        "nsg-priority-below-100.json",
        &[
            "securityRules[0].properties.priority",
            "priority 99 is out of range",
            "100-4096",
        ],
    ),
    (
        "admin-priority-above-4096.json",
        &[
            "rules[1].properties.priority",
            "priority 4097 is out of range",
            "1-4096",
        ],
    ),
    (
        "priority-beyond-u64.json",
        &[
            "securityRules[0].properties.priority",
            "priority 1180591620717411303424 is out of range",
            "100-4096",
        ],
    ),
    (
        "priority-not-a-number.json",
        &[
            "securityRules[0].properties.priority",
            "`\"high\"` is not an integer",
            "100-4096",
        ],
    ),
    (
        "duplicate-nic-address.json",
        &[
            "value[2].properties.ipConfigurations[0].properties.subnet",
            "NIC `nic-b` holds 10.50.1.4, which NIC `nic-a` also holds in VNet `vnet-app`",
        ],
    ),
    (
        "misspelt-manager-access.json",
        &[
            "value[1].properties.networkManagerScopeAccesses[0]",
            "`SecurityAdmn` is not a network manager access",
            "SecurityAdmin",
        ],
    ),
    (
        "misspelt-deployment-status.json",
        &[
            "value[0].deploymentStatus",
            "`Deployd` is not a deployment status",
            "NotStarted, Deploying, Deployed, Failed",
        ],
    ),
    (
        "properties-not-an-object.json",
        &["value[1].properties", "expected an object"],
    ),
];

#[test]
fn bad_snapshots_exit_2_with_a_located_message() {
    for (file, needles) in BAD_INPUTS {
        let path = format!("fixtures/errors/{file}");
        let out = secpath([
            "explain",
            "--snapshot",
            &path,
            "tcp 1.2.3.4:1 -> 10.50.1.4:443",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{file}: one line: {stderr}");
        for n in *needles {
            assert!(stderr.contains(n), "{file}: `{n}` missing from: {stderr}");
        }
    }
}

#[test]
fn lenient_lets_an_unknown_tag_match_nothing() {
    let out = secpath([
        "explain",
        "--snapshot",
        "fixtures/errors/unknown-service-tag.json",
        "--lenient",
        "--format",
        "json",
        "tcp 1.2.3.4:1 -> 10.50.1.4:443",
    ]);
    let got = json_of(&out);
    assert_eq!(got["decided_by"]["rule"], "DenyAllInBound");
    assert!(got["warnings"].to_string().contains("Storage.MarsNorth"));
}

/// An unknown tag's message says what to do: give a service-tag file where none was given,
/// else that the given file lacks it. A file entry without its prefixes is an error.
#[test]
fn an_unknown_tag_says_whether_a_service_tag_file_was_given() {
    let explain = |extra: &[&str]| {
        let mut args = vec![
            "explain",
            "--snapshot",
            "fixtures/errors/unknown-service-tag.json",
        ];
        args.extend_from_slice(extra);
        args.push("tcp 1.2.3.4:1 -> 10.50.1.4:443");
        String::from_utf8_lossy(&secpath(args).stderr).into_owned()
    };
    let without = explain(&[]);
    assert!(
        without.contains("give Azure's service-tag file with --service-tags"),
        "{without}"
    );
    let with = explain(&["--service-tags", "fixtures/service-tags/sample.json"]);
    assert!(
        with.contains("it is not in the --service-tags file given")
            && !with.contains("give Azure's service-tag file"),
        "{with}"
    );
    let bad = scratch_file(
        "tags.json",
        r#"{"values": [{"name": "Storage.MarsNorth", "id": "Storage.MarsNorth"}]}"#,
    );
    let e = explain(&["--service-tags", bad.to_str().unwrap()]);
    assert!(
        e.contains("values[0]")
            && e.contains("service tag `Storage.MarsNorth` has no `properties.addressPrefixes`"),
        "{e}"
    );
    std::fs::remove_dir_all(bad.parent().unwrap()).ok();
}

#[test]
fn bad_flows_and_paths_exit_2() {
    for (args, needle) in [
        (
            vec![
                "explain",
                "--snapshot",
                "rulesets/contoso",
                "tcp 1.2.3.4 -> 10.1.1.4:22",
            ],
            "need both ports",
        ),
        (
            vec![
                "explain",
                "--snapshot",
                "rulesets/contoso",
                "gre 1.2.3.4 -> 10.1.1.4",
            ],
            "not a protocol",
        ),
        // An empty flow is the flow's error, not the greedy `--snapshot` list's.
        (
            vec!["explain", "--snapshot", "rulesets/contoso", ""],
            "flow ``: expected `PROTO",
        ),
        (
            vec![
                "explain",
                "--snapshot",
                "no-such-dir",
                "tcp 1.2.3.4:1 -> 10.1.1.4:22",
            ],
            "no-such-dir: cannot read",
        ),
        (
            vec![
                "explain",
                "--snapshot",
                "rulesets/contoso",
                "--engine",
                "reference",
                WEB_VM,
            ],
            "unknown option `--engine`",
        ),
        // An empty filter set would deny everything without a word.
        (
            vec![
                "eval",
                "--classbench",
                "fixtures/flows/empty.rules",
                "--flows",
                "fixtures/classbench/two.trace",
            ],
            "empty.rules: line 1: no ClassBench filter",
        ),
        // A directory fails every read: refused up front, not skipped line after line.
        (
            vec![
                "eval",
                "--snapshot",
                "rulesets/contoso",
                "--flows",
                "fixtures",
            ],
            "a directory, where a flow file",
        ),
        (
            vec![
                "bench",
                "--snapshot",
                "rulesets/contoso",
                "--flows",
                "fixtures",
            ],
            "a directory, where a flow file",
        ),
        (
            vec![
                "replay",
                "--snapshot",
                "rulesets/contoso",
                "--threads",
                "1025",
                "fixtures/replay/mixed.pcap",
            ],
            "1025 is not in 0..=1024",
        ),
        (
            vec![
                "explain",
                "--snapshot",
                "rulesets/contoso",
                "--to",
                "/subscriptions/x/nic",
                WEB_VM,
            ],
            "not a NIC, subnet or VNet",
        ),
    ] {
        let out = secpath(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn explain_json_follows_the_documented_schema() {
    let out = secpath([
        "explain",
        "--snapshot",
        "rulesets/contoso",
        "--format",
        "json",
        WEB_VM,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let got = json_of(&out);
    assert_eq!(got["schema"], "secpath.explain/v1");
    assert_eq!(got["verdict"], "deny");
    let d = &got["decided_by"];
    assert_eq!(
        (
            d["layer"].as_str(),
            d["side"].as_str(),
            d["access"].as_str()
        ),
        (Some("admin"), Some("destination"), Some("Deny"))
    );
    assert!(d["resource"]
        .as_str()
        .unwrap()
        .ends_with("/ruleCollections/rc-deny-high-risk/rules/DenyInternetSshRdp"));
    let admin = got["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["layer"] == "admin")
        .unwrap();
    let last = admin["rules"].as_array().unwrap().last().unwrap();
    for field in [
        "protocol",
        "source",
        "source_port",
        "destination",
        "destination_port",
        "matched",
    ] {
        assert_eq!(last[field], true, "{field}");
    }
    assert_eq!(got["flow"]["dst_port"], 22);
    assert!(!got["hints"].as_array().unwrap().is_empty());
}

#[test]
fn the_flow_may_follow_snapshot_paths_or_come_as_words() {
    let words = secpath([
        "explain",
        "--snapshot",
        "rulesets/contoso",
        "tcp",
        "203.0.113.5:50000",
        "->",
        "10.1.1.4:22",
    ]);
    assert_eq!(
        words.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&words.stderr)
    );
    let text = String::from_utf8_lossy(&words.stdout);
    assert!(
        text.contains("DENY") && text.contains("DenyInternetSshRdp"),
        "{text}"
    );
    assert!(!text.contains("\x1b["), "no colour when piped");
}

#[test]
fn text_output_marks_the_deciding_rule() {
    let out = secpath([
        "explain",
        "--snapshot",
        "rulesets/contoso",
        "tcp 203.0.113.5:50000 -> 10.1.1.4:80",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let marked: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('>'))
        .collect();
    assert!(
        marked.iter().any(|l| l.contains("DenyAllInBound")),
        "{text}"
    );
    assert!(text.contains("what would have to change"), "{text}");
}

/// NSGs skipped by an AlwaysAllow are named, not shown as missing: the jump host's SSH to
/// the web VM skips `nsg-snet-web` and `nsg-vm-web01`, which exist.
#[test]
fn nsgs_skipped_by_always_allow_are_named() {
    let flow = "tcp 10.0.1.4:50000 -> 10.1.1.4:22";
    let got = json_of(&secpath([
        "explain",
        "--snapshot",
        "rulesets/contoso",
        "--format",
        "json",
        flow,
    ]));
    let skipped: Vec<_> = got["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == "skipped" && s["side"] == "destination")
        .map(|s| {
            let name = |k: &str| {
                s[k].as_str()
                    .unwrap_or("null")
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            };
            (name("resource"), name("applied_to"))
        })
        .collect();
    let want = [
        ("nsg-snet-web", "snet-web"),
        ("nsg-vm-web01", "nic-vm-web01"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(skipped, want);
    let text = secpath(["explain", "--snapshot", "rulesets/contoso", flow]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("subnet NSG nsg-snet-web on snet-web -> skipped"),
        "{text}"
    );
    assert!(!text.contains("NSG (none) -> skipped"), "{text}");
}

/// Admin rules skipped where they don't apply (AzureBastionSubnet) name the subnet, as an
/// evaluated admin stage does.
#[test]
fn an_exempt_admin_stage_names_its_subnet() {
    let got = json_of(&secpath([
        "explain",
        "--snapshot",
        "rulesets/contoso",
        "--format",
        "json",
        "tcp 10.0.0.68:50000 -> 10.0.1.4:22",
    ]));
    let first = &got["stages"][0];
    assert_eq!(first["outcome"], "skipped");
    assert!(
        first["applied_to"]
            .as_str()
            .is_some_and(|s| s.ends_with("/subnets/AzureBastionSubnet")),
        "{first}"
    );
}

/// An admin stage that consulted no rule says so, rather than ending at its heading.
#[test]
fn an_admin_stage_without_rules_says_none_apply() {
    let out = secpath([
        "explain",
        "--snapshot",
        "fixtures/cases/sem-3.1-networkgroup-address/snapshot",
        "tcp 10.106.1.4:50000 -> 10.105.1.4:22",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "admin rules of VNet vnet-spoke-a -> no-match\n   no admin rule applies here in this direction\n"
        ),
        "{text}"
    );
}

/// A NIC behind two NSGs: `effective` says in which order each direction meets them.
#[test]
fn effective_says_the_order_of_two_nsgs() {
    let out = secpath([
        "effective",
        "--snapshot",
        "rulesets/contoso",
        "--nic",
        "/subscriptions/8d2e4b7a-5c3f-4e19-a7d6-1f2e3d4c5b02/resourceGroups/rg-web-weu/providers/Microsoft.Network/networkInterfaces/nic-vm-web01",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("inbound meets the subnet NSG first, outbound the NIC NSG first"),
        "{text}"
    );
}

/// A NIC's entry lists the admin rules that filter it, and a private endpoint's says none
/// apply and why (§2.5), as `explain` walks it.
#[test]
fn effective_gives_each_nic_its_admin_rules_or_its_exemption() {
    let nics = "/subscriptions/25000000-0000-4000-8000-000000000001/resourceGroups/rg-edge/providers/Microsoft.Network/networkInterfaces";
    let nic = |name: &str| {
        let got = json_of(&secpath([
            "effective",
            "--snapshot",
            "fixtures/cases/sem-2.5-exempt-subnets-and-private-endpoints/snapshot",
            "--nic",
            &format!("{nics}/{name}"),
            "--format",
            "json",
        ]));
        got["nics"][0].clone()
    };
    let vm = nic("nic-vm1");
    let names: Vec<&str> = vm["admin_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["DenyHttpsInbound", "DenySshOutbound"], "{vm}");
    assert!(vm["admin_exempt"].is_null(), "{vm}");
    let pe = nic("pe-sqlserver.nic.5b6a8a7e-2f0c-4f2e-9d5e-0c8f7a1b2c3d");
    assert_eq!(pe["admin_rules"], serde_json::json!([]), "{pe}");
    assert!(
        pe["admin_exempt"]
            .as_str()
            .unwrap()
            .contains("private endpoints"),
        "{pe}"
    );
}

/// A subnet Azure exempts (§2.5) lists no admin rules in the JSON, as the text says and as
/// `explain` walks it; an ordinary subnet of the same VNet keeps its rules.
#[test]
fn effective_lists_no_admin_rules_on_an_exempt_subnet() {
    let got = json_of(&secpath([
        "effective",
        "--snapshot",
        "fixtures/cases/sem-2.5-exempt-subnets-and-private-endpoints/snapshot",
        "--format",
        "json",
    ]));
    let subnets = got["vnets"][0]["subnets"].as_array().unwrap();
    let by_name = |name: &str| {
        subnets
            .iter()
            .find(|s| s["id"].as_str().unwrap().ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("no subnet {name} in {got}"))
    };
    for exempt in ["GatewaySubnet", "AzureBastionSubnet", "AzureFirewallSubnet"] {
        let subnet = by_name(exempt);
        assert!(subnet["admin_exempt"].is_string(), "{subnet}");
        assert_eq!(subnet["admin_rules"], serde_json::json!([]), "{subnet}");
    }
    let ordinary: Vec<&serde_json::Value> = subnets
        .iter()
        .filter(|s| s["admin_exempt"].is_null())
        .collect();
    assert!(!ordinary.is_empty(), "{got}");
    for subnet in ordinary {
        assert!(
            !subnet["admin_rules"].as_array().unwrap().is_empty(),
            "{subnet}"
        );
    }
}

/// An admin rule naming a network group without members matches no address: the text says
/// so rather than printing an empty field.
#[test]
fn effective_text_says_a_memberless_group_holds_no_address() {
    let path = scratch_file(
        "empty-group.secpath",
        "subscription 11111111-0000-4000-8000-000000000001 name s1 {
  resource-group rg {
    vnet v1 region westeurope address-space 10.41.0.0/16 {
      subnet a prefix 10.41.1.0/24
    }
    network-manager m scope subscription 11111111-0000-4000-8000-000000000001 access SecurityAdmin {
      group g static v1
      group gempty
      security-admin-config cfg {
        collection c applies-to g {
          inbound 13 deny tcp from group gempty to * ports 504 name D504
        }
      }
    }
  }
}
",
    );
    let out = secpath(["effective", "--snapshot", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("D504"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.trim_end().ends_with("Tcp   (no address):* -> *:504"),
        "{line}"
    );
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

/// The D7 deny has no rule of its own, so no priority: the verdict line leaves it out.
#[test]
fn the_closed_public_ip_verdict_shows_no_priority() {
    let out = secpath(["explain"].iter().chain(&D7_CLOSED).chain(&[D7_FLOW]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("StandardPublicIpClosedWithoutNsg (Deny) at the destination"),
        "{text}"
    );
    // The subnet level (no NSG) is walked before the NIC level closes the IP.
    let json = ["explain", "--format", "json"];
    let got = json_of(&secpath(json.iter().chain(&D7_CLOSED).chain(&[D7_FLOW])));
    let nsg_levels: Vec<(&str, &str)> = got["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["layer"] == "nsg")
        .map(|s| (s["level"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        nsg_levels,
        [("subnet", "skipped"), ("nic", "deny")],
        "{got}"
    );
}

#[test]
fn effective_lists_ordered_rules_with_tags_expanded() {
    let out = secpath([
        "effective",
        "--snapshot",
        "rulesets/contoso",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = json_of(&out);
    assert_eq!(got["schema"], "secpath.effective/v1");
    let web = got["vnets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"].as_str().unwrap().ends_with("vnet-spoke-web"))
        .unwrap();
    let rules = web["subnets"][0]["admin_rules"].as_array().unwrap();
    let priorities: Vec<u64> = rules
        .iter()
        .map(|r| r["priority"].as_u64().unwrap())
        .collect();
    let mut sorted = priorities.clone();
    sorted.sort();
    assert_eq!(priorities, sorted, "admin rules in evaluation order");
    let deny = rules
        .iter()
        .find(|r| r["name"] == "DenyInternetSshRdp")
        .unwrap();
    assert!(
        !deny["source"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "10.0.0.0/8"),
        "Internet expanded without private space"
    );
    let one = secpath([
        "effective",
        "--snapshot",
        "rulesets/contoso",
        "--nic",
        got["nics"][0]["id"].as_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&one.stdout).starts_with("NIC "));
}

#[test]
fn every_azure_example_holding_resources_loads() {
    let dir = crate::support::root().join("../shared/azure-examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("shared/azure-examples not present: skipped");
        return;
    };
    let mut loaded = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Flow logs are replay input, not resources (one of them is not even valid JSON).
        if !name.starts_with("Network") {
            continue;
        }
        let out = secpath([
            "effective",
            "--format",
            "json",
            "--snapshot",
            path.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        loaded += 1;
    }
    assert_eq!(loaded, 21, "every Network* REST example");
    let nsg = dir.join("NetworkSecurityGroupCreateWithRule.json");
    let out = secpath([
        "effective",
        "--format",
        "json",
        "--snapshot",
        nsg.to_str().unwrap(),
    ]);
    assert_eq!(json_of(&out)["schema"], "secpath.effective/v1");
}

/// What was read but not used reaches `effective` too: in the JSON and, counted, in the text
/// (SEMANTICS §1.1: unknown types are ignored and counted in a warning).
#[test]
fn effective_reports_what_it_ignored() {
    let dir = crate::support::root().join("../shared/azure-examples");
    let ip_flow = dir.join("NetworkWatcherIpFlowVerify.json");
    if !ip_flow.exists() {
        eprintln!("shared/azure-examples not present: skipped");
        return;
    }
    let run = |format: &str| {
        secpath([
            "effective",
            "--format",
            format,
            "--snapshot",
            "rulesets/contoso",
            ip_flow.to_str().unwrap(),
        ])
    };
    let got = json_of(&run("json"));
    let warnings = got["warnings"].as_array().expect("warnings listed");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("NetworkWatcherIpFlowVerify.json")),
        "{warnings:?}"
    );
    let text = run("text");
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("1 warning(s), on standard error"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        stderr.contains("warning: ") && stderr.contains("NetworkWatcherIpFlowVerify.json"),
        "{stderr}"
    );
}

#[test]
fn eval_streams_csv_and_both_engines_agree() {
    let flows = "fixtures/flows/contoso.csv";
    let run = |engine: &str| {
        secpath([
            "eval",
            "--snapshot",
            "rulesets/contoso",
            "--flows",
            flows,
            "--engine",
            engine,
        ])
    };
    let (compiled, reference) = (run("compiled"), run("reference"));
    assert_eq!(
        compiled.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    assert_eq!(compiled.stdout, reference.stdout, "engines disagree");
    let text = String::from_utf8_lossy(&compiled.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["rule"], "DenyInternetSshRdp");
    assert_eq!(lines[1]["verdict"], "allow");
    assert!(lines.iter().any(|l| l["skipped"]
        .as_str()
        .is_some_and(|s| s.contains("not a port"))));
    let summary = String::from_utf8_lossy(&compiled.stderr);
    assert!(
        summary.contains(&format!("read {}", lines.len())),
        "{summary}"
    );
}

#[test]
fn eval_reads_classbench_and_writes_csv() {
    let out = secpath([
        "eval",
        "--classbench",
        "fixtures/classbench/two.rules",
        "--flows",
        "fixtures/classbench/two.trace",
        "--format",
        "csv",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("line,protocol"), "{text}");
    assert!(
        rows[1].contains(",allow,nsg,destination,1,classbench/1,"),
        "{text}"
    );
    assert!(rows[2].contains(",allow,nsg,destination,2,"), "{text}");
    assert!(rows[3].contains(",deny,"), "no filter matches: {text}");
}

/// A ClassBench set is matched as written: Azure's switches, meaningless beside it, are
/// refused rather than silently ignored.
#[test]
fn classbench_refuses_the_azure_switches() {
    let set = ["--classbench", "fixtures/classbench/two.rules"];
    let flows = ["--flows", "fixtures/classbench/two.trace"];
    for (command, switch) in [
        ("eval", vec!["--any-protocol", "tcp-udp-icmp"]),
        ("bench", vec!["--lenient"]),
        (
            "eval",
            vec!["--service-tags", "fixtures/service-tags/sample.json"],
        ),
    ] {
        let args = [command]
            .into_iter()
            .chain(set)
            .chain(flows)
            .chain(switch.iter().copied());
        let out = secpath(args.collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command} {switch:?}: {stderr}");
        assert!(
            stderr.contains("do not apply to a ClassBench filter set"),
            "{stderr}"
        );
    }
}

#[test]
fn bench_checksums_agree_across_engines_and_threads() {
    let bench = |engine: &str, threads: &str| {
        let out = secpath([
            "bench",
            "--classbench",
            "fixtures/classbench/fw300.rules",
            "--flows",
            "fixtures/classbench/fw300.trace",
            "--iter",
            "1",
            "--threads",
            threads,
            "--engine",
            engine,
            "--format",
            "json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_of(&out)
    };
    let (compiled, reference, parallel) = (
        bench("compiled", "1"),
        bench("reference", "1"),
        bench("compiled", "2"),
    );
    assert_eq!(compiled["checksum"], reference["checksum"]);
    assert_eq!(compiled["checksum"], parallel["checksum"]);
    assert_eq!(compiled["rules"], 300);
    assert_eq!(compiled["lookups"], 3000);
    for field in [
        "compile_ms",
        "table_bytes",
        "lookups_per_sec",
        "ns_per_lookup",
        "threads",
        "engine",
    ] {
        assert!(!compiled[field].is_null(), "{field}");
    }
    let snapshot = |engine: &str| {
        json_of(&secpath([
            "bench",
            "--snapshot",
            "rulesets/contoso",
            "--flows",
            "fixtures/flows/contoso.csv",
            "--iter",
            "2",
            "--engine",
            engine,
            "--format",
            "json",
        ]))
    };
    let (compiled, reference) = (snapshot("compiled"), snapshot("reference"));
    assert_eq!(compiled["checksum"], reference["checksum"]);
    // One count of rules whichever engine runs, and the one `compile --stats` gives.
    assert_eq!(compiled["rules"], reference["rules"]);
    assert_eq!(compiled["rules"], contoso_compile_stats()["rules"]);
}

/// `secpath compile --snapshot rulesets/contoso --stats --format json`, parsed.
fn contoso_compile_stats() -> serde_json::Value {
    json_of(&secpath([
        "compile",
        "--snapshot",
        "rulesets/contoso",
        "--stats",
        "--format",
        "json",
    ]))
}

#[test]
fn bench_refuses_an_empty_trace_and_zero_passes() {
    let bench = |flows: &str, iter: &str| {
        secpath([
            "bench",
            "--classbench",
            "fixtures/classbench/fw300.rules",
            "--flows",
            flows,
            "--iter",
            iter,
        ])
    };
    let zero = bench("fixtures/classbench/fw300.trace", "0");
    assert_eq!(zero.status.code(), Some(2));
    let empty = bench("fixtures/classbench/fw300.rules", "1");
    let stderr = String::from_utf8_lossy(&empty.stderr);
    assert_eq!(empty.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("skipped; the first, line 1:") && stderr.contains("no flow to time"),
        "a rule file is no trace: {stderr}"
    );
}

#[test]
fn compile_reports_table_statistics() {
    let got = contoso_compile_stats();
    assert_eq!(got["schema"], "secpath.compile/v1");
    assert!(
        got["rules"].as_u64().unwrap() > 20
            && got["tables"].as_u64().unwrap() > 10
            && got["bytes"].as_u64().unwrap() > 0
    );
    // Contoso's NSGs are each enforced at several points and directions, compiled once.
    let distinct = got["distinct_tables"].as_u64().unwrap();
    assert!(distinct > 0 && distinct < got["tables"].as_u64().unwrap());
}

#[test]
fn convert_to_dsl_and_back_explains_identically() {
    let dir = std::env::temp_dir().join(format!("secpath-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (dsl, arm) = (dir.join("contoso.secpath"), dir.join("contoso.json"));
    let to_dsl = secpath([
        "convert",
        "rulesets/contoso",
        "--to",
        "dsl",
        "--out",
        dsl.to_str().unwrap(),
    ]);
    assert_eq!(
        to_dsl.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&to_dsl.stderr)
    );
    let to_arm = secpath([
        "convert",
        dsl.to_str().unwrap(),
        "--to",
        "arm",
        "--out",
        arm.to_str().unwrap(),
    ]);
    assert_eq!(
        to_arm.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&to_arm.stderr)
    );
    let check = secpath(["fmt", "--check", dsl.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "convert writes canonical DSL");
    for flow in [
        WEB_VM,
        "tcp 10.0.1.4:50000 -> 10.1.1.4:22",
        "tcp 10.1.2.4:1 -> 10.2.1.4:1433",
        "udp 10.1.1.4:40000 -> 10.0.2.4:53",
    ] {
        let answer = |snapshot: &std::path::Path| {
            let mut j = json_of(&secpath([
                "explain",
                "--snapshot",
                snapshot.to_str().unwrap(),
                "--format",
                "json",
                flow,
            ]));
            j["warnings"] = serde_json::Value::Null;
            j
        };
        let original = answer(std::path::Path::new("rulesets/contoso"));
        assert_eq!(answer(&dsl), original, "{flow} via DSL");
        assert_eq!(answer(&arm), original, "{flow} via DSL and back to ARM");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fmt_check_flags_non_canonical_dsl_and_fmt_fixes_it() {
    let dir = std::env::temp_dir().join(format!("secpath-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("messy.secpath");
    let canonical =
        String::from_utf8(secpath(["convert", "rulesets/contoso", "--to", "dsl"]).stdout).unwrap();
    std::fs::write(&file, canonical.replace("  ", "    ")).unwrap();
    let check = secpath(["fmt", "--check", file.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).contains("messy.secpath"));
    assert_eq!(
        secpath(["fmt", file.to_str().unwrap()]).status.code(),
        Some(0)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), canonical);
    let bad = dir.join("bad.secpath");
    std::fs::write(&bad, "nsg x {\n}\n").unwrap();
    let out = secpath(["fmt", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.secpath:1:5"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn audit_reports_in_text_json_and_sarif_and_gates_ci() {
    let json = json_of(&secpath([
        "audit",
        "--snapshot",
        "rulesets/contoso",
        "--format",
        "json",
    ]));
    assert_eq!(json["schema"], "secpath.audit/v1");
    let findings = json["findings"].as_array().unwrap();
    assert!(findings
        .iter()
        .any(|f| f["kind"] == "exposure"
            && f["resource"].as_str().unwrap().ends_with("/nic-vm-web01")));
    let sarif = json_of(&secpath([
        "audit",
        "--snapshot",
        "rulesets/contoso",
        "--format",
        "sarif",
    ]));
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        findings.len()
    );
    let gate = |level: &str| {
        secpath([
            "audit",
            "--snapshot",
            "rulesets/contoso",
            "--fail-on",
            level,
        ])
        .status
        .code()
    };
    assert_eq!(gate("note"), Some(1), "contoso has notes");
    assert_eq!(gate("error"), Some(0), "and no errors");
}

#[test]
fn diff_finds_what_a_change_opens_and_gates_ci() {
    let dir = std::env::temp_dir().join(format!("secpath-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (before, after) = (dir.join("before.secpath"), dir.join("after.secpath"));
    let text =
        String::from_utf8(secpath(["convert", "rulesets/contoso", "--to", "dsl"]).stdout).unwrap();
    let line = "inbound 120 deny tcp to * ports 8080 name Deny-8080";
    assert!(text.contains(line));
    std::fs::write(&before, &text).unwrap();
    std::fs::write(
        &after,
        text.replace(line, "inbound 120 allow tcp to * ports 8080 name Deny-8080"),
    )
    .unwrap();
    let (b, a) = (before.to_str().unwrap(), after.to_str().unwrap());
    let same = secpath(["diff", "--before", b, "--after", b, "--fail-on-change"]);
    assert_eq!(same.status.code(), Some(0));
    let out = secpath([
        "diff",
        "--before",
        b,
        "--after",
        a,
        "--format",
        "json",
        "--fail-on-change",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&out);
    assert_eq!(report["closed"], 0);
    assert!(report["opened"].as_u64().unwrap() > 0);
    assert_eq!(report["unverified"], false);
    let narrowed = json_of(&secpath([
        "diff", "--before", b, "--after", a, "--format", "json", "--from", "10.1.2.4",
    ]));
    assert_eq!(
        narrowed["changes"].as_array().unwrap().len(),
        1,
        "{narrowed}"
    );
    // In text, an allow names the rules of the first region's witness, as an example.
    let text = secpath(["diff", "--before", b, "--after", a, "--from", "10.1.2.4"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("deny (by `Deny-8080`) → allow (e.g. by `AllowVnetOutBound`, `Deny-8080`)"),
        "{text}"
    );
    // A selector naming nothing in either snapshot is an error, not an empty, passing diff.
    let typo = secpath([
        "diff",
        "--before",
        b,
        "--after",
        a,
        "--fail-on-change",
        "--to",
        "/subscriptions/8d2e4b7a-5c3f-4e19-a7d6-1f2e3d4c5b02/resourceGroups/rg-web-weu/providers/Microsoft.Network/networkInterfaces/nic-vm-web99",
    ]);
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert_eq!(typo.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is not a NIC, subnet or VNet in either snapshot"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_rule_reaching_a_subnet_through_its_vnet_and_a_subnet_group_is_listed_once() {
    // SEMANTICS §2.3: a point's admin rules are the union of the collections that reach it.
    let snapshot = r#"subscription 11111111-0000-4000-8000-000000000001 name sub1 {
  resource-group rg {
    vnet v1 region westeurope {
      address-space 10.0.0.0/16
      subnet s1 prefix 10.0.1.0/24
    }
  }
  resource-group rg-avnm {
    network-manager avnm scope subscription 11111111-0000-4000-8000-000000000001 access SecurityAdmin {
      group vnets static v1
      group subnets member-type subnet static v1/s1
      security-admin-config cfg {
        collection c applies-to vnets,subnets {
          inbound 10 deny tcp to * ports 22 name Deny22
          inbound 20 allow tcp to * ports 23 name Allow23
        }
      }
    }
  }
}
"#;
    let dir = std::env::temp_dir().join(format!("secpath-union-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("union.secpath");
    std::fs::write(&path, snapshot).unwrap();
    let path = path.to_str().unwrap();
    let explain = json_of(&secpath([
        "explain",
        "--snapshot",
        path,
        "--format",
        "json",
        "tcp 1.2.3.4:1 -> 10.0.1.4:23",
    ]));
    assert_eq!(explain["verdict"], "allow");
    let consulted: Vec<&str> = explain["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["layer"] == "admin")
        .flat_map(|s| s["rules"].as_array().unwrap())
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(consulted, ["Deny22", "Allow23"]);
    let effective = json_of(&secpath([
        "effective",
        "--snapshot",
        path,
        "--format",
        "json",
    ]));
    let names: Vec<&str> = effective["vnets"][0]["subnets"][0]["admin_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Deny22", "Allow23"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_numbers_a_flow_it_cannot_decide_by_its_line() {
    let dir = std::env::temp_dir().join(format!("secpath-eval-lines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flows = dir.join("flows.csv");
    std::fs::write(
        &flows,
        "# a comment, the header, a blank line, then an unknown pin\n\
         protocol,src,src_port,dst,dst_port,to\n\
         \n\
         tcp,10.1.1.4,1,10.1.2.4,22,/subscriptions/x/nope\n\
         tcp,10.1.1.4,1,10.1.2.4,22,\n",
    )
    .unwrap();
    let out = secpath([
        "eval",
        "--snapshot",
        "rulesets/contoso",
        "--flows",
        flows.to_str().unwrap(),
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["line"], 4);
    assert!(lines[0]["skipped"].as_str().unwrap().contains("pin"));
    assert_eq!(lines[1]["line"], 5);
    assert_eq!(lines[1]["verdict"], "deny");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_nic_outside_its_subnet_is_placed_as_written_with_a_warning() {
    let snapshot = "subscription 11111111-0000-4000-8000-000000000001 name sub1 {
  resource-group rg {
    vnet v1 region westeurope {
      address-space 10.0.0.0/16
      subnet s1 prefix 10.0.1.0/24
    }
    nic n1 ip 10.0.9.4 subnet v1/s1
  }
}
";
    let got = explain_one_file("nic.secpath", snapshot, "tcp 10.0.9.4:1000 -> 10.0.1.5:80");
    assert_eq!(got["source"]["kind"], "nic", "{got}");
    let warnings = got["warnings"].to_string();
    assert!(
        warnings.contains("NIC `n1` has address 10.0.9.4 outside its subnet `s1` (10.0.1.0/24)"),
        "{warnings}"
    );
}

#[test]
fn a_subnet_outside_its_vnets_address_space_is_warned_about() {
    let snapshot = "subscription 11111111-0000-4000-8000-000000000001 name sub1 {
  resource-group rg {
    vnet v1 region westeurope {
      address-space 10.0.0.0/16
      subnet s1 prefix 10.1.0.0/24
    }
  }
}
";
    let got = explain_one_file(
        "subnet.secpath",
        snapshot,
        "tcp 203.0.113.5:1000 -> 10.1.0.9:80",
    );
    // Placed by the address space: outside Azure, as the warning says.
    assert_eq!(got["destination"]["kind"], "internet", "{got}");
    let warnings = got["warnings"].to_string();
    assert!(
        warnings
            .contains("subnet `s1` has prefix 10.1.0.0/24, outside the address space of VNet `v1`"),
        "{warnings}"
    );
}

#[test]
fn a_nic_whose_ip_configurations_name_different_asgs_is_warned_about() {
    // `fixtures/cases/sem-3.1-asg` holds the verdicts; this is the warning beside them.
    let got = json_of(&secpath([
        "explain",
        "--snapshot",
        "fixtures/cases/sem-3.1-asg/snapshot",
        "--format",
        "json",
        "tcp 10.104.1.6:50000 -> 10.104.1.8:22",
    ]));
    assert_eq!(got["decided_by"]["rule"], "DenySshToDb", "{got}");
    let warnings = got["warnings"].to_string();
    assert!(
        warnings.contains(
            "NIC `nic-multi`: its IP configurations name different application security groups"
        ),
        "{warnings}"
    );
}

#[test]
fn a_vnet_without_addresses_and_a_subnet_without_a_prefix_are_warned_about() {
    let vnet = |name: &str, space: &[&str], prefix: Option<&str>| {
        let id = format!("/subscriptions/00000001-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/{name}");
        let subnet = match prefix {
            Some(p) => serde_json::json!({"addressPrefix": p}),
            None => serde_json::json!({}),
        };
        serde_json::json!({"id": id, "name": name, "type": "Microsoft.Network/virtualNetworks",
            "location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": space},
            "subnets": [{"id": format!("{id}/subnets/snet"), "name": "snet", "properties": subnet}]}})
    };
    let snapshot = serde_json::json!([
        vnet("vnet-empty", &[], Some("10.1.1.0/24")),
        vnet("vnet-hollow", &["10.2.0.0/16"], None)
    ]);
    let got = explain_one_file(
        "hollow.json",
        &snapshot.to_string(),
        "tcp 10.2.0.4:50000 -> 10.2.0.5:22",
    );
    let warnings = got["warnings"].to_string();
    assert!(
        warnings.contains("VNet `vnet-empty` has no address space"),
        "{warnings}"
    );
    assert!(
        warnings.contains("subnet `snet` of VNet `vnet-hollow` has no address prefix"),
        "{warnings}"
    );
}

#[test]
fn audit_text_and_replay_write_what_was_not_used_to_stderr() {
    let audit = secpath([
        "audit",
        "--snapshot",
        "rulesets/contoso",
        "--exposure-from",
        "10.1.1.0/24",
    ]);
    let stderr = String::from_utf8_lossy(&audit.stderr);
    assert!(
        stderr.contains("warning: --exposure-from: 10.1.1.0/24 lie in VNets"),
        "{stderr}"
    );
    let dir = std::env::temp_dir().join(format!("secpath-replay-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flows = dir.join("flows.csv");
    std::fs::write(
        &flows,
        "protocol,src,src_port,dst,dst_port\ntcp,10.104.1.6,50000,10.104.1.8,22\n",
    )
    .unwrap();
    let replay = secpath([
        "replay",
        "--snapshot",
        "fixtures/cases/sem-3.1-asg/snapshot",
        "--",
        flows.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(
        stderr.contains("warning: NIC `nic-multi`: its IP configurations name different"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn partial_default_rules_are_used_as_given_with_a_warning() {
    // SEMANTICS §1.1: `defaultSecurityRules` are used when present; Azure always lists all
    // six, so a list without `DenyAllInBound` (here only `AllowVnetInBound`) lets Internet
    // SSH through, and the run says which defaults are missing.
    let nsg = "/subscriptions/00000001-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-t";
    let vnet = "/subscriptions/00000001-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-t";
    let snapshot = serde_json::json!([
        {"id": vnet, "name": "vnet-t", "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
         "properties": {"addressSpace": {"addressPrefixes": ["10.240.0.0/16"]},
            "subnets": [{"id": format!("{vnet}/subnets/snet"), "name": "snet",
                "properties": {"addressPrefix": "10.240.1.0/24", "networkSecurityGroup": {"id": nsg}}}]}},
        {"id": nsg, "name": "nsg-t", "type": "Microsoft.Network/networkSecurityGroups",
         "properties": {"securityRules": [], "defaultSecurityRules": [
            {"id": format!("{nsg}/defaultSecurityRules/AllowVnetInBound"), "name": "AllowVnetInBound",
             "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
                "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "VirtualNetwork",
                "access": "Allow", "priority": 65000, "direction": "Inbound"}}]}}
    ]);
    let got = explain_one_file(
        "defaults.json",
        &snapshot.to_string(),
        "tcp 203.0.113.5:50000 -> 10.240.1.4:22",
    );
    assert_eq!(got["verdict"], "allow", "{got}");
    let warnings = got["warnings"].to_string();
    assert!(
        warnings.contains("NSG `nsg-t` lists default rules without AllowAzureLoadBalancerInBound, DenyAllInBound, AllowVnetOutBound, AllowInternetOutBound, DenyAllOutBound"),
        "{warnings}"
    );
}

#[test]
fn explain_options_may_follow_the_flow() {
    // The flow's words take hyphens (`->`); options after its destination are still options,
    // whether the flow is one word or several, and after other options or not.
    let words: Vec<&str> = WEB_VM.split(' ').collect();
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["--snapshot", "rulesets/contoso", WEB_VM, "--format", "json"],
        vec![
            "--snapshot",
            "rulesets/contoso",
            "--no-nsg",
            "pass",
            WEB_VM,
            "--format",
            "json",
        ],
    ];
    for before in [
        vec!["--snapshot", "rulesets/contoso"],
        vec!["--snapshot", "rulesets/contoso", "--no-nsg", "pass"],
    ] {
        let mut args = before;
        args.extend(&words);
        args.extend(["--format", "json", "--to", "/x"]);
        cases.push(args);
    }
    for case in cases {
        let mut args = vec!["explain"];
        args.extend(&case);
        let out = secpath(&args);
        let pinned = case.contains(&"--to");
        if pinned {
            // The pin was read as a pin: the NIC it names is not in the snapshot.
            assert_eq!(out.status.code(), Some(2), "{case:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("destination pin `/x`"),
                "{case:?}: {stderr}"
            );
        } else {
            assert_eq!(out.status.code(), Some(1), "{case:?}");
            assert_eq!(json_of(&out)["verdict"], "deny", "{case:?}");
        }
    }
}

#[test]
fn a_misspelt_rule_property_is_a_warning_not_a_silent_wildcard() {
    let nsg = serde_json::json!({
        "id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg",
        "type": "Microsoft.Network/networkSecurityGroups",
        "properties": {"securityRules": [{
            "name": "rule1",
            "properties": {
                "protocol": "Tcp", "sourceAddressPrefixs": "10.0.0.0/8", "sourcePortRange": "*",
                "destinationAddressPrefix": "*", "destinationPortRange": "22",
                "access": "Allow", "priority": 100, "direction": "Inbound",
                "description": "ssh from the office", "provisioningState": "Succeeded"
            }
        }]}
    });
    let path = std::env::temp_dir().join(format!("secpath-misspelt-{}.json", std::process::id()));
    std::fs::write(&path, nsg.to_string()).unwrap();
    // Converted to the DSL, the rule stays ARM (`arm {...}`), so the warning survives.
    let dsl = path.with_extension("secpath");
    std::fs::write(
        &dsl,
        secpath(["convert", path.to_str().unwrap(), "--to", "dsl"]).stdout,
    )
    .unwrap();
    for input in [&path, &dsl] {
        let out = secpath([
            "effective",
            "--format",
            "json",
            "--snapshot",
            input.to_str().unwrap(),
        ]);
        let warnings: Vec<String> = json_of(&out)["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|w| w.as_str().map(str::to_string))
            .filter(|w| w.contains("does not read"))
            .collect();
        assert_eq!(warnings.len(), 1, "{input:?}: {warnings:?}");
        assert!(
            warnings[0].contains("security rule `rule1` has a property `sourceAddressPrefixs`"),
            "{warnings:?}"
        );
    }
    std::fs::remove_file(&dsl).ok();
    let out = secpath([
        "effective",
        "--format",
        "json",
        "--snapshot",
        "rulesets/contoso",
    ]);
    assert!(!json_of(&out)["warnings"]
        .to_string()
        .contains("does not read"));
    std::fs::remove_file(&path).ok();
    // az CLI flattens a rule's properties beside its envelope (`id`, `etag`, ...): only the
    // misspelt property is unread.
    let flat = serde_json::json!({
        "id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg",
        "type": "Microsoft.Network/networkSecurityGroups", "name": "nsg",
        "securityRules": [{
            "id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg/securityRules/rule1",
            "name": "rule1", "etag": "W/\"1\"", "resourceGroup": "rg",
            "type": "Microsoft.Network/networkSecurityGroups/securityRules",
            "protocol": "Tcp", "sourceAddressPrefixs": "10.0.0.0/8", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "22",
            "access": "Allow", "priority": 100, "direction": "Inbound"
        }]
    });
    let got = explain_one_file(
        "flat.json",
        &flat.to_string(),
        "tcp 10.0.0.1:1 -> 10.0.1.4:22",
    );
    let unread: Vec<&str> = got["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .filter(|w| w.contains("does not read"))
        .collect();
    assert_eq!(unread.len(), 1, "{unread:?}");
    assert!(unread[0].contains("`sourceAddressPrefixs`"), "{unread:?}");
}
