//! The data-driven scenario suite: every `fixtures/cases/*/cases.json` (format in
//! docs/case-format.md) run through the real binary, asserting the exit status, the
//! verdict and the deciding rule.

use crate::support::{json_of, root, secpath};
use serde_json::Value;

/// Checks one case; returns a description of each mismatch.
fn check(dir: &str, snapshot: &[String], case: &Value) -> Vec<String> {
    let name = case["name"].as_str().unwrap_or("(unnamed)");
    let flow = case["flow"].as_str().expect("every case has a flow");
    let mut args: Vec<String> = vec!["explain".into(), "--format".into(), "json".into()];
    for s in snapshot {
        args.push("--snapshot".into());
        args.push(s.clone());
    }
    for a in case["args"].as_array().into_iter().flatten() {
        args.push(a.as_str().expect("args are strings").to_string());
    }
    args.push(flow.to_string());
    let out = secpath(&args);
    let code = out.status.code().unwrap_or(-1);
    let expected = case["verdict"].as_str().expect("every case has a verdict");
    let fail = |what: String| vec![format!("{dir} / {name}: {what}")];
    if expected == "error" {
        if code != 2 {
            return fail(format!(
                "expected exit 2, got {code}: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        return case["error_contains"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str())
            .filter(|s| !stderr.contains(s))
            .map(|s| format!("{dir} / {name}: stderr lacks `{s}`: {stderr}"))
            .collect();
    }
    if code == 2 {
        return fail(format!(
            "bad input: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let got = json_of(&out);
    let mut problems = Vec::new();
    if got["verdict"] != expected {
        problems.push(format!(
            "verdict {} (expected {expected}); decided_by {}",
            got["verdict"], got["decided_by"]
        ));
    }
    let want_code = if expected == "allow" { 0 } else { 1 };
    if code != want_code {
        problems.push(format!("exit {code} (expected {want_code})"));
    }
    match &case["decided_by"] {
        Value::Object(want) => {
            for (k, v) in want {
                if !same(&got["decided_by"][k], v) {
                    problems.push(format!(
                        "decided_by.{k} = {} (expected {v})",
                        got["decided_by"][k]
                    ));
                }
            }
        }
        Value::Null if case.get("decided_by").is_some() && !got["decided_by"].is_null() => {
            problems.push(format!(
                "decided_by = {} (expected null)",
                got["decided_by"]
            ));
        }
        _ => {}
    }
    for want in case["allowed_by"].as_array().into_iter().flatten() {
        let found = got["allowed_by"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|actual| {
                want.as_object()
                    .into_iter()
                    .flatten()
                    .all(|(k, v)| same(&actual[k], v))
            });
        if !found {
            problems.push(format!(
                "allowed_by lacks {want} (got {})",
                got["allowed_by"]
            ));
        }
    }
    problems
        .into_iter()
        .map(|p| format!("{dir} / {name}: {p}"))
        .collect()
}

/// Rule names compare case-insensitively (Azure's own spelling varies); the rest exactly.
fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        _ => actual == expected,
    }
}

#[test]
fn every_fixture_case_gives_its_expected_verdict_and_rule() {
    let mut dirs: Vec<_> = std::fs::read_dir(root().join("fixtures/cases"))
        .expect("fixtures/cases exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.join("cases.json").exists())
        .collect();
    dirs.sort();
    let (mut total, mut failures) = (0, Vec::new());
    for dir in &dirs {
        let rel = dir
            .strip_prefix(root())
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(dir.join("cases.json")).expect("readable");
        let suite: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}/cases.json: {e}"));
        let snapshot: Vec<String> = match suite["snapshot"].as_array() {
            Some(list) => list
                .iter()
                .map(|s| s.as_str().expect("paths").to_string())
                .collect(),
            None => vec![format!("{rel}/snapshot")],
        };
        for case in suite["cases"].as_array().expect("cases is an array") {
            total += 1;
            failures.extend(check(&rel, &snapshot, case));
        }
    }
    assert!(total >= 100, "only {total} cases found");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{total} fixture cases passed");
}
