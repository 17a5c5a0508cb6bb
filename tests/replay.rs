//! `secpath replay` on flow logs and a capture written against the bundled example: the
//! counts add up, agreements and planted disagreements are found, connections are tracked.

use crate::support::{secpath, D7_CLOSED, D7_FLOW};
use proptest::prelude::*;

/// `secpath replay --format json` with `extra` options, parsed.
fn replay(extra: &[&str], inputs: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&report_bytes(extra, inputs)).expect("the report is JSON")
}

/// `secpath replay --format json` on inputs of which every record is skipped: the report is
/// written, and the exit status is 2 (bad input) with the reason on stderr.
fn replay_unusable(inputs: &[&str]) -> serde_json::Value {
    let out = run_replay(&[], inputs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: no record could be evaluated: all "),
        "{stderr}"
    );
    crate::support::json_of(&out)
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
fn both_engines_give_the_same_report_on_every_replay_fixture() {
    for input in [
        "fixtures/replay-contoso/nsg-v2.json",
        "fixtures/replay-contoso/vnet-v4.json",
        "fixtures/replay-contoso/capture.pcap",
    ] {
        for stateless in [&[][..], &["--stateless"][..]] {
            let compiled = replay(stateless, &[input]);
            let reference = replay(&[stateless, &["--engine", "reference"]].concat(), &[input]);
            assert_eq!(compiled, reference, "{input} {stateless:?}");
        }
    }
}

#[test]
fn parallel_and_in_order_replays_give_the_same_report() {
    let inputs = [
        "fixtures/replay-contoso/nsg-v2.json",
        "fixtures/replay-contoso/vnet-v4.json",
        "fixtures/replay-contoso/capture.pcap",
        "fixtures/replay",
        "../shared/azure-examples/nsg-flow-logs-overview.version2-sample.json",
    ];
    let inputs: Vec<&str> = inputs
        .into_iter()
        .filter(|p| crate::support::root().join(p).exists())
        .collect();
    let parallel = replay(&["--threads", "2"], &inputs);
    let in_order = replay(&["--threads", "1"], &inputs);
    assert_eq!(parallel, in_order);
    assert!(parallel["records_read"].as_u64().unwrap() > 20);
}

#[test]
fn a_capture_split_into_consecutive_files_keeps_its_connections() {
    // Every packet of the 300-flow capture, cut into three files at arbitrary packets: a
    // rotated capture. Each flow's SYN is in one file and nothing else; the connections must
    // be the same as in one file (a reply in a later file still belongs to its connection).
    let dir = std::env::temp_dir().join(format!("secpath-rotated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flows: Vec<Packet> = (0..40u16)
        .flat_map(|i| {
            let client = [203, 0, 113, (i % 200) as u8 + 1];
            let server = [10, 1, 1, 4];
            // A request, then its reply: both directions of one connection.
            [
                (6, client, 30000 + i, server, 443),
                (6, server, 443, client, 30000 + i),
            ]
        })
        .collect();
    let whole = dir.join("whole.pcap");
    write_pcap(&whole, &flows);
    let parts: Vec<String> = flows
        .chunks(27)
        .enumerate()
        .map(|(i, chunk)| {
            let part = dir.join(format!("part-{i}.pcap"));
            write_pcap(&part, chunk);
            part.to_str().unwrap().to_string()
        })
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let one = replay(&[], &[whole.to_str().unwrap()]);
    let rotated = replay(&["--threads", "2"], &parts);
    assert_eq!(one["connections"], 40);
    assert_eq!(rotated["connections"], 40, "{rotated}");
    assert_eq!(one["hits"], rotated["hits"]);
    std::fs::remove_dir_all(&dir).ok();
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

/// A pcapng interface whose `if_tsresol` is a power of two (0x94: 2^-20 s) keeps its
/// packets' times, so the idle timeout parts two datagrams 1,000 s apart into two connections.
#[test]
fn a_power_of_two_time_stamp_resolution_keeps_packet_times() {
    let dir = std::env::temp_dir().join(format!("secpath-tsresol-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (capture, out) = (dir.join("tsresol.pcapng"), dir.join("out.jsonl"));
    let dns = (17, [10, 1, 1, 4], 40000, [10, 0, 2, 4], 53);
    let start = 1_764_500_000u64;
    let packets = [(start << 20, dns), ((start + 1000) << 20, dns)];
    std::fs::write(&capture, pcapng_bytes(0x94, &packets)).unwrap();
    let r = replay(
        &["--out", out.to_str().unwrap()],
        &[capture.to_str().unwrap()],
    );
    assert_eq!(r["connections"], 2);
    let lines = std::fs::read_to_string(&out).unwrap();
    let first: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["first_ms"].clone())
        .collect();
    assert_eq!(first, [start * 1000, (start + 1000) * 1000]);
    std::fs::remove_dir_all(&dir).ok();
}

/// A pcap whose LinkType field has the FCS bits above the link type set (0x24000001:
/// Ethernet, each frame ending in a 4-byte FCS) is read as Ethernet.
#[test]
fn a_pcap_link_type_with_fcs_bits_is_read_as_its_link_type() {
    let dir = std::env::temp_dir().join(format!("secpath-fcs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let capture = dir.join("fcs.pcap");
    let dns = (17, [10, 1, 1, 4], 40000, [10, 0, 2, 4], 53);
    let mut bytes = pcap_bytes([(0, dns, 0)].into_iter());
    bytes[20..24].copy_from_slice(&0x2400_0001u32.to_le_bytes());
    std::fs::write(&capture, bytes).unwrap();
    let r = replay(&[], &[capture.to_str().unwrap()]);
    assert_eq!(
        (r["evaluated"].as_u64(), r["skipped"].as_u64()),
        (Some(1), Some(0))
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn admin_stateless_denied_replies_show_on_their_connection_line_and_hits() {
    // A at 10.0.1.4 may reach B at 10.0.2.4:80; the fixture's admin rule DenyReplyish denies
    // B's replies when judged per packet (D6 --admin-stateless): a handshake and an ACK each
    // way, then a SYN from B that the rule denies on its own.
    let dir = std::env::temp_dir().join(format!("secpath-replay-d6-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pcap, out) = (dir.join("handshake.pcap"), dir.join("out.jsonl"));
    let (a, b) = ([10, 0, 1, 4], [10, 0, 2, 4]);
    let (request, reply) = ((6, a, 5000, b, 80), (6, b, 80, a, 5000));
    let packets = [
        (request, SYN),
        (reply, SYN | ACK),
        (request, ACK),
        (reply, ACK),
        ((6, b, 80, a, 5001), SYN),
    ];
    let timed = packets
        .into_iter()
        .enumerate()
        .map(|(i, (flow, flags))| (i as u64 * 1_000_000, flow, flags));
    std::fs::write(&pcap, pcap_bytes(timed)).unwrap();
    let snapshot = "fixtures/replay-admin-stateless/snapshot.secpath";
    let run = |extra: &[&str]| {
        let mut args = vec![
            "replay",
            "--snapshot",
            snapshot,
            "--format",
            "json",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(pcap.to_str().unwrap());
        let report = crate::support::json_of(&secpath(&args));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (report, lines)
    };
    let hits = |report: &serde_json::Value, name: &str| {
        report["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["hits"].clone())
    };

    let (report, lines) = run(&["--admin-stateless"]);
    assert_eq!(
        (report["allowed"].as_u64(), report["denied"].as_u64()),
        (Some(2), Some(3))
    );
    let first = &lines[0];
    assert_eq!(first["source"], "connection 1");
    assert_eq!(
        (&first["verdict"], &first["rule"], &first["packets"]),
        (&"allow".into(), &"UserRule_AllowAto80".into(), &4.into()),
        "the connection's own verdict is kept: {first}"
    );
    assert_eq!(first["replies_denied"], 2, "{first}");
    assert_eq!(first["reply_rule"], "DenyReplyish");
    assert!(first["reply_rule_id"]
        .as_str()
        .unwrap()
        .ends_with("/ruleCollections/c/rules/DenyReplyish"));
    // The lines split the packets as the summary counts them.
    let (mut allowed, mut denied) = (0, 0);
    for line in &lines {
        let packets = line["packets"].as_u64().unwrap();
        let replies_denied = line["replies_denied"].as_u64().unwrap_or(0);
        denied += replies_denied;
        match line["verdict"].as_str().unwrap() {
            "allow" => allowed += packets - replies_denied,
            _ => denied += packets - replies_denied,
        }
    }
    assert_eq!(
        (Some(allowed), Some(denied)),
        (report["allowed"].as_u64(), report["denied"].as_u64())
    );
    assert_eq!(
        hits(&report, "DenyReplyish"),
        Some(2.into()),
        "connection 1's replies and connection 2"
    );
    assert_eq!(hits(&report, "UserRule_AllowAto80"), Some(1.into()));
    let parallel = crate::support::json_of(&secpath([
        "replay",
        "--snapshot",
        snapshot,
        "--format",
        "json",
        "--quiet",
        "--admin-stateless",
        "--threads",
        "2",
        pcap.to_str().unwrap(),
    ]));
    assert_eq!(report, parallel, "the same report without --out");

    let (stateful, lines) = run(&[]);
    assert_eq!(
        (stateful["allowed"].as_u64(), stateful["denied"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(hits(&stateful, "DenyReplyish"), Some(1.into()));
    assert!(
        lines.iter().all(|l| l.get("replies_denied").is_none()),
        "{lines:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
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

/// A flow as a packet: protocol, source address and port, destination address and port.
type Packet = (u8, [u8; 4], u16, [u8; 4], u16);

/// A minimal pcap writer (little endian, microseconds, Ethernet, IPv4): one SYN or UDP
/// datagram per flow, one second apart, so each packet opens its own connection.
fn write_pcap(path: &std::path::Path, flows: &[Packet]) {
    let packets = flows
        .iter()
        .enumerate()
        .map(|(i, &flow)| (i as u64 * 1_000_000, flow, SYN));
    std::fs::write(path, pcap_bytes(packets)).unwrap();
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// A pcap of `packets`: each its time in microseconds, its flow, and its TCP flags (unused
/// for other protocols).
fn pcap_bytes(packets: impl Iterator<Item = (u64, Packet, u8)>) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend([
        2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ]);
    for (us, flow, flags) in packets {
        let frame = ethernet_frame(flow, flags);
        out.extend(((us / 1_000_000) as u32).to_le_bytes());
        out.extend(((us % 1_000_000) as u32).to_le_bytes());
        out.extend((frame.len() as u32).to_le_bytes());
        out.extend((frame.len() as u32).to_le_bytes());
        out.extend(frame);
    }
    out
}

/// A pcapng (little endian, one Ethernet interface whose `if_tsresol` option is `tsresol`)
/// of `packets`: each its time in units of that resolution, and its flow (a SYN when TCP).
fn pcapng_bytes(tsresol: u8, packets: &[(u64, Packet)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let length = (12 + padded) as u32;
        out.extend(kind.to_le_bytes());
        out.extend(length.to_le_bytes());
        out.extend(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend(length.to_le_bytes());
    }
    let mut out = Vec::new();
    let section = [&0x1a2b_3c4du32.to_le_bytes()[..], &[1, 0, 0, 0], &[0xff; 8]].concat();
    block(&mut out, 0x0a0d_0d0a, &section);
    // Link type 1, snap length 65535, if_tsresol (option 9, 1 byte), end of options.
    let interface = [
        1, 0, 0, 0, 0xff, 0xff, 0, 0, 9, 0, 1, 0, tsresol, 0, 0, 0, 0, 0, 0, 0,
    ];
    block(&mut out, 1, &interface);
    for &(ticks, flow) in packets {
        let frame = ethernet_frame(flow, SYN);
        let mut body = 0u32.to_le_bytes().to_vec();
        body.extend(((ticks >> 32) as u32).to_le_bytes());
        body.extend((ticks as u32).to_le_bytes());
        body.extend((frame.len() as u32).to_le_bytes());
        body.extend((frame.len() as u32).to_le_bytes());
        body.extend(frame);
        block(&mut out, 6, &body);
    }
    out
}

/// An Ethernet frame of IPv4 `flow`: a TCP segment with `flags`, or a UDP datagram.
fn ethernet_frame((proto, src, sport, dst, dport): Packet, flags: u8) -> Vec<u8> {
    let l4: Vec<u8> = match proto {
        6 => [
            &sport.to_be_bytes()[..],
            &dport.to_be_bytes(),
            &[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0],
        ]
        .concat(),
        _ => [
            &sport.to_be_bytes()[..],
            &dport.to_be_bytes(),
            &[0, 8, 0, 0],
        ]
        .concat(),
    };
    let total = (20 + l4.len()) as u16;
    let ip = [
        &[0x45, 0][..],
        &total.to_be_bytes(),
        &[0, 1, 0, 0, 64, proto, 0, 0],
        &src,
        &dst,
    ]
    .concat();
    [&[0u8; 12][..], &[0x08, 0x00], &ip, &l4].concat()
}

/// Addresses and ports of the generated captures: contoso's subnets, the Internet, and ports
/// its rules name.
const HOSTS: [[u8; 4]; 9] = [
    [10, 0, 1, 4],
    [10, 0, 2, 4],
    [10, 0, 2, 10],
    [10, 1, 1, 4],
    [10, 1, 2, 4],
    [10, 2, 1, 4],
    [10, 3, 1, 4],
    [203, 0, 113, 5],
    [198, 51, 100, 66],
];
const PORTS: [u16; 9] = [22, 53, 80, 443, 445, 1433, 3389, 8080, 8443];

proptest! {
    // Each case runs the binary three times; a few cases cover the pairs well.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Replaying a generated capture (one TCP or UDP packet per flow, each on its own source
    /// port so each opens a connection) gives every flow the verdict and deciding rule that
    /// `eval` gives it, with the compiled and the reference engine alike.
    #[test]
    fn replaying_a_generated_capture_agrees_with_eval_on_its_flows(
        picks in proptest::collection::vec((0..2usize, 0..HOSTS.len(), 0..HOSTS.len(), 0..PORTS.len()), 1..120),
    ) {
        let flows: Vec<Packet> = picks
            .iter()
            .enumerate()
            .map(|(i, &(p, s, d, port))| ([6, 17][p], HOSTS[s], 20000 + i as u16, HOSTS[d], PORTS[port]))
            .collect();
        replay_agrees_with_eval(&flows);
    }
}

/// Writes `flows` as a capture and as a flows file, replays the capture with both engines
/// (`--out`) and evaluates the file with `eval`: each flow's verdict and deciding rule must
/// be the same everywhere.
fn replay_agrees_with_eval(flows: &[Packet]) {
    static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("secpath-replay-eval-{}-{case}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pcap, csv, out) = (
        dir.join("flows.pcap"),
        dir.join("flows.csv"),
        dir.join("out.jsonl"),
    );
    write_pcap(&pcap, flows);
    let ip = |a: [u8; 4]| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    let rows: String = flows
        .iter()
        .map(|&(p, s, sp, d, dp)| {
            format!(
                "{},{},{sp},{},{dp}\n",
                if p == 6 { "tcp" } else { "udp" },
                ip(s),
                ip(d)
            )
        })
        .collect();
    std::fs::write(&csv, format!("protocol,src,src_port,dst,dst_port\n{rows}")).unwrap();
    let summary = replay(&["--out", out.to_str().unwrap()], &[pcap.to_str().unwrap()]);
    let out_reference = dir.join("out-reference.jsonl");
    let reference = replay(
        &[
            "--engine",
            "reference",
            "--out",
            out_reference.to_str().unwrap(),
        ],
        &[pcap.to_str().unwrap()],
    );
    assert_eq!(summary, reference, "compiled and reference engines agree");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&out_reference).unwrap()
    );
    let replayed: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let evaluated = secpath([
        "eval",
        "--snapshot",
        "rulesets/contoso",
        "--flows",
        csv.to_str().unwrap(),
    ]);
    let evaluated: Vec<serde_json::Value> = String::from_utf8_lossy(&evaluated.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replayed.len(), flows.len(), "one connection per flow");
    for (r, e) in replayed.iter().zip(&evaluated) {
        assert_eq!(r["flow"], e["flow"]);
        assert_eq!(r["verdict"], e["verdict"], "{}", r["flow"]);
        if e["verdict"] != "allow" {
            assert_eq!(r["rule_id"], e["resource"], "{}", r["flow"]);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `secpath replay --format json --quiet` on rulesets/contoso with `extra` options.
fn run_replay(extra: &[&str], inputs: &[&str]) -> std::process::Output {
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
    secpath(&args)
}

/// The report's bytes (stdout) of `secpath replay --format json` with `extra` options.
fn report_bytes(extra: &[&str], inputs: &[&str]) -> Vec<u8> {
    let out = run_replay(extra, inputs);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A capture of 2,000 conversations interleaved at random, 160,000 packets (over 8 MiB, so
/// that replay splits it across threads; over 65,536 packets, so that idle connections are
/// swept): TCP handshakes (some seen first at the SYN+ACK), data both ways, FIN from both
/// ends or RST, then a new connection on the same ports; UDP both ways. Packets are 2 ms
/// apart with a few stamped seconds early, and conversations often pause past a 5-second
/// idle timeout, so connections time out and start again.
fn busy_capture() -> Vec<u8> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut conversations: Vec<(Packet, usize)> = (0..2000)
        .map(|i| {
            let flow = (
                [6, 6, 17][next(3)],
                HOSTS[next(HOSTS.len())],
                30000 + i as u16,
                HOSTS[next(HOSTS.len())],
                PORTS[next(PORTS.len())],
            );
            (flow, next(2))
        })
        .collect();
    let packets: Vec<(u64, Packet, u8)> = (0..160_000u64)
        .map(|i| {
            // Skewed towards the first conversations, so the others pause long.
            let c = next(conversations.len()) * next(conversations.len()) / conversations.len();
            let early = if next(500) == 0 { 3_000_000 } else { 0 };
            let us = (i * 2000 + 10_000_000).saturating_sub(early);
            let ((proto, src, sport, dst, dport), step) = &mut conversations[c];
            let forward = (*proto, *src, *sport, *dst, *dport);
            let reply = (*proto, *dst, *dport, *src, *sport);
            let (flow, flags) = match (*proto, *step) {
                (17, _) => ([forward, reply][next(2)], 0),
                (_, 0) => (forward, SYN),
                (_, 1) => (reply, SYN | ACK),
                (_, 2..=6) => ([forward, reply][next(2)], ACK),
                (_, 7) if next(4) == 0 => {
                    *step = 8;
                    (forward, RST | ACK)
                }
                (_, 7) => (forward, FIN | ACK),
                _ => (reply, FIN | ACK),
            };
            *step = (*step + 1) % 9;
            (us, flow, flags)
        })
        .collect();
    pcap_bytes(packets.into_iter())
}

#[test]
fn one_large_capture_gives_the_same_report_on_any_number_of_threads() {
    let dir = std::env::temp_dir().join(format!("secpath-replay-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("busy.pcap");
    std::fs::write(&pcap, busy_capture()).unwrap();
    assert!(std::fs::metadata(&pcap).unwrap().len() > 8 << 20);
    let input = [pcap.to_str().unwrap()];
    for options in [&["--idle-timeout", "5"][..], &[], &["--stateless"]] {
        let one = report_bytes(&[options, &["--threads", "1"]].concat(), &input);
        for threads in ["2", "4"] {
            let split = report_bytes(&[options, &["--threads", threads]].concat(), &input);
            assert!(one == split, "{options:?} on {threads} threads");
        }
        let reference = report_bytes(&[options, &["--engine", "reference"]].concat(), &input);
        assert!(one == reference, "{options:?}: the engines differ");
    }
    let r = replay(&["--idle-timeout", "5"], &input);
    let connections = r["connections"].as_u64().unwrap();
    assert!(connections > 10_000, "connections end and start again: {r}");
    assert!(r["allowed"].as_u64().unwrap() > 0 && r["denied"].as_u64().unwrap() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_flow_log_gives_the_same_report_on_any_number_of_threads() {
    for input in [
        "fixtures/replay-contoso/nsg-v2.json",
        "fixtures/replay-contoso/vnet-v4.json",
    ] {
        let one = report_bytes(&["--threads", "1"], &[input]);
        for threads in ["2", "4"] {
            assert!(
                one == report_bytes(&["--threads", threads], &[input]),
                "{input}"
            );
        }
        assert!(
            one == report_bytes(&["--engine", "reference"], &[input]),
            "{input}"
        );
    }
}

/// An NSG version 2 log of `NSG-SNET-WEB` (rulesets/contoso) whose one group, logged under
/// `rule`, holds `tuples`, written to a scratch file named after `name`.
fn nsg_v2_log(name: &str, rule: &str, tuples: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("secpath-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = serde_json::json!({"records": [{
        "resourceId": "/SUBSCRIPTIONS/8D2E4B7A-5C3F-4E19-A7D6-1F2E3D4C5B02/RESOURCEGROUPS/RG-WEB-WEU/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-SNET-WEB",
        "properties": {"Version": 2, "flows": [{"rule": rule, "flows": [{
            "mac": "000D3A000001", "flowTuples": tuples}]}]}}]});
    let path = dir.join("PT1H.json");
    std::fs::write(&path, log.to_string()).unwrap();
    path
}

#[test]
fn flows_that_began_before_the_log_still_hit_their_rule() {
    // An hourly blob starts mid-flow: connections opened in the previous hour appear only
    // as C and E tuples. Each flow is one use of its rule, whether or not its B is here.
    let log = nsg_v2_log(
        "continuing",
        "UserRule_Allow-HTTPS-Internet",
        &[
            // Began before the log, ended in it.
            "1764500000,203.0.113.5,10.1.1.4,50010,443,T,I,A,C,1,100,1,100",
            "1764500060,203.0.113.5,10.1.1.4,50010,443,T,I,A,E,1,100,1,100",
            // Began before the log and goes on past it.
            "1764500000,203.0.113.5,10.1.1.4,50011,443,T,I,A,C,1,100,1,100",
            "1764500060,203.0.113.5,10.1.1.4,50011,443,T,I,A,C,1,100,1,100",
            // Began, went on and ended in the log.
            "1764500000,203.0.113.5,10.1.1.4,50012,443,T,I,A,B,,,,",
            "1764500060,203.0.113.5,10.1.1.4,50012,443,T,I,A,C,1,100,1,100",
            "1764500120,203.0.113.5,10.1.1.4,50012,443,T,I,A,E,1,100,1,100",
            // The same ports again: a new flow.
            "1764500180,203.0.113.5,10.1.1.4,50012,443,T,I,A,B,,,,",
        ],
    );
    let r = replay(&[], &[log.to_str().unwrap()]);
    assert_eq!(
        (r["records_read"].as_u64(), r["evaluated"].as_u64()),
        (Some(8), Some(8))
    );
    assert_eq!(r["disagreements_total"], 0, "{}", r["disagreements"]);
    let https = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "UserRule_Allow-HTTPS-Internet")
        .expect("the rule fired");
    assert_eq!(https["hits"], 4, "{}", r["hits"]);
    assert!(!r["never_fired"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["id"] == https["id"]));
    std::fs::remove_dir_all(log.parent().unwrap()).ok();
}

#[test]
fn a_plans_unknown_rule_leaves_flow_log_tuples_unknown() {
    // fixtures/plans/network.tfplan.json does not know allow-rdp-admin's source: RDP from
    // 198.51.100.7 may or may not reach 10.10.1.4, at the NSG (NSG flow log) as on the VNet's
    // destination side (VNet flow log), as `explain` says for the whole path.
    let dir = std::env::temp_dir().join(format!("secpath-plan-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let net = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-app/providers/Microsoft.Network";
    let nsg_log = serde_json::json!({"records": [{
        "resourceId": format!("{net}/networkSecurityGroups/nsg-web"),
        "properties": {"Version": 2, "flows": [{"rule": "UserRule_allow-rdp-admin", "flows": [{
            "mac": "000D3A000001",
            "flowTuples": ["1764500000,198.51.100.7,10.10.1.4,50000,3389,T,I,A,B,,,,"]}]}]}}]});
    let vnet_log = serde_json::json!({"records": [{
        "flowLogVersion": 4,
        "targetResourceID": format!("{net}/virtualNetworks/vnet-app"),
        "flowRecords": {"flows": [{"aclID": "acl", "flowGroups": [{"rule": "allow-rdp-admin",
            "flowTuples": ["1764500000000,198.51.100.7,10.10.1.4,50000,3389,6,I,B,NX,,,,"]}]}]}}]});
    let (nsg, vnet) = (dir.join("nsg.json"), dir.join("vnet.json"));
    std::fs::write(&nsg, nsg_log.to_string()).unwrap();
    std::fs::write(&vnet, vnet_log.to_string()).unwrap();
    let out = secpath([
        "replay",
        "--format",
        "json",
        "--quiet",
        nsg.to_str().unwrap(),
        vnet.to_str().unwrap(),
        "--snapshot",
        "fixtures/plans/network.tfplan.json",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report is JSON");
    assert_eq!(
        (&r["evaluated"], &r["allowed"], &r["unknown"]),
        (
            &serde_json::json!(2),
            &serde_json::json!(0),
            &serde_json::json!(2)
        ),
        "{r}"
    );
    // The plan cannot confirm what was logged: both are listed, with secpath's `unknown`.
    assert_eq!(r["disagreements_total"], 2);
    for d in r["disagreements"].as_array().unwrap() {
        assert_eq!(d["secpath_decision"], "unknown", "{d}");
        assert_eq!(d["secpath_rule"], serde_json::Value::Null, "{d}");
    }
    assert!(
        !r["hits"].to_string().contains("allow-rdp-admin"),
        "{}",
        r["hits"]
    );
    // The text report says why secpath names no rule.
    let text = secpath([
        "replay",
        nsg.to_str().unwrap(),
        "--snapshot",
        "fixtures/plans/network.tfplan.json",
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("secpath unknown by (a rule the plan does not know)"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
#[test]
fn an_unreadable_entry_of_a_directory_is_skipped_not_fatal() {
    // A downloaded storage container with one dangling link among its blobs: the link is one
    // skipped "record" (the whole file), the blobs are replayed, on one thread or several.
    let dir = std::env::temp_dir().join(format!("secpath-dangling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("fixtures/replay-contoso/nsg-v2.json", dir.join("a.json")).unwrap();
    std::os::unix::fs::symlink(dir.join("gone.json"), dir.join("b.json")).unwrap();
    std::fs::copy("fixtures/replay-contoso/vnet-v4.json", dir.join("c.json")).unwrap();
    for threads in ["1", "3"] {
        let r = replay(&["--threads", threads], &[dir.to_str().unwrap()]);
        assert_eq!(
            (&r["records_read"], &r["evaluated"], &r["skipped"]),
            (
                &serde_json::json!(10),
                &serde_json::json!(9),
                &serde_json::json!(1)
            ),
            "{r}"
        );
        assert!(r["skipped_by_reason"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("cannot read")));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn packets_after_a_close_belong_to_the_closed_connection() {
    // Two TCP connections as captures show them: the last ACK of a FIN handshake comes after
    // both FINs, and data in flight arrives after a RST. Neither is a new connection (which
    // would add a connection and a hit, or judge the late packet the other way round and deny
    // it); a SYN (or a SYN+ACK) on the same ports is one.
    let (client, server, internet) = ([203, 0, 113, 5], [10, 1, 1, 4], [8, 8, 8, 8]);
    let https_in: Packet = (6, client, 50000, server, 443);
    let reply = |p: Packet| (p.0, p.3, p.4, p.1, p.2);
    let out: Packet = (6, server, 40000, internet, 443);
    let packets = [
        (https_in, SYN),
        (reply(https_in), SYN | ACK),
        (https_in, ACK),
        (reply(https_in), FIN | ACK),
        (https_in, FIN | ACK),
        (reply(https_in), ACK),
        (out, SYN),
        (reply(out), SYN | ACK),
        (out, RST),
        (reply(out), ACK),
        (https_in, SYN),
        (https_in, RST),
        // The capture missed this connection's SYN.
        (reply(https_in), SYN | ACK),
    ];
    let dir = std::env::temp_dir().join(format!("secpath-closed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("closed.pcap");
    let timed = packets
        .iter()
        .enumerate()
        .map(|(i, &(p, flags))| (i as u64 * 1000, p, flags));
    std::fs::write(&path, pcap_bytes(timed)).unwrap();
    let r = replay(&[], &[path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        (&r["records_read"], &r["connections"], &r["denied"]),
        (
            &serde_json::json!(13),
            &serde_json::json!(4),
            &serde_json::json!(0)
        ),
        "{}",
        r["top_denied"]
    );
    let hits = |name: &str, owner: &str| {
        r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name && h["owner"] == owner)
            .map(|h| h["hits"].clone())
    };
    assert_eq!(
        hits("UserRule_Allow-HTTPS-Internet", "nsg-snet-web"),
        Some(serde_json::json!(3)),
        "{}",
        r["hits"]
    );
    assert_eq!(
        hits("DefaultRule_AllowInternetOutBound", "nsg-snet-web"),
        Some(serde_json::json!(1)),
        "{}",
        r["hits"]
    );
}

#[test]
fn a_vnet_flow_log_at_the_destination_honours_always_allow_scope_path() {
    // D5: the source side's AlwaysAllow skips the destination NSGs only with `path`. A VNet
    // flow log's inbound tuple is judged on the destination side, so that side must know.
    let judged = |scope: &str| {
        let out = secpath([
            "replay",
            "--format",
            "json",
            "--quiet",
            "--always-allow-scope",
            scope,
            "fixtures/replay-always-allow-path/vnet-v4.json",
            "--snapshot",
            "fixtures/replay-always-allow-path/snapshot.secpath",
        ]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (
            r["allowed"].as_u64(),
            r["denied"].as_u64(),
            r["disagreements_total"].as_u64(),
            r["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        judged("side"),
        (
            Some(0),
            Some(1),
            Some(1),
            vec!["UserRule_DenyAllIn".to_string()]
        )
    );
    // Allowed, compared with the AlwaysAllow that admitted it; its hit is the source side's
    // to count (at the source's outbound tuple), so this side adds none.
    assert_eq!(judged("path"), (Some(1), Some(0), Some(0), vec![]));
}

#[test]
fn inputs_named_after_the_snapshot_are_told_apart_from_its_files() {
    // `--snapshot` takes several paths, so inputs written after it are picked out by what
    // they hold: a second `.secpath` file belongs to the snapshot, and a plainly named
    // directory of flow-log blobs is input.
    let dir = std::env::temp_dir().join(format!("secpath-after-snapshot-{}", std::process::id()));
    let logs = dir.join("logs").join("day-1");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::copy(
        "fixtures/replay-contoso/nsg-v2.json",
        logs.join("PT1H.json"),
    )
    .unwrap();
    let extra = dir.join("extra.secpath");
    std::fs::write(
        &extra,
        "subscription 00000000-0000-0000-0000-0000000000ee name extra tenant 00000000-0000-0000-0000-0000000000aa {\n  resource-group rg-extra {\n    nsg nsg-extra {\n      inbound 100 deny tcp from * to * ports 22 name Deny-Ssh\n    }\n  }\n}\n",
    )
    .unwrap();
    let logs_dir = dir.join("logs");
    for snapshot_then_input in [
        vec![
            extra.to_str().unwrap(),
            "fixtures/replay-contoso/nsg-v2.json",
        ],
        vec![logs_dir.to_str().unwrap()],
    ] {
        let mut args = vec![
            "replay",
            "--format",
            "json",
            "--quiet",
            "--snapshot",
            "rulesets/contoso",
        ];
        args.extend(&snapshot_then_input);
        let out = secpath(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (&r["records_read"], &r["skipped"]),
            (&serde_json::json!(6), &serde_json::json!(0)),
            "{snapshot_then_input:?}: {r}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// D7's closed Standard public IP has no rule: replay names it as `explain` does
/// (`StandardPublicIpClosedWithoutNsg`, owned by the NIC), not as an NSG rule of the NIC's id.
#[test]
fn the_closed_public_ip_is_named_as_explain_names_it() {
    let dir = std::env::temp_dir().join(format!("secpath-replay-d7-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (tuples, out) = (dir.join("d7.txt"), dir.join("out.jsonl"));
    std::fs::write(&tuples, format!("{D7_FLOW}\n")).unwrap();
    let paths = [out.to_str().unwrap(), tuples.to_str().unwrap()];
    let args = ["replay", "--format", "json", "--quiet"]
        .into_iter()
        .chain(D7_CLOSED);
    let report = secpath(args.chain(["--out"]).chain(paths));
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["denied"], 1, "{report}");
    let hit = &report["hits"][0];
    assert_eq!(
        (&hit["name"], &hit["owner"]),
        (
            &serde_json::json!("StandardPublicIpClosedWithoutNsg"),
            &serde_json::json!("nic-web1")
        ),
        "{report}"
    );
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
    assert_eq!(line["rule"], "StandardPublicIpClosedWithoutNsg", "{line}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A VNet flow-log record whose target is not in the snapshot is skipped, saying so (not as
/// a pin the user never gave).
#[test]
fn a_vnet_flow_log_target_outside_the_snapshot_is_skipped_by_name() {
    let dir = std::env::temp_dir().join(format!("secpath-replay-target-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("PT1H.json");
    let target =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/ghost";
    let record = serde_json::json!({"records": [{"macAddress": "00224871C205",
        "targetResourceID": target, "flowLogVersion": 4, "flowRecords": {"flows": [{
            "aclID": "acl-1", "flowGroups": [{"rule": "BlockSsh",
                "flowTuples": ["1663145998065,1.2.3.4,10.1.1.4,55188,22,6,I,D,NX,0,0,0,0"]}]}]}}]});
    std::fs::write(&log, record.to_string()).unwrap();
    let report = replay_unusable(&[log.to_str().unwrap()]);
    assert_eq!(report["records_read"], 1, "{report}");
    assert_eq!(
        report["skipped_by_reason"][format!(
            "the record's target \"{target}\" is not a NIC, subnet or VNet in the snapshot"
        )],
        1,
        "{report}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A JSONL line that is a JSON string, and a flow-log list that is a string, are skipped
/// with reasons that name the type, not the text: however long or varied the strings, the
/// reasons stay short and make one group, in `replay` and in `eval --flows` alike.
#[test]
fn skip_reasons_name_a_strings_type_not_its_text() {
    let dir = std::env::temp_dir().join(format!("secpath-string-skips-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let long = "X".repeat(50_000);
    let (flows, log) = (dir.join("flows.jsonl"), dir.join("PT1H.json"));
    let good =
        r#"{"protocol":"tcp","src":"203.0.113.5","src_port":1,"dst":"10.1.1.4","dst_port":443}"#;
    std::fs::write(
        &flows,
        format!("{good}\n\"line-0\"\n\"line-1\"\n\"{long}\"\n"),
    )
    .unwrap();
    let record = |tuples: serde_json::Value| {
        serde_json::json!({
            "resourceId": "/SUBSCRIPTIONS/8D2E4B7A-5C3F-4E19-A7D6-1F2E3D4C5B02/RESOURCEGROUPS/RG-WEB-WEU/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-SNET-WEB",
            "properties": {"Version": 2, "flows": [{"rule": "UserRule_Allow-HTTPS-Internet", "flows": [{
                "mac": "000D3A000001", "flowTuples": tuples}]}]}})
    };
    let records = [
        record(serde_json::json!([
            "1764500000,203.0.113.5,10.1.1.4,1,443,T,I,A,B,,,,"
        ])),
        record(serde_json::json!("not-a-list")),
        record(serde_json::json!(long)),
    ];
    std::fs::write(&log, serde_json::json!({ "records": records }).to_string()).unwrap();
    for input in [&flows, &log] {
        let r = replay(&[], &[input.to_str().unwrap()]);
        let groups = r["skipped_by_reason"].as_object().unwrap();
        let lengths: Vec<usize> = groups.keys().map(String::len).collect();
        assert!(
            groups.len() == 1 && lengths[0] < 200,
            "{input:?}: {lengths:?}"
        );
        let count = groups.values().next().and_then(|n| n.as_u64());
        assert_eq!(count, r["skipped"].as_u64(), "{input:?}");
    }
    let out = secpath([
        "eval",
        "--snapshot",
        "rulesets/contoso",
        "--flows",
        flows.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let skips: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("skipped 3: "))
        .collect();
    assert_eq!(skips.len(), 1, "{}", &stderr[..stderr.len().min(1000)]);
    assert!(skips[0].len() < 200, "{}", skips[0].len());
    std::fs::remove_dir_all(&dir).ok();
}

/// Records logged by an NSG missing from the snapshot are skipped, and the summary names
/// that NSG: it is what the user has to add.
#[test]
fn a_logging_nsg_outside_the_snapshot_is_named_in_the_summary() {
    // Microsoft's version 2 sample, whose NSG is not in rulesets/contoso.
    let report = replay_unusable(&["fixtures/replay/nsg-v2-foreign.json"]);
    let nsg = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/FABRIKAMRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/FABRIAKMVM1-NSG";
    assert_eq!(report["records_read"], 11, "{report}");
    assert_eq!(
        report["skipped_by_reason"][format!("the logging NSG \"{nsg}\" is not in the snapshot")],
        11,
        "{report}"
    );
}

/// `--snapshot` takes every path after it, so replay tells inputs from snapshots by what
/// they hold: a JSONL tuple file whose first key is not `protocol` is an input, and when
/// nothing is, the error says which path was taken as a snapshot and how to say otherwise.
#[test]
fn inputs_after_the_snapshot_are_told_apart_by_content() {
    // Right after `--snapshot`, and with no extension that says what it is.
    let out = secpath([
        "replay",
        "--snapshot",
        "rulesets/contoso",
        "fixtures/flows/src-first.tuples",
        "--format",
        "json",
    ]);
    let report = crate::support::json_of(&out);
    assert_eq!(report["evaluated"], 1, "{report}");
    let out = secpath([
        "replay",
        "--snapshot",
        "rulesets/contoso",
        "fixtures/errors/truncated.json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`fixtures/errors/truncated.json` too: if it is an input, put it before --snapshot or after `--`"),
        "{stderr}"
    );
}
