//! An audit report as SARIF 2.1.0, the format CI code-scanning reads.
//!
//! One run; the tool's rules are the finding kinds (with their default level); each
//! finding is a result with its level, message, the ARM ids involved as logical locations,
//! and, when the resource is a rule read from a file, that file as the physical location
//! (code scanning needs one to show a result). The witness goes in `properties`.

use super::findings::{AuditReport, Finding, FindingKind};
use serde_json::{json, Value};

/// The SARIF log of `report`.
pub fn sarif(report: &AuditReport) -> Value {
    let rules: Vec<Value> = FindingKind::ALL.iter().map(|k| rule(*k)).collect();
    let results: Vec<Value> = report.findings.iter().map(result).collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "secpath",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "results": results,
        }]
    })
}

fn rule(kind: FindingKind) -> Value {
    json!({
        "id": kind.id(),
        "name": kind.id(),
        "shortDescription": { "text": kind.description() },
        "fullDescription": { "text": kind.description() },
        "defaultConfiguration": { "level": kind.default_severity().as_str() },
    })
}

/// A file path as an RFC 3986 relative reference: `/` separators, and the characters a
/// URI reserves or forbids (a space, `#`, `%`, `?`, ...) percent-encoded, so that
/// `my rules#1.secpath` is not read as `my rules` with a fragment.
fn uri_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~@!$&'()*+,;=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn result(f: &Finding) -> Value {
    let index = FindingKind::ALL
        .iter()
        .position(|k| *k == f.kind)
        .unwrap_or(0);
    let mut places = vec![logical(&f.resource, "resource")];
    places.extend(f.related.iter().map(|r| logical(&r.id, r.role)));
    let mut location = json!({ "logicalLocations": places });
    if let Some(at) = &f.location {
        location["physicalLocation"] =
            json!({ "artifactLocation": { "uri": uri_reference(&at.file) } });
        location["message"] = json!({ "text": at.json_path });
    }
    let mut properties = json!({});
    if let Some(point) = &f.point {
        properties["point"] = json!(point);
    }
    if let Some(w) = &f.witness {
        properties["witness"] = json!(w);
    }
    json!({
        "ruleId": f.kind.id(),
        "ruleIndex": index,
        "level": f.severity.as_str(),
        "message": { "text": f.message },
        "locations": [location],
        "partialFingerprints": { "secpath/v1": fingerprint(f) },
        "properties": properties,
    })
}

/// What identifies a finding from run to run: its kind, resource and, where one resource
/// has several findings of a kind, the NIC address or the other resources that tell them
/// apart (the rule it ties with, the manager, group or VNet); not the rules that happen to
/// decide, which change as rules are edited.
fn fingerprint(f: &Finding) -> String {
    let mut parts = vec![f.kind.id().to_string(), f.resource.to_ascii_lowercase()];
    parts.extend(f.address.clone());
    parts.extend(
        f.related
            .iter()
            .filter(|r| matches!(r.role, "tied-with" | "manager" | "group" | "vnet"))
            .map(|r| r.id.to_ascii_lowercase()),
    );
    parts.join(":")
}

fn logical(id: &str, kind: &str) -> Value {
    let name = crate::model::ResourceId::new(id).name().to_string();
    json!({ "fullyQualifiedName": id, "name": name, "kind": kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_become_uri_references() {
        assert_eq!(uri_reference("fixtures/a-b_c.json"), "fixtures/a-b_c.json");
        assert_eq!(
            uri_reference("my rules#1.secpath"),
            "my%20rules%231.secpath"
        );
        assert_eq!(uri_reference("C:\\x\\50%.json"), "C%3A/x/50%25.json");
    }
}
