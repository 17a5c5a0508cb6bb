//! `az network nic list-effective-nsg` output (and the REST answer it prints) read as the
//! NSGs it lists.
//!
//! Each entry is one NSG effective at a NIC (`association.networkInterface`) or its subnet
//! (`association.subnet`), with its rules flattened (`securityRules/NAME`,
//! `defaultSecurityRules/NAME`, protocol `All`, ports `22-22`). It carries no addresses of
//! the NIC or subnet, so it becomes the NSG resource alone: `audit` and `effective` work on
//! it directly; `explain` needs the NICs and subnets from another input (their
//! `networkSecurityGroup.id` links them). A rule naming a service tag other than the three
//! secpath computes per enforcement point (`VirtualNetwork`, `AzureLoadBalancer`,
//! `Internet`) is read with the prefixes Azure expanded it to (`expanded*AddressPrefix`,
//! else the entry's `tagMap`, which the CLI sometimes prints as a Python-repr string).

use super::json::Origins;
use super::Translation;
use crate::error::{Error, Location, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The entries of an effective-NSG answer, with their JSON path, if `value` is one.
fn entries(value: &Value) -> Option<(&[Value], &'static str)> {
    let (list, path) = match value.pointer("/responses/200/body/value") {
        Some(list) => (list, "responses.200.body.value"),
        None => (value.get("value")?, "value"),
    };
    let list = list.as_array()?;
    let looks = !list.is_empty()
        && list
            .iter()
            .all(|e| e.get("effectiveSecurityRules").is_some());
    looks.then_some((list.as_slice(), path))
}

/// True for `az network nic list-effective-nsg` output.
pub fn is_effective_nsg(value: &Value) -> bool {
    entries(value).is_some()
}

/// The tags secpath expands itself, per enforcement point (SEMANTICS §3.1).
const BUILT_IN_TAGS: [&str; 3] = ["virtualnetwork", "azureloadbalancer", "internet"];

/// Translates the effective NSGs into NSG resources.
pub fn translate(value: &Value, file: &Path) -> Result<Translation> {
    let (list, base) = entries(value).unwrap_or((&[], ""));
    let mut t = Translation {
        resources: Vec::new(),
        origins: Origins::default(),
        removed: Vec::new(),
        warnings: Vec::new(),
        associations: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for (i, entry) in list.iter().enumerate() {
        let path = format!("{base}[{i}]");
        let error = |at: &str, message: String| {
            Error::invalid(
                Location {
                    file: file.to_path_buf(),
                    path: format!("{path}{at}"),
                },
                message,
            )
        };
        let nsg = entry
            .pointer("/networkSecurityGroup/id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                error(
                    ".networkSecurityGroup",
                    "missing required field `networkSecurityGroup.id`".to_string(),
                )
            })?;
        if !seen.insert(nsg.to_ascii_lowercase()) {
            continue;
        }
        let tag_map = tag_map(entry).map_err(|m| error(".tagMap", m))?;
        let mut lists: [(Vec<Value>, &str); 2] = [
            (Vec::new(), "securityRules"),
            (Vec::new(), "defaultSecurityRules"),
        ];
        let n = t.resources.len();
        let rules = match entry.get("effectiveSecurityRules") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(rules)) => rules.as_slice(),
            // Read as no rules, it would make an NSG that denies everything by its defaults.
            Some(_) => {
                return Err(error(
                    ".effectiveSecurityRules",
                    "expected an array of rules".to_string(),
                ))
            }
        };
        for (k, rule) in rules.iter().enumerate() {
            let full = rule.get("name").and_then(Value::as_str).unwrap_or_default();
            let Some((kind, name)) = full.split_once('/') else {
                t.warnings.push(format!(
                    "{}: {path}.effectiveSecurityRules[{k}]: rule `{full}` is neither `securityRules/…` nor `defaultSecurityRules/…` and was ignored",
                    file.display()
                ));
                continue;
            };
            let Some(slot) = lists
                .iter_mut()
                .find(|(_, key)| key.eq_ignore_ascii_case(kind))
            else {
                t.warnings.push(format!(
                    "{}: {path}.effectiveSecurityRules[{k}]: rule `{full}` is not an NSG rule and was ignored",
                    file.display()
                ));
                continue;
            };
            let at = format!("[{n}].properties.{}[{}]", slot.1, slot.0.len());
            let original = format!("{path}.effectiveSecurityRules[{k}]");
            // The rule's fields are flat in the file, under `properties` in the translation.
            t.origins.add(format!("{at}.properties"), original.clone());
            t.origins.add(at, original);
            slot.0
                .push(json!({"name": name, "properties": rule_properties(rule, &tag_map)}));
        }
        let at = ["networkInterface", "subnet"]
            .iter()
            .find_map(|k| {
                entry
                    .pointer(&format!("/association/{k}/id"))
                    .and_then(Value::as_str)
            })
            .unwrap_or("(no association)");
        t.warnings.push(format!(
            "{}: {path}: the effective rules of NSG `{nsg}` at `{at}` were read as that NSG; flows reach it only through NICs and subnets of other inputs that name it",
            file.display()
        ));
        let [(custom, _), (defaults, _)] = lists;
        t.origins.add(format!("[{n}]"), path.clone());
        t.resources.push(json!({
            "id": nsg,
            "type": "Microsoft.Network/networkSecurityGroups",
            "properties": {"securityRules": custom, "defaultSecurityRules": defaults},
        }));
    }
    Ok(t)
}

/// A flattened effective rule in ARM's shape, tags other than the built-in ones replaced by
/// the prefixes Azure expanded them to.
fn rule_properties(rule: &Value, tag_map: &Map<String, Value>) -> Value {
    let mut p: Map<String, Value> = rule
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !k.starts_with("expanded") && *k != "name")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    // The CLI fills both forms of a field: the plural with every entry, the singular with
    // the first. The plural is the rule.
    for (single, plural) in [
        ("sourceAddressPrefix", "sourceAddressPrefixes"),
        ("destinationAddressPrefix", "destinationAddressPrefixes"),
        ("sourcePortRange", "sourcePortRanges"),
        ("destinationPortRange", "destinationPortRanges"),
    ] {
        if p.get(plural)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            p.remove(single);
        }
    }
    for side in ["source", "destination"] {
        let (single, plural) = (
            format!("{side}AddressPrefix"),
            format!("{side}AddressPrefixes"),
        );
        let entries: Vec<String> = match (p.get(&plural), p.get(&single)) {
            (Some(Value::Array(list)), _) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            (_, Some(Value::String(one))) => vec![one.clone()],
            _ => continue,
        };
        let expanded = rule
            .get(format!("expanded{}AddressPrefix", capitalised(side)))
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
        let mut out: Vec<Value> = Vec::new();
        let mut changed = false;
        for entry in &entries {
            let builtin = BUILT_IN_TAGS.contains(&entry.to_ascii_lowercase().as_str());
            let prefixes = (looks_like_tag(entry) && !builtin)
                .then(|| {
                    expanded
                        .filter(|_| entries.len() == 1)
                        .or_else(|| tag_map.get(entry))
                })
                .flatten()
                .and_then(Value::as_array);
            match prefixes {
                Some(list) => {
                    out.extend(list.iter().cloned());
                    changed = true;
                }
                // Left as written: the loader names an unknown tag.
                None => out.push(json!(entry)),
            }
        }
        if changed {
            p.remove(&single);
            p.insert(plural, Value::Array(out));
        }
    }
    Value::Object(p)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn looks_like_tag(text: &str) -> bool {
    text != "*" && text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

/// The entry's `tagMap`: a JSON object, or the Python-repr string some CLI versions print
/// (`"{'Internet': ['1.0.0.0/8', ...]}"`).
fn tag_map(entry: &Value) -> Result<Map<String, Value>, String> {
    match entry.get("tagMap") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::String(s)) => serde_json::from_str::<Map<String, Value>>(&python_to_json(s))
            .map_err(|e| {
                format!("`tagMap` is neither a JSON object nor a Python dict of lists: {e}")
            }),
        Some(other) => Err(format!(
            "`tagMap` is neither an object nor a string: {other}"
        )),
    }
}

/// A Python literal (dicts, lists, single-quoted strings, None/True/False) as JSON text.
fn python_to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote: Option<char> = None;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "None" => "null",
            "True" => "true",
            "False" => "false",
            w => w,
        });
        word.clear();
    };
    for c in text.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('"');
                quote = None;
            }
            Some(_) if c == '"' => out.push_str("\\\""),
            Some(_) => out.push(c),
            None if c == '\'' || c == '"' => {
                flush(&mut word, &mut out);
                out.push('"');
                quote = Some(c);
            }
            None if c.is_ascii_alphabetic() => word.push(c),
            None => {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_maps_come_as_objects_or_python_strings() {
        let python =
            json!({"tagMap": "{'Storage.EastUS': ['20.38.98.0/24', '20.60.0.0/16'], 'X': None}"});
        let m = tag_map(&python).unwrap();
        assert_eq!(
            m["Storage.EastUS"],
            json!(["20.38.98.0/24", "20.60.0.0/16"])
        );
        assert_eq!(m["X"], Value::Null);
        let object = json!({"tagMap": {"Sql": ["10.0.0.0/8"]}});
        assert_eq!(tag_map(&object).unwrap()["Sql"], json!(["10.0.0.0/8"]));
        assert!(tag_map(&json!({"tagMap": "{'a': ["})).is_err());
    }

    fn load_error(entry: Value) -> String {
        let text = json!({"value": [entry]}).to_string();
        match crate::load::load_texts(&[("nic.json".into(), text)]) {
            Ok(_) => "loaded".to_string(),
            Err(e) => e.to_string(),
        }
    }

    const NSG: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n";

    /// Errors point at the field in the file as written: the flat rule, no `properties`.
    #[test]
    fn a_bad_rule_field_is_located_in_the_flat_rule() {
        let got = load_error(json!({"networkSecurityGroup": {"id": NSG},
            "effectiveSecurityRules": [{"name": "securityRules/r", "protocol": "Tcp",
                "sourcePortRange": "0-65535", "destinationPortRange": "22-22",
                "sourceAddressPrefix": "0.0.0.0/0", "destinationAddressPrefix": "0.0.0.0/0",
                "access": "Allow", "priority": 99, "direction": "Inbound"}]}));
        assert!(
            got.contains("nic.json: value[0].effectiveSecurityRules[0].priority: priority 99"),
            "{got}"
        );
    }

    /// `effectiveSecurityRules` that is not a list is an error, not an NSG without rules.
    #[test]
    fn rules_that_are_not_a_list_are_an_error() {
        let got =
            load_error(json!({"networkSecurityGroup": {"id": NSG}, "effectiveSecurityRules": {}}));
        assert!(
            got.contains("value[0].effectiveSecurityRules") && got.contains("expected an array"),
            "{got}"
        );
    }

    #[test]
    fn non_built_in_tags_take_their_expansion() {
        let rule = json!({"name": "securityRules/s", "sourceAddressPrefix": "Storage.EastUS",
            "destinationAddressPrefix": "Internet", "expandedDestinationAddressPrefix": ["1.0.0.0/8"]});
        let mut map = Map::new();
        map.insert("Storage.EastUS".into(), json!(["20.60.0.0/16"]));
        let p = rule_properties(&rule, &map);
        assert_eq!(p["sourceAddressPrefixes"], json!(["20.60.0.0/16"]));
        assert_eq!(p["destinationAddressPrefix"], json!("Internet"));
        assert!(p.get("expandedDestinationAddressPrefix").is_none());
    }

    /// The CLI writes both forms of each field (Network Watcher's own tutorial shows it):
    /// the plural is read, its tags expanded from `tagMap`.
    #[test]
    fn rules_with_both_field_forms_read_the_plural() {
        let rule = json!({"name": "securityRules/allow-sql", "protocol": "Tcp",
            "sourcePortRange": "0-65535", "sourcePortRanges": ["0-65535"],
            "destinationPortRange": "1433-1433", "destinationPortRanges": ["1433-1433", "1434-1434"],
            "sourceAddressPrefix": "VirtualNetwork", "sourceAddressPrefixes": ["VirtualNetwork"],
            "destinationAddressPrefix": "Sql", "destinationAddressPrefixes": ["Sql", "10.9.0.0/16"],
            "access": "Allow", "priority": 100, "direction": "Outbound"});
        let mut map = Map::new();
        map.insert("Sql".into(), json!(["13.64.0.0/16"]));
        let p = rule_properties(&rule, &map);
        assert_eq!(
            p["destinationAddressPrefixes"],
            json!(["13.64.0.0/16", "10.9.0.0/16"])
        );
        assert_eq!(
            p["destinationPortRanges"],
            json!(["1433-1433", "1434-1434"])
        );
        assert_eq!(p["sourceAddressPrefixes"], json!(["VirtualNetwork"]));
        for single in [
            "sourceAddressPrefix",
            "destinationAddressPrefix",
            "destinationPortRange",
        ] {
            assert!(p.get(single).is_none(), "{single}: {p}");
        }
        let entry = json!({"networkSecurityGroup": {"id": NSG}, "tagMap": {"Sql": ["13.64.0.0/16"]},
            "effectiveSecurityRules": [rule]});
        assert_eq!(load_error(entry), "loaded");
    }
}
