//! Every fuzz seed and every crasher a fuzzer found, replayed through the property its target
//! checks (`secpath::fuzzing`), so they stay fixed without cargo-fuzz.

use crate::support::root;
use secpath::replay::input::InputFormat;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["fuzz/seeds", "fixtures/fuzz-regressions"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.push((
                path.display().to_string(),
                std::fs::read(&path).expect("readable"),
            ));
        }
    }
    out
}

fn replay(target: &str, check: impl Fn(&[u8])) -> usize {
    let all = inputs(target);
    for (name, data) in &all {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(data)));
        assert!(result.is_ok(), "{target}: {name} fails its property");
    }
    all.len()
}

#[test]
fn every_seed_and_regression_keeps_its_property() {
    let mut n = 0;
    n += replay("flow_spec", secpath::fuzzing::flow_spec);
    n += replay("differential", secpath::fuzzing::differential);
    n += replay("snapshot_json", secpath::fuzzing::snapshot_json);
    n += replay("dsl", secpath::fuzzing::dsl);
    for (target, format) in [
        ("nsg_flow_log", InputFormat::NsgFlowLog),
        ("vnet_flow_log", InputFormat::VnetFlowLog),
        ("pcap", InputFormat::Pcap),
        ("pcapng", InputFormat::Pcapng),
    ] {
        n += replay(target, |d| secpath::fuzzing::replay_input(d, format));
    }
    assert!(n >= 19, "only {n} inputs found");
}
