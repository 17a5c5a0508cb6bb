//! Resource safety: inputs that claim huge sizes or nest absurdly deep get a clear error or a
//! counted skip, within a 1 GiB address-space limit (so nothing is allocated to match a claim).

use crate::support::root;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The address-space limit the binary runs under, in KiB.
const MEMORY_LIMIT_KIB: u64 = 1 << 20;

/// A scratch file under cargo's temporary directory for integration tests.
fn scratch(name: &str, head: &[u8], len: u64) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, head).unwrap();
    // Extending with set_len makes a sparse file: a gigabyte costs no disk and no time.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len.max(head.len() as u64))
        .unwrap();
    path
}

/// Runs `secpath ARGS` with the address space limited, from the repository root.
fn secpath_limited(args: &[&str]) -> Output {
    std::process::Command::new("sh")
        .current_dir(root())
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_secpath"))
        .args(args)
        .output()
        .expect("sh runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Replays one input and returns the report's skip reasons, asserting the counts add up.
fn replay_skips(path: &Path) -> serde_json::Value {
    replay_skips_as(path, "auto")
}

/// [`replay_skips`] with `--input-format format`.
fn replay_skips_as(path: &Path, format: &str) -> serde_json::Value {
    let p = path.to_str().unwrap();
    let out = secpath_limited(&[
        "replay",
        "--format",
        "json",
        "--input-format",
        format,
        "--snapshot",
        "rulesets/contoso",
        "--",
        p,
    ]);
    // Nothing could be used: bad input, exit 2, with the report still written.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no record could be evaluated: all 1 read were skipped"),
        "{}",
        stderr(&out)
    );
    let report = crate::support::json_of(&out);
    assert_eq!(report["records_read"], 1);
    assert_eq!(report["skipped"], 1);
    report["skipped_by_reason"].clone()
}

#[test]
fn snapshot_nested_100000_deep_is_a_located_json_error() {
    let depth = 100_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let path = scratch("deep.json", text.as_bytes(), 0);
    let out = secpath_limited(&[
        "explain",
        "--snapshot",
        path.to_str().unwrap(),
        "tcp 10.0.0.1:1 -> 10.0.0.2:2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("deep.json:1:128: malformed JSON: recursion limit exceeded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn snapshot_of_one_gigabyte_is_refused_before_it_is_read() {
    let path = scratch("huge-snapshot.json", b"[", 1 << 30);
    let out = secpath_limited(&[
        "explain",
        "--snapshot",
        path.to_str().unwrap(),
        "tcp 10.0.0.1:1 -> 10.0.0.2:2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "huge-snapshot.json: cannot read: larger than the 512 MiB a text input may be"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn flows_file_of_one_gigabyte_single_line_is_a_counted_skip() {
    let path = scratch("one-line.txt", b"tcp 10.0.0.1:1 -> 10.0.0.2:", 1 << 30);
    let out = secpath_limited(&[
        "eval",
        "--snapshot",
        "rulesets/contoso",
        "--flows",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "skipped 1: line of 1073741824 bytes is longer than the 64 KiB a flow record may take"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pcap_claiming_4_gib_snaplen_and_record_is_a_counted_skip() {
    let mut pcap = Vec::new();
    for field in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, u32::MAX, 1] {
        pcap.extend(field.to_le_bytes());
    }
    for field in [1u32, 0, u32::MAX, u32::MAX] {
        pcap.extend(field.to_le_bytes());
    }
    let path = scratch("huge-claims.pcap", &pcap, pcap.len() as u64 + 64);
    assert_eq!(
        replay_skips(&path),
        serde_json::json!({"corrupt capture: a block claims 4294967295 bytes, over the 16 MiB limit": 1})
    );
}

#[test]
fn pcapng_block_claiming_4_gib_is_a_counted_skip() {
    let mut ng = Vec::new();
    for field in [0x0a0d_0d0au32, 28, 0x1a2b_3c4d, 1] {
        ng.extend(field.to_le_bytes());
    }
    ng.extend((-1i64).to_le_bytes());
    ng.extend(28u32.to_le_bytes());
    ng.extend(6u32.to_le_bytes());
    ng.extend(0xffff_fff0u32.to_le_bytes());
    let path = scratch("huge-claims.pcapng", &ng, ng.len() as u64 + 64);
    assert_eq!(
        replay_skips(&path),
        serde_json::json!({"corrupt capture: a block claims 4294967280 bytes, over the 16 MiB limit": 1})
    );
}

#[test]
fn flow_log_nested_100000_deep_is_a_counted_skip() {
    let text = format!("{{\"records\":{}", "[".repeat(100_000));
    let path = scratch("deep-flowlog.json", text.as_bytes(), 0);
    assert_eq!(
        replay_skips(&path),
        serde_json::json!({"malformed JSON: recursion limit exceeded; the rest of the file is lost": 1})
    );
}

#[test]
fn replay_of_one_gigabyte_single_line_is_a_counted_skip() {
    // The file is sparse, its line NUL bytes after the text: sniffed, that is binary junk
    // (one skip); read as the tuple file the user says it is, one overlong line.
    let path = scratch("one-line-replay.txt", b"tcp,10.0.0.1,1,10.0.0.2,", 1 << 30);
    assert_eq!(
        replay_skips(&path),
        serde_json::json!({"neither a capture (no pcap or pcapng magic number) nor a flow log nor a text tuple file": 1})
    );
    assert_eq!(
        replay_skips_as(&path, "flows"),
        serde_json::json!({"line of 1073741824 bytes is longer than the 64 KiB a flow record may take": 1})
    );
}
