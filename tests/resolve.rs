//! Which admin rules reach a VNet (SEMANTICS §2), scenario by scenario: each writes a small
//! DSL snapshot and asks `explain` which rule decides.

use crate::support::{json_of, secpath};

/// `explain --format json` of `flow` on the DSL `snapshot` (written to a temp file named
/// after `name`), with `extra` arguments.
fn explain(name: &str, snapshot: &str, flow: &str, extra: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("secpath-resolve-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("snapshot.secpath");
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
