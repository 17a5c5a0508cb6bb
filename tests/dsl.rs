//! The secpath DSL: lossless conversion both ways on every fixture and rule set, canonical
//! formatting, identical `explain` answers on both forms, error fixtures, the documented
//! examples, and a property test over generated models.

use crate::support::{json_of, root, secpath};
use secpath::dsl;
use secpath::error::Location;
use secpath::model::Snapshot;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh scratch file path under the test target directory.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dsl");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(format!(
        "{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// Every JSON value of a snapshot (files or directories).
fn arm_values(paths: &[PathBuf]) -> Vec<Value> {
    secpath::load::expand(paths)
        .expect("snapshot paths exist")
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("readable");
            secpath::load::parse_json(f, &text).expect("valid JSON")
        })
        .collect()
}

/// The loaded model with what depends on the input's spelling taken out: rule locations
/// (file and JSON path differ by form), warnings (they quote them; their number is kept),
/// and the order of policy definitions and assignments (a `dynamic` group writes its policy
/// next to its manager).
fn normalised(s: &Snapshot) -> String {
    let mut s = s.clone();
    let blank = Location {
        file: PathBuf::new(),
        path: String::new(),
    };
    for nsg in &mut s.nsgs {
        for (_, loc) in &mut nsg.rules {
            *loc = blank.clone();
        }
    }
    for m in &mut s.managers {
        for c in &mut m.security_configs {
            for col in &mut c.collections {
                for (_, loc) in &mut col.rules {
                    *loc = blank.clone();
                }
            }
        }
    }
    let warnings = s.warnings.len();
    s.warnings.clear();
    s.policy_definitions
        .sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    s.policy_assignments
        .sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    format!("{s:#?}\nwarnings: {warnings}")
}

fn load(paths: &[PathBuf]) -> Snapshot {
    secpath::load::load_snapshot(paths).unwrap_or_else(|e| panic!("{paths:?} loads: {e}"))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("scratch file written");
}

/// ARM → DSL → (loader) gives the model ARM gives; DSL → ARM → DSL is stable.
fn assert_round_trip(paths: &[PathBuf]) {
    let arm = arm_values(paths);
    let text = dsl::to_dsl(&arm);
    let file = scratch("round-trip.secpath");
    write(&file, &text);
    let want = normalised(&load(paths));
    let got = normalised(&load(std::slice::from_ref(&file)));
    if want != got {
        let diff = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("first difference at line {i}:\n  arm: {a}\n  dsl: {b}"))
            .unwrap_or_else(|| "one is a prefix of the other".to_string());
        panic!("{paths:?}: the DSL form loads differently ({diff})\n--- DSL ---\n{text}");
    }
    let again = dsl::format(&text, &file).unwrap_or_else(|e| panic!("{paths:?}: {e}\n{text}"));
    assert_eq!(
        again, text,
        "{paths:?}: format is not the identity on to_dsl output"
    );
}

fn fixture_snapshots() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/cases"))
        .expect("fixtures/cases")
        .map(|e| e.expect("entry").path().join("snapshot"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_fixture_snapshot_round_trips() {
    let dirs = fixture_snapshots();
    assert!(dirs.len() > 10);
    for dir in dirs {
        assert_round_trip(&[dir]);
    }
}

#[test]
fn contoso_round_trips() {
    assert_round_trip(&[root().join("rulesets/contoso")]);
}

/// The ```secpath blocks of a Markdown file, with the line each starts on.
fn secpath_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```secpath" => current = Some((i + 2, String::new())),
            None => {}
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn every_example_in_the_dsl_guide_parses_loads_and_formats_stably() {
    let doc = root().join("docs/dsl.md");
    let markdown = std::fs::read_to_string(&doc).expect("docs/dsl.md");
    let blocks = secpath_blocks(&markdown);
    assert!(blocks.len() >= 15, "only {} examples", blocks.len());
    for (line, text) in blocks {
        let values = dsl::parse(&text, &doc)
            .unwrap_or_else(|e| panic!("docs/dsl.md example at line {line}:\n{e}\n{text}"));
        let file = scratch("example.json");
        write(&file, &Value::Array(values).to_string());
        secpath::load::load_snapshot(std::slice::from_ref(&file))
            .unwrap_or_else(|e| panic!("docs/dsl.md example at line {line} loads: {e}"));
        let once = dsl::format(&text, &doc).expect("formats");
        let twice = dsl::format(&once, &doc)
            .unwrap_or_else(|e| panic!("example at line {line} reformatted:\n{e}\n{once}"));
        assert_eq!(
            once, twice,
            "docs/dsl.md example at line {line}: format is not idempotent"
        );
    }
}

#[test]
fn every_error_fixture_reports_its_line_column_and_message() {
    let dir = root().join("fixtures/dsl/errors");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("expected.json is JSON");
    let entries = manifest.as_array().expect("a list");
    let mut listed: Vec<&str> = Vec::new();
    for entry in entries {
        let name = entry["file"].as_str().expect("file");
        listed.push(name);
        let file = PathBuf::from("fixtures/dsl/errors").join(name);
        let text = std::fs::read_to_string(root().join(&file)).expect("fixture");
        let errors = match dsl::parse(&text, &root().join(&file)) {
            Ok(_) => panic!("{name}: parsed without error"),
            Err(e) => e,
        };
        let want = entry["errors"].as_array().expect("errors");
        let got = errors.errors();
        assert_eq!(got.len(), want.len(), "{name}: got\n{errors}");
        for (g, w) in got.iter().zip(want) {
            let in_file = w["file"].as_str().unwrap_or(name);
            assert!(
                g.file.ends_with(in_file),
                "{name}: error in {} (expected {in_file})",
                g.file.display()
            );
            let at = (g.line, g.column, g.found.as_str());
            let expected = (
                w["line"].as_u64().unwrap_or(0) as usize,
                w["column"].as_u64().unwrap_or(0) as usize,
                w["found"].as_str().unwrap_or(""),
            );
            assert_eq!(at, expected, "{name}: {g}");
            for part in w["message"].as_array().expect("message substrings") {
                let part = part.as_str().expect("a string");
                assert!(
                    g.message.contains(part),
                    "{name}: `{}` lacks `{part}`",
                    g.message
                );
            }
            // The rendering names the place and underlines the offending text.
            let shown = g.to_string();
            assert!(
                shown.contains(&format!(":{}:{}: ", g.line, g.column)),
                "{shown}"
            );
            let underline = "^".repeat(g.found.chars().count().max(1));
            assert!(
                shown
                    .lines()
                    .last()
                    .is_some_and(|l| l.ends_with(&underline)),
                "{shown}"
            );
        }
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("errors dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".secpath"))
        .collect();
    on_disk.sort();
    for name in &on_disk {
        assert!(
            listed.contains(&name.as_str()),
            "{name} is not in expected.json"
        );
    }
}

#[test]
fn the_cli_reports_every_dsl_error_with_exit_status_2() {
    let out = secpath([
        "explain",
        "--snapshot",
        "fixtures/dsl/errors/several-mistakes.secpath",
        "tcp 10.0.0.1:1 -> 10.0.0.2:2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for place in [":7:7:", ":11:54:", ":12:63:", ":15:19:"] {
        assert!(
            stderr.contains(&format!(
                "fixtures/dsl/errors/several-mistakes.secpath{place}"
            )),
            "{stderr}"
        );
    }
    assert!(stderr.contains("4 errors in the secpath DSL"), "{stderr}");
    assert!(stderr.contains("^^^^^^^"), "{stderr}");
}

/// `explain --format json` from the real binary, with the warnings reduced to their number
/// (they quote file names and JSON paths, which differ between the forms).
fn explain_json(snapshot: &[String], args: &[String], flow: &str) -> Value {
    let mut argv: Vec<String> = vec!["explain".into(), "--format".into(), "json".into()];
    for s in snapshot {
        argv.push("--snapshot".into());
        argv.push(s.clone());
    }
    argv.extend(args.iter().cloned());
    argv.push(flow.to_string());
    let out = secpath(&argv);
    if out.status.code() == Some(2) {
        // `error: FILE: [JSON PATH]: message`: the file and path differ between the forms.
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut message = stderr.trim_start_matches("error: ");
        for _ in 0..2 {
            if let Some((head, rest)) = message.split_once(": ") {
                if head.contains('/') || head.starts_with('[') || head.contains("properties") {
                    message = rest;
                }
            }
        }
        return Value::String(format!("bad input: {message}"));
    }
    let mut v = json_of(&out);
    let warnings = v["warnings"].as_array().map_or(0, Vec::len);
    v["warnings"] = Value::from(warnings);
    v
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Every case of every fixture: `explain` on the ARM snapshot and on its DSL conversion gives
/// the same JSON.
#[test]
fn explain_is_identical_on_the_arm_and_dsl_forms_of_every_fixture() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/cases"))
        .expect("fixtures/cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("cases.json").exists())
        .collect();
    dirs.sort();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .chunks(dirs.len().div_ceil(2).max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for dir in chunk {
                        let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases");
                        let spec: Value = serde_json::from_str(&text).expect("cases JSON");
                        let arm: Vec<String> = strings(&spec["snapshot"]);
                        let arm = if arm.is_empty() {
                            vec![format!(
                                "fixtures/cases/{}/snapshot",
                                dir.file_name().unwrap_or_default().to_string_lossy()
                            )]
                        } else {
                            arm
                        };
                        let paths: Vec<PathBuf> = arm.iter().map(|a| root().join(a)).collect();
                        let file = scratch("explain.secpath");
                        write(&file, &dsl::to_dsl(&arm_values(&paths)));
                        let dsl_form = vec![file.display().to_string()];
                        for case in spec["cases"].as_array().into_iter().flatten() {
                            let flow = case["flow"].as_str().unwrap_or("");
                            let args = strings(&case["args"]);
                            let a = explain_json(&arm, &args, flow);
                            let b = explain_json(&dsl_form, &args, flow);
                            if a != b {
                                failures.push(format!(
                                    "{} / {flow}:\n  arm {a}\n  dsl {b}",
                                    dir.display()
                                ));
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a worker panicked".into()])
            })
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The DSL rule sets answer their own cases (same format as fixtures/cases), and the
/// contoso DSL form answers every contoso case exactly as the ARM form does.
#[test]
fn the_dsl_rule_sets_give_their_expected_verdicts() {
    let subset = |want: &Value, got: &Value| {
        want.as_object()
            .into_iter()
            .flatten()
            .all(|(k, v)| match (v, &got[k]) {
                (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                (v, g) => v == g,
            })
    };
    let mut problems = Vec::new();
    for set in ["hub-spoke-baseline", "pci-segmentation"] {
        let text = std::fs::read_to_string(root().join("rulesets").join(set).join("cases.json"))
            .expect("cases.json");
        let spec: Value = serde_json::from_str(&text).expect("JSON");
        let snapshot = strings(&spec["snapshot"]);
        for case in spec["cases"].as_array().into_iter().flatten() {
            let flow = case["flow"].as_str().unwrap_or("");
            let got = explain_json(&snapshot, &strings(&case["args"]), flow);
            let name = case["name"].as_str().unwrap_or(flow);
            if got["verdict"] != case["verdict"] {
                problems.push(format!(
                    "{set} / {name}: verdict {} ({got})",
                    got["verdict"]
                ));
            }
            match &case["decided_by"] {
                Value::Null if !got["decided_by"].is_null() => {
                    problems.push(format!("{set} / {name}: decided by {}", got["decided_by"]));
                }
                want @ Value::Object(_) if !subset(want, &got["decided_by"]) => {
                    problems.push(format!("{set} / {name}: decided by {}", got["decided_by"]));
                }
                _ => {}
            }
            for want in case["allowed_by"].as_array().into_iter().flatten() {
                let found = got["allowed_by"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|g| subset(want, g));
                if !found {
                    problems.push(format!("{set} / {name}: not allowed by {want}"));
                }
            }
        }
    }
    let contoso: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/cases/contoso/cases.json")).expect("cases"),
    )
    .expect("JSON");
    for case in contoso["cases"].as_array().into_iter().flatten() {
        let flow = case["flow"].as_str().unwrap_or("");
        let args = strings(&case["args"]);
        let arm = explain_json(&["rulesets/contoso".to_string()], &args, flow);
        let dsl_form = explain_json(
            &["rulesets/contoso-dsl/contoso.secpath".to_string()],
            &args,
            flow,
        );
        if arm != dsl_form {
            problems.push(format!(
                "contoso-dsl / {flow}:\n  arm {arm}\n  dsl {dsl_form}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The committed DSL files are in canonical form, so `secpath fmt --check` passes on them.
#[test]
fn committed_dsl_files_are_canonical() {
    for file in [
        "rulesets/hub-spoke-baseline/baseline.secpath",
        "rulesets/hub-spoke-baseline/network-hub.secpath",
        "rulesets/hub-spoke-baseline/network-spokes.secpath",
        "rulesets/pci-segmentation/pci.secpath",
        "rulesets/contoso-dsl/contoso.secpath",
    ] {
        let path = root().join(file);
        let text = std::fs::read_to_string(&path).expect("rule set");
        let formatted = dsl::format(&text, &path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(formatted, text, "{file} is not in canonical form");
    }
}

/// `library explain` on both forms, without the binary: the same explanation.
#[test]
fn library_explain_agrees_on_both_forms_of_contoso() {
    use secpath::eval::{explain, Pins};
    use secpath::resolve::{tags::ServiceTags, Policy};
    let policy = |paths: &[PathBuf]| {
        Policy::build(
            load(paths),
            secpath::options::Options::new(),
            &ServiceTags::none(),
        )
        .expect("policy builds")
    };
    let arm = policy(&[root().join("rulesets/contoso")]);
    let dsl_form = policy(&[root().join("rulesets/contoso-dsl/contoso.secpath")]);
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/cases/contoso/cases.json")).expect("cases"),
    )
    .expect("JSON");
    for case in spec["cases"].as_array().into_iter().flatten() {
        if case.get("args").is_some() {
            continue;
        }
        let flow = secpath::flow::Flow::parse(case["flow"].as_str().unwrap_or("")).expect("flow");
        let a = explain(&arm, &flow, &Pins::default()).map(|e| {
            let mut v = serde_json::to_value(&e).expect("serialises");
            v["warnings"] = Value::Null;
            v
        });
        let b = explain(&dsl_form, &flow, &Pins::default()).map(|e| {
            let mut v = serde_json::to_value(&e).expect("serialises");
            v["warnings"] = Value::Null;
            v
        });
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", case["flow"]),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("{}: {a:?} vs {b:?}", case["flow"]),
        }
    }
}

/// Comments, blank lines and includes survive `format`; without them, `format` is
/// `to_dsl(parse(..))`, and both are idempotent.
#[test]
fn format_keeps_comments_and_is_idempotent() {
    let file = scratch("commented.secpath");
    let text = "# header\n\n# about the subscription\nin subscription s1 {   # trailing\n  resource-group rg {\n\n    # the hub\n    vnet hub region West Europe {\n      subnet a prefix 10.0.0.0/24   # subnet a\n      # closing remark\n    }\n  }\n}\n# the end\n";
    // "West Europe" is two words: not valid; use a quoted region.
    let text = text.replace("region West Europe", "region \"West Europe\"");
    write(&file, &text);
    let once = dsl::format(&text, &file).expect("formats");
    for kept in [
        "# header\n",
        "# about the subscription\nin subscription s1 { # trailing",
        "\n\n    # the hub\n    vnet hub region westeurope {",
        "subnet a prefix 10.0.0.0/24 # subnet a",
        "      # closing remark\n    }",
        "# the end\n",
    ] {
        assert!(once.contains(kept), "`{kept}` lost:\n{once}");
    }
    assert_eq!(dsl::format(&once, &file).expect("again"), once);
    let bare: String = once
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(" #").next().unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let via_arm = dsl::to_dsl(&dsl::parse(&bare, &file).expect("parses"));
    assert_eq!(dsl::format(&bare, &file).expect("formats"), via_arm);
}

/// `format` keeps `include`s in place and does not inline the included files.
#[test]
fn format_keeps_includes() {
    let path = root().join("rulesets/hub-spoke-baseline/baseline.secpath");
    let text = std::fs::read_to_string(&path).expect("baseline");
    let formatted = dsl::format(&text, &path).expect("formats");
    assert!(
        formatted.contains("include \"network-hub.secpath\"\ninclude \"network-spokes.secpath\"")
    );
    assert!(!formatted.contains("vnet vnet-shop"));
}
