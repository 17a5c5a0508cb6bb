//! `secpath replay` on flow logs and a capture written against the bundled example: the
//! counts add up, agreements and planted disagreements are found, connections are tracked.

use crate::support::{json_of, secpath};

fn replay(extra: &[&str], inputs: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "replay",
        "--snapshot",
        "rulesets/contoso",
        "--format",
        "json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(inputs);
    let out = secpath(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out)
}

#[test]
fn flow_logs_are_judged_where_they_were_logged() {
    let r = replay(
        &[],
        &[
            "fixtures/replay-contoso/nsg-v2.json",
            "fixtures/replay-contoso/vnet-v4.json",
        ],
    );
    assert_eq!(r["schema"], "secpath.replay/v1");
    assert_eq!(
        (
            r["records_read"].as_u64(),
            r["evaluated"].as_u64(),
            r["skipped"].as_u64()
        ),
        (Some(9), Some(9), Some(0))
    );
    assert_eq!(r["compared"], 9);
    assert_eq!(r["disagreements_total"], 2, "{}", r["disagreements"]);
    let d = r["disagreements"].as_array().unwrap();
    // The NSG log says DenyAllInBound for port 80, but nsg-snet-web allows it (Allow-HTTP-Internet).
    assert!(d
        .iter()
        .any(|x| x["flow"].as_str().unwrap().ends_with(":80")
            && x["logged_rule"] == "DefaultRule_DenyAllInBound"
            && x["secpath_rule"] == "UserRule_Allow-HTTP-Internet"));
    // The VNet log at the NIC says allowed on 80; the NIC's NSG denies it by default.
    assert!(d
        .iter()
        .any(|x| x["logged_decision"] == "allow"
            && x["secpath_rule"] == "DefaultRule_DenyAllInBound"));
    // C and E tuples continue the 443 flow: the NSG log hits the rule once, not three times.
    let nsg_only = replay(&[], &["fixtures/replay-contoso/nsg-v2.json"]);
    let https = nsg_only["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "UserRule_Allow-HTTPS-Internet")
        .unwrap();
    assert_eq!(https["hits"], 1);
}

#[test]
fn a_capture_is_tracked_by_connection() {
    let r = replay(&[], &["fixtures/replay-contoso/capture.pcap"]);
    assert_eq!(r["records_read"], 11);
    assert_eq!(r["connections"], 3);
    assert_eq!(
        (r["allowed"].as_u64(), r["denied"].as_u64()),
        (Some(9), Some(2)),
        "the SSH SYN and its retry"
    );
    assert_eq!(r["top_denied"][0]["flow"], "tcp 203.0.113.5 -> 10.1.1.4:22");
    assert_eq!(r["top_denied"][0]["count"], 2);
    let stateless = replay(&["--stateless"], &["fixtures/replay-contoso/capture.pcap"]);
    assert_eq!(stateless["connections"], 0);
    assert!(
        stateless["denied"].as_u64().unwrap() > 2,
        "replies judged on their own are denied: {stateless}"
    );
}

#[test]
fn out_and_hits_files_are_written() {
    let dir = std::env::temp_dir().join(format!("secpath-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, hits) = (dir.join("out.jsonl"), dir.join("hits.json"));
    replay(
        &[
            "--out",
            out.to_str().unwrap(),
            "--hits",
            hits.to_str().unwrap(),
        ],
        &[
            "fixtures/replay-contoso/nsg-v2.json",
            "fixtures/replay-contoso/capture.pcap",
        ],
    );
    let lines = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6 + 3, "six tuples and three connections");
    assert_eq!(lines.iter().filter(|l| l["agrees"] == false).count(), 1);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["packets"].is_u64())
            .map(|l| l["packets"].as_u64().unwrap())
            .sum::<u64>(),
        11
    );
    let hits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hits).unwrap()).unwrap();
    assert_eq!(hits["schema"], "secpath.hits/v1");
    assert!(hits["rules"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.ends_with("/securityRules/Deny-8080")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unreadable_and_unknown_records_are_counted_not_lost() {
    let r = replay(
        &[],
        &[
            "fixtures/replay/appended-PT1H.json",
            "fixtures/replay/truncated.pcap",
            "fixtures/replay/mixed.pcap",
        ],
    );
    let read = r["records_read"].as_u64().unwrap();
    assert_eq!(
        read,
        r["evaluated"].as_u64().unwrap() + r["skipped"].as_u64().unwrap()
    );
    assert!(r["skipped"].as_u64().unwrap() > 0);
    let reasons = r["skipped_by_reason"].to_string();
    assert!(reasons.contains("not in the snapshot"), "{reasons}");
}
