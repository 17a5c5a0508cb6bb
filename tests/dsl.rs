//! The secpath DSL: lossless conversion both ways on every fixture and rule set, canonical
//! formatting, identical `explain` answers on both forms, error fixtures, the documented
//! examples, and a property test over generated models.

use crate::support::{json_of, root, secpath};
use proptest::prelude::*;
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

/// The loaded model with what depends on the input's spelling taken out: rule and policy
/// assignment locations (file and JSON path differ by form), warnings (they quote them; their
/// number is kept), and the order of policy definitions and assignments (a `dynamic` group
/// writes its policy next to its manager).
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
    for a in &mut s.policy_assignments {
        a.location = blank.clone();
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

/// Mistakes found only once the DSL's resources are loaded (two NICs on one address) or
/// resolved (an unknown service tag) name the statement's line, not the JSON it stands for.
#[test]
fn errors_found_after_parsing_name_the_dsl_statement() {
    let head = "subscription 11111111-0000-4000-8000-000000000001 name sub {
  resource-group rg {
    vnet v1 region westeurope {
      address-space 10.0.0.0/16
      subnet s1 prefix 10.0.1.0/24 nsg nsg1
    }
";
    let cases = [
        (
            "nsg nsg1 {\n      inbound 100 allow tcp from * to * ports 443 name AllowHttps\n    }\n    nic nic1 ip 10.0.1.4 subnet s1\n    nic nic2 ip 10.0.1.4 subnet s1",
            ":11:5: NIC `nic2` holds 10.0.1.4",
        ),
        (
            "nsg nsg1 {\n      inbound 100 allow tcp from FooTag to * ports 443 name AllowHttps\n    }\n    nic nic1 ip 10.0.1.4 subnet s1",
            ": line 7, the `nsg` statement: rule `AllowHttps` names unknown service tag `FooTag`",
        ),
    ];
    for (i, (body, want)) in cases.into_iter().enumerate() {
        let file = scratch(&format!("after-parsing-{i}.secpath"));
        write(&file, &format!("{head}    {body}\n  }}\n}}\n"));
        let out = secpath([
            "explain",
            "--snapshot",
            file.to_str().unwrap_or_default(),
            "tcp 1.2.3.4:1 -> 10.0.1.4:443",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "{want}\n{stderr}");
        assert!(!stderr.contains("properties"), "{stderr}");
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
        // `error: FILE: LOCATION: message`: the file and the location (a JSON path, or in the
        // DSL form the statement's line) differ between the forms.
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut message = stderr.trim_start_matches("error: ");
        for _ in 0..2 {
            if let Some((head, rest)) = message.split_once(": ") {
                let dsl_line = head.starts_with("line ") && head.ends_with("statement");
                if head.contains('/')
                    || head.starts_with('[')
                    || head.contains("properties")
                    || dsl_line
                {
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

/// Draws decisions from a byte string, so proptest can generate and shrink whole estates.
struct Choices<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }
    fn flip(&mut self) -> bool {
        self.byte() % 2 == 1
    }
    fn pick<'p>(&mut self, xs: &[&'p str]) -> &'p str {
        xs[self.below(xs.len())]
    }
}

/// A random but loadable ARM estate, in the varied shapes the loader accepts.
fn estate(bytes: &[u8]) -> Vec<Value> {
    use serde_json::json;
    let mut c = Choices { bytes, pos: 0 };
    let mut out: Vec<Value> = Vec::new();
    let mgs = ["mg-root", "mg-child"];
    if c.flip() {
        out.push(
            json!({"id": "/providers/Microsoft.Management/managementGroups/mg-root",
            "type": "Microsoft.Management/managementGroups", "name": "mg-root",
            "properties": {"tenantId": "t1", "details": {"parent": null}}}),
        );
        out.push(json!({"id": "/providers/Microsoft.Management/managementGroups/mg-child",
            "type": "Microsoft.Management/managementGroups", "name": "mg-child",
            "properties": {"details": {"parent": {"id": "/providers/Microsoft.Management/managementGroups/mg-root"}}}}));
    }
    let subs: Vec<String> = (1..=1 + c.below(2))
        .map(|i| format!("0000000{i}-0000-4000-8000-000000000000"))
        .collect();
    let mut vnets: Vec<(String, Vec<(String, String)>)> = Vec::new(); // id, [(subnet id, prefix)]
    let mut nsgs: Vec<String> = Vec::new();
    let mut asgs: Vec<String> = Vec::new();
    let mut pips: Vec<String> = Vec::new();
    let mut net = 0u8;
    for (si, sub) in subs.iter().enumerate() {
        if c.flip() {
            let mut s = json!({"id": format!("/subscriptions/{sub}"), "type": "microsoft.resources/subscriptions",
                "name": format!("sub-{si}"), "subscriptionId": sub,
                "properties": {"managementGroupAncestorsChain": [{"name": mgs[1]}, {"name": mgs[0]}]}});
            if c.flip() {
                s["tags"] = json!({"env": c.pick(&["prod", "dev", "Prod"])});
            }
            out.push(s);
        }
        for rg in ["rg-a", "rg-b"].iter().take(1 + c.below(2)) {
            // Resource Graph spells the resource group segment in lower case.
            let rg_seg = if c.below(4) == 0 {
                "resourcegroups"
            } else {
                "resourceGroups"
            };
            let prefix = format!("/subscriptions/{sub}/{rg_seg}/{rg}");
            if c.flip() {
                out.push(
                    json!({"id": prefix, "type": "Microsoft.Resources/resourceGroups", "name": rg,
                    "tags": {"tier": c.pick(&["web", "data"])}}),
                );
            }
            for asg in ["asg-web", "asg-app"].iter().take(c.below(3)) {
                let id =
                    format!("{prefix}/providers/Microsoft.Network/applicationSecurityGroups/{asg}");
                out.push(json!({"id": id, "type": "Microsoft.Network/applicationSecurityGroups", "name": asg}));
                asgs.push(id);
            }
            for nsg in ["nsg-web", "nsg-app"].iter().take(c.below(3)) {
                let id =
                    format!("{prefix}/providers/Microsoft.Network/networkSecurityGroups/{nsg}");
                let mut rules = Vec::new();
                let mut used = Vec::new();
                for k in 0..c.below(5) {
                    let name = c.pick(&["r1", "r2", "Allow-Web", "deny all", "inbound-100"]);
                    if used.contains(&name) {
                        continue;
                    }
                    used.push(name);
                    let mut p = json!({"protocol": c.pick(&["Tcp", "Udp", "*", "Icmp", "Esp", "Ah"]),
                        "access": c.pick(&["Allow", "Deny"]),
                        "priority": 100 + 10 * k,
                        "direction": c.pick(&["Inbound", "Outbound"])});
                    for side in ["source", "destination"] {
                        let addresses = [
                            "*",
                            "Internet",
                            "VirtualNetwork",
                            "10.1.0.0/16",
                            "10.0.0.1-10.0.0.9",
                            "AzureLoadBalancer",
                            "Any",
                        ];
                        match c.below(4) {
                            0 => p[format!("{side}AddressPrefix")] = json!(c.pick(&addresses)),
                            1 => {
                                p[format!("{side}AddressPrefixes")] =
                                    json!([c.pick(&addresses), "192.168.0.0/16"])
                            }
                            2 if !asgs.is_empty() => {
                                let a = asgs[c.below(asgs.len())].clone();
                                p[format!("{side}ApplicationSecurityGroups")] = json!([{"id": a}]);
                            }
                            _ => p[format!("{side}AddressPrefixes")] = json!([]),
                        }
                        match c.below(4) {
                            0 => {
                                p[format!("{side}PortRange")] =
                                    json!(c.pick(&["*", "80", "1000-2000", "0-65535"]))
                            }
                            1 => p[format!("{side}PortRanges")] = json!(["22", "3389-3390"]),
                            2 => p[format!("{side}PortRange")] = json!("80,443"),
                            _ => {}
                        }
                    }
                    rules.push(json!({"name": name, "id": format!("{id}/securityRules/{name}"), "properties": p}));
                }
                let mut n = json!({"id": id, "type": "Microsoft.Network/networkSecurityGroups", "name": nsg,
                    "properties": {"securityRules": rules}});
                if c.flip() {
                    let d = |name: &str,
                             dir: &str,
                             prio: u32,
                             src: &str,
                             dst: &str,
                             access: &str| {
                        json!({
                        "name": name, "id": format!("{id}/defaultSecurityRules/{name}"),
                        "properties": {"protocol": "*", "sourceAddressPrefix": src, "destinationAddressPrefix": dst,
                            "sourcePortRange": "*", "destinationPortRange": "*", "access": access,
                            "priority": prio, "direction": dir}})
                    };
                    let odd = c.below(3) == 0;
                    n["properties"]["defaultSecurityRules"] = json!([
                        d(
                            "AllowVnetInBound",
                            "Inbound",
                            65000,
                            "VirtualNetwork",
                            "VirtualNetwork",
                            "Allow"
                        ),
                        d(
                            "AllowAzureLoadBalancerInBound",
                            "Inbound",
                            65001,
                            "AzureLoadBalancer",
                            "*",
                            "Allow"
                        ),
                        d(
                            "DenyAllInBound",
                            "Inbound",
                            65500,
                            "*",
                            "*",
                            if odd { "Allow" } else { "Deny" }
                        ),
                        d(
                            "AllowVnetOutBound",
                            "Outbound",
                            65000,
                            "VirtualNetwork",
                            "VirtualNetwork",
                            "Allow"
                        ),
                        d(
                            "AllowInternetOutBound",
                            "Outbound",
                            65001,
                            "*",
                            "Internet",
                            "Allow"
                        ),
                        d("DenyAllOutBound", "Outbound", 65500, "*", "*", "Deny"),
                    ]);
                }
                out.push(n);
                nsgs.push(id);
            }
            for vnet in ["hub", "spoke"].iter().take(1 + c.below(2)) {
                net += 1;
                let id = format!("{prefix}/providers/Microsoft.Network/virtualNetworks/{vnet}");
                let mut subnets = Vec::new();
                let mut subnet_ids = Vec::new();
                for (k, name) in ["web", "GatewaySubnet", "app"]
                    .iter()
                    .take(c.below(4))
                    .enumerate()
                {
                    let sid = format!("{id}/subnets/{name}");
                    let cidr = format!("10.{net}.{k}.0/24");
                    let mut p = if c.flip() {
                        json!({"addressPrefix": cidr})
                    } else {
                        json!({"addressPrefixes": [cidr]})
                    };
                    if !nsgs.is_empty() && c.flip() {
                        p["networkSecurityGroup"] = json!({"id": nsgs[c.below(nsgs.len())]});
                    }
                    if c.below(4) == 0 {
                        p["delegations"] = json!([{"name": "d", "properties": {"serviceName": "Microsoft.Sql/managedInstances"}}]);
                    }
                    subnets.push(json!({"name": name, "id": sid, "properties": p}));
                    subnet_ids.push((sid, cidr));
                }
                let mut v = json!({"id": id, "type": "Microsoft.Network/virtualNetworks", "name": vnet,
                    "location": c.pick(&["westeurope", "North Europe", ""]),
                    "properties": {"addressSpace": {"addressPrefixes": [format!("10.{net}.0.0/16")]}}});
                if c.flip() {
                    v["tags"] = json!({"role": c.pick(&["hub", "spoke"]), "env": "prod"});
                }
                if c.flip() {
                    v["properties"]["subnets"] = json!(subnets);
                    out.push(v);
                } else {
                    out.push(v);
                    for mut s in subnets {
                        s["type"] = json!("Microsoft.Network/virtualNetworks/subnets");
                        out.push(s);
                    }
                }
                vnets.push((id, subnet_ids));
            }
            if c.flip() {
                let id = format!("{prefix}/providers/Microsoft.Network/publicIPAddresses/pip1");
                let mut p = json!({"id": id, "type": "Microsoft.Network/publicIPAddresses", "name": "pip1"});
                if c.flip() {
                    p["sku"] = json!({"name": c.pick(&["Standard", "Basic"])});
                }
                out.push(p);
                pips.push(id);
            }
        }
    }
    // Peerings, nested or flat.
    let vnet_ids: Vec<String> = vnets.iter().map(|(id, _)| id.clone()).collect();
    for (i, a) in vnet_ids.iter().enumerate() {
        if vnet_ids.len() > 1 && c.flip() {
            let b = &vnet_ids[(i + 1) % vnet_ids.len()];
            let mut props = json!({"remoteVirtualNetwork": {"id": b}});
            match c.below(3) {
                0 => props["peeringState"] = json!("Connected"),
                1 => props["peeringState"] = json!("Initiated"),
                _ => {}
            }
            out.push(json!({"id": format!("{a}/virtualNetworkPeerings/p{i}"),
                "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings", "name": format!("p{i}"),
                "properties": props}));
        }
    }
    // NICs in random subnets.
    let all_subnets: Vec<(String, String)> = vnets.iter().flat_map(|(_, s)| s.clone()).collect();
    for i in 0..c.below(4) {
        if all_subnets.is_empty() {
            break;
        }
        let (sid, cidr) = &all_subnets[c.below(all_subnets.len())];
        let ip = cidr.replace("0/24", &format!("{}", 4 + i));
        let prefix = sid.split("/providers/").next().unwrap_or("");
        let mut cfg = json!({"privateIPAddress": ip, "subnet": {"id": sid}});
        if !asgs.is_empty() && c.flip() {
            cfg["applicationSecurityGroups"] = json!([{"id": asgs[c.below(asgs.len())]}]);
        }
        if !pips.is_empty() && c.flip() {
            cfg["publicIPAddress"] = json!({"id": pips[c.below(pips.len())]});
        }
        let mut p = json!({"ipConfigurations": [{"name": "ipconfig1", "properties": cfg}]});
        if !nsgs.is_empty() && c.flip() {
            p["networkSecurityGroup"] = json!({"id": nsgs[c.below(nsgs.len())]});
        }
        if c.below(5) == 0 {
            p["privateEndpoint"] =
                json!({"id": "/subscriptions/x/providers/Microsoft.Network/privateEndpoints/pe"});
        }
        out.push(json!({"id": format!("{prefix}/providers/Microsoft.Network/networkInterfaces/nic{i}"),
            "type": "Microsoft.Network/networkInterfaces", "name": format!("nic{i}"), "properties": p}));
    }
    // A network manager with groups, a configuration and a connectivity configuration.
    if c.flip() {
        let m = format!("/subscriptions/{}/resourceGroups/rg-avnm/providers/Microsoft.Network/networkManagers/avnm", subs[0]);
        let scope = if c.flip() {
            json!({"subscriptions": [format!("/subscriptions/{}", subs[0])], "managementGroups": []})
        } else {
            json!({"subscriptions": [], "managementGroups": ["/providers/Microsoft.Management/managementGroups/mg-root"]})
        };
        out.push(json!({"id": m, "type": "Microsoft.Network/networkManagers", "name": "avnm",
            "properties": {"networkManagerScopes": scope,
                "networkManagerScopeAccesses": if c.flip() { json!(["SecurityAdmin", "Connectivity"]) } else { json!(["Connectivity"]) }}}));
        let groups: Vec<String> = ["ng-a", "ng-b"]
            .iter()
            .map(|g| format!("{m}/networkGroups/{g}"))
            .collect();
        for (gi, g) in groups.iter().enumerate() {
            let subnet_members = gi == 1 && c.flip();
            out.push(json!({"id": g, "type": "Microsoft.Network/networkManagers/networkGroups", "name": g.rsplit('/').next(),
                "properties": {"memberType": if subnet_members { "Subnet" } else { "VirtualNetwork" }}}));
            for k in 0..c.below(3) {
                let member = if subnet_members {
                    all_subnets
                        .get(c.below(all_subnets.len()))
                        .map(|(s, _)| s.clone())
                } else {
                    vnet_ids.get(c.below(vnet_ids.len())).cloned()
                };
                if let Some(member) = member {
                    out.push(json!({"id": format!("{g}/staticMembers/sm{k}"),
                        "type": "Microsoft.Network/networkManagers/networkGroups/staticMembers", "name": format!("sm{k}"),
                        "properties": {"resourceId": member}}));
                }
            }
        }
        let cfg = format!("{m}/securityAdminConfigurations/cfg");
        out.push(json!({"id": cfg, "type": "Microsoft.Network/networkManagers/securityAdminConfigurations", "name": "cfg",
            "properties": {"applyOnNetworkIntentPolicyBasedServices": [c.pick(&["None", "All", "AllowRulesOnly"])]}}));
        let col = format!("{cfg}/ruleCollections/rc");
        let mut rules = Vec::new();
        for k in 0..c.below(5) {
            let address = |c: &mut Choices| match c.below(4) {
                0 => {
                    json!({"addressPrefixType": "IPPrefix", "addressPrefix": c.pick(&["*", "10.0.0.0/8", "10.0.0.1", "10.0.0.0/8,192.168.0.0/16"])})
                }
                1 => {
                    json!({"addressPrefixType": "ServiceTag", "addressPrefix": c.pick(&["Internet", "VirtualNetwork"])})
                }
                2 => {
                    json!({"addressPrefixType": "NetworkGroup", "addressPrefix": groups[c.below(2)]})
                }
                _ => json!({"addressPrefix": "172.16.0.0/12"}),
            };
            let name = format!("ar{k}");
            rules.push(
                json!({"id": format!("{col}/rules/{name}"), "name": name, "kind": "Custom",
                "properties": {"protocol": c.pick(&["Tcp", "Udp", "Any", "Icmp"]),
                    "access": c.pick(&["Allow", "Deny", "AlwaysAllow"]), "priority": 1 + k,
                    "direction": c.pick(&["Inbound", "Outbound"]),
                    "sources": (0..c.below(3)).map(|_| address(&mut c)).collect::<Vec<_>>(),
                    "destinations": (0..c.below(3)).map(|_| address(&mut c)).collect::<Vec<_>>(),
                    "sourcePortRanges": if c.flip() { json!(["0-65535"]) } else { json!([]) },
                    "destinationPortRanges": [c.pick(&["22", "80-81", "*"])]}}),
            );
        }
        out.push(json!({"id": col, "type": "Microsoft.Network/networkManagers/securityAdminConfigurations/ruleCollections",
            "name": "rc", "properties": {"appliesToGroups": [{"networkGroupId": groups[0]}], "rules": rules}}));
        if c.flip() {
            let hub = vnet_ids.first().cloned().unwrap_or_default();
            out.push(json!({"id": format!("{m}/connectivityConfigurations/cc"),
                "type": "Microsoft.Network/networkManagers/connectivityConfigurations", "name": "cc",
                "properties": {"connectivityTopology": c.pick(&["HubAndSpoke", "Mesh"]),
                    "hubs": [{"resourceId": hub, "resourceType": "Microsoft.Network/virtualNetworks"}],
                    "isGlobal": c.pick(&["True", "False"]),
                    "appliesToGroups": [{"networkGroupId": groups[1], "groupConnectivity": c.pick(&["DirectlyConnected", "None"]), "isGlobal": "False"}]}}));
        }
        if c.flip() {
            // A membership policy: sometimes exactly what `dynamic` writes, sometimes not.
            let condition = match c.below(3) {
                0 => json!({"field": "tags['env']", "equals": "prod"}),
                1 => {
                    json!({"allOf": [{"field": "name", "like": "*hub*"}, {"not": {"value": "[subscription().Name]", "in": ["a", "b"]}}]})
                }
                _ => {
                    json!({"anyOf": [{"field": "location", "notIn": ["eastus"]}, {"field": "tags.role", "exists": "true"}]})
                }
            };
            let scope = if scope["subscriptions"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                format!("/subscriptions/{}", subs[0])
            } else {
                "/providers/Microsoft.Management/managementGroups/mg-root".to_string()
            };
            let name = if c.flip() {
                "avnm-ng-a"
            } else {
                "custom-policy"
            };
            let def = format!("{scope}/providers/Microsoft.Authorization/policyDefinitions/{name}");
            out.push(json!({"id": def, "type": "Microsoft.Authorization/policyDefinitions", "name": name,
                "properties": {"mode": "Microsoft.Network.Data", "parameters": {},
                    "policyRule": {"if": condition, "then": {"effect": "addToNetworkGroup", "details": {"networkGroupId": groups[0]}}}}}));
            out.push(json!({"id": format!("{scope}/providers/Microsoft.Authorization/policyAssignments/{name}"),
                "type": "Microsoft.Authorization/policyAssignments", "name": name,
                "properties": {"policyDefinitionId": def, "scope": scope}}));
        }
        for _ in 0..c.below(3) {
            out.push(json!({"region": c.pick(&["westeurope", "northeurope"]),
                "deploymentType": c.pick(&["SecurityAdmin", "Connectivity"]),
                "deploymentStatus": c.pick(&["Deployed", "Failed"]),
                "configurationIds": [cfg.clone()], "commitTime": "2025-01-01T00:00:00Z"}));
        }
    }
    if c.below(4) == 0 {
        out.push(json!({"id": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/vm",
            "type": "Microsoft.Compute/virtualMachines", "name": "vm"}));
    }
    // The container shapes of a snapshot file.
    match c.below(3) {
        0 => vec![Value::Array(out)],
        1 => vec![json!({"value": out})],
        _ => out,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/dsl.proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// ARM → DSL → loader gives the model ARM gives, for generated estates; the DSL text is
    /// canonical (format changes nothing) and converting it back and forth is stable.
    #[test]
    fn generated_estates_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let arm = estate(&bytes);
        let arm_files: Vec<PathBuf> = arm
            .iter()
            .map(|v| {
                let f = scratch("estate.json");
                write(&f, &v.to_string());
                f
            })
            .collect();
        let want = normalised(&load(&arm_files));
        let text = dsl::to_dsl(&arm);
        let dsl_file = scratch("estate.secpath");
        write(&dsl_file, &text);
        let got = secpath::load::load_snapshot(std::slice::from_ref(&dsl_file))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&want, &normalised(&got), "DSL:\n{}", text);
        let formatted = dsl::format(&text, &dsl_file).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&formatted, &text);
        let again = dsl::to_dsl(&dsl::parse(&text, &dsl_file).map_err(|e| TestCaseError::fail(e.to_string()))?);
        prop_assert_eq!(&again, &text);
    }

    /// Whatever the text, parsing and formatting return (an error or a result) without panicking.
    #[test]
    fn any_text_parses_or_fails_cleanly(text in "[ -~\n\t{}#\"\\[\\]é]{0,300}") {
        let file = Path::new("random.secpath");
        let _ = dsl::parse(&text, file);
        let _ = dsl::format(&text, file);
    }

    /// Lines built from DSL words in random order: errors, never a panic, and every error
    /// points into the text.
    #[test]
    fn word_salad_errors_point_into_the_text(
        words in proptest::collection::vec(proptest::sample::select(vec![
            "vnet", "subnet", "nsg", "{", "}", "inbound", "100", "allow", "tcp", "from", "to",
            "ports", "22", "*", "Internet", "name", "x", "in", "subscription", "s", "resource-group",
            "rg", "\n", "\n", "network-manager", "group", "dynamic", "where", "tags['a']", "equals",
            "(", ")", ",", "=", "\"q\"", "prefix", "10.0.0.0/24", "all-of", "not", "id", "/subscriptions/s",
        ]), 0..60)
    ) {
        let text = words.join(" ");
        if let Err(errors) = dsl::parse(&text, Path::new("salad.secpath")) {
            for e in errors.errors() {
                let line = text.lines().nth(e.line - 1).unwrap_or("");
                prop_assert_eq!(line, e.source_line.as_str());
                prop_assert!(e.column >= 1 && e.column <= line.chars().count() + 1, "{}", e);
            }
        }
    }
}

/// What `secpath convert` reads: DSL or JSON files and directories, as one flat list of ARM
/// resources that loads to the same model as its inputs.
#[test]
fn load_resources_reads_both_forms_into_loadable_arm() {
    for input in ["rulesets/contoso", "rulesets/contoso-dsl/contoso.secpath"] {
        let path = root().join(input);
        let resources =
            dsl::load_resources(std::slice::from_ref(&path)).unwrap_or_else(|e| panic!("{e}"));
        assert!(resources.iter().all(Value::is_object), "{input}: not flat");
        let file = scratch("converted.json");
        write(&file, &Value::Array(resources.clone()).to_string());
        assert_eq!(
            normalised(&load(std::slice::from_ref(&path))),
            normalised(&load(&[file])),
            "{input}"
        );
        let text = dsl::to_dsl(&resources);
        let file = scratch("converted.secpath");
        write(&file, &text);
        assert_eq!(
            normalised(&load(std::slice::from_ref(&path))),
            normalised(&load(&[file])),
            "{input} as DSL"
        );
    }
    let err = dsl::load_resources(&[root().join("fixtures/dsl/errors/bad-port.secpath")])
        .expect_err("a bad DSL file is an error");
    assert!(err.to_string().contains("bad-port.secpath:5:58"), "{err}");
}

/// Random JSON in the vocabulary of ARM resources, mostly malformed.
fn arm_noise(c: &mut Choices, depth: usize) -> Value {
    use serde_json::json;
    const KEYS: &[&str] = &[
        "id",
        "type",
        "name",
        "properties",
        "subnets",
        "addressPrefix",
        "addressPrefixes",
        "securityRules",
        "priority",
        "access",
        "direction",
        "protocol",
        "sourceAddressPrefix",
        "destinationPortRange",
        "networkSecurityGroup",
        "ipConfigurations",
        "privateIPAddress",
        "subnet",
        "value",
        "tags",
        "location",
        "kind",
        "sources",
        "addressPrefixType",
        "rules",
        "deploymentStatus",
        "region",
        "configurationIds",
        "policyRule",
        "if",
        "field",
        "equals",
        "allOf",
        "not",
        "mode",
        "then",
        "effect",
        "details",
        "networkGroupId",
        "resourceId",
    ];
    const STRINGS: &[&str] = &[
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/networkSecurityGroups",
        "virtualNetworks/subnets",
        "Microsoft.Network/networkManagers/networkGroups",
        "Microsoft.Authorization/policyDefinitions",
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v",
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v/subnets/a",
        "10.0.0.0/24",
        "10.0.0.4",
        "*",
        "Tcp",
        "Allow",
        "Inbound",
        "Deny",
        "Internet",
        "100",
        "Custom",
        "Default",
        "a b",
        "\"",
        "{",
        "",
        "[x]",
        "Microsoft.Network.Data",
        "addToNetworkGroup",
        "tags['x']",
        "Deployed",
        "westeurope",
        "IPPrefix",
        "NetworkGroup",
        "é",
        "#",
    ];
    match c.below(if depth > 4 { 4 } else { 7 }) {
        0 => json!(c.pick(STRINGS)),
        1 => json!(c.below(5000)),
        2 => json!(c.flip()),
        3 => Value::Null,
        4 => Value::Array((0..c.below(4)).map(|_| arm_noise(c, depth + 1)).collect()),
        _ => Value::Object(
            (0..c.below(6))
                .map(|_| (c.pick(KEYS).to_string(), arm_noise(c, depth + 1)))
                .collect(),
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/dsl.proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    /// Whatever JSON comes in, `to_dsl` writes text that parses unless the loader refuses
    /// the JSON too (an item that is no object); when the loader accepts the JSON, it
    /// accepts the DSL and builds the same model.
    #[test]
    fn any_json_converts_and_what_loads_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut c = Choices { bytes: &bytes, pos: 0 };
        let value = arm_noise(&mut c, 0);
        let text = dsl::to_dsl(std::slice::from_ref(&value));
        let dsl_file = scratch("noise.secpath");
        write(&dsl_file, &text);
        let parsed = dsl::parse(&text, &dsl_file);
        let arm_file = scratch("noise.json");
        write(&arm_file, &value.to_string());
        let loaded = secpath::load::load_snapshot(std::slice::from_ref(&arm_file));
        prop_assert!(parsed.is_ok() || loaded.is_err(), "to_dsl wrote text that does not parse:\n{}\n{:?}", text, parsed.err().map(|e| e.to_string()));
        if let Ok(want) = loaded {
            let got = secpath::load::load_snapshot(std::slice::from_ref(&dsl_file))
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(normalised(&want), normalised(&got), "{}", text);
        }
    }
}

/// ARM that the DSL cannot hold (two rules at one priority, which Azure refuses too) is not
/// converted into text that the next reader fails on: `convert` says why and exits 2.
#[test]
fn convert_refuses_what_the_dsl_would_not_read_back() {
    let rule = |name: &str, port: u16| {
        serde_json::json!({"name": name, "properties": {"protocol": "Tcp",
            "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "sourcePortRange": "*",
            "destinationPortRange": port.to_string(), "access": "Allow", "priority": 100,
            "direction": "Inbound"}})
    };
    let nsg = serde_json::json!({
        "id": "/subscriptions/11111111-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n1",
        "type": "Microsoft.Network/networkSecurityGroups", "location": "westeurope",
        "properties": {"securityRules": [rule("a", 22), rule("b", 23)]}});
    let file = scratch("duplicate-priority.json");
    write(&file, &nsg.to_string());
    for to in ["dsl", "arm"] {
        let out = secpath(["convert", file.to_str().unwrap(), "--to", to]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(
            stderr.contains("priority 100 is already used by `a`"),
            "{stderr}"
        );
    }
    // Items that are no resource, in ARM JSON or in the DSL's `arm`, are the loader's error.
    let numbers = scratch("numbers.json");
    write(&numbers, "[{\"type\": \"x\", \"id\": \"/x\"}, 2]");
    let arm_number = scratch("number.secpath");
    write(&arm_number, "arm 1\n");
    for (file, needle) in [
        (&numbers, "numbers.json: [1]: expected a resource object"),
        (&arm_number, "`arm` takes one ARM resource, a JSON object"),
    ] {
        let out = secpath(["convert", file.to_str().unwrap(), "--to", "dsl"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }
}

/// A peering's clauses come in any order, as the guide says of every statement, and its
/// `to` is still required.
#[test]
fn peering_clauses_come_in_any_order() {
    let text = |peering: &str| {
        format!(
            "in subscription 11111111-0000-4000-8000-000000000001 {{
  resource-group rg {{
    vnet a address-space 10.1.0.0/16 {{
      {peering}
    }}
    vnet b address-space 10.2.0.0/16
  }}
}}
"
        )
    };
    let file = Path::new("peering.secpath");
    let canonical = dsl::parse(&text("peering to b state Initiated"), file).unwrap();
    let reordered = dsl::parse(&text("peering state Initiated to b"), file).unwrap();
    assert_eq!(canonical, reordered);
    let missing = dsl::parse(&text("peering state Connected"), file)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("a peering needs `to VNET`"), "{missing}");
}
