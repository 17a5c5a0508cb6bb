//! Which admin rules reach a VNet (SEMANTICS §2), scenario by scenario: each writes a small
//! DSL snapshot and asks `explain` which rule decides.

use crate::support::{json_of, secpath};

/// `explain --format json` of `flow` on the DSL `snapshot` (written to a temp file named
/// after `name`), with `extra` arguments.
fn explain(name: &str, snapshot: &str, flow: &str, extra: &[&str]) -> serde_json::Value {
    explain_file(&format!("{name}.secpath"), snapshot, flow, extra)
}

/// As [`explain`], the snapshot written to a temp file called `file` (`.json` for ARM).
fn explain_file(file: &str, snapshot: &str, flow: &str, extra: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("secpath-resolve-{file}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, snapshot).unwrap();
    let mut args = vec!["explain", "--snapshot", path.to_str().unwrap()];
    args.extend(extra);
    args.extend(["--format", "json", flow]);
    let got = json_of(&secpath(args));
    std::fs::remove_dir_all(&dir).ok();
    got
}

/// The deciding rule's name, or the verdict when no rule decided.
fn decided(got: &serde_json::Value) -> String {
    got["decided_by"]["rule"].as_str().map_or_else(
        || got["verdict"].as_str().unwrap().to_string(),
        String::from,
    )
}

/// `[subscription().Id]` and `[resourceGroup().Id]` are known from the VNet's id even when
/// the snapshot does not declare the subscription or the resource group (`in subscription`).
#[test]
fn dynamic_conditions_read_ids_of_undeclared_containers() {
    let snapshot = r#"
in subscription 11111111-0000-4000-8000-000000000001 {
  in resource-group rg-Net {
    vnet v1 region westeurope address-space 10.1.0.0/16 {
      subnet a prefix 10.1.1.0/24
    }
  }
  resource-group rg-avnm {
    network-manager m scope subscription 11111111-0000-4000-8000-000000000001 access SecurityAdmin {
      group gsub dynamic where [subscription().Id] equals /subscriptions/11111111-0000-4000-8000-000000000001
      group grg dynamic where [resourceGroup().Id] equals /subscriptions/11111111-0000-4000-8000-000000000001/resourceGroups/rg-net
      security-admin-config cfg {
        collection c1 applies-to gsub {
          inbound 11 deny tcp to * ports 11 name BySubscriptionId
        }
        collection c2 applies-to grg {
          inbound 12 deny tcp to * ports 12 name ByResourceGroupId
        }
      }
    }
  }
}
"#;
    for (port, rule) in [(11, "BySubscriptionId"), (12, "ByResourceGroupId")] {
        let flow = format!("tcp 203.0.113.5:5000 -> 10.1.1.4:{port}");
        let got = explain("undeclared", snapshot, &flow, &[]);
        assert_eq!(decided(&got), rule, "{got}");
    }
}

/// A policy assignment without `properties.scope` is scoped by its id, whatever the case of
/// the provider in it (Resource Graph writes `microsoft.authorization`).
#[test]
fn an_assignment_without_scope_is_scoped_by_its_lower_cased_id() {
    let snapshot = policy_snapshot(
        "addToNetworkGroup",
        serde_json::json!({}),
        serde_json::json!({"field": "tags['env']", "equals": "prod"}),
        serde_json::json!({}),
    );
    // As Resource Graph answers: `{"data": [...]}`, types and the provider lower-cased.
    let graph = snapshot
        .replace(
            "Microsoft.Authorization/policy",
            "microsoft.authorization/policy",
        )
        .replace("\"value\":", "\"data\":");
    let mut graph: serde_json::Value = serde_json::from_str(&graph).unwrap();
    for item in graph["data"].as_array_mut().unwrap() {
        let lower = item["type"].as_str().unwrap().to_ascii_lowercase();
        item["type"] = serde_json::json!(lower);
    }
    let got = explain_file(
        "rg-policy.json",
        &graph.to_string(),
        "tcp 203.0.113.5:5000 -> 10.1.1.4:22",
        &[],
    );
    assert_eq!(decided(&got), "Deny22", "{got}");
}

/// An ARM snapshot with the policy definition's `effect`, `parameters` and condition and the
/// assignment's properties given (no `scope`: its id's): VNet v1 (tag env=prod) joins group
/// g through the policy, where rule Deny22 applies.
fn policy_snapshot(
    effect: &str,
    parameters: serde_json::Value,
    condition: serde_json::Value,
    assignment: serde_json::Value,
) -> String {
    let sub = "/subscriptions/11111111-0000-4000-8000-000000000001";
    let manager = format!("{sub}/resourceGroups/rg/providers/Microsoft.Network/networkManagers/m");
    let definition = format!("{sub}/providers/Microsoft.Authorization/policyDefinitions/d");
    let mut assignment = assignment;
    assignment["policyDefinitionId"] = serde_json::json!(definition);
    serde_json::json!({"value": [
        {"id": format!("{sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1"),
         "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
         "tags": {"env": "prod"},
         "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
           "subnets": [{"name": "a", "properties": {"addressPrefix": "10.1.1.0/24"}}]}},
        {"id": manager, "type": "Microsoft.Network/networkManagers",
         "properties": {"networkManagerScopes": {"subscriptions": [sub]},
           "networkManagerScopeAccesses": ["SecurityAdmin"]}},
        {"id": format!("{manager}/networkGroups/g"), "type": "Microsoft.Network/networkManagers/networkGroups",
         "properties": {}},
        {"id": format!("{manager}/securityAdminConfigurations/c"),
         "type": "Microsoft.Network/networkManagers/securityAdminConfigurations", "properties": {
           "ruleCollections": [{"name": "rc", "properties": {
             "appliesToGroups": [{"networkGroupId": format!("{manager}/networkGroups/g")}],
             "rules": [{"name": "Deny22", "kind": "Custom", "properties": {"priority": 10,
               "direction": "Inbound", "access": "Deny", "protocol": "Tcp",
               "destinationPortRanges": ["22"]}}]}}]}},
        {"id": definition, "type": "Microsoft.Authorization/policyDefinitions",
         "properties": {"mode": "Microsoft.Network.Data", "parameters": parameters, "policyRule": {
           "if": condition,
           "then": {"effect": effect,
             "details": {"networkGroupId": format!("{manager}/networkGroups/g")}}}}},
        {"id": format!("{sub}/providers/Microsoft.Authorization/policyAssignments/pa"),
         "type": "Microsoft.Authorization/policyAssignments", "properties": assignment}
    ]})
    .to_string()
}

/// `explain` of SSH to v1 on `snapshot` (ARM): the command's output.
fn explain_ssh(snapshot: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("secpath-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("snapshot-{n}.json"));
    std::fs::write(&path, snapshot).unwrap();
    let out = secpath([
        "explain",
        "--snapshot",
        path.to_str().unwrap(),
        "--format",
        "json",
        "tcp 203.0.113.5:5000 -> 10.1.1.4:22",
    ]);
    std::fs::remove_file(&path).ok();
    out
}

/// `[parameters('effect')]` is the assignment's value, else the default: `addToNetworkGroup`
/// adds v1, `Disabled` does not; an assignment with enforcement off adds nothing either
/// (SEMANTICS §2.2; docs/semantics.md).
#[test]
fn a_parameterised_effect_is_resolved_per_assignment() {
    let parameters =
        serde_json::json!({"effect": {"type": "String", "defaultValue": "addToNetworkGroup"}});
    let condition = serde_json::json!({"field": "tags['env']", "equals": "prod"});
    let cases = [
        (serde_json::json!({}), "Deny22"),
        (
            serde_json::json!({"parameters": {"effect": {"value": "Disabled"}}}),
            "allow",
        ),
        (
            serde_json::json!({"enforcementMode": "DoNotEnforce"}),
            "allow",
        ),
    ];
    for (assignment, want) in cases {
        let snapshot = policy_snapshot(
            "[parameters('effect')]",
            parameters.clone(),
            condition.clone(),
            assignment.clone(),
        );
        let got = json_of(&explain_ssh(&snapshot));
        assert_eq!(decided(&got), want, "{assignment}: {got}");
        let warned = got["warnings"].to_string().contains("DoNotEnforce");
        assert_eq!(warned, assignment.get("enforcementMode").is_some(), "{got}");
    }
}

/// Azure Policy refuses a definition naming an undeclared parameter and an assignment
/// leaving a parameter without default unset: both are located errors, not a null value.
#[test]
fn undeclared_or_unset_policy_parameters_are_errors() {
    let uses =
        |p: &str| serde_json::json!({"field": "tags['env']", "in": format!("[parameters('{p}')]")});
    let cases = [
        (
            serde_json::json!({}),
            uses("envs"),
            serde_json::json!({}),
            "policyRule.if: parameter `envs` is not declared",
        ),
        (
            serde_json::json!({"envs": {"type": "Array"}}),
            uses("envs"),
            serde_json::json!({}),
            "gives no value for parameter `envs` of definition `d`, which has no defaultValue",
        ),
    ];
    for (parameters, condition, assignment, message) in cases {
        let out = explain_ssh(&policy_snapshot(
            "addToNetworkGroup",
            parameters,
            condition,
            assignment,
        ));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    // Given a value, the declared parameter decides membership.
    let out = explain_ssh(&policy_snapshot(
        "addToNetworkGroup",
        serde_json::json!({"envs": {"type": "Array"}}),
        uses("envs"),
        serde_json::json!({"parameters": {"envs": {"value": ["prod"]}}}),
    ));
    assert_eq!(decided(&json_of(&out)), "Deny22");
}

/// Admin rules that the input holds but that can reach nothing are warned about, each with
/// its reason: a static member of the other kind than its group's `memberType`, a collection
/// applying to no group, a manager without `SecurityAdmin` access, a static member outside
/// its manager's scope (named, since several managers may each have a group of that name).
/// None of them decides.
#[test]
fn admin_rules_that_reach_nothing_are_warned_about() {
    let vnet = "/subscriptions/11111111-0000-4000-8000-000000000001/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/v1";
    let snapshot = format!(
        r#"
in subscription 11111111-0000-4000-8000-000000000001 {{
  resource-group rg-net {{
    vnet v1 region westeurope address-space 10.1.0.0/16 {{
      subnet a prefix 10.1.1.0/24
    }}
  }}
  resource-group rg-avnm {{
    network-manager m scope subscription 11111111-0000-4000-8000-000000000001 access SecurityAdmin {{
      group gv static {vnet}/subnets/a
      group gs member-type subnet static {vnet}
      group gout static /subscriptions/22222222-0000-4000-8000-000000000002/resourceGroups/rg-far/providers/Microsoft.Network/virtualNetworks/v9
      security-admin-config cfg {{
        collection c1 applies-to gv,gs,gout {{
          inbound 11 deny tcp to * ports 22 name DenySsh
        }}
        collection c2 {{
          inbound 12 deny tcp to * ports 22 name DenyNowhere
        }}
      }}
    }}
    network-manager m2 scope subscription 11111111-0000-4000-8000-000000000001 access Connectivity {{
      group g2 static v1
      security-admin-config cfg2 {{
        collection c3 applies-to g2 {{
          inbound 13 deny tcp to * ports 22 name DenyWithoutAccess
        }}
      }}
    }}
  }}
}}
in subscription 22222222-0000-4000-8000-000000000002 {{
  resource-group rg-far {{
    vnet v9 region westeurope address-space 10.9.0.0/16 {{
      subnet a prefix 10.9.1.0/24
    }}
  }}
}}
"#
    );
    let got = explain(
        "idle-admin",
        &snapshot,
        "tcp 203.0.113.5:1 -> 10.1.1.4:22",
        &[],
    );
    assert_eq!(got["verdict"], "allow", "{got}");
    let warnings = got["warnings"].to_string();
    for expected in [
        "of group `gv` is a subnet, but the group's members are VNets (its memberType): it is ignored",
        "of group `gs` is a VNet, but the group's members are subnets (its memberType): it is ignored",
        "rule collection `c2` applies to no network group: its 1 rule(s) apply nowhere",
        "network manager `m2` holds 1 security admin rule(s), but its scope accesses do not include SecurityAdmin",
        "of group `gout` of network manager `m` is outside that manager's scope and receives nothing from it",
    ] {
        assert!(warnings.contains(expected), "{expected}\n{warnings}");
    }
}

/// A regional mesh over VNets in two regions joins nothing (SEMANTICS §4.2, "regional unless
/// global"): the no-path reason says so instead of denying that the mesh exists, and a
/// global mesh joins them.
#[test]
fn a_regional_mesh_across_regions_is_named_as_such_in_the_no_path_reason() {
    let snapshot = |global: &str| {
        format!(
            "in subscription 11111111-0000-4000-8000-000000000001 {{
  resource-group rg {{
    vnet A region westeurope address-space 10.0.0.0/16 {{
      subnet a1 prefix 10.0.1.0/24
    }}
    vnet D region northeurope address-space 10.3.0.0/16 {{
      subnet d1 prefix 10.3.1.0/24
    }}
    network-manager m scope subscription 11111111-0000-4000-8000-000000000001 access Connectivity {{
      group ngAD static A,D
      connectivity cm topology mesh{global} {{
        applies-to ngAD
      }}
    }}
  }}
}}
"
        )
    };
    let flow = "tcp 10.0.1.4:1000 -> 10.3.1.4:80";
    let regional = explain("regional-mesh", &snapshot(""), flow, &[]);
    assert_eq!(regional["verdict"], "no-path", "{regional}");
    let path = regional["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["layer"] == "path")
        .unwrap();
    assert!(
        path["reason"].as_str().unwrap().contains(
            "in westeurope and northeurope: a configuration joins them only if it is global"
        ),
        "{path}"
    );
    let global = explain("global-mesh", &snapshot(" global"), flow, &[]);
    assert_eq!(global["verdict"], "allow", "{global}");
}
