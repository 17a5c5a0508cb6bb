//! Unused rules: rules with no hits in a `secpath replay --hits` file
//! (`{"schema": "secpath.hits/v1", "records": N, "rules": {"<rule ARM id>": hits}}`).

use super::findings::{Finding, FindingKind};
use crate::error::{Error, Location, Result};
use crate::model::ResourceId;
use crate::resolve::Policy;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Hits per rule from a replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hits {
    /// Records the replay judged.
    pub records: u64,
    /// Hits by rule id (compared as ARM ids are: case-insensitively).
    pub rules: HashMap<ResourceId, u64>,
}

impl Hits {
    /// Reads a hits file.
    pub fn load(path: &Path) -> Result<Hits> {
        let text = crate::load::read_text(path)?;
        let value = crate::load::parse_json(path, &text)?;
        Hits::from_json(&value).map_err(|message| {
            Error::invalid(
                Location {
                    file: path.to_path_buf(),
                    path: String::new(),
                },
                message,
            )
        })
    }

    /// Reads the JSON of a hits file; the message says what was expected.
    pub fn from_json(value: &serde_json::Value) -> std::result::Result<Hits, String> {
        if value.get("schema").and_then(|s| s.as_str()) != Some("secpath.hits/v1") {
            return Err("not a hits file: expected `\"schema\": \"secpath.hits/v1\"` (written by secpath replay --hits)".into());
        }
        let records = value
            .get("records")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let rules = value
            .get("rules")
            .and_then(|r| r.as_object())
            .ok_or("a hits file needs a `rules` object mapping rule ids to counts")?;
        let mut out = HashMap::new();
        for (id, n) in rules {
            let n = n
                .as_u64()
                .ok_or_else(|| format!("the hits of `{id}` are not a count"))?;
            out.insert(ResourceId::new(id), n);
        }
        Ok(Hits {
            records,
            rules: out,
        })
    }
}

/// A warning when the hits name rules but none of this policy's: a hits file from another
/// estate (or a renamed one) would otherwise report every rule unused without a word.
pub(crate) fn foreign(policy: &Policy, hits: &Hits) -> Option<String> {
    let nsg_rules = policy.snapshot.nsgs.iter().flat_map(|n| &n.rules);
    let ids = nsg_rules.map(|(r, _)| &r.id).chain(
        policy
            .subnet_admin
            .iter()
            .chain(policy.vnets.iter().map(|v| &v.admin))
            .flat_map(|p| &p.rules)
            .map(|r| &r.rule.id),
    );
    // D7's closed public IPs are hit under their NIC's id.
    let nics = policy.snapshot.nics.iter().map(|n| &n.id);
    let named = hits.rules.len();
    (named > 0 && !ids.chain(nics).any(|id| hits.rules.contains_key(id))).then(|| {
        format!("--hits names {named} rule(s), none of them in this snapshot: is it a replay of another estate? Every rule is reported unused")
    })
}

/// Every custom rule of the policy with no hits: NSG rules of every NSG, admin rules
/// that apply somewhere.
pub(crate) fn unused(policy: &Policy, hits: &Hits) -> Vec<Finding> {
    let mut rules: BTreeMap<String, (ResourceId, String)> = BTreeMap::new();
    for nsg in &policy.snapshot.nsgs {
        for (rule, _) in nsg.rules.iter().filter(|(r, _)| !r.is_default) {
            rules.entry(rule.id.key().to_string()).or_insert((
                rule.id.clone(),
                format!("NSG rule `{}` of {}", rule.name, nsg.name),
            ));
        }
    }
    let admin = policy
        .subnet_admin
        .iter()
        .chain(policy.vnets.iter().map(|v| &v.admin));
    for r in admin.flat_map(|p| &p.rules) {
        let owner = r
            .rule
            .id
            .parent()
            .map(|c| c.name().to_string())
            .unwrap_or_default();
        rules.entry(r.rule.id.key().to_string()).or_insert((
            r.rule.id.clone(),
            format!("admin rule `{}` of {owner}", r.rule.name),
        ));
    }
    rules
        .into_values()
        .filter(|(id, _)| hits.rules.get(id).copied().unwrap_or(0) == 0)
        .map(|(id, what)| {
            let message = format!(
                "{what} matched none of the {} replayed records",
                hits.records
            );
            Finding::new(FindingKind::Unused, id.to_string(), message)
        })
        .collect()
}
